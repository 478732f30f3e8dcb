//! The composition root: opens the database and the CA, builds the [`Services`],
//! registers the job handlers, builds the HTTP state and router, and serves until
//! SIGTERM. The only place besides `http/` that knows the HTTP layer.

use std::sync::Arc;
use std::time::Duration;

use ca::authority;
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use crate::config::ServerSettings;
use crate::http::AppState;
use crate::http::router;
use crate::jobs::handlers as jobs;
use crate::jobs::kind;
use crate::jobs::queue::{self, Registry};
use crate::service::Services;

/// Every job kind this server runs and its handler: mail, webhooks, the PKI refresh,
/// CRL publication, housekeeping, the periodic report, reset requests, complaint reminders and deadlines; and the kinds
/// that get worker lanes of their own.
pub fn job_registry() -> Registry {
    let mut r = Registry::empty();
    r.register(kind::MAIL, mail_job);
    r.register(kind::WEBHOOK, crate::service::webhooks::deliver_job);
    r.register(kind::PKI_REFRESH, jobs::refresh_job);
    r.register(kind::CRL_PUBLISH, jobs::crl_publish_job);
    r.register(kind::HOUSEKEEPING, jobs::housekeeping_job);
    r.register(
        crate::service::reports::REPORT_BUILD,
        jobs::report_build_job,
    );
    r.register(
        crate::domain::account::JOB_RESET_REQUEST,
        crate::service::accounts::reset_request_job,
    );
    r.register(
        crate::service::complaints::JOB_REMINDER,
        crate::service::complaints::reminder_job,
    );
    r.register(
        crate::service::complaints::JOB_DEADLINE,
        crate::service::complaints::deadline_job,
    );
    // A webhook endpoint that never answers holds up only webhooks, a slow SMTP
    // server only mail; the PKI refresh, complaint deadlines and the rest share the
    // third lane.
    r.own_lane(&[kind::WEBHOOK]);
    r.own_lane(&[kind::MAIL]);
    r
}

/// The `mail` job: the mailer sends it.
async fn mail_job(s: &Services, job: &queue::Job) -> Result<(), queue::JobError> {
    s.mailer.deliver(job).await
}

/// On first start with no CA and no passphrase, creates a development CA whose
/// passphrase is a generated file in the data directory, and says so loudly.
fn ensure_dev_ca(settings: &mut ServerSettings) -> ca::Result<()> {
    let common = &mut settings.common;
    let exists = common.ca_dir.join(authority::files::ISSUING_CERT).exists();
    let configured = common.passphrase()?.is_some() || common.ca_pkcs11.is_some();
    let dev_file = settings_dev_file(common);
    if configured {
        return Ok(());
    }
    if exists {
        if dev_file.exists() {
            tracing::warn!(file = %dev_file.display(), "DEVELOPMENT CA: using the generated passphrase file");
            common.passphrase_file = Some(dev_file);
        }
        return Ok(());
    }
    let rng = SystemRandom::new();
    let random_passphrase = || {
        let mut raw = Zeroizing::new([0u8; 32]);
        rng.fill(raw.as_mut())
            .map_err(|_| ca::Error::Config("no system randomness".into()))?;
        Ok::<_, ca::Error>(Zeroizing::new(hex::encode(raw.as_ref())))
    };
    let passphrase = random_passphrase()?;
    // The root key has its own passphrase; a development CA keeps it beside the other.
    let root_passphrase = random_passphrase()?;
    if let Some(parent) = dev_file.parent() {
        std::fs::create_dir_all(parent).map_err(|e| ca::Error::io(parent, e))?;
    }
    ca::signer::write_private_file(&dev_file, passphrase.as_bytes())?;
    ca::signer::write_private_file(
        &dev_file.with_file_name("ca-root-passphrase"),
        root_passphrase.as_bytes(),
    )?;
    let passphrases = authority::KeyPassphrases {
        root: root_passphrase.as_bytes(),
        issuing: Some(passphrase.as_bytes()),
    };
    authority::init(&common.ca_dir, &passphrases, None)?;
    tracing::warn!(
        dir = %common.ca_dir.display(),
        passphrase_file = %dev_file.display(),
        "DEVELOPMENT CA CREATED: not for production. Its keys are protected only by a generated \
         passphrase file next to them. Run `ca init` with a real passphrase for production."
    );
    common.passphrase_file = Some(dev_file);
    Ok(())
}

fn settings_dev_file(common: &ca::config::Settings) -> std::path::PathBuf {
    common
        .ca_dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| std::path::Path::new("."))
        .join("ca-passphrase")
}

/// `badge-server serve`: everything wired, then serve until SIGTERM.
pub async fn serve(mut settings: ServerSettings) -> ca::Result<()> {
    ensure_dev_ca(&mut settings)?;
    let db = settings.common.database().await?;
    let ca = Arc::new(settings.common.open_ca(db.clone()).await?);
    // A second server with this serial prefix refuses to start (CHENGXIN_CA_INSTANCE).
    ca.claim_serial_prefix().await?;
    let serial_prefix = ca.clone();
    tracing::info!(backend = db.backend(), issuer = ca.slug(), "CA opened");
    jobs::refresh_once(&ca).await?;

    let services = Services::build(&settings, db.clone(), ca, job_registry())?;
    let mut state = AppState::build(&settings, services);
    state.metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .map_err(|e| tracing::warn!(error = %e, "metrics disabled"))
        .ok();
    tokio::spawn(
        state
            .seal_cache
            .clone()
            .run_flusher(db.clone(), Duration::from_secs(1)),
    );
    tokio::spawn(state.seal_cache.clone().run_change_feed(db.clone()));
    tokio::spawn(state.services.log.clone().run(db.clone()));
    // The hourly CRL/OCSP refresh is a recurring job: one run per hour across replicas.
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    jobs::schedule(&db, now)
        .await
        .map_err(|e| ca::Error::Config(format!("cannot schedule the PKI refresh: {e}")))?;
    jobs::schedule_housekeeping(&db, now)
        .await
        .map_err(|e| ca::Error::Config(format!("cannot schedule housekeeping: {e}")))?;
    jobs::schedule_reports(&db, now)
        .await
        .map_err(|e| ca::Error::Config(format!("cannot schedule the report build: {e}")))?;
    // SIGTERM stops the HTTP server and the worker, which hands back its jobs.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = if settings.jobs.job_worker_disabled {
        tracing::info!("job worker disabled in this process (CHENGXIN_JOB_WORKER_DISABLED)");
        None
    } else {
        Some(tokio::spawn(queue::worker::run(
            state.services.clone(),
            stopped,
        )))
    };
    let app = router::build(state);
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .map_err(|e| ca::Error::Config(format!("cannot listen on {}: {e}", settings.listen)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| ca::Error::Config(e.to_string()))?;
    tracing::info!(%addr, "listening");
    println!("listening on http://{addr}");
    let limits = httpd::Limits {
        header_timeout: Duration::from_secs(settings.header_timeout_secs.max(1)),
        max_connections: settings.max_connections,
    };
    httpd::serve(listener, app, limits, async move {
        shutdown().await;
        let _ = stop.send(true);
    })
    .await;
    if let Some(worker) = worker {
        let _ = worker.await;
    }
    serial_prefix.release_serial_prefix().await?;
    db.close().await;
    Ok(())
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
