//! Where configuration values come from, later sources winning:
//! `$LIVY_CONF_DIR/livy.conf`, environment variables, `--conf key=value`.
//! [`super::settings::Settings`] reads typed values out of them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{ConfigError, auth, keys, properties};

/// A raw value and where it came from (for error messages).
#[derive(Debug, Clone)]
pub(crate) struct Raw {
    pub(crate) value: String,
    pub(crate) source: String,
}

/// Where configuration comes from, so tests need not touch the process environment.
#[derive(Debug, Default, Clone)]
pub struct Sources {
    /// Directory holding `livy.conf` (`$LIVY_CONF_DIR`).
    pub conf_dir: Option<PathBuf>,
    /// Environment variables (name → value).
    pub env: BTreeMap<String, String>,
    /// `--conf key=value` pairs from the command line, in order.
    pub cli: Vec<String>,
}

impl Sources {
    /// The process environment plus the given CLI pairs.
    pub fn from_process(conf_dir: Option<PathBuf>, cli: Vec<String>) -> Self {
        let env: BTreeMap<String, String> = std::env::vars().collect();
        let conf_dir = conf_dir.or_else(|| env.get("LIVY_CONF_DIR").map(PathBuf::from));
        Self { conf_dir, env, cli }
    }

    /// Every value given, by key, later sources winning; refuses settings
    /// this server does not support and warns about unknown keys.
    pub(crate) fn collect(&self) -> Result<BTreeMap<String, Raw>, ConfigError> {
        let mut raw: BTreeMap<String, Raw> = BTreeMap::new();
        if let Some(dir) = &self.conf_dir {
            let path = dir.join("livy.conf");
            if path.exists() {
                let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
                    path: path.display().to_string(),
                    source,
                })?;
                for (line, key, value) in properties::parse(&text) {
                    let source = format!("{}:{line}", path.display());
                    raw.insert(key, Raw { value, source });
                }
            }
        }
        for key in keys::ALL {
            let var = env_name(key.name);
            if let Some(value) = self.env.get(&var) {
                raw.insert(
                    key.name.to_owned(),
                    Raw {
                        value: value.clone(),
                        source: format!("environment {var}"),
                    },
                );
            }
        }
        for pair in &self.cli {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| ConfigError::BadCliConf(pair.clone()))?;
            raw.insert(
                key.trim().to_owned(),
                Raw {
                    value: value.trim().to_owned(),
                    source: "command line".to_owned(),
                },
            );
        }
        let entries: Vec<(&str, &str, &str)> = raw
            .iter()
            .map(|(k, r)| (k.as_str(), r.value.as_str(), r.source.as_str()))
            .collect();
        auth::refuse_unsupported(&entries)?;
        auth::refuse_unknown_security_keys(&entries)?;
        for (key, r) in &raw {
            if !keys::ALL.iter().any(|k| k.name == key) {
                tracing::warn!(key = %key, source = %r.source, "unknown configuration key; ignored");
            }
        }
        Ok(raw)
    }
}

/// The environment variable that overrides `key`.
pub fn env_name(key: &str) -> String {
    key.chars()
        .map(|c| match c {
            '.' | '-' => '_',
            c => c.to_ascii_uppercase(),
        })
        .collect()
}
