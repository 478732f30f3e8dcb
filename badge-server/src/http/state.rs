//! The application state, built once at start and shared by every handler.

use std::sync::Arc;

use ca::Ca;
use ca::db::Database;

/// Shared by every handler through axum's `State`: one pointer, so the clone axum
/// makes for every request is one atomic increment (the seal's hot path measured
/// the field-by-field clone and drop of the fields below at several percent of its
/// time). Fields read through `Deref`; set them (at build time, in tests) through
/// `DerefMut`, which copies the fields if the state is already shared.
#[derive(Clone)]
pub struct AppState {
    shared: Arc<Shared>,
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.shared
    }
}

impl std::ops::DerefMut for AppState {
    fn deref_mut(&mut self) -> &mut Shared {
        Arc::make_mut(&mut self.shared)
    }
}

/// What [`AppState`] points to.
#[derive(Clone)]
pub struct Shared {
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
    /// The bearer token `/metrics` requires (none: `/metrics` is off).
    pub metrics_token: Option<String>,
    /// Site facts for the seal, fresh for a second.
    pub seal_cache: Arc<crate::http::public::seal::SealCache>,
    /// Complaint deadlines and reminders.
    pub complaints: crate::complaint::ComplaintPolicy,
    /// Sizes and counts of complaint attachments.
    pub attachments: crate::attachment::AttachmentLimits,
    /// Per-account upload quota and the decoding slots.
    pub uploads: Arc<crate::attachment::UploadGate>,
    /// Domain-control checks per account and hour (verification, re-verification).
    pub domain_checks: Arc<crate::http::extract::limiter::Limiter<i64>>,
    /// Draws seals and keeps the bytes.
    pub seals: Arc<crate::domain::seal::SealRenderer>,
    /// The public base URL without a trailing slash: links in mail, the origin that
    /// forms must come from, and whether cookies are `Secure`.
    pub public_url: String,
    /// Login, registration and reset attempts per client address.
    pub login_limiter: Arc<crate::http::extract::limiter::IpLimiter>,
    /// OCSP requests per client network and minute.
    pub ocsp_limiter: Arc<crate::http::extract::limiter::IpLimiter>,
    /// Client addresses come from the last `X-Forwarded-For` hop (behind a proxy).
    pub trust_forwarded_for: bool,
    /// The job queue: handlers by kind, timings, this process's worker name.
    pub queue: Arc<crate::jobs::queue::Queue>,
    /// Sends the `mail` jobs.
    pub mailer: Arc<crate::notify::mail::Mailer>,
    /// Checks webhook URLs and delivers the `webhook` jobs.
    pub webhooks: Arc<crate::notify::webhook::Webhooks>,
    /// The key of anonymous forms' CSRF tokens, read from the database on first use.
    pub form_key: Arc<tokio::sync::OnceCell<ring::hmac::Key>>,
    /// `/healthz`'s write probe and its last answer.
    pub health: Arc<crate::http::public::health::WriteProbe>,
}

impl Shared {
    /// The public base URL (no trailing slash) that links in pages, mails and
    /// snippets start with.
    pub fn public_base(&self) -> String {
        self.public_url.trim_end_matches('/').to_string()
    }

    /// The public URL's origin (`scheme://host[:port]`), what a same-origin form
    /// submission names in `Origin`.
    pub fn public_origin(&self) -> String {
        url::Url::parse(&self.public_url)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default()
    }

    /// Cookies are `Secure` when the public URL is https.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.starts_with("https://")
    }
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
        let mailer = crate::notify::mail::Mailer::new(
            jobs.smtp_url.as_deref(),
            jobs.mail_from.as_deref(),
            &settings.common.public_url()?,
        )?;
        let webhooks = crate::notify::webhook::Webhooks::new(
            &settings.verifier,
            std::time::Duration::from_secs(jobs.webhook_timeout_secs.max(1)),
        )
        .map_err(|e| config(e.to_string()))?;
        let shared = Shared {
            db,
            ca,
            challenger: Arc::new(challenger),
            icp,
            auto_approve: settings.auto_approve,
            policy: settings.verifier.policy(),
            metrics: None,
            metrics_token: settings.metrics_token.clone().filter(|t| !t.is_empty()),
            seal_cache: Arc::default(),
            complaints: settings.complaint_policy(),
            attachments: settings.attachment_limits(),
            uploads: Arc::new(crate::attachment::UploadGate::new(
                &settings.attachment_limits(),
            )),
            domain_checks: Arc::new(crate::http::extract::limiter::Limiter::new(
                settings.domain_checks_per_hour,
                3_600,
            )),
            seals: Arc::new(
                crate::domain::seal::SealRenderer::new().map_err(|e| config(e.to_string()))?,
            ),
            public_url: settings.common.public_url()?,
            login_limiter: Arc::default(),
            ocsp_limiter: Arc::new(crate::http::extract::limiter::Limiter::new(
                settings.ocsp_per_minute,
                60,
            )),
            trust_forwarded_for: settings.trust_forwarded_for,
            queue: Arc::new(crate::jobs::queue::Queue::new(
                crate::jobs::queue::QueueSettings::from_settings(jobs),
            )),
            mailer: Arc::new(mailer),
            webhooks: Arc::new(webhooks),
            form_key: Arc::default(),
            health: Arc::new(crate::http::public::health::WriteProbe::new(
                std::time::Duration::from_secs(settings.health_write_secs),
            )),
        };
        Ok(AppState {
            shared: Arc::new(shared),
        })
    }
}
