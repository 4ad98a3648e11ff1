//! HTTP to the ResourceManager with RM HA: try the configured addresses in
//! turn, starting with the one that answered last, and stick to the first
//! that answers as the active RM.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::{Method, StatusCode};

use super::super::http;

/// What a standby RM says when it does not redirect (RMWebAppFilter).
const STANDBY_TEXT: &str = "This is standby RM";

/// An answer from the active RM.
#[derive(Debug)]
pub struct RmResponse {
    pub url: String,
    pub status: StatusCode,
    pub body: Vec<u8>,
}

pub struct Rm {
    /// `Err` keeps the reason the client could not be built, reported by every call.
    http: Result<reqwest::Client, String>,
    bases: Vec<String>,
    active: AtomicUsize,
}

impl Rm {
    pub fn new(bases: Vec<String>, connect_timeout: Duration, timeout: Duration) -> Self {
        Self {
            http: http::client(connect_timeout, timeout),
            bases: bases
                .into_iter()
                .map(|b| b.trim_end_matches('/').to_owned())
                .collect(),
            active: AtomicUsize::new(0),
        }
    }

    /// Sends `method path` (with a JSON `body`) to the active RM. `Err` lists
    /// why each address was passed over.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<RmResponse, String> {
        let client = self.http.as_ref().map_err(Clone::clone)?;
        if self.bases.is_empty() {
            return Err("no ResourceManager address is configured".to_owned());
        }
        let start = self.active.load(Ordering::Relaxed);
        let mut passed_over = Vec::new();
        for i in 0..self.bases.len() {
            let idx = (start + i) % self.bases.len();
            let url = format!("{}{path}", self.bases[idx]);
            let mut req = client.request(method.clone(), &url);
            if let Some(b) = body {
                req = req.json(b);
            }
            match attempt(req).await {
                Ok((status, body)) => {
                    if idx != start {
                        tracing::info!(rm = %self.bases[idx], "using this ResourceManager (active)");
                    }
                    self.active.store(idx, Ordering::Relaxed);
                    return Ok(RmResponse { url, status, body });
                }
                Err(why) => passed_over.push(format!("{}: {why}", self.bases[idx])),
            }
        }
        Err(passed_over.join("; "))
    }
}

/// One request; `Err` when this RM is not the one to talk to.
async fn attempt(req: reqwest::RequestBuilder) -> Result<(StatusCode, Vec<u8>), String> {
    let resp = req
        .send()
        .await
        .map_err(|e| format!("request failed: {}", http::chain(&e)))?;
    let status = resp.status();
    if status.is_redirection() {
        let to = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("?")
            .to_owned();
        return Err(format!("standby (redirects to {to})"));
    }
    if status.is_server_error() {
        return Err(format!("answered {status}"));
    }
    let body = resp
        .bytes()
        .await
        .map_err(|e| format!("reading the answer failed: {}", http::chain(&e)))?;
    // Only a non-JSON page can be the standby notice; don't scan big lists.
    let json = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    if !json && String::from_utf8_lossy(&body).contains(STANDBY_TEXT) {
        return Err("standby".to_owned());
    }
    Ok((status, body.to_vec()))
}
