//! The reconciler's decision for one interactive session. Pure: the record,
//! the cluster's observation and the driver channel's snapshot in, the next
//! step out.

use std::time::Duration;

use crate::cluster::{AppObservation, Outcome};
use crate::records::{LaunchFailure, Meta, SessionSpec, SessionState, SessionStatus, Submission};
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
    let look = Look {
        meta,
        spec,
        status,
        obs,
        chan,
        now,
        policy,
    };
    // A stopped session that has finished is just finished (retention below).
    if meta.deletion_requested || (spec.stop_requested && !status.state.is_finished()) {
        return look.stopping();
    }
    if status.state.is_finished() {
        return look.finished();
    }
    let Some(sub) = &status.submission else {
        return if status.state.awaits_launch() {
            SessionStep::Submit
        } else {
            SessionStep::Wait
        };
    };
    if let Some(step) = look.launch_outcome(sub) {
        return step;
    }
    match chan {
        Some(chan) => look.live(chan),
        None => SessionStep::Wait,
    }
}

/// Everything one decision looks at.
struct Look<'a> {
    meta: &'a Meta,
    spec: &'a SessionSpec,
    status: &'a SessionStatus,
    obs: Option<&'a AppObservation>,
    chan: Option<&'a ChannelSnapshot>,
    now: u64,
    policy: &'a SessionPolicy,
}

impl Look<'_> {
    fn age(&self, since: u64) -> u64 {
        self.now.saturating_sub(since)
    }

    fn connected(&self) -> bool {
        self.chan.is_some_and(|c| c.connected)
    }

    /// Deleted, or asked to stop: the driver is stopped, then the record
    /// removed (deleted) or ended `dead` (stopped).
    fn stopping(&self) -> SessionStep {
        let (status, obs) = (self.status, self.obs);
        let gone = || {
            if self.meta.deletion_requested {
                SessionStep::Remove
            } else {
                finish(status, SessionState::Dead, None, None, self.now)
            }
        };
        let Some(sub) = &status.submission else {
            return gone();
        };
        match obs {
            _ if app_alive(obs)
                && status.state != SessionState::ShuttingDown
                && !status.state.is_finished() =>
            {
                update(
                    with_state(status, SessionState::ShuttingDown, self.now),
                    Some("livy-server: stopping the session".into()),
                )
            }
            _ if app_alive(obs) => SessionStep::Stop,
            Some(AppObservation::Finished { .. }) => gone(),
            _ if status.state.is_finished() => gone(),
            _ if self.age(sub.at) < self.policy.lookup_timeout_ms => SessionStep::Wait,
            _ => gone(),
        }
    }

    /// A finished session: no driver outlives it; it is kept until its
    /// retention ends, except a pooled one, which is launched again.
    fn finished(&self) -> SessionStep {
        let status = self.status;
        if app_alive(self.obs) {
            return SessionStep::Stop;
        }
        // The pool keeps its records: a failed pooled driver is launched
        // again on its record, after a backoff counted from when it failed
        // (kept in the record, so a restart does not shorten it), rather
        // than replaced by a new record every pass. While it waits it holds
        // no creation slot (it is not `starting`).
        if self.spec.pooled {
            if self.age(status.state_since) < pool_backoff_ms(status.launch_failures) {
                return SessionStep::Wait;
            }
            let mut next = with_state(status, SessionState::Starting, self.now);
            next.submission = None;
            next.app_id = None;
            next.app_info = Default::default();
            next.launch_failures = status.launch_failures.saturating_add(1);
            next.failure = None;
            return SessionStep::Relaunch { status: next };
        }
        if self.age(status.state_since) >= self.policy.retain_ms {
            SessionStep::Remove
        } else {
            SessionStep::Wait
        }
    }

    /// What the cluster and the clock say of a submitted driver: it ended,
    /// was never launched or found, or did not connect in time.
    fn launch_outcome(&self, sub: &Submission) -> Option<SessionStep> {
        let (status, now) = (self.status, self.now);
        let overdue = self.age(sub.at) >= self.policy.lookup_timeout_ms && !self.connected();
        match self.obs {
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
                let ever = self.chan.is_some_and(|c| c.ever_connected);
                let why = match (ever, diagnostic) {
                    (false, Some(d)) => format!("the driver ended before it connected: {d}"),
                    (false, None) => "the driver ended before it connected".to_owned(),
                    (true, Some(d)) => format!("the driver ended: {d}"),
                    (true, None) => "the driver ended".to_owned(),
                };
                let cause = Some(LaunchFailure::Exited);
                return Some(finish(status, state, Some(why), cause, now));
            }
            Some(AppObservation::NeverLaunched) if overdue => {
                // Its server stopped between writing the submission and the
                // launch (a failover): launch it now. Not in the old tag's
                // log: writing there would make its directory.
                let mut next = with_state(status, SessionState::Starting, now);
                next.submission = None;
                next.message = Some(format!(
                    "livy-server: {} was never launched (its server stopped first); submitting again",
                    sub.tag
                ));
                return Some(update(next, None));
            }
            Some(AppObservation::NotFound | AppObservation::NeverLaunched) if overdue => {
                let why = format!(
                    "no application found with tag {} in {} seconds",
                    sub.tag,
                    self.policy.lookup_timeout_ms / 1000
                );
                let cause = Some(LaunchFailure::NotFound);
                return Some(finish(status, SessionState::Dead, Some(why), cause, now));
            }
            _ => {}
        }
        let timeout = self.policy.connect_timeout_ms;
        if status.state == SessionState::Starting
            && !self.connected()
            && self.age(sub.at) >= timeout
        {
            let why = format!(
                "the driver did not connect within {} seconds; killing it",
                timeout / 1000
            );
            let cause = Some(LaunchFailure::ConnectTimeout);
            return Some(finish(status, SessionState::Error, Some(why), cause, now));
        }
        None
    }

    /// A driver with a channel: its interpreter's state, heartbeat and idle
    /// timeouts, and what it reports (application id, UI).
    fn live(&self, chan: &ChannelSnapshot) -> SessionStep {
        let (status, now) = (self.status, self.now);
        if chan.repl_state == Some(SessionState::Error) {
            let why = Some("the driver's interpreter failed".into());
            let cause = Some(LaunchFailure::Interpreter);
            return finish(status, SessionState::Error, why, cause, now);
        }
        if let Some(reason) = self.expired(chan) {
            return SessionStep::Expire { reason };
        }
        let mut next = status.clone();
        if chan.connected
            && chan
                .repl_state
                .is_some_and(|s| matches!(s, SessionState::Idle | SessionState::Busy))
        {
            next = with_state(&next, SessionState::Idle, now);
        }
        if chan.app_id.is_some() && next.app_id != chan.app_id {
            next.app_id = chan.app_id.clone();
        }
        // The cluster's links first (YARN: the RM's proxy to the UI and the
        // ApplicationMaster's logs, reachable from outside the cluster),
        // else the UI address the driver reports.
        let cluster = match self.obs {
            Some(AppObservation::Running { app_info, .. })
            | Some(AppObservation::Starting { app_info, .. }) => Some(app_info),
            _ => None,
        };
        let ui = (cluster.and_then(|i| i.spark_ui_url.clone())).or(chan.spark_ui_url.clone());
        if ui.is_some() && next.app_info.spark_ui_url != ui {
            next.app_info.spark_ui_url = ui;
        }
        let logs = cluster.and_then(|i| i.driver_log_url.clone());
        if logs.is_some() && next.app_info.driver_log_url != logs {
            next.app_info.driver_log_url = logs;
        }
        if &next == status {
            SessionStep::Wait
        } else {
            update(next, None)
        }
    }

    /// Why the session expires now, if it does: no heartbeat, or idle past
    /// its `ttl` (else the server's idle timeout).
    fn expired(&self, chan: &ChannelSnapshot) -> Option<String> {
        if let Some(limit) = spec_heartbeat_ms(self.spec)
            && self.age(chan.last_heartbeat) >= limit
        {
            return Some(format!("no heartbeat for {} seconds", limit / 1000));
        }
        let limit = (self.spec.ttl.as_deref())
            .and_then(|t| crate::config::parse_duration(t).ok())
            .map(|d| d.as_millis() as u64)
            .or(self.policy.idle_timeout_ms)?;
        let idle = self.status.state == SessionState::Idle
            && !chan.busy
            && !chan.jobs_running
            && chan.repl_state != Some(SessionState::Busy);
        // A session adopted from the pool is idle from its adoption on
        // (its record's creation time), not from when its driver warmed.
        (idle && self.age(chan.last_activity.max(self.meta.created_at)) >= limit)
            .then(|| format!("idle for {} seconds", limit / 1000))
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
