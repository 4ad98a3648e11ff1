//! The per-session driver secret on real Spark: no API response about the
//! session (create, get, lists, state, logs, statements, completion, errors,
//! delete) and no line of the server's log carries it, the record does not
//! hold it, user code in the Python child does not see it; and a restarted
//! server re-attaches the running driver with the secret the store keeps
//! apart from the record, which goes away with the session.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

fn store(data: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open_with_flags(
        data.join("livy.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap()
}

fn stored_secret(data: &Path, id: u64) -> Option<String> {
    use rusqlite::OptionalExtension;
    store(data)
        .query_row(
            "SELECT secret FROM session_secrets WHERE id = ?1",
            [id as i64],
            |r| r.get(0),
        )
        .optional()
        .unwrap()
}

/// Every response body the API gives about session `id`, by request.
async fn every_response(server: &Server, id: u64, statement: u64) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let gets = [
        "/sessions".to_owned(),
        "/sessions?from=0&size=100".to_owned(),
        format!("/sessions/{id}"),
        "/sessions/no-secret-here".to_owned(),
        format!("/sessions/{id}/state"),
        format!("/sessions/{id}/log?size=-1"),
        format!("/sessions/{id}/logs?from=0&size=1000"),
        format!("/sessions/{id}/statements"),
        format!("/sessions/{id}/statements/{statement}"),
        format!("/sessions/{id}/statements/999"),
        "/batches".to_owned(),
        "/version".to_owned(),
    ];
    for path in gets {
        let r = client().get(server.url(&path)).send().await.unwrap();
        out.push((format!("GET {path}"), r.text().await.unwrap()));
    }
    let posts = [
        (
            format!("/sessions/{id}/completion"),
            json!({"code": "os.en", "kind": "pyspark", "cursor": 5}),
        ),
        (
            format!("/sessions/{id}/statements"),
            json!({"code": "3 * 3"}),
        ),
    ];
    for (path, body) in posts {
        let r = client()
            .post(server.url(&path))
            .json(&body)
            .send()
            .await
            .unwrap();
        out.push((format!("POST {path}"), r.text().await.unwrap()));
    }
    out
}

#[tokio::test]
async fn the_driver_secret_never_reaches_a_client_and_survives_a_server_restart() {
    let _slot = spark_slot().await;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (port, callback) = (free_port(), free_port());
    let conf = vec![format!(
        "livy.rsc.launcher.port.range={callback}~{callback}"
    )];
    let mut server = Server::start_on(port, &data, &conf);
    let r = client()
        .post(server.url("/sessions"))
        .json(&json!({"kind": "pyspark", "name": "no-secret-here"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let created = r.text().await.unwrap();
    let id = serde_json::from_str::<Value>(&created).unwrap()["id"]
        .as_u64()
        .unwrap();
    wait_state(
        &server.url(&format!("/sessions/{id}")),
        &["idle"],
        Duration::from_secs(240),
    )
    .await;

    let secret = stored_secret(&data, id).expect("the store keeps the driver's secret");
    assert_eq!(secret.len(), 32, "{secret:?}");
    let status: String = store(&data)
        .query_row(
            "SELECT status FROM records WHERE kind = 'session' AND id = ?1",
            [id as i64],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        !status.contains(&secret) && !status.contains("\"secret\""),
        "the record holds the secret: {status}"
    );
    assert!(!created.contains(&secret), "POST /sessions: {created}");

    // User code in the Python child does not inherit it.
    let st = run_statement(
        &server,
        id,
        json!({"code": "import os\nprint(repr(os.environ.get('LIVY_SESSION_SECRET')))"}),
    )
    .await;
    assert_eq!(text(&st), "None");

    // A new server knows the driver only through the store's secret.
    server.crash();
    let server = Server::start_on(port, &data, &conf);
    let st = run_statement(&server, id, json!({"code": "1 + 1"})).await;
    assert_eq!(
        text(&st),
        "2",
        "the restarted server re-attached the driver"
    );
    let sid = st["id"].as_u64().unwrap();

    let responses = every_response(&server, id, sid).await;
    assert!(responses.len() >= 14);
    for (request, body) in &responses {
        assert!(
            !body.contains(&secret),
            "{request} leaks the secret: {body}"
        );
    }
    let log = full_log(&server.url(&format!("/sessions/{id}"))).await;
    assert!(log.len() > 3, "the driver's log is served: {log:?}");
    assert!(
        !server.log().contains(&secret),
        "the server's log holds the secret"
    );

    let r = client()
        .delete(server.url(&format!("/sessions/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(!r.text().await.unwrap().contains(&secret));
    // Removed with the record.
    let deadline = Instant::now() + Duration::from_secs(60);
    while stored_secret(&data, id).is_some() {
        assert!(Instant::now() < deadline, "the secret outlived its session");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
