//! `/batches`: create, list, get, state, log and delete (shared/livy-api.md §1).
//! Handlers validate, write the desired-state record, wake the reconciler and
//! answer from the record; they never launch or kill anything themselves.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::AppState;
use super::body::{self, LivyJson};
use super::error::ApiError;
use super::paging::{list_window, log_window};
use super::validate;
use crate::records::{AppInfo, BatchSpec, BatchStatus, Kind, Meta, SessionState, now_ms};
use crate::store::{Record, StoreError};

type BatchRecord = Record<BatchSpec, BatchStatus>;

/// `POST /batches` body, as clients send it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateBatchRequest {
    #[serde(default, deserialize_with = "body::opt_text")]
    file: Option<String>,
    #[serde(default, deserialize_with = "body::opt_text")]
    proxy_user: Option<String>,
    #[serde(default, deserialize_with = "body::opt_text")]
    class_name: Option<String>,
    #[serde(default, deserialize_with = "body::text_list")]
    args: Vec<String>,
    #[serde(default, deserialize_with = "body::text_list")]
    jars: Vec<String>,
    #[serde(default, deserialize_with = "body::text_list")]
    py_files: Vec<String>,
    #[serde(default, deserialize_with = "body::text_list")]
    files: Vec<String>,
    #[serde(default, deserialize_with = "body::text_list")]
    archives: Vec<String>,
    #[serde(default, deserialize_with = "body::opt_text")]
    driver_memory: Option<String>,
    #[serde(default, deserialize_with = "body::opt_int")]
    driver_cores: Option<i64>,
    #[serde(default, deserialize_with = "body::opt_text")]
    executor_memory: Option<String>,
    #[serde(default, deserialize_with = "body::opt_int")]
    executor_cores: Option<i64>,
    #[serde(default, deserialize_with = "body::opt_int")]
    num_executors: Option<i64>,
    #[serde(default, deserialize_with = "body::opt_text")]
    queue: Option<String>,
    #[serde(default, deserialize_with = "body::opt_text")]
    name: Option<String>,
    #[serde(default, deserialize_with = "body::conf_map")]
    conf: BTreeMap<String, String>,
}

impl CreateBatchRequest {
    /// Every check of shared/livy-api.md §1.4 and the house rules; the spec
    /// that comes out is safe to put into an argv.
    pub fn validate(
        self,
        whitelist: &[std::path::PathBuf],
        impersonation: bool,
    ) -> Result<BatchSpec, ApiError> {
        let file = match self.file {
            Some(f) if !f.trim().is_empty() => f,
            _ => return Err(ApiError::bad("file: requirement failed: File is required.")),
        };
        validate::path("file", &file, whitelist, false)?;
        validate::paths("jars", &self.jars, whitelist)?;
        validate::paths("pyFiles", &self.py_files, whitelist)?;
        validate::paths("files", &self.files, whitelist)?;
        validate::paths("archives", &self.archives, whitelist)?;
        validate::class_name(&self.class_name)?;
        for (i, a) in self.args.iter().enumerate() {
            // Newlines are legal in an argument; NUL cannot be passed at all.
            validate::plain_text(&format!("args[{i}]"), a, true)?;
        }
        validate::memory("driverMemory", &self.driver_memory)?;
        validate::memory("executorMemory", &self.executor_memory)?;
        let driver_cores = validate::count("driverCores", self.driver_cores, 1)?;
        let executor_cores = validate::count("executorCores", self.executor_cores, 1)?;
        let num_executors = validate::count("numExecutors", self.num_executors, 0)?;
        validate::simple("queue", &self.queue)?;
        validate::simple("proxyUser", &self.proxy_user)?;
        validate::name(&self.name)?;
        validate::conf(&self.conf)?;
        Ok(BatchSpec {
            file,
            // Livy ignores proxyUser unless impersonation is on, and reports null.
            proxy_user: if impersonation { self.proxy_user } else { None },
            class_name: self.class_name,
            args: self.args,
            jars: self.jars,
            py_files: self.py_files,
            files: self.files,
            archives: self.archives,
            driver_memory: self.driver_memory,
            driver_cores,
            executor_memory: self.executor_memory,
            executor_cores,
            num_executors,
            queue: self.queue,
            name: self.name,
            conf: self.conf,
        })
    }
}

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
        proxy_user: rec.spec.proxy_user.clone(),
        state: rec.status.state,
        app_id: rec.status.app_id.clone(),
        app_info: rec.status.app_info.clone(),
        log: tail,
    }
}

/// Finds a batch by `{id}`: all digits is an id, anything else a name.
async fn find(state: &AppState, key: &str) -> Result<BatchRecord, ApiError> {
    let raw = if !key.is_empty() && key.bytes().all(|b| b.is_ascii_digit()) {
        match key.parse::<u64>() {
            Ok(id) => state
                .store
                .get(Kind::Batch, id)
                .await
                .map_err(ApiError::store("read a batch"))?,
            Err(_) => None,
        }
    } else {
        let all = state
            .store
            .list(Kind::Batch)
            .await
            .map_err(ApiError::store("list batches"))?;
        all.into_iter()
            .find(|r| r.meta.name.as_deref() == Some(key))
    };
    let raw = raw.ok_or_else(|| ApiError::SessionNotFound(key.to_owned()))?;
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
    let all = all_batches(&state).await?;
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
    LivyJson(req): LivyJson<CreateBatchRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let cfg = &state.config;
    let spec = req.validate(&cfg.local_dir_whitelist, cfg.impersonation)?;
    // One create at a time, so two requests cannot both pass the limit.
    let _guard = state.create_lock.lock().await;
    let live = all_batches(&state)
        .await?
        .iter()
        .filter(|r| counts_as_creating(&state, &r.status))
        .count();
    if live >= cfg.max_creation {
        return Err(ApiError::bad(
            "Rejected, too many sessions are being created!",
        ));
    }
    let now = now_ms();
    let meta = Meta {
        name: spec.name.clone(),
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

/// Whether a batch holds a spark-submit process (the `max-creation` budget).
fn counts_as_creating(state: &AppState, status: &BatchStatus) -> bool {
    match status.state {
        SessionState::NotStarted | SessionState::Starting => true,
        SessionState::Running => state.manager.submit_process_is_app(),
        _ => false,
    }
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
    let mut changes = state.store.watch();
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
    let wait = state.config.kill_grace + Duration::from_secs(30);
    let gone = tokio::time::timeout(wait, async {
        loop {
            match state.store.get(Kind::Batch, id).await {
                Ok(None) => return,
                Ok(Some(_)) | Err(_) => {}
            }
            // A lagged or closed channel just means: look again.
            let _ = tokio::time::timeout(Duration::from_millis(500), changes.recv()).await;
        }
    })
    .await;
    if gone.is_err() {
        tracing::warn!(
            batch = id,
            "delete is taking long; it continues in the background"
        );
    }
    Ok(Json(json!({ "msg": "deleted" })))
}
