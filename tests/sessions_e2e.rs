//! Interactive sessions end to end on real Spark: the real binary launches
//! the real driver; Scala on a standalone master + worker (executors in their
//! own JVMs), Python, SQL and shared sessions in local mode.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

const START: Duration = Duration::from_secs(240);

fn conf() -> Vec<String> {
    vec!["livy.rsc.launcher.port.range=0~0".into()]
}

async fn create(server: &Server, body: Value) -> u64 {
    let r = client()
        .post(server.url("/sessions"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let loc = r.headers()["location"].to_str().unwrap().to_owned();
    let s: Value = r.json().await.unwrap();
    let id = s["id"].as_u64().unwrap();
    assert_eq!(loc, format!("/sessions/{id}"));
    for key in [
        "appId",
        "appInfo",
        "owner",
        "proxyUser",
        "kind",
        "state",
        "log",
    ] {
        assert!(s.get(key).is_some(), "missing {key}: {s}");
    }
    wait_state(&server.url(&format!("/sessions/{id}")), &["idle"], START).await;
    id
}

/// Every process of a session's application (supervisor and descendants).
fn session_pids(server: &Server) -> Vec<u32> {
    app_processes(server)
        .into_iter()
        .flat_map(|(_, pids)| pids)
        .collect()
}

/// The JVM of the session's driver (spark-submit runs the driver in its
/// own JVM in client mode).
fn driver_jvm(server: &Server) -> u32 {
    let jvms: Vec<u32> = session_pids(server)
        .into_iter()
        .filter(|p| cmdline(*p).contains("org.apache.spark.deploy.SparkSubmit"))
        .collect();
    assert_eq!(jvms.len(), 1, "one driver JVM: {jvms:?}");
    jvms[0]
}

/// The class-data archive beside the driver jar `server` uses (its log
/// names the jar), once built.
async fn class_data_archive(server: &Server, within: Duration) -> std::path::PathBuf {
    let deadline = Instant::now() + within;
    loop {
        let jar = server
            .log()
            .lines()
            .filter(|l| l.contains("driver ready"))
            .find_map(|l| l.split_whitespace().find_map(|w| w.strip_prefix("jar=")))
            .map(std::path::PathBuf::from);
        if let Some(archive) = jar.map(|j| j.with_file_name("driver.jsa"))
            && archive.exists()
        {
            return archive;
        }
        assert!(
            Instant::now() < deadline,
            "no class-data archive beside the driver jar; server log:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn assert_gone(pids: &[u32], within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let alive: Vec<String> = pids
            .iter()
            .filter(|p| pid_alive(**p))
            .map(|p| cmdline(*p))
            .collect();
        if alive.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "processes left behind: {alive:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn pyspark_session_runs_python_reports_errors_cancels_and_dies_with_its_driver() {
    let _slot = spark_slot().await;
    let tmp = tempfile::tempdir().unwrap();
    // A generous sync-wait, so "fast statements come back finished" holds
    // however loaded the machine is.
    let mut conf = conf();
    conf.push("livy.server.statement.sync-wait=5s".into());
    let server = Server::start(&tmp.path().join("data"), &conf);
    // The user's driver JVM options replace the server's (the archive).
    let id = create(
        &server,
        json!({"kind": "pyspark", "conf": {"spark.driver.extraJavaOptions": "-Dlivy.test.mine=1"}}),
    )
    .await;
    let jvm = cmdline(driver_jvm(&server));
    assert!(
        jvm.contains("-Dlivy.test.mine=1") && !jvm.contains("SharedArchiveFile"),
        "{jvm}"
    );

    // The POST itself answers the finished statement, output included.
    let (code, st) = post_json(
        &server.url(&format!("/sessions/{id}/statements")),
        &json!({"code": "1 + 1"}),
    )
    .await;
    assert_eq!(
        (code, st["state"].as_str()),
        (201, Some("available")),
        "{st}"
    );
    assert_eq!(text(&st), "2");
    assert_eq!(st["output"]["execution_count"], st["id"]);
    assert!(
        st["started"].as_u64().unwrap() > 0
            && st["completed"].as_u64().unwrap() >= st["started"].as_u64().unwrap()
    );
    assert_eq!(st["progress"], 1.0);

    // The seed's PySpark pi, rewritten for Python 3.
    let pi = "import random\nNUM_SAMPLES = 100000\ndef sample(p):\n    x, y = random.random(), random.random()\n    return 1 if x*x + y*y < 1 else 0\n\ncount = sc.parallelize(range(0, NUM_SAMPLES)).map(sample).reduce(lambda a, b: a + b)\nprint(\"Pi is roughly %f\" % (4.0 * count / NUM_SAMPLES))\n";
    let st = run_statement(&server, id, json!({"code": pi})).await;
    let out = text(&st);
    assert!(out.starts_with("Pi is roughly 3."), "{out}");

    // What the code prints to stdout and stderr keeps its order.
    let st = run_statement(
        &server,
        id,
        json!({"code": "import sys\nprint('one')\nsys.stderr.write('two\\n')\nprint('three')"}),
    )
    .await;
    assert_eq!(text(&st), "one\ntwo\nthree");

    let st = run_statement(&server, id, json!({"code": "x = 1\n1 / 0"})).await;
    assert_eq!(st["output"]["status"], "error");
    assert_eq!(st["output"]["ename"], "ZeroDivisionError");
    assert_eq!(st["output"]["evalue"], "division by zero");
    assert!(
        !st["output"]["traceback"].as_array().unwrap().is_empty(),
        "{st}"
    );
    wait_state(&server.url(&format!("/sessions/{id}")), &["idle"], START).await;

    // Cancel a long Spark job: cancelled within 5 s, and the next statement runs.
    let sid = start_slow_spark_job(&server, id, START).await;
    let asked = Instant::now();
    let (code, body) = post_json(
        &server.url(&format!("/sessions/{id}/statements/{sid}/cancel")),
        &json!({}),
    )
    .await;
    assert_eq!((code, body), (200, json!({"msg": "canceled"})));
    wait_statement(&server, id, sid, &["cancelled"], Duration::from_secs(5)).await;
    assert!(asked.elapsed() < Duration::from_secs(5));
    let st = run_statement(&server, id, json!({"code": "'after cancel'"})).await;
    assert_eq!(text(&st), "'after cancel'");

    let (_, list) = get_json(&server.url(&format!("/sessions/{id}/statements"))).await;
    assert_eq!(list["total_statements"], 6);

    // Kill the driver JVM from outside: the session is dead within 10 s, with the cause in its log.
    let pids = session_pids(&server);
    let jvm = *pids
        .iter()
        .find(|p| cmdline(**p).contains("LivyReplDriver") && cmdline(**p).contains("java"))
        .expect("the driver JVM runs");
    let killed = Instant::now();
    std::process::Command::new("kill")
        .args(["-9", &jvm.to_string()])
        .status()
        .unwrap();
    wait_state(
        &server.url(&format!("/sessions/{id}")),
        &["dead"],
        Duration::from_secs(10),
    )
    .await;
    assert!(killed.elapsed() < Duration::from_secs(10));
    let log = full_log(&server.url(&format!("/sessions/{id}"))).await;
    assert!(
        log.iter().any(|l| l.contains("the driver ended")),
        "{log:?}"
    );
    let (code, body) = post_json(
        &server.url(&format!("/sessions/{id}/statements")),
        &json!({"code": "1"}),
    )
    .await;
    assert_eq!(code, 500);
    assert_eq!(
        body,
        json!("java.lang.IllegalStateException: Session is in state dead")
    );
    assert_gone(&pids, Duration::from_secs(20)).await;
}

#[tokio::test]
async fn sql_and_shared_sessions_share_one_spark_context() {
    let _slot = spark_slot().await;
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), &conf());

    let sql = create(&server, json!({"kind": "sql"})).await;
    let st = run_statement(&server, sql, json!({"code": "SELECT 1 AS a"})).await;
    let out = &st["output"]["data"]["application/json"];
    assert_eq!(out["data"], json!([[1]]), "{st}");
    assert_eq!(out["schema"]["type"], "struct");
    assert_eq!(out["schema"]["fields"][0]["name"], "a");
    assert_eq!(out["schema"]["fields"][0]["type"], "integer");
    let (code, _) = delete(&server.url(&format!("/sessions/{sql}"))).await;
    assert_eq!(code, 200);

    // A driver on this host maps the class-data archive built in the
    // background after the driver.
    let archive = class_data_archive(&server, Duration::from_secs(300)).await;
    let shared = create(&server, json!({})).await;
    let jvm = driver_jvm(&server);
    let maps = std::fs::read_to_string(format!("/proc/{jvm}/maps")).unwrap();
    assert!(
        maps.contains(&archive.display().to_string()),
        "the driver JVM maps {}; its command: {}",
        archive.display(),
        cmdline(jvm)
    );
    let (_, s) = get_json(&server.url(&format!("/sessions/{shared}"))).await;
    assert_eq!(s["kind"], "shared", "kind defaults to shared");
    let (code, body) = post_json(
        &server.url(&format!("/sessions/{shared}/statements")),
        &json!({"code": "1"}),
    )
    .await;
    assert_eq!(code, 400, "a shared session needs a statement kind: {body}");
    run_statement(&server, shared, json!({"kind": "pyspark", "code": "spark.createDataFrame([(1, 'a'), (2, 'b'), (3, 'c')], ['n', 's']).createOrReplaceTempView('shared_t')"})).await;
    let st = run_statement(
        &server,
        shared,
        json!({"kind": "sql", "code": "SELECT sum(n) AS total FROM shared_t"}),
    )
    .await;
    assert_eq!(
        st["output"]["data"]["application/json"]["data"],
        json!([[6]]),
        "{st}"
    );
    let st = run_statement(
        &server,
        shared,
        json!({"kind": "spark", "code": "spark.table(\"shared_t\").count()"}),
    )
    .await;
    assert!(text(&st).contains("= 3"), "{st}");
    // Zeppelin's Livy interpreter detects Spark 2+ by this echo of `spark`
    // (on Spark 4 too, where the session's runtime class is
    // `sql.classic.SparkSession`) ...
    let st = run_statement(&server, shared, json!({"kind": "spark", "code": "spark"})).await;
    assert!(
        text(&st).contains("org.apache.spark.sql.SparkSession"),
        "{st}"
    );
    // ... and user code still has the runtime class's members (not in the
    // Spark 4 API class).
    let st = run_statement(
        &server,
        shared,
        json!({"kind": "spark", "code": "spark.sessionState.conf.numShufflePartitions + 1"}),
    )
    .await;
    assert!(text(&st).contains(": Int = 201"), "{st}");
    // Compiler warnings are not output; what the code prints, to either
    // stream, is, in order.
    let st = run_statement(
        &server,
        shared,
        json!({"kind": "spark", "code": "@deprecated(\"old\", \"1.0\") def legacy = 1\nSystem.out.println(\"out\")\nSystem.err.println(\"err\")\nlegacy + 1"}),
    )
    .await;
    let out = text(&st);
    assert!(!out.contains("warning"), "{out}");
    assert!(out.starts_with("out\nerr\n"), "{out}");
    assert!(out.contains(": Int = 2"), "{out}");
    let pids = session_pids(&server);
    assert!(!pids.is_empty());
    let (code, body) = delete(&server.url(&format!("/sessions/{shared}"))).await;
    assert_eq!((code, body), (200, json!({"msg": "deleted"})));
    let (code, _) = get_json(&server.url(&format!("/sessions/{shared}"))).await;
    assert_eq!(code, 404);
    assert_gone(&pids, Duration::from_secs(20)).await;
}

#[tokio::test]
async fn scala_session_on_a_standalone_cluster_runs_the_seed_pi_and_cancels() {
    let _slot = spark_slot().await;
    let cluster = Standalone::start();
    let tmp = tempfile::tempdir().unwrap();
    let mut c = conf();
    c.push(format!("livy.spark.master={}", cluster.master_url));
    let server = Server::start(&tmp.path().join("data"), &c);
    let id = create(&server, json!({"kind": "spark", "executorMemory": "512m"})).await;

    let st = run_statement(&server, id, json!({"code": "1 + 1"})).await;
    assert_eq!(text(&st).trim(), "res0: Int = 2");

    // The seed's Scala pi: the closure runs on an executor JVM of the worker.
    let pi = "val NUM_SAMPLES = 100000;\nval count = sc.parallelize(1 to NUM_SAMPLES).map { i =>\nval x = Math.random();\nval y = Math.random();\nif (x*x + y*y < 1) 1 else 0\n}.reduce(_ + _);\nprintln(\"Pi is roughly \" + 4.0 * count / NUM_SAMPLES)\n";
    let st = run_statement(&server, id, json!({"code": pi})).await;
    let out = text(&st);
    assert!(out.contains("Pi is roughly 3."), "{out}");
    let apps = cluster.state().await;
    assert_eq!(
        apps["activeapps"].as_array().unwrap().len(),
        1,
        "the session's app runs on the master: {apps}"
    );

    let st = run_statement(&server, id, json!({"code": "val x: Int = \"nope\""})).await;
    assert_eq!(st["output"]["status"], "error", "{st}");
    assert!(!st["output"]["ename"].as_str().unwrap().is_empty());
    assert!(!st["output"]["evalue"].as_str().unwrap().is_empty());
    assert!(
        !st["output"]["traceback"].as_array().unwrap().is_empty(),
        "{st}"
    );
    wait_state(&server.url(&format!("/sessions/{id}")), &["idle"], START).await;

    let slow = "sc.parallelize(1 to 200, 100).map { i => Thread.sleep(1000); i }.count()";
    let (_, st) = post_json(
        &server.url(&format!("/sessions/{id}/statements")),
        &json!({"code": slow}),
    )
    .await;
    let sid = st["id"].as_u64().unwrap();
    wait_statement(&server, id, sid, &["running"], START).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    post_json(
        &server.url(&format!("/sessions/{id}/statements/{sid}/cancel")),
        &json!({}),
    )
    .await;
    wait_statement(&server, id, sid, &["cancelled"], Duration::from_secs(5)).await;
    let st = run_statement(&server, id, json!({"code": "2 * 21"})).await;
    assert!(text(&st).contains("= 42"), "{st}");

    let pids = session_pids(&server);
    let (code, _) = delete(&server.url(&format!("/sessions/{id}"))).await;
    assert_eq!(code, 200);
    assert_gone(&pids, Duration::from_secs(20)).await;
}

#[tokio::test]
async fn python_magics_completion_and_progress() {
    let _slot = spark_slot().await;
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), &conf());
    let id = create(&server, json!({"kind": "pyspark"})).await;

    let st = run_statement(
        &server,
        id,
        json!({"code": "x = {'a': 1, 'b': [1, 2]}\n%json x"}),
    )
    .await;
    assert_eq!(
        st["output"]["data"]["application/json"],
        json!({"a": 1, "b": [1, 2]}),
        "{st}"
    );

    let st = run_statement(
        &server,
        id,
        json!({"code": "rows = [{'n': 1, 's': 'a'}, {'n': 2, 's': 'b'}]\n%table rows"}),
    )
    .await;
    let table = &st["output"]["data"]["application/vnd.livy.table.v1+json"];
    assert_eq!(
        table["headers"],
        json!([{"name": "n", "type": "INT_TYPE"}, {"name": "s", "type": "STRING_TYPE"}]),
        "{st}"
    );
    assert_eq!(table["data"], json!([[1, "a"], [2, "b"]]));

    let st = run_statement(
        &server,
        id,
        json!({"code": "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\n%matplot plt"}),
    )
    .await;
    let png = st["output"]["data"]["image/png"]
        .as_str()
        .unwrap_or_else(|| panic!("no image/png: {st}"));
    assert!(
        png.starts_with("iVBORw0KGgo"),
        "a base64 PNG: {}",
        &png[..png.len().min(20)]
    );
    assert_eq!(st["output"]["data"]["text/plain"], "");

    let st = run_statement(&server, id, json!({"code": "%nosuchmagic x"})).await;
    assert_eq!(
        (
            st["output"]["status"].as_str(),
            st["output"]["ename"].as_str()
        ),
        (Some("error"), Some("UnknownMagic")),
        "{st}"
    );

    // Completion reads the live namespace: `spark` is bound in every session.
    let code = "x = 1\nspark.rea";
    let (status, body) = post_json(
        &server.url(&format!("/sessions/{id}/completion")),
        &json!({"code": code, "kind": "pyspark", "cursor": code.len()}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let candidates: Vec<&str> = body["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(candidates.contains(&"spark.read"), "{candidates:?}");

    // Progress comes from the statement's job group while it runs.
    let slow =
        "sc.parallelize(range(8), 8).map(lambda x: __import__('time').sleep(1.5) or x).count()";
    let (_, st) = post_json(
        &server.url(&format!("/sessions/{id}/statements")),
        &json!({"code": slow}),
    )
    .await;
    let sid = st["id"].as_u64().unwrap();
    let mut partial = None;
    let deadline = Instant::now() + START;
    loop {
        let (_, st) = get_json(&server.url(&format!("/sessions/{id}/statements/{sid}"))).await;
        let p = st["progress"].as_f64().unwrap();
        if p > 0.0 && p < 1.0 {
            partial = Some(p);
        }
        if st["state"] == "available" {
            assert_eq!(text(&st), "8");
            assert_eq!(p, 1.0);
            break;
        }
        assert!(Instant::now() < deadline, "{st}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        partial.is_some(),
        "progress was reported between 0 and 1 while the job ran"
    );

    let pids = session_pids(&server);
    let (code, _) = delete(&server.url(&format!("/sessions/{id}"))).await;
    assert_eq!(code, 200);
    assert_gone(&pids, Duration::from_secs(20)).await;
}
