//! Batches and sessions on a real YARN: Hadoop's minicluster (a
//! ResourceManager, two NodeManagers and HDFS on loopback, one per test
//! binary: `tests/common/yarn.rs`) and pip's Spark submitting to it. Every
//! application runs in YARN containers; the server follows it through the
//! RM's REST API, and the test checks what the RM itself says.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;
#[path = "common/yarn.rs"]
mod yarn;

use std::path::Path;
use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use yarn::{LONG, app_id, create, small, yarn};

/// A server in `mode` (`cluster` or `client`), with its data under
/// `dir/<mode>` and local files allowed from `dir`.
fn server(dir: &Path, mode: &str, extra: &[String]) -> Server {
    yarn::server(free_port(), &dir.join(mode), dir, mode, extra)
}

/// `appInfo` once it has both links (they come with an observation of the
/// RM, which may follow the state by a poll).
async fn links(url: &str) -> Value {
    let deadline = std::time::Instant::now() + LONG;
    loop {
        let (_, b) = get_json(url).await;
        let info = &b["appInfo"];
        if info["driverLogUrl"].is_string() && info["sparkUiUrl"].is_string() {
            return info.clone();
        }
        assert!(std::time::Instant::now() < deadline, "no links: {b}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A Python batch in cluster mode, in queue `etl`: the RM runs it there
/// and it ends FINISHED/SUCCEEDED, mirrored as `success` under the real
/// `appId`, with the RM's links. (Also run on Spark 3.5 by hack/test.sh.)
#[tokio::test]
async fn a_python_batch_runs_in_queue_etl() {
    let _slot = spark_slot().await;
    let y = yarn();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("pi.py"), PI_PY).unwrap();
    let cluster = server(dir, "cluster", &[]);
    let body = small(json!({"file": dir.join("pi.py"), "args": ["7"], "queue": "etl"}));
    let (_, url) = create(&cluster, "/batches", &body).await;
    let id = app_id(&url).await;
    let done = wait_state(&url, &["success"], LONG).await;
    let app = y.wait_app(&id, &["FINISHED"], LONG).await;
    assert_eq!(app["finalStatus"], "SUCCEEDED", "{app}");
    assert_eq!(app["queue"], "root.etl", "{app}");
    assert_eq!(done["appId"], id.as_str());
    assert!(done.get("failure").is_none(), "{done}");
    // The Spark UI link is the RM's tracking URL for the application.
    let ui = done["appInfo"]["sparkUiUrl"].as_str().unwrap_or_default();
    assert!(
        ui.contains(&id) || ui == app["trackingUrl"].as_str().unwrap_or_default(),
        "{done} vs {app}"
    );
}

/// JVM batches: client mode (the driver beside the server, executors in
/// containers), a failure with YARN's diagnostics in the log, DELETE
/// through the RM, and a queue YARN does not have.
#[tokio::test]
async fn batches_run_in_yarn_containers() {
    let _slot = spark_slot().await;
    let y = yarn();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("pi.py"), PI_PY).unwrap();
    std::fs::write(dir.join("fails.py"), "raise SystemExit(3)\n").unwrap();
    let jar = spark_pi_jar(&dir.join("build"));
    let cluster = server(dir, "cluster", &[]);

    let client = server(dir, "client", &[]);
    let body = small(json!({"file": jar, "className": "example.SparkPi", "args": ["4"]}));
    let (_, url) = create(&client, "/batches", &body).await;
    let id = app_id(&url).await;
    wait_state(&url, &["success"], LONG).await;
    let app = y.wait_app(&id, &["FINISHED"], LONG).await;
    assert_eq!(app["finalStatus"], "SUCCEEDED", "{app}");
    let log = full_log(&url).await.join("\n");
    assert!(log.contains("Pi is roughly"), "{log}");

    // A failing application ends `dead`, with YARN's diagnostics in its log.
    let body = small(json!({"file": dir.join("fails.py")}));
    let (_, url) = create(&cluster, "/batches", &body).await;
    let id = app_id(&url).await;
    let dead = wait_state(&url, &["dead"], LONG).await;
    let app = y.wait_app(&id, &["FINISHED", "FAILED"], LONG).await;
    assert_eq!(app["finalStatus"], "FAILED", "{app}");
    assert_eq!(dead["failure"], "exited", "{dead}");
    let log = full_log(&url).await.join("\n");
    let diagnostics = app["diagnostics"].as_str().unwrap_or_default();
    let first = diagnostics.lines().next().unwrap_or_default().trim();
    assert!(
        !first.is_empty() && log.contains(first),
        "{first:?} not in {log}"
    );

    // DELETE of a running application kills it through the RM.
    let body = small(json!({"file": jar, "className": "example.SparkPi", "args": ["2", "sleep"]}));
    let (_, url) = create(&cluster, "/batches", &body).await;
    let id = app_id(&url).await;
    wait_state(&url, &["running"], LONG).await;
    let r = common::client().delete(&url).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let app = y.wait_app(&id, &["KILLED"], LONG).await;
    assert_eq!(app["finalStatus"], "KILLED", "{app}");

    // An unknown queue: YARN refuses the application, and says why.
    let body = small(json!({"file": dir.join("pi.py"), "queue": "nosuchqueue"}));
    let (_, url) = create(&cluster, "/batches", &body).await;
    wait_state(&url, &["dead"], LONG).await;
    let log = full_log(&url).await.join("\n");
    assert!(log.contains("nosuchqueue"), "{log}");
}

/// A `shared` session whose driver runs in the ApplicationMaster's container
/// and dials back: Python, Scala, SQL and R statements on one context, with
/// closures running on executors in NodeManager containers; a cancelled
/// statement; the driver's log link answers; the session's idle timeout
/// ends the YARN application.
#[tokio::test]
async fn a_shared_session_runs_in_the_application_master() {
    let _slot = spark_slot().await;
    let y = yarn();
    let tmp = tempfile::tempdir().unwrap();
    let server = server(tmp.path(), "cluster", &[]);
    let body = small(json!({"kind": "shared", "ttl": "40s"}));
    let (sid, url) = create(&server, "/sessions", &body).await;
    let id = app_id(&url).await;
    wait_state(&url, &["idle"], LONG).await;
    let app = y.app(&id).await;
    assert_eq!(app["state"], "RUNNING", "{app}");
    assert_eq!(app["applicationType"], "SPARK", "{app}");
    // The links are the RM's (its proxy to the UI, the ApplicationMaster's
    // logs), not the driver's address inside the cluster; the logs answer.
    let info = links(&url).await;
    assert_eq!(info["sparkUiUrl"], app["trackingUrl"], "{info} vs {app}");
    assert_eq!(
        info["driverLogUrl"], app["amContainerLogs"],
        "{info} vs {app}"
    );
    let logs = info["driverLogUrl"].as_str().unwrap();
    let r = common::client().get(logs).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200, "{logs}");

    let py = run_statement(
        &server,
        sid,
        json!({"kind": "pyspark", "code": "sc.parallelize(range(100), 4).map(lambda x: x * x).sum()"}),
    )
    .await;
    assert_eq!(py["output"]["data"]["text/plain"], "328350", "{py}");
    let scala = run_statement(
        &server,
        sid,
        json!({"kind": "spark", "code": "sc.parallelize(1 to 10, 2).map(_ * 3).reduce(_ + _)"}),
    )
    .await;
    let text = scala["output"]["data"]["text/plain"]
        .as_str()
        .unwrap_or_default();
    assert!(text.contains("165"), "{scala}");
    let sql = run_statement(
        &server,
        sid,
        json!({"kind": "sql", "code": "SELECT 6 * 7 AS answer"}),
    )
    .await;
    assert_eq!(
        sql["output"]["data"]["application/json"]["data"][0][0], 42,
        "{sql}"
    );
    let r = run_statement(
        &server,
        sid,
        json!({"kind": "sparkr", "code": "cat(sum(unlist(collect(lapply(parallelize(sc, 1:10, 2), function(x) x * 2)))))"}),
    )
    .await;
    assert_eq!(r["output"]["data"]["text/plain"], "110", "{r}");
    // The executors are YARN containers: the application holds more than
    // its ApplicationMaster's.
    let app = y.app(&id).await;
    assert!(app["runningContainers"].as_u64().unwrap_or(0) >= 2, "{app}");

    // A long job, cancelled.
    let (code, st) = post_json(
        &server.url(&format!("/sessions/{sid}/statements")),
        &json!({"kind": "pyspark", "code": "import time\nsc.parallelize(range(4), 4).foreach(lambda _: time.sleep(600))"}),
    )
    .await;
    assert_eq!(code, 201, "{st}");
    let stid = st["id"].as_u64().unwrap();
    wait_statement(&server, sid, stid, &["running"], LONG).await;
    let (code, body) = post_json(
        &server.url(&format!("/sessions/{sid}/statements/{stid}/cancel")),
        &json!({}),
    )
    .await;
    assert_eq!((code, body), (200, json!({"msg": "canceled"})));
    wait_statement(&server, sid, stid, &["cancelled"], LONG).await;

    // Idle for its ttl: the session is deleted and its application ends.
    let app = y.wait_app(&id, &["FINISHED", "KILLED"], LONG).await;
    assert_ne!(app["finalStatus"], "FAILED", "{app}");
    let deadline = std::time::Instant::now() + LONG;
    while get_json(&url).await.0 != 404 {
        assert!(
            std::time::Instant::now() < deadline,
            "the session outlived its ttl"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A `pyspark` session in the ApplicationMaster; DELETE ends its YARN
/// application. (Also run on Spark 3.5 by hack/test.sh.)
#[tokio::test]
async fn a_pyspark_session_ends_with_its_delete() {
    let _slot = spark_slot().await;
    let y = yarn();
    let tmp = tempfile::tempdir().unwrap();
    let server = server(tmp.path(), "cluster", &[]);
    let body = small(json!({"kind": "pyspark"}));
    let (sid, url) = create(&server, "/sessions", &body).await;
    let id = app_id(&url).await;
    wait_state(&url, &["idle"], LONG).await;
    let st = run_statement(
        &server,
        sid,
        json!({"code": "spark.range(1000).selectExpr('sum(id)').first()[0]"}),
    )
    .await;
    assert_eq!(st["output"]["data"]["text/plain"], "499500", "{st}");
    let r = common::client().delete(&url).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let app = y.wait_app(&id, &["FINISHED", "KILLED"], LONG).await;
    assert_ne!(app["finalStatus"], "FAILED", "{app}");
}
