//! A class-data-sharing archive (AppCDS) for session drivers: what a driver
//! loads while it starts (Spark, the Scala compiler, the driver itself) is
//! parsed and verified once, written to an archive the JVM maps at start.
//!
//! The archive is made by a training run of the driver (spark-submit with
//! `spark.livy.cds.training`, no server involved) under
//! `-XX:ArchiveClassesAtExit`, once per driver build (it sits beside the
//! driver jar, whose cache key holds the Spark version), in the background;
//! drivers launched before it exists start without it. A JVM that cannot use
//! an archive (another JDK build, another class path) starts without it
//! too, so a stale archive costs nothing but its check.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// How long a training run may take before it is abandoned.
const TRAINING_TIMEOUT: Duration = Duration::from_secs(300);
/// A `.building` marker without a PID, older than this, is left over from a crash.
const STALE_MARKER: Duration = Duration::from_secs(600);

/// The archive of the driver built as `jar`.
pub fn archive_for(jar: &Path) -> PathBuf {
    jar.with_file_name("driver.jsa")
}

/// `archive` when it has been built.
pub fn ready(archive: &Path) -> Option<&Path> {
    archive
        .metadata()
        .is_ok_and(|m| m.is_file() && m.len() > 0)
        .then_some(archive)
}

/// The `spark.driver.extraJavaOptions` of a session driver on this host:
/// the configured options, then the archive when it is ready.
pub fn java_options(options: &str, archive: Option<&Path>) -> Option<String> {
    let mut all: Vec<String> = options.split_whitespace().map(str::to_owned).collect();
    if let Some(a) = archive {
        all.push(format!("-XX:SharedArchiveFile={}", a.display()));
    }
    (!all.is_empty()).then(|| all.join(" "))
}

/// Builds the archive of `jar` unless it exists or another process is
/// building it; returns once done (or given up: drivers then start without).
/// The training run finishes the archive itself (a shell renames it and
/// removes the marker), so a server stopped meanwhile leaves no half-made
/// archive and no marker behind it.
pub async fn build(spark_home: PathBuf, jar: PathBuf, options: String) {
    let archive = archive_for(&jar);
    if ready(&archive).is_some() {
        return;
    }
    let marker = archive.with_extension("jsa.building");
    if !take_marker(&marker) {
        tracing::debug!(archive = %archive.display(), "another process builds the class-data archive");
        return;
    }
    let started = std::time::Instant::now();
    match train(&spark_home, &jar, &options, &archive, &marker).await {
        Ok(()) => tracing::info!(
            archive = %archive.display(),
            ms = started.elapsed().as_millis() as u64,
            "class-data archive for session drivers ready"
        ),
        Err(e) => tracing::warn!(
            error = %e,
            "could not build the class-data archive; session drivers start without it"
        ),
    }
}

/// Creates `marker`, replacing one whose builder is gone; false when a live
/// process holds it.
fn take_marker(marker: &Path) -> bool {
    let create = || {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(marker)
            .is_ok()
    };
    if create() {
        return true;
    }
    let holder = std::fs::read_to_string(marker)
        .ok()
        .and_then(|t| t.trim().parse::<u32>().ok());
    let gone = match holder {
        Some(pid) => crate::launcher::procfs::stat(pid).is_none_or(|(state, _, _)| state == 'Z'),
        // No PID yet: only a crash right after creating it leaves it so.
        None => std::fs::metadata(marker)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > STALE_MARKER),
    };
    gone && std::fs::remove_file(marker).is_ok() && create()
}

/// Runs the training under a shell that moves the finished archive in place
/// and removes the marker (whose content is the shell's PID).
const FINISH: &str = r#""$@"; rc=$?
if [ "$rc" -eq 0 ] && [ -s "$LIVY_CDS_TMP" ]; then mv -f "$LIVY_CDS_TMP" "$LIVY_CDS_ARCHIVE" || rc=1; else rm -f "$LIVY_CDS_TMP"; fi
rm -f "$LIVY_CDS_MARKER"
exit "$rc""#;

async fn train(
    spark_home: &Path,
    jar: &Path,
    options: &str,
    archive: &Path,
    marker: &Path,
) -> Result<(), String> {
    let tmp = archive.with_extension("jsa.tmp");
    let _ = std::fs::remove_file(&tmp);
    let log = archive.with_extension("jsa.log");
    let out = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    let java_options = format!("{options} -XX:ArchiveClassesAtExit={}", tmp.display());
    let spawned = crate::launcher::child_signals::async_command("/bin/sh")
        .args(["-c", FINISH, "livy-class-data"])
        .arg(spark_home.join("bin/spark-submit"))
        .args([
            "--master",
            "local[1]",
            "--class",
            "org.livyserver.repl.LivyReplDriver",
        ])
        .args(["--conf", "spark.livy.cds.training=true"])
        .args(["--conf", "spark.ui.port=0"])
        .arg("--conf")
        .arg(format!(
            "spark.driver.extraJavaOptions={}",
            java_options.trim()
        ))
        .arg(jar)
        .env("SPARK_HOME", spark_home)
        .env("LIVY_CDS_TMP", &tmp)
        .env("LIVY_CDS_ARCHIVE", archive)
        .env("LIVY_CDS_MARKER", marker)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            let _ = std::fs::remove_file(marker);
            return Err(format!("cannot run the training: {e}"));
        }
    };
    if let Some(pid) = child.id() {
        let _ = std::fs::write(marker, pid.to_string());
    }
    let status = match tokio::time::timeout(TRAINING_TIMEOUT, child.wait()).await {
        Ok(status) => status.map_err(|e| e.to_string())?,
        Err(_) => {
            let _ = child.kill().await;
            let _ = std::fs::remove_file(marker);
            return Err(format!(
                "the training run took over {TRAINING_TIMEOUT:?}; see {}",
                log.display()
            ));
        }
    };
    if !status.success() || ready(archive).is_none() {
        return Err(format!(
            "the training run ended {status} without an archive; see {}",
            log.display()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_carry_the_archive_once_it_is_ready() {
        let dir = tempfile::tempdir().unwrap();
        let jar = dir.path().join("livy-repl-driver.jar");
        let archive = archive_for(&jar);
        assert_eq!(archive, dir.path().join("driver.jsa"));
        assert_eq!(ready(&archive), None);
        assert_eq!(
            java_options("-XX:+UseSerialGC", ready(&archive)).as_deref(),
            Some("-XX:+UseSerialGC")
        );
        assert_eq!(java_options(" ", None), None);
        std::fs::write(&archive, b"x").unwrap();
        assert_eq!(
            java_options("-XX:+UseSerialGC", ready(&archive)),
            Some(format!(
                "-XX:+UseSerialGC -XX:SharedArchiveFile={}",
                archive.display()
            ))
        );
    }

    #[test]
    fn one_process_builds_and_a_crashed_builders_marker_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("driver.jsa.building");
        assert!(take_marker(&marker));
        assert!(!take_marker(&marker), "just made: held");
        std::fs::write(&marker, std::process::id().to_string()).unwrap();
        assert!(!take_marker(&marker), "held by a live process");
        // A builder that is gone (this PID is no process's).
        std::fs::write(&marker, u32::MAX.to_string()).unwrap();
        assert!(take_marker(&marker), "its builder is gone: taken over");
        // Made, then its maker crashed before writing its PID.
        let old = std::time::SystemTime::now() - STALE_MARKER - Duration::from_secs(1);
        std::fs::File::options()
            .write(true)
            .open(&marker)
            .unwrap()
            .set_modified(old)
            .unwrap();
        assert!(take_marker(&marker), "a stale marker is taken over");
    }
}
