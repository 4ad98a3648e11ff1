//! `/sessions`: create, list, get, state, log, delete, stop, interrupt
//! (shared/livy-api.md §1). Like batches, handlers write desired state and
//! answer from the record, overlaid with the live driver's idle/busy.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
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
use crate::records::{AppInfo, Kind, SessionSpec, SessionState, SessionStatus, now_ms};
use crate::store::{Record, StoredRecord};

pub type SessionRecord = Record<SessionSpec, SessionStatus>;

/// The Session object (Livy 0.8: echoes the request settings).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionView<'a> {
    id: u64,
    name: Option<&'a str>,
    app_id: Option<&'a str>,
    owner: Option<&'a str>,
    proxy_user: Option<&'a str>,
    state: SessionState,
    kind: &'static str,
    app_info: &'a AppInfo,
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

fn view(state: &AppState, rec: &SessionRecord) -> serde_json::Value {
    let r = &rec.spec.resources;
    let v = SessionView {
        id: rec.id,
        name: rec.meta.name.as_deref(),
        app_id: rec.status.app_id.as_deref(),
        owner: rec.meta.owner.as_deref(),
        proxy_user: r.proxy_user.as_deref(),
        state: live_state(state, rec),
        kind: rec.spec.kind.as_str(),
        app_info: &rec.status.app_info,
        log: records::log_tail(state, rec.status.log_path.as_deref()),
        ttl: rec.spec.ttl.as_deref(),
        driver_memory: r.driver_memory.as_deref(),
        driver_cores: r.driver_cores.unwrap_or(0),
        executor_memory: r.executor_memory.as_deref(),
        executor_cores: r.executor_cores.unwrap_or(0),
        num_executors: r.num_executors.unwrap_or(0),
        queue: r.queue.as_deref(),
        conf: &r.conf,
        jars: &r.jars,
        py_files: &r.py_files,
        files: &r.files,
        archives: &r.archives,
        heartbeat_timeout_in_second: rec.spec.heartbeat_timeout_in_second,
    };
    serde_json::to_value(v).unwrap_or_default()
}

/// Finds a session by id or name that the requester may `access`, and
/// counts the call as a heartbeat. A session being deleted stays visible
/// (`shutting_down`) until it is gone.
pub async fn find(
    state: &AppState,
    who: &Requester,
    access: Access,
    key: &str,
) -> Result<SessionRecord, ApiError> {
    let raw = records::lookup(state, Kind::Session, key, false).await?;
    let rec: SessionRecord = raw.decode().map_err(ApiError::store("decode a session"))?;
    let proxy = rec.spec.resources.proxy_user.as_deref();
    who.require(state, access, Kind::Session, rec.id, &rec.meta, proxy)?;
    state.hub.heartbeat(rec.id);
    Ok(rec)
}

async fn all_sessions(state: &AppState) -> Result<Vec<SessionRecord>, ApiError> {
    let raws = state
        .store
        .list(Kind::Session)
        .await
        .map_err(ApiError::store("list sessions"))?;
    raws.iter()
        .map(|r| r.decode().map_err(ApiError::store("decode a session")))
        .collect()
}

/// Only the sessions the requester may view.
pub async fn list_sessions(
    State(state): State<AppState>,
    who: Requester,
    Query(q): Query<HashMap<String, String>>,
) -> Result<impl IntoResponse, ApiError> {
    let mut all = all_sessions(&state).await?;
    all.retain(|r| {
        who.may(
            &state,
            Access::View,
            &r.meta,
            r.spec.resources.proxy_user.as_deref(),
        )
    });
    Ok(Json(list_page(&q, &all, |r| view(&state, r))?))
}

pub async fn create_session(
    State(state): State<AppState>,
    who: Requester,
    LivyJson(req): LivyJson<CreateRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let mut spec = req.into_session(&Rules::of(&state.config))?;
    spec.resources.proxy_user = who.proxy_user(&state, spec.resources.proxy_user.take())?;
    let name = spec.resources.name.clone();
    let raw = records::create(
        &state,
        Kind::Session,
        name,
        who.caller.clone(),
        &spec,
        &SessionStatus::new(now_ms()),
    )
    .await?;
    let rec: SessionRecord = raw.decode().map_err(ApiError::store("decode a session"))?;
    tracing::info!(
        session = rec.id,
        kind = rec.spec.kind.as_str(),
        name = %Escaped(rec.meta.name.as_deref().unwrap_or_default()),
        "session created"
    );
    Ok(records::created(
        format!("/sessions/{}", rec.id),
        view(&state, &rec),
    ))
}

pub async fn get_session(
    State(state): State<AppState>,
    who: Requester,
    LivyPath(key): LivyPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    let rec = find(&state, &who, Access::View, &key).await?;
    Ok(Json(view(&state, &rec)))
}

pub async fn get_session_state(
    State(state): State<AppState>,
    who: Requester,
    LivyPath(key): LivyPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    let rec = find(&state, &who, Access::View, &key).await?;
    Ok(Json(
        json!({ "id": rec.id, "state": live_state(&state, &rec) }),
    ))
}

pub async fn get_session_log(
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

/// Marks the session deleted and waits (bounded) until it is stopped and gone.
pub async fn delete_session(
    State(state): State<AppState>,
    who: Requester,
    LivyPath(key): LivyPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    find(&state, &who, Access::Modify, &key).await?;
    let id = request_stop(&state, &key, true).await?;
    records::wait_for(&state, Kind::Session, id, |rec| rec.is_none()).await;
    Ok(Json(json!({ "msg": "deleted" })))
}

/// `POST /sessions/{id}/stop`: stops the application; the session stays listed.
pub async fn stop_session(
    State(state): State<AppState>,
    who: Requester,
    LivyPath(key): LivyPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    find(&state, &who, Access::Modify, &key).await?;
    let id = request_stop(&state, &key, false).await?;
    records::wait_for(&state, Kind::Session, id, stopped).await;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /sessions/{id}/interrupt`: in Livy this stops the session (Hue's "cancel").
pub async fn interrupt_session(
    State(state): State<AppState>,
    who: Requester,
    LivyPath(key): LivyPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    find(&state, &who, Access::Modify, &key).await?;
    let id = request_stop(&state, &key, false).await?;
    records::wait_for(&state, Kind::Session, id, stopped).await;
    Ok(Json(json!({ "msg": "interrupted" })))
}

/// Marks the session deleted (`delete`) or stopped; returns its id.
async fn request_stop(state: &AppState, key: &str, delete: bool) -> Result<u64, ApiError> {
    records::request(state, Kind::Session, key, false, |r| {
        if delete {
            !std::mem::replace(&mut r.meta.deletion_requested, true)
        } else {
            mark_stop_requested(&mut r.spec)
        }
    })
    .await
}

/// Sets `stopRequested` in a stored session spec; whether that changed it.
/// A spec that is not an object (a damaged record) is left alone rather than
/// panicking the handler.
fn mark_stop_requested(spec: &mut serde_json::Value) -> bool {
    let Some(spec) = spec.as_object_mut() else {
        tracing::warn!("a stored session spec is not an object; stop request not recorded");
        return false;
    };
    let stop = serde_json::Value::Bool(true);
    spec.insert("stopRequested".into(), stop.clone()) != Some(stop)
}

/// Whether the stored session is gone or in a finished state.
fn stopped(rec: Option<&StoredRecord>) -> bool {
    rec.is_none_or(|r| {
        r.decode::<SessionSpec, SessionStatus>()
            .is_ok_and(|r| r.status.state.is_finished())
    })
}

#[cfg(test)]
mod tests {
    use super::mark_stop_requested;
    use serde_json::json;

    #[test]
    fn stop_requests_are_recorded_once_and_damaged_specs_do_not_panic() {
        let mut spec = json!({"kind": "pyspark"});
        assert!(mark_stop_requested(&mut spec));
        assert_eq!(spec["stopRequested"], true);
        assert!(
            !mark_stop_requested(&mut spec),
            "a second stop changes nothing"
        );
        for mut damaged in [json!(5), json!("spec"), json!([1, 2])] {
            let before = damaged.clone();
            assert!(!mark_stop_requested(&mut damaged));
            assert_eq!(damaged, before);
        }
    }
}
