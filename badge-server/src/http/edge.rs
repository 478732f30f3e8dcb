//! The listener's service: a `GET` or `HEAD` of the seal (the request every page view
//! of every certified site makes) is answered here, before the router; everything else
//! goes to the router.
//!
//! Why: through the router a cached seal cost some 37 allocations and 6 µs of user CPU
//! per request, more than nginx's whole user time for the same bytes
//! (`scripts/bench-seal`): axum clones the boxed route once per router level and layer,
//! boxes each layer's future, fills the request's extension map (peer address,
//! original URI, matched path, path parameters) and boxes the response body. Here a
//! seal the caches hold is answered at once ([`seal::answer_now`]), with no future
//! boxed and no timer set.
//!
//! The listener may serve connections on threads of their own ([`httpd::Limits`]):
//! what is not answered at once — a seal that waits for the database, a drawing or a
//! first compression, and every request for the router — is sent to the runtime the
//! edge was made on (the application's, with its database pool and blocking threads)
//! and abandoned there if the client goes away, as it would be on the connection's.
//!
//! The answer is the route's own ([`seal::answer`]), and what the router's layers add
//! to it is added here: the request is counted and timed under the route template
//! `/seal/{file}` ([`RouteTimer`]), bounded by [`REQUEST_TIMEOUT`] (408) when it waits,
//! and carries HSTS over https. A request with a body, or with any other method, goes
//! to the router (its 413 and 405). Not added: the router's debug-level request span
//! (a seal is not logged per request; its counters are in the metrics).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::{Body as _, Incoming};
use tokio::runtime::Handle;
use tokio::task::JoinHandle;
use tower::ServiceExt as _;

use crate::http::metrics::RouteTimer;
use crate::http::public::seal;
use crate::http::router::{HSTS, REQUEST_TIMEOUT};
use crate::http::state::AppState;

/// A response's body: the seal's bytes as they are, or whatever the router answered.
pub type EdgeBody = http_body_util::Either<Full<Bytes>, Body>;

/// The route template the seal is counted under, as the router matches it.
const SEAL_ROUTE: &str = "/seal/{file}";

/// The service of one connection.
pub struct Edge {
    router: Router,
    state: AppState,
    peer: SocketAddr,
    seal: RouteTimer,
    hsts: bool,
    /// The application's runtime, where what waits is sent.
    app: Handle,
}

/// Makes each connection's [`Edge`] from its peer's address. Call it on the
/// application's runtime: what is not answered at once is sent there.
pub fn per_connection(router: Router, state: AppState) -> impl Fn(SocketAddr) -> Edge {
    let seal = RouteTimer::of(SEAL_ROUTE);
    let hsts = state.public_url.starts_with("https://");
    let app = Handle::current();
    move |peer| Edge {
        router: router.clone(),
        state: state.clone(),
        peer,
        seal,
        hsts,
        app: app.clone(),
    }
}

/// Whether `req` is a seal the edge answers: `GET` or `HEAD` of `/seal/…` without a
/// body.
fn is_seal(req: &Request<Incoming>) -> bool {
    (req.method() == Method::GET || req.method() == Method::HEAD)
        && req.uri().path().starts_with("/seal/")
        && req.body().is_end_stream()
}

/// `answer`, or an empty 408 once `limit` has passed: the router's `TimeoutLayer`
/// for the requests the edge answers itself.
async fn within(
    limit: Duration,
    answer: impl Future<Output = Response<Full<Bytes>>>,
) -> Response<Full<Bytes>> {
    tokio::time::timeout(limit, answer)
        .await
        .unwrap_or_else(|_| {
            let mut r = Response::new(Full::new(Bytes::new()));
            *r.status_mut() = StatusCode::REQUEST_TIMEOUT;
            r
        })
}

/// The seal's answer as the router's layers would have left it: HSTS over https,
/// counted and timed.
fn finished(
    mut response: Response<Full<Bytes>>,
    hsts: bool,
    timer: RouteTimer,
    started: Instant,
) -> Response<EdgeBody> {
    if hsts {
        response.headers_mut().insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    timer.observe(response.status(), started);
    response.map(http_body_util::Either::Left)
}

/// A request's answer: ready, or being worked on in the application's runtime.
pub enum Answer {
    /// Answered from memory (taken when polled).
    Ready(Option<Response<EdgeBody>>),
    /// Sent to the application's runtime; aborted when dropped (the client went
    /// away), as the work would have been on the connection's own runtime.
    Sent(JoinHandle<Response<EdgeBody>>),
}

impl Drop for Answer {
    fn drop(&mut self) {
        if let Answer::Sent(task) = self {
            task.abort();
        }
    }
}

impl Future for Answer {
    type Output = Result<Response<EdgeBody>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            Answer::Ready(r) => Poll::Ready(Ok(r.take().unwrap_or_else(internal_error))),
            Answer::Sent(task) => Poll::Ready(Ok(match ready!(Pin::new(task).poll(cx)) {
                Ok(r) => r,
                Err(e) => {
                    // A handler that panicked: the client gets a 500, not a dropped
                    // connection.
                    tracing::error!(error = %e, "request task failed");
                    internal_error()
                }
            })),
        }
    }
}

/// An empty 500.
fn internal_error() -> Response<EdgeBody> {
    let mut r = Response::new(http_body_util::Either::Left(Full::new(Bytes::new())));
    *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    r
}

impl hyper::service::Service<Request<Incoming>> for Edge {
    type Response = Response<EdgeBody>;
    type Error = Infallible;
    type Future = Answer;

    fn call(&self, mut req: Request<Incoming>) -> Self::Future {
        if !is_seal(&req) {
            // The per-address limiters read the peer from here.
            req.extensions_mut().insert(ConnectInfo(self.peer));
            let routed = self.router.clone().oneshot(req);
            return Answer::Sent(self.app.spawn(async move {
                match routed.await {
                    Ok(r) => r.map(http_body_util::Either::Right),
                    Err(never) => match never {},
                }
            }));
        }
        let started = Instant::now();
        let (timer, hsts) = (self.seal, self.hsts);
        let (parts, _) = req.into_parts();
        if let Some(r) = seal::answer_now(&self.state, &parts.uri, &parts.headers) {
            return Answer::Ready(Some(finished(r, hsts, timer, started)));
        }
        let state = self.state.clone();
        Answer::Sent(self.app.spawn(async move {
            let answer = seal::answer(&state, &parts.uri, &parts.headers);
            finished(within(REQUEST_TIMEOUT, answer).await, hsts, timer, started)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A seal answer that never comes is answered 408 at [`REQUEST_TIMEOUT`], not
    /// before (the clock is tokio's paused one, which jumps to the next timer).
    #[tokio::test(start_paused = true)]
    async fn a_seal_answer_that_never_comes_is_answered_408_at_the_request_timeout() {
        let started = tokio::time::Instant::now();
        let r = within(REQUEST_TIMEOUT, std::future::pending()).await;
        assert_eq!(r.status(), StatusCode::REQUEST_TIMEOUT);
        // Not before; the timer's millisecond may round up.
        let waited = started.elapsed();
        assert!(waited >= REQUEST_TIMEOUT && waited <= REQUEST_TIMEOUT + Duration::from_millis(1));

        let ready = Response::new(Full::new(Bytes::from_static(b"<svg/>")));
        let r = within(REQUEST_TIMEOUT, std::future::ready(ready)).await;
        assert_eq!(r.status(), StatusCode::OK);
    }
}
