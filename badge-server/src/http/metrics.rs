//! HTTP request metrics per route template and status class, and the text of the
//! families `/metrics` renders itself (the rest comes from the `metrics` recorder).
//!
//! The seal is served in some 14 µs of CPU (`scripts/bench-seal`), so the layer adds
//! as little as it can: each route's counters are found once (on its first request,
//! then kept by that route's service), a request is two clock reads and two relaxed
//! atomic additions into fixed buckets, and nothing is allocated or formatted per
//! request. Labels are the route template axum matched (`/seal/{site}`, never the
//! path asked for: the series stay bounded by the routes there are) and the status
//! class (`2xx` … `5xx`); a request that matched no route is `route="unmatched"`.

use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::MatchedPath;
use axum::http::{Request, Response};

/// Upper bounds of the latency buckets, in seconds: from 50 µs (a cached seal) to
/// 30 s (the request timeout).
pub const BUCKETS: [f64; 18] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0, 30.0,
];

/// [`BUCKETS`] in nanoseconds, what a request's duration is compared with.
const BOUNDS_NANOS: [u64; 18] = [
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
    30_000_000_000,
];

/// The status classes, in label order.
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// The route label of requests that matched no route (the fallback).
const UNMATCHED: &str = "unmatched";

/// One route and status class: a latency histogram whose count is the request count.
#[derive(Default)]
struct Series {
    /// Requests per bucket (not cumulative); the last slot is above every bound.
    slots: [AtomicU64; BUCKETS.len() + 1],
    /// Total duration, nanoseconds.
    sum_nanos: AtomicU64,
}

impl Series {
    fn observe(&self, nanos: u64) {
        let slot = BOUNDS_NANOS.partition_point(|b| *b < nanos);
        self.slots[slot].fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

/// A route template's series, one per status class.
struct RouteSeries {
    route: Box<str>,
    classes: [Series; 5],
}

/// Every route seen so far. Entries live as long as the process (there is one per
/// route template, a bounded set), so a route's service keeps a plain reference.
fn routes() -> &'static Mutex<Vec<&'static RouteSeries>> {
    static ROUTES: OnceLock<Mutex<Vec<&'static RouteSeries>>> = OnceLock::new();
    ROUTES.get_or_init(Mutex::default)
}

/// The series of `route`, registered on first use.
fn series_of(route: &str) -> &'static RouteSeries {
    let mut all = routes().lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(found) = all.iter().find(|r| &*r.route == route) {
        return found;
    }
    let new: &'static RouteSeries = Box::leak(Box::new(RouteSeries {
        route: route.into(),
        classes: Default::default(),
    }));
    all.push(new);
    new
}

/// The layer: applied to every route by [`crate::http::router::build`].
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpMetricsLayer;

impl<S> tower::Layer<S> for HttpMetricsLayer {
    type Service = HttpMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpMetrics {
            inner,
            route: Arc::default(),
        }
    }
}

/// One route's service, wrapped: it remembers the route's series after its first
/// request.
#[derive(Clone)]
pub struct HttpMetrics<S> {
    inner: S,
    route: Arc<OnceLock<&'static RouteSeries>>,
}

impl<S> HttpMetrics<S> {
    fn series<B>(&self, req: &Request<B>) -> &'static RouteSeries {
        let matched = req
            .extensions()
            .get::<MatchedPath>()
            .map_or(UNMATCHED, MatchedPath::as_str);
        match self.route.get() {
            Some(known) if &*known.route == matched => known,
            // The first request of this route (or, should a service ever serve two
            // templates, the other one: looked up, not cached).
            _ => {
                let found = series_of(matched);
                let _ = self.route.set(found);
                found
            }
        }
    }
}

impl<S, B, R> tower::Service<Request<B>> for HttpMetrics<S>
where
    S: tower::Service<Request<B>, Response = Response<R>>,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = Timed<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let series = self.series(&req);
        Timed {
            inner: self.inner.call(req),
            series,
            started: Instant::now(),
        }
    }
}

pin_project_lite::pin_project! {
    /// The inner response future, timed until the response's head is ready.
    pub struct Timed<F> {
        #[pin]
        inner: F,
        series: &'static RouteSeries,
        started: Instant,
    }
}

impl<F, R, E> Future for Timed<F>
where
    F: Future<Output = Result<Response<R>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let out = std::task::ready!(this.inner.poll(cx));
        if let Ok(response) = &out {
            this.series.observe(response.status(), *this.started);
        }
        Poll::Ready(out)
    }
}

impl RouteSeries {
    /// One request answered with `status`, begun at `started`.
    fn observe(&self, status: axum::http::StatusCode, started: Instant) {
        let class = usize::from(status.as_u16() / 100).clamp(1, 5) - 1;
        let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.classes[class].observe(nanos);
    }
}

/// A route's series for requests answered outside the router (the seal's hot path in
/// [`crate::http::edge`]): counted and timed as the layer counts and times them.
#[derive(Clone, Copy)]
pub struct RouteTimer(&'static RouteSeries);

impl RouteTimer {
    /// The series of the route template `route` (as axum would match it).
    pub fn of(route: &str) -> RouteTimer {
        RouteTimer(series_of(route))
    }

    /// One request answered with `status`, begun at `started`.
    pub fn observe(self, status: axum::http::StatusCode, started: Instant) {
        self.0.observe(status, started);
    }
}

/// Prometheus text exposition of families this module renders itself.
#[derive(Debug, Default)]
pub struct Exposition {
    text: String,
}

/// A label value escaped for the text format (`\`, `"` and line feeds).
fn escaped(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Exposition {
    /// Starts family `name` of `kind` (`counter`, `gauge`, `histogram`).
    pub fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    /// One sample of the current family.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{k}=\"{}\"", escaped(v));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {value}");
    }

    /// The HTTP families: `chengxin_http_requests_total{route,status}` and
    /// `chengxin_http_request_duration_seconds{route,status}`.
    pub fn http(&mut self) {
        let all: Vec<&'static RouteSeries> = routes()
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let counts = |s: &Series| -> Vec<u64> {
            s.slots.iter().map(|c| c.load(Ordering::Relaxed)).collect()
        };
        self.family(
            "chengxin_http_requests_total",
            "counter",
            "HTTP requests answered, by route template and status class.",
        );
        for r in &all {
            for (class, s) in CLASSES.iter().zip(&r.classes) {
                let n: u64 = counts(s).iter().sum();
                if n > 0 {
                    let labels = [("route", &*r.route), ("status", *class)];
                    self.sample("chengxin_http_requests_total", &labels, n as f64);
                }
            }
        }
        self.family(
            "chengxin_http_request_duration_seconds",
            "histogram",
            "Time from a request reaching its route to its response's head, by route template and status class.",
        );
        for r in &all {
            for (class, s) in CLASSES.iter().zip(&r.classes) {
                let slots = counts(s);
                let total: u64 = slots.iter().sum();
                if total == 0 {
                    continue;
                }
                let mut cumulative = 0;
                for (bound, n) in BUCKETS.iter().zip(&slots) {
                    cumulative += n;
                    let le = bound.to_string();
                    let labels = [("route", &*r.route), ("status", *class), ("le", &le)];
                    self.sample(
                        "chengxin_http_request_duration_seconds_bucket",
                        &labels,
                        cumulative as f64,
                    );
                }
                let labels = [("route", &*r.route), ("status", *class), ("le", "+Inf")];
                self.sample(
                    "chengxin_http_request_duration_seconds_bucket",
                    &labels,
                    total as f64,
                );
                let labels = [("route", &*r.route), ("status", *class)];
                let sum = s.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
                self.sample("chengxin_http_request_duration_seconds_sum", &labels, sum);
                self.sample(
                    "chengxin_http_request_duration_seconds_count",
                    &labels,
                    total as f64,
                );
            }
        }
    }

    /// The text.
    pub fn into_text(self) -> String {
        self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bounds_in_nanoseconds_are_the_buckets() {
        for (s, n) in BUCKETS.iter().zip(BOUNDS_NANOS) {
            assert_eq!((s * 1e9).round() as u64, n);
        }
        let s = Series::default();
        s.observe(50_000);
        s.observe(50_001);
        s.observe(u64::MAX);
        let slots: Vec<u64> = s.slots.iter().map(|c| c.load(Ordering::Relaxed)).collect();
        assert_eq!((slots[0], slots[1], slots[BUCKETS.len()]), (1, 1, 1));
    }

    #[test]
    fn label_values_are_escaped() {
        let mut e = Exposition::default();
        e.sample("x", &[("route", "a\"b\\c\nd")], 1.0);
        assert_eq!(e.into_text(), "x{route=\"a\\\"b\\\\c\\nd\"} 1\n");
    }
}
