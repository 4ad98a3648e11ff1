//! The REST front end: Livy's routes and wire shapes (shared/livy-api.md).
//!
//! Handlers validate, write desired-state records, wake the reconciler and
//! answer from records. They never spawn processes or talk to clusters.

pub mod access;
mod batches;
pub mod body;
pub mod error;
mod health;
mod jobs;
mod metrics;
pub mod openapi;
mod paging;
pub mod pool;
pub mod records;
pub mod request;
mod sessions;
mod statements;
mod ui;
pub mod validate;
pub mod wire;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower_http::compression::CompressionLayer;
use tower_http::trace::TraceLayer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

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
    /// Live driver channels of interactive sessions, and whether this
    /// server leads (`hub.leadership()`, the server's one leadership).
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
    /// Seals the conf secrets of new records.
    pub sealer: Arc<crate::records::seal::Sealer>,
}

pub type AppState = Arc<App>;

/// The Livy version clients gate features on (pylivy, Zeppelin).
pub const LIVY_VERSION: &str = "0.8.0-incubating";

/// Every API route with its OpenAPI entry (`openapi::document`): each
/// handler's `#[utoipa::path]` names its path, and the router serves it there.
pub fn api_routes() -> OpenApiRouter<AppState> {
    local_routes().merge(driver_routes())
}

/// The routes any server answers itself, from its index and records.
fn local_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::base())
        .routes(routes!(version))
        .routes(routes!(ping))
        .routes(routes!(metrics::metrics))
        .routes(routes!(openapi::serve))
        .routes(routes!(batches::list_batches, batches::create_batch))
        .routes(routes!(batches::get_batch, batches::delete_batch))
        .routes(routes!(batches::get_batch_state))
        .routes(routes!(batches::get_batch_log))
        .routes(routes!(batches::get_batch_logs))
        .routes(routes!(sessions::list_sessions, sessions::create_session))
        // Livy's Java and Python clients create at `/sessions/`.
        .route(
            "/sessions/",
            axum::routing::get(sessions::list_sessions).post(sessions::create_session),
        )
        .routes(routes!(sessions::get_session, sessions::delete_session))
        .routes(routes!(sessions::get_session_state))
        .routes(routes!(sessions::get_session_log))
        .routes(routes!(sessions::get_session_logs))
        .routes(routes!(sessions::stop_session))
        .routes(routes!(sessions::interrupt_session))
}

/// The routes that need the session's driver, which only the leader holds
/// (statements, their cancel, completion): forwarded to the leader by a
/// server that does not lead (`crate::ha::forward`).
pub fn driver_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(
            statements::list_statements,
            statements::create_statement
        ))
        .routes(routes!(statements::get_statement))
        .routes(routes!(statements::cancel_statement))
        .routes(routes!(statements::complete))
        .routes(routes!(jobs::submit_job))
        .routes(routes!(jobs::run_job))
        .routes(routes!(jobs::get_job))
        .routes(routes!(jobs::cancel_job))
        .routes(routes!(jobs::connect))
        .routes(routes!(jobs::add_jar))
        .routes(routes!(jobs::add_file))
        .routes(routes!(jobs::add_pyfile))
        .merge(
            // Uploads have their own cap (`livy.server.session.upload-max-bytes`),
            // counted as they stream in.
            OpenApiRouter::new()
                .routes(routes!(jobs::upload_jar))
                .routes(routes!(jobs::upload_file))
                .routes(routes!(jobs::upload_pyfile))
                .layer(DefaultBodyLimit::disable()),
        )
}

/// Bytes a multipart body may hold beyond its file (boundaries, part headers).
pub const MULTIPART_SLACK: u64 = 64 * 1024;

/// The multipart part a Job API upload route takes (`jar` or `file`), if
/// `path` is one: uploads have their own size cap.
pub fn upload_part(path: &str) -> Option<&'static str> {
    let rest = path.strip_prefix("/sessions/")?;
    let (_, route) = rest.split_once('/')?;
    match route.trim_end_matches('/') {
        "upload-jar" => Some("jar"),
        "upload-file" | "upload-pyfile" => Some("file"),
        _ => None,
    }
}

pub fn router(state: AppState) -> Router {
    let limit = state.config.max_body;
    let (local, _) = local_routes().split_for_parts();
    let (driver, _) = driver_routes().split_for_parts();
    // Route layers apply to routed methods only, so that other methods keep
    // their 405. A call that needs a driver is checked for cross-site use
    // where it is answered: on the leader, when it is forwarded there.
    let driver = driver
        .route_layer(middleware::from_fn(cross_site))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            crate::ha::forward,
        ));
    let routes = local
        .merge(ui::routes())
        .route_layer(middleware::from_fn(cross_site))
        .merge(driver)
        .fallback(|| async { ApiError::NotFound("no such resource".into()) })
        // axum adds `Allow` to this answer; `method_not_allowed` words it.
        .method_not_allowed_fallback(|| async { StatusCode::METHOD_NOT_ALLOWED })
        .layer(middleware::from_fn_with_state(limit, accept_and_limit))
        .layer(middleware::from_fn_with_state(
            state.auth.clone(),
            crate::auth::middleware,
        ))
        .layer(DefaultBodyLimit::max(limit))
        .layer(CompressionLayer::new())
        .layer(TraceLayer::new_for_http());
    // Outermost, so it times authentication too.
    let routes = match state.config.metrics {
        true => routes.layer(middleware::from_fn(metrics::count_request)),
        false => routes,
    };
    let state_for_probes = state.clone();
    let routes = routes.with_state(state);
    // Around the whole router: a layer on the routes runs before axum adds
    // `Allow` to a 405.
    // The probes: outside authentication, so a probe needs no credentials.
    let (probes, _) = health::routes().split_for_parts();
    Router::new()
        .merge(probes.with_state(state_for_probes))
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

/// A change must say it comes from a Livy client, body or not: with
/// `X-Requested-By` (any value) or a JSON `Content-Type`. A page on another
/// site can send neither without a CORS preflight (which this server never
/// grants), so a form or a `fetch` there cannot stop, interrupt, cancel or
/// create. Applies to POST and DELETE, the only changing methods the API
/// routes, where a route takes them (others get their 405). A DELETE with
/// neither a `Content-Type` nor an `Origin` passes: browsers cannot send a
/// cross-site DELETE without a preflight and always send `Origin` with one,
/// and pylivy deletes with neither header (shared/livy-api.md §8). Runs
/// inside the HA forwarding (`router`), so the leader checks a forwarded
/// call on the headers the forwarder passes on (the content type and
/// `X-Requested-By`).
async fn cross_site(req: Request, next: Next) -> Response {
    let h = req.headers();
    let bare_delete = *req.method() == Method::DELETE
        && !h.contains_key(header::CONTENT_TYPE)
        && !h.contains_key(header::ORIGIN);
    let checked = matches!(*req.method(), Method::POST | Method::DELETE) && !bare_delete;
    if checked && !body::json_vouched(h) {
        // A body (declared, or on its way) that does not say it is JSON is
        // the body extractor's 415; a bare change is Livy's CSRF refusal.
        let bodiless = axum::body::HttpBody::size_hint(req.body()).upper() == Some(0);
        let refusal = if h.contains_key(header::CONTENT_TYPE) || !bodiless {
            body::unsupported()
        } else {
            ApiError::bad(
                "Missing Required Header for CSRF protection: send X-Requested-By (any value) or Content-Type: application/json with every POST, body or not",
            )
        };
        return refusal.into_response();
    }
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

/// Livy's version object, plus the Spark and Scala of this server's
/// applications.
#[utoipa::path(
    get,
    path = "/version",
    tag = "server",
    responses((status = 200, body = wire::VersionView), openapi::Refusals)
)]
async fn version(State(state): State<AppState>) -> axum::Json<wire::VersionView> {
    let install = state.config.spark_install.as_ref();
    axum::Json(wire::VersionView {
        version: LIVY_VERSION,
        user: "livy-server",
        revision: env!("CARGO_PKG_VERSION"),
        branch: "main",
        date: "",
        url: "https://github.com/livy-server/livy-server",
        server: format!("livy-server {}", env!("CARGO_PKG_VERSION")),
        spark_version: install.map(|i| i.spark_version.clone()),
        scala_version: install.map(|i| i.scala_version.clone()),
    })
}

/// Livy's health check.
#[utoipa::path(
    get,
    path = "/metrics/ping",
    tag = "server",
    responses(
        (status = 200, description = "The server answers.", body = String, content_type = "text/plain", example = "pong"),
        openapi::Refusals,
    )
)]
async fn ping() -> &'static str {
    "pong"
}
