//! Desired-state records: what a client asked for (`…Spec`) and what the
//! reconciler observed (`…Status`), plus Livy's state enums.
//!
//! Pure data and transitions; no I/O. Every fact a client can see comes from
//! one of these types (or from a live driver), never from a task's memory.

mod batch;
pub mod redact;
mod resources;
pub mod seal;
mod session;
mod state;

pub use batch::{AppInfo, BatchSpec, BatchStatus, Submission};
pub use resources::Resources;
pub use session::{SessionKind, SessionSpec, SessionStatus};
pub use state::{LaunchFailure, SessionState};

use serde::{Deserialize, Serialize};

/// Which collection a record belongs to. Ids are allocated per kind, as in Livy
/// (batch 0 and session 0 can coexist).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Batch,
    Session,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Batch => "batch",
            Kind::Session => "session",
        }
    }
}

/// Metadata every record carries, whatever its kind. It maps onto a Kubernetes
/// object's metadata (name, creation time, deletion timestamp + finalizer).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    /// Livy session name (unique among live records of a kind), if given.
    pub name: Option<String>,
    /// The authenticated user who created the record; `None` without auth.
    pub owner: Option<String>,
    /// Epoch milliseconds.
    pub created_at: u64,
    /// Set by DELETE: the reconciler stops the application, then removes the record.
    #[serde(default)]
    pub deletion_requested: bool,
}

/// Milliseconds since the Unix epoch, the unit of every timestamp in records.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A conf map from pairs (unit tests).
#[cfg(test)]
pub(crate) fn conf_of(pairs: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
