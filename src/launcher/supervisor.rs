//! The supervisor: `livy-server supervise --dir D -- <argv>`, a tiny process
//! between the server and spark-submit.
//!
//! It starts its own session (so a server crash or a terminal's signals do not
//! reach the application), writes its PID and start time to `D/supervisor.json`,
//! runs the child with stdout and stderr appended to `D/output.log` (files, not
//! pipes the server holds), and writes the exit status to `D/exit.json`. A
//! restarted server reads those files to re-attach, so the application
//! outlives the server.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::process::Stdio;

use super::files::{AppFiles, ExitRecord, SupervisorRecord};
use super::procfs;

/// Runs the supervisor; returns the exit code for the supervisor process.
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
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("livy-server supervise: cannot start: {e}");
            return 125;
        }
    };
    runtime.block_on(supervise(&files, argv))
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

async fn supervise(files: &AppFiles, argv: &[String]) -> i32 {
    use tokio::signal::unix::{SignalKind, signal};

    let me = std::process::id();
    let start_time = procfs::stat(me).map(|(_, _, s)| s).unwrap_or(0);
    let mut record = SupervisorRecord {
        pid: me,
        start_time,
        child_pid: None,
    };
    if let Err(e) = files.write_supervisor(&record) {
        log_line(
            files,
            &format!("livy-server: cannot record the supervisor: {e}"),
        );
        return 125;
    }
    // Handlers (not SIG_IGN) so the supervisor outlives a SIGTERM to its group
    // and records how the child ended; the child gets default dispositions on exec.
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        log_line(files, "livy-server: cannot install signal handlers");
        return 125;
    };
    let exit = match spawn_child(files, argv) {
        Err(error) => {
            let text = format!(
                "livy-server: failed to start {}: {error}",
                argv.first().map(String::as_str).unwrap_or("?")
            );
            log_line(files, &text);
            ExitRecord {
                code: None,
                signal: None,
                error: Some(text),
            }
        }
        Ok(mut child) => {
            record.child_pid = child.id();
            let _ = files.write_supervisor(&record);
            let status = loop {
                tokio::select! {
                    status = child.wait() => break status,
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                    _ = hup.recv() => {}
                }
            };
            match status {
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
            files,
            &format!("livy-server: cannot record the exit status: {e}"),
        );
    }
    code
}

fn spawn_child(files: &AppFiles, argv: &[String]) -> std::io::Result<tokio::process::Child> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "empty command"))?;
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(files.log())?;
    let err = log.try_clone()?;
    tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        .spawn()
}
