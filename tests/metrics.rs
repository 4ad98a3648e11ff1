//! `/metrics` on real Spark (local mode): the text parses with the Python
//! `prometheus_client` parser (the reference implementation of the format)
//! and its counters move as a batch, a failing batch and a session run.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;
#[path = "common/pki.rs"]
mod pki;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use serde_json::json;

const LONG: Duration = Duration::from_secs(180);

/// The parser's reading of the server's `/metrics`: every sample as
/// `name{label="value",…}` (labels sorted) → value.
async fn scrape(server: &Server) -> BTreeMap<String, f64> {
    let r = client().get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let content_type = r.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = r.text().await.unwrap();
    let parser = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        labels = ",".join('%s="%s"' % kv for kv in sorted(s.labels.items()))
        out["%s{%s}" % (s.name, labels)] = s.value
print(json.dumps(out))
"#;
    let out = run_with_input(
        std::process::Command::new(client_python()).args(["-c", parser]),
        &text,
    );
    assert!(
        out.status.success(),
        "prometheus_client could not parse /metrics: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn get(m: &BTreeMap<String, f64>, key: &str) -> f64 {
    m.get(key).copied().unwrap_or(0.0)
}

/// How much `key` grew from `before` to `after`.
fn grew(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>, key: &str) -> f64 {
    get(after, key) - get(before, key)
}

#[tokio::test]
async fn counters_move_as_a_batch_and_a_session_run() {
    let _slot = spark_slot().await;
    let tmp = tempfile::tempdir().unwrap();
    let apps = tmp.path().join("apps");
    std::fs::create_dir_all(&apps).unwrap();
    std::fs::write(apps.join("pi.py"), PI_PY).unwrap();
    std::fs::write(apps.join("fails.py"), "raise SystemExit(3)\n").unwrap();
    let server = Server::start(
        &tmp.path().join("data"),
        &[format!("livy.file.local-dir-whitelist={}", apps.display())],
    );
    let before = scrape(&server).await;
    assert_eq!(
        get(&before, r#"livy_records{kind="batch",state="success"}"#),
        0.0
    );

    // A batch that succeeds and one that fails (both launched: in local mode
    // spark-submit is the application).
    let (code, _) = post_json(
        &server.url("/batches"),
        &json!({"file": apps.join("pi.py"), "args": ["2"]}),
    )
    .await;
    assert_eq!(code, 201);
    wait_state(&server.url("/batches/0"), &["success"], LONG).await;
    let (code, _) = post_json(
        &server.url("/batches"),
        &json!({"file": apps.join("fails.py")}),
    )
    .await;
    assert_eq!(code, 201);
    wait_state(&server.url("/batches/1"), &["dead"], LONG).await;
    // A client mistake.
    let (code, _) = post_json(&server.url("/batches"), &json!({"file": 7, "kind": "x"})).await;
    assert_eq!(code, 400);

    // A session and two statements (one ok, one error).
    let (code, s) = post_json(&server.url("/sessions"), &json!({"kind": "pyspark"})).await;
    assert_eq!(code, 201, "{s}");
    let id = s["id"].as_u64().unwrap();
    wait_state(&server.url(&format!("/sessions/{id}")), &["idle"], LONG).await;
    let ok = run_statement(&server, id, json!({"code": "spark.range(100).count()"})).await;
    assert_eq!(text(&ok), "100");
    let err = run_statement(&server, id, json!({"code": "1/0"})).await;
    assert_eq!(err["output"]["status"], "error", "{err}");

    // A session whose driver JVM cannot start ("Too small maximum heap"):
    // a launch failure.
    let (code, bad) = post_json(
        &server.url("/sessions"),
        &json!({"kind": "pyspark", "driverMemory": "1k"}),
    )
    .await;
    assert_eq!(code, 201, "{bad}");
    let bad_url = server.url(&format!("/sessions/{}", bad["id"]));
    wait_state(&bad_url, &["dead", "error"], LONG).await;
    // The cause is named in the record, beside the message: the failed
    // session and batch say why; the batch that succeeded names none.
    let (_, bad) = get_json(&bad_url).await;
    assert_eq!(bad["failure"], "exited", "{bad}");
    let (_, failed) = get_json(&server.url("/batches/1")).await;
    assert_eq!(failed["failure"], "exited", "{failed}");
    let (_, ok) = get_json(&server.url("/batches/0")).await;
    assert!(ok.get("failure").is_none(), "{ok}");

    let after = scrape(&server).await;
    let batch = r#"{kind="batch"}"#;
    assert_eq!(
        grew(&before, &after, &format!("livy_launches_total{batch}")),
        2.0
    );
    assert_eq!(
        grew(&before, &after, r#"livy_launches_total{kind="session"}"#),
        1.0
    );
    assert_eq!(
        grew(
            &before,
            &after,
            &format!("livy_launch_duration_seconds_count{batch}")
        ),
        2.0
    );
    assert!(get(&after, &format!("livy_launch_duration_seconds_sum{batch}")) > 0.0);
    assert_eq!(
        grew(
            &before,
            &after,
            r#"livy_launch_failures_total{cause="exited",kind="session"}"#
        ),
        1.0,
        "the session whose driver never started is a launch failure: {after:?}"
    );
    for (outcome, n) in [("ok", 1.0), ("error", 1.0)] {
        let key = format!(
            r#"livy_statement_duration_seconds_count{{kind="pyspark",outcome="{outcome}"}}"#
        );
        assert_eq!(grew(&before, &after, &key), n, "{key}");
    }
    assert_eq!(
        grew(
            &before,
            &after,
            r#"livy_http_requests_total{method="POST",route="/batches",status="201"}"#
        ),
        2.0
    );
    assert_eq!(
        grew(
            &before,
            &after,
            r#"livy_http_requests_total{method="POST",route="/batches",status="400"}"#
        ),
        1.0
    );
    assert!(
        grew(
            &before,
            &after,
            r#"livy_http_request_duration_seconds_count{method="GET",route="/batches/{id}"}"#
        ) >= 1.0
    );
    assert!(
        grew(
            &before,
            &after,
            r#"livy_cluster_manager_requests_total{manager="local",op="observe"}"#
        ) >= 1.0,
        "{after:?}"
    );
    assert!(
        grew(
            &before,
            &after,
            r#"livy_store_operation_duration_seconds_count{op="create"}"#
        ) >= 3.0
    );
    assert!(
        grew(
            &before,
            &after,
            r#"livy_store_operation_duration_seconds_count{op="update"}"#
        ) >= 3.0
    );
    assert!(
        grew(
            &before,
            &after,
            r#"livy_reconcile_duration_seconds_count{kind="batch"}"#
        ) >= 2.0
    );
    assert_eq!(
        get(&after, r#"livy_records{kind="batch",state="success"}"#),
        1.0
    );
    assert_eq!(
        get(&after, r#"livy_records{kind="batch",state="dead"}"#),
        1.0
    );
    assert_eq!(
        get(&after, r#"livy_records{kind="session",state="idle"}"#),
        1.0
    );
    assert!(after.contains_key("livy_reconcile_queue_depth{}"));
    assert!(get(&after, "livy_store_writes_total{}") >= 3.0);

    let (code, _) = delete(&server.url(&format!("/sessions/{id}"))).await;
    assert_eq!(code, 200);
    let gone = scrape(&server).await;
    assert_eq!(
        get(&gone, r#"livy_records{kind="session",state="idle"}"#),
        0.0
    );
}

#[tokio::test]
async fn metrics_can_be_turned_off() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(
        &tmp.path().join("data"),
        &[
            pki::stand_in_spark_home(tmp.path()),
            "livy.server.metrics.enabled=false".into(),
        ],
    );
    let (code, body) = get_json(&server.url("/metrics")).await;
    assert_eq!(code, 404);
    assert_eq!(
        body["msg"],
        "metrics are off (livy.server.metrics.enabled = false)"
    );
    let ping = client()
        .get(server.url("/metrics/ping"))
        .send()
        .await
        .unwrap();
    assert_eq!(ping.text().await.unwrap(), "pong");
}
