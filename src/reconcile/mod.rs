//! The reconcile loop: the only place that launches, observes and kills
//! applications. It wakes on a change (handlers, process exits, drivers, the
//! store's watch) or on the poll interval, observes every tracked application
//! in one bulk call, and applies the pure decisions of [`decide_batch`] and
//! [`decide_session`] to each record.

mod batches;
mod decide;
mod decide_session;
mod sessions;

pub use decide::{Policy, Step, decide_batch};
pub use decide_session::{SessionPolicy, SessionStep, decide_session};

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::cluster::{AppObservation, ClusterManager, TrackedApp};
use crate::config::Config;
use crate::launcher::logs::LogTails;
use crate::launcher::{LaunchError, Launcher};
use crate::logtext::Escaped;
use crate::records::{Kind, Submission};
use crate::repl::ReplHub;
use crate::repl::driver_build::DriverBuilder;
use crate::store::{Record, SharedStore, StoreError};

/// A unique lowercase tag for a record's submission, e.g. `livy-batch-7-k3x9q2ab`.
pub fn new_tag(kind: Kind, id: u64) -> String {
    format!("livy-{}-{id}-{}", kind.as_str(), random_token(8))
}

/// Lowercase alphanumerics, for tags and secrets.
pub fn random_token(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Everything the loop works with.
pub struct Deps {
    pub store: SharedStore,
    pub manager: Arc<dyn ClusterManager>,
    pub launcher: Arc<Launcher>,
    pub config: Arc<Config>,
    pub logs: Arc<LogTails>,
    pub hub: Arc<ReplHub>,
    pub driver: Arc<DriverBuilder>,
    pub wake: Arc<Notify>,
    pub tasks: TaskTracker,
}

/// Per record: a stop in flight (`None`) or the instant one succeeded.
type StopLedger = HashMap<(Kind, u64), Option<Instant>>;

pub struct Reconciler {
    d: Deps,
    /// Records whose stop is in flight (`None`) or finished successfully at
    /// an instant: a pass that observed the app before the stop completed
    /// must not stop it again (one kill per request reaches the cluster).
    stopping: Arc<Mutex<StopLedger>>,
    /// Backoff after transient launch failures: record → earliest retry (epoch ms).
    not_before: Mutex<HashMap<(Kind, u64), u64>>,
    /// Whether the last observation failed (log an outage once, not per poll).
    observe_failing: Mutex<bool>,
    /// Sessions found without a stored driver secret: not looked up again.
    secretless: Mutex<HashSet<u64>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Reconciler {
    pub fn new(d: Deps) -> Self {
        Self {
            d,
            stopping: Arc::default(),
            not_before: Mutex::default(),
            observe_failing: Mutex::new(false),
            secretless: Mutex::default(),
        }
    }

    /// Runs until `cancel` fires. Applications keep running when it stops:
    /// the next server re-attaches to them by tag.
    pub async fn run(self: Arc<Self>, cancel: CancellationToken) {
        let mut changes = self.d.store.watch();
        loop {
            // Register interest before looking, so no wake-up is lost.
            let notified = self.d.wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Err(e) = self.pass().await {
                tracing::warn!(error = %e, "reconcile pass failed; retrying");
            }
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = &mut notified => {}
                _ = changes.recv() => {}
                _ = tokio::time::sleep(self.d.manager.poll_interval().unwrap_or(self.d.config.poll_interval)) => {}
            }
            // Fold a burst of changes into one pass.
            while changes.try_recv().is_ok() {}
        }
    }

    /// One look at every record.
    pub async fn pass(&self) -> Result<(), StoreError> {
        let batches = self.load(Kind::Batch).await?;
        let sessions = self.load(Kind::Session).await?;
        let mut tracked: Vec<TrackedApp> = Vec::new();
        tracked.extend(batches.iter().filter_map(batches::tracked));
        tracked.extend(sessions.iter().filter_map(sessions::tracked));
        let observed = self.observe(&tracked).await;
        self.batches(batches, &observed).await;
        self.sessions(sessions, &observed).await;
        Ok(())
    }

    async fn load<S: DeserializeOwned, T: DeserializeOwned>(
        &self,
        kind: Kind,
    ) -> Result<Vec<Record<S, T>>, StoreError> {
        let mut out = Vec::new();
        for raw in self.d.store.list(kind).await? {
            match raw.decode() {
                Ok(rec) => out.push(rec),
                Err(e) => {
                    tracing::error!(kind = kind.as_str(), id = raw.id, error = %e, "skipping a record that does not decode")
                }
            }
        }
        Ok(out)
    }

    async fn observe(&self, tracked: &[TrackedApp]) -> HashMap<String, AppObservation> {
        if tracked.is_empty() {
            return HashMap::new();
        }
        let result = self.d.manager.observe(tracked).await;
        let mut failing = lock(&self.observe_failing);
        match result {
            Ok(map) => {
                if *failing {
                    tracing::info!(manager = self.d.manager.name(), "cluster reachable again");
                    *failing = false;
                }
                map
            }
            Err(e) => {
                if !*failing {
                    tracing::warn!(manager = self.d.manager.name(), error = %e, "cannot observe applications; keeping their last known state");
                    *failing = true;
                }
                HashMap::new()
            }
        }
    }

    /// How long a submitted application may stay unknown to the cluster.
    fn lookup_timeout(&self) -> Duration {
        self.d
            .manager
            .lookup_timeout()
            .unwrap_or(self.d.config.app_lookup_timeout)
    }

    fn handle(&self, kind: Kind, id: u64, result: Result<(), StoreError>) {
        match result {
            Ok(()) => {}
            // Someone else wrote first; the next pass sees the fresh record.
            Err(StoreError::Conflict { .. } | StoreError::NotFound { .. }) => {
                self.d.wake.notify_one()
            }
            Err(e) => {
                tracing::warn!(kind = kind.as_str(), id, error = %e, "failed to apply a reconcile step")
            }
        }
    }

    /// Writes `rec` (whose status or meta changed) back to the store.
    async fn write<S: Serialize, T: Serialize>(
        &self,
        kind: Kind,
        rec: &Record<S, T>,
    ) -> Result<u64, StoreError> {
        Ok(self.d.store.update(&rec.encode(kind)?).await?.version)
    }

    fn appended(&self, sub: Option<&Submission>, line: &str) {
        if let Some(sub) = sub {
            let _ = self.d.launcher.files(&sub.tag).append_log(line);
        }
    }

    fn backing_off(&self, kind: Kind, id: u64, now: u64) -> bool {
        lock(&self.not_before)
            .get(&(kind, id))
            .is_some_and(|&t| t > now)
    }

    /// Schedules a retry after a launch known not to have started anything.
    fn back_off(&self, kind: Kind, id: u64, now: u64, failures: u32) {
        let backoff = 1_000u64 << failures.min(6);
        lock(&self.not_before).insert((kind, id), now + backoff);
        let wake = self.d.wake.clone();
        self.d.tasks.spawn(async move {
            tokio::time::sleep(Duration::from_millis(backoff)).await;
            wake.notify_one();
        });
    }

    /// After a spawn known not to have started anything: explains it in the
    /// application's log and, unless the failure is permanent or retries are
    /// used up, schedules a retry. Returns the explanation and whether a
    /// retry follows.
    fn launch_failed(
        &self,
        kind: Kind,
        id: u64,
        tag: &str,
        error: &LaunchError,
        failures: u32,
        now: u64,
    ) -> (String, bool) {
        let permanent = error.is_permanent();
        let mut text = format!(
            "livy-server: could not start spark-submit (attempt {failures}): {}",
            error_chain(error)
        );
        if permanent {
            text.push_str(
                "; not retried: the command line is too long for this system \
                 (put large arguments or conf values in a file)",
            );
        }
        tracing::warn!(kind = kind.as_str(), id, error = %Escaped(&text), "launch failed");
        let _ = self.d.launcher.files(tag).append_log(&text);
        let retry = !permanent && failures <= self.d.config.launch_retries;
        if retry {
            self.back_off(kind, id, now, failures);
        }
        (text, retry)
    }

    /// Stops an application in the background (once at a time per record).
    fn stop(&self, kind: Kind, id: u64, app: TrackedApp) {
        {
            let mut stopping = lock(&self.stopping);
            let recent = self
                .d
                .manager
                .poll_interval()
                .unwrap_or(self.d.config.poll_interval)
                * 3;
            match stopping.get(&(kind, id)) {
                Some(None) => return,
                Some(Some(done)) if done.elapsed() < recent => return,
                _ => {}
            }
            stopping.insert((kind, id), None);
        }
        let (manager, stopping, wake) = (
            self.d.manager.clone(),
            self.stopping.clone(),
            self.d.wake.clone(),
        );
        self.d.tasks.spawn(async move {
            match manager.kill(&app).await {
                Ok(()) => {
                    lock(&stopping).insert((kind, id), Some(Instant::now()));
                }
                Err(e) => {
                    tracing::warn!(kind = kind.as_str(), id, error = %e, "kill failed; will retry");
                    lock(&stopping).remove(&(kind, id));
                }
            }
            wake.notify_one();
        });
    }

    /// Deletes a record and its application files.
    async fn remove(
        &self,
        kind: Kind,
        id: u64,
        version: u64,
        sub: Option<&Submission>,
    ) -> Result<(), StoreError> {
        self.d.store.delete(kind, id, version).await?;
        lock(&self.not_before).remove(&(kind, id));
        lock(&self.stopping).remove(&(kind, id));
        if let Some(sub) = sub {
            let files = self.d.launcher.files(&sub.tag);
            self.d.logs.forget(&files.log());
            if let Err(e) = std::fs::remove_dir_all(files.dir())
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(kind = kind.as_str(), id, error = %e, "could not remove the application's files");
            }
        }
        tracing::info!(kind = kind.as_str(), id, "record removed");
        Ok(())
    }
}

pub(crate) use crate::error_chain;
