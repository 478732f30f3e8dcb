//! The listener's service: a `GET` or `HEAD` of the seal (the request every page view
//! of every certified site makes) is answered here, before the router; everything else
//! goes to the router.
//!
//! Why: through the router a cached seal cost some 37 allocations and 6 µs of user CPU
//! per request, more than nginx's whole user time for the same bytes
//! (`scripts/bench-seal`): axum clones the boxed route once per router level and layer,
//! boxes each layer's future, fills the request's extension map (peer address,
//! original URI, matched path, path parameters) and boxes the response body. Here a
//! seal is one boxed future and its response's header map.
//!
//! The answer is the route's own ([`seal::answer`]), and what the router's layers add
//! to it is added here: the request is counted and timed under the route template
//! `/seal/{file}` ([`RouteTimer`]), bounded by [`REQUEST_TIMEOUT`] (408), and carries
//! HSTS over https. A request with a body, or with any other method, goes to the router
//! (its 413 and 405). Not added: the router's debug-level request span (a seal is not
//! logged per request; its counters are in the metrics).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Method, Request, Response, StatusCode, header};
use futures_util::TryFutureExt as _;
use futures_util::future::{Either, MapOk};
use http_body_util::Full;
use hyper::body::{Body as _, Incoming};
use tower::ServiceExt as _;
use tower::util::Oneshot;

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
}

/// Makes each connection's [`Edge`] from its peer's address.
pub fn per_connection(router: Router, state: AppState) -> impl Fn(SocketAddr) -> Edge {
    let seal = RouteTimer::of(SEAL_ROUTE);
    let hsts = state.public_url.starts_with("https://");
    move |peer| Edge {
        router: router.clone(),
        state: state.clone(),
        peer,
        seal,
        hsts,
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

type SealFuture = Pin<Box<dyn Future<Output = Result<Response<EdgeBody>, Infallible>> + Send>>;
type RoutedFuture =
    MapOk<Oneshot<Router, Request<Incoming>>, fn(Response<Body>) -> Response<EdgeBody>>;

impl hyper::service::Service<Request<Incoming>> for Edge {
    type Response = Response<EdgeBody>;
    type Error = Infallible;
    type Future = Either<SealFuture, RoutedFuture>;

    fn call(&self, mut req: Request<Incoming>) -> Self::Future {
        if !is_seal(&req) {
            // The per-address limiters read the peer from here.
            req.extensions_mut().insert(ConnectInfo(self.peer));
            let routed: fn(Response<Body>) -> Response<EdgeBody> =
                |r| r.map(http_body_util::Either::Right);
            return Either::Right(self.router.clone().oneshot(req).map_ok(routed));
        }
        let state = self.state.clone();
        let (timer, hsts) = (self.seal, self.hsts);
        Either::Left(Box::pin(async move {
            let started = Instant::now();
            let (parts, _) = req.into_parts();
            let answer = seal::answer(&state, &parts.uri, &parts.headers);
            let mut response = within(REQUEST_TIMEOUT, answer).await;
            if hsts {
                response.headers_mut().insert(
                    header::STRICT_TRANSPORT_SECURITY,
                    HeaderValue::from_static(HSTS),
                );
            }
            timer.observe(response.status(), started);
            Ok(response.map(http_body_util::Either::Left))
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
