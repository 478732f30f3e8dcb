//! The application state, built once at start and shared by every handler.

use std::sync::Arc;

use ca::Ca;
use ca::db::Database;

/// Shared by every handler through axum's `State`.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The shared database.
    pub db: Database,
    /// The online issuing CA.
    pub ca: Arc<Ca>,
}
