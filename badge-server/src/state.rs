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
    /// The job queue: handlers by kind, timings, this process's worker name.
    pub queue: Arc<crate::queue::Queue>,
    /// Sends the `mail` jobs.
    pub mailer: Arc<crate::mail::Mailer>,
    /// Checks webhook URLs and delivers the `webhook` jobs.
    pub webhooks: Arc<crate::webhook::Webhooks>,
}

impl AppState {
    /// Everything but the metrics recorder (a process-wide install that `serve`
    /// does), from the server's settings, an open database and the opened CA.
    pub fn build(
        settings: &crate::config::ServerSettings,
        db: Database,
        ca: Arc<Ca>,
    ) -> ca::Result<AppState> {
        let config = |e: String| ca::Error::Config(e);
        let icp = match settings.verifier.icp_provider.as_deref() {
            Some(spec) => Some(Arc::from(
                verifier::icp::provider_from_spec(spec).map_err(|e| config(e.to_string()))?,
            )),
            None => {
                tracing::warn!(
                    "no CHENGXIN_ICP_PROVIDER: every application will wait for staff review"
                );
                None
            }
        };
        let challenger = verifier::Challenger::from_settings(&settings.verifier)
            .map_err(|e| config(e.to_string()))?;
        let jobs = &settings.jobs;
        let mailer = crate::mail::Mailer::new(
            jobs.smtp_url.as_deref(),
            jobs.mail_from.as_deref(),
            &settings.common.public_url()?,
        )?;
        let webhooks = crate::webhook::Webhooks::new(
            &settings.verifier,
            std::time::Duration::from_secs(jobs.webhook_timeout_secs.max(1)),
        )
        .map_err(|e| config(e.to_string()))?;
        Ok(AppState {
            db,
            ca,
            challenger: Arc::new(challenger),
            icp,
            auto_approve: settings.auto_approve,
            policy: settings.verifier.policy(),
            metrics: None,
            seal_cache: Arc::default(),
            seals: Arc::new(crate::seal::SealRenderer::new().map_err(|e| config(e.to_string()))?),
            queue: Arc::new(crate::queue::Queue::new(
                crate::queue::QueueSettings::from_settings(jobs),
            )),
            mailer: Arc::new(mailer),
            webhooks: Arc::new(webhooks),
        })
    }
}
