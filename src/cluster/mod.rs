//! Cluster managers: what spark-submit needs for a record, one bulk
//! observation of every tracked application per poll, and kill.
//!
//! Each manager maps its native states to [`AppObservation`] in one pure,
//! table-tested function. Managers own no records: the reconciler passes in
//! what to look at and writes what it learns.

mod local;

pub use local::LocalManager;

use std::collections::HashMap;

use async_trait::async_trait;

use crate::launcher::SubmitAdditions;
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
}
