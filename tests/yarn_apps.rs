//! What applications on a real YARN get from a request (issue 25): the
//! `jars`, `pyFiles`, `files` and `archives` it names, from HDFS and from
//! whitelisted local paths, shipped into the containers and used there; the
//! user it runs as (`proxyUser`, else its owner), which the RM and HDFS
//! enforce; and the links to its driver's log and UI, which are the RM's and
//! answer. Few applications, each checked on many values: every one costs
//! ~40 s here.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;
#[path = "common/yarn.rs"]
mod yarn;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};
use yarn::yarn;

const LONG: Duration = Duration::from_secs(300);

/// Small applications (the two NodeManagers hold 8 GB and 8 vcores), with
/// one attempt: a failing one ends at once instead of running again.
fn small() -> Value {
    json!({
        "driverMemory": "512m", "executorMemory": "512m", "numExecutors": 1, "executorCores": 1,
        "conf": {"spark.yarn.maxAppAttempts": "1"},
    })
}

fn with(mut body: Value, extra: Value) -> Value {
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

/// The OS user: the one Hadoop lets impersonate anyone (hack/yarn).
fn me() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A server on the cluster in cluster mode, data under `dir/server`, local
/// files allowed from `dir`; HTTP Basic users [`me`] (a superuser) and `bob`,
/// impersonation on.
fn server(dir: &Path) -> Server {
    let env = yarn().env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let users = dir.join("users");
    users_file(&users, &[&me(), "bob"]);
    let conf = vec![
        "livy.spark.master=yarn".to_owned(),
        "livy.spark.deploy-mode=cluster".to_owned(),
        format!("livy.file.local-dir-whitelist={}", dir.display()),
        // Drivers in containers on this host dial back over loopback.
        "livy.rsc.launcher.address=127.0.0.1".to_owned(),
        "livy.server.yarn.poll-interval=1s".to_owned(),
        "livy.server.auth.type=basic".to_owned(),
        format!("livy.server.auth.basic.users-file={}", users.display()),
        "livy.impersonation.enabled=true".to_owned(),
        format!("livy.superusers={}", me()),
    ];
    Server::start_with(free_port(), &dir.join("server"), &conf, &env)
}

/// Two jars, each with one class: `example.<Name>.greet(s)` answers
/// `<name>:<s>`. Compiled against nothing but the JDK.
fn helper_jars(dir: &Path, names: &[&str]) -> Vec<PathBuf> {
    names
        .iter()
        .map(|name| {
            let src = dir.join(format!("src-{name}"));
            let classes = dir.join(format!("classes-{name}"));
            std::fs::create_dir_all(&src).unwrap();
            std::fs::create_dir_all(&classes).unwrap();
            let file = src.join(format!("{name}.java"));
            let lower = name.to_lowercase();
            std::fs::write(
                &file,
                format!(
                    "package example; public class {name} {{ \
                     public static String greet(String s) {{ return \"{lower}:\" + s; }} }}"
                ),
            )
            .unwrap();
            let ok = Command::new("javac")
                .arg("-d")
                .arg(&classes)
                .arg(&file)
                .status()
                .unwrap()
                .success();
            assert!(ok, "javac failed");
            let jar = dir.join(format!("{lower}.jar"));
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
        })
        .collect()
}

/// A zip holding `inner.txt` with `text`.
fn zip(dir: &Path, name: &str, text: &str) -> PathBuf {
    let content = dir.join(format!("zip-{name}"));
    std::fs::create_dir_all(&content).unwrap();
    std::fs::write(content.join("inner.txt"), text).unwrap();
    let out = dir.join(format!("{name}.zip"));
    // `jar` writes a plain zip (-M: no manifest), as unzip and YARN read it.
    let ok = Command::new("jar")
        .arg("cfM")
        .arg(&out)
        .arg("-C")
        .arg(&content)
        .arg("inner.txt")
        .status()
        .unwrap()
        .success();
    assert!(ok, "zip failed");
    out
}

/// The `appId` once the server knows it: a real YARN application id.
async fn app_id(url: &str, user: &str) -> String {
    let deadline = Instant::now() + LONG;
    loop {
        let (_, b) = get_as(url, user).await;
        if let Some(id) = b["appId"].as_str() {
            assert!(id.starts_with("application_"), "{b}");
            return id.to_owned();
        }
        assert!(Instant::now() < deadline, "no appId: {b}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `GET url`, with HTTP Basic as `user` (password `<user>-password`).
async fn get_as(url: &str, user: &str) -> (u16, Value) {
    let r = common::client()
        .get(url)
        .basic_auth(user, Some(format!("{user}-password")))
        .send()
        .await
        .unwrap();
    let code = r.status().as_u16();
    (code, r.json().await.unwrap_or(Value::Null))
}

async fn post_as(url: &str, user: &str, body: &Value) -> (u16, Value) {
    let r = common::client()
        .post(url)
        .basic_auth(user, Some(format!("{user}-password")))
        .json(body)
        .send()
        .await
        .unwrap();
    let code = r.status().as_u16();
    (code, r.json().await.unwrap_or(Value::Null))
}

/// Polls until the record's state is one of `want`; panics on another
/// final state.
async fn wait_state_as(url: &str, user: &str, want: &[&str]) -> Value {
    let deadline = Instant::now() + LONG;
    loop {
        let (code, b) = get_as(url, user).await;
        assert_eq!(code, 200, "{b}");
        let state = b["state"].as_str().unwrap_or_default();
        if want.contains(&state) {
            return b;
        }
        assert!(
            !["success", "dead", "killed", "error"].contains(&state),
            "reached {state}, wanted {want:?}: {b}"
        );
        assert!(Instant::now() < deadline, "never {want:?}: {b}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Runs a statement in session `sid` as `user`; the statement once available.
async fn run_as(server: &Server, user: &str, sid: u64, body: Value) -> Value {
    let url = server.url(&format!("/sessions/{sid}/statements"));
    let (code, st) = post_as(&url, user, &body).await;
    assert_eq!(code, 201, "{st}");
    let url = format!("{url}/{}", st["id"]);
    let deadline = Instant::now() + LONG;
    loop {
        let (_, st) = get_as(&url, user).await;
        if st["state"] == "available" {
            return st;
        }
        assert!(Instant::now() < deadline, "statement never available: {st}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// GET `url` (following redirects): its status and body text.
async fn fetch_page(url: &str) -> (u16, String) {
    let r = common::client().get(url).send().await.unwrap();
    let code = r.status().as_u16();
    (code, r.text().await.unwrap_or_default())
}

/// A pyspark session in cluster mode (its driver in the ApplicationMaster's
/// container) with two of each: `jars`, `pyFiles`, `files`, `archives`
/// (`#alias`), one from HDFS and one a whitelisted local path. Statements
/// import the modules, read the files and the unpacked archives in the
/// driver and on an executor, and call the jars' classes from Python and
/// Scala; every value comes back through the REST API. bob names no proxy
/// user: with impersonation on, the application runs as bob, its owner.
#[tokio::test]
async fn files_from_hdfs_and_local_paths_reach_the_containers() {
    let _slot = spark_slot().await;
    let y = yarn();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let jars = helper_jars(&dir.join("build"), &["FromHdfs", "FromLocal"]);
    std::fs::write(dir.join("mod_hdfs.py"), "VALUE = 'py-hdfs'\n").unwrap();
    std::fs::write(dir.join("mod_local.py"), "VALUE = 'py-local'\n").unwrap();
    std::fs::write(dir.join("file_hdfs.txt"), "file-hdfs\n").unwrap();
    std::fs::write(dir.join("file_local.txt"), "file-local\n").unwrap();
    let arch_hdfs = zip(dir, "arch_hdfs", "archive-hdfs\n");
    let arch_local = zip(dir, "arch_local", "archive-local\n");

    let hdfs_dir = format!("/tmp/yarn-apps-{}", std::process::id());
    y.hdfs(&["-mkdir", "-p", &hdfs_dir]);
    let put = |local: &Path| {
        let name = local.file_name().unwrap().to_str().unwrap();
        y.hdfs(&[
            "-put",
            local.to_str().unwrap(),
            &format!("{hdfs_dir}/{name}"),
        ]);
        format!("{}{hdfs_dir}/{name}", y.hdfs_url)
    };
    let local = |p: &Path| p.display().to_string();
    let body = with(
        json!({
            "kind": "pyspark",
            "jars": [put(&jars[0]), local(&jars[1])],
            "pyFiles": [put(&dir.join("mod_hdfs.py")), local(&dir.join("mod_local.py"))],
            "files": [put(&dir.join("file_hdfs.txt")), local(&dir.join("file_local.txt"))],
            "archives": [format!("{}#ah", put(&arch_hdfs)), format!("{}#al", local(&arch_local))],
        }),
        small(),
    );
    let server = server(dir);
    let (code, b) = post_as(&server.url("/sessions"), "bob", &body).await;
    assert_eq!(code, 201, "{b}");
    assert_eq!(b["proxyUser"], "bob", "{b}");
    let sid = b["id"].as_u64().unwrap();
    let url = server.url(&format!("/sessions/{sid}"));
    let id = app_id(&url, "bob").await;
    wait_state_as(&url, "bob", &["idle"]).await;
    let app = y.app(&id).await;
    assert_eq!(app["user"], "bob", "{app}");

    let code = r#"
import json, mod_hdfs, mod_local
def read(p):
    with open(p) as f:
        return f.read().strip()
def seen():
    return [mod_hdfs.VALUE, mod_local.VALUE, read("file_hdfs.txt"), read("file_local.txt"),
            read("ah/inner.txt"), read("al/inner.txt")]
print(json.dumps({
    "driver": seen(),
    "executor": sc.parallelize([0], 1).map(lambda _: seen()).collect()[0],
    "jvm": [sc._jvm.example.FromHdfs.greet("py"), sc._jvm.example.FromLocal.greet("py")],
}))
"#;
    let st = run_as(
        &server,
        "bob",
        sid,
        json!({"kind": "pyspark", "code": code}),
    )
    .await;
    let out: Value = serde_json::from_str(text(&st).trim()).unwrap_or_else(|e| panic!("{e}: {st}"));
    let values = json!([
        "py-hdfs",
        "py-local",
        "file-hdfs",
        "file-local",
        "archive-hdfs",
        "archive-local"
    ]);
    assert_eq!(out["driver"], values, "{out}");
    assert_eq!(out["executor"], values, "{out}");
    assert_eq!(out["jvm"], json!(["fromhdfs:py", "fromlocal:py"]), "{out}");

    // The Scala interpreter compiles against both jars.
    let st = run_as(
        &server,
        "bob",
        sid,
        json!({"kind": "spark", "code": r#"example.FromHdfs.greet("scala") + "|" + example.FromLocal.greet("scala")"#}),
    )
    .await;
    let scala = text(&st);
    assert!(scala.contains("fromhdfs:scala|fromlocal:scala"), "{st}");

    let app = y.app(&id).await;
    assert_eq!(app["state"], "RUNNING", "{app}");
    let r = common::client()
        .delete(&url)
        .basic_auth("bob", Some("bob-password"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    y.wait_app(&id, &["FINISHED", "KILLED"], LONG).await;
}

/// The application, run as `alice`: exits 0 only if Spark's user is alice,
/// HDFS refuses it a file only the OS user may read, and it could write a
/// file (whose owner the test checks); it stays running until the release
/// file appears, so the test can look at its links meanwhile.
const AS_ALICE_PY: &str = r#"
import sys, time
from pyspark.sql import SparkSession
spark = SparkSession.builder.appName("as-alice").getOrCreate()
sc = spark.sparkContext
jvm = sc._jvm
secret, written, release = sys.argv[1:4]
Path = jvm.org.apache.hadoop.fs.Path
fs = Path(release).getFileSystem(sc._jsc.hadoopConfiguration())
try:
    fs.open(Path(secret)).close()
    denied = ""
except Exception as e:
    denied = str(e)
out = fs.create(Path(written))
out.write(bytearray(b"alice was here"))
out.close()
deadline = time.time() + 600
while not fs.exists(Path(release)) and time.time() < deadline:
    time.sleep(0.2)
user = sc.sparkUser()
print("USER %s DENIED %r" % (user, denied))
spark.stop()
sys.exit(0 if user == "alice" and "Permission denied" in denied else 1)
"#;

/// Impersonation on a real YARN and HDFS, with HTTP Basic users `<me>` (a
/// superuser; the OS user, a Hadoop proxy user) and `bob`: bob may not act
/// as another user; a batch for `proxyUser: alice` runs as alice in YARN and
/// in HDFS; and while it runs, its `driverLogUrl` and `sparkUiUrl` are the
/// RM's links and answer.
#[tokio::test]
async fn a_proxy_user_runs_as_itself_and_its_links_answer() {
    let _slot = spark_slot().await;
    let y = yarn();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let me = me();
    std::fs::write(dir.join("as_alice.py"), AS_ALICE_PY).unwrap();
    let server = server(dir);
    let base = format!("/tmp/yarn-apps-alice-{}", std::process::id());
    let (secret, written, release) = (
        format!("{base}/owner-only/secret.txt"),
        format!("{base}/by-alice.txt"),
        format!("{base}/release"),
    );
    std::fs::write(dir.join("secret.txt"), "owner only\n").unwrap();
    y.hdfs(&["-mkdir", "-p", &format!("{base}/owner-only")]);
    y.hdfs(&["-chmod", "777", &base]);
    y.hdfs(&["-put", dir.join("secret.txt").to_str().unwrap(), &secret]);
    y.hdfs(&["-chmod", "-R", "700", &format!("{base}/owner-only")]);

    // bob is no superuser: he may not name another user, by body or doAs.
    let batch = with(
        json!({"file": dir.join("as_alice.py"), "args": [secret, written, release], "proxyUser": "alice"}),
        small(),
    );
    let (code, b) = post_as(&server.url("/batches"), "bob", &batch).await;
    assert_eq!(code, 403, "{b}");
    assert_eq!(
        b["msg"],
        "User 'bob' not allowed to impersonate 'Some(alice)'."
    );
    let mut by_do_as = batch.clone();
    by_do_as.as_object_mut().unwrap().remove("proxyUser");
    let (code, b) = post_as(&server.url("/batches?doAs=alice"), "bob", &by_do_as).await;
    assert_eq!(code, 403, "{b}");
    let (_, list) = get_as(&server.url("/batches"), &me).await;
    assert_eq!(list["total"], 0, "{list}");

    // The superuser may: the application is alice's, in YARN and in HDFS.
    let (code, b) = post_as(&server.url("/batches"), &me, &batch).await;
    assert_eq!(code, 201, "{b}");
    assert_eq!(b["proxyUser"], "alice", "{b}");
    assert_eq!(b["owner"], me.as_str(), "{b}");
    let url = server.url(&format!("/batches/{}", b["id"]));
    let id = app_id(&url, &me).await;
    wait_state_as(&url, &me, &["running"]).await;
    let app = y.wait_app(&id, &["RUNNING"], LONG).await;
    assert_eq!(app["user"], "alice", "{app}");

    // Links while it runs: the RM's own, and they answer.
    let deadline = Instant::now() + LONG;
    let (batch_now, app) = loop {
        let (_, b) = get_as(&url, &me).await;
        let app = y.app(&id).await;
        let info = &b["appInfo"];
        if info["sparkUiUrl"] == app["trackingUrl"]
            && info["driverLogUrl"] == app["amContainerLogs"]
            && app["trackingUrl"]
                .as_str()
                .is_some_and(|u| u.contains("/proxy/"))
        {
            break (b, app);
        }
        assert!(
            Instant::now() < deadline,
            "links never matched: {b} vs {app}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(batch_now["state"], "running", "{batch_now}");
    let ui = app["trackingUrl"].as_str().unwrap();
    let (code, page) = fetch_page(ui).await;
    assert_eq!(code, 200, "{ui}: {page}");
    assert!(page.contains("as-alice"), "{ui}: {page}");
    // The AM's log page, on the NodeManager that runs it. (In this
    // minicluster the NodeManagers' HTML pages share one NodeManager's
    // state, a Guice quirk of two of them in one JVM, so the page may not
    // list the files; the NodeManager's REST API at the link's address
    // shows the container's own logs.)
    let logs = app["amContainerLogs"].as_str().unwrap();
    let (nm, container) = logs.split_once("/node/containerlogs/").unwrap();
    let container = container.split('/').next().unwrap().to_owned();
    assert!(
        container.starts_with(&id.replace("application_", "container_")),
        "{app}"
    );
    let (code, page) = fetch_page(logs).await;
    assert_eq!(code, 200, "{logs}: {page}");
    assert!(
        page.contains(&format!("Logs for {container}")),
        "{logs}: {page}"
    );
    let files = format!("{nm}/ws/v1/node/containers/{container}/logs");
    let r = common::client()
        .get(&files)
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{files}");
    let listed: Value = r.json().await.unwrap();
    let names: Vec<&str> = listed["containerLogsInfo"]["containerLogInfo"]
        .as_array()
        .map(|a| a.iter().filter_map(|f| f["fileName"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        names.contains(&"stdout") && names.contains(&"stderr"),
        "{files}: {listed}"
    );

    // Released, it ends well only if everything it checked held.
    std::fs::write(dir.join("release"), "").unwrap();
    y.hdfs(&["-put", dir.join("release").to_str().unwrap(), &release]);
    let done = wait_state_as(&url, &me, &["success", "dead"]).await;
    let app = y.wait_app(&id, &["FINISHED", "FAILED"], LONG).await;
    if app["finalStatus"] != "SUCCEEDED" {
        // What the application printed (in its container's stdout) says why.
        let (_, stdout) = fetch_page(&format!("{files}/stdout")).await;
        panic!("{app}\n{done}\n{stdout}");
    }
    assert_eq!(done["state"], "success", "{done}");
    let owner = y.hdfs(&["-stat", "%u", &written]);
    assert_eq!(owner.trim(), "alice");
}
