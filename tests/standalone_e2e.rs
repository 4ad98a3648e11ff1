//! A real Spark standalone master + worker (REST submission on, work dir in a
//! temp dir) driven through the real binary: Python batches in client mode,
//! JVM batches in cluster mode, kill of a cluster-mode driver, a pyspark
//! session, and exactly one application per batch on the master.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

const LONG: Duration = Duration::from_secs(300);

/// Every application the master knows (active and completed).
fn all_apps(master: &Value) -> Vec<Value> {
    ["activeapps", "completedapps"]
        .iter()
        .flat_map(|k| master[*k].as_array().cloned().unwrap_or_default())
        .collect()
}

async fn wait_app_id(url: &str) -> Value {
    let deadline = Instant::now() + LONG;
    loop {
        let (_, b) = get_json(url).await;
        if b["appId"].as_str().is_some_and(|id| id.starts_with("app-")) {
            return b;
        }
        assert!(Instant::now() < deadline, "no app- appId: {b}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn batches_and_a_session_on_a_standalone_cluster() {
    let _slot = spark_slot().await;
    let cluster = Standalone::start();
    let tmp = tempfile::tempdir().unwrap();
    let apps = tmp.path().join("apps");
    std::fs::create_dir_all(&apps).unwrap();
    std::fs::write(apps.join("pi.py"), PI_PY).unwrap();
    let jar = spark_pi_jar(&apps.join("build"));
    let server = Server::start(
        &tmp.path().join("data"),
        &[
            format!("livy.spark.master={}", cluster.master_url),
            "livy.spark.deploy-mode=cluster".into(),
            format!("livy.server.spark.master-ui={}", cluster.ui_address),
            format!("livy.server.spark.master-rest={}", cluster.rest_address),
            format!("livy.file.local-dir-whitelist={}", apps.display()),
            "livy.rsc.launcher.port.range=0~0".into(),
        ],
    );
    let small = json!({"driverMemory": "512m", "executorMemory": "512m"});
    let with = |mut body: Value| {
        body.as_object_mut()
            .unwrap()
            .extend(small.as_object().unwrap().clone());
        body
    };

    // Python batch: client mode (spark-submit refuses Python in standalone cluster mode).
    let (code, b) = post_json(
        &server.url("/batches"),
        &with(json!({"file": apps.join("pi.py"), "name": "py-pi"})),
    )
    .await;
    assert_eq!(code, 201, "{b}");
    let py = b["id"].as_u64().unwrap();
    let done = wait_state(&server.url(&format!("/batches/{py}")), &["success"], LONG).await;
    assert!(
        done["appId"].as_str().unwrap().starts_with("app-"),
        "{done}"
    );
    assert!(done["appInfo"]["sparkUiUrl"].as_str().is_some(), "{done}");
    assert!(
        full_log(&server.url(&format!("/batches/{py}")))
            .await
            .iter()
            .any(|l| l.starts_with("Pi is roughly"))
    );

    // JVM batch in cluster mode: the driver runs on the worker.
    let (_, b) = post_json(
        &server.url("/batches"),
        &with(json!({"file": jar, "className": "example.SparkPi", "args": ["2"]})),
    )
    .await;
    let jvm = b["id"].as_u64().unwrap();
    let done = wait_state(&server.url(&format!("/batches/{jvm}")), &["success"], LONG).await;
    assert!(
        done["appId"].as_str().unwrap().starts_with("app-"),
        "{done}"
    );
    assert!(done["appInfo"]["sparkUiUrl"].as_str().is_some(), "{done}");

    // A failing JVM batch in cluster mode is dead.
    let (_, b) = post_json(
        &server.url("/batches"),
        &with(json!({"file": jar, "className": "example.SparkPi", "args": ["1", "fail"]})),
    )
    .await;
    let failing = b["id"].as_u64().unwrap();
    wait_state(&server.url(&format!("/batches/{failing}")), &["dead"], LONG).await;

    // DELETE of a running cluster-mode batch: the driver ends KILLED on the master.
    let (_, b) = post_json(
        &server.url("/batches"),
        &with(json!({"file": jar, "className": "example.SparkPi", "args": ["1", "sleep"]})),
    )
    .await;
    let sleeper = b["id"].as_u64().unwrap();
    let url = server.url(&format!("/batches/{sleeper}"));
    wait_state(&url, &["running"], LONG).await;
    let app_id = wait_app_id(&url).await["appId"]
        .as_str()
        .unwrap()
        .to_owned();
    let (code, body) = delete(&url).await;
    assert_eq!((code, body), (200, json!({"msg": "deleted"})));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let m = cluster.state().await;
        let killed = m["completeddrivers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["state"] == "KILLED");
        let app_done = m["activeapps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["id"] != app_id.as_str());
        if killed && app_done {
            break;
        }
        assert!(Instant::now() < deadline, "the driver was not killed: {m}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // Exactly one application per batch on the master (user code may rename
    // its application, so count them all and match by appId).
    let m = cluster.state().await;
    let all = all_apps(&m);
    assert_eq!(all.len(), 4, "four batches, four applications: {all:?}");
    for id in [py, jvm, sleeper] {
        let (_, b) = get_json(&server.url(&format!("/batches/{id}"))).await;
        let app = b["appId"].as_str().map(str::to_owned).unwrap_or_else(|| {
            // A deleted batch is gone; its id was read while it ran.
            app_id.clone()
        });
        assert_eq!(
            all.iter().filter(|a| a["id"] == app.as_str()).count(),
            1,
            "batch {id} ({app}) on the master: {all:?}"
        );
    }

    // A pyspark session on the cluster runs a statement and shows its appId.
    let (code, s) = post_json(&server.url("/sessions"), &with(json!({"kind": "pyspark"}))).await;
    assert_eq!(code, 201, "{s}");
    let sid = s["id"].as_u64().unwrap();
    let surl = server.url(&format!("/sessions/{sid}"));
    wait_state(&surl, &["idle"], LONG).await;
    let st = run_statement(
        &server,
        sid,
        json!({"code": "sc.parallelize(range(100), 4).sum()"}),
    )
    .await;
    assert_eq!(text(&st), "4950");
    let s = wait_app_id(&surl).await;
    assert!(s["appId"].as_str().unwrap().starts_with("app-"), "{s}");
    let (code, _) = delete(&surl).await;
    assert_eq!(code, 200);
}
