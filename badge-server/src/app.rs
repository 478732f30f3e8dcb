//! The composition root: opens the database and the CA, builds the [`Services`],
//! registers the job handlers, builds the HTTP state and router, and serves until
//! SIGTERM. The only place besides `http/` that knows the HTTP layer.

use std::num::NonZeroUsize;
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
    r.register(
        crate::service::rechecks::JOB_RUN,
        crate::service::rechecks::run_job,
    );
    // A batch of a re-verification run may take minutes of DNS and ICP look-ups:
    // complaint deadlines and the rest do not wait behind it.
    r.own_lane(&[crate::service::rechecks::JOB_RUN]);
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
    let db = settings.common.database().await?;
    // Before anything is written: demo and real data never share a database.
    if let Err(e) = crate::service::demo::check_database(&db, settings.demo).await {
        db.close().await;
        return Err(ca::Error::Config(e.to_string()));
    }
    ensure_dev_ca(&mut settings)?;
    let demo_dns = if settings.demo {
        Some(demo_setup(&mut settings).await?)
    } else {
        None
    };
    let ca = Arc::new(settings.common.open_ca(db.clone()).await?);
    // A second server with this serial prefix refuses to start (CHENGXIN_CA_INSTANCE).
    ca.claim_serial_prefix().await?;
    let serial_prefix = ca.clone();
    tracing::info!(backend = db.backend(), issuer = ca.slug(), "CA opened");
    jobs::refresh_once(&ca).await?;

    let services = Services::build(&settings, db.clone(), ca, job_registry())?;
    let mut state = AppState::build(&settings, services);
    state.metrics = install_metrics();
    tokio::spawn(
        state
            .seal_cache
            .clone()
            .run_flusher(db.clone(), Duration::from_secs(1)),
    );
    tokio::spawn(state.seal_cache.clone().run_change_feed(db.clone()));
    tokio::spawn(
        state
            .seal_cache
            .clone()
            .run_refresher(db.clone(), state.services.seals.clone()),
    );
    tokio::spawn(state.services.log.clone().run(db.clone()));
    // Operators are told of re-verification's transitions from the audit log.
    tokio::spawn(crate::service::notices::run_projector(
        state.services.clone(),
    ));
    tokio::spawn(crate::service::exchange::run_projector(
        db.clone(),
        state.services.exchange.clone(),
    ));
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
    let services = state.services.clone();
    let app = router::build(state.clone());
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .map_err(|e| ca::Error::Config(format!("cannot listen on {}: {e}", settings.listen)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| ca::Error::Config(e.to_string()))?;
    tracing::info!(%addr, "listening");
    println!("listening on http://{addr}");
    // Kept until the server stops: the demo's DNS server and web pages.
    let _demo = match &demo_dns {
        Some(dns) => Some(demo_run(&services, dns).await?),
        None => None,
    };
    let limits = httpd::Limits {
        header_timeout: Duration::from_secs(settings.header_timeout_secs.max(1)),
        max_connections: settings.max_connections,
        threads: Some(http_threads(
            settings.http_threads,
            settings.max_connections,
            std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN),
        )),
    };
    // Seals are answered before the router (`http::edge`).
    let edge = crate::http::edge::per_connection(app, state);
    httpd::serve_with(listener, edge, limits, async move {
        shutdown().await;
        let _ = stop.send(true);
    })
    .await
    .map_err(|e| ca::Error::Config(format!("cannot serve on {addr}: {e}")))?;
    if let Some(worker) = worker {
        let _ = worker.await;
    }
    serial_prefix.release_serial_prefix().await?;
    db.close().await;
    Ok(())
}

/// How many connection threads serve HTTP: `requested`, or one per core when 0, and
/// never more than `max_connections` (a thread that can never get a connection would
/// idle) nor fewer than one.
fn http_threads(requested: usize, max_connections: usize, cores: NonZeroUsize) -> NonZeroUsize {
    let wanted = NonZeroUsize::new(requested).unwrap_or(cores);
    NonZeroUsize::new(wanted.get().min(max_connections)).unwrap_or(NonZeroUsize::MIN)
}

/// Installs the process's metrics recorder: histograms with the HTTP layer's buckets
/// (rendered as Prometheus histograms, not summaries), the counters an alert needs
/// from the start registered at zero, and an upkeep task that folds recorded samples
/// into the buckets every few seconds (without it they pile up until a scrape).
fn install_metrics() -> Option<metrics_exporter_prometheus::PrometheusHandle> {
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets(&crate::http::metrics::BUCKETS)
        .and_then(|b| b.install_recorder())
        .map_err(|e| tracing::warn!(error = %e, "metrics disabled"))
        .ok()?;
    for name in [
        "chengxin_certificates_issued_total",
        "chengxin_certificate_holds_total",
        "chengxin_certificate_releases_total",
    ] {
        metrics::counter!(name).increment(0);
    }
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(METRICS_UPKEEP);
        loop {
            every.tick().await;
            upkeep.run_upkeep();
        }
    });
    Some(handle)
}

/// How often recorded histogram samples are folded into their buckets.
const METRICS_UPKEEP: Duration = Duration::from_secs(5);

/// `serve --demo`, before the services are built: starts the demo DNS server on
/// loopback and points the verifier at it alone, and makes the bundled ICP dataset
/// (written beside the CA directory) the filing source. Staff approve: no
/// auto-approval.
async fn demo_setup(settings: &mut ServerSettings) -> ca::Result<crate::demo::dns::DemoDns> {
    let domains: Vec<&str> = crate::demo::SITES.iter().map(|s| s.domain).collect();
    let dns = crate::demo::dns::DemoDns::start(&domains)
        .await
        .map_err(|e| ca::Error::Config(format!("demo DNS server: {e}")))?;
    let dataset = settings_dev_file(&settings.common).with_file_name("demo-icp.jsonl");
    std::fs::write(&dataset, crate::demo::ICP_DATASET).map_err(|e| ca::Error::io(&dataset, e))?;
    let v = &mut settings.verifier;
    v.dns_servers = Some(dns.addr.to_string());
    v.dns_quorum = Some(1);
    v.icp_provider = Some(format!("file:{}", dataset.display()));
    settings.auto_approve = false;
    crate::http::web::set_demo_mode();
    tracing::warn!(dns = %dns.addr, dataset = %dataset.display(), "DEMO MODE: demonstration data only");
    Ok(dns)
}

/// What `serve --demo` keeps running beside the server: the DNS server (held by the
/// caller) and the demo pages' listener.
struct DemoRun {
    _pages: tokio::task::JoinHandle<()>,
}

/// `serve --demo`, once the server listens: certifies the demo sites through the
/// real flow, starts the demo pages on a loopback port of their own, and prints
/// where to look, with the demo staff account's newly generated password.
async fn demo_run(services: &Services, dns: &crate::demo::dns::DemoDns) -> ca::Result<DemoRun> {
    let fail = |e: crate::error::AppError| ca::Error::Config(format!("demo: {e}"));
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let certified = crate::service::demo::certify(services, dns, now)
        .await
        .map_err(fail)?;
    let password = crate::service::demo::staff_password(services, now)
        .await
        .map_err(fail)?;
    let listener = tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
        .await
        .map_err(|e| ca::Error::Config(format!("demo pages: {e}")))?;
    let port = listener
        .local_addr()
        .map_err(|e| ca::Error::Config(e.to_string()))?
        .port();
    let base = services.public_base();
    let pages: Vec<crate::http::demo::DemoPage> = certified
        .iter()
        .map(|c| crate::http::demo::DemoPage {
            domain: c.spec.domain.to_string(),
            title: c.spec.title.to_string(),
            site: c.site.clone(),
        })
        .collect();
    let router = crate::http::demo::router(pages, &base);
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::warn!(error = %e, "demo pages stopped");
        }
    });
    println!("演示 Demo: demonstration data only; this database is marked as a demo.");
    println!(
        "demo DNS server:  {} (UDP and TCP, loopback only)",
        dns.addr
    );
    for c in &certified {
        println!(
            "demo page:        {}",
            crate::http::demo::page_url(c.spec.domain, port)
        );
        println!("certificate page: {base}/cert/{}", c.site);
    }
    println!("copycat page:     {}", crate::http::demo::copycat_url(port));
    println!("console login:    {base}/login (then {base}/console)");
    println!("  email:          {}", crate::demo::STAFF_EMAIL);
    println!("  password:       {}", password.as_str());
    Ok(DemoRun { _pages: task })
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn n(v: usize) -> NonZeroUsize {
        NonZeroUsize::new(v).unwrap()
    }

    #[test]
    fn connection_threads_default_to_the_cores_and_never_outnumber_the_connections() {
        // 0: one per core.
        assert_eq!(http_threads(0, 1024, n(2)), n(2));
        // As asked, within the connections.
        assert_eq!(http_threads(8, 1024, n(2)), n(8));
        // Capped at the connections, whether asked for or by default.
        assert_eq!(http_threads(8, 3, n(2)), n(3));
        assert_eq!(http_threads(0, 1, n(4)), n(1));
        // Never none, even with no connections allowed.
        assert_eq!(http_threads(4, 0, n(2)), n(1));
    }
}
