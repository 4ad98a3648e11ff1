//! The reconcile loop: the only place that launches, observes and kills
//! applications. It wakes on a change (handlers, process exits, the store's
//! watch) or on the poll interval, observes every tracked application in one
//! bulk call, and applies [`decide_batch`] to each record.

mod decide;

pub use decide::{Policy, Step, decide_batch};

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::cluster::{ClusterManager, TrackedApp};
use crate::config::Config;
use crate::launcher::logs::LogTails;
use crate::launcher::{Launcher, SubmitSettings, batch_argv};
use crate::records::{BatchSpec, BatchStatus, Kind, SessionState, Submission, now_ms};
use crate::store::{Record, SharedStore, StoreError};

type BatchRecord = Record<BatchSpec, BatchStatus>;

/// A unique lowercase tag for a record's submission, e.g. `livy-batch-7-k3x9q2ab`.
pub fn new_tag(kind: Kind, id: u64) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let suffix: String = (0..8)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("livy-{}-{id}-{suffix}", kind.as_str())
}

pub struct Reconciler {
    store: SharedStore,
    manager: Arc<dyn ClusterManager>,
    launcher: Arc<Launcher>,
    config: Arc<Config>,
    logs: Arc<LogTails>,
    wake: Arc<Notify>,
    tasks: TaskTracker,
    /// Records whose kill is in flight (so a pass does not start another).
    killing: Arc<Mutex<HashSet<u64>>>,
    /// Backoff after transient launch failures: record id → earliest retry (epoch ms).
    not_before: Mutex<HashMap<u64, u64>>,
    /// Whether the last observation failed (log an outage once, not per poll).
    observe_failing: Mutex<bool>,
}

impl Reconciler {
    pub fn new(
        store: SharedStore,
        manager: Arc<dyn ClusterManager>,
        launcher: Arc<Launcher>,
        config: Arc<Config>,
        logs: Arc<LogTails>,
        wake: Arc<Notify>,
        tasks: TaskTracker,
    ) -> Self {
        Self {
            store,
            manager,
            launcher,
            config,
            logs,
            wake,
            tasks,
            killing: Arc::default(),
            not_before: Mutex::default(),
            observe_failing: Mutex::new(false),
        }
    }

    fn policy(&self) -> Policy {
        Policy {
            lookup_timeout_ms: self.config.app_lookup_timeout.as_millis() as u64,
            retain_ms: self.config.state_retain.as_millis() as u64,
        }
    }

    /// Runs until `cancel` fires. Applications keep running when it stops:
    /// the next server re-attaches to them by tag.
    pub async fn run(self: Arc<Self>, cancel: CancellationToken) {
        let mut changes = self.store.watch();
        loop {
            // Register interest before looking, so no wake-up is lost.
            let notified = self.wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Err(e) = self.pass().await {
                tracing::warn!(error = %e, "reconcile pass failed; retrying");
            }
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = &mut notified => {}
                _ = changes.recv() => {}
                _ = tokio::time::sleep(self.config.poll_interval) => {}
            }
            // Fold a burst of changes into one pass.
            while changes.try_recv().is_ok() {}
        }
    }

    /// One look at every batch.
    pub async fn pass(&self) -> Result<(), StoreError> {
        let mut batches = Vec::new();
        for raw in self.store.list(Kind::Batch).await? {
            match raw.decode::<BatchSpec, BatchStatus>() {
                Ok(rec) => batches.push(rec),
                Err(e) => {
                    tracing::error!(batch = raw.id, error = %e, "skipping a record that does not decode")
                }
            }
        }
        let tracked: Vec<TrackedApp> = batches
            .iter()
            .filter(|b| !b.status.state.is_finished() || b.meta.deletion_requested)
            .filter_map(|b| {
                b.status.submission.as_ref().map(|s| TrackedApp {
                    tag: s.tag.clone(),
                    app_id: b.status.app_id.clone(),
                })
            })
            .collect();
        let observed = if tracked.is_empty() {
            HashMap::new()
        } else {
            match self.manager.observe(&tracked).await {
                Ok(map) => {
                    let mut failing = self
                        .observe_failing
                        .lock()
                        .unwrap_or_else(|e| e.into_inner());
                    if *failing {
                        tracing::info!(manager = self.manager.name(), "cluster reachable again");
                        *failing = false;
                    }
                    map
                }
                Err(e) => {
                    let mut failing = self
                        .observe_failing
                        .lock()
                        .unwrap_or_else(|e| e.into_inner());
                    if !*failing {
                        tracing::warn!(manager = self.manager.name(), error = %e, "cannot observe applications; keeping their last known state");
                        *failing = true;
                    }
                    HashMap::new()
                }
            }
        };
        let now = now_ms();
        let policy = self.policy();
        for rec in batches {
            let obs = rec
                .status
                .submission
                .as_ref()
                .and_then(|s| observed.get(&s.tag));
            let step = decide_batch(&rec.meta, &rec.status, obs, now, &policy);
            if let Err(e) = self.apply(rec, step, now).await {
                match e {
                    StoreError::Conflict { .. } | StoreError::NotFound { .. } => {
                        // Someone else wrote first; the next pass sees the fresh record.
                        self.wake.notify_one();
                    }
                    e => tracing::warn!(error = %e, "failed to apply a reconcile step"),
                }
            }
        }
        Ok(())
    }

    async fn apply(&self, rec: BatchRecord, step: Step, now: u64) -> Result<(), StoreError> {
        match step {
            Step::Wait => Ok(()),
            Step::Submit => self.submit(rec, now).await,
            Step::Kill => {
                self.kill(&rec);
                Ok(())
            }
            Step::Remove => self.remove(rec).await,
            Step::Update { status, log } => {
                if let (Some(line), Some(sub)) = (&log, &rec.status.submission) {
                    let _ = self.launcher.files(&sub.tag).append_log(line);
                }
                tracing::info!(batch = rec.id, from = %rec.status.state, to = %status.state, "batch state");
                self.write_status(rec, status).await
            }
        }
    }

    async fn write_status(&self, rec: BatchRecord, status: BatchStatus) -> Result<(), StoreError> {
        let next = Record { status, ..rec };
        self.store.update(&next.encode(Kind::Batch)?).await?;
        Ok(())
    }

    async fn submit(&self, rec: BatchRecord, now: u64) -> Result<(), StoreError> {
        if self
            .not_before
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&rec.id)
            .is_some_and(|&t| t > now)
        {
            return Ok(());
        }
        let tag = new_tag(Kind::Batch, rec.id);
        let files = self.launcher.files(&tag);
        let mut status = rec.status.clone();
        status.state = SessionState::Starting;
        status.state_since = now;
        status.submission = Some(Submission {
            tag: tag.clone(),
            attempt: rec.status.launch_failures + 1,
            at: now,
        });
        status.log_path = Some(files.log().display().to_string());
        // Durable before spawning: after a crash this record is looked up by
        // its tag, never submitted again.
        let spec = rec.spec.clone();
        let (id, meta) = (rec.id, rec.meta.clone());
        let written = self
            .store
            .update(
                &Record {
                    status: status.clone(),
                    ..rec
                }
                .encode(Kind::Batch)?,
            )
            .await?;
        let settings = SubmitSettings {
            spark_submit: self.config.spark_submit().display().to_string(),
            master: self.config.spark_master.clone(),
            deploy_mode: self.config.deploy_mode.clone(),
            impersonation: self.config.impersonation,
        };
        let adds = self
            .manager
            .submit_additions(&tag, spec.resources.name.as_deref());
        let argv = batch_argv(&spec, &settings, &adds);
        tracing::info!(batch = id, tag = %tag, argv = ?argv, "submitting");
        let Err(e) = self.launcher.spawn(&tag, &argv) else {
            return Ok(());
        };
        // Nothing ran: safe to clear the submission and retry with backoff.
        let failures = rec_failures(&status) + 1;
        let text = format!(
            "livy-server: could not start spark-submit (attempt {failures}): {}",
            error_chain(&e)
        );
        tracing::warn!(batch = id, error = %text, "launch failed");
        let _ = files.append_log(&text);
        let mut retry = status;
        retry.launch_failures = failures;
        retry.submission = None;
        retry.message = Some(text);
        if failures > self.config.launch_retries {
            retry.state = SessionState::Dead;
        } else {
            retry.state = SessionState::NotStarted;
            let backoff = 1_000u64 << failures.min(6);
            self.not_before
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(id, now + backoff);
            let wake = self.wake.clone();
            self.tasks.spawn(async move {
                tokio::time::sleep(Duration::from_millis(backoff)).await;
                wake.notify_one();
            });
        }
        retry.state_since = now;
        let raw = crate::store::StoredRecord {
            version: written.version,
            ..Record {
                id,
                version: written.version,
                meta,
                spec,
                status: retry,
            }
            .encode(Kind::Batch)?
        };
        self.store.update(&raw).await?;
        Ok(())
    }

    fn kill(&self, rec: &BatchRecord) {
        let Some(sub) = &rec.status.submission else {
            return;
        };
        if !self
            .killing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(rec.id)
        {
            return;
        }
        let _ = self
            .launcher
            .files(&sub.tag)
            .append_log("livy-server: stopping the application (deleted by request)");
        let app = TrackedApp {
            tag: sub.tag.clone(),
            app_id: rec.status.app_id.clone(),
        };
        let (manager, killing, wake, id) = (
            self.manager.clone(),
            self.killing.clone(),
            self.wake.clone(),
            rec.id,
        );
        self.tasks.spawn(async move {
            if let Err(e) = manager.kill(&app).await {
                tracing::warn!(batch = id, error = %e, "kill failed; will retry");
            }
            killing
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&id);
            wake.notify_one();
        });
    }

    async fn remove(&self, rec: BatchRecord) -> Result<(), StoreError> {
        self.store.delete(Kind::Batch, rec.id, rec.version).await?;
        self.not_before
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&rec.id);
        if let Some(sub) = &rec.status.submission {
            let files = self.launcher.files(&sub.tag);
            self.logs.forget(&files.log());
            if let Err(e) = std::fs::remove_dir_all(files.dir()) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(batch = rec.id, error = %e, "could not remove the application's files");
                }
            }
        }
        tracing::info!(batch = rec.id, "batch removed");
        Ok(())
    }
}

fn rec_failures(status: &BatchStatus) -> u32 {
    status.launch_failures
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
