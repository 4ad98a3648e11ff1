//! The reconciler: the only place that launches, observes and kills
//! applications. It works one record at a time from a queue keyed by
//! `(kind, id)` ([`crate::queue`]): the index announces every changed record, one
//! bulk observation of the cluster per poll wakes only the records whose
//! application changed ([`observe`]), timers wake records at their deadlines
//! (retention, leak window, backoff), and anything not finished is looked at
//! again every poll. For each record it applies the pure decisions of
//! [`decide_batch`] and [`decide_session`].

mod batches;
mod decide;
mod decide_session;
mod launch;
mod observe;
pub mod pool;
mod sessions;
mod writes;

pub use crate::queue::Wake;
pub use crate::random_token;
pub use decide::{Policy, Step, decide_batch};
pub use decide_session::{SessionPolicy, SessionStep, decide_session, pool_backoff_ms};

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::cluster::{AppObservation, ClusterManager, TrackedApp};
use crate::config::Config;
use crate::index::{Index, Key, Kinded};
use crate::launcher::Launcher;
use crate::launcher::logs::LogTails;
use crate::records::{BatchStatus, Kind, SessionStatus, Submission, now_ms};
use crate::repl::ReplHub;
use crate::repl::driver_build::DriverBuilder;
use crate::store::{Fence, Record, StoreError};

/// Records worked on at once (each one by one task only).
const WORKERS: usize = 4;
/// How often a record that only the cluster can change is looked at anyway.
const BACKSTOP: Duration = Duration::from_secs(60);
/// The longest wait before a record that failed is looked at again.
const MAX_RETRY: Duration = Duration::from_secs(60);

/// What happens next to a record after one look at it (the one error
/// policy, [`Reconciler::handle`], decides it for failed looks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing until something wakes it (its record or application changes).
    Done,
    /// Look again after this long, unless woken sooner.
    RequeueAfter(Duration),
}

impl Action {
    /// Both: the sooner requeue.
    fn or(self, other: Action) -> Action {
        match (self, other) {
            (Action::RequeueAfter(a), Action::RequeueAfter(b)) => Action::RequeueAfter(a.min(b)),
            (Action::Done, x) | (x, Action::Done) => x,
        }
    }
}

/// A unique lowercase tag for a record's submission, e.g. `livy-batch-7-k3x9q2ab`.
pub fn new_tag(kind: Kind, id: u64) -> String {
    format!("livy-{}-{id}-{}", kind.as_str(), random_token(8))
}

/// Everything the reconciler works with.
pub struct Deps {
    pub index: Arc<Index>,
    pub manager: Arc<dyn ClusterManager>,
    pub launcher: Arc<Launcher>,
    pub config: Arc<Config>,
    pub logs: Arc<LogTails>,
    /// Live driver channels; its leadership (the server's) fences every write.
    pub hub: Arc<ReplHub>,
    pub driver: Arc<DriverBuilder>,
    pub wake: Arc<Wake>,
    pub tasks: TaskTracker,
    /// Opens the conf secrets sealed in records.
    pub sealer: Arc<crate::records::seal::Sealer>,
}

/// Per record: a stop in flight (`None`) or the instant one succeeded.
type StopLedger = HashMap<Key, Option<Instant>>;

pub struct Reconciler {
    d: Deps,
    /// Records whose stop is in flight (`None`) or finished successfully at
    /// an instant: a look that saw the app before the stop completed must
    /// not stop it again (one kill per request reaches the cluster).
    stopping: Arc<Mutex<StopLedger>>,
    /// Backoff after transient launch failures: record → earliest retry (epoch ms).
    not_before: Mutex<HashMap<Key, u64>>,
    /// Consecutive failed looks at a record (store errors): its retry backoff.
    failures: Mutex<HashMap<Key, u32>>,
    /// Sessions found without a stored driver secret: not looked up again.
    secretless: Mutex<HashSet<u64>>,
    /// What the cluster is asked about, and what it last said.
    seen: observe::Observations,
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
            failures: Mutex::default(),
            secretless: Mutex::default(),
            seen: observe::Observations::default(),
        }
    }

    /// Under leader election, the term this reconciler works in (the
    /// server's leadership, which the hub holds): every write names it.
    fn fence(&self) -> Option<Fence> {
        self.d.hub.leadership().fence()
    }

    /// `Err(Fenced)` once this server's term is over: the last check before
    /// anything reaches the cluster.
    fn still_leading(&self) -> Result<(), StoreError> {
        self.d.hub.leadership().still_leading()
    }

    /// Runs until `cancel` fires (a record being worked on is finished
    /// first). Applications keep running when it stops: the next server
    /// re-attaches to them by tag.
    pub async fn run(self: Arc<Self>, cancel: CancellationToken) {
        let mut changes = self.d.index.subscribe();
        // Everything once (a start, or a new term as leader), then what changes.
        self.d.wake.everything();
        let feed = async {
            use tokio::sync::broadcast::error::RecvError;
            loop {
                match changes.recv().await {
                    Ok((kind, id)) => self.d.wake.record(kind, id),
                    Err(RecvError::Lagged(_)) => self.d.wake.everything(),
                    Err(RecvError::Closed) => return,
                }
            }
        };
        // Workers end at their next wait for work; the rest at once.
        let workers = futures::future::join_all((0..WORKERS).map(|_| self.work(&cancel)));
        let feeders = async {
            tokio::select! {
                _ = cancel.cancelled() => {}
                _ = feed => {}
                _ = self.d.wake.run_timers() => {}
                _ = self.observe_loop() => {}
                _ = self.keep_pool() => {}
            }
        };
        tokio::join!(workers, feeders);
    }

    async fn work(&self, cancel: &CancellationToken) {
        loop {
            let next = tokio::select! {
                _ = cancel.cancelled() => return,
                next = self.d.wake.next() => next,
            };
            match next {
                Some(key) => {
                    self.reconcile(key).await;
                    self.d.wake.done(key);
                }
                None => self.queue_everything(),
            }
        }
    }

    fn queue_everything(&self) {
        for id in self.d.index.ids::<BatchStatus>() {
            self.d.wake.record(Kind::Batch, id);
        }
        for id in self.d.index.ids::<SessionStatus>() {
            self.d.wake.record(Kind::Session, id);
        }
    }

    /// One look at one record.
    pub async fn reconcile(&self, key: Key) {
        let now = now_ms();
        let started = Instant::now();
        let (kind, id) = key;
        let result = match kind {
            Kind::Batch => match self.d.index.get::<BatchStatus>(id) {
                Some(rec) => self.batch(&rec, now).await,
                None => {
                    self.forget(key);
                    Ok(Action::Done)
                }
            },
            Kind::Session => match self.d.index.get::<SessionStatus>(id) {
                Some(rec) => self.session(&rec, now).await,
                None => {
                    self.forget(key);
                    Ok(Action::Done)
                }
            },
        };
        crate::metrics::reconciled(kind, started.elapsed());
        self.handle(key, result);
    }

    /// When to look at a record again with nothing else waking it: anything
    /// unfinished every poll (driver timeouts, lookup timeouts); a finished
    /// one when its retention ends; one being deleted when its leak window
    /// closes. Also decides whether its application is still observed.
    fn revisit<T: Kinded>(&self, rec: &Record<T::Spec, T>, watched: bool, now: u64) -> Action {
        let look = Look {
            key: (T::KIND, rec.id),
            deleting: rec.meta.deletion_requested,
            state: rec.status.state(),
            state_since: rec.status.state_since(),
            sub: rec.status.submission(),
            app_id: rec.status.app_id(),
            watched,
        };
        let c = &self.d.config;
        let at = |deadline: u64| Duration::from_millis(deadline.saturating_sub(now) + 1);
        let delay = if look.deleting || !look.state.is_finished() {
            if look.watched {
                // Its next change is the cluster's, which wakes it; the
                // backstop only guards against a lost wake.
                BACKSTOP
            } else {
                self.poll()
            }
        } else {
            at(look.state_since + c.state_retain.as_millis() as u64)
        };
        self.seen.retrack(self, &look, now);
        Action::RequeueAfter(delay)
    }

    /// The session driver's build, if finished; a finished build wakes
    /// every record (those waiting for it among them).
    fn driver_build(
        &self,
    ) -> Option<
        Result<crate::repl::driver_build::DriverArtifacts, crate::repl::driver_build::BuildError>,
    > {
        let wake = self.d.wake.clone();
        self.d.driver.poll(&self.d.tasks, move || wake.everything())
    }

    fn poll(&self) -> Duration {
        self.d
            .manager
            .poll_interval()
            .unwrap_or(self.d.config.poll_interval)
    }

    /// Drops what is remembered about a record that is gone.
    fn forget(&self, key: Key) {
        lock(&self.not_before).remove(&key);
        lock(&self.stopping).remove(&key);
        lock(&self.failures).remove(&key);
        self.seen.untrack(key);
    }
}

/// What [`Reconciler::revisit`] needs of a record, whatever its kind.
struct Look<'a> {
    key: Key,
    deleting: bool,
    state: crate::records::SessionState,
    state_since: u64,
    sub: Option<&'a Submission>,
    app_id: Option<&'a str>,
    /// Only the cluster can change what happens next (a batch whose
    /// application runs): no need to look every poll.
    watched: bool,
}

impl Reconciler {
    /// How long a submitted application may stay unknown to the cluster.
    fn lookup_timeout(&self) -> Duration {
        self.d
            .manager
            .lookup_timeout()
            .unwrap_or(self.d.config.app_lookup_timeout)
    }

    /// The one policy after a look: requeue as it asked, or after a failed
    /// look back off (a fenced one is the next leader's; a conflict is
    /// looked at again shortly).
    fn handle(&self, key: Key, result: Result<Action, StoreError>) {
        let (kind, id) = key;
        let failures = match result {
            Ok(action) => {
                lock(&self.failures).remove(&key);
                if let Action::RequeueAfter(delay) = action {
                    self.d.wake.after(key, delay);
                }
                return;
            }
            // The term is over: the next leader takes the record on.
            Err(StoreError::Fenced { term }) => {
                tracing::info!(
                    kind = kind.as_str(),
                    id,
                    term,
                    "not this server's record any more: its term as leader is over"
                );
                return;
            }
            // Someone else wrote first: the fresh record is on its way
            // through the index; look again shortly in any case.
            Err(StoreError::Conflict { .. } | StoreError::NotFound { .. }) => {
                self.d.wake.after(key, Duration::from_millis(100));
                return;
            }
            Err(e) => {
                let mut f = lock(&self.failures);
                let n = f.entry(key).or_default();
                *n += 1;
                tracing::warn!(kind = kind.as_str(), id, attempt = *n, error = %crate::error_chain(&e), "failed to apply a reconcile step; retrying");
                *n
            }
        };
        let wait = launch::backoff(Duration::from_millis(500), failures, MAX_RETRY);
        self.d.wake.after(key, wait);
    }

    /// Appends a line of the server's own to an application's log (off the
    /// async threads).
    async fn appended(&self, sub: Option<&Submission>, line: &str) {
        if let Some(sub) = sub {
            self.append(&sub.tag, line).await;
        }
    }

    async fn append(&self, tag: &str, line: &str) {
        append_to(self.d.launcher.files(tag), line).await
    }

    /// Stops an application in the background (once at a time per record).
    fn stop(&self, kind: Kind, id: u64, app: TrackedApp) {
        let key = (kind, id);
        if self.still_leading().is_err() {
            return;
        }
        {
            let mut stopping = lock(&self.stopping);
            let recent = self.poll() * 3;
            match stopping.get(&key) {
                Some(None) => return,
                Some(Some(done)) if done.elapsed() < recent => return,
                _ => {}
            }
            stopping.insert(key, None);
        }
        let (manager, stopping, wake) = (
            self.d.manager.clone(),
            self.stopping.clone(),
            self.d.wake.clone(),
        );
        self.d.tasks.spawn(async move {
            let started = Instant::now();
            let killed = manager.kill(&app).await;
            crate::metrics::cluster(manager.name(), "kill", killed.is_ok(), started.elapsed());
            match killed {
                Ok(()) => {
                    lock(&stopping).insert(key, Some(Instant::now()));
                }
                Err(e) => {
                    tracing::warn!(kind = kind.as_str(), id, error = %e, "kill failed; will retry");
                    lock(&stopping).remove(&key);
                }
            }
            wake.observe_app(&app.tag);
            wake.record(kind, id);
        });
    }

    /// Deletes a record, then its application files (off the async threads).
    async fn remove<T: Kinded>(
        &self,
        rec: &Record<T::Spec, T>,
        sub: Option<&Submission>,
    ) -> Result<(), StoreError> {
        let (kind, id) = (T::KIND, rec.id);
        self.d
            .index
            .delete_under::<T>(id, rec.version, self.fence())
            .await?;
        self.forget((kind, id));
        if let Some(sub) = sub {
            let files = self.d.launcher.files(&sub.tag);
            self.d.logs.forget(&files.log());
            self.d.launcher.forget(&sub.tag);
            let dir = files.dir().to_owned();
            let removed = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(dir)).await;
            match removed {
                Ok(Err(e)) if e.kind() != std::io::ErrorKind::NotFound => {
                    tracing::warn!(kind = kind.as_str(), id, error = %e, "could not remove the application's files")
                }
                Err(e) => {
                    tracing::warn!(kind = kind.as_str(), id, error = %e, "could not remove the application's files")
                }
                _ => {}
            }
        }
        tracing::info!(kind = kind.as_str(), id, "record removed");
        Ok(())
    }

    /// The last observation of a record's application (`None`: not yet
    /// observed, or the cluster could not be asked).
    fn observation(&self, sub: Option<&Submission>) -> Option<AppObservation> {
        sub.and_then(|s| self.seen.get(&s.tag))
    }
}

/// Appends `line` to an application's log on a blocking thread.
async fn append_to(files: crate::launcher::files::AppFiles, line: &str) {
    let line = line.to_owned();
    let _ = tokio::task::spawn_blocking(move || files.append_log(&line)).await;
}

pub(crate) use crate::error_chain;
