//! The REST API's listener: one accept loop for HTTP and HTTPS, serving
//! each connection with hyper's HTTP/1.1 under the limits a server facing
//! untrusted clients needs: a TLS handshake timeout, a request-head timeout,
//! an idle keep-alive timeout, early JSON refusals ([`super::refusal`]), and
//! a request-body timeout ([`Timed`]), `X-Content-Type-Options: nosniff` on
//! every answer, and a graceful shutdown with a bound.
//!
//! HTTP/1.1 only (no h2 over ALPN): Livy's clients speak HTTP/1.1, and every
//! limit here is then one per-connection rule.
//!
//! The two timeouts are ours, not hyper's `header_read_timeout`: hyper's
//! starts whenever the connection waits for a request head, idle keep-alive
//! time included, so it would also be the idle timeout. Ours tell the two
//! apart by the connection's [`Activity`]: the head timer runs from the
//! first byte of a request, the idle timer from the end of the last response.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use hyper::Request;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use super::refusal::{Limits, refusal};
use crate::api::body::BodyTimeout;

/// hyper's own cap on header fields (its bare 431 above it); ours
/// ([`super::refusal::MAX_HEADER_COUNT`]) is lower, to answer in JSON.
const HYPER_MAX_HEADERS: usize = 1000;
/// hyper's default read buffer (8 KiB + 100 × 4 KiB), the least we allow.
const HYPER_MIN_BUF: usize = 8192 + 4096 * 100;

/// Serves `router` on `tcp` (over TLS when `tls` is set) until `cancel`;
/// then stops accepting, lets open requests finish for the grace period,
/// and closes what is left.
pub async fn run(
    tcp: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    router: Router,
    limits: Limits,
    cancel: CancellationToken,
) {
    let shared = Arc::new(Shared {
        tls: tls.map(TlsAcceptor::from),
        router,
        limits,
        drain: CancellationToken::new(),
        abort: CancellationToken::new(),
    });
    let conns = TaskTracker::new();
    loop {
        let (stream, peer) = tokio::select! {
            _ = cancel.cancelled() => break,
            accepted = tcp.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before
                    // accept: keep serving the others.
                    tracing::warn!(error = %e, "accepting a REST connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        conns.spawn(serve_connection(stream, peer, shared.clone()));
    }
    drop(tcp);
    shared.drain.cancel();
    conns.close();
    let grace = shared.limits.listener.shutdown_grace;
    if tokio::time::timeout(grace, conns.wait()).await.is_err() {
        tracing::warn!(
            connections = conns.len(),
            ?grace,
            "requests still open after the shutdown grace period; closing them"
        );
        shared.abort.cancel();
        conns.wait().await;
    }
}

/// What every connection task shares.
struct Shared {
    tls: Option<TlsAcceptor>,
    router: Router,
    limits: Limits,
    /// Shutdown began: finish the request in flight, then close.
    drain: CancellationToken,
    /// The grace period is over: close now.
    abort: CancellationToken,
}

async fn serve_connection(stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let Some(acceptor) = shared.tls.clone() else {
        return drive(stream, peer, shared).await;
    };
    let timeout = shared.limits.listener.tls_handshake_timeout;
    let handshake = tokio::time::timeout(timeout, acceptor.accept(stream));
    let tls = tokio::select! {
        done = handshake => match done {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!(%peer, ?timeout, "TLS handshake timed out; closed");
                return;
            }
        },
        _ = shared.drain.cancelled() => return,
    };
    drive(tls, peer, shared).await
}

/// Serves HTTP/1.1 on `io` until the client closes, a timeout cuts the
/// connection, or shutdown.
async fn drive<I>(io: I, peer: SocketAddr, shared: Arc<Shared>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity::new());
    let service = {
        let (shared, activity) = (shared.clone(), activity.clone());
        hyper::service::service_fn(move |req| handle(req, peer, shared.clone(), activity.clone()))
    };
    let l = &shared.limits.listener;
    let buf = ((l.max_uri + l.max_header) * 2 + 64 * 1024).max(HYPER_MIN_BUF);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .keep_alive(true)
        .header_read_timeout(None)
        .max_headers(HYPER_MAX_HEADERS)
        .max_buf_size(buf);
    let tracked = Tracked {
        io,
        activity: activity.clone(),
    };
    let conn = builder.serve_connection(TokioIo::new(tracked), service);
    tokio::pin!(conn);
    let watchdog = watchdog(&activity, l);
    tokio::pin!(watchdog);
    let mut draining = false;
    loop {
        tokio::select! {
            done = conn.as_mut() => {
                if let Err(e) = done {
                    tracing::debug!(%peer, error = %e, "REST connection ended with an error");
                }
                return;
            }
            cut = &mut watchdog => {
                tracing::debug!(%peer, reason = cut, "REST connection closed");
                return;
            }
            _ = shared.drain.cancelled(), if !draining => {
                // Closes an idle connection now, a busy one after its response.
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = shared.abort.cancelled() => return,
        }
    }
}

/// One request: refused early when its head is over a limit, else routed.
/// The connection counts as busy until the response body is dropped (sent
/// or abandoned).
async fn handle(
    mut req: Request<Incoming>,
    peer: SocketAddr,
    shared: Arc<Shared>,
    activity: Arc<Activity>,
) -> Result<Response, Infallible> {
    let busy = activity.begin();
    // The client's address, for per-client limits (password failures).
    req.extensions_mut()
        .insert(axum::extract::ConnectInfo(peer));
    let mut resp = match refusal(&req, &shared.limits) {
        Some(refused) => refused,
        None => {
            let timeout = shared.limits.listener.body_timeout;
            let req = req.map(|body| Body::new(Timed::new(body, timeout)));
            match shared.router.clone().oneshot(req).await {
                Ok(resp) => resp,
                Err(never) => match never {},
            }
        }
    };
    // Browsers must not guess a script or a page out of a JSON answer.
    resp.headers_mut()
        .entry(header::X_CONTENT_TYPE_OPTIONS)
        .or_insert(HeaderValue::from_static("nosniff"));
    Ok(resp.map(|body| Body::new(Counted { body, _busy: busy })))
}

/// A request body that fails with [`BodyTimeout`] when it has not ended
/// within the timeout of its head (the head timeout's counterpart: the
/// watchdog does not run while a request is in flight).
struct Timed {
    body: Incoming,
    timeout: Duration,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl Timed {
    fn new(body: Incoming, timeout: Duration) -> Self {
        Self {
            body,
            timeout,
            deadline: Box::pin(tokio::time::sleep(timeout)),
        }
    }
}

impl hyper::body::Body for Timed {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::BoxError>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.body).poll_frame(cx) {
            Poll::Ready(frame) => Poll::Ready(frame.map(|f| f.map_err(Into::into))),
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(BodyTimeout(this.timeout).into()))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A response body holding its connection busy until dropped; its size
/// hint is the inner one, so `Content-Length` stays.
struct Counted {
    body: Body,
    _busy: Busy,
}

impl hyper::body::Body for Counted {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// What a connection is doing, for its timeouts.
struct Activity {
    state: Mutex<ActivityState>,
    changed: Notify,
}

struct ActivityState {
    in_flight: usize,
    /// When the last response ended (or the connection opened).
    idle_since: Instant,
    /// The first byte read while no request was in flight.
    head_started: Option<Instant>,
}

impl Activity {
    fn new() -> Self {
        Self {
            state: Mutex::new(ActivityState {
                in_flight: 0,
                idle_since: Instant::now(),
                head_started: None,
            }),
            changed: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, ActivityState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn begin(self: &Arc<Self>) -> Busy {
        let mut s = self.lock();
        s.in_flight += 1;
        s.head_started = None;
        drop(s);
        self.changed.notify_one();
        Busy(self.clone())
    }

    fn bytes_read(&self) {
        let mut s = self.lock();
        if s.in_flight == 0 && s.head_started.is_none() {
            s.head_started = Some(Instant::now());
            drop(s);
            self.changed.notify_one();
        }
    }

    /// When the connection is to be cut, and why; `None` while busy.
    fn deadline(
        &self,
        l: &crate::config::listener::ListenerConfig,
    ) -> Option<(Instant, &'static str)> {
        let s = self.lock();
        if s.in_flight > 0 {
            return None;
        }
        Some(match s.head_started {
            Some(at) => (at + l.header_timeout, "request head not received in time"),
            None => (s.idle_since + l.idle_timeout, "idle"),
        })
    }
}

/// A request in flight on a connection.
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        let mut s = self.0.lock();
        s.in_flight = s.in_flight.saturating_sub(1);
        if s.in_flight == 0 {
            s.idle_since = Instant::now();
            s.head_started = None;
        }
        drop(s);
        self.0.changed.notify_one();
    }
}

/// Resolves when the connection has been idle, or sending a request head,
/// for too long; says which.
async fn watchdog(
    activity: &Activity,
    l: &crate::config::listener::ListenerConfig,
) -> &'static str {
    loop {
        // Registered before looking, so no change is missed.
        let changed = activity.changed.notified();
        match activity.deadline(l) {
            None => changed.await,
            Some((at, _)) => tokio::select! {
                _ = tokio::time::sleep_until(at) => {
                    if let Some((at, why)) = activity.deadline(l)
                        && at <= Instant::now()
                    {
                        return why;
                    }
                }
                _ = changed => {}
            },
        }
    }
}

/// The connection's byte stream, telling [`Activity`] when bytes arrive.
struct Tracked<I> {
    io: I,
    activity: Arc<Activity>,
}

impl<I: AsyncRead + Unpin> AsyncRead for Tracked<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.bytes_read();
        }
        polled
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Tracked<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
