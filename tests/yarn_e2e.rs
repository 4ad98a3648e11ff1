//! YARN through the real binary: the reconciler drives a recorded-argv
//! stand-in for spark-submit (there is no YARN here) and follows a scripted
//! ResourceManager that answers in the shape of Hadoop's documented RM REST
//! API. Asserts Livy's batch states, the argv, kills and outages.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use common::*;
use serde_json::{Value, json};

#[derive(Clone, Default)]
struct App {
    id: String,
    state: String,
    final_status: String,
    diagnostics: String,
}

#[derive(Default)]
struct Rm {
    apps: HashMap<String, App>,
    down: bool,
    lists: usize,
    /// Bodies of kill requests, by app id.
    kills: Vec<(String, Value)>,
    /// How many more kill requests answer 202 before one answers 200.
    kill_202s: usize,
}

type Shared = Arc<Mutex<Rm>>;

fn app_json(tag: &str, a: &App, port: u16) -> Value {
    json!({
        "id": a.id, "user": "livy", "name": format!("pi ({tag})"), "queue": "default",
        "state": a.state, "finalStatus": a.final_status, "progress": 50.0, "trackingUI": "ApplicationMaster",
        "trackingUrl": format!("http://127.0.0.1:{port}/proxy/{}/", a.id), "diagnostics": a.diagnostics,
        "clusterId": 1, "applicationType": "SPARK", "applicationTags": format!("{tag},livy"),
        "startedTime": 1_700_000_000_000u64, "finishedTime": 0, "elapsedTime": 1000,
        "amContainerLogs": format!("http://127.0.0.1:{port}/node/containerlogs/container_1_{}_01_000001/livy", a.id),
        "amHostHttpAddress": format!("127.0.0.1:{port}"),
    })
}

async fn list(State((rm, port)): State<(Shared, u16)>) -> Response {
    let mut rm = rm.lock().unwrap();
    if rm.down {
        return (StatusCode::SERVICE_UNAVAILABLE, "down").into_response();
    }
    rm.lists += 1;
    if rm.apps.is_empty() {
        return axum::Json(json!({"apps": null})).into_response();
    }
    let apps: Vec<Value> = rm
        .apps
        .iter()
        .map(|(tag, a)| app_json(tag, a, port))
        .collect();
    axum::Json(json!({"apps": {"app": apps}})).into_response()
}

async fn kill(
    State((rm, _)): State<(Shared, u16)>,
    UrlPath(id): UrlPath<String>,
    body: String,
) -> Response {
    let mut rm = rm.lock().unwrap();
    rm.kills.push((
        id.clone(),
        serde_json::from_str(&body).unwrap_or(Value::Null),
    ));
    if rm.kill_202s > 0 {
        rm.kill_202s -= 1;
        return (
            StatusCode::ACCEPTED,
            axum::Json(json!({"state": "RUNNING"})),
        )
            .into_response();
    }
    if let Some(a) = rm.apps.values_mut().find(|a| a.id == id) {
        a.state = "KILLED".into();
        a.final_status = "KILLED".into();
    }
    axum::Json(json!({"state": "KILLED"})).into_response()
}

async fn start_rm() -> (Shared, u16) {
    let rm: Shared = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = Router::new()
        .route("/ws/v1/cluster/apps", get(list))
        .route("/ws/v1/cluster/apps/{id}/state", put(kill))
        .with_state((rm.clone(), port));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (rm, port)
}

/// A Spark home whose spark-submit records its argv and exits at once, as
/// `--deploy-mode cluster` with `waitAppCompletion=false` does.
fn fake_spark(dir: &Path) -> PathBuf {
    let home = dir.join("fake-spark");
    std::fs::create_dir_all(home.join("bin")).unwrap();
    let script = "#!/bin/sh\nout=\"$LIVY_TEST_ARGV_DIR/$$.argv\"\nfor a in \"$@\"; do printf '%s\\n' \"$a\" >> \"$out\"; done\necho \"submitted to YARN (stand-in)\"\nexit 0\n";
    std::fs::write(home.join("bin/spark-submit"), script).unwrap();
    // The real jars, so the session driver can be compiled against them.
    std::os::unix::fs::symlink(spark_home().join("jars"), home.join("jars")).unwrap();
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(home.join("bin/spark-submit"))
        .status()
        .unwrap();
    home
}

/// The argv of the submission whose tag argument names batch `id`.
fn argv_of(dir: &Path, id: u64) -> Vec<String> {
    argv_tagged(dir, &format!("livy-batch-{id}-"))
}

fn argv_tagged(dir: &Path, tag_prefix: &str) -> Vec<String> {
    let prefix = format!("spark.yarn.tags={tag_prefix}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let text = std::fs::read_to_string(e.path()).unwrap_or_default();
            let argv: Vec<String> = text.lines().map(str::to_owned).collect();
            if argv.iter().any(|a| a.starts_with(&prefix)) {
                return argv;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{tag_prefix} was never submitted"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn tag_of(argv: &[String]) -> String {
    argv.iter()
        .find_map(|a| a.strip_prefix("spark.yarn.tags="))
        .unwrap()
        .to_owned()
}

fn set(rm: &Shared, tag: &str, id: &str, state: &str, final_status: &str, diagnostics: &str) {
    rm.lock().unwrap().apps.insert(
        tag.to_owned(),
        App {
            id: id.into(),
            state: state.into(),
            final_status: final_status.into(),
            diagnostics: diagnostics.into(),
        },
    );
}

struct Setup {
    server: Server,
    rm: Shared,
    argv_dir: PathBuf,
    _tmp: tempfile::TempDir,
}

async fn setup(lookup: &str, extra: &[&str]) -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let (rm, port) = start_rm().await;
    let home = fake_spark(tmp.path());
    let argv_dir = tmp.path().join("argv");
    std::fs::create_dir_all(&argv_dir).unwrap();
    let conf = vec![
        "livy.spark.master=yarn".to_owned(),
        "livy.spark.deploy-mode=cluster".to_owned(),
        format!("livy.server.spark-home={}", home.display()),
        format!("livy.server.yarn.rm-address=127.0.0.1:{port}"),
        "livy.server.yarn.poll-interval=200ms".to_owned(),
        format!("livy.server.yarn.app-lookup-timeout={lookup}"),
        "livy.rsc.launcher.port.range=0~0".to_owned(),
    ];
    let conf: Vec<String> = conf
        .into_iter()
        .chain(extra.iter().map(|s| s.to_string()))
        .collect();
    let argv_env = argv_dir.display().to_string();
    let server = Server::start_with(
        free_port(),
        &tmp.path().join("data"),
        &conf,
        &[("LIVY_TEST_ARGV_DIR", &argv_env)],
    );
    Setup {
        server,
        rm,
        argv_dir,
        _tmp: tmp,
    }
}

async fn submit(s: &Setup) -> (u64, String) {
    let (code, b) = post_json(
        &s.server.url("/batches"),
        &json!({"file": "hdfs:///apps/pi.py", "args": ["10"]}),
    )
    .await;
    assert_eq!(code, 201, "{b}");
    let id = b["id"].as_u64().unwrap();
    let argv = argv_of(&s.argv_dir, id);
    (id, tag_of(&argv))
}

#[tokio::test]
async fn states_follow_the_resource_manager() {
    let s = setup("120s", &[]).await;
    let (id, tag) = submit(&s).await;
    let url = s.server.url(&format!("/batches/{id}"));
    let argv = argv_of(&s.argv_dir, id);
    assert!(
        argv.windows(2).any(|w| w == ["--master", "yarn"]),
        "{argv:?}"
    );
    assert!(
        argv.windows(2).any(|w| w == ["--deploy-mode", "cluster"]),
        "{argv:?}"
    );
    assert!(
        argv.contains(&"spark.yarn.submit.waitAppCompletion=false".to_owned()),
        "{argv:?}"
    );
    assert!(
        tag.starts_with(&format!("livy-batch-{id}-")) && tag == tag.to_lowercase(),
        "{tag}"
    );
    assert_eq!(
        argv[argv.len() - 2..],
        ["hdfs:///apps/pi.py".to_owned(), "10".to_owned()]
    );

    // spark-submit has exited, YARN does not know the app yet: still starting, appId null.
    let (_, b) = get_json(&url).await;
    assert_eq!(
        (b["state"].as_str(), &b["appId"]),
        (Some("starting"), &Value::Null),
        "{b}"
    );

    set(
        &s.rm,
        &tag,
        "application_1_0001",
        "ACCEPTED",
        "UNDEFINED",
        "",
    );
    let b = wait_state(&url, &["starting"], Duration::from_secs(30)).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut b = b;
    while b["appId"].is_null() {
        assert!(Instant::now() < deadline, "appId never appeared: {b}");
        tokio::time::sleep(Duration::from_millis(100)).await;
        b = get_json(&url).await.1;
    }
    assert_eq!(b["appId"], "application_1_0001");

    set(
        &s.rm,
        &tag,
        "application_1_0001",
        "RUNNING",
        "UNDEFINED",
        "",
    );
    let b = wait_state(&url, &["running"], Duration::from_secs(30)).await;
    assert!(
        b["appInfo"]["driverLogUrl"]
            .as_str()
            .unwrap()
            .contains("containerlogs"),
        "{b}"
    );
    assert!(
        b["appInfo"]["sparkUiUrl"]
            .as_str()
            .unwrap()
            .contains("/proxy/application_1_0001"),
        "{b}"
    );

    // RUNNING + SUCCEEDED is still running (LIVY-642).
    set(
        &s.rm,
        &tag,
        "application_1_0001",
        "RUNNING",
        "SUCCEEDED",
        "",
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(get_json(&url).await.1["state"], "running");

    // An RM outage changes no state.
    s.rm.lock().unwrap().down = true;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        get_json(&url).await.1["state"],
        "running",
        "an unreachable RM marks nothing dead"
    );
    set(
        &s.rm,
        &tag,
        "application_1_0001",
        "FINISHED",
        "SUCCEEDED",
        "",
    );
    s.rm.lock().unwrap().down = false;
    wait_state(&url, &["success"], Duration::from_secs(90)).await;

    // FINISHED + FAILED is dead, with YARN's diagnostics in the log.
    let (id2, tag2) = submit(&s).await;
    set(
        &s.rm,
        &tag2,
        "application_1_0002",
        "FINISHED",
        "FAILED",
        "User class threw exception: boom",
    );
    let url2 = s.server.url(&format!("/batches/{id2}"));
    wait_state(&url2, &["dead"], Duration::from_secs(30)).await;
    let log = full_log(&url2).await;
    assert!(
        log.iter()
            .any(|l| l.contains("User class threw exception: boom")),
        "{log:?}"
    );

    // KILLED is killed.
    let (id3, tag3) = submit(&s).await;
    set(
        &s.rm,
        &tag3,
        "application_1_0003",
        "KILLED",
        "KILLED",
        "killed by admin",
    );
    wait_state(
        &s.server.url(&format!("/batches/{id3}")),
        &["killed"],
        Duration::from_secs(30),
    )
    .await;
}

#[tokio::test]
async fn delete_kills_through_the_rm_repeating_while_it_answers_202() {
    let s = setup("120s", &[]).await;
    let (id, tag) = submit(&s).await;
    set(
        &s.rm,
        &tag,
        "application_1_0009",
        "RUNNING",
        "UNDEFINED",
        "",
    );
    let url = s.server.url(&format!("/batches/{id}"));
    wait_state(&url, &["running"], Duration::from_secs(30)).await;
    s.rm.lock().unwrap().kill_202s = 1;
    let (code, body) = delete(&url).await;
    assert_eq!((code, body), (200, json!({"msg": "deleted"})));
    assert_eq!(get_json(&url).await.0, 404);
    let kills = s.rm.lock().unwrap().kills.clone();
    assert_eq!(kills.len(), 2, "202 then 200: {kills:?}");
    for (app, body) in &kills {
        assert_eq!(
            (app.as_str(), body),
            ("application_1_0009", &json!({"state": "KILLED"}))
        );
    }
}

#[tokio::test]
async fn an_app_yarn_never_shows_is_dead_after_the_lookup_timeout() {
    let s = setup("2s", &[]).await;
    let (id, tag) = submit(&s).await;
    let url = s.server.url(&format!("/batches/{id}"));
    wait_state(&url, &["dead"], Duration::from_secs(60)).await;
    let log = full_log(&url).await;
    assert!(
        log.iter()
            .any(|l| l.contains("No YARN application is found with tag") && l.contains(&tag)),
        "{log:?}"
    );

    // Leak guard: the app shows up after all; it is killed.
    set(
        &s.rm,
        &tag,
        "application_1_0042",
        "RUNNING",
        "UNDEFINED",
        "",
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while !s
        .rm
        .lock()
        .unwrap()
        .kills
        .iter()
        .any(|(a, _)| a == "application_1_0042")
    {
        assert!(
            Instant::now() < deadline,
            "a leaked application was not killed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(get_json(&url).await.1["state"], "dead");
}

#[tokio::test]
async fn a_thousand_tracked_apps_cost_one_list_per_poll_interval() {
    let s = setup("600s", &["livy.server.session.max-creation=5000"]).await;
    for _ in 0..1000 {
        let (code, _) = post_json(
            &s.server.url("/batches"),
            &json!({"file": "hdfs:///apps/pi.py"}),
        )
        .await;
        assert_eq!(code, 201);
    }
    // Every batch gets submitted; YARN shows each as running.
    for id in 0..1000u64 {
        let tag = tag_of(&argv_of(&s.argv_dir, id));
        set(
            &s.rm,
            &tag,
            &format!("application_1_{id:04}"),
            "RUNNING",
            "UNDEFINED",
            "",
        );
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (_, list) = get_json(&s.server.url("/batches?size=2000")).await;
        let running = list["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["state"] == "running")
            .count();
        if running == 1000 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {running} of 1000 batches running"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let before = s.rm.lock().unwrap().lists;
    let window = Duration::from_secs(4);
    tokio::time::sleep(window).await;
    let lists = s.rm.lock().unwrap().lists - before;
    let intervals = (window.as_millis() / 200) as usize;
    eprintln!("1000 tracked apps: {lists} RM list requests in {intervals} poll intervals");
    assert!(
        (1..=intervals + 1).contains(&lists),
        "{lists} list requests in {intervals} poll intervals for 1000 tracked apps"
    );
}

#[tokio::test]
async fn a_cluster_mode_session_driver_gets_its_secret_from_a_private_file_not_argv() {
    use std::os::unix::fs::PermissionsExt;
    let s = setup("120s", &[]).await;
    let (code, b) = post_json(&s.server.url("/sessions"), &json!({"kind": "pyspark"})).await;
    assert_eq!(code, 201, "{b}");
    let argv = argv_tagged(&s.argv_dir, "livy-session-0-");
    assert!(
        argv.windows(2).any(|w| w == ["--deploy-mode", "cluster"]),
        "{argv:?}"
    );
    assert!(
        argv.contains(&"--load-spark-defaults".to_owned()),
        "{argv:?}"
    );
    let at = argv
        .iter()
        .position(|a| a == "--properties-file")
        .expect("a properties file");
    let file = &argv[at + 1];
    let mode = std::fs::metadata(file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "only the server's user may read the secret");
    let text = std::fs::read_to_string(file).unwrap();
    let secret = text
        .lines()
        .find_map(|l| l.strip_prefix("spark.yarn.appMasterEnv.LIVY_SESSION_SECRET="))
        .expect("the YARN application master gets the secret");
    assert!(secret.len() >= 32, "{secret}");
    assert!(text.contains(&format!(
        "spark.kubernetes.driverEnv.LIVY_SESSION_SECRET={secret}"
    )));
    assert!(
        argv.iter().all(|a| !a.contains(secret)),
        "the secret never appears in argv"
    );
    assert!(
        argv.iter().any(|a| a.starts_with("spark.livy.callback=")),
        "{argv:?}"
    );
}
