//! The PostgreSQL record store (`livy.server.recovery.state-store = postgres`):
//! the same documents and rules as the embedded store, in a database several
//! servers can share.
//!
//! - Ids come from a counter row per kind, advanced in the statement that
//!   inserts the record, so they are unique across servers and never reused.
//! - Updates and deletes name the version they read; a stale one conflicts.
//! - A trigger announces every committed change with `NOTIFY livy_records`;
//!   each store LISTENs on a connection of its own and passes other servers'
//!   changes to its watchers (its own are announced when they are written).
//! - `Observed` writes go through a second connection with
//!   `synchronous_commit = off`: committed and visible at once, on disk with
//!   the server's next WAL flush, as the embedded store does with SQLite.
//! - The schema is kept in `migrations/postgres/`, applied in order at
//!   connect, under an advisory lock so servers starting together apply each
//!   once.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::broadcast;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Row};

mod feed;
mod link;
mod schema;
mod tls;

pub use link::Link;
use link::connect;
pub use tls::{Connector, Verify};

use super::{Durability, Fence, RawChange, RawStore, StoreError, StoredRecord};
use crate::records::{Kind, Meta};

const CHANNEL: &str = "livy_records";
/// The condition of a fenced write: `$term` is still the lease's, held by
/// this server, and not expired by the database's clock.
const FENCE: &str = "EXISTS (SELECT 1 FROM livy_leader
     WHERE id = 1 AND term = $TERM AND holder = current_setting('application_name')
       AND expires_at > now())";

pub struct PostgresStore {
    /// Reads and writes that must be on disk before they are answered.
    durable: Link,
    /// `Observed` writes (`synchronous_commit = off`).
    observed: Link,
    changes: broadcast::Sender<RawChange>,
    /// This store's `application_name`: its notifications, its lease.
    me: String,
    config: tokio_postgres::Config,
    tls: Connector,
}

fn pg(action: &'static str) -> impl FnOnce(tokio_postgres::Error) -> StoreError {
    move |source| StoreError::Postgres { action, source }
}

impl PostgresStore {
    /// Connects without TLS (see [`PostgresStore::connect_with`]).
    pub async fn connect(config: &tokio_postgres::Config) -> Result<Arc<Self>, StoreError> {
        Self::connect_with(config, Connector::Plain).await
    }

    /// Connects (three connections: durable, observed, listening), applies
    /// what the schema lacks, and starts passing other servers' changes on.
    /// Each connection is opened again when lost (see [`link`]).
    pub async fn connect_with(
        config: &tokio_postgres::Config,
        tls: Connector,
    ) -> Result<Arc<Self>, StoreError> {
        // Unique per store instance: its own notifications are skipped.
        let me = format!(
            "livy-server-{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        );
        {
            let mut migrating = connect(config, &tls, &me, None).await?;
            schema::migrate(&mut migrating).await?;
        }
        let durable = Link::open(config, &tls, &me, "records", "").await?;
        let observed = Link::open(
            config,
            &tls,
            &me,
            "unsynchronised writes",
            "SET synchronous_commit = off",
        )
        .await?;
        let (changes, _) = broadcast::channel(4096);
        let listening = feed::listen(config, &tls, &me).await?;
        let store = Arc::new(Self {
            durable,
            observed,
            changes,
            me: me.clone(),
            config: config.clone(),
            tls,
        });
        tokio::spawn(feed::follow(Arc::downgrade(&store), listening));
        Ok(store)
    }

    /// This store's identity: the `application_name` of its connections,
    /// and its name as a leader.
    pub fn identity(&self) -> &str {
        &self.me
    }

    /// A connection of its own (under this store's identity), for work that
    /// must not queue behind records: leader election. It is opened again
    /// when lost, as the store's own.
    pub async fn side_connection(&self) -> Result<Link, StoreError> {
        // Lease renewals need not wait for the disk: a renewal lost in a
        // database crash only ends a term early (the row is the truth every
        // fenced write is checked against), and a loaded disk must not
        // delay an election past the lease.
        Link::open(
            &self.config,
            &self.tls,
            &self.me,
            "election",
            "SET synchronous_commit = off",
        )
        .await
    }

    /// The secret the servers on this database show each other when one
    /// forwards a call to another: made by the first server, kept in the
    /// database (which only the servers can read).
    pub async fn peer_secret(&self) -> Result<String, StoreError> {
        let fresh = crate::random_token(32);
        let durable = self.durable.client().await?;
        durable
            .execute(
                "INSERT INTO livy_cluster (id, peer_secret) VALUES (1, $1)
                 ON CONFLICT (id) DO NOTHING",
                &[&fresh],
            )
            .await
            .map_err(pg("make the servers' shared secret"))?;
        let row = durable
            .query_one("SELECT peer_secret FROM livy_cluster WHERE id = 1", &[])
            .await
            .map_err(pg("read the servers' shared secret"))?;
        Ok(row.get(0))
    }

    fn notify(&self, change: RawChange) {
        let _ = self.changes.send(change);
    }

    async fn client(&self, durability: Durability) -> Result<Arc<Client>, StoreError> {
        match durability {
            Durability::Disk => self.durable.client().await,
            Durability::Observed => self.observed.client().await,
        }
    }
}

fn from_row(kind: Kind, row: &Row) -> Result<StoredRecord, StoreError> {
    let id = row.get::<_, i64>("id") as u64;
    let decode = |source| StoreError::Decode { kind, id, source };
    Ok(StoredRecord {
        kind,
        id,
        version: row.get::<_, i64>("version") as u64,
        meta: serde_json::from_value(row.get("meta")).map_err(decode)?,
        spec: row.get("spec"),
        status: row.get("status"),
    })
}

fn meta_json(kind: Kind, meta: &Meta) -> Result<serde_json::Value, StoreError> {
    serde_json::to_value(meta).map_err(|source| StoreError::Encode { kind, source })
}

impl PostgresStore {
    /// An update, under `fence` if given (in the same statement, so no
    /// write lands after the term ends).
    async fn write(
        &self,
        record: &StoredRecord,
        durability: Durability,
        fence: Option<Fence>,
    ) -> Result<StoredRecord, StoreError> {
        let (kind, id, expected) = (record.kind, record.id, record.version);
        let m = meta_json(kind, &record.meta)?;
        let term = fence.map(|f| f.term as i64);
        let sql = format!(
            "UPDATE livy_records
             SET version = version + 1, name = $1, meta = $2, spec = $3, status = $4
             WHERE kind = $5 AND id = $6 AND version = $7
               AND ($8::bigint IS NULL OR {})",
            FENCE.replace("$TERM", "$8")
        );
        let changed = self
            .client(durability)
            .await?
            .execute(
                &sql,
                &[
                    &record.meta.name,
                    &m,
                    &record.spec,
                    &record.status,
                    &kind.as_str(),
                    &(id as i64),
                    &(expected as i64),
                    &term,
                ],
            )
            .await;
        match changed {
            Ok(1) => {}
            Ok(_) => return Err(self.why_not_written(kind, id, expected, fence).await),
            Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                return Err(StoreError::DuplicateName {
                    kind,
                    name: record.meta.name.clone().unwrap_or_default(),
                });
            }
            Err(e) => return Err(pg("update a record")(e)),
        }
        let mut next = record.clone();
        next.version = expected + 1;
        self.notify(RawChange::Applied(Arc::new(next.clone())));
        Ok(next)
    }

    async fn remove(
        &self,
        kind: Kind,
        id: u64,
        version: u64,
        fence: Option<Fence>,
    ) -> Result<(), StoreError> {
        // The trigger deletes a session's secret with its row.
        let sql = format!(
            "DELETE FROM livy_records WHERE kind = $1 AND id = $2 AND version = $3
               AND ($4::bigint IS NULL OR {})",
            FENCE.replace("$TERM", "$4")
        );
        let term = fence.map(|f| f.term as i64);
        let changed = self
            .durable
            .client()
            .await?
            .execute(
                &sql,
                &[&kind.as_str(), &(id as i64), &(version as i64), &term],
            )
            .await
            .map_err(pg("delete a record"))?;
        if changed != 1 {
            return Err(self.why_not_written(kind, id, version, fence).await);
        }
        self.notify(RawChange::Deleted { kind, id });
        Ok(())
    }

    /// Why a versioned write changed no row: the term is over, the record
    /// is gone, or someone else wrote first.
    async fn why_not_written(
        &self,
        kind: Kind,
        id: u64,
        expected: u64,
        fence: Option<Fence>,
    ) -> StoreError {
        if let Some(fence) = fence {
            let sql = format!("SELECT {}", FENCE.replace("$TERM", "$1"));
            let durable = match self.durable.client().await {
                Ok(c) => c,
                Err(e) => return e,
            };
            match durable.query_one(&sql, &[&(fence.term as i64)]).await {
                Ok(row) if row.get::<_, bool>(0) => {}
                Ok(_) => return StoreError::Fenced { term: fence.term },
                Err(e) => return pg("check the leader's term")(e),
            }
        }
        match self.get(kind, id).await {
            Ok(Some(_)) => StoreError::Conflict { kind, id, expected },
            Ok(None) => StoreError::NotFound { kind, id },
            Err(e) => e,
        }
    }
}

#[async_trait]
impl RawStore for PostgresStore {
    async fn create(
        &self,
        kind: Kind,
        meta: Meta,
        spec: serde_json::Value,
        status: serde_json::Value,
    ) -> Result<StoredRecord, StoreError> {
        let m = meta_json(kind, &meta)?;
        let inserted = self
            .durable
            .client()
            .await?
            .query_one(
                "WITH n AS (
                     UPDATE livy_next_ids SET next_id = next_id + 1 WHERE kind = $1
                     RETURNING next_id - 1 AS id)
                 INSERT INTO livy_records (kind, id, version, name, meta, spec, status)
                 SELECT $1, n.id, 1, $2, $3, $4, $5 FROM n
                 RETURNING id",
                &[&kind.as_str(), &meta.name, &m, &spec, &status],
            )
            .await;
        let id = match inserted {
            Ok(row) => row.get::<_, i64>(0) as u64,
            Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                return Err(StoreError::DuplicateName {
                    kind,
                    name: meta.name.unwrap_or_default(),
                });
            }
            Err(e) => return Err(pg("insert a record")(e)),
        };
        let record = StoredRecord {
            kind,
            id,
            version: 1,
            meta,
            spec,
            status,
        };
        self.notify(RawChange::Applied(Arc::new(record.clone())));
        Ok(record)
    }

    async fn get(&self, kind: Kind, id: u64) -> Result<Option<StoredRecord>, StoreError> {
        self.durable
            .client()
            .await?
            .query_opt(
                "SELECT id, version, meta, spec, status FROM livy_records
                 WHERE kind = $1 AND id = $2",
                &[&kind.as_str(), &(id as i64)],
            )
            .await
            .map_err(pg("read a record"))?
            .map(|row| from_row(kind, &row))
            .transpose()
    }

    async fn list(&self, kind: Kind) -> Result<Vec<StoredRecord>, StoreError> {
        self.durable
            .client()
            .await?
            .query(
                "SELECT id, version, meta, spec, status FROM livy_records
                 WHERE kind = $1 ORDER BY id",
                &[&kind.as_str()],
            )
            .await
            .map_err(pg("list records"))?
            .iter()
            .map(|row| from_row(kind, row))
            .collect()
    }

    async fn update(
        &self,
        record: &StoredRecord,
        durability: Durability,
    ) -> Result<StoredRecord, StoreError> {
        self.write(record, durability, None).await
    }

    async fn update_fenced(
        &self,
        record: &StoredRecord,
        durability: Durability,
        fence: Fence,
    ) -> Result<StoredRecord, StoreError> {
        self.write(record, durability, Some(fence)).await
    }

    async fn delete(&self, kind: Kind, id: u64, version: u64) -> Result<(), StoreError> {
        self.remove(kind, id, version, None).await
    }

    async fn delete_fenced(
        &self,
        kind: Kind,
        id: u64,
        version: u64,
        fence: Fence,
    ) -> Result<(), StoreError> {
        self.remove(kind, id, version, Some(fence)).await
    }

    fn watch(&self) -> broadcast::Receiver<RawChange> {
        self.changes.subscribe()
    }

    async fn put_session_secret(&self, id: u64, secret: &str) -> Result<(), StoreError> {
        // Only for a session that exists, in one statement (no race with delete).
        let written = self
            .durable
            .client()
            .await?
            .execute(
                "INSERT INTO livy_session_secrets (id, secret)
                 SELECT $1, $2 WHERE EXISTS
                     (SELECT 1 FROM livy_records WHERE kind = 'session' AND id = $1)
                 ON CONFLICT (id) DO UPDATE SET secret = excluded.secret",
                &[&(id as i64), &secret],
            )
            .await
            .map_err(pg("store a session's driver secret"))?;
        if written == 1 {
            Ok(())
        } else {
            Err(StoreError::NotFound {
                kind: Kind::Session,
                id,
            })
        }
    }

    async fn session_secret(&self, id: u64) -> Result<Option<String>, StoreError> {
        Ok(self
            .durable
            .client()
            .await?
            .query_opt(
                "SELECT secret FROM livy_session_secrets WHERE id = $1",
                &[&(id as i64)],
            )
            .await
            .map_err(pg("read a session's driver secret"))?
            .map(|row| row.get(0)))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.durable
            .client()
            .await?
            .simple_query("SELECT 1")
            .await
            .map(|_| ())
            .map_err(pg("check that the database answers"))
    }
}
