//! What batch and session handlers do alike: look a record up by id or
//! name, create one within the `max-creation` budget, write a desired-state
//! change, wait for the reconciler to carry it out, and page a log.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::AppState;
use super::access::{Access, Requester};
use super::error::ApiError;
use super::paging::{ListBody, list_body, list_window, log_window};
use crate::index::{Keep, Kinded};
use crate::launcher::logs::TailRequest;
use crate::records::{Kind, Meta, now_ms};
use crate::store::{Durability, Record, StoreError};

/// A record of kind `T`, shared with the index.
pub type Rec<T> = Arc<Record<<T as Kinded>::Spec, T>>;

/// Finds a record by the `{id}` path segment: all digits is an id, anything
/// else a name (Livy 0.7+). With `hide_deleting`, a record being deleted is
/// already gone for clients (batches: DELETE answers once it is stopped).
pub fn lookup<T: Kinded>(
    state: &AppState,
    key: &str,
    hide_deleting: bool,
) -> Result<Rec<T>, ApiError> {
    state
        .index
        .find::<T>(key)
        .filter(|r| !(T::hidden(&r.spec) || hide_deleting && r.meta.deletion_requested))
        .ok_or_else(|| ApiError::SessionNotFound(key.to_owned()))
}

/// `GET /batches` or `GET /sessions`: one page of the records the requester
/// may view, each as `view` shows it with its log tail.
pub async fn list<T: Kinded, V: Serialize>(
    state: &AppState,
    who: &Requester,
    q: &HashMap<String, String>,
    hide_deleting: bool,
    view: impl Fn(&Rec<T>, Vec<String>) -> V,
) -> Result<ListBody<V>, ApiError> {
    let (from, size) = list_window(q)?;
    let all = who.may_view_all(state);
    let visible = |r: &Record<T::Spec, T>| {
        !T::hidden(&r.spec)
            && (all || who.may(state, Access::View, &r.meta, T::proxy_user(&r.spec)))
    };
    let keep: Keep<'_, T::Spec, T> = (T::HIDES || !all).then_some(&visible);
    let (total, page) = state.index.page::<T>(from, size, hide_deleting, keep);
    let logs = log_tails(state, &page).await;
    let views = page.iter().zip(logs).map(|(r, log)| view(r, log)).collect();
    Ok(list_body(from, total, views))
}

/// How many spark-submit processes run (the `max-creation` budget): every
/// batch or session being launched, plus running batches where spark-submit
/// is the application itself (local and client mode).
fn creating_count(state: &AppState) -> usize {
    state.index.launching(state.manager.submit_process_is_app())
}

/// Creates admitted but not yet in the index. The `max-creation` and
/// duplicate-name checks count them besides the index, so the checks are
/// one short critical section and admitted creates are stored concurrently
/// (and share one disk commit), instead of one create at a time for the
/// length of a commit.
#[derive(Default)]
pub struct CreateLock {
    pending: std::sync::Mutex<Pending>,
}

#[derive(Default)]
struct Pending {
    count: usize,
    names: HashSet<(Kind, String)>,
}

impl CreateLock {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One admitted create; withdrawn when dropped (stored and in the index by
/// then, or failed, or its request abandoned).
pub(super) struct Admitted<'a> {
    lock: &'a CreateLock,
    name: Option<(Kind, String)>,
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        let mut p = self.lock.lock();
        p.count -= 1;
        if let Some(name) = &self.name {
            p.names.remove(name);
        }
    }
}

pub(super) fn duplicate_name(name: &str) -> ApiError {
    ApiError::BadRequest(format!("name: Duplicate session name: {name}"))
}

/// Admits a create of kind `T` named `name` if the `max-creation` budget
/// has room (when it `launches` an application) and no record or admitted
/// create holds the name.
pub(super) fn admit<'a, T: Kinded>(
    state: &'a AppState,
    name: Option<&str>,
    launches: bool,
) -> Result<Admitted<'a>, ApiError> {
    let lock = &state.create_lock;
    let mut p = lock.lock();
    if launches && creating_count(state) + p.count >= state.config.max_creation {
        return Err(ApiError::bad(
            "Rejected, too many sessions are being created!",
        ));
    }
    let name = name.map(|n| (T::KIND, n.to_owned()));
    if let Some(key) = &name
        && (p.names.contains(key) || state.index.named::<T>(&key.1).is_some())
    {
        return Err(duplicate_name(&key.1));
    }
    p.count += 1;
    if let Some(key) = &name {
        p.names.insert(key.clone());
    }
    Ok(Admitted { lock, name })
}

/// Stores a new record (id allocated by the store, `owner` the authenticated
/// caller); the index hands it to the reconciler.
/// Livy's 400s: too many creations, a duplicate name.
pub async fn create<T: Kinded>(
    state: &AppState,
    name: Option<String>,
    owner: Option<String>,
    spec: &T::Spec,
    status: &T,
) -> Result<Rec<T>, ApiError> {
    let _admitted = admit::<T>(state, name.as_deref(), true)?;
    let meta = Meta {
        name,
        owner,
        created_at: now_ms(),
        deletion_requested: false,
    };
    match state.index.create(meta, spec, status).await {
        Ok(rec) => Ok(rec),
        Err(StoreError::DuplicateName { name, .. }) => Err(duplicate_name(&name)),
        Err(e) => Err(ApiError::store("create a record")(e)),
    }
}

/// Applies a desired-state change (`change` returns false when it is already
/// in place), retrying on a concurrent write. Returns the record's id.
pub async fn request<T: Kinded>(
    state: &AppState,
    key: &str,
    hide_deleting: bool,
    change: impl Fn(&mut Record<T::Spec, T>) -> bool,
) -> Result<u64, ApiError> {
    let mut rec = (*lookup::<T>(state, key, hide_deleting)?).clone();
    let id = rec.id;
    while change(&mut rec) {
        match state.index.update(&rec, Durability::Disk).await {
            Ok(_) => break,
            Err(StoreError::Conflict { .. }) => {
                // Someone else wrote first: start again from the stored record.
                rec = match state.index.reload::<T>(id).await {
                    Ok(Some(fresh)) => (*fresh).clone(),
                    Ok(None) => return Err(ApiError::SessionNotFound(key.to_owned())),
                    Err(e) => return Err(ApiError::store("read a record")(e)),
                };
            }
            Err(StoreError::NotFound { .. }) => {
                return Err(ApiError::SessionNotFound(key.to_owned()));
            }
            Err(e) => return Err(ApiError::store("update a record")(e)),
        }
    }
    Ok(id)
}

/// Waits, bounded by the kill grace period plus 30 s, until `done` holds for
/// the record (`None` once removed). DELETE and stop answer after the
/// reconciler has carried the request out; past the bound it goes on in the
/// background.
pub async fn wait_for<T: Kinded>(
    state: &AppState,
    id: u64,
    done: impl Fn(Option<&Record<T::Spec, T>>) -> bool,
) {
    let mut changes = state.index.subscribe();
    let wait = state.config.kill_grace + Duration::from_secs(30);
    let finished = tokio::time::timeout(wait, async {
        loop {
            if done(state.index.get::<T>(id).as_deref()) {
                return;
            }
            // A lagged or closed channel just means: look again.
            let _ = tokio::time::timeout(Duration::from_millis(500), async {
                while let Ok(key) = changes.recv().await {
                    if key == (T::KIND, id) {
                        return;
                    }
                }
            })
            .await;
        }
    })
    .await;
    if finished.is_err() {
        tracing::warn!(
            kind = T::KIND.as_str(),
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

/// Livy's framing of log lines: `stdout: `, the lines, `\nstderr: `
/// (stderr is merged into stdout by the supervisor).
fn framed(lines: Vec<String>) -> Vec<String> {
    let mut out = Vec::with_capacity(lines.len() + 2);
    out.push("stdout: ".to_owned());
    out.extend(lines);
    out.push("\nstderr: ".to_owned());
    out
}

/// The log lines of each record, framed.
async fn log_lines<T: Kinded>(state: &AppState, recs: &[Rec<T>], last: usize) -> Vec<Vec<String>> {
    let requests: Vec<Option<TailRequest<'_>>> = recs
        .iter()
        .map(|r| {
            r.status.log_path().map(|p| TailRequest {
                path: std::path::Path::new(p),
                finished: r.status.state().is_finished(),
            })
        })
        .collect();
    state
        .logs
        .lines_of(&requests, last)
        .await
        .into_iter()
        .map(framed)
        .collect()
}

/// The last 10 lines of each record's log, for the Batch and Session objects.
pub async fn log_tails<T: Kinded>(state: &AppState, recs: &[Rec<T>]) -> Vec<Vec<String>> {
    // Framing adds a line at each end: 9 lines of the log, at most, show.
    let mut all = log_lines(state, recs, 9).await;
    for lines in &mut all {
        lines.drain(..lines.len().saturating_sub(10));
    }
    all
}

/// `GET …/log?from&size`: `{"id","from","total","log"}` with Livy's paging.
pub async fn log_page<T: Kinded>(
    state: &AppState,
    rec: &Rec<T>,
    q: &HashMap<String, String>,
) -> Result<super::wire::LogPage, ApiError> {
    let all = log_lines(state, std::slice::from_ref(rec), usize::MAX)
        .await
        .pop()
        .unwrap_or_default();
    let total = all.len();
    let (from, log) = log_window(q, all)?;
    Ok(super::wire::LogPage {
        id: rec.id,
        from,
        total,
        log,
    })
}
