//! The PostgreSQL store's schema: `migrations/postgres/`, applied in order at
//! connect, under an advisory lock so servers starting together apply each
//! once.

use tokio_postgres::Client;

use super::pg;
use crate::store::StoreError;

/// The schema, in order; a database records which it has.
const MIGRATIONS: &[(i32, &str)] = &[
    (
        1,
        include_str!("../../../migrations/postgres/0001_records.sql"),
    ),
    (
        2,
        include_str!("../../../migrations/postgres/0002_leader.sql"),
    ),
];
/// The advisory lock held while migrating (any fixed number of ours).
const MIGRATION_LOCK: i64 = 0x6c69_7679_0001;

/// Applies the migrations the database lacks, each in its own transaction,
/// under an advisory lock.
pub(super) async fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let tx = client
        .transaction()
        .await
        .map_err(pg("begin the schema migration"))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(pg("lock the schema for migration"))?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS livy_schema (
             version integer PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .await
    .map_err(pg("create the schema table"))?;
    let have: Option<i32> = tx
        .query_one("SELECT max(version) FROM livy_schema", &[])
        .await
        .map_err(pg("read the schema version"))?
        .get(0);
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| Some(*v) > have) {
        tx.batch_execute(sql)
            .await
            .map_err(pg("apply a migration"))?;
        tx.execute("INSERT INTO livy_schema (version) VALUES ($1)", &[version])
            .await
            .map_err(pg("record a migration"))?;
        tracing::info!(version, "PostgreSQL store schema migrated");
    }
    tx.commit().await.map_err(pg("commit the schema migration"))
}
