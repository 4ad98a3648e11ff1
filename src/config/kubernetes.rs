//! The `livy.server.kubernetes.*` keys and `livy.server.recovery.state-store`,
//! parsed into [`KubernetesConfig`].

use std::time::Duration;

use super::{ConfigError, Settings, keys};

/// Settings of Kubernetes mode (custom-resource store, `k8s://` masters,
/// leader election). Inert unless the store is `kubernetes` or the master is `k8s://`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubernetesConfig {
    /// `livy.server.recovery.state-store = kubernetes`.
    pub store: bool,
    /// Namespace of the resources, id ConfigMap and Lease; `None`: the client's default.
    pub namespace: Option<String>,
    /// Namespace of Spark driver pods; `None`: the store's namespace.
    pub spark_namespace: Option<String>,
    pub spark_service_account: Option<String>,
    pub id_configmap: String,
    pub leader_election: bool,
    pub lease_name: String,
    pub lease_duration: Duration,
}

pub(crate) fn parse(s: &Settings<'_>) -> Result<KubernetesConfig, ConfigError> {
    let store = match s.value(keys::STATE_STORE).trim() {
        "kubernetes" => true,
        "" | "postgres" => false,
        other => {
            let reason = format!(
                "{other:?} is not supported; use kubernetes or postgres, or leave it empty for the embedded store"
            );
            return Err(s.bad(keys::STATE_STORE, reason));
        }
    };
    let lease_duration = s.duration(keys::K8S_LEASE_DURATION)?;
    s.ensure(
        keys::K8S_LEASE_DURATION,
        lease_duration >= Duration::from_secs(2),
        || "must be at least 2s".to_owned(),
    )?;
    Ok(KubernetesConfig {
        store,
        namespace: s.text(keys::K8S_NAMESPACE),
        spark_namespace: s.text(keys::K8S_SPARK_NAMESPACE),
        spark_service_account: s.text(keys::K8S_SPARK_SERVICE_ACCOUNT),
        id_configmap: object_name(s, keys::K8S_ID_CONFIGMAP)?,
        leader_election: s.flag(keys::K8S_LEADER_ELECTION)?,
        lease_name: object_name(s, keys::K8S_LEASE_NAME)?,
        lease_duration,
    })
}

/// `key`'s value, trimmed, as a Kubernetes object name.
fn object_name(s: &Settings<'_>, key: &'static str) -> Result<String, ConfigError> {
    let v = s.value(key).trim().to_owned();
    let ok = !v.is_empty()
        && v.len() <= 253
        && v.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    s.ensure(key, ok, || {
        "expected a Kubernetes object name (lowercase letters, digits, '-', '.')".to_owned()
    })?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_with(pairs: &[(&'static str, &str)]) -> Result<KubernetesConfig, ConfigError> {
        parse(&crate::config::test_settings(pairs))
    }

    #[test]
    fn defaults_keep_kubernetes_off() {
        let c = parse_with(&[]).unwrap();
        assert!(!c.store && !c.leader_election);
        assert_eq!(
            (c.id_configmap.as_str(), c.lease_name.as_str()),
            ("livy-server-ids", "livy-server")
        );
        assert_eq!(c.lease_duration, Duration::from_secs(15));
        assert_eq!((c.namespace, c.spark_namespace), (None, None));
    }

    #[test]
    fn kubernetes_mode_and_bad_values() {
        let c = parse_with(&[
            (keys::STATE_STORE, "kubernetes"),
            (keys::K8S_NAMESPACE, "livy"),
            (keys::K8S_LEADER_ELECTION, "TRUE"),
            (keys::K8S_LEASE_DURATION, "30s"),
        ])
        .unwrap();
        assert!(c.store && c.leader_election);
        assert_eq!(c.namespace.as_deref(), Some("livy"));
        for (key, value) in [
            (keys::STATE_STORE, "zookeeper"),
            (keys::K8S_LEASE_DURATION, "1s"),
            (keys::K8S_LEADER_ELECTION, "yes"),
            (keys::K8S_ID_CONFIGMAP, "Bad_Name"),
        ] {
            let err = parse_with(&[(key, value)]).unwrap_err().to_string();
            assert!(err.contains(key), "{err}");
        }
    }
}
