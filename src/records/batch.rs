//! Batch records: the validated request and the observed application state.

use serde::{Deserialize, Serialize};

use super::{Resources, SessionState};

/// A batch as requested (`POST /batches`), after validation. Field names are
/// Livy's wire names so the record reads like the request that made it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchSpec {
    pub file: String,
    pub class_name: Option<String>,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(flatten)]
    pub resources: Resources,
}

/// Where the application's driver UI and logs are, when the cluster says.
#[derive(
    Debug,
    Clone,
    Default,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    utoipa::ToSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct AppInfo {
    pub driver_log_url: Option<String>,
    pub spark_ui_url: Option<String>,
}

/// The durable proof that spark-submit was (about to be) run for a record.
/// Written before the process is spawned: a record that carries one is never
/// submitted again, only looked up by its tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Submission {
    /// Unique lowercase tag, e.g. `livy-batch-7-k3x9q2ab`; the cluster finds the app by it.
    pub tag: String,
    /// 1 for the first try; increases only when a spawn is known not to have happened.
    pub attempt: u32,
    /// Epoch ms when the submission was recorded.
    pub at: u64,
}

/// What the reconciler has observed of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchStatus {
    pub state: SessionState,
    pub submission: Option<Submission>,
    pub app_id: Option<String>,
    #[serde(default)]
    pub app_info: AppInfo,
    /// spark-submit's exit code (local process managers).
    pub exit_code: Option<i32>,
    /// Why the batch ended the way it did, when the server knows better than the log.
    pub message: Option<String>,
    /// Absolute path of the full log file of the current submission.
    pub log_path: Option<String>,
    /// Epoch ms of the last state change (drives retention of finished records).
    pub state_since: u64,
    /// Transient launch failures so far (spawn errors before anything ran).
    #[serde(default)]
    pub launch_failures: u32,
    /// Why it failed, when it did (beside `message`, for people).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<super::LaunchFailure>,
    /// Epoch ms since the cluster stopped listing an application it had
    /// listed (`app_id` known): the lookup timeout counts from here, not from
    /// the submission, so a cluster manager that restarts does not end it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing_since: Option<u64>,
}

impl BatchStatus {
    pub fn new(now: u64) -> Self {
        Self {
            state: SessionState::Starting,
            submission: None,
            app_id: None,
            app_info: AppInfo::default(),
            exit_code: None,
            message: None,
            log_path: None,
            state_since: now,
            launch_failures: 0,
            failure: None,
            missing_since: None,
        }
    }
}
