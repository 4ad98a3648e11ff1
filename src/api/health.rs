//! `GET /health` (liveness: the server answers) and `GET /ready`
//! (readiness: its store answers and, under leader election, a leader is
//! known), for probes. Both are answered without authentication, so a
//! probe needs no credentials; neither says more than up or down.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;

/// How long the store may take to answer a readiness check.
const STORE_WAIT: Duration = Duration::from_secs(2);

/// The probe routes (outside authentication; see [`super::router`]).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(ready))
}

/// Liveness: the server's HTTP side answers (it checks nothing else, so an
/// unreachable database does not get the server restarted).
#[utoipa::path(
    get,
    path = "/health",
    tag = "server",
    responses(
        (status = 200, description = "The server answers.", body = String, content_type = "text/plain", example = "ok"),
    )
)]
async fn health() -> &'static str {
    "ok"
}

/// What `GET /ready` found.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// Both of the below.
    pub ready: bool,
    /// The record store answered.
    pub store: bool,
    /// A leader is known (always true for a server that does not elect one).
    pub leader: bool,
}

/// Readiness: the record store answers and, when servers elect a leader,
/// one is known; else 503.
#[utoipa::path(
    get,
    path = "/ready",
    tag = "server",
    responses(
        (status = 200, description = "Ready to serve.", body = Readiness),
        (status = 503, description = "The store does not answer, or no leader is known.", body = Readiness),
    )
)]
async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let store = match tokio::time::timeout(STORE_WAIT, state.index.store().ping()).await {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            tracing::debug!(error = %crate::error_chain(&e), "readiness: the store does not answer");
            false
        }
        Err(_) => false,
    };
    let leader = state.cluster.as_ref().is_none_or(|c| c.leader().is_some());
    let ready = store && leader;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(Readiness {
            ready,
            store,
            leader,
        }),
    )
}
