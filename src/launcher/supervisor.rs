//! The supervisor: `livy-server supervise --dir D -- <argv>`, a tiny process
//! between the server and spark-submit.
//!
//! It starts its own session (so a server crash or a terminal's signals do not
//! reach the application), runs the child with stdout and stderr appended to
//! `D/output.log` (files, not pipes the server holds), writes its PID, start
//! time and the child's PID to `D/supervisor.json`, and the exit status to
//! `D/exit.json`. It runs as the small `livy-supervise` executable when that
//! sits beside `livy-server` (one starts per application). A
//! restarted server reads those files to re-attach, so the application
//! outlives the server.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::process::Stdio;

use nix::sys::signal::{SigSet, Signal};

use super::files::{AppFiles, ExitRecord, SupervisorRecord};
use super::procfs;

/// The signals a process group gets from a terminal or a `kill` of the group:
/// blocked in the supervisor (it outlives them and records how the child
/// ended), unblocked in the child before it runs.
fn group_signals() -> SigSet {
    let mut set = SigSet::empty();
    for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        set.add(s);
    }
    set
}

/// Runs the supervisor; returns the exit code for the supervisor process.
/// Plain threads and blocking calls: it starts for every application, so it
/// starts small (no async runtime).
pub fn run(dir: &Path, argv: &[String]) -> i32 {
    // Fails only if we already lead a group, which a fresh child does not.
    let _ = nix::unistd::setsid();
    let files = AppFiles::new(dir.to_owned());
    if let Err(e) = std::fs::create_dir_all(dir) {
        eprintln!(
            "livy-server supervise: cannot create {}: {e}",
            dir.display()
        );
        return 125;
    }
    let signals = group_signals();
    if let Err(e) = signals.thread_block() {
        log_line(&files, &format!("livy-server: cannot block signals: {e}"));
        return 125;
    }
    let me = std::process::id();
    let start_time = procfs::stat(me).map(|(_, _, s)| s).unwrap_or(0);
    let exit = match spawn_child(&files, argv, signals) {
        Err(error) => {
            let text = format!(
                "livy-server: failed to start {}: {error}",
                argv.first().map(String::as_str).unwrap_or("?")
            );
            log_line(&files, &text);
            ExitRecord {
                code: None,
                signal: None,
                error: Some(text),
            }
        }
        Ok(mut child) => {
            let record = SupervisorRecord {
                pid: me,
                start_time,
                child_pid: Some(child.id()),
            };
            if let Err(e) = files.write_supervisor(&record) {
                // Untracked, the application could never be followed or stopped.
                log_line(
                    &files,
                    &format!("livy-server: cannot record the supervisor: {e}"),
                );
                let _ = child.kill();
                let _ = child.wait();
                return 125;
            }
            match child.wait() {
                Ok(s) => {
                    use std::os::unix::process::ExitStatusExt;
                    ExitRecord {
                        code: s.code(),
                        signal: s.signal(),
                        error: None,
                    }
                }
                Err(e) => ExitRecord {
                    code: None,
                    signal: None,
                    error: Some(format!("livy-server: lost the child: {e}")),
                },
            }
        }
    };
    let code = exit.code.unwrap_or(1);
    if let Err(e) = files.write_exit(&exit) {
        log_line(
            &files,
            &format!("livy-server: cannot record the exit status: {e}"),
        );
    }
    code
}

fn log_line(files: &AppFiles, line: &str) {
    if let Ok(mut f) = OpenOptions::new()
        .create(true)
        .append(true)
        .open(files.log())
    {
        let _ = writeln!(f, "{line}");
    }
}

fn spawn_child(
    files: &AppFiles,
    argv: &[String],
    signals: SigSet,
) -> std::io::Result<std::process::Child> {
    use std::os::unix::process::CommandExt;
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "empty command"))?;
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(files.log())?;
    let err = log.try_clone()?;
    let mut cmd = std::process::Command::new(program);
    cmd.args(args).stdin(Stdio::null()).stdout(log).stderr(err);
    // SAFETY: between fork and exec in a single-threaded process, the hook
    // only calls pthread_sigmask, which is async-signal-safe, and allocates
    // nothing.
    #[allow(unsafe_code)]
    unsafe {
        cmd.pre_exec(move || signals.thread_unblock().map_err(std::io::Error::from));
    }
    cmd.spawn()
}
