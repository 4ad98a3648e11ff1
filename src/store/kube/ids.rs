//! Livy ids for records, allocated without collisions by any number of
//! replicas: one ConfigMap holds the next id of each kind, and every
//! allocation is a read followed by a write conditioned on the read's
//! `resourceVersion`. A 409 means another replica allocated first: read again.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, PostParams};

use super::helpers::is_status;
use crate::records::Kind;
use crate::store::StoreError;

/// Attempts before giving up; each loses only to a replica that succeeded.
const MAX_ATTEMPTS: u32 = 20;

pub struct IdAllocator {
    api: Api<ConfigMap>,
    name: String,
}

impl IdAllocator {
    pub fn new(api: Api<ConfigMap>, name: String) -> Self {
        Self { api, name }
    }

    /// The next id of `kind`. `floor` is called only when the counter has no
    /// entry for `kind` (first use, or the ConfigMap was lost) and returns the
    /// lowest id not taken by an existing resource.
    pub async fn next<F, Fut>(&self, kind: Kind, floor: F) -> Result<u64, StoreError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<u64, StoreError>>,
    {
        let key = kind.as_str();
        for attempt in 0..MAX_ATTEMPTS {
            if attempt > 0 {
                // Spread racing replicas apart a little.
                let jitter = rand::random::<u64>() % (10 * u64::from(attempt) + 1);
                tokio::time::sleep(Duration::from_millis(jitter)).await;
            }
            let current = self
                .api
                .get_opt(&self.name)
                .await
                .map_err(|source| StoreError::IdCounterRead { kind, source })?;
            let (mut cm, exists) = match current {
                Some(cm) => (cm, true),
                None => (self.fresh(), false),
            };
            let data = cm.data.get_or_insert_with(BTreeMap::new);
            let id = match data.get(key).and_then(|v| v.parse::<u64>().ok()) {
                Some(next) => next,
                None => floor().await?,
            };
            data.insert(key.to_owned(), (id + 1).to_string());
            let written = if exists {
                self.api
                    .replace(&self.name, &PostParams::default(), &cm)
                    .await
            } else {
                self.api.create(&PostParams::default(), &cm).await
            };
            match written {
                Ok(_) => return Ok(id),
                // Another replica wrote (or created) the counter first.
                Err(e) if is_status(&e, 409) => {
                    tracing::debug!(
                        kind = key,
                        attempt,
                        "id counter changed concurrently; retrying"
                    );
                }
                Err(source) => return Err(StoreError::IdCounterWrite { kind, source }),
            }
        }
        Err(StoreError::IdCounterContended {
            kind,
            attempts: MAX_ATTEMPTS,
        })
    }

    fn fresh(&self) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                labels: Some(BTreeMap::from([(
                    "app.kubernetes.io/managed-by".to_owned(),
                    crate::crd::MANAGED_BY.to_owned(),
                )])),
                ..ObjectMeta::default()
            },
            ..ConfigMap::default()
        }
    }
}
