//! The `livy.server.kubernetes.*` keys and `livy.server.recovery.state-store`,
//! parsed into [`KubernetesConfig`].

use std::time::Duration;

use super::{ConfigError, keys, parse_duration};

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

/// `get(key)` returns the raw value and where it came from.
pub fn parse(
    get: &dyn Fn(&'static str) -> (String, String),
) -> Result<KubernetesConfig, ConfigError> {
    let bad = |key: &'static str, reason: String| super::bad_value(get, key, reason);
    let text = |key| super::text_value(get, key);
    let store = match get(keys::STATE_STORE).0.trim() {
        "kubernetes" => true,
        "" | "postgres" => false,
        other => {
            return Err(bad(
                keys::STATE_STORE,
                format!(
                    "{other:?} is not supported; use kubernetes or postgres, or leave it empty for the embedded store"
                ),
            ));
        }
    };
    let leader_election = match get(keys::K8S_LEADER_ELECTION)
        .0
        .to_ascii_lowercase()
        .as_str()
    {
        "true" => true,
        "false" => false,
        _ => {
            return Err(bad(
                keys::K8S_LEADER_ELECTION,
                "expected true or false".to_owned(),
            ));
        }
    };
    let lease_duration = parse_duration(&get(keys::K8S_LEASE_DURATION).0)
        .map_err(|reason| bad(keys::K8S_LEASE_DURATION, reason))?;
    if lease_duration < Duration::from_secs(2) {
        return Err(bad(
            keys::K8S_LEASE_DURATION,
            "must be at least 2s".to_owned(),
        ));
    }
    let name = |key: &'static str| -> Result<String, ConfigError> {
        let v = get(key).0.trim().to_owned();
        let ok = !v.is_empty()
            && v.len() <= 253
            && v.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
        if ok {
            Ok(v)
        } else {
            Err(bad(
                key,
                "expected a Kubernetes object name (lowercase letters, digits, '-', '.')"
                    .to_owned(),
            ))
        }
    };
    Ok(KubernetesConfig {
        store,
        namespace: text(keys::K8S_NAMESPACE),
        spark_namespace: text(keys::K8S_SPARK_NAMESPACE),
        spark_service_account: text(keys::K8S_SPARK_SERVICE_ACCOUNT),
        id_configmap: name(keys::K8S_ID_CONFIGMAP)?,
        leader_election,
        lease_name: name(keys::K8S_LEASE_NAME)?,
        lease_duration,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_with(pairs: &[(&'static str, &str)]) -> Result<KubernetesConfig, ConfigError> {
        parse(&crate::config::test_get(pairs))
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
