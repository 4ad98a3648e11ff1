//! Applications whose driver runs on this host (local masters, client mode,
//! the warm pool) run where the server's secrets cannot be reached: in a
//! bubblewrap (`bwrap`) sandbox of their own — own PID and IPC namespaces, a
//! read-only view of only what Spark, Java, Python and R need, no
//! capabilities, their application directory the only writable place — with
//! an allow-listed environment and no inherited descriptors.
//!
//! What is shown is an allow-list (system directories, the Spark, Java,
//! Python and R installations, configured directories); the server's data
//! directory (store, other applications, secrets) and every secret file
//! the configuration names are hidden even where they lie inside a shown
//! directory. The argv and environment are pure functions of the settings,
//! table-tested below; the launcher runs them.

use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::config::auth::AuthMethod;
use crate::config::tls::TlsSource;

/// What the sandbox is built from (the server's configuration).
#[derive(Debug, Clone, Default)]
pub struct SandboxSettings {
    /// The `bwrap` executable.
    pub bwrap: PathBuf,
    /// Host paths shown read-only at the same place (missing ones skipped).
    pub shown: Vec<PathBuf>,
    /// Host directories applications may write (besides their own).
    pub writable: Vec<PathBuf>,
    /// Paths hidden even inside shown ones: directories become empty, files
    /// empty (the data directory, keytabs, users file, TLS keys, …).
    pub hidden: Vec<PathBuf>,
    /// Shown read-only again inside a hidden directory (the driver build
    /// cache inside the data directory).
    pub reshown: Vec<PathBuf>,
    /// Names of server environment variables applications keep (a trailing
    /// `*` matches a prefix).
    pub env_allow: Vec<String>,
    /// The server runs as root: the sandbox drops every capability (an
    /// unprivileged server gets none in the first place).
    pub drop_caps: bool,
}

/// The environment variables every application keeps: what Spark, Java,
/// Python and R read to find themselves and their cluster.
pub const DEFAULT_ENV_ALLOW: &[&str] = &[
    "PATH",
    "LANG",
    "LANGUAGE",
    "LC_*",
    "TZ",
    "TERM",
    "USER",
    "LOGNAME",
    "HOSTNAME",
    "JAVA_HOME",
    "SPARK_HOME",
    "SPARK_CONF_DIR",
    "SPARK_LOCAL_IP",
    "SPARK_LOCAL_HOSTNAME",
    "SPARK_SCALA_VERSION",
    "HADOOP_HOME",
    "HADOOP_CONF_DIR",
    "YARN_CONF_DIR",
    "PYSPARK_PYTHON",
    "PYSPARK_DRIVER_PYTHON",
    "R_HOME",
    "R_LIBS",
    "R_LIBS_SITE",
    "R_LIBS_USER",
    "LD_LIBRARY_PATH",
    "OPENBLAS_CORETYPE",
    "OPENBLAS_L2_SIZE",
    "KRB5_CONFIG",
];

/// Files of the host that must not be readable even where `/etc` is shown
/// (an unprivileged owner check passes for a root server's sandbox).
const HOST_SECRETS: &[&str] = &[
    "/etc/shadow",
    "/etc/shadow-",
    "/etc/gshadow",
    "/etc/gshadow-",
    "/etc/krb5.keytab",
    "/etc/ssl/private",
];

/// The system directories every application sees read-only.
pub const SYSTEM_DIRS: &[&str] = &["/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64"];

impl SandboxSettings {
    /// What the server's configuration and environment call for.
    pub fn for_server(
        config: &Config,
        env: &std::collections::BTreeMap<String, String>,
        bwrap: PathBuf,
    ) -> Self {
        let mut shown: Vec<PathBuf> = SYSTEM_DIRS.iter().map(PathBuf::from).collect();
        shown.push(config.spark_home.clone());
        if let Some(java) = env.get("JAVA_HOME") {
            shown.push(java.into());
        }
        for var in ["PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON"] {
            if let Some(py) = env.get(var).map(PathBuf::from) {
                // A virtualenv (`…/venv/bin/python`) and the interpreter it links to.
                if let Some(venv) = py.parent().and_then(Path::parent) {
                    shown.push(venv.to_path_buf());
                }
                shown.extend(install_prefix(&py));
            }
        }
        shown.extend(config.r_command.as_deref().and_then(install_prefix));
        for var in ["SPARK_CONF_DIR", "HADOOP_CONF_DIR", "YARN_CONF_DIR"] {
            shown.extend(env.get(var).map(PathBuf::from));
        }
        shown.extend(config.local_dir_whitelist.iter().cloned());
        // Every driver is given these (`livy.rsc.jars`).
        shown.extend(config.jobs.rsc_jars.iter().map(PathBuf::from));
        shown.extend(config.launch.sandbox_paths.iter().cloned());
        let writable = config.launch.sandbox_writable.clone();

        let mut hidden = vec![config.data_dir.clone()];
        match &config.auth.method {
            AuthMethod::Kerberos { keytab, .. } => hidden.push(keytab.clone()),
            AuthMethod::Basic { users_file } => hidden.push(users_file.clone()),
            AuthMethod::Off | AuthMethod::Ldap { .. } => {}
        }
        hidden.extend(config.auth.cookie_secret_file.iter().cloned());
        match &config.tls {
            Some(TlsSource::Keystore { path, .. }) => hidden.push(path.clone()),
            Some(TlsSource::Pem { cert, key }) => hidden.extend([cert.clone(), key.clone()]),
            None => {}
        }
        hidden.extend(config.launch.conf_file.iter().cloned());
        let mut env_allow: Vec<String> =
            DEFAULT_ENV_ALLOW.iter().map(|s| (*s).to_owned()).collect();
        env_allow.extend(config.launch.env_allow.iter().cloned());
        Self {
            bwrap,
            shown,
            writable,
            // Absolute, as the sandbox compares paths.
            hidden: hidden
                .into_iter()
                .map(|p| std::path::absolute(&p).unwrap_or(p))
                .collect(),
            reshown: vec![
                std::path::absolute(&config.driver_cache_dir)
                    .unwrap_or_else(|_| config.driver_cache_dir.clone()),
            ],
            env_allow,
            drop_caps: nix::unistd::geteuid().is_root(),
        }
    }
}

/// What launches on this host get, decided once at start-up.
#[derive(Debug, Clone)]
pub enum Isolation {
    /// `livy.server.launch.isolation = none`.
    Off,
    On(Sandbox),
    /// Isolation is asked for but cannot be had here: launches placed on
    /// this host fail with this reason (never run unisolated).
    Unavailable(String),
}

impl Isolation {
    /// The sandbox the configuration asks for, with the `bwrap` it found
    /// tried once.
    pub fn for_server(config: &Config, env: &std::collections::BTreeMap<String, String>) -> Self {
        if config.launch.isolation == crate::config::launch::Isolation::None {
            return Self::Off;
        }
        let Some(bwrap) = config.launch.bwrap.clone() else {
            return Self::Unavailable(
                "livy.server.launch.isolation = namespaces needs bubblewrap's `bwrap` on the server's PATH: install it (apt-get install bubblewrap) or set livy.server.launch.isolation = none".to_owned(),
            );
        };
        let settings = SandboxSettings::for_server(config, env, bwrap);
        match probe(&settings) {
            Ok(()) => Self::On(Sandbox::new(settings).with_server_env(env.clone())),
            Err(why) => Self::Unavailable(format!(
                "livy.server.launch.isolation = namespaces: {} cannot make a sandbox here ({why}); allow user namespaces or set livy.server.launch.isolation = none",
                settings.bwrap.display()
            )),
        }
    }
}

/// Runs `true` in a sandbox of these settings: namespaces may be refused
/// (no user namespaces in a container, a seccomp profile).
fn probe(settings: &SandboxSettings) -> Result<(), String> {
    let dir = std::env::temp_dir();
    let sb = Sandbox::new(SandboxSettings {
        hidden: vec![],
        reshown: vec![],
        ..settings.clone()
    });
    let argv = sb.command(&dir, &["true".to_owned()]);
    let out = super::child_signals::command(&argv[0])
        .args(&argv[1..])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
}

/// A sandbox ready to wrap commands.
#[derive(Debug, Clone)]
pub struct Sandbox {
    settings: SandboxSettings,
    /// The allowed part of the server's environment, chosen once.
    server_env: Vec<(String, String)>,
}

impl Sandbox {
    pub fn new(mut settings: SandboxSettings) -> Self {
        settings
            .hidden
            .extend(HOST_SECRETS.iter().map(PathBuf::from));
        Self {
            settings,
            server_env: Vec::new(),
        }
    }

    /// The argv that runs `argv` in the sandbox, with `app_dir` (the
    /// application's own directory) writable and its working directory.
    pub fn command(&self, app_dir: &Path, argv: &[String]) -> Vec<String> {
        let s = &self.settings;
        let mut out: Vec<String> = vec![s.bwrap.display().to_string()];
        let mut arg = |parts: &[&str]| out.extend(parts.iter().map(|p| (*p).to_owned()));
        arg(&["--unshare-pid", "--unshare-ipc"]);
        if s.drop_caps {
            arg(&["--cap-drop", "ALL"]);
        }
        arg(&["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]);
        let mut shown: Vec<&PathBuf> = vec![];
        for p in &s.shown {
            if shown.iter().any(|q| p.starts_with(q)) {
                continue; // already visible
            }
            let (Ok(meta), Ok(real)) = (std::fs::symlink_metadata(p), std::fs::canonicalize(p))
            else {
                continue; // not on this host
            };
            if meta.file_type().is_symlink()
                && s.shown.iter().any(|q| q != p && real.starts_with(q))
            {
                // `/bin -> usr/bin`: the same link, so paths resolve alike.
                if let Ok(target) = std::fs::read_link(p) {
                    arg(&["--symlink", &text(&target), &text(p)]);
                }
                continue;
            }
            arg(&["--ro-bind", &text(&real), &text(p)]);
            shown.push(p);
        }
        for w in &s.writable {
            if let Ok(real) = std::fs::canonicalize(w) {
                arg(&["--bind", &text(&real), &text(w)]);
                shown.push(w);
            }
        }
        let visible = |p: &Path| shown.iter().any(|q| p.starts_with(q));
        for h in &s.hidden {
            if !visible(h) {
                continue;
            }
            match std::fs::metadata(h) {
                Ok(m) if m.is_dir() => arg(&["--tmpfs", &text(h)]),
                Ok(_) => arg(&["--ro-bind", "/dev/null", &text(h)]),
                Err(_) => {}
            }
        }
        for r in &s.reshown {
            if r.exists() && !app_dir.starts_with(r) {
                arg(&["--ro-bind", &text(r), &text(r)]);
            }
        }
        let app = text(app_dir);
        arg(&["--bind", &app, &app, "--chdir", &app, "--"]);
        out.extend(argv.iter().cloned());
        out
    }

    /// Keeps the allowed part of the server's environment `server_env`
    /// (its own home and temporary directory are the application's).
    pub fn with_server_env(
        mut self,
        server_env: impl IntoIterator<Item = (String, String)>,
    ) -> Self {
        self.server_env = server_env
            .into_iter()
            .filter(|(k, _)| allowed(&self.settings.env_allow, k))
            .filter(|(k, _)| k != "HOME" && k != "TMPDIR")
            .collect();
        self
    }

    /// The environment a sandboxed application starts with: the allowed
    /// part of the server's, its home and temporary directory in its own
    /// space. The launcher adds what it sets for the application.
    pub fn environment(&self, app_dir: &Path) -> Vec<(String, String)> {
        let mut env = self.server_env.clone();
        env.push(("HOME".into(), text(app_dir)));
        env.push(("TMPDIR".into(), "/tmp".into()));
        env.sort();
        env
    }
}

/// Whether the variable `name` is allowed by `allow` (names, or prefixes
/// ending in `*`).
pub fn allowed(allow: &[String], name: &str) -> bool {
    allow.iter().any(|a| match a.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => a == name,
    })
}

fn text(p: &Path) -> String {
    p.display().to_string()
}

/// The installation directory of the program `exe` (a `bin/` file):
/// `…/bin/python` → `…`; symlinks followed.
pub fn install_prefix(exe: &Path) -> Option<PathBuf> {
    let real = std::fs::canonicalize(exe).ok()?;
    real.parent()?.parent().map(Path::to_path_buf)
}

#[cfg(test)]
mod tests;
