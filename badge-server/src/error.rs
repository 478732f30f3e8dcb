//! The one HTTP error type. Internals are logged, never returned.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

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
    /// No valid credentials were presented.
    #[error("authentication required")]
    Unauthorized,
    /// The credentials do not allow this.
    #[error("{0}")]
    Forbidden(String),
    /// Anything else; logged, and the client sees a generic message.
    #[error(transparent)]
    Internal(#[from] ca::Error),
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
