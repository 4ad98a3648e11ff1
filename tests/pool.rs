//! The warm session pool on real Spark (local mode): a request without
//! launch settings adopts a ready pooled driver (Scala, Python and SQL on its
//! one context), the pool refills, a request with settings starts cold, the
//! adopted session survives `kill -9` of the server and is deleted cleanly;
//! with `max-creation` reached by the pool's own launch, requests get
//! Livy's rejection.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

const WARM: Duration = Duration::from_secs(300);

/// A `/metrics` sample's value (`name` with its labels, as printed).
async fn metric(server: &Server, name: &str) -> Option<f64> {
    let r = client().get(server.url("/metrics")).send().await.ok()?;
    let text = r.text().await.ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

async fn wait_metric(server: &Server, name: &str, want: f64, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let got = metric(server, name).await;
        if got == Some(want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name} never became {want} (last {got:?})\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

const READY: &str = "livy_session_pool_drivers{ready=\"true\"}";
const NOT_READY: &str = "livy_session_pool_drivers{ready=\"false\"}";

#[tokio::test]
async fn a_pooled_driver_is_adopted_refilled_recovered_and_deleted() {
    let _slot = spark_slot().await;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let conf = vec![
        "livy.server.session.pool.size=1".to_owned(),
        format!("livy.rsc.launcher.port.range={p}~{p}", p = free_port()),
    ];
    let mut server = Server::start(&data, &conf);
    wait_metric(&server, READY, 1.0, WARM).await;
    let (_, list) = get_json(&server.url("/sessions")).await;
    assert_eq!(
        list["total"], 0,
        "pooled drivers are not users' sessions: {list}"
    );
    let pooled = app_processes(&server);
    assert_eq!(pooled.len(), 1, "one pooled driver: {pooled:?}");

    // Adopted at once: idle in the POST's own answer.
    let (code, s) = post_json(
        &server.url("/sessions"),
        &json!({"kind": "pyspark", "name": "warm"}),
    )
    .await;
    assert_eq!(code, 201, "{s}");
    assert_eq!(
        s.get("fromPool"),
        None,
        "Livy's keys only in a create's answer: {s}"
    );
    let (_, got) = get_json(&server.url(&format!("/sessions/{}", s["id"]))).await;
    assert_eq!(
        (&s["state"], &got["fromPool"], &s["kind"], &s["name"]),
        (
            &json!("idle"),
            &json!(true),
            &json!("pyspark"),
            &json!("warm")
        ),
        "{s} {got}"
    );
    let id = s["id"].as_u64().unwrap();
    let (_, list) = get_json(&server.url("/sessions")).await;
    assert_eq!(list["total"], 1, "{list}");

    // Python (the session's kind), SQL and Scala on the driver's one context.
    let st = run_statement(&server, id, json!({"code": "x = 40\nx + 1"})).await;
    assert_eq!(text(&st), "41");
    run_statement(
        &server,
        id,
        json!({"code": "spark.range(5).createOrReplaceTempView('pool_t')"}),
    )
    .await;
    let st = run_statement(
        &server,
        id,
        json!({"kind": "sql", "code": "SELECT count(*) AS n FROM pool_t"}),
    )
    .await;
    assert_eq!(
        st["output"]["data"]["application/json"]["data"],
        json!([[5]]),
        "{st}"
    );
    let st = run_statement(
        &server,
        id,
        json!({"kind": "spark", "code": "spark.table(\"pool_t\").count()"}),
    )
    .await;
    assert!(text(&st).contains("= 5"), "{st}");
    // The Job API on the adopted driver.
    let job = run_python_job(
        &server,
        id,
        "lambda ctx: ctx.sc.parallelize(range(10)).sum()",
    )
    .await;
    assert_eq!(job["state"], "SUCCEEDED", "{job}");
    assert_eq!(unpickled_result(job["result"].as_str().unwrap()), "45");
    // R, where installed, was started with the pool's driver too.
    if std::process::Command::new("R")
        .arg("--version")
        .output()
        .is_ok()
    {
        let st = run_statement(&server, id, json!({"kind": "sparkr", "code": "1 + 1"})).await;
        assert!(text(&st).contains("[1] 2"), "{st}");
        // The whole driver log (the API keeps only its tail).
        let log: String = std::fs::read_dir(server.data_dir.join("apps"))
            .unwrap()
            .flatten()
            .filter(|d| {
                d.file_name()
                    .to_string_lossy()
                    .starts_with(&format!("livy-session-{id}-"))
            })
            .map(|d| std::fs::read_to_string(d.path().join("output.log")).unwrap_or_default())
            .collect();
        assert!(
            log.contains("pooled driver: R ready"),
            "R was not started with the pool's driver: {:?}",
            log.lines()
                .filter(|l| l.contains("LivyReplDriver"))
                .collect::<Vec<_>>()
        );
    }
    assert!(
        server.log().contains("session adopted a pooled driver"),
        "the log says it came from the pool"
    );

    // The pool refills to its size.
    wait_metric(&server, "livy_session_pool_hits_total", 1.0, WARM).await;
    wait_metric(&server, READY, 1.0, WARM).await;

    // A request with launch settings of its own starts cold.
    let (code, cold) = post_json(
        &server.url("/sessions"),
        &json!({"kind": "pyspark", "conf": {"spark.livy.test.cold": "1"}}),
    )
    .await;
    assert_eq!(code, 201, "{cold}");
    let (_, got) = get_json(&server.url(&format!("/sessions/{}", cold["id"]))).await;
    assert_eq!(got["fromPool"], false, "{got}");
    assert_ne!(cold["state"], "idle", "{cold}");
    assert_eq!(
        metric(&server, "livy_session_pool_misses_total").await,
        Some(1.0)
    );
    let (code, _) = delete(&server.url(&format!("/sessions/{}", cold["id"]))).await;
    assert_eq!(code, 200);

    // kill -9 of the server: the adopted session keeps its driver and state.
    server.crash();
    let server = Server::start(&data, &conf);
    wait_state(&server.url(&format!("/sessions/{id}")), &["idle"], WARM).await;
    let st = run_statement(&server, id, json!({"code": "x + 2"})).await;
    assert_eq!(text(&st), "42", "the same Python, recovered");
    // Jobs on the recovered session (statuses of earlier ones are gone, as in Livy).
    let job = run_python_job(
        &server,
        id,
        "lambda ctx: ctx.sc.parallelize(range(4)).count()",
    )
    .await;
    assert_eq!(job["state"], "SUCCEEDED", "{job}");
    assert_eq!(unpickled_result(job["result"].as_str().unwrap()), "4");
    let (_, s) = get_json(&server.url(&format!("/sessions/{id}"))).await;
    assert_eq!((&s["fromPool"], &s["name"]), (&json!(true), &json!("warm")));
    wait_metric(&server, READY, 1.0, WARM).await;

    // Deleted: every process of its driver is gone; the pooled one stays.
    let prefix = format!("livy-session-{id}-");
    let before = app_processes(&server);
    let adopted: Vec<u32> = before
        .iter()
        .filter(|(dir, _)| dir.starts_with(&prefix))
        .flat_map(|(_, pids)| pids.clone())
        .collect();
    assert!(!adopted.is_empty(), "the adopted driver runs: {before:?}");
    let (code, _) = delete(&server.url(&format!("/sessions/{id}"))).await;
    assert_eq!(code, 200);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left: Vec<u32> = adopted.iter().copied().filter(|p| pid_alive(*p)).collect();
        if left.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the adopted driver left processes: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let after = app_processes(&server);
    assert_eq!(after.len(), 1, "the pooled driver still runs: {after:?}");
    assert!(!after[0].0.starts_with(&prefix));
}

#[tokio::test]
async fn with_max_creation_reached_by_the_pool_requests_are_rejected() {
    let _slot = spark_slot().await;
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(
        &tmp.path().join("data"),
        &[
            "livy.server.session.pool.size=1".to_owned(),
            "livy.server.session.max-creation=1".to_owned(),
            "livy.rsc.launcher.port.range=0~0".to_owned(),
        ],
    );
    // The pool's driver is starting: it holds the one creation slot.
    wait_metric(&server, NOT_READY, 1.0, WARM).await;
    for body in [
        json!({"kind": "pyspark"}),
        json!({"kind": "pyspark", "conf": {"spark.livy.test.cold": "1"}}),
    ] {
        let (code, r) = post_json(&server.url("/sessions"), &body).await;
        assert_eq!(
            (code, r["msg"].as_str()),
            (400, Some("Rejected, too many sessions are being created!")),
            "{body}: {r}"
        );
    }
    let (_, list) = get_json(&server.url("/sessions")).await;
    assert_eq!(list["total"], 0, "nothing half-made: {list}");
}

/// A pooled driver that cannot start (its spark-submit exits 1) is launched
/// again on the same record, with growing gaps: no new record per failure.
#[tokio::test]
async fn a_failing_pooled_launch_is_retried_on_one_record_with_backoff() {
    let tmp = tempfile::tempdir().unwrap();
    let home = fake_spark_home(tmp.path());
    // spark-submit runs in the sandbox: its record of attempts goes to a
    // directory the sandbox lets it write.
    let out = tmp.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let attempts = out.join("attempts");
    std::fs::write(
        home.join("bin/spark-submit"),
        format!(
            "#!/bin/sh\necho \"$(date +%s.%N) $*\" >> {}\necho 'cannot start' >&2\nexit 1\n",
            attempts.display()
        ),
    )
    .unwrap();
    let server = Server::start(
        &tmp.path().join("data"),
        &[
            format!("livy.server.spark-home={}", home.display()),
            "livy.server.session.pool.size=1".to_owned(),
            "livy.rsc.launcher.port.range=0~0".to_owned(),
            format!(
                "livy.server.launch.sandbox.writable-paths={}",
                out.display()
            ),
        ],
    );
    // Gaps of 2, 4 and 8 s (plus a poll each) come before the fourth attempt.
    let deadline = Instant::now() + Duration::from_secs(90);
    let lines = loop {
        let text = std::fs::read_to_string(&attempts).unwrap_or_default();
        // The class-data training run calls spark-submit too: only drivers.
        let lines: Vec<String> = text
            .lines()
            .filter(|l| l.contains("spark.livy.session.id="))
            .map(str::to_owned)
            .collect();
        if lines.len() >= 4 {
            break lines;
        }
        assert!(
            Instant::now() < deadline,
            "only {} attempts: {text}\n{}",
            lines.len(),
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let ids: Vec<&str> = lines
        .iter()
        .map(|l| {
            l.split_whitespace()
                .find_map(|a| a.strip_prefix("spark.livy.session.id="))
                .unwrap()
        })
        .collect();
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "every attempt on one record: {ids:?}"
    );
    let at: Vec<f64> = lines
        .iter()
        .map(|l| l.split_whitespace().next().unwrap().parse().unwrap())
        .collect();
    let gaps: Vec<f64> = at.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps[0] >= 1.9, "the first retry waits 2 s: {gaps:?}");
    assert!(
        gaps.windows(2).all(|g| g[1] > g[0] * 1.5),
        "gaps grow: {gaps:?}"
    );
    assert_eq!(
        server
            .log()
            .matches("starting a pooled session driver")
            .count(),
        1,
        "one pooled record was created"
    );
    // The failing driver is hidden, as pooled drivers are; it holds no
    // creation slot while it waits, so users' sessions can start.
    let (_, list) = get_json(&server.url("/sessions")).await;
    assert_eq!(list["total"], 0, "{list}");
}
