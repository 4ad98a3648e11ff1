//! The batch decision table.

use super::*;
use crate::records::{AppInfo, Submission};
use rstest::rstest;

const NOW: u64 = 1_000_000;

fn nf(tag: &str) -> String {
    format!("No YARN application is found with tag {tag}")
}
const POLICY: Policy = Policy {
    leak_timeout_ms: 600_000,
    lookup_timeout_ms: 30_000,
    retain_ms: 600_000,
};

fn status(state: SessionState, submitted_ago: Option<u64>) -> BatchStatus {
    BatchStatus {
        state,
        submission: submitted_ago.map(|ago| Submission {
            tag: "livy-batch-1-abcdefgh".into(),
            attempt: 1,
            at: NOW - ago,
        }),
        state_since: NOW - 1_000,
        ..BatchStatus::new(0)
    }
}

/// A running batch whose application YARN listed (its id is known),
/// missing from the cluster's lists for `missing_ago` ms.
fn seen(missing_ago: Option<u64>) -> BatchStatus {
    let mut st = status(SessionState::Running, Some(99_000));
    st.app_id = Some("application_1_0001".into());
    st.missing_since = missing_ago.map(|ago| NOW - ago);
    st
}

fn meta(deleting: bool) -> Meta {
    Meta {
        deletion_requested: deleting,
        ..Meta::default()
    }
}

fn running() -> AppObservation {
    AppObservation::Running {
        app_id: Some("app-1".into()),
        app_info: AppInfo::default(),
    }
}

fn finished(outcome: Outcome, code: Option<i32>) -> AppObservation {
    AppObservation::Finished {
        outcome,
        app_id: None,
        app_info: AppInfo::default(),
        exit_code: code,
        diagnostic: None,
    }
}

#[derive(Debug)]
enum Want {
    Wait,
    Submit,
    Kill,
    Remove,
    State(SessionState),
}

#[rstest]
#[case::new_batch_is_submitted(false, status(SessionState::Starting, None), None, Want::Submit)]
#[case::not_started_of_an_older_server_is_submitted(
    false,
    status(SessionState::NotStarted, None),
    None,
    Want::Submit
)]
#[case::submitted_is_never_resubmitted(
    false,
    status(SessionState::Starting, Some(10)),
    Some(AppObservation::NotFound),
    Want::Wait
)]
#[case::lookup_timeout_is_dead(
    false,
    status(SessionState::Starting, Some(31_000)),
    Some(AppObservation::NotFound),
    Want::State(SessionState::Dead)
)]
#[case::never_launched_waits_while_a_launch_could_still_come(
    false,
    status(SessionState::Starting, Some(10)),
    Some(AppObservation::NeverLaunched),
    Want::Wait
)]
#[case::never_launched_is_submitted_again(
    false,
    status(SessionState::Starting, Some(31_000)),
    Some(AppObservation::NeverLaunched),
    Want::State(SessionState::Starting)
)]
#[case::cluster_unreachable_keeps_state(
    false,
    status(SessionState::Running, Some(99_000)),
    None,
    Want::Wait
)]
#[case::vanished_app_starts_the_clock(
    false,
    seen(None),
    Some(AppObservation::NotFound),
    Want::State(SessionState::Running)
)]
#[case::vanished_app_waits_out_the_lookup_timeout(
    false,
    seen(Some(29_000)),
    Some(AppObservation::NotFound),
    Want::Wait
)]
#[case::vanished_app_is_dead_after_the_lookup_timeout(
    false,
    seen(Some(30_000)),
    Some(AppObservation::NotFound),
    Want::State(SessionState::Dead)
)]
#[case::vanished_app_keeps_state_while_unreachable(false, seen(Some(99_000)), None, Want::Wait)]
#[case::starting_to_running(
    false,
    status(SessionState::Starting, Some(10)),
    Some(running()),
    Want::State(SessionState::Running)
)]
#[case::exit_zero_is_success(
    false,
    status(SessionState::Running, Some(10)),
    Some(finished(Outcome::Succeeded, Some(0))),
    Want::State(SessionState::Success)
)]
#[case::failure_is_dead(
    false,
    status(SessionState::Running, Some(10)),
    Some(finished(Outcome::Failed, Some(1))),
    Want::State(SessionState::Dead)
)]
#[case::killed_outside_is_killed(
    false,
    status(SessionState::Running, Some(10)),
    Some(finished(Outcome::Killed, None)),
    Want::State(SessionState::Killed)
)]
#[case::delete_running_kills(
    true,
    status(SessionState::Running, Some(10)),
    Some(running()),
    Want::Kill
)]
#[case::delete_after_stop_removes(
    true,
    status(SessionState::Running, Some(10)),
    Some(finished(Outcome::Failed, Some(143))),
    Want::Remove
)]
#[case::delete_unsubmitted_removes(true, status(SessionState::Starting, None), None, Want::Remove)]
#[case::delete_waits_for_late_app(
    true,
    status(SessionState::Starting, Some(10)),
    Some(AppObservation::NotFound),
    Want::Wait
)]
#[case::delete_watches_for_leaks(
    true,
    status(SessionState::Starting, Some(31_000)),
    Some(AppObservation::NotFound),
    Want::Wait
)]
#[case::delete_forgets_after_leak_window(
    true,
    status(SessionState::Starting, Some(600_000)),
    Some(AppObservation::NotFound),
    Want::Remove
)]
#[case::leaked_app_of_a_dead_batch_is_killed(
    false,
    status(SessionState::Dead, Some(40_000)),
    Some(running()),
    Want::Kill
)]
#[case::deleted_batch_whose_app_appears_is_killed(
    true,
    status(SessionState::Dead, Some(40_000)),
    Some(running()),
    Want::Kill
)]
#[case::delete_finished_removes(
    true,
    status(SessionState::Success, Some(10)),
    Some(finished(Outcome::Succeeded, Some(0))),
    Want::Remove
)]
#[case::finished_is_retained(false, status(SessionState::Dead, Some(10)), None, Want::Wait)]
fn table(
    #[case] deleting: bool,
    #[case] st: BatchStatus,
    #[case] obs: Option<AppObservation>,
    #[case] want: Want,
) {
    let got = decide_batch(&meta(deleting), &st, obs.as_ref(), NOW, &POLICY, &nf);
    match (&got, &want) {
        (Step::Wait, Want::Wait)
        | (Step::Submit, Want::Submit)
        | (Step::Kill, Want::Kill)
        | (Step::Remove, Want::Remove) => {}
        (Step::Update { status, .. }, Want::State(s)) => {
            assert_eq!(status.state, *s);
            if st.state != *s {
                assert_eq!(status.state_since, NOW, "a state change stamps its time");
            }
            if *s == SessionState::Starting {
                assert_eq!(status.submission, None, "launched again: a new submission");
            }
        }
        _ => panic!("got {got:?}, want {want:?}"),
    }
}

#[test]
fn a_vanished_app_is_given_the_lookup_timeout_from_when_it_went_missing() {
    let decide = |st: &BatchStatus, obs: &AppObservation| {
        decide_batch(&meta(false), st, Some(obs), NOW, &POLICY, &nf)
    };
    let Step::Update { status, log } = decide(&seen(None), &AppObservation::NotFound) else {
        panic!("expected an update");
    };
    assert_eq!(status.missing_since, Some(NOW));
    assert_eq!(status.state, SessionState::Running);
    let log = log.unwrap_or_default();
    assert!(
        log.contains("application_1_0001") && log.contains("30 seconds"),
        "{log}"
    );

    let Step::Update { status, log } = decide(&seen(Some(10_000)), &running()) else {
        panic!("expected an update");
    };
    assert_eq!(status.missing_since, None, "back: the clock stops");
    assert_eq!(log, None);

    let Step::Update { status, log } = decide(&seen(Some(30_000)), &AppObservation::NotFound)
    else {
        panic!("expected an update");
    };
    assert_eq!(status.state, SessionState::Dead);
    assert_eq!(status.failure, Some(LaunchFailure::NotFound));
    assert_eq!(
        log.as_deref(),
        Some(
            "livy-server: the cluster no longer lists application_1_0001. \
             No YARN application is found with tag livy-batch-1-abcdefgh"
        )
    );
    assert_eq!(status.message, log);
}

#[test]
fn the_lookup_timeout_uses_the_managers_diagnostic() {
    let st = status(SessionState::Starting, Some(31_000));
    let Step::Update { status, log } = decide_batch(
        &meta(false),
        &st,
        Some(&AppObservation::NotFound),
        NOW,
        &POLICY,
        &nf,
    ) else {
        panic!("expected an update");
    };
    assert_eq!(status.state, SessionState::Dead);
    assert_eq!(
        log.as_deref(),
        Some("livy-server: No YARN application is found with tag livy-batch-1-abcdefgh")
    );
    assert_eq!(status.message, log);
}

#[test]
fn finished_records_are_removed_after_retention() {
    let mut st = status(SessionState::Success, Some(10));
    st.state_since = NOW - 600_000;
    assert_eq!(
        decide_batch(&meta(false), &st, None, NOW, &POLICY, &nf),
        Step::Remove
    );
}

#[test]
fn failure_keeps_exit_code_and_explains_itself() {
    let obs = AppObservation::Finished {
        outcome: Outcome::Failed,
        app_id: None,
        app_info: AppInfo::default(),
        exit_code: Some(1),
        diagnostic: Some("spark-submit exited with code 1".into()),
    };
    let Step::Update { status, log } = decide_batch(
        &meta(false),
        &status(SessionState::Running, Some(5)),
        Some(&obs),
        NOW,
        &POLICY,
        &nf,
    ) else {
        panic!("expected an update");
    };
    assert_eq!(status.exit_code, Some(1));
    assert_eq!(
        log.as_deref(),
        Some("livy-server: spark-submit exited with code 1")
    );
}

#[test]
fn app_id_and_info_are_kept_once_known() {
    let mut st = status(SessionState::Running, Some(5));
    st.app_id = Some("app-1".into());
    let obs = running();
    assert_eq!(
        decide_batch(&meta(false), &st, Some(&obs), NOW, &POLICY, &nf),
        Step::Wait,
        "no change, no write"
    );
}
