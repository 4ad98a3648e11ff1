//! Sessions' driver channels: registration, statements, and what a live
//! driver has told us. The connection itself is in `link.rs`.

mod link;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, mpsc, oneshot};

use super::protocol::{Statement, ToDriver};
use crate::records::{SessionState, now_ms};

/// Statements kept per session (`livy.rsc.retained-statements`).
const RETAINED_STATEMENTS: usize = 100;
/// A driver must say hello this soon after connecting.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum ReplError {
    #[error("failed to listen for drivers on {addr}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("no free port for the driver callback listener in {range}")]
    NoPort { range: String },
    #[error("session {0} has no driver channel")]
    NoChannel(u64),
    #[error("the driver of session {0} is not connected")]
    NotConnected(u64),
    #[error("the driver of session {0} did not answer in time")]
    Timeout(u64),
}

#[derive(Default)]
struct Channel {
    secret: String,
    tx: Option<mpsc::UnboundedSender<ToDriver>>,
    /// Bumped on every (re)connection, so a stale connection's exit does not
    /// detach a newer one.
    generation: u64,
    repl_state: Option<SessionState>,
    app_id: Option<String>,
    spark_ui_url: Option<String>,
    statements: Vec<Statement>,
    /// Statement kinds, for re-sending waiting statements after a reconnect.
    kinds: HashMap<u64, String>,
    sent: std::collections::HashSet<u64>,
    next_id: u64,
    next_req: u64,
    completions: HashMap<u64, oneshot::Sender<Vec<String>>>,
    /// Epoch ms of the last statement activity (for idle timeouts).
    last_activity: u64,
    /// Epoch ms of the last client call on this session (heartbeat).
    last_heartbeat: u64,
    ever_connected: bool,
}

/// What the reconciler and handlers read of a channel.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelSnapshot {
    pub connected: bool,
    pub ever_connected: bool,
    pub repl_state: Option<SessionState>,
    pub app_id: Option<String>,
    pub spark_ui_url: Option<String>,
    pub last_activity: u64,
    pub last_heartbeat: u64,
    /// A statement is waiting or running.
    pub busy: bool,
}

pub struct ReplHub {
    channels: Mutex<HashMap<u64, Channel>>,
    /// Wakes the reconciler when a driver connects, changes state or leaves.
    wake: Arc<Notify>,
    /// Wakes statement waiters (tests, long polls) on any statement change.
    pub statement_changed: Notify,
    addr: Mutex<Option<SocketAddr>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn parse_repl_state(s: &str) -> Option<SessionState> {
    Some(match s {
        "starting" => SessionState::Starting,
        "idle" => SessionState::Idle,
        "busy" => SessionState::Busy,
        "error" => SessionState::Error,
        _ => return None,
    })
}

impl ReplHub {
    pub fn new(wake: Arc<Notify>) -> Arc<Self> {
        Arc::new(Self {
            channels: Mutex::default(),
            wake,
            statement_changed: Notify::new(),
            addr: Mutex::default(),
        })
    }

    /// Registers (or refreshes) a session's channel with its secret, so its
    /// driver may connect. Keeps existing statements across calls.
    pub fn register(&self, session: u64, secret: &str) {
        let mut channels = lock(&self.channels);
        let ch = channels.entry(session).or_default();
        ch.secret = secret.to_owned();
        let now = now_ms();
        if ch.last_activity == 0 {
            ch.last_activity = now;
            ch.last_heartbeat = now;
        }
    }

    pub fn unregister(&self, session: u64) {
        if let Some(tx) = lock(&self.channels).remove(&session).and_then(|ch| ch.tx) {
            let _ = tx.send(ToDriver::Shutdown);
        }
    }

    pub fn snapshot(&self, session: u64) -> Option<ChannelSnapshot> {
        let channels = lock(&self.channels);
        let ch = channels.get(&session)?;
        Some(ChannelSnapshot {
            connected: ch.tx.is_some(),
            ever_connected: ch.ever_connected,
            repl_state: ch.repl_state,
            app_id: ch.app_id.clone(),
            spark_ui_url: ch.spark_ui_url.clone(),
            last_activity: ch.last_activity,
            last_heartbeat: ch.last_heartbeat,
            busy: ch
                .statements
                .iter()
                .any(|s| matches!(s.state.as_str(), "waiting" | "running" | "cancelling")),
        })
    }

    /// Records a client call on the session (heartbeat).
    pub fn heartbeat(&self, session: u64) {
        if let Some(ch) = lock(&self.channels).get_mut(&session) {
            ch.last_heartbeat = now_ms();
        }
    }

    /// Asks the driver to stop its SparkContext and exit.
    pub fn shutdown(&self, session: u64) {
        if let Some(tx) = lock(&self.channels)
            .get(&session)
            .and_then(|c| c.tx.clone())
        {
            let _ = tx.send(ToDriver::Shutdown);
        }
    }

    /// Queues a statement; returns it (state `waiting`).
    pub fn submit(&self, session: u64, code: String, kind: &str) -> Result<Statement, ReplError> {
        let mut channels = lock(&self.channels);
        let ch = channels
            .get_mut(&session)
            .ok_or(ReplError::NoChannel(session))?;
        let id = ch.next_id;
        ch.next_id += 1;
        let st = Statement {
            id,
            code: code.clone(),
            state: "waiting".into(),
            output: None,
            progress: 0.0,
            started: 0,
            completed: 0,
        };
        ch.statements.push(st.clone());
        ch.kinds.insert(id, kind.to_owned());
        ch.last_activity = now_ms();
        if ch.statements.len() > RETAINED_STATEMENTS {
            let gone = ch.statements.remove(0);
            ch.kinds.remove(&gone.id);
            ch.sent.remove(&gone.id);
        }
        if let Some(tx) = &ch.tx
            && tx
                .send(ToDriver::Execute {
                    id,
                    kind: kind.to_owned(),
                    code,
                })
                .is_ok()
        {
            ch.sent.insert(id);
        }
        drop(channels);
        self.wake.notify_one();
        Ok(st)
    }

    pub fn statements(&self, session: u64) -> Vec<Statement> {
        lock(&self.channels)
            .get(&session)
            .map(|c| c.statements.clone())
            .unwrap_or_default()
    }

    pub fn statement(&self, session: u64, id: u64) -> Option<Statement> {
        lock(&self.channels)
            .get(&session)?
            .statements
            .iter()
            .find(|s| s.id == id)
            .cloned()
    }

    /// Cancels a statement: a waiting one that never reached the driver ends
    /// at once; otherwise the driver is asked and reports `cancelling`/`cancelled`.
    pub fn cancel(&self, session: u64, id: u64) {
        let mut channels = lock(&self.channels);
        let Some(ch) = channels.get_mut(&session) else {
            return;
        };
        let sent = ch.sent.contains(&id);
        let tx = ch.tx.clone();
        let Some(st) = ch.statements.iter_mut().find(|s| s.id == id) else {
            return;
        };
        match st.state.as_str() {
            "waiting" if !sent => {
                st.state = "cancelled".into();
                st.completed = now_ms();
            }
            "waiting" | "running" => {
                if let Some(tx) = tx {
                    let _ = tx.send(ToDriver::Cancel { id });
                }
            }
            _ => {}
        }
        drop(channels);
        self.statement_changed.notify_waiters();
    }

    /// Code completion through the driver.
    pub async fn complete(
        &self,
        session: u64,
        kind: &str,
        code: String,
        cursor: i64,
    ) -> Result<Vec<String>, ReplError> {
        let (tx, rx) = oneshot::channel();
        {
            let mut channels = lock(&self.channels);
            let ch = channels
                .get_mut(&session)
                .ok_or(ReplError::NoChannel(session))?;
            let driver = ch.tx.clone().ok_or(ReplError::NotConnected(session))?;
            let req = ch.next_req;
            ch.next_req += 1;
            ch.completions.insert(req, tx);
            let _ = driver.send(ToDriver::Complete {
                req,
                kind: kind.to_owned(),
                code,
                cursor,
            });
        }
        match tokio::time::timeout(Duration::from_secs(10), rx).await {
            Ok(Ok(c)) => Ok(c),
            _ => Err(ReplError::Timeout(session)),
        }
    }
}
