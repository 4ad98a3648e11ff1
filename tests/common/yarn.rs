//! A real YARN (ResourceManager + two NodeManagers) and HDFS on loopback,
//! one per test binary: Hadoop's minicluster through `hack/yarn.sh`
//! (`hack/yarn/`). Started by the first test that asks, in a directory under
//! the target dir; a watchdog stops it and removes its directory once the
//! test binary has exited, however it exits.
#![allow(dead_code)]
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Server, get_json, post_json};

/// How long any YARN step may take on this machine.
pub const LONG: Duration = Duration::from_secs(300);

/// The cluster of this test binary.
pub struct Yarn {
    pub dir: PathBuf,
    /// `http://127.0.0.1:<port>`: the ResourceManager's web services.
    pub rm_url: String,
    /// `hdfs://127.0.0.1:<port>`.
    pub hdfs_url: String,
    /// `HADOOP_CONF_DIR` of the cluster (core-, yarn-, hdfs-site.xml).
    pub conf_dir: PathBuf,
    /// `SPARK_CONF_DIR` for applications on it (spark.yarn.jars=local:…).
    pub spark_conf_dir: PathBuf,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The cluster, started on first use (about 15 s).
pub fn yarn() -> &'static Yarn {
    static YARN: OnceLock<Yarn> = OnceLock::new();
    YARN.get_or_init(start)
}

fn start() -> Yarn {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "yarn-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let script = root().join("hack/yarn.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg("start")
        .arg(&dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "hack/yarn.sh start failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    watchdog(&script, &dir);
    let env: HashMap<String, String> = std::fs::read_to_string(dir.join("env"))
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    Yarn {
        rm_url: env["YARN_RM_URL"].clone(),
        hdfs_url: env["HDFS_URL"].clone(),
        conf_dir: dir.join("conf"),
        spark_conf_dir: dir.join("spark-conf"),
        dir,
    }
}

/// A detached shell that waits for this test binary to exit, then stops the
/// cluster and removes its directory.
fn watchdog(script: &Path, dir: &Path) {
    use std::os::unix::process::CommandExt;
    let me = std::process::id().to_string();
    // In the background of a shell that returns at once (waited for here):
    // the watchdog itself outlives this process.
    let line = r#"(while kill -0 "$1" 2>/dev/null; do sleep 1; done; bash "$2" stop "$3" >/dev/null 2>&1; rm -rf "$3") &"#;
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(line)
        .arg("watchdog")
        .arg(me)
        .arg(script)
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    assert!(cmd.status().unwrap().success());
}

impl Yarn {
    /// Environment for a livy-server (or spark-submit) that uses this cluster.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("HADOOP_CONF_DIR", self.conf_dir.display().to_string()),
            ("SPARK_CONF_DIR", self.spark_conf_dir.display().to_string()),
        ]
    }

    /// One application as the RM's REST API shows it.
    pub async fn app(&self, app_id: &str) -> Value {
        let url = format!("{}/ws/v1/cluster/apps/{app_id}", self.rm_url);
        let (code, body) = get_json(&url).await;
        assert_eq!(code, 200, "{url}: {body}");
        body["app"].clone()
    }

    /// Waits until the RM shows `app_id` in one of `states` (its `state`
    /// field: NEW, ACCEPTED, RUNNING, FINISHED, FAILED, KILLED); the app.
    pub async fn wait_app(&self, app_id: &str, states: &[&str], timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let app = self.app(app_id).await;
            if states.contains(&app["state"].as_str().unwrap_or_default()) {
                return app;
            }
            assert!(
                Instant::now() < deadline,
                "{app_id} never reached {states:?}: {app}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// `hdfs dfs ARGS` against the cluster (Hadoop's FsShell).
    pub fn hdfs(&self, args: &[&str]) -> String {
        let out = Command::new("bash")
            .arg(root().join("hack/yarn.sh"))
            .arg("hdfs")
            .arg(&self.dir)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "hdfs dfs {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// Outages of the ResourceManager alone (`hack/yarn.sh rm-stop` / `rm-start`):
/// the NodeManagers, HDFS and the containers keep running.
impl Yarn {
    fn control(&self, args: &[&str]) {
        let out = Command::new("bash")
            .arg(root().join("hack/yarn.sh"))
            .arg(args[0])
            .arg(&self.dir)
            .args(&args[1..])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "hack/yarn.sh {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Stops the ResourceManager; its REST API refuses connections.
    pub fn rm_stop(&self) {
        self.control(&["rm-stop"]);
    }

    /// Starts the ResourceManager again on the same ports, once the
    /// NodeManagers have registered with it. It recovers its applications
    /// from its state store; `fresh` empties that first, so it has never
    /// heard of them (an RM without recovery).
    pub fn rm_start(&self, fresh: bool) {
        if fresh {
            self.control(&["rm-start", "fresh"]);
        } else {
            self.control(&["rm-start"]);
        }
    }

    /// The RM's applications whose tags include `tag`.
    pub async fn apps_tagged(&self, tag: &str) -> Vec<Value> {
        let url = format!("{}/ws/v1/cluster/apps?applicationTags={tag}", self.rm_url);
        let (code, body) = get_json(&url).await;
        assert_eq!(code, 200, "{url}: {body}");
        body["apps"]["app"].as_array().cloned().unwrap_or_default()
    }
}

/// `body` as a small application: the two NodeManagers hold 8 GB and 8
/// vcores.
pub fn small(mut body: Value) -> Value {
    let sizes = serde_json::json!({"driverMemory": "512m", "executorMemory": "512m", "numExecutors": 1, "executorCores": 1});
    for (k, v) in sizes.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

/// A server on this binary's cluster: deploy `mode`, data under `data`,
/// local files allowed from `files`, on `port` (the same port and data
/// make a restart of the same server).
pub fn server(port: u16, data: &Path, files: &Path, mode: &str, extra: &[String]) -> Server {
    let env = yarn().env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut conf = vec![
        "livy.spark.master=yarn".to_owned(),
        format!("livy.spark.deploy-mode={mode}"),
        format!("livy.file.local-dir-whitelist={}", files.display()),
        // Drivers in containers on this host dial back over loopback.
        "livy.rsc.launcher.address=127.0.0.1".to_owned(),
        "livy.server.yarn.poll-interval=1s".to_owned(),
    ];
    conf.extend_from_slice(extra);
    Server::start_with(port, data, &conf, &env)
}

/// POSTs `body` to `path`; the new record's id and URL.
pub async fn create(server: &Server, path: &str, body: &Value) -> (u64, String) {
    let (code, b) = post_json(&server.url(path), body).await;
    assert_eq!(code, 201, "{b}");
    let id = b["id"].as_u64().unwrap();
    (id, server.url(&format!("{path}/{id}")))
}

/// The `appId` once the server knows it: a real YARN application id.
pub async fn app_id(url: &str) -> String {
    let deadline = Instant::now() + LONG;
    loop {
        let (_, b) = get_json(url).await;
        if let Some(id) = b["appId"].as_str() {
            assert!(id.starts_with("application_"), "{b}");
            return id.to_owned();
        }
        assert!(Instant::now() < deadline, "no appId: {b}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
