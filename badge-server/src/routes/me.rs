//! `/api/v1/me`: who the token belongs to.

use axum::routing::get;
use axum::{Json, Router};

use crate::account::Account;
use crate::state::AppState;

/// Routes of this area.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/me", get(me))
}

async fn me(account: Account) -> Json<Account> {
    Json(account)
}
