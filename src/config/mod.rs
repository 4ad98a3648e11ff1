//! Server configuration, Livy-style, validated once at start-up.
//!
//! Sources, later ones winning: `$LIVY_CONF_DIR/livy.conf` (Livy's key names),
//! environment variables (`livy.server.port` → `LIVY_SERVER_PORT`), then CLI
//! `--conf key=value`. Unknown keys warn, except under the security
//! prefixes ([`auth::SECURITY_PREFIXES`]), where they stop start-up; a bad value stops start-up with an
//! error naming the key. Nothing else in the crate reads configuration.
//! Values are read once, typed, through [`settings::Settings`]: each value
//! syntax has one parser ([`values`]) that both checks and converts.

mod areas;
pub use areas::JobApi;
pub mod auth;
pub mod keys;
pub mod kubernetes;
pub mod launch;
pub mod limits;
pub mod listener;
pub mod postgres;
pub mod properties;
mod settings;
mod sources;
pub mod spark_install;
pub mod tls;
mod values;
mod yarn_site;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use settings::Settings;
#[cfg(test)]
pub(crate) use settings::test_settings;
use sources::Raw;
pub use sources::{Sources, env_name};
pub use values::{parse_bytes, parse_duration, parse_flag};

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
    /// The Job API: driver jars, job retention, upload cap.
    pub jobs: areas::JobApi,
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
        let s = Settings::new(raw);
        let (host, port) = (s.ip(keys::SERVER_HOST)?, s.port(keys::SERVER_PORT)?);
        let spark = areas::Spark::read(&s, env)?;
        let data_dir = PathBuf::from(s.value(keys::DATA_DIR));
        let local_dir_whitelist = s.absolute_paths(keys::LOCAL_DIR_WHITELIST)?;
        let (max_creation, cache_log_size) = (
            s.number(keys::MAX_CREATION)?,
            s.number(keys::CACHE_LOG_SIZE)?,
        );
        let log_max_line = s.bytes(keys::LOG_MAX_LINE)?;
        s.ensure(keys::LOG_MAX_LINE, log_max_line > 0, || {
            "must be at least 1 byte".to_owned()
        })?;
        let max_body = s.bytes(keys::MAX_BODY)? as usize;
        let launcher = areas::Launcher::read(&s, &spark.master, env)?;
        let sessions = areas::Sessions::read(&s, &data_dir)?;
        let managers = areas::ClusterManagers::read(&s, &spark.master, env)?;
        let election = areas::Ha::read(&s, env)?;
        let auth = auth::parse(&s, &areas::hostname())?;
        Ok(Self {
            host,
            port,
            tls: tls::parse(&s)?,
            listener: listener::parse(&s)?,
            launch: launcher.launch,
            limits: limits::parse(&s)?,
            impersonation: auth.acl.impersonation,
            auth,
            kubernetes: election.kubernetes,
            postgres: election.postgres,
            ha: election.ha,
            yarn_rm_addresses: managers.yarn_rm_addresses,
            yarn_poll_interval: managers.yarn_poll_interval,
            yarn_app_lookup_timeout: managers.yarn_app_lookup_timeout,
            spark_master_ui: managers.spark_master_ui,
            spark_master_rest: managers.spark_master_rest,
            leak_timeout: s.duration(keys::LEAK_TIMEOUT)?,
            session_timeout: sessions.timeout,
            driver_cache_dir: sessions.driver_cache_dir,
            driver_java_options: sessions.driver_java_options,
            driver_class_data_sharing: sessions.driver_class_data_sharing,
            metrics: s.flag(keys::METRICS_ENABLED)?,
            jobs: sessions.jobs,
            connect_timeout: sessions.connect_timeout,
            launcher_address: launcher.address,
            launcher_ports: launcher.ports,
            sql_num_rows: sessions.sql_num_rows,
            statement_sync_wait: sessions.statement_sync_wait,
            statement_recovery_wait: sessions.statement_recovery_wait,
            driver_idle_timeout: sessions.driver_idle_timeout,
            pool_size: sessions.pool_size,
            pool_ttl: sessions.pool_ttl,
            spark_master: spark.master,
            deploy_mode: spark.deploy_mode,
            spark_install: spark.install,
            r_command: spark.r_command,
            spark_home: spark.home,
            spark_defaults: spark.defaults,
            redaction: spark.redaction,
            data_dir,
            local_dir_whitelist,
            max_creation,
            state_retain: s.duration(keys::STATE_RETAIN)?,
            cache_log_size,
            poll_interval: s
                .duration(keys::POLL_INTERVAL)?
                .max(Duration::from_millis(50)),
            app_lookup_timeout: s.duration(keys::APP_LOOKUP_TIMEOUT)?,
            kill_grace: s.duration(keys::KILL_GRACE)?,
            max_body,
            log_max_line: log_max_line as usize,
            launch_retries: s.number(keys::LAUNCH_RETRIES)?,
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

#[cfg(test)]
mod tests;
