//! Session calls that need a driver (statements, cancel, completion: the
//! routes `crate::api::router` puts this layer on) go to the leader, which
//! holds every driver's connection: forwarded over HTTP
//! (HTTPS when the servers serve it) with the caller's identity, signed
//! with the servers' shared secret (see [`super::signature`]).

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{ANSWERED_BY_HEADER, Cluster, FORWARDED_USER_HEADER, PEER_SIGNATURE_HEADER, Peer};
use crate::api::AppState;
use crate::api::error::ApiError;
use crate::auth::Caller;

/// Route layer (inside authentication) on the routes that need a
/// session's driver (`crate::api::driver_routes`): the call goes to the
/// leader when this server does not lead.
pub async fn forward(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(cluster) = state.cluster.as_ref() else {
        return next.run(req).await;
    };
    if state.hub.leadership().leads() {
        return next.run(req).await;
    }
    // While no leader is known (a failover, or this server just started),
    // the call waits for one, as a statement waits for a recovering driver.
    let leader = cluster
        .leader_within(state.config.statement_recovery_wait)
        .await;
    let Some(leader) = leader else {
        return unavailable(
            "no server leads right now (a failover is under way); retry in a few seconds",
        );
    };
    if leader.identity == cluster.me.identity {
        // Elected meanwhile: the hub serves it (or says the session recovers).
        return next.run(req).await;
    }
    let limit = match crate::api::upload_part(req.uri().path()) {
        Some(_) => (state.config.jobs.upload_max + crate::api::MULTIPART_SLACK) as usize,
        None => state.config.max_body,
    };
    match relay(cluster, &leader, req, limit).await {
        Ok(resp) => resp,
        Err(why) => {
            tracing::warn!(leader = %leader.rest_url, error = %why, "could not forward a session call to the leader");
            unavailable(&format!(
                "the leading server ({}) cannot be reached: {why}; retry in a few seconds",
                leader.rest_url
            ))
        }
    }
}

fn unavailable(msg: &str) -> Response {
    let mut resp = ApiError::Unavailable(msg.to_owned()).into_response();
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
    resp
}

/// Sends `req` to `leader` as its caller, and its answer back.
async fn relay(
    cluster: &Cluster,
    leader: &Peer,
    req: Request,
    limit: usize,
) -> Result<Response, String> {
    let caller = req.extensions().get::<Caller>().and_then(|c| c.0.clone());
    let (parts, body) = req.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map_or(parts.uri.path(), |p| p.as_str());
    let url = format!("{}{path}", leader.rest_url);
    let body = axum::body::to_bytes(body, limit)
        .await
        .map_err(|e| format!("cannot read the request body: {e}"))?;
    let signature = cluster.sign_forward(parts.method.as_str(), path, caller.as_deref());
    let mut out = cluster
        .http
        .request(parts.method.clone(), &url)
        .header(PEER_SIGNATURE_HEADER, signature)
        .body(body);
    for name in [header::CONTENT_TYPE, header::ACCEPT] {
        if let Some(v) = parts.headers.get(&name) {
            out = out.header(name, v);
        }
    }
    if let Some(v) = parts.headers.get("x-requested-by") {
        out = out.header("x-requested-by", v);
    }
    if let Some(user) = caller {
        out = out.header(FORWARDED_USER_HEADER, user);
    }
    let answer = out.send().await.map_err(|e| crate::error_chain(&e))?;
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let headers = end_to_end(answer.headers());
    let bytes = answer.bytes().await.map_err(|e| crate::error_chain(&e))?;
    let mut resp = Response::new(Body::from(bytes));
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    if let Ok(v) = HeaderValue::from_str(&leader.identity) {
        resp.headers_mut().insert(ANSWERED_BY_HEADER, v);
    }
    Ok(resp)
}

/// The leader's answer headers the caller gets: every end-to-end one
/// (`Location`, `Retry-After`, `Content-Type`, …); not the hop-by-hop ones
/// (RFC 9110 §7.6.1) nor the framing, which this server's answer sets anew.
fn end_to_end(from: &HeaderMap) -> HeaderMap {
    const HOP_BY_HOP: [&str; 9] = [
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
    ];
    // Headers the Connection header names are hop-by-hop too.
    let named: Vec<String> = from
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|n| n.trim().to_ascii_lowercase())
        .collect();
    let mut out = HeaderMap::new();
    for (name, value) in from {
        let n = name.as_str();
        if !HOP_BY_HOP.contains(&n) && !named.iter().any(|c| c == n) {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_to_end_headers_reach_the_caller_and_hop_by_hop_ones_do_not() {
        let mut leader = HeaderMap::new();
        for (k, v) in [
            ("location", "/sessions/3/statements/7"),
            ("retry-after", "2"),
            ("content-type", "application/json"),
            ("set-cookie", "a=1"),
            ("set-cookie", "b=2"),
            ("connection", "keep-alive, x-private"),
            ("keep-alive", "timeout=5"),
            ("x-private", "hop"),
            ("transfer-encoding", "chunked"),
            ("content-length", "12"),
        ] {
            leader.append(k, HeaderValue::from_static(v));
        }
        let got = end_to_end(&leader);
        let mut names: Vec<&str> = got.keys().map(|k| k.as_str()).collect();
        names.sort();
        assert_eq!(
            names,
            ["content-type", "location", "retry-after", "set-cookie"]
        );
        assert_eq!(got["location"], "/sessions/3/statements/7");
        assert_eq!(got["retry-after"], "2");
        assert_eq!(got.get_all("set-cookie").iter().count(), 2);
    }

    #[test]
    fn only_calls_that_need_a_driver_are_forwarded() {
        let (_, doc) = crate::api::driver_routes().split_for_parts();
        let mut paths: Vec<&str> = doc.paths.paths.keys().map(String::as_str).collect();
        paths.sort();
        assert_eq!(
            paths,
            [
                "/sessions/{id}/add-file",
                "/sessions/{id}/add-jar",
                "/sessions/{id}/add-pyfile",
                "/sessions/{id}/completion",
                "/sessions/{id}/connect",
                "/sessions/{id}/jobs/{jobId}",
                "/sessions/{id}/jobs/{jobId}/cancel",
                "/sessions/{id}/run-job",
                "/sessions/{id}/statements",
                "/sessions/{id}/statements/{sid}",
                "/sessions/{id}/statements/{sid}/cancel",
                "/sessions/{id}/submit-job",
                "/sessions/{id}/upload-file",
                "/sessions/{id}/upload-jar",
                "/sessions/{id}/upload-pyfile",
            ]
        );
    }

    /// A leader that answers 503 (e.g. its store is away) tells the caller,
    /// through the follower, when to retry.
    #[tokio::test]
    async fn a_forwarded_503_keeps_its_retry_after() {
        let leader = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = leader.local_addr().unwrap();
        let busy = axum::Router::new().fallback(|| async {
            let mut resp = ApiError::Unavailable("the store is away".into()).into_response();
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("7"));
            resp
        });
        let server = tokio::spawn(async move { axum::serve(leader, busy).await });
        let peer = |name: &str, rest_url: String| Peer {
            identity: name.to_owned(),
            rest_url,
            callback: format!("{name}:10000"),
        };
        let me = peer("b", "http://127.0.0.1:1".to_owned());
        let cluster = Cluster::new(me, "s".into(), Vec::new(), &[]).unwrap();
        let req = Request::builder()
            .method("POST")
            .uri("/sessions/3/statements")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(r#"{"code":"1"}"#))
            .unwrap();
        let leader = peer("a", format!("http://{addr}"));
        let resp = relay(&cluster, &leader, req, 1 << 20).await.unwrap();
        server.abort();
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "7");
        assert_eq!(resp.headers()[ANSWERED_BY_HEADER], "a");
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
    }
}
