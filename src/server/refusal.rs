//! Requests refused on their head alone, before any routing and before a
//! byte of the body is read: a URI over `livy.server.request.max-uri-length`
//! (414), a header section over `livy.server.request.max-header-size` or
//! [`MAX_HEADER_COUNT`] fields (431), a declared `Content-Length` over
//! `livy.server.request.max-body-size` (413, at once, so a client does not
//! upload a gigabyte to learn it). Each in Livy's `{"msg": …}` shape.
//!
//! hyper refuses heads past its own, higher limits with empty bodies; ours
//! stay below them (see [`super::listener`]), so clients see these instead.
//! A head hyper cannot parse at all still gets hyper's bare 400.

use axum::Json;
use axum::http::{HeaderMap, Request, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::api::error::ApiError;
use crate::config::Config;
use crate::config::keys;
use crate::config::listener::ListenerConfig;

/// Header fields per request at most (Apache httpd's `LimitRequestFields`).
pub const MAX_HEADER_COUNT: usize = 100;

/// The limits a request head is held to.
#[derive(Debug, Clone)]
pub struct Limits {
    pub listener: ListenerConfig,
    /// `livy.server.request.max-body-size`.
    pub max_body: usize,
    /// `livy.server.session.upload-max-bytes`, for the Job API's uploads.
    pub max_upload: u64,
}

impl Limits {
    pub fn from_config(config: &Config) -> Self {
        Self {
            listener: config.listener.clone(),
            max_body: config.max_body,
            max_upload: config.jobs.upload_max,
        }
    }
}

/// The response refusing `req`, if its head is over a limit.
pub fn refusal<B>(req: &Request<B>, limits: &Limits) -> Option<Response> {
    let uri = uri_length(req.uri());
    if uri > limits.listener.max_uri {
        return Some(refuse(
            StatusCode::URI_TOO_LONG,
            format!(
                "the request URI is {uri} bytes, over the limit of {}; shorten it or raise {}",
                limits.listener.max_uri,
                keys::MAX_URI
            ),
        ));
    }
    let headers = req.headers();
    if headers.len() > MAX_HEADER_COUNT {
        return Some(refuse(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!(
                "the request has {} header fields, over the limit of {MAX_HEADER_COUNT}",
                headers.len()
            ),
        ));
    }
    let size = header_size(headers);
    if size > limits.listener.max_header {
        return Some(refuse(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!(
                "the request headers are {size} bytes, over the limit of {}; send fewer or raise {}",
                limits.listener.max_header,
                keys::MAX_HEADER
            ),
        ));
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(part) = crate::api::upload_part(req.uri().path()) {
        // The file and its multipart framing.
        let limit = limits.max_upload;
        return declared
            .is_some_and(|n| n > limit.saturating_add(crate::api::MULTIPART_SLACK))
            .then(|| ApiError::UploadTooLarge { part, limit }.into_response());
    }
    if declared.is_some_and(|n| n > limits.max_body as u64) {
        return Some(
            ApiError::TooLarge {
                limit: limits.max_body,
            }
            .into_response(),
        );
    }
    None
}

/// The URI's length as the client sent it (origin form, or absolute form
/// with scheme and authority).
fn uri_length(uri: &Uri) -> usize {
    let scheme = uri.scheme_str().map_or(0, |s| s.len() + 3);
    let authority = uri.authority().map_or(0, |a| a.as_str().len());
    let rest = uri.path_and_query().map_or(0, |pq| pq.as_str().len());
    scheme + authority + rest
}

/// Bytes of the header section: `name: value\r\n` per field.
fn header_size(headers: &HeaderMap) -> usize {
    headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum()
}

/// `{"msg": …}` with `status`, as [`ApiError`] answers (these statuses are
/// the listener's, not the API's, so they are not among its variants).
fn refuse(status: StatusCode, msg: String) -> Response {
    (status, Json(json!({ "msg": msg }))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn limits() -> Limits {
        Limits {
            listener: ListenerConfig {
                header_timeout: Duration::from_secs(1),
                body_timeout: Duration::from_secs(1),
                idle_timeout: Duration::from_secs(1),
                tls_handshake_timeout: Duration::from_secs(1),
                shutdown_grace: Duration::from_secs(1),
                max_uri: 100,
                max_header: 2000,
            },
            max_body: 1000,
            max_upload: 5000,
        }
    }

    fn status(req: Request<()>) -> Option<u16> {
        refusal(&req, &limits()).map(|r| r.status().as_u16())
    }

    #[test]
    fn heads_within_the_limits_pass() {
        let req = Request::post(format!("/sessions?{}", "a".repeat(80)))
            .header("content-length", "1000")
            .header("x-big", "v".repeat(1900))
            .body(())
            .unwrap();
        assert_eq!(status(req), None);
    }

    #[test]
    fn each_limit_has_its_status() {
        let long_uri = Request::get(format!("/sessions?{}", "a".repeat(100)))
            .body(())
            .unwrap();
        assert_eq!(status(long_uri), Some(414));
        let big_header = Request::get("/")
            .header("x-big", "v".repeat(2000))
            .body(())
            .unwrap();
        assert_eq!(status(big_header), Some(431));
        let mut many = Request::get("/");
        for i in 0..=MAX_HEADER_COUNT {
            many = many.header(format!("x-{i}"), "1");
        }
        assert_eq!(status(many.body(()).unwrap()), Some(431));
        let big_body = Request::post("/batches")
            .header("content-length", "1001")
            .body(())
            .unwrap();
        assert_eq!(status(big_body), Some(413));
    }

    /// Job API uploads are held to `upload-max-bytes` (and framing), not
    /// to the JSON body limit; the refusal names the upload's key.
    #[test]
    fn uploads_have_their_own_limit() {
        let upload = |path: &str, len: u64| {
            let req = Request::post(path)
                .header("content-length", len.to_string())
                .body(())
                .unwrap();
            refusal(&req, &limits())
        };
        assert!(upload("/sessions/3/upload-jar", 5000 + 1024).is_none());
        let r = upload(
            "/sessions/3/upload-pyfile",
            5000 + crate::api::MULTIPART_SLACK + 1,
        );
        assert_eq!(r.map(|r| r.status().as_u16()), Some(413));
        assert_eq!(
            crate::api::upload_part("/sessions/x/upload-jar"),
            Some("jar")
        );
        assert_eq!(
            crate::api::upload_part("/sessions/1/upload-file"),
            Some("file")
        );
        assert_eq!(crate::api::upload_part("/sessions/1/statements"), None);
        assert_eq!(crate::api::upload_part("/batches/1/upload-jar"), None);
    }
}
