//! Turning a record into a running spark-submit: the argv (a pure function),
//! the supervised spawn, log capture and SIGTERM→SIGKILL stops.
//!
//! The launcher decides nothing about *when* to launch; only `reconcile/`
//! calls it. Processes are never started through a shell.

mod argv;
pub mod child_signals;
pub mod files;
pub mod logs;
pub mod plan;
pub mod procfs;
pub mod r;
pub mod sandbox;
pub mod supervisor;

pub use argv::{SubmitAdditions, SubmitSettings, batch_argv, submit_argv, with_properties_file};
pub use plan::{LaunchPlan, PlannedFile};

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use crate::queue::Wake;
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

use files::{AppFiles, ExitRecord};

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("failed to create the application directory {dir}")]
    CreateDir {
        dir: String,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to write {path}")]
    WriteFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot isolate the application: {0}")]
    Isolation(String),
    #[error("failed to spawn the supervisor for {tag}")]
    Spawn {
        tag: String,
        #[source]
        source: std::io::Error,
    },
}

impl LaunchError {
    /// Why trying again cannot help, when it cannot: the kernel refused the
    /// command line as too long (`E2BIG`), which the same record will always
    /// produce, or the sandbox required here is unavailable.
    pub fn not_retried(&self) -> Option<&'static str> {
        match self {
            Self::Spawn { source, .. }
                if source.kind() == std::io::ErrorKind::ArgumentListTooLong
                    || source.raw_os_error() == Some(nix::errno::Errno::E2BIG as i32) =>
            {
                Some(
                    "the command line is too long for this system \
                     (put large arguments or conf values in a file)",
                )
            }
            Self::Isolation(_) => Some("this host cannot run the application isolated"),
            Self::Spawn { .. } | Self::CreateDir { .. } | Self::WriteFile { .. } => None,
        }
    }
}

/// Writes a file of a launch plan that only the server's user may read.
fn write_private(file: &PlannedFile) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = file.path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&file.path)?;
    f.write_all(file.contents.as_bytes())
}

/// What the supervisor files say about an application's local process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcessState {
    /// No supervisor has announced itself for this tag (yet).
    NotFound,
    /// Not even the application's directory exists: nothing was launched
    /// for this tag (the directory is made before the supervisor starts).
    NeverLaunched,
    Running {
        pid: u32,
    },
    Exited(ExitRecord),
    /// The supervisor is gone without recording an exit status (killed hard).
    Vanished,
}

/// Where an application's driver runs, which decides whether its launch is
/// sandboxed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// On this host (local masters, client mode): user code runs here.
    ThisHost,
    /// In the cluster (YARN, Kubernetes, standalone cluster mode): only
    /// spark-submit runs here.
    Elsewhere,
}

impl Placement {
    /// Where spark-submit puts the driver: the deploy mode the server
    /// settled on, else the one the cluster manager's conf additions set
    /// (a request cannot set `spark.submit.deployMode`), else
    /// spark-submit's default, client.
    pub fn of_submission(deploy_mode: Option<&str>, adds: &SubmitAdditions) -> Self {
        let mode = deploy_mode.or(adds.conf.get("spark.submit.deployMode").map(String::as_str));
        match mode {
            Some("cluster") => Self::Elsewhere,
            _ => Self::ThisHost,
        }
    }
}

/// Spawns and stops supervised spark-submit processes.
pub struct Launcher {
    apps_dir: PathBuf,
    /// The supervisor: `livy-supervise` beside the server's binary, else
    /// the server's binary itself with `supervise`.
    supervisor: (PathBuf, Option<&'static str>),
    spark_home: PathBuf,
    /// Woken whenever a supervisor this process spawned exits.
    wake: Arc<Wake>,
    /// Supervisor records already read (they never change): a live
    /// application costs one `/proc` read per observation.
    supervisors: std::sync::Mutex<std::collections::HashMap<String, files::SupervisorRecord>>,
    /// How applications placed on this host run.
    isolation: sandbox::Isolation,
}

impl Launcher {
    /// `exe`: the `livy-server` binary (its `livy-supervise` sibling is
    /// preferred: a far smaller program to start for every application).
    pub fn new(apps_dir: PathBuf, exe: PathBuf, spark_home: PathBuf, wake: Arc<Wake>) -> Self {
        let small = exe.with_file_name("livy-supervise");
        let supervisor = if small.is_file() {
            (small, None)
        } else {
            (exe, Some("supervise"))
        };
        Self {
            apps_dir,
            supervisor,
            spark_home,
            wake,
            supervisors: Default::default(),
            isolation: sandbox::Isolation::Off,
        }
    }

    /// Runs applications placed on this host as `isolation` says.
    pub fn with_isolation(mut self, isolation: sandbox::Isolation) -> Self {
        self.isolation = isolation;
        self
    }

    pub fn files(&self, tag: &str) -> AppFiles {
        AppFiles::new(self.apps_dir.join(tag))
    }

    /// Runs `plan` for `tag` off the async threads: writes its files (0600),
    /// then starts its argv under a supervisor ([`Launcher::spawn`]).
    pub async fn launch(self: &Arc<Self>, tag: &str, plan: LaunchPlan) -> Result<(), LaunchError> {
        let (me, tag) = (self.clone(), tag.to_owned());
        tokio::task::spawn_blocking(move || {
            for file in &plan.files {
                write_private(file).map_err(|source| LaunchError::WriteFile {
                    path: file.path.display().to_string(),
                    source,
                })?;
            }
            let env: Vec<(&str, &str)> = (plan.env.iter())
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            me.spawn(&tag, &plan.argv, &env, plan.placement)
        })
        .await
        .unwrap_or_else(|e| {
            Err(LaunchError::Spawn {
                tag: String::new(),
                source: std::io::Error::other(e),
            })
        })
    }

    /// Starts `argv` under a supervisor for `tag` (in the sandbox, when
    /// the driver runs on this host and isolation is on). Returns once the
    /// supervisor process exists; its exit wakes the reconciler.
    pub fn spawn(
        &self,
        tag: &str,
        argv: &[String],
        env: &[(&str, &str)],
        placement: Placement,
    ) -> Result<(), LaunchError> {
        let files = self.files(tag);
        std::fs::create_dir_all(files.dir()).map_err(|source| LaunchError::CreateDir {
            dir: files.dir().display().to_string(),
            source,
        })?;
        let spawn_err = |source| LaunchError::Spawn {
            tag: tag.to_owned(),
            source,
        };
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(files.log())
            .map_err(spawn_err)?;
        let log2 = log.try_clone().map_err(spawn_err)?;
        let (program, subcommand) = &self.supervisor;
        let mut cmd = child_signals::async_command(program);
        cmd.args(subcommand).arg("--dir").arg(files.dir()).arg("--");
        match (&self.isolation, placement) {
            (sandbox::Isolation::On(sandbox), Placement::ThisHost) => {
                let app_dir = std::path::absolute(files.dir()).map_err(spawn_err)?;
                cmd.args(sandbox.command(&app_dir, argv))
                    .env_clear()
                    .envs(sandbox.environment(&app_dir));
            }
            (sandbox::Isolation::Unavailable(why), Placement::ThisHost) => {
                return Err(LaunchError::Isolation(why.clone()));
            }
            _ => {
                cmd.args(argv);
            }
        }
        cmd.env("SPARK_HOME", &self.spark_home)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        let mut child = cmd.spawn().map_err(spawn_err)?;
        let (wake, tag) = (self.wake.clone(), tag.to_owned());
        // Reap the supervisor so it does not linger as a zombie, and observe
        // the moment the application ends. Not a tracked task: a server that
        // stops leaves applications running and must not wait for them.
        tokio::spawn(async move {
            let _ = child.wait().await;
            wake.observe_app(&tag);
        });
        Ok(())
    }

    /// What wakes the reconciler (an application's exit, a pod's change).
    pub fn wake(&self) -> Arc<Wake> {
        self.wake.clone()
    }

    /// Reads the supervisor files of `tag`.
    pub fn observe(&self, tag: &str) -> ProcessState {
        let files = self.files(tag);
        let cached = self.lock_supervisors().get(tag).cloned();
        let Some(sup) = cached.or_else(|| files.supervisor()) else {
            return match files.exit() {
                Some(exit) => ProcessState::Exited(exit),
                None if !files.dir().exists() => ProcessState::NeverLaunched,
                None => ProcessState::NotFound,
            };
        };
        if procfs::is_alive(sup.pid, sup.start_time) {
            let pid = sup.pid;
            self.lock_supervisors().insert(tag.to_owned(), sup);
            return ProcessState::Running { pid };
        }
        self.forget(tag);
        files
            .exit()
            .map(ProcessState::Exited)
            .unwrap_or(ProcessState::Vanished)
    }

    /// [`Launcher::observe`] of each tag, off the async threads.
    pub async fn observe_all(self: &Arc<Self>, tags: Vec<String>) -> Vec<ProcessState> {
        let me = self.clone();
        let n = tags.len();
        tokio::task::spawn_blocking(move || tags.iter().map(|t| me.observe(t)).collect())
            .await
            .unwrap_or_else(|_| vec![ProcessState::NotFound; n])
    }

    /// Drops what is remembered of `tag`'s supervisor.
    pub fn forget(&self, tag: &str) {
        self.lock_supervisors().remove(tag);
    }

    fn lock_supervisors(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, files::SupervisorRecord>> {
        self.supervisors.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// SIGTERM to the application's process group and every descendant, then
    /// SIGKILL to whatever is left after `grace`.
    pub async fn stop(&self, tag: &str, grace: Duration) {
        let Some(sup) = self.files(tag).supervisor() else {
            return;
        };
        if !procfs::is_alive(sup.pid, sup.start_time) {
            return;
        }
        let mut tree = procfs::descendants(sup.pid);
        signal_all(sup.pid, &tree, Signal::SIGTERM);
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            tree.extend(procfs::descendants(sup.pid));
            tree.sort_unstable();
            tree.dedup();
            tree.retain(|&p| procfs::stat(p).is_some_and(|(s, _, _)| s != 'Z'));
            let supervisor_alive = procfs::is_alive(sup.pid, sup.start_time);
            if tree.is_empty() && !supervisor_alive {
                return;
            }
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!(tag, pids = ?tree, "processes outlived SIGTERM; sending SIGKILL");
                if supervisor_alive {
                    signal_all(sup.pid, &tree, Signal::SIGKILL);
                } else {
                    for &p in &tree {
                        let _ = kill(Pid::from_raw(p as i32), Signal::SIGKILL);
                    }
                }
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn signal_all(group: u32, pids: &[u32], sig: Signal) {
    let _ = killpg(Pid::from_raw(group as i32), sig);
    for &p in pids {
        let _ = kill(Pid::from_raw(p as i32), sig);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn launcher(dir: &std::path::Path) -> Launcher {
        Launcher::new(
            dir.join("apps"),
            "/bin/true".into(),
            dir.into(),
            Arc::new(Wake::new()),
        )
    }

    #[tokio::test]
    async fn a_command_line_exec_refuses_is_a_permanent_failure() {
        let dir = tempfile::tempdir().unwrap();
        let huge = "x".repeat(200 * 1024);
        let err = launcher(dir.path())
            .spawn(
                "batch-1-a",
                &["/bin/true".into(), huge],
                &[],
                Placement::ThisHost,
            )
            .unwrap_err();
        assert!(err.not_retried().is_some(), "{err:?}");
    }

    #[tokio::test]
    async fn other_spawn_failures_are_transient() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = launcher(dir.path());
        l.supervisor = (dir.path().join("no-such-binary"), None);
        let err = l
            .spawn("batch-1-b", &["/bin/true".into()], &[], Placement::ThisHost)
            .unwrap_err();
        assert!(matches!(err, LaunchError::Spawn { .. }), "{err:?}");
        assert!(err.not_retried().is_none(), "{err:?}");
    }

    #[test]
    fn a_tag_without_a_directory_was_never_launched() {
        let dir = tempfile::tempdir().unwrap();
        let l = launcher(dir.path());
        assert_eq!(l.observe("batch-1-c"), ProcessState::NeverLaunched);
        // Its directory made (a launch under way, its supervisor not yet
        // announced): no longer certain.
        std::fs::create_dir_all(l.files("batch-1-c").dir()).unwrap();
        assert_eq!(l.observe("batch-1-c"), ProcessState::NotFound);
    }
}
