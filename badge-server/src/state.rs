//! The application state, built once at start and shared by every handler.

use std::sync::Arc;

use ca::Ca;
use ca::db::Database;

/// Shared by every handler through axum's `State`.
#[derive(Clone)]
pub struct AppState {
    /// The shared database.
    pub db: Database,
    /// The online issuing CA.
    pub ca: Arc<Ca>,
    /// Domain-control checks.
    pub challenger: Arc<verifier::Challenger>,
    /// ICP filing source (none: every application goes to staff review).
    pub icp: Option<Arc<dyn verifier::icp::IcpProvider>>,
    /// Issue without staff approval once every check passes.
    pub auto_approve: bool,
    /// Re-verification timings for enrolled sites.
    pub policy: verifier::recheck::Policy,
    /// Renders the Prometheus metrics.
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    /// Site facts for the seal, fresh for a second.
    pub seal_cache: Arc<crate::routes::seal::SealCache>,
    /// Draws seals and keeps the bytes.
    pub seals: Arc<crate::seal::SealRenderer>,
}
