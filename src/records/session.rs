//! Interactive session records: the validated request and what the reconciler
//! and the driver channel observed.

use serde::{Deserialize, Serialize};

use super::{AppInfo, Resources, SessionState, Submission};

/// Session kinds (shared/livy-api.md §3). `Shared` lets every statement pick
/// its own kind.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum SessionKind {
    Spark,
    Pyspark,
    Sparkr,
    Sql,
    Shared,
}

impl SessionKind {
    /// Parses a kind or one of Livy's aliases (`scala`, `python`, `r`), in
    /// any case (the seed's clients send `sparkR`).
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text.to_ascii_lowercase().as_str() {
            "spark" | "scala" => Self::Spark,
            "pyspark" | "python" => Self::Pyspark,
            "sparkr" | "r" => Self::Sparkr,
            "sql" => Self::Sql,
            "shared" => Self::Shared,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Spark => "spark",
            Self::Pyspark => "pyspark",
            Self::Sparkr => "sparkr",
            Self::Sql => "sql",
            Self::Shared => "shared",
        }
    }
}

/// A session as requested (`POST /sessions`), after validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionSpec {
    pub kind: SessionKind,
    #[serde(flatten)]
    pub resources: Resources,
    /// 0 = off. Any `/sessions/{id}…` call counts as a heartbeat.
    #[serde(default)]
    pub heartbeat_timeout_in_second: u64,
    /// Livy 0.8 per-session idle timeout, as given (e.g. `10m`).
    pub ttl: Option<String>,
    /// `POST /sessions/{id}/stop`: stop the application, keep the record listed.
    #[serde(default)]
    pub stop_requested: bool,
    /// A warm driver waiting in the pool for a user: not shown by the API
    /// until a `POST /sessions` adopts it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pooled: bool,
    /// The session adopted a pooled driver.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub from_pool: bool,
}

/// What the server has observed of a session. The driver's secret is not
/// here: whoever can read a record must not learn it.
// It is kept apart: see `crate::store::RecordStore::put_session_secret`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionStatus {
    /// Server-side state. While the driver is connected, `idle`/`busy` come
    /// live from the driver.
    pub state: SessionState,
    pub submission: Option<Submission>,
    pub app_id: Option<String>,
    #[serde(default)]
    pub app_info: AppInfo,
    pub message: Option<String>,
    pub log_path: Option<String>,
    pub state_since: u64,
    /// Transient launch failures so far (spawn errors before anything ran).
    #[serde(default)]
    pub launch_failures: u32,
    /// Why it failed, when it did (beside `message`, for people).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<super::LaunchFailure>,
}

impl SessionStatus {
    pub fn new(now: u64) -> Self {
        Self {
            state: SessionState::Starting,
            submission: None,
            app_id: None,
            app_info: AppInfo::default(),
            message: None,
            log_path: None,
            state_since: now,
            launch_failures: 0,
            failure: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_aliases() {
        for (text, kind) in [
            ("spark", SessionKind::Spark),
            ("scala", SessionKind::Spark),
            ("pyspark", SessionKind::Pyspark),
            ("python", SessionKind::Pyspark),
            ("sparkr", SessionKind::Sparkr),
            ("r", SessionKind::Sparkr),
            ("sparkR", SessionKind::Sparkr),
            ("PySpark", SessionKind::Pyspark),
            ("sql", SessionKind::Sql),
            ("shared", SessionKind::Shared),
        ] {
            assert_eq!(SessionKind::parse(text), Some(kind), "{text}");
        }
        assert_eq!(SessionKind::parse("pyspark3"), None);
    }
}
