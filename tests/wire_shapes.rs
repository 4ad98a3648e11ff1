//! Livy 0.8's wire shapes, checked against live answers of the real binary
//! on real Spark: for each route, the exact key set of
//! `tests/fixtures/livy08_shapes.json` (this server's additions only where
//! the table allows them, never in a create's answer, which Livy's Java
//! client reads with a strict mapper), and the states a session and a batch
//! go through, polled from creation with a launch slowed on purpose: a
//! session is `starting` until `idle`, a batch `starting` until `running`,
//! and nothing is ever `not_started`.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

const LONG: Duration = Duration::from_secs(240);

/// How long the slowed spark-submit waits before it runs.
const SLOW_LAUNCH_SECS: u64 = 3;

fn table() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/livy08_shapes.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn names(table: &Value, key: &str) -> BTreeSet<String> {
    table[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key} in the shape table"))
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect()
}

/// `v` has exactly the keys of `shape` (plus those of `extensions`, if given).
fn assert_shape(table: &Value, v: &Value, shape: &str, extensions: Option<&str>, what: &str) {
    let mut want = names(table, shape);
    if let Some(ext) = extensions {
        want.extend(names(table, ext));
    }
    assert_eq!(keys(v), want, "{what}: {v}");
}

/// A Spark home whose spark-submit waits before it runs the real one: a
/// launch slow enough to be seen.
fn slow_spark_home(dir: &Path) -> PathBuf {
    let real = spark_home();
    let script = format!(
        "#!/bin/sh\nsleep {SLOW_LAUNCH_SECS}\nSPARK_HOME='{}' exec '{}/bin/spark-submit' \"$@\"\n",
        real.display(),
        real.display()
    );
    wrapped_spark_home(&dir.join("slow-spark"), &real, &script)
}

/// Polls `{url}/state` until it is `until` (or a finished state), and
/// returns every state seen, in order, each once per run.
async fn states_until(url: &str, until: &str) -> Vec<String> {
    let deadline = Instant::now() + LONG;
    let mut seen: Vec<String> = vec![];
    loop {
        let (code, body) = get_json(&format!("{url}/state")).await;
        assert_eq!(code, 200, "{body}");
        let state = body["state"].as_str().unwrap().to_owned();
        if seen.last() != Some(&state) {
            seen.push(state.clone());
        }
        if state == until || ["success", "dead", "killed", "error"].contains(&state.as_str()) {
            return seen;
        }
        assert!(Instant::now() < deadline, "never {until}: {seen:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Each state is a known Livy state, and each step one that `path` allows.
fn assert_path(table: &Value, path: &str, seen: &[String]) {
    let states = names(table, "session_states");
    for s in seen {
        assert!(states.contains(s), "{s} is not a Livy state: {seen:?}");
    }
    for pair in seen.windows(2) {
        let allowed = table[path][&pair[0]]
            .as_array()
            .unwrap_or_else(|| panic!("no step from {} in {path}: {seen:?}", pair[0]));
        assert!(
            allowed.iter().any(|a| a == &json!(pair[1])),
            "{} → {} is not Livy's ({path}): {seen:?}",
            pair[0],
            pair[1]
        );
    }
}

#[tokio::test]
async fn answers_carry_livys_keys_and_states_from_creation() {
    let _slot = spark_slot().await;
    let t = table();
    let tmp = tempfile::tempdir().unwrap();
    let apps = tmp.path().join("apps");
    std::fs::create_dir_all(&apps).unwrap();
    std::fs::write(apps.join("ok.py"), "print('shapes')\n").unwrap();
    let home = slow_spark_home(tmp.path());
    let server = Server::start(
        &tmp.path().join("data"),
        &[
            format!("livy.server.spark-home={}", home.display()),
            format!("livy.file.local-dir-whitelist={}", apps.display()),
            "livy.rsc.launcher.port.range=0~0".into(),
        ],
    );

    let (code, v) = get_json(&server.url("/version")).await;
    assert_eq!(code, 200);
    assert_shape(
        &t,
        &v,
        "version",
        Some("version_extensions"),
        "GET /version",
    );

    // A session: `starting` in the create's answer and until `idle`.
    let (code, s) = post_json(&server.url("/sessions"), &json!({"kind": "pyspark"})).await;
    assert_eq!(code, 201, "{s}");
    assert_shape(&t, &s, "session", None, "POST /sessions");
    assert_shape(
        &t,
        &s["appInfo"],
        "app_info",
        None,
        "POST /sessions appInfo",
    );
    assert_eq!(s["state"], "starting", "{s}");
    let id = s["id"].as_u64().unwrap();
    let url = server.url(&format!("/sessions/{id}"));
    let (_, st) = get_json(&format!("{url}/state")).await;
    assert_shape(&t, &st, "state", None, "GET /sessions/{id}/state");
    let mut seen = vec!["starting".to_owned()];
    seen.extend(states_until(&url, "idle").await);
    seen.dedup();
    assert_path(&t, "interactive_path", &seen);
    assert_eq!(
        seen,
        ["starting", "idle"],
        "a session is starting from creation until idle"
    );

    let (_, got) = get_json(&url).await;
    assert_shape(
        &t,
        &got,
        "session",
        Some("session_extensions"),
        "GET /sessions/{id}",
    );
    let (_, list) = get_json(&server.url("/sessions")).await;
    assert_shape(&t, &list, "list", None, "GET /sessions");
    assert_shape(
        &t,
        &list["sessions"][0],
        "session",
        Some("session_extensions"),
        "GET /sessions item",
    );
    let (_, log) = get_json(&format!("{url}/log")).await;
    assert_shape(&t, &log, "log", None, "GET /sessions/{id}/log");

    // Statements: created, ok and error outputs, the list, cancel.
    let (code, created) = post_json(&format!("{url}/statements"), &json!({"code": "1 + 1"})).await;
    assert_eq!(code, 201, "{created}");
    assert_shape(&t, &created, "statement", None, "POST statement");
    assert!(
        names(&t, "statement_states").contains(created["state"].as_str().unwrap()),
        "{created}"
    );
    let ok = wait_statement(
        &server,
        id,
        created["id"].as_u64().unwrap(),
        &["available"],
        LONG,
    )
    .await;
    assert_shape(&t, &ok, "statement", None, "GET statement");
    assert_shape(&t, &ok["output"], "output_ok", None, "ok output");
    assert_eq!(ok["output"]["data"]["text/plain"], "2");
    let err = run_statement(&server, id, json!({"code": "1 / 0"})).await;
    assert_shape(&t, &err["output"], "output_error", None, "error output");
    assert_eq!(err["output"]["ename"], "ZeroDivisionError");
    let (_, all) = get_json(&format!("{url}/statements")).await;
    assert_shape(&t, &all, "statements", None, "GET statements");
    assert_eq!(all["total_statements"], 2);
    let (_, cancel) = post_json(&format!("{url}/statements/0/cancel"), &json!({})).await;
    assert_shape(&t, &cancel, "msg", None, "cancel");

    // Errors in Livy's shapes.
    let (code, missing) = get_json(&server.url("/sessions/99")).await;
    assert_eq!(code, 404);
    assert_shape(&t, &missing, "msg", None, "404");
    let (code, bad) = post_json(&server.url("/sessions"), &json!({"kind": "cobol"})).await;
    assert_eq!(code, 400, "{bad}");

    let (code, deleted) = delete(&url).await;
    assert_eq!(code, 200);
    assert_shape(&t, &deleted, "msg", None, "DELETE /sessions/{id}");

    // A batch: `starting` in the create's answer, then `running`, `success`.
    let (code, b) = post_json(
        &server.url("/batches"),
        &json!({"file": apps.join("ok.py")}),
    )
    .await;
    assert_eq!(code, 201, "{b}");
    assert_shape(&t, &b, "batch", None, "POST /batches");
    assert_eq!(b["state"], "starting", "{b}");
    let url = server.url(&format!("/batches/{}", b["id"]));
    let mut seen = vec!["starting".to_owned()];
    seen.extend(states_until(&url, "success").await);
    seen.dedup();
    assert_path(&t, "batch_path", &seen);
    assert_eq!(seen.last().map(String::as_str), Some("success"), "{seen:?}");
    assert!(!seen.contains(&"not_started".to_owned()), "{seen:?}");
    let (_, got) = get_json(&url).await;
    assert_shape(
        &t,
        &got,
        "batch",
        Some("batch_extensions"),
        "GET /batches/{id}",
    );
    let (_, list) = get_json(&server.url("/batches")).await;
    assert_shape(&t, &list, "list", None, "GET /batches");
    assert_shape(
        &t,
        &list["sessions"][0],
        "batch",
        Some("batch_extensions"),
        "GET /batches item",
    );
    let (_, log) = get_json(&format!("{url}/log")).await;
    assert_shape(&t, &log, "log", None, "GET /batches/{id}/log");
}

/// The table's state paths themselves: what the live test relies on.
#[test]
fn the_state_paths_accept_livys_sequences_and_refuse_others() {
    let t = table();
    let ok = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_path(
        &t,
        "interactive_path",
        &ok(&["starting", "idle", "busy", "idle", "shutting_down", "dead"]),
    );
    assert_path(&t, "batch_path", &ok(&["starting", "running", "success"]));
    for bad in [
        &["not_started", "starting"][..],
        &["starting", "running"][..],
        &["idle", "starting"][..],
    ] {
        let r = std::panic::catch_unwind(|| assert_path(&t, "interactive_path", &ok(bad)));
        assert!(r.is_err(), "{bad:?} accepted");
    }
}
