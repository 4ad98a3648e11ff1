//! The session decision table.

use super::*;
use crate::records::{AppInfo, Resources, SessionKind, Submission};
use rstest::rstest;

const NOW: u64 = 10_000_000;
const POLICY: SessionPolicy = SessionPolicy {
    lookup_timeout_ms: 30_000,
    retain_ms: 600_000,
    connect_timeout_ms: 90_000,
    idle_timeout_ms: Some(3_600_000),
};

fn spec() -> SessionSpec {
    SessionSpec {
        kind: SessionKind::Pyspark,
        resources: Resources::default(),
        heartbeat_timeout_in_second: 0,
        ttl: None,
        stop_requested: false,
        pooled: false,
        from_pool: false,
    }
}

fn status(state: SessionState, submitted_ago: Option<u64>) -> SessionStatus {
    SessionStatus {
        state,
        submission: submitted_ago.map(|a| Submission {
            tag: "livy-session-1-abcdefgh".into(),
            attempt: 1,
            at: NOW - a,
        }),
        state_since: NOW - 1000,
        ..SessionStatus::new(0)
    }
}

fn chan(
    connected: bool,
    repl: Option<SessionState>,
    idle_for: u64,
    heartbeat_ago: u64,
) -> ChannelSnapshot {
    ChannelSnapshot {
        connected,
        ever_connected: connected,
        synced: connected,
        repl_state: repl,
        app_id: None,
        spark_ui_url: None,
        last_activity: NOW - idle_for,
        last_heartbeat: NOW - heartbeat_ago,
        busy: repl == Some(SessionState::Busy),
        jobs_running: false,
    }
}

fn running() -> AppObservation {
    AppObservation::Running {
        app_id: None,
        app_info: AppInfo::default(),
    }
}

fn ended(outcome: Outcome) -> AppObservation {
    AppObservation::Finished {
        outcome,
        app_id: None,
        app_info: AppInfo::default(),
        exit_code: Some(1),
        diagnostic: Some("spark-submit exited with code 1".into()),
    }
}

#[derive(Debug)]
enum Want {
    Wait,
    Submit,
    Stop,
    Remove,
    Expire,
    State(SessionState),
    Relaunch,
}

#[rstest]
#[case::new_is_submitted(
    false,
    spec(),
    status(SessionState::Starting, None),
    None,
    None,
    Want::Submit
)]
#[case::not_started_of_an_older_server_is_submitted(
    false,
    spec(),
    status(SessionState::NotStarted, None),
    None,
    None,
    Want::Submit
)]
#[case::starting_waits(
    false,
    spec(),
    status(SessionState::Starting, Some(1_000)),
    Some(running()),
    None,
    Want::Wait
)]
#[case::driver_ready_is_idle(
    false,
    spec(),
    status(SessionState::Starting, Some(1_000)),
    Some(running()),
    Some(chan(true, Some(SessionState::Idle), 0, 0)),
    Want::State(SessionState::Idle)
)]
#[case::no_callback_is_error(
    false,
    spec(),
    status(SessionState::Starting, Some(91_000)),
    Some(running()),
    None,
    Want::State(SessionState::Error)
)]
#[case::driver_exit_is_dead(
    false,
    spec(),
    status(SessionState::Idle, Some(5_000)),
    Some(ended(Outcome::Failed)),
    Some(chan(false, Some(SessionState::Idle), 0, 0)),
    Want::State(SessionState::Dead)
)]
#[case::killed_outside_is_killed(
    false,
    spec(),
    status(SessionState::Idle, Some(5_000)),
    Some(ended(Outcome::Killed)),
    None,
    Want::State(SessionState::Killed)
)]
#[case::error_state_app_is_stopped(
    false,
    spec(),
    status(SessionState::Error, Some(5_000)),
    Some(running()),
    None,
    Want::Stop
)]
#[case::interpreter_error(
    false,
    spec(),
    status(SessionState::Idle, Some(5_000)),
    Some(running()),
    Some(chan(true, Some(SessionState::Error), 0, 0)),
    Want::State(SessionState::Error)
)]
#[case::idle_timeout(
    false,
    spec(),
    status(SessionState::Idle, Some(5_000)),
    Some(running()),
    Some(chan(true, Some(SessionState::Idle), 3_600_000, 0)),
    Want::Expire
)]
#[case::busy_is_never_idle(
    false,
    spec(),
    status(SessionState::Idle, Some(5_000)),
    Some(running()),
    Some(chan(true, Some(SessionState::Busy), 9_999_000, 0)),
    Want::Wait
)]
#[case::a_running_job_is_never_idle(
    false,
    spec(),
    status(SessionState::Idle, Some(5_000)),
    Some(running()),
    Some(ChannelSnapshot { jobs_running: true, ..chan(true, Some(SessionState::Idle), 9_999_000, 0) }),
    Want::Wait
)]
#[case::ttl_overrides(false, SessionSpec { ttl: Some("10s".into()), ..spec() }, status(SessionState::Idle, Some(5_000)), Some(running()), Some(chan(true, Some(SessionState::Idle), 11_000, 0)), Want::Expire)]
#[case::heartbeat_expiry(false, SessionSpec { heartbeat_timeout_in_second: 60, ..spec() }, status(SessionState::Idle, Some(5_000)), Some(running()), Some(chan(true, Some(SessionState::Idle), 0, 61_000)), Want::Expire)]
#[case::heartbeat_fresh(false, SessionSpec { heartbeat_timeout_in_second: 60, ..spec() }, status(SessionState::Idle, Some(5_000)), Some(running()), Some(chan(true, Some(SessionState::Idle), 0, 59_000)), Want::Wait)]
#[case::delete_starts_shutdown(
    true,
    spec(),
    status(SessionState::Idle, Some(5_000)),
    Some(running()),
    None,
    Want::State(SessionState::ShuttingDown)
)]
#[case::delete_stops_app(
    true,
    spec(),
    status(SessionState::ShuttingDown, Some(5_000)),
    Some(running()),
    None,
    Want::Stop
)]
#[case::delete_after_exit_removes(
    true,
    spec(),
    status(SessionState::ShuttingDown, Some(5_000)),
    Some(ended(Outcome::Failed)),
    None,
    Want::Remove
)]
#[case::delete_unsubmitted_removes(
    true,
    spec(),
    status(SessionState::Starting, None),
    None,
    None,
    Want::Remove
)]
#[case::stop_keeps_record_dead(false, SessionSpec { stop_requested: true, ..spec() }, status(SessionState::ShuttingDown, Some(5_000)), Some(ended(Outcome::Failed)), None, Want::State(SessionState::Dead))]
#[case::stopped_and_past_retention_is_removed(false, SessionSpec { stop_requested: true, ..spec() }, SessionStatus { state_since: NOW - 600_000, ..status(SessionState::Dead, Some(5_000)) }, Some(ended(Outcome::Failed)), None, Want::Remove)]
#[case::stopped_and_dead_is_retained(false, SessionSpec { stop_requested: true, ..spec() }, status(SessionState::Dead, Some(5_000)), Some(ended(Outcome::Failed)), None, Want::Wait)]
#[case::finished_retained(
    false,
    spec(),
    status(SessionState::Dead, Some(5_000)),
    Some(ended(Outcome::Failed)),
    None,
    Want::Wait
)]
#[case::failed_pooled_driver_waits_its_backoff(false, SessionSpec { pooled: true, ..spec() }, status(SessionState::Dead, Some(5_000)), Some(ended(Outcome::Failed)), None, Want::Wait)]
#[case::failed_pooled_driver_is_relaunched_after_its_backoff(false, SessionSpec { pooled: true, ..spec() }, SessionStatus { state_since: NOW - 2_000, ..status(SessionState::Dead, Some(5_000)) }, Some(ended(Outcome::Failed)), None, Want::Relaunch)]
#[case::backoff_grows_with_failures(false, SessionSpec { pooled: true, ..spec() }, SessionStatus { state_since: NOW - 7_000, launch_failures: 2, ..status(SessionState::Dead, Some(5_000)) }, Some(ended(Outcome::Failed)), None, Want::Wait)]
#[case::failed_pooled_driver_still_running_is_stopped_first(false, SessionSpec { pooled: true, ..spec() }, status(SessionState::Error, Some(5_000)), Some(running()), None, Want::Stop)]
#[case::expired_pooled_driver_is_removed(true, SessionSpec { pooled: true, ..spec() }, status(SessionState::Dead, Some(5_000)), Some(ended(Outcome::Failed)), None, Want::Remove)]
#[case::adopted_driver_is_not_relaunched(false, SessionSpec { from_pool: true, ..spec() }, status(SessionState::Dead, Some(5_000)), Some(ended(Outcome::Failed)), None, Want::Wait)]
#[case::cluster_unreachable_waits(
    false,
    spec(),
    status(SessionState::Idle, Some(99_000)),
    None,
    None,
    Want::Wait
)]
fn table(
    #[case] deleting: bool,
    #[case] spec: SessionSpec,
    #[case] st: SessionStatus,
    #[case] obs: Option<AppObservation>,
    #[case] ch: Option<ChannelSnapshot>,
    #[case] want: Want,
) {
    let meta = Meta {
        deletion_requested: deleting,
        ..Meta::default()
    };
    let got = decide_session(&meta, &spec, &st, obs.as_ref(), ch.as_ref(), NOW, &POLICY);
    match (&got, &want) {
        (SessionStep::Wait, Want::Wait)
        | (SessionStep::Submit, Want::Submit)
        | (SessionStep::Stop, Want::Stop)
        | (SessionStep::Remove, Want::Remove)
        | (SessionStep::Expire { .. }, Want::Expire)
        | (SessionStep::Relaunch { .. }, Want::Relaunch) => {}
        (SessionStep::Update { status, .. }, Want::State(s)) => assert_eq!(status.state, *s),
        _ => panic!("got {got:?}, want {want:?}"),
    }
}

#[test]
fn app_id_from_the_driver_is_recorded() {
    let st = status(SessionState::Idle, Some(5_000));
    let c = ChannelSnapshot {
        app_id: Some("local-1".into()),
        ..chan(true, Some(SessionState::Idle), 0, 0)
    };
    let SessionStep::Update { status, .. } = decide_session(
        &Meta::default(),
        &spec(),
        &st,
        Some(&running()),
        Some(&c),
        NOW,
        &POLICY,
    ) else {
        panic!("expected an update");
    };
    assert_eq!(status.app_id.as_deref(), Some("local-1"));
}

/// The cluster's links win over the UI address the driver reports (on
/// YARN the driver's own address is inside the cluster; the RM's proxy and
/// the ApplicationMaster's log page are what a user can open); without
/// them, the driver's.
#[rstest]
#[case::cluster_links(
    Some("http://rm:8088/proxy/app_1/"),
    Some("http://nm:8042/logs/c1"),
    Some("http://rm:8088/proxy/app_1/"),
    Some("http://nm:8042/logs/c1")
)]
#[case::driver_ui_only(None, None, Some("http://10.0.0.5:4040"), None)]
#[case::logs_only(
    None,
    Some("http://nm:8042/logs/c1"),
    Some("http://10.0.0.5:4040"),
    Some("http://nm:8042/logs/c1")
)]
fn session_links_prefer_the_clusters(
    #[case] cluster_ui: Option<&str>,
    #[case] cluster_logs: Option<&str>,
    #[case] ui: Option<&str>,
    #[case] logs: Option<&str>,
) {
    let st = status(SessionState::Idle, Some(5_000));
    let c = ChannelSnapshot {
        spark_ui_url: Some("http://10.0.0.5:4040".into()),
        ..chan(true, Some(SessionState::Idle), 0, 0)
    };
    let obs = AppObservation::Running {
        app_id: None,
        app_info: AppInfo {
            spark_ui_url: cluster_ui.map(str::to_owned),
            driver_log_url: cluster_logs.map(str::to_owned),
        },
    };
    let SessionStep::Update { status, .. } = decide_session(
        &Meta::default(),
        &spec(),
        &st,
        Some(&obs),
        Some(&c),
        NOW,
        &POLICY,
    ) else {
        panic!("expected an update");
    };
    assert_eq!(status.app_info.spark_ui_url.as_deref(), ui);
    assert_eq!(status.app_info.driver_log_url.as_deref(), logs);
}

#[test]
fn a_relaunched_pooled_driver_counts_its_failures_on_the_same_record() {
    let st = SessionStatus {
        launch_failures: 2,
        app_id: Some("local-9".into()),
        state_since: NOW - 8_000,
        ..status(SessionState::Error, Some(5_000))
    };
    let pooled = SessionSpec {
        pooled: true,
        ..spec()
    };
    let SessionStep::Relaunch { status } = decide_session(
        &Meta::default(),
        &pooled,
        &st,
        Some(&ended(Outcome::Failed)),
        None,
        NOW,
        &POLICY,
    ) else {
        panic!("expected a relaunch");
    };
    assert_eq!(
        (
            status.state,
            status.submission,
            status.app_id,
            status.launch_failures,
            status.state_since
        ),
        (SessionState::Starting, None, None, 3, NOW)
    );
}

#[test]
fn pool_backoff_doubles_up_to_two_minutes() {
    let waits: Vec<u64> = (0..9).map(pool_backoff_ms).collect();
    assert_eq!(
        waits,
        [
            2_000, 4_000, 8_000, 16_000, 32_000, 64_000, 128_000, 128_000, 128_000
        ]
    );
}
