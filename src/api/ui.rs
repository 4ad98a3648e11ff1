//! The web UI at `/ui`: static files (HTML, CSS, vanilla JavaScript) built
//! into the binary, and `/` redirecting to it (shared/livy-api.md §1).
//!
//! It serves files only: the page reads every session, batch, statement and
//! log through the REST API with the browser's credentials, so the same
//! authentication, access control and CSRF rules apply as to any client.
//! It must not read records or answer with API data itself.

use std::sync::LazyLock;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use super::error::ApiError;

/// Where the UI lives; `/` redirects here (Livy redirects to `/ui/`).
const UI_ROOT: &str = "/ui/";

const INDEX_HTML: &str = include_str!("ui/index.html");

/// Files under `/ui/assets/`: name, content type, content. The script is
/// a set of ES modules (`app.js` imports the others).
const ASSETS: &[(&str, &str, &str)] = &[
    ("app.js", JS, include_str!("ui/app.js")),
    ("common.js", JS, include_str!("ui/common.js")),
    ("lists.js", JS, include_str!("ui/lists.js")),
    ("session.js", JS, include_str!("ui/session.js")),
    ("output.js", JS, include_str!("ui/output.js")),
    ("log.js", JS, include_str!("ui/log.js")),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("ui/style.css"),
    ),
];

const JS: &str = "text/javascript; charset=utf-8";

/// The page runs only its own script and style; images may be `data:`
/// (statement plots arrive as base64 PNG); it talks only to this server.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                   img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
                   form-action 'self'; frame-ancestors 'none'";

/// `/`, `/ui`, `/ui/…` (the app routes in the browser) and `/ui/assets/…`.
pub fn routes() -> Router<super::AppState> {
    ui_router()
}

/// The routes for any state: the handlers need none (tests use `()`).
fn ui_router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|| async { Redirect::temporary(UI_ROOT) }))
        .route("/ui", get(index))
        .route("/ui/", get(index))
        .route("/ui/assets/{name}", get(asset))
        .route("/ui/{*page}", get(page))
}

async fn index(headers: HeaderMap) -> Response {
    static TAG: LazyLock<String> = LazyLock::new(|| etag(INDEX_HTML));
    serve(&headers, "text/html; charset=utf-8", INDEX_HTML, &TAG)
}

/// A page of the app (`/ui/sessions/3`): the same HTML, which routes by
/// path. Nothing under `assets/` is a page.
async fn page(Path(page): Path<String>, headers: HeaderMap) -> Response {
    if page == "assets" || page.starts_with("assets/") {
        return no_asset(&page);
    }
    index(headers).await
}

async fn asset(Path(name): Path<String>, headers: HeaderMap) -> Response {
    // Each file's tag, computed once.
    static TAGS: LazyLock<Vec<String>> =
        LazyLock::new(|| ASSETS.iter().map(|(_, _, body)| etag(body)).collect());
    match ASSETS.iter().position(|(n, _, _)| *n == name) {
        Some(i) => {
            let (_, content_type, body) = ASSETS[i];
            serve(&headers, content_type, body, &TAGS[i])
        }
        None => no_asset(&name),
    }
}

fn no_asset(name: &str) -> Response {
    ApiError::NotFound(format!(
        "the web UI has no file {}",
        crate::logtext::Escaped(&super::validate::short(name))
    ))
    .into_response()
}

/// A strong validator of a file's content, so `Cache-Control: no-cache`
/// costs a 304 and not the file after the first load, and a new build's
/// files are never served stale.
fn etag(body: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, body.as_bytes());
    let hex: String = digest.as_ref()[..12]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("\"{hex}\"")
}

fn matches(headers: &HeaderMap, tag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == tag || t == "*")
}

fn serve(
    headers: &HeaderMap,
    content_type: &'static str,
    body: &'static str,
    tag: &str,
) -> Response {
    let mut resp = if matches(headers, tag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
            body,
        )
            .into_response()
    };
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(tag) {
        h.insert(header::ETAG, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if content_type.starts_with("text/html") {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        );
    }
    resp
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use rstest::rstest;
    use tower::ServiceExt;

    async fn get(path: &str, if_none_match: Option<&str>) -> Response {
        let mut req = Request::get(path);
        if let Some(tag) = if_none_match {
            req = req.header(header::IF_NONE_MATCH, tag);
        }
        ui_router::<()>()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    fn header_of(resp: &Response, name: header::HeaderName) -> &str {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    #[rstest]
    #[case("/ui", "text/html; charset=utf-8")]
    #[case("/ui/", "text/html; charset=utf-8")]
    #[case("/ui/sessions/3", "text/html; charset=utf-8")]
    #[case("/ui/batches/7/log", "text/html; charset=utf-8")]
    #[case("/ui/assets/app.js", "text/javascript; charset=utf-8")]
    #[case("/ui/assets/log.js", "text/javascript; charset=utf-8")]
    #[case("/ui/assets/style.css", "text/css; charset=utf-8")]
    #[tokio::test]
    async fn serves_files_with_their_type_and_a_validator(
        #[case] path: &str,
        #[case] content_type: &str,
    ) {
        let resp = get(path, None).await;
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        assert_eq!(header_of(&resp, header::CONTENT_TYPE), content_type);
        assert_eq!(header_of(&resp, header::CACHE_CONTROL), "no-cache");
        assert_eq!(header_of(&resp, header::X_CONTENT_TYPE_OPTIONS), "nosniff");
        let tag = header_of(&resp, header::ETAG).to_owned();
        assert!(tag.starts_with('"') && tag.len() == 26, "{tag}");
        let again = get(path, Some(&tag)).await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(header_of(&again, header::ETAG), tag);
        let stale = get(path, Some("\"0000\"")).await;
        assert_eq!(stale.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn the_page_forbids_foreign_scripts_and_framing() {
        let resp = get("/ui", None).await;
        let csp = header_of(&resp, header::CONTENT_SECURITY_POLICY);
        assert!(csp.contains("script-src 'self'"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(header_of(&resp, header::X_FRAME_OPTIONS), "DENY");
    }

    #[tokio::test]
    async fn root_redirects_to_the_ui() {
        let resp = get("/", None).await;
        assert!(resp.status().is_redirection(), "{}", resp.status());
        assert_eq!(header_of(&resp, header::LOCATION), "/ui/");
    }

    #[rstest]
    #[case("/ui/assets/x")]
    #[case("/ui/assets/app.js.map")]
    #[case("/ui/assets/a/b")]
    #[case("/ui/assets")]
    #[tokio::test]
    async fn unknown_assets_are_404(#[case] path: &str) {
        let resp = get(path, None).await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(header_of(&resp, header::CONTENT_TYPE).starts_with("application/json"));
    }

    /// API data is user-controlled: the scripts never parse text as HTML.
    #[test]
    fn the_scripts_never_write_html() {
        let scripts: Vec<_> = ASSETS.iter().filter(|(_, t, _)| *t == JS).collect();
        assert_eq!(scripts.len(), 6);
        for (name, _, body) in scripts {
            for sink in [
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "document.write",
                "eval(",
                "new Function",
            ] {
                assert!(!body.contains(sink), "{name} uses {sink}");
            }
        }
    }
}
