//! Sessions' driver channels: registration, statements, and what a live
//! driver has told us. The connection itself is in `link.rs`.
//!
//! Statement ids are the driver's as much as ours: a registered channel
//! assigns none until the driver's history has been merged (`synced`), so a
//! server that restarted and lost its memory never reuses an id the driver has
//! already seen, and never hands out an id the driver would drop as a repeat.

mod jobs;
mod link;
mod retain;

pub use jobs::{AddError, Addition, Source};

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, mpsc, oneshot};

use tokio_util::task::TaskTracker;

use super::protocol::{Statement, StatementState, ToDriver};
use crate::leadership::Leadership;
use crate::queue::Wake;
use crate::records::{SessionState, now_ms};
use retain::Entry;
#[cfg(test)]
use retain::{DROPPED, RETAINED_STATEMENTS, output_bytes};

/// A driver must say hello this soon after connecting.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// A code-completion request the driver does not answer this soon gets none.
const COMPLETION_TIMEOUT: Duration = Duration::from_secs(10);

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
    #[error("the driver of session {0} is not connected")]
    NotConnected(u64),
    #[error("the driver of session {0} did not answer in time")]
    Timeout(u64),
    /// The session was recovered (server restart) and its driver has not
    /// re-dialled and re-sent its history within the wait.
    #[error(
        "session {session} is recovering: its driver has not reconnected to this server within {waited_s} s; retry shortly"
    )]
    Recovering { session: u64, waited_s: u64 },
}

#[derive(Default)]
struct Channel {
    secret: String,
    tx: Option<mpsc::UnboundedSender<ToDriver>>,
    /// Bumped on every (re)connection, so a stale connection's exit does not
    /// detach a newer one.
    generation: u64,
    /// The driver's history has been merged since registration: statement
    /// ids handed out now cannot collide with the driver's.
    synced: bool,
    repl_state: Option<SessionState>,
    app_id: Option<String>,
    spark_ui_url: Option<String>,
    /// By id, ascending.
    statements: Vec<Entry>,
    next_id: u64,
    next_req: u64,
    completions: HashMap<u64, oneshot::Sender<Vec<String>>>,
    /// Epoch ms of the last statement activity (for idle timeouts).
    last_activity: u64,
    /// Epoch ms of the last client call on this session (heartbeat).
    last_heartbeat: u64,
    ever_connected: bool,
    /// Bytes of statement output kept at most (0: no limit).
    output_cap: u64,
    /// Job API jobs and additions.
    jobs: jobs::Jobs,
}

impl Channel {
    fn entry_mut(&mut self, id: u64) -> Option<&mut Entry> {
        self.statements.iter_mut().find(|e| e.st.id == id)
    }

    /// Sends a statement to the connected driver, if any.
    fn dispatch(&mut self, idx: usize) {
        let Some(tx) = &self.tx else { return };
        let e = &mut self.statements[idx];
        let msg = ToDriver::Execute {
            id: e.st.id,
            kind: e.kind.clone(),
            code: e.st.code.clone(),
        };
        if tx.send(msg).is_ok() {
            e.sent = true;
        }
    }
}

/// What the reconciler and handlers read of a channel.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelSnapshot {
    pub connected: bool,
    pub ever_connected: bool,
    /// The driver's history is merged: statements can be numbered.
    pub synced: bool,
    pub repl_state: Option<SessionState>,
    pub app_id: Option<String>,
    pub spark_ui_url: Option<String>,
    pub last_activity: u64,
    pub last_heartbeat: u64,
    /// A statement is waiting or running.
    pub busy: bool,
    /// A Job API job is queued or running (the session is not idle for
    /// its idle timeout, though clients see it `idle`, as in Livy).
    pub jobs_running: bool,
}

pub struct ReplHub {
    channels: Mutex<HashMap<u64, Channel>>,
    /// Wakes the session's record when its driver connects, changes state or leaves.
    wake: Arc<Wake>,
    /// Driver connections: drained at shutdown.
    tasks: TaskTracker,
    /// Wakes statement waiters (long polls, recovery waits) on any change.
    changed: Notify,
    addr: Mutex<Option<SocketAddr>>,
    /// Whether drivers are served now: only while this server leads.
    leadership: Arc<Leadership>,
    /// Every server's callback address, for the drivers' welcome.
    servers: Mutex<Vec<String>>,
    /// Bytes of statement output kept per session (0: no limit).
    output_cap: std::sync::atomic::AtomicU64,
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
    /// The hub of a server alone, which always serves its drivers.
    pub fn new(wake: Arc<Wake>, tasks: TaskTracker) -> Arc<Self> {
        Self::led_by(wake, tasks, Leadership::always())
    }

    /// The hub of a server that serves drivers while `leadership` says it
    /// leads, each connection until the term it was made in ends.
    pub fn led_by(wake: Arc<Wake>, tasks: TaskTracker, leadership: Arc<Leadership>) -> Arc<Self> {
        Arc::new(Self {
            channels: Mutex::default(),
            wake,
            tasks,
            changed: Notify::new(),
            addr: Mutex::default(),
            leadership,
            servers: Mutex::default(),
            output_cap: Default::default(),
        })
    }

    /// Keeps at most `bytes` of statement output per session
    /// (`livy.server.session.max-retained-output-bytes`; 0: no limit).
    pub fn retain_output_bytes(&self, bytes: u64) {
        self.output_cap
            .store(bytes, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether this server leads: the one the reconciler and the API read.
    pub fn leadership(&self) -> &Arc<Leadership> {
        &self.leadership
    }

    /// A term is over (and withdrawn from the leadership): every driver
    /// goes to the next leader, which learns the sessions afresh from the
    /// records and the drivers' history.
    pub fn end_term(&self) {
        lock(&self.channels).clear();
        self.changed.notify_waiters();
    }

    /// Every server's callback address (this one's first), sent to drivers.
    /// Connected drivers hear of a change at once, so a server that joined
    /// after they connected is on their list when this one goes away.
    pub fn set_servers(&self, servers: Vec<String>) {
        {
            let mut known = lock(&self.servers);
            if *known == servers {
                return;
            }
            known.clone_from(&servers);
        }
        for ch in lock(&self.channels).values() {
            if let Some(tx) = &ch.tx {
                let _ = tx.send(ToDriver::Servers {
                    servers: servers.clone(),
                });
            }
        }
    }

    pub fn servers(&self) -> Vec<String> {
        lock(&self.servers).clone()
    }

    /// Registers (or refreshes) a session's channel with its secret, so its
    /// driver may connect. Keeps existing statements across calls.
    pub fn register(&self, session: u64, secret: &str) {
        let mut channels = lock(&self.channels);
        let ch = channels.entry(session).or_default();
        ch.secret = secret.to_owned();
        ch.output_cap = self.output_cap.load(std::sync::atomic::Ordering::Relaxed);
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
        self.changed.notify_waiters();
    }

    pub fn snapshot(&self, session: u64) -> Option<ChannelSnapshot> {
        let channels = lock(&self.channels);
        let ch = channels.get(&session)?;
        Some(ChannelSnapshot {
            connected: ch.tx.is_some(),
            ever_connected: ch.ever_connected,
            synced: ch.synced,
            repl_state: ch.repl_state,
            app_id: ch.app_id.clone(),
            spark_ui_url: ch.spark_ui_url.clone(),
            last_activity: ch.last_activity,
            last_heartbeat: ch.last_heartbeat,
            busy: ch.statements.iter().any(|e| !e.st.state.is_final()),
            jobs_running: ch.jobs.running(),
        })
    }

    /// Restarts the session's idle clock (a pooled driver given to a user).
    pub fn touch(&self, session: u64) {
        if let Some(ch) = lock(&self.channels).get_mut(&session) {
            let now = now_ms();
            ch.last_activity = now;
            ch.last_heartbeat = now;
        }
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

    /// Waits until `cond` holds for the session's channel (`None`: no channel
    /// yet) or `timeout` passes; returns whether it held. Never misses a
    /// change: the notification is armed before each look.
    async fn wait_until<T>(
        &self,
        session: u64,
        timeout: Duration,
        mut look: impl FnMut(Option<&mut Channel>) -> Option<T>,
    ) -> Option<T> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(found) = look(lock(&self.channels).get_mut(&session)) {
                return Some(found);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return None;
            }
        }
    }

    /// Queues a statement and returns it (state `waiting`). If the session's
    /// driver has not yet re-sent its history (a recovered session), waits up
    /// to `recovery_wait` for it, so the new id follows every id the driver
    /// has seen; past that, a retryable [`ReplError::Recovering`].
    pub async fn submit(
        &self,
        session: u64,
        code: String,
        kind: &str,
        recovery_wait: Duration,
    ) -> Result<Statement, ReplError> {
        let mut code = Some(code);
        let mut logged = false;
        let submitted = self
            .wait_until(session, recovery_wait, |ch| {
                let Some(ch) = ch.filter(|c| c.synced) else {
                    if !logged {
                        tracing::info!(
                            session,
                            "statement waits for the recovering session's driver"
                        );
                        logged = true;
                    }
                    return None;
                };
                let id = ch.next_id;
                ch.next_id += 1;
                let st = Statement {
                    id,
                    code: code.take().unwrap_or_default(),
                    state: StatementState::Waiting,
                    output: None,
                    progress: 0.0,
                    started: 0,
                    completed: 0,
                };
                ch.statements
                    .push(Entry::new(st.clone(), kind.to_owned(), false));
                ch.last_activity = now_ms();
                let idx = ch.statements.len() - 1;
                ch.dispatch(idx);
                ch.evict();
                Some(st)
            })
            .await;
        let st = submitted.ok_or(ReplError::Recovering {
            session,
            waited_s: recovery_wait.as_secs(),
        })?;
        // No reconciler wake: a queued statement changes no record (busy is
        // read live from the channel).
        self.changed.notify_waiters();
        Ok(st)
    }

    /// The statement once it is final, or as it is after `wait` (`None`: it
    /// is gone). Lets `POST …/statements` answer fast statements finished.
    pub async fn wait_final(&self, session: u64, id: u64, wait: Duration) -> Option<Statement> {
        if !wait.is_zero() {
            self.wait_until(session, wait, |ch| {
                let e = ch?.entry_mut(id)?;
                e.st.state.is_final().then_some(())
            })
            .await;
        }
        self.statement(session, id)
    }

    pub fn statements(&self, session: u64) -> Vec<Statement> {
        lock(&self.channels)
            .get(&session)
            .map(|c| c.statements.iter().map(|e| e.st.clone()).collect())
            .unwrap_or_default()
    }

    pub fn statement(&self, session: u64, id: u64) -> Option<Statement> {
        Some(
            lock(&self.channels)
                .get_mut(&session)?
                .entry_mut(id)?
                .st
                .clone(),
        )
    }

    /// Cancels a statement: a waiting one that never reached a driver ends at
    /// once; otherwise the driver is asked (now, or when it is back) and
    /// reports `cancelling`/`cancelled`.
    pub fn cancel(&self, session: u64, id: u64) {
        let mut channels = lock(&self.channels);
        let Some(ch) = channels.get_mut(&session) else {
            return;
        };
        let tx = ch.tx.clone();
        let Some(e) = ch.entry_mut(id) else {
            return;
        };
        match e.st.state {
            StatementState::Waiting if !e.sent => {
                e.st.state = StatementState::Cancelled;
                e.st.completed = now_ms();
            }
            StatementState::Waiting | StatementState::Running => match tx {
                Some(tx) if tx.send(ToDriver::Cancel { id }).is_ok() => {}
                _ => e.cancel_pending = true,
            },
            _ => {}
        }
        drop(channels);
        self.changed.notify_waiters();
    }

    /// Code completion through the driver. A request the driver does not
    /// answer in time leaves nothing behind.
    pub async fn complete(
        &self,
        session: u64,
        kind: &str,
        code: String,
        cursor: i64,
    ) -> Result<Vec<String>, ReplError> {
        let (tx, rx) = oneshot::channel();
        let req = {
            let mut channels = lock(&self.channels);
            let ch = channels
                .get_mut(&session)
                .ok_or(ReplError::NotConnected(session))?;
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
            req
        };
        let answer = tokio::time::timeout(COMPLETION_TIMEOUT, rx).await;
        if let Some(ch) = lock(&self.channels).get_mut(&session) {
            ch.completions.remove(&req);
        }
        match answer {
            Ok(Ok(c)) => Ok(c),
            _ => Err(ReplError::Timeout(session)),
        }
    }

    #[cfg(test)]
    fn pending_completions(&self, session: u64) -> usize {
        lock(&self.channels)
            .get(&session)
            .map_or(0, |c| c.completions.len())
    }
}

#[cfg(test)]
mod tests;
