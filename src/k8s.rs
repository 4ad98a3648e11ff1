//! Kubernetes mode, wired: one client for the custom-resource store, the
//! `k8s://` cluster manager and leader election. `server` asks [`connect`]
//! and uses what it returns; nothing here runs unless configured.

use std::sync::Arc;

use kube::Client;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::cluster::{ClusterManager, K8sManager, K8sOptions};
use crate::config::Config;
use crate::launcher::Launcher;
use crate::leader::{LeaseElector, LeaseOptions};
use crate::reconcile::Reconciler;
use crate::store::{KubeStore, KubeStoreOptions, SharedStore};

#[derive(Debug, thiserror::Error)]
pub enum K8sError {
    #[error("failed to configure the Kubernetes client (in-cluster service account or kubeconfig)")]
    Client(#[source] kube::Error),
}

/// A connected Kubernetes mode.
pub struct K8sMode {
    client: Client,
    config: Arc<Config>,
    /// Namespace of the resources, ConfigMap and Lease.
    namespace: String,
    identity: String,
}

/// `Some` when the store is `kubernetes` or the master is `k8s://`.
pub async fn connect(config: &Arc<Config>) -> Result<Option<K8sMode>, K8sError> {
    if !config.kubernetes.store && !config.spark_master.starts_with("k8s://") {
        return Ok(None);
    }
    let client = Client::try_default().await.map_err(K8sError::Client)?;
    Ok(Some(K8sMode::new(client, config.clone())))
}

/// This replica's name: the pod name (a pod's hostname), else the host name.
fn identity() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| format!("livy-server-{}", std::process::id()))
}

impl K8sMode {
    pub fn new(client: Client, config: Arc<Config>) -> Self {
        let namespace = config
            .kubernetes
            .namespace
            .clone()
            .unwrap_or_else(|| client.default_namespace().to_owned());
        Self {
            client,
            config,
            namespace,
            identity: identity(),
        }
    }

    /// The custom-resource store, if configured, with its watches running.
    pub fn store(&self, tasks: &TaskTracker, cancel: &CancellationToken) -> Option<SharedStore> {
        if !self.config.kubernetes.store {
            return None;
        }
        let store = KubeStore::new(
            self.client.clone(),
            KubeStoreOptions {
                namespace: self.namespace.clone(),
                id_configmap: self.config.kubernetes.id_configmap.clone(),
                instance: self.identity.clone(),
            },
        );
        store.spawn_watches(tasks, cancel);
        tracing::info!(namespace = %self.namespace, "records are LivyBatch/LivySession resources");
        Some(Arc::new(store))
    }

    /// The `k8s://` cluster manager, if the master is one, with its pod watch running.
    pub fn manager(
        &self,
        launcher: Arc<Launcher>,
        tasks: &TaskTracker,
        cancel: &CancellationToken,
    ) -> Option<Arc<dyn ClusterManager>> {
        if !self.config.spark_master.starts_with("k8s://") {
            return None;
        }
        let k = &self.config.kubernetes;
        let opts = K8sOptions {
            namespace: k
                .spark_namespace
                .clone()
                .unwrap_or_else(|| self.namespace.clone()),
            service_account: k.spark_service_account.clone(),
            kill_grace: self.config.kill_grace,
        };
        Some(Arc::new(K8sManager::spawn(
            self.client.clone(),
            launcher,
            opts,
            tasks,
            cancel,
        )))
    }

    /// Runs the reconciler: always, or only while this replica holds the Lease.
    pub async fn reconcile(
        self: Arc<Self>,
        reconciler: Arc<Reconciler>,
        cancel: CancellationToken,
    ) {
        let k = &self.config.kubernetes;
        if !k.leader_election {
            return reconciler.run(cancel).await;
        }
        let opts = LeaseOptions::new(
            k.lease_name.clone(),
            self.identity.clone(),
            k.lease_duration,
        );
        let api = kube::Api::namespaced(self.client.clone(), &self.namespace);
        LeaseElector::new(api, opts)
            .run(cancel, move |token| reconciler.clone().run(token))
            .await;
    }
}
