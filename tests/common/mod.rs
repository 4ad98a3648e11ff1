//! Shared helpers for end-to-end tests: start the real `livy-server` binary
//! on a free port with its own data dir, talk to it over HTTP, wait on states
//! with generous deadlines (never fixed sleeps), and find processes by PID.
#![allow(dead_code)]
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Spark is CPU-bound on small machines: one Spark-running test at a time per
/// binary. A tokio mutex, so it may be held across awaits (each test has its
/// own runtime; tokio's mutex works across runtimes).
static SPARK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub async fn spark_slot() -> tokio::sync::MutexGuard<'static, ()> {
    SPARK.lock().await
}

pub fn spark_home() -> PathBuf {
    PathBuf::from(
        std::env::var("SPARK_HOME")
            .expect("SPARK_HOME is set by hack/test.sh (source hack/env.sh)"),
    )
}

/// A port free right now and never handed out before in this test binary:
/// the kernel may give the same ephemeral port to two tests asking at once,
/// and two servers on one port would see each other's requests.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

pub struct Server {
    pub child: Child,
    pub port: u16,
    pub data_dir: PathBuf,
    pub base: String,
    log_path: PathBuf,
    /// Where this start's lines begin in the (appended) log.
    log_from: usize,
}

impl Server {
    /// Starts the server with `data_dir` and extra `--conf key=value` pairs.
    pub fn start(data_dir: &Path, conf: &[String]) -> Server {
        Self::start_on(free_port(), data_dir, conf)
    }

    pub fn start_on(port: u16, data_dir: &Path, conf: &[String]) -> Server {
        Self::start_with(port, data_dir, conf, &[])
    }

    /// Like [`Server::start_on`], with extra environment variables.
    pub fn start_with(port: u16, data_dir: &Path, conf: &[String], env: &[(&str, &str)]) -> Server {
        let cmd = Command::new(env!("CARGO_BIN_EXE_livy-server"));
        Self::start_command(cmd, port, data_dir, conf, env)
    }

    /// Like [`Server::start`], the server started as a script's `&` and
    /// `nohup` start a program: with [`INHERITED_IGNORED`] ignored.
    pub fn start_ignoring(data_dir: &Path, conf: &[String]) -> Server {
        let cmd = ignoring_signals(env!("CARGO_BIN_EXE_livy-server"));
        Self::start_command(cmd, free_port(), data_dir, conf, &[])
    }

    fn start_command(
        mut cmd: Command,
        port: u16,
        data_dir: &Path,
        conf: &[String],
        env: &[(&str, &str)],
    ) -> Server {
        std::fs::create_dir_all(data_dir).unwrap();
        let log_path = data_dir.join(format!("server-{port}.log"));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .unwrap();
        let log_from = log.metadata().unwrap().len() as usize;
        cmd.arg("--port")
            .arg(port.to_string())
            .arg("--data-dir")
            .arg(data_dir);
        cmd.arg("--conf").arg("livy.server.host=127.0.0.1");
        // A driver whose server is gone (a failed test) exits within a minute.
        cmd.arg("--conf").arg("livy.rsc.server.idle-timeout=60s");
        // One compiled session driver for every server of the test run.
        cmd.arg("--conf").arg(format!(
            "livy.server.driver.cache-dir={}/driver-cache",
            env!("CARGO_TARGET_TMPDIR")
        ));
        for c in conf {
            cmd.arg("--conf").arg(c);
        }
        cmd.envs(env.iter().copied());
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut server = Server {
            child,
            port,
            data_dir: data_dir.to_owned(),
            base: format!("http://127.0.0.1:{port}"),
            log_path,
            log_from,
        };
        server.wait_ready();
        server
    }

    /// Until this child says it listens (a port answering is not enough:
    /// it could be another process's); panics if it exits first.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let log = std::fs::read(&self.log_path).unwrap_or_default();
            let ours = String::from_utf8_lossy(log.get(self.log_from..).unwrap_or_default());
            if ours.contains("livy-server listening") {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("server exited ({status}) before listening; its log:\n{ours}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "server did not listen on {}; its log:\n{}",
            self.port,
            self.log()
        );
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// SIGKILL, as a crash would.
    pub fn crash(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

pub async fn get_json(url: &str) -> (u16, Value) {
    let r = client().get(url).send().await.unwrap();
    let code = r.status().as_u16();
    (code, r.json().await.unwrap_or(Value::Null))
}

pub async fn post_json(url: &str, body: &Value) -> (u16, Value) {
    let r = client().post(url).json(body).send().await.unwrap();
    let code = r.status().as_u16();
    (code, r.json().await.unwrap_or(Value::Null))
}

pub async fn delete(url: &str) -> (u16, Value) {
    let r = client().delete(url).send().await.unwrap();
    let code = r.status().as_u16();
    (code, r.json().await.unwrap_or(Value::Null))
}

/// Polls `GET {url}` until `state` is one of `want`; panics (with the last
/// body) when a finished state that is not wanted appears or on timeout.
pub async fn wait_state(url: &str, want: &[&str], timeout: Duration) -> Value {
    let deadline = Instant::now() + timeout;
    let mut last = Value::Null;
    while Instant::now() < deadline {
        let (code, body) = get_json(url).await;
        if code == 200 {
            let state = body["state"].as_str().unwrap_or("").to_owned();
            if want.contains(&state.as_str()) {
                return body;
            }
            if ["success", "dead", "killed", "error"].contains(&state.as_str()) {
                panic!("reached {state} while waiting for {want:?}: {body}");
            }
        }
        last = body;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {want:?} at {url}; last: {last}");
}

/// Full log of a batch or session.
pub async fn full_log(url: &str) -> Vec<String> {
    let (_, body) = get_json(&format!("{url}/log?size=-1")).await;
    body["log"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|l| l.as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `pid` is a live (non-zombie) process.
pub fn pid_alive(pid: u32) -> bool {
    livy_server::launcher::procfs::stat(pid).is_some_and(|(state, _, _)| state != 'Z')
}

/// Every descendant of `root` right now.
#[allow(unused_imports)] // not every test binary uses it
pub use livy_server::launcher::procfs::descendants;

/// Every live application under the server's apps dir: its directory (the
/// tag) with its supervisor's PID and the supervisor's descendants.
pub fn app_processes(server: &Server) -> Vec<(String, Vec<u32>)> {
    let mut out = vec![];
    for dir in std::fs::read_dir(server.data_dir.join("apps"))
        .unwrap()
        .flatten()
    {
        if let Ok(bytes) = std::fs::read(dir.path().join("supervisor.json")) {
            let sup: Value = serde_json::from_slice(&bytes).unwrap();
            let pid = sup["pid"].as_u64().unwrap() as u32;
            if pid_alive(pid) {
                let mut pids = vec![pid];
                pids.extend(descendants(pid));
                out.push((dir.file_name().to_string_lossy().into_owned(), pids));
            }
        }
    }
    out
}

pub fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}

/// Compiles a tiny SparkPi (Java) against `$SPARK_HOME/jars/*` into a jar,
/// once per test binary.
pub fn spark_pi_jar(dir: &Path) -> PathBuf {
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("SparkPi.java"), SPARK_PI_JAVA).unwrap();
    let classes = dir.join("classes");
    std::fs::create_dir_all(&classes).unwrap();
    let cp = format!("{}/jars/*", spark_home().display());
    let ok = Command::new("javac")
        .args(["-cp", &cp, "-d"])
        .arg(&classes)
        .arg(src.join("SparkPi.java"))
        .status()
        .unwrap()
        .success();
    assert!(ok, "javac failed");
    let jar = dir.join("spark-pi.jar");
    let ok = Command::new("jar")
        .arg("cf")
        .arg(&jar)
        .arg("-C")
        .arg(&classes)
        .arg(".")
        .status()
        .unwrap()
        .success();
    assert!(ok, "jar failed");
    jar
}

const SPARK_PI_JAVA: &str = r#"
package example;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.api.java.JavaSparkContext;
public class SparkPi {
    public static void main(String[] args) {
        SparkSession spark = SparkSession.builder().appName("JavaSparkPi").getOrCreate();
        JavaSparkContext jsc = new JavaSparkContext(spark.sparkContext());
        int slices = args.length > 0 ? Integer.parseInt(args[0]) : 2;
        int n = 10000 * slices;
        List<Integer> l = new ArrayList<>(n);
        for (int i = 0; i < n; i++) l.add(i);
        int count = jsc.parallelize(l, slices).map(i -> {
            double x = Math.random() * 2 - 1, y = Math.random() * 2 - 1;
            return (x * x + y * y <= 1) ? 1 : 0;
        }).reduce(Integer::sum);
        System.out.println("Pi is roughly " + 4.0 * count / n);
        if (args.length > 1 && args[1].equals("sleep")) {
            try { Thread.sleep(600_000); } catch (InterruptedException e) { }
        }
        System.out.println("ARGS " + String.join("|", args));
        spark.stop();
        if (args.length > 1 && args[1].equals("fail")) System.exit(3);
    }
}
"#;

/// The Python pi application used by several tests: prints its result and
/// its argv (as JSON, so the test can compare exactly).
pub const PI_PY: &str = r#"
import json, random, sys
from pyspark.sql import SparkSession
spark = SparkSession.builder.appName("pi").getOrCreate()
n = 20000
count = spark.sparkContext.parallelize(range(n), 2).map(lambda _: 1 if random.random() ** 2 + random.random() ** 2 < 1 else 0).reduce(lambda a, b: a + b)
print("Pi is roughly %f" % (4.0 * count / n))
print("ARGV " + json.dumps(sys.argv[1:]))
spark.stop()
"#;

/// A Spark standalone master + worker from the project's pip Spark, with the
/// worker's work dir in a temp dir. Stopped (killed) on drop.
pub struct Standalone {
    master: Child,
    worker: Child,
    pub master_url: String,
    pub web_ui: String,
    pub rest_url: String,
    /// `host:port` of the web UI and the REST server, for livy.conf.
    pub ui_address: String,
    pub rest_address: String,
    _dir: tempfile::TempDir,
}

impl Standalone {
    pub fn start() -> Standalone {
        let dir = tempfile::tempdir().unwrap();
        let (port, ui, rest) = (free_port(), free_port(), free_port());
        let class = spark_home().join("bin/spark-class");
        let props = dir.path().join("master.conf");
        std::fs::write(
            &props,
            format!("spark.master.rest.enabled true\nspark.master.rest.port {rest}\n"),
        )
        .unwrap();
        let log = |name: &str| std::fs::File::create(dir.path().join(name)).unwrap();
        let master = Command::new(&class)
            .args([
                "org.apache.spark.deploy.master.Master",
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--webui-port",
                &ui.to_string(),
                "--properties-file",
            ])
            .arg(&props)
            .stdout(log("master.out"))
            .stderr(log("master.err"))
            .spawn()
            .unwrap();
        let work = dir.path().join("work");
        std::fs::create_dir_all(&work).unwrap();
        let master_url = format!("spark://127.0.0.1:{port}");
        let worker = Command::new(&class)
            .args([
                "org.apache.spark.deploy.worker.Worker",
                &master_url,
                "--webui-port",
                &free_port().to_string(),
                "--cores",
                "2",
                "--memory",
                "2g",
                "--work-dir",
            ])
            .arg(&work)
            .stdout(log("worker.out"))
            .stderr(log("worker.err"))
            .spawn()
            .unwrap();
        let s = Standalone {
            master,
            worker,
            master_url,
            web_ui: format!("http://127.0.0.1:{ui}"),
            rest_url: format!("spark://127.0.0.1:{rest}"),
            ui_address: format!("127.0.0.1:{ui}"),
            rest_address: format!("127.0.0.1:{rest}"),
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let alive = std::process::Command::new("curl")
                .args(["-s", &format!("{}/json/", s.web_ui)])
                .output()
                .ok()
                .and_then(|o| serde_json::from_slice::<Value>(&o.stdout).ok())
                .and_then(|v| v["aliveworkers"].as_u64())
                .unwrap_or(0);
            if alive >= 1 {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "standalone cluster did not come up"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// The master's `/json/` document.
    pub async fn state(&self) -> Value {
        get_json(&format!("{}/json/", self.web_ui)).await.1
    }
}

impl Drop for Standalone {
    fn drop(&mut self) {
        for c in [&mut self.worker, &mut self.master] {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Posts a statement and waits until it is `available` (or cancelled).
pub async fn run_statement(server: &Server, session: u64, body: Value) -> Value {
    let (code, st) = post_json(
        &server.url(&format!("/sessions/{session}/statements")),
        &body,
    )
    .await;
    assert_eq!(code, 201, "{st}");
    wait_statement(
        server,
        session,
        st["id"].as_u64().unwrap(),
        &["available"],
        Duration::from_secs(180),
    )
    .await
}

pub async fn wait_statement(
    server: &Server,
    session: u64,
    id: u64,
    want: &[&str],
    timeout: Duration,
) -> Value {
    let url = server.url(&format!("/sessions/{session}/statements/{id}"));
    let deadline = Instant::now() + timeout;
    loop {
        let (_, st) = get_json(&url).await;
        if want.contains(&st["state"].as_str().unwrap_or("")) {
            return st;
        }
        assert!(
            Instant::now() < deadline,
            "statement {id} never reached {want:?}: {st}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Text of an ok output, or panics with the output.
pub fn text(st: &Value) -> String {
    assert_eq!(st["output"]["status"], "ok", "{st}");
    st["output"]["data"]["text/plain"]
        .as_str()
        .unwrap_or_else(|| panic!("no text/plain: {st}"))
        .to_owned()
}

/// The Spark version of `$SPARK_HOME` as pyspark itself states it
/// (`version.py`), independent of the jar names the server reads.
pub fn expected_spark_version() -> String {
    let text = std::fs::read_to_string(spark_home().join("version.py"))
        .expect("SPARK_HOME is a pip pyspark with version.py");
    let line = text
        .lines()
        .find(|l| l.starts_with("__version__"))
        .expect("__version__ in version.py");
    line.split(['"', '\''])
        .nth(1)
        .expect("__version__ = 'x.y.z' in version.py")
        .to_owned()
}

/// The project virtualenv's Python, where `hack/setup.sh --test` installs
/// the real Livy clients (pylivy, sparkmagic).
pub fn client_python() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python")
}

/// A Debian tool that may live in /usr/sbin, which is not on every PATH.
#[allow(dead_code)]
pub fn system_tool(name: &str) -> std::path::PathBuf {
    let sbin = std::path::Path::new("/usr/sbin").join(name);
    if sbin.exists() { sbin } else { name.into() }
}

/// A Spark home whose `spark-submit` is the stand-in
/// (tests/fixtures/fake_spark_submit.py), for tests of the server, not Spark.
pub fn fake_spark_home(dir: &Path) -> PathBuf {
    let home = dir.join("fake-spark");
    std::fs::create_dir_all(home.join("bin")).unwrap();
    // Inside the Spark home, which the application sandbox shows.
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fake_spark_submit.py"),
        home.join("bin/fake_spark_submit.py"),
    )
    .unwrap();
    let script = "#!/bin/sh\nexec python3 \"$(dirname \"$0\")/fake_spark_submit.py\" \"$@\"\n";
    std::fs::write(home.join("bin/spark-submit"), script).unwrap();
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(home.join("bin/spark-submit"))
        .status()
        .unwrap();
    // The real jars, so the session driver build (cached per test run) works.
    std::os::unix::fs::symlink(spark_home().join("jars"), home.join("jars")).unwrap();
    home
}

/// Runs `cmd` with `input` on its standard input; its output once it exits.
#[allow(dead_code)] // each test binary uses a part
pub fn run_with_input(cmd: &mut Command, input: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// The signals a script's `&` (SIGINT, SIGQUIT) and `nohup` (SIGHUP) leave
/// ignored, as `sh`'s `trap` names them.
pub const INHERITED_IGNORED: &str = "HUP INT QUIT";

/// `program` started through `sh` with [`INHERITED_IGNORED`] ignored, as a
/// script would start it (ignored dispositions survive `exec`; the PID is
/// the program's).
pub fn ignoring_signals(program: &str) -> Command {
    let mut cmd = Command::new("sh");
    cmd.args([
        "-c",
        &format!("trap '' {INHERITED_IGNORED}; exec \"$0\" \"$@\""),
        program,
    ]);
    cmd
}

/// A signal mask of a process's `/proc/<pid>/status` (`"SigIgn"`,
/// `"SigBlk"`, `"SigCgt"`), bit n-1 for signal n.
pub fn signal_mask(status: &str, field: &str) -> u64 {
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no {field} in {status}"));
    u64::from_str_radix(hex.trim(), 16).unwrap()
}

/// The bit of signal `sig` in a `/proc` mask.
pub fn sig_bit(sig: nix::sys::signal::Signal) -> u64 {
    1 << (sig as i32 - 1)
}

/// Every signal but glibc's reserved 32 and 33, which its `posix_spawn`
/// (std's, Java's) leaves ignored in every child and no program can use.
pub const NOT_RESERVED: u64 = !(0b11 << 31);

/// A users file at `path` for `users`, each with the password
/// `<user>-password`, hashed by the server binary's own `hash-password`.
#[allow(dead_code)] // each test binary uses a part
pub fn users_file(path: &Path, users: &[&str]) {
    let mut text = String::new();
    for user in users {
        let out = run_with_input(
            Command::new(env!("CARGO_BIN_EXE_livy-server")).arg("hash-password"),
            &format!("{user}-password\n"),
        );
        assert!(out.status.success());
        let hash = String::from_utf8(out.stdout).unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        text.push_str(&format!("{user}:{}\n", hash.trim()));
    }
    std::fs::write(path, text).unwrap();
}

/// A Spark home at `home` that is `inner` but for `bin/spark-submit`, which
/// is `script` (a shell script; `inner`'s own is at `$inner/bin/spark-submit`).
#[allow(dead_code)] // each test binary uses a part
pub fn wrapped_spark_home(home: &Path, inner: &Path, script: &str) -> PathBuf {
    std::fs::create_dir_all(home.join("bin")).unwrap();
    for entry in std::fs::read_dir(inner).unwrap().flatten() {
        if entry.file_name() != "bin" {
            std::os::unix::fs::symlink(entry.path(), home.join(entry.file_name())).unwrap();
        }
    }
    for entry in std::fs::read_dir(inner.join("bin")).unwrap().flatten() {
        if entry.file_name() != "spark-submit" {
            std::os::unix::fs::symlink(entry.path(), home.join("bin").join(entry.file_name()))
                .unwrap();
        }
    }
    let submit = home.join("bin/spark-submit");
    std::fs::write(&submit, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&submit, std::fs::Permissions::from_mode(0o755)).unwrap();
    home.to_path_buf()
}

/// Starts a Spark job of about 100 s (200 one-second tasks) as a Python
/// statement of `session`, and returns its id once a task has run (its
/// progress moved): a job a cancel must stop.
#[allow(dead_code)] // each test binary uses a part
pub async fn start_slow_spark_job(server: &Server, session: u64, within: Duration) -> u64 {
    let slow =
        "sc.parallelize(range(200), 100).map(lambda x: __import__('time').sleep(1) or x).count()";
    let (code, st) = post_json(
        &server.url(&format!("/sessions/{session}/statements")),
        &serde_json::json!({"code": slow}),
    )
    .await;
    assert_eq!(code, 201, "{st}");
    let sid = st["id"].as_u64().unwrap();
    let deadline = Instant::now() + within;
    loop {
        let (_, st) = get_json(&server.url(&format!("/sessions/{session}/statements/{sid}"))).await;
        if st["progress"].as_f64().unwrap_or(0.0) > 0.0 {
            return sid;
        }
        assert!(Instant::now() < deadline, "the job never progressed: {st}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A Python job for the Job API: `lambda_src` (a function of the job
/// context) cloudpickled by the project's Python and base64-encoded, as
/// Livy's Python client sends it.
#[allow(dead_code)] // each test binary uses a part
pub fn pickled_job(lambda_src: &str) -> String {
    client_python_prints(
        &format!(
            "import base64, cloudpickle\nprint(base64.b64encode(cloudpickle.dumps({lambda_src})).decode())"
        ),
        &[],
    )
}

/// A Python job's `result` as Livy's Python client reads it (base64 twice,
/// then unpickled), as its `repr`.
#[allow(dead_code)] // each test binary uses a part
pub fn unpickled_result(result: &str) -> String {
    client_python_prints(
        "import base64, sys, cloudpickle\nprint(repr(cloudpickle.loads(base64.b64decode(base64.b64decode(sys.argv[1])))))",
        &[result],
    )
}

/// What `script` (run by [`client_python`] with `args`) prints, trimmed.
#[allow(dead_code)] // each test binary uses a part
fn client_python_prints(script: &str, args: &[&str]) -> String {
    let out = Command::new(client_python())
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Submits a Python job to session `sid` and waits until it ends; its status.
#[allow(dead_code)] // each test binary uses a part
pub async fn run_python_job(server: &Server, sid: u64, lambda_src: &str) -> Value {
    let (code, job) = post_json(
        &server.url(&format!("/sessions/{sid}/submit-job")),
        &serde_json::json!({"job": pickled_job(lambda_src), "jobType": "pyspark"}),
    )
    .await;
    assert_eq!(code, 201, "{job}");
    let url = server.url(&format!("/sessions/{sid}/jobs/{}", job["id"]));
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    loop {
        let (code, status) = get_json(&url).await;
        assert_eq!(code, 200, "{status}");
        if ["SUCCEEDED", "FAILED", "CANCELLED"]
            .contains(&status["state"].as_str().unwrap_or_default())
        {
            return status;
        }
        assert!(std::time::Instant::now() < deadline, "{status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
