//! Request parsing in Livy's manner: a JSON extractor whose rejections are
//! [`ApiError`]s naming the offending field, and lenient field decoders for
//! what real clients send (Zeppelin sends numbers as strings, Airflow sends
//! numbers as `conf` values).

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::{HeaderMap, StatusCode, header, request::Parts};
use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer, Error as _};

use super::error::ApiError;

/// JSON body → `T`; malformed JSON, wrong types and unknown fields are 400s
/// naming the field, an over-long body is 413. A body must come as
/// `Content-Type: application/json` (or `application/*+json`) or with an
/// `X-Requested-By` header: a browser sends neither cross-site without a
/// CORS preflight, so a hostile page cannot post `text/plain` JSON (415).
pub struct LivyJson<T>(pub T);

/// Livy's CSRF header (sparkmagic, Zeppelin and Hue send it).
const REQUESTED_BY: &str = "x-requested-by";

/// Whether the headers vouch for a JSON body: a JSON media type, or the
/// CSRF header, which a browser will not send cross-site without asking.
pub(crate) fn json_vouched(headers: &HeaderMap) -> bool {
    if headers.contains_key(REQUESTED_BY) {
        return true;
    }
    let Some(ct) = headers.get(header::CONTENT_TYPE) else {
        return false;
    };
    let essence = ct
        .to_str()
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || essence
            .strip_prefix("application/")
            .is_some_and(|sub| sub.ends_with("+json"))
}

pub(crate) fn unsupported() -> ApiError {
    ApiError::UnsupportedMediaType(
        "send the JSON body with the header Content-Type: application/json".into(),
    )
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for LivyJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let limit = req
            .extensions()
            .get::<BodyLimit>()
            .map(|l| l.0)
            .unwrap_or(usize::MAX);
        let vouched = json_vouched(req.headers());
        // A declared non-JSON type is refused before its body is read.
        if !vouched && req.headers().contains_key(header::CONTENT_TYPE) {
            return Err(unsupported());
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::TooLarge { limit }
            } else if let Some(t) = body_timeout(&e) {
                ApiError::BodyTimeout {
                    seconds: t.0.as_secs(),
                }
            } else {
                // The client hung up or sent a broken body: not a size problem.
                ApiError::BadRequest(format!(
                    "failed to read the request body: {}",
                    e.body_text()
                ))
            }
        })?;
        if !vouched && !bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(unsupported());
        }
        parse_json(&bytes).map(LivyJson)
    }
}

/// A request body that did not arrive within `livy.server.request-body-timeout`
/// of its head: the listener's body wrapper fails with it, and [`LivyJson`]
/// answers 408.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the request body did not arrive within {0:?}")]
pub struct BodyTimeout(pub std::time::Duration);

/// The [`BodyTimeout`] somewhere in `e`'s chain of causes.
fn body_timeout(e: &(dyn std::error::Error + 'static)) -> Option<BodyTimeout> {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if let Some(t) = c.downcast_ref::<BodyTimeout>() {
            return Some(*t);
        }
        cause = c.source();
    }
    None
}

/// `Path<T>` whose rejection (an id that is not UTF-8 once percent-decoded,
/// a statement id that is not a number) is a JSON 400.
pub struct LivyPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for LivyPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(v)) => Ok(LivyPath(v)),
            Err(e) => Err(ApiError::BadRequest(format!(
                "path {}: an id must be an integer (or a name, in UTF-8): {}",
                crate::logtext::Escaped(&super::validate::short(parts.uri.path())),
                e.body_text()
            ))),
        }
    }
}

/// The configured body limit, put into request extensions for the message.
#[derive(Clone, Copy)]
pub struct BodyLimit(pub usize);

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        None => return Err(ApiError::bad("request body is empty; send a JSON object")),
        // serde would read an array as a positional struct; Livy wants objects.
        Some(b) if *b == b'[' => {
            return Err(ApiError::bad(
                "invalid type: the request body must be a JSON object, not an array",
            ));
        }
        Some(_) => {}
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let what = if inner.is_syntax() || inner.is_eof() {
            format!("malformed JSON: {inner}")
        } else if path == "." {
            inner.to_string()
        } else {
            format!("field {path}: {inner}")
        };
        ApiError::BadRequest(what)
    })?;
    // Only whitespace may follow the object.
    de.end().map_err(|e| {
        ApiError::BadRequest(format!(
            "malformed JSON: {e} after the JSON object; send exactly one object"
        ))
    })?;
    Ok(value)
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Scalar {
    Int(i64),
    Float(f64),
    Bool(bool),
    Text(String),
}

impl Scalar {
    fn into_text(self) -> String {
        match self {
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Bool(b) => b.to_string(),
            Scalar::Text(s) => s,
        }
    }
}

/// An optional integer given as a number or a numeric string.
pub fn opt_int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    match Option::<Scalar>::deserialize(d)? {
        None => Ok(None),
        Some(Scalar::Int(i)) => Ok(Some(i)),
        Some(Scalar::Text(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| D::Error::custom(format!("expected an integer, got {s:?}"))),
        Some(_) => Err(D::Error::custom("expected an integer")),
    }
}

/// An optional string; numbers are accepted and turned into text.
pub fn opt_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<Scalar>::deserialize(d)? {
        Some(Scalar::Bool(_)) => Err(D::Error::custom("expected a string")),
        other => Ok(other.map(Scalar::into_text)),
    }
}

/// A list of strings (`null` is empty); numbers are accepted as text (Airflow
/// stringifies args, others do not).
pub fn text_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let items = Option::<Vec<Scalar>>::deserialize(d)?.unwrap_or_default();
    Ok(items.into_iter().map(Scalar::into_text).collect())
}

/// Like [`text_list`], but remembers whether the field was given at all.
pub fn opt_list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    let items = Option::<Vec<Scalar>>::deserialize(d)?;
    Ok(items.map(|v| v.into_iter().map(Scalar::into_text).collect()))
}

/// `conf`: string keys, scalar values turned into text (`null` is empty).
pub fn conf_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let map = Option::<BTreeMap<String, Scalar>>::deserialize(d)?.unwrap_or_default();
    Ok(map.into_iter().map(|(k, v)| (k, v.into_text())).collect())
}
