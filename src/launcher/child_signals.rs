//! Every process the server (or its supervisor) starts begins with each
//! catchable signal at its default disposition and none blocked, whatever
//! this process inherited, and (from the server) with no descriptor of the
//! server's but its standard streams.
//!
//! Why: a script that starts the server with `&` leaves it SIGINT and SIGQUIT
//! ignored, `nohup` leaves SIGHUP ignored, and an ignored disposition survives
//! `exec`. Without this reset spark-submit, the driver JVM and every Python
//! and R process below it would inherit them (a program relying on the
//! default SIGINT or SIGHUP could not be interrupted or hung up).
//! Only the children change: this process keeps what it inherited (`nohup`
//! still protects the server). Each spawn site goes through [`command`] /
//! [`async_command`] (a `pre_exec` hook) or, for the supervisor's
//! `posix_spawn`, [`spawn_attr`]; a test keeps other spawns out of `src/`.
//! (With a hook, std forks rather than `posix_spawn`s: a copy of the page
//! tables of a server of a few tens of MB, per launch.)
//!
//! Two signals stay as they are: glibc reserves 32 and 33 for itself (threads
//! cancellation, set*id), refuses to change them, and its `posix_spawn`
//! leaves them ignored in every child; no program linked with it can use them.

use std::ffi::OsStr;
use std::os::unix::process::CommandExt;

use nix::libc;
use nix::spawn::{PosixSpawnAttr, PosixSpawnFlags};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};

/// A `std` command whose child starts with default signal dispositions and
/// an empty signal mask.
pub fn command(program: impl AsRef<OsStr>) -> std::process::Command {
    let mut cmd = std::process::Command::new(program);
    reset_in_child(&mut cmd);
    cmd
}

/// [`command`] for tokio (same hook; tokio runs std's spawn underneath).
pub fn async_command(program: impl AsRef<OsStr>) -> tokio::process::Command {
    command(program).into()
}

/// `posix_spawn` attributes with the same effect: every signal the C library
/// lets a program set back to its default, and an empty mask.
pub fn spawn_attr() -> nix::Result<PosixSpawnAttr> {
    let mut attr = PosixSpawnAttr::init()?;
    attr.set_sigmask(&SigSet::empty())?;
    // glibc's sigfillset leaves out its own two signals (see the module doc).
    attr.set_sigdefault(&SigSet::all())?;
    attr.set_flags(
        PosixSpawnFlags::POSIX_SPAWN_SETSIGMASK | PosixSpawnFlags::POSIX_SPAWN_SETSIGDEF,
    )?;
    Ok(attr)
}

#[allow(unsafe_code)]
fn reset_in_child(cmd: &mut std::process::Command) {
    // Read here, not in the child: the hook should do nothing but the reset.
    let last = libc::SIGRTMAX();
    // SAFETY: the hook runs in the forked child before `exec`, where only
    // async-signal-safe functions may be called; it calls sigaction and
    // sigprocmask (both listed in signal-safety(7)) on stack values, and
    // allocates nothing and takes no lock.
    unsafe {
        cmd.pre_exec(move || {
            restore_defaults(last);
            no_inherited_descriptors();
            Ok(())
        });
    }
}

/// Marks every descriptor above stderr close-on-exec: whatever the server
/// inherited or opened without the flag stays out of its children (and of
/// applications). close_range(2) is async-signal-safe; on a kernel without
/// it descriptors stay as they were.
#[allow(unsafe_code)]
fn no_inherited_descriptors() {
    // SAFETY: a raw syscall with integer arguments, touching no memory.
    unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        );
    }
}

/// Signals 1..=`last` (but SIGKILL and SIGSTOP, which cannot be caught) to
/// their default action, then unblocks all. Errors are left: sigaction fails
/// only for the C library's reserved signals, which it keeps as they are.
#[allow(unsafe_code)]
fn restore_defaults(last: libc::c_int) {
    for sig in 1..=last {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: a zeroed `sigaction` is a valid value (no flags, an empty
        // mask); with SIG_DFL as its handler nothing of ours can run.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(sig, &action, std::ptr::null_mut());
        }
    }
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
}

/// The signals this process started with ignored, by name, read from
/// `/proc/self/status`; `None` if that cannot be read. Call it before
/// anything in this process changes a disposition.
pub fn inherited_ignored() -> Option<Vec<String>> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let hex = status.lines().find_map(|l| l.strip_prefix("SigIgn:"))?;
    let mask = u64::from_str_radix(hex.trim(), 16).ok()?;
    Some(ignored_names(mask))
}

/// Names of the signals set in a `/proc` signal mask (bit n-1 is signal n),
/// leaving out SIGPIPE (Rust's runtime ignores it before `main`, so whether it
/// was inherited cannot be told) and glibc's two reserved signals.
fn ignored_names(mask: u64) -> Vec<String> {
    let rtmin = libc::SIGRTMIN();
    (1..=64)
        .filter(|&sig| mask & (1u64 << (sig - 1)) != 0)
        .filter(|&sig| sig != libc::SIGPIPE && !(32..rtmin).contains(&sig))
        .map(|sig| match Signal::try_from(sig) {
            Ok(s) => s.as_str().to_owned(),
            Err(_) if sig == rtmin => "SIGRTMIN".to_owned(),
            Err(_) => format!("SIGRTMIN+{}", sig - rtmin),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    /// A child's `/proc/<pid>/status` line `field` as a mask.
    fn mask_of(status: &str, field: &str) -> u64 {
        let hex = status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .unwrap_or_else(|| panic!("no {field} in {status}"));
        u64::from_str_radix(hex.trim(), 16).unwrap()
    }

    #[rstest]
    #[case::nothing(0, &[])]
    #[case::nohup_and_ampersand(0b111, &["SIGHUP", "SIGINT", "SIGQUIT"])]
    #[case::sigpipe_is_rusts_own(1 << 12, &[])]
    #[case::glibc_reserved(0x1_8000_0000, &[])]
    #[case::real_time(1 << 33 | 1 << 35, &["SIGRTMIN", "SIGRTMIN+2"])]
    #[case::what_the_issue_saw(0x1_8000_0006, &["SIGINT", "SIGQUIT"])]
    fn names_the_ignored_signals(#[case] mask: u64, #[case] want: &[&str]) {
        assert_eq!(ignored_names(mask), want);
    }

    /// In a child that ignores and blocks signals (as a server started by
    /// `nohup` or a script's `&` would pass on), the reset leaves none
    /// ignored or blocked, real-time signals included; without it the same
    /// child keeps them (which shows the setup works).
    /// `cat /proc/self/status` in a child that first ignores `inherited`
    /// and blocks SIGTERM, then (if `reset`) runs the reset.
    #[allow(unsafe_code)]
    fn child_status(inherited: [libc::c_int; 4], reset: bool) -> std::process::Command {
        let last = libc::SIGRTMAX();
        let mut cmd = std::process::Command::new("cat");
        cmd.arg("/proc/self/status");
        // SAFETY: test-only hooks making only async-signal-safe calls.
        unsafe {
            cmd.pre_exec(move || {
                for sig in inherited {
                    libc::signal(sig, libc::SIG_IGN);
                }
                let mut blocked = SigSet::empty();
                blocked.add(Signal::SIGTERM);
                let _ = sigprocmask(SigmaskHow::SIG_BLOCK, Some(&blocked), None);
                if reset {
                    restore_defaults(last);
                }
                Ok(())
            });
        }
        cmd
    }

    #[rstest]
    #[case::with_the_reset(true)]
    #[case::without(false)]
    fn the_reset_clears_what_the_child_inherited(#[case] reset: bool) {
        let inherited = [
            libc::SIGHUP,
            libc::SIGINT,
            libc::SIGQUIT,
            libc::SIGRTMIN() + 1,
        ];
        let mut cmd = child_status(inherited, reset);
        let out = cmd.output().unwrap();
        let status = String::from_utf8(out.stdout).unwrap();
        let (ignored, blocked) = (mask_of(&status, "SigIgn:"), mask_of(&status, "SigBlk:"));
        // Leave out glibc's reserved 32 and 33 (ignored when the test
        // harness was itself started by posix_spawn).
        let ours = !(0b11u64 << 31);
        let bit = |sig: libc::c_int| 1u64 << (sig - 1);
        if reset {
            assert_eq!((ignored & ours, blocked), (0, 0), "{status}");
        } else {
            let want = inherited.iter().map(|&s| bit(s)).sum::<u64>();
            assert_eq!(ignored & ours & want, want, "{status}");
            assert_eq!(blocked & bit(libc::SIGTERM), bit(libc::SIGTERM), "{status}");
        }
    }

    /// Every process `src/` starts goes through this module: no
    /// `Command::new` elsewhere outside tests.
    #[test]
    fn no_spawn_bypasses_the_reset() {
        fn visit(dir: &std::path::Path, found: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    visit(&path, found);
                    continue;
                }
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                if !name.ends_with(".rs") || name == "tests.rs" || name == "child_signals.rs" {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                let code = text.split("#[cfg(test)]").next().unwrap_or_default();
                for (n, line) in code.lines().enumerate() {
                    if line.contains("Command::new(") || line.contains("PosixSpawnAttr::init") {
                        found.push(format!("{}:{}: {line}", path.display(), n + 1));
                    }
                }
            }
        }
        let mut found = vec![];
        visit(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut found,
        );
        assert!(
            found.is_empty(),
            "spawns outside launcher::child_signals:\n{}",
            found.join("\n")
        );
    }
}
