//! The accept loop: HTTP/1.1 connections served by hyper, with the limits that keep slow clients from holding
//! the server. A connection is always in one of three phases, tracked here rather than by hyper:
//!
//! - **headers**: from the accept, or from the first byte after an idle wait, until hyper has whole headers. A
//!   client that takes longer than `http.header_read_timeout_seconds` is answered 408 (`header_timeout`) and
//!   disconnected: this is what ends a slowloris client, which trickles header lines to hold a connection.
//! - **request**: from whole headers until the response body is done. The request timeout (in `api::app`) bounds
//!   it, slow request bodies included.
//! - **idle**: a kept-alive connection waiting for its next request; closed after
//!   `http.keep_alive_idle_seconds`.
//!
//! hyper has a header timer of its own, but it starts when the connection is ready for a request, not at the
//! request's first byte, so it also runs through the whole keep-alive wait (hyper 1.x `proto/h1/conn.rs`:
//! `poll_read_head` arms it, and `State::idle` asks for that read at once). Used alone it would close every idle
//! connection after the header timeout. Tracking the phases ourselves gives each wait its own limit, and says
//! which connections are cheapest to shed at the connection limit.
//!
//! A WebSocket upgrade (`GET /v1/stream`) leaves hyper once the 101 is sent; the connection then stays in the
//! request phase for good (neither timeout applies, and it is never evicted) and holds its slot until the socket is
//! closed: streams count against `http.max_connections` like any request in flight.
//!
//! Every connection, in any phase and upgraded ones too, has a **write timeout** (`stream.write_timeout_seconds`): a
//! write that makes no progress for that long (the client stopped reading and the socket's buffers are full) closes
//! the connection. Without it a stalled stream would hold its connection, and every frame its buffer still takes,
//! until that buffer filled; the buffer cap stays for a client that reads, but too slowly.
//!
//! At `http.max_connections`, a new connection **evicts** the oldest one that has never sent whole headers (a
//! slow client, most likely an attacker: a real client sends its headers within a round trip), else the oldest
//! idle kept-alive one; only when every connection is inside a request is the new connection refused (closed at
//! once). A plain limit would let slow clients fill every slot, and then `/healthz` and every real client could
//! not connect at all until header timeouts freed slots; eviction keeps the server reachable during the attack
//! while the slow clients pay for reconnecting.

use std::{
    collections::BTreeMap,
    convert::Infallible,
    future::Future,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use axum::{Router, body::Body, http::Request, response::IntoResponse};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use switchboard_domain::Code;
use tokio::{
    io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{Notify, watch},
};
use tower::ServiceExt;

use crate::{
    config::{HttpConfig, StreamConfig},
    error::ApiError,
};

/// The limits the accept loop applies.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_read: Duration,
    pub keep_alive_idle: Duration,
    /// How long one write may wait on a client that does not read.
    pub write: Duration,
    pub max_connections: usize,
}

impl Limits {
    /// The configured limits; a `max_connections` of 0 derives from the descriptor limit.
    pub fn new(config: &HttpConfig, stream: &StreamConfig, descriptors: Option<u64>) -> Self {
        let max_connections = match config.max_connections {
            0 => derived_max_connections(descriptors),
            n => n,
        };
        Self {
            header_read: Duration::from_secs(config.header_read_timeout_seconds),
            keep_alive_idle: Duration::from_secs(config.keep_alive_idle_seconds),
            write: Duration::from_secs(stream.write_timeout_seconds),
            max_connections,
        }
    }
}

/// Descriptors left for everything that is not a client connection: the database, attachments, outgoing webhook
/// and cluster connections, the log.
fn derived_max_connections(descriptors: Option<u64>) -> usize {
    let Some(limit) = descriptors else { return 10_000 };
    let reserve = (limit / 10).max(256);
    usize::try_from(limit.saturating_sub(reserve).max(64)).unwrap_or(usize::MAX)
}

/// Raises the soft limit on open files to the hard limit (once per process) and returns it. Each connection is a
/// descriptor; distributions' default soft limit (often 1,024) would otherwise cap the server far below what the
/// machine allows.
pub fn raise_descriptor_limit() -> Option<u64> {
    static RAISED: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    *RAISED.get_or_init(|| match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => {
            tracing::info!(open_files = limit, "open file limit");
            Some(limit)
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not read or raise the open file limit");
            None
        }
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Headers = 0,
    Request = 1,
    Idle = 2,
}

const PHASE_BITS: u64 = 0b11;
/// Set once the connection has sent whole headers: it is a real client, not a candidate for eviction.
const SERVED: u64 = 0b100;
/// Set once the connection was upgraded (a WebSocket): it stays in the request phase until the socket closes.
const UPGRADED: u64 = 0b1000;
const SINCE_SHIFT: u32 = 4;

/// One open connection, shared by its task, its I/O, its service and the registry.
struct Conn {
    /// The phase, the served flag, and when the phase began (milliseconds since `Shared::epoch`), in one word so
    /// that the three are always read together.
    state: AtomicU64,
    evict: Notify,
    epoch: Instant,
}

impl Conn {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX >> SINCE_SHIFT)
    }

    fn load(&self) -> (Phase, bool, Instant) {
        let state = self.state.load(Ordering::Acquire);
        let phase = match state & PHASE_BITS {
            0 => Phase::Headers,
            1 => Phase::Request,
            _ => Phase::Idle,
        };
        (phase, state & SERVED != 0, self.epoch + Duration::from_millis(state >> SINCE_SHIFT))
    }

    fn enter(&self, phase: Phase) {
        if self.state.load(Ordering::Relaxed) & UPGRADED != 0 {
            return;
        }
        let since = self.now_ms() << SINCE_SHIFT;
        let served = if phase == Phase::Headers { self.state.load(Ordering::Relaxed) & SERVED } else { SERVED };
        self.state.store(since | served | phase as u64, Ordering::Release);
    }

    fn upgraded(&self) {
        self.enter(Phase::Request);
        self.state.fetch_or(UPGRADED, Ordering::AcqRel);
    }

    /// Bytes arrived: on an idle connection they start the next request's headers.
    fn on_read(&self) {
        if self.state.load(Ordering::Relaxed) & PHASE_BITS == Phase::Idle as u64 {
            self.enter(Phase::Headers);
        }
    }
}

/// Why a connection was closed by us rather than by its client.
#[derive(Debug, Clone, Copy)]
enum Closed {
    HeaderTimeout,
    IdleTimeout,
    Evicted,
    Refused,
    WriteTimeout,
}

impl Closed {
    fn count(self) {
        let reason = match self {
            Closed::HeaderTimeout => "header_timeout",
            Closed::IdleTimeout => "idle_timeout",
            Closed::Evicted => "evicted",
            Closed::Refused => "refused",
            Closed::WriteTimeout => "write_timeout",
        };
        metrics::counter!("http_connections_closed_total", "reason" => reason).increment(1);
    }
}

/// The open connections, oldest first (ids grow with each accept).
struct Registry {
    open: Mutex<BTreeMap<u64, Arc<Conn>>>,
    max: usize,
    at_limit: AtomicBool,
}

impl Registry {
    fn len(&self) -> usize {
        self.open.lock().map_or(0, |open| open.len())
    }

    fn insert(&self, id: u64, conn: Arc<Conn>) {
        if let Ok(mut open) = self.open.lock() {
            open.insert(id, conn);
        }
        metrics::gauge!("http_connections_open").increment(1.0);
    }

    fn remove(&self, id: u64) {
        let (removed, left) = match self.open.lock() {
            Ok(mut open) => (open.remove(&id).is_some(), open.len()),
            Err(_) => (false, 0),
        };
        if removed {
            metrics::gauge!("http_connections_open").decrement(1.0);
        }
        // Below nine tenths, so that a server hovering at the limit does not log every connection.
        if left < self.max - self.max / 10 && self.at_limit.swap(false, Ordering::Relaxed) {
            tracing::info!(open = left, max = self.max, "below the connection limit again");
        }
    }

    /// Closes the oldest connection that has never sent whole headers, else the oldest idle one. False when every
    /// connection is inside a request.
    fn evict_one(&self) -> bool {
        let Ok(mut open) = self.open.lock() else { return false };
        let victim = open
            .iter()
            .find(|(_, c)| matches!(c.load(), (Phase::Headers, false, _)))
            .or_else(|| open.iter().find(|(_, c)| c.load().0 == Phase::Idle))
            .map(|(id, _)| *id);
        let Some(conn) = victim.and_then(|id| open.remove(&id)) else { return false };
        drop(open);
        metrics::gauge!("http_connections_open").decrement(1.0);
        Closed::Evicted.count();
        conn.evict.notify_one();
        true
    }

    fn reached(&self) {
        if !self.at_limit.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                max = self.max,
                "connection limit reached: new connections evict slow and idle ones, or are refused when every \
                 connection is busy (http.max_connections)"
            );
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting, closes idle connections and
/// waits for the requests in flight.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let registry = Arc::new(Registry {
        open: Mutex::new(BTreeMap::new()),
        max: limits.max_connections.max(1),
        at_limit: AtomicBool::new(false),
    });
    metrics::gauge!("http_connections_max").set(registry.max as f64);
    let epoch = Instant::now();
    let (stop, stopping) = watch::channel(false);
    // Each connection task holds a sender; when the last is dropped, every connection has ended.
    let (alive, mut all_ended) = tokio::sync::mpsc::channel::<()>(1);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut next_id = 0u64;
    let mut accept_failing = false;
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors (EMFILE, ENFILE) or a connection reset before it was accepted. Retrying at once
                // would spin and fill the log; log the first of a run, free a slot if a slow client holds one, and
                // wait a little.
                metrics::counter!("http_accept_errors_total").increment(1);
                if !accept_failing {
                    tracing::warn!(error = %e, open = registry.len(), "accept failed; retrying every 50 ms");
                    accept_failing = true;
                }
                registry.evict_one();
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(Duration::from_millis(50)) => continue,
                }
            }
        };
        if accept_failing {
            tracing::info!(open = registry.len(), "accepting connections again");
            accept_failing = false;
        }
        // Small writes go out at once: a stream frame or a short answer held back by Nagle's algorithm waits for
        // the peer's delayed ACK, up to 40 ms on Linux.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
        if registry.len() >= registry.max {
            registry.reached();
            if !registry.evict_one() {
                Closed::Refused.count();
                drop(stream);
                continue;
            }
        }
        next_id += 1;
        let id = next_id;
        let conn = Arc::new(Conn { state: AtomicU64::new(0), evict: Notify::new(), epoch });
        conn.enter(Phase::Headers);
        registry.insert(id, conn.clone());
        let slot = Slot { registry: registry.clone(), id, _alive: alive.clone() };
        let (router, stopping) = (router.clone(), stopping.clone());
        tokio::spawn(async move {
            serve_connection(stream, peer, slot, router, conn, limits, stopping).await;
        });
    }
    drop(listener);
    let _ = stop.send(true);
    drop(alive);
    let _ = all_ended.recv().await;
}

/// A connection's place in the registry, given back when the socket closes: with the connection's task, or later
/// for an upgraded connection, whose socket outlives it.
struct Slot {
    registry: Arc<Registry>,
    id: u64,
    /// Shutdown waits until every sender is dropped.
    _alive: tokio::sync::mpsc::Sender<()>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.registry.remove(self.id);
    }
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    slot: Slot,
    router: Router,
    conn: Arc<Conn>,
    limits: Limits,
    mut stopping: watch::Receiver<bool>,
) {
    let io =
        TokioIo::new(Tracked { stream, conn: conn.clone(), write_timeout: limits.write, stalled: None, _slot: slot });
    let service = Service { router, conn: conn.clone(), peer };
    let mut builder = hyper::server::conn::http1::Builder::new();
    // Our phases time the headers (see the module's comment); hyper's timer would also cut idle connections.
    builder.header_read_timeout(None);
    let mut http = builder.serve_connection(io, service).with_upgrades();
    // The checks wake at least this often, so that a phase that began after the last wake is timed from its start.
    let recheck = limits.header_read.min(limits.keep_alive_idle);
    let mut closing = false;
    let closed = loop {
        let (phase, _, since) = conn.load();
        let now = Instant::now();
        let wake = match phase {
            Phase::Headers => since + limits.header_read,
            Phase::Idle => since + limits.keep_alive_idle,
            Phase::Request => now + recheck,
        }
        .min(now + recheck);
        tokio::select! {
            result = Pin::new(&mut http) => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            () = tokio::time::sleep_until(wake.into()) => {
                let (phase, _, since) = conn.load();
                let now = Instant::now();
                match phase {
                    Phase::Headers if now >= since + limits.header_read => break Closed::HeaderTimeout,
                    Phase::Idle if now >= since + limits.keep_alive_idle => break Closed::IdleTimeout,
                    _ => {}
                }
            }
            () = conn.evict.notified() => break Closed::Evicted,
            _ = stopping.changed(), if !closing => {
                // A client still sending headers has not begun a request: it is closed like an idle one, rather
                // than holding the shutdown up to the header timeout.
                if conn.load().0 == Phase::Headers {
                    return;
                }
                // Closes the connection if idle, else after the response in flight.
                Pin::new(&mut http).graceful_shutdown();
                closing = true;
            }
        }
    };
    if let Closed::HeaderTimeout = closed {
        closed.count();
        let Some(parts) = http.into_parts() else { return };
        let mut stream = parts.io.into_inner().stream;
        answer_header_timeout(&mut stream, limits.header_read).await;
    } else if let Closed::IdleTimeout = closed {
        closed.count();
    }
}

/// Tells a client whose headers did not arrive in time why it is disconnected, as every refusal is told: a
/// problem+json body with its code. Bounded, because the client may not be reading either.
async fn answer_header_timeout(stream: &mut TcpStream, timeout: Duration) {
    let detail = format!("the request's headers did not arrive within {} s", timeout.as_secs());
    let response = ApiError::new(Code::HeaderTimeout, detail).into_response();
    let (parts, body) = response.into_parts();
    let Ok(body) = axum::body::to_bytes(body, usize::MAX).await else { return };
    let mut head = format!("HTTP/1.1 {}\r\n", parts.status);
    for (name, value) in &parts.headers {
        head.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap_or_default()));
    }
    head.push_str(&format!("content-length: {}\r\nconnection: close\r\n\r\n", body.len()));
    let write = async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(&body).await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), write).await;
}

/// The socket, noting when bytes arrive and failing a write that waits on the client too long; it holds the
/// connection's slot until it is dropped.
struct Tracked {
    stream: TcpStream,
    conn: Arc<Conn>,
    write_timeout: Duration,
    /// Set while a write is blocked on a full socket: when it gives up.
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
    _slot: Slot,
}

impl Tracked {
    /// Times a write (or flush) out when the socket takes nothing for `write_timeout`: the error ends the
    /// connection, whether hyper or a WebSocket writes. Only a write that went through ends the wait (a flush of
    /// the bare socket is always ready, whatever waits to be written).
    fn timed<T>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<std::io::Result<T>>,
        wrote: bool,
    ) -> Poll<std::io::Result<T>> {
        if polled.is_ready() {
            if wrote {
                self.stalled = None;
            }
            return polled;
        }
        let timeout = self.write_timeout;
        let stalled = self.stalled.get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        if stalled.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        self.stalled = None;
        Closed::WriteTimeout.count();
        let detail = format!("the client read nothing for {} s", timeout.as_secs());
        Poll::Ready(Err(std::io::Error::new(std::io::ErrorKind::TimedOut, detail)))
    }
}

impl AsyncRead for Tracked {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.conn.on_read();
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.timed(cx, polled, true)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.timed(cx, polled, true)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let polled = Pin::new(&mut self.stream).poll_flush(cx);
        self.timed(cx, polled, false)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// The application as hyper calls it, marking the connection's phases.
#[derive(Clone)]
struct Service {
    router: Router,
    conn: Arc<Conn>,
    /// The client's address, for handlers that count by it (`ConnectInfo`).
    peer: SocketAddr,
}

type Responding = Pin<Box<dyn Future<Output = Result<hyper::Response<ResponseBody>, Infallible>> + Send>>;

impl hyper::service::Service<Request<Incoming>> for Service {
    type Response = hyper::Response<ResponseBody>;
    type Error = Infallible;
    type Future = Responding;

    fn call(&self, mut req: Request<Incoming>) -> Self::Future {
        self.conn.enter(Phase::Request);
        req.extensions_mut().insert(axum::extract::ConnectInfo(self.peer));
        let conn = self.conn.clone();
        let responding = self.router.clone().oneshot(req.map(Body::new));
        Box::pin(async move {
            let response = responding.await?;
            if response.status() == axum::http::StatusCode::SWITCHING_PROTOCOLS {
                conn.upgraded();
            }
            Ok(response.map(|body| ResponseBody { body, conn }))
        })
    }
}

/// A response body that marks its connection idle when hyper is done with it.
struct ResponseBody {
    body: Body,
    conn: Arc<Conn>,
}

impl Drop for ResponseBody {
    fn drop(&mut self) {
        self.conn.enter(Phase::Idle);
    }
}

impl hyper::body::Body for ResponseBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_limit_leaves_descriptors_for_the_rest() {
        assert_eq!(derived_max_connections(Some(1_024)), 768);
        assert_eq!(derived_max_connections(Some(100_000)), 90_000);
        assert_eq!(derived_max_connections(Some(100)), 64);
    }
}
