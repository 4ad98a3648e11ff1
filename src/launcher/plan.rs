//! A launch as a pure function: a record's spec (its conf secrets opened),
//! the server's submit settings, what the cluster manager adds, and the
//! built driver's artifacts go in; the argv, the environment, the files to
//! write before spark-submit starts and where the driver runs come out.
//! Nothing here reads the clock, the disk or the network, so every launch
//! the reconciler can make is a row in this module's tables.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Placement;
use super::argv::{SubmitAdditions, SubmitSettings, batch_argv, submit_argv, with_properties_file};
use super::r::r_launch;
use crate::records::{BatchSpec, Resources, SessionKind};
use crate::repl::driver_build::RArtifacts;

/// The session driver's main class (src/repl/driver/LivyReplDriver.scala).
pub const DRIVER_CLASS: &str = "org.livyserver.repl.LivyReplDriver";
/// Environment variable that carries the per-session secret to the driver.
pub const SECRET_ENV: &str = "LIVY_SESSION_SECRET";
/// The Spark key of the driver JVM's options.
const DRIVER_JAVA_OPTIONS: &str = "spark.driver.extraJavaOptions";
/// Where a driver placed elsewhere finds its secret (in its application dir).
const SECRET_FILE: &str = "driver-secret.conf";

/// One launch, ready to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchPlan {
    /// spark-submit's argv, program first.
    pub argv: Vec<String>,
    /// Environment added to spark-submit's.
    pub env: Vec<(String, String)>,
    /// Written (mode 0600) before spark-submit starts.
    pub files: Vec<PlannedFile>,
    pub placement: Placement,
}

/// A file only the server's user may read, written before the launch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    pub path: PathBuf,
    pub contents: String,
}

/// What every launch is built from, whatever its kind.
#[derive(Debug, Clone)]
pub struct Submit<'a> {
    pub settings: &'a SubmitSettings,
    /// The cluster manager's additions for this submission's tag.
    pub adds: SubmitAdditions,
    /// This project's SparkR package and R REPL, when built.
    pub r: Option<&'a RArtifacts>,
}

/// A session driver's launch: the record's parts and the server's settings
/// for drivers.
#[derive(Debug, Clone)]
pub struct SessionLaunch<'a> {
    pub id: u64,
    pub kind: SessionKind,
    pub pooled: bool,
    /// The spec's resources, conf secrets opened.
    pub resources: Resources,
    /// The built driver jar and Python REPL.
    pub jar: &'a Path,
    pub python: &'a Path,
    /// `host:port` list the driver dials, this server first.
    pub callback: String,
    pub secret: &'a str,
    /// The application's directory (where a secret file goes).
    pub app_dir: &'a Path,
    pub driver: DriverSettings,
}

/// The server's settings for session drivers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DriverSettings {
    pub sql_num_rows: u64,
    pub max_output_bytes: u64,
    pub idle_timeout: Duration,
    /// Fast-start JVM options (and class-data archive) for a driver on this
    /// host, used unless the user or spark-defaults set the driver's options.
    pub fast_start: Option<String>,
    /// spark-defaults.conf sets `spark.driver.extraJavaOptions`.
    pub defaults_set_java_options: bool,
    /// Spark 3 only: spark-defaults.conf's entries. Its spark-submit has no
    /// `--load-spark-defaults`, and a properties file replaces
    /// spark-defaults.conf, so they are written into the file too. `None`:
    /// Spark 4+, which loads both.
    pub defaults_into_properties: Option<BTreeMap<String, String>>,
    /// `livy.rsc.jars`: Livy's API jars for Java jobs, after the user's jars.
    pub rsc_jars: Vec<String>,
}

impl LaunchPlan {
    /// A batch: its spec as given (conf opened), with the R package for R
    /// applications.
    pub fn batch(spec: &BatchSpec, submit: Submit<'_>) -> Self {
        let Submit {
            settings,
            mut adds,
            r,
        } = submit;
        let mut spec = spec.clone();
        let mut env = Vec::new();
        if let Some(r) = r {
            let add = r_launch(r, &spec.resources.conf, &settings.master, false);
            adds.conf.extend(add.conf);
            spec.resources.archives.extend(add.archives);
            env = add.env;
        }
        Self {
            argv: batch_argv(&spec, settings, &adds),
            env,
            files: Vec::new(),
            placement: Placement::of_submission(settings.deploy_mode.as_deref(), &adds),
        }
    }

    /// A session driver. Its secret reaches a driver on this host as
    /// environment, and a driver elsewhere (YARN's application master, a
    /// Kubernetes pod) through a 0600 properties file: never in argv.
    pub fn session(session: SessionLaunch<'_>, submit: Submit<'_>) -> Self {
        let Submit {
            settings,
            mut adds,
            r,
        } = submit;
        let SessionLaunch {
            mut resources,
            driver,
            ..
        } = session.clone();
        let name =
            (resources.name.clone()).unwrap_or_else(|| format!("livy-session-{}", session.id));
        adds.app_name.get_or_insert(name);
        resources.jars.extend(driver.rsc_jars.iter().cloned());
        let placement = Placement::of_submission(settings.deploy_mode.as_deref(), &adds);
        let here = placement == Placement::ThisHost;
        adds.conf.extend(driver_conf(&session));
        if here
            && !resources.conf.contains_key(DRIVER_JAVA_OPTIONS)
            && !driver.defaults_set_java_options
            && let Some(options) = driver.fast_start
        {
            adds.conf.insert(DRIVER_JAVA_OPTIONS.to_owned(), options);
        }
        let mut env = vec![(SECRET_ENV.to_owned(), session.secret.to_owned())];
        if let Some(r) = r {
            let add = r_launch(r, &resources.conf, &settings.master, true);
            adds.conf.extend(add.conf);
            resources.archives.extend(add.archives);
            env.extend(add.env);
        }
        let jar = session.jar.display().to_string();
        let mut argv = submit_argv(&resources, Some(DRIVER_CLASS), &jar, &[], settings, &adds);
        let mut files = Vec::new();
        if !here {
            let defaults = driver.defaults_into_properties.as_ref();
            let file = secret_file(session.app_dir, session.secret, defaults);
            let path = file.path.display().to_string();
            argv = with_properties_file(argv, &path, defaults.is_none());
            files.push(file);
        }
        Self {
            argv,
            env,
            files,
            placement,
        }
    }
}

/// What the driver is told through its conf (`spark.livy.*`).
fn driver_conf(s: &SessionLaunch<'_>) -> BTreeMap<String, String> {
    let d = &s.driver;
    [
        ("spark.livy.callback", s.callback.clone()),
        ("spark.livy.session.id", s.id.to_string()),
        ("spark.livy.session.kind", s.kind.as_str().to_owned()),
        ("spark.livy.repl.python", s.python.display().to_string()),
        ("spark.livy.sql.num-rows", d.sql_num_rows.to_string()),
        (
            "spark.livy.statement.max-output-bytes",
            d.max_output_bytes.to_string(),
        ),
        (
            "spark.livy.server.idle-timeout",
            format!("{}s", d.idle_timeout.as_secs()),
        ),
    ]
    .into_iter()
    .chain(s.pooled.then(|| ("spark.livy.pool", "true".to_owned())))
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// The session secret as cluster-mode driver environment (YARN's
/// application master, a Kubernetes driver pod), after `defaults` (Spark 3:
/// spark-defaults.conf's entries, which the file replaces).
fn secret_file(
    app_dir: &Path,
    secret: &str,
    defaults: Option<&BTreeMap<String, String>>,
) -> PlannedFile {
    let mut contents = String::new();
    for (k, v) in defaults.into_iter().flatten() {
        // Java properties: a backslash escapes; the first `=` separates.
        contents.push_str(&format!(
            "{}={}\n",
            k.replace('\\', "\\\\"),
            v.replace('\\', "\\\\")
        ));
    }
    contents.push_str(&format!(
        "spark.yarn.appMasterEnv.{SECRET_ENV}={secret}\n\
         spark.kubernetes.driverEnv.{SECRET_ENV}={secret}\n"
    ));
    PlannedFile {
        path: app_dir.join(SECRET_FILE),
        contents,
    }
}

#[cfg(test)]
mod tests;
