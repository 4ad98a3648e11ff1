//! The files of one submitted application, under `<data-dir>/apps/<tag>/`:
//! `output.log` (spark-submit's stdout+stderr), `supervisor.json` and `exit.json`.
//! They are the hand-over between the supervisor and any server process,
//! including one restarted after a crash.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Written by the supervisor once its child runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SupervisorRecord {
    pub pid: u32,
    /// Start time from `/proc/<pid>/stat`, so a reused PID is not mistaken for ours.
    pub start_time: u64,
    pub child_pid: Option<u32>,
}

/// Written by the supervisor when spark-submit has ended (or could not start).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExitRecord {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub error: Option<String>,
}

#[derive(Debug, Clone)]
pub struct AppFiles {
    dir: PathBuf,
}

impl AppFiles {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn log(&self) -> PathBuf {
        self.dir.join("output.log")
    }

    fn supervisor_path(&self) -> PathBuf {
        self.dir.join("supervisor.json")
    }

    fn exit_path(&self) -> PathBuf {
        self.dir.join("exit.json")
    }

    /// Not fsynced: it names a live process, and no process outlives the
    /// power loss an fsync would guard against (a record that did not reach
    /// the disk then reads as a supervisor that vanished).
    pub fn write_supervisor(&self, rec: &SupervisorRecord) -> std::io::Result<()> {
        write_atomically(&self.supervisor_path(), rec, false)
    }

    /// Fsynced: how an application ended is a fact clients see.
    pub fn write_exit(&self, rec: &ExitRecord) -> std::io::Result<()> {
        write_atomically(&self.exit_path(), rec, true)
    }

    pub fn supervisor(&self) -> Option<SupervisorRecord> {
        read_json(&self.supervisor_path())
    }

    pub fn exit(&self) -> Option<ExitRecord> {
        read_json(&self.exit_path())
    }

    /// Appends a line of the server's own to the application's log.
    pub fn append_log(&self, line: &str) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log())?;
        writeln!(f, "{line}")
    }
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Option<T> {
    let text = std::fs::read(path).ok()?;
    serde_json::from_slice(&text).ok()
}

/// Write to a temporary file, (`durable`: fsync,) rename: readers see the
/// old or the new document, never half of one, even across a crash.
fn write_atomically<T: Serialize>(path: &Path, value: &T, durable: bool) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&serde_json::to_vec(value).map_err(std::io::Error::other)?)?;
    if durable {
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}
