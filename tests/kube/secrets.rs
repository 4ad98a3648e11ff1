//! Drivers' secrets in Kubernetes mode against a scripted API server: a
//! `Secret` per session, named after its `LivySession` and owned by it;
//! replaced on a relaunch, never when someone else owns that name.

use base64::Engine;
use livy_server::records::Kind;
use livy_server::store::{KubeStore, KubeStoreOptions, RawStore, StoreError};
use serde_json::{Value, json};

use super::scripted::{ApiServer, Reply, expect, status};

const SESSIONS: &str = "/apis/livy.livy-server.dev/v1alpha1/namespaces/livy/livysessions";
const SECRETS: &str = "/api/v1/namespaces/livy/secrets";

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

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// A `LivySession` as the API server returns it.
fn session(id: u64) -> Value {
    json!({
        "apiVersion": "livy.livy-server.dev/v1alpha1",
        "kind": "LivySession",
        "metadata": {
            "name": format!("session-{id}"),
            "namespace": "livy",
            "uid": format!("uid-{id}"),
            "resourceVersion": "10",
            "labels": {"livy.livy-server.dev/id": id.to_string()},
            "finalizers": ["livy.livy-server.dev/stop-application"],
        },
        "spec": {"livyId": id, "kind": "pyspark"},
        "status": {"state": "not_started", "stateSince": 1, "launchFailures": 0},
    })
}

/// What the server sends for session `id`'s secret (and what it gets back).
fn secret(id: u64, owner_uid: &str, value: &str, rv: Option<&str>) -> Value {
    let mut s = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": format!("session-{id}-driver-secret"),
            "labels": {
                "livy.livy-server.dev/id": id.to_string(),
                "app.kubernetes.io/managed-by": "livy-server",
            },
            "ownerReferences": [{
                "apiVersion": "livy.livy-server.dev/v1alpha1",
                "kind": "LivySession",
                "name": format!("session-{id}"),
                "uid": owner_uid,
                "controller": true,
            }],
        },
        "type": "Opaque",
        "data": {"secret": b64(value)},
    });
    if let Some(rv) = rv {
        s["metadata"]["resourceVersion"] = json!(rv);
    }
    s
}

#[tokio::test]
async fn a_session_secret_is_a_secret_owned_by_its_livysession() {
    let name = "session-3-driver-secret";
    let (client, server) = ApiServer::start(vec![
        expect(
            "GET",
            format!("{SESSIONS}/session-3"),
            None,
            Reply::Json(200, session(3)),
        ),
        expect(
            "POST",
            format!("{SECRETS}?"),
            Some(secret(3, "uid-3", "first-secret", None)),
            Reply::Json(201, secret(3, "uid-3", "first-secret", Some("20"))),
        ),
        // A relaunch: the name is taken (by us), so read it and replace it.
        expect(
            "POST",
            format!("{SECRETS}?"),
            Some(secret(3, "uid-3", "second-secret", None)),
            status(409, "AlreadyExists"),
        ),
        expect(
            "GET",
            format!("{SECRETS}/{name}"),
            None,
            Reply::Json(200, secret(3, "uid-3", "first-secret", Some("20"))),
        ),
        expect(
            "PUT",
            format!("{SECRETS}/{name}?"),
            Some(secret(3, "uid-3", "second-secret", Some("20"))),
            Reply::Json(200, secret(3, "uid-3", "second-secret", Some("21"))),
        ),
        expect(
            "GET",
            format!("{SECRETS}/{name}"),
            None,
            Reply::Json(200, secret(3, "uid-3", "second-secret", Some("21"))),
        ),
        expect(
            "GET",
            format!("{SECRETS}/session-4-driver-secret"),
            None,
            status(404, "NotFound"),
        ),
    ]);
    let store = store(client);
    // The reconciler has read the session before it launches it: its uid is known.
    let rec = store.get(Kind::Session, 3).await.unwrap().unwrap();
    assert!(!rec.status.to_string().contains("secret"), "{}", rec.status);
    store.put_session_secret(3, "first-secret").await.unwrap();
    store.put_session_secret(3, "second-secret").await.unwrap();
    assert_eq!(
        store.session_secret(3).await.unwrap().as_deref(),
        Some("second-secret")
    );
    assert_eq!(store.session_secret(4).await.unwrap(), None);
    server.verify().await;
}

#[tokio::test]
async fn a_foreign_secret_of_that_name_is_never_overwritten() {
    let name = "session-5-driver-secret";
    let (client, server) = ApiServer::start(vec![
        // Not read before: the owner's uid comes from the API server.
        expect(
            "GET",
            format!("{SESSIONS}/session-5"),
            None,
            Reply::Json(200, session(5)),
        ),
        expect(
            "POST",
            format!("{SECRETS}?"),
            Some(secret(5, "uid-5", "mine", None)),
            status(409, "AlreadyExists"),
        ),
        expect(
            "GET",
            format!("{SECRETS}/{name}"),
            None,
            Reply::Json(200, secret(5, "someone-else", "theirs", Some("7"))),
        ),
    ]);
    let store = store(client);
    let err = store.put_session_secret(5, "mine").await.unwrap_err();
    assert!(
        matches!(err, StoreError::SecretNotOurs { id: 5, .. }),
        "{err}"
    );
    server.verify().await;
}
