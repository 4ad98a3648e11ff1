//! The `livy` CLI's HTTP client: blocking reqwest against the server's REST
//! API only, JSON in and out. Every failure becomes one [`Error`] whose
//! message is a single line a user can act on (the server's `{"msg"}` text
//! where there is one); it must never panic on a bad URL or a dead server.

use std::time::Duration;

use reqwest::Method;
use reqwest::blocking::{Client as Http, RequestBuilder, Response};
use reqwest::header::{ACCEPT, HeaderValue};
use reqwest::{StatusCode, Url};
use serde_json::Value;

use crate::sanitize::{clean, shown_url, strip_controls};

/// Livy's CSRF filter wants this header (any value) on POST and DELETE.
const REQUESTED_BY: &str = "X-Requested-By";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid server URL {url:?}: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("cannot build the HTTP client: {reason}")]
    Build { reason: String },
    #[error("cannot reach the Livy server at {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("{msg} (HTTP {status} from {method} {path})")]
    Status {
        method: Method,
        path: String,
        status: u16,
        msg: String,
    },
    #[error("{method} {path}: the server's answer is not JSON: {reason}")]
    Decode {
        method: Method,
        path: String,
        reason: String,
    },
}

/// Credentials for HTTP Basic authentication.
#[derive(Clone, PartialEq, Eq)]
pub struct Basic {
    pub user: String,
    pub password: String,
}

/// Never the password, whatever prints it.
impl std::fmt::Debug for Basic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Basic")
            .field("user", &self.user)
            .field("password", &"***")
            .finish()
    }
}

pub struct Client {
    http: Http,
    base: Url,
    auth: Option<Basic>,
}

impl Client {
    pub fn new(url: &str, auth: Option<Basic>) -> Result<Client, Error> {
        let base = Url::parse(url).map_err(|e| Error::BadUrl {
            url: shown_url(url),
            reason: e.to_string(),
        })?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(Error::BadUrl {
                url: shown_url(url),
                reason: "expected http://host:port or https://host:port".to_owned(),
            });
        }
        let http = Http::builder()
            .connect_timeout(Duration::from_secs(10))
            // DELETE of a session answers once its driver has stopped.
            .timeout(Duration::from_secs(120))
            .user_agent(concat!("livy-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Build {
                reason: root_cause(&e),
            })?;
        Ok(Client { http, base, auth })
    }

    /// `text` without the URL's password, should a cause quote the URL.
    fn scrub(&self, text: String) -> String {
        match self.base.password() {
            Some(pw) if !pw.is_empty() => text.replace(pw, "***"),
            _ => text,
        }
    }

    /// The URL of `segments` under the base URL, each segment escaped (ids
    /// may be session names).
    fn url(&self, segments: &[&str], query: &[(&str, String)]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    fn request(&self, method: Method, url: Url) -> RequestBuilder {
        let mut req = self
            .http
            .request(method.clone(), url)
            .header(ACCEPT, HeaderValue::from_static("application/json"));
        if method != Method::GET {
            req = req.header(REQUESTED_BY, "livy-cli");
        }
        if let Some(b) = &self.auth {
            req = req.basic_auth(&b.user, Some(&b.password));
        }
        req
    }

    pub fn get(&self, segments: &[&str], query: &[(&str, String)]) -> Result<Value, Error> {
        let url = self.url(segments, query);
        self.send(Method::GET, self.request(Method::GET, url), segments)
    }

    pub fn post(&self, segments: &[&str], body: &Value) -> Result<Value, Error> {
        let url = self.url(segments, &[]);
        self.send(
            Method::POST,
            self.request(Method::POST, url).json(body),
            segments,
        )
    }

    pub fn delete(&self, segments: &[&str]) -> Result<Value, Error> {
        let url = self.url(segments, &[]);
        self.send(Method::DELETE, self.request(Method::DELETE, url), segments)
    }

    fn send(&self, method: Method, req: RequestBuilder, segments: &[&str]) -> Result<Value, Error> {
        let path = format!("/{}", segments.join("/"));
        let resp = req.send().map_err(|e| Error::Connect {
            url: shown_url(self.base.as_str()),
            reason: self.scrub(root_cause(&e)),
        })?;
        let status = resp.status();
        if !status.is_success() {
            return Err(Error::Status {
                method,
                path,
                status: status.as_u16(),
                msg: strip_controls(&refusal_text(status, resp)),
            });
        }
        let text = resp.text().map_err(|e| Error::Connect {
            url: shown_url(self.base.as_str()),
            reason: self.scrub(root_cause(&e)),
        })?;
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        // Nothing the server sends reaches the terminal with its controls.
        serde_json::from_str(&text)
            .map(clean)
            .map_err(|e| Error::Decode {
                method,
                path,
                reason: e.to_string(),
            })
    }
}

/// The innermost cause of an error ("Connection refused (os error 111)"),
/// which is the part that tells a user what went wrong.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// One line of text for a non-2xx answer.
fn refusal_text(status: StatusCode, resp: Response) -> String {
    let body = resp.text().unwrap_or_default();
    message_of(&body).unwrap_or_else(|| {
        status
            .canonical_reason()
            .unwrap_or("request failed")
            .to_owned()
    })
}

/// The message in a Livy error body: `{"msg": …}`, a bare JSON string, or
/// the first meaningful line of a text/HTML page (filters answer in HTML).
pub fn message_of(body: &str) -> Option<String> {
    if let Ok(v) = serde_json::from_str::<Value>(body) {
        return match v {
            Value::String(s) => Some(one_line(&s)),
            Value::Object(o) => o.get("msg").and_then(Value::as_str).map(one_line),
            _ => None,
        };
    }
    let text = strip_tags(body);
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("Error ") && !l.starts_with("HTTP ERROR"))
        .or_else(|| text.lines().map(str::trim).find(|l| !l.is_empty()))
        .map(one_line)
}

fn strip_tags(html: &str) -> String {
    // <title> repeats the status line; drop it and the head with it.
    let body = match (html.find("</head>"), html.find("<body")) {
        (Some(h), _) => &html[h..],
        (None, _) => html,
    };
    let mut out = String::with_capacity(body.len());
    let mut in_tag = false;
    for c in body.chars() {
        match c {
            '<' => {
                in_tag = true;
                out.push('\n');
            }
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_from_livy_error_bodies() {
        assert_eq!(
            message_of(r#"{"msg":"Session '7' not found."}"#).as_deref(),
            Some("Session '7' not found.")
        );
        assert_eq!(
            message_of(r#""Statement not found""#).as_deref(),
            Some("Statement not found")
        );
        let html = "<html><head><title>Error 400 Missing</title></head><body><h2>HTTP ERROR 400</h2>\n<p>Missing Required Header for CSRF protection.</p></body></html>";
        assert_eq!(
            message_of(html).as_deref(),
            Some("Missing Required Header for CSRF protection.")
        );
        assert_eq!(message_of(""), None);
        assert_eq!(message_of("[1]"), None);
    }

    #[test]
    fn urls_escape_ids_and_keep_a_base_path() {
        let c = Client::new("http://h:1/livy/", None).expect("client");
        assert_eq!(
            c.url(&["sessions", "my name"], &[("from", "0".into())])
                .as_str(),
            "http://h:1/livy/sessions/my%20name?from=0"
        );
        assert!(matches!(
            Client::new("localhost:8998", None),
            Err(Error::BadUrl { .. })
        ));
        assert!(matches!(Client::new("::", None), Err(Error::BadUrl { .. })));
    }
}
