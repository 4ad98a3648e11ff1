//! `/openapi.json`: the committed document is the generated one, every
//! documented operation is served, and schemathesis (from PyPI) fuzzes a
//! live server against the document: generated requests, valid and
//! invalid, checked for server errors and for answers the document does not
//! allow. spark-submit is the stand-in (tests/fixtures/fake_spark_submit.py),
//! whose sessions answer statements: this tests the server, not Spark.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::{Value, json};

const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json");

fn generated() -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_livy-server"))
        .arg("openapi")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_committed_document_is_the_generated_one() {
    let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
    assert!(
        generated() == committed,
        "docs/openapi.json differs from what the handlers generate: \
         run `cargo run -- openapi > docs/openapi.json` and review the diff"
    );
}

/// A server on the stand-in spark-submit, with two batches and `sessions`
/// sessions idle, each with a statement.
async fn server_with_records(tmp: &Path, sessions: usize) -> Server {
    let home = fake_spark_home(tmp);
    let apps = tmp.join("apps");
    std::fs::create_dir_all(&apps).unwrap();
    std::fs::write(apps.join("app.py"), "print('hi')\n").unwrap();
    let server = Server::start(
        &tmp.join("data"),
        &[
            format!("livy.server.spark-home={}", home.display()),
            format!("livy.file.local-dir-whitelist={}", apps.display()),
        ],
    );
    for _ in 0..2 {
        let (code, b) = post_json(
            &server.url("/batches"),
            &json!({"file": apps.join("app.py")}),
        )
        .await;
        assert_eq!(code, 201, "{b}");
    }
    for _ in 0..sessions {
        let (code, s) = post_json(&server.url("/sessions"), &json!({"kind": "pyspark"})).await;
        assert_eq!(code, 201, "{s}");
        let url = server.url(&format!("/sessions/{}", s["id"]));
        wait_state(&url, &["idle"], Duration::from_secs(60)).await;
        // The stand-in driver answers with the code as its output.
        let st = run_statement(&server, s["id"].as_u64().unwrap(), json!({"code": "1 + 1"})).await;
        assert_eq!(text(&st), "1 + 1");
        // A job (the stand-in answers it SUCCEEDED), for `GET …/jobs/1`.
        let (code, j) = post_json(
            &server.url(&format!("/sessions/{}/submit-job", s["id"])),
            &json!({"job": "AAAA", "jobType": "spark"}),
        )
        .await;
        assert_eq!(code, 201, "{j}");
    }
    server
}

#[tokio::test]
async fn every_documented_operation_is_served_as_documented() {
    let tmp = tempfile::tempdir().unwrap();
    let server = server_with_records(tmp.path(), 1).await;
    let (code, doc) = get_json(&server.url("/openapi.json")).await;
    assert_eq!(code, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc, serde_json::from_str::<Value>(&generated()).unwrap());
    let paths = doc["paths"].as_object().unwrap();
    // The wire contract's routes (shared/livy-api.md), every one documented.
    for (path, method) in [
        ("/batches", "get"),
        ("/batches", "post"),
        ("/batches/{id}", "get"),
        ("/batches/{id}", "delete"),
        ("/batches/{id}/state", "get"),
        ("/batches/{id}/log", "get"),
        ("/sessions", "get"),
        ("/sessions", "post"),
        ("/sessions/{id}", "get"),
        ("/sessions/{id}", "delete"),
        ("/sessions/{id}/state", "get"),
        ("/sessions/{id}/log", "get"),
        ("/sessions/{id}/statements", "get"),
        ("/sessions/{id}/statements", "post"),
        ("/sessions/{id}/statements/{sid}", "get"),
        ("/sessions/{id}/statements/{sid}/cancel", "post"),
        ("/sessions/{id}/completion", "post"),
        ("/version", "get"),
        ("/metrics", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} is not documented"
        );
    }
    // Every documented operation answers on a session that exists with one
    // of the statuses it documents (read-only operations; the writes are
    // the fuzzer's).
    let http = client();
    for (path, item) in paths {
        let Some(op) = item.get("get") else { continue };
        let url = server.url(
            &path
                .replace("{id}", "0")
                .replace("{sid}", "0")
                .replace("{jobId}", "1"),
        );
        let r = http.get(&url).send().await.unwrap();
        let status = r.status().as_u16().to_string();
        assert!(
            op["responses"].get(&status).is_some(),
            "GET {path} answered {status}, which it does not document"
        );
        assert_eq!(status, "200", "GET {path}: {}", r.text().await.unwrap());
    }
}

#[tokio::test]
async fn schemathesis_finds_no_failures() {
    let tmp = tempfile::tempdir().unwrap();
    let server = server_with_records(tmp.path(), 2).await;
    let schemathesis =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-schemathesis/bin/schemathesis");
    assert!(
        schemathesis.exists(),
        "{} is missing: run hack/setup.sh --test",
        schemathesis.display()
    );
    let seed = std::env::var("LIVY_FUZZ_SEED").unwrap_or_else(|_| "1".into());
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schemathesis.toml"),
        tmp.path().join("schemathesis.toml"),
    )
    .unwrap();
    let out = tokio::process::Command::new(&schemathesis)
        .current_dir(tmp.path())
        .env("NO_COLOR", "1")
        .args(["--config-file", "schemathesis.toml", "run"])
        .arg(server.url("/openapi.json"))
        .args(["--checks", "all"])
        .args(["--max-examples", "40"])
        .args(["--seed", &seed])
        .args(["--workers", "2"])
        .args(["--request-timeout", "30"])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "schemathesis found failures (seed {seed}):\n{stdout}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.log()
    );
    // "Test cases:" is followed by "N generated, …": each case is at least
    // one request.
    let cases: usize = stdout
        .lines()
        .find_map(|l| {
            let mut words = l.split_whitespace();
            let n = words.next()?.parse().ok()?;
            words.next()?.starts_with("generated").then_some(n)
        })
        .unwrap_or_else(|| panic!("no test-case count in schemathesis' output:\n{stdout}"));
    println!("schemathesis generated {cases} test cases (seed {seed}), 0 failures");
    assert!(cases >= 1000, "only {cases} test cases were generated");
}
