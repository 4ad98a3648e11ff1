//! Leader election on a Lease: creation, respecting a live holder, taking
//! an expired Lease only with its resourceVersion, and running the work only
//! while leading; the holder's annotations (where it is reached) and the
//! replicas' shared secret.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use livy_server::config::{Config, Sources};
use livy_server::ha::{CALLBACK_ANNOTATION, Peer, REST_URL_ANNOTATION, peer_from_lease};
use livy_server::k8s::K8sMode;
use livy_server::leader::{LeaseElector, LeaseOptions};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::scripted::{ApiServer, Reply, expect, status};

const LEASE: &str = "/apis/coordination.k8s.io/v1/namespaces/livy/leases/livy-server";
const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/livy/leases?";

fn lease(rv: &str, holder: &str, seconds: i32, transitions: i32) -> Reply {
    Reply::Json(200, lease_json(rv, holder, seconds, transitions))
}

fn lease_json(rv: &str, holder: &str, seconds: i32, transitions: i32) -> Value {
    json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "livy-server", "namespace": "livy", "resourceVersion": rv},
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": seconds, "leaseTransitions": transitions,
            "renewTime": "2023-11-14T22:13:20.000000Z", "acquireTime": "2023-11-14T22:13:20.000000Z"}})
}

fn elector(client: kube::Client, me: &str, lease_secs: u64) -> LeaseElector {
    let api: Api<Lease> = Api::namespaced(client, "livy");
    LeaseElector::new(
        api,
        LeaseOptions::new(
            "livy-server".into(),
            me.into(),
            Duration::from_secs(lease_secs),
        ),
    )
}

#[tokio::test]
async fn a_missing_lease_is_created_and_a_live_holder_is_respected() {
    let (client, server) = ApiServer::start(vec![
        expect("GET", LEASE, None, status(404, "NotFound")),
        expect(
            "POST",
            LEASES,
            Some(json!({"metadata": {"name": "livy-server"},
                "spec": {"holderIdentity": "livy-0", "leaseDurationSeconds": 15, "leaseTransitions": 0}})),
            Reply::Json(201, lease_json("10", "livy-0", 15, 0)),
        ),
        // Replica livy-1 finds it held and not expired: no write at all.
        expect("GET", LEASE, None, lease("10", "livy-0", 15, 0)),
    ]);
    assert!(
        elector(client.clone(), "livy-0", 15)
            .try_acquire_or_renew()
            .await
            .unwrap()
    );
    assert!(
        !elector(client, "livy-1", 15)
            .try_acquire_or_renew()
            .await
            .unwrap()
    );
    server.verify().await;
}

#[tokio::test]
async fn an_expired_lease_is_taken_only_with_the_version_that_was_read() {
    let (client, server) = ApiServer::start(vec![
        expect("GET", LEASE, None, lease("20", "livy-0", 1, 3)),
        // Unchanged for longer than its duration: try to take it, conditionally…
        expect("GET", LEASE, None, lease("20", "livy-0", 1, 3)),
        expect(
            "PUT",
            format!("{LEASE}?"),
            Some(json!({"metadata": {"resourceVersion": "20"},
                "spec": {"holderIdentity": "livy-1", "leaseTransitions": 4, "leaseDurationSeconds": 1}})),
            // …and another replica was faster: not the leader.
            status(409, "Conflict"),
        ),
        expect("GET", LEASE, None, lease("21", "livy-2", 1, 4)),
        expect("GET", LEASE, None, lease("21", "livy-2", 1, 4)),
        expect(
            "PUT",
            format!("{LEASE}?"),
            Some(
                json!({"metadata": {"resourceVersion": "21"}, "spec": {"holderIdentity": "livy-1", "leaseTransitions": 5}}),
            ),
            lease("22", "livy-1", 1, 5),
        ),
    ]);
    let mut e = elector(client, "livy-1", 1);
    assert!(
        !e.try_acquire_or_renew().await.unwrap(),
        "just observed: not expired yet"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(
        !e.try_acquire_or_renew().await.unwrap(),
        "lost the race (409)"
    );
    assert!(
        !e.try_acquire_or_renew().await.unwrap(),
        "the new holder renewed just now"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(
        e.try_acquire_or_renew().await.unwrap(),
        "expired again: taken"
    );
    server.verify().await;
}

/// Counts starts and stops of the leader's work.
fn counting_work(
    started: Arc<AtomicU32>,
    stopped: Arc<AtomicU32>,
) -> impl Fn(CancellationToken) -> futures::future::BoxFuture<'static, ()> {
    move |token: CancellationToken| {
        let (started, stopped) = (started.clone(), stopped.clone());
        Box::pin(async move {
            started.fetch_add(1, Ordering::SeqCst);
            token.cancelled().await;
            stopped.fetch_add(1, Ordering::SeqCst);
        })
    }
}

#[tokio::test]
async fn the_work_runs_only_while_leading() {
    let (client, server) = ApiServer::start(vec![
        expect("GET", LEASE, None, status(404, "NotFound")),
        expect(
            "POST",
            LEASES,
            None,
            Reply::Json(201, lease_json("1", "livy-0", 3, 0)),
        ),
        // The renewal finds that someone else wrote the Lease: step down.
        expect("GET", LEASE, None, lease("1", "livy-0", 3, 0)),
        expect(
            "PUT",
            format!("{LEASE}?"),
            Some(json!({"metadata": {"resourceVersion": "1"}})),
            status(409, "Conflict"),
        ),
        expect("GET", LEASE, None, Reply::Hold),
    ]);
    let (started, stopped) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
    let cancel = CancellationToken::new();
    let run = tokio::spawn(elector(client, "livy-0", 3).run(
        cancel.clone(),
        counting_work(started.clone(), stopped.clone()),
    ));
    server.verify().await;
    assert_eq!(
        (
            started.load(Ordering::SeqCst),
            stopped.load(Ordering::SeqCst)
        ),
        (1, 1)
    );
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .expect("stops on cancel")
        .unwrap();
}

#[tokio::test]
async fn a_leader_that_shuts_down_releases_the_lease() {
    let (client, server) = ApiServer::start(vec![
        expect("GET", LEASE, None, status(404, "NotFound")),
        expect(
            "POST",
            LEASES,
            None,
            Reply::Json(201, lease_json("1", "livy-0", 3, 0)),
        ),
        expect("GET", LEASE, None, Reply::Hold),
        // Shutdown: give the Lease up so another replica takes over at once.
        expect("GET", LEASE, None, lease("2", "livy-0", 3, 0)),
        expect(
            "PUT",
            format!("{LEASE}?"),
            Some(
                json!({"metadata": {"resourceVersion": "2"}, "spec": {"leaseDurationSeconds": 1}}),
            ),
            lease("3", "", 1, 0),
        ),
    ]);
    let (started, stopped) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
    let cancel = CancellationToken::new();
    let run = tokio::spawn(elector(client, "livy-0", 3).run(
        cancel.clone(),
        counting_work(started.clone(), stopped.clone()),
    ));
    while started.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .expect("stops on cancel")
        .unwrap();
    assert_eq!(stopped.load(Ordering::SeqCst), 1);
    server.verify().await;
}

fn annotated(client: kube::Client, me: &str, lease_secs: u64) -> (LeaseElector, Peer) {
    let peer = Peer {
        identity: me.to_owned(),
        rest_url: format!("http://{me}.pods:8998"),
        callback: format!("{me}.pods:10000"),
    };
    let mut opts = LeaseOptions::new(
        "livy-server".into(),
        me.into(),
        Duration::from_secs(lease_secs),
    );
    opts.annotations = [
        (REST_URL_ANNOTATION.to_owned(), peer.rest_url.clone()),
        (CALLBACK_ANNOTATION.to_owned(), peer.callback.clone()),
    ]
    .into();
    (
        LeaseElector::new(Api::namespaced(client, "livy"), opts),
        peer,
    )
}

fn holder_peer(e: &LeaseElector) -> Option<Peer> {
    e.holder()
        .and_then(|(holder, annotations)| peer_from_lease(holder, annotations))
}

/// Replicas with sessions: the holder writes where it is reached on the
/// Lease, so the others forward session calls and send drivers there; a
/// follower sees the live holder, and nobody once the Lease has expired.
#[tokio::test]
async fn the_holder_says_where_it_is_reached_on_the_lease() {
    let annotated_lease = |rv: &str, holder: &str, seconds: i32, transitions: i32| {
        let mut v = lease_json(rv, holder, seconds, transitions);
        v["metadata"]["annotations"] = json!({
            REST_URL_ANNOTATION: format!("http://{holder}.pods:8998"),
            CALLBACK_ANNOTATION: format!("{holder}.pods:10000"),
        });
        Reply::Json(200, v)
    };
    let (client, server) = ApiServer::start(vec![
        expect("GET", LEASE, None, status(404, "NotFound")),
        expect(
            "POST",
            LEASES,
            Some(json!({"metadata": {"name": "livy-server", "annotations": {
                    REST_URL_ANNOTATION: "http://livy-0.pods:8998",
                    CALLBACK_ANNOTATION: "livy-0.pods:10000"}},
                "spec": {"holderIdentity": "livy-0"}})),
            Reply::Json(201, lease_json("10", "livy-0", 1, 0)),
        ),
        // livy-1 sees livy-0 holding it, and where livy-0 is.
        expect("GET", LEASE, None, annotated_lease("10", "livy-0", 1, 0)),
        // Unchanged past its duration: livy-1 takes it, writing its own address.
        expect("GET", LEASE, None, annotated_lease("10", "livy-0", 1, 0)),
        expect(
            "PUT",
            format!("{LEASE}?"),
            Some(
                json!({"metadata": {"resourceVersion": "10", "annotations": {
                    REST_URL_ANNOTATION: "http://livy-1.pods:8998",
                    CALLBACK_ANNOTATION: "livy-1.pods:10000"}},
                "spec": {"holderIdentity": "livy-1", "leaseTransitions": 1}}),
            ),
            annotated_lease("11", "livy-1", 1, 1),
        ),
        // A failed read: nobody is known to lead.
        expect("GET", LEASE, None, status(500, "InternalError")),
    ]);
    let (mut zero, zero_peer) = annotated(client.clone(), "livy-0", 1);
    let (mut one, one_peer) = annotated(client, "livy-1", 1);
    assert!(zero.try_acquire_or_renew().await.unwrap());
    assert_eq!(holder_peer(&zero), Some(zero_peer.clone()));
    assert!(!one.try_acquire_or_renew().await.unwrap());
    assert_eq!(
        holder_peer(&one),
        Some(zero_peer),
        "the follower knows the leader"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(one.try_acquire_or_renew().await.unwrap(), "expired: taken");
    assert_eq!(holder_peer(&one), Some(one_peer));
    assert!(one.try_acquire_or_renew().await.is_err());
    assert_eq!(holder_peer(&one), None, "unknown after a failed read");
    server.verify().await;
}

/// The replicas' shared secret: created by the first replica that needs it
/// (labelled as ours), read by the others; a lost creation race reads the
/// winner's.
#[tokio::test]
async fn replicas_share_one_peer_secret() {
    const SECRET: &str = "/api/v1/namespaces/livy/secrets/livy-server-peers";
    const SECRETS: &str = "/api/v1/namespaces/livy/secrets?";
    let stored = |value: &str| {
        use base64::Engine;
        Reply::Json(
            200,
            json!({"apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "livy-server-peers", "namespace": "livy", "resourceVersion": "5"},
                "data": {"secret": base64::engine::general_purpose::STANDARD.encode(value)}}),
        )
    };
    let (client, server) = ApiServer::start(vec![
        expect("GET", SECRET, None, status(404, "NotFound")),
        expect(
            "POST",
            SECRETS,
            Some(json!({"metadata": {"name": "livy-server-peers",
                "labels": {"app.kubernetes.io/managed-by": "livy-server"}}, "type": "Opaque"})),
            Reply::Json(201, json!({"metadata": {"name": "livy-server-peers"}})),
        ),
        // The second replica lost the race to create it.
        expect("GET", SECRET, None, status(404, "NotFound")),
        expect("POST", SECRETS, None, status(409, "AlreadyExists")),
        expect("GET", SECRET, None, stored("the-winners")),
    ]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("bin")).unwrap();
    std::fs::write(dir.path().join("bin/spark-submit"), "#!/bin/sh\n").unwrap();
    let config = |dir: &std::path::Path| {
        std::sync::Arc::new(
            Config::load(&Sources {
                conf_dir: None,
                env: Default::default(),
                cli: vec![
                    format!("livy.server.spark-home={}", dir.display()),
                    format!("livy.server.data-dir={}", dir.join("data").display()),
                    "livy.server.kubernetes.namespace=livy".to_owned(),
                    "livy.server.kubernetes.leader-election.enabled=true".to_owned(),
                ],
            })
            .unwrap(),
        )
    };
    let first = K8sMode::new(client.clone(), config(dir.path()));
    assert!(first.elects());
    let made = first.peer_secret().await.unwrap();
    assert_eq!(made.len(), 32, "a fresh random secret: {made}");
    let second = K8sMode::new(client, config(dir.path()));
    assert_eq!(second.peer_secret().await.unwrap(), "the-winners");
    server.verify().await;
}
