//! Livy's session/batch state strings (shared/livy-api.md §2). Clients such as
//! sparkmagic raise on any string outside this list, so none is ever added.

use serde::{Deserialize, Serialize};

/// Why a launch (or the application it started) failed: a bounded set,
/// kept in the status beside the human message, which metrics and the UI
/// read (never the message's text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LaunchFailure {
    /// spark-submit could not be started (retried until the retries run out).
    Spawn,
    /// The session could not be launched at all (no driver build, no R, a
    /// sealed conf value that does not open).
    CannotStart,
    /// The cluster never showed an application with the submission's tag.
    NotFound,
    /// The application ended (a batch before it succeeded, a session's
    /// driver before it was stopped).
    Exited,
    /// The session's driver did not connect in time.
    ConnectTimeout,
    /// The session's interpreter failed while starting.
    Interpreter,
}

impl LaunchFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Spawn => "spawn",
            Self::CannotStart => "cannot_start",
            Self::NotFound => "not_found",
            Self::Exited => "exited",
            Self::ConnectTimeout => "connect_timeout",
            Self::Interpreter => "interpreter",
        }
    }
}

/// The eleven states Livy reports for sessions and batches.
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
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    NotStarted,
    Starting,
    Recovering,
    Idle,
    Running,
    Busy,
    ShuttingDown,
    Error,
    Dead,
    Killed,
    Success,
}

impl SessionState {
    /// Every state, in Livy's order.
    pub const ALL: [SessionState; 11] = [
        Self::NotStarted,
        Self::Starting,
        Self::Recovering,
        Self::Idle,
        Self::Running,
        Self::Busy,
        Self::ShuttingDown,
        Self::Error,
        Self::Dead,
        Self::Killed,
        Self::Success,
    ];

    /// Finished states: nothing will change them any more; they are garbage
    /// collected after `livy.server.session.state-retain.sec`.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            Self::Error | Self::Dead | Self::Killed | Self::Success
        )
    }

    /// Created but not launched yet: what a record without a submission is
    /// in before its first launch (`starting`, as Livy creates it) or after a
    /// launch that never ran (`not_started` in records of older servers).
    pub fn awaits_launch(self) -> bool {
        matches!(self, Self::NotStarted | Self::Starting)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotStarted => "not_started",
            Self::Starting => "starting",
            Self::Recovering => "recovering",
            Self::Idle => "idle",
            Self::Running => "running",
            Self::Busy => "busy",
            Self::ShuttingDown => "shutting_down",
            Self::Error => "error",
            Self::Dead => "dead",
            Self::Killed => "killed",
            Self::Success => "success",
        }
    }
}

impl std::fmt::Display for SessionState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_to_livy_strings() {
        let all = [
            (SessionState::NotStarted, "not_started"),
            (SessionState::Starting, "starting"),
            (SessionState::Recovering, "recovering"),
            (SessionState::Idle, "idle"),
            (SessionState::Running, "running"),
            (SessionState::Busy, "busy"),
            (SessionState::ShuttingDown, "shutting_down"),
            (SessionState::Error, "error"),
            (SessionState::Dead, "dead"),
            (SessionState::Killed, "killed"),
            (SessionState::Success, "success"),
        ];
        for (state, text) in all {
            assert_eq!(serde_json::to_value(state).unwrap(), text);
            assert_eq!(state.as_str(), text);
        }
    }
}
