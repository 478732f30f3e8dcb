//! First-party static files the pages load: the certificate page's log checker
//! (the page's CSP allows scripts from `'self'` only, and no inline ones). Each file
//! is served under a name that carries a hash of its bytes, so browsers may keep it
//! for a year and a build that changes it changes its URL.

use std::sync::OnceLock;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::http::state::AppState;

/// The script that checks, in the visitor's browser, the inclusion proofs and the
/// checkpoint signature the certificate page carries (plain ES2020, WebCrypto).
pub const LOG_VERIFY_JS: &str = include_str!("../../../static/log-verify.js");

/// Hex digits of the SHA-256 of a file kept in its URL.
const HASH_HEX: usize = 16;

/// Routes of this area.
pub fn router() -> Router<AppState> {
    Router::new().route("/static/{file}", get(file))
}

/// The script of a re-verification run's page: polls the run's progress and shows
/// it without reloading the page (the page refreshes itself without scripts).
pub const RECHECK_RUN_JS: &str = include_str!("../../../static/recheck-run.js");

/// `/static/<stem>.<hash>.js` for `body`.
fn hashed(stem: &str, body: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, body.as_bytes());
    let hex = hex::encode(digest.as_ref());
    format!("/static/{stem}.{}.js", &hex[..HASH_HEX])
}

/// Where [`LOG_VERIFY_JS`] is served: `/static/log-verify.<hash>.js`.
pub fn log_verify_path() -> &'static str {
    static PATH: OnceLock<String> = OnceLock::new();
    PATH.get_or_init(|| hashed("log-verify", LOG_VERIFY_JS))
}

/// Where [`RECHECK_RUN_JS`] is served: `/static/recheck-run.<hash>.js`.
pub fn recheck_run_path() -> &'static str {
    static PATH: OnceLock<String> = OnceLock::new();
    PATH.get_or_init(|| hashed("recheck-run", RECHECK_RUN_JS))
}

async fn file(Path(file): Path<String>) -> Response {
    let body = if log_verify_path().strip_prefix("/static/") == Some(file.as_str()) {
        LOG_VERIFY_JS
    } else if recheck_run_path().strip_prefix("/static/") == Some(file.as_str()) {
        RECHECK_RUN_JS
    } else {
        // The edge answers it as a page or as JSON (`http::error::negotiate`).
        return crate::error::AppError::NotFound.into_response();
    };
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/javascript; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        body,
    )
        .into_response()
}
