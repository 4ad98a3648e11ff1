//! Issue 33 on real Spark: a server started as a script's `&` and `nohup`
//! start it (SIGHUP, SIGINT, SIGQUIT ignored) gives its session's driver JVM,
//! Python child and what user code starts their signals at the defaults
//! (before the fix the JVM and Python ignored SIGHUP and Python had SIGQUIT
//! blocked), and cancel works on a busy Python loop and a running Spark job.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::Signal;
use serde_json::json;

const START: Duration = Duration::from_secs(240);

fn status(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap()
}

/// The one process of the session whose command line contains `needle`
/// and whose parent is `parent` (if given).
fn process(server: &Server, needle: &str, parent: Option<u32>) -> u32 {
    let found: Vec<u32> = app_processes(server)
        .into_iter()
        .flat_map(|(_, pids)| pids)
        .filter(|&p| cmdline(p).contains(needle))
        .filter(|&p| {
            parent.is_none_or(|want| {
                livy_server::launcher::procfs::stat(p).is_some_and(|(_, ppid, _)| ppid == want)
            })
        })
        .collect();
    assert_eq!(found.len(), 1, "one process with {needle}: {found:?}");
    found[0]
}

async fn cancel(server: &Server, id: u64, sid: u64) {
    let (code, body) = post_json(
        &server.url(&format!("/sessions/{id}/statements/{sid}/cancel")),
        &json!({}),
    )
    .await;
    assert_eq!((code, body), (200, json!({"msg": "canceled"})));
}

#[tokio::test]
async fn a_server_started_with_signals_ignored_gives_its_session_defaults_and_cancels() {
    let _slot = spark_slot().await;
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_ignoring(
        &tmp.path().join("data"),
        &["livy.rsc.launcher.port.range=0~0".into()],
    );
    let hup_int_quit = sig_bit(Signal::SIGHUP) | sig_bit(Signal::SIGINT) | sig_bit(Signal::SIGQUIT);
    // The setup: the server still ignores SIGHUP and SIGQUIT (it catches
    // SIGINT to shut down) and said what it inherited.
    let own = status(server.child.id());
    let quiet = sig_bit(Signal::SIGHUP) | sig_bit(Signal::SIGQUIT);
    assert_eq!(signal_mask(&own, "SigIgn") & quiet, quiet, "{own}");
    assert!(
        server
            .log()
            .contains("inherited_ignored_signals=SIGHUP,SIGINT,SIGQUIT"),
        "{}",
        server.log()
    );

    let (code, session) = post_json(&server.url("/sessions"), &json!({"kind": "pyspark"})).await;
    assert_eq!(code, 201, "{session}");
    let id = session["id"].as_u64().unwrap();
    wait_state(&server.url(&format!("/sessions/{id}")), &["idle"], START).await;

    // The driver JVM ignores nothing and, given the defaults, catches SIGHUP
    // and SIGINT (shutdown hooks) and SIGQUIT (thread dumps) itself.
    let jvm_pid = process(&server, "org.apache.spark.deploy.SparkSubmit", None);
    let jvm = status(jvm_pid);
    assert_eq!(signal_mask(&jvm, "SigIgn") & NOT_RESERVED, 0, "{jvm}");
    assert_eq!(
        signal_mask(&jvm, "SigCgt") & hup_int_quit,
        hup_int_quit,
        "{jvm}"
    );
    // The Python child ignores only what Python itself ignores (SIGPIPE,
    // SIGXFSZ) and blocks nothing (the JVM hands it SIGQUIT blocked; it
    // unblocks it).
    let python = status(process(&server, "livy_repl.py", Some(jvm_pid)));
    assert_eq!(
        signal_mask(&python, "SigIgn") & NOT_RESERVED,
        sig_bit(Signal::SIGPIPE) | sig_bit(Signal::SIGXFSZ),
        "{python}"
    );
    assert_eq!(signal_mask(&python, "SigBlk"), 0, "{python}");
    // What user code starts (Python's subprocess restores SIGPIPE and
    // SIGXFSZ) ignores and blocks nothing.
    let st = run_statement(
        &server,
        id,
        json!({"code": "import subprocess\nprint(subprocess.run(['cat', '/proc/self/status'], capture_output=True, text=True).stdout)"}),
    )
    .await;
    let grandchild = text(&st);
    assert_eq!(
        signal_mask(&grandchild, "SigIgn") & NOT_RESERVED,
        0,
        "{grandchild}"
    );
    assert_eq!(signal_mask(&grandchild, "SigBlk"), 0, "{grandchild}");

    // A busy Python loop is interrupted (not its child replaced, which the
    // job-cancel timeout would do after 30 s): `n` is still there after.
    let (_, st) = post_json(
        &server.url(&format!("/sessions/{id}/statements")),
        &json!({"code": "n = 0\nwhile True:\n    n += 1"}),
    )
    .await;
    let sid = st["id"].as_u64().unwrap();
    wait_statement(&server, id, sid, &["running"], START).await;
    let asked = Instant::now();
    cancel(&server, id, sid).await;
    wait_statement(&server, id, sid, &["cancelled"], Duration::from_secs(20)).await;
    assert!(asked.elapsed() < Duration::from_secs(20));
    let st = run_statement(&server, id, json!({"code": "n > 0"})).await;
    assert_eq!(text(&st), "True");

    // A running Spark job is cancelled, and the next statement runs.
    let sid = start_slow_spark_job(&server, id, START).await;
    let asked = Instant::now();
    cancel(&server, id, sid).await;
    wait_statement(&server, id, sid, &["cancelled"], Duration::from_secs(20)).await;
    assert!(asked.elapsed() < Duration::from_secs(20));
    let st = run_statement(&server, id, json!({"code": "'after cancel'"})).await;
    assert_eq!(text(&st), "'after cancel'");

    let asked = Instant::now();
    let (code, body) = delete(&server.url(&format!("/sessions/{id}"))).await;
    assert_eq!(
        (code, body),
        (200, json!({"msg": "deleted"})),
        "after {:?}; {}",
        asked.elapsed(),
        server.log()
    );
}
