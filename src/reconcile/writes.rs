//! The reconciler's record writes, and what they mean for the launch
//! metrics: a record that reaches its serving state was launched; one that
//! ends before it failed to launch, for the cause its status names.

use std::time::Duration;

use super::Reconciler;
use crate::index::Kinded;
use crate::records::{BatchStatus, LaunchFailure, SessionState, SessionStatus, now_ms};
use crate::store::{Durability, Record, StoreError};

impl Reconciler {
    /// Writes `rec` (whose status or meta changed) back; its new version.
    pub(super) async fn write<T: Counted>(
        &self,
        rec: &Record<T::Spec, T>,
    ) -> Result<u64, StoreError> {
        self.write_as(rec, Durability::Disk).await
    }

    /// Writes a status that mirrors what was observed of the application
    /// (observed again after a restart): committed, not waited on to
    /// reach the disk.
    pub(super) async fn write_observed<T: Counted>(
        &self,
        rec: &Record<T::Spec, T>,
    ) -> Result<(), StoreError> {
        self.write_as(rec, Durability::Observed).await.map(|_| ())
    }

    async fn write_as<T: Counted>(
        &self,
        rec: &Record<T::Spec, T>,
        durability: Durability,
    ) -> Result<u64, StoreError> {
        let from = self.d.index.get::<T>(rec.id).map(|r| r.status.state());
        let stored = self
            .d
            .index
            .update_under(rec, durability, self.fence())
            .await?;
        if let Some(from) = from {
            transition(from, rec);
        }
        Ok(stored.version)
    }
}

pub(super) trait Counted: Kinded {
    /// Why a record that never served ended as it is now.
    fn failure_cause(&self) -> LaunchFailure;
}

impl Counted for BatchStatus {
    fn failure_cause(&self) -> LaunchFailure {
        self.failure.unwrap_or(if self.submission.is_none() {
            LaunchFailure::Spawn
        } else {
            LaunchFailure::Exited
        })
    }
}

impl Counted for SessionStatus {
    /// The cause the status names; a record written without one (a stop
    /// while it started) by what it holds.
    fn failure_cause(&self) -> LaunchFailure {
        self.failure.unwrap_or(match &self.submission {
            None if self.launch_failures > 0 => LaunchFailure::Spawn,
            None => LaunchFailure::CannotStart,
            Some(_) => LaunchFailure::Exited,
        })
    }
}

/// Counts `next` (just written) against the state it had before.
fn transition<T: Counted>(from: SessionState, next: &Record<T::Spec, T>) {
    let since = next
        .status
        .submission()
        .map(|s| Duration::from_millis(now_ms().saturating_sub(s.at)));
    crate::metrics::transition(T::KIND, from, next.status.state(), since, || {
        next.status.failure_cause()
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::Submission;

    fn sub() -> Option<Submission> {
        Some(Submission {
            tag: "t".into(),
            attempt: 1,
            at: 1,
        })
    }

    #[test]
    fn batch_causes() {
        let mut s = BatchStatus::new(0);
        assert_eq!(s.failure_cause(), LaunchFailure::Spawn);
        s.submission = sub();
        assert_eq!(s.failure_cause(), LaunchFailure::Exited);
        s.failure = Some(LaunchFailure::NotFound);
        assert_eq!(s.failure_cause(), LaunchFailure::NotFound);
    }

    #[test]
    fn session_causes() {
        let mut s = SessionStatus::new(0);
        assert_eq!(s.failure_cause(), LaunchFailure::CannotStart);
        s.launch_failures = 2;
        assert_eq!(s.failure_cause(), LaunchFailure::Spawn);
        s.submission = sub();
        assert_eq!(s.failure_cause(), LaunchFailure::Exited);
        // The named cause, whatever the message says.
        s.message = Some("no application found with tag t".into());
        for cause in [
            LaunchFailure::ConnectTimeout,
            LaunchFailure::Interpreter,
            LaunchFailure::NotFound,
            LaunchFailure::CannotStart,
        ] {
            s.failure = Some(cause);
            assert_eq!(s.failure_cause(), cause);
        }
    }
}
