//! The cluster-neutral phases that native states map onto. Each manager's
//! table maps into [`Phase`]; the facts around the state (app id, URLs,
//! diagnostics) are added by [`Phase::observation`].

use super::{AppObservation, Outcome};
use crate::records::AppInfo;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Starting,
    Running,
    Finished(Outcome),
}

impl Phase {
    /// The observation of an application in this phase. `diagnostic` is kept
    /// only for finished applications (it explains the end).
    pub fn observation(
        self,
        app_id: Option<String>,
        app_info: AppInfo,
        diagnostic: Option<String>,
    ) -> AppObservation {
        match self {
            Phase::Starting => AppObservation::Starting { app_id, app_info },
            Phase::Running => AppObservation::Running { app_id, app_info },
            Phase::Finished(outcome) => AppObservation::Finished {
                outcome,
                app_id,
                app_info,
                exit_code: None,
                diagnostic,
            },
        }
    }
}
