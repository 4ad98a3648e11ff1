//! Livy's programmatic Job API (issue 26) through the real clients: Livy's
//! own Java client (`livy-client-http`, unchanged, `hack/jobapi/java/`) and a
//! Python client written from Livy's protocol (`hack/jobapi/livy_jobs.py`),
//! each running Livy's documented examples against a local-mode server; and
//! every refusal of bad input, after which the session still runs jobs.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;
#[path = "common/yarn.rs"]
mod yarn;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::{Value, json};

const LONG: Duration = Duration::from_secs(300);

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The jars `hack/setup.sh` fetched for drivers (`livy.rsc.jars`).
fn rsc_jars() -> String {
    let dir = dirs_cache().join("livy-server").join("livy-rsc");
    let mut jars: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}; run hack/setup.sh", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jar"))
        .map(|p| p.display().to_string())
        .collect();
    jars.sort();
    assert!(!jars.is_empty(), "no jars in {}", dir.display());
    jars.join(",")
}

fn dirs_cache() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache"))
}

fn server(dir: &Path) -> Server {
    let conf = vec![
        format!("livy.rsc.jars={}", rsc_jars()),
        format!("livy.file.local-dir-whitelist={}", dir.display()),
        "livy.server.session.upload-max-bytes=1m".to_owned(),
    ];
    Server::start(&dir.join("data"), &conf)
}

fn java_examples(server: &Server) -> HashMap<String, Value> {
    let mut cmd = Command::new("bash");
    cmd.arg(root().join("hack/jobapi/java-examples.sh"))
        .arg(server.url(""));
    examples(cmd)
}

fn python_examples(server: &Server, work: &Path) -> HashMap<String, Value> {
    std::fs::create_dir_all(work).unwrap();
    let mut cmd = Command::new(root().join(".venv/bin/python"));
    cmd.arg(root().join("hack/jobapi/python-examples.py"))
        .arg(server.url(""))
        .arg(work);
    examples(cmd)
}

/// What Livy's Java client's examples must have printed.
fn java_examples_hold(got: &HashMap<String, Value>) {
    pi_close(&got["pi"]);
    assert_eq!(got["sql"]["value"], json!([1000, 499500]), "{}", got["sql"]);
    assert_eq!(got["run"]["value"], "pong", "{}", got["run"]);
    let error = got["failing"]["error"].as_str().unwrap();
    assert!(error.contains("this job fails on purpose"), "{error}");
    assert!(
        error.contains("IllegalStateException"),
        "the remote cause: {error}"
    );
    assert_eq!(got["cancel"]["cancelled"], true, "{}", got["cancel"]);
    assert_eq!(
        got["cancel"]["state_before"], "STARTED",
        "{}",
        got["cancel"]
    );
    assert_eq!(got["shared"]["value"], "forty-two", "{}", got["shared"]);
    assert_eq!(got["connect"]["value"], "forty-two", "{}", got["connect"]);
}

/// What the Python client's examples must have printed.
fn python_examples_hold(got: &HashMap<String, Value>) {
    assert_eq!(got["numbers"]["value"], json!([100, 200, 300, 400]));
    assert_eq!(got["upload_file"]["value"], json!([7, 14, 21]));
    assert_eq!(got["upload_pyfile"]["value"], json!([3, 6, 9]));
    let error = got["failing"]["error"].as_str().unwrap();
    assert!(error.contains("ZeroDivisionError"), "{error}");
    assert_eq!(got["sql"]["value"], json!([1000, 499500]));
    assert_eq!(got["shared"]["value"], "forty-two");
    assert_eq!(got["run"]["value"], "pong");
    assert_eq!(got["connect"]["value"], "forty-two");
}

/// Runs a client program; its JSON lines by `example`.
fn examples(mut cmd: Command) -> HashMap<String, Value> {
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|v| (v["example"].as_str().unwrap().to_owned(), v))
        .collect()
}

fn pi_close(v: &Value) {
    let pi = v["value"].as_f64().unwrap_or_else(|| panic!("{v}"));
    assert!((pi - std::f64::consts::PI).abs() < 0.05, "{v}");
}

/// Livy's Java client, unchanged: upload of its jar, `PiJob`, SQL through
/// `sparkSession()`, `run`, a failing job, cancel, shared objects, and a
/// second client re-attached to the session.
#[tokio::test]
async fn livys_java_client_runs_its_examples() {
    let _slot = spark_slot().await;
    let tmp = tempfile::tempdir().unwrap();
    let server = server(tmp.path());
    let got = java_examples(&server);
    let sid = got["session"]["id"].as_u64().unwrap();
    java_examples_hold(&got);
    // The client stopped its session (DELETE).
    let (code, _) = get_json(&server.url(&format!("/sessions/{sid}"))).await;
    assert!(code == 404 || code == 200, "{code}");

    // The Job API is counted.
    let metrics = client()
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"livy_jobs_total{type="spark",state="SUCCEEDED"}"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"livy_job_additions_total{what="jar",outcome="ok"}"#),
        "{metrics}"
    );
}

/// Python jobs through a client of Livy's protocol, then every refusal of
/// bad input on the same session, which runs jobs as before afterwards.
#[tokio::test]
async fn python_jobs_and_bad_input() {
    let _slot = spark_slot().await;
    let tmp = tempfile::tempdir().unwrap();
    let server = server(tmp.path());
    // The bad input goes to a session of its own (the client deletes its
    // own at the end): it starts while the examples run.
    let (code, b) = post_json(&server.url("/sessions"), &json!({"kind": "pyspark"})).await;
    assert_eq!(code, 201, "{b}");
    let bad_sid = b["id"].as_u64().unwrap();
    let got = python_examples(&server, &tmp.path().join("py"));
    assert_ne!(got["session"]["id"], bad_sid);
    python_examples_hold(&got);

    wait_state(
        &server.url(&format!("/sessions/{bad_sid}")),
        &["idle"],
        LONG,
    )
    .await;
    bad_input(&server, bad_sid, tmp.path()).await;
}

/// Both clients' examples on a real YARN (the minicluster of
/// `tests/common/yarn.rs`), each session's driver in its ApplicationMaster:
/// Livy's jars reach it through `spark.jars`, uploads through the channel.
#[tokio::test]
async fn both_clients_run_their_examples_on_yarn() {
    let _slot = spark_slot().await;
    let tmp = tempfile::tempdir().unwrap();
    let extra = [format!("livy.rsc.jars={}", rsc_jars())];
    let server = yarn::server(
        free_port(),
        &tmp.path().join("data"),
        tmp.path(),
        "cluster",
        &extra,
    );
    let got = java_examples(&server);
    java_examples_hold(&got);
    let sid = got["session"]["id"].as_u64().unwrap();
    let got = python_examples(&server, &tmp.path().join("py"));
    python_examples_hold(&got);
    // Both drivers were YARN applications (ended by the clients' stop).
    let (code, apps) = get_json(&format!("{}/ws/v1/cluster/apps", yarn::yarn().rm_url)).await;
    assert_eq!(code, 200, "{apps}");
    let names: Vec<&str> = apps["apps"]["app"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["name"].as_str())
        .collect();
    for id in [sid, got["session"]["id"].as_u64().unwrap()] {
        let name = format!("livy-session-{id}");
        assert!(names.contains(&name.as_str()), "{name} not in {names:?}");
    }
}

async fn post_raw(server: &Server, path: &str, body: &str) -> (u16, Value) {
    let r = client()
        .post(server.url(path))
        .header("Content-Type", "application/json")
        .header("Content-Encoding", "UTF-8")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let code = r.status().as_u16();
    (code, r.json().await.unwrap_or(Value::Null))
}

async fn upload(server: &Server, path: &str, part: &str, bytes: Vec<u8>) -> (u16, Value) {
    let form = reqwest::multipart::Form::new().part(
        part.to_owned(),
        reqwest::multipart::Part::bytes(bytes).file_name("mod_x.py"),
    );
    let r = client()
        .post(server.url(path))
        .header("X-Requested-By", "livy")
        .multipart(form)
        .send()
        .await
        .unwrap();
    let code = r.status().as_u16();
    (code, r.json().await.unwrap_or(Value::Null))
}

fn msg(v: &Value) -> &str {
    v["msg"].as_str().unwrap_or_else(|| panic!("no msg: {v}"))
}

async fn bad_input(server: &Server, sid: u64, dir: &Path) {
    let jobs = format!("/sessions/{sid}/submit-job");
    for (body, says) in [
        (
            r#"{"job": "", "jobType": "pyspark"}"#,
            "job: no job provided",
        ),
        (r#"{"jobType": "spark"}"#, "job: no job provided"),
        (
            r#"{"job": "not base64!", "jobType": "spark"}"#,
            "job: not base64",
        ),
        (
            r#"{"job": "AAAA", "jobType": "cobol"}"#,
            "jobType: unknown job type",
        ),
        (r#"{"job": 5}"#, "job"),
        (r#"{"job": "AAAA", "extra": 1}"#, "extra"),
    ] {
        let (code, b) = post_raw(server, &jobs, body).await;
        assert_eq!(code, 400, "{body}: {b}");
        assert!(msg(&b).contains(says), "{body}: {b}");
    }
    let (code, b) = get_json(&server.url(&format!("/sessions/{sid}/jobs/999"))).await;
    assert_eq!(code, 404, "{b}");
    assert!(msg(&b).contains("Job 999 not found"), "{b}");
    let (code, b) = post_raw(server, &format!("/sessions/{sid}/jobs/999/cancel"), "").await;
    assert_eq!(code, 404, "{b}");

    // Uploads: the wrong part, too large; adds outside the whitelist.
    let (code, b) = upload(
        server,
        &format!("/sessions/{sid}/upload-pyfile"),
        "jar",
        b"X=1\n".to_vec(),
    )
    .await;
    assert_eq!(code, 400, "{b}");
    assert!(msg(&b).contains("no multipart part named 'file'"), "{b}");
    // Over 1 MiB, within the framing slack: refused as it streams in (a
    // larger declared length is refused on the head: src/server/refusal.rs).
    for len in [1_080_000] {
        let (code, b) = upload(
            server,
            &format!("/sessions/{sid}/upload-file"),
            "file",
            vec![b'#'; len],
        )
        .await;
        assert_eq!(code, 413, "{len}: {b}");
        assert!(
            msg(&b).contains("livy.server.session.upload-max-bytes"),
            "{len}: {b}"
        );
    }
    for route in ["add-jar", "add-file", "add-pyfile"] {
        let (code, b) = post_raw(
            server,
            &format!("/sessions/{sid}/{route}"),
            r#"{"uri": "/etc/passwd"}"#,
        )
        .await;
        assert_eq!(code, 400, "{route}: {b}");
        assert!(
            msg(&b).contains("livy.file.local-dir-whitelist"),
            "{route}: {b}"
        );
    }
    let (code, b) = post_raw(server, &format!("/sessions/{sid}/add-file"), "{}").await;
    assert_eq!(code, 400, "{b}");
    // A file the driver cannot read: its error, in Livy's shape.
    let missing = dir.join("no-such-file.txt");
    let body = json!({"uri": missing.display().to_string()}).to_string();
    let (code, b) = post_raw(server, &format!("/sessions/{sid}/add-file"), &body).await;
    assert_eq!(code, 400, "{b}");
    assert!(msg(&b).contains("could not add the file"), "{b}");

    // The session is unharmed: a good upload and a statement still work.
    let (code, b) = upload(
        server,
        &format!("/sessions/{sid}/upload-pyfile"),
        "file",
        b"X = 41\n".to_vec(),
    )
    .await;
    assert_eq!(code, 200, "{b}");
    let st = run_statement(
        server,
        sid,
        json!({"kind": "pyspark", "code": "import mod_x\nprint(mod_x.X + 1)"}),
    )
    .await;
    assert_eq!(text(&st).trim(), "42", "{st}");

    // A session that ended takes no job.
    let (code, b) = post_json(&server.url(&format!("/sessions/{sid}/stop")), &json!({})).await;
    assert_eq!(code, 204, "{b}");
    wait_state(&server.url(&format!("/sessions/{sid}")), &["dead"], LONG).await;
    let (code, b) = post_raw(server, &jobs, r#"{"job": "AAAA", "jobType": "spark"}"#).await;
    assert_eq!(code, 400, "{b}");
    assert!(msg(&b).contains("is in state dead"), "{b}");
}
