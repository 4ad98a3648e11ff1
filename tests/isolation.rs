//! Session code cannot reach the server's secrets or other sessions: the
//! real binary with built-in users, a cookie secret and a `livy.conf`, all
//! inside a directory the sandbox shows (the local-dir whitelist), and
//! secrets in its environment; two real Spark sessions (local mode), one
//! cold and one adopted from the warm pool. From the pooled `shared`
//! session's Python, Scala and R, every attempt to read the
//! server's environment, data dir and store, users file, cookie secret,
//! configuration, the other session's application directory and its
//! driver's secret (from any `/proc/*/environ`) fails — while the same
//! session still runs Spark jobs, reads its own whitelisted input and
//! writes its own output, and the other reads the file it was given
//! (`files`). The keytab is tried in `auth_e2e` (Kerberos).

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use serde_json::{Value, json};

const START: Duration = Duration::from_secs(300);
const PG_SECRET: &str = "pg-secret-7c1f";
const AWS_SECRET: &str = "aws-secret-93ab";

async fn call(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = client()
        .request(method, server.url(path))
        .basic_auth("alice", Some("alice-password"))
        .header("X-Requested-By", "test");
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let code = r.status().as_u16();
    (code, r.json().await.unwrap_or(Value::Null))
}

async fn session(server: &Server, body: Value) -> u64 {
    let (code, s) = call(server, reqwest::Method::POST, "/sessions", Some(body)).await;
    assert_eq!(code, 201, "{s}");
    let id = s["id"].as_u64().unwrap();
    let deadline = std::time::Instant::now() + START;
    loop {
        let (_, s) = call(
            server,
            reqwest::Method::GET,
            &format!("/sessions/{id}"),
            None,
        )
        .await;
        match s["state"].as_str() {
            Some("idle") => return id,
            Some("starting") => {}
            other => panic!("session {id} is {other:?}: {s}\n{}", server.log()),
        }
        assert!(
            std::time::Instant::now() < deadline,
            "session {id} never idle"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Runs `code` as `kind` in `session`; its ok text output.
async fn run(server: &Server, session: u64, kind: &str, code: &str) -> String {
    let (status, st) = call(
        server,
        reqwest::Method::POST,
        &format!("/sessions/{session}/statements"),
        Some(json!({"kind": kind, "code": code})),
    )
    .await;
    assert_eq!(status, 201, "{st}");
    let url = format!("/sessions/{session}/statements/{}", st["id"]);
    let deadline = std::time::Instant::now() + START;
    loop {
        let (_, st) = call(server, reqwest::Method::GET, &url, None).await;
        if st["state"] == "available" {
            assert_eq!(st["output"]["status"], "ok", "{kind}: {code}\n{st}");
            return st["output"]["data"]["text/plain"]
                .as_str()
                .unwrap()
                .to_owned();
        }
        assert!(std::time::Instant::now() < deadline, "{st}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the warm pool has a ready driver.
async fn pool_ready(server: &Server) {
    let deadline = std::time::Instant::now() + START;
    loop {
        let text = client()
            .get(server.url("/metrics"))
            .basic_auth("alice", Some("alice-password"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if text
            .lines()
            .any(|l| l == "livy_session_pool_drivers{ready=\"true\"} 1")
        {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the pool never got ready"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The driver JVM (and its children) of the application with tag prefix `tag`.
fn driver_pids(server: &Server, tag_prefix: &str) -> (String, Vec<u32>) {
    app_processes(server)
        .into_iter()
        .find(|(tag, _)| tag.starts_with(tag_prefix))
        .unwrap_or_else(|| panic!("no application {tag_prefix}: {:?}", app_processes(server)))
}

#[tokio::test]
async fn session_code_cannot_reach_the_servers_secrets_or_other_sessions() {
    let _slot = spark_slot().await;
    let tmp = tempfile::tempdir().unwrap();
    // One whitelisted directory holds everything: what the sandbox shows.
    let shared = tmp.path().join("shared");
    let conf = shared.join("conf");
    std::fs::create_dir_all(&conf).unwrap();
    let data = shared.join("data");
    let users = conf.join("users");
    users_file(&users, &["alice"]);
    let cookie = conf.join("cookie-secret");
    std::fs::write(&cookie, "cookie-secret-5d2e0f9a1b7c4e3d8f6a2b1c0d9e8f7a").unwrap();
    std::fs::write(
        conf.join("livy.conf"),
        format!(
            "livy.server.auth.type = basic\nlivy.server.auth.basic.users-file = {}\nlivy.server.auth.cookie.secret-file = {}\nlivy.file.local-dir-whitelist = {}\n",
            users.display(),
            cookie.display(),
            shared.display()
        ),
    )
    .unwrap();
    let input = shared.join("input.txt");
    std::fs::write(&input, "own input\n").unwrap();
    let server = Server::start_with(
        free_port(),
        &data,
        &[
            "livy.rsc.launcher.port.range=0~0".into(),
            "livy.server.session.pool.size=1".into(),
        ],
        &[
            ("LIVY_CONF_DIR", conf.to_str().unwrap()),
            ("PGPASSWORD", PG_SECRET),
            ("AWS_SECRET_ACCESS_KEY", AWS_SECRET),
        ],
    );

    let upload = shared.join("upload.txt");
    std::fs::write(&upload, "uploaded\n").unwrap();
    // Settings of its own: a cold driver, not the pooled one, with a file.
    let victim = session(
        &server,
        json!({"kind": "pyspark", "files": [upload], "conf": {"spark.livy.test.cold": "1"}}),
    )
    .await;
    // The sandboxed session reads the files it was given.
    let got = run(
        &server,
        victim,
        "pyspark",
        "from pyspark import SparkFiles
print(open(SparkFiles.get('upload.txt')).read(), end='')",
    )
    .await;
    assert_eq!(got.trim_end(), "uploaded");
    let (victim_tag, victim_pids) = driver_pids(&server, &format!("livy-session-{victim}-"));
    // The victim driver's secret, as the host sees it.
    let victim_secret = victim_pids
        .iter()
        .find_map(|p| {
            let env = std::fs::read(format!("/proc/{p}/environ")).ok()?;
            String::from_utf8_lossy(&env)
                .split('\0')
                .find_map(|kv| kv.strip_prefix("LIVY_SESSION_SECRET=").map(str::to_owned))
        })
        .expect("the victim's driver has its secret in its environment");
    assert!(victim_secret.len() >= 16);

    pool_ready(&server).await;
    let attacker = session(&server, json!({"kind": "shared"})).await;
    let (_, got) = call(
        &server,
        reqwest::Method::GET,
        &format!("/sessions/{attacker}"),
        None,
    )
    .await;
    assert_eq!(
        got["fromPool"], true,
        "the attacker is a pooled session: {got}"
    );
    let (_, attacker_pids) = driver_pids(&server, &format!("livy-session-{attacker}-"));
    // The driver JVM is in a PID namespace of its own.
    let my_ns = std::fs::read_link("/proc/self/ns/pid").unwrap();
    let jvm = *attacker_pids
        .iter()
        .find(|p| cmdline(**p).contains("LivyReplDriver") && cmdline(**p).contains("java"))
        .unwrap_or_else(|| panic!("no driver JVM in {attacker_pids:?}"));
    assert_ne!(
        std::fs::read_link(format!("/proc/{jvm}/ns/pid")).unwrap(),
        my_ns
    );
    // No descriptor of the server reached it: none of its processes holds
    // the store or the server's log open.
    for pid in &attacker_pids {
        for fd in std::fs::read_dir(format!("/proc/{pid}/fd"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let target = std::fs::read_link(fd.path()).unwrap_or_default();
            let target = target.display().to_string();
            assert!(
                !target.contains("livy.db") && !target.contains("/server-"),
                "process {pid} ({}) holds {target}",
                cmdline(*pid)
            );
        }
    }

    let store = data.join("livy.db");
    assert!(store.exists(), "the store is where the test looks");
    let victim_dir = data.join("apps").join(&victim_tag);
    let secrets = [
        store.clone(),
        users.clone(),
        cookie.clone(),
        conf.join("livy.conf"),
        victim_dir.join("output.log"),
        victim_dir.join("supervisor.json"),
        "/etc/shadow".into(),
    ];
    let files: Vec<String> = secrets.iter().map(|p| p.display().to_string()).collect();
    let python = format!(
        r#"
import glob, json, os
def tryread(p):
    try:
        with open(p, 'rb') as f:
            return 'READ ' + f.read(64).decode('latin1')
    except Exception as e:
        return 'ERR ' + type(e).__name__
envs = []
for p in glob.glob('/proc/[0-9]*/environ'):
    try:
        envs.append(open(p, 'rb').read().decode('latin1'))
    except Exception:
        pass
try:
    listed = os.listdir({apps:?})
except Exception as e:
    listed = 'ERR ' + type(e).__name__
open('out.txt', 'w').write('written')
print(json.dumps({{
    'env': [os.environ.get(k) for k in ('PGPASSWORD', 'AWS_SECRET_ACCESS_KEY', 'LIVY_CONF_DIR')],
    'files': [tryread(p) for p in {files:?}],
    'apps': listed,
    'victim_secret_seen': any({secret:?} in e for e in envs),
    'pids': len(glob.glob('/proc/[0-9]*')),
    'spark': sc.parallelize(range(100)).sum(),
    'own': open({input:?}).read(),
    'wrote': open('out.txt').read(),
    'home': os.environ.get('HOME'),
}}))
"#,
        apps = data.join("apps").display().to_string(),
        files = files,
        secret = victim_secret,
        input = input.display().to_string(),
    );
    let out: Value =
        serde_json::from_str(run(&server, attacker, "pyspark", &python).await.trim()).unwrap();
    assert_eq!(out["env"], json!([null, null, null]), "{out}");
    // Hidden: not there, or (a file inside a shown directory) empty.
    for (path, got) in files.iter().zip(out["files"].as_array().unwrap()) {
        let got = got.as_str().unwrap();
        assert!(
            got.starts_with("ERR ") || got == "READ ",
            "{path} was read: {got}"
        );
    }
    eprintln!("attempts from Python: {out}");
    let apps = out["apps"].as_array().map(|a| {
        a.iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    });
    if let Some(apps) = &apps {
        assert!(
            !apps.contains(&victim_tag),
            "the other session's app dir is listed: {apps:?}"
        );
        assert_eq!(apps.len(), 1, "only its own app dir: {apps:?}");
    }
    assert_eq!(out["victim_secret_seen"], false, "{out}");
    assert!(
        out["pids"].as_u64().unwrap() < 50,
        "sees the host's processes: {out}"
    );
    // ... and it still works.
    assert_eq!(out["spark"], 4950);
    assert_eq!(out["own"], "own input\n");
    assert_eq!(out["wrote"], "written");
    let app_dir = out["home"].as_str().unwrap();
    assert!(
        std::fs::read_to_string(Path::new(app_dir).join("out.txt")).unwrap() == "written",
        "its output is in its own application directory {app_dir}"
    );

    // Scala and R in the same session see no more.
    let scala = run(
        &server,
        attacker,
        "spark",
        &format!(
            "def size(p: String) = scala.util.Try(java.nio.file.Files.readAllBytes(java.nio.file.Paths.get(p)).length).getOrElse(-1)\n(sys.env.get(\"PGPASSWORD\"), size({:?}) > 0, size({:?}) > 0, sc.parallelize(1 to 10).sum)",
            store.display().to_string(),
            users.display().to_string()
        ),
    )
    .await;
    assert!(scala.contains("(None,false,false,55.0)"), "{scala}");
    let r = run(
        &server,
        attacker,
        "sparkr",
        &format!(
            "size <- function(p) tryCatch(length(readBin(p, 'raw', 1000)), error = function(e) -1, warning = function(w) -1)\ncat(Sys.getenv('AWS_SECRET_ACCESS_KEY') == '', size({:?}) > 0, size({:?}) > 0, '\\n')",
            cookie.display().to_string(),
            store.display().to_string()
        ),
    )
    .await;
    assert_eq!(r.trim(), "TRUE FALSE FALSE", "{r}");

    // The server itself still reads all of it (it is the same host).
    let (code, _) = call(
        &server,
        reqwest::Method::DELETE,
        &format!("/sessions/{attacker}"),
        None,
    )
    .await;
    assert_eq!(code, 200);
    let (code, _) = call(
        &server,
        reqwest::Method::DELETE,
        &format!("/sessions/{victim}"),
        None,
    )
    .await;
    assert_eq!(code, 200);
}

/// `livy.server.launch.isolation = none` must be said explicitly; with
/// isolation asked for and no way to make a sandbox, the server refuses to
/// start rather than run session code unisolated.
#[test]
fn without_bwrap_the_server_refuses_to_start() {
    let tmp = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_livy-server"))
        .args(["--data-dir", tmp.path().to_str().unwrap(), "--port", "0"])
        .env("PATH", "/nonexistent")
        .env("SPARK_HOME", spark_home())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bubblewrap") && err.contains("livy.server.launch.isolation = none"),
        "{err}"
    );
}
