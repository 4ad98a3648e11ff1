//! `/batches`: create, list, get, state, log and delete (shared/livy-api.md §1).
//! Handlers validate, write the desired-state record, wake the reconciler and
//! answer from the record; they never launch or kill anything themselves.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::response::IntoResponse;
use serde::Serialize;
use serde_json::json;

use super::AppState;
use super::access::{Access, Requester};
use super::body::{LivyJson, LivyPath};
use super::error::ApiError;
use super::paging::list_page;
use super::records;
use super::request::{CreateRequest, Rules};
use crate::logtext::Escaped;
use crate::records::{AppInfo, BatchSpec, BatchStatus, Kind, SessionState, now_ms};
use crate::store::Record;

type BatchRecord = Record<BatchSpec, BatchStatus>;

/// The Batch object of the wire contract.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchView {
    id: u64,
    name: Option<String>,
    owner: Option<String>,
    proxy_user: Option<String>,
    state: SessionState,
    app_id: Option<String>,
    app_info: AppInfo,
    log: Vec<String>,
}

fn view(state: &AppState, rec: &BatchRecord) -> BatchView {
    let tail = records::log_tail(state, rec.status.log_path.as_deref());
    BatchView {
        id: rec.id,
        name: rec.meta.name.clone(),
        owner: rec.meta.owner.clone(),
        proxy_user: rec.spec.resources.proxy_user.clone(),
        state: rec.status.state,
        app_id: rec.status.app_id.clone(),
        app_info: rec.status.app_info.clone(),
        log: tail,
    }
}

/// Finds a batch by id or name (a batch being deleted is already gone) that
/// the requester may `access`.
async fn find(
    state: &AppState,
    who: &Requester,
    access: Access,
    key: &str,
) -> Result<BatchRecord, ApiError> {
    let raw = records::lookup(state, Kind::Batch, key, true).await?;
    let rec: BatchRecord = raw.decode().map_err(ApiError::store("decode a batch"))?;
    let proxy = rec.spec.resources.proxy_user.as_deref();
    who.require(state, access, Kind::Batch, rec.id, &rec.meta, proxy)?;
    Ok(rec)
}

async fn all_batches(state: &AppState) -> Result<Vec<BatchRecord>, ApiError> {
    let raws = state
        .store
        .list(Kind::Batch)
        .await
        .map_err(ApiError::store("list batches"))?;
    raws.iter()
        .map(|r| r.decode().map_err(ApiError::store("decode a batch")))
        .collect()
}

/// Only the batches the requester may view.
pub async fn list_batches(
    State(state): State<AppState>,
    who: Requester,
    Query(q): Query<HashMap<String, String>>,
) -> Result<impl IntoResponse, ApiError> {
    let mut all = all_batches(&state).await?;
    all.retain(|r| {
        !r.meta.deletion_requested
            && who.may(
                &state,
                Access::View,
                &r.meta,
                r.spec.resources.proxy_user.as_deref(),
            )
    });
    Ok(Json(list_page(&q, &all, |r| view(&state, r))?))
}

pub async fn create_batch(
    State(state): State<AppState>,
    who: Requester,
    LivyJson(req): LivyJson<CreateRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let mut spec = req.into_batch(&Rules::of(&state.config))?;
    spec.resources.proxy_user = who.proxy_user(&state, spec.resources.proxy_user.take())?;
    let name = spec.resources.name.clone();
    let raw = records::create(
        &state,
        Kind::Batch,
        name,
        who.caller.clone(),
        &spec,
        &BatchStatus::new(now_ms()),
    )
    .await?;
    let rec: BatchRecord = raw.decode().map_err(ApiError::store("decode a batch"))?;
    tracing::info!(
        batch = rec.id,
        name = %Escaped(rec.meta.name.as_deref().unwrap_or_default()),
        file = %Escaped(&rec.spec.file),
        "batch created"
    );
    Ok(records::created(
        format!("/batches/{}", rec.id),
        view(&state, &rec),
    ))
}

pub async fn get_batch(
    State(state): State<AppState>,
    who: Requester,
    LivyPath(key): LivyPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    let rec = find(&state, &who, Access::View, &key).await?;
    Ok(Json(view(&state, &rec)))
}

pub async fn get_batch_state(
    State(state): State<AppState>,
    who: Requester,
    LivyPath(key): LivyPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    let rec = find(&state, &who, Access::View, &key).await?;
    Ok(Json(json!({ "id": rec.id, "state": rec.status.state })))
}

pub async fn get_batch_log(
    State(state): State<AppState>,
    who: Requester,
    LivyPath(key): LivyPath<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<impl IntoResponse, ApiError> {
    let rec = find(&state, &who, Access::View, &key).await?;
    Ok(Json(records::log_page(
        &state,
        rec.id,
        rec.status.log_path.as_deref(),
        &q,
    )?))
}

/// Marks the batch for deletion and waits (bounded) until the reconciler has
/// stopped its application and removed the record.
pub async fn delete_batch(
    State(state): State<AppState>,
    who: Requester,
    LivyPath(key): LivyPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    find(&state, &who, Access::Modify, &key).await?;
    let id = records::request(&state, Kind::Batch, &key, true, |r| {
        !std::mem::replace(&mut r.meta.deletion_requested, true)
    })
    .await?;
    records::wait_for(&state, Kind::Batch, id, |rec| rec.is_none()).await;
    Ok(Json(json!({ "msg": "deleted" })))
}
