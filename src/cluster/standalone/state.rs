//! The standalone master's `GET /json/` document, its app and driver states
//! as tables, and the pure per-application decision that combines them with
//! the local spark-submit process and its output.

use serde::Deserialize;

use super::super::local::map_process;
use super::super::{AppObservation, Outcome, Phase, TrackedApp};
use super::scan::LogScan;
use crate::launcher::ProcessState;
use crate::records::AppInfo;

#[derive(Debug, Clone, Default, Deserialize)]
pub struct MasterState {
    /// ALIVE, STANDBY, RECOVERING or COMPLETING_RECOVERY.
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub workers: Vec<MasterWorker>,
    #[serde(default)]
    pub activeapps: Vec<MasterApp>,
    #[serde(default)]
    pub completedapps: Vec<MasterApp>,
    #[serde(default)]
    pub activedrivers: Vec<MasterDriver>,
    #[serde(default)]
    pub completeddrivers: Vec<MasterDriver>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct MasterWorker {
    pub id: String,
    #[serde(default)]
    pub webuiaddress: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct MasterApp {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub starttime: u64,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct MasterDriver {
    pub id: String,
    #[serde(default)]
    pub state: String,
    /// The worker's id, or "None" before one is chosen.
    #[serde(default)]
    pub worker: String,
}

/// `ApplicationState`. `None`: the master does not know right now (UNKNOWN
/// during master recovery, or a name this server does not know): no news.
/// FINISHED only says the application unregistered; it is the outcome only
/// when nothing better (the driver, the process) is known.
pub fn map_app_state(state: &str) -> Option<Phase> {
    match state {
        "WAITING" => Some(Phase::Starting),
        "RUNNING" => Some(Phase::Running),
        "FINISHED" => Some(Phase::Finished(Outcome::Succeeded)),
        "FAILED" => Some(Phase::Finished(Outcome::Failed)),
        "KILLED" => Some(Phase::Finished(Outcome::Killed)),
        _ => None,
    }
}

/// `DriverState` (cluster mode: the driver's end is the batch's end).
/// RELAUNCHING (a supervised driver restarting after its worker was lost)
/// stays running: to the client the batch has not stopped.
pub fn map_driver_state(state: &str) -> Option<Phase> {
    match state {
        "SUBMITTED" => Some(Phase::Starting),
        "RUNNING" | "RELAUNCHING" => Some(Phase::Running),
        "FINISHED" => Some(Phase::Finished(Outcome::Succeeded)),
        "FAILED" | "ERROR" => Some(Phase::Finished(Outcome::Failed)),
        "KILLED" => Some(Phase::Finished(Outcome::Killed)),
        _ => None,
    }
}

impl MasterState {
    /// By a known id first, else the newest application whose name holds the tag.
    pub fn find_app(&self, tag: &str, ids: &[&str]) -> Option<&MasterApp> {
        let all = || self.activeapps.iter().chain(&self.completedapps);
        all().find(|a| ids.contains(&a.id.as_str())).or_else(|| {
            all()
                .filter(|a| a.name.to_lowercase().contains(tag))
                .max_by_key(|a| a.starttime)
        })
    }

    pub fn find_driver(&self, id: &str) -> Option<&MasterDriver> {
        self.activedrivers
            .iter()
            .chain(&self.completeddrivers)
            .find(|d| d.id == id)
    }

    pub fn worker_ui(&self, worker_id: &str) -> Option<&str> {
        self.workers
            .iter()
            .find(|w| w.id == worker_id && !w.webuiaddress.is_empty())
            .map(|w| w.webuiaddress.trim_end_matches('/'))
    }
}

/// Everything known about one tracked application.
pub struct Facts<'a> {
    pub tracked: &'a TrackedApp,
    pub process: &'a ProcessState,
    pub scan: &'a LogScan,
    /// `None`: the master could not be asked.
    pub master: Option<&'a MasterState>,
    /// Base URL of the master web UI that answered (for links).
    pub master_ui: &'a str,
    /// `livy.spark.deploy-mode = cluster` (used when the output shows neither mode).
    pub cluster_default: bool,
}

/// The observation of one application; `None` means no news (keep the state).
pub fn observe_app(f: &Facts) -> Option<AppObservation> {
    let tag = f.tracked.tag.to_lowercase();
    let ids: Vec<&str> = [f.tracked.app_id.as_deref(), f.scan.app_id.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    let app = f.master.and_then(|m| m.find_app(&tag, &ids));
    let app_id = app
        .map(|a| a.id.clone())
        .or_else(|| ids.first().map(|s| s.to_string()));
    let driver = f
        .scan
        .driver_id
        .as_deref()
        .and_then(|d| f.master.and_then(|m| m.find_driver(d)));
    let app_info = AppInfo {
        driver_log_url: driver.and_then(|d| {
            let ui = f.master?.worker_ui(&d.worker)?;
            Some(format!("{ui}/logPage/?driverId={}&logType=stderr", d.id))
        }),
        spark_ui_url: f.scan.ui_url.clone().or_else(|| {
            let id = app_id.as_ref()?;
            Some(format!("{}/app/?appId={id}", f.master_ui))
        }),
    };
    let exited_badly = matches!(
        map_process(f.process),
        AppObservation::Finished {
            outcome: Outcome::Failed,
            ..
        }
    );
    let cluster = f.scan.driver_id.is_some() || (f.scan.app_id.is_none() && f.cluster_default);
    if cluster {
        if let Some(d) = driver {
            let phase = map_driver_state(&d.state)?;
            let why = format!("standalone driver {} ended {}", d.id, d.state);
            return Some(phase.observation(app_id, app_info, Some(why)));
        }
        // spark-submit failed before (or while) submitting the driver.
        if exited_badly {
            return Some(with_app(map_process(f.process), app_id, app_info));
        }
        f.master?;
        if let Some(a) = app {
            let phase = map_app_state(&a.state)?;
            let why = format!(
                "standalone application {} ended {} (driver unknown)",
                a.id, a.state
            );
            return Some(phase.observation(app_id, app_info, Some(why)));
        }
        return Some(match f.process {
            ProcessState::Running { .. } => Phase::Starting.observation(app_id, app_info, None),
            _ => AppObservation::NotFound,
        });
    }
    // Client mode: the local process is the driver, so it tells the outcome.
    match f.process {
        ProcessState::NotFound | ProcessState::NeverLaunched => {
            match app.and_then(|a| map_app_state(&a.state)) {
                Some(phase) => Some(phase.observation(app_id, app_info, None)),
                None => Some(AppObservation::NotFound),
            }
        }
        ProcessState::Running { .. } => {
            // Starting until the master knows the application; without the
            // master, no news (rather than running → starting).
            f.master?;
            let phase = if app_id.is_some() {
                Phase::Running
            } else {
                Phase::Starting
            };
            Some(phase.observation(app_id, app_info, None))
        }
        _ => Some(with_app(map_process(f.process), app_id, app_info)),
    }
}

fn with_app(obs: AppObservation, id: Option<String>, info: AppInfo) -> AppObservation {
    match obs {
        AppObservation::Finished {
            outcome,
            exit_code,
            diagnostic,
            ..
        } => AppObservation::Finished {
            outcome,
            app_id: id,
            app_info: info,
            exit_code,
            diagnostic,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests;
