//! The ResourceManager's application documents and their mapping to Livy's
//! phases (livy-api.md §5), as a pure table.

use serde::Deserialize;

use super::super::{AppObservation, Outcome, Phase};
use crate::records::AppInfo;

/// `YarnApplicationState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum YarnState {
    New,
    NewSaving,
    Submitted,
    Accepted,
    Running,
    Finished,
    Failed,
    Killed,
    /// A name this server does not know (a newer Hadoop).
    Unknown,
}

impl YarnState {
    pub fn from_name(name: &str) -> Self {
        match name {
            "NEW" => Self::New,
            "NEW_SAVING" => Self::NewSaving,
            "SUBMITTED" => Self::Submitted,
            "ACCEPTED" => Self::Accepted,
            "RUNNING" => Self::Running,
            "FINISHED" => Self::Finished,
            "FAILED" => Self::Failed,
            "KILLED" => Self::Killed,
            _ => Self::Unknown,
        }
    }
}

/// `FinalApplicationStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinalStatus {
    Undefined,
    Succeeded,
    Failed,
    Killed,
    /// A name this server does not know (a newer Hadoop).
    Unknown,
}

impl FinalStatus {
    pub fn from_name(name: &str) -> Self {
        match name {
            "UNDEFINED" => Self::Undefined,
            "SUCCEEDED" => Self::Succeeded,
            "FAILED" => Self::Failed,
            "KILLED" => Self::Killed,
            _ => Self::Unknown,
        }
    }
}

/// Livy's mapping (SparkYarnApp.mapYarnState). Every combination YARN should
/// never report counts as failed, as in Livy: a final status the AM set
/// (`RUNNING`+`FAILED`) means the application is ending that way.
pub fn map_yarn(state: YarnState, final_status: FinalStatus) -> Phase {
    use FinalStatus as F;
    use YarnState as S;
    match (state, final_status) {
        (S::New | S::NewSaving | S::Submitted | S::Accepted, F::Undefined) => Phase::Starting,
        (S::Running, F::Undefined | F::Succeeded) => Phase::Running,
        (S::Finished, F::Succeeded) => Phase::Finished(Outcome::Succeeded),
        (S::Killed, F::Killed) => Phase::Finished(Outcome::Killed),
        _ => Phase::Finished(Outcome::Failed),
    }
}

/// One application of `GET /ws/v1/cluster/apps` (the fields this server reads).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RmApp {
    pub id: String,
    pub state: String,
    pub final_status: String,
    #[serde(default)]
    pub tracking_url: Option<String>,
    #[serde(default)]
    pub diagnostics: Option<String>,
    /// Comma-separated, as the RM joins them.
    #[serde(default)]
    pub application_tags: Option<String>,
    #[serde(default)]
    pub started_time: u64,
    #[serde(default)]
    pub am_container_logs: Option<String>,
}

#[derive(Deserialize)]
struct AppsResponse {
    /// `null` when no application matches.
    apps: Option<AppList>,
}

#[derive(Deserialize)]
struct AppList {
    #[serde(default)]
    app: Vec<serde_json::Value>,
}

/// Parses a Cluster Applications response. An application document this
/// server cannot read is skipped (and counted), so one odd entry among
/// thousands does not blind the whole observation.
pub fn parse_apps(body: &[u8]) -> Result<(Vec<RmApp>, usize), serde_json::Error> {
    let resp: AppsResponse = serde_json::from_slice(body)?;
    let raw = resp.apps.map(|l| l.app).unwrap_or_default();
    let total = raw.len();
    let apps: Vec<RmApp> = raw
        .into_iter()
        .filter_map(|v| serde_json::from_value(v).ok())
        .collect();
    let skipped = total - apps.len();
    Ok((apps, skipped))
}

fn non_empty(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

impl RmApp {
    /// The application's tags, lowercased (YARN compares them lowercase).
    pub fn tags(&self) -> impl Iterator<Item = String> + '_ {
        self.application_tags
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(|t| t.trim().to_lowercase())
            .filter(|t| !t.is_empty())
    }

    pub fn phase(&self) -> Phase {
        map_yarn(
            YarnState::from_name(&self.state),
            FinalStatus::from_name(&self.final_status),
        )
    }

    pub fn observation(&self) -> AppObservation {
        let phase = self.phase();
        let app_info = AppInfo {
            driver_log_url: non_empty(&self.am_container_logs),
            spark_ui_url: non_empty(&self.tracking_url),
        };
        let diagnostics = non_empty(&self.diagnostics);
        let diagnostic = match phase {
            Phase::Finished(Outcome::Succeeded) if diagnostics.is_none() => None,
            Phase::Finished(_) => Some(format!(
                "YARN application {} ended {} with final status {}{}",
                self.id,
                self.state,
                self.final_status,
                diagnostics
                    .map(|d| format!("; diagnostics: {d}"))
                    .unwrap_or_default()
            )),
            _ => None,
        };
        phase.observation(Some(self.id.clone()), app_info, diagnostic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const STARTING: Phase = Phase::Starting;
    const RUNNING: Phase = Phase::Running;
    const SUCCESS: Phase = Phase::Finished(Outcome::Succeeded);
    const FAILED: Phase = Phase::Finished(Outcome::Failed);
    const KILLED: Phase = Phase::Finished(Outcome::Killed);

    /// Every YarnApplicationState × FinalApplicationStatus.
    #[rstest]
    #[case("NEW", "UNDEFINED", STARTING)]
    #[case("NEW", "SUCCEEDED", FAILED)]
    #[case("NEW", "FAILED", FAILED)]
    #[case("NEW", "KILLED", FAILED)]
    #[case("NEW_SAVING", "UNDEFINED", STARTING)]
    #[case("NEW_SAVING", "SUCCEEDED", FAILED)]
    #[case("NEW_SAVING", "FAILED", FAILED)]
    #[case("NEW_SAVING", "KILLED", FAILED)]
    #[case("SUBMITTED", "UNDEFINED", STARTING)]
    #[case("SUBMITTED", "SUCCEEDED", FAILED)]
    #[case("SUBMITTED", "FAILED", FAILED)]
    #[case("SUBMITTED", "KILLED", FAILED)]
    #[case("ACCEPTED", "UNDEFINED", STARTING)]
    #[case("ACCEPTED", "SUCCEEDED", FAILED)]
    #[case("ACCEPTED", "FAILED", FAILED)]
    #[case("ACCEPTED", "KILLED", FAILED)]
    #[case("RUNNING", "UNDEFINED", RUNNING)]
    #[case("RUNNING", "SUCCEEDED", RUNNING)]
    #[case("RUNNING", "FAILED", FAILED)]
    #[case("RUNNING", "KILLED", FAILED)]
    #[case("FINISHED", "UNDEFINED", FAILED)]
    #[case("FINISHED", "SUCCEEDED", SUCCESS)]
    #[case("FINISHED", "FAILED", FAILED)]
    #[case("FINISHED", "KILLED", FAILED)]
    #[case("FAILED", "UNDEFINED", FAILED)]
    #[case("FAILED", "SUCCEEDED", FAILED)]
    #[case("FAILED", "FAILED", FAILED)]
    #[case("FAILED", "KILLED", FAILED)]
    #[case("KILLED", "UNDEFINED", FAILED)]
    #[case("KILLED", "SUCCEEDED", FAILED)]
    #[case("KILLED", "FAILED", FAILED)]
    #[case("KILLED", "KILLED", KILLED)]
    #[case("LAUNCHED_SOMEWHERE_NEW", "UNDEFINED", FAILED)]
    #[case("RUNNING", "SOMETHING_NEW", FAILED)]
    fn every_state_and_final_status(
        #[case] state: &str,
        #[case] final_status: &str,
        #[case] want: Phase,
    ) {
        assert_eq!(
            map_yarn(
                YarnState::from_name(state),
                FinalStatus::from_name(final_status)
            ),
            want,
            "{state}+{final_status}"
        );
    }

    fn app(state: &str, final_status: &str, diagnostics: &str) -> RmApp {
        RmApp {
            id: "application_1_0001".into(),
            state: state.into(),
            final_status: final_status.into(),
            tracking_url: Some("http://rm:8088/proxy/application_1_0001/".into()),
            diagnostics: Some(diagnostics.into()),
            application_tags: Some("livy-batch-1-abc,OtherTag".into()),
            started_time: 5,
            am_container_logs: Some("http://nm:8042/node/containerlogs/c_1/u".into()),
        }
    }

    #[test]
    fn observation_carries_id_urls_and_diagnostics() {
        let AppObservation::Finished {
            outcome,
            app_id,
            app_info,
            diagnostic,
            ..
        } = app("FINISHED", "FAILED", "User class threw exception: boom").observation()
        else {
            panic!("expected finished");
        };
        assert_eq!(outcome, Outcome::Failed);
        assert_eq!(app_id.as_deref(), Some("application_1_0001"));
        assert_eq!(
            app_info.driver_log_url.as_deref(),
            Some("http://nm:8042/node/containerlogs/c_1/u")
        );
        assert_eq!(
            app_info.spark_ui_url.as_deref(),
            Some("http://rm:8088/proxy/application_1_0001/")
        );
        let d = diagnostic.unwrap();
        assert!(d.contains("FINISHED with final status FAILED"), "{d}");
        assert!(d.contains("User class threw exception: boom"), "{d}");
    }

    #[test]
    fn clean_success_has_no_diagnostic_and_tags_are_lowercase() {
        let a = app("FINISHED", "SUCCEEDED", "");
        assert!(matches!(
            a.observation(),
            AppObservation::Finished {
                diagnostic: None,
                ..
            }
        ));
        assert_eq!(
            a.tags().collect::<Vec<_>>(),
            ["livy-batch-1-abc", "othertag"]
        );
    }

    #[rstest]
    #[case::null(r#"{"apps":null}"#, 0, 0)]
    #[case::empty_object(r#"{"apps":{}}"#, 0, 0)]
    #[case::one(r#"{"apps":{"app":[{"id":"application_1_0001","state":"RUNNING","finalStatus":"UNDEFINED"}]}}"#, 1, 0)]
    #[case::one_unreadable(r#"{"apps":{"app":[{"id":"application_1_0001","state":"RUNNING","finalStatus":"UNDEFINED"},{"id":7}]}}"#, 1, 1)]
    fn list_shapes(#[case] body: &str, #[case] apps: usize, #[case] skipped: usize) {
        let (got, bad) = parse_apps(body.as_bytes()).unwrap();
        assert_eq!((got.len(), bad), (apps, skipped));
    }

    #[test]
    fn not_json_is_an_error() {
        assert!(parse_apps(b"This is standby RM. The redirect url is: http://rm2/").is_err());
    }
}
