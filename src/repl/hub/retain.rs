//! What a session keeps of its statements: at most
//! [`RETAINED_STATEMENTS`] (the oldest finished ones go first) and, past
//! the session's output cap, the outputs of the oldest finished statements
//! replaced by a note saying so. Each entry's output size is measured once,
//! when its output arrives, so keeping the cap costs a sum, not a walk of
//! every retained output on every driver message.

use super::super::protocol::Statement;
use super::Channel;

/// Statements kept per session (`livy.rsc.retained-statements`).
pub(super) const RETAINED_STATEMENTS: usize = 100;

pub(super) const DROPPED: &str = "livy-server: this statement's output was dropped";

/// One statement as the server tracks it.
pub(super) struct Entry {
    pub(super) st: Statement,
    pub(super) kind: String,
    /// Written to a driver connection (which may since have dropped).
    pub(super) sent: bool,
    /// A cancel asked while the driver was away; sent once it is back.
    pub(super) cancel_pending: bool,
    /// About how many bytes its output takes.
    output_bytes: u64,
    /// Its output was replaced by the note that the cap dropped it.
    dropped: bool,
}

impl Entry {
    pub(super) fn new(st: Statement, kind: String, sent: bool) -> Self {
        let mut e = Self {
            output_bytes: 0,
            dropped: false,
            st,
            kind,
            sent,
            cancel_pending: false,
        };
        e.measure();
        e
    }

    /// Its statement as the driver now reports it.
    pub(super) fn replace(&mut self, st: Statement) {
        self.st = st;
        self.measure();
    }

    /// Its output as the driver now reports it.
    pub(super) fn set_output(&mut self, output: serde_json::Value) {
        self.st.output = Some(output);
        self.measure();
    }

    fn measure(&mut self) {
        self.output_bytes = self.st.output.as_ref().map_or(0, output_bytes);
        self.dropped = false;
    }
}

impl Channel {
    /// Drops the oldest finished statements beyond the retained count; a
    /// statement that is still waiting or running is never dropped.
    /// Then, past `output_cap` bytes of output in all, drops the outputs of
    /// the oldest finished statements (they stay listed, with a note saying
    /// so), the newest one's last.
    pub(super) fn evict(&mut self) {
        let mut excess = self.statements.len().saturating_sub(RETAINED_STATEMENTS);
        self.statements.retain(|e| {
            if excess > 0 && e.st.state.is_final() {
                excess -= 1;
                false
            } else {
                true
            }
        });
        if self.output_cap == 0 {
            return;
        }
        let mut total: u64 = self.statements.iter().map(|e| e.output_bytes).sum();
        let cap = self.output_cap;
        for e in &mut self.statements {
            if total <= cap {
                break;
            }
            if !e.st.state.is_final() || e.output_bytes == 0 || e.dropped {
                continue;
            }
            let note = dropped_output(e.st.id, cap);
            total = total - e.output_bytes + output_bytes(&note);
            e.output_bytes = output_bytes(&note);
            e.st.output = Some(note);
            e.dropped = true;
        }
    }
}

/// About how many bytes an output takes: its strings and numbers as text.
pub(super) fn output_bytes(v: &serde_json::Value) -> u64 {
    use serde_json::Value;
    match v {
        Value::String(s) => s.len() as u64 + 2,
        Value::Array(a) => a.iter().map(output_bytes).sum::<u64>() + 2,
        Value::Object(o) => o
            .iter()
            .map(|(k, v)| k.len() as u64 + 3 + output_bytes(v))
            .sum::<u64>()
            .saturating_add(2),
        other => other.to_string().len() as u64,
    }
}

/// The output a statement keeps once the session's cap dropped its own.
fn dropped_output(id: u64, cap: u64) -> serde_json::Value {
    serde_json::json!({
        "status": "ok",
        "execution_count": id,
        "data": {"text/plain": format!(
            "{DROPPED}: the session keeps at most {cap} bytes of statement output \
             (livy.server.session.max-retained-output-bytes), the oldest outputs dropped first"
        )},
    })
}
