//! The reconciler on the Kubernetes store: a `LivyBatch` goes from
//! `starting` through a real (supervised, fake) spark-submit to `success`,
//! every read and write going through the scripted API server, which sees
//! the initial lists and one watch per kind, then only the two status
//! writes (and their events): no LIST per change. The API server echoes
//! each status write (the submission tag is drawn at random); the store is
//! a relay that also keeps every record handed to `update`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use livy_server::cluster::LocalManager;
use livy_server::config::{Config, Sources};
use livy_server::index::Index;
use livy_server::launcher::Launcher;
use livy_server::launcher::logs::LogTails;
use livy_server::reconcile::{Deps, Reconciler, Wake};
use livy_server::records::{BatchSpec, BatchStatus, Kind, Meta, SessionState, Submission};
use livy_server::repl::ReplHub;
use livy_server::repl::driver_build::DriverBuilder;
use livy_server::store::{
    Durability, KubeStore, KubeStoreOptions, RawChange, RawStore, StoreError, StoredRecord,
};
use serde_json::{Value, json};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::scripted::{ApiServer, Exchange, Reply, expect};

const BATCHES: &str = "/apis/livy.livy-server.dev/v1alpha1/namespaces/livy/livybatches";
const SESSIONS: &str = "/apis/livy.livy-server.dev/v1alpha1/namespaces/livy/livysessions";
const BY_ID: &str = "?&labelSelector=livy.livy-server.dev%2Fid";
const EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/livy/events?";
const FINALIZER: &str = "livy.livy-server.dev/stop-application";
const CREATED: u64 = 1_700_000_000_000;
const FILE: &str = "local:///opt/spark/examples/src/main/python/pi.py";

/// The reconciler's store: a `KubeStore`, plus a log of every record the
/// reconciler asked it to write.
struct Relay {
    current: Arc<KubeStore>,
    writes: Mutex<Vec<StoredRecord>>,
}

impl Relay {
    fn new(store: KubeStore) -> Self {
        Self {
            current: Arc::new(store),
            writes: Mutex::default(),
        }
    }

    fn store(&self) -> Arc<KubeStore> {
        self.current.clone()
    }

    fn writes(&self) -> Vec<StoredRecord> {
        self.writes.lock().unwrap().clone()
    }
}

#[async_trait]
impl RawStore for Relay {
    async fn create(
        &self,
        kind: Kind,
        meta: Meta,
        spec: Value,
        status: Value,
    ) -> Result<StoredRecord, StoreError> {
        self.store().create(kind, meta, spec, status).await
    }

    async fn get(&self, kind: Kind, id: u64) -> Result<Option<StoredRecord>, StoreError> {
        self.store().get(kind, id).await
    }

    async fn list(&self, kind: Kind) -> Result<Vec<StoredRecord>, StoreError> {
        self.store().list(kind).await
    }

    async fn update(
        &self,
        record: &StoredRecord,
        durability: Durability,
    ) -> Result<StoredRecord, StoreError> {
        self.writes.lock().unwrap().push(record.clone());
        self.store().update(record, durability).await
    }

    async fn delete(&self, kind: Kind, id: u64, version: u64) -> Result<(), StoreError> {
        self.store().delete(kind, id, version).await
    }

    fn watch(&self) -> broadcast::Receiver<RawChange> {
        self.store().watch()
    }

    async fn put_session_secret(&self, id: u64, secret: &str) -> Result<(), StoreError> {
        self.store().put_session_secret(id, secret).await
    }

    async fn session_secret(&self, id: u64) -> Result<Option<String>, StoreError> {
        self.store().session_secret(id).await
    }
}

fn kube_store(client: kube::Client) -> KubeStore {
    KubeStore::new(
        client,
        KubeStoreOptions {
            namespace: "livy".into(),
            id_configmap: "livy-server-ids".into(),
            instance: "livy-server-0".into(),
        },
    )
}

/// The batch's spec as `POST /batches` stores it (every field, so the
/// reconciler's re-encoded spec equals it and only the status is written).
fn spec() -> Value {
    serde_json::to_value(BatchSpec {
        file: FILE.into(),
        args: vec!["10".into()],
        ..BatchSpec::default()
    })
    .unwrap()
}

/// `LivyBatch` `batch-0` as the API server returns it.
fn livy_batch(rv: u64, status: &Value) -> Value {
    let mut spec = spec();
    spec["livyId"] = 0.into();
    json!({
        "apiVersion": "livy.livy-server.dev/v1alpha1",
        "kind": "LivyBatch",
        "metadata": {
            "name": "batch-0",
            "namespace": "livy",
            "uid": "uid-0",
            "resourceVersion": rv.to_string(),
            "creationTimestamp": "2023-11-14T22:13:20Z",
            "labels": {"livy.livy-server.dev/id": "0", "app.kubernetes.io/managed-by": "livy-server"},
            "annotations": {"livy.livy-server.dev/created-at": CREATED.to_string()},
            "finalizers": [FINALIZER],
        },
        "spec": spec,
        "status": status,
    })
}

/// The lists of the initial sync (the index's, then the watcher's, which
/// pages) and one watch per kind, held open.
fn initial_sync(batch: Value) -> Vec<Exchange> {
    let watch = |base: &str| {
        format!(
            "{base}?&watch=true&timeoutSeconds=290&labelSelector=livy.livy-server.dev%2Fid&allowWatchBookmarks=true&resourceVersion=500"
        )
    };
    vec![
        expect(
            "GET",
            format!("{BATCHES}{BY_ID}"),
            None,
            list(vec![batch.clone()]),
        ),
        expect("GET", format!("{SESSIONS}{BY_ID}"), None, list(vec![])),
        expect(
            "GET",
            format!("{BATCHES}{BY_ID}&limit=500"),
            None,
            list(vec![batch]),
        ),
        expect(
            "GET",
            format!("{SESSIONS}{BY_ID}&limit=500"),
            None,
            list(vec![]),
        ),
        expect("GET", watch(BATCHES), None, Reply::Hold),
        expect("GET", watch(SESSIONS), None, Reply::Hold),
    ]
}

fn list(items: Vec<Value>) -> Reply {
    Reply::Json(
        200,
        json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": "500"}, "items": items}),
    )
}

/// The event a status write of `batch-0` at `rv` records.
fn event(reason: &str, note: &str, rv: u64) -> Exchange {
    expect(
        "POST",
        EVENTS,
        Some(json!({
            "type": "Normal", "reason": reason, "note": note, "action": "Reconcile",
            "regarding": {"kind": "LivyBatch", "name": "batch-0", "uid": "uid-0",
                "resourceVersion": rv.to_string()},
            "reportingController": "livy-server", "reportingInstance": "livy-server-0",
        })),
        Reply::Json(201, json!({"metadata": {"name": "e"}})),
    )
}

/// A config with a fake Spark whose spark-submit prints its arguments and
/// exits 0 once the file `go` is in `dir` (so it is seen running first,
/// whatever the machine's load).
fn config(dir: &Path) -> Arc<Config> {
    use std::os::unix::fs::PermissionsExt;
    let home = dir.join("spark");
    std::fs::create_dir_all(home.join("bin")).unwrap();
    let submit = home.join("bin/spark-submit");
    std::fs::write(
        &submit,
        format!(
            "#!/bin/sh\necho \"fake spark-submit $*\"\n\
             i=0; while [ ! -e '{go}' ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done\nexit 0\n",
            go = dir.join("go").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&submit, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cli = vec![
        format!("livy.server.spark-home={}", home.display()),
        format!("livy.server.data-dir={}", dir.join("data").display()),
        "livy.spark.master=local[*]".to_owned(),
    ];
    Arc::new(
        Config::load(&Sources {
            conf_dir: None,
            env: Default::default(),
            cli,
        })
        .unwrap(),
    )
}

/// The one application directory under `apps`.
fn only_app_dir(apps: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(apps)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 1, "one application directory: {dirs:?}");
    dirs.into_iter().next().unwrap()
}

async fn wait_for(path: &Path) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !path.exists() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn reconciler_drives_a_batch_in_the_kube_store_from_submit_to_success() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let created = serde_json::to_value(BatchStatus::new(CREATED)).unwrap();

    let mut script = initial_sync(livy_batch(101, &created));
    script.extend([
        // Created `starting`: the submission is written durably (no state
        // change, so no event), then spark-submit runs.
        expect(
            "PUT",
            format!("{BATCHES}/batch-0/status?"),
            Some(json!({
                "metadata": {"name": "batch-0", "resourceVersion": "101"},
                "status": {"state": "starting", "launchFailures": 0, "exitCode": null,
                    "submission": {"attempt": 1}},
            })),
            Reply::Echo(102),
        ),
        // The supervised fake spark-submit runs: starting → running.
        expect(
            "PUT",
            format!("{BATCHES}/batch-0/status?"),
            Some(json!({
                "metadata": {"name": "batch-0", "resourceVersion": "102"},
                "status": {"state": "running", "exitCode": null},
            })),
            Reply::Echo(103),
        ),
        event("Running", "starting → running", 103),
        // It exits: running → success.
        expect(
            "PUT",
            format!("{BATCHES}/batch-0/status?"),
            Some(json!({
                "metadata": {"name": "batch-0", "resourceVersion": "103"},
                "status": {"state": "success", "exitCode": 0, "message": null},
            })),
            Reply::Echo(104),
        ),
        event("Success", "running → success", 104),
    ]);
    let (client, server) = ApiServer::start(script);
    let relay = Arc::new(Relay::new(kube_store(client)));
    let (tasks, cancel) = (TaskTracker::new(), CancellationToken::new());
    let index = Index::load(relay.clone()).await.unwrap();
    index.spawn(&tasks, &cancel);
    relay.store().spawn_watches(&tasks, &cancel);
    let wake = Arc::new(Wake::new());
    let launcher = Arc::new(Launcher::new(
        config.apps_dir(),
        env!("CARGO_BIN_EXE_livy-server").into(),
        config.spark_home.clone(),
        wake.clone(),
    ));
    let reconciler = Arc::new(Reconciler::new(Deps {
        index: index.clone(),
        manager: Arc::new(LocalManager::new(launcher.clone(), config.kill_grace)),
        launcher,
        config: config.clone(),
        logs: Arc::new(LogTails::new(config.cache_log_size)),
        hub: ReplHub::new(wake.clone(), tasks.clone()),
        driver: Arc::new(DriverBuilder::new(
            config.driver_cache_dir.clone(),
            config.spark_home.clone(),
            None,
        )),
        wake,
        tasks: tasks.clone(),
        sealer: Arc::new(livy_server::records::seal::Sealer::new(b"test")),
    }));
    let before = livy_server::records::now_ms();
    tasks.spawn(reconciler.run(cancel.clone()));

    for (want, then) in [
        (SessionState::Running, true),
        (SessionState::Success, false),
    ] {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while index
            .get::<BatchStatus>(0)
            .is_none_or(|r| r.status.state != want)
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "never {want:?}: {:#?} {:#?}",
                index.get::<BatchStatus>(0),
                relay.writes()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if then {
            std::fs::write(dir.path().join("go"), "").unwrap();
        }
    }
    // Every expected request came, and nothing else (no LIST per change).
    server.verify().await;
    cancel.cancel();
    tasks.close();
    tasks.wait().await;

    let writes = relay.writes();
    assert_eq!(writes.len(), 3, "three status writes: {writes:#?}");
    let (kind, id, version) = (writes[0].kind, writes[0].id, writes[0].version);
    assert_eq!((kind, id, version), (Kind::Batch, 0, 101));
    let status: BatchStatus = serde_json::from_value(writes[0].status.clone()).unwrap();
    let sub = status.submission.clone().expect("a submission");
    let token = sub.tag.strip_prefix("livy-batch-0-").unwrap_or_default();
    assert!(
        token.len() == 8
            && token
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
        "tag {}",
        sub.tag
    );
    assert!(sub.at >= before, "submitted by the reconciler");
    let app_dir = only_app_dir(&config.apps_dir());
    assert_eq!(app_dir, config.apps_dir().join(&sub.tag), "spawned by tag");
    let log = app_dir.join("output.log");
    assert_eq!(
        status,
        BatchStatus {
            state: SessionState::Starting,
            submission: Some(Submission {
                tag: sub.tag.clone(),
                attempt: 1,
                at: sub.at,
            }),
            log_path: Some(log.display().to_string()),
            state_since: sub.at,
            ..BatchStatus::new(CREATED)
        }
    );
    wait_for(&app_dir.join("exit.json")).await;
    let output = std::fs::read_to_string(&log).unwrap();
    assert!(
        output.contains("fake spark-submit --master local[*]") && output.contains("pi.py 10"),
        "{output}"
    );
    assert_eq!((writes[1].version, writes[2].version), (102, 103));
    let running: BatchStatus = serde_json::from_value(writes[1].status.clone()).unwrap();
    assert_eq!(running.state, SessionState::Running);
    let done: BatchStatus = serde_json::from_value(writes[2].status.clone()).unwrap();
    assert!(
        done.state_since >= sub.at,
        "success is stamped after starting"
    );
    assert_eq!(
        done,
        BatchStatus {
            state: SessionState::Success,
            exit_code: Some(0),
            state_since: done.state_since,
            ..status
        }
    );
}
