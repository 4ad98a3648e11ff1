//! The reconciler's decision for one batch: given the record and what the
//! cluster says, what happens next. Pure, so every case is a table row.

use crate::cluster::{AppObservation, Outcome};
use crate::records::{BatchStatus, LaunchFailure, Meta, SessionState, Submission};

/// Timing rules the decision depends on (milliseconds).
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub lookup_timeout_ms: u64,
    pub retain_ms: u64,
    /// How long an application that was given up on (deleted, or never found)
    /// is still watched for, and killed if it shows up (leak guard).
    pub leak_timeout_ms: u64,
}

// One value per record per pass, consumed at once: boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Nothing to do until something changes.
    Wait,
    /// Record a submission (tag, attempt) durably, then run spark-submit.
    Submit,
    /// Deletion was requested and the application still runs: stop it.
    Kill,
    /// Remove the record (deleted, or finished and past retention).
    Remove,
    /// Write this status; `log` is a line for the application's log.
    Update {
        status: BatchStatus,
        log: Option<String>,
    },
}

fn with_state(status: &BatchStatus, state: SessionState, now: u64) -> BatchStatus {
    let mut next = status.clone();
    if next.state != state {
        next.state = state;
        next.state_since = now;
    }
    next
}

/// Decides the next step for a batch. `obs` is `None` when the cluster could
/// not be asked (keep the last known state: never mark apps dead because the
/// cluster manager is unreachable).
pub fn decide_batch(
    meta: &Meta,
    status: &BatchStatus,
    obs: Option<&AppObservation>,
    now: u64,
    policy: &Policy,
    not_found: &dyn Fn(&str) -> String,
) -> Step {
    let age = |since: u64| now.saturating_sub(since);
    if meta.deletion_requested {
        let Some(sub) = &status.submission else {
            return Step::Remove;
        };
        return match obs {
            Some(AppObservation::Running { .. } | AppObservation::Starting { .. }) => Step::Kill,
            Some(AppObservation::Finished { .. }) => Step::Remove,
            // The app may still appear (a busy cluster, a late supervisor, an
            // unreachable cluster manager): keep watching the tag through the
            // leak window and kill it if it shows up; the API already hides
            // the record.
            _ if age(sub.at) < policy.leak_timeout_ms => Step::Wait,
            _ => Step::Remove,
        };
    }
    if status.state.is_finished() {
        // Leak guard: an application running for a record that gave up on it.
        if matches!(
            obs,
            Some(AppObservation::Running { .. } | AppObservation::Starting { .. })
        ) {
            return Step::Kill;
        }
        return if age(status.state_since) >= policy.retain_ms {
            Step::Remove
        } else {
            Step::Wait
        };
    }
    let Some(sub) = &status.submission else {
        return if status.state.awaits_launch() {
            Step::Submit
        } else {
            Step::Wait
        };
    };
    match obs {
        Some(obs) => observed(status, sub, obs, now, policy, not_found),
        None => Step::Wait,
    }
}

/// What the cluster says of a submitted batch's application, as a step.
fn observed(
    status: &BatchStatus,
    sub: &Submission,
    obs: &AppObservation,
    now: u64,
    policy: &Policy,
    not_found: &dyn Fn(&str) -> String,
) -> Step {
    let overdue = now.saturating_sub(sub.at) >= policy.lookup_timeout_ms;
    let next = match obs {
        AppObservation::NotFound if status.app_id.is_some() => {
            return vanished(status, sub, now, policy, not_found);
        }
        AppObservation::NotFound if overdue => {
            let line = format!("livy-server: {}", not_found(&sub.tag));
            let mut next = with_state(status, SessionState::Dead, now);
            next.message = Some(line.clone());
            next.failure = Some(LaunchFailure::NotFound);
            return Step::Update {
                status: next,
                log: Some(line),
            };
        }
        // The server that wrote the submission stopped before launching
        // (a failover): once no launch under that submission can still
        // happen, submit it again rather than give up on it.
        AppObservation::NeverLaunched if overdue => {
            let line = format!(
                "livy-server: {} was never launched (its server stopped first); submitting again",
                sub.tag
            );
            // Not in the old tag's log: writing there would make its
            // directory, and the next look would no longer be certain.
            let mut next = with_state(status, SessionState::Starting, now);
            next.submission = None;
            next.message = Some(line);
            return Step::Update {
                status: next,
                log: None,
            };
        }
        AppObservation::NotFound | AppObservation::NeverLaunched => return Step::Wait,
        AppObservation::Starting { app_id, app_info } => {
            let mut next = with_state(status, SessionState::Starting, now);
            next.app_id = app_id.clone().or(next.app_id);
            next.app_info = app_info.clone();
            next.missing_since = None;
            next
        }
        AppObservation::Running { app_id, app_info } => {
            let mut next = with_state(status, SessionState::Running, now);
            next.app_id = app_id.clone().or(next.app_id);
            next.app_info = app_info.clone();
            next.missing_since = None;
            next
        }
        AppObservation::Finished { .. } => return finished(status, obs, now),
    };
    if &next == status {
        Step::Wait
    } else {
        Step::Update {
            status: next,
            log: None,
        }
    }
}

/// The cluster no longer lists an application it listed (a ResourceManager
/// restarted without recovery, or one still recovering): dead once it has
/// been missing for the lookup timeout, counted from when it went missing.
fn vanished(
    status: &BatchStatus,
    sub: &Submission,
    now: u64,
    policy: &Policy,
    not_found: &dyn Fn(&str) -> String,
) -> Step {
    let app_id = status.app_id.as_deref().unwrap_or_default();
    let Some(since) = status.missing_since else {
        let mut next = status.clone();
        next.missing_since = Some(now);
        let line = format!(
            "livy-server: the cluster no longer lists {app_id} (tag {}); it ends dead unless it is back within {} seconds",
            sub.tag,
            policy.lookup_timeout_ms / 1000
        );
        return Step::Update {
            status: next,
            log: Some(line),
        };
    };
    if now.saturating_sub(since) < policy.lookup_timeout_ms {
        return Step::Wait;
    }
    let line = format!(
        "livy-server: the cluster no longer lists {app_id}. {}",
        not_found(&sub.tag)
    );
    let mut next = with_state(status, SessionState::Dead, now);
    next.message = Some(line.clone());
    next.failure = Some(LaunchFailure::NotFound);
    Step::Update {
        status: next,
        log: Some(line),
    }
}

/// The batch's application ended: success, dead or killed, with its exit
/// code and the cluster's diagnostic.
fn finished(status: &BatchStatus, obs: &AppObservation, now: u64) -> Step {
    let AppObservation::Finished {
        outcome,
        app_id,
        app_info,
        exit_code,
        diagnostic,
    } = obs
    else {
        return Step::Wait;
    };
    let state = match outcome {
        Outcome::Succeeded => SessionState::Success,
        Outcome::Failed => SessionState::Dead,
        Outcome::Killed => SessionState::Killed,
    };
    let mut next = with_state(status, state, now);
    next.app_id = app_id.clone().or(next.app_id);
    if app_info != &Default::default() {
        next.app_info = app_info.clone();
    }
    next.exit_code = *exit_code;
    next.message = diagnostic.clone();
    next.failure = (*outcome != Outcome::Succeeded).then_some(LaunchFailure::Exited);
    Step::Update {
        status: next,
        log: diagnostic.as_ref().map(|d| format!("livy-server: {d}")),
    }
}

#[cfg(test)]
mod tests;
