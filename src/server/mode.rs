//! The run mode, decided once from the configuration: where the records
//! are, whether the servers sharing them elect a leader (and through what),
//! and the secret they share. Everything else in `server` asks the mode
//! instead of looking at the configuration again.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::ServeError;
use crate::config::Config;
use crate::config::postgres::PostgresConfig;
use crate::k8s::K8sMode;
use crate::leadership::Leadership;
use crate::store::{EmbeddedStore, PostgresStore, SharedStore};

/// How this server runs.
pub enum Mode {
    /// Alone, on the embedded store in its data dir.
    Embedded(SharedStore),
    /// Servers sharing a PostgreSQL store; they elect one through its lease
    /// row, and keep their shared secret in the database.
    Postgres(Arc<PostgresStore>),
    /// Kubernetes: the records are custom resources (`store`; else the
    /// store configured besides) and/or the replicas elect one through a
    /// `Lease`; their shared secret is a Kubernetes Secret.
    Kubernetes {
        k8s: Arc<K8sMode>,
        store: SharedStore,
    },
}

/// How the servers sharing the records elect the one that reconciles and
/// serves the drivers.
pub enum Election {
    /// A row in the PostgreSQL store.
    Row(Arc<PostgresStore>),
    /// A Kubernetes `Lease`.
    Lease(Arc<K8sMode>),
}

impl Election {
    /// This server's name as a candidate.
    pub fn identity(&self) -> &str {
        match self {
            Election::Row(store) => store.identity(),
            Election::Lease(k8s) => k8s.identity(),
        }
    }
}

impl Mode {
    /// Decides the mode and opens its store. `k8s`: the Kubernetes
    /// connection, when the store is `kubernetes` or the master `k8s://`;
    /// it makes the mode Kubernetes only when it holds the records or
    /// elects (a `k8s://` master alone runs applications, nothing more).
    pub async fn open(
        config: &Config,
        k8s: Option<&Arc<K8sMode>>,
        tasks: &TaskTracker,
        cancel: &CancellationToken,
    ) -> Result<Self, ServeError> {
        let k8s = k8s.filter(|k| k.elects() || config.kubernetes.store);
        if let Some(k8s) = k8s {
            let store = match k8s.store(tasks, cancel) {
                Some(store) => store,
                // Replicas on a Lease, records where configured besides.
                None => match &config.postgres {
                    Some(pg) => connect_postgres(pg).await?,
                    None => open_embedded(config)?,
                },
            };
            let k8s = k8s.clone();
            return Ok(Mode::Kubernetes { k8s, store });
        }
        Ok(match &config.postgres {
            Some(pg) => Mode::Postgres(connect_postgres(pg).await?),
            None => Mode::Embedded(open_embedded(config)?),
        })
    }

    /// Where the records are.
    pub fn store(&self) -> SharedStore {
        match self {
            Mode::Embedded(store) | Mode::Kubernetes { store, .. } => store.clone(),
            Mode::Postgres(store) => store.clone(),
        }
    }

    /// How a leader is elected (`None`: this server always leads).
    pub fn election(&self) -> Option<Election> {
        match self {
            Mode::Embedded(_) => None,
            Mode::Postgres(store) => Some(Election::Row(store.clone())),
            Mode::Kubernetes { k8s, .. } => k8s.elects().then(|| Election::Lease(k8s.clone())),
        }
    }

    /// Whether this server leads: always, or when elected (on standby
    /// until then).
    pub fn leadership(&self) -> Arc<Leadership> {
        match self.election() {
            Some(_) => Leadership::elected(),
            None => Leadership::always(),
        }
    }

    /// The secret the servers sharing the records share (for signed
    /// forwarding and for the conf secrets sealed in records); `None` for a
    /// server alone, which seals with a key in its data dir.
    pub async fn peer_secret(&self) -> Result<Option<String>, ServeError> {
        match self {
            Mode::Embedded(_) => Ok(None),
            Mode::Postgres(store) => store
                .peer_secret()
                .await
                .map(Some)
                .map_err(ServeError::Store),
            Mode::Kubernetes { k8s, .. } => k8s
                .peer_secret()
                .await
                .map(Some)
                .map_err(ServeError::Kubernetes),
        }
    }
}

async fn connect_postgres(pg: &PostgresConfig) -> Result<Arc<PostgresStore>, ServeError> {
    let store = PostgresStore::connect_with(&pg.connect, pg.tls.clone())
        .await
        .map_err(ServeError::Store)?;
    tracing::info!(
        host = ?pg.connect.get_hosts(),
        database = pg.connect.get_dbname(),
        tls = matches!(pg.tls, crate::store::PostgresTls::Tls(_)),
        identity = store.identity(),
        "records are in PostgreSQL; leader election on"
    );
    Ok(store)
}

fn open_embedded(config: &Config) -> Result<SharedStore, ServeError> {
    let store = EmbeddedStore::open(&config.store_path()).map_err(ServeError::Store)?;
    Ok(Arc::new(store))
}
