//! `/api/v1/me/webhook`: the webhook endpoint of an operator (its sites' events) or of a
//! member account (the exchange feed's events), and its signing secret.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::account::{Account, Role};
use crate::error::AppError;
use crate::http::openapi::{ErrorBody, InvalidFields};
use crate::http::state::AppState;
use crate::service::webhooks as webhook;

/// Routes of this area, each documented by its handler.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(put_webhook, delete_webhook))
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Where to send events.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookRequest {
    /// An `http` or `https` URL on the public internet.
    #[schema(example = "https://ops.example.cn/chengxin/events")]
    pub url: String,
}

/// The webhook as set, with its signing secret: shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookSecret {
    /// Where events are sent.
    pub url: String,
    /// The HMAC-SHA256 key of `Chengxin-Webhook-Signature` (`whsec_…`, used as its
    /// UTF-8 bytes). Store it now: it is not shown again; a new `PUT` makes a new one.
    pub secret: String,
}

/// Set the webhook
///
/// Sets the URL that receives the account's events and returns a new signing secret,
/// once; every call replaces the secret. Each delivery is `POST url` with the JSON body
/// `{"id", "event", "created_at", "data"}` and the headers `Chengxin-Webhook-Id`,
/// `Chengxin-Webhook-Timestamp` (unix seconds) and `Chengxin-Webhook-Signature:
/// v1=<hex HMAC-SHA256(secret, "<id>.<timestamp>.<body>")>`. Receivers must check the
/// signature and reject timestamps more than 5 minutes old (replays); the id is the same
/// on every retry. Non-2xx answers and timeouts are retried with exponential backoff.
/// Internal addresses (private, loopback, link-local) are refused.
#[utoipa::path(
    put,
    path = "/api/v1/me/webhook",
    operation_id = "putWebhook",
    tag = "webhooks",
    security(("bearer" = [])),
    request_body = WebhookRequest,
    responses(
        (status = 200, description = "Set; the secret is shown this once", body = WebhookSecret),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Neither an operator nor a member account", body = ErrorBody),
        (status = 422, description = "The URL is refused (`fields.url` says why)", body = InvalidFields),
    )
)]
async fn put_webhook(
    State(state): State<AppState>,
    account: Account,
    body: Result<Json<WebhookRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<WebhookSecret>, AppError> {
    account.require(&[Role::Operator, Role::Member])?;
    let Json(req) = body?;
    let url = state
        .webhooks
        .check_url(&req.url)
        .await
        .map_err(|why| AppError::Invalid(vec![("url".into(), why)]))?;
    let secret = webhook::set(&state, &account, url.as_str(), now()).await?;
    Ok(Json(WebhookSecret {
        url: url.to_string(),
        secret,
    }))
}

/// Remove the webhook
///
/// No more events are sent; deliveries already queued are dropped when they come due.
#[utoipa::path(
    delete,
    path = "/api/v1/me/webhook",
    operation_id = "deleteWebhook",
    tag = "webhooks",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed (or there was none)"),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Neither an operator nor a member account", body = ErrorBody),
    )
)]
async fn delete_webhook(
    State(state): State<AppState>,
    account: Account,
) -> Result<StatusCode, AppError> {
    account.require(&[Role::Operator, Role::Member])?;
    webhook::clear(&state, &account, now()).await?;
    Ok(StatusCode::NO_CONTENT)
}
