//! What batches and sessions request alike: files, resources, queue, name, conf.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Resources {
    /// `None` unless impersonation is on (Livy ignores it otherwise).
    pub proxy_user: Option<String>,
    #[serde(default)]
    pub jars: Vec<String>,
    #[serde(default)]
    pub py_files: Vec<String>,
    #[serde(default)]
    pub files: Vec<String>,
    #[serde(default)]
    pub archives: Vec<String>,
    pub driver_memory: Option<String>,
    pub driver_cores: Option<u32>,
    pub executor_memory: Option<String>,
    pub executor_cores: Option<u32>,
    pub num_executors: Option<u32>,
    pub queue: Option<String>,
    pub name: Option<String>,
    #[serde(default)]
    pub conf: BTreeMap<String, String>,
}
