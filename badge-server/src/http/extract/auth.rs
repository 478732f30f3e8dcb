//! Bearer-token authentication for the JSON API.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use crate::domain::account::Account;
use crate::error::AppError;
use crate::http::state::AppState;

impl FromRequestParts<AppState> for Account {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(AppError::Unauthorized)?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or(AppError::Unauthorized)?;
        crate::store::accounts::authenticate(&state.db, token.trim())
            .await?
            .ok_or(AppError::Unauthorized)
    }
}
