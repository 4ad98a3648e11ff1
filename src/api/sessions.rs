//! `/sessions`: create, list, get, state, log, delete, stop, interrupt
//! (shared/livy-api.md §1). Like batches, handlers write desired state and
//! answer from the record, overlaid with the live driver's idle/busy.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
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
pub use crate::index::SessionRecord;
use crate::logtext::Escaped;
use crate::records::{AppInfo, Kind, SessionKind, SessionState, SessionStatus, now_ms};

/// The Session object (Livy 0.8: echoes the request settings). The last two
/// keys are this server's own, in every answer but a create's.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionView<'a> {
    id: u64,
    name: Option<&'a str>,
    app_id: Option<&'a str>,
    owner: Option<&'a str>,
    proxy_user: Option<&'a str>,
    state: SessionState,
    #[schema(value_type = SessionKind)]
    kind: &'static str,
    app_info: &'a AppInfo,
    /// The last lines of its log.
    log: Vec<String>,
    ttl: Option<&'a str>,
    driver_memory: Option<&'a str>,
    driver_cores: u32,
    executor_memory: Option<&'a str>,
    executor_cores: u32,
    num_executors: u32,
    queue: Option<&'a str>,
    conf: &'a std::collections::BTreeMap<String, String>,
    jars: &'a [String],
    py_files: &'a [String],
    files: &'a [String],
    archives: &'a [String],
    heartbeat_timeout_in_second: u64,
    /// Whether the session adopted a warm driver from the pool (not in
    /// Livy's object; absent from `POST /sessions` answers).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    from_pool: Option<bool>,
    /// When it was created, in epoch milliseconds (not in Livy's object;
    /// absent from `POST /sessions` answers).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    created_at: Option<u64>,
    /// Why it failed, when it did: `spawn`, `cannot_start`, `not_found`,
    /// `exited`, `connect_timeout` or `interpreter` (not in Livy's object;
    /// absent from `POST /sessions` answers).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    failure: Option<&'static str>,
}

/// The state clients see: while the driver is connected, its idle/busy; a
/// running session whose driver has not re-sent its history since this
/// server started is `recovering`.
pub fn live_state(state: &AppState, rec: &SessionRecord) -> SessionState {
    if rec.status.state != SessionState::Idle {
        return rec.status.state;
    }
    match state.hub.snapshot(rec.id) {
        Some(c) if !c.synced => SessionState::Recovering,
        Some(c) if c.busy || c.repl_state == Some(SessionState::Busy) => SessionState::Busy,
        _ => SessionState::Idle,
    }
}

fn view(
    state: &AppState,
    rec: &SessionRecord,
    log: Vec<String>,
    shape: Shape,
) -> serde_json::Value {
    let r = &rec.spec.resources;
    let conf = state.config.redaction.conf(&r.conf);
    let extended = shape == Shape::Extended;
    let v = SessionView {
        id: rec.id,
        name: rec.meta.name.as_deref(),
        app_id: rec.status.app_id.as_deref(),
        owner: rec.meta.owner.as_deref(),
        proxy_user: r.proxy_user.as_deref(),
        state: live_state(state, rec),
        kind: rec.spec.kind.as_str(),
        app_info: &rec.status.app_info,
        log,
        ttl: rec.spec.ttl.as_deref(),
        driver_memory: r.driver_memory.as_deref(),
        driver_cores: r.driver_cores.unwrap_or(0),
        executor_memory: r.executor_memory.as_deref(),
        executor_cores: r.executor_cores.unwrap_or(0),
        num_executors: r.num_executors.unwrap_or(0),
        queue: r.queue.as_deref(),
        conf: &conf,
        jars: &r.jars,
        py_files: &r.py_files,
        files: &r.files,
        archives: &r.archives,
        heartbeat_timeout_in_second: rec.spec.heartbeat_timeout_in_second,
        from_pool: extended.then_some(rec.spec.from_pool),
        created_at: extended.then_some(rec.meta.created_at),
        failure: rec.status.failure.filter(|_| extended).map(|f| f.as_str()),
    };
    serde_json::to_value(v).unwrap_or_default()
}

/// The Session object of one record as Livy shows it, with its log tail,
/// for the client that sent `headers`: Livy's Java client (every version
/// since 0.5) reads it into a class that fails on any key it does not know,
/// and its oldest versions know only these, so it gets only these.
pub async fn livy_view(
    state: &AppState,
    rec: Rec<SessionStatus>,
    headers: &axum::http::HeaderMap,
) -> serde_json::Value {
    const JAVA_CLIENT_KEYS: [&str; 9] = [
        "id",
        "name",
        "appId",
        "owner",
        "proxyUser",
        "state",
        "kind",
        "appInfo",
        "log",
    ];
    let mut v = view_one(state, rec, Shape::Livy).await;
    let java_client = headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|u| u.to_str().ok())
        .is_some_and(|u| u.starts_with("livy-client-http"));
    if java_client && let Some(o) = v.as_object_mut() {
        o.retain(|k, _| JAVA_CLIENT_KEYS.contains(&k.as_str()));
    }
    v
}

/// The Session object of one record, with its log tail.
async fn view_one(state: &AppState, rec: Rec<SessionStatus>, shape: Shape) -> serde_json::Value {
    let log = records::log_tails(state, std::slice::from_ref(&rec))
        .await
        .pop()
        .unwrap_or_default();
    view(state, &rec, log, shape)
}

/// Finds a session by id or name that the requester may `access`, and
/// counts the call as a heartbeat. A session being deleted stays visible
/// (`shutting_down`) until it is gone.
pub fn find(
    state: &AppState,
    who: &Requester,
    access: Access,
    key: &str,
) -> Result<Rec<SessionStatus>, ApiError> {
    let rec = records::lookup::<SessionStatus>(state, key, false)?;
    let proxy = rec.spec.resources.proxy_user.as_deref();
    who.require(state, access, Kind::Session, rec.id, &rec.meta, proxy)?;
    state.hub.heartbeat(rec.id);
    Ok(rec)
}

/// Only the sessions the requester may view.
/// The sessions the caller may view, a page at a time.
#[utoipa::path(
    get,
    path = "/sessions",
    tag = "sessions",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of sessions.", body = ListBody<SessionView>),
        (status = 400, description = "`from` or `size` is not a number.", body = Msg),
        Refusals,
    )
)]
pub async fn list_sessions(
    State(state): State<AppState>,
    who: Requester,
    Query(q): Query<HashMap<String, String>>,
) -> Result<impl IntoResponse, ApiError> {
    let body = records::list::<SessionStatus, _>(&state, &who, &q, false, |r, log| {
        view(&state, r, log, Shape::Extended)
    })
    .await?;
    Ok(Json(body))
}

/// Starts an interactive session (or adopts a warm one from the pool).
/// Batch-only fields (`file`, `className`, `args`) are refused.
#[utoipa::path(
    post,
    path = "/sessions",
    tag = "sessions",
    request_body = CreateRequest,
    responses(
        (status = 201, description = "The session, as created; `Location` names it.", body = SessionView,
            headers(("Location" = String, description = "/sessions/{id}"))),
        (status = 400, description = "The request is invalid; `msg` says what to fix.", body = Msg),
        BodyRefusals,
        Refusals,
    )
)]
pub async fn create_session(
    State(state): State<AppState>,
    who: Requester,
    headers: axum::http::HeaderMap,
    LivyJson(req): LivyJson<CreateRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let mut spec = req.into_session(&Rules::of(&state.config))?;
    spec.resources.proxy_user = who.proxy_user(&state, spec.resources.proxy_user.take())?;
    state.sealer.seal_conf(
        &state.config.redaction,
        who.caller.as_deref(),
        &mut spec.resources.conf,
    );
    if let Some(rec) = super::pool::adopt(&state, &spec, who.caller.clone()).await? {
        return Ok(records::created(
            format!("/sessions/{}", rec.id),
            livy_view(&state, rec, &headers).await,
        ));
    }
    let name = spec.resources.name.clone();
    let rec = records::create(
        &state,
        name,
        who.caller.clone(),
        &spec,
        &SessionStatus::new(now_ms()),
    )
    .await?;
    tracing::info!(
        session = rec.id,
        kind = rec.spec.kind.as_str(),
        name = %Escaped(rec.meta.name.as_deref().unwrap_or_default()),
        "session created"
    );
    Ok(records::created(
        format!("/sessions/{}", rec.id),
        livy_view(&state, rec, &headers).await,
    ))
}

/// One session.
#[utoipa::path(
    get,
    path = "/sessions/{id}",
    tag = "sessions",
    params(RecordId),
    responses((status = 200, description = "The session.", body = SessionView), RecordRefusals, Refusals)
)]
pub async fn get_session(
    State(state): State<AppState>,
    who: Requester,
    LivyPath(key): LivyPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    let rec = find(&state, &who, Access::View, &key)?;
    Ok(Json(view_one(&state, rec, Shape::Extended).await))
}

/// A session's state.
#[utoipa::path(
    get,
    path = "/sessions/{id}/state",
    tag = "sessions",
    params(RecordId),
    responses((status = 200, description = "Its id and state.", body = StateView), RecordRefusals, Refusals)
)]
pub async fn get_session_state(
    State(state): State<AppState>,
    who: Requester,
    LivyPath(key): LivyPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    let rec = find(&state, &who, Access::View, &key)?;
    Ok(Json(StateView {
        id: rec.id,
        state: live_state(&state, &rec),
    }))
}

/// A page of a session's log.
#[utoipa::path(
    get,
    path = "/sessions/{id}/log",
    tag = "sessions",
    params(RecordId, LogQuery),
    responses((status = 200, description = "A page of its log.", body = LogPage), RecordRefusals, Refusals)
)]
pub async fn get_session_log(
    State(state): State<AppState>,
    who: Requester,
    LivyPath(key): LivyPath<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<LogPage>, ApiError> {
    let rec = find(&state, &who, Access::View, &key)?;
    Ok(Json(records::log_page(&state, &rec, &q).await?))
}

/// The same as `/sessions/{id}/log` (Livy serves both).
#[utoipa::path(
    get,
    path = "/sessions/{id}/logs",
    tag = "sessions",
    params(RecordId, LogQuery),
    responses((status = 200, description = "A page of its log.", body = LogPage), RecordRefusals, Refusals)
)]
pub async fn get_session_logs(
    state: State<AppState>,
    who: Requester,
    key: LivyPath<String>,
    q: Query<HashMap<String, String>>,
) -> Result<Json<LogPage>, ApiError> {
    get_session_log(state, who, key, q).await
}

/// Marks the session deleted and waits (bounded) until it is stopped and gone.
/// Stops the session's driver and removes the session.
#[utoipa::path(
    delete,
    path = "/sessions/{id}",
    tag = "sessions",
    params(RecordId),
    responses((status = 200, description = "`{\"msg\": \"deleted\"}`", body = Msg), RecordRefusals, Refusals)
)]
pub async fn delete_session(
    State(state): State<AppState>,
    who: Requester,
    LivyPath(key): LivyPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    find(&state, &who, Access::Modify, &key)?;
    let id = request_stop(&state, &key, true).await?;
    records::wait_for::<SessionStatus>(&state, id, |rec| rec.is_none()).await;
    Ok(Json(Msg::new("deleted")))
}

/// `POST /sessions/{id}/stop`: stops the application; the session stays listed.
/// Stops the session's driver; the session stays listed, finished.
#[utoipa::path(
    post,
    path = "/sessions/{id}/stop",
    tag = "sessions",
    params(
        RecordId,
        ("X-Requested-By" = String, Header, description = "Any value. A POST needs it or a JSON `Content-Type`, body or not (a page on another site can send neither).")
    ),
    responses((status = 204, description = "Stopped."), RecordRefusals, Refusals)
)]
pub async fn stop_session(
    State(state): State<AppState>,
    who: Requester,
    LivyPath(key): LivyPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    find(&state, &who, Access::Modify, &key)?;
    let id = request_stop(&state, &key, false).await?;
    records::wait_for::<SessionStatus>(&state, id, stopped).await;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /sessions/{id}/interrupt`: in Livy this stops the session (Hue's "cancel").
/// Livy's interrupt: stops the session's driver, as `stop`.
#[utoipa::path(
    post,
    path = "/sessions/{id}/interrupt",
    tag = "sessions",
    params(
        RecordId,
        ("X-Requested-By" = String, Header, description = "Any value. A POST needs it or a JSON `Content-Type`, body or not (a page on another site can send neither).")
    ),
    responses((status = 200, description = "`{\"msg\": \"interrupted\"}`", body = Msg), RecordRefusals, Refusals)
)]
pub async fn interrupt_session(
    State(state): State<AppState>,
    who: Requester,
    LivyPath(key): LivyPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    find(&state, &who, Access::Modify, &key)?;
    let id = request_stop(&state, &key, false).await?;
    records::wait_for::<SessionStatus>(&state, id, stopped).await;
    Ok(Json(Msg::new("interrupted")))
}

/// Marks the session deleted (`delete`) or stopped; returns its id.
async fn request_stop(state: &AppState, key: &str, delete: bool) -> Result<u64, ApiError> {
    records::request::<SessionStatus>(state, key, false, |r| {
        let flag = if delete {
            &mut r.meta.deletion_requested
        } else {
            &mut r.spec.stop_requested
        };
        !std::mem::replace(flag, true)
    })
    .await
}

/// Whether the session is gone or in a finished state.
fn stopped(rec: Option<&SessionRecord>) -> bool {
    rec.is_none_or(|r| r.status.state.is_finished())
}
