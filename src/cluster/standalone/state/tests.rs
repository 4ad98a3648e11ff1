//! Table tests of the standalone state mappings and per-application decisions.

use super::*;
use crate::launcher::files::ExitRecord;
use rstest::rstest;

const STARTING: Option<Phase> = Some(Phase::Starting);
const RUNNING: Option<Phase> = Some(Phase::Running);
const SUCCESS: Option<Phase> = Some(Phase::Finished(Outcome::Succeeded));
const FAILED: Option<Phase> = Some(Phase::Finished(Outcome::Failed));
const KILLED: Option<Phase> = Some(Phase::Finished(Outcome::Killed));

#[rstest]
#[case("WAITING", STARTING)]
#[case("RUNNING", RUNNING)]
#[case("FINISHED", SUCCESS)]
#[case("FAILED", FAILED)]
#[case("KILLED", KILLED)]
#[case("UNKNOWN", None)]
#[case("SOMETHING_NEW", None)]
fn every_app_state(#[case] state: &str, #[case] want: Option<Phase>) {
    assert_eq!(map_app_state(state), want, "{state}");
}

#[rstest]
#[case("SUBMITTED", STARTING)]
#[case("RUNNING", RUNNING)]
#[case("RELAUNCHING", RUNNING)]
#[case("FINISHED", SUCCESS)]
#[case("FAILED", FAILED)]
#[case("ERROR", FAILED)]
#[case("KILLED", KILLED)]
#[case("UNKNOWN", None)]
#[case("SOMETHING_NEW", None)]
fn every_driver_state(#[case] state: &str, #[case] want: Option<Phase>) {
    assert_eq!(map_driver_state(state), want, "{state}");
}

const TAG: &str = "livy-batch-3-abcdefgh";

fn master(app: Option<(&str, &str)>, driver: Option<&str>) -> MasterState {
    MasterState {
        status: "ALIVE".into(),
        workers: vec![MasterWorker {
            id: "worker-1".into(),
            webuiaddress: "http://w1:8081".into(),
        }],
        activeapps: app
            .map(|(name, state)| MasterApp {
                id: "app-20250101000000-0001".into(),
                name: name.into(),
                state: state.into(),
                starttime: 1,
            })
            .into_iter()
            .collect(),
        activedrivers: driver
            .map(|state| MasterDriver {
                id: "driver-20250101000000-0001".into(),
                state: state.into(),
                worker: "worker-1".into(),
            })
            .into_iter()
            .collect(),
        ..MasterState::default()
    }
}

fn exited(code: i32) -> ProcessState {
    ProcessState::Exited(ExitRecord {
        code: Some(code),
        signal: None,
        error: None,
    })
}

fn scan(driver: bool, app: bool) -> LogScan {
    LogScan {
        driver_id: driver.then(|| "driver-20250101000000-0001".into()),
        app_id: app.then(|| "app-20250101000000-0001".into()),
        ui_url: app.then(|| "http://10.0.0.5:4040".into()),
        ..LogScan::default()
    }
}

#[derive(Debug, PartialEq)]
enum Want {
    NoNews,
    NotFound,
    Starting,
    Running,
    Finished(Outcome),
}

fn kind(o: Option<AppObservation>) -> Want {
    match o {
        None => Want::NoNews,
        Some(AppObservation::NotFound | AppObservation::NeverLaunched) => Want::NotFound,
        Some(AppObservation::Starting { .. }) => Want::Starting,
        Some(AppObservation::Running { .. }) => Want::Running,
        Some(AppObservation::Finished { outcome, .. }) => Want::Finished(outcome),
    }
}

const NAMED: Option<(&str, &str)> = Some(("nightly (livy-batch-3-abcdefgh)", "RUNNING"));

#[rstest]
#[case::client_not_spawned(
    ProcessState::NotFound,
    scan(false, false),
    Some(master(None, None)),
    false,
    Want::NotFound
)]
#[case::client_before_app_registers(ProcessState::Running { pid: 1 }, scan(false, false), Some(master(None, None)), false, Want::Starting)]
#[case::client_app_found_by_name(ProcessState::Running { pid: 1 }, scan(false, false), Some(master(NAMED, None)), false, Want::Running)]
#[case::client_app_found_by_logged_id(ProcessState::Running { pid: 1 }, scan(false, true), Some(master(Some(("PythonPi", "RUNNING")), None)), true, Want::Running)]
#[case::client_master_down_is_no_news(ProcessState::Running { pid: 1 }, scan(false, true), None, false, Want::NoNews)]
#[case::client_exit_zero_succeeds(exited(0), scan(false, true), Some(master(Some(("PythonPi", "FINISHED")), None)), false, Want::Finished(Outcome::Succeeded))]
#[case::client_exit_one_fails_even_if_app_finished(exited(1), scan(false, true), Some(master(Some(("PythonPi", "FINISHED")), None)), false, Want::Finished(Outcome::Failed))]
#[case::client_exit_seen_without_master(
    exited(0),
    scan(false, false),
    None,
    false,
    Want::Finished(Outcome::Succeeded)
)]
#[case::cluster_submitting(ProcessState::Running { pid: 1 }, scan(false, false), Some(master(None, None)), true, Want::Starting)]
#[case::cluster_driver_submitted(
    exited(0),
    scan(true, false),
    Some(master(None, Some("SUBMITTED"))),
    true,
    Want::Starting
)]
#[case::cluster_driver_running(
    exited(0),
    scan(true, false),
    Some(master(None, Some("RUNNING"))),
    false,
    Want::Running
)]
#[case::cluster_driver_finished(
    exited(0),
    scan(true, false),
    Some(master(None, Some("FINISHED"))),
    true,
    Want::Finished(Outcome::Succeeded)
)]
#[case::cluster_driver_failed(
    exited(0),
    scan(true, false),
    Some(master(None, Some("FAILED"))),
    true,
    Want::Finished(Outcome::Failed)
)]
#[case::cluster_driver_error(
    exited(0),
    scan(true, false),
    Some(master(None, Some("ERROR"))),
    true,
    Want::Finished(Outcome::Failed)
)]
#[case::cluster_driver_killed(
    exited(0),
    scan(true, false),
    Some(master(None, Some("KILLED"))),
    true,
    Want::Finished(Outcome::Killed)
)]
#[case::cluster_driver_unknown_is_no_news(
    exited(0),
    scan(true, false),
    Some(master(None, Some("UNKNOWN"))),
    true,
    Want::NoNews
)]
#[case::cluster_master_down_is_no_news(exited(0), scan(true, false), None, true, Want::NoNews)]
#[case::cluster_submit_failed(
    exited(1),
    scan(false, false),
    Some(master(None, None)),
    true,
    Want::Finished(Outcome::Failed)
)]
#[case::cluster_app_by_name_without_driver(exited(0), scan(false, false), Some(master(Some(("x livy-batch-3-abcdefgh", "KILLED")), None)), true, Want::Finished(Outcome::Killed))]
#[case::cluster_nothing_known(
    exited(0),
    scan(false, false),
    Some(master(None, None)),
    true,
    Want::NotFound
)]
fn decisions(
    #[case] process: ProcessState,
    #[case] scan: LogScan,
    #[case] master: Option<MasterState>,
    #[case] cluster_default: bool,
    #[case] want: Want,
) {
    let tracked = TrackedApp {
        tag: TAG.into(),
        app_id: None,
    };
    let facts = Facts {
        tracked: &tracked,
        process: &process,
        scan: &scan,
        master: master.as_ref(),
        master_ui: "http://m:8080",
        cluster_default,
    };
    assert_eq!(kind(observe_app(&facts)), want);
}

#[test]
fn links_point_at_the_driver_ui_and_worker_log() {
    let tracked = TrackedApp {
        tag: TAG.into(),
        app_id: None,
    };
    let m = master(NAMED, Some("RUNNING"));
    let facts = |scan: &LogScan| {
        observe_app(&Facts {
            tracked: &tracked,
            process: &exited(0),
            scan,
            master: Some(&m),
            master_ui: "http://m:8080",
            cluster_default: true,
        })
    };
    let Some(AppObservation::Running { app_id, app_info }) = facts(&scan(true, false)) else {
        panic!("expected running");
    };
    assert_eq!(app_id.as_deref(), Some("app-20250101000000-0001"));
    assert_eq!(
        app_info.spark_ui_url.as_deref(),
        Some("http://m:8080/app/?appId=app-20250101000000-0001")
    );
    assert_eq!(
        app_info.driver_log_url.as_deref(),
        Some("http://w1:8081/logPage/?driverId=driver-20250101000000-0001&logType=stderr")
    );
}
