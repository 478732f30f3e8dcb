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
//! [`serve`] serves an axum [`Router`]; [`serve_with`] serves any hyper service made
//! per connection, for a server that answers its hottest requests before routing them
//! (badge-server's seal).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

/// How the listener treats connections.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Longest wait for a request's line and headers (also between kept-alive
    /// requests, so an idle connection closes after it).
    pub header_timeout: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
}

/// Longest wait, on shutdown, for open connections to finish.
const DRAIN: Duration = Duration::from_secs(30);

/// Serves `app` on `listener` until `shutdown` completes, then drains. Each request
/// carries its peer's address as axum's [`ConnectInfo`].
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()>,
) {
    serve_with(
        listener,
        move |peer| routed(app.clone(), peer),
        limits,
        shutdown,
    )
    .await;
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
/// requests go to the service `make` builds for it from the peer's address.
pub async fn serve_with<S, B>(
    listener: TcpListener,
    make: impl Fn(SocketAddr) -> S,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()>,
) where
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let max = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let slots = Arc::new(Semaphore::new(max));
    let (closing, closed) = watch::channel(());
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
        let service = make(peer);
        let mut close = closed.clone();
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .keep_alive(true);
            let conn = builder.serve_connection(TokioIo::new(tcp), service);
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(error = %e, %peer, "connection ended");
                    }
                }
                _ = close.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
            drop(slot);
        });
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
}
