//! The local manager: the application is the supervised spark-submit process
//! (`--master local[*]`, or client mode without a cluster to ask). Observing
//! reads the supervisor files, so a restarted server re-attaches by tag.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::{AppObservation, ClusterError, ClusterManager, Outcome, TrackedApp};
use crate::launcher::files::ExitRecord;
use crate::launcher::{Launcher, ProcessState, SubmitAdditions};
use crate::records::AppInfo;

pub struct LocalManager {
    launcher: Arc<Launcher>,
    grace: Duration,
}

impl LocalManager {
    pub fn new(launcher: Arc<Launcher>, grace: Duration) -> Self {
        Self { launcher, grace }
    }
}

/// Process state → cluster-neutral observation (pure; table-tested).
pub fn map_process(state: &ProcessState) -> AppObservation {
    let finished = |outcome, exit_code, diagnostic| AppObservation::Finished {
        outcome,
        app_id: None,
        app_info: AppInfo::default(),
        exit_code,
        diagnostic,
    };
    match state {
        ProcessState::NotFound => AppObservation::NotFound,
        ProcessState::NeverLaunched => AppObservation::NeverLaunched,
        ProcessState::Running { .. } => AppObservation::Running {
            app_id: None,
            app_info: AppInfo::default(),
        },
        ProcessState::Exited(ExitRecord { code: Some(0), .. }) => {
            finished(Outcome::Succeeded, Some(0), None)
        }
        ProcessState::Exited(ExitRecord { code: Some(c), .. }) => finished(
            Outcome::Failed,
            Some(*c),
            Some(format!("spark-submit exited with code {c}")),
        ),
        ProcessState::Exited(ExitRecord {
            signal: Some(s), ..
        }) => finished(
            Outcome::Failed,
            None,
            Some(format!("spark-submit was ended by signal {s}")),
        ),
        ProcessState::Exited(ExitRecord { error, .. }) => finished(
            Outcome::Failed,
            None,
            Some(
                error
                    .clone()
                    .unwrap_or_else(|| "spark-submit ended without a status".into()),
            ),
        ),
        ProcessState::Vanished => finished(
            Outcome::Failed,
            None,
            Some(
                "the application's supervisor disappeared without recording an exit status".into(),
            ),
        ),
    }
}

#[async_trait]
impl ClusterManager for LocalManager {
    fn name(&self) -> &'static str {
        "local"
    }

    fn submit_additions(&self, _tag: &str, _user_name: Option<&str>) -> SubmitAdditions {
        SubmitAdditions::default()
    }

    fn submit_process_is_app(&self) -> bool {
        true
    }

    async fn observe(
        &self,
        apps: &[TrackedApp],
    ) -> Result<HashMap<String, AppObservation>, ClusterError> {
        let tags: Vec<String> = apps.iter().map(|a| a.tag.clone()).collect();
        let states = self.launcher.observe_all(tags.clone()).await;
        Ok(tags
            .into_iter()
            .zip(states)
            .map(|(tag, state)| (tag, map_process(&state)))
            .collect())
    }

    async fn kill(&self, app: &TrackedApp) -> Result<(), ClusterError> {
        self.launcher.stop(&app.tag, self.grace).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn exited(code: Option<i32>, signal: Option<i32>, error: Option<&str>) -> ProcessState {
        ProcessState::Exited(ExitRecord {
            code,
            signal,
            error: error.map(str::to_owned),
        })
    }

    #[rstest]
    #[case(ProcessState::NotFound, None)]
    #[case(ProcessState::NeverLaunched, None)]
    #[case(ProcessState::Running { pid: 7 }, None)]
    #[case(exited(Some(0), None, None), Some((Outcome::Succeeded, Some(0), None)))]
    #[case(exited(Some(1), None, None), Some((Outcome::Failed, Some(1), Some("code 1"))))]
    #[case(exited(None, Some(15), None), Some((Outcome::Failed, None, Some("signal 15"))))]
    #[case(exited(None, None, Some("failed to start x: No such file")), Some((Outcome::Failed, None, Some("No such file"))))]
    #[case(ProcessState::Vanished, Some((Outcome::Failed, None, Some("disappeared"))))]
    fn every_process_state(
        #[case] state: ProcessState,
        #[case] want: Option<(Outcome, Option<i32>, Option<&str>)>,
    ) {
        let got = map_process(&state);
        match (got, want) {
            (AppObservation::NotFound, None) => assert_eq!(state, ProcessState::NotFound),
            (AppObservation::NeverLaunched, None) => {
                assert_eq!(state, ProcessState::NeverLaunched)
            }
            (AppObservation::Running { .. }, None) => {
                assert!(matches!(state, ProcessState::Running { .. }))
            }
            (
                AppObservation::Finished {
                    outcome,
                    exit_code,
                    diagnostic,
                    ..
                },
                Some((o, c, d)),
            ) => {
                assert_eq!((outcome, exit_code), (o, c));
                match d {
                    Some(d) => assert!(
                        diagnostic.as_deref().unwrap_or("").contains(d),
                        "{diagnostic:?}"
                    ),
                    None => assert_eq!(diagnostic, None),
                }
            }
            (got, want) => panic!("{state:?}: got {got:?}, want {want:?}"),
        }
    }
}
