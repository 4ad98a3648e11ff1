//! Server configuration, Livy-style, validated once at start-up.
//!
//! Sources, later ones winning: `$LIVY_CONF_DIR/livy.conf` (Livy's key names),
//! environment variables (`livy.server.port` → `LIVY_SERVER_PORT`), then CLI
//! `--conf key=value`. Unknown keys warn, except under the security
//! prefixes ([`auth::SECURITY_PREFIXES`]), where they stop start-up; a bad value stops start-up with an
//! error naming the key. Nothing else in the crate reads configuration.

pub mod auth;
pub mod keys;
pub mod kubernetes;
pub mod launch;
pub mod limits;
pub mod listener;
pub mod postgres;
pub mod properties;
mod sources;
pub mod spark_install;
pub mod tls;
mod values;
mod yarn_site;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[cfg(test)]
pub(crate) use sources::test_get;
pub(crate) use sources::{Raw, bad_value, text_value};
pub use sources::{Sources, env_name};
pub use values::{parse_bytes, parse_duration};

/// One configuration problem, naming the key and where the value came from.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{key} = {value:?} (from {source_name}): {reason}")]
    BadValue {
        key: String,
        value: String,
        source_name: String,
        reason: String,
    },
    /// A bad password setting: the value is never echoed.
    #[error("{key} (from {source_name}): {reason}")]
    BadSecret {
        key: &'static str,
        source_name: String,
        reason: String,
    },
    #[error(
        "{key} (from {source_name}): unknown security setting; did you mean {closest}? (unknown keys under the security prefixes stop start-up rather than leave a protection off)"
    )]
    UnknownSecurityKey {
        key: String,
        source_name: String,
        closest: &'static str,
    },
    #[error("failed to read {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "no Spark installation: set livy.server.spark-home or SPARK_HOME (hack/setup.sh installs one)"
    )]
    NoSparkHome,
    #[error("{key}: {path} has no bin/spark-submit; is it a Spark installation?")]
    NotSparkHome { key: &'static str, path: String },
    #[error("--conf {0:?} is not of the form key=value")]
    BadCliConf(String),
    #[error(
        "no ResourceManager address for the YARN master: set livy.server.yarn.rm-address or HADOOP_CONF_DIR (with yarn-site.xml)"
    )]
    NoYarnRm,
    #[error("failed to parse {path}: {reason}")]
    YarnSite { path: String, reason: String },
}

/// Typed, validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub host: IpAddr,
    pub port: u16,
    /// HTTPS for the REST API (`None`: plain HTTP).
    pub tls: Option<tls::TlsSource>,
    /// Timeouts and request-head limits of the REST listener.
    pub listener: listener::ListenerConfig,
    /// How drivers on this host are isolated.
    pub launch: launch::LaunchConfig,
    pub spark_master: String,
    pub deploy_mode: Option<String>,
    pub spark_home: PathBuf,
    /// Spark and Scala versions of `spark_home` (`None`: not recognisable).
    pub spark_install: Option<spark_install::SparkInstall>,
    /// The `R` executable on the server's PATH (`None`: no R, so no `sparkr`
    /// sessions with a local driver).
    pub r_command: Option<PathBuf>,
    pub data_dir: PathBuf,
    pub local_dir_whitelist: Vec<PathBuf>,
    pub max_creation: usize,
    /// Warm session drivers kept ready (0: no pool).
    pub pool_size: usize,
    /// A pooled driver unused this long is replaced.
    pub pool_ttl: Duration,
    pub state_retain: Duration,
    pub cache_log_size: usize,
    /// `livy.server.log.max-line-bytes`: longest log line kept.
    pub log_max_line: usize,
    pub impersonation: bool,
    pub poll_interval: Duration,
    pub app_lookup_timeout: Duration,
    pub kill_grace: Duration,
    pub max_body: usize,
    /// Caps on requests and statement sizes.
    pub limits: limits::Limits,
    pub launch_retries: u32,
    /// ResourceManager base URLs to try in order (empty unless the master is YARN).
    pub yarn_rm_addresses: Vec<String>,
    pub yarn_poll_interval: Duration,
    pub yarn_app_lookup_timeout: Duration,
    /// Standalone master web UI addresses, as configured (empty: derived from the master URL).
    pub spark_master_ui: Vec<String>,
    /// Standalone REST submission servers (empty: `<master host>:6066`).
    pub spark_master_rest: Vec<String>,
    pub leak_timeout: Duration,
    /// Cache of the compiled session driver.
    pub driver_cache_dir: PathBuf,
    /// JVM options for session drivers on this host (empty: none).
    pub driver_java_options: String,
    /// Whether session drivers on this host use a class-data archive.
    pub driver_class_data_sharing: bool,
    /// Whether metrics are recorded and served at `/metrics`.
    pub metrics: bool,
    /// Idle timeout of interactive sessions (`None`: off).
    pub session_timeout: Option<Duration>,
    pub connect_timeout: Duration,
    /// Host drivers dial back to.
    pub launcher_address: String,
    pub launcher_ports: (u16, u16),
    pub sql_num_rows: u64,
    /// How long `POST …/statements` waits for a fast statement to finish.
    pub statement_sync_wait: Duration,
    /// How long a statement waits for a recovered session's driver.
    pub statement_recovery_wait: Duration,
    pub driver_idle_timeout: Duration,
    /// `$SPARK_CONF_DIR/spark-defaults.conf` (else `$SPARK_HOME/conf/…`), as
    /// spark-submit reads it. Kept for the server's own decisions (the default
    /// master); spark-submit applies it to applications itself.
    pub spark_defaults: BTreeMap<String, String>,
    /// Which conf values the server never shows (`spark.redaction.regex`).
    pub redaction: crate::records::redact::Redaction,
    /// Kubernetes mode: custom-resource store, `k8s://` masters, leader election.
    pub kubernetes: kubernetes::KubernetesConfig,
    /// The PostgreSQL store's connection (`state-store = postgres`).
    pub postgres: Option<postgres::PostgresConfig>,
    /// Leader election on the PostgreSQL store.
    pub ha: postgres::HaConfig,
    /// Authentication, access control, impersonation, CSRF.
    pub auth: auth::AuthConfig,
}

impl Config {
    /// Reads and validates every source. Unknown keys are logged as warnings.
    pub fn load(sources: &Sources) -> Result<Self, ConfigError> {
        let mut config = Self::from_raw(&sources.collect()?, &sources.env)?;
        config.launch.conf_file = sources.conf_dir.as_ref().map(|d| d.join("livy.conf"));
        Ok(config)
    }

    fn from_raw(
        raw: &BTreeMap<String, Raw>,
        env: &BTreeMap<String, String>,
    ) -> Result<Self, ConfigError> {
        let get = |key: &'static str| -> (String, String) {
            match raw.get(key) {
                Some(r) => (r.value.clone(), r.source.clone()),
                None => {
                    let default = keys::ALL
                        .iter()
                        .find(|k| k.name == key)
                        .map(|k| k.default)
                        .unwrap_or("");
                    (default.to_owned(), "default".to_owned())
                }
            }
        };
        let parse = |key: &'static str,
                     f: &dyn Fn(&str) -> Result<(), String>|
         -> Result<String, ConfigError> {
            let (value, source_name) = get(key);
            f(&value).map_err(|reason| ConfigError::BadValue {
                key: key.to_owned(),
                value: value.clone(),
                source_name,
                reason,
            })?;
            Ok(value)
        };
        let number = |key: &'static str| -> Result<u64, ConfigError> {
            let v = parse(key, &|v| {
                v.parse::<u64>()
                    .map(|_| ())
                    .map_err(|_| "expected a non-negative integer".to_owned())
            })?;
            Ok(v.parse().unwrap_or_default())
        };
        let flag = |key: &'static str| -> Result<bool, ConfigError> {
            let v = parse(key, &|v| match v.trim() {
                "true" | "false" => Ok(()),
                _ => Err("expected true or false".to_owned()),
            })?;
            Ok(v.trim() == "true")
        };
        let duration = |key: &'static str| -> Result<Duration, ConfigError> {
            let v = parse(key, &|v| parse_duration(v).map(|_| ()))?;
            Ok(parse_duration(&v).unwrap_or_default())
        };
        let host: IpAddr = parse(keys::SERVER_HOST, &|v| {
            v.parse::<IpAddr>()
                .map(|_| ())
                .map_err(|_| "expected an IP address such as 0.0.0.0".to_owned())
        })?
        .parse()
        .unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let port = parse(keys::SERVER_PORT, &|v| {
            v.parse::<u16>()
                .map(|_| ())
                .map_err(|_| "expected a port number 0-65535".to_owned())
        })?
        .parse()
        .unwrap_or(8998);

        let spark_home = match get(keys::SPARK_HOME).0 {
            s if !s.is_empty() => PathBuf::from(s),
            _ => env
                .get("SPARK_HOME")
                .map(PathBuf::from)
                .ok_or(ConfigError::NoSparkHome)?,
        };
        if !spark_home.join("bin").join("spark-submit").exists() {
            return Err(ConfigError::NotSparkHome {
                key: keys::SPARK_HOME,
                path: spark_home.display().to_string(),
            });
        }
        let spark_conf_dir = env
            .get("SPARK_CONF_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| spark_home.join("conf"));
        let spark_defaults = read_spark_defaults(&spark_conf_dir.join("spark-defaults.conf"))?;

        let spark_master = match raw.get(keys::SPARK_MASTER) {
            Some(r) => r.value.clone(),
            None => spark_defaults
                .get("spark.master")
                .cloned()
                .unwrap_or_else(|| "local[*]".to_owned()),
        };
        if spark_master.is_empty() {
            return Err(ConfigError::BadValue {
                key: keys::SPARK_MASTER.to_owned(),
                value: spark_master,
                source_name: "configuration".to_owned(),
                reason: "must not be empty".to_owned(),
            });
        }
        // As Spark: the server's own setting, else spark-defaults', else Spark's.
        let redaction = match get(keys::REDACTION_REGEX).0 {
            r if !r.is_empty() => r,
            _ => spark_defaults
                .get("spark.redaction.regex")
                .cloned()
                .unwrap_or_else(|| crate::records::redact::DEFAULT_REGEX.to_owned()),
        };
        let redaction = crate::records::redact::Redaction::new(&redaction).map_err(|e| {
            ConfigError::BadValue {
                key: keys::REDACTION_REGEX.to_owned(),
                value: redaction.clone(),
                source_name: "configuration".to_owned(),
                reason: format!("not a regular expression: {e}"),
            }
        })?;
        let deploy_mode = parse(keys::SPARK_DEPLOY_MODE, &|v| match v {
            "" | "client" | "cluster" => Ok(()),
            _ => Err("expected client or cluster".to_owned()),
        })?;
        let deploy_mode = (!deploy_mode.is_empty()).then_some(deploy_mode);

        let data_dir = PathBuf::from(get(keys::DATA_DIR).0);
        let whitelist = parse(keys::LOCAL_DIR_WHITELIST, &|v| {
            for dir in v.split(',').map(str::trim).filter(|d| !d.is_empty()) {
                if !Path::new(dir).is_absolute() {
                    return Err(format!("{dir:?} is not an absolute directory"));
                }
            }
            Ok(())
        })?;
        let local_dir_whitelist = whitelist
            .split(',')
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .collect();

        let max_creation = number(keys::MAX_CREATION)? as usize;
        let cache_log_size = number(keys::CACHE_LOG_SIZE)? as usize;
        let log_max_line = {
            let v = parse(keys::LOG_MAX_LINE, &|v| match parse_bytes(v) {
                Ok(0) => Err("must be at least 1 byte".to_owned()),
                Ok(_) => Ok(()),
                Err(e) => Err(e),
            })?;
            parse_bytes(&v).unwrap_or(8 << 10) as usize
        };
        let max_body = {
            let v = parse(keys::MAX_BODY, &|v| parse_bytes(v).map(|_| ()))?;
            parse_bytes(&v).unwrap_or(1 << 20) as usize
        };
        let launcher_ports = {
            let v = parse(keys::LAUNCHER_PORT_RANGE, &|v| {
                parse_port_range(v).map(|_| ())
            })?;
            parse_port_range(&v).unwrap_or((10000, 10010))
        };
        let launcher_address = match get(keys::LAUNCHER_ADDRESS).0 {
            a if !a.is_empty() => a,
            _ if spark_master.starts_with("local") => "127.0.0.1".to_owned(),
            _ => hostname(),
        };
        let session_timeout = Some(duration(keys::SESSION_TIMEOUT)?).filter(|d| !d.is_zero());
        let yarn_rm_addresses = if spark_master.starts_with("yarn") {
            yarn_site::resolve(&get(keys::YARN_RM_ADDRESS).0, env)?
        } else {
            Vec::new()
        };
        let addresses = |key: &'static str| -> Vec<String> {
            get(key)
                .0
                .split(',')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(str::to_owned)
                .collect()
        };
        let spark_master_ui = addresses(keys::SPARK_MASTER_UI);
        let spark_master_rest = addresses(keys::SPARK_MASTER_REST);
        let kubernetes = kubernetes::parse(&get)?;
        let postgres = postgres::parse(&get, env)?;
        let ha = postgres::parse_ha(&get)?;
        let auth = auth::parse(&get, &hostname())?;
        let tls = tls::parse(&get)?;
        let listener = listener::parse(&get)?;
        let launch = launch::LaunchConfig {
            bwrap: find_on_path("bwrap", env),
            ..launch::parse(&get)?
        };
        let limits = limits::parse(&get)?;
        Ok(Self {
            tls,
            listener,
            launch,
            kubernetes,
            postgres,
            ha,
            impersonation: auth.acl.impersonation,
            auth,
            yarn_rm_addresses,
            yarn_poll_interval: duration(keys::YARN_POLL_INTERVAL)?.max(Duration::from_millis(50)),
            yarn_app_lookup_timeout: duration(keys::YARN_APP_LOOKUP_TIMEOUT)?,
            spark_master_ui,
            spark_master_rest,
            session_timeout,
            leak_timeout: duration(keys::LEAK_TIMEOUT)?,
            driver_cache_dir: match get(keys::DRIVER_CACHE_DIR).0 {
                d if !d.is_empty() => PathBuf::from(d),
                _ => data_dir.join("driver"),
            },
            driver_java_options: get(keys::DRIVER_JAVA_OPTIONS).0.trim().to_owned(),
            driver_class_data_sharing: flag(keys::DRIVER_CLASS_DATA_SHARING)?,
            metrics: flag(keys::METRICS_ENABLED)?,
            connect_timeout: duration(keys::CONNECT_TIMEOUT)?,
            launcher_address,
            launcher_ports,
            sql_num_rows: number(keys::SQL_NUM_ROWS)?,
            statement_sync_wait: duration(keys::STATEMENT_SYNC_WAIT)?,
            statement_recovery_wait: duration(keys::STATEMENT_RECOVERY_WAIT)?,
            driver_idle_timeout: duration(keys::DRIVER_IDLE_TIMEOUT)?,
            host,
            port,
            spark_master,
            deploy_mode,
            spark_install: spark_install::SparkInstall::detect(&spark_home),
            r_command: find_on_path("R", env),
            spark_home,
            data_dir,
            local_dir_whitelist,
            max_creation,
            pool_size: number(keys::POOL_SIZE)? as usize,
            pool_ttl: duration(keys::POOL_TTL)?.max(Duration::from_secs(1)),
            state_retain: duration(keys::STATE_RETAIN)?,
            cache_log_size,
            poll_interval: duration(keys::POLL_INTERVAL)?.max(Duration::from_millis(50)),
            app_lookup_timeout: duration(keys::APP_LOOKUP_TIMEOUT)?,
            kill_grace: duration(keys::KILL_GRACE)?,
            max_body,
            limits,
            log_max_line,
            launch_retries: number(keys::LAUNCH_RETRIES)? as u32,
            redaction,
            spark_defaults,
        })
    }

    /// Path of the embedded store file.
    pub fn store_path(&self) -> PathBuf {
        self.data_dir.join("livy.db")
    }

    /// Directory holding one sub-directory per submitted application tag.
    pub fn apps_dir(&self) -> PathBuf {
        self.data_dir.join("apps")
    }

    pub fn spark_submit(&self) -> PathBuf {
        self.spark_home.join("bin").join("spark-submit")
    }
}

/// `10000~10010` (Livy's syntax) or a single port.
fn parse_port_range(v: &str) -> Result<(u16, u16), String> {
    let err = || "expected a port range such as 10000~10010".to_owned();
    let (a, b) = v.split_once('~').unwrap_or((v, v));
    let (a, b): (u16, u16) = (
        a.trim().parse().map_err(|_| err())?,
        b.trim().parse().map_err(|_| err())?,
    );
    if a > b {
        return Err(err());
    }
    Ok((a, b))
}

/// The first executable `name` in the `PATH` of `env`.
fn find_on_path(name: &str, env: &BTreeMap<String, String>) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = env.get("PATH")?;
    std::env::split_paths(path)
        .map(|dir| dir.join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "127.0.0.1".to_owned())
}

fn read_spark_defaults(path: &Path) -> Result<BTreeMap<String, String>, ConfigError> {
    if !path.exists() {
        return Ok(BTreeMap::new());
    }
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.display().to_string(),
        source,
    })?;
    Ok(properties::parse(&text)
        .into_iter()
        .map(|(_, k, v)| (k, v))
        .collect())
}

#[cfg(test)]
mod tests;
