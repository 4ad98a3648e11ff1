//! The store as the rest of the server sees it: typed records in, typed
//! records out. JSON stays below, in the [`RawStore`] implementations; this
//! layer encodes and decodes once, for every store alike.

use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::sync::broadcast::error::RecvError;

use super::{Durability, Fence, RawChange, RawStore, Record, StoreError, StoredRecord};
use crate::records::{BatchSpec, BatchStatus, Kind, SessionSpec, SessionStatus};

pub type BatchRecord = Record<BatchSpec, BatchStatus>;
pub type SessionRecord = Record<SessionSpec, SessionStatus>;

/// A record of either kind.
#[derive(Debug, Clone, PartialEq)]
pub enum AnyRecord {
    Batch(BatchRecord),
    Session(SessionRecord),
}

impl AnyRecord {
    pub fn kind(&self) -> Kind {
        match self {
            AnyRecord::Batch(_) => Kind::Batch,
            AnyRecord::Session(_) => Kind::Session,
        }
    }

    pub fn id(&self) -> u64 {
        match self {
            AnyRecord::Batch(r) => r.id,
            AnyRecord::Session(r) => r.id,
        }
    }

    pub fn version(&self) -> u64 {
        match self {
            AnyRecord::Batch(r) => r.version,
            AnyRecord::Session(r) => r.version,
        }
    }

    fn decode(raw: &StoredRecord) -> Result<Self, StoreError> {
        Ok(match raw.kind {
            Kind::Batch => AnyRecord::Batch(raw.decode()?),
            Kind::Session => AnyRecord::Session(raw.decode()?),
        })
    }

    fn encode(&self) -> Result<StoredRecord, StoreError> {
        match self {
            AnyRecord::Batch(r) => r.encode(Kind::Batch),
            AnyRecord::Session(r) => r.encode(Kind::Session),
        }
    }
}

/// What changed.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// A record as it now is (created or updated).
    Applied(Applied),
    Deleted {
        kind: Kind,
        id: u64,
    },
    /// Changes were missed: whoever follows must read everything again.
    Lagged,
}

/// A changed record, decoded on demand: a follower that already holds this
/// version (a write it made itself) need not pay for decoding it again.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied(Arc<StoredRecord>);

impl Applied {
    pub fn kind(&self) -> Kind {
        self.0.kind
    }

    pub fn id(&self) -> u64 {
        self.0.id
    }

    pub fn version(&self) -> u64 {
        self.0.version
    }

    /// The record, if it decodes (one that does not is logged).
    pub fn record(&self) -> Option<AnyRecord> {
        decoded(&self.0)
    }
}

/// Durable typed records behind optimistic versions, with change
/// notification. Every [`RawStore`] is one.
#[async_trait]
pub trait RecordStore: Send + Sync + 'static {
    /// Stores `rec` under the next id of its kind, at version 1 (its own id
    /// and version are ignored). Fails with `DuplicateName` when the store
    /// can tell that a record of that kind has the same name.
    async fn create(&self, rec: AnyRecord) -> Result<AnyRecord, StoreError>;
    async fn get(&self, kind: Kind, id: u64) -> Result<Option<AnyRecord>, StoreError>;
    /// Every record of a kind that decodes, in id order (one that does not
    /// is logged and left out).
    async fn list(&self, kind: Kind) -> Result<Vec<AnyRecord>, StoreError>;
    /// Replaces meta, spec and status if the stored version is still `rec`'s.
    async fn update(
        &self,
        rec: &AnyRecord,
        durability: Durability,
    ) -> Result<AnyRecord, StoreError>;
    /// Removes a record if its stored version is still `version`.
    async fn delete(&self, kind: Kind, id: u64, version: u64) -> Result<(), StoreError>;
    /// See [`RawStore::update_fenced`].
    async fn update_fenced(
        &self,
        rec: &AnyRecord,
        durability: Durability,
        fence: Fence,
    ) -> Result<AnyRecord, StoreError>;
    /// See [`RawStore::delete_fenced`].
    async fn delete_fenced(
        &self,
        kind: Kind,
        id: u64,
        version: u64,
        fence: Fence,
    ) -> Result<(), StoreError>;
    /// Changes made after this call.
    fn watch(&self) -> BoxStream<'static, Change>;
    /// See [`RawStore::put_session_secret`].
    async fn put_session_secret(&self, id: u64, secret: &str) -> Result<(), StoreError>;
    /// See [`RawStore::session_secret`].
    async fn session_secret(&self, id: u64) -> Result<Option<String>, StoreError>;
    /// See [`RawStore::ping`].
    async fn ping(&self) -> Result<(), StoreError>;
}

pub type SharedStore = Arc<dyn RecordStore>;

fn decoded(raw: &StoredRecord) -> Option<AnyRecord> {
    AnyRecord::decode(raw)
        .inspect_err(|e| {
            tracing::error!(kind = raw.kind.as_str(), id = raw.id, error = %crate::error_chain(e), "ignoring a record that does not decode")
        })
        .ok()
}

#[async_trait]
impl<S: RawStore> RecordStore for S {
    async fn create(&self, rec: AnyRecord) -> Result<AnyRecord, StoreError> {
        let raw = rec.encode()?;
        let stored = RawStore::create(self, raw.kind, raw.meta, raw.spec, raw.status).await?;
        AnyRecord::decode(&stored)
    }

    async fn get(&self, kind: Kind, id: u64) -> Result<Option<AnyRecord>, StoreError> {
        RawStore::get(self, kind, id)
            .await?
            .map(|raw| AnyRecord::decode(&raw))
            .transpose()
    }

    async fn list(&self, kind: Kind) -> Result<Vec<AnyRecord>, StoreError> {
        let raws = RawStore::list(self, kind).await?;
        Ok(raws.iter().filter_map(decoded).collect())
    }

    async fn update(
        &self,
        rec: &AnyRecord,
        durability: Durability,
    ) -> Result<AnyRecord, StoreError> {
        let stored = RawStore::update(self, &rec.encode()?, durability).await?;
        AnyRecord::decode(&stored)
    }

    async fn delete(&self, kind: Kind, id: u64, version: u64) -> Result<(), StoreError> {
        RawStore::delete(self, kind, id, version).await
    }

    async fn update_fenced(
        &self,
        rec: &AnyRecord,
        durability: Durability,
        fence: Fence,
    ) -> Result<AnyRecord, StoreError> {
        let stored = RawStore::update_fenced(self, &rec.encode()?, durability, fence).await?;
        AnyRecord::decode(&stored)
    }

    async fn delete_fenced(
        &self,
        kind: Kind,
        id: u64,
        version: u64,
        fence: Fence,
    ) -> Result<(), StoreError> {
        RawStore::delete_fenced(self, kind, id, version, fence).await
    }

    fn watch(&self) -> BoxStream<'static, Change> {
        futures::stream::unfold(RawStore::watch(self), |mut rx| async move {
            let change = match rx.recv().await {
                Ok(RawChange::Applied(raw)) => Change::Applied(Applied(raw)),
                Ok(RawChange::Deleted { kind, id }) => Change::Deleted { kind, id },
                Ok(RawChange::Missed) => Change::Lagged,
                Err(RecvError::Lagged(_)) => Change::Lagged,
                Err(RecvError::Closed) => return None,
            };
            Some((change, rx))
        })
        .boxed()
    }

    async fn put_session_secret(&self, id: u64, secret: &str) -> Result<(), StoreError> {
        RawStore::put_session_secret(self, id, secret).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        RawStore::ping(self).await
    }

    async fn session_secret(&self, id: u64) -> Result<Option<String>, StoreError> {
        RawStore::session_secret(self, id).await
    }
}
