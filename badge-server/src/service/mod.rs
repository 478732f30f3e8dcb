//! The use cases: authorization, one transaction, and what to tell whom. Every use
//! case takes [`Services`] (never the HTTP layer's state), so that handlers, jobs and
//! the command line run the same code.

pub mod accounts;
pub mod applications;
pub mod attachments;
pub mod check;
pub mod complaints;
pub mod conventions;
pub mod demo;
pub mod events;
pub mod exchange;
pub mod figures;
pub mod health;
pub mod limiter;
pub mod log;
pub mod members;
pub mod notices;
pub mod origins;
pub mod rechecks;
pub mod records;
pub mod reports;
pub mod seals;
pub mod settings;
pub mod site_list;
pub mod sites;
pub mod warnings;
pub mod watch;
pub mod webhooks;

use std::sync::Arc;

use ca::Ca;
use ca::db::Database;

/// What the use cases need: the database, the CA, the verifier, the policies, the
/// job queue and the ways to tell people. Built once by the composition root.
#[derive(Clone)]
pub struct Services {
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
    /// Complaint deadlines and reminders.
    pub complaints: crate::domain::complaint::ComplaintPolicy,
    /// Sizes and counts of complaint attachments.
    pub attachments: crate::domain::attachment::AttachmentLimits,
    /// Per-account upload quota and the decoding slots.
    pub uploads: Arc<attachments::UploadGate>,
    /// Domain-control checks per account and hour (verification, re-verification).
    pub domain_checks: Arc<limiter::Limiter<i64>>,
    /// Draws seals and keeps the bytes.
    pub seals: Arc<crate::domain::seal::SealRenderer>,
    /// The public base URL without a trailing slash: links in mail, the origin that
    /// forms must come from, and whether cookies are `Secure`.
    pub public_url: String,
    /// Chromium, which prints reports to PDF (none: reports are HTML only).
    pub chromium: Option<std::path::PathBuf>,
    /// The job queue: handlers by kind, timings, this process's worker name.
    pub queue: Arc<crate::jobs::queue::Queue>,
    /// Sends the `mail` jobs.
    pub mailer: Arc<crate::notify::mail::Mailer>,
    /// Checks webhook URLs and delivers the `webhook` jobs.
    pub webhooks: Arc<crate::notify::webhook::Webhooks>,
    /// Seconds between publications of the CRLs revocations changed
    /// (`CHENGXIN_CRL_PUBLISH_SECS`, at least 1).
    pub crl_publish_every: i64,
    /// The transparency log: checkpoints, witnesses, tiles and proofs.
    pub log: Arc<log::TransparencyLog>,
    /// Records submitted per member account and day
    /// ([`crate::domain::record::PER_ACCOUNT_PER_DAY`]).
    pub record_submissions: Arc<limiter::Limiter<i64>>,
    /// Days a shared record is kept (`CHENGXIN_RECORD_RETENTION_DAYS`).
    pub record_retention_days: i64,
    /// The exchange feed's signing key and cursor key.
    pub exchange: Arc<exchange::Exchange>,
    /// Sites one job of a re-verification run takes (`CHENGXIN_RECHECK_RUN_BATCH`).
    pub recheck_run_batch: usize,
    /// `serve --demo`: every site issued is demonstration data, and a `Referer` on a
    /// `*.localhost` host is read as the name before `.localhost` (see [`demo`]).
    pub demo: bool,
}

impl Services {
    /// The services from the server's settings, an open database, the opened CA and
    /// the job handlers the application registers.
    pub fn build(
        settings: &crate::config::ServerSettings,
        db: Database,
        ca: Arc<Ca>,
        jobs: crate::jobs::queue::Registry,
    ) -> ca::Result<Services> {
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
        let registry = jobs;
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
        Ok(Services {
            db,
            ca,
            challenger: Arc::new(challenger),
            icp,
            auto_approve: settings.auto_approve,
            policy: settings.verifier.policy(),
            complaints: settings.complaint_policy(),
            attachments: settings.attachment_limits(),
            uploads: Arc::new(attachments::UploadGate::new(&settings.attachment_limits())),
            domain_checks: Arc::new(limiter::Limiter::new(
                settings.domain_checks_per_hour,
                3_600,
            )),
            seals: Arc::new(
                crate::domain::seal::SealRenderer::with_cache_bytes(settings.seal_cache_mib << 20)
                    .map_err(|e| config(e.to_string()))?,
            ),
            public_url: settings.common.public_url()?,
            chromium: reports::find_chromium(settings.chromium.as_deref()),
            queue: Arc::new(crate::jobs::queue::Queue::with_registry(
                registry,
                crate::jobs::queue::QueueSettings::from_settings(jobs),
            )),
            mailer: Arc::new(mailer),
            webhooks: Arc::new(webhooks),
            crl_publish_every: i64::try_from(jobs.crl_publish_secs)
                .unwrap_or(i64::MAX)
                .max(1),
            log: Arc::new(
                log::TransparencyLog::new(&settings.log, settings.common.log_signer()?)
                    .map_err(config)?,
            ),
            record_submissions: Arc::new(limiter::Limiter::new(
                crate::domain::record::PER_ACCOUNT_PER_DAY,
                86_400,
            )),
            record_retention_days: settings.record_retention_days,
            exchange: Arc::new(exchange::Exchange::open(
                &settings.common.ca_dir,
                &settings.common.passphrase()?.ok_or_else(|| {
                    config(
                        "the exchange feed's key is encrypted with the issuing key's passphrase: \
                         set CHENGXIN_CA_PASSPHRASE (or --passphrase-file)"
                            .into(),
                    )
                })?,
            )?),
            recheck_run_batch: jobs.recheck_run_batch.max(1),
            demo: settings.demo,
        })
    }

    /// The public base URL (no trailing slash) that links in pages, mails and
    /// snippets start with.
    pub fn public_base(&self) -> String {
        self.public_url.trim_end_matches('/').to_string()
    }

    /// Enqueues, inside a revocation's transaction, the publication of the CRLs it
    /// changed ([`sites::enqueue_crl_publish`]).
    pub async fn publish_crls_after(
        &self,
        tx: &mut ca::db::Tx,
        now: i64,
    ) -> Result<(), crate::error::AppError> {
        sites::enqueue_crl_publish(tx, now, self.crl_publish_every).await
    }

    /// The public URL's origin (`scheme://host[:port]`), what a same-origin form
    /// submission names in `Origin`.
    pub fn public_origin(&self) -> String {
        url::Url::parse(&self.public_url)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default()
    }
}
