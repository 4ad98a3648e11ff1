//! The reconciler's decision for one interactive session. Pure: the record,
//! the cluster's observation and the driver channel's snapshot in, the next
//! step out.

use crate::cluster::{AppObservation, Outcome};
use crate::records::{Meta, SessionSpec, SessionState, SessionStatus};
use crate::repl::ChannelSnapshot;

#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    pub lookup_timeout_ms: u64,
    pub retain_ms: u64,
    /// The driver must call back within this after launch.
    pub connect_timeout_ms: u64,
    /// Server-wide idle timeout (`None`: off); a session's `ttl` overrides it.
    pub idle_timeout_ms: Option<u64>,
}

// One value per record per pass, consumed at once: boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum SessionStep {
    Wait,
    Submit,
    /// Ask the driver to shut down, then stop the application (bounded).
    Stop,
    Remove,
    /// Mark the record for deletion (idle timeout, heartbeat expiry).
    Expire {
        reason: String,
    },
    Update {
        status: SessionStatus,
        log: Option<String>,
    },
}

fn with_state(status: &SessionStatus, state: SessionState, now: u64) -> SessionStatus {
    let mut next = status.clone();
    if next.state != state {
        next.state = state;
        next.state_since = now;
    }
    next
}

fn update(status: SessionStatus, log: Option<String>) -> SessionStep {
    SessionStep::Update { status, log }
}

fn app_alive(obs: Option<&AppObservation>) -> bool {
    matches!(
        obs,
        Some(AppObservation::Running { .. } | AppObservation::Starting { .. })
    )
}

pub fn decide_session(
    meta: &Meta,
    spec: &SessionSpec,
    status: &SessionStatus,
    obs: Option<&AppObservation>,
    chan: Option<&ChannelSnapshot>,
    now: u64,
    policy: &SessionPolicy,
) -> SessionStep {
    let age = |since: u64| now.saturating_sub(since);
    // A stopped session that has finished is just finished (retention below).
    let stopping = meta.deletion_requested || (spec.stop_requested && !status.state.is_finished());
    if stopping {
        let gone = || {
            if meta.deletion_requested {
                SessionStep::Remove
            } else {
                finish(status, SessionState::Dead, None, now)
            }
        };
        let Some(sub) = &status.submission else {
            return gone();
        };
        return match obs {
            _ if app_alive(obs)
                && status.state != SessionState::ShuttingDown
                && !status.state.is_finished() =>
            {
                update(
                    with_state(status, SessionState::ShuttingDown, now),
                    Some("livy-server: stopping the session".into()),
                )
            }
            _ if app_alive(obs) => SessionStep::Stop,
            Some(AppObservation::Finished { .. }) => gone(),
            _ if status.state.is_finished() => gone(),
            _ if age(sub.at) < policy.lookup_timeout_ms => SessionStep::Wait,
            _ => gone(),
        };
    }
    if status.state.is_finished() {
        // No driver outlives its session.
        if app_alive(obs) {
            return SessionStep::Stop;
        }
        return if age(status.state_since) >= policy.retain_ms {
            SessionStep::Remove
        } else {
            SessionStep::Wait
        };
    }
    let Some(sub) = &status.submission else {
        return if status.state == SessionState::NotStarted {
            SessionStep::Submit
        } else {
            SessionStep::Wait
        };
    };
    match obs {
        Some(AppObservation::Finished {
            outcome,
            diagnostic,
            ..
        }) => {
            let state = if *outcome == Outcome::Killed {
                SessionState::Killed
            } else {
                SessionState::Dead
            };
            let why = match (chan.is_some_and(|c| c.ever_connected), diagnostic) {
                (false, Some(d)) => format!("the driver ended before it connected: {d}"),
                (false, None) => "the driver ended before it connected".to_owned(),
                (true, Some(d)) => format!("the driver ended: {d}"),
                (true, None) => "the driver ended".to_owned(),
            };
            return finish(status, state, Some(why), now);
        }
        Some(AppObservation::NeverLaunched)
            if age(sub.at) >= policy.lookup_timeout_ms && !chan.is_some_and(|c| c.connected) =>
        {
            // Its server stopped between writing the submission and the
            // launch (a failover): launch it now.
            // Not in the old tag's log: writing there would make its directory.
            let mut next = with_state(status, SessionState::NotStarted, now);
            next.submission = None;
            next.message = Some(format!(
                "livy-server: {} was never launched (its server stopped first); submitting again",
                sub.tag
            ));
            return update(next, None);
        }
        Some(AppObservation::NotFound | AppObservation::NeverLaunched)
            if age(sub.at) >= policy.lookup_timeout_ms && !chan.is_some_and(|c| c.connected) =>
        {
            let why = format!(
                "no application found with tag {} in {} seconds",
                sub.tag,
                policy.lookup_timeout_ms / 1000
            );
            return finish(status, SessionState::Dead, Some(why), now);
        }
        _ => {}
    }
    let connected = chan.is_some_and(|c| c.connected);
    if status.state == SessionState::Starting
        && !connected
        && age(sub.at) >= policy.connect_timeout_ms
    {
        let why = format!(
            "the driver did not connect within {} seconds; killing it",
            policy.connect_timeout_ms / 1000
        );
        return finish(status, SessionState::Error, Some(why), now);
    }
    let Some(chan) = chan else {
        return SessionStep::Wait;
    };
    if chan.repl_state == Some(SessionState::Error) {
        return finish(
            status,
            SessionState::Error,
            Some("the driver's interpreter failed".into()),
            now,
        );
    }
    if let Some(limit) = spec_heartbeat_ms(spec)
        && age(chan.last_heartbeat) >= limit
    {
        return SessionStep::Expire {
            reason: format!("no heartbeat for {} seconds", limit / 1000),
        };
    }
    let idle_limit = spec
        .ttl
        .as_deref()
        .and_then(|t| crate::config::parse_duration(t).ok())
        .map(|d| d.as_millis() as u64)
        .or(policy.idle_timeout_ms);
    if let Some(limit) = idle_limit {
        let idle = status.state == SessionState::Idle
            && !chan.busy
            && chan.repl_state != Some(SessionState::Busy);
        // A session adopted from the pool is idle from its adoption on
        // (its record's creation time), not from when its driver warmed.
        if idle && age(chan.last_activity.max(meta.created_at)) >= limit {
            return SessionStep::Expire {
                reason: format!("idle for {} seconds", limit / 1000),
            };
        }
    }
    let mut next = status.clone();
    if connected
        && chan
            .repl_state
            .is_some_and(|s| matches!(s, SessionState::Idle | SessionState::Busy))
    {
        next = with_state(&next, SessionState::Idle, now);
    }
    if chan.app_id.is_some() && next.app_id != chan.app_id {
        next.app_id = chan.app_id.clone();
    }
    if chan.spark_ui_url.is_some() && next.app_info.spark_ui_url != chan.spark_ui_url {
        next.app_info.spark_ui_url = chan.spark_ui_url.clone();
    }
    if &next == status {
        SessionStep::Wait
    } else {
        update(next, None)
    }
}

fn spec_heartbeat_ms(spec: &SessionSpec) -> Option<u64> {
    (spec.heartbeat_timeout_in_second > 0).then(|| spec.heartbeat_timeout_in_second * 1000)
}

fn finish(
    status: &SessionStatus,
    state: SessionState,
    why: Option<String>,
    now: u64,
) -> SessionStep {
    let mut next = with_state(status, state, now);
    next.message = why.clone().or(next.message);
    update(next, why.map(|w| format!("livy-server: {w}")))
}

#[cfg(test)]
mod tests {
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
    }

    #[rstest]
    #[case::new_is_submitted(
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
        status(SessionState::NotStarted, None),
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
            | (SessionStep::Expire { .. }, Want::Expire) => {}
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
}
