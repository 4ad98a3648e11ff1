//! The REST listener's limits through the real binary, with short timeouts
//! set by configuration keys: a request head that never finishes is cut at
//! the head timeout (trickling bytes does not help), an idle keep-alive
//! connection is closed at the idle timeout (and not at the head timeout),
//! a declared body far over the limit gets 413 at once, URIs and headers over
//! the limits get 414/431, each as `{"msg": …}`; a body trickled after its
//! head gets 408 at the body timeout and its connection is closed; over
//! HTTPS too, where a client that never finishes its handshake is cut as well.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;
#[path = "common/pki.rs"]
mod pki;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{Server, free_port};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A server with a stand-in Spark home (no application is launched here)
/// and the listener's timeouts shortened.
fn start(dir: &Path, extra: &[String]) -> Server {
    let mut conf = vec![
        pki::stand_in_spark_home(dir),
        "livy.server.request-header-timeout=1s".to_owned(),
        "livy.server.idle-timeout=3s".to_owned(),
        "livy.server.tls.handshake-timeout=1s".to_owned(),
        "livy.server.request.max-body-size=4k".to_owned(),
    ];
    conf.extend(extra.iter().cloned());
    Server::start_on(free_port(), &dir.join("data"), &conf)
}

/// Reads until the server closes the connection (EOF or reset); returns
/// what arrived and how long it took from `since`.
async fn until_closed(stream: &mut TcpStream, since: Instant) -> (Vec<u8>, Duration) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let read_all = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read_all)
        .await
        .expect("the server never closed the connection");
    (got, since.elapsed())
}

/// One complete response on a kept-alive connection: (status, body).
async fn response(stream: &mut TcpStream) -> (u16, String) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut byte))
            .await
            .expect("a response in time")
            .unwrap();
        assert_eq!(
            n,
            1,
            "closed mid-response: {}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let status = head[9..12].parse().unwrap();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().unwrap())
        })
        .unwrap_or_else(|| panic!("no content-length in {head}"));
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).await.unwrap();
    (status, String::from_utf8(body).unwrap())
}

fn msg(body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body:?}"));
    v["msg"]
        .as_str()
        .unwrap_or_else(|| panic!("no msg: {v}"))
        .to_owned()
}

#[tokio::test]
async fn a_request_head_that_never_ends_is_cut_at_the_head_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]);
    let mut stream = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    let start = Instant::now();
    stream
        .write_all(b"GET /version HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .unwrap();
    // Slowloris: one more header line every 200 ms, never the blank line.
    let (mut read, mut write) = stream.into_split();
    let trickle = tokio::spawn(async move {
        for i in 0.. {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if write
                .write_all(format!("X-{i}: y\r\n").as_bytes())
                .await
                .is_err()
            {
                return;
            }
        }
    });
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    let took = start.elapsed();
    trickle.abort();
    assert!(closed.is_ok(), "the connection stayed open");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "cut after {took:?}, expected about 1 s"
    );
}

#[tokio::test]
async fn a_body_trickled_after_its_head_gets_408_at_the_body_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &["livy.server.request-body-timeout=2s".into()]);
    let mut stream = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    let start = Instant::now();
    stream
        .write_all(
            b"POST /batches HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{",
        )
        .await
        .unwrap();
    // One byte of the promised 1000 every 200 ms: never done in time.
    let (mut read, mut write) = stream.into_split();
    let trickle = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if write.write_all(b" ").await.is_err() {
                return;
            }
        }
    });
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    let took = start.elapsed();
    trickle.abort();
    assert!(closed.is_ok(), "the connection stayed open");
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("livy.server.request-body-timeout"), "{text}");
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(5),
        "answered after {took:?}, expected about 2 s"
    );
    // A body sent at once is not affected.
    let r = common::client()
        .post(server.url("/batches"))
        .json(&serde_json::json!({"file": "hdfs:///x.py"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_at_the_idle_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]);
    let mut stream = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    let request = b"GET /version HTTP/1.1\r\nHost: localhost\r\n\r\n";
    stream.write_all(request).await.unwrap();
    assert_eq!(response(&mut stream).await.0, 200);
    // Idle for twice the head timeout: still open (the head timer does not
    // run between requests).
    tokio::time::sleep(Duration::from_secs(2)).await;
    stream.write_all(request).await.unwrap();
    let (status, body) = response(&mut stream).await;
    assert_eq!(status, 200, "{body}");
    let idle_from = Instant::now();
    let (rest, took) = until_closed(&mut stream, idle_from).await;
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
    assert!(
        took >= Duration::from_millis(2500) && took < Duration::from_secs(6),
        "closed after {took:?} idle, expected about 3 s"
    );
}

#[tokio::test]
async fn a_declared_body_over_the_limit_gets_413_before_it_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]);
    for expect in ["", "Expect: 100-continue\r\n"] {
        let mut stream = TcpStream::connect(("127.0.0.1", server.port))
            .await
            .unwrap();
        let head = format!(
            "POST /batches HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
             Content-Length: 1000000000\r\n{expect}\r\n"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        // Not a byte of the body: the answer must come anyway, at once.
        let start = Instant::now();
        let (status, body) = response(&mut stream).await;
        assert_eq!(status, 413, "{body}");
        assert!(
            msg(&body).contains("livy.server.request.max-body-size"),
            "{body}"
        );
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
    }
    // A body within the limit still reaches the API (which refuses it for its content).
    let r = common::client()
        .post(server.url("/batches"))
        .json(&serde_json::json!({"file": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
}

/// 414 and 431 in JSON from `base` through `client`.
async fn head_limits_answer_in_json(client: &reqwest::Client, base: &str) {
    let r = client
        .get(format!("{base}/sessions?from={}", "0".repeat(9000)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 414);
    assert!(msg(&r.text().await.unwrap()).contains("livy.server.request.max-uri-length"));

    let r = client
        .get(format!("{base}/version"))
        .header("x-big", "v".repeat(70 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 431);
    assert!(msg(&r.text().await.unwrap()).contains("livy.server.request.max-header-size"));

    let mut many = client.get(format!("{base}/version"));
    for i in 0..150 {
        many = many.header(format!("x-h{i}"), "1");
    }
    let r = many.send().await.unwrap();
    assert_eq!(r.status().as_u16(), 431);
    assert!(msg(&r.text().await.unwrap()).contains("header fields"));

    let r = client.get(format!("{base}/version")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

#[tokio::test]
async fn uris_and_headers_over_the_limits_get_414_and_431_in_json() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]);
    head_limits_answer_in_json(&common::client(), &server.base).await;
}

#[tokio::test]
async fn over_https_a_stalled_handshake_is_cut_and_the_limits_hold() {
    let pki = pki::Pki::new();
    let server = start(
        &pki.path("server"),
        &[
            pki.conf("livy.server.tls.cert-file", "chain.pem"),
            pki.conf("livy.server.tls.key-file", "key.pem"),
        ],
    );
    // Connected, never a ClientHello.
    let mut stream = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    let (_, took) = until_closed(&mut stream, Instant::now()).await;
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "cut after {took:?}, expected about 1 s"
    );

    let client = pki.client();
    head_limits_answer_in_json(&client, &format!("https://127.0.0.1:{}", server.port)).await;
}

#[tokio::test]
async fn shutdown_lets_requests_finish_for_the_grace_period_and_no_longer() {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(
        dir.path(),
        &["livy.server.shutdown.grace-period=2s".to_owned()],
    );
    // A request in flight that never ends: its body stalls half-way.
    let mut stalled = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    stalled
        .write_all(b"POST /batches HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"file\":")
        .await
        .unwrap();
    // An idle keep-alive connection, which shutdown closes at once.
    let mut idle = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    idle.write_all(b"GET /version HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(response(&mut idle).await.0, 200);

    let start = Instant::now();
    kill(Pid::from_raw(server.child.id() as i32), Signal::SIGTERM).unwrap();
    let (_, idle_closed) = until_closed(&mut idle, start).await;
    assert!(idle_closed < Duration::from_millis(1500), "{idle_closed:?}");
    let deadline = start + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "no exit:\n{}", server.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let took = start.elapsed();
    assert!(status.success(), "{status}:\n{}", server.log());
    assert!(
        took >= Duration::from_millis(1800) && took < Duration::from_secs(6),
        "exited {took:?} after SIGTERM, expected about the 2 s grace"
    );
    assert!(
        server
            .log()
            .contains("requests still open after the shutdown grace period")
    );
}
