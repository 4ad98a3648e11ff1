//! The `livy-supervise` executable the launcher prefers: output to the log,
//! the exit status recorded, and a signal to its process group survived by
//! the supervisor (which records how the child ended) but not by the child.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

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
    let status = Command::new(SUPERVISE)
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
    let mut sup = Command::new(SUPERVISE)
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

#[test]
fn the_child_starts_with_no_signal_blocked_or_ignored() {
    let (_dir, app, status) = supervise(&["cat", "/proc/self/status"]);
    assert!(status.success());
    let log = std::fs::read_to_string(app.join("output.log")).unwrap();
    let mask = |name: &str| {
        let line = log
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in {log}"));
        u64::from_str_radix(line[name.len()..].trim(), 16).unwrap()
    };
    // The supervisor blocks SIGTERM/SIGINT/SIGHUP and (as Rust does) ignores
    // SIGPIPE. Signals 1-31 only: glibc's posix_spawn leaves its own internal
    // real-time signals (32, 33) ignored, as for any program it spawns.
    let standard = (1u64 << 31) - 1;
    assert_eq!(mask("SigBlk:") & standard, 0, "{log}");
    assert_eq!(mask("SigIgn:") & standard, 0, "{log}");
}
