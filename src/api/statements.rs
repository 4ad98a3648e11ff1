//! `/sessions/{id}/statements`, cancel and completion: served from the live
//! driver channel (statement history stays with the driver and the server).

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::access::{Access, Requester};
use super::body::{self, LivyJson, LivyPath};
use super::error::ApiError;
use super::paging::int_param;
use super::request::Rules;
use super::sessions::{SessionRecord, find, live_state};
use crate::records::{SessionKind, SessionState};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatementRequest {
    #[serde(default, deserialize_with = "body::opt_text")]
    code: Option<String>,
    #[serde(default, deserialize_with = "body::opt_text")]
    kind: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompletionRequest {
    #[serde(default, deserialize_with = "body::opt_text")]
    code: Option<String>,
    #[serde(default, deserialize_with = "body::opt_text")]
    kind: Option<String>,
    #[serde(default, deserialize_with = "body::opt_int")]
    cursor: Option<i64>,
}

/// Livy's 500 for statements on a session that is not running: Zeppelin and
/// Hue match its text (`Session is in state dead`).
fn not_running(state: SessionState) -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(json!(format!(
            "java.lang.IllegalStateException: Session is in state {state}"
        ))),
    )
        .into_response()
}

/// Recovering sessions accept statements too: they wait for the driver.
fn accepts_statements(state: SessionState) -> bool {
    matches!(
        state,
        SessionState::Idle | SessionState::Busy | SessionState::Recovering
    )
}

/// The statement kind: the request's, else the session's; `shared` needs one.
fn statement_kind(
    state: &AppState,
    rec: &SessionRecord,
    requested: Option<&str>,
) -> Result<&'static str, ApiError> {
    let kind = match requested {
        Some(k) => SessionKind::parse(k).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "kind: Invalid kind: {k} (use spark, pyspark, sparkr or sql)"
            ))
        })?,
        None => rec.spec.kind,
    };
    if kind == SessionKind::Shared {
        return Err(ApiError::bad(
            "kind: Code type should be specified if session kind is shared (spark, pyspark, sparkr or sql)",
        ));
    }
    Rules::of(&state.config).check_kind(kind)?;
    Ok(kind.as_str())
}

pub async fn list_statements(
    State(state): State<AppState>,
    who: Requester,
    LivyPath(key): LivyPath<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<impl IntoResponse, ApiError> {
    let rec = find(&state, &who, Access::View, &key)?;
    let mut all = state.hub.statements(rec.id);
    if q.get("order").is_some_and(|o| o == "desc") {
        all.reverse();
    }
    let total = all.len();
    let from = int_param(&q, "from")?.unwrap_or(0).max(0) as usize;
    let size = match q.get("size").map(String::as_str) {
        None | Some("all") => total,
        Some(_) => int_param(&q, "size")?.unwrap_or(0).max(0) as usize,
    };
    let statements: Vec<_> = all.into_iter().skip(from).take(size).collect();
    Ok(Json(
        json!({ "total_statements": total, "statements": statements }),
    ))
}

pub async fn create_statement(
    State(state): State<AppState>,
    who: Requester,
    LivyPath(key): LivyPath<String>,
    LivyJson(req): LivyJson<StatementRequest>,
) -> Result<Response, ApiError> {
    let rec = find(&state, &who, Access::Modify, &key)?;
    let code = req.code.ok_or_else(|| ApiError::bad("code: is required"))?;
    let kind = statement_kind(&state, &rec, req.kind.as_deref())?;
    let live = live_state(&state, &rec);
    if !accepts_statements(live) {
        return Ok(not_running(live));
    }
    let cfg = &state.config;
    let st = state
        .hub
        .submit(rec.id, code, kind, cfg.statement_recovery_wait)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    // A fast statement comes back finished: clients that look at the answer
    // before they sleep save their first poll interval (a deliberate
    // difference from Livy, which always answers `waiting`).
    let st = state
        .hub
        .wait_final(rec.id, st.id, cfg.statement_sync_wait)
        .await
        .unwrap_or(st);
    Ok(super::records::created(
        format!("/sessions/{}/statements/{}", rec.id, st.id),
        st,
    ))
}

pub async fn get_statement(
    State(state): State<AppState>,
    who: Requester,
    LivyPath((key, sid)): LivyPath<(String, String)>,
) -> Result<Response, ApiError> {
    let rec = find(&state, &who, Access::View, &key)?;
    let st = sid
        .parse::<u64>()
        .ok()
        .and_then(|sid| state.hub.statement(rec.id, sid));
    Ok(match st {
        Some(st) => Json(st).into_response(),
        None => (StatusCode::NOT_FOUND, Json(json!("Statement not found"))).into_response(),
    })
}

/// Always `{"msg":"canceled"}`, even for unknown or finished statements (Livy).
pub async fn cancel_statement(
    State(state): State<AppState>,
    who: Requester,
    LivyPath((key, sid)): LivyPath<(String, String)>,
) -> Result<Response, ApiError> {
    let rec = find(&state, &who, Access::Modify, &key)?;
    let live = live_state(&state, &rec);
    if !accepts_statements(live) {
        return Ok(not_running(live));
    }
    if let Ok(sid) = sid.parse::<u64>() {
        state.hub.cancel(rec.id, sid);
    }
    Ok(Json(json!({ "msg": "canceled" })).into_response())
}

pub async fn complete(
    State(state): State<AppState>,
    who: Requester,
    LivyPath(key): LivyPath<String>,
    LivyJson(req): LivyJson<CompletionRequest>,
) -> Result<Response, ApiError> {
    let rec = find(&state, &who, Access::Modify, &key)?;
    let kind = statement_kind(&state, &rec, req.kind.as_deref())?;
    let live = live_state(&state, &rec);
    if !accepts_statements(live) {
        return Ok(not_running(live));
    }
    let code = req.code.unwrap_or_default();
    let cursor = req.cursor.unwrap_or(code.len() as i64);
    let candidates = state
        .hub
        .complete(rec.id, kind, code, cursor)
        .await
        .unwrap_or_default();
    Ok(Json(json!({ "candidates": candidates })).into_response())
}
