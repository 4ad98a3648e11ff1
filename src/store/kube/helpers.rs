//! Small pieces of the Kubernetes store: error classification, conditional
//! deletes, and the upkeep that is not part of a trait method.

use kube::api::{DeleteParams, DynamicObject, ListParams, Patch, PatchParams, Preconditions};
use serde_json::json;

use super::KubeStore;
use super::convert::finalizers_without_ours;
use crate::crd::LABEL_ID;
use crate::records::{Kind, Meta};
use crate::store::StoreError;

/// Whether `e` is an API error with HTTP status `code`.
pub fn is_status(e: &kube::Error, code: u16) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == code)
}

/// Maps 409 to `Conflict` and 404 to `NotFound`; anything else to `step`.
pub fn classify(
    kind: Kind,
    id: u64,
    expected: u64,
    step: impl FnOnce(kube::Error) -> StoreError,
) -> impl FnOnce(kube::Error) -> StoreError {
    move |e| {
        if is_status(&e, 409) {
            StoreError::Conflict { kind, id, expected }
        } else if is_status(&e, 404) {
            StoreError::NotFound { kind, id }
        } else {
            step(e)
        }
    }
}

/// A DELETE that fails with 409 unless the resource is still at `obj`'s version.
pub fn conditional_delete(obj: &DynamicObject) -> DeleteParams {
    DeleteParams {
        preconditions: Some(Preconditions {
            resource_version: obj.metadata.resource_version.clone(),
            uid: None,
        }),
        ..DeleteParams::default()
    }
}

/// The parts of `Meta` kept in annotations (deletion is the resource's own state).
pub fn same_meta(a: &Meta, b: &Meta) -> bool {
    (&a.name, &a.owner, a.created_at) == (&b.name, &b.owner, b.created_at)
}

impl KubeStore {
    /// The lowest id above every existing resource of `kind` (seeds the counter).
    pub(super) async fn id_floor(&self, kind: Kind) -> Result<u64, StoreError> {
        let objs = self
            .api(kind)
            .list(&ListParams::default().labels(LABEL_ID))
            .await
            .map_err(|source| StoreError::KubeList { kind, source })?;
        Ok(objs
            .items
            .iter()
            .filter_map(|o| {
                o.metadata
                    .labels
                    .as_ref()?
                    .get(LABEL_ID)?
                    .parse::<u64>()
                    .ok()
            })
            .map(|id| id + 1)
            .max()
            .unwrap_or(0))
    }

    /// A resource whose status was never written cannot have an application
    /// (the reconciler never saw it); if it is being deleted, let it go.
    pub(super) async fn release_orphan(&self, kind: Kind, obj: &DynamicObject) {
        let has_ours = obj
            .metadata
            .finalizers
            .iter()
            .flatten()
            .any(|f| f == crate::crd::FINALIZER);
        if obj.metadata.deletion_timestamp.is_none()
            || obj.data.get("status").is_some()
            || !has_ours
        {
            return;
        }
        let Some(name) = obj.metadata.name.as_deref() else {
            return;
        };
        let patch = json!({"metadata": {
            "resourceVersion": obj.metadata.resource_version,
            "finalizers": finalizers_without_ours(obj),
        }});
        if let Err(e) = self
            .api(kind)
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            tracing::warn!(kind = kind.as_str(), name, error = %e, "could not release a half-created resource");
        }
    }
}
