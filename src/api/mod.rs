//! The REST front end: Livy's routes and wire shapes (shared/livy-api.md).
//!
//! Handlers validate, write desired-state records, wake the reconciler and
//! answer from records. They never spawn processes or talk to clusters.

pub mod access;
mod batches;
pub mod body;
pub mod error;
mod metrics;
mod paging;
pub mod pool;
pub mod records;
pub mod request;
mod sessions;
mod statements;
mod ui;
pub mod validate;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use tower_http::compression::CompressionLayer;
use tower_http::trace::TraceLayer;

use crate::cluster::ClusterManager;
use crate::config::Config;
use crate::index::Index;
use crate::launcher::logs::LogTails;
use crate::reconcile::Wake;
use crate::repl::ReplHub;
use body::BodyLimit;
use error::ApiError;

/// What every handler may use.
pub struct App {
    /// Every record, typed, in memory; writes go through it to the store.
    pub index: Arc<Index>,
    pub config: Arc<Config>,
    pub manager: Arc<dyn ClusterManager>,
    pub logs: Arc<LogTails>,
    /// Live driver channels of interactive sessions.
    pub hub: Arc<ReplHub>,
    /// The reconciler's queue (its depth is a metric).
    pub wake: Arc<Wake>,
    /// Admits creates so the `max-creation` and name checks cannot race.
    pub create_lock: records::CreateLock,
    /// Authentication and access rules.
    pub auth: Arc<crate::auth::Auth>,
    /// The servers sharing a PostgreSQL store (`None`: this one alone).
    pub cluster: Option<Arc<crate::ha::Cluster>>,
    /// Pool adoptions and cold starts.
    pub pool: pool::PoolCounters,
}

pub type AppState = Arc<App>;

/// The Livy version clients gate features on (pylivy, Zeppelin).
pub const LIVY_VERSION: &str = "0.8.0-incubating";

pub fn router(state: AppState) -> Router {
    let limit = state.config.max_body;
    let routes = Router::new()
        .route("/version", get(version))
        .route("/metrics/ping", get(|| async { "pong" }))
        .route("/metrics", get(metrics::metrics))
        .route(
            "/batches",
            get(batches::list_batches).post(batches::create_batch),
        )
        .route(
            "/batches/{id}",
            get(batches::get_batch).delete(batches::delete_batch),
        )
        .route("/batches/{id}/state", get(batches::get_batch_state))
        .route("/batches/{id}/log", get(batches::get_batch_log))
        .route("/batches/{id}/logs", get(batches::get_batch_log))
        .route(
            "/sessions",
            get(sessions::list_sessions).post(sessions::create_session),
        )
        .route(
            "/sessions/{id}",
            get(sessions::get_session).delete(sessions::delete_session),
        )
        .route("/sessions/{id}/state", get(sessions::get_session_state))
        .route("/sessions/{id}/log", get(sessions::get_session_log))
        .route("/sessions/{id}/logs", get(sessions::get_session_log))
        .route("/sessions/{id}/stop", post(sessions::stop_session))
        .route(
            "/sessions/{id}/interrupt",
            post(sessions::interrupt_session),
        )
        .route(
            "/sessions/{id}/statements",
            get(statements::list_statements).post(statements::create_statement),
        )
        .route(
            "/sessions/{id}/statements/{sid}",
            get(statements::get_statement),
        )
        .route(
            "/sessions/{id}/statements/{sid}/cancel",
            post(statements::cancel_statement),
        )
        .route("/sessions/{id}/completion", post(statements::complete))
        .merge(ui::routes())
        .fallback(|| async { ApiError::NotFound("no such resource".into()) })
        // axum adds `Allow` to this answer; `method_not_allowed` words it.
        .method_not_allowed_fallback(|| async { StatusCode::METHOD_NOT_ALLOWED })
        // Innermost: it needs the caller that authentication found.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::ha::forward,
        ))
        .layer(middleware::from_fn_with_state(limit, accept_and_limit))
        .layer(middleware::from_fn_with_state(
            state.auth.clone(),
            crate::auth::middleware,
        ))
        .layer(DefaultBodyLimit::max(limit))
        .layer(CompressionLayer::new())
        .layer(TraceLayer::new_for_http())
        .with_state(state);
    // Around the whole router: a layer on the routes runs before axum adds
    // `Allow` to a 405.
    Router::new()
        .fallback_service(routes)
        .layer(middleware::from_fn(method_not_allowed))
}

/// Rejects `Accept: application/vnd.livy.vX+json` for versions other than
/// v0.1 (406, as Livy), and tells the JSON extractor the body limit.
async fn accept_and_limit(State(limit): State<usize>, mut req: Request, next: Next) -> Response {
    if let Some(accept) = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
    {
        let asks_livy = accept
            .split(',')
            .map(str::trim)
            .filter(|a| a.starts_with("application/vnd.livy."));
        for a in asks_livy {
            if !a.starts_with("application/vnd.livy.v0.1") {
                return ApiError::NotAcceptable(format!(
                    "unsupported API version {a}; this server speaks application/vnd.livy.v0.1+json"
                ))
                .into_response();
            }
        }
    }
    req.extensions_mut().insert(BodyLimit(limit));
    next.run(req).await
}

/// A 405 from the router (which set `Allow`) becomes a JSON message naming
/// the methods the resource takes.
async fn method_not_allowed(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let resp = next.run(req).await;
    if resp.status() != StatusCode::METHOD_NOT_ALLOWED {
        return resp;
    }
    let allow = resp.headers().get(header::ALLOW).cloned();
    let allowed = allow
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .replace(',', ", ");
    let mut out = ApiError::MethodNotAllowed(format!(
        "method {} is not allowed on this resource; use {allowed}",
        crate::logtext::Escaped(&validate::short(method.as_str()))
    ))
    .into_response();
    if let Some(allow) = allow {
        out.headers_mut().insert(header::ALLOW, allow);
    }
    out
}

/// Livy's version object, plus the Spark and Scala every application of this
/// server runs on (extra fields; clients read only `version`).
async fn version(State(state): State<AppState>) -> impl IntoResponse {
    let install = state.config.spark_install.as_ref();
    axum::Json(json!({
        "version": LIVY_VERSION,
        "user": "livy-server",
        "revision": env!("CARGO_PKG_VERSION"),
        "branch": "main",
        "date": "",
        "url": "https://github.com/livy-server/livy-server",
        "server": format!("livy-server {}", env!("CARGO_PKG_VERSION")),
        "sparkVersion": install.map(|i| i.spark_version.as_str()),
        "scalaVersion": install.map(|i| i.scala_version.as_str()),
    }))
}
