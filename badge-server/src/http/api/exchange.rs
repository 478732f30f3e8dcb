//! The exchange feed for member accounts (`/api/v1/exchange/events`, each page signed
//! with a detached JWS in `Chengxin-JWS`) and the key to check it with
//! (`/.well-known/jwks.json`).

use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::account::Account;
use crate::error::AppError;
use crate::http::openapi::ErrorBody;
use crate::http::state::AppState;
use crate::service::exchange as service;

/// Routes of this area; the key set rides along undocumented (it is a JWK Set,
/// RFC 7517 §5, not part of our API's shapes).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(events))
        .route("/.well-known/jwks.json", get(jwks))
}

/// Where to start and how many.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct PageQuery {
    /// A cursor from an earlier page (`next`, or an event's `cursor`); none: from the
    /// first event.
    after: Option<String>,
    /// Events in the page: 1 to 1000 (default 100).
    limit: Option<i64>,
}

/// The exchange feed
///
/// Member accounts. An append-only stream of what members may see: complaint
/// decisions, revocations, holds and releases with their reasons, published
/// warnings, and records members shared with all members. The body is
/// `{"events": [{"cursor", "seq", "kind", "at", "data"}], "next": CURSOR}`; page on
/// with `after=next` (no event is skipped or repeated, however many arrive
/// meanwhile). The header `Chengxin-JWS` is a compact JWS with a detached payload
/// (RFC 7515 appendix F), ES256, over the exact body bytes; its `kid` is in
/// `/.well-known/jwks.json`.
#[utoipa::path(
    get,
    path = "/api/v1/exchange/events",
    operation_id = "exchangeEvents",
    tag = "members",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "A page of events, signed", content_type = "application/json",
         headers(("Chengxin-JWS" = String, description = "Detached compact JWS (ES256) over the body")),
         body = String),
        (status = 400, description = "A cursor this feed never issued, or a limit out of range (plain text when the query itself is malformed)", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Not a member account", body = ErrorBody),
        (status = 429, description = "Over 600 pages this minute from this account (`Retry-After` says when to go on)", body = ErrorBody),
    )
)]
async fn events(
    State(state): State<AppState>,
    account: Account,
    Query(q): Query<PageQuery>,
) -> Result<Response, AppError> {
    let page = service::page(
        &state.db,
        &state.services.exchange,
        &account,
        q.after.as_deref(),
        q.limit,
    )
    .await?;
    let jws = HeaderValue::from_str(&page.jws)
        .map_err(|_| AppError::Internal(ca::Error::Config("unsendable signature".into())))?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        [("chengxin-jws", jws)],
        page.body,
    )
        .into_response())
}

/// The JWK Set members check the feed's signatures with.
async fn jwks(State(state): State<AppState>) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/jwk-set+json"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
            (
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            ),
        ],
        state.services.exchange.jwks().to_string(),
    )
        .into_response()
}
