//! The warm pool, as `POST /sessions` sees it: a request that asks for no
//! launch settings of its own adopts a ready pooled driver (its record
//! becomes the user's session, in one optimistic write) instead of
//! launching one. The reconciler keeps the pool filled
//! (`crate::reconcile::pool`).

use std::sync::atomic::{AtomicU64, Ordering};

use super::AppState;
use super::error::ApiError;
use super::records::{Rec, admit};
use crate::records::{Resources, SessionSpec, SessionState, SessionStatus, now_ms};
use crate::store::{Durability, Record, StoreError};

/// Pool adoptions and cold starts, for the log and `/metrics`.
#[derive(Debug, Default)]
pub struct PoolCounters {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
}

/// Why a request cannot take a pooled driver (`None`: it can): pooled
/// drivers are launched with the server's defaults only.
pub fn mismatch(spec: &SessionSpec) -> Option<&'static str> {
    let r = &spec.resources;
    if r.proxy_user.is_some() {
        return Some("it runs as a proxy user");
    }
    let mut asked = r.clone();
    asked.name = None;
    (asked != Resources::default())
        .then_some("it sets launch settings (conf, jars, files or resources)")
}

/// A pooled driver's record (ready or not).
pub fn pooled(rec: &Record<SessionSpec, SessionStatus>) -> bool {
    rec.spec.pooled
}

/// Whether session `rec`'s pooled driver is ready for a user now: idle,
/// and, where this server holds the drivers, connected and idle here (a
/// server that does not lead trusts the record the leader keeps).
pub fn ready(state: &AppState, rec: &Rec<SessionStatus>) -> bool {
    let holds_drivers = state.hub.leadership().leads();
    rec.spec.pooled
        && !rec.meta.deletion_requested
        && rec.status.state == SessionState::Idle
        && (!holds_drivers
            || state.hub.snapshot(rec.id).is_some_and(|c| {
                c.connected && c.synced && !c.busy && c.repl_state == Some(SessionState::Idle)
            }))
}

/// Gives `spec`, asked by `owner`, a ready pooled driver if it may have
/// one; `None`: it starts cold (the log says why).
pub async fn adopt(
    state: &AppState,
    spec: &SessionSpec,
    owner: Option<String>,
) -> Result<Option<Rec<SessionStatus>>, ApiError> {
    if state.config.pool_size == 0 {
        return Ok(None);
    }
    if let Some(why) = mismatch(spec) {
        state.pool.misses.fetch_add(1, Ordering::Relaxed);
        tracing::info!(reason = why, "session starts cold, not from the pool");
        return Ok(None);
    }
    let name = spec.resources.name.clone();
    // Held while the name is written, as a create holds it.
    let _admitted = admit::<SessionStatus>(state, name.as_deref(), false)?;
    let (_, candidates) = state
        .index
        .page::<SessionStatus>(0, usize::MAX, true, Some(&pooled));
    for rec in candidates.iter().filter(|r| ready(state, r)) {
        let mut next = (**rec).clone();
        next.spec.pooled = false;
        next.spec.from_pool = true;
        next.spec.kind = spec.kind;
        next.spec.ttl = spec.ttl.clone();
        next.spec.heartbeat_timeout_in_second = spec.heartbeat_timeout_in_second;
        next.spec.resources.name = name.clone();
        next.meta.name = name.clone();
        next.meta.owner = owner.clone();
        next.meta.created_at = now_ms();
        match state.index.update(&next, Durability::Disk).await {
            Ok(adopted) => {
                // Its idle clock starts now, not when the pool started it.
                state.hub.touch(adopted.id);
                state.pool.hits.fetch_add(1, Ordering::Relaxed);
                tracing::info!(
                    session = adopted.id,
                    kind = adopted.spec.kind.as_str(),
                    app_id = adopted.status.app_id.as_deref().unwrap_or_default(),
                    "session adopted a pooled driver"
                );
                return Ok(Some(adopted));
            }
            // Taken by another request, or gone: try the next.
            Err(StoreError::Conflict { .. } | StoreError::NotFound { .. }) => continue,
            Err(StoreError::DuplicateName { name, .. }) => {
                return Err(super::records::duplicate_name(&name));
            }
            Err(e) => return Err(ApiError::store("adopt a pooled driver")(e)),
        }
    }
    state.pool.misses.fetch_add(1, Ordering::Relaxed);
    tracing::info!(
        pooled = candidates.len(),
        "session starts cold: no pooled driver is ready"
    );
    Ok(None)
}
