//! Leader election on a Lease: creation, respecting a live holder, taking
//! an expired Lease only with its resourceVersion, and running the work only
//! while leading.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
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
