//! Invalid requests get a 4xx naming the field and write no record; no request
//! in the table gets a 5xx. Runs the router in-process (no socket, no Spark).

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use livy_server::api::{App, router};
use livy_server::cluster::LocalManager;
use livy_server::config::{Config, Sources};
use livy_server::launcher::Launcher;
use livy_server::launcher::logs::LogTails;
use livy_server::records::Kind;
use livy_server::store::{EmbeddedStore, SharedStore};
use serde_json::{Value, json};
use tower::ServiceExt;

#[path = "bad_input/hostile.rs"]
mod hostile;

struct Fixture {
    _dir: tempfile::TempDir,
    store: SharedStore,
    app: axum::Router,
}

fn fixture(extra: &[&str]) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("spark");
    std::fs::create_dir_all(home.join("bin")).unwrap();
    std::fs::write(home.join("bin/spark-submit"), "").unwrap();
    let mut cli = vec![
        format!("livy.server.spark-home={}", home.display()),
        format!("livy.server.data-dir={}", dir.path().join("data").display()),
        "livy.file.local-dir-whitelist=/data/apps".to_owned(),
        "livy.server.request.max-body-size=4k".to_owned(),
    ];
    cli.extend(extra.iter().map(|s| s.to_string()));
    let config = Arc::new(
        Config::load(&Sources {
            conf_dir: None,
            env: BTreeMap::new(),
            cli,
        })
        .unwrap(),
    );
    std::fs::create_dir_all(&config.data_dir).unwrap();
    let store: SharedStore = Arc::new(EmbeddedStore::open(&config.store_path()).unwrap());
    let wake = Arc::new(livy_server::reconcile::Wake::new());
    let launcher = Arc::new(Launcher::new(
        config.apps_dir(),
        "/bin/false".into(),
        home,
        wake.clone(),
    ));
    let auth = Arc::new(livy_server::auth::Auth::new(&config.auth, false).unwrap());
    let app = Arc::new(App {
        auth,
        index: livy_server::index::Index::empty(store.clone()),
        manager: Arc::new(LocalManager::new(launcher, config.kill_grace)),
        logs: Arc::new(LogTails::new(config.cache_log_size)),
        config,
        hub: livy_server::repl::ReplHub::new(wake.clone(), Default::default()),
        wake,
        create_lock: Default::default(),
        pool: Default::default(),
        cluster: None,
        sealer: Arc::new(livy_server::records::seal::Sealer::new(b"test")),
    });
    Fixture {
        _dir: dir,
        store,
        app: router(app),
    }
}

async fn send(app: &axum::Router, method: &str, uri: &str, body: Vec<u8>) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

const OK_FILE: &str = "/data/apps/pi.py";

fn cases() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let j = |v: Value| v.to_string().into_bytes();
    vec![
        ("malformed JSON", b"{\"file\": ".to_vec(), "malformed JSON"),
        ("not an object", b"[1,2]".to_vec(), "invalid type"),
        ("empty body", b"".to_vec(), "empty"),
        (
            "wrong type for args",
            j(json!({"file": OK_FILE, "args": "a b"})),
            "args",
        ),
        (
            "wrong type for numExecutors",
            j(json!({"file": OK_FILE, "numExecutors": "many"})),
            "numExecutors",
        ),
        (
            "wrong type for conf",
            j(json!({"file": OK_FILE, "conf": ["a=b"]})),
            "conf",
        ),
        (
            "unknown field",
            j(json!({"file": OK_FILE, "fiel": "x"})),
            "fiel",
        ),
        (
            "missing file",
            j(json!({"className": "a.B"})),
            "File is required",
        ),
        ("empty file", j(json!({"file": ""})), "File is required"),
        (
            "relative file",
            j(json!({"file": "apps/pi.py"})),
            "is not absolute",
        ),
        (
            "local file outside whitelist",
            j(json!({"file": "/etc/passwd"})),
            "cannot be added to user sessions",
        ),
        (
            "file: URI outside whitelist",
            j(json!({"file": "file:///etc/passwd"})),
            "cannot be added",
        ),
        (
            "dot-dot escape",
            j(json!({"file": "/data/apps/../../etc/passwd"})),
            "..",
        ),
        (
            "jar outside whitelist",
            j(json!({"file": OK_FILE, "jars": ["/tmp/x.jar"]})),
            "jars[0]",
        ),
        (
            "relative pyFile",
            j(json!({"file": OK_FILE, "pyFiles": ["m.py"]})),
            "pyFiles[0]",
        ),
        (
            "files entry with comma",
            j(json!({"file": OK_FILE, "files": ["/data/apps/a,b"]})),
            "files[0]",
        ),
        (
            "archives outside whitelist",
            j(json!({"file": OK_FILE, "archives": ["/opt/env.zip#env"]})),
            "archives[0]",
        ),
        (
            "blocked spark.master",
            j(json!({"file": OK_FILE, "conf": {"spark.master": "yarn"}})),
            "Blacklisted configuration values in session config: spark.master",
        ),
        (
            "blocked deploy mode",
            j(json!({"file": OK_FILE, "conf": {"spark.submit.deployMode": "cluster"}})),
            "spark.submit.deployMode",
        ),
        (
            "blocked yarn jars",
            j(json!({"file": OK_FILE, "conf": {"spark.yarn.jars": "x"}})),
            "spark.yarn.jars",
        ),
        (
            "driverMemory not a size",
            j(json!({"file": OK_FILE, "driverMemory": "12x"})),
            "driverMemory",
        ),
        (
            "executorMemory not a size",
            j(json!({"file": OK_FILE, "executorMemory": "lots"})),
            "executorMemory",
        ),
        (
            "negative executorCores",
            j(json!({"file": OK_FILE, "executorCores": -1})),
            "executorCores",
        ),
        (
            "zero driverCores",
            j(json!({"file": OK_FILE, "driverCores": 0})),
            "driverCores",
        ),
        (
            "negative numExecutors",
            j(json!({"file": OK_FILE, "numExecutors": -2})),
            "numExecutors",
        ),
        (
            "huge numExecutors",
            j(json!({"file": OK_FILE, "numExecutors": 99999999999i64})),
            "numExecutors",
        ),
        (
            "newline in conf key",
            j(json!({"file": OK_FILE, "conf": {"spark.a\nspark.master": "x"}})),
            "conf key",
        ),
        (
            "newline in conf value",
            j(json!({"file": OK_FILE, "conf": {"spark.a": "x\nspark.master=yarn"}})),
            "conf[spark.a]",
        ),
        (
            "conf value posing as a sealed one",
            j(json!({"file": OK_FILE, "conf": {"spark.a.password": "sealed:v1:AAAA"}})),
            "reserved for the server's encrypted conf values",
        ),
        (
            "NUL in conf value",
            j(json!({"file": OK_FILE, "conf": {"spark.a": "x\u{0}y"}})),
            "NUL",
        ),
        (
            "NUL in an argument",
            j(json!({"file": OK_FILE, "args": ["a\u{0}b"]})),
            "args[0]",
        ),
        (
            "all-digit name",
            j(json!({"file": OK_FILE, "name": "123"})),
            "Invalid session name",
        ),
        (
            "bad class name",
            j(json!({"file": OK_FILE, "className": "a b;c"})),
            "className",
        ),
        (
            "newline in queue",
            j(json!({"file": OK_FILE, "queue": "q\n--master"})),
            "queue",
        ),
        (
            "driverCores over the cap",
            j(json!({"file": OK_FILE, "driverCores": 65})),
            "driverCores: 65 is more than this server allows (64; livy.server.request.max-driver-cores)",
        ),
        (
            "executorCores over the cap",
            j(json!({"file": OK_FILE, "executorCores": "1000"})),
            "executorCores: 1000 is more than this server allows (64; livy.server.request.max-executor-cores)",
        ),
        (
            "numExecutors over the cap",
            j(json!({"file": OK_FILE, "numExecutors": 4_000_000_000u64})),
            "numExecutors: 4000000000 is more than this server allows (10000; livy.server.request.max-num-executors)",
        ),
        (
            "driverMemory over the cap",
            j(json!({"file": OK_FILE, "driverMemory": "1t"})),
            "driverMemory: 1t is more than this server allows (512g; livy.server.request.max-driver-memory)",
        ),
        (
            "executorMemory over the cap, no unit (MiB)",
            j(json!({"file": OK_FILE, "executorMemory": "600000"})),
            "executorMemory: 600000 is more than this server allows (512g; livy.server.request.max-executor-memory)",
        ),
    ]
}

#[tokio::test]
async fn resource_caps_are_configurable() {
    let f = fixture(&["livy.server.request.max-num-executors=4"]);
    let ok = json!({"file": OK_FILE, "numExecutors": 4, "driverMemory": "512g", "driverCores": 64});
    let (status, reply) = send(&f.app, "POST", "/batches", ok.to_string().into_bytes()).await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    let over = json!({"kind": "pyspark", "numExecutors": 5});
    let (status, reply) = send(&f.app, "POST", "/sessions", over.to_string().into_bytes()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
    assert_eq!(
        reply["msg"],
        "numExecutors: 5 is more than this server allows (4; livy.server.request.max-num-executors)"
    );
}

#[tokio::test]
async fn every_invalid_request_is_a_4xx_naming_the_problem_and_writes_nothing() {
    let f = fixture(&[]);
    for (what, body, needle) in cases() {
        let (status, reply) = send(&f.app, "POST", "/batches", body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {reply}");
        let msg = reply["msg"].as_str().unwrap_or_default();
        assert!(
            msg.contains(needle),
            "{what}: message {msg:?} should mention {needle:?}"
        );
    }
    assert!(
        f.store.list(Kind::Batch).await.unwrap().is_empty(),
        "no record was written"
    );
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let f = fixture(&[]);
    let big = json!({"file": OK_FILE, "args": ["x".repeat(8 * 1024)]})
        .to_string()
        .into_bytes();
    let (status, reply) = send(&f.app, "POST", "/batches", big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{reply}");
    assert!(reply["msg"].as_str().unwrap().contains("max-body-size"));
    assert!(f.store.list(Kind::Batch).await.unwrap().is_empty());
}

#[tokio::test]
async fn lenient_types_that_real_clients_send_are_accepted() {
    // Zeppelin sends numbers as strings; Airflow sends numbers as conf values.
    let f = fixture(&[]);
    let body = json!({
        "file": OK_FILE, "numExecutors": "2", "executorCores": 1, "conf": {"spark.x": 5, "spark.y": true},
        "args": [1, "two"], "proxyUser": "bob", "jars": null, "hostile": null,
    });
    let mut obj = body.as_object().unwrap().clone();
    obj.remove("hostile");
    let (status, reply) = send(
        &f.app,
        "POST",
        "/batches",
        Value::Object(obj).to_string().into_bytes(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    assert_eq!(
        reply["proxyUser"],
        Value::Null,
        "without impersonation proxyUser is ignored, as in Livy"
    );
    let Some(livy_server::store::AnyRecord::Batch(rec)) =
        f.store.get(Kind::Batch, 0).await.unwrap()
    else {
        panic!("batch 0 is stored");
    };
    assert_eq!(rec.spec.resources.num_executors, Some(2));
    let conf = &rec.spec.resources.conf;
    assert_eq!(conf.get("spark.x").map(String::as_str), Some("5"));
    assert_eq!(rec.spec.args, ["1", "two"]);
}

#[tokio::test]
async fn livy_errors_for_paths_and_paging() {
    let f = fixture(&[]);
    let (status, reply) = send(&f.app, "GET", "/batches/3", vec![]).await;
    assert_eq!(
        (status, reply),
        (
            StatusCode::NOT_FOUND,
            json!({"msg": "Session '3' not found."})
        )
    );
    let (status, reply) = send(&f.app, "GET", "/batches?from=x", vec![]).await;
    assert_eq!(
        (status, reply),
        (
            StatusCode::BAD_REQUEST,
            json!({"msg": "For input string: \"x\""})
        )
    );
    let (status, reply) = send(&f.app, "DELETE", "/batches/nosuch", vec![]).await;
    assert_eq!(
        (status, reply["msg"].as_str()),
        (StatusCode::NOT_FOUND, Some("Session 'nosuch' not found."))
    );
    let (status, _) = send(&f.app, "GET", "/nowhere", vec![]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, reply) = send(&f.app, "GET", "/version", vec![]).await;
    assert_eq!(
        (status, reply["version"].as_str()),
        (StatusCode::OK, Some("0.8.0-incubating"))
    );
}

#[tokio::test]
async fn too_many_creations_are_rejected_with_livys_message() {
    let f = fixture(&["livy.server.session.max-creation=2"]);
    for _ in 0..2 {
        let (status, _) = send(
            &f.app,
            "POST",
            "/batches",
            json!({"file": OK_FILE}).to_string().into_bytes(),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (status, reply) = send(
        &f.app,
        "POST",
        "/batches",
        json!({"file": OK_FILE}).to_string().into_bytes(),
    )
    .await;
    assert_eq!(
        (status, reply),
        (
            StatusCode::BAD_REQUEST,
            json!({"msg": "Rejected, too many sessions are being created!"})
        )
    );
    assert_eq!(f.store.list(Kind::Batch).await.unwrap().len(), 2);
}

/// Creates are admitted under a short lock and stored concurrently; the
/// budget still holds when many arrive at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creations_stay_within_the_budget() {
    let f = fixture(&["livy.server.session.max-creation=5"]);
    let sends = (0..40).map(|_| {
        let app = f.app.clone();
        tokio::spawn(async move {
            send(
                &app,
                "POST",
                "/batches",
                json!({"file": OK_FILE}).to_string().into_bytes(),
            )
            .await
            .0
        })
    });
    let codes: Vec<StatusCode> = futures::future::join_all(sends)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    let created = codes.iter().filter(|c| **c == StatusCode::CREATED).count();
    let refused = codes
        .iter()
        .filter(|c| **c == StatusCode::BAD_REQUEST)
        .count();
    assert_eq!((created, refused), (5, 35), "{codes:?}");
    assert_eq!(f.store.list(Kind::Batch).await.unwrap().len(), 5);
}

/// Of many creates with one name at once, exactly one is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creations_with_one_name_store_one() {
    let f = fixture(&[]);
    let sends = (0..20).map(|_| {
        let app = f.app.clone();
        tokio::spawn(async move {
            let body = json!({"file": OK_FILE, "name": "race"});
            send(&app, "POST", "/batches", body.to_string().into_bytes()).await
        })
    });
    let replies: Vec<(StatusCode, Value)> = futures::future::join_all(sends)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    let created = replies
        .iter()
        .filter(|(c, _)| *c == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1, "{replies:?}");
    for (code, reply) in replies.iter().filter(|(c, _)| *c != StatusCode::CREATED) {
        assert_eq!(*code, StatusCode::BAD_REQUEST);
        assert_eq!(reply["msg"], "name: Duplicate session name: race");
    }
    assert_eq!(f.store.list(Kind::Batch).await.unwrap().len(), 1);
}

#[tokio::test]
async fn duplicate_names_are_rejected() {
    let f = fixture(&[]);
    let body = json!({"file": OK_FILE, "name": "nightly"})
        .to_string()
        .into_bytes();
    assert_eq!(
        send(&f.app, "POST", "/batches", body.clone()).await.0,
        StatusCode::CREATED
    );
    let (status, reply) = send(&f.app, "POST", "/batches", body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        reply["msg"]
            .as_str()
            .unwrap()
            .contains("Duplicate session name: nightly")
    );
}

#[tokio::test]
async fn invalid_session_requests_are_4xx_and_write_nothing() {
    let f = fixture(&[]);
    let j = |v: Value| v.to_string().into_bytes();
    let cases = [
        (
            "unknown kind",
            j(json!({"kind": "pyspark3"})),
            "Invalid kind: pyspark3",
        ),
        (
            "sparkr without R on the server (the fixture's PATH is empty)",
            j(json!({"kind": "sparkr"})),
            "sparkr needs R on the server and none was found on its PATH",
        ),
        (
            "the r alias, likewise",
            j(json!({"kind": "r"})),
            "install R (Debian: apt-get install r-base-core)",
        ),
        (
            "batch field on a session",
            j(json!({"kind": "spark", "file": "/data/apps/x.jar"})),
            "Unrecognized field \"file\"",
        ),
        (
            "negative heartbeat",
            j(json!({"heartbeatTimeoutInSecond": -5})),
            "heartbeatTimeoutInSecond",
        ),
        ("ttl not a duration", j(json!({"ttl": "soon"})), "ttl"),
        (
            "jar outside whitelist",
            j(json!({"jars": ["/opt/x.jar"]})),
            "jars[0]",
        ),
        (
            "blocked conf",
            j(json!({"conf": {"spark.master": "local"}})),
            "Blacklisted",
        ),
        ("unknown field", j(json!({"kinds": "spark"})), "kinds"),
    ];
    for (what, body, needle) in cases {
        let (status, reply) = send(&f.app, "POST", "/sessions", body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {reply}");
        let msg = reply["msg"].as_str().unwrap_or_default();
        assert!(
            msg.contains(needle),
            "{what}: {msg:?} should mention {needle:?}"
        );
    }
    assert!(f.store.list(Kind::Session).await.unwrap().is_empty());
    let (status, reply) = send(
        &f.app,
        "POST",
        "/batches",
        j(json!({"file": OK_FILE, "kind": "spark"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
    assert!(
        reply["msg"]
            .as_str()
            .unwrap()
            .contains("Unrecognized field \"kind\"")
    );
}

#[tokio::test]
async fn statements_follow_livys_rules_before_the_driver_is_up() {
    let f = fixture(&[]);
    let (status, s) = send(
        &f.app,
        "POST",
        "/sessions",
        json!({"kind": "python", "name": "nb"})
            .to_string()
            .into_bytes(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{s}");
    assert_eq!(s["kind"], "pyspark", "aliases map to Livy kinds");
    assert_eq!(s["state"], "starting", "created as Livy creates it");
    for key in [
        "id",
        "name",
        "appId",
        "owner",
        "proxyUser",
        "kind",
        "appInfo",
        "log",
        "ttl",
        "heartbeatTimeoutInSecond",
        "driverCores",
        "numExecutors",
        "conf",
    ] {
        assert!(s.get(key).is_some(), "session JSON lacks {key}: {s}");
    }
    // Not running yet: Livy's 500 text, which Zeppelin and Hue match.
    let (status, reply) = send(
        &f.app,
        "POST",
        "/sessions/0/statements",
        json!({"code": "1"}).to_string().into_bytes(),
    )
    .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        reply,
        json!("java.lang.IllegalStateException: Session is in state starting")
    );
    let (status, reply) = send(
        &f.app,
        "POST",
        "/sessions/0/statements",
        json!({"code": "1", "kind": "sparkr"})
            .to_string()
            .into_bytes(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
    assert!(
        reply["msg"]
            .as_str()
            .unwrap()
            .contains("needs R on the server"),
        "{reply}"
    );
    let (status, reply) = send(
        &f.app,
        "POST",
        "/sessions/0/statements",
        json!({}).to_string().into_bytes(),
    )
    .await;
    assert_eq!(
        (status, reply["msg"].as_str()),
        (StatusCode::BAD_REQUEST, Some("code: is required"))
    );
    let (status, reply) = send(&f.app, "GET", "/sessions/nb/statements/9", vec![]).await;
    assert_eq!(
        (status, reply),
        (StatusCode::NOT_FOUND, json!("Statement not found"))
    );
    let (status, reply) = send(&f.app, "GET", "/sessions/5/state", vec![]).await;
    assert_eq!(
        (status, reply),
        (
            StatusCode::NOT_FOUND,
            json!({"msg": "Session '5' not found."})
        )
    );
    let (status, reply) = send(&f.app, "GET", "/sessions", vec![]).await;
    assert_eq!((status, reply["total"].as_u64()), (StatusCode::OK, Some(1)));
}
