//! Records ↔ custom resources, pure. A record `batch 7` is the `LivyBatch`
//! named `batch-7`, labelled with its id; `Meta` travels in annotations and
//! `metadata.deletionTimestamp`; the resource's `resourceVersion` is the
//! record's version.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{ApiResource, DynamicObject};
use kube::core::Resource;
use serde_json::Value;

use crate::crd::{
    ANNOTATION_CREATED_AT, ANNOTATION_NAME, ANNOTATION_OWNER, FINALIZER, LABEL_ID, LivyBatch,
    LivySession, MANAGED_BY,
};
use crate::records::{Kind, Meta};
use crate::store::{StoreError, StoredRecord};

pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// The spec field holding Livy's id (see [`crate::crd::LivyBatchSpec`]).
const ID_FIELD: &str = "livyId";

/// The API resource (group, version, plural) of a record kind.
pub fn api_resource(kind: Kind) -> ApiResource {
    match kind {
        Kind::Batch => ApiResource::erase::<LivyBatch>(&()),
        Kind::Session => ApiResource::erase::<LivySession>(&()),
    }
}

/// `kind`, as `kubectl` and events call it.
pub fn kind_name(kind: Kind) -> String {
    match kind {
        Kind::Batch => LivyBatch::kind(&()).into_owned(),
        Kind::Session => LivySession::kind(&()).into_owned(),
    }
}

/// The resource name of a record: derived from the id, so `get` is one request.
pub fn object_name(kind: Kind, id: u64) -> String {
    format!("{}-{id}", kind.as_str())
}

/// Parses a `resourceVersion`. Kubernetes calls it opaque, but every API
/// server backed by etcd hands out etcd's revision, an unsigned integer; the
/// store's versions are integers, so anything else is refused loudly.
pub fn parse_version(kind: Kind, id: u64, rv: Option<&str>) -> Result<u64, StoreError> {
    rv.and_then(|v| v.parse().ok())
        .ok_or_else(|| StoreError::ResourceVersion {
            kind,
            id,
            value: rv.unwrap_or_default().to_owned(),
        })
}

/// The resource for a new or updated record. `version` (when updating) is
/// the optimistic-concurrency precondition.
pub fn to_object(
    kind: Kind,
    id: u64,
    version: Option<u64>,
    meta: &Meta,
    spec: &Value,
    status: &Value,
) -> Result<DynamicObject, StoreError> {
    let mut spec = spec.clone();
    let Some(fields) = spec.as_object_mut() else {
        return Err(StoreError::NotAnObject {
            kind,
            id,
            part: "spec",
        });
    };
    fields.insert(ID_FIELD.to_owned(), id.into());
    let mut annotations = BTreeMap::new();
    annotations.insert(
        ANNOTATION_CREATED_AT.to_owned(),
        meta.created_at.to_string(),
    );
    if let Some(name) = &meta.name {
        annotations.insert(ANNOTATION_NAME.to_owned(), name.clone());
    }
    if let Some(owner) = &meta.owner {
        annotations.insert(ANNOTATION_OWNER.to_owned(), owner.clone());
    }
    let labels = BTreeMap::from([
        (LABEL_ID.to_owned(), id.to_string()),
        (MANAGED_BY_LABEL.to_owned(), MANAGED_BY.to_owned()),
    ]);
    let mut obj = DynamicObject::new(&object_name(kind, id), &api_resource(kind));
    obj.metadata = ObjectMeta {
        name: Some(object_name(kind, id)),
        labels: Some(labels),
        annotations: Some(annotations),
        finalizers: Some(vec![FINALIZER.to_owned()]),
        resource_version: version.map(|v| v.to_string()),
        ..ObjectMeta::default()
    };
    obj.data = serde_json::json!({ "spec": spec, "status": status });
    Ok(obj)
}

/// The record a resource holds. `Ok(None)` for a resource that is not one
/// of ours (no id label, a name that does not match its id) or whose status
/// has not been written yet (created a moment ago, or by hand).
pub fn from_object(kind: Kind, obj: &DynamicObject) -> Result<Option<StoredRecord>, StoreError> {
    let md = &obj.metadata;
    let Some(id) = md
        .labels
        .as_ref()
        .and_then(|l| l.get(LABEL_ID))
        .and_then(|v| v.parse::<u64>().ok())
    else {
        return Ok(None);
    };
    if md.name.as_deref() != Some(object_name(kind, id).as_str()) {
        return Ok(None);
    }
    let status = match obj.data.get("status") {
        Some(s) if s.is_object() => s.clone(),
        _ => return Ok(None),
    };
    let mut spec = obj.data.get("spec").cloned().unwrap_or(Value::Null);
    match spec.as_object_mut() {
        Some(fields) => fields.remove(ID_FIELD),
        None => {
            return Err(StoreError::NotAnObject {
                kind,
                id,
                part: "spec",
            });
        }
    };
    let annotation = |key: &str| md.annotations.as_ref().and_then(|a| a.get(key)).cloned();
    let meta = Meta {
        name: annotation(ANNOTATION_NAME),
        owner: annotation(ANNOTATION_OWNER),
        created_at: annotation(ANNOTATION_CREATED_AT)
            .and_then(|v| v.parse().ok())
            .or_else(|| {
                let t = md.creation_timestamp.as_ref()?;
                u64::try_from(t.0.as_millisecond()).ok()
            })
            .unwrap_or(0),
        // `kubectl delete` and our own DELETE both set it; the finalizer keeps
        // the resource until the reconciler has stopped the application.
        deletion_requested: md.deletion_timestamp.is_some(),
    };
    Ok(Some(StoredRecord {
        kind,
        id,
        version: parse_version(kind, id, md.resource_version.as_deref())?,
        meta,
        spec,
        status,
    }))
}

/// The finalizers of `obj` without ours.
pub fn finalizers_without_ours(obj: &DynamicObject) -> Vec<String> {
    obj.metadata
        .finalizers
        .iter()
        .flatten()
        .filter(|f| f.as_str() != FINALIZER)
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn meta() -> Meta {
        Meta {
            name: Some("nightly etl".into()),
            owner: Some("alice".into()),
            created_at: 1_700_000_000_123,
            deletion_requested: false,
        }
    }

    #[test]
    fn a_record_survives_the_round_trip() {
        let spec = json!({"file": "local:///pi.py", "args": ["10"]});
        let status = json!({"state": "running", "appId": "spark-1"});
        let mut obj = to_object(Kind::Batch, 7, Some(41), &meta(), &spec, &status).unwrap();
        assert_eq!(obj.metadata.name.as_deref(), Some("batch-7"));
        assert_eq!(obj.data["spec"]["livyId"], 7);
        assert_eq!(obj.metadata.finalizers, Some(vec![FINALIZER.to_owned()]));
        let rec = from_object(Kind::Batch, &obj).unwrap().unwrap();
        assert_eq!((rec.id, rec.version), (7, 41));
        assert_eq!((rec.meta, rec.spec, rec.status), (meta(), spec, status));
        obj.metadata.deletion_timestamp = obj.metadata.creation_timestamp.clone().or(Some(
            k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
            ),
        ));
        let rec = from_object(Kind::Batch, &obj).unwrap().unwrap();
        assert!(
            rec.meta.deletion_requested,
            "deletionTimestamp means deletion requested"
        );
    }

    #[test]
    fn foreign_or_half_created_resources_are_not_records() {
        let obj = to_object(Kind::Session, 3, Some(5), &meta(), &json!({}), &json!({})).unwrap();
        let mut no_status = obj.clone();
        no_status.data.as_object_mut().unwrap().remove("status");
        assert_eq!(from_object(Kind::Session, &no_status).unwrap(), None);
        let mut renamed = obj.clone();
        renamed.metadata.name = Some("my-session".into());
        assert_eq!(from_object(Kind::Session, &renamed).unwrap(), None);
        let mut unlabelled = obj.clone();
        unlabelled.metadata.labels = None;
        assert_eq!(from_object(Kind::Session, &unlabelled).unwrap(), None);
        let mut odd_version = obj;
        odd_version.metadata.resource_version = Some("not-a-number".into());
        assert!(matches!(
            from_object(Kind::Session, &odd_version),
            Err(StoreError::ResourceVersion { .. })
        ));
    }
}
