//! The change feed: a connection of its own LISTENs for the trigger's
//! notices and passes other servers' changes to the store's watchers; when
//! it is lost it is opened again (with backoff) and the watchers are told
//! changes were missed, so they read every record again.

use std::sync::Arc;

use tokio_postgres::Client;

use super::{CHANNEL, Connector, PostgresStore, connect, link, pg};
use crate::records::Kind;
use crate::store::{RawChange, RawStore, StoreError};

type Notices = tokio::sync::mpsc::UnboundedReceiver<tokio_postgres::Notification>;

/// A connection that LISTENs for changes, and what it hears.
pub(super) async fn listen(
    config: &tokio_postgres::Config,
    tls: &Connector,
    me: &str,
) -> Result<(Client, Notices), StoreError> {
    let (tx, notices) = tokio::sync::mpsc::unbounded_channel();
    let listener = connect(config, tls, me, Some(tx)).await?;
    listener
        .batch_execute(&format!("LISTEN {CHANNEL}"))
        .await
        .map_err(pg("listen for changes"))?;
    Ok((listener, notices))
}

/// Passes other servers' changes on while the store lives; when the
/// listening connection is lost, opens another (with backoff) and tells the
/// watchers that changes were missed, so they read everything again.
pub(super) async fn follow(
    store: std::sync::Weak<PostgresStore>,
    mut listening: (Client, Notices),
) {
    loop {
        let (listener, mut notices) = listening;
        while let Some(n) = notices.recv().await {
            let Some(store) = store.upgrade() else { return };
            store.pass_on(n.payload(), &store.me).await;
        }
        drop(listener);
        let mut failures = 0;
        listening = loop {
            let Some(store) = store.upgrade() else { return };
            match listen(&store.config, &store.tls, &store.me).await {
                Ok(open) => break open,
                Err(e) => {
                    failures += 1;
                    tracing::warn!(error = %crate::error_chain(&e), "cannot listen for changes; retrying");
                }
            }
            drop(store);
            tokio::time::sleep(link::backoff(failures.max(1))).await;
        };
        let Some(store) = store.upgrade() else { return };
        tracing::info!("listening for changes again; the watchers read every record");
        let _ = store.changes.send(RawChange::Missed);
    }
}

impl PostgresStore {
    /// Announces another server's change (read back from the table, so the
    /// watchers get the record as committed, or its deletion).
    async fn pass_on(&self, payload: &str, me: &str) {
        #[derive(serde::Deserialize)]
        struct Notice {
            kind: Kind,
            id: u64,
            deleted: bool,
            by: String,
        }
        let notice: Notice = match serde_json::from_str(payload) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(payload, error = %e, "unreadable change notification");
                return;
            }
        };
        if notice.by == me {
            return;
        }
        let change = if notice.deleted {
            RawChange::Deleted {
                kind: notice.kind,
                id: notice.id,
            }
        } else {
            match self.get(notice.kind, notice.id).await {
                Ok(Some(rec)) => RawChange::Applied(Arc::new(rec)),
                // Deleted since: its own notice follows.
                Ok(None) => return,
                // The change is not lost: the watchers read everything
                // again (with retries), once the store answers.
                Err(e) => {
                    tracing::warn!(error = %crate::error_chain(&e), "could not read a changed record; the watchers read every record again");
                    RawChange::Missed
                }
            }
        };
        let _ = self.changes.send(change);
    }
}
