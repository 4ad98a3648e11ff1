//! The Kubernetes store: records are `LivyBatch`/`LivySession` custom
//! resources (see [`crate::crd`]), versions are `resourceVersion`s, status is
//! written through the status subresource, and one watch per kind feeds
//! [`RawStore::watch`].
//!
//! Deleting (a Livy `DELETE` or `kubectl delete`) sets `deletionTimestamp`;
//! our finalizer keeps the resource, the reconciler sees
//! `meta.deletion_requested`, stops the application, then
//! [`RawStore::delete`] removes the finalizer and the resource goes away.
//!
//! A session's driver secret is not in its resource but in a `Secret` the
//! resource owns (`secrets.rs`).

mod convert;
mod events;
mod helpers;
mod ids;
mod secrets;
mod watch;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{Durability, RawChange, RawStore, StoreError, StoredRecord};
use crate::crd::LABEL_ID;
use crate::records::{Kind, Meta};
pub use convert::MANAGED_BY_LABEL;
use convert::{api_resource, finalizers_without_ours, object_name, to_object};
use events::Events;
use helpers::{classify, conditional_delete, is_status, same_meta};
use ids::IdAllocator;
pub use secrets::secret_name;

/// Where the store keeps its resources.
#[derive(Debug, Clone)]
pub struct KubeStoreOptions {
    pub namespace: String,
    /// ConfigMap holding the next Livy id of each kind.
    pub id_configmap: String,
    /// This replica (its pod name), the reporter of events.
    pub instance: String,
}

pub struct KubeStore {
    client: Client,
    namespace: String,
    ids: IdAllocator,
    events: Events,
    changes: broadcast::Sender<RawChange>,
    /// The last resource seen per record. An entry is a fact about one
    /// `resourceVersion` (which never names two states), so a stale entry is
    /// never wrong, only unused: writes look here to skip unchanged parts.
    seen: Mutex<HashMap<(Kind, u64), DynamicObject>>,
}

impl KubeStore {
    pub fn new(client: Client, opts: KubeStoreOptions) -> Self {
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &opts.namespace);
        let (changes, _) = broadcast::channel(16 * 1024);
        Self {
            ids: IdAllocator::new(cms, opts.id_configmap),
            events: Events::new(client.clone(), opts.instance),
            namespace: opts.namespace,
            client,
            changes,
            seen: Mutex::default(),
        }
    }

    /// Starts one watch per kind, feeding [`RawStore::watch`].
    pub fn spawn_watches(&self, tasks: &TaskTracker, cancel: &CancellationToken) {
        for kind in [Kind::Batch, Kind::Session] {
            tasks.spawn(watch::run(
                self.api(kind),
                kind,
                self.changes.clone(),
                cancel.clone(),
            ));
        }
    }

    pub(super) fn api(&self, kind: Kind) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), &self.namespace, &api_resource(kind))
    }

    fn notify(&self, change: RawChange) {
        // No receivers is fine: nobody is waiting.
        let _ = self.changes.send(change);
    }

    fn lock_seen(&self) -> std::sync::MutexGuard<'_, HashMap<(Kind, u64), DynamicObject>> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Remembers `obj` and returns the record it holds.
    fn learn(&self, kind: Kind, obj: DynamicObject) -> Result<Option<StoredRecord>, StoreError> {
        let rec = convert::from_object(kind, &obj)?;
        if let Some(r) = &rec {
            self.lock_seen().insert((kind, r.id), obj);
        }
        Ok(rec)
    }

    /// The resource at exactly `version`, from memory or the API server.
    async fn at_version(
        &self,
        kind: Kind,
        id: u64,
        version: u64,
    ) -> Result<DynamicObject, StoreError> {
        let cached = self.lock_seen().get(&(kind, id)).cloned();
        let obj = match cached {
            Some(o)
                if o.metadata.resource_version.as_deref() == Some(version.to_string().as_str()) =>
            {
                o
            }
            _ => self
                .api(kind)
                .get_opt(&object_name(kind, id))
                .await
                .map_err(|source| StoreError::KubeGet { kind, id, source })?
                .ok_or(StoreError::NotFound { kind, id })?,
        };
        let rv = convert::parse_version(kind, id, obj.metadata.resource_version.as_deref())?;
        if rv != version {
            return Err(StoreError::Conflict {
                kind,
                id,
                expected: version,
            });
        }
        Ok(obj)
    }
}

#[async_trait]
impl RawStore for KubeStore {
    async fn create(
        &self,
        kind: Kind,
        meta: Meta,
        spec: Value,
        status: Value,
    ) -> Result<StoredRecord, StoreError> {
        // Names are checked by the index in front of this store, from
        // memory (Kubernetes has no unique index to enforce them: two
        // replicas creating the same name in the same instant can both
        // succeed).
        let id = self.ids.next(kind, || self.id_floor(kind)).await?;
        let api = self.api(kind);
        let obj = to_object(kind, id, None, &meta, &spec, &status)?;
        let created = api
            .create(&PostParams::default(), &obj)
            .await
            .map_err(|source| StoreError::KubeCreate { kind, id, source })?;
        // The status subresource ignores status on create: write it now.
        let mut with_status = created;
        with_status.data["status"] = status;
        let name = object_name(kind, id);
        let written = match api
            .replace_status(&name, &PostParams::default(), &with_status)
            .await
        {
            Ok(o) => o,
            Err(source) => {
                // Without a status no reconciler will ever see it: delete it
                // (`list` drops the finalizer of such a resource).
                let _ = api.delete(&name, &DeleteParams::default()).await;
                return Err(StoreError::KubeReplaceStatus { kind, id, source });
            }
        };
        self.events.status_written(kind, &written, None).await;
        let rec = self
            .learn(kind, written)?
            .ok_or(StoreError::NotFound { kind, id })?;
        self.notify(RawChange::Applied(Arc::new(rec.clone())));
        Ok(rec)
    }

    async fn get(&self, kind: Kind, id: u64) -> Result<Option<StoredRecord>, StoreError> {
        let found = self
            .api(kind)
            .get_opt(&object_name(kind, id))
            .await
            .map_err(|source| StoreError::KubeGet { kind, id, source })?;
        match found {
            Some(obj) => self.learn(kind, obj),
            None => Ok(None),
        }
    }

    async fn list(&self, kind: Kind) -> Result<Vec<StoredRecord>, StoreError> {
        let objs = self
            .api(kind)
            .list(&ListParams::default().labels(LABEL_ID))
            .await
            .map_err(|source| StoreError::KubeList { kind, source })?;
        let mut out = Vec::new();
        for obj in objs.items {
            match self.learn(kind, obj.clone()) {
                Ok(Some(rec)) => out.push(rec),
                Ok(None) => self.release_orphan(kind, &obj).await,
                Err(e) => {
                    tracing::warn!(kind = kind.as_str(), name = ?obj.metadata.name, error = %e, "skipping a resource that is not a record")
                }
            }
        }
        out.sort_by_key(|r| r.id);
        Ok(out)
    }

    async fn update(
        &self,
        record: &StoredRecord,
        _: Durability,
    ) -> Result<StoredRecord, StoreError> {
        let (kind, id, expected) = (record.kind, record.id, record.version);
        let api = self.api(kind);
        let name = object_name(kind, id);
        let mut obj = self.at_version(kind, id, expected).await?;
        let prev = convert::from_object(kind, &obj)?.ok_or(StoreError::NotFound { kind, id })?;
        let main_changed = prev.spec != record.spec || !same_meta(&prev.meta, &record.meta);
        let delete = record.meta.deletion_requested && !prev.meta.deletion_requested;
        let status_changed = prev.status != record.status;
        if main_changed {
            let fresh = to_object(
                kind,
                id,
                Some(expected),
                &record.meta,
                &record.spec,
                &record.status,
            )?;
            // Keep what others put on the resource (labels, annotations, finalizers).
            let md = &mut obj.metadata;
            md.annotations
                .get_or_insert_default()
                .extend(fresh.metadata.annotations.unwrap_or_default());
            md.labels
                .get_or_insert_default()
                .extend(fresh.metadata.labels.unwrap_or_default());
            obj.data["spec"] = fresh.data["spec"].clone();
            obj = api
                .replace(&name, &PostParams::default(), &obj)
                .await
                .map_err(classify(kind, id, expected, |source| {
                    StoreError::KubeReplace { kind, id, source }
                }))?;
        }
        // A write that changes nothing still checks the version, as the trait promises.
        if status_changed || (!main_changed && !delete) {
            obj.data["status"] = record.status.clone();
            obj = api
                .replace_status(&name, &PostParams::default(), &obj)
                .await
                .map_err(classify(kind, id, expected, |source| {
                    StoreError::KubeReplaceStatus { kind, id, source }
                }))?;
            self.events
                .status_written(kind, &obj, Some(&prev.status))
                .await;
        }
        if delete {
            let dp = conditional_delete(&obj);
            let deleted =
                api.delete(&name, &dp)
                    .await
                    .map_err(classify(kind, id, expected, |source| {
                        StoreError::KubeDelete { kind, id, source }
                    }))?;
            match deleted.left() {
                Some(o) => obj = o,
                None => {
                    // Gone at once (someone removed our finalizer).
                    self.lock_seen().remove(&(kind, id));
                    self.notify(RawChange::Deleted { kind, id });
                    return Ok(StoredRecord {
                        meta: record.meta.clone(),
                        ..record.clone()
                    });
                }
            }
        }
        let rec = self
            .learn(kind, obj)?
            .ok_or(StoreError::NotFound { kind, id })?;
        self.notify(RawChange::Applied(Arc::new(rec.clone())));
        Ok(rec)
    }

    async fn delete(&self, kind: Kind, id: u64, version: u64) -> Result<(), StoreError> {
        let api = self.api(kind);
        let name = object_name(kind, id);
        let mut obj = self.at_version(kind, id, version).await?;
        let conflict = |step: fn(Kind, u64, kube::Error) -> StoreError| {
            classify(kind, id, version, move |source| step(kind, id, source))
        };
        if obj.metadata.deletion_timestamp.is_none() {
            // Finished and past retention: delete, then let the finalizer go.
            let dp = conditional_delete(&obj);
            let deleted = api
                .delete(&name, &dp)
                .await
                .map_err(conflict(|kind, id, source| StoreError::KubeDelete {
                    kind,
                    id,
                    source,
                }))?;
            if let Some(o) = deleted.left() {
                obj = o;
            }
        }
        if obj.metadata.deletion_timestamp.is_some() {
            let others = finalizers_without_ours(&obj);
            let patch = json!({"metadata": {
                // The precondition: nobody changed the resource since we decided.
                "resourceVersion": obj.metadata.resource_version,
                "finalizers": if others.is_empty() { Value::Null } else { json!(others) },
            }});
            match api
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => {}
                Err(e) if is_status(&e, 404) => {}
                Err(e) => {
                    return Err(conflict(|kind, id, source| {
                        StoreError::KubeRemoveFinalizer { kind, id, source }
                    })(e));
                }
            }
        }
        self.lock_seen().remove(&(kind, id));
        self.notify(RawChange::Deleted { kind, id });
        Ok(())
    }

    fn watch(&self) -> broadcast::Receiver<RawChange> {
        self.changes.subscribe()
    }

    async fn put_session_secret(&self, id: u64, secret: &str) -> Result<(), StoreError> {
        self.write_secret(id, secret).await
    }

    async fn session_secret(&self, id: u64) -> Result<Option<String>, StoreError> {
        self.read_secret(id).await
    }
}
