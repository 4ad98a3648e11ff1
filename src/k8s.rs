//! Kubernetes mode, wired: one client for the custom-resource store, the
//! `k8s://` cluster manager and leader election. `server` asks [`connect`]
//! and uses what it returns; nothing here runs unless configured.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Client;
use kube::api::PostParams;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::cluster::{ClusterManager, K8sManager, K8sOptions};
use crate::config::Config;
use crate::crd::MANAGED_BY;
use crate::launcher::Launcher;
use crate::leader::{LeaseElector, LeaseOptions};
use crate::store::{KubeStore, KubeStoreOptions, MANAGED_BY_LABEL, SharedStore};

/// The data key of the replicas' shared secret.
const PEER_SECRET_KEY: &str = "secret";

#[derive(Debug, thiserror::Error)]
pub enum K8sError {
    #[error("failed to configure the Kubernetes client (in-cluster service account or kubeconfig)")]
    Client(#[source] kube::Error),
    #[error("Secret {name} exists but holds no `secret` key; delete it so a replica can create it")]
    PeerSecretEmpty { name: String },
    #[error("failed to read or create Secret {name} (the replicas' shared secret)")]
    PeerSecret {
        name: String,
        #[source]
        source: kube::Error,
    },
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

    /// Whether replicas elect one to reconcile through a Lease.
    pub fn elects(&self) -> bool {
        self.config.kubernetes.leader_election
    }

    /// This replica's name (its pod's).
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// The elector on the configured Lease, writing `annotations` there
    /// while this replica holds it.
    pub fn lease_elector(&self, annotations: BTreeMap<String, String>) -> LeaseElector {
        let k = &self.config.kubernetes;
        let mut opts = LeaseOptions::new(
            k.lease_name.clone(),
            self.identity.clone(),
            k.lease_duration,
        );
        opts.annotations = annotations;
        LeaseElector::new(
            kube::Api::namespaced(self.client.clone(), &self.namespace),
            opts,
        )
    }

    /// The secret replicas show each other when forwarding, kept in the
    /// Secret `<lease name>-peers` (created by the first replica to need it).
    pub async fn peer_secret(&self) -> Result<String, K8sError> {
        let name = format!("{}-peers", self.config.kubernetes.lease_name);
        let api: kube::Api<Secret> = kube::Api::namespaced(self.client.clone(), &self.namespace);
        let err = |source| K8sError::PeerSecret {
            name: name.clone(),
            source,
        };
        let read = |secret: Secret| {
            secret
                .data
                .and_then(|d| d.get(PEER_SECRET_KEY).map(|v| v.0.clone()))
                .and_then(|v| String::from_utf8(v).ok())
                .filter(|v| !v.is_empty())
        };
        // Two tries: a replica that loses the race to create it reads the winner's.
        for _ in 0..2 {
            if let Some(secret) = api.get_opt(&name).await.map_err(err)?.and_then(read) {
                return Ok(secret);
            }
            let fresh = crate::random_token(32);
            let secret = Secret {
                metadata: ObjectMeta {
                    name: Some(name.clone()),
                    labels: Some(BTreeMap::from([(
                        MANAGED_BY_LABEL.to_owned(),
                        MANAGED_BY.to_owned(),
                    )])),
                    ..ObjectMeta::default()
                },
                type_: Some("Opaque".to_owned()),
                data: Some(BTreeMap::from([(
                    PEER_SECRET_KEY.to_owned(),
                    ByteString(fresh.clone().into_bytes()),
                )])),
                ..Secret::default()
            };
            match api.create(&PostParams::default(), &secret).await {
                Ok(_) => return Ok(fresh),
                Err(kube::Error::Api(s)) if s.code == 409 => continue,
                Err(source) => return Err(err(source)),
            }
        }
        api.get_opt(&name)
            .await
            .map_err(err)?
            .and_then(read)
            .ok_or(K8sError::PeerSecretEmpty { name })
    }
}
