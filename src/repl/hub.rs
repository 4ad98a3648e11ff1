//! Sessions' driver channels: registration, the listener, and what a live
//! driver has told us.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::protocol::{FromDriver, Statement, ToDriver};
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

    /// Binds the first free port of `ports` on `host` and serves drivers until `cancel`.
    pub async fn listen(
        self: &Arc<Self>,
        host: &str,
        ports: (u16, u16),
        cancel: CancellationToken,
    ) -> Result<SocketAddr, ReplError> {
        let mut last_err = None;
        for port in ports.0..=ports.1 {
            match TcpListener::bind((host, port)).await {
                Ok(listener) => {
                    let addr = listener.local_addr().map_err(|source| ReplError::Bind {
                        addr: format!("{host}:{port}"),
                        source,
                    })?;
                    *lock(&self.addr) = Some(addr);
                    let hub = self.clone();
                    tokio::spawn(async move { hub.accept_loop(listener, cancel).await });
                    return Ok(addr);
                }
                Err(e) => last_err = Some(e),
            }
        }
        match last_err {
            Some(source) if ports.0 == ports.1 => Err(ReplError::Bind {
                addr: format!("{host}:{}", ports.0),
                source,
            }),
            _ => Err(ReplError::NoPort {
                range: format!("{}~{}", ports.0, ports.1),
            }),
        }
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        *lock(&self.addr)
    }

    async fn accept_loop(self: Arc<Self>, listener: TcpListener, cancel: CancellationToken) {
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let hub = self.clone();
                        tokio::spawn(async move { hub.serve_driver(stream, peer).await });
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "driver accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        }
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

    async fn serve_driver(self: Arc<Self>, stream: TcpStream, peer: SocketAddr) {
        let _ = stream.set_nodelay(true);
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        let hello = match tokio::time::timeout(HELLO_TIMEOUT, lines.next_line()).await {
            Ok(Ok(Some(line))) => serde_json::from_str::<FromDriver>(&line).ok(),
            _ => None,
        };
        let Some(FromDriver::Hello {
            session,
            secret,
            app_id,
            spark_ui_url,
        }) = hello
        else {
            tracing::warn!(%peer, "driver connection without a valid hello; closed");
            return;
        };
        let (tx, mut rx) = mpsc::unbounded_channel::<ToDriver>();
        let generation = {
            let mut channels = lock(&self.channels);
            let Some(ch) = channels
                .get_mut(&session)
                .filter(|c| constant_time_eq(c.secret.as_bytes(), secret.as_bytes()))
            else {
                tracing::warn!(%peer, session, "driver failed authentication; closed");
                return;
            };
            let _ = tx.send(ToDriver::Welcome);
            // Statements queued while no driver was connected go out now, in order.
            for st in ch
                .statements
                .iter()
                .filter(|s| s.state == "waiting" && !ch.sent.contains(&s.id))
            {
                let kind = ch.kinds.get(&st.id).cloned().unwrap_or_default();
                let _ = tx.send(ToDriver::Execute {
                    id: st.id,
                    kind,
                    code: st.code.clone(),
                });
            }
            let ids: Vec<u64> = ch
                .statements
                .iter()
                .filter(|s| s.state == "waiting")
                .map(|s| s.id)
                .collect();
            ch.sent.extend(ids);
            ch.tx = Some(tx);
            ch.generation += 1;
            ch.ever_connected = true;
            // The idle clock starts when the driver can serve, not at launch.
            ch.last_activity = now_ms();
            ch.app_id = app_id.or(ch.app_id.take());
            ch.spark_ui_url = spark_ui_url.or(ch.spark_ui_url.take());
            ch.generation
        };
        tracing::info!(session, %peer, "driver connected");
        self.wake.notify_one();
        let writer = tokio::spawn(async move {
            while let Some(msg) = rx.recv().await {
                let Ok(mut line) = serde_json::to_vec(&msg) else {
                    continue;
                };
                line.push(b'\n');
                if write.write_all(&line).await.is_err() {
                    break;
                }
            }
        });
        while let Ok(Some(line)) = lines.next_line().await {
            match serde_json::from_str::<FromDriver>(&line) {
                Ok(msg) => self.on_message(session, msg),
                Err(e) => tracing::warn!(session, error = %e, "unreadable driver message; ignored"),
            }
        }
        writer.abort();
        {
            let mut channels = lock(&self.channels);
            if let Some(ch) = channels
                .get_mut(&session)
                .filter(|c| c.generation == generation)
            {
                // `sent` is kept: the driver still holds those statements and
                // re-sends their history when it reconnects; sending them again
                // would run them twice.
                ch.tx = None;
            }
        }
        tracing::info!(session, "driver disconnected");
        self.wake.notify_one();
        self.statement_changed.notify_waiters();
    }

    fn on_message(&self, session: u64, msg: FromDriver) {
        let mut channels = lock(&self.channels);
        let Some(ch) = channels.get_mut(&session) else {
            return;
        };
        let mut wake = false;
        match msg {
            FromDriver::Hello { .. } => {}
            FromDriver::State { state } => {
                let parsed = parse_repl_state(&state);
                wake = parsed != ch.repl_state;
                ch.repl_state = parsed;
            }
            FromDriver::Statement {
                id,
                state,
                started,
                completed,
                output,
            } => {
                if let Some(st) = ch.statements.iter_mut().find(|s| s.id == id) {
                    // Output first, then state: never `available` without output.
                    if output.is_some() {
                        st.output = output;
                    }
                    if let Some(t) = started {
                        st.started = t;
                    }
                    if let Some(t) = completed {
                        st.completed = t;
                    }
                    if state == "available" {
                        st.progress = 1.0;
                    }
                    st.state = state;
                }
                ch.last_activity = now_ms();
            }
            FromDriver::Progress { id, progress } => {
                if let Some(st) = ch.statements.iter_mut().find(|s| s.id == id) {
                    st.progress = progress.clamp(0.0, 1.0);
                }
            }
            FromDriver::Completion { req, candidates } => {
                if let Some(tx) = ch.completions.remove(&req) {
                    let _ = tx.send(candidates);
                }
            }
            FromDriver::History { statements } => {
                // The driver's view wins after a reconnect (the server may have restarted).
                ch.next_id = ch
                    .next_id
                    .max(statements.iter().map(|s| s.id + 1).max().unwrap_or(0));
                let known: std::collections::HashSet<u64> =
                    statements.iter().map(|s| s.id).collect();
                ch.statements.retain(|s| !known.contains(&s.id));
                ch.statements.extend(statements);
                ch.statements.sort_by_key(|s| s.id);
            }
        }
        drop(channels);
        self.statement_changed.notify_waiters();
        if wake {
            self.wake.notify_one();
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
