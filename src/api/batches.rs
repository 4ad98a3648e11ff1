//! `/batches`: create, list, get, state, log and delete (shared/livy-api.md §1).
//! Handlers validate, write the desired-state record, wake the reconciler and
//! answer from the record; they never launch or kill anything themselves.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::response::IntoResponse;
use serde::Serialize;

use super::AppState;
use super::access::{Access, Requester};
use super::body::{LivyJson, LivyPath};
use super::error::ApiError;
use super::openapi::{BodyRefusals, ListQuery, LogQuery, RecordId, RecordRefusals, Refusals};
use super::paging::ListBody;
use super::records::{self, Rec};
use super::request::{CreateRequest, Rules};
use super::wire::{LogPage, Msg, Shape, StateView};
use crate::index::BatchRecord;
use crate::logtext::Escaped;
use crate::records::{AppInfo, BatchStatus, Kind, SessionState, now_ms};

/// The Batch object of the wire contract.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchView {
    id: u64,
    name: Option<String>,
    owner: Option<String>,
    proxy_user: Option<String>,
    state: SessionState,
    app_id: Option<String>,
    app_info: AppInfo,
    /// The last lines of its log.
    log: Vec<String>,
    /// When it was created, in epoch milliseconds (not in Livy's object;
    /// absent from `POST /batches` answers).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    created_at: Option<u64>,
    /// Why it failed, when it did: `spawn`, `cannot_start`, `not_found` or
    /// `exited` (not in Livy's object; absent from `POST /batches` answers).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    failure: Option<&'static str>,
}

fn view(rec: &BatchRecord, log: Vec<String>, shape: Shape) -> BatchView {
    BatchView {
        id: rec.id,
        name: rec.meta.name.clone(),
        owner: rec.meta.owner.clone(),
        proxy_user: rec.spec.resources.proxy_user.clone(),
        state: rec.status.state,
        app_id: rec.status.app_id.clone(),
        app_info: rec.status.app_info.clone(),
        log,
        created_at: (shape == Shape::Extended).then_some(rec.meta.created_at),
        failure: (rec.status.failure)
            .filter(|_| shape == Shape::Extended)
            .map(|f| f.as_str()),
    }
}

/// The Batch object of one record, with its log tail.
async fn view_one(state: &AppState, rec: Rec<BatchStatus>, shape: Shape) -> BatchView {
    let log = records::log_tails(state, std::slice::from_ref(&rec))
        .await
        .pop()
        .unwrap_or_default();
    view(&rec, log, shape)
}

/// Finds a batch by id or name (a batch being deleted is already gone) that
/// the requester may `access`.
fn find(
    state: &AppState,
    who: &Requester,
    access: Access,
    key: &str,
) -> Result<Rec<BatchStatus>, ApiError> {
    let rec = records::lookup::<BatchStatus>(state, key, true)?;
    let proxy = rec.spec.resources.proxy_user.as_deref();
    who.require(state, access, Kind::Batch, rec.id, &rec.meta, proxy)?;
    Ok(rec)
}

/// The batches the caller may view, a page at a time.
#[utoipa::path(
    get,
    path = "/batches",
    tag = "batches",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of batches (in `sessions`, as Livy names it).", body = ListBody<BatchView>),
        (status = 400, description = "`from` or `size` is not a number.", body = Msg),
        Refusals,
    )
)]
pub async fn list_batches(
    State(state): State<AppState>,
    who: Requester,
    Query(q): Query<HashMap<String, String>>,
) -> Result<impl IntoResponse, ApiError> {
    let body = records::list::<BatchStatus, _>(&state, &who, &q, true, |r, log| {
        view(r, log, Shape::Extended)
    })
    .await?;
    Ok(Json(body))
}

/// Submits a batch application. Session-only fields (`kind`, `ttl`,
/// `heartbeatTimeoutInSecond`) are refused.
#[utoipa::path(
    post,
    path = "/batches",
    tag = "batches",
    request_body = CreateRequest,
    responses(
        (status = 201, description = "The batch, as created; `Location` names it.", body = BatchView,
            headers(("Location" = String, description = "/batches/{id}"))),
        (status = 400, description = "The request is invalid; `msg` says what to fix.", body = Msg),
        BodyRefusals,
        Refusals,
    )
)]
pub async fn create_batch(
    State(state): State<AppState>,
    who: Requester,
    LivyJson(req): LivyJson<CreateRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let mut spec = req.into_batch(&Rules::of(&state.config))?;
    spec.resources.proxy_user = who.proxy_user(&state, spec.resources.proxy_user.take())?;
    state.sealer.seal_conf(
        &state.config.redaction,
        who.caller.as_deref(),
        &mut spec.resources.conf,
    );
    let name = spec.resources.name.clone();
    let rec = records::create(
        &state,
        name,
        who.caller.clone(),
        &spec,
        &BatchStatus::new(now_ms()),
    )
    .await?;
    tracing::info!(
        batch = rec.id,
        name = %Escaped(rec.meta.name.as_deref().unwrap_or_default()),
        file = %Escaped(&rec.spec.file),
        "batch created"
    );
    Ok(records::created(
        format!("/batches/{}", rec.id),
        view_one(&state, rec, Shape::Livy).await,
    ))
}

/// One batch.
#[utoipa::path(
    get,
    path = "/batches/{id}",
    tag = "batches",
    params(RecordId),
    responses((status = 200, description = "The batch.", body = BatchView), RecordRefusals, Refusals)
)]
pub async fn get_batch(
    State(state): State<AppState>,
    who: Requester,
    LivyPath(key): LivyPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    let rec = find(&state, &who, Access::View, &key)?;
    Ok(Json(view_one(&state, rec, Shape::Extended).await))
}

/// A batch's state.
#[utoipa::path(
    get,
    path = "/batches/{id}/state",
    tag = "batches",
    params(RecordId),
    responses((status = 200, description = "Its id and state.", body = StateView), RecordRefusals, Refusals)
)]
pub async fn get_batch_state(
    State(state): State<AppState>,
    who: Requester,
    LivyPath(key): LivyPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    let rec = find(&state, &who, Access::View, &key)?;
    Ok(Json(StateView {
        id: rec.id,
        state: rec.status.state,
    }))
}

/// A page of a batch's log.
#[utoipa::path(
    get,
    path = "/batches/{id}/log",
    tag = "batches",
    params(RecordId, LogQuery),
    responses((status = 200, description = "A page of its log.", body = LogPage), RecordRefusals, Refusals)
)]
pub async fn get_batch_log(
    State(state): State<AppState>,
    who: Requester,
    LivyPath(key): LivyPath<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<LogPage>, ApiError> {
    let rec = find(&state, &who, Access::View, &key)?;
    Ok(Json(records::log_page(&state, &rec, &q).await?))
}

/// The same as `/batches/{id}/log` (Livy serves both).
#[utoipa::path(
    get,
    path = "/batches/{id}/logs",
    tag = "batches",
    params(RecordId, LogQuery),
    responses((status = 200, description = "A page of its log.", body = LogPage), RecordRefusals, Refusals)
)]
pub async fn get_batch_logs(
    state: State<AppState>,
    who: Requester,
    key: LivyPath<String>,
    q: Query<HashMap<String, String>>,
) -> Result<Json<LogPage>, ApiError> {
    get_batch_log(state, who, key, q).await
}

/// Marks the batch for deletion and waits (bounded) until the reconciler has
/// stopped its application and removed the record.
#[utoipa::path(
    delete,
    path = "/batches/{id}",
    tag = "batches",
    params(RecordId),
    responses((status = 200, description = "`{\"msg\": \"deleted\"}`", body = Msg), RecordRefusals, Refusals)
)]
pub async fn delete_batch(
    State(state): State<AppState>,
    who: Requester,
    LivyPath(key): LivyPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    find(&state, &who, Access::Modify, &key)?;
    let id = records::request::<BatchStatus>(&state, &key, true, |r| {
        !std::mem::replace(&mut r.meta.deletion_requested, true)
    })
    .await?;
    records::wait_for::<BatchStatus>(&state, id, |rec| rec.is_none()).await;
    Ok(Json(Msg::new("deleted")))
}
