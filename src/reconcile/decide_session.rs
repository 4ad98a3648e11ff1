//! The reconciler's decision for one interactive session. Pure: the record,
//! the cluster's observation and the driver channel's snapshot in, the next
//! step out.

use std::time::Duration;

use crate::cluster::{AppObservation, Outcome};
use crate::records::{LaunchFailure, Meta, SessionSpec, SessionState, SessionStatus};
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
    /// A pooled driver (not adopted) failed and its backoff has passed:
    /// launch it again on the same record.
    Relaunch {
        status: SessionStatus,
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
                finish(status, SessionState::Dead, None, None, now)
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
        // The pool keeps its records: a failed pooled driver is launched
        // again on its record, after a backoff counted from when it failed
        // (kept in the record, so a restart does not shorten it), rather
        // than replaced by a new record every pass. While it waits it holds
        // no creation slot (it is not `starting`).
        if spec.pooled {
            if age(status.state_since) < pool_backoff_ms(status.launch_failures) {
                return SessionStep::Wait;
            }
            let mut next = with_state(status, SessionState::Starting, now);
            next.submission = None;
            next.app_id = None;
            next.app_info = Default::default();
            next.launch_failures = status.launch_failures.saturating_add(1);
            next.failure = None;
            return SessionStep::Relaunch { status: next };
        }
        return if age(status.state_since) >= policy.retain_ms {
            SessionStep::Remove
        } else {
            SessionStep::Wait
        };
    }
    let Some(sub) = &status.submission else {
        return if status.state.awaits_launch() {
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
            return finish(status, state, Some(why), Some(LaunchFailure::Exited), now);
        }
        Some(AppObservation::NeverLaunched)
            if age(sub.at) >= policy.lookup_timeout_ms && !chan.is_some_and(|c| c.connected) =>
        {
            // Its server stopped between writing the submission and the
            // launch (a failover): launch it now.
            // Not in the old tag's log: writing there would make its directory.
            let mut next = with_state(status, SessionState::Starting, now);
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
            let cause = Some(LaunchFailure::NotFound);
            return finish(status, SessionState::Dead, Some(why), cause, now);
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
        let cause = Some(LaunchFailure::ConnectTimeout);
        return finish(status, SessionState::Error, Some(why), cause, now);
    }
    let Some(chan) = chan else {
        return SessionStep::Wait;
    };
    if chan.repl_state == Some(SessionState::Error) {
        return finish(
            status,
            SessionState::Error,
            Some("the driver's interpreter failed".into()),
            Some(LaunchFailure::Interpreter),
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

/// How long a pooled driver that failed `failures` times before waits
/// before its next launch: 2 s, doubling, at most 2 min.
pub fn pool_backoff_ms(failures: u32) -> u64 {
    let (base, cap) = (Duration::from_secs(2), Duration::from_secs(128));
    super::launch::backoff(base, failures, cap).as_millis() as u64
}

fn spec_heartbeat_ms(spec: &SessionSpec) -> Option<u64> {
    (spec.heartbeat_timeout_in_second > 0).then(|| spec.heartbeat_timeout_in_second * 1000)
}

/// The session ends in `state`, for `why` (kept as its message and logged),
/// naming `cause` when it failed.
fn finish(
    status: &SessionStatus,
    state: SessionState,
    why: Option<String>,
    cause: Option<LaunchFailure>,
    now: u64,
) -> SessionStep {
    let mut next = with_state(status, state, now);
    next.message = why.clone().or(next.message);
    next.failure = cause.or(next.failure);
    update(next, why.map(|w| format!("livy-server: {w}")))
}

#[cfg(test)]
mod tests;
