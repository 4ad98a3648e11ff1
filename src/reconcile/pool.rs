//! The warm pool, as the reconciler keeps it: `pool.size` session records
//! marked `pooled`, launched like any session (their drivers warm every
//! interpreter and run a first job before they report idle), hidden from
//! the API until a `POST /sessions` adopts one (`crate::api::pool`). One is
//! launched at a time, never past `max-creation`; an unused one ends after
//! `pool.ttl` (its session `ttl`) and is replaced; one that fails is
//! launched again on its own record with a growing backoff. Being records,
//! pooled drivers are tracked, recovered after a restart and killed like any.

use std::time::Duration;

use super::Reconciler;
use crate::records::{Meta, Resources, SessionKind, SessionSpec, SessionStatus, now_ms};
use crate::store::{Record, StoreError};

/// How often the pool is looked at.
const EVERY: Duration = Duration::from_secs(1);

/// The record of a new pooled driver: the server's defaults, every
/// interpreter (`shared`), ended after `ttl` unless adopted.
pub fn pooled_spec(ttl: Duration) -> SessionSpec {
    SessionSpec {
        kind: SessionKind::Shared,
        resources: Resources::default(),
        heartbeat_timeout_in_second: 0,
        ttl: Some(format!("{}s", ttl.as_secs().max(1))),
        stop_requested: false,
        pooled: true,
        from_pool: false,
    }
}

impl Reconciler {
    /// Keeps the pool filled while this server reconciles.
    pub(super) async fn keep_pool(&self) {
        if self.d.config.pool_size == 0 {
            return std::future::pending::<()>().await;
        }
        loop {
            tokio::time::sleep(EVERY).await;
            if let Err(e) = self.top_up().await {
                tracing::warn!(error = %crate::error_chain(&e), "could not add a driver to the session pool");
            }
        }
    }

    /// Adds one pooled driver if the pool is short and none is starting.
    async fn top_up(&self) -> Result<(), StoreError> {
        let c = &self.d.config;
        let (_, pooled) = self.d.index.page::<SessionStatus>(
            0,
            usize::MAX,
            true,
            // A failed one counts: it is launched again on its record
            // (`decide_session`'s backoff), never replaced by a new one.
            Some(&|r: &Record<SessionSpec, SessionStatus>| {
                r.spec.pooled && !r.meta.deletion_requested
            }),
        );
        let starting = pooled.iter().any(|r| r.status.state.awaits_launch());
        if pooled.len() >= c.pool_size || starting {
            return Ok(());
        }
        if self
            .d
            .index
            .launching(self.d.manager.submit_process_is_app())
            >= c.max_creation
        {
            return Ok(());
        }
        let now = now_ms();
        let meta = Meta {
            name: None,
            owner: None,
            created_at: now,
            deletion_requested: false,
        };
        let rec = self
            .d
            .index
            .create(meta, &pooled_spec(c.pool_ttl), &SessionStatus::new(now))
            .await?;
        tracing::info!(
            session = rec.id,
            pooled = pooled.len() + 1,
            size = c.pool_size,
            "starting a pooled session driver"
        );
        Ok(())
    }
}
