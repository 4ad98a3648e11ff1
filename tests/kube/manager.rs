//! The Kubernetes cluster manager: one driver-pod watch observes every
//! tracked application; kill deletes the driver pod.

use std::sync::Arc;
use std::time::Duration;

use livy_server::cluster::{
    AppObservation, ClusterManager, K8sManager, K8sOptions, Outcome, TrackedApp,
};
use livy_server::launcher::Launcher;
use livy_server::reconcile::Wake;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::scripted::{ApiServer, Reply, expect, status};

const PODS: &str = "/api/v1/namespaces/spark/pods";
const SELECTOR: &str = "labelSelector=livy-tag%2Cspark-role%3Ddriver";

fn driver(tag: &str, phase: &str, app_id: &str, exit: Option<i32>) -> Value {
    let mut pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("{tag}-driver"), "namespace": "spark", "resourceVersion": "40",
            "labels": {"livy-tag": tag, "spark-role": "driver", "spark-app-selector": app_id}},
        "status": {"phase": phase},
    });
    if let Some(code) = exit {
        pod["status"]["containerStatuses"] = json!([{"name": "spark-kubernetes-driver", "image": "spark", "imageID": "",
            "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": code, "reason": "Error"}}}]);
    }
    pod
}

fn tracked(tag: &str, app_id: Option<&str>) -> TrackedApp {
    TrackedApp {
        tag: tag.into(),
        app_id: app_id.map(str::to_owned),
    }
}

#[tokio::test]
async fn one_watch_observes_every_driver_and_kill_deletes_the_driver_pod() {
    let pods = vec![
        driver("livy-batch-1-aaaa", "Running", "spark-0001", None),
        driver("livy-batch-2-bbbb", "Failed", "spark-0002", Some(1)),
        driver("livy-batch-5-eeee", "Pending", "spark-0005", None),
    ];
    let (client, server) = ApiServer::start(vec![
        expect(
            "GET",
            format!("{PODS}?&{SELECTOR}&limit=500"),
            None,
            Reply::Json(
                200,
                json!({"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "50"}, "items": pods}),
            ),
        ),
        expect(
            "GET",
            format!(
                "{PODS}?&watch=true&timeoutSeconds=290&{SELECTOR}&allowWatchBookmarks=true&resourceVersion=50"
            ),
            None,
            Reply::Hold,
        ),
        expect(
            "DELETE",
            format!("{PODS}/livy-batch-1-aaaa-driver?"),
            None,
            Reply::Json(
                200,
                driver("livy-batch-1-aaaa", "Running", "spark-0001", None),
            ),
        ),
        expect(
            "DELETE",
            format!("{PODS}/livy-batch-3-cccc-driver?"),
            None,
            status(404, "NotFound"),
        ),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let wake = Arc::new(Wake::new());
    let launcher = Arc::new(Launcher::new(
        dir.path().join("apps"),
        "/bin/false".into(),
        dir.path().into(),
        wake.clone(),
    ));
    // A pod change must wake the reconciler's observation.
    let asked = wake.observe_asked();
    tokio::pin!(asked);
    asked.as_mut().enable();
    let opts = K8sOptions {
        namespace: "spark".into(),
        service_account: None,
        kill_grace: Duration::from_millis(10),
    };
    let (tasks, cancel) = (TaskTracker::new(), CancellationToken::new());
    let manager = K8sManager::spawn(client, launcher, opts, &tasks, &cancel);
    let apps = [
        tracked("livy-batch-1-aaaa", None),
        tracked("livy-batch-2-bbbb", None),
        tracked("livy-batch-3-cccc", Some("spark-0003")),
        tracked("livy-batch-4-dddd", None),
        tracked("livy-batch-5-eeee", None),
    ];
    // Before the first list, a missing pod means nothing: no observation at all.
    assert!(manager.observe(&apps).await.is_err());
    let seen = loop {
        if let Ok(seen) = manager.observe(&apps).await {
            break seen;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    tokio::time::timeout(Duration::from_secs(5), asked)
        .await
        .expect("the pod watch asked for an observation");
    assert!(
        matches!(&seen["livy-batch-1-aaaa"], AppObservation::Running { app_id: Some(id), .. } if id == "spark-0001")
    );
    match &seen["livy-batch-2-bbbb"] {
        AppObservation::Finished {
            outcome: Outcome::Failed,
            app_id,
            diagnostic,
            ..
        } => {
            assert_eq!(app_id.as_deref(), Some("spark-0002"));
            assert_eq!(
                diagnostic.as_deref(),
                Some("driver container exited with code 1 Error")
            );
        }
        other => panic!("{other:?}"),
    }
    match &seen["livy-batch-3-cccc"] {
        AppObservation::Finished {
            outcome: Outcome::Failed,
            diagnostic,
            ..
        } => {
            assert_eq!(
                diagnostic.as_deref(),
                Some("driver pod livy-batch-3-cccc-driver was deleted")
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(seen["livy-batch-4-dddd"], AppObservation::NotFound);
    assert!(matches!(
        &seen["livy-batch-5-eeee"],
        AppObservation::Starting { .. }
    ));
    manager.kill(&apps[0]).await.unwrap();
    manager.kill(&apps[2]).await.unwrap();
    server.verify().await;
    cancel.cancel();
    tasks.close();
    tasks.wait().await;
}
