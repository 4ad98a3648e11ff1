//! Driver secrets in Kubernetes mode: one `Secret` per session, named after
//! its `LivySession` and owned by it, so that Kubernetes deletes it with the
//! session and the right to read `livysessions` never reveals it. The server
//! needs `get`, `create` and `update` on secrets, nothing more.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Api, PostParams};
use kube::core::Resource;

use super::KubeStore;
use super::convert::{MANAGED_BY_LABEL, object_name};
use super::helpers::is_status;
use crate::crd::{LABEL_ID, LivySession, MANAGED_BY};
use crate::records::Kind;
use crate::store::StoreError;

/// The data key holding the secret.
pub const SECRET_KEY: &str = "secret";

/// The `Secret` of session `id`: `session-7-driver-secret` for `session-7`.
pub fn secret_name(id: u64) -> String {
    format!("{}-driver-secret", object_name(Kind::Session, id))
}

impl KubeStore {
    fn secrets(&self) -> Api<Secret> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// A controller reference to session `id`'s `LivySession`, whose uid
    /// comes from the last resource seen, else from the API server.
    async fn session_owner(&self, id: u64) -> Result<OwnerReference, StoreError> {
        let kind = Kind::Session;
        let cached = self
            .lock_seen()
            .get(&(kind, id))
            .and_then(|o| o.metadata.uid.clone());
        let uid = match cached {
            Some(uid) => uid,
            None => self
                .api(kind)
                .get_opt(&object_name(kind, id))
                .await
                .map_err(|source| StoreError::KubeGet { kind, id, source })?
                .and_then(|o| o.metadata.uid)
                .ok_or(StoreError::NotFound { kind, id })?,
        };
        Ok(OwnerReference {
            api_version: LivySession::api_version(&()).into_owned(),
            kind: LivySession::kind(&()).into_owned(),
            name: object_name(kind, id),
            uid,
            controller: Some(true),
            block_owner_deletion: None,
        })
    }

    pub(super) async fn write_secret(&self, id: u64, secret: &str) -> Result<(), StoreError> {
        let owner = self.session_owner(id).await?;
        let name = secret_name(id);
        let mut obj = Secret {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some(BTreeMap::from([
                    (LABEL_ID.to_owned(), id.to_string()),
                    (MANAGED_BY_LABEL.to_owned(), MANAGED_BY.to_owned()),
                ])),
                owner_references: Some(vec![owner.clone()]),
                ..ObjectMeta::default()
            },
            type_: Some("Opaque".to_owned()),
            data: Some(BTreeMap::from([(
                SECRET_KEY.to_owned(),
                ByteString(secret.as_bytes().to_vec()),
            )])),
            ..Secret::default()
        };
        let api = self.secrets();
        match api.create(&PostParams::default(), &obj).await {
            Ok(_) => return Ok(()),
            Err(e) if is_status(&e, 409) => {}
            Err(source) => return Err(StoreError::KubeSecretCreate { id, source }),
        }
        // A relaunch: replace our earlier secret, never a foreign Secret of that name.
        let existing = api
            .get(&name)
            .await
            .map_err(|source| StoreError::KubeSecretGet { id, source })?;
        let ours = existing
            .metadata
            .owner_references
            .iter()
            .flatten()
            .any(|o| o.uid == owner.uid);
        if !ours {
            return Err(StoreError::SecretNotOurs { id, name });
        }
        obj.metadata.resource_version = existing.metadata.resource_version;
        api.replace(&name, &PostParams::default(), &obj)
            .await
            .map_err(|source| StoreError::KubeSecretReplace { id, source })?;
        Ok(())
    }

    pub(super) async fn read_secret(&self, id: u64) -> Result<Option<String>, StoreError> {
        let name = secret_name(id);
        let found = self
            .secrets()
            .get_opt(&name)
            .await
            .map_err(|source| StoreError::KubeSecretGet { id, source })?;
        let Some(obj) = found else {
            return Ok(None);
        };
        let value = obj
            .data
            .and_then(|mut d| d.remove(SECRET_KEY))
            .and_then(|ByteString(bytes)| String::from_utf8(bytes).ok())
            .filter(|s| !s.is_empty());
        match value {
            Some(secret) => Ok(Some(secret)),
            None => Err(StoreError::SecretUnreadable { id, name }),
        }
    }
}
