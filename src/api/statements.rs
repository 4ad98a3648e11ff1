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
use super::openapi::{BodyRefusals, NotFoundBody, RecordId, RecordRefusals, Refusals, StatementId};
use super::paging::int_param;
use super::request::Rules;
use super::sessions::{SessionRecord, find, live_state};
use super::wire::{Candidates, Msg, StatementList};
use crate::records::{SessionKind, SessionState};
use crate::repl::protocol::Statement;

/// `POST /sessions/{id}/statements`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatementRequest {
    /// The code to run.
    #[serde(default, deserialize_with = "body::opt_text")]
    #[schema(schema_with = super::openapi::required_text, required = true)]
    code: Option<String>,
    /// Its language; defaults to the session's kind (required for `shared`).
    #[serde(default, deserialize_with = "body::opt_text")]
    #[schema(value_type = Option<StatementKind>)]
    kind: Option<String>,
}

/// `POST /sessions/{id}/completion`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompletionRequest {
    /// The code being typed.
    #[serde(default, deserialize_with = "body::opt_text")]
    #[schema(schema_with = super::openapi::text)]
    code: Option<String>,
    /// Its language; defaults to the session's kind (required for `shared`).
    #[serde(default, deserialize_with = "body::opt_text")]
    #[schema(value_type = Option<StatementKind>)]
    kind: Option<String>,
    /// Offset of the cursor in `code` (default: its end).
    #[serde(default, deserialize_with = "body::opt_int")]
    #[schema(schema_with = super::openapi::int)]
    cursor: Option<i64>,
}

/// A statement's language (Livy's aliases `scala`, `python`, `r` too).
#[derive(serde::Serialize, utoipa::ToSchema)]
#[allow(dead_code)] // documents the kinds the handler parses from text
#[serde(rename_all = "lowercase")]
enum StatementKind {
    Spark,
    Pyspark,
    Sparkr,
    Sql,
    Scala,
    Python,
    R,
}

/// Statement routes' answers for a session that is not running, and Livy's
/// bare-string error bodies.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // documents the answers built below
enum NotRunning {
    /// The session is not running: Livy's bare string
    /// `"java.lang.IllegalStateException: Session is in state …"` (Zeppelin
    /// and Hue match its text).
    #[response(status = 500, content_type = "application/json")]
    NotRunning(String),
    /// The server leading the sessions cannot be reached now; retry.
    #[response(status = 503)]
    Unavailable(Msg),
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

/// A session's statements.
#[utoipa::path(
    get,
    path = "/sessions/{id}/statements",
    tag = "statements",
    params(
        RecordId,
        ("from" = Option<i64>, Query, description = "Index of the first statement (default 0)."),
        ("size" = Option<String>, Query, description = "How many statements: a number, or `all` (default).",
            pattern = r"^(all|\s*[+-]?[0-9]{1,18}\s*)$"),
        ("order" = Option<String>, Query, description = "`desc`: newest first."),
    ),
    responses(
        (status = 200, description = "Its statements.", body = StatementList),
        RecordRefusals,
        Refusals,
    )
)]
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
    Ok(Json(StatementList {
        total_statements: total,
        statements,
    }))
}

/// Runs code in the session. A statement that finishes within
/// `livy.server.statement.sync-wait` is answered finished.
#[utoipa::path(
    post,
    path = "/sessions/{id}/statements",
    tag = "statements",
    params(RecordId),
    request_body = StatementRequest,
    responses(
        (status = 201, description = "The statement; `Location` names it.", body = Statement,
            headers(("Location" = String, description = "/sessions/{id}/statements/{sid}"))),
        RecordRefusals,
        NotRunning,
        BodyRefusals,
        Refusals,
    )
)]
pub async fn create_statement(
    State(state): State<AppState>,
    who: Requester,
    LivyPath(key): LivyPath<String>,
    LivyJson(req): LivyJson<StatementRequest>,
) -> Result<Response, ApiError> {
    let rec = find(&state, &who, Access::Modify, &key)?;
    let code = req.code.ok_or_else(|| ApiError::bad("code: is required"))?;
    let max = state.config.limits.statement_max_code;
    if code.len() > max {
        return Err(ApiError::CodeTooLarge {
            len: code.len(),
            limit: max,
        });
    }
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

/// One statement.
#[utoipa::path(
    get,
    path = "/sessions/{id}/statements/{sid}",
    tag = "statements",
    params(StatementId),
    responses(
        (status = 200, description = "The statement.", body = Statement),
        (status = 400, description = "The request is malformed.", body = Msg),
        (status = 404, description = "No such session (`{\"msg\": …}`) or statement (the bare string `\"Statement not found\"`).",
            body = NotFoundBody),
        Refusals,
    )
)]
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
#[utoipa::path(
    post,
    path = "/sessions/{id}/statements/{sid}/cancel",
    tag = "statements",
    params(
        StatementId,
        ("X-Requested-By" = String, Header, description = "Any value. A POST needs it or a JSON `Content-Type`, body or not (a page on another site can send neither).")
    ),
    responses(
        (status = 200, description = "`{\"msg\": \"canceled\"}`", body = Msg),
        RecordRefusals,
        NotRunning,
        Refusals,
    )
)]
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
    Ok(Json(Msg::new("canceled")).into_response())
}

/// Completion candidates for code at a cursor.
#[utoipa::path(
    post,
    path = "/sessions/{id}/completion",
    tag = "statements",
    params(RecordId),
    request_body = CompletionRequest,
    responses(
        (status = 200, description = "The candidates (none if the driver does not answer in time).", body = Candidates),
        RecordRefusals,
        NotRunning,
        BodyRefusals,
        Refusals,
    )
)]
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
    Ok(Json(Candidates { candidates }).into_response())
}
