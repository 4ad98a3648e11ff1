//! The typed in-memory index in front of the [`RecordStore`]: every record
//! of every kind, decoded once, looked up by id or name, counted by state and
//! paged without touching the store.
//!
//! It is kept current by the store's own change feed (the embedded store
//! announces its writes; the Kubernetes store's watch announces everyone's),
//! and writes made through it are applied at once, so a handler reads its
//! own write. Versions decide: a change older than what is held is dropped,
//! and a deleted id never comes back. Every applied change is announced on
//! [`Index::subscribe`] by key, which is what the reconciler's queue eats.

mod table;
mod writes;

pub use table::{Keep, Page, Stated, Table};

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use futures::StreamExt;
use futures::stream::BoxStream;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::records::{
    BatchSpec, BatchStatus, Kind, SessionSpec, SessionState, SessionStatus, Submission,
};
use crate::store::{AnyRecord, Applied, Change, Record, SharedStore, StoreError};

pub use crate::store::{BatchRecord, SessionRecord};
/// A record's identity across kinds.
pub type Key = (Kind, u64);

/// A kind of record, named by its status type.
pub trait Kinded: Stated + Serialize + DeserializeOwned + Clone + Send + Sync + 'static {
    type Spec: Serialize + DeserializeOwned + Clone + Send + Sync + 'static;
    const KIND: Kind;
    fn table(index: &Index) -> &RwLock<Table<Self::Spec, Self>>;
    /// The application's log file, once it has one.
    fn log_path(&self) -> Option<&str>;
    /// Epoch ms of the last change of state.
    fn state_since(&self) -> u64;
    /// The current launch of the application, if any.
    fn submission(&self) -> Option<&Submission>;
    fn app_id(&self) -> Option<&str>;
    /// Whom the application runs as.
    fn proxy_user(spec: &Self::Spec) -> Option<&str>;
    fn wrap(rec: Record<Self::Spec, Self>) -> AnyRecord;
    /// The record, if `any` is of this kind.
    fn peek(any: &AnyRecord) -> Option<&Record<Self::Spec, Self>>;
    /// Whether some records of this kind are kept from the API (pooled
    /// session drivers waiting for a user).
    const HIDES: bool;
    /// Whether the API must not show this record.
    fn hidden(spec: &Self::Spec) -> bool;
}

/// Both kinds' specs and statuses share these fields by name.
macro_rules! kinded {
    ($status:ty, $spec:ty, $kind:expr, $variant:ident, $table:ident, $hides:literal, $hidden:expr) => {
        impl Stated for $status {
            fn state(&self) -> SessionState {
                self.state
            }
        }

        impl Kinded for $status {
            type Spec = $spec;
            const KIND: Kind = $kind;
            fn table(index: &Index) -> &RwLock<Table<$spec, Self>> {
                &index.$table
            }
            fn log_path(&self) -> Option<&str> {
                self.log_path.as_deref()
            }
            fn state_since(&self) -> u64 {
                self.state_since
            }
            fn submission(&self) -> Option<&Submission> {
                self.submission.as_ref()
            }
            fn app_id(&self) -> Option<&str> {
                self.app_id.as_deref()
            }
            fn proxy_user(spec: &$spec) -> Option<&str> {
                spec.resources.proxy_user.as_deref()
            }
            fn wrap(rec: Record<$spec, Self>) -> AnyRecord {
                AnyRecord::$variant(rec)
            }
            fn peek(any: &AnyRecord) -> Option<&Record<$spec, Self>> {
                match any {
                    AnyRecord::$variant(r) => Some(r),
                    _ => None,
                }
            }
            const HIDES: bool = $hides;
            fn hidden(spec: &$spec) -> bool {
                let hidden: fn(&$spec) -> bool = $hidden;
                hidden(spec)
            }
        }
    };
}

kinded!(
    BatchStatus,
    BatchSpec,
    Kind::Batch,
    Batch,
    batches,
    false,
    |_| false
);
kinded!(
    SessionStatus,
    SessionSpec,
    Kind::Session,
    Session,
    sessions,
    true,
    |s| s.pooled
);

/// Store traffic, for `/metrics` and the scale benchmark.
#[derive(Debug, Default)]
pub struct StoreCounters {
    /// Records read from the store (each decodable one a `list` returned).
    pub records_read: AtomicU64,
    /// Successful creates, updates and deletes.
    pub writes: AtomicU64,
}

pub struct Index {
    store: SharedStore,
    batches: RwLock<Table<BatchSpec, BatchStatus>>,
    sessions: RwLock<Table<SessionSpec, SessionStatus>>,
    changes: broadcast::Sender<Key>,
    feed: Mutex<Option<BoxStream<'static, Change>>>,
    pub counters: StoreCounters,
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

impl Index {
    /// Reads every record once and starts following the store's changes
    /// (call [`Index::spawn`] to keep following them).
    pub async fn load(store: SharedStore) -> Result<Arc<Self>, StoreError> {
        let index = Self::empty(store);
        index.relist().await?;
        Ok(index)
    }

    /// An index that has read nothing yet (for a store known to be empty).
    pub fn empty(store: SharedStore) -> Arc<Self> {
        let (changes, _) = broadcast::channel(16 * 1024);
        Arc::new(Self {
            feed: Mutex::new(Some(store.watch())),
            store,
            batches: RwLock::default(),
            sessions: RwLock::default(),
            changes,
            counters: StoreCounters::default(),
        })
    }

    /// The store behind the index (driver secrets live there, not here).
    pub fn store(&self) -> &SharedStore {
        &self.store
    }

    /// Follows the store's change feed until `cancel` fires.
    pub fn spawn(self: &Arc<Self>, tasks: &TaskTracker, cancel: &CancellationToken) {
        let Some(mut feed) = self.feed.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return;
        };
        let (me, cancel) = (self.clone(), cancel.clone());
        tasks.spawn(async move {
            loop {
                let next = tokio::select! {
                    _ = cancel.cancelled() => return,
                    next = feed.next() => next,
                };
                match next {
                    Some(Change::Lagged) => {
                        tracing::warn!("the index fell behind the store's changes; reading every record again");
                        while let Err(e) = me.relist().await {
                            tracing::warn!(error = %crate::error_chain(&e), "cannot re-read the records; retrying");
                            tokio::select! {
                                _ = cancel.cancelled() => return,
                                _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                            }
                        }
                    }
                    Some(change) => me.take(change),
                    None => return,
                }
            }
        });
    }

    /// Reads every record of every kind, applies what is news, drops what
    /// is gone, and announces each.
    async fn relist(&self) -> Result<(), StoreError> {
        // Only records known before the lists began can be gone: one created
        // after a list's snapshot is missing from it, not deleted.
        let known_batches: HashSet<u64> = read(&self.batches).ids().collect();
        let known_sessions: HashSet<u64> = read(&self.sessions).ids().collect();
        let batches = self.store.list(Kind::Batch).await?;
        let sessions = self.store.list(Kind::Session).await?;
        let n = (batches.len() + sessions.len()) as u64;
        self.counters.records_read.fetch_add(n, Ordering::Relaxed);
        self.resync::<BatchStatus>(batches, &known_batches);
        self.resync::<SessionStatus>(sessions, &known_sessions);
        Ok(())
    }

    fn resync<T: Kinded>(&self, recs: Vec<AnyRecord>, known: &HashSet<u64>) {
        let present: HashSet<u64> = recs.iter().map(AnyRecord::id).collect();
        for rec in &recs {
            self.take_any::<T>(rec);
        }
        let gone: Vec<u64> = read(T::table(self))
            .absent_from(&present)
            .into_iter()
            .filter(|id| known.contains(id))
            .collect();
        for id in gone {
            if write(T::table(self)).remove(id) {
                self.announce((T::KIND, id));
            }
        }
    }

    /// Applies one change from the store's feed.
    fn take(&self, change: Change) {
        match change {
            Change::Applied(changed) => match changed.kind() {
                Kind::Batch => self.take_applied::<BatchStatus>(&changed),
                Kind::Session => self.take_applied::<SessionStatus>(&changed),
            },
            Change::Deleted { kind, id } => {
                let removed = match kind {
                    Kind::Batch => write(&self.batches).remove(id),
                    Kind::Session => write(&self.sessions).remove(id),
                };
                if removed {
                    self.announce((kind, id));
                }
            }
            Change::Lagged => {}
        }
    }

    /// Decodes a change only if it is news.
    fn take_applied<T: Kinded>(&self, changed: &Applied) {
        if read(T::table(self)).is_news(changed.id(), changed.version())
            && let Some(any) = changed.record()
        {
            self.take_any::<T>(&any);
        }
    }

    fn take_any<T: Kinded>(&self, any: &AnyRecord) {
        if let Some(rec) = T::peek(any)
            && read(T::table(self)).is_news(rec.id, rec.version)
        {
            self.apply(Arc::new(rec.clone()));
        }
    }

    fn apply<T: Kinded>(&self, rec: Arc<Record<T::Spec, T>>) {
        let id = rec.id;
        if write(T::table(self)).apply(rec) {
            self.announce((T::KIND, id));
        }
    }

    fn announce(&self, key: Key) {
        // No subscribers is fine: nobody is waiting.
        let _ = self.changes.send(key);
    }

    /// Keys of records that changed from now on (a lagging receiver must
    /// look at every record again).
    pub fn subscribe(&self) -> broadcast::Receiver<Key> {
        self.changes.subscribe()
    }

    pub fn get<T: Kinded>(&self, id: u64) -> Option<Arc<Record<T::Spec, T>>> {
        read(T::table(self)).get(id)
    }

    /// By name.
    pub fn named<T: Kinded>(&self, name: &str) -> Option<Arc<Record<T::Spec, T>>> {
        read(T::table(self)).named(name)
    }

    /// By the `{id}` path segment: all digits is an id, anything else a name.
    pub fn find<T: Kinded>(&self, key: &str) -> Option<Arc<Record<T::Spec, T>>> {
        let table = read(T::table(self));
        if !key.is_empty() && key.bytes().all(|b| b.is_ascii_digit()) {
            key.parse().ok().and_then(|id| table.get(id))
        } else {
            table.named(key)
        }
    }

    /// How many spark-submit processes run (the `max-creation` budget):
    /// every batch or session being launched, plus running batches when
    /// spark-submit is the application itself (`submit_is_app`: local and
    /// client mode).
    pub fn launching(&self, submit_is_app: bool) -> usize {
        let launching = SessionState::ALL.into_iter().filter(|s| s.awaits_launch());
        let mut n: usize = launching
            .map(|s| self.count::<BatchStatus>(s) + self.count::<SessionStatus>(s))
            .sum();
        if submit_is_app {
            n += self.count::<BatchStatus>(SessionState::Running);
        }
        n
    }

    /// How many records of kind `T` are in `state`.
    pub fn count<T: Kinded>(&self, state: SessionState) -> usize {
        read(T::table(self)).count(state)
    }

    /// Every id of kind `T`.
    pub fn ids<T: Kinded>(&self) -> Vec<u64> {
        read(T::table(self)).ids().collect()
    }

    /// A list page; see [`Table::page`].
    pub fn page<T: Kinded>(
        &self,
        from: usize,
        size: usize,
        hide_deleting: bool,
        keep: Keep<'_, T::Spec, T>,
    ) -> Page<T::Spec, T> {
        read(T::table(self)).page(from, size, hide_deleting, keep)
    }

    fn wrote(&self) {
        self.counters.writes.fetch_add(1, Ordering::Relaxed);
    }

    /// Takes what the store answered a write with.
    fn written<T: Kinded>(&self, any: AnyRecord) -> Result<Arc<Record<T::Spec, T>>, StoreError> {
        self.wrote();
        let rec = Arc::new(T::peek(&any).cloned().ok_or(StoreError::NotFound {
            kind: T::KIND,
            id: any.id(),
        })?);
        self.apply(rec.clone());
        Ok(rec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::Meta;
    use crate::store::{Durability, EmbeddedStore, RawStore};
    use serde_json::json;

    #[tokio::test]
    async fn a_damaged_record_is_left_out_and_the_rest_is_served() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(EmbeddedStore::open(&dir.path().join("s.db")).unwrap());
        let meta = |name: &str| Meta {
            name: Some(name.into()),
            ..Meta::default()
        };
        let spec = json!({"kind": "pyspark"});
        let status = serde_json::to_value(SessionStatus::new(1)).unwrap();
        RawStore::create(
            &*store,
            Kind::Session,
            meta("bad"),
            json!(5),
            status.clone(),
        )
        .await
        .unwrap();
        RawStore::create(&*store, Kind::Session, meta("good"), spec, status)
            .await
            .unwrap();
        let index = Index::load(store).await.unwrap();
        assert!(index.find::<SessionStatus>("bad").is_none());
        assert!(index.get::<SessionStatus>(0).is_none());
        let good = index.find::<SessionStatus>("good").expect("served");
        assert_eq!((good.id, good.spec.kind.as_str()), (1, "pyspark"));
        assert_eq!(index.count::<SessionStatus>(SessionState::Starting), 1);
        assert_eq!(
            index.counters.records_read.load(Ordering::Relaxed),
            1,
            "one list, one record that decodes"
        );
    }

    #[tokio::test]
    async fn own_writes_are_read_back_at_once_and_announced_once() {
        let dir = tempfile::tempdir().unwrap();
        let store: SharedStore = Arc::new(EmbeddedStore::open(&dir.path().join("s.db")).unwrap());
        let index = Index::load(store).await.unwrap();
        let (tasks, cancel) = (TaskTracker::new(), CancellationToken::new());
        index.spawn(&tasks, &cancel);
        let mut keys = index.subscribe();
        let spec = BatchSpec {
            file: "/x.py".into(),
            ..BatchSpec::default()
        };
        let rec = index
            .create(Meta::default(), &spec, &BatchStatus::new(1))
            .await
            .unwrap();
        assert_eq!(index.get::<BatchStatus>(rec.id).unwrap().version, 1);
        let mut next = (*rec).clone();
        next.status.state = SessionState::Running;
        let written = index.update(&next, Durability::Disk).await.unwrap();
        assert_eq!(written.version, 2);
        assert_eq!(index.count::<BatchStatus>(SessionState::Running), 1);
        // A stale write conflicts and changes nothing.
        assert!(matches!(
            index.update(&next, Durability::Disk).await,
            Err(StoreError::Conflict { .. })
        ));
        // Reloading reads the stored version (and counts the read).
        let reads = index.counters.records_read.load(Ordering::Relaxed);
        let fresh = index.reload::<BatchStatus>(rec.id).await.unwrap().unwrap();
        assert_eq!(fresh.version, 2);
        assert_eq!(
            index.counters.records_read.load(Ordering::Relaxed),
            reads + 1
        );
        index.delete::<BatchStatus>(rec.id, 2).await.unwrap();
        assert!(index.reload::<BatchStatus>(rec.id).await.unwrap().is_none());
        assert!(index.get::<BatchStatus>(rec.id).is_none());
        // The store's own announcements of the same versions add nothing.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let got: Vec<Key> = std::iter::from_fn(|| keys.try_recv().ok()).collect();
        assert_eq!(got, vec![(Kind::Batch, 0); 3], "create, update, delete");
        assert_eq!(index.counters.writes.load(Ordering::Relaxed), 3);
        cancel.cancel();
    }
}
