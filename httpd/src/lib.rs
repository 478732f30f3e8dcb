//! The HTTP listener shared by Chengxin's servers (badge-server, chengxin-witness):
//! HTTP/1.1 connections served by hyper under limits that keep one client (or 260
//! idle sockets) from starving the others.
//!
//! `axum::serve` sets no header-read timeout and no connection limit: sockets that
//! never sent a request stayed open for ever, and 260 of them on a 256-descriptor
//! limit left no descriptor for the database, so `/healthz` stopped answering. Here:
//! - a request's line and headers must arrive within [`Limits::header_timeout`] of the
//!   server starting to wait for them — on a new connection and between the requests
//!   of a kept-alive one — else the connection is closed (slow-header and idle
//!   sockets alike);
//! - at most [`Limits::max_connections`] connections are open at once; further ones
//!   wait in the kernel's accept queue until one closes, so the process keeps
//!   descriptors for its database and outgoing connections;
//! - on shutdown, accepting stops, open connections finish the request under way and
//!   close, and the wait for them is bounded.
//!
//! Connections are served on the caller's runtime, or ([`Limits::threads`]) on
//! threads of their own, each running a single-threaded runtime as nginx's workers
//! do: a connection's reads, timers and answers stay on one thread, with no
//! work-stealing or cross-thread wake-ups between them (badge-server's seal, answered
//! from memory, cost 8.0-8.2 µs of CPU per request on the multi-threaded runtime,
//! 6.0-6.5 µs so; nginx 7.0-7.6). The caller's runtime accepts and hands each
//! connection to the thread serving the fewest: the kernel, with every thread
//! accepting, gave a burst of new connections to whichever woke first, and one core
//! did most of the work.
//!
//! [`serve`] serves an axum [`Router`]; [`serve_with`] serves any hyper service made
//! per connection, for a server that answers its hottest requests before routing them
//! (badge-server's seal).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot, watch};

/// How the listener treats connections.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Longest wait for a request's line and headers (also between kept-alive
    /// requests, so an idle connection closes after it).
    pub header_timeout: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
    /// Threads of their own that accept and serve the connections, each running a
    /// single-threaded runtime; `None`: the caller's runtime serves them. A service
    /// whose requests need the caller's runtime (its database pool, its blocking
    /// work) sends them there itself.
    pub threads: Option<NonZeroUsize>,
}

/// The hyper service a connection's requests go to: what [`serve_with`]'s `make`
/// builds, moved to the connection's thread.
pub trait ConnectionService:
    hyper::service::Service<
        Request<Incoming>,
        Response = Response<Self::Body>,
        Error = Infallible,
        Future: Send + 'static,
    > + Send
    + 'static
{
    /// Its responses' body.
    type Body: ResponseBody;
}

impl<T, B> ConnectionService for T
where
    T: hyper::service::Service<
            Request<Incoming>,
            Response = Response<B>,
            Error = Infallible,
            Future: Send + 'static,
        > + Send
        + 'static,
    B: ResponseBody,
{
    type Body = B;
}

/// A response body hyper can write from any thread.
pub trait ResponseBody:
    hyper::body::Body<Data: Send, Error: Into<Box<dyn std::error::Error + Send + Sync>>>
    + Send
    + 'static
{
}

impl<T> ResponseBody for T where
    T: hyper::body::Body<Data: Send, Error: Into<Box<dyn std::error::Error + Send + Sync>>>
        + Send
        + 'static
{
}

/// Longest wait, on shutdown, for open connections to finish.
const DRAIN: Duration = Duration::from_secs(30);

/// Serves `app` on `listener` until `shutdown` completes, then drains. Each request
/// carries its peer's address as axum's [`ConnectInfo`]. Errors only when the
/// connection threads cannot be started.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    serve_with(
        listener,
        move |peer| routed(app.clone(), peer),
        limits,
        shutdown,
    )
    .await
}

/// `app` as the hyper service of a connection from `peer`: every request carries the
/// peer's address as axum's [`ConnectInfo`] (the per-address limiters read it).
fn routed(
    app: Router,
    peer: SocketAddr,
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = Response<axum::body::Body>,
    Error = Infallible,
    Future: Send + 'static,
> + Send
+ 'static {
    TowerToHyperService::new(tower::ServiceExt::map_request(
        app,
        move |mut req: Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
            req
        },
    ))
}

/// Serves on `listener` until `shutdown` completes, then drains: each connection's
/// requests go to the service `make` builds for it from the peer's address. Errors
/// only when the connection threads ([`Limits::threads`]) cannot be started.
pub async fn serve_with<S: ConnectionService>(
    listener: TcpListener,
    make: impl Fn(SocketAddr) -> S,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let max = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let slots = Arc::new(Semaphore::new(max));
    let (closing, closed) = watch::channel(());
    // Each connection thread runs until `release` is dropped, after the drain.
    let (release, released) = watch::channel(());
    let threads = match limits.threads {
        None => Vec::new(),
        Some(n) => (0..n.get())
            .map(|i| Thread::start(i, released.clone()))
            .collect::<std::io::Result<Vec<_>>>()?,
    };
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            s = slots.clone().acquire_owned() => match s {
                Ok(s) => s,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors (EMFILE) or a connection reset before accept:
                    // wait a moment rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Responses go out as soon as they are written, as nginx does on keep-alive
        // connections, rather than waiting on Nagle's algorithm.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
        let conn = Connection {
            service: make(peer),
            peer,
            header_timeout: limits.header_timeout,
            closed: closed.clone(),
            slot,
        };
        // The thread with the fewest open connections takes it: the kernel would
        // hand a burst of new connections to whichever thread woke first.
        match threads
            .iter()
            .min_by_key(|t| t.open.load(Ordering::Relaxed))
        {
            None => {
                tokio::spawn(conn.serve(tcp, None));
            }
            Some(thread) => match tcp.into_std() {
                Ok(tcp) => {
                    thread.open.fetch_add(1, Ordering::Relaxed);
                    if thread.connections.send((tcp, conn)).is_err() {
                        thread.open.fetch_sub(1, Ordering::Relaxed);
                        tracing::error!("a connection thread has stopped");
                    }
                }
                Err(e) => tracing::warn!(error = %e, %peer, "connection not handed over"),
            },
        }
    }
    drop(closing);
    let open = u32::try_from(max).unwrap_or(u32::MAX);
    if tokio::time::timeout(DRAIN, slots.acquire_many(open))
        .await
        .is_err()
    {
        tracing::warn!(
            "connections still open {} s after shutdown",
            DRAIN.as_secs()
        );
    }
    drop((release, released));
    for thread in threads {
        drop(thread.connections);
        let _ = thread.ended.await;
    }
    Ok(())
}

/// An accepted connection and what serving it needs.
struct Connection<S> {
    service: S,
    peer: SocketAddr,
    header_timeout: Duration,
    /// Changes (its sender is dropped) when the connection is to close.
    closed: watch::Receiver<()>,
    /// Its place among the open connections.
    slot: OwnedSemaphorePermit,
}

impl<S: ConnectionService> Connection<S> {
    /// Serves the connection's requests until it ends or is told to close; then
    /// counts it off its thread's `open` (also if the service panics).
    async fn serve(self, tcp: TcpStream, open: Option<Open>) {
        let Connection {
            service,
            peer,
            header_timeout,
            mut closed,
            slot,
        } = self;
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout)
            .keep_alive(true);
        let conn = builder.serve_connection(TokioIo::new(tcp), service);
        let mut conn = std::pin::pin!(conn);
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, %peer, "connection ended");
                }
            }
            _ = closed.changed() => {
                conn.as_mut().graceful_shutdown();
                let _ = conn.await;
            }
        }
        drop((open, slot));
    }
}

/// One connection counted in its thread's number of open connections until dropped.
struct Open(Arc<AtomicUsize>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A thread that serves the connections handed to it on its own single-threaded
/// runtime.
struct Thread<C> {
    /// Where connections are handed over: unbounded, as each holds one of the
    /// [`Limits::max_connections`] permits already.
    connections: mpsc::UnboundedSender<(std::net::TcpStream, C)>,
    /// How many it serves now.
    open: Arc<AtomicUsize>,
    /// Completes when the thread has stopped.
    ended: oneshot::Receiver<()>,
}

impl<S: ConnectionService> Thread<Connection<S>> {
    /// Starts thread `i`, which serves what it is handed until `released` changes
    /// (after the drain), then stops.
    fn start(i: usize, mut released: watch::Receiver<()>) -> std::io::Result<Self> {
        let (connections, mut handed) =
            mpsc::unbounded_channel::<(std::net::TcpStream, Connection<S>)>();
        let (end, ended) = oneshot::channel();
        let open = Arc::new(AtomicUsize::new(0));
        let counted = open.clone();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name(format!("http-{i}"))
            .spawn(move || {
                runtime.block_on(async move {
                    while let Some((tcp, conn)) = handed.recv().await {
                        match TcpStream::from_std(tcp) {
                            Ok(tcp) => {
                                tokio::spawn(conn.serve(tcp, Some(Open(counted.clone()))));
                            }
                            Err(e) => {
                                counted.fetch_sub(1, Ordering::Relaxed);
                                tracing::warn!(error = %e, "connection not taken over");
                            }
                        }
                    }
                    // No more connections: serve the open ones until released.
                    let _ = released.changed().await;
                });
                runtime.shutdown_timeout(Duration::from_secs(1));
                let _ = end.send(());
            })?;
        Ok(Thread {
            connections,
            open,
            ended,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// The name of the thread that answered a `GET` sent on `conn` (kept alive).
    async fn answered_by(conn: &mut TcpStream) -> String {
        conn.write_all(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
            .await
            .unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 512];
        while !got.ends_with(b"<end>") {
            let n = tokio::time::timeout(Duration::from_secs(10), conn.read(&mut buf))
                .await
                .unwrap()
                .unwrap();
            assert!(n > 0, "closed before answering");
            got.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8(got).unwrap();
        let body = text.split("\r\n\r\n").nth(1).unwrap();
        body.trim_end_matches("<end>").to_string()
    }

    /// Serves, on `threads`, a service that answers with the name of its thread; the
    /// address and the shutdown switch.
    async fn server(
        threads: Option<NonZeroUsize>,
    ) -> (
        SocketAddr,
        oneshot::Sender<()>,
        tokio::task::JoinHandle<std::io::Result<()>>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let make = |_peer| {
            hyper::service::service_fn(|_req| async {
                let name = std::thread::current().name().unwrap_or("?").to_string();
                Ok::<_, Infallible>(Response::new(axum::body::Body::from(name + "<end>")))
            })
        };
        let limits = Limits {
            header_timeout: Duration::from_secs(5),
            max_connections: 16,
            threads,
        };
        let served = tokio::spawn(serve_with(listener, make, limits, async {
            let _ = stopped.await;
        }));
        (addr, stop, served)
    }

    /// Stops the server `server` started and waits (at most 10 s) for its drain.
    async fn shut_down(
        stop: oneshot::Sender<()>,
        served: tokio::task::JoinHandle<std::io::Result<()>>,
    ) {
        let _ = stop.send(());
        tokio::time::timeout(Duration::from_secs(10), served)
            .await
            .expect("drained")
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn each_connection_goes_to_the_thread_serving_the_fewest_and_stays_there() {
        let (addr, stop, served) = server(NonZeroUsize::new(2)).await;
        let mut conns = Vec::new();
        for _ in 0..4 {
            conns.push(TcpStream::connect(addr).await.unwrap());
        }
        let mut by = Vec::new();
        for conn in &mut conns {
            by.push(answered_by(conn).await);
        }
        assert_eq!(by, ["http-0", "http-1", "http-0", "http-1"]);
        // A kept-alive connection's next request is answered on the same thread.
        for (conn, first) in conns.iter_mut().zip(&by) {
            assert_eq!(&answered_by(conn).await, first);
        }
        // Shutdown closes the idle connections and stops the threads.
        shut_down(stop, served).await;
        for conn in &mut conns {
            let mut rest = Vec::new();
            assert_eq!(conn.read_to_end(&mut rest).await.unwrap(), 0, "closed");
        }
    }

    #[tokio::test]
    async fn without_threads_connections_are_served_on_the_callers_runtime() {
        let (addr, stop, served) = server(None).await;
        let mut conn = TcpStream::connect(addr).await.unwrap();
        let caller = std::thread::current().name().unwrap_or("?").to_string();
        assert_eq!(answered_by(&mut conn).await, caller);
        shut_down(stop, served).await;
    }
}
