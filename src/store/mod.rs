//! The `RecordStore`: durable desired-state records with optimistic versions
//! and change notification.
//!
//! It is shaped like the Kubernetes API so a custom-resource store can
//! implement it: every write carries the version it read (`resourceVersion`),
//! a stale one fails with [`StoreError::Conflict`], and `watch` streams changes.
//! It holds no business rules: validation and state transitions live elsewhere.

mod embedded;
mod kube;
mod postgres;
mod typed;

pub use self::kube::{KubeStore, KubeStoreOptions, MANAGED_BY_LABEL, secret_name};
pub use embedded::EmbeddedStore;
pub use postgres::{Connector as PostgresTls, Verify as PostgresVerify};
pub use postgres::{Link, PostgresStore};
pub use typed::{AnyRecord, Applied, BatchRecord, Change, RecordStore, SessionRecord, SharedStore};

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Serialize, de::DeserializeOwned};
use tokio::sync::broadcast;

use crate::records::{Kind, Meta};

/// The leader's term a reconciler's write is made under. A store that
/// elects leaders itself (PostgreSQL) refuses the write once another server
/// holds the lease; the others have one writer (embedded) or fence through
/// their own Lease (Kubernetes) and write as usual.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fence {
    pub term: u64,
}

/// One record as stored: metadata plus spec and status as JSON documents.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRecord {
    pub kind: Kind,
    /// Livy id: per kind, increasing, never reused (also across restarts).
    pub id: u64,
    /// Optimistic-concurrency version; every successful write increases it.
    pub version: u64,
    pub meta: Meta,
    pub spec: serde_json::Value,
    pub status: serde_json::Value,
}

/// A record with typed spec and status.
#[derive(Debug, Clone, PartialEq)]
pub struct Record<S, T> {
    pub id: u64,
    pub version: u64,
    pub meta: Meta,
    pub spec: S,
    pub status: T,
}

/// What changed, as stored; sent on every successful write (and, for stores
/// others write too, on every change the store's own watch sees).
#[derive(Debug, Clone, PartialEq)]
pub enum RawChange {
    /// The record as it now is (created or updated).
    Applied(Arc<StoredRecord>),
    Deleted {
        kind: Kind,
        id: u64,
    },
    /// Changes may have been missed (the store's feed was cut and resumed):
    /// whoever follows must read everything again.
    Missed,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{kind:?} {id} was changed by someone else (expected version {expected})")]
    Conflict { kind: Kind, id: u64, expected: u64 },
    #[error("{kind:?} {id} not found")]
    NotFound { kind: Kind, id: u64 },
    /// A reconciler's write under a leader's term that is over.
    #[error("this server no longer leads (its term {term} is over); the write was refused")]
    Fenced { term: u64 },
    #[error("duplicate {kind:?} name {name:?}")]
    DuplicateName { kind: Kind, name: String },
    #[error("failed to open the embedded store at {path}")]
    Open {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("embedded store query failed while trying to {action}")]
    Query {
        action: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    #[error("record {kind:?} {id} holds a document that does not decode")]
    Decode {
        kind: Kind,
        id: u64,
        #[source]
        source: serde_json::Error,
    },
    #[error("failed to encode a {kind:?} record")]
    Encode {
        kind: Kind,
        #[source]
        source: serde_json::Error,
    },
    /// The PostgreSQL connection was lost and the last attempt to open it
    /// again failed; the next is not due yet.
    #[error(
        "the PostgreSQL store is unreachable; the next attempt to reconnect is in {retry_in:?}"
    )]
    Reconnecting { retry_in: std::time::Duration },
    #[error("PostgreSQL store query failed while trying to {action}")]
    Postgres {
        action: &'static str,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("the embedded store's thread failed: {0}")]
    Thread(String),
    #[error("the embedded store could not commit: {0}")]
    Commit(String),
    #[error("the {part} of {kind:?} {id} is not a JSON object")]
    NotAnObject {
        kind: Kind,
        id: u64,
        part: &'static str,
    },
    #[error("{kind:?} {id} has resourceVersion {value:?}, which is not an integer")]
    ResourceVersion { kind: Kind, id: u64, value: String },
    #[error("failed to read {kind:?} {id} from the Kubernetes API")]
    KubeGet {
        kind: Kind,
        id: u64,
        #[source]
        source: ::kube::Error,
    },
    #[error("failed to list {kind:?} resources from the Kubernetes API")]
    KubeList {
        kind: Kind,
        #[source]
        source: ::kube::Error,
    },
    #[error("failed to create the resource of {kind:?} {id}")]
    KubeCreate {
        kind: Kind,
        id: u64,
        #[source]
        source: ::kube::Error,
    },
    #[error("failed to replace the spec and metadata of {kind:?} {id}")]
    KubeReplace {
        kind: Kind,
        id: u64,
        #[source]
        source: ::kube::Error,
    },
    #[error("failed to write the status of {kind:?} {id}")]
    KubeReplaceStatus {
        kind: Kind,
        id: u64,
        #[source]
        source: ::kube::Error,
    },
    #[error("failed to delete the resource of {kind:?} {id}")]
    KubeDelete {
        kind: Kind,
        id: u64,
        #[source]
        source: ::kube::Error,
    },
    #[error("failed to remove the finalizer of {kind:?} {id}")]
    KubeRemoveFinalizer {
        kind: Kind,
        id: u64,
        #[source]
        source: ::kube::Error,
    },
    #[error("failed to read the id counter for a new {kind:?}")]
    IdCounterRead {
        kind: Kind,
        #[source]
        source: ::kube::Error,
    },
    #[error("failed to write the id counter for a new {kind:?}")]
    IdCounterWrite {
        kind: Kind,
        #[source]
        source: ::kube::Error,
    },
    #[error("gave up allocating a {kind:?} id after {attempts} concurrent updates of the counter")]
    IdCounterContended { kind: Kind, attempts: u32 },
    #[error("failed to create the Secret holding the driver secret of Session {id}")]
    KubeSecretCreate {
        id: u64,
        #[source]
        source: ::kube::Error,
    },
    #[error("failed to read the Secret holding the driver secret of Session {id}")]
    KubeSecretGet {
        id: u64,
        #[source]
        source: ::kube::Error,
    },
    #[error("failed to replace the Secret holding the driver secret of Session {id}")]
    KubeSecretReplace {
        id: u64,
        #[source]
        source: ::kube::Error,
    },
    #[error("the Secret {name} exists but is not owned by Session {id}; refusing to overwrite it")]
    SecretNotOurs { id: u64, name: String },
    #[error("the Secret {name} of Session {id} holds no readable driver secret")]
    SecretUnreadable { id: u64, name: String },
}

impl StoreError {
    /// Whether the store cannot be reached right now (a lost or refused
    /// connection, a database shutting down or starting): not the caller's
    /// fault nor a bug, and worth retrying in a moment.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Reconnecting { .. } => true,
            Self::Postgres { source, .. } => postgres_unreachable(source),
            _ => false,
        }
    }
}

fn postgres_unreachable(e: &tokio_postgres::Error) -> bool {
    use tokio_postgres::error::SqlState;
    if e.is_closed() {
        return true;
    }
    if let Some(code) = e.code() {
        // Class 08: connection exceptions; 57P01–03: shutting down or
        // starting; 53300: too many connections.
        return code.code().starts_with("08")
            || [
                SqlState::ADMIN_SHUTDOWN,
                SqlState::CRASH_SHUTDOWN,
                SqlState::CANNOT_CONNECT_NOW,
                SqlState::TOO_MANY_CONNECTIONS,
            ]
            .contains(code);
    }
    // No answer from the database: an I/O error or a timeout underneath.
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        if c.is::<std::io::Error>() {
            return true;
        }
        cause = c.source();
    }
    false
}

/// How far a write must get before it is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// On disk: survives a crash of the machine. What a client was told,
    /// and whatever must precede a side effect (a record's tag before its
    /// spark-submit runs), is written so.
    Disk,
    /// Committed (atomic, in order, seen by every reader, kept through a
    /// crash of the server) but reaching the disk with the next `Disk` write:
    /// a status that mirrors what the cluster reports, observed again after
    /// a restart if a machine crash loses it. Stores that are always durable
    /// treat it as `Disk`.
    Observed,
}

/// What a store implementation provides: durable records behind optimistic
/// versions, as JSON documents. Implementations: [`EmbeddedStore`] (SQLite,
/// default) and, when installed on Kubernetes, custom resources. The rest of
/// the server sees them through [`RecordStore`], which speaks typed records.
#[async_trait]
pub trait RawStore: Send + Sync + 'static {
    /// Allocates the next id of `kind` and stores the record at version 1.
    /// Fails with `DuplicateName` if a record of that kind has the same name
    /// and the store can tell (the embedded store's unique index; the
    /// Kubernetes store leaves names to the [`crate::index::Index`]).
    async fn create(
        &self,
        kind: Kind,
        meta: Meta,
        spec: serde_json::Value,
        status: serde_json::Value,
    ) -> Result<StoredRecord, StoreError>;
    async fn get(&self, kind: Kind, id: u64) -> Result<Option<StoredRecord>, StoreError>;
    /// Every record of a kind, in id order.
    async fn list(&self, kind: Kind) -> Result<Vec<StoredRecord>, StoreError>;
    /// Replaces meta, spec and status if the stored version is still `record.version`.
    async fn update(
        &self,
        record: &StoredRecord,
        durability: Durability,
    ) -> Result<StoredRecord, StoreError>;
    /// Removes a record if its stored version is still `version`.
    async fn delete(&self, kind: Kind, id: u64, version: u64) -> Result<(), StoreError>;
    /// `update`, refused with [`StoreError::Fenced`] once `fence` is over.
    async fn update_fenced(
        &self,
        record: &StoredRecord,
        durability: Durability,
        fence: Fence,
    ) -> Result<StoredRecord, StoreError> {
        let _ = fence;
        self.update(record, durability).await
    }
    /// `delete`, refused with [`StoreError::Fenced`] once `fence` is over.
    async fn delete_fenced(
        &self,
        kind: Kind,
        id: u64,
        version: u64,
        fence: Fence,
    ) -> Result<(), StoreError> {
        let _ = fence;
        self.delete(kind, id, version).await
    }
    /// Changes made after this call.
    fn watch(&self) -> broadcast::Receiver<RawChange>;
    /// Stores the driver secret of session `id` (which must exist),
    /// replacing any earlier one. Secrets are kept apart from the records:
    /// whoever can read a record (the REST API, `kubectl get livysessions`)
    /// must not learn them. They go away with the session's record.
    async fn put_session_secret(&self, id: u64, secret: &str) -> Result<(), StoreError>;
    /// The driver secret of session `id`, if one is stored.
    async fn session_secret(&self, id: u64) -> Result<Option<String>, StoreError>;
    /// Whether the store answers now (readiness). Stores without a
    /// connection to lose answer at once.
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

impl StoredRecord {
    pub fn decode<S: DeserializeOwned, T: DeserializeOwned>(
        &self,
    ) -> Result<Record<S, T>, StoreError> {
        let err = |source| StoreError::Decode {
            kind: self.kind,
            id: self.id,
            source,
        };
        Ok(Record {
            id: self.id,
            version: self.version,
            meta: self.meta.clone(),
            spec: serde_json::from_value(self.spec.clone()).map_err(err)?,
            status: serde_json::from_value(self.status.clone()).map_err(err)?,
        })
    }
}

impl<S: Serialize, T: Serialize> Record<S, T> {
    pub fn encode(&self, kind: Kind) -> Result<StoredRecord, StoreError> {
        let err = |source| StoreError::Encode { kind, source };
        Ok(StoredRecord {
            kind,
            id: self.id,
            version: self.version,
            meta: self.meta.clone(),
            spec: serde_json::to_value(&self.spec).map_err(err)?,
            status: serde_json::to_value(&self.status).map_err(err)?,
        })
    }
}
