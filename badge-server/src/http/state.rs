//! The application state, built once at start and shared by every handler.

use std::sync::Arc;

use crate::service::Services;

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

/// What [`AppState`] points to: the [`Services`] every use case takes, and what only
/// the HTTP layer needs. Reads of service fields go through `Deref` to [`Services`],
/// so `state.db` and passing `&state` where `&Services` is wanted both work.
#[derive(Clone)]
pub struct Shared {
    /// Database, CA, verifier, policies, queue, mail and webhooks.
    pub services: Services,
    /// Renders the Prometheus metrics.
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    /// The bearer token `/metrics` requires (none: `/metrics` is off).
    pub metrics_token: Option<String>,
    /// Site facts for the seal, fresh for a second.
    pub seal_cache: Arc<crate::service::seals::SealCache>,
    /// Login, registration and reset attempts per client address.
    pub login_limiter: Arc<crate::service::limiter::IpLimiter>,
    /// OCSP requests per client network and minute.
    pub ocsp_limiter: Arc<crate::service::limiter::IpLimiter>,
    /// Client addresses come from the last `X-Forwarded-For` hop (behind a proxy).
    pub trust_forwarded_for: bool,
    /// The key of anonymous forms' CSRF tokens, read from the database on first use.
    pub form_key: Arc<tokio::sync::OnceCell<ring::hmac::Key>>,
    /// `/healthz`'s write probe and its last answer.
    pub health: Arc<crate::service::health::WriteProbe>,
}

impl std::ops::Deref for Shared {
    type Target = Services;
    fn deref(&self) -> &Services {
        &self.services
    }
}

impl std::ops::DerefMut for Shared {
    fn deref_mut(&mut self) -> &mut Services {
        &mut self.services
    }
}

impl Shared {
    /// Cookies are `Secure` when the public URL is https.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}

impl AppState {
    /// Everything but the metrics recorder (a process-wide install that `serve`
    /// does), from the server's settings and the services built from them.
    pub fn build(settings: &crate::config::ServerSettings, services: Services) -> AppState {
        let shared = Shared {
            services,
            metrics: None,
            metrics_token: settings.metrics_token.clone().filter(|t| !t.is_empty()),
            seal_cache: Arc::default(),
            login_limiter: Arc::default(),
            ocsp_limiter: Arc::new(crate::service::limiter::Limiter::new(
                settings.ocsp_per_minute,
                60,
            )),
            trust_forwarded_for: settings.trust_forwarded_for,
            form_key: Arc::default(),
            health: Arc::new(crate::service::health::WriteProbe::new(
                std::time::Duration::from_secs(settings.health_write_secs),
            )),
        };
        AppState {
            shared: Arc::new(shared),
        }
    }
}
