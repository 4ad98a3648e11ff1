//! `POST /batches` and `POST /sessions` bodies. Both share Livy's resource
//! fields, so one type decodes either; each endpoint then refuses the
//! other's fields and validates into its spec.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::body;
use super::error::ApiError;
use super::validate;
use crate::config::{keys, parse_duration};
use crate::records::{BatchSpec, Resources, SessionKind, SessionSpec};

/// `POST /batches` and `POST /sessions` (each refuses the other's fields).
/// Text fields take numbers too, integer fields numeric strings, as Livy's
/// Jackson does.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateRequest {
    // Batch only.
    #[serde(default, deserialize_with = "body::opt_text")]
    #[schema(schema_with = super::openapi::text)]
    file: Option<String>,
    #[serde(default, deserialize_with = "body::opt_text")]
    #[schema(schema_with = super::openapi::text)]
    class_name: Option<String>,
    #[serde(default, deserialize_with = "body::opt_list")]
    #[schema(schema_with = super::openapi::text_list)]
    args: Option<Vec<String>>,
    // Session only.
    #[serde(default, deserialize_with = "body::opt_text")]
    #[schema(schema_with = super::openapi::text)]
    kind: Option<String>,
    #[serde(default, deserialize_with = "body::opt_int")]
    #[schema(schema_with = super::openapi::int)]
    heartbeat_timeout_in_second: Option<i64>,
    #[serde(default, deserialize_with = "body::opt_text")]
    #[schema(schema_with = super::openapi::text)]
    ttl: Option<String>,
    // Both.
    #[serde(default, deserialize_with = "body::opt_text")]
    #[schema(schema_with = super::openapi::text)]
    proxy_user: Option<String>,
    #[serde(default, deserialize_with = "body::text_list")]
    #[schema(schema_with = super::openapi::text_list)]
    jars: Vec<String>,
    #[serde(default, deserialize_with = "body::text_list")]
    #[schema(schema_with = super::openapi::text_list)]
    py_files: Vec<String>,
    #[serde(default, deserialize_with = "body::text_list")]
    #[schema(schema_with = super::openapi::text_list)]
    files: Vec<String>,
    #[serde(default, deserialize_with = "body::text_list")]
    #[schema(schema_with = super::openapi::text_list)]
    archives: Vec<String>,
    #[serde(default, deserialize_with = "body::opt_text")]
    #[schema(schema_with = super::openapi::text)]
    driver_memory: Option<String>,
    #[serde(default, deserialize_with = "body::opt_int")]
    #[schema(schema_with = super::openapi::int)]
    driver_cores: Option<i64>,
    #[serde(default, deserialize_with = "body::opt_text")]
    #[schema(schema_with = super::openapi::text)]
    executor_memory: Option<String>,
    #[serde(default, deserialize_with = "body::opt_int")]
    #[schema(schema_with = super::openapi::int)]
    executor_cores: Option<i64>,
    #[serde(default, deserialize_with = "body::opt_int")]
    #[schema(schema_with = super::openapi::int)]
    num_executors: Option<i64>,
    #[serde(default, deserialize_with = "body::opt_text")]
    #[schema(schema_with = super::openapi::text)]
    queue: Option<String>,
    #[serde(default, deserialize_with = "body::opt_text")]
    #[schema(schema_with = super::openapi::text)]
    name: Option<String>,
    #[serde(default, deserialize_with = "body::conf_map")]
    #[schema(schema_with = super::openapi::conf)]
    conf: BTreeMap<String, String>,
}

/// Server settings that validation depends on.
pub struct Rules<'a> {
    pub whitelist: &'a [PathBuf],
    pub impersonation: bool,
    /// `sparkr` can run: R is on the server, or drivers run in the cluster.
    pub r: bool,
    /// Sanity caps on requested resources.
    pub caps: crate::config::limits::ResourceCaps,
}

impl<'a> Rules<'a> {
    pub fn of(config: &'a crate::config::Config) -> Self {
        Self {
            whitelist: &config.local_dir_whitelist,
            impersonation: config.impersonation,
            r: config.r_command.is_some() || config.deploy_mode.as_deref() == Some("cluster"),
            caps: config.limits.caps,
        }
    }

    /// A clear 400 for R where R cannot run, instead of a session that dies later.
    pub fn check_kind(&self, kind: SessionKind) -> Result<(), ApiError> {
        if kind == SessionKind::Sparkr && !self.r {
            return Err(ApiError::bad(
                "kind: sparkr needs R on the server and none was found on its PATH: install R (Debian: apt-get install r-base-core) and restart livy-server",
            ));
        }
        Ok(())
    }
}

/// Fields only `POST /batches` takes.
pub const BATCH_ONLY: [&str; 3] = ["file", "className", "args"];
/// Fields only `POST /sessions` takes.
pub const SESSION_ONLY: [&str; 3] = ["kind", "heartbeatTimeoutInSecond", "ttl"];

fn unknown(field: &str, endpoint: &str) -> ApiError {
    ApiError::BadRequest(format!(
        "Unrecognized field \"{field}\": {endpoint} does not take it"
    ))
}

impl CreateRequest {
    /// Every argument this request puts on spark-submit's command line, named
    /// by the field it comes from (see `launcher::argv`: lists are joined by
    /// commas into one argument, each conf entry is one `key=value`).
    fn arguments(&self) -> Vec<(String, usize)> {
        let mut out = Vec::new();
        let mut one = |field: &str, value: &Option<String>| {
            if let Some(v) = value {
                out.push((field.to_owned(), v.len()));
            }
        };
        one("name", &self.name);
        one("className", &self.class_name);
        one("driverMemory", &self.driver_memory);
        one("executorMemory", &self.executor_memory);
        one("queue", &self.queue);
        one("proxyUser", &self.proxy_user);
        for (field, items) in [
            ("jars", &self.jars),
            ("pyFiles", &self.py_files),
            ("files", &self.files),
            ("archives", &self.archives),
        ] {
            if !items.is_empty() {
                let joined = items.iter().map(|i| i.len() + 1).sum::<usize>() - 1;
                out.push((format!("{field} (joined by commas)"), joined));
            }
        }
        for (k, v) in &self.conf {
            out.push((
                format!("conf[{}]", validate::short(k)),
                k.len() + 1 + v.len(),
            ));
        }
        if let Some(file) = &self.file {
            out.push(("file".to_owned(), file.len()));
        }
        for (i, a) in self.args.iter().flatten().enumerate() {
            out.push((format!("args[{i}]"), a.len()));
        }
        out
    }

    fn resources(self, rules: &Rules) -> Result<Resources, ApiError> {
        let wl = rules.whitelist;
        validate::paths("jars", &self.jars, wl)?;
        validate::paths("pyFiles", &self.py_files, wl)?;
        validate::paths("files", &self.files, wl)?;
        validate::paths("archives", &self.archives, wl)?;
        validate::conf_paths(&self.conf, wl)?;
        let caps = &rules.caps;
        validate::memory("driverMemory", &self.driver_memory)?;
        validate::memory("executorMemory", &self.executor_memory)?;
        validate::memory_cap(
            "driverMemory",
            &self.driver_memory,
            caps.driver_memory,
            keys::MAX_DRIVER_MEMORY,
        )?;
        validate::memory_cap(
            "executorMemory",
            &self.executor_memory,
            caps.executor_memory,
            keys::MAX_EXECUTOR_MEMORY,
        )?;
        let driver_cores = validate::count("driverCores", self.driver_cores, 1)?;
        let executor_cores = validate::count("executorCores", self.executor_cores, 1)?;
        let num_executors = validate::count("numExecutors", self.num_executors, 0)?;
        validate::count_cap(
            "driverCores",
            driver_cores,
            caps.driver_cores,
            keys::MAX_DRIVER_CORES,
        )?;
        validate::count_cap(
            "executorCores",
            executor_cores,
            caps.executor_cores,
            keys::MAX_EXECUTOR_CORES,
        )?;
        validate::count_cap(
            "numExecutors",
            num_executors,
            caps.num_executors,
            keys::MAX_NUM_EXECUTORS,
        )?;
        validate::simple("queue", &self.queue)?;
        validate::simple("proxyUser", &self.proxy_user)?;
        validate::name(&self.name)?;
        validate::conf(&self.conf)?;
        Ok(Resources {
            // Livy ignores proxyUser unless impersonation is on, and reports null.
            proxy_user: if rules.impersonation {
                self.proxy_user
            } else {
                None
            },
            jars: self.jars,
            py_files: self.py_files,
            files: self.files,
            archives: self.archives,
            driver_memory: self.driver_memory,
            driver_cores,
            executor_memory: self.executor_memory,
            executor_cores,
            num_executors,
            queue: self.queue,
            name: self.name,
            conf: self.conf,
        })
    }

    /// Validates a `POST /batches` body into a spec safe to put into an argv.
    pub fn into_batch(mut self, rules: &Rules) -> Result<BatchSpec, ApiError> {
        let given = [
            self.kind.is_some(),
            self.heartbeat_timeout_in_second.is_some(),
            self.ttl.is_some(),
        ];
        for (field, given) in SESSION_ONLY.into_iter().zip(given) {
            if given {
                return Err(unknown(field, "POST /batches"));
            }
        }
        validate::command_line(&self.arguments())?;
        let file = match self.file.take() {
            Some(f) if !f.trim().is_empty() => f,
            _ => return Err(ApiError::bad("file: requirement failed: File is required.")),
        };
        validate::path("file", &file, rules.whitelist, false)?;
        validate::class_name(&self.class_name)?;
        let args = self.args.take().unwrap_or_default();
        for (i, a) in args.iter().enumerate() {
            // Newlines are legal in an argument; NUL cannot be passed at all.
            validate::plain_text(&format!("args[{i}]"), a, true)?;
        }
        if crate::launcher::r::is_r_script(&file) && !rules.r {
            return Err(ApiError::bad(
                "file: an R application needs R on the server and none was found on its PATH: install R (Debian: apt-get install r-base-core) and restart livy-server",
            ));
        }
        let class_name = self.class_name.take();
        Ok(BatchSpec {
            file,
            class_name,
            args,
            resources: self.resources(rules)?,
        })
    }

    /// Validates a `POST /sessions` body.
    pub fn into_session(mut self, rules: &Rules) -> Result<SessionSpec, ApiError> {
        let given = [
            self.file.is_some(),
            self.class_name.is_some(),
            self.args.is_some(),
        ];
        for (field, given) in BATCH_ONLY.into_iter().zip(given) {
            if given {
                return Err(unknown(field, "POST /sessions"));
            }
        }
        validate::command_line(&self.arguments())?;
        let kind = match self.kind.take() {
            None => SessionKind::Shared,
            Some(k) => SessionKind::parse(&k).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "kind: Invalid kind: {k} (use spark, pyspark, sparkr, sql or shared; pyspark3 was removed in Livy 0.5, set PYSPARK_PYTHON instead)"
                ))
            })?,
        };
        rules.check_kind(kind)?;
        let heartbeat = validate::count(
            "heartbeatTimeoutInSecond",
            self.heartbeat_timeout_in_second,
            0,
        )?
        .unwrap_or(0);
        if let Some(ttl) = &self.ttl {
            parse_duration(ttl).map_err(|e| ApiError::BadRequest(format!("ttl: {ttl:?}: {e}")))?;
        }
        let ttl = self.ttl.take();
        Ok(SessionSpec {
            kind,
            resources: self.resources(rules)?,
            heartbeat_timeout_in_second: u64::from(heartbeat),
            ttl,
            stop_requested: false,
            pooled: false,
            from_pool: false,
        })
    }
}
