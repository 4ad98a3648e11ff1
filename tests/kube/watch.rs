//! The store's watch: changes reach `watch()`, and a dropped watch resumes
//! from the last resourceVersion it saw (no re-list, nothing missed).

use std::time::Duration;

use livy_server::records::Kind;
use livy_server::store::{KubeStore, KubeStoreOptions, RawChange, RawStore};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::scripted::{ApiServer, Reply, expect};

const BATCHES: &str = "/apis/livy.livy-server.dev/v1alpha1/namespaces/livy/livybatches";
const SESSIONS: &str = "/apis/livy.livy-server.dev/v1alpha1/namespaces/livy/livysessions";
const LIST: &str = "?&labelSelector=livy.livy-server.dev%2Fid&limit=500";

fn watch_from(base: &str, rv: &str) -> String {
    format!(
        "{base}?&watch=true&timeoutSeconds=290&labelSelector=livy.livy-server.dev%2Fid&allowWatchBookmarks=true&resourceVersion={rv}"
    )
}

fn batch(id: u64, rv: u64) -> Value {
    json!({
        "apiVersion": "livy.livy-server.dev/v1alpha1", "kind": "LivyBatch",
        "metadata": {"name": format!("batch-{id}"), "namespace": "livy", "resourceVersion": rv.to_string(),
            "labels": {"livy.livy-server.dev/id": id.to_string()}},
        "spec": {"livyId": id, "file": "local:///pi.py"},
        "status": {"state": "running", "stateSince": 1},
    })
}

fn list(items: Vec<Value>, rv: &str) -> Reply {
    Reply::Json(
        200,
        json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": rv}, "items": items}),
    )
}

#[tokio::test]
async fn changes_flow_and_a_dropped_watch_resumes_from_the_last_version() {
    let (client, server) = ApiServer::start(vec![
        expect(
            "GET",
            format!("{BATCHES}{LIST}"),
            None,
            list(vec![batch(0, 100)], "100"),
        ),
        // The first watch delivers one change, then the connection drops…
        expect(
            "GET",
            watch_from(BATCHES, "100"),
            None,
            Reply::Events(vec![json!({"type": "MODIFIED", "object": batch(0, 105)})]),
        ),
        // …and the next one starts where it left off, not from the list.
        expect(
            "GET",
            watch_from(BATCHES, "105"),
            None,
            Reply::Events(vec![
                json!({"type": "ADDED", "object": batch(1, 110)}),
                json!({"type": "BOOKMARK", "object": {"kind": "LivyBatch", "apiVersion": "livy.livy-server.dev/v1alpha1",
                    "metadata": {"resourceVersion": "115"}}}),
            ]),
        ),
        // A bookmark moves the resume point too.
        expect(
            "GET",
            watch_from(BATCHES, "115"),
            None,
            Reply::Events(vec![json!({"type": "DELETED", "object": batch(0, 120)})]),
        ),
        expect("GET", watch_from(BATCHES, "120"), None, Reply::Hold),
        expect(
            "GET",
            format!("{SESSIONS}{LIST}"),
            None,
            list(vec![], "100"),
        ),
        expect("GET", watch_from(SESSIONS, "100"), None, Reply::Hold),
    ]);
    let store = KubeStore::new(
        client,
        KubeStoreOptions {
            namespace: "livy".into(),
            id_configmap: "livy-server-ids".into(),
            instance: "livy-server-0".into(),
        },
    );
    let mut changes = store.watch();
    let (tasks, cancel) = (TaskTracker::new(), CancellationToken::new());
    store.spawn_watches(&tasks, &cancel);
    let mut got = Vec::new();
    while got.len() < 4 {
        let c = tokio::time::timeout(Duration::from_secs(10), changes.recv())
            .await
            .expect("a change within 10s")
            .unwrap();
        got.push(c);
    }
    let summary = |c: &RawChange| match c {
        RawChange::Applied(r) => (r.kind, r.id, Some(r.version)),
        RawChange::Deleted { kind, id } => (*kind, *id, None),
        RawChange::Missed => panic!("the KubeStore's watch resumes without a gap"),
    };
    let b = Kind::Batch;
    assert_eq!(
        got.iter().map(summary).collect::<Vec<_>>(),
        [
            (b, 0, Some(100)),
            (b, 0, Some(105)),
            (b, 1, Some(110)),
            (b, 0, None)
        ]
    );
    server.verify().await;
    cancel.cancel();
    tasks.close();
    tasks.wait().await;
}
