//! Session lifecycle on real Spark: startup timeout, idle timeout (busy is
//! not idle), stop + retention, and a server restart the driver survives.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

const START: Duration = Duration::from_secs(240);

async fn create(server: &Server, body: Value) -> u64 {
    let (code, s) = post_json(&server.url("/sessions"), &body).await;
    assert_eq!(code, 201, "{s}");
    s["id"].as_u64().unwrap()
}

#[tokio::test]
async fn a_driver_that_never_calls_back_is_error_and_killed() {
    let _slot = spark_slot().await;
    let tmp = tempfile::tempdir().unwrap();
    // Far too short for any JVM: the driver cannot call back in time.
    let server = Server::start(
        &tmp.path().join("data"),
        &[
            "livy.rsc.launcher.port.range=0~0".into(),
            "livy.rsc.server.connect.timeout=1s".into(),
        ],
    );
    let id = create(&server, json!({"kind": "pyspark"})).await;
    let url = server.url(&format!("/sessions/{id}"));
    wait_state(&url, &["error"], START).await;
    let log = full_log(&url).await;
    assert!(
        log.iter()
            .any(|l| l.contains("did not connect within 1 seconds")),
        "{log:?}"
    );
    // Its application is stopped: no supervisor process remains.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let alive = std::fs::read_dir(server.data_dir.join("apps"))
            .unwrap()
            .flatten()
            .filter_map(|d| std::fs::read(d.path().join("supervisor.json")).ok())
            .filter_map(|b| serde_json::from_slice::<Value>(&b).ok())
            .any(|s| pid_alive(s["pid"].as_u64().unwrap() as u32));
        if !alive {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the driver of an errored session still runs"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn idle_sessions_expire_busy_ones_do_not_and_stopped_ones_are_retained_then_removed() {
    let _slot = spark_slot().await;
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(
        &tmp.path().join("data"),
        &[
            "livy.rsc.launcher.port.range=0~0".into(),
            "livy.server.session.timeout=6s".into(),
            "livy.server.session.state-retain.sec=3s".into(),
        ],
    );
    let id = create(&server, json!({"kind": "pyspark", "name": "expiring"})).await;
    let url = server.url(&format!("/sessions/{id}"));
    wait_state(&url, &["idle"], START).await;

    // A statement longer than the idle timeout: the session is busy, not idle.
    let (_, st) = post_json(
        &server.url(&format!("/sessions/{id}/statements")),
        &json!({"code": "import time; time.sleep(9); 'slept'"}),
    )
    .await;
    let sid = st["id"].as_u64().unwrap();
    let (_, s) = get_json(&url).await;
    assert_eq!(s["state"], "busy", "{s}");
    let st = wait_statement(&server, id, sid, &["available"], Duration::from_secs(60)).await;
    assert_eq!(text(&st), "'slept'");
    let (code, _) = get_json(&url).await;
    assert_eq!(code, 200, "a busy session outlived the idle timeout");

    // Then idle: deleted after the timeout.
    let idle_since = Instant::now();
    let deadline = idle_since + Duration::from_secs(60);
    loop {
        let (code, _) = get_json(&server.url("/sessions/expiring")).await;
        if code == 404 {
            break;
        }
        assert!(Instant::now() < deadline, "an idle session never expired");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        idle_since.elapsed() >= Duration::from_secs(5),
        "expired too early: {:?}",
        idle_since.elapsed()
    );

    // /stop: the session stops but stays listed (dead), then retention removes it.
    let id = create(&server, json!({"kind": "pyspark"})).await;
    let url = server.url(&format!("/sessions/{id}"));
    wait_state(&url, &["idle"], START).await;
    let r = client()
        .post(server.url(&format!("/sessions/{id}/stop")))
        .header("X-Requested-By", "tests")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let (code, s) = get_json(&url).await;
    assert_eq!((code, s["state"].as_str()), (200, Some("dead")), "{s}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while get_json(&url).await.0 != 404 {
        assert!(
            Instant::now() < deadline,
            "a finished session was never removed"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn the_driver_survives_a_server_restart_and_a_statement_posted_at_once_runs_next() {
    let _slot = spark_slot().await;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (port, callback) = (free_port(), free_port());
    let conf = vec![format!(
        "livy.rsc.launcher.port.range={callback}~{callback}"
    )];
    let mut server = Server::start_on(port, &data, &conf);
    let id = create(&server, json!({"kind": "pyspark"})).await;
    wait_state(&server.url(&format!("/sessions/{id}")), &["idle"], START).await;
    let st = run_statement(&server, id, json!({"code": "kept = 41\nkept + 1"})).await;
    assert_eq!(text(&st), "42");
    let st = run_statement(&server, id, json!({"code": "print('second')"})).await;
    assert_eq!(text(&st), "second");
    let (_, before) = get_json(&server.url(&format!("/sessions/{id}/statements"))).await;
    assert_eq!(before["total_statements"], 2);

    server.crash();
    let server = Server::start_on(port, &data, &conf);
    // At once, before the driver re-dials (it retries after 1 s): the POST
    // waits for the driver's history, then numbers the statement after it.
    let (code, posted) = post_json(
        &server.url(&format!("/sessions/{id}/statements")),
        &json!({"code": "kept"}),
    )
    .await;
    assert_eq!(code, 201, "{posted}");
    assert_eq!(posted["id"], 2, "statement ids continue after the restart");
    assert!(
        server
            .log()
            .contains("statement waits for the recovering session's driver"),
        "the statement was not posted before the driver re-dialled:\n{}",
        server.log()
    );
    let st = wait_statement(&server, id, 2, &["available"], Duration::from_secs(60)).await;
    assert_eq!(text(&st), "41", "the interpreter's variables survived");
    let (_, after) = get_json(&server.url(&format!("/sessions/{id}/statements"))).await;
    assert_eq!(after["total_statements"], 3, "{after}");
    assert_eq!(
        after["statements"][0], before["statements"][0],
        "statement 0 changed"
    );
    assert_eq!(
        after["statements"][1], before["statements"][1],
        "statement 1 changed"
    );
    let (code, _) = delete(&server.url(&format!("/sessions/{id}"))).await;
    assert_eq!(code, 200);
}
