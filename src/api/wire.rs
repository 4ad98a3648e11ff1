//! Small response bodies of the wire contract (shared/livy-api.md), typed so
//! that handlers and `/openapi.json` share one definition.

use serde::Serialize;
use utoipa::ToSchema;

use crate::records::SessionState;

/// `{"msg": …}`: Livy's ResponseMessage, for errors and acknowledgements.
#[derive(Debug, Serialize, ToSchema)]
pub struct Msg {
    /// What happened, or what to fix.
    pub msg: String,
}

impl Msg {
    pub fn new(msg: impl Into<String>) -> Self {
        Self { msg: msg.into() }
    }
}

/// `GET /batches/{id}/state`, `GET /sessions/{id}/state`.
#[derive(Debug, Serialize, ToSchema)]
pub struct StateView {
    pub id: u64,
    pub state: SessionState,
}

/// A page of a batch's or session's log (`stdout: ` and `\nstderr: ` frame
/// the lines, as Livy's).
#[derive(Debug, Serialize, ToSchema)]
pub struct LogPage {
    pub id: u64,
    /// Index of the first line returned.
    pub from: usize,
    /// Lines in the whole log.
    pub total: usize,
    pub log: Vec<String>,
}

/// `GET /sessions/{id}/statements`.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatementList {
    pub total_statements: usize,
    pub statements: Vec<crate::repl::protocol::Statement>,
}

/// `POST /sessions/{id}/completion`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Candidates {
    pub candidates: Vec<String>,
}

/// `GET /version`: Livy's version object, plus the Spark and Scala every
/// application of this server runs on (extra fields; clients read only
/// `version`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VersionView {
    pub version: &'static str,
    pub user: &'static str,
    pub revision: &'static str,
    pub branch: &'static str,
    pub date: &'static str,
    pub url: &'static str,
    pub server: String,
    pub spark_version: Option<String>,
    pub scala_version: Option<String>,
}

/// Which keys a Session or Batch object carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Exactly Livy 0.8's keys, for the answers to creates: Livy's Java
    /// client reads them with a strict JSON mapper (an unknown key fails it).
    Livy,
    /// Livy's keys and this server's additions (`createdAt`; `fromPool` for
    /// sessions), on every other answer.
    Extended,
}
