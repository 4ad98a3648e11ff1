//! `ApiError`: the only error that becomes an HTTP response, in Livy's wire
//! shapes (shared/livy-api.md §1.4). Client mistakes are 4xx with a message
//! that says what to fix; 5xx bodies never leak internals and are logged.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 `{"msg": …}`: the request is wrong; the message says how.
    #[error("{0}")]
    BadRequest(String),
    /// 404 `{"msg": "Session 'N' not found."}` (Zeppelin and Hue match this text).
    #[error("Session '{0}' not found.")]
    SessionNotFound(String),
    /// 404 for routes that do not exist.
    #[error("{0}")]
    NotFound(String),
    /// 406: an `Accept` header asking for a Livy API version we do not speak.
    #[error("{0}")]
    NotAcceptable(String),
    /// 405 with `Allow`: the route exists, the method does not.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// 415: a body that does not say it is JSON.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 413: the body is over `livy.server.request.max-body-size`.
    #[error(
        "request body is larger than {limit} bytes; send less or raise livy.server.request.max-body-size"
    )]
    TooLarge { limit: usize },
    /// 408: the body did not arrive within `livy.server.request-body-timeout`.
    #[error(
        "the request body did not arrive within {seconds} s of its head; send it at once (livy.server.request-body-timeout)"
    )]
    BodyTimeout { seconds: u64 },
    /// 413: a statement's code is over `livy.server.statement.max-code-bytes`.
    #[error(
        "code: {len} bytes is more than livy.server.statement.max-code-bytes ({limit} bytes); send less or raise it"
    )]
    CodeTooLarge { len: usize, limit: usize },
    /// 413: an upload is over `livy.server.session.upload-max-bytes`.
    #[error(
        "{part}: the upload is larger than {limit} bytes (livy.server.session.upload-max-bytes); send a smaller file, use add-jar/add-file/add-pyfile with a cluster URI, or raise the limit"
    )]
    UploadTooLarge { part: &'static str, limit: u64 },
    /// 403 `{"msg": …}`: the caller may not do this (access control or
    /// impersonation; Livy's texts). Nothing was changed.
    #[error("{0}")]
    Forbidden(String),
    /// 503 `{"msg": …}` + `Retry-After`: not now, but soon (a recovered
    /// session whose driver has not re-dialled yet). sparkmagic retries 5xx.
    #[error("{0}")]
    Unavailable(String),
    /// 500: our fault. Logged with its cause; the client sees a generic text.
    #[error("internal error while trying to {action}")]
    Internal {
        action: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl ApiError {
    pub fn bad(msg: impl Into<String>) -> Self {
        Self::BadRequest(msg.into())
    }

    pub fn internal(
        action: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Internal {
            action,
            source: Box::new(source),
        }
    }

    /// A store error: 503 with `Retry-After` while the store cannot be
    /// reached (clients retry; nothing was written), else 500.
    pub fn store(action: &'static str) -> impl FnOnce(StoreError) -> Self {
        move |e| {
            if e.is_unavailable() {
                tracing::warn!(action, error = %crate::error_chain(&e), "the record store is unreachable");
                Self::Unavailable(
                    "the record store cannot be reached right now; retry in a few seconds"
                        .to_owned(),
                )
            } else {
                Self::internal(action, e)
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::SessionNotFound(_) | Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotAcceptable(_) => StatusCode::NOT_ACCEPTABLE,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TooLarge { .. } | Self::CodeTooLarge { .. } | Self::UploadTooLarge { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            Self::BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            Self::Unavailable(msg) => {
                let body = Json(json!({ "msg": msg }));
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [("retry-after", "1")],
                    body,
                )
                    .into_response();
            }
            Self::Internal { action, source } => {
                tracing::error!(action, error = %source, "request failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        (status, Json(json!({ "msg": self.to_string() }))).into_response()
    }
}
