//! What batch and session handlers do alike: look a record up by id or
//! name, create one within the `max-creation` budget, write a desired-state
//! change, wait for the reconciler to carry it out, and page a log.

use std::collections::HashMap;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use super::paging::log_window;
use crate::records::{Kind, Meta, now_ms};
use crate::store::{StoreError, StoredRecord};

/// Finds a record by the `{id}` path segment: all digits is an id, anything
/// else a name (Livy 0.7+). With `hide_deleting`, a record being deleted is
/// already gone for clients (batches: DELETE answers once it is stopped).
pub async fn lookup(
    state: &AppState,
    kind: Kind,
    key: &str,
    hide_deleting: bool,
) -> Result<StoredRecord, ApiError> {
    let found = if !key.is_empty() && key.bytes().all(|b| b.is_ascii_digit()) {
        match key.parse::<u64>() {
            Ok(id) => state
                .store
                .get(kind, id)
                .await
                .map_err(ApiError::store("read a record"))?,
            Err(_) => None,
        }
    } else {
        let all = state
            .store
            .list(kind)
            .await
            .map_err(ApiError::store("list records"))?;
        all.into_iter()
            .find(|r| r.meta.name.as_deref() == Some(key))
    };
    found
        .filter(|r| !(hide_deleting && r.meta.deletion_requested))
        .ok_or_else(|| ApiError::SessionNotFound(key.to_owned()))
}

/// How many spark-submit processes run (the `max-creation` budget): every
/// batch or session being launched, plus running batches where spark-submit
/// is the application itself (local and client mode).
async fn creating_count(state: &AppState) -> Result<usize, ApiError> {
    let running_counts = state.manager.submit_process_is_app();
    let mut n = 0;
    for kind in [Kind::Batch, Kind::Session] {
        let all = state
            .store
            .list(kind)
            .await
            .map_err(ApiError::store("list records"))?;
        n += all
            .iter()
            .filter(|r| match r.status.get("state").and_then(Value::as_str) {
                Some("not_started" | "starting") => true,
                Some("running") => running_counts && kind == Kind::Batch,
                _ => false,
            })
            .count();
    }
    Ok(n)
}

/// Stores a new record (id allocated by the store, `owner` the authenticated
/// caller) and wakes the reconciler.
/// Livy's 400s: too many creations, a duplicate name.
pub async fn create<S: Serialize, T: Serialize>(
    state: &AppState,
    kind: Kind,
    name: Option<String>,
    owner: Option<String>,
    spec: &S,
    status: &T,
) -> Result<StoredRecord, ApiError> {
    // One create at a time, so two requests cannot both pass the limit.
    let _guard = state.create_lock.lock().await;
    if creating_count(state).await? >= state.config.max_creation {
        return Err(ApiError::bad(
            "Rejected, too many sessions are being created!",
        ));
    }
    let meta = Meta {
        name,
        owner,
        created_at: now_ms(),
        deletion_requested: false,
    };
    let encode = |e| ApiError::internal("encode a record", e);
    let spec = serde_json::to_value(spec).map_err(encode)?;
    let status = serde_json::to_value(status).map_err(encode)?;
    let raw = match state.store.create(kind, meta, spec, status).await {
        Ok(raw) => raw,
        Err(StoreError::DuplicateName { name, .. }) => {
            return Err(ApiError::BadRequest(format!(
                "name: Duplicate session name: {name}"
            )));
        }
        Err(e) => return Err(ApiError::internal("create a record", e)),
    };
    state.wake.notify_one();
    Ok(raw)
}

/// Applies a desired-state change (`change` returns false when it is already
/// in place), retrying on a concurrent write, and wakes the reconciler.
/// Returns the record's id.
pub async fn request(
    state: &AppState,
    kind: Kind,
    key: &str,
    hide_deleting: bool,
    change: impl Fn(&mut StoredRecord) -> bool,
) -> Result<u64, ApiError> {
    let mut rec = lookup(state, kind, key, hide_deleting).await?;
    let id = rec.id;
    while change(&mut rec) {
        match state.store.update(&rec).await {
            Ok(_) => break,
            Err(StoreError::Conflict { .. }) => {
                rec = lookup(state, kind, &id.to_string(), false).await?
            }
            Err(StoreError::NotFound { .. }) => {
                return Err(ApiError::SessionNotFound(key.to_owned()));
            }
            Err(e) => return Err(ApiError::internal("update a record", e)),
        }
    }
    state.wake.notify_one();
    Ok(id)
}

/// Waits, bounded by the kill grace period plus 30 s, until `done` holds for
/// the stored record (`None` once removed). DELETE and stop answer after the
/// reconciler has carried the request out; past the bound it goes on in the
/// background.
pub async fn wait_for(
    state: &AppState,
    kind: Kind,
    id: u64,
    done: impl Fn(Option<&StoredRecord>) -> bool,
) {
    let mut changes = state.store.watch();
    let wait = state.config.kill_grace + Duration::from_secs(30);
    let finished = tokio::time::timeout(wait, async {
        loop {
            if let Ok(rec) = state.store.get(kind, id).await
                && done(rec.as_ref())
            {
                return;
            }
            // A lagged or closed channel just means: look again.
            let _ = tokio::time::timeout(Duration::from_millis(500), changes.recv()).await;
        }
    })
    .await;
    if finished.is_err() {
        tracing::warn!(
            kind = kind.as_str(),
            id,
            "the request is taking long; it continues in the background"
        );
    }
}

/// `201 Created` with `Location: {path}` and the created object.
pub fn created(path: String, body: impl Serialize) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        axum::http::StatusCode::CREATED,
        [(axum::http::header::LOCATION, path)],
        axum::Json(body),
    )
        .into_response()
}

/// The log lines Livy shows: `stdout: `, the lines, `\nstderr: ` (stderr is
/// merged into stdout by the supervisor).
pub fn log_lines(state: &AppState, log_path: Option<&str>) -> Vec<String> {
    let mut lines = vec!["stdout: ".to_owned()];
    if let Some(path) = log_path {
        lines.extend(state.logs.lines(std::path::Path::new(path)));
    }
    lines.push("\nstderr: ".to_owned());
    lines
}

/// The last 10 lines, for the Batch and Session objects.
pub fn log_tail(state: &AppState, log_path: Option<&str>) -> Vec<String> {
    let lines = log_lines(state, log_path);
    lines[lines.len().saturating_sub(10)..].to_vec()
}

/// `GET …/log?from&size`: `{"id","from","total","log"}` with Livy's paging.
pub fn log_page(
    state: &AppState,
    id: u64,
    log_path: Option<&str>,
    q: &HashMap<String, String>,
) -> Result<Value, ApiError> {
    let all = log_lines(state, log_path);
    let total = all.len();
    let (from, log) = log_window(q, all)?;
    Ok(json!({ "id": id, "from": from, "total": total, "log": log }))
}
