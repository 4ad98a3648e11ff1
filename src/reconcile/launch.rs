//! One launch path for batches and sessions: record the submission durably,
//! run the [`LaunchPlan`], and on a failure known to have started nothing
//! explain it, count it and retry with backoff (or give up).

use std::time::Duration;

use super::writes::Counted;
use super::{Action, Reconciler, error_chain, lock};
use crate::launcher::{LaunchError, LaunchPlan, SubmitSettings};
use crate::logtext::Escaped;
use crate::records::{BatchStatus, Kind, LaunchFailure, SessionState, SessionStatus, Submission};
use crate::store::{Record, StoreError};

/// The status changes of a launch, for either kind.
pub(super) trait Launchable: Counted {
    /// Where a launch that cannot be retried leaves the record.
    const GAVE_UP: SessionState;
    fn launch_failures(&self) -> u32;
    /// Fields every launch sets: a new submission under `tag`, `starting`.
    fn fields(&mut self) -> LaunchFields<'_>;
}

/// The status fields a launch writes.
pub(super) struct LaunchFields<'a> {
    state: &'a mut SessionState,
    state_since: &'a mut u64,
    submission: &'a mut Option<Submission>,
    message: &'a mut Option<String>,
    log_path: &'a mut Option<String>,
    launch_failures: &'a mut u32,
    failure: &'a mut Option<LaunchFailure>,
}

macro_rules! launchable {
    ($status:ty, $gave_up:expr) => {
        impl Launchable for $status {
            const GAVE_UP: SessionState = $gave_up;
            fn launch_failures(&self) -> u32 {
                self.launch_failures
            }
            fn fields(&mut self) -> LaunchFields<'_> {
                LaunchFields {
                    state: &mut self.state,
                    state_since: &mut self.state_since,
                    submission: &mut self.submission,
                    message: &mut self.message,
                    log_path: &mut self.log_path,
                    launch_failures: &mut self.launch_failures,
                    failure: &mut self.failure,
                }
            }
        }
    };
}
launchable!(BatchStatus, SessionState::Dead);
launchable!(SessionStatus, SessionState::Error);

/// Records the submission of attempt `launch_failures + 1` under `tag`.
pub(super) fn submitted<T: Launchable>(status: &mut T, tag: &str, log: String, now: u64) {
    let attempt = status.launch_failures() + 1;
    let f = status.fields();
    *f.state = SessionState::Starting;
    *f.state_since = now;
    *f.submission = Some(Submission {
        tag: tag.to_owned(),
        attempt,
        at: now,
    });
    *f.log_path = Some(log);
    *f.failure = None;
}

/// The record cannot be launched at all: it ends, for `text`.
pub(super) fn cannot_start<T: Launchable>(status: &mut T, text: String, now: u64) {
    let f = status.fields();
    *f.state = T::GAVE_UP;
    *f.state_since = now;
    *f.message = Some(text);
    *f.failure = Some(LaunchFailure::CannotStart);
}

/// The launch of attempt `failures` started nothing: its submission is
/// cleared, and it waits for a retry (`starting`) or ends.
fn spawn_failed<T: Launchable>(status: &mut T, text: String, retry: bool, now: u64) {
    let failures = status.launch_failures() + 1;
    let f = status.fields();
    *f.submission = None;
    *f.launch_failures = failures;
    *f.message = Some(text);
    *f.state_since = now;
    *f.state = if retry {
        SessionState::Starting
    } else {
        T::GAVE_UP
    };
    *f.failure = Some(LaunchFailure::Spawn);
}

/// The wait before retry `failures`: `base`, doubling, at most `cap`. The
/// one backoff of the reconciler (launch retries, pooled drivers, failed
/// looks), each with its own base and cap.
pub fn backoff(base: Duration, failures: u32, cap: Duration) -> Duration {
    base.saturating_mul(1 << failures.min(16)).min(cap)
}

/// Launch retries: 2 s after the first failure, doubling, at most 64 s.
const LAUNCH_RETRY: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(64));

impl Reconciler {
    /// spark-submit settings for one application (`python`: a Python primary
    /// resource; `interactive`: a session driver).
    pub(super) fn submit_settings(&self, python: bool, interactive: bool) -> SubmitSettings {
        let c = &self.d.config;
        SubmitSettings {
            spark_submit: c.spark_submit().display().to_string(),
            master: c.spark_master.clone(),
            deploy_mode: self
                .d
                .manager
                .deploy_mode(c.deploy_mode.as_deref(), python, interactive),
            impersonation: c.impersonation,
        }
    }

    /// Runs `plan` for `rec`, whose submission under `tag` is stored. On a
    /// failure nothing ran: the submission is cleared and the launch retried
    /// after a backoff, unless it cannot help or the retries are used up.
    pub(super) async fn launch<T: Launchable>(
        &self,
        mut rec: Record<T::Spec, T>,
        tag: &str,
        plan: LaunchPlan,
        now: u64,
    ) -> Result<Action, StoreError> {
        let (kind, id) = (T::KIND, rec.id);
        let argv = self.d.config.redaction.argv(&plan.argv);
        match kind {
            Kind::Batch => tracing::info!(batch = id, tag, ?argv, "submitting"),
            Kind::Session => tracing::info!(session = id, tag, ?argv, "starting session driver"),
        }
        self.still_leading()?;
        let Err(error) = self.d.launcher.launch(tag, plan).await else {
            return Ok(Action::Done);
        };
        let failures = rec.status.launch_failures() + 1;
        let (text, retry) = self.explain_failure(kind, id, tag, &error, failures).await;
        spawn_failed(&mut rec.status, text, retry, now);
        self.write(&rec).await?;
        if !retry {
            return Ok(Action::Done);
        }
        let (base, cap) = LAUNCH_RETRY;
        let wait = backoff(base, failures, cap);
        lock(&self.not_before).insert((kind, id), now + wait.as_millis() as u64);
        Ok(Action::RequeueAfter(wait + Duration::from_millis(1)))
    }

    /// Whether a record's launch waits for its retry backoff to end.
    pub(super) fn backing_off(&self, kind: Kind, id: u64, now: u64) -> bool {
        lock(&self.not_before)
            .get(&(kind, id))
            .is_some_and(|&t| t > now)
    }

    /// Explains a failed launch in the application's log and counts it;
    /// the explanation and whether a retry follows.
    async fn explain_failure(
        &self,
        kind: Kind,
        id: u64,
        tag: &str,
        error: &LaunchError,
        failures: u32,
    ) -> (String, bool) {
        let mut text = format!(
            "livy-server: could not start spark-submit (attempt {failures}): {}",
            error_chain(error)
        );
        let not_retried = error.not_retried();
        if let Some(why) = not_retried {
            text.push_str("; not retried: ");
            text.push_str(why);
        }
        tracing::warn!(kind = kind.as_str(), id, error = %Escaped(&text), "launch failed");
        crate::metrics::launch_failed(kind, LaunchFailure::Spawn);
        self.append(tag, &text).await;
        let retry = not_retried.is_none() && failures <= self.d.config.launch_retries;
        (text, retry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let (base, cap) = LAUNCH_RETRY;
        let waits: Vec<u64> = (1..=8).map(|n| backoff(base, n, cap).as_secs()).collect();
        assert_eq!(waits, [2, 4, 8, 16, 32, 64, 64, 64]);
        assert_eq!(
            backoff(Duration::from_millis(500), 0, Duration::from_secs(60)),
            Duration::from_millis(500)
        );
        assert_eq!(
            backoff(Duration::from_secs(1), u32::MAX, Duration::from_secs(60)),
            Duration::from_secs(60)
        );
    }

    #[test]
    fn a_failed_spawn_clears_the_submission_and_names_its_cause() {
        let mut s = BatchStatus::new(0);
        submitted(&mut s, "t", "/log".into(), 5);
        assert_eq!(s.submission.as_ref().map(|s| s.attempt), Some(1));
        spawn_failed(&mut s, "no".into(), true, 6);
        assert_eq!(
            (s.submission.is_none(), s.launch_failures, s.state),
            (true, 1, SessionState::Starting)
        );
        assert_eq!(s.failure, Some(LaunchFailure::Spawn));
        submitted(&mut s, "t2", "/log".into(), 7);
        assert_eq!(s.submission.as_ref().map(|s| s.attempt), Some(2));
        assert_eq!(s.failure, None);
        let mut s = SessionStatus::new(0);
        spawn_failed(&mut s, "no".into(), false, 6);
        assert_eq!(s.state, SessionState::Error);
        cannot_start(&mut s, "no R".into(), 7);
        assert_eq!(
            (s.state, s.failure),
            (SessionState::Error, Some(LaunchFailure::CannotStart))
        );
    }
}
