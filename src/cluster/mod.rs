//! Cluster managers: what spark-submit needs for a record, one bulk
//! observation of every tracked application per poll, and kill.
//!
//! Each manager maps its native states to [`AppObservation`] in one pure,
//! table-tested function. Managers own no records: the reconciler passes in
//! what to look at and writes what it learns.

pub(crate) mod http;
mod k8s;
mod local;
mod phase;
mod standalone;
mod yarn;

pub use k8s::{DriverPod, K8sManager, K8sOptions, driver_pod_name, k8s_additions, map_driver_pod};
pub use local::LocalManager;
pub use phase::Phase;
pub use standalone::{StandaloneManager, StandaloneOptions, map_app_state, map_driver_state};
pub use yarn::{FinalStatus, YarnManager, YarnOptions, YarnState, map_yarn};

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::config::Config;
use crate::launcher::{Launcher, SubmitAdditions};
use crate::records::AppInfo;

/// How an application ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    Failed,
    Killed,
}

/// What the cluster says about one application, in cluster-neutral terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppObservation {
    /// The cluster does not know the tag (yet).
    NotFound,
    /// Certainly nothing was launched for the tag (the local launcher made
    /// no directory for it): the server that wrote the submission stopped
    /// before launching.
    NeverLaunched,
    Starting {
        app_id: Option<String>,
        app_info: AppInfo,
    },
    Running {
        app_id: Option<String>,
        app_info: AppInfo,
    },
    Finished {
        outcome: Outcome,
        app_id: Option<String>,
        app_info: AppInfo,
        exit_code: Option<i32>,
        /// A line for the log explaining the end (diagnostics, signal, …).
        diagnostic: Option<String>,
    },
}

/// An application the reconciler tracks: its tag and the facts the record holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackedApp {
    pub tag: String,
    pub app_id: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("failed to observe applications on {manager}: {reason}")]
    Observe {
        manager: &'static str,
        reason: String,
    },
    #[error("failed to kill application {tag} on {manager}: {reason}")]
    Kill {
        manager: &'static str,
        tag: String,
        reason: String,
    },
}

#[async_trait]
pub trait ClusterManager: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    /// spark-submit additions for the record tagged `tag` (conf, app name).
    fn submit_additions(&self, tag: &str, user_name: Option<&str>) -> SubmitAdditions;
    /// True when the spark-submit process *is* the application (local and
    /// client mode), so it counts against `max-creation` while it runs.
    fn submit_process_is_app(&self) -> bool;
    /// One observation of every tracked application (one cluster query).
    async fn observe(
        &self,
        apps: &[TrackedApp],
    ) -> Result<HashMap<String, AppObservation>, ClusterError>;
    /// Stops an application; returns once it is stopped or given up on.
    async fn kill(&self, app: &TrackedApp) -> Result<(), ClusterError>;
    /// The `--deploy-mode` for one application, given `livy.spark.deploy-mode`.
    /// `python`: the primary resource is a Python file; `interactive`: a session.
    fn deploy_mode(
        &self,
        configured: Option<&str>,
        _python: bool,
        _interactive: bool,
    ) -> Option<String> {
        configured.map(str::to_owned)
    }
    /// How often the reconciler should observe when nothing wakes it sooner;
    /// `None` keeps the server-wide `livy.server.poll-interval`. (YARN asks
    /// the ResourceManager less often than a local process is looked at.)
    fn poll_interval(&self) -> Option<Duration> {
        None
    }
    /// How long a submitted application may stay [`AppObservation::NotFound`]
    /// before its record ends `dead`; `None` keeps `livy.server.app-lookup-timeout`.
    fn lookup_timeout(&self) -> Option<Duration> {
        None
    }
    /// The log line explaining that lookup timeout.
    fn not_found_diagnostic(&self, tag: &str, waited: Duration) -> String {
        format!(
            "no application found with tag {tag} in {} seconds",
            waited.as_secs()
        )
    }
}

/// The manager `livy.spark.master` calls for: `spark://…` → standalone,
/// `yarn…` → YARN, anything else (`local…`, and masters without a manager
/// yet, whose spark-submit process is all there is to watch) → local.
pub fn manager_for(config: &Config, launcher: Arc<Launcher>) -> Arc<dyn ClusterManager> {
    let master = config.spark_master.as_str();
    if master.starts_with("spark://") {
        Arc::new(StandaloneManager::new(
            launcher,
            StandaloneOptions::from_config(config),
        ))
    } else if master.starts_with("yarn") {
        Arc::new(YarnManager::new(
            config.yarn_rm_addresses.clone(),
            launcher,
            YarnOptions::from_config(config),
        ))
    } else {
        Arc::new(LocalManager::new(launcher, config.kill_grace))
    }
}
