//! The Kubernetes store against a scripted API server: create → status
//! updates → delete through the finalizer; `kubectl delete`; conflicts.

use livy_server::records::{Kind, Meta};
use livy_server::store::{Durability, KubeStore, KubeStoreOptions, RawStore, StoreError};
use serde_json::{Value, json};

use super::scripted::{ApiServer, Exchange, Reply, expect, status};

const BATCHES: &str = "/apis/livy.livy-server.dev/v1alpha1/namespaces/livy/livybatches";
const IDS: &str = "/api/v1/namespaces/livy/configmaps/livy-server-ids";
const EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/livy/events?";
const FINALIZER: &str = "livy.livy-server.dev/stop-application";

fn store(client: kube::Client) -> KubeStore {
    KubeStore::new(
        client,
        KubeStoreOptions {
            namespace: "livy".into(),
            id_configmap: "livy-server-ids".into(),
            instance: "livy-server-0".into(),
        },
    )
}

fn meta() -> Meta {
    Meta {
        name: None,
        owner: None,
        created_at: 1_700_000_000_000,
        deletion_requested: false,
    }
}

fn spec() -> Value {
    json!({"file": "local:///opt/spark/examples/src/main/python/pi.py", "args": ["10"]})
}

/// A `LivyBatch` as the API server returns it.
fn batch(id: u64, rv: u64, status: Option<Value>, deleting: bool) -> Value {
    let mut spec = spec();
    spec["livyId"] = id.into();
    let mut obj = json!({
        "apiVersion": "livy.livy-server.dev/v1alpha1",
        "kind": "LivyBatch",
        "metadata": {
            "name": format!("batch-{id}"),
            "namespace": "livy",
            "uid": format!("uid-{id}"),
            "resourceVersion": rv.to_string(),
            "creationTimestamp": "2023-11-14T22:13:20Z",
            "labels": {"livy.livy-server.dev/id": id.to_string(), "app.kubernetes.io/managed-by": "livy-server"},
            "annotations": {"livy.livy-server.dev/created-at": "1700000000000"},
            "finalizers": [FINALIZER],
        },
        "spec": spec,
    });
    if let Some(s) = status {
        obj["status"] = s;
    }
    if deleting {
        obj["metadata"]["deletionTimestamp"] = json!("2023-11-14T23:00:00Z");
    }
    obj
}

fn not_started() -> Value {
    json!({"state": "not_started", "stateSince": 1_700_000_000_000u64, "launchFailures": 0})
}

fn starting() -> Value {
    json!({"state": "starting", "stateSince": 1_700_000_001_000u64, "launchFailures": 0,
        "submission": {"tag": "livy-batch-0-abcd1234", "attempt": 1, "at": 1_700_000_001_000u64}})
}

fn event(reason: &str) -> Exchange {
    expect(
        "POST",
        EVENTS,
        Some(
            json!({"reason": reason, "regarding": {"kind": "LivyBatch", "name": "batch-0", "uid": "uid-0"},
            "reportingController": "livy-server", "reportingInstance": "livy-server-0"}),
        ),
        Reply::Json(201, json!({"metadata": {"name": "e"}})),
    )
}

/// The requests of creating batch 0 in an empty namespace.
fn create_batch_0() -> Vec<Exchange> {
    vec![
        expect("GET", IDS, None, status(404, "NotFound")),
        // No counter yet: seed it above every existing resource (none).
        expect(
            "GET",
            format!("{BATCHES}?&labelSelector=livy.livy-server.dev%2Fid"),
            None,
            Reply::Json(
                200,
                json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": "90"}, "items": []}),
            ),
        ),
        expect(
            "POST",
            "/api/v1/namespaces/livy/configmaps?",
            Some(json!({"metadata": {"name": "livy-server-ids"}, "data": {"batch": "1"}})),
            Reply::Json(
                201,
                json!({"metadata": {"name": "livy-server-ids", "resourceVersion": "91"}, "data": {"batch": "1"}}),
            ),
        ),
        expect(
            "POST",
            format!("{BATCHES}?"),
            Some(json!({
                "metadata": {"name": "batch-0", "finalizers": [FINALIZER],
                    "labels": {"livy.livy-server.dev/id": "0"},
                    "annotations": {"livy.livy-server.dev/created-at": "1700000000000"}},
                "spec": {"livyId": 0, "file": "local:///opt/spark/examples/src/main/python/pi.py", "args": ["10"]},
            })),
            Reply::Json(201, batch(0, 100, None, false)),
        ),
        // The status subresource ignores status on create: a second write.
        expect(
            "PUT",
            format!("{BATCHES}/batch-0/status?"),
            Some(json!({"metadata": {"resourceVersion": "100"}, "status": not_started()})),
            Reply::Json(200, batch(0, 101, Some(not_started()), false)),
        ),
        event("NotStarted"),
    ]
}

#[tokio::test]
async fn create_then_status_updates_then_livy_delete_through_the_finalizer() {
    let mut script = create_batch_0();
    script.extend([
        expect(
            "PUT",
            format!("{BATCHES}/batch-0/status?"),
            Some(json!({"metadata": {"resourceVersion": "101"}, "status": starting()})),
            Reply::Json(200, batch(0, 102, Some(starting()), false)),
        ),
        event("Starting"),
        // DELETE /batches/0: a conditional delete; the finalizer keeps the resource.
        expect(
            "DELETE",
            format!("{BATCHES}/batch-0?"),
            Some(json!({"preconditions": {"resourceVersion": "102"}})),
            Reply::Json(200, batch(0, 103, Some(starting()), true)),
        ),
        // The reconciler stopped the application: let the resource go.
        expect(
            "PATCH",
            format!("{BATCHES}/batch-0?"),
            Some(json!({"metadata": {"resourceVersion": "103", "finalizers": null}})),
            Reply::Json(200, batch(0, 104, Some(starting()), true)),
        ),
        expect(
            "GET",
            format!("{BATCHES}/batch-0"),
            None,
            status(404, "NotFound"),
        ),
    ]);
    let (client, server) = ApiServer::start(script);
    let store = store(client);
    let mut changes = store.watch();

    let rec = store
        .create(Kind::Batch, meta(), spec(), not_started())
        .await
        .unwrap();
    assert_eq!((rec.id, rec.version), (0, 101));
    assert_eq!(rec.status, not_started());

    let mut next = rec.clone();
    next.status = starting();
    let rec = store.update(&next, Durability::Disk).await.unwrap();
    assert_eq!(rec.version, 102);
    assert_eq!(rec.status["submission"]["tag"], "livy-batch-0-abcd1234");

    let mut del = rec.clone();
    del.meta.deletion_requested = true;
    let rec = store.update(&del, Durability::Disk).await.unwrap();
    assert!(rec.meta.deletion_requested, "deletionTimestamp is set");
    assert_eq!(rec.version, 103);

    store.delete(Kind::Batch, 0, 103).await.unwrap();
    assert_eq!(store.get(Kind::Batch, 0).await.unwrap(), None);

    let seen: Vec<Option<u64>> = std::iter::from_fn(|| changes.try_recv().ok())
        .map(|c| match c {
            livy_server::store::RawChange::Applied(r) => Some(r.version),
            livy_server::store::RawChange::Deleted { .. } => None,
            livy_server::store::RawChange::Missed => panic!("the KubeStore never misses"),
        })
        .collect();
    assert_eq!(seen, [Some(101), Some(102), Some(103), None]);
    server.verify().await;
}

#[tokio::test]
async fn kubectl_delete_is_a_deletion_request_and_delete_removes_the_finalizer() {
    let finished = json!({"state": "success", "stateSince": 5, "launchFailures": 0});
    let mut deleting = batch(0, 300, Some(finished.clone()), true);
    deleting["metadata"]["finalizers"] = json!(["example.com/keep", FINALIZER]);
    let (client, server) = ApiServer::start(vec![
        expect(
            "GET",
            format!("{BATCHES}/batch-0"),
            None,
            Reply::Json(200, deleting),
        ),
        // Someone else's finalizer stays.
        expect(
            "PATCH",
            format!("{BATCHES}/batch-0?"),
            Some(
                json!({"metadata": {"resourceVersion": "300", "finalizers": ["example.com/keep"]}}),
            ),
            Reply::Json(200, batch(0, 301, Some(finished), true)),
        ),
    ]);
    let store = store(client);
    let rec = store.get(Kind::Batch, 0).await.unwrap().unwrap();
    assert!(
        rec.meta.deletion_requested,
        "kubectl delete sets deletionTimestamp"
    );
    store.delete(Kind::Batch, 0, rec.version).await.unwrap();
    server.verify().await;
}

#[tokio::test]
async fn a_stale_write_is_a_conflict_and_succeeds_after_a_fresh_read() {
    let running = json!({"state": "running", "stateSince": 7, "launchFailures": 0});
    let (client, server) = ApiServer::start(vec![
        expect(
            "GET",
            format!("{BATCHES}/batch-0"),
            None,
            Reply::Json(200, batch(0, 200, Some(starting()), false)),
        ),
        // Another replica wrote since our read.
        expect(
            "PUT",
            format!("{BATCHES}/batch-0/status?"),
            Some(json!({"metadata": {"resourceVersion": "200"}, "status": running})),
            status(409, "Conflict"),
        ),
        expect(
            "GET",
            format!("{BATCHES}/batch-0"),
            None,
            Reply::Json(200, batch(0, 205, Some(starting()), false)),
        ),
        expect(
            "PUT",
            format!("{BATCHES}/batch-0/status?"),
            Some(json!({"metadata": {"resourceVersion": "205"}, "status": running})),
            Reply::Json(200, batch(0, 206, Some(running.clone()), false)),
        ),
        event("Running"),
    ]);
    let store = store(client);
    let mut rec = store.get(Kind::Batch, 0).await.unwrap().unwrap();
    rec.status = running.clone();
    let err = store.update(&rec, Durability::Disk).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                id: 0,
                expected: 200,
                ..
            }
        ),
        "{err}"
    );
    // What every caller does on Conflict: read again, re-apply, write.
    let mut fresh = store.get(Kind::Batch, 0).await.unwrap().unwrap();
    assert_eq!(fresh.version, 205);
    fresh.status = running;
    assert_eq!(
        store
            .update(&fresh, Durability::Disk)
            .await
            .unwrap()
            .version,
        206
    );
    server.verify().await;
}

#[tokio::test]
async fn concurrent_replicas_never_share_an_id() {
    let counter = |rv: &str, next: &str| json!({"metadata": {"name": "livy-server-ids", "resourceVersion": rv}, "data": {"batch": next, "session": "3"}});
    let mut created = batch(8, 400, None, false);
    created["metadata"]["name"] = json!("batch-8");
    let (client, server) = ApiServer::start(vec![
        expect("GET", IDS, None, Reply::Json(200, counter("5", "7"))),
        // Another replica took 7 in between: 409, read again, take 8.
        expect(
            "PUT",
            format!("{IDS}?"),
            Some(json!({"metadata": {"resourceVersion": "5"}, "data": {"batch": "8"}})),
            status(409, "Conflict"),
        ),
        expect("GET", IDS, None, Reply::Json(200, counter("6", "8"))),
        expect(
            "PUT",
            format!("{IDS}?"),
            Some(
                json!({"metadata": {"resourceVersion": "6"}, "data": {"batch": "9", "session": "3"}}),
            ),
            Reply::Json(200, counter("7", "9")),
        ),
        expect(
            "POST",
            format!("{BATCHES}?"),
            Some(json!({"metadata": {"name": "batch-8"}, "spec": {"livyId": 8}})),
            Reply::Json(201, created),
        ),
        expect(
            "PUT",
            format!("{BATCHES}/batch-8/status?"),
            Some(json!({"metadata": {"resourceVersion": "400"}})),
            Reply::Json(200, batch(8, 401, Some(not_started()), false)),
        ),
        expect(
            "POST",
            EVENTS,
            Some(json!({"reason": "NotStarted"})),
            Reply::Json(201, json!({})),
        ),
    ]);
    let store = store(client);
    let rec = store
        .create(Kind::Batch, meta(), spec(), not_started())
        .await
        .unwrap();
    assert_eq!((rec.id, rec.version), (8, 401));
    server.verify().await;
}

#[tokio::test]
async fn a_duplicate_name_is_refused_from_the_index_before_anything_is_written() {
    let mut named = batch(4, 50, Some(not_started()), false);
    named["metadata"]["annotations"]["livy.livy-server.dev/name"] = json!("nightly");
    let list = |items: Vec<Value>| {
        Reply::Json(
            200,
            json!({"apiVersion": "v1", "kind": "List", "metadata": {}, "items": items}),
        )
    };
    // The index reads each kind once; the refusal needs no request at all.
    let (client, server) = ApiServer::start(vec![
        expect(
            "GET",
            format!("{BATCHES}?&labelSelector=livy.livy-server.dev%2Fid"),
            None,
            list(vec![named]),
        ),
        expect(
            "GET",
            "/apis/livy.livy-server.dev/v1alpha1/namespaces/livy/livysessions?&labelSelector=livy.livy-server.dev%2Fid",
            None,
            list(vec![]),
        ),
    ]);
    let index = livy_server::index::Index::load(std::sync::Arc::new(store(client)))
        .await
        .unwrap();
    let m = Meta {
        name: Some("nightly".into()),
        ..meta()
    };
    let spec: livy_server::records::BatchSpec = serde_json::from_value(spec()).unwrap();
    let status = livy_server::records::BatchStatus::new(1);
    let err = index.create(m, &spec, &status).await.unwrap_err();
    assert!(matches!(err, StoreError::DuplicateName { .. }), "{err}");
    server.verify().await;
}
