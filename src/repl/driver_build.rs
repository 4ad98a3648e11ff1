//! Builds the driver program from the sources embedded in the binary: writes
//! them out, compiles the Scala part with the Scala compiler that ships in
//! Spark's own `jars/` (so it matches the cluster's Scala version), packs a
//! jar with the JDK's `jar`, and caches the result per source and Spark
//! version under `<data-dir>/driver/`. Nothing is downloaded.
//!
//! One source serves every supported Scala version; the few REPL calls whose
//! API differs between 2.12 and 2.13 live in `scala-<binary>/` shims, and
//! only the installation's own are compiled.
//!
//! Where R is installed, the build also installs the project's SparkR package
//! (`r/SparkR/`) into `R/lib`, writes the R REPL script, a `spark.r.command`
//! wrapper that makes Spark's RRunner start our worker scripts instead of
//! looking in the user's Spark installation, and the package as Spark's
//! `sparkr` archive for YARN.

use std::path::{Path, PathBuf};

use tokio::sync::OnceCell;

use crate::config::spark_install::SparkInstall;
use crate::launcher::child_signals;

mod r;
use r::build_r;

include!(concat!(env!("OUT_DIR"), "/driver_sources.rs"));

const PYTHON_FILE: &str = "livy_repl.py";
const R_FILE: &str = "livy_repl.R";
/// Where the SparkR package's sources sit among the driver sources.
const R_PACKAGE: &str = "r/SparkR/";

/// The built driver: a jar for spark-submit, the Python REPL script and,
/// where R is installed, the R side.
#[derive(Debug, Clone)]
pub struct DriverArtifacts {
    pub jar: PathBuf,
    pub python: PathBuf,
    /// `None` without R on the server; an R build failure fails `sparkr` only.
    pub r: Option<Result<RArtifacts, BuildError>>,
}

/// The R side of the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RArtifacts {
    /// The R REPL script (`spark.livy.repl.r`).
    pub repl: PathBuf,
    /// The R library holding the installed SparkR package (`R_LIBS`).
    pub lib: PathBuf,
    /// `spark.r.command` for executors: runs the package's worker scripts.
    pub rscript: PathBuf,
    /// The package as Spark's `sparkr` archive (YARN ships it as `#sparkr`).
    pub archive: PathBuf,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum BuildError {
    #[error("failed to write the driver sources to {dir}: {reason}")]
    Write { dir: String, reason: String },
    #[error("failed to run {tool}: {reason}")]
    Run { tool: &'static str, reason: String },
    #[error("compiling the driver with Spark's Scala compiler failed:\n{output}")]
    Compile { output: String },
    #[error("packing the driver jar failed:\n{output}")]
    Pack { output: String },
    #[error(
        "cannot tell the Scala version of the Spark installation at {spark_home} (no scala-library and spark-core jars in its jars/)"
    )]
    UnknownSpark { spark_home: String },
    #[error("Spark {spark} runs on Scala {scala}; the session driver supports Scala 2.12 and 2.13")]
    UnsupportedScala { spark: String, scala: String },
    #[error("installing the SparkR package with R CMD INSTALL failed:\n{output}")]
    RInstall { output: String },
}

/// After a failed build, sessions launched within this long get the same
/// error; the next launch after it builds again (the installation may have
/// been fixed meanwhile).
const RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(30);

/// Builds once per process and shares a success with every later caller. A
/// failure is shared for [`RETRY_AFTER`], then the next caller builds again.
pub struct DriverBuilder {
    cache_dir: PathBuf,
    spark_home: PathBuf,
    /// The `R` executable, if R is installed: the R side is built only then.
    r: Option<PathBuf>,
    cell: OnceCell<DriverArtifacts>,
    started: std::sync::atomic::AtomicBool,
    failed: std::sync::Mutex<Option<(std::time::Instant, BuildError)>>,
    retry_after: std::time::Duration,
    attempts: std::sync::atomic::AtomicUsize,
}

impl DriverBuilder {
    pub fn new(cache_dir: PathBuf, spark_home: PathBuf, r: Option<PathBuf>) -> Self {
        Self {
            cache_dir,
            spark_home,
            r,
            cell: OnceCell::new(),
            started: Default::default(),
            failed: Default::default(),
            retry_after: RETRY_AFTER,
            attempts: Default::default(),
        }
    }

    /// How many builds were started (a test's view).
    pub fn attempts(&self) -> usize {
        self.attempts.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The build result if there is one to give; otherwise starts a build in
    /// the background (once at a time, on `tasks`) and calls `done` when it
    /// finishes.
    pub fn poll(
        self: &std::sync::Arc<Self>,
        tasks: &tokio_util::task::TaskTracker,
        done: impl FnOnce() + Send + 'static,
    ) -> Option<Result<DriverArtifacts, BuildError>> {
        if let Some(done) = self.cell.get() {
            return Some(Ok(done.clone()));
        }
        if let Some((at, e)) = &*self.failed.lock().unwrap_or_else(|e| e.into_inner())
            && at.elapsed() < self.retry_after
        {
            return Some(Err(e.clone()));
        }
        if !self.started.swap(true, std::sync::atomic::Ordering::SeqCst) {
            let me = self.clone();
            tasks.spawn(async move {
                let _ = me.get().await;
                done();
            });
        }
        None
    }

    pub async fn get(&self) -> Result<DriverArtifacts, BuildError> {
        let result = self
            .cell
            .get_or_try_init(|| async {
                self.attempts.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let (cache_dir, spark_home, r) =
                    (self.cache_dir.clone(), self.spark_home.clone(), self.r.clone());
                let started = std::time::Instant::now();
                let result = tokio::task::spawn_blocking(move || build(&cache_dir, &spark_home, r.as_deref()))
                    .await
                    .unwrap_or_else(|e| Err(BuildError::Run { tool: "driver build", reason: e.to_string() }));
                match &result {
                    Ok(a) => tracing::info!(jar = %a.jar.display(), ms = started.elapsed().as_millis() as u64, "driver ready"),
                    Err(e) => tracing::error!(error = %e, "driver build failed"),
                }
                result
            })
            .await
            .cloned();
        if let Err(e) = &result {
            *self.failed.lock().unwrap_or_else(|e| e.into_inner()) =
                Some((std::time::Instant::now(), e.clone()));
        }
        self.started
            .store(false, std::sync::atomic::Ordering::SeqCst);
        result
    }
}

/// FNV-1a: a stable cache key (std's hasher may change between releases).
fn fnv(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.iter().chain(b"\0") {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// Spark's identity for the cache key: the names of its core jars carry the
/// Scala and Spark versions.
fn spark_identity(spark_home: &Path) -> String {
    let mut names: Vec<String> = std::fs::read_dir(spark_home.join("jars"))
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    names.retain(|n| {
        n.starts_with("spark-core")
            || n.starts_with("scala-compiler")
            || n.starts_with("spark-repl")
    });
    names.sort();
    names.join(",")
}

/// The driver sources for one Scala binary version: the common files and
/// that version's shims (`scala-2.13/…`), or `None` if it has no shims.
fn sources_for(scala_binary: &str) -> Option<Vec<(&'static str, &'static str)>> {
    let shims = format!("scala-{scala_binary}/");
    let picked: Vec<_> = DRIVER_SOURCES
        .iter()
        .filter(|(n, _)| !n.contains('/') || n.starts_with(&shims))
        .copied()
        .collect();
    picked
        .iter()
        .any(|(n, _)| n.starts_with(&shims))
        .then_some(picked)
}

fn build(
    cache_dir: &Path,
    spark_home: &Path,
    r: Option<&Path>,
) -> Result<DriverArtifacts, BuildError> {
    let mut artifacts = build_jvm(cache_dir, spark_home)?;
    if let Some(r) = r {
        let dir = artifacts.jar.parent().unwrap_or(cache_dir).to_path_buf();
        let built = build_r(&dir, r);
        if let Err(e) = &built {
            tracing::error!(error = %e, "building the R side of the driver failed; sparkr sessions will fail");
        }
        artifacts.r = Some(built);
    }
    Ok(artifacts)
}

/// The jar and the Python script, in `<cache>/<key>/`.
fn build_jvm(cache_dir: &Path, spark_home: &Path) -> Result<DriverArtifacts, BuildError> {
    let install = SparkInstall::detect(spark_home).ok_or_else(|| BuildError::UnknownSpark {
        spark_home: spark_home.display().to_string(),
    })?;
    let sources =
        sources_for(install.scala_binary()).ok_or_else(|| BuildError::UnsupportedScala {
            spark: install.spark_version.clone(),
            scala: install.scala_version.clone(),
        })?;
    let identity = spark_identity(spark_home);
    let mut parts: Vec<&[u8]> = vec![identity.as_bytes()];
    // Every source, the R side's included: any change is a new cache entry.
    for (name, text) in DRIVER_SOURCES {
        parts.push(name.as_bytes());
        parts.push(text.as_bytes());
    }
    let dir = cache_dir.join(format!("{:016x}", fnv(&parts)));
    let artifacts = DriverArtifacts {
        jar: dir.join("livy-repl-driver.jar"),
        python: dir.join(PYTHON_FILE),
        r: None,
    };
    if artifacts.jar.exists() && artifacts.python.exists() {
        return Ok(artifacts);
    }
    // Build in a scratch directory and rename: a crash never leaves half a cache.
    let scratch = fresh_scratch(cache_dir, "build");
    let write_err = write_error(&scratch);
    let (src, classes) = (scratch.join("src"), scratch.join("classes"));
    std::fs::create_dir_all(&src).map_err(write_err)?;
    std::fs::create_dir_all(&classes).map_err(write_err)?;
    let mut scala_files = Vec::new();
    for (name, text) in &sources {
        let base = name.rsplit('/').next().unwrap_or(name);
        if name.ends_with(".scala") {
            let target = src.join(base);
            std::fs::write(&target, text).map_err(write_err)?;
            scala_files.push(target);
        } else if *name == PYTHON_FILE {
            std::fs::write(scratch.join(base), text).map_err(write_err)?;
        }
    }
    run_tool(
        child_signals::command(java_bin())
            .arg("-cp")
            .arg(format!("{}/jars/*", spark_home.display()))
            .args(["scala.tools.nsc.Main", "-usejavacp", "-nowarn", "-d"])
            .arg(&classes)
            .args(&scala_files),
        "java (scalac)",
        |output| BuildError::Compile { output },
    )?;
    pack("cf", &scratch.join("livy-repl-driver.jar"), &classes, ".")?;
    let _ = std::fs::remove_dir_all(&src);
    let _ = std::fs::remove_dir_all(&classes);
    publish(&scratch, &dir, &artifacts.jar)?;
    Ok(artifacts)
}

/// Runs a build tool; its combined output becomes `fail`'s error when it fails.
fn run_tool(
    cmd: &mut std::process::Command,
    tool: &'static str,
    fail: fn(String) -> BuildError,
) -> Result<(), BuildError> {
    let out = cmd.output().map_err(|e| BuildError::Run {
        tool,
        reason: e.to_string(),
    })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(fail(
            String::from_utf8_lossy(&[out.stdout, out.stderr].concat()).into_owned(),
        ))
    }
}

/// Renames a finished scratch build into place. Another server process may
/// have won the race (`done` then exists); its build is as good as ours.
fn publish(scratch: &Path, dest: &Path, done: &Path) -> Result<(), BuildError> {
    match std::fs::rename(scratch, dest) {
        Ok(()) => Ok(()),
        Err(_) if done.exists() => {
            let _ = std::fs::remove_dir_all(scratch);
            Ok(())
        }
        Err(e) => Err(write_error(scratch)(e)),
    }
}

/// The error for a failed write under `dir`.
fn write_error(dir: &Path) -> impl Fn(std::io::Error) -> BuildError + Copy + '_ {
    move |e| BuildError::Write {
        dir: dir.display().to_string(),
        reason: e.to_string(),
    }
}

/// A scratch directory `<parent>/<prefix>-<pid>` that holds nothing yet.
fn fresh_scratch(parent: &Path, prefix: &str) -> PathBuf {
    let scratch = parent.join(format!("{prefix}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    scratch
}

/// `jar <flags> <archive> -C <dir> <entry>`: packs `entry` of `dir`.
fn pack(flags: &str, archive: &Path, dir: &Path, entry: &str) -> Result<(), BuildError> {
    run_tool(
        child_signals::command(jar_tool())
            .arg(flags)
            .arg(archive)
            .arg("-C")
            .arg(dir)
            .arg(entry),
        "jar",
        |output| BuildError::Pack { output },
    )
}

/// The JDK's `jar` next to `java`, else `jar` on PATH.
fn jar_tool() -> PathBuf {
    let jar = java_bin().with_file_name("jar");
    if jar.is_absolute() && jar.exists() {
        jar
    } else {
        PathBuf::from("jar")
    }
}

/// `$JAVA_HOME/bin/java` if set, else `java` on PATH.
fn java_bin() -> PathBuf {
    std::env::var_os("JAVA_HOME")
        .map(|h| PathBuf::from(h).join("bin").join("java"))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("java"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_failed_build_is_shared_for_a_while_then_tried_again() {
        let dir = tempfile::tempdir().unwrap();
        let mut builder =
            DriverBuilder::new(dir.path().join("cache"), dir.path().join("no-spark"), None);
        builder.retry_after = std::time::Duration::from_millis(300);
        let builder = std::sync::Arc::new(builder);
        let wake = std::sync::Arc::new(tokio::sync::Notify::new());
        let tasks = tokio_util::task::TaskTracker::new();
        let poll = || {
            let wake = wake.clone();
            builder.poll(&tasks, move || wake.notify_one())
        };
        let until_done = || async {
            loop {
                let notified = wake.notified();
                if let Some(done) = poll() {
                    return done;
                }
                let _ = tokio::time::timeout(std::time::Duration::from_secs(10), notified).await;
            }
        };
        assert!(matches!(
            until_done().await,
            Err(BuildError::UnknownSpark { .. })
        ));
        assert_eq!(builder.attempts(), 1);
        // Within the window the error is shared; no new build.
        assert!(matches!(poll(), Some(Err(_))));
        assert_eq!(builder.attempts(), 1);
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        assert!(matches!(
            until_done().await,
            Err(BuildError::UnknownSpark { .. })
        ));
        assert_eq!(
            builder.attempts(),
            2,
            "the failure was not cached for the life of the process"
        );
    }

    #[test]
    fn cache_key_is_stable_and_sensitive() {
        assert_eq!(fnv(&[b"a", b"b"]), fnv(&[b"a", b"b"]));
        assert_ne!(fnv(&[b"ab"]), fnv(&[b"a", b"b"]), "part boundaries count");
    }

    #[test]
    fn each_scala_version_gets_the_common_sources_and_its_own_shims() {
        for v in ["2.12", "2.13"] {
            let names: Vec<&str> = sources_for(v).unwrap().iter().map(|(n, _)| *n).collect();
            assert!(names.contains(&"Session.scala"), "{names:?}");
            assert!(names.contains(&PYTHON_FILE));
            assert!(names.contains(&format!("scala-{v}/ReplCompat.scala").as_str()));
            assert!(
                names
                    .iter()
                    .all(|n| !n.contains('/') || n.starts_with(&format!("scala-{v}/"))),
                "another version's shims: {names:?}"
            );
        }
        assert!(sources_for("2.11").is_none());
        assert!(sources_for("3").is_none());
    }

    #[test]
    fn the_python_repl_and_scala_sources_are_embedded() {
        assert!(DRIVER_SOURCES.iter().any(|(n, _)| *n == PYTHON_FILE));
        assert!(
            DRIVER_SOURCES
                .iter()
                .any(|(n, t)| n.ends_with(".scala") && t.contains("LivyReplDriver"))
        );
    }
}
