//! The driver side of the hub: the callback listener, the hello/secret
//! handshake, and the messages a connected driver sends.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{HELLO_TIMEOUT, ReplError, ReplHub, lock, parse_repl_state};
use crate::records::now_ms;
use crate::repl::protocol::{FromDriver, ToDriver};

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
