//! `GET /metrics`: the server's figures in the Prometheus text exposition
//! format. Counters and histograms are recorded where things happen
//! (`crate::metrics`); what the index, the queue, the pool and the election
//! know is read into gauges at each scrape.

use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics::{counter, gauge};

use super::AppState;
use crate::index::Kinded;
use crate::records::{BatchStatus, SessionState, SessionStatus};

fn records<T: Kinded>(state: &AppState) {
    for s in SessionState::ALL {
        let n = state.index.count::<T>(s);
        gauge!("livy_records", "kind" => T::KIND.as_str(), "state" => s.to_string()).set(n as f64);
    }
}

/// Counts and times every API request by its route template (never the
/// path itself: ids would make a series each).
pub async fn count_request(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = match *req.method() {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::DELETE => "DELETE",
        Method::PUT => "PUT",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    };
    let started = Instant::now();
    let resp = next.run(req).await;
    crate::metrics::http(&route, method, resp.status().as_u16(), started.elapsed());
    resp
}

/// The server's metrics in the Prometheus text exposition format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "server",
    responses(
        (status = 200, description = "Prometheus text format 0.0.4.", body = String,
            content_type = "text/plain; version=0.0.4; charset=utf-8"),
        (status = 404, description = "Metrics are off (`livy.server.metrics.enabled = false`).", body = super::wire::Msg),
        super::openapi::Refusals,
    )
)]
pub async fn metrics(State(state): State<AppState>) -> Result<Response, super::error::ApiError> {
    if !state.config.metrics {
        return Err(super::error::ApiError::NotFound(
            "metrics are off (livy.server.metrics.enabled = false)".into(),
        ));
    }
    let handle = crate::metrics::handle();
    records::<BatchStatus>(&state);
    records::<SessionStatus>(&state);
    let c = &state.index.counters;
    counter!("livy_store_records_read_total").absolute(c.records_read.load(Ordering::Relaxed));
    counter!("livy_store_writes_total").absolute(c.writes.load(Ordering::Relaxed));
    gauge!("livy_reconcile_queue_depth").set(state.wake.depth() as f64);
    if state.config.pool_size > 0 {
        let (_, pooled) =
            state
                .index
                .page::<SessionStatus>(0, usize::MAX, true, Some(&super::pool::pooled));
        let ready = pooled
            .iter()
            .filter(|r| super::pool::ready(&state, r))
            .count();
        gauge!("livy_session_pool_size").set(state.config.pool_size as f64);
        gauge!("livy_session_pool_drivers", "ready" => "true").set(ready as f64);
        gauge!("livy_session_pool_drivers", "ready" => "false").set((pooled.len() - ready) as f64);
        counter!("livy_session_pool_hits_total").absolute(state.pool.hits.load(Ordering::Relaxed));
        counter!("livy_session_pool_misses_total")
            .absolute(state.pool.misses.load(Ordering::Relaxed));
    }
    let leadership = state.hub.leadership();
    if leadership.elects() {
        let term = leadership.term();
        gauge!("livy_leader").set(f64::from(u8::from(term.is_some())));
        gauge!("livy_leader_term").set(term.unwrap_or(0) as f64);
    }
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
        .into_response())
}
