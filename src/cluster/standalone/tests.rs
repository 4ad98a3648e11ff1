//! The standalone manager's small pure helpers, and the manager against a
//! scripted master + worker (an in-test HTTP server shaped like Spark 4.3's
//! `GET /json/`, worker `/log/` and REST `kill`, as measured).

use std::sync::Mutex as StdMutex;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::*;
use crate::launcher::files::ExitRecord;

use rstest::rstest;

#[rstest]
#[case("spark://127.0.0.1:7077", &["127.0.0.1"])]
#[case("spark://m1:7077,m2:7077", &["m1", "m2"])]
#[case("spark://m1", &["m1"])]
#[case("spark://[::1]:6066", &["[::1]"])]
fn hosts_of_master_urls(#[case] master: &str, #[case] want: &[&str]) {
    assert_eq!(master_hosts(master), want);
}

#[rstest]
#[case(r#"<form><input type="hidden" name="id" value="app-1"/><input type="hidden" name="csrfToken" value="0424e561cdc457e70bd0e80fa30f9e2d"/>"#, Some("0424e561cdc457e70bd0e80fa30f9e2d"))]
#[case("<html>no active applications</html>", None)]
#[case(r#"name="csrfToken" value="a&b""#, None)]
fn csrf_token_from_the_master_page(#[case] html: &str, #[case] want: Option<&str>) {
    assert_eq!(csrf_token(html).as_deref(), want);
}

#[test]
fn app_name_carries_the_tag() {
    let dir = tempfile::tempdir().unwrap();
    let launcher = Arc::new(Launcher::new(
        dir.path().into(),
        "/bin/true".into(),
        dir.path().into(),
        Arc::default(),
    ));
    let opts = StandaloneOptions {
        ui_addresses: vec![],
        rest_addresses: vec![],
        kill_grace: Duration::ZERO,
        cluster_mode: false,
        connect_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(1),
    };
    let m = StandaloneManager::new(launcher, opts);
    let tag = "livy-batch-1-abcdefgh";
    assert_eq!(
        m.submit_additions(tag, Some("nightly")).app_name.as_deref(),
        Some("nightly (livy-batch-1-abcdefgh)")
    );
    assert_eq!(m.submit_additions(tag, None).app_name.as_deref(), Some(tag));
}

const TAG: &str = "livy-batch-5-abcdefgh";
const DRIVER: &str = "driver-20261125014246-0001";
const APP: &str = "app-20261125014249-0001";

#[derive(Default)]
struct Seen {
    logs: usize,
    kills: Vec<String>,
}

type Shared = Arc<StdMutex<(Value, Seen)>>;

async fn master_json(State(s): State<Shared>) -> axum::Json<Value> {
    axum::Json(s.lock().unwrap().0.clone())
}

async fn worker_log(State(s): State<Shared>) -> String {
    s.lock().unwrap().1.logs += 1;
    format!(
        "==== Bytes 0-8330 of 8330 of /w/{DRIVER}/stderr ====\n\
         26/11/25 01:42:48 INFO JettyUtils: Start Jetty 127.0.0.1:4040 for SparkUI\n\
         26/11/25 01:42:49 INFO StandaloneSchedulerBackend: Connected to Spark cluster with app ID {APP}\n"
    )
}

async fn rest_kill(State(s): State<Shared>, Path(id): Path<String>) -> axum::Json<Value> {
    s.lock().unwrap().1.kills.push(id.clone());
    axum::Json(json!({"action": "KillSubmissionResponse", "submissionId": id, "success": true}))
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}")
}

/// A standby master, then the ALIVE one (which also plays worker and REST server).
async fn cluster(driver_state: &str) -> (Vec<String>, String, Shared) {
    let standby = serve(Router::new().route(
        "/json/",
        get(|| async { axum::Json(json!({"status": "STANDBY", "workers": []})) }),
    ))
    .await;
    let shared: Shared = Arc::new(StdMutex::new((Value::Null, Seen::default())));
    let live = serve(
        Router::new()
            .route("/json/", get(master_json))
            .route("/log/", get(worker_log))
            .route("/v1/submissions/kill/{id}", post(rest_kill))
            .with_state(shared.clone()),
    )
    .await;
    shared.lock().unwrap().0 = json!({
        "url": "spark://127.0.0.1:7077",
        "workers": [{"id": "worker-1", "host": "127.0.0.1", "port": 40611, "webuiaddress": live, "state": "ALIVE"}],
        "aliveworkers": 1,
        "activeapps": [{"id": APP, "starttime": 1795570969087u64, "name": "JavaSparkPi", "cores": 2,
            "user": "root", "memoryperexecutor": 512, "submitdate": "Wed Nov 25 01:42:49 UTC 2026",
            "state": "RUNNING", "duration": 100}],
        "completedapps": [],
        "activedrivers": [{"id": DRIVER, "starttime": "1795570966218", "state": driver_state, "cores": 1,
            "memory": 1024, "resources": {}, "submitdate": "Wed Nov 25 01:42:46 UTC 2026",
            "worker": "worker-1", "mainclass": "example.SparkPi"}],
        "completeddrivers": [],
        "status": "ALIVE"
    });
    (vec![standby, live.clone()], live, shared)
}

fn submitted(dir: &std::path::Path) -> Arc<Launcher> {
    let launcher = Arc::new(Launcher::new(
        dir.into(),
        "/bin/true".into(),
        dir.into(),
        Arc::default(),
    ));
    let files = launcher.files(TAG);
    files
        .append_log(&format!(
            "26/11/25 01:42:46 INFO RestSubmissionClient: Submission successfully created as {DRIVER}. Polling submission state..."
        ))
        .unwrap();
    files
        .write_exit(&ExitRecord {
            code: Some(0),
            signal: None,
            error: None,
        })
        .unwrap();
    launcher
}

fn options(ui: Vec<String>, rest: String) -> StandaloneOptions {
    StandaloneOptions {
        ui_addresses: ui,
        rest_addresses: vec![rest],
        kill_grace: Duration::from_millis(100),
        cluster_mode: true,
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(5),
    }
}

#[tokio::test]
async fn cluster_mode_driver_is_tied_to_its_app_through_the_worker_log() {
    let dir = tempfile::tempdir().unwrap();
    let (ui, live, shared) = cluster("RUNNING").await;
    let m = StandaloneManager::new(submitted(dir.path()), options(ui, live.clone()));
    let app = TrackedApp {
        tag: TAG.into(),
        app_id: None,
    };
    for _ in 0..2 {
        let got = m.observe(std::slice::from_ref(&app)).await.unwrap();
        let Some(AppObservation::Running { app_id, app_info }) = got.get(TAG) else {
            panic!("expected running, got {got:?}");
        };
        assert_eq!(
            app_id.as_deref(),
            Some(APP),
            "the user renamed the app; the driver's log names it"
        );
        assert_eq!(
            app_info.spark_ui_url.as_deref(),
            Some("http://127.0.0.1:4040")
        );
        assert_eq!(
            app_info.driver_log_url.clone(),
            Some(format!("{live}/logPage/?driverId={DRIVER}&logType=stderr"))
        );
    }
    assert_eq!(
        shared.lock().unwrap().1.logs,
        1,
        "the worker log is read until the app id is known, not per poll"
    );
    m.kill(&app).await.unwrap();
    assert_eq!(shared.lock().unwrap().1.kills, [DRIVER]);
}

#[tokio::test]
async fn a_killed_driver_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let (ui, live, _) = cluster("KILLED").await;
    let m = StandaloneManager::new(submitted(dir.path()), options(ui, live));
    let app = TrackedApp {
        tag: TAG.into(),
        app_id: None,
    };
    let got = m.observe(std::slice::from_ref(&app)).await.unwrap();
    assert!(
        matches!(
            got.get(TAG),
            Some(AppObservation::Finished {
                outcome: crate::cluster::Outcome::Killed,
                ..
            })
        ),
        "{got:?}"
    );
}

#[tokio::test]
async fn without_a_master_cluster_mode_has_no_news() {
    let dir = tempfile::tempdir().unwrap();
    let m = StandaloneManager::new(
        submitted(dir.path()),
        options(
            vec!["http://127.0.0.1:1".into()],
            "http://127.0.0.1:1".into(),
        ),
    );
    let app = TrackedApp {
        tag: TAG.into(),
        app_id: None,
    };
    assert!(m.observe(&[app]).await.unwrap().is_empty());
}
