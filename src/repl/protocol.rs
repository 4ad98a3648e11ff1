//! The driver channel's messages: newline-delimited JSON over one TCP
//! connection that the driver dials. See `src/repl/driver/` for the other end.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Server → driver.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ToDriver {
    /// Accepted. `servers`: every server's callback address (`host:port`)
    /// when several share the records, for the driver to dial in turn
    /// should this one go away; empty otherwise.
    Welcome {
        #[serde(skip_serializing_if = "Vec::is_empty")]
        servers: Vec<String>,
    },
    /// This server does not serve the driver now (it does not lead, or does
    /// not know the session yet): dial another, or again later. `servers`:
    /// where to dial, the leader first when it is known.
    Elsewhere {
        #[serde(skip_serializing_if = "Vec::is_empty")]
        servers: Vec<String>,
    },
    /// The servers sharing the records changed (one joined or left): every
    /// server's callback address, for the driver's next dial.
    Servers {
        servers: Vec<String>,
    },
    Execute {
        id: u64,
        kind: String,
        code: String,
    },
    Cancel {
        id: u64,
    },
    Complete {
        req: u64,
        kind: String,
        code: String,
        cursor: i64,
    },
    Shutdown,
    /// A Job API job (`jobType` `spark`: Livy's Kryo bytes; `pyspark`: a
    /// cloudpickled function), base64 as the client sent it.
    Job {
        id: u64,
        #[serde(rename = "jobType")]
        job_type: String,
        job: String,
    },
    CancelJob {
        id: u64,
    },
    /// Adds a jar, file or Python file to the running context: `data`
    /// (base64, an upload named `name`) or `uri` (a path the driver reads).
    /// Answered by [`FromDriver::Added`] with the same `req`.
    Add {
        req: u64,
        what: String,
        name: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        data: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        uri: Option<String>,
    },
}

/// Driver → server.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum FromDriver {
    Hello {
        session: u64,
        secret: String,
        #[serde(rename = "appId")]
        app_id: Option<String>,
        #[serde(rename = "sparkUiUrl")]
        spark_ui_url: Option<String>,
    },
    State {
        state: String,
    },
    Statement {
        id: u64,
        state: StatementState,
        started: Option<u64>,
        completed: Option<u64>,
        output: Option<Value>,
    },
    Progress {
        id: u64,
        progress: f64,
    },
    Completion {
        req: u64,
        candidates: Vec<String>,
    },
    /// Sent on every (re)connection, before anything else: the statements
    /// the driver retains and the id it expects next (it has seen every id
    /// below it). Until it arrives the server assigns no statement id.
    History {
        statements: Vec<Statement>,
        #[serde(default, rename = "nextId")]
        next_id: Option<u64>,
    },
    /// A job's state changed; `result` (base64, as clients get it) with
    /// `SUCCEEDED`, `error` (the remote traceback) with `FAILED`.
    Job {
        id: u64,
        state: JobState,
        #[serde(default)]
        result: Option<String>,
        #[serde(default)]
        error: Option<String>,
    },
    /// The answer to [`ToDriver::Add`]: `error` when it failed.
    Added {
        req: u64,
        #[serde(default)]
        error: Option<String>,
    },
}

/// A Job API job's state, as Livy's clients read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum JobState {
    Sent,
    Queued,
    Started,
    Cancelled,
    Failed,
    Succeeded,
}

impl JobState {
    pub fn is_final(self) -> bool {
        matches!(self, Self::Cancelled | Self::Failed | Self::Succeeded)
    }
}

/// `GET /sessions/{id}/jobs/{jobId}`: exactly Livy's four keys (its Java
/// client fails on any other).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct JobStatus {
    pub id: u64,
    pub state: JobState,
    /// Base64 of the serialized result, once `SUCCEEDED`.
    pub result: Option<String>,
    /// The remote error, once `FAILED`.
    pub error: Option<String>,
}

/// Statement states (shared/livy-api.md §2); Livy never emits `error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StatementState {
    Waiting,
    Running,
    Available,
    Cancelling,
    Cancelled,
}

impl StatementState {
    /// `available` and `cancelled` never change again.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Available | Self::Cancelled)
    }
}

/// A statement as clients see it (shared/livy-api.md §1.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Statement {
    pub id: u64,
    pub code: String,
    pub state: StatementState,
    /// `null` until it is `available`; then `{"status": "ok",
    /// "execution_count", "data": {mime type: value}}` (`text/plain`,
    /// `application/json`, `application/vnd.livy.table.v1+json`,
    /// `image/png` as base64) or `{"status": "error", "ename", "evalue",
    /// "traceback"}`.
    #[schema(value_type = Option<Object>)]
    pub output: Option<Value>,
    /// 0 to 1, from the Spark jobs the statement runs.
    #[serde(default)]
    pub progress: f64,
    /// Epoch ms it started running (0: not yet).
    #[serde(default)]
    pub started: u64,
    /// Epoch ms it finished (0: not yet).
    #[serde(default)]
    pub completed: u64,
}
