//! R on real Spark through the real binary: `sparkr` sessions on this
//! project's SparkR package and Spark's own RBackend, R closures in R workers
//! (local mode and a standalone master + worker), DataFrames, SQL shared with
//! Python, errors, plots, cancel, completion, warnings, and an R batch.
//! `hack/test.sh` runs this binary on Spark 4 and 3.5.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::time::{Duration, Instant};

use base64::Engine;
use common::*;
use serde_json::{Value, json};

const START: Duration = Duration::from_secs(300);

/// The seed's SparkR pi (shared/seed), with `slices` defined first.
const SEED_PI: &str = r#"slices <- 2
n <- 100000
piFunc <- function(elem) {
rands <- runif(n = 2, min = -1, max = 1)
val <- ifelse((rands[1]^2 + rands[2]^2) < 1, 1.0, 0.0)
val
}
piFuncVec <- function(elems) {
message(length(elems))
rands1 <- runif(n = length(elems), min = -1, max = 1)
rands2 <- runif(n = length(elems), min = -1, max = 1)
val <- ifelse((rands1^2 + rands2^2) < 1, 1.0, 0.0)
sum(val)
}
rdd <- parallelize(sc, 1:n, slices)
count <- reduce(lapplyPartition(rdd, piFuncVec), sum)
cat("Pi is roughly", 4.0 * count / n, "\n")
"#;

/// Which processes ran the closures: the R worker pids, against the REPL's own.
const WORKER_PIDS: &str = r#"pids <- unlist(collect(lapplyPartition(parallelize(sc, 1:4, 2), function(p) Sys.getpid())))
cat(length(pids) > 0 && !(Sys.getpid() %in% pids))"#;

fn conf() -> Vec<String> {
    vec!["livy.rsc.launcher.port.range=0~0".into()]
}

async fn create(server: &Server, body: Value) -> u64 {
    let (code, s) = post_json(&server.url("/sessions"), &body).await;
    assert_eq!(code, 201, "{s}");
    let id = s["id"].as_u64().unwrap();
    wait_state(&server.url(&format!("/sessions/{id}")), &["idle"], START).await;
    id
}

async fn r(server: &Server, id: u64, code: &str) -> Value {
    run_statement(server, id, json!({"code": code, "kind": "sparkr"})).await
}

/// Every process under the server's applications whose command line has `needle`.
fn processes_with(server: &Server, needle: &str) -> Vec<String> {
    let mut found = vec![];
    for dir in std::fs::read_dir(server.data_dir.join("apps"))
        .unwrap()
        .flatten()
    {
        let Ok(bytes) = std::fs::read(dir.path().join("supervisor.json")) else {
            continue;
        };
        let sup: Value = serde_json::from_slice(&bytes).unwrap();
        let pid = sup["pid"].as_u64().unwrap() as u32;
        for p in std::iter::once(pid).chain(descendants(pid)) {
            let line = cmdline(p);
            if line.contains(needle) {
                found.push(line);
            }
        }
    }
    found
}

#[tokio::test]
async fn sparkr_session_runs_the_seed_pi_dataframes_errors_plots_cancel_and_completion() {
    let _slot = spark_slot().await;
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), &conf());
    // The seed's clients spell the kind `sparkR`.
    let id = create(&server, json!({"kind": "sparkR"})).await;
    let (_, s) = get_json(&server.url(&format!("/sessions/{id}"))).await;
    assert_eq!(s["kind"], "sparkr");

    let st = r(&server, id, "1 + 1").await;
    assert_eq!(text(&st), "[1] 2");
    for name in ["sc", "spark", "sqlContext"] {
        let st = r(&server, id, &format!("cat(exists(\"{name}\"))")).await;
        assert_eq!(text(&st), "TRUE", "{name} is not bound");
    }

    let st = r(&server, id, SEED_PI).await;
    let out = text(&st);
    assert!(out.contains("Pi is roughly 3.1"), "{out}");
    let st = r(&server, id, WORKER_PIDS).await;
    assert_eq!(text(&st), "TRUE", "closures ran in the REPL's own process");
    let workers = processes_with(&server, "SparkR/worker/daemon.R");
    assert!(!workers.is_empty(), "no R worker daemon under the driver");

    // A data.frame round trip, with the rows checked against base R's own answer.
    let st = r(
        &server,
        id,
        "df <- createDataFrame(mtcars)\nfast <- collect(filter(df, df$mpg > 25))\ncat(nrow(fast), sort(fast$mpg), identical(sort(fast$mpg), sort(subset(mtcars, mpg > 25)$mpg)))",
    )
    .await;
    assert_eq!(text(&st), "6 26 27.3 30.4 30.4 32.4 33.9 TRUE");
    let st = r(
        &server,
        id,
        "cat(unlist(collect(toJSON(df))), sep = \"\\n\")",
    )
    .await;
    let lines: Vec<Value> = text(&st)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(lines.len(), 32);
    assert_eq!(lines[0]["mpg"], 21.0);
    assert_eq!(lines[0]["cyl"], 6.0);

    // stdout, messages and printed values in order; warnings to the log only.
    let st = r(
        &server,
        id,
        "cat(\"one\\n\")\nmessage(\"two\")\nwarning(\"livy-r-warning\")\nprint(3)",
    )
    .await;
    assert_eq!(text(&st), "one\ntwo\n[1] 3");
    let log = full_log(&server.url(&format!("/sessions/{id}"))).await;
    assert!(
        log.iter().any(|l| l.contains("livy-r-warning")),
        "the warning is not in the session log"
    );

    let st = r(&server, id, "f <- function() stop(\"livy-r-error\")\nf()").await;
    assert_eq!(st["output"]["status"], "error", "{st}");
    assert!(
        st["output"]["evalue"]
            .as_str()
            .unwrap()
            .contains("livy-r-error"),
        "{st}"
    );

    let st = r(&server, id, "plot(1:10)").await;
    let png = st["output"]["data"]["image/png"]
        .as_str()
        .unwrap_or_else(|| panic!("no image/png: {st}"));
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(png)
        .unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");

    let (_, st) = post_json(
        &server.url(&format!("/sessions/{id}/statements")),
        &json!({"code": "Sys.sleep(600)", "kind": "sparkr"}),
    )
    .await;
    let sid = st["id"].as_u64().unwrap();
    wait_statement(&server, id, sid, &["running"], START).await;
    let asked = Instant::now();
    let (code, _) = post_json(
        &server.url(&format!("/sessions/{id}/statements/{sid}/cancel")),
        &json!({}),
    )
    .await;
    assert_eq!(code, 200);
    wait_statement(&server, id, sid, &["cancelled"], Duration::from_secs(5)).await;
    assert!(asked.elapsed() < Duration::from_secs(5));
    let st = r(&server, id, "cat(nrow(collect(df)))").await;
    assert_eq!(text(&st), "32", "the session is usable after a cancel");

    let (code, body) = post_json(
        &server.url(&format!("/sessions/{id}/completion")),
        &json!({"code": "createDataFr", "kind": "sparkr", "cursor": 12}),
    )
    .await;
    assert_eq!(code, 200);
    let candidates: Vec<&str> = body["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(candidates.contains(&"createDataFrame"), "{body}");

    let pids = processes_with(&server, "");
    assert!(!pids.is_empty());
    let (code, _) = delete(&server.url(&format!("/sessions/{id}"))).await;
    assert_eq!(code, 200);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !processes_with(&server, "SparkR/worker").is_empty() {
        assert!(
            Instant::now() < deadline,
            "R workers outlived their session"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn r_and_python_see_each_others_tables_in_a_shared_session() {
    let _slot = spark_slot().await;
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), &conf());
    let id = create(&server, json!({"kind": "shared"})).await;
    run_statement(
        &server,
        id,
        json!({"kind": "pyspark", "code": "spark.createDataFrame([(1, 'a'), (2, 'b'), (3, 'c')], ['n', 's']).createOrReplaceTempView('from_python')"}),
    )
    .await;
    let st = r(
        &server,
        id,
        "cat(collect(sql(\"SELECT sum(n) AS t FROM from_python\"))$t)",
    )
    .await;
    assert_eq!(text(&st), "6");
    r(
        &server,
        id,
        "createOrReplaceTempView(createDataFrame(data.frame(k = c(\"x\", \"y\"), v = c(10, 32))), \"from_r\")",
    )
    .await;
    let st = run_statement(
        &server,
        id,
        json!({"kind": "pyspark", "code": "spark.sql('SELECT sum(v) AS t FROM from_r').first()['t']"}),
    )
    .await;
    assert_eq!(text(&st), "42.0");
    let st = run_statement(
        &server,
        id,
        json!({"kind": "sql", "code": "SELECT k FROM from_r ORDER BY k"}),
    )
    .await;
    assert_eq!(
        st["output"]["data"]["application/json"]["data"],
        json!([["x"], ["y"]])
    );
    let (code, _) = delete(&server.url(&format!("/sessions/{id}"))).await;
    assert_eq!(code, 200);
}

#[tokio::test]
async fn the_seed_pi_runs_its_closures_in_r_workers_on_a_standalone_executor() {
    let _slot = spark_slot().await;
    let cluster = Standalone::start();
    let tmp = tempfile::tempdir().unwrap();
    let mut c = conf();
    c.push(format!("livy.spark.master={}", cluster.master_url));
    c.push(format!(
        "livy.server.spark.master-ui={}",
        cluster.ui_address
    ));
    let server = Server::start(&tmp.path().join("data"), &c);
    let id = create(&server, json!({"kind": "sparkr"})).await;
    let st = r(&server, id, SEED_PI).await;
    assert!(text(&st).contains("Pi is roughly 3.1"), "{st}");
    let st = r(&server, id, WORKER_PIDS).await;
    assert_eq!(text(&st), "TRUE");
    // The executor is a JVM of the standalone worker, not of the session: its
    // R daemon runs there.
    let executors: Vec<String> = procfs_all()
        .into_iter()
        .filter(|(_, line)| line.contains("SparkR/worker/daemon.R"))
        .map(|(_, line)| line)
        .collect();
    assert!(!executors.is_empty(), "no R worker daemon on the executor");
    assert!(
        processes_with(&server, "SparkR/worker/daemon.R").is_empty(),
        "the R daemon ran under the driver, not on the executor"
    );
    let (code, _) = delete(&server.url(&format!("/sessions/{id}"))).await;
    assert_eq!(code, 200);
}

/// Every process on the machine: (pid, command line).
fn procfs_all() -> Vec<(u32, String)> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .map(|pid| (pid, cmdline(pid)))
        .collect()
}

#[tokio::test]
async fn an_r_batch_uses_the_sparkr_package() {
    let _slot = spark_slot().await;
    let tmp = tempfile::tempdir().unwrap();
    let apps = tmp.path().join("apps");
    std::fs::create_dir_all(&apps).unwrap();
    let script = apps.join("count.R");
    std::fs::write(
        &script,
        "library(SparkR)\nspark <- sparkR.session()\ndf <- createDataFrame(data.frame(x = 1:10))\ncat(\"ROWS\", count(filter(df, df$x > 3)), \"\\n\")\nsquares <- unlist(spark.lapply(1:3, function(i) i * i))\ncat(\"SQUARES\", squares, \"\\n\")\nsparkR.session.stop()\n",
    )
    .unwrap();
    let mut c = conf();
    c.push(format!("livy.file.local-dir-whitelist={}", apps.display()));
    let server = Server::start(&tmp.path().join("data"), &c);
    let (code, b) = post_json(
        &server.url("/batches"),
        &json!({"file": script.display().to_string()}),
    )
    .await;
    assert_eq!(code, 201, "{b}");
    let id = b["id"].as_u64().unwrap();
    let url = server.url(&format!("/batches/{id}"));
    wait_state(&url, &["success"], START).await;
    let log = full_log(&url).await;
    assert!(log.iter().any(|l| l.contains("ROWS 7")), "{log:?}");
    assert!(log.iter().any(|l| l.contains("SQUARES 1 4 9")), "{log:?}");
}
