//! The one HTTP error type. Internals are logged, never returned.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// What a client is told when the database's disk is full (503): nothing was saved,
/// and the same request works once the operator has made room, without a restart.
pub const DISK_FULL: &str = "the server's disk is full: nothing was saved; try again later / 服务器磁盘已满，未能保存，请稍后再试";

/// Everything a handler can fail with, mapped to a status code in one place.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// The resource does not exist.
    #[error("not found")]
    NotFound,
    /// The request is malformed; the message is shown to the client.
    #[error("{0}")]
    BadRequest(String),
    /// Fields of a request failed validation: field name → message.
    #[error("invalid fields")]
    Invalid(Vec<(String, String)>),
    /// The request conflicts with the resource's state.
    #[error("{0}")]
    Conflict(String),
    /// No valid credentials were presented.
    #[error("authentication required")]
    Unauthorized,
    /// The credentials do not allow this.
    #[error("{0}")]
    Forbidden(String),
    /// A limit on how often one may do something was reached (429); the message says
    /// which, `retry_after` when to try again (seconds).
    #[error("{message}")]
    TooMany {
        /// Which limit, for the client.
        message: String,
        /// Seconds until a new attempt can succeed.
        retry_after: u64,
    },
    /// An upload that is refused: too large (413), of a type not taken (415), or
    /// broken (422); see [`crate::attachment`].
    #[error(transparent)]
    Upload(#[from] crate::attachment::Refusal),
    /// Anything else; logged, and the client sees a generic message.
    #[error(transparent)]
    Internal(#[from] ca::Error),
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        AppError::Internal(e.into())
    }
}

impl From<ca::db::Error> for AppError {
    fn from(e: ca::db::Error) -> Self {
        AppError::Internal(e.into())
    }
}

impl From<verifier::Error> for AppError {
    fn from(e: verifier::Error) -> Self {
        AppError::Internal(ca::Error::Config(e.to_string()))
    }
}

impl From<axum::extract::rejection::JsonRejection> for AppError {
    fn from(e: axum::extract::rejection::JsonRejection) -> Self {
        // Well-formed JSON of the wrong shape (unknown or missing fields, wrong types)
        // is 422 like other validation failures; unparsable JSON is 400.
        if e.status() == StatusCode::UNPROCESSABLE_ENTITY {
            AppError::Invalid(vec![("body".into(), e.body_text())])
        } else {
            AppError::BadRequest(format!("request body: {}", e.body_text()))
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, message) = match &self {
            AppError::NotFound => (StatusCode::NOT_FOUND, "not found".to_string()),
            AppError::BadRequest(m) => (StatusCode::BAD_REQUEST, m.clone()),
            AppError::Unauthorized => {
                let mut r = (
                    StatusCode::UNAUTHORIZED,
                    Json(json!({ "error": "authentication required: send Authorization: Bearer <token>" })),
                )
                    .into_response();
                r.headers_mut().insert(
                    axum::http::header::WWW_AUTHENTICATE,
                    axum::http::HeaderValue::from_static("Bearer"),
                );
                return r;
            }
            AppError::Forbidden(m) => (StatusCode::FORBIDDEN, m.clone()),
            AppError::Conflict(m) => (StatusCode::CONFLICT, m.clone()),
            AppError::TooMany {
                message,
                retry_after,
            } => {
                let mut r = (
                    StatusCode::TOO_MANY_REQUESTS,
                    Json(json!({ "error": message })),
                )
                    .into_response();
                if let Ok(v) = axum::http::HeaderValue::from_str(&retry_after.to_string()) {
                    r.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
                }
                return r;
            }
            AppError::Upload(r) => (r.status(), r.to_string()),
            AppError::Invalid(fields) => {
                let map: serde_json::Map<String, serde_json::Value> = fields
                    .iter()
                    .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                    .collect();
                return (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Json(json!({ "error": "invalid fields", "fields": map })),
                )
                    .into_response();
            }
            AppError::Internal(e) if e.is_disk_full() => {
                tracing::error!(error = %e, "request failed: the database's disk is full");
                (StatusCode::SERVICE_UNAVAILABLE, DISK_FULL.to_string())
            }
            AppError::Internal(e) => {
                tracing::error!(error = %e, "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error".to_string(),
                )
            }
        };
        (status, Json(json!({ "error": message }))).into_response()
    }
}
