//! Hostile requests that once slipped through: whitelist bypasses, cross-site
//! text/plain posts, argv that cannot be executed, and non-JSON errors. Each
//! gets a 4xx with a JSON `{"msg"}` saying what to fix, and writes nothing.

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use livy_server::records::Kind;
use serde_json::{Value, json};
use tower::ServiceExt;

use super::{Fixture, OK_FILE, fixture, send};

/// Sends `body` with exactly the given headers; status, headers and JSON body.
async fn send_with(
    app: &axum::Router,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: Body,
) -> (StatusCode, HeaderMap, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = app.clone().oneshot(req.body(body).unwrap()).await.unwrap();
    let (parts, body) = resp.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
        Value::String(format!("NOT JSON: {}", String::from_utf8_lossy(&bytes)))
    });
    (parts.status, parts.headers, json)
}

/// Posts each body to `/batches`; each must be a 400 whose message contains
/// its needle, and no record may be written.
async fn all_rejected(f: &Fixture, cases: Vec<(String, Value, String)>) {
    for (what, body, needle) in cases {
        let (status, reply) = send(&f.app, "POST", "/batches", body.to_string().into_bytes()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {reply}");
        let msg = reply["msg"].as_str().unwrap_or_default();
        assert!(
            msg.contains(&needle),
            "{what}: {msg:?} should mention {needle:?}"
        );
    }
    assert!(
        f.store.list(Kind::Batch).await.unwrap().is_empty(),
        "no record was written"
    );
}

const FILE_CONF: &[&str] = &[
    "spark.jars",
    "spark.files",
    "spark.submit.pyFiles",
    "spark.archives",
    "spark.yarn.dist.jars",
    "spark.yarn.dist.files",
    "spark.yarn.dist.archives",
    "spark.yarn.dist.pyFiles",
];

#[tokio::test]
async fn conf_entries_naming_files_obey_the_whitelist() {
    let f = fixture(&[]);
    let mut cases = Vec::new();
    for key in FILE_CONF {
        for value in [
            "/etc/passwd",
            "hdfs:///ok.jar, file:///etc/shadow",
            "FILE:/etc/x",
        ] {
            cases.push((
                format!("{key}={value}"),
                json!({"file": OK_FILE, "conf": {*key: value}}),
                format!("conf[{key}]"),
            ));
        }
    }
    all_rejected(&f, cases).await;
    // Cluster URIs and whitelisted paths in those keys are still fine.
    let ok = json!({"file": OK_FILE, "conf": {"spark.jars": "hdfs:///a.jar,/data/apps/b.jar", "spark.files": ""}});
    let (status, reply) = send(&f.app, "POST", "/batches", ok.to_string().into_bytes()).await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
}

#[tokio::test]
async fn encoded_dot_dot_and_upper_case_schemes_do_not_escape_the_whitelist() {
    let f = fixture(&[]);
    let mut cases = Vec::new();
    for value in [
        "file:///data/apps/%2e%2e/%2e%2e/etc/passwd",
        "file:///data/apps/%2E%2E/%2E%2E/etc/passwd",
        "file:///data/apps/..%2F..%2Fetc/passwd",
        "/data/apps/%2e%2e/%2e%2e/etc/passwd#x",
        "FILE:///etc/passwd",
        "File:/etc/passwd",
        "fIlE:///data/apps/../../etc/passwd",
    ] {
        cases.push((
            format!("file {value}"),
            json!({"file": value}),
            "file".to_owned(),
        ));
        cases.push((
            format!("jars {value}"),
            json!({"file": OK_FILE, "jars": [value]}),
            "jars[0]".to_owned(),
        ));
    }
    all_rejected(&f, cases).await;
    let (status, reply) = send(
        &f.app,
        "POST",
        "/batches",
        json!({"file": "FILE:///data/apps/pi%20v2.py"})
            .to_string()
            .into_bytes(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
}

#[tokio::test]
async fn symlinks_inside_the_whitelist_are_followed_before_the_check() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.py"), "").unwrap();
    let apps = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), apps.path().join("link")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret.py"), apps.path().join("app.py"))
        .unwrap();
    std::fs::write(apps.path().join("real.py"), "").unwrap();
    let wl = format!("livy.file.local-dir-whitelist={}", apps.path().display());
    let f = fixture(&[&wl]);
    let a = apps.path().display();
    let cases = vec![
        (
            "symlinked file".to_owned(),
            json!({"file": format!("{a}/app.py")}),
            "cannot be added".to_owned(),
        ),
        (
            "through a symlinked dir".to_owned(),
            json!({"file": format!("file://{a}/link/secret.py")}),
            "cannot be added".to_owned(),
        ),
        (
            "new file under a symlinked dir".to_owned(),
            json!({"file": format!("{a}/link/new.py")}),
            "cannot be added".to_owned(),
        ),
        (
            "pyFiles through a symlink".to_owned(),
            json!({"file": format!("{a}/real.py"), "pyFiles": [format!("{a}/link/secret.py")]}),
            "pyFiles[0]".to_owned(),
        ),
    ];
    all_rejected(&f, cases).await;
    for file in [format!("{a}/real.py"), format!("{a}/not-yet.py")] {
        let (status, reply) = send(
            &f.app,
            "POST",
            "/batches",
            json!({"file": file}).to_string().into_bytes(),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{file}: {reply}");
    }
}

#[tokio::test]
async fn bodies_need_a_json_content_type_or_the_csrf_header() {
    let f = fixture(&[]);
    let body = || Body::from(json!({"file": OK_FILE}).to_string());
    for headers in [
        &[("content-type", "text/plain")][..],
        &[("content-type", "application/x-www-form-urlencoded")][..],
        &[("content-type", "multipart/form-data; boundary=x")][..],
        &[][..],
    ] {
        let (status, _, reply) = send_with(&f.app, "POST", "/batches", headers, body()).await;
        assert_eq!(
            status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{headers:?}: {reply}"
        );
        let msg = reply["msg"].as_str().unwrap_or_default();
        assert!(
            msg.contains("Content-Type: application/json"),
            "{headers:?}: {msg:?}"
        );
    }
    assert!(f.store.list(Kind::Batch).await.unwrap().is_empty());
    for headers in [
        &[("content-type", "application/json")][..],
        &[("content-type", "Application/JSON; charset=UTF-8")][..],
        &[("content-type", "application/vnd.livy.v0.1+json")][..],
        &[
            ("content-type", "text/plain"),
            ("x-requested-by", "zeppelin"),
        ][..],
        &[("x-requested-by", "admin")][..],
    ] {
        let (status, _, reply) = send_with(&f.app, "POST", "/batches", headers, body()).await;
        assert_eq!(status, StatusCode::CREATED, "{headers:?}: {reply}");
    }
    // No body still needs one of them (Livy's stop, interrupt and cancel):
    // a bodiless cross-site `fetch` sends neither.
    let (status, _, reply) =
        send_with(&f.app, "POST", "/sessions/7/stop", &[], Body::empty()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
    assert!(
        reply["msg"]
            .as_str()
            .unwrap_or_default()
            .contains("X-Requested-By"),
        "{reply}"
    );
    for headers in [
        &[("x-requested-by", "hue")][..],
        &[("content-type", "application/json")][..],
    ] {
        let (status, _, reply) =
            send_with(&f.app, "POST", "/sessions/7/stop", headers, Body::empty()).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{headers:?}: {reply}");
    }
}

#[tokio::test]
async fn argv_that_cannot_be_executed_is_refused_naming_the_field() {
    let f = fixture(&["livy.server.request.max-body-size=4m"]);
    let big = "x".repeat(200 * 1024);
    let mut cases = vec![
        (
            "argument".to_owned(),
            json!({"file": OK_FILE, "args": ["ok", big]}),
            "args[1]".to_owned(),
        ),
        (
            "name".to_owned(),
            json!({"file": OK_FILE, "name": big}),
            "name".to_owned(),
        ),
        (
            "conf value".to_owned(),
            json!({"file": OK_FILE, "conf": {"spark.x": big}}),
            "conf[spark.x]".to_owned(),
        ),
        (
            "file".to_owned(),
            json!({"file": format!("/data/apps/{big}")}),
            "file".to_owned(),
        ),
        (
            "className".to_owned(),
            json!({"file": OK_FILE, "className": big}),
            "className".to_owned(),
        ),
        (
            "jars together".to_owned(),
            json!({"file": OK_FILE, "jars": (0..3).map(|i| format!("/data/apps/{i}{}", "y".repeat(60_000))).collect::<Vec<_>>()}),
            "jars".to_owned(),
        ),
    ];
    let many: Vec<String> = (0..12).map(|_| "z".repeat(100_000)).collect();
    cases.push((
        "total".to_owned(),
        json!({"file": OK_FILE, "args": many}),
        "command line".to_owned(),
    ));
    for (what, body, needle) in cases {
        let (status, reply) = send(&f.app, "POST", "/batches", body.to_string().into_bytes()).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{what}: {}",
            &reply.to_string()[..200.min(reply.to_string().len())]
        );
        let msg = reply["msg"].as_str().unwrap_or_default();
        assert!(
            msg.contains(&needle) && msg.len() < 1000,
            "{what}: {msg:.300} should mention {needle:?}"
        );
    }
    let (status, reply) = send(
        &f.app,
        "POST",
        "/sessions",
        json!({"conf": {"spark.y": "v".repeat(140_000)}})
            .to_string()
            .into_bytes(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "session conf");
    assert!(reply["msg"].as_str().unwrap().contains("conf[spark.y]"));
    assert!(f.store.list(Kind::Batch).await.unwrap().is_empty());
    assert!(f.store.list(Kind::Session).await.unwrap().is_empty());
}

#[tokio::test]
async fn every_error_is_json() {
    let f = fixture(&[]);
    let json_ct = &[("content-type", "application/json")][..];
    let (status, _, reply) = send_with(&f.app, "GET", "/batches/%ff", &[], Body::empty()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
    assert!(reply["msg"].as_str().is_some(), "{reply}");
    let (status, _, reply) = send_with(
        &f.app,
        "GET",
        "/sessions/1/statements/%fe%ff",
        &[],
        Body::empty(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
    assert!(reply["msg"].as_str().is_some(), "{reply}");

    for (method, uri, allowed) in [
        ("PUT", "/batches", "POST"),
        ("PATCH", "/batches/0", "DELETE"),
        ("FOO", "/sessions", "GET"),
        ("GET", "/sessions/0/stop", "POST"),
    ] {
        let (status, headers, reply) = send_with(&f.app, method, uri, &[], Body::empty()).await;
        assert_eq!(
            status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {uri}: {reply}"
        );
        let allow = headers
            .get("allow")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(allow.contains(allowed), "{method} {uri}: Allow {allow:?}");
        assert!(
            reply["msg"].as_str().unwrap_or_default().contains(allowed),
            "{reply}"
        );
    }
    let (status, _, reply) = send_with(&f.app, "GET", "/nowhere", &[], Body::empty()).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{reply}");
    assert!(reply["msg"].as_str().is_some(), "{reply}");

    for garbage in [" xyz", "{}", "\n[1]", " 1"] {
        let body = format!("{}{garbage}", json!({"file": OK_FILE}));
        let (status, _, reply) =
            send_with(&f.app, "POST", "/batches", json_ct, Body::from(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{garbage:?}: {reply}");
        assert!(
            reply["msg"]
                .as_str()
                .unwrap_or_default()
                .contains("trailing"),
            "{reply}"
        );
    }
    assert!(f.store.list(Kind::Batch).await.unwrap().is_empty());
    let body = format!("{} \r\n\t", json!({"file": OK_FILE}));
    let (status, _, reply) = send_with(&f.app, "POST", "/batches", json_ct, Body::from(body)).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "trailing whitespace is fine: {reply}"
    );
}

/// The real binary, its output to a file: the log carries no terminal escapes,
/// neither colours of its own nor control characters from a request.
#[test]
fn the_server_log_in_a_file_has_no_terminal_escapes() {
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};

    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("spark");
    std::fs::create_dir_all(home.join("bin")).unwrap();
    std::fs::write(home.join("bin/spark-submit"), "#!/bin/sh\nexit 0\n").unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log_path = dir.path().join("server.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_livy-server"))
        .arg("--port")
        .arg(port.to_string())
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["--conf", "livy.server.host=127.0.0.1"])
        .args(["--conf", "livy.rsc.launcher.port.range=0~0"])
        .args(["--conf", "livy.file.local-dir-whitelist=/data/apps"])
        .arg("--conf")
        .arg(format!("livy.server.spark-home={}", home.display()))
        .arg("--conf")
        .arg(format!(
            "livy.server.driver.cache-dir={}",
            dir.path().join("driver").display()
        ))
        .env_remove("NO_COLOR")
        .env("LIVY_LOG", "info")
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut conn = loop {
        match std::net::TcpStream::connect(("127.0.0.1", port)) {
            Ok(c) => break c,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => {
                let _ = child.kill();
                panic!(
                    "server did not listen: {e}\n{}",
                    std::fs::read_to_string(&log_path).unwrap()
                );
            }
        }
    };
    let body = json!({"file": "/data/apps/\u{1b}[2Jpi.py", "name": "\u{1b}[31mred\u{2028}line"})
        .to_string();
    write!(
        conn,
        "POST /batches HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut reply = String::new();
    conn.read_to_string(&mut reply).unwrap();
    let created = reply.starts_with("HTTP/1.1 201");
    let deadline = Instant::now() + Duration::from_secs(20);
    let text = loop {
        let text = std::fs::read_to_string(&log_path).unwrap();
        if text.contains("batch created") || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(created, "{reply}");
    assert!(text.contains("batch created"), "{text}");
    assert!(
        !text.contains("\u{1b}["),
        "escape sequences in the log:\n{text:?}"
    );
    assert!(
        !text.contains('\u{2028}'),
        "a raw line separator in the log:\n{text:?}"
    );
    assert!(
        text.contains("\\u{1b}[31mred\\u{2028}line"),
        "the name is logged, escaped:\n{text}"
    );
}

#[tokio::test]
async fn a_body_that_breaks_off_is_400_not_413() {
    let f = fixture(&[]);
    // A small body whose stream fails midway, as when a client hangs up.
    let chunks: Vec<Result<&'static [u8], std::io::Error>> = vec![
        Ok(b"{\"file\": "),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "client went away",
        )),
    ];
    let body = Body::from_stream(futures::stream::iter(chunks));
    let (status, _, reply) = send_with(
        &f.app,
        "POST",
        "/batches",
        &[("content-type", "application/json")],
        body,
    )
    .await;
    let msg = reply["msg"].as_str().unwrap_or_default();
    let read_error = msg.contains("failed to read the request body");
    assert!(
        status == StatusCode::BAD_REQUEST && read_error,
        "{status} {reply}"
    );
    assert!(f.store.list(Kind::Batch).await.unwrap().is_empty());
}
