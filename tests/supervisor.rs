//! The `livy-supervise` executable the launcher prefers: output to the log,
//! the exit status recorded, and a signal to its process group survived by
//! the supervisor (which records how the child ended) but not by the child.
//! Each supervisor starts as a script's `&` and `nohup` would start it
//! (SIGHUP, SIGINT, SIGQUIT ignored), whatever started the tests; and a
//! server started that way gives its supervisors and their children every
//! signal at its default.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{INHERITED_IGNORED, NOT_RESERVED, ignoring_signals, sig_bit, signal_mask};
use nix::sys::signal::Signal;
use serde_json::{Value, json};

const SUPERVISE: &str = env!("CARGO_BIN_EXE_livy-supervise");

fn json(path: &Path) -> Option<Value> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

fn wait_for(path: &Path) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = json(path) {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs the supervisor over `argv` in a fresh app directory to the end.
fn supervise(
    argv: &[&str],
) -> (
    tempfile::TempDir,
    std::path::PathBuf,
    std::process::ExitStatus,
) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let app = dir.path().join("app");
    let status = ignoring_signals(SUPERVISE)
        .arg("--dir")
        .arg(&app)
        .arg("--")
        .args(argv)
        .status()
        .expect("the supervisor runs");
    (dir, app, status)
}

#[test]
fn output_and_exit_status_are_recorded() {
    let (_dir, app, status) = supervise(&["sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert_eq!(
        status.code(),
        Some(3),
        "the supervisor exits as its child did"
    );
    let exit = json(&app.join("exit.json")).unwrap();
    assert_eq!(
        (exit["code"].as_i64(), exit["signal"].is_null()),
        (Some(3), true)
    );
    let sup = json(&app.join("supervisor.json")).unwrap();
    assert!(
        sup["childPid"].as_u64().is_some() && sup["startTime"].as_u64().is_some(),
        "{sup}"
    );
    let log = std::fs::read_to_string(app.join("output.log")).unwrap();
    assert!(log.contains("out\n") && log.contains("err\n"), "{log}");
}

#[test]
fn a_sigterm_to_the_group_ends_the_child_and_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app");
    let mut sup = ignoring_signals(SUPERVISE)
        .args(["--dir", app.to_str().unwrap(), "--", "sleep", "600"])
        .spawn()
        .unwrap();
    let record = wait_for(&app.join("supervisor.json"));
    let pid = record["pid"].as_i64().unwrap() as i32;
    assert_eq!(pid as u32, sup.id());
    // The supervisor leads its own session and group: signal all of it.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(-pid),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let exit = wait_for(&app.join("exit.json"));
    assert_eq!(exit["signal"].as_i64(), Some(15), "{exit}");
    let status = sup.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(1),
        "the supervisor itself was not killed by it"
    );
}

/// The three signals [`ignoring_signals`] ignores.
fn inherited() -> u64 {
    sig_bit(Signal::SIGHUP) | sig_bit(Signal::SIGINT) | sig_bit(Signal::SIGQUIT)
}

/// What the tests below rely on: a program started by [`ignoring_signals`]
/// has SIGHUP, SIGINT and SIGQUIT ignored.
#[test]
fn the_test_setup_ignores_what_a_script_would() {
    assert_eq!(INHERITED_IGNORED, "HUP INT QUIT");
    let out = ignoring_signals("cat")
        .arg("/proc/self/status")
        .output()
        .unwrap();
    let status = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        signal_mask(&status, "SigIgn") & inherited(),
        inherited(),
        "{status}"
    );
}

#[test]
fn the_child_starts_with_no_signal_blocked_or_ignored() {
    let (_dir, app, status) = supervise(&["cat", "/proc/self/status"]);
    assert!(status.success());
    let log = std::fs::read_to_string(app.join("output.log")).unwrap();
    // The supervisor itself was started with SIGHUP, SIGINT, SIGQUIT ignored,
    // blocks SIGTERM/SIGINT/SIGHUP and (as Rust does) ignores SIGPIPE; the
    // child gets none of that, real-time signals included.
    assert_eq!(signal_mask(&log, "SigBlk"), 0, "{log}");
    assert_eq!(signal_mask(&log, "SigIgn") & NOT_RESERVED, 0, "{log}");
}

/// A server started with SIGHUP, SIGINT, SIGQUIT ignored says so once in its
/// log; the supervisor it starts ignores only SIGPIPE (Rust's runtime does
/// that itself), and spark-submit (the stand-in: Python, which ignores
/// SIGPIPE and SIGXFSZ itself) gets nothing else ignored or blocked.
#[test]
fn a_server_started_with_signals_ignored_starts_applications_with_defaults() {
    let tmp = tempfile::tempdir().unwrap();
    let home = common::fake_spark_home(tmp.path());
    let app = tmp.path().join("app.py");
    std::fs::write(&app, "").unwrap();
    let server = common::Server::start_ignoring(
        &tmp.path().join("data"),
        &[
            format!("livy.server.spark-home={}", home.display()),
            format!("livy.file.local-dir-whitelist={}", tmp.path().display()),
        ],
    );
    let log = server.log();
    let said: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("inherited_ignored_signals"))
        .collect();
    assert_eq!(said.len(), 1, "{log}");
    assert!(
        said[0].contains("inherited_ignored_signals=SIGHUP,SIGINT,SIGQUIT"),
        "{log}"
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (code, batch) = rt.block_on(common::post_json(
        &server.url("/batches"),
        &json!({"file": app, "conf": {"spark.livy.fake.seconds": "60"}}),
    ));
    assert_eq!(code, 201, "{batch}");
    let id = batch["id"].as_u64().unwrap();
    // Wait for the supervisor to announce its child, and for the stand-in
    // (`sh` exec'ing Python) to print its first line: Python has then set up
    // its own signal dispositions.
    let deadline = Instant::now() + Duration::from_secs(60);
    let (sup, child) = loop {
        let found = common::app_processes(&server)
            .into_iter()
            .find_map(|(tag, _)| {
                let app = server.data_dir.join("apps").join(&tag);
                let record = json(&app.join("supervisor.json"))?;
                let log = std::fs::read_to_string(app.join("output.log")).ok()?;
                log.contains("fake spark-submit ")
                    .then_some((record["pid"].as_u64()?, record["childPid"].as_u64()?))
            });
        if let Some(pids) = found {
            break pids;
        }
        assert!(Instant::now() < deadline, "batch {id} never started");
        std::thread::sleep(Duration::from_millis(50));
    };
    let status_of = |pid: u64| std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let sup_status = status_of(sup);
    assert_eq!(
        signal_mask(&sup_status, "SigIgn") & NOT_RESERVED,
        sig_bit(Signal::SIGPIPE),
        "the supervisor: {sup_status}"
    );
    // spark-submit itself (the supervisor's child may be the sandbox that
    // runs it).
    let child = std::iter::once(child as u32)
        .chain(common::descendants(child as u32))
        .find(|p| common::cmdline(*p).contains("fake_spark_submit"))
        .unwrap_or(child as u32);
    let child_status = status_of(child as u64);
    assert_eq!(
        signal_mask(&child_status, "SigIgn") & NOT_RESERVED,
        sig_bit(Signal::SIGPIPE) | sig_bit(Signal::SIGXFSZ),
        "spark-submit: {child_status}"
    );
    assert_eq!(signal_mask(&child_status, "SigBlk"), 0, "{child_status}");
    let (code, _) = rt.block_on(common::delete(&server.url(&format!("/batches/{id}"))));
    assert_eq!(code, 200);
}
