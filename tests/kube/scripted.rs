//! A scripted Kubernetes API server for tests: the real kube-rs client talks
//! to a tower-test mock service; every request must match one expected
//! exchange (method, path and query, and a subset of the JSON body), each
//! exchange is used once, and `verify` fails the test on anything unexpected
//! or anything expected that never came. Exchanges may arrive in any order
//! (two watches run concurrently); identical ones are used first to last.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{Request, Response, StatusCode};
use kube::Client;
use kube::client::Body;
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// What the server answers.
pub enum Reply {
    Json(u16, Value),
    /// A watch stream: these events, one JSON document per line, then the
    /// connection ends (what a dropped watch looks like to the client).
    Events(Vec<Value>),
    /// No answer until the test ends (a watch that stays open).
    Hold,
    /// 200 with the request's own body at this `resourceVersion` (what the
    /// API server stores, for writes whose body the test cannot know).
    Echo(u64),
}

pub struct Exchange {
    pub method: &'static str,
    pub uri: String,
    /// Every key here must be in the request body with an equal value.
    pub body: Option<Value>,
    pub reply: Reply,
}

pub fn expect(
    method: &'static str,
    uri: impl Into<String>,
    body: Option<Value>,
    reply: Reply,
) -> Exchange {
    Exchange {
        method,
        uri: uri.into(),
        body,
        reply,
    }
}

/// A Kubernetes `Status` error body, as the API server sends it.
pub fn status(code: u16, reason: &str) -> Reply {
    Reply::Json(
        code,
        serde_json::json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": format!("scripted {reason}"), "reason": reason, "code": code}),
    )
}

#[derive(Default)]
struct Log {
    pending: Vec<Option<Exchange>>,
    errors: Vec<String>,
}

pub struct ApiServer {
    log: Arc<Mutex<Log>>,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

/// `expected` is a subset of `actual`: objects key by key, everything else equal.
pub fn subset(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => e
            .iter()
            .all(|(k, v)| a.get(k).is_some_and(|av| subset(v, av))),
        (e, a) => e == a,
    }
}

fn respond(reply: &Reply, request: Option<&Value>) -> Option<Response<Body>> {
    let (code, bytes) = match reply {
        Reply::Json(code, v) => (*code, serde_json::to_vec(v).expect("json")),
        Reply::Echo(rv) => {
            let mut v = request.cloned().unwrap_or_default();
            v["metadata"]["resourceVersion"] = rv.to_string().into();
            (200, serde_json::to_vec(&v).expect("json"))
        }
        Reply::Events(events) => {
            let mut out = Vec::new();
            for e in events {
                out.extend(serde_json::to_vec(e).expect("json"));
                out.push(b'\n');
            }
            (200, out)
        }
        Reply::Hold => return None,
    };
    Some(
        Response::builder()
            .status(StatusCode::from_u16(code).expect("status"))
            .header("content-type", "application/json")
            .body(Body::from(bytes))
            .expect("response"),
    )
}

impl ApiServer {
    /// A client (default namespace `livy`) whose every request goes to the script.
    pub fn start(script: Vec<Exchange>) -> (Client, ApiServer) {
        let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let log = Arc::new(Mutex::new(Log {
            pending: script.into_iter().map(Some).collect(),
            errors: Vec::new(),
        }));
        let stop = CancellationToken::new();
        let (task_log, task_stop) = (log.clone(), stop.clone());
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            loop {
                let next = tokio::select! {
                    _ = task_stop.cancelled() => break,
                    next = handle.next_request() => next,
                };
                let Some((req, send)) = next else { break };
                let (method, uri) = (req.method().to_string(), req.uri().to_string());
                let bytes = req.into_body().collect_bytes().await.unwrap_or_default();
                let body: Option<Value> = serde_json::from_slice(&bytes).ok();
                let mut log = task_log.lock().unwrap();
                let found = log.pending.iter().position(|e| {
                    e.as_ref().is_some_and(|e| {
                        e.method == method
                            && e.uri == uri
                            && e.body.as_ref().is_none_or(|want| {
                                body.as_ref().is_some_and(|got| subset(want, got))
                            })
                    })
                });
                match found.and_then(|i| log.pending[i].take()) {
                    Some(exchange) => match respond(&exchange.reply, body.as_ref()) {
                        Some(resp) => send.send_response(resp),
                        None => held.push(send),
                    },
                    None => {
                        let text = String::from_utf8_lossy(&bytes);
                        log.errors
                            .push(format!("unexpected request: {method} {uri} {text}"));
                        eprintln!("scripted API server: unexpected request: {method} {uri} {text}");
                        let reply = status(500, "UnexpectedRequest");
                        send.send_response(respond(&reply, None).expect("a body"));
                    }
                }
            }
            drop(held);
        });
        let client = Client::new(service, "livy");
        (client, ApiServer { log, stop, task })
    }

    /// Waits (bounded) for every expected exchange, then fails the test on
    /// any unexpected request or any exchange that never came.
    pub async fn verify(self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while tokio::time::Instant::now() < deadline {
            if self.log.lock().unwrap().pending.iter().all(Option::is_none) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Give a stray request in flight the chance to show up.
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.stop.cancel();
        let _ = self.task.await;
        let log = self.log.lock().unwrap();
        let missing: Vec<String> = log
            .pending
            .iter()
            .flatten()
            .map(|e| format!("{} {}", e.method, e.uri))
            .collect();
        assert!(log.errors.is_empty(), "{:#?}", log.errors);
        assert!(
            missing.is_empty(),
            "expected requests that never came: {missing:#?}"
        );
    }
}
