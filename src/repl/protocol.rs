//! The driver channel's messages: newline-delimited JSON over one TCP
//! connection that the driver dials. See `src/repl/driver/` for the other end.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Server → driver.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ToDriver {
    Welcome,
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
        state: String,
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
    History {
        statements: Vec<Statement>,
    },
}

/// A statement as clients see it (shared/livy-api.md §1.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Statement {
    pub id: u64,
    pub code: String,
    pub state: String,
    pub output: Option<Value>,
    #[serde(default)]
    pub progress: f64,
    #[serde(default)]
    pub started: u64,
    #[serde(default)]
    pub completed: u64,
}
