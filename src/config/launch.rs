//! How applications whose driver runs on this host are isolated
//! (`livy.server.launch.isolation`, `livy.server.launch.env.allow`,
//! `livy.server.launch.sandbox.paths`), checked into [`LaunchConfig`].
//! Only values here; [`crate::launcher::sandbox`] builds the sandbox.

use std::path::PathBuf;

use super::{ConfigError, keys};

/// Where a driver on this host runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// A bubblewrap sandbox of Linux namespaces (the default).
    Namespaces,
    /// As the server does, with its environment: only for a server whose
    /// users are trusted with its secrets.
    None,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchConfig {
    pub isolation: Isolation,
    /// `isolation` was set, not defaulted (`none` is then an acknowledged risk).
    pub isolation_explicit: bool,
    /// Extra server environment variables applications keep.
    pub env_allow: Vec<String>,
    /// Extra host paths shown read-only in the sandbox.
    pub sandbox_paths: Vec<PathBuf>,
    /// Host directories sandboxed applications may write.
    pub sandbox_writable: Vec<PathBuf>,
    /// The `livy.conf` read at start-up (hidden from applications).
    pub conf_file: Option<PathBuf>,
    /// bubblewrap's `bwrap` on the server's `PATH` (`None`: not installed).
    pub bwrap: Option<PathBuf>,
}

/// `get(key)` returns the raw value and where it came from.
pub fn parse(get: &dyn Fn(&'static str) -> (String, String)) -> Result<LaunchConfig, ConfigError> {
    let bad = |key: &'static str, reason: String| super::bad_value(get, key, reason);
    let (isolation, source) = get(keys::LAUNCH_ISOLATION);
    let isolation = match isolation.trim() {
        "namespaces" => Isolation::Namespaces,
        "none" => Isolation::None,
        _ => {
            return Err(bad(
                keys::LAUNCH_ISOLATION,
                "expected namespaces or none".to_owned(),
            ));
        }
    };
    let list = |key: &'static str| -> Vec<String> {
        get(key)
            .0
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let env_allow = list(keys::LAUNCH_ENV_ALLOW);
    if let Some(v) = env_allow.iter().find(|v| {
        let name = v.strip_suffix('*').unwrap_or(v);
        name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    }) {
        return Err(bad(
            keys::LAUNCH_ENV_ALLOW,
            format!("{v:?} is not a variable name (letters, digits, _; a trailing * for a prefix)"),
        ));
    }
    let paths = |key: &'static str| -> Result<Vec<PathBuf>, ConfigError> {
        let paths: Vec<PathBuf> = list(key).into_iter().map(PathBuf::from).collect();
        match paths.iter().find(|p| !p.is_absolute()) {
            Some(p) => Err(bad(key, format!("{} is not an absolute path", p.display()))),
            None => Ok(paths),
        }
    };
    let sandbox_paths = paths(keys::LAUNCH_SANDBOX_PATHS)?;
    let sandbox_writable = paths(keys::LAUNCH_SANDBOX_WRITABLE)?;
    Ok(LaunchConfig {
        isolation,
        isolation_explicit: source != "default",
        env_allow,
        sandbox_paths,
        sandbox_writable,
        conf_file: None,
        bwrap: None,
    })
}
