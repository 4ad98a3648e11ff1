//! Batches end to end on real Spark (local mode): the real binary, real
//! spark-submit, real processes. Spark-running tests take one slot at a time.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

const LONG: Duration = Duration::from_secs(180);

fn whitelist(dir: &std::path::Path) -> String {
    format!("livy.file.local-dir-whitelist={}", dir.display())
}

#[tokio::test]
async fn python_pi_batch_succeeds_and_hostile_args_arrive_verbatim() {
    let _slot = spark_slot().await;
    let tmp = tempfile::tempdir().unwrap();
    let apps = tmp.path().join("apps");
    std::fs::create_dir_all(&apps).unwrap();
    std::fs::write(apps.join("pi.py"), PI_PY).unwrap();
    let server = Server::start(&tmp.path().join("data"), &[whitelist(&apps)]);

    let hostile = [
        "a;b",
        "$(touch /tmp/livy-pwned)",
        "\"quoted\"",
        "--master",
        "yarn",
        "two words",
        "line\nbreak",
    ];
    let r = client()
        .post(server.url("/batches"))
        .json(&json!({ "file": apps.join("pi.py"), "args": hostile, "name": "pi-batch" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    assert_eq!(r.headers()["location"], "/batches/0");
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["id"], 0);
    assert_eq!(created["name"], "pi-batch");
    for key in ["appId", "appInfo", "owner", "proxyUser", "log", "state"] {
        assert!(created.get(key).is_some(), "missing key {key}: {created}");
    }

    let done = wait_state(&server.url("/batches/0"), &["success"], LONG).await;
    assert_eq!(done["id"], 0);
    let (_, state) = get_json(&server.url("/batches/0/state")).await;
    assert_eq!(state, json!({"id": 0, "state": "success"}));
    let (_, by_name) = get_json(&server.url("/batches/pi-batch/state")).await;
    assert_eq!(by_name["id"], 0, "lookup by name");

    let log = full_log(&server.url("/batches/0")).await;
    assert_eq!(log.first().map(String::as_str), Some("stdout: "));
    assert_eq!(log.last().map(String::as_str), Some("\nstderr: "));
    let pi = log
        .iter()
        .find(|l| l.starts_with("Pi is roughly"))
        .expect("the result is in the log");
    let value: f64 = pi
        .trim_start_matches("Pi is roughly ")
        .trim()
        .parse()
        .unwrap();
    assert!((3.0..3.3).contains(&value), "{pi}");
    let argv_line = log
        .iter()
        .find(|l| l.starts_with("ARGV "))
        .expect("the app printed its argv");
    // "line\nbreak" spans two log lines; join the rest of the log to read it back.
    let at = log.iter().position(|l| l.starts_with("ARGV ")).unwrap();
    let argv_json = format!("{}\n{}", argv_line, log[at + 1]);
    let argv: Vec<String> = serde_json::from_str(argv_json.trim_start_matches("ARGV "))
        .unwrap_or_else(|_| serde_json::from_str(argv_line.trim_start_matches("ARGV ")).unwrap());
    assert_eq!(
        argv, hostile,
        "args reach the application verbatim, never through a shell"
    );
    assert!(
        !std::path::Path::new("/tmp/livy-pwned").exists(),
        "no shell ever ran the args"
    );

    // Paging: the tail by default, Livy's `total` field.
    let (_, page) = get_json(&server.url("/batches/0/log?from=0&size=2")).await;
    assert_eq!(page["from"], 0);
    assert_eq!(page["log"].as_array().unwrap().len(), 2);
    assert_eq!(page["total"].as_u64().unwrap() as usize, log.len());

    let (code, list) = get_json(&server.url("/batches")).await;
    assert_eq!(code, 200);
    assert_eq!(list["from"], 0);
    assert_eq!(list["total"], 1);
    assert_eq!(list["sessions"][0]["state"], "success");

    // Secrets and users' output live in the data dir: private to the server's user.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&server.data_dir)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o700, "data dir mode {mode:o}");

    let (code, body) = get_json(&server.url("/batches/7")).await;
    assert_eq!(
        (code, body),
        (404, json!({"msg": "Session '7' not found."}))
    );
}

#[tokio::test]
async fn jvm_batch_with_class_and_args_succeeds_and_a_failing_one_is_dead() {
    let _slot = spark_slot().await;
    let tmp = tempfile::tempdir().unwrap();
    let jar = spark_pi_jar(&tmp.path().join("build"));
    let server = Server::start(
        &tmp.path().join("data"),
        &[whitelist(&tmp.path().join("build"))],
    );

    let (code, _) = post_json(
        &server.url("/batches"),
        &json!({ "file": jar, "className": "example.SparkPi", "args": ["3", "ok"], "driverMemory": "512m" }),
    )
    .await;
    assert_eq!(code, 201);
    wait_state(&server.url("/batches/0"), &["success"], LONG).await;
    let log = full_log(&server.url("/batches/0")).await;
    assert!(
        log.iter().any(|l| l.starts_with("Pi is roughly 3.")),
        "{log:?}"
    );
    assert!(
        log.iter().any(|l| l == "ARGS 3|ok"),
        "className and args reached the JVM: {log:?}"
    );

    let (code, _) = post_json(
        &server.url("/batches"),
        &json!({ "file": jar, "className": "example.SparkPi", "args": ["1", "fail"] }),
    )
    .await;
    assert_eq!(code, 201);
    wait_state(&server.url("/batches/1"), &["dead"], LONG).await;
    let log = full_log(&server.url("/batches/1")).await;
    assert!(
        log.iter().any(|l| l.contains("exited with code 3")),
        "the reason is in the log: {log:?}"
    );
}

#[tokio::test]
async fn an_app_that_exits_1_is_dead() {
    let _slot = spark_slot().await;
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("fail.py"),
        "import sys\nprint('about to fail')\nsys.exit(1)\n",
    )
    .unwrap();
    let server = Server::start(&tmp.path().join("data"), &[whitelist(tmp.path())]);
    let (code, _) = post_json(
        &server.url("/batches"),
        &json!({ "file": tmp.path().join("fail.py") }),
    )
    .await;
    assert_eq!(code, 201);
    wait_state(&server.url("/batches/0"), &["dead"], LONG).await;
    let log = full_log(&server.url("/batches/0")).await;
    assert!(log.iter().any(|l| l == "about to fail"), "{log:?}");
    assert!(
        log.iter()
            .any(|l| l.contains("spark-submit exited with code 1")),
        "{log:?}"
    );
}

#[tokio::test]
async fn delete_of_a_running_batch_kills_every_process() {
    let _slot = spark_slot().await;
    let tmp = tempfile::tempdir().unwrap();
    let app = "import time\nfrom pyspark.sql import SparkSession\nspark = SparkSession.builder.getOrCreate()\nprint('READY', flush=True)\ntime.sleep(600)\n";
    std::fs::write(tmp.path().join("sleep.py"), app).unwrap();
    let data = tmp.path().join("data");
    let server = Server::start(&data, &[whitelist(tmp.path())]);
    let (code, _) = post_json(
        &server.url("/batches"),
        &json!({ "file": tmp.path().join("sleep.py") }),
    )
    .await;
    assert_eq!(code, 201);
    wait_state(&server.url("/batches/0"), &["running"], LONG).await;
    // Wait until the Python driver has its SparkSession, so JVM and Python both run.
    let deadline = std::time::Instant::now() + LONG;
    while !full_log(&server.url("/batches/0"))
        .await
        .iter()
        .any(|l| l == "READY")
    {
        assert!(std::time::Instant::now() < deadline, "app never got ready");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let app_dir = std::fs::read_dir(data.join("apps"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let sup: Value =
        serde_json::from_slice(&std::fs::read(app_dir.join("supervisor.json")).unwrap()).unwrap();
    let sup_pid = sup["pid"].as_u64().unwrap() as u32;
    let mut pids = descendants(sup_pid);
    pids.push(sup_pid);
    let cmds: Vec<String> = pids.iter().map(|p| cmdline(*p)).collect();
    assert!(
        cmds.iter().any(|c| c.contains("java")),
        "a Spark JVM runs: {cmds:?}"
    );
    assert!(
        cmds.iter()
            .any(|c| c.contains("sleep.py") && c.contains("python")),
        "the Python driver runs: {cmds:?}"
    );

    let (code, body) = delete(&server.url("/batches/0")).await;
    assert_eq!((code, body), (200, json!({"msg": "deleted"})));
    let (code, _) = get_json(&server.url("/batches/0")).await;
    assert_eq!(code, 404, "a deleted batch is gone");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let alive: Vec<u32> = pids.iter().copied().filter(|p| pid_alive(*p)).collect();
        if alive.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "processes left behind: {:?}",
            alive.iter().map(|p| cmdline(*p)).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn after_kill_9_and_restart_every_batch_is_listed_once_and_ids_continue() {
    let _slot = spark_slot().await;
    let tmp = tempfile::tempdir().unwrap();
    let marks = tmp.path().join("marks");
    std::fs::create_dir_all(&marks).unwrap();
    // Each run appends a line to its own marker file: two lines would mean a double submission.
    let app = format!(
        "import os, sys, time\nopen(os.path.join({marks:?}, sys.argv[1]), 'a').write('run\\n')\nprint('started', sys.argv[1], flush=True)\ntime.sleep(float(sys.argv[2]))\nsys.exit(int(sys.argv[3]))\n",
        marks = marks.display().to_string()
    );
    std::fs::write(tmp.path().join("job.py"), app).unwrap();
    let data = tmp.path().join("data");
    let conf = [
        whitelist(tmp.path()),
        format!(
            "livy.server.launch.sandbox.writable-paths={}",
            marks.display()
        ),
    ];
    let mut server = Server::start(&data, &conf);
    let file = tmp.path().join("job.py");
    for (name, secs, code) in [("quick", "0", "0"), ("slow", "25", "0"), ("bad", "0", "2")] {
        let (c, _) = post_json(
            &server.url("/batches"),
            &json!({ "file": file, "args": [name, secs, code] }),
        )
        .await;
        assert_eq!(c, 201);
    }
    wait_state(&server.url("/batches/0"), &["success"], LONG).await;
    wait_state(&server.url("/batches/2"), &["dead"], LONG).await;
    wait_state(&server.url("/batches/1"), &["running"], LONG).await;
    server.crash();

    let server = Server::start(&data, &conf);
    let (_, list) = get_json(&server.url("/batches")).await;
    let states: Vec<(u64, String)> = list["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["id"].as_u64().unwrap(),
                b["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(states.len(), 3, "{list}");
    assert_eq!(states[0], (0, "success".into()));
    assert_eq!(states[2], (2, "dead".into()));
    assert!(
        ["running", "success"].contains(&states[1].1.as_str()),
        "{states:?}"
    );
    // The slow batch outlived the crash and is followed to its end.
    wait_state(&server.url("/batches/1"), &["success"], LONG).await;

    let (c, created) = post_json(
        &server.url("/batches"),
        &json!({ "file": file, "args": ["after", "0", "0"] }),
    )
    .await;
    assert_eq!(
        (c, created["id"].as_u64()),
        (201, Some(3)),
        "ids continue after the old ones"
    );
    wait_state(&server.url("/batches/3"), &["success"], LONG).await;
    for name in ["quick", "slow", "bad", "after"] {
        let runs = std::fs::read_to_string(marks.join(name)).unwrap();
        assert_eq!(runs.lines().count(), 1, "{name} ran exactly once");
    }
}

#[tokio::test]
async fn a_spark_submit_that_cannot_start_ends_dead_with_the_reason() {
    // A Spark home whose spark-submit is not executable: the launch itself fails.
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("broken-spark");
    std::fs::create_dir_all(home.join("bin")).unwrap();
    std::fs::write(home.join("bin/spark-submit"), "not a program").unwrap();
    std::fs::write(tmp.path().join("x.py"), "print(1)\n").unwrap();
    let server = Server::start(
        &tmp.path().join("data"),
        &[
            whitelist(tmp.path()),
            format!("livy.server.spark-home={}", home.display()),
        ],
    );
    let (code, _) = post_json(
        &server.url("/batches"),
        &json!({ "file": tmp.path().join("x.py") }),
    )
    .await;
    assert_eq!(code, 201);
    wait_state(
        &server.url("/batches/0"),
        &["dead"],
        Duration::from_secs(30),
    )
    .await;
    let log = full_log(&server.url("/batches/0")).await;
    assert!(
        // Said by the supervisor, or by the sandbox that runs spark-submit.
        log.iter().any(
            |l| (l.contains("failed to start") || l.starts_with("bwrap: execvp"))
                && l.contains("spark-submit")
                && l.contains("ermission denied")
        ),
        "{log:?}"
    );
}
