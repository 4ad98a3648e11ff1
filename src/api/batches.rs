//! `/batches`: create, list, get, state, log and delete (shared/livy-api.md §1).
//! Handlers validate, write the desired-state record, wake the reconciler and
//! answer from the record; they never launch or kill anything themselves.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;
use serde_json::json;

use super::AppState;
use super::body::LivyJson;
use super::error::ApiError;
use super::paging::{list_window, log_window};
use super::request::{CreateRequest, Rules};
use crate::records::{AppInfo, BatchSpec, BatchStatus, Kind, Meta, SessionState, now_ms};
use crate::store::{Record, StoreError};

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

/// The log lines Livy shows for a batch: `stdout: `, the lines, `\nstderr: `
/// (a batch's stderr is merged into its stdout).
fn log_lines(state: &AppState, rec: &BatchRecord) -> Vec<String> {
    let mut lines = vec!["stdout: ".to_owned()];
    if let Some(path) = &rec.status.log_path {
        lines.extend(state.logs.lines(std::path::Path::new(path)));
    }
    lines.push("\nstderr: ".to_owned());
    lines
}

fn view(state: &AppState, rec: &BatchRecord) -> BatchView {
    let lines = log_lines(state, rec);
    let tail = lines[lines.len().saturating_sub(10)..].to_vec();
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

/// Finds a batch by id or name; a batch being deleted is already gone.
async fn find(state: &AppState, key: &str) -> Result<BatchRecord, ApiError> {
    let raw = super::lookup(state, Kind::Batch, key, true).await?;
    raw.decode().map_err(ApiError::store("decode a batch"))
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

pub async fn list_batches(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<impl IntoResponse, ApiError> {
    let (from, size) = list_window(&q)?;
    let mut all = all_batches(&state).await?;
    all.retain(|r| !r.meta.deletion_requested);
    let sessions: Vec<BatchView> = all
        .iter()
        .skip(from)
        .take(size)
        .map(|r| view(&state, r))
        .collect();
    Ok(Json(
        json!({ "from": from, "total": all.len(), "sessions": sessions }),
    ))
}

pub async fn create_batch(
    State(state): State<AppState>,
    LivyJson(req): LivyJson<CreateRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let cfg = &state.config;
    let spec = req.into_batch(&Rules {
        whitelist: &cfg.local_dir_whitelist,
        impersonation: cfg.impersonation,
    })?;
    // One create at a time, so two requests cannot both pass the limit.
    let _guard = state.create_lock.lock().await;
    if creating_count(&state).await? >= cfg.max_creation {
        return Err(ApiError::bad(
            "Rejected, too many sessions are being created!",
        ));
    }
    let now = now_ms();
    let meta = Meta {
        name: spec.resources.name.clone(),
        owner: None,
        created_at: now,
        deletion_requested: false,
    };
    let spec_json =
        serde_json::to_value(&spec).map_err(|e| ApiError::internal("encode a batch", e))?;
    let status_json = serde_json::to_value(BatchStatus::new(now))
        .map_err(|e| ApiError::internal("encode a batch", e))?;
    let raw = match state
        .store
        .create(Kind::Batch, meta, spec_json, status_json)
        .await
    {
        Ok(raw) => raw,
        Err(StoreError::DuplicateName { name, .. }) => {
            return Err(ApiError::BadRequest(format!(
                "name: Duplicate session name: {name}"
            )));
        }
        Err(e) => return Err(ApiError::internal("create a batch", e)),
    };
    state.wake.notify_one();
    let rec: BatchRecord = raw.decode().map_err(ApiError::store("decode a batch"))?;
    tracing::info!(batch = rec.id, file = %rec.spec.file, "batch created");
    let location = format!("/batches/{}", rec.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(view(&state, &rec)),
    ))
}

/// How many spark-submit processes run (the `max-creation` budget): every
/// batch or session being launched, plus running batches where spark-submit
/// is the application itself (local and client mode).
pub async fn creating_count(state: &AppState) -> Result<usize, ApiError> {
    let batches = all_batches(state).await?;
    let running_counts = state.manager.submit_process_is_app();
    let launching =
        |s: SessionState| matches!(s, SessionState::NotStarted | SessionState::Starting);
    let mut n = batches
        .iter()
        .filter(|r| {
            launching(r.status.state) || (running_counts && r.status.state == SessionState::Running)
        })
        .count();
    let sessions = state
        .store
        .list(Kind::Session)
        .await
        .map_err(ApiError::store("list sessions"))?;
    n += sessions
        .iter()
        .filter(|r| {
            r.status
                .get("state")
                .and_then(|s| s.as_str())
                .is_some_and(|s| s == "not_started" || s == "starting")
        })
        .count();
    Ok(n)
}

pub async fn get_batch(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let rec = find(&state, &key).await?;
    Ok(Json(view(&state, &rec)))
}

pub async fn get_batch_state(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let rec = find(&state, &key).await?;
    Ok(Json(json!({ "id": rec.id, "state": rec.status.state })))
}

pub async fn get_batch_log(
    State(state): State<AppState>,
    Path(key): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<impl IntoResponse, ApiError> {
    let rec = find(&state, &key).await?;
    let all = log_lines(&state, &rec);
    let total = all.len();
    let (from, log) = log_window(&q, all)?;
    Ok(Json(
        json!({ "id": rec.id, "from": from, "total": total, "log": log }),
    ))
}

/// Marks the batch for deletion and waits (bounded) until the reconciler has
/// stopped its application and removed the record.
pub async fn delete_batch(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let mut rec = find(&state, &key).await?;
    let id = rec.id;
    while !rec.meta.deletion_requested {
        rec.meta.deletion_requested = true;
        let raw = rec
            .encode(Kind::Batch)
            .map_err(ApiError::store("encode a batch"))?;
        match state.store.update(&raw).await {
            Ok(_) => break,
            Err(StoreError::Conflict { .. }) => rec = find(&state, &id.to_string()).await?,
            Err(StoreError::NotFound { .. }) => return Ok(Json(json!({ "msg": "deleted" }))),
            Err(e) => return Err(ApiError::internal("mark a batch deleted", e)),
        }
    }
    state.wake.notify_one();
    super::wait_for_record(&state, Kind::Batch, id, |rec| rec.is_none()).await;
    Ok(Json(json!({ "msg": "deleted" })))
}
