//! All routes, merged from one router per area.

use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::routes;
use crate::state::AppState;

/// Largest request body accepted anywhere (an OCSP request is a few hundred bytes).
pub const MAX_BODY: usize = 64 * 1024;

/// Builds the application.
pub fn build(state: AppState) -> Router {
    Router::new()
        .merge(routes::health::router())
        .merge(routes::me::router())
        .merge(routes::applications::router())
        .merge(routes::pki::router())
        .merge(routes::public::router())
        .merge(routes::seal::router())
        .merge(routes::archive::router())
        .with_state(state)
        .layer(RequestBodyLimitLayer::new(MAX_BODY))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .layer(TraceLayer::new_for_http())
}
