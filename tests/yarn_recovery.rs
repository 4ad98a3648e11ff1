//! Recovery and outages on a real YARN (Hadoop's minicluster, one per test
//! binary: `tests/common/yarn.rs`). A server killed with SIGKILL while its
//! applications run on YARN finds them again by their tags; a
//! ResourceManager that goes away costs no application its state, and one
//! that comes back without them ends them as Livy would.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;
#[path = "common/yarn.rs"]
mod yarn;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};
use yarn::{LONG, app_id, create, small, yarn};

/// `livy.server.yarn.app-lookup-timeout` of the outage test.
const LOOKUP: Duration = Duration::from_secs(20);

/// A PySpark application that runs until the file named by its argument
/// exists (at most ten minutes): the test decides when it finishes. The
/// driver runs in a container on this host, so it sees the test's files.
const WAITS_PY: &str = r#"import os, sys, time
from pyspark import SparkContext
sc = SparkContext()
print("sum", sc.parallelize(range(10), 1).sum(), flush=True)
deadline = time.time() + 600
while not os.path.exists(sys.argv[1]):
    if time.time() > deadline:
        raise SystemExit("gave up waiting for " + sys.argv[1])
    time.sleep(0.5)
sc.stop()
"#;

/// A cluster-mode server on `port` with its data under `dir/data`; the same
/// `port` and `dir` make a restart of the same server.
fn server(dir: &Path, port: u16, extra: &[String]) -> Server {
    yarn::server(port, &dir.join("data"), dir, "cluster", extra)
}

/// Writes the waiting application into `dir`; its script and the file that
/// ends it.
fn waiting_app(dir: &Path, name: &str) -> (Value, PathBuf) {
    let script = dir.join("waits.py");
    std::fs::write(&script, WAITS_PY).unwrap();
    let go = dir.join(format!("{name}.go"));
    let body = small(json!({"file": script, "args": [go], "name": name}));
    (body, go)
}

/// The one tag the server gave the application (`livy-…`), from the RM.
async fn livy_tag(app_id: &str) -> String {
    let app = yarn().app(app_id).await;
    let tags = app["applicationTags"].as_str().unwrap_or_default();
    let tag = tags.split(',').find(|t| t.starts_with("livy-"));
    tag.unwrap_or_else(|| panic!("no livy tag: {app}"))
        .to_owned()
}

/// SIGKILL of the server while a batch and a session run on YARN; the
/// restarted server (same data dir, same port) re-attaches to both: the
/// batch is followed to `success` under the same application, never
/// submitted again, and the session's driver dials back with its
/// interpreter state and statement history.
#[tokio::test]
async fn a_killed_server_finds_its_yarn_applications_again() {
    let _slot = spark_slot().await;
    let y = yarn();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let port = free_port();
    let mut before = server(dir, port, &[]);

    let (batch, go) = waiting_app(dir, "recovered-batch");
    let (_, batch_url) = create(&before, "/batches", &batch).await;
    let (sid, session_url) = create(&before, "/sessions", &small(json!({"kind": "pyspark"}))).await;
    let batch_app = app_id(&batch_url).await;
    let session_app = app_id(&session_url).await;
    wait_state(&session_url, &["idle"], LONG).await;
    let st = run_statement(&before, sid, json!({"code": "x = 41\nx"})).await;
    assert_eq!(text(&st), "41");
    wait_state(&batch_url, &["running"], LONG).await;
    assert_eq!(y.app(&batch_app).await["state"], "RUNNING");

    before.crash();
    let after = server(dir, port, &[]);

    // The session: same application, the variable and the numbering kept.
    let st = run_statement(&after, sid, json!({"code": "x + 1"})).await;
    assert_eq!(st["id"], 1, "statement ids continue: {st}");
    assert_eq!(text(&st), "42", "the interpreter's variables survived");
    let (_, s) = get_json(&session_url).await;
    assert_eq!(s["appId"], session_app.as_str(), "{s}");
    assert_eq!(s["state"], "idle", "{s}");

    // The batch: still running under its application, then done.
    let (_, b) = get_json(&batch_url).await;
    assert_eq!(b["appId"], batch_app.as_str(), "{b}");
    assert_eq!(b["state"], "running", "{b}");
    std::fs::write(&go, "").unwrap();
    let done = wait_state(&batch_url, &["success"], LONG).await;
    assert_eq!(done["appId"], batch_app.as_str(), "{done}");
    let app = y.wait_app(&batch_app, &["FINISHED"], LONG).await;
    assert_eq!(app["finalStatus"], "SUCCEEDED", "{app}");
    // Never submitted again: YARN knows one application with its tag.
    let tag = livy_tag(&batch_app).await;
    let tagged = y.apps_tagged(&tag).await;
    assert_eq!(tagged.len(), 1, "{tag}: {tagged:?}");

    let (code, _) = delete(&session_url).await;
    assert_eq!(code, 200);
    let app = y
        .wait_app(&session_app, &["FINISHED", "KILLED"], LONG)
        .await;
    assert_ne!(app["finalStatus"], "FAILED", "{app}");
}

/// The ResourceManager stops while a batch runs: the record stays
/// `running` through more than the lookup timeout of failed lists, and once
/// the RM is back (recovering its applications) the batch is followed to
/// its end. An RM that comes back without the application (an empty state
/// store: no recovery) ends the batch `dead` once it has been missing for the
/// lookup timeout, with Livy's reason in its log.
#[tokio::test]
async fn a_resource_manager_outage_is_waited_out() {
    let _slot = spark_slot().await;
    let y = yarn();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let lookup = format!("livy.server.yarn.app-lookup-timeout={}s", LOOKUP.as_secs());
    let server = server(dir, free_port(), &[lookup]);

    let (batch, go) = waiting_app(dir, "outage-batch");
    let (_, url) = create(&server, "/batches", &batch).await;
    let id = app_id(&url).await;
    wait_state(&url, &["running"], LONG).await;

    y.rm_stop();
    let down = Instant::now();
    // Failed lists for longer than the lookup timeout: nothing changes.
    while down.elapsed() < LOOKUP + Duration::from_secs(5) {
        let (code, b) = get_json(&url).await;
        assert_eq!(code, 200, "{b}");
        assert_eq!(b["state"], "running", "the RM is only unreachable: {b}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        server.log().contains("cannot observe applications"),
        "the server never failed to reach the RM:\n{}",
        server.log()
    );

    y.rm_start(false);
    y.wait_app(&id, &["RUNNING"], LONG).await;
    std::fs::write(&go, "").unwrap();
    let done = wait_state(&url, &["success"], LONG).await;
    assert_eq!(done["appId"], id.as_str(), "{done}");

    // Forgotten by the RM: dead after the lookup timeout, and why.
    let (batch, go) = waiting_app(dir, "forgotten-batch");
    let (_, url) = create(&server, "/batches", &batch).await;
    let id = app_id(&url).await;
    wait_state(&url, &["running"], LONG).await;
    y.rm_stop();
    y.rm_start(true);
    let back = Instant::now();
    let dead = wait_state(&url, &["dead"], LONG).await;
    std::fs::write(&go, "").unwrap();
    assert_eq!(dead["appId"], id.as_str(), "{dead}");
    // Counted from when it went missing, not from its submission (long
    // past): a ResourceManager that is still recovering does not end it.
    // The first list without it may come before `rm_start` returns.
    let waited = back.elapsed();
    assert!(
        waited + Duration::from_secs(5) >= LOOKUP,
        "dead {waited:?} after the RM came back"
    );
    let log = full_log(&url).await.join("\n");
    assert!(
        log.contains(&format!("the cluster no longer lists {id}"))
            && log.contains("No YARN application is found with tag"),
        "{log}"
    );
}
