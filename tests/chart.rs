//! The Helm chart, rendered by Helm's own engine (hack/chart_render.py,
//! through the helm-python-sdk wheel in .venv; hack/test.sh installs it):
//! lint passes, every manifest deserializes into its k8s-openapi type without
//! losing a field, the CRDs are the generated ones, and the Role grants
//! nothing beyond the server's needs.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

#[derive(Deserialize)]
struct Case {
    templates: BTreeMap<String, String>,
    crds: BTreeMap<String, String>,
}

/// What the server may touch, and nothing else: (API group, resource).
const ALLOWED: &[(&str, &str)] = &[
    ("livy.livy-server.dev", "livybatches"),
    ("livy.livy-server.dev", "livysessions"),
    ("livy.livy-server.dev", "livybatches/status"),
    ("livy.livy-server.dev", "livysessions/status"),
    ("livy.livy-server.dev", "livybatches/finalizers"),
    ("livy.livy-server.dev", "livysessions/finalizers"),
    ("", "pods"),
    ("", "services"),
    ("", "configmaps"),
    ("", "secrets"),
    ("", "events"),
    ("events.k8s.io", "events"),
    ("coordination.k8s.io", "leases"),
];

fn render() -> (BTreeMap<String, Case>, Option<String>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join(".venv/bin/python");
    let out = Command::new(&python)
        .arg(root.join("hack/chart_render.py"))
        .arg(root.join("hack/chart-values-ha.yaml"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}; run hack/setup.sh", python.display()));
    assert!(
        out.status.success(),
        "hack/chart_render.py failed (is helm-python-sdk installed? hack/test.sh installs it):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut all: BTreeMap<String, Value> = serde_json::from_slice(&out.stdout).unwrap();
    let refused = all
        .remove("refused")
        .and_then(|v| v.as_str().map(str::to_owned));
    let cases = all
        .into_iter()
        .map(|(k, v)| (k, serde_json::from_value(v).unwrap()))
        .collect();
    (cases, refused)
}

/// Drops nulls and empty objects, which typed round trips may add or drop.
fn normalize(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| (k, normalize(v)))
                .filter(|(_, v)| !v.is_null() && v != &Value::Object(Default::default()))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(normalize).collect()),
        other => other,
    }
}

/// Deserializes into `T` and checks that serializing gives the same document:
/// a misspelled or misplaced field would be dropped and show up here.
fn typed<T: DeserializeOwned + serde::Serialize>(doc: &Value, what: &str) -> T {
    let t: T = serde_json::from_value(doc.clone()).unwrap_or_else(|e| panic!("{what}: {e}"));
    let back = normalize(serde_json::to_value(&t).unwrap());
    assert_eq!(
        back,
        normalize(doc.clone()),
        "{what} has fields its type does not know"
    );
    t
}

#[derive(Default)]
struct Manifests {
    deployments: Vec<Deployment>,
    roles: Vec<Role>,
    bindings: Vec<RoleBinding>,
    config_maps: Vec<ConfigMap>,
    services: Vec<Service>,
    accounts: Vec<ServiceAccount>,
    /// Prometheus Operator ServiceMonitors (no Rust type: its CRD is the operator's).
    monitors: Vec<Value>,
}

fn parse(case: &str, templates: &BTreeMap<String, String>) -> Manifests {
    let mut m = Manifests::default();
    for (path, text) in templates {
        for doc in serde_yaml::Deserializer::from_str(text) {
            let doc = Value::deserialize(doc).unwrap_or_else(|e| panic!("{case} {path}: {e}"));
            if doc.is_null() {
                continue;
            }
            let what = format!("{case} {path} {}", doc["kind"]);
            match doc["kind"].as_str().unwrap_or_default() {
                "Deployment" => m.deployments.push(typed(&doc, &what)),
                "Role" => m.roles.push(typed(&doc, &what)),
                "RoleBinding" => m.bindings.push(typed(&doc, &what)),
                "ConfigMap" => m.config_maps.push(typed(&doc, &what)),
                "Service" => m.services.push(typed(&doc, &what)),
                "ServiceAccount" => m.accounts.push(typed(&doc, &what)),
                "ServiceMonitor" => m.monitors.push(doc),
                other => {
                    panic!("{what}: unexpected kind {other} (cluster-wide rights or a new object?)")
                }
            }
        }
    }
    m
}

#[test]
fn plain_manifests_in_deploy_are_the_chart_with_default_values() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(root.join(".venv/bin/python"))
        .arg(root.join("hack/chart_render.py"))
        .arg("--plain")
        .output()
        .expect("run hack/chart_render.py --plain");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let committed =
        std::fs::read_to_string(root.join("deploy/livy-server.yaml")).unwrap_or_default();
    assert!(
        committed.as_bytes() == out.stdout.as_slice(),
        "deploy/livy-server.yaml drifted from the chart; regenerate with \
         `.venv/bin/python hack/chart_render.py --plain > deploy/livy-server.yaml`"
    );
}

#[test]
fn chart_lints_renders_and_grants_only_what_the_server_uses() {
    let (cases, refused) = render();
    assert!(
        refused
            .as_deref()
            .is_some_and(|r| r.contains("leaderElection.enabled")),
        "replicas > 1 without leader election must not render: {refused:?}"
    );
    let generated = livy_server::crd::crds_yaml().unwrap();
    for (case, want_replicas, want_election, spark_ns) in [
        ("default", 1, "false", vec!["livy"]),
        (
            "chart-values-ha.yaml",
            3,
            "true",
            vec!["spark-jobs", "spark-adhoc"],
        ),
    ] {
        let c = &cases[case];
        assert_eq!(
            c.crds.values().collect::<Vec<_>>(),
            [&generated],
            "{case}: chart CRDs are the generated ones"
        );
        for doc in serde_yaml::Deserializer::from_str(&generated).skip(1) {
            let _: CustomResourceDefinition = CustomResourceDefinition::deserialize(doc).unwrap();
        }
        let m = parse(case, &c.templates);

        let [deploy] = &m.deployments[..] else {
            panic!("{case}: one Deployment")
        };
        let spec = deploy.spec.as_ref().unwrap();
        assert_eq!(spec.replicas, Some(want_replicas), "{case}");
        let pod = spec.template.spec.as_ref().unwrap();
        let container = &pod.containers[0];
        for (probe, path) in [
            (&container.readiness_probe, "/ready"),
            (&container.liveness_probe, "/health"),
        ] {
            let get = probe
                .as_ref()
                .and_then(|p| p.http_get.as_ref())
                .expect("HTTP probes");
            assert_eq!(get.path.as_deref(), Some(path), "{case}");
        }
        let sa = pod.service_account_name.clone().unwrap();
        assert!(
            m.accounts
                .iter()
                .any(|a| a.metadata.name.as_deref() == Some(sa.as_str())),
            "{case}: {sa} exists"
        );

        let [svc] = &m.services[..] else {
            panic!("{case}: one Service")
        };
        let ports: Vec<i32> = svc
            .spec
            .as_ref()
            .unwrap()
            .ports
            .iter()
            .flatten()
            .map(|p| p.port)
            .collect();
        assert_eq!(ports, [8998, 10000], "{case}: REST API and driver callback");

        // Scrape annotations on the pods; a ServiceMonitor only when asked
        // for (the HA values), selecting this Service's `http` port.
        let annotations = spec
            .template
            .metadata
            .as_ref()
            .unwrap()
            .annotations
            .clone()
            .unwrap();
        assert_eq!(annotations["prometheus.io/scrape"], "true", "{case}");
        assert_eq!(annotations["prometheus.io/port"], "8998", "{case}");
        assert_eq!(annotations["prometheus.io/path"], "/metrics", "{case}");
        match (case, &m.monitors[..]) {
            ("default", []) => {}
            ("chart-values-ha.yaml", [mon]) => {
                assert_eq!(mon["apiVersion"], "monitoring.coreos.com/v1");
                assert_eq!(mon["metadata"]["labels"]["release"], "prometheus");
                let endpoint = &mon["spec"]["endpoints"][0];
                assert_eq!(endpoint["port"], "http");
                assert_eq!(endpoint["path"], "/metrics");
                let wanted = mon["spec"]["selector"]["matchLabels"].as_object().unwrap();
                let labels = svc.metadata.labels.clone().unwrap();
                for (k, v) in wanted {
                    assert_eq!(
                        labels.get(k).map(String::as_str),
                        v.as_str(),
                        "{case}: selects the Service by {k}"
                    );
                }
            }
            (case, monitors) => panic!("{case}: {} ServiceMonitors", monitors.len()),
        }

        // Under leader election each replica says where it is reached.
        let env: BTreeSet<&str> = container
            .env
            .iter()
            .flatten()
            .map(|e| e.name.as_str())
            .collect();
        for name in [
            "POD_IP",
            "LIVY_SERVER_HA_ADVERTISED_URL",
            "LIVY_SERVER_HA_ADVERTISED_CALLBACK",
        ] {
            assert_eq!(
                env.contains(name),
                want_election == "true",
                "{case}: {name}"
            );
        }

        let conf = m.config_maps[0].data.as_ref().unwrap()["livy.conf"].clone();
        for line in [
            "livy.server.recovery.state-store = kubernetes".to_owned(),
            format!("livy.server.kubernetes.leader-election.enabled = {want_election}"),
            format!("livy.server.kubernetes.spark-namespace = {}", spark_ns[0]),
        ] {
            assert!(
                conf.lines().any(|l| l.trim() == line),
                "{case}: livy.conf lacks {line:?}:\n{conf}"
            );
        }

        let allowed: BTreeSet<(&str, &str)> = ALLOWED.iter().copied().collect();
        for role in &m.roles {
            for rule in role.rules.iter().flatten() {
                for group in rule.api_groups.iter().flatten() {
                    for resource in rule.resources.iter().flatten() {
                        assert!(
                            allowed.contains(&(group.as_str(), resource.as_str())),
                            "{case}: Role {:?} grants {group:?}/{resource:?}",
                            role.metadata.name
                        );
                    }
                }
                assert!(
                    !rule.verbs.iter().any(|v| v == "*"),
                    "{case}: no wildcard verbs"
                );
                assert!(rule.resource_names.is_none() && rule.non_resource_urls.is_none());
            }
        }
        // Secrets: only the drivers' (get, create, update), only in the server's Role.
        let secret_rules: Vec<(Option<&String>, Vec<&str>)> = m
            .roles
            .iter()
            .flat_map(|role| {
                role.rules
                    .iter()
                    .flatten()
                    .filter(|rule| rule.resources.iter().flatten().any(|r| r == "secrets"))
                    .map(move |rule| {
                        let mut verbs: Vec<&str> = rule.verbs.iter().map(String::as_str).collect();
                        verbs.sort();
                        (role.metadata.namespace.as_ref(), verbs)
                    })
            })
            .collect();
        assert_eq!(
            secret_rules,
            [(None, vec!["create", "get", "update"])],
            "{case}: the server's Role grants exactly get/create/update on secrets"
        );
        // The server's Role in the release namespace, a Spark Role per Spark namespace.
        let mut namespaces: Vec<_> = m
            .roles
            .iter()
            .filter_map(|r| r.metadata.namespace.clone())
            .collect();
        namespaces.sort();
        let mut want: Vec<String> = spark_ns.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(namespaces, want, "{case}");
        assert_eq!(
            m.roles.len(),
            m.bindings.len(),
            "{case}: every Role is bound"
        );
    }
}
