//! What spark-submit's own output says about the application it started: the
//! standalone master's JSON links no driver to its application and an app
//! name can be overridden by user code, so these INFO lines (Spark's default
//! level) are how a submission is tied to its driver, app and UI.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// Only the head of a log is read: the lines come within the first kilobytes,
/// and application output after them can be large.
pub const SCAN_LIMIT: u64 = 1 << 20;

/// REST submission (cluster mode).
const REST_DRIVER: &str = "Submission successfully created as ";
/// Legacy submission client (cluster mode without the REST server).
const LEGACY_DRIVER: &str = "Driver successfully submitted as ";
/// StandaloneSchedulerBackend, in the driver: client mode only in our log.
const CLIENT_APP: &str = "Connected to Spark cluster with app ID ";
/// WebUI (Spark 3): `Bound SparkUI to 0.0.0.0, and started at http://host:4040`.
const UI_BOUND: &str = "Bound SparkUI to ";
const UI_AT: &str = ", and started at ";
/// JettyUtils (Spark 4): `Start Jetty 10.0.0.5:4040 for SparkUI`.
const UI_JETTY: &str = "Start Jetty ";
const UI_JETTY_END: &str = " for SparkUI";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogScan {
    /// Bytes of the log already read (whole lines only).
    pub offset: u64,
    pub driver_id: Option<String>,
    pub app_id: Option<String>,
    pub ui_url: Option<String>,
    /// Cluster mode: the driver's own output (on its worker) was read after
    /// it ended, so there is nothing more to learn from it.
    pub worker_log_read: bool,
}

fn token_after(line: &str, marker: &str, prefix: &str) -> Option<String> {
    let rest = &line[line.find(marker)? + marker.len()..];
    let token: String = rest
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect::<String>()
        .trim_end_matches(['.', ',', ';'])
        .to_owned();
    token.starts_with(prefix).then_some(token)
}

/// A bind-all address is no link to follow (the master's app page is used then).
fn is_wildcard(host_port: &str) -> bool {
    let host = host_port.rsplit_once(':').map_or(host_port, |(h, _)| h);
    matches!(host, "0.0.0.0" | "[::]" | "::" | "")
}

impl LogScan {
    /// Whether reading further can tell nothing new.
    pub fn done(&self) -> bool {
        self.driver_id.is_some()
            || (self.app_id.is_some() && self.ui_url.is_some())
            || self.offset >= SCAN_LIMIT
    }

    /// Learns from complete lines of output (the first occurrence wins).
    pub fn feed(&mut self, text: &str) {
        for line in text.lines() {
            if self.driver_id.is_none() {
                self.driver_id = token_after(line, REST_DRIVER, "driver-")
                    .or_else(|| token_after(line, LEGACY_DRIVER, "driver-"));
            }
            if self.app_id.is_none() {
                self.app_id = token_after(line, CLIENT_APP, "app-");
            }
            if self.ui_url.is_none() && line.contains(UI_BOUND) {
                self.ui_url = token_after(line, UI_AT, "http");
            }
            if self.ui_url.is_none() && line.ends_with(UI_JETTY_END) {
                self.ui_url = token_after(line, UI_JETTY, "")
                    .filter(|hp| !is_wildcard(hp))
                    .map(|hp| format!("http://{hp}"));
            }
        }
    }

    /// Reads the lines written since the last call (up to [`SCAN_LIMIT`]).
    pub fn advance(&mut self, log: &Path) {
        if self.done() {
            return;
        }
        let Ok(mut file) = std::fs::File::open(log) else {
            return;
        };
        if file.seek(SeekFrom::Start(self.offset)).is_err() {
            return;
        }
        let mut buf = Vec::new();
        if file
            .take(SCAN_LIMIT - self.offset)
            .read_to_end(&mut buf)
            .is_err()
        {
            return;
        }
        // A line still being written is read next time, whole.
        let Some(end) = buf.iter().rposition(|&b| b == b'\n') else {
            return;
        };
        self.feed(&String::from_utf8_lossy(&buf[..=end]));
        self.offset += end as u64 + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const CLUSTER: &str = "\
25/01/02 10:00:00 INFO RestSubmissionClient: Submitting a request to launch an application in spark://127.0.0.1:6066.
25/01/02 10:00:01 INFO RestSubmissionClient: Submission successfully created as driver-20250102100001-0003. Polling submission state...
25/01/02 10:00:01 INFO RestSubmissionClient: Server responded with CreateSubmissionResponse:
";
    /// Spark 3 wording.
    const CLIENT: &str = "\
25/01/02 10:00:00 INFO Utils: Successfully started service 'SparkUI' on port 4041.
25/01/02 10:00:00 INFO SparkUI: Bound SparkUI to 0.0.0.0, and started at http://10.0.0.5:4041
25/01/02 10:00:01 INFO StandaloneSchedulerBackend: Connected to Spark cluster with app ID app-20250102100001-0007
";
    /// Spark 4.3 wording (measured), as the worker's `/log/` serves a driver's stderr.
    const WORKER_LOG: &str = "\
==== Bytes 0-8330 of 8330 of /tmp/sa/work/driver-20261125014246-0001/stderr ====
26/11/25 01:42:48 INFO JettyUtils: Start Jetty 127.0.0.1:4040 for SparkUI
26/11/25 01:42:48 INFO Utils: Successfully started service 'SparkUI' on port 4040.
26/11/25 01:42:49 INFO StandaloneSchedulerBackend: Connected to Spark cluster with app ID app-20261125014249-0001
";

    #[test]
    fn spark_4_lines_give_app_and_ui() {
        let mut s = LogScan::default();
        s.feed(WORKER_LOG);
        assert_eq!(s.app_id.as_deref(), Some("app-20261125014249-0001"));
        assert_eq!(s.ui_url.as_deref(), Some("http://127.0.0.1:4040"));
    }

    #[test]
    fn a_wildcard_bind_is_no_link() {
        let mut s = LogScan::default();
        s.feed("INFO JettyUtils: Start Jetty 0.0.0.0:4040 for SparkUI\n");
        assert_eq!(s.ui_url, None);
    }

    #[test]
    fn cluster_mode_finds_the_driver() {
        let mut s = LogScan::default();
        s.feed(CLUSTER);
        assert_eq!(s.driver_id.as_deref(), Some("driver-20250102100001-0003"));
        assert!(s.done());
    }

    #[test]
    fn legacy_client_finds_the_driver() {
        let mut s = LogScan::default();
        s.feed(
            "INFO ClientEndpoint: Driver successfully submitted as driver-20250102100001-0004\n",
        );
        assert_eq!(s.driver_id.as_deref(), Some("driver-20250102100001-0004"));
    }

    #[test]
    fn client_mode_finds_app_and_ui() {
        let mut s = LogScan::default();
        s.feed(CLIENT);
        assert_eq!(s.app_id.as_deref(), Some("app-20250102100001-0007"));
        assert_eq!(s.ui_url.as_deref(), Some("http://10.0.0.5:4041"));
        assert_eq!(s.driver_id, None);
        assert!(s.done());
    }

    #[test]
    fn user_output_that_looks_alike_is_ignored() {
        let mut s = LogScan::default();
        s.feed("Connected to Spark cluster with app ID whatever\nBound the rest, and started at ftp://x\n");
        assert_eq!(s, LogScan::default());
    }

    #[test]
    fn reads_incrementally_and_only_whole_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("output.log");
        let mut f = std::fs::File::create(&path).unwrap();
        let (head, tail) = CLIENT.split_at(CLIENT.find("app-2025").unwrap());
        f.write_all(head.as_bytes()).unwrap();
        let mut s = LogScan::default();
        s.advance(&path);
        assert_eq!(s.ui_url.as_deref(), Some("http://10.0.0.5:4041"));
        assert_eq!(s.app_id, None, "the half-written line waits");
        f.write_all(tail.as_bytes()).unwrap();
        s.advance(&path);
        assert_eq!(s.app_id.as_deref(), Some("app-20250102100001-0007"));
        assert_eq!(s.offset, CLIENT.len() as u64);
    }
}
