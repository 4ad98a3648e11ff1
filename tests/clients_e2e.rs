//! The real Python Livy clients, unchanged, against the real binary on real
//! Spark: pylivy (`livy` on PyPI) and sparkmagic's `livyclientlib` create
//! sessions, run code, download DataFrames, run SQL, get an error with its
//! traceback and delete. `hack/test.sh` runs this binary on Spark 4 and 3.5.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::process::Command;

use common::*;
use serde_json::{Value, json};

/// Runs `tests/fixtures/clients.py` for one client; its JSON report.
fn run_client(server: &Server, client: &str) -> Value {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/clients.py");
    let out = Command::new(client_python())
        .arg(script)
        .arg(&server.base)
        .arg(client)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{client} failed:\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.log()
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

fn rows(pairs: &[(i64, &str)]) -> Value {
    pairs
        .iter()
        .map(|(n, w)| json!({"n": n, "word": w}))
        .collect()
}

/// The warning is in the session log, as Python formats warnings.
fn assert_warning_logged(log: &Value) {
    let log: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        log.iter()
            .any(|l| l.contains("UserWarning: livy-test-warning")),
        "warning not in the session log: {log:?}"
    );
}

#[tokio::test]
async fn pylivy_runs_code_downloads_dataframes_and_sql_and_gets_errors() {
    let _slot = spark_slot().await;
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(
        &tmp.path().join("data"),
        &["livy.rsc.launcher.port.range=0~0".into()],
    );
    let (_, version) = get_json(&server.url("/version")).await;
    assert_eq!(version["sparkVersion"], expected_spark_version());
    let r = run_client(&server, "pylivy");
    assert_eq!(r["sum"], "2");
    assert_eq!(r["download"], rows(&[(1, "one"), (2, "two"), (3, "three")]));
    assert_eq!(
        r["warn_text"], "before\nafter",
        "a warning leaked into the output"
    );
    assert_warning_logged(&r["pyspark_log"]);
    let log = r["pyspark_log"].to_string();
    let spark = expected_spark_version();
    if !spark.starts_with("3.") {
        // PySpark 4's own warning from DataFrame.toJSON (download's code) went to the log.
        assert!(log.contains("The return type of DataFrame.toJSON"), "{log}");
    }
    assert!(
        log.contains(&format!("Spark {spark}, Scala ")),
        "no versions in the session log"
    );
    assert_eq!(r["error"]["ename"], "ZeroDivisionError");
    assert_eq!(r["error"]["evalue"], "division by zero");
    let tb = r["error"]["traceback"].to_string();
    assert!(tb.contains("in f") && tb.contains("1 / 0"), "{tb}");
    assert_eq!(
        r["download_sql"],
        rows(&[(1, "row 1"), (2, "row 2"), (3, "row 3")])
    );
    assert_eq!(r["scala_download"], rows(&[(1, "one"), (2, "two")]));
    // Every session the client made is gone.
    let (_, list) = get_json(&server.url("/sessions")).await;
    assert_eq!(list["total"], 0, "{list}");
}

#[tokio::test]
async fn sparkmagic_runs_commands_and_sql_queries_in_python_and_scala() {
    let _slot = spark_slot().await;
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(
        &tmp.path().join("data"),
        &["livy.rsc.launcher.port.range=0~0".into()],
    );
    let r = run_client(&server, "sparkmagic");
    assert_eq!(r["sum"], json!([true, "2", "text/plain"]));
    assert_eq!(r["make_df"][0], true, "{}", r["make_df"]);
    assert_eq!(r["warn"], json!([true, "before\nafter", "text/plain"]));
    assert_warning_logged(&r["pyspark_log"]);
    assert_eq!(r["error"][0], false);
    let err = r["error"][1].as_str().unwrap();
    assert!(
        err.contains("division by zero") && err.contains("in f"),
        "evalue and traceback: {err}"
    );
    assert_eq!(r["sql"], rows(&[(1, "one"), (2, "two"), (3, "three")]));
    assert_eq!(r["scala_sum"][0], true);
    let scala = r["scala_sum"][1].as_str().unwrap().trim_end(); // Livy keeps the echo's newline
    // sparkmagic's start() ran `spark` first, so this is res1 (Scala 2.12's echo shape on both).
    assert!(
        scala.starts_with("res") && scala.ends_with(": Int = 2") && !scala.contains("val "),
        "{scala}"
    );
    assert_eq!(r["scala_sql"], json!([{"n": 0}, {"n": 1}]));
    let (_, list) = get_json(&server.url("/sessions")).await;
    assert_eq!(list["total"], 0, "{list}");
}
