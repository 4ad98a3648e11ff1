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

use std::ffi::CString;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use nix::errno::Errno;
use nix::spawn::{PosixSpawnFileActions, posix_spawnp};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::Pid;

use super::child_signals;
use super::files::{AppFiles, ExitRecord, SupervisorRecord};
use super::procfs;

/// The signals a process group gets from a terminal or a `kill` of the group:
/// blocked in the supervisor (it outlives them and records how the child
/// ended); the child starts with none blocked.
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
    let exit = match spawn_child(&files, argv) {
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
        Ok(child) => {
            let record = SupervisorRecord {
                pid: me,
                start_time,
                child_pid: u32::try_from(child.as_raw()).ok(),
            };
            if let Err(e) = files.write_supervisor(&record) {
                // Untracked, the application could never be followed or stopped.
                log_line(
                    &files,
                    &format!("livy-server: cannot record the supervisor: {e}"),
                );
                let _ = nix::sys::signal::kill(child, Signal::SIGKILL);
                let _ = wait(child);
                return 125;
            }
            match wait(child) {
                Ok(WaitStatus::Exited(_, code)) => ExitRecord {
                    code: Some(code),
                    signal: None,
                    error: None,
                },
                Ok(WaitStatus::Signaled(_, signal, _)) => ExitRecord {
                    code: None,
                    signal: Some(signal as i32),
                    error: None,
                },
                Ok(other) => ExitRecord {
                    code: None,
                    signal: None,
                    error: Some(format!("livy-server: unexpected child status {other:?}")),
                },
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

/// Waits for `child` to end (not merely stop), through interrupted waits.
fn wait(child: Pid) -> nix::Result<WaitStatus> {
    loop {
        match waitpid(child, None) {
            Ok(s @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..))) => return Ok(s),
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
}

/// Starts `argv` with stdin from `/dev/null` and stdout and stderr appended to
/// the log. Through `posix_spawn` (a vfork, not a copy of this process), with
/// no signal blocked and every signal at its default (std ignores `SIGPIPE`
/// here; a server started by `nohup` or a script's `&` passes on ignored
/// SIGHUP, SIGINT, SIGQUIT): see [`child_signals`].
fn spawn_child(files: &AppFiles, argv: &[String]) -> std::io::Result<Pid> {
    use std::os::fd::AsRawFd;
    use std::os::unix::ffi::OsStrExt;
    let invalid =
        |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidInput, what.to_owned());
    let c_string = |bytes: Vec<u8>| {
        CString::new(bytes).map_err(|_| invalid("a NUL byte in the command or environment"))
    };
    let args = argv
        .iter()
        .map(|a| c_string(a.as_bytes().to_vec()))
        .collect::<std::io::Result<Vec<_>>>()?;
    let program = args.first().ok_or_else(|| invalid("empty command"))?;
    let env = std::env::vars_os()
        .map(|(k, v)| c_string([k.as_bytes(), b"=", v.as_bytes()].concat()))
        .collect::<std::io::Result<Vec<_>>>()?;
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(files.log())?;
    let null = std::fs::File::open("/dev/null")?;
    let mut actions = PosixSpawnFileActions::init()?;
    actions.add_dup2(null.as_raw_fd(), 0)?;
    actions.add_dup2(log.as_raw_fd(), 1)?;
    actions.add_dup2(log.as_raw_fd(), 2)?;
    let attr = child_signals::spawn_attr()?;
    Ok(posix_spawnp(program, &actions, &attr, &args, &env)?)
}
