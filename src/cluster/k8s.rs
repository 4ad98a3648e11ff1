//! The Kubernetes manager: `spark-submit --master k8s://… --deploy-mode
//! cluster` labels the driver and executor pods with our tag and names the
//! driver pod after it; one pod watch (driver pods carrying the tag label)
//! observes every tracked application; kill deletes the driver pod, and
//! Kubernetes garbage-collects the executors it owns.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::local::map_process;
use super::{AppObservation, ClusterError, ClusterManager, Outcome, Phase, TrackedApp};
use crate::launcher::{Launcher, ProcessState, SubmitAdditions};
use crate::records::AppInfo;

const NAME: &str = "kubernetes";
/// The pod label carrying our tag, on the driver and on every executor.
pub const LABEL_TAG: &str = "livy-tag";
/// Spark's own labels: the role of a pod, and the application id.
const LABEL_ROLE: &str = "spark-role";
const LABEL_APP_ID: &str = "spark-app-selector";

/// Where and how applications run.
#[derive(Debug, Clone)]
pub struct K8sOptions {
    /// Namespace of the driver and executor pods.
    pub namespace: String,
    /// Service account of the driver pod, if not Spark's default.
    pub service_account: Option<String>,
    /// SIGTERM→SIGKILL grace for a local spark-submit still running on kill.
    pub kill_grace: Duration,
}

/// What the watch knows of a tracked application's driver pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriverPod<'a> {
    /// The pod exists; `phase` is `status.phase` (`None` before the kubelet reports).
    Present { phase: Option<&'a str> },
    /// The pod was seen before (we learned its app id) and is gone now.
    Deleted,
}

/// Driver pod → cluster-neutral phase (pure; table-tested). Unknown is a
/// node that stopped reporting: Spark does not recover a driver from that.
pub fn map_driver_pod(pod: DriverPod<'_>) -> Phase {
    match pod {
        DriverPod::Present {
            phase: Some("Running"),
        } => Phase::Running,
        DriverPod::Present {
            phase: Some("Succeeded"),
        } => Phase::Finished(Outcome::Succeeded),
        DriverPod::Present {
            phase: Some("Failed" | "Unknown"),
        } => Phase::Finished(Outcome::Failed),
        // Pending, not reported yet, or a phase newer than this server: not an end.
        DriverPod::Present { .. } => Phase::Starting,
        DriverPod::Deleted => Phase::Finished(Outcome::Failed),
    }
}

/// The driver pod's name for a tag (`spark.kubernetes.driver.pod.name`).
pub fn driver_pod_name(tag: &str) -> String {
    format!("{tag}-driver")
}

/// Why a pod ended, from its status (the driver container's termination first).
fn pod_diagnostic(pod: &Pod) -> Option<String> {
    let status = pod.status.as_ref()?;
    let terminated = status
        .container_statuses
        .iter()
        .flatten()
        .filter_map(|c| c.state.as_ref()?.terminated.as_ref())
        .find(|t| t.exit_code != 0);
    if let Some(t) = terminated {
        let why = t
            .message
            .clone()
            .or_else(|| t.reason.clone())
            .unwrap_or_default();
        return Some(
            format!("driver container exited with code {} {why}", t.exit_code)
                .trim()
                .to_owned(),
        );
    }
    status.message.clone().or_else(|| status.reason.clone())
}

/// spark-submit conf for the application tagged `tag` (pure; its argv is table-tested).
pub fn k8s_additions(tag: &str, opts: &K8sOptions) -> SubmitAdditions {
    let mut conf = BTreeMap::from([
        (
            format!("spark.kubernetes.driver.label.{LABEL_TAG}"),
            tag.to_owned(),
        ),
        (
            format!("spark.kubernetes.executor.label.{LABEL_TAG}"),
            tag.to_owned(),
        ),
        (
            "spark.kubernetes.driver.pod.name".to_owned(),
            driver_pod_name(tag),
        ),
        (
            "spark.kubernetes.namespace".to_owned(),
            opts.namespace.clone(),
        ),
        // spark-submit returns once the driver pod exists; the watch does the rest.
        (
            "spark.kubernetes.submission.waitAppCompletion".to_owned(),
            "false".to_owned(),
        ),
        ("spark.submit.deployMode".to_owned(), "cluster".to_owned()),
    ]);
    if let Some(sa) = &opts.service_account {
        conf.insert(
            "spark.kubernetes.authenticate.driver.serviceAccountName".to_owned(),
            sa.clone(),
        );
    }
    SubmitAdditions {
        conf,
        app_name: None,
    }
}

pub struct K8sManager {
    pods: Api<Pod>,
    reader: Store<Pod>,
    launcher: Arc<Launcher>,
    opts: K8sOptions,
}

impl K8sManager {
    /// Starts the driver-pod watch on `tasks` and returns the manager.
    pub fn spawn(
        client: kube::Client,
        launcher: Arc<Launcher>,
        opts: K8sOptions,
        tasks: &TaskTracker,
        cancel: &CancellationToken,
    ) -> Self {
        let pods: Api<Pod> = Api::namespaced(client, &opts.namespace);
        let (reader, writer) = reflector::store();
        // Only drivers: executors carry the tag too, but say nothing the driver does not.
        let config = watcher::Config::default().labels(&format!("{LABEL_TAG},{LABEL_ROLE}=driver"));
        let stream =
            reflector::reflector(writer, watcher::watcher(pods.clone(), config)).default_backoff();
        let (cancel, wake) = (cancel.clone(), launcher.wake());
        tasks.spawn(async move {
            let mut stream = stream.boxed();
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    next = stream.next() => match next {
                        // A driver pod changed: observe now, not a poll later.
                        Some(Ok(_)) => wake.observe(),
                        Some(Err(e)) => tracing::warn!(error = %e, "driver pod watch failed; retrying"),
                        None => return,
                    },
                }
            }
        });
        Self {
            pods,
            reader,
            launcher,
            opts,
        }
    }

    fn observe_one(&self, app: &TrackedApp) -> AppObservation {
        let key = ObjectRef::new(&driver_pod_name(&app.tag)).within(&self.opts.namespace);
        let Some(pod) = self.reader.get(&key) else {
            if app.app_id.is_some() {
                let diagnostic = format!("driver pod {} was deleted", driver_pod_name(&app.tag));
                return map_driver_pod(DriverPod::Deleted).observation(
                    app.app_id.clone(),
                    AppInfo::default(),
                    Some(diagnostic),
                );
            }
            // spark-submit failed before a pod existed: say so now, not after the lookup timeout.
            let state = self.launcher.observe(&app.tag);
            if let ProcessState::Exited(_) = state
                && let AppObservation::Finished {
                    outcome: Outcome::Failed,
                    exit_code,
                    diagnostic,
                    ..
                } = map_process(&state)
            {
                return AppObservation::Finished {
                    outcome: Outcome::Failed,
                    app_id: None,
                    app_info: AppInfo::default(),
                    exit_code,
                    diagnostic: Some(format!(
                        "{}; no driver pod was created",
                        diagnostic.unwrap_or_default()
                    )),
                };
            }
            return AppObservation::NotFound;
        };
        let app_id = pod
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(LABEL_APP_ID))
            .cloned()
            .or_else(|| app.app_id.clone());
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        map_driver_pod(DriverPod::Present { phase }).observation(
            app_id,
            AppInfo::default(),
            pod_diagnostic(&pod),
        )
    }
}

#[async_trait]
impl ClusterManager for K8sManager {
    fn name(&self) -> &'static str {
        NAME
    }

    fn submit_additions(&self, tag: &str, _user_name: Option<&str>) -> SubmitAdditions {
        k8s_additions(tag, &self.opts)
    }

    fn submit_process_is_app(&self) -> bool {
        false
    }

    async fn observe(
        &self,
        apps: &[TrackedApp],
    ) -> Result<HashMap<String, AppObservation>, ClusterError> {
        // Before the first list completes, every pod would look missing.
        if self
            .reader
            .wait_until_ready()
            .now_or_never()
            .is_none_or(|r| r.is_err())
        {
            return Err(ClusterError::Observe {
                manager: NAME,
                reason: "the driver pod watch has not listed the pods yet".to_owned(),
            });
        }
        Ok(apps
            .iter()
            .map(|a| (a.tag.clone(), self.observe_one(a)))
            .collect())
    }

    async fn kill(&self, app: &TrackedApp) -> Result<(), ClusterError> {
        // spark-submit may still be creating the pod: stop it first.
        self.launcher.stop(&app.tag, self.opts.kill_grace).await;
        match self
            .pods
            .delete(&driver_pod_name(&app.tag), &DeleteParams::default())
            .await
        {
            Ok(_) => Ok(()),
            // Already gone: nothing left to stop.
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(ClusterError::Kill {
                manager: NAME,
                tag: app.tag.clone(),
                reason: crate::error_chain(&e),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::launcher::{SubmitSettings, batch_argv};
    use crate::records::{BatchSpec, Resources};
    use rstest::rstest;

    #[rstest]
    #[case::pending(DriverPod::Present { phase: Some("Pending") }, Phase::Starting)]
    #[case::not_reported(DriverPod::Present { phase: None }, Phase::Starting)]
    #[case::running(DriverPod::Present { phase: Some("Running") }, Phase::Running)]
    #[case::succeeded(DriverPod::Present { phase: Some("Succeeded") }, Phase::Finished(Outcome::Succeeded))]
    #[case::failed(DriverPod::Present { phase: Some("Failed") }, Phase::Finished(Outcome::Failed))]
    #[case::unknown(DriverPod::Present { phase: Some("Unknown") }, Phase::Finished(Outcome::Failed))]
    #[case::future_phase(DriverPod::Present { phase: Some("Hibernating") }, Phase::Starting)]
    #[case::deleted(DriverPod::Deleted, Phase::Finished(Outcome::Failed))]
    fn driver_pod_phases(#[case] pod: DriverPod<'_>, #[case] want: Phase) {
        assert_eq!(map_driver_pod(pod), want);
    }

    fn additions(tag: &str, sa: Option<&str>) -> SubmitAdditions {
        let opts = K8sOptions {
            namespace: "spark".into(),
            service_account: sa.map(str::to_owned),
            kill_grace: Duration::from_secs(1),
        };
        k8s_additions(tag, &opts)
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    const PI: &str = "local:///opt/spark/examples/src/main/python/pi.py";

    #[rstest]
    #[case::pi_batch(
        BatchSpec { file: PI.into(), args: s(&["10"]), ..BatchSpec::default() },
        None,
        s(&["/opt/spark/bin/spark-submit", "--master", "k8s://https://kubernetes.default.svc:443", "--deploy-mode", "cluster",
            "--conf", "spark.kubernetes.driver.label.livy-tag=livy-batch-3-abcd1234",
            "--conf", "spark.kubernetes.driver.pod.name=livy-batch-3-abcd1234-driver",
            "--conf", "spark.kubernetes.executor.label.livy-tag=livy-batch-3-abcd1234",
            "--conf", "spark.kubernetes.namespace=spark",
            "--conf", "spark.kubernetes.submission.waitAppCompletion=false",
            "--conf", "spark.submit.deployMode=cluster",
            PI, "10"]))]
    #[case::user_cannot_override_the_tag_or_pod_name(
        BatchSpec {
            file: "local:///app.jar".into(),
            class_name: Some("org.example.Main".into()),
            resources: Resources {
                name: Some("nightly".into()),
                executor_memory: Some("2g".into()),
                conf: BTreeMap::from([
                    ("spark.kubernetes.driver.pod.name".to_owned(), "mine".to_owned()),
                    ("spark.kubernetes.container.image".to_owned(), "apache/spark:4.0.1".to_owned()),
                ]),
                ..Resources::default()
            },
            ..BatchSpec::default()
        },
        Some("spark-driver"),
        s(&["/opt/spark/bin/spark-submit", "--master", "k8s://https://kubernetes.default.svc:443", "--deploy-mode", "cluster",
            "--name", "nightly", "--class", "org.example.Main", "--executor-memory", "2g",
            "--conf", "spark.kubernetes.authenticate.driver.serviceAccountName=spark-driver",
            "--conf", "spark.kubernetes.container.image=apache/spark:4.0.1",
            "--conf", "spark.kubernetes.driver.label.livy-tag=livy-batch-3-abcd1234",
            "--conf", "spark.kubernetes.driver.pod.name=livy-batch-3-abcd1234-driver",
            "--conf", "spark.kubernetes.executor.label.livy-tag=livy-batch-3-abcd1234",
            "--conf", "spark.kubernetes.namespace=spark",
            "--conf", "spark.kubernetes.submission.waitAppCompletion=false",
            "--conf", "spark.submit.deployMode=cluster",
            "local:///app.jar"]))]
    fn k8s_submit_argv(
        #[case] spec: BatchSpec,
        #[case] sa: Option<&str>,
        #[case] want: Vec<String>,
    ) {
        let settings = SubmitSettings {
            spark_submit: "/opt/spark/bin/spark-submit".into(),
            master: "k8s://https://kubernetes.default.svc:443".into(),
            deploy_mode: Some("cluster".into()),
            impersonation: false,
        };
        assert_eq!(
            batch_argv(&spec, &settings, &additions("livy-batch-3-abcd1234", sa)),
            want
        );
    }
}
