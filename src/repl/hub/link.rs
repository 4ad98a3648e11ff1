//! The driver side of the hub: the callback listener, the hello/secret
//! handshake, and the messages a connected driver sends.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Channel, Entry, HELLO_TIMEOUT, ReplError, ReplHub, lock, parse_repl_state};
use crate::leadership::Lead;

use crate::records::{Kind, SessionState, now_ms};
use crate::repl::protocol::{FromDriver, Statement, StatementState, ToDriver};

/// A driver's hello (session, secret, app id, UI address) fits easily.
const MAX_HELLO_BYTES: u64 = 64 * 1024;

impl ReplHub {
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
                    self.tasks
                        .spawn(async move { hub.accept_loop(listener, cancel).await });
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
                        let (hub, cancel) = (self.clone(), cancel.clone());
                        self.tasks.spawn(async move { hub.serve_driver(stream, peer, cancel).await });
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "driver accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        }
    }

    async fn serve_driver(
        self: Arc<Self>,
        stream: TcpStream,
        peer: SocketAddr,
        cancel: CancellationToken,
    ) {
        let _ = stream.set_nodelay(true);
        let (read, write) = stream.into_split();
        let mut reader = BufReader::new(read);
        let hello = read_hello(&mut reader).await;
        let mut lines = reader.lines();
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
        let term = match self.leadership.now() {
            Lead::Always => cancel.clone(),
            Lead::Term(term) => term.token,
            Lead::Standby => return elsewhere(write, session, peer, self.servers()).await,
        };
        let elected = self.leadership.elects();
        let (tx, rx) = mpsc::unbounded_channel::<ToDriver>();
        let generation = match self.admit(session, &secret, app_id, spark_ui_url, tx, elected) {
            Admission::Admitted(generation) => generation,
            // A new leader learns its sessions in its first pass: the
            // driver comes back.
            Admission::Elsewhere => return elsewhere(write, session, peer, self.servers()).await,
            Admission::Refused => {
                tracing::warn!(%peer, session, "driver of an unknown session or with a wrong secret; closed");
                return;
            }
        };
        tracing::info!(session, %peer, "driver connected");
        self.wake.record(Kind::Session, session);
        let writer = self.tasks.spawn(write_messages(write, rx));
        // At shutdown the connection closes; the driver dials the next server.
        while let Some(Ok(Some(line))) = tokio::select! {
            _ = cancel.cancelled() => None,
            _ = term.cancelled() => None,
            line = lines.next_line() => Some(line),
        } {
            match serde_json::from_str::<FromDriver>(&line) {
                Ok(msg) => self.on_message(session, msg),
                Err(e) => tracing::warn!(session, error = %e, "unreadable driver message; ignored"),
            }
        }
        writer.abort();
        self.disconnected(session, generation);
    }

    /// Gives `session`'s channel to a driver that knows its secret: `tx`
    /// becomes the way to it, at a new generation. `elected`: this server
    /// leads by election, so a session it does not know may be one it has
    /// not learnt yet.
    fn admit(
        &self,
        session: u64,
        secret: &str,
        app_id: Option<String>,
        spark_ui_url: Option<String>,
        tx: mpsc::UnboundedSender<ToDriver>,
        elected: bool,
    ) -> Admission {
        let servers = self.servers();
        let mut channels = lock(&self.channels);
        match channels.get_mut(&session) {
            None if elected => Admission::Elsewhere,
            None => Admission::Refused,
            Some(ch) if !secret_matches(&ch.secret, secret) => Admission::Refused,
            Some(ch) => {
                // Nothing else goes out until the driver's history is
                // merged (`on_message`, History): only then do we know
                // what it holds.
                let _ = tx.send(ToDriver::Welcome { servers });
                ch.tx = Some(tx);
                ch.generation += 1;
                ch.ever_connected = true;
                // The idle clock starts when the driver can serve, not at launch.
                ch.last_activity = now_ms();
                ch.app_id = app_id.or(ch.app_id.take());
                ch.spark_ui_url = spark_ui_url.or(ch.spark_ui_url.take());
                Admission::Admitted(ch.generation)
            }
        }
    }

    /// The connection of `session`'s driver at `generation` closed.
    fn disconnected(&self, session: u64, generation: u64) {
        {
            let mut channels = lock(&self.channels);
            if let Some(ch) = channels
                .get_mut(&session)
                .filter(|c| c.generation == generation)
            {
                // The driver keeps what it received and re-sends its history
                // when it reconnects; statements it never got go out then.
                ch.tx = None;
                ch.jobs_disconnected();
            }
        }
        tracing::info!(session, "driver disconnected");
        self.wake.record(Kind::Session, session);
        self.changed.notify_waiters();
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
                // idle <-> busy (every statement) changes no record: the
                // reconciler is woken only when the driver becomes ready or fails.
                let serving = |s: Option<SessionState>| {
                    matches!(s, Some(SessionState::Idle | SessionState::Busy))
                };
                wake = parsed != ch.repl_state && !(serving(parsed) && serving(ch.repl_state));
                ch.repl_state = parsed;
            }
            FromDriver::Statement {
                id,
                state,
                started,
                completed,
                output,
            } => {
                if let Some(e) = ch.entry_mut(id) {
                    let was_final = e.st.state.is_final();
                    // Output first, then state: never `available` without output.
                    if let Some(output) = output {
                        e.set_output(output);
                    }
                    let st = &mut e.st;
                    if let Some(t) = started {
                        st.started = t;
                    }
                    if let Some(t) = completed {
                        st.completed = t;
                    }
                    if state == StatementState::Available {
                        st.progress = 1.0;
                    }
                    st.state = state;
                    if !was_final && state.is_final() {
                        statement_finished(&e.kind, st);
                    }
                }
                ch.evict();
                ch.last_activity = now_ms();
            }
            FromDriver::Progress { id, progress } => {
                if let Some(e) = ch.entry_mut(id) {
                    e.st.progress = progress.clamp(0.0, 1.0);
                }
            }
            FromDriver::Completion { req, candidates } => {
                if let Some(tx) = ch.completions.remove(&req) {
                    let _ = tx.send(candidates);
                }
            }
            FromDriver::History {
                statements,
                next_id,
            } => {
                merge_history(ch, statements, next_id);
                ch.dispatch_jobs();
                wake = true;
            }
            FromDriver::Job {
                id,
                state,
                result,
                error,
            } => ch.job_reported(id, state, result, error),
            FromDriver::Added { req, error } => ch.add_answered(req, error),
        }
        drop(channels);
        self.changed.notify_waiters();
        if wake {
            self.wake.record(Kind::Session, session);
        }
    }
}

/// What [`ReplHub::admit`] makes of a driver's hello.
enum Admission {
    /// The session's channel now writes to this driver, at this generation.
    Admitted(u64),
    /// Not a session this server knows yet: the driver should try the others.
    Elsewhere,
    /// An unknown session or a wrong secret.
    Refused,
}

/// A driver's first line, the hello; `None` if it is not one, or is not
/// sent in time or within [`MAX_HELLO_BYTES`] (before it authenticates, a
/// peer may send only a small hello line).
async fn read_hello(reader: &mut BufReader<OwnedReadHalf>) -> Option<FromDriver> {
    let mut first = Vec::new();
    let mut bounded = reader.take(MAX_HELLO_BYTES);
    let hello_read = bounded.read_until(b'\n', &mut first);
    match tokio::time::timeout(HELLO_TIMEOUT, hello_read).await {
        Ok(Ok(n)) if n > 0 && first.ends_with(b"\n") => serde_json::from_slice(&first).ok(),
        _ => None,
    }
}

/// Sends `rx`'s messages to the driver, one JSON line each, until the
/// channel or the connection closes.
async fn write_messages(mut write: OwnedWriteHalf, mut rx: mpsc::UnboundedReceiver<ToDriver>) {
    while let Some(msg) = rx.recv().await {
        let Ok(mut line) = serde_json::to_vec(&msg) else {
            continue;
        };
        line.push(b'\n');
        if write.write_all(&line).await.is_err() {
            break;
        }
    }
}

/// Tells a driver to dial another server (or again later), and closes.
async fn elsewhere(
    mut write: tokio::net::tcp::OwnedWriteHalf,
    session: u64,
    peer: SocketAddr,
    servers: Vec<String>,
) {
    tracing::debug!(%peer, session, "driver sent elsewhere: this server does not serve it now");
    if let Ok(mut line) = serde_json::to_vec(&ToDriver::Elsewhere { servers }) {
        line.push(b'\n');
        let _ = write.write_all(&line).await;
        let _ = write.shutdown().await;
    }
}

/// The driver's history after a (re)connection: what it holds wins; what it
/// never received (lost in flight, or queued while it was away) goes out now,
/// in id order; ids continue after the highest the driver has seen.
fn merge_history(ch: &mut Channel, history: Vec<Statement>, next_id: Option<u64>) {
    let driver_next = history
        .iter()
        .map(|s| s.id + 1)
        .chain(next_id)
        .max()
        .unwrap_or(0);
    ch.next_id = ch.next_id.max(driver_next);
    let known: std::collections::HashSet<u64> = history.iter().map(|s| s.id).collect();
    for e in &mut ch.statements {
        if known.contains(&e.st.id) {
            e.sent = true;
        } else if !e.st.state.is_final() {
            e.sent = false;
        }
    }
    for st in history {
        match ch.entry_mut(st.id) {
            Some(e) => e.replace(st),
            None => ch.statements.push(Entry::new(st, String::new(), true)),
        }
    }
    ch.statements.sort_by_key(|e| e.st.id);
    for idx in 0..ch.statements.len() {
        let e = &ch.statements[idx];
        if e.st.state == StatementState::Waiting && !e.sent {
            ch.dispatch(idx);
        }
    }
    if let Some(tx) = &ch.tx {
        for e in ch.statements.iter_mut().filter(|e| e.cancel_pending) {
            e.cancel_pending = false;
            if !e.st.state.is_final() {
                let _ = tx.send(ToDriver::Cancel { id: e.st.id });
            }
        }
    }
    ch.evict();
    ch.synced = true;
}

/// Whether a driver's secret is the session's: compared in constant time
/// (only the length, fixed for our secrets, can show in the timing), and
/// never true for an empty secret, whatever a driver without one sends.
fn secret_matches(expected: &str, offered: &str) -> bool {
    use subtle::ConstantTimeEq;
    !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(offered.as_bytes()))
}

/// Counts a statement that just finished, with how long it ran.
fn statement_finished(kind: &str, st: &Statement) {
    let outcome = match (&st.state, &st.output) {
        (StatementState::Cancelled, _) => "cancelled",
        (_, Some(out)) if out.get("status").and_then(|s| s.as_str()) == Some("error") => "error",
        _ => "ok",
    };
    // A statement cancelled before it started did not run.
    let ran = match st.started {
        0 => 0,
        started => st.completed.saturating_sub(started),
    };
    crate::metrics::statement(kind, outcome, std::time::Duration::from_millis(ran));
}

#[cfg(test)]
mod tests {
    use super::secret_matches;

    #[test]
    fn only_the_session_secret_matches_and_never_an_empty_one() {
        assert!(secret_matches("k3x9q2ab", "k3x9q2ab"));
        assert!(!secret_matches("k3x9q2ab", "k3x9q2ac"));
        assert!(!secret_matches("k3x9q2ab", "k3x9q2a"));
        assert!(!secret_matches("", ""));
    }
}
