//! The default store: one SQLite file in WAL mode under the data dir.
//!
//! A commit that holds a [`Durability::Disk`] write runs with
//! `synchronous=FULL` and is on disk before any of its writes is answered, so
//! a record written before spark-submit runs survives `kill -9` and power loss
//! alike. A group of only [`Durability::Observed`] writes commits with
//! `synchronous=NORMAL`: atomic and kept through a crash of the server, on
//! disk with the next fsync of the write-ahead log (which covers every
//! earlier commit too, so a machine crash can lose only the newest
//! observations, never a write that came before a durable one).
//! Ids come from a counter table that only grows, so they are never reused.

use std::path::Path;
use std::sync::{Arc, mpsc};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::{broadcast, oneshot};

use super::{Durability, RawChange, RawStore, StoreError, StoredRecord};
use crate::records::{Kind, Meta};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS records (
    kind    TEXT    NOT NULL,
    id      INTEGER NOT NULL,
    version INTEGER NOT NULL,
    name    TEXT,
    meta    TEXT    NOT NULL,
    spec    TEXT    NOT NULL,
    status  TEXT    NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE UNIQUE INDEX IF NOT EXISTS records_name ON records(kind, name) WHERE name IS NOT NULL;
CREATE TABLE IF NOT EXISTS next_ids (
    kind TEXT PRIMARY KEY,
    next INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS session_secrets (
    id     INTEGER PRIMARY KEY,
    secret TEXT    NOT NULL
);";

/// Earlier versions kept a session's driver secret in its status document:
/// move it to `session_secrets`, so that a driver started then can still
/// reconnect and the record no longer holds it.
const MOVE_SECRETS_OUT_OF_RECORDS: &str = "
BEGIN;
INSERT OR IGNORE INTO session_secrets(id, secret)
    SELECT id, json_extract(status, '$.secret') FROM records
    WHERE kind = 'session' AND json_extract(status, '$.secret') IS NOT NULL;
UPDATE records SET status = json_remove(status, '$.secret')
    WHERE kind = 'session' AND json_type(status, '$.secret') IS NOT NULL;
COMMIT;";

/// Changes buffered per watcher before a slow one lags (and re-reads).
const CHANGE_BUFFER: usize = 16 * 1024;

/// Writes committed together at most (one fsync for all of them).
const GROUP_MAX: usize = 64;

/// `PRAGMA synchronous` for a commit holding a [`Durability::Disk`] write,
/// and for one holding only [`Durability::Observed`] ones.
const SYNC_FULL: &str = "FULL";
const SYNC_NORMAL: &str = "NORMAL";

#[derive(Clone)]
pub struct EmbeddedStore {
    jobs: mpsc::Sender<Job>,
    changes: broadcast::Sender<RawChange>,
}

/// One piece of work for the store's thread; returns whether it failed
/// (its changes are then rolled back) and what to tell its caller once the
/// group it belongs to is committed (or not).
struct Job {
    durability: Durability,
    run: Box<dyn FnOnce(&Connection) -> Done + Send>,
}

struct Done {
    failed: bool,
    finish: Box<dyn FnOnce(Result<(), String>) + Send>,
}

fn query(action: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |source| StoreError::Query { action, source }
}

impl EmbeddedStore {
    /// Opens (creating if needed) the store file at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let open_err = |source| StoreError::Open {
            path: path.display().to_string(),
            source,
        };
        let conn = Connection::open(path).map_err(open_err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", SYNC_FULL)
            .map_err(open_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(open_err)?;
        conn.execute_batch(SCHEMA).map_err(open_err)?;
        conn.execute_batch(MOVE_SECRETS_OUT_OF_RECORDS)
            .map_err(open_err)?;
        let (changes, _) = broadcast::channel(CHANGE_BUFFER);
        let (jobs, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("livy-store".into())
            .spawn(move || group_commits(&conn, &rx))
            .map_err(|e| StoreError::Thread(e.to_string()))?;
        Ok(Self { jobs, changes })
    }

    /// [`Self::with_conn_as`] for reading: needs no fsync of its own.
    async fn read<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        self.with_conn_as(Durability::Observed, f).await
    }

    /// [`Self::with_conn_as`] with a write that must be on disk.
    async fn with_conn<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        self.with_conn_as(Durability::Disk, f).await
    }

    /// Runs `f` on the store's thread, inside a transaction shared with
    /// whatever other work is waiting, and answers once that transaction
    /// is committed as `durability` asks (one fsync per group, not per
    /// write). A failing `f` has its own changes rolled back, not the group's.
    async fn with_conn_as<R: Send + 'static>(
        &self,
        durability: Durability,
        f: impl FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let (tx, rx) = oneshot::channel();
        let run = Box::new(move |conn: &Connection| {
            let result = f(conn);
            Done {
                failed: result.is_err(),
                finish: Box::new(move |committed| {
                    let _ = tx.send(match committed {
                        Ok(()) => result,
                        Err(reason) => result.and(Err(StoreError::Commit(reason))),
                    });
                }),
            }
        });
        self.jobs
            .send(Job { durability, run })
            .map_err(|_| StoreError::Thread("the store's thread has ended".into()))?;
        rx.await
            .map_err(|_| StoreError::Thread("the store's thread dropped a request".into()))?
    }

    fn notify(&self, change: RawChange) {
        // No receivers is fine: nobody is waiting.
        let _ = self.changes.send(change);
    }
}

/// The store's thread: takes every job waiting (up to [`GROUP_MAX`]), runs
/// each in a savepoint of one transaction, commits once, then answers them.
fn group_commits(conn: &Connection, rx: &mpsc::Receiver<Job>) {
    let mut synchronous = SYNC_FULL;
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < GROUP_MAX {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let wanted = if jobs.iter().any(|j| j.durability == Durability::Disk) {
            SYNC_FULL
        } else {
            SYNC_NORMAL
        };
        let began = if wanted == synchronous {
            Ok(())
        } else {
            conn.pragma_update(None, "synchronous", wanted)
                .map(|()| synchronous = wanted)
        }
        .and_then(|()| conn.execute_batch("BEGIN IMMEDIATE"));
        if let Err(e) = began {
            let reason = e.to_string();
            for job in jobs {
                let done = (job.run)(conn);
                (done.finish)(Err(reason.clone()));
            }
            continue;
        }
        let mut finishes = Vec::with_capacity(jobs.len());
        for job in jobs {
            let _ = conn.execute_batch("SAVEPOINT job");
            let done = (job.run)(conn);
            if done.failed {
                let _ = conn.execute_batch("ROLLBACK TO job");
            }
            let _ = conn.execute_batch("RELEASE job");
            finishes.push(done.finish);
        }
        let committed = conn.execute_batch("COMMIT").map_err(|e| e.to_string());
        if committed.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        for finish in finishes {
            finish(committed.clone());
        }
    }
}

fn encode_meta(kind: Kind, meta: &Meta) -> Result<String, StoreError> {
    serde_json::to_string(meta).map_err(|source| StoreError::Encode { kind, source })
}

fn row_to_record(kind: Kind, row: &rusqlite::Row<'_>) -> rusqlite::Result<RawRow> {
    Ok(RawRow {
        kind,
        id: row.get::<_, i64>(0)? as u64,
        version: row.get::<_, i64>(1)? as u64,
        meta: row.get(2)?,
        spec: row.get(3)?,
        status: row.get(4)?,
    })
}

struct RawRow {
    kind: Kind,
    id: u64,
    version: u64,
    meta: String,
    spec: String,
    status: String,
}

impl RawRow {
    fn decode(self) -> Result<StoredRecord, StoreError> {
        let err = |source| StoreError::Decode {
            kind: self.kind,
            id: self.id,
            source,
        };
        Ok(StoredRecord {
            kind: self.kind,
            id: self.id,
            version: self.version,
            meta: serde_json::from_str(&self.meta).map_err(err)?,
            spec: serde_json::from_str(&self.spec).map_err(err)?,
            status: serde_json::from_str(&self.status).map_err(err)?,
        })
    }
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE)
}

#[async_trait]
impl RawStore for EmbeddedStore {
    async fn create(
        &self,
        kind: Kind,
        meta: Meta,
        spec: serde_json::Value,
        status: serde_json::Value,
    ) -> Result<StoredRecord, StoreError> {
        let meta_json = encode_meta(kind, &meta)?;
        let record = self
            .with_conn(move |conn| {
                let tx = conn;
                let id: i64 = tx
                    .query_row(
                        "SELECT next FROM next_ids WHERE kind = ?1",
                        [kind.as_str()],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(query("read the next id"))?
                    .unwrap_or(0);
                tx.execute(
                    "INSERT INTO next_ids(kind, next) VALUES (?1, ?2)
                     ON CONFLICT(kind) DO UPDATE SET next = excluded.next",
                    params![kind.as_str(), id + 1],
                )
                .map_err(query("advance the id counter"))?;
                let inserted = tx.execute(
                    "INSERT INTO records(kind, id, version, name, meta, spec, status)
                     VALUES (?1, ?2, 1, ?3, ?4, ?5, ?6)",
                    params![
                        kind.as_str(),
                        id,
                        meta.name,
                        meta_json,
                        spec.to_string(),
                        status.to_string()
                    ],
                );
                match inserted {
                    Err(e) if is_unique_violation(&e) => {
                        return Err(StoreError::DuplicateName {
                            kind,
                            name: meta.name.clone().unwrap_or_default(),
                        });
                    }
                    other => other.map_err(query("insert a record"))?,
                };
                Ok(StoredRecord {
                    kind,
                    id: id as u64,
                    version: 1,
                    meta,
                    spec,
                    status,
                })
            })
            .await?;
        self.notify(RawChange::Applied(Arc::new(record.clone())));
        Ok(record)
    }

    async fn get(&self, kind: Kind, id: u64) -> Result<Option<StoredRecord>, StoreError> {
        let row = self
            .read(move |conn| {
                conn.query_row(
                    "SELECT id, version, meta, spec, status FROM records WHERE kind = ?1 AND id = ?2",
                    params![kind.as_str(), id as i64],
                    |row| row_to_record(kind, row),
                )
                .optional()
                .map_err(query("read a record"))
            })
            .await?;
        row.map(RawRow::decode).transpose()
    }

    async fn list(&self, kind: Kind) -> Result<Vec<StoredRecord>, StoreError> {
        let rows = self
            .read(move |conn| {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT id, version, meta, spec, status FROM records WHERE kind = ?1 ORDER BY id",
                    )
                    .map_err(query("prepare the list query"))?;
                let rows = stmt
                    .query_map([kind.as_str()], |row| row_to_record(kind, row))
                    .map_err(query("list records"))?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(query("read listed records"))?;
                Ok(rows)
            })
            .await?;
        rows.into_iter().map(RawRow::decode).collect()
    }

    async fn update(
        &self,
        record: &StoredRecord,
        durability: Durability,
    ) -> Result<StoredRecord, StoreError> {
        let kind = record.kind;
        let meta_json = encode_meta(kind, &record.meta)?;
        let mut next = record.clone();
        next.version = record.version + 1;
        let (id, expected, name) = (record.id, record.version, record.meta.name.clone());
        let (spec, status) = (record.spec.to_string(), record.status.to_string());
        self.with_conn_as(durability, move |conn| {
            let changed = conn
                .execute(
                    "UPDATE records SET version = version + 1, name = ?1, meta = ?2, spec = ?3, status = ?4
                     WHERE kind = ?5 AND id = ?6 AND version = ?7",
                    params![name, meta_json, spec, status, kind.as_str(), id as i64, expected as i64],
                )
                .map_err(query("update a record"))?;
            if changed == 1 {
                return Ok(());
            }
            let exists: Option<i64> = conn
                .query_row(
                    "SELECT version FROM records WHERE kind = ?1 AND id = ?2",
                    params![kind.as_str(), id as i64],
                    |r| r.get(0),
                )
                .optional()
                .map_err(query("check a record's version"))?;
            Err(match exists {
                Some(_) => StoreError::Conflict { kind, id, expected },
                None => StoreError::NotFound { kind, id },
            })
        })
        .await?;
        self.notify(RawChange::Applied(Arc::new(next.clone())));
        Ok(next)
    }

    async fn delete(&self, kind: Kind, id: u64, version: u64) -> Result<(), StoreError> {
        self.with_conn(move |conn| {
            let tx = conn;
            let changed = tx
                .execute(
                    "DELETE FROM records WHERE kind = ?1 AND id = ?2 AND version = ?3",
                    params![kind.as_str(), id as i64, version as i64],
                )
                .map_err(query("delete a record"))?;
            if changed != 1 {
                return Err(StoreError::Conflict {
                    kind,
                    id,
                    expected: version,
                });
            }
            if kind == Kind::Session {
                tx.execute("DELETE FROM session_secrets WHERE id = ?1", [id as i64])
                    .map_err(query("delete a session's driver secret"))?;
            }
            Ok(())
        })
        .await?;
        self.notify(RawChange::Deleted { kind, id });
        Ok(())
    }

    fn watch(&self) -> broadcast::Receiver<RawChange> {
        self.changes.subscribe()
    }

    async fn put_session_secret(&self, id: u64, secret: &str) -> Result<(), StoreError> {
        let secret = secret.to_owned();
        self.with_conn(move |conn| {
            // Only for a session that exists, in one statement (no race with delete).
            let written = conn
                .execute(
                    "INSERT INTO session_secrets(id, secret)
                     SELECT id, ?2 FROM records WHERE kind = 'session' AND id = ?1
                     ON CONFLICT(id) DO UPDATE SET secret = excluded.secret",
                    params![id as i64, secret],
                )
                .map_err(query("store a session's driver secret"))?;
            match written {
                1 => Ok(()),
                _ => Err(StoreError::NotFound {
                    kind: Kind::Session,
                    id,
                }),
            }
        })
        .await
    }

    async fn session_secret(&self, id: u64) -> Result<Option<String>, StoreError> {
        self.read(move |conn| {
            conn.query_row(
                "SELECT secret FROM session_secrets WHERE id = ?1",
                [id as i64],
                |r| r.get(0),
            )
            .optional()
            .map_err(query("read a session's driver secret"))
        })
        .await
    }
}

#[cfg(test)]
mod tests;
