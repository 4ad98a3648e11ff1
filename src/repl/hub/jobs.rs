//! Livy's Job API on a session's channel: jobs (ids from 1, as Livy
//! numbers them) queued until the driver can take them, their statuses as
//! the driver reports them, kept for a while once finished; and additions
//! (jars, files, Python files) that the driver confirms.
//!
//! Jobs live in this server's memory, as in Livy: after a server restart
//! the driver keeps running what it had, but the statuses are gone (404).
//! A status the driver re-sends after a reconnect applies only to a job
//! that went out to it, so a stale one never lands on a new job that took
//! the same id.

use std::time::Duration;

use tokio::sync::oneshot;

use super::super::protocol::{JobState, JobStatus, ToDriver};
use super::{Channel, ReplError, ReplHub, lock};
use crate::records::now_ms;

/// Jobs kept per session at most (finished ones go first).
const MAX_JOBS: usize = 1000;

/// One job as the server tracks it.
pub(super) struct JobEntry {
    status: JobStatus,
    job_type: String,
    /// The serialized job until it went out (dropped then: it can be large).
    payload: Option<String>,
    sent: bool,
    cancel_pending: bool,
    /// Epoch ms it finished (0: not yet).
    finished: u64,
}

/// An addition waiting for the driver's answer.
pub(super) struct PendingAdd {
    msg: ToDriver,
    sent: bool,
    answer: Option<oneshot::Sender<Result<(), String>>>,
}

/// What a session's channel holds for the Job API.
#[derive(Default)]
pub(super) struct Jobs {
    entries: Vec<JobEntry>,
    next_id: u64,
    adds: Vec<(u64, PendingAdd)>,
    next_add: u64,
}

impl Jobs {
    pub(super) fn running(&self) -> bool {
        self.entries.iter().any(|e| !e.status.state.is_final())
    }

    fn entry_mut(&mut self, id: u64) -> Option<&mut JobEntry> {
        self.entries.iter_mut().find(|e| e.status.id == id)
    }

    /// Drops finished jobs older than `keep`, and the oldest finished ones
    /// past [`MAX_JOBS`].
    fn evict(&mut self, keep: Duration, now: u64) {
        let keep = keep.as_millis() as u64;
        self.entries
            .retain(|e| e.finished == 0 || now.saturating_sub(e.finished) < keep);
        let mut excess = self.entries.len().saturating_sub(MAX_JOBS);
        self.entries.retain(|e| {
            let drop = excess > 0 && e.finished != 0;
            excess -= usize::from(drop);
            !drop
        });
    }
}

impl Channel {
    /// Sends what the driver has not received: queued jobs, cancels asked
    /// while it was away, additions. Only once its history is merged, so a
    /// status it re-sends on reconnecting is never taken for a new job's.
    pub(super) fn dispatch_jobs(&mut self) {
        let Some(tx) = self.tx.as_ref().filter(|_| self.synced) else {
            return;
        };
        for e in self.jobs.entries.iter_mut().filter(|e| !e.sent) {
            let Some(job) = e.payload.take() else {
                continue;
            };
            let msg = ToDriver::Job {
                id: e.status.id,
                job_type: e.job_type.clone(),
                job,
            };
            if tx.send(msg).is_ok() {
                e.sent = true;
            }
        }
        for e in self.jobs.entries.iter_mut().filter(|e| e.cancel_pending) {
            e.cancel_pending = false;
            if e.sent && !e.status.state.is_final() {
                let _ = tx.send(ToDriver::CancelJob { id: e.status.id });
            }
        }
        for (_, add) in self.jobs.adds.iter_mut().filter(|(_, a)| !a.sent) {
            if tx.send(add.msg.clone()).is_ok() {
                add.sent = true;
            }
        }
    }

    /// The driver's word on a job it received.
    pub(super) fn job_reported(
        &mut self,
        id: u64,
        state: JobState,
        result: Option<String>,
        error: Option<String>,
    ) {
        let Some(e) = self.jobs.entry_mut(id).filter(|e| e.sent) else {
            return;
        };
        if e.status.state.is_final() {
            return;
        }
        e.status.state = state;
        if state.is_final() {
            e.finished = now_ms();
            // Livy's clients refuse a result unless SUCCEEDED, an error unless FAILED.
            e.status.result = result.filter(|_| state == JobState::Succeeded);
            e.status.error = error.filter(|_| state == JobState::Failed);
            crate::metrics::job(&e.job_type, state);
        }
        self.last_activity = now_ms();
    }

    /// The driver's answer to an addition.
    pub(super) fn add_answered(&mut self, req: u64, error: Option<String>) {
        if let Some(i) = self.jobs.adds.iter().position(|(r, _)| *r == req) {
            let (_, mut add) = self.jobs.adds.remove(i);
            if let Some(tx) = add.answer.take() {
                let _ = tx.send(error.map_or(Ok(()), Err));
            }
        }
    }

    /// The connection dropped: additions in flight go out again when the
    /// driver is back (adding twice is harmless; the answer is awaited).
    pub(super) fn jobs_disconnected(&mut self) {
        for (_, add) in &mut self.jobs.adds {
            add.sent = false;
        }
    }
}

/// What [`ReplHub::add`] adds to a running context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Addition {
    Jar,
    File,
    PyFile,
}

impl Addition {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Jar => "jar",
            Self::File => "file",
            Self::PyFile => "pyfile",
        }
    }
}

/// Where an addition comes from: bytes the client uploaded, or a URI.
pub enum Source {
    Upload { name: String, base64: String },
    Uri(String),
}

impl ReplHub {
    /// Queues a job (state `SENT`) for the driver: at once if it is
    /// connected, else when it connects (a session still starting).
    pub fn submit_job(
        &self,
        session: u64,
        job_type: &str,
        job: String,
        keep: Duration,
    ) -> JobStatus {
        let mut channels = lock(&self.channels);
        let ch = channels.entry(session).or_default();
        let now = now_ms();
        ch.jobs.evict(keep, now);
        ch.jobs.next_id += 1;
        let status = JobStatus {
            id: ch.jobs.next_id,
            state: JobState::Sent,
            result: None,
            error: None,
        };
        ch.jobs.entries.push(JobEntry {
            status: status.clone(),
            job_type: job_type.to_owned(),
            payload: Some(job),
            sent: false,
            cancel_pending: false,
            finished: 0,
        });
        ch.last_activity = now;
        ch.dispatch_jobs();
        status
    }

    /// A job's status; `None` once it is unknown or past its retention.
    pub fn job(&self, session: u64, id: u64, keep: Duration) -> Option<JobStatus> {
        let mut channels = lock(&self.channels);
        let jobs = &mut channels.get_mut(&session)?.jobs;
        jobs.evict(keep, now_ms());
        Some(jobs.entry_mut(id)?.status.clone())
    }

    /// Cancels a job: one the driver never received ends `CANCELLED` at
    /// once; otherwise the driver is asked (now, or when it is back).
    /// `false` when there is no such job.
    pub fn cancel_job(&self, session: u64, id: u64) -> bool {
        let mut channels = lock(&self.channels);
        let Some(ch) = channels.get_mut(&session) else {
            return false;
        };
        let Some(e) = ch.jobs.entry_mut(id) else {
            return false;
        };
        if e.status.state.is_final() {
            return true;
        }
        if !e.sent {
            e.payload = None;
            e.status.state = JobState::Cancelled;
            e.finished = now_ms();
            crate::metrics::job(&e.job_type, JobState::Cancelled);
            return true;
        }
        e.cancel_pending = true;
        ch.dispatch_jobs();
        true
    }

    /// Adds a jar, file or Python file to the session's running context
    /// and waits (up to `wait`) until the driver has: Livy's clients
    /// upload, then submit the job that uses it. A session still starting
    /// gets it once its driver connects.
    pub async fn add(
        &self,
        session: u64,
        what: Addition,
        source: Source,
        wait: Duration,
    ) -> Result<(), AddError> {
        let (tx, rx) = oneshot::channel();
        let req = {
            let mut channels = lock(&self.channels);
            let ch = channels.entry(session).or_default();
            ch.jobs.next_add += 1;
            let req = ch.jobs.next_add;
            let (name, data, uri) = match source {
                Source::Upload { name, base64 } => (name, Some(base64), None),
                Source::Uri(uri) => {
                    let name = uri.rsplit('/').next().unwrap_or_default().to_owned();
                    (name, None, Some(uri))
                }
            };
            let msg = ToDriver::Add {
                req,
                what: what.as_str().to_owned(),
                name,
                data,
                uri,
            };
            let add = PendingAdd {
                msg,
                sent: false,
                answer: Some(tx),
            };
            ch.jobs.adds.push((req, add));
            ch.last_activity = now_ms();
            ch.dispatch_jobs();
            req
        };
        let answer = tokio::time::timeout(wait, rx).await;
        if let Some(ch) = lock(&self.channels).get_mut(&session) {
            ch.jobs.adds.retain(|(r, _)| *r != req);
        }
        match answer {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(e))) => Err(AddError::Failed(e)),
            // The channel went away: the session ended.
            Ok(Err(_)) => Err(AddError::Ended),
            Err(_) => Err(AddError::Timeout(ReplError::Timeout(session))),
        }
    }
}

/// Why an addition did not happen.
#[derive(Debug, thiserror::Error)]
pub enum AddError {
    /// The driver tried and failed (a missing file, a bad jar).
    #[error("{0}")]
    Failed(String),
    #[error("the session ended before its driver took it")]
    Ended,
    #[error(transparent)]
    Timeout(ReplError),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finished(id: u64, at: u64) -> JobEntry {
        JobEntry {
            status: JobStatus {
                id,
                state: JobState::Succeeded,
                result: None,
                error: None,
            },
            job_type: "spark".into(),
            payload: None,
            sent: true,
            cancel_pending: false,
            finished: at,
        }
    }

    #[test]
    fn finished_jobs_go_after_their_retention_and_past_the_cap() {
        let mut jobs = Jobs::default();
        jobs.entries.push(finished(1, 1_000));
        jobs.entries.push(finished(2, 5_000));
        let mut running = finished(3, 0);
        running.status.state = JobState::Started;
        jobs.entries.push(running);
        jobs.evict(Duration::from_secs(3), 6_000);
        let ids: Vec<u64> = jobs.entries.iter().map(|e| e.status.id).collect();
        assert_eq!(
            ids,
            [2, 3],
            "job 1 finished 5 s ago, past the 3 s retention"
        );

        for id in 10..10 + MAX_JOBS as u64 {
            jobs.entries.push(finished(id, 6_000));
        }
        jobs.evict(Duration::from_secs(3), 6_000);
        assert_eq!(jobs.entries.len(), MAX_JOBS);
        assert_eq!(jobs.entries[0].status.id, 3, "the running job stays");
        assert_eq!(
            jobs.entries[1].status.id, 11,
            "the oldest finished went first"
        );
    }
}
