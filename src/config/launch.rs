//! How applications whose driver runs on this host are isolated
//! (`livy.server.launch.isolation`, `livy.server.launch.env.allow`,
//! `livy.server.launch.sandbox.paths`), checked into [`LaunchConfig`].
//! Only values here; [`crate::launcher::sandbox`] builds the sandbox.

use std::path::PathBuf;

use super::{ConfigError, Settings, keys};

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

pub(crate) fn parse(s: &Settings<'_>) -> Result<LaunchConfig, ConfigError> {
    let isolation = match s.value(keys::LAUNCH_ISOLATION).trim() {
        "namespaces" => Isolation::Namespaces,
        "none" => Isolation::None,
        _ => {
            return Err(s.bad(keys::LAUNCH_ISOLATION, "expected namespaces or none"));
        }
    };
    let env_allow = s.list(keys::LAUNCH_ENV_ALLOW);
    if let Some(v) = env_allow.iter().find(|v| {
        let name = v.strip_suffix('*').unwrap_or(v);
        name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    }) {
        return Err(s.bad(
            keys::LAUNCH_ENV_ALLOW,
            format!("{v:?} is not a variable name (letters, digits, _; a trailing * for a prefix)"),
        ));
    }
    Ok(LaunchConfig {
        isolation,
        isolation_explicit: s.is_set(keys::LAUNCH_ISOLATION),
        env_allow,
        sandbox_paths: s.absolute_paths(keys::LAUNCH_SANDBOX_PATHS)?,
        sandbox_writable: s.absolute_paths(keys::LAUNCH_SANDBOX_WRITABLE)?,
        conf_file: None,
        bwrap: None,
    })
}
