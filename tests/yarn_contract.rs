//! The YARN manager against a scripted ResourceManager: an in-test HTTP
//! server that serves responses shaped like Hadoop's documented RM REST API
//! (tests/fixtures/yarn/), records every request, and can go down, redirect
//! as a standby, or answer a kill with 202 before 200. No YARN, no Spark.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, put};
use livy_server::cluster::{
    AppObservation, ClusterError, ClusterManager, Outcome, TrackedApp, YarnManager, YarnOptions,
};
use livy_server::launcher::Launcher;
use livy_server::launcher::files::ExitRecord;
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// The tag and id inside every single-app fixture.
const TAG: &str = "livy-batch-7-k3x9q2ab";
const APP_ID: &str = "application_1700000000000_0007";

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/yarn/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[derive(Default)]
struct Script {
    /// Answers to list requests, in order; the last one repeats.
    lists: VecDeque<(StatusCode, String)>,
    /// Statuses for kill requests, in order; then 200.
    kills: VecDeque<StatusCode>,
    list_uris: Vec<String>,
    puts: Vec<(String, Value)>,
    /// Answer 503 to everything.
    down: bool,
}

#[derive(Clone, Default)]
struct TestRm(Arc<Mutex<Script>>);

impl TestRm {
    fn answering(lists: &[&str]) -> Self {
        let rm = TestRm::default();
        rm.script().lists = lists.iter().map(|f| (StatusCode::OK, fixture(f))).collect();
        rm
    }

    fn script(&self) -> std::sync::MutexGuard<'_, Script> {
        self.0.lock().unwrap()
    }

    fn list_count(&self) -> usize {
        self.script().list_uris.len()
    }

    async fn serve(self) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        self.serve_on(listener).await
    }

    async fn serve_on(self, listener: TcpListener) -> String {
        let addr = listener.local_addr().unwrap();
        let app = Router::new()
            .route("/ws/v1/cluster/apps", get(list))
            .route("/ws/v1/cluster/apps/{id}/state", put(kill))
            .with_state(self);
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}")
    }
}

fn json_response(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn list(State(rm): State<TestRm>, OriginalUri(uri): OriginalUri) -> Response {
    let mut s = rm.script();
    s.list_uris.push(uri.to_string());
    if s.down {
        return (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable").into_response();
    }
    let (status, body) = if s.lists.len() > 1 {
        s.lists.pop_front().unwrap()
    } else {
        s.lists
            .front()
            .cloned()
            .unwrap_or((StatusCode::OK, fixture("apps_null.json")))
    };
    json_response(status, body)
}

async fn kill(State(rm): State<TestRm>, Path(id): Path<String>, body: String) -> Response {
    let mut s = rm.script();
    s.puts
        .push((id, serde_json::from_str(&body).unwrap_or(Value::Null)));
    match s.kills.pop_front().unwrap_or(StatusCode::OK) {
        StatusCode::ACCEPTED => json_response(StatusCode::ACCEPTED, fixture("kill_accepted.json")),
        status => json_response(status, fixture("kill_done.json")),
    }
}

/// A standby RM: redirects everything to the active one (`redirect`) or
/// answers with the standby notice; counts requests.
async fn standby(redirect: bool) -> (String, Arc<Mutex<usize>>) {
    let count = Arc::new(Mutex::new(0usize));
    let c = count.clone();
    let app = Router::new().fallback(any(move || {
        let c = c.clone();
        async move {
            *c.lock().unwrap() += 1;
            if redirect {
                (
                    StatusCode::TEMPORARY_REDIRECT,
                    [(
                        header::LOCATION,
                        "http://rm2.example.com:8088/ws/v1/cluster/apps",
                    )],
                    fixture("standby.txt"),
                )
                    .into_response()
            } else {
                (StatusCode::OK, fixture("standby.txt")).into_response()
            }
        }
    }));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), count)
}

/// An address nothing listens on (connection refused), and the listener to
/// bring it back with.
async fn dead_address() -> (String, std::net::SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    (format!("http://{addr}"), addr)
}

fn options() -> YarnOptions {
    YarnOptions {
        poll_interval: Duration::ZERO,
        lookup_timeout: Duration::from_secs(120),
        kill_grace: Duration::from_millis(100),
        client_mode: false,
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(10),
        max_backoff: Duration::ZERO,
        kill_retry_delay: Duration::from_millis(10),
        kill_attempts: 5,
    }
}

struct Harness {
    _dir: tempfile::TempDir,
    launcher: Arc<Launcher>,
    manager: YarnManager,
}

fn manager(addresses: Vec<String>, opts: YarnOptions) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let launcher = Arc::new(Launcher::new(
        dir.path().join("apps"),
        "/bin/false".into(),
        dir.path().into(),
        Arc::default(),
    ));
    let manager = YarnManager::new(addresses, launcher.clone(), opts);
    Harness {
        _dir: dir,
        launcher,
        manager,
    }
}

fn tracked(tag: &str, app_id: Option<&str>) -> TrackedApp {
    TrackedApp {
        tag: tag.into(),
        app_id: app_id.map(str::to_owned),
    }
}

async fn observe_one(m: &YarnManager, app: &TrackedApp) -> AppObservation {
    let mut got = m.observe(std::slice::from_ref(app)).await.unwrap();
    got.remove(&app.tag)
        .expect("an observation for the tracked tag")
}

#[tokio::test]
async fn accepted_running_finished_succeeded() {
    let rm = TestRm::answering(&["accepted.json", "running.json", "finished_succeeded.json"]);
    let h = manager(vec![rm.clone().serve().await], options());
    let app = tracked(TAG, None);

    let AppObservation::Starting { app_id, app_info } = observe_one(&h.manager, &app).await else {
        panic!("ACCEPTED/UNDEFINED must be starting");
    };
    assert_eq!(app_id.as_deref(), Some(APP_ID));
    assert_eq!(
        app_info.driver_log_url.as_deref(),
        Some(
            "http://nm1.example.com:8042/node/containerlogs/container_1700000000000_0007_01_000001/livy"
        ),
        "driverLogUrl is amContainerLogs"
    );
    assert_eq!(
        app_info.spark_ui_url.as_deref(),
        Some("http://rm1.example.com:8088/proxy/application_1700000000000_0007/"),
        "sparkUiUrl is trackingUrl"
    );
    assert!(matches!(
        observe_one(&h.manager, &app).await,
        AppObservation::Running { .. }
    ));
    let AppObservation::Finished {
        outcome,
        diagnostic,
        ..
    } = observe_one(&h.manager, &app).await
    else {
        panic!("FINISHED/SUCCEEDED must be finished");
    };
    assert_eq!(outcome, Outcome::Succeeded);
    assert_eq!(diagnostic, None);

    let uris = rm.script().list_uris.clone();
    assert_eq!(uris.len(), 3, "one list request per observation");
    for uri in uris {
        assert!(uri.starts_with("/ws/v1/cluster/apps?"), "{uri}");
        assert!(uri.contains("applicationTypes=SPARK"), "{uri}");
        assert!(uri.contains(&format!("applicationTags={TAG}")), "{uri}");
    }
}

#[tokio::test]
async fn finished_failed_is_failed_with_the_diagnostics() {
    let rm = TestRm::answering(&["finished_failed.json"]);
    let h = manager(vec![rm.serve().await], options());
    let AppObservation::Finished {
        outcome,
        diagnostic,
        ..
    } = observe_one(&h.manager, &tracked(TAG, None)).await
    else {
        panic!("expected finished");
    };
    assert_eq!(
        outcome,
        Outcome::Failed,
        "FINISHED/FAILED is dead, not success"
    );
    let d = diagnostic.unwrap();
    assert!(
        d.contains("User class threw exception: java.lang.ArithmeticException"),
        "{d}"
    );
}

#[tokio::test]
async fn killed_is_killed() {
    let rm = TestRm::answering(&["killed.json"]);
    let h = manager(vec![rm.serve().await], options());
    let obs = observe_one(&h.manager, &tracked(TAG, None)).await;
    let AppObservation::Finished {
        outcome,
        diagnostic,
        ..
    } = obs
    else {
        panic!("expected finished, got {obs:?}");
    };
    assert_eq!(outcome, Outcome::Killed);
    assert!(diagnostic.unwrap().contains("was killed by user livy"));
}

#[tokio::test]
async fn apps_null_is_not_found() {
    let rm = TestRm::answering(&["apps_null.json"]);
    let h = manager(vec![rm.serve().await], options());
    assert_eq!(
        observe_one(&h.manager, &tracked(TAG, None)).await,
        AppObservation::NotFound
    );
}

#[tokio::test]
async fn other_tags_in_the_answer_are_not_ours() {
    let rm = TestRm::answering(&["running.json"]);
    let h = manager(vec![rm.serve().await], options());
    assert_eq!(
        observe_one(&h.manager, &tracked("livy-batch-8-zzzzzzzz", None)).await,
        AppObservation::NotFound
    );
}

#[tokio::test]
async fn failed_spark_submit_without_an_app_fails_at_once() {
    let rm = TestRm::answering(&["apps_null.json"]);
    let h = manager(vec![rm.serve().await], options());
    let files = h.launcher.files(TAG);
    std::fs::create_dir_all(files.dir()).unwrap();
    files
        .write_exit(&ExitRecord {
            code: Some(1),
            signal: None,
            error: None,
        })
        .unwrap();
    let obs = observe_one(&h.manager, &tracked(TAG, None)).await;
    let AppObservation::Finished {
        outcome,
        exit_code,
        diagnostic,
        ..
    } = obs
    else {
        panic!("expected finished, got {obs:?}");
    };
    assert_eq!((outcome, exit_code), (Outcome::Failed, Some(1)));
    assert!(
        diagnostic
            .unwrap()
            .contains("YARN has no application tagged")
    );
}

#[tokio::test]
async fn kill_repeats_while_the_rm_answers_202() {
    let rm = TestRm::answering(&["running.json"]);
    rm.script().kills = [StatusCode::ACCEPTED, StatusCode::ACCEPTED, StatusCode::OK].into();
    let h = manager(vec![rm.clone().serve().await], options());
    h.manager.kill(&tracked(TAG, Some(APP_ID))).await.unwrap();
    let s = rm.script();
    assert_eq!(s.puts.len(), 3, "two 202s, then the 200 ends it");
    for (id, body) in &s.puts {
        assert_eq!(id, APP_ID);
        assert_eq!(body, &json!({ "state": "KILLED" }));
    }
    assert_eq!(s.list_uris.len(), 0, "the id was known: no lookup");
}

#[tokio::test]
async fn kill_finds_the_id_by_tag_first() {
    let rm = TestRm::answering(&["running.json"]);
    let h = manager(vec![rm.clone().serve().await], options());
    h.manager.kill(&tracked(TAG, None)).await.unwrap();
    let s = rm.script();
    assert_eq!(s.list_uris.len(), 1);
    assert!(s.list_uris[0].contains(&format!("applicationTags={TAG}")));
    assert_eq!(s.puts.len(), 1);
    assert_eq!(s.puts[0].0, APP_ID);
}

#[tokio::test]
async fn kill_of_an_app_yarn_does_not_know_is_done() {
    let rm = TestRm::answering(&["apps_null.json"]);
    let h = manager(vec![rm.clone().serve().await], options());
    h.manager.kill(&tracked(TAG, None)).await.unwrap();
    assert_eq!(rm.script().puts.len(), 0);
}

#[tokio::test]
async fn kill_gives_up_when_it_stays_accepted() {
    let rm = TestRm::answering(&["running.json"]);
    rm.script().kills = vec![StatusCode::ACCEPTED; 10].into();
    let h = manager(vec![rm.clone().serve().await], options());
    let err = h
        .manager
        .kill(&tracked(TAG, Some(APP_ID)))
        .await
        .unwrap_err();
    assert!(matches!(err, ClusterError::Kill { .. }), "{err}");
    assert_eq!(rm.script().puts.len(), 5, "bounded by kill_attempts");
}

#[tokio::test]
async fn outage_503_is_an_error_and_observations_resume() {
    let rm = TestRm::answering(&["running.json"]);
    let h = manager(vec![rm.clone().serve().await], options());
    let app = tracked(TAG, None);
    assert!(matches!(
        observe_one(&h.manager, &app).await,
        AppObservation::Running { .. }
    ));
    rm.script().down = true;
    let err = h
        .manager
        .observe(std::slice::from_ref(&app))
        .await
        .unwrap_err();
    assert!(matches!(err, ClusterError::Observe { .. }), "{err}");
    assert!(err.to_string().contains("503"), "{err}");
    rm.script().down = false;
    assert!(matches!(
        observe_one(&h.manager, &app).await,
        AppObservation::Running { .. }
    ));
}

#[tokio::test]
async fn connection_refused_is_an_error_and_observations_resume() {
    let (base, addr) = dead_address().await;
    let h = manager(vec![base], options());
    let app = tracked(TAG, None);
    let err = h
        .manager
        .observe(std::slice::from_ref(&app))
        .await
        .unwrap_err();
    assert!(matches!(err, ClusterError::Observe { .. }), "{err}");
    let rm = TestRm::answering(&["running.json"]);
    rm.clone()
        .serve_on(TcpListener::bind(addr).await.unwrap())
        .await;
    assert!(matches!(
        observe_one(&h.manager, &app).await,
        AppObservation::Running { .. }
    ));
    assert_eq!(rm.list_count(), 1);
}

#[tokio::test]
async fn backoff_skips_the_rm_during_an_outage() {
    let rm = TestRm::answering(&["running.json"]);
    rm.script().down = true;
    let opts = YarnOptions {
        poll_interval: Duration::from_secs(30),
        max_backoff: Duration::from_secs(60),
        ..options()
    };
    let h = manager(vec![rm.clone().serve().await], opts);
    let app = [tracked(TAG, None)];
    assert!(h.manager.observe(&app).await.is_err());
    let err = h.manager.observe(&app).await.unwrap_err();
    assert!(
        err.to_string().contains("not asking the ResourceManager"),
        "{err}"
    );
    assert_eq!(rm.list_count(), 1, "the second call did not reach the RM");
}

#[tokio::test]
async fn ha_fails_over_from_a_dead_rm_and_sticks() {
    let (dead, _) = dead_address().await;
    let rm = TestRm::answering(&["running.json"]);
    let live = rm.clone().serve().await;
    let h = manager(vec![dead, live], options());
    let app = tracked(TAG, None);
    for n in 1..=3 {
        assert!(matches!(
            observe_one(&h.manager, &app).await,
            AppObservation::Running { .. }
        ));
        assert_eq!(rm.list_count(), n);
    }
}

#[tokio::test]
async fn ha_passes_over_standby_rms_and_sticks_to_the_active_one() {
    for redirect in [true, false] {
        let (standby_url, standby_count) = standby(redirect).await;
        let rm = TestRm::answering(&["running.json"]);
        let h = manager(vec![standby_url, rm.clone().serve().await], options());
        let app = tracked(TAG, None);
        for _ in 0..3 {
            assert!(matches!(
                observe_one(&h.manager, &app).await,
                AppObservation::Running { .. }
            ));
        }
        assert_eq!(rm.list_count(), 3);
        assert_eq!(
            *standby_count.lock().unwrap(),
            1,
            "asked once, then skipped (redirect={redirect})"
        );
    }
}

fn many_apps(n: usize) -> (Vec<TrackedApp>, String) {
    let template: Value = serde_json::from_str(&fixture("running.json")).unwrap();
    let one = template["apps"]["app"][0].clone();
    let mut apps = Vec::new();
    let mut tracked_apps = Vec::new();
    for i in 0..n {
        let tag = format!("livy-batch-{i}-abcdefgh");
        let mut app = one.clone();
        app["id"] = json!(format!("application_1700000000000_{i:04}"));
        app["applicationTags"] = json!(tag);
        app["startedTime"] = json!(1_700_000_100_000u64 + i as u64);
        apps.push(app);
        tracked_apps.push(tracked(&tag, None));
    }
    (tracked_apps, json!({ "apps": { "app": apps } }).to_string())
}

#[tokio::test]
async fn a_thousand_tracked_apps_cost_one_list_request_per_observation() {
    let (apps, body) = many_apps(1000);
    let rm = TestRm::default();
    rm.script().lists = [(StatusCode::OK, body)].into();
    let h = manager(vec![rm.clone().serve().await], options());
    for n in 1..=3 {
        let got = h.manager.observe(&apps).await.unwrap();
        assert_eq!(rm.list_count(), n, "exactly one request per observation");
        assert_eq!(got.len(), 1000);
        assert!(
            got.values()
                .all(|o| matches!(o, AppObservation::Running { .. }))
        );
    }
    let uris = rm.script().list_uris.clone();
    assert!(
        !uris[0].contains("applicationTags="),
        "1,000 tags do not fit a URL"
    );
    assert!(
        !uris[0].contains("startedTimeBegin"),
        "nothing known yet: list all"
    );
    assert!(
        uris[1].contains("startedTimeBegin=1700000100000"),
        "then from the oldest start seen: {}",
        uris[1]
    );
}

#[tokio::test]
async fn observations_within_the_poll_interval_share_one_list_until_a_kill() {
    let rm = TestRm::answering(&["running.json", "killed.json"]);
    let opts = YarnOptions {
        poll_interval: Duration::from_secs(3600),
        ..options()
    };
    let h = manager(vec![rm.clone().serve().await], opts);
    let app = tracked(TAG, Some(APP_ID));
    for _ in 0..3 {
        assert!(matches!(
            observe_one(&h.manager, &app).await,
            AppObservation::Running { .. }
        ));
    }
    assert_eq!(rm.list_count(), 1);
    // A tag the cached list did not cover is left out (no news), not NotFound.
    let other = tracked("livy-batch-9-newnewne", None);
    let got = h.manager.observe(&[app.clone(), other]).await.unwrap();
    assert_eq!(got.keys().collect::<Vec<_>>(), [TAG]);
    h.manager.kill(&app).await.unwrap();
    let obs = observe_one(&h.manager, &app).await;
    assert!(
        matches!(
            obs,
            AppObservation::Finished {
                outcome: Outcome::Killed,
                ..
            }
        ),
        "{obs:?}"
    );
    assert_eq!(
        rm.list_count(),
        2,
        "the kill made the next observation ask again"
    );
}

#[tokio::test]
async fn submit_additions_tag_the_app_and_do_not_wait() {
    let h = manager(vec!["http://127.0.0.1:1".into()], options());
    let adds = h
        .manager
        .submit_additions("Livy-Batch-7-K3X9Q2AB", Some("nightly"));
    let want: HashMap<&str, &str> = [
        ("spark.yarn.tags", "livy-batch-7-k3x9q2ab"),
        ("spark.yarn.submit.waitAppCompletion", "false"),
        ("spark.submit.deployMode", "cluster"),
    ]
    .into();
    let got: HashMap<&str, &str> = adds
        .conf
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(got, want);
    assert_eq!(adds.app_name, None, "YARN keeps the user's name");
    assert!(!h.manager.submit_process_is_app());
    assert_eq!(h.manager.poll_interval(), Some(Duration::ZERO));
    assert!(
        h.manager
            .not_found_diagnostic(TAG, Duration::from_secs(120))
            .starts_with(
                "No YARN application is found with tag livy-batch-7-k3x9q2ab in 120 seconds"
            )
    );
}
