//! The ResourceManager web addresses: `livy.server.yarn.rm-address`, else
//! Hadoop's `yarn-site.xml` read the way YARN clients read it (HA rm-ids, the
//! HTTPS policy, `${name}` expansion, yarn-default's fallbacks).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use super::ConfigError;

/// Hadoop expands `${name}` at most this deep (Configuration.MAX_SUBST).
const MAX_SUBST: usize = 20;

/// Base URLs (`http://host:port`, no trailing slash) of every ResourceManager
/// to try, in order. `configured` is the value of `livy.server.yarn.rm-address`.
pub(super) fn resolve(
    configured: &str,
    env: &BTreeMap<String, String>,
) -> Result<Vec<String>, ConfigError> {
    let listed: Vec<String> = configured
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(|a| with_scheme(a, false))
        .collect();
    if !listed.is_empty() {
        return Ok(listed);
    }
    // spark-submit itself needs one of these for `--master yarn`.
    let dir = env
        .get("HADOOP_CONF_DIR")
        .or_else(|| env.get("YARN_CONF_DIR"))
        .filter(|d| !d.is_empty())
        .ok_or(ConfigError::NoYarnRm)?;
    let path = PathBuf::from(dir).join("yarn-site.xml");
    let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let props = parse_properties(&text).map_err(|reason| ConfigError::YarnSite {
        path: path.display().to_string(),
        reason,
    })?;
    let found = rm_web_addresses(&props);
    if found.is_empty() {
        return Err(ConfigError::NoYarnRm);
    }
    Ok(found)
}

/// `<configuration><property><name>…</name><value>…</value></property>…`
pub fn parse_properties(xml: &str) -> Result<HashMap<String, String>, String> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| e.to_string())?;
    let mut props = HashMap::new();
    for prop in doc.descendants().filter(|n| n.has_tag_name("property")) {
        let child = |tag: &str| {
            prop.children()
                .find(|c| c.has_tag_name(tag))
                .map(|c| c.text().unwrap_or("").trim().to_owned())
        };
        if let (Some(name), Some(value)) = (child("name"), child("value")) {
            props.insert(name, value);
        }
    }
    Ok(props)
}

/// Every RM web address the properties name, with its scheme.
pub fn rm_web_addresses(props: &HashMap<String, String>) -> Vec<String> {
    let https = props
        .get("yarn.http.policy")
        .is_some_and(|p| p.eq_ignore_ascii_case("HTTPS_ONLY"));
    let (key, port) = if https {
        ("yarn.resourcemanager.webapp.https.address", 8090)
    } else {
        ("yarn.resourcemanager.webapp.address", 8088)
    };
    let get = |name: &str| props.get(name).map(|v| expand(v, props));
    let ha = get("yarn.resourcemanager.ha.enabled").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let ids: Vec<String> = get("yarn.resourcemanager.ha.rm-ids")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|i| !i.is_empty())
        .map(str::to_owned)
        .collect();
    let one = |suffix: &str| -> Option<String> {
        get(&format!("{key}{suffix}"))
            .or_else(|| {
                get(&format!("yarn.resourcemanager.hostname{suffix}"))
                    .map(|h| format!("{h}:{port}"))
            })
            .filter(|a| !a.is_empty())
    };
    let addresses: Vec<String> = if ha && !ids.is_empty() {
        ids.iter().filter_map(|id| one(&format!(".{id}"))).collect()
    } else {
        // yarn-default: `${yarn.resourcemanager.hostname}:8088`, hostname 0.0.0.0.
        vec![one("").unwrap_or_else(|| format!("0.0.0.0:{port}"))]
    };
    addresses.iter().map(|a| with_scheme(a, https)).collect()
}

/// `${name}` → its value from `props` (or the environment form `${env.X}`
/// left alone), repeated up to Hadoop's depth limit.
fn expand(value: &str, props: &HashMap<String, String>) -> String {
    let mut text = value.to_owned();
    for _ in 0..MAX_SUBST {
        let Some(start) = text.find("${") else { break };
        let Some(len) = text[start..].find('}') else {
            break;
        };
        let name = &text[start + 2..start + len];
        let replacement = match props.get(name) {
            Some(v) => v.clone(),
            None if name == "yarn.resourcemanager.hostname" => "0.0.0.0".to_owned(),
            None => break,
        };
        text.replace_range(start..start + len + 1, &replacement);
    }
    text
}

fn with_scheme(address: &str, https: bool) -> String {
    let a = address.trim_end_matches('/');
    if a.starts_with("http://") || a.starts_with("https://") {
        a.to_owned()
    } else if https {
        format!("https://{a}")
    } else {
        format!("http://{a}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn site(props: &[(&str, &str)]) -> String {
        let body: String = props
            .iter()
            .map(|(k, v)| {
                format!(
                    "  <property>\n    <name>{k}</name>\n    <value>{v}</value>\n  </property>\n"
                )
            })
            .collect();
        format!(
            "<?xml version=\"1.0\"?>\n<?xml-stylesheet type=\"text/xsl\" href=\"configuration.xsl\"?>\n<configuration>\n{body}</configuration>\n"
        )
    }

    #[rstest]
    #[case::nothing_set(&[], &["http://0.0.0.0:8088"])]
    #[case::hostname_only(&[("yarn.resourcemanager.hostname", "rm1.example")], &["http://rm1.example:8088"])]
    #[case::webapp_address(&[("yarn.resourcemanager.hostname", "x"), ("yarn.resourcemanager.webapp.address", "rm.example:9088")], &["http://rm.example:9088"])]
    #[case::expanded(&[("yarn.resourcemanager.hostname", "rm.example"), ("yarn.resourcemanager.webapp.address", "${yarn.resourcemanager.hostname}:8188")], &["http://rm.example:8188"])]
    #[case::https_only(&[("yarn.http.policy", "HTTPS_ONLY"), ("yarn.resourcemanager.hostname", "rm.example")], &["https://rm.example:8090"])]
    #[case::ha_addresses(&[("yarn.resourcemanager.ha.enabled", "true"), ("yarn.resourcemanager.ha.rm-ids", "rm1, rm2"),
        ("yarn.resourcemanager.webapp.address.rm1", "a.example:8088"), ("yarn.resourcemanager.webapp.address.rm2", "b.example:8088")],
        &["http://a.example:8088", "http://b.example:8088"])]
    #[case::ha_hostnames(&[("yarn.resourcemanager.ha.enabled", "true"), ("yarn.resourcemanager.ha.rm-ids", "rm1,rm2"),
        ("yarn.resourcemanager.hostname.rm1", "a.example"), ("yarn.resourcemanager.hostname.rm2", "b.example")],
        &["http://a.example:8088", "http://b.example:8088"])]
    #[case::ids_without_ha_are_ignored(&[("yarn.resourcemanager.ha.rm-ids", "rm1,rm2"), ("yarn.resourcemanager.hostname", "one.example")],
        &["http://one.example:8088"])]
    fn addresses_from_yarn_site(#[case] props: &[(&str, &str)], #[case] want: &[&str]) {
        let parsed = parse_properties(&site(props)).unwrap();
        assert_eq!(rm_web_addresses(&parsed), want);
    }

    #[test]
    fn configured_list_wins_and_gets_a_scheme() {
        let got = resolve(" rm1:8088, https://rm2:8090/ ", &BTreeMap::new()).unwrap();
        assert_eq!(got, ["http://rm1:8088", "https://rm2:8090"]);
    }

    #[test]
    fn yarn_site_from_hadoop_conf_dir() {
        let dir = tempfile::tempdir().unwrap();
        let xml = site(&[("yarn.resourcemanager.hostname", "rm.example")]);
        std::fs::write(dir.path().join("yarn-site.xml"), xml).unwrap();
        let env = [(
            "HADOOP_CONF_DIR".to_string(),
            dir.path().display().to_string(),
        )]
        .into();
        assert_eq!(resolve("", &env).unwrap(), ["http://rm.example:8088"]);
    }

    #[test]
    fn no_address_anywhere_is_an_error() {
        assert!(matches!(
            resolve("", &BTreeMap::new()),
            Err(ConfigError::NoYarnRm)
        ));
    }

    #[test]
    fn malformed_xml_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("yarn-site.xml"),
            "<configuration><property>",
        )
        .unwrap();
        let env = [(
            "YARN_CONF_DIR".to_string(),
            dir.path().display().to_string(),
        )]
        .into();
        let err = resolve("", &env).unwrap_err();
        assert!(matches!(err, ConfigError::YarnSite { .. }), "{err}");
    }
}
