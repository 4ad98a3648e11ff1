//! `GET /metrics`: the server's own figures in the Prometheus text format.
//! For now what the index and the reconciler know (records by state, store
//! traffic, queue depth).

use std::fmt::Write;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::AppState;
use crate::index::Kinded;
use crate::records::{BatchStatus, SessionState, SessionStatus};

fn records<T: Kinded>(state: &AppState, out: &mut String) {
    for s in SessionState::ALL {
        let n = state.index.count::<T>(s);
        let _ = writeln!(
            out,
            "livy_records{{kind=\"{}\",state=\"{s}\"}} {n}",
            T::KIND.as_str()
        );
    }
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let c = &state.index.counters;
    let mut out = String::new();
    out.push_str(
        "# HELP livy_records Records held, by kind and state.\n# TYPE livy_records gauge\n",
    );
    records::<BatchStatus>(&state, &mut out);
    records::<SessionStatus>(&state, &mut out);
    let _ = write!(
        out,
        "# HELP livy_store_records_read_total Records read from the store.\n\
         # TYPE livy_store_records_read_total counter\n\
         livy_store_records_read_total {}\n\
         # HELP livy_store_writes_total Records created, updated or deleted in the store.\n\
         # TYPE livy_store_writes_total counter\n\
         livy_store_writes_total {}\n\
         # HELP livy_reconcile_queue_depth Records waiting for the reconciler.\n\
         # TYPE livy_reconcile_queue_depth gauge\n\
         livy_reconcile_queue_depth {}\n",
        c.records_read.load(Ordering::Relaxed),
        c.writes.load(Ordering::Relaxed),
        state.wake.depth(),
    );
    if state.config.pool_size > 0 {
        let (_, pooled) =
            state
                .index
                .page::<SessionStatus>(0, usize::MAX, true, Some(&super::pool::pooled));
        let ready = pooled
            .iter()
            .filter(|r| super::pool::ready(&state, r))
            .count();
        let _ = write!(
            out,
            "# HELP livy_session_pool_size Pooled session drivers wanted.\n\
             # TYPE livy_session_pool_size gauge\n\
             livy_session_pool_size {}\n\
             # HELP livy_session_pool_drivers Pooled session drivers, by readiness.\n\
             # TYPE livy_session_pool_drivers gauge\n\
             livy_session_pool_drivers{{ready=\"true\"}} {ready}\n\
             livy_session_pool_drivers{{ready=\"false\"}} {}\n\
             # HELP livy_session_pool_hits_total Sessions that adopted a pooled driver.\n\
             # TYPE livy_session_pool_hits_total counter\n\
             livy_session_pool_hits_total {}\n\
             # HELP livy_session_pool_misses_total Sessions that started cold with the pool on.\n\
             # TYPE livy_session_pool_misses_total counter\n\
             livy_session_pool_misses_total {}\n",
            state.config.pool_size,
            pooled.len() - ready,
            state.pool.hits.load(Ordering::Relaxed),
            state.pool.misses.load(Ordering::Relaxed),
        );
    }
    if let Some(cluster) = &state.cluster {
        let term = cluster.leading();
        let _ = write!(
            out,
            "# HELP livy_leader Whether this server leads (reconciles and serves the drivers).\n\
             # TYPE livy_leader gauge\n\
             livy_leader {}\n\
             # HELP livy_leader_term The term this server leads in (0: it does not lead).\n\
             # TYPE livy_leader_term gauge\n\
             livy_leader_term {}\n",
            u8::from(term.is_some()),
            term.unwrap_or(0),
        );
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
}
