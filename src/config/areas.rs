//! The areas [`super::Config`] is read in, one builder each: the Spark
//! installation, the cluster managers, the driver launcher, sessions, and
//! the store with its leader election. Builders read keys only through
//! [`Settings`]; `Config` keeps their values as flat fields.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::settings::Settings;
use super::spark_install::SparkInstall;
use super::{ConfigError, keys, kubernetes, launch, postgres, properties, yarn_site};
use crate::records::redact::{self, Redaction};

type Env = BTreeMap<String, String>;

/// The Spark installation and what applications get from it.
pub(super) struct Spark {
    pub(super) home: PathBuf,
    pub(super) install: Option<SparkInstall>,
    pub(super) r_command: Option<PathBuf>,
    /// spark-defaults.conf, as spark-submit reads it.
    pub(super) defaults: BTreeMap<String, String>,
    pub(super) master: String,
    pub(super) deploy_mode: Option<String>,
    pub(super) redaction: Redaction,
}

impl Spark {
    pub(super) fn read(s: &Settings<'_>, env: &Env) -> Result<Self, ConfigError> {
        let home = spark_home(s, env)?;
        let conf_dir = env
            .get("SPARK_CONF_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join("conf"));
        let defaults = read_spark_defaults(&conf_dir.join("spark-defaults.conf"))?;
        let master = spark_master(s, &defaults)?;
        let redaction = redaction(s, &defaults)?;
        let deploy_mode = deploy_mode(s)?;
        Ok(Self {
            install: SparkInstall::detect(&home),
            r_command: find_on_path("R", env),
            home,
            defaults,
            master,
            deploy_mode,
            redaction,
        })
    }
}

/// `livy.server.spark-home`, else `$SPARK_HOME`; it must hold `bin/spark-submit`.
fn spark_home(s: &Settings<'_>, env: &Env) -> Result<PathBuf, ConfigError> {
    let home = match s.value(keys::SPARK_HOME) {
        h if !h.is_empty() => PathBuf::from(h),
        _ => env
            .get("SPARK_HOME")
            .map(PathBuf::from)
            .ok_or(ConfigError::NoSparkHome)?,
    };
    if !home.join("bin").join("spark-submit").exists() {
        return Err(ConfigError::NotSparkHome {
            key: keys::SPARK_HOME,
            path: home.display().to_string(),
        });
    }
    Ok(home)
}

/// `livy.spark.master` when set, else spark-defaults' `spark.master`, else `local[*]`.
fn spark_master(
    s: &Settings<'_>,
    defaults: &BTreeMap<String, String>,
) -> Result<String, ConfigError> {
    let master = if s.is_set(keys::SPARK_MASTER) {
        s.value(keys::SPARK_MASTER).to_owned()
    } else {
        defaults
            .get("spark.master")
            .cloned()
            .unwrap_or_else(|| "local[*]".to_owned())
    };
    if master.is_empty() {
        // Named "configuration": the value may come from spark-defaults.conf.
        return Err(ConfigError::BadValue {
            key: keys::SPARK_MASTER.to_owned(),
            value: master,
            source_name: "configuration".to_owned(),
            reason: "must not be empty".to_owned(),
        });
    }
    Ok(master)
}

/// As Spark: the server's own pattern, else spark-defaults', else Spark's.
fn redaction(
    s: &Settings<'_>,
    defaults: &BTreeMap<String, String>,
) -> Result<Redaction, ConfigError> {
    let pattern = match s.value(keys::REDACTION_REGEX) {
        r if !r.is_empty() => r.to_owned(),
        _ => defaults
            .get("spark.redaction.regex")
            .cloned()
            .unwrap_or_else(|| redact::DEFAULT_REGEX.to_owned()),
    };
    Redaction::new(&pattern).map_err(|e| ConfigError::BadValue {
        key: keys::REDACTION_REGEX.to_owned(),
        value: pattern.clone(),
        source_name: "configuration".to_owned(),
        reason: format!("not a regular expression: {e}"),
    })
}

/// `client`, `cluster`, or empty (`None`: spark-submit decides).
fn deploy_mode(s: &Settings<'_>) -> Result<Option<String>, ConfigError> {
    match s.value(keys::SPARK_DEPLOY_MODE) {
        "" => Ok(None),
        mode @ ("client" | "cluster") => Ok(Some(mode.to_owned())),
        _ => Err(s.bad(keys::SPARK_DEPLOY_MODE, "expected client or cluster")),
    }
}

/// How the YARN ResourceManager and the standalone master are reached.
pub(super) struct ClusterManagers {
    pub(super) yarn_rm_addresses: Vec<String>,
    pub(super) yarn_poll_interval: Duration,
    pub(super) yarn_app_lookup_timeout: Duration,
    pub(super) spark_master_ui: Vec<String>,
    pub(super) spark_master_rest: Vec<String>,
}

impl ClusterManagers {
    pub(super) fn read(s: &Settings<'_>, master: &str, env: &Env) -> Result<Self, ConfigError> {
        let yarn_rm_addresses = if master.starts_with("yarn") {
            yarn_site::resolve(s.value(keys::YARN_RM_ADDRESS), env)?
        } else {
            Vec::new()
        };
        Ok(Self {
            yarn_rm_addresses,
            yarn_poll_interval: s
                .duration(keys::YARN_POLL_INTERVAL)?
                .max(Duration::from_millis(50)),
            yarn_app_lookup_timeout: s.duration(keys::YARN_APP_LOOKUP_TIMEOUT)?,
            spark_master_ui: s.list(keys::SPARK_MASTER_UI),
            spark_master_rest: s.list(keys::SPARK_MASTER_REST),
        })
    }
}

/// Where drivers dial back to, and how drivers on this host are isolated.
pub(super) struct Launcher {
    pub(super) address: String,
    pub(super) ports: (u16, u16),
    pub(super) launch: launch::LaunchConfig,
}

impl Launcher {
    pub(super) fn read(s: &Settings<'_>, master: &str, env: &Env) -> Result<Self, ConfigError> {
        let ports = s.port_range(keys::LAUNCHER_PORT_RANGE)?;
        let address = match s.value(keys::LAUNCHER_ADDRESS) {
            a if !a.is_empty() => a.to_owned(),
            _ if master.starts_with("local") => "127.0.0.1".to_owned(),
            _ => hostname(),
        };
        let launch = launch::LaunchConfig {
            bwrap: find_on_path("bwrap", env),
            ..launch::parse(s)?
        };
        Ok(Self {
            address,
            ports,
            launch,
        })
    }
}

/// Interactive sessions: the warm pool, statement waits, session drivers.
pub(super) struct Sessions {
    pub(super) pool_size: usize,
    pub(super) pool_ttl: Duration,
    pub(super) timeout: Option<Duration>,
    pub(super) connect_timeout: Duration,
    pub(super) sql_num_rows: u64,
    pub(super) statement_sync_wait: Duration,
    pub(super) statement_recovery_wait: Duration,
    pub(super) driver_idle_timeout: Duration,
    pub(super) driver_cache_dir: PathBuf,
    pub(super) driver_java_options: String,
    pub(super) driver_class_data_sharing: bool,
    pub(super) jobs: JobApi,
}

/// The Job API's settings.
#[derive(Debug, Clone)]
pub struct JobApi {
    /// Jars added to every session driver's `spark.jars` (`livy.rsc.jars`).
    pub rsc_jars: Vec<String>,
    /// How long a finished job's status is kept.
    pub retention: Duration,
    /// Largest upload, in bytes.
    pub upload_max: u64,
}

impl Sessions {
    pub(super) fn read(s: &Settings<'_>, data_dir: &Path) -> Result<Self, ConfigError> {
        Ok(Self {
            pool_size: s.number(keys::POOL_SIZE)?,
            pool_ttl: s.duration(keys::POOL_TTL)?.max(Duration::from_secs(1)),
            timeout: Some(s.duration(keys::SESSION_TIMEOUT)?).filter(|d| !d.is_zero()),
            connect_timeout: s.duration(keys::CONNECT_TIMEOUT)?,
            sql_num_rows: s.number(keys::SQL_NUM_ROWS)?,
            statement_sync_wait: s.duration(keys::STATEMENT_SYNC_WAIT)?,
            statement_recovery_wait: s.duration(keys::STATEMENT_RECOVERY_WAIT)?,
            driver_idle_timeout: s.duration(keys::DRIVER_IDLE_TIMEOUT)?,
            driver_cache_dir: match s.value(keys::DRIVER_CACHE_DIR) {
                d if !d.is_empty() => PathBuf::from(d),
                _ => data_dir.join("driver"),
            },
            driver_java_options: s.value(keys::DRIVER_JAVA_OPTIONS).trim().to_owned(),
            driver_class_data_sharing: s.flag(keys::DRIVER_CLASS_DATA_SHARING)?,
            jobs: JobApi {
                rsc_jars: s
                    .absolute_paths(keys::RSC_JARS)?
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect(),
                retention: s.duration(keys::JOB_RETENTION)?,
                upload_max: s.bytes(keys::UPLOAD_MAX)?,
            },
        })
    }
}

/// Where records live and who leads: Kubernetes mode, the PostgreSQL store
/// and leader election on it.
pub(super) struct Ha {
    pub(super) kubernetes: kubernetes::KubernetesConfig,
    pub(super) postgres: Option<postgres::PostgresConfig>,
    pub(super) ha: postgres::HaConfig,
}

impl Ha {
    pub(super) fn read(s: &Settings<'_>, env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            kubernetes: kubernetes::parse(s)?,
            postgres: postgres::parse(s, env)?,
            ha: postgres::parse_ha(s)?,
        })
    }
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

pub(super) fn hostname() -> String {
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
