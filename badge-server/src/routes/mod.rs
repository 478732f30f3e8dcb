//! Handlers, one module per area.

pub mod accounts;
pub mod applications;
pub mod archive;
pub mod certificate;
pub mod complaint_pages;
pub mod complaints;
pub mod console;
pub mod health;
pub mod me;
pub mod pki;
pub mod portal;
pub mod public;
pub mod seal;
pub mod warnings;
pub mod webhook;

/// The host of the `Referer`, lower-cased: all a cross-origin image request reveals
/// (browsers send only the origin), and absent when the page suppressed it.
pub(crate) fn referer_host(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get(axum::http::header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| url::Url::parse(r).ok())
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
}
