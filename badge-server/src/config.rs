//! Server settings: the shared CA/database settings plus the listen address.

use std::net::SocketAddr;

use ca::config::Settings;

use crate::domain::attachment::AttachmentLimits;

/// `badge-server serve` settings.
#[derive(clap::Args, Debug, Clone)]
pub struct ServerSettings {
    /// Shared settings (database, CA directory, public URL).
    #[command(flatten)]
    pub common: Settings,
    /// Domain-control and ICP settings.
    #[command(flatten)]
    pub verifier: verifier::config::VerifierSettings,
    /// Issue as soon as every check passes, without staff approval.
    #[arg(long, env = "CHENGXIN_AUTO_APPROVE", default_value_t = false, value_parser = ca::config::boolish)]
    pub auto_approve: bool,
    /// Behind a reverse proxy: take the client's address for the login limiter from the
    /// last `X-Forwarded-For` hop (the one the proxy added) instead of the connection.
    #[arg(long, env = "CHENGXIN_TRUST_FORWARDED_FOR", default_value_t = false, value_parser = ca::config::boolish)]
    pub trust_forwarded_for: bool,
    /// MiB of rendered seals kept in memory (the most visited variants; the rest are
    /// put together again from cached glyphs).
    #[arg(long, env = "CHENGXIN_SEAL_CACHE_MIB", default_value_t = crate::domain::seal::CACHE_BYTES >> 20)]
    pub seal_cache_mib: usize,
    /// Chromium, which prints each published report to PDF (default: Debian's
    /// `/usr/bin/chromium` when installed; without one, reports are HTML only).
    #[arg(long, env = "CHENGXIN_CHROMIUM")]
    pub chromium: Option<std::path::PathBuf>,
    /// Demonstration: also start a DNS server and a demo web server on loopback, the
    /// bundled ICP dataset as the filing source, and certify two demo sites through
    /// the whole flow; prints where to look. Refused on a database with real sites.
    #[arg(long, default_value_t = false)]
    pub demo: bool,
    /// Address to listen on.
    #[arg(long, env = "CHENGXIN_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Seconds a client has to send a request's line and headers, on a new connection
    /// and between the requests of a kept-alive one; then the connection is closed.
    #[arg(long, env = "CHENGXIN_HEADER_TIMEOUT_SECS", default_value_t = 10)]
    pub header_timeout_secs: u64,
    /// Most client connections open at once; more wait to be accepted. Keep it well
    /// below the process's open-file limit (`ulimit -n`): the database and outgoing
    /// connections need descriptors too.
    #[arg(long, env = "CHENGXIN_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,
    /// Threads that serve HTTP connections, each with its own event loop (as nginx's
    /// workers); 0: one per core; at most `CHENGXIN_MAX_CONNECTIONS`. Pages and API
    /// requests are handed to the main runtime; a seal answered from memory never
    /// leaves its connection's thread.
    #[arg(long, env = "CHENGXIN_HTTP_THREADS", default_value_t = 0)]
    pub http_threads: usize,
    /// `/healthz` proves a write at most this often (seconds; 0: on every check) and
    /// repeats the last answer in between.
    #[arg(long, env = "CHENGXIN_HEALTH_WRITE_SECS", default_value_t = 5)]
    pub health_write_secs: u64,
    /// Hours an operator has to answer a complaint.
    #[arg(long, env = "CHENGXIN_COMPLAINT_DEADLINE_HOURS", default_value_t = 120)]
    pub complaint_deadline_hours: u32,
    /// Reminders to the operator, in hours before the deadline (comma-separated).
    #[arg(
        long,
        env = "CHENGXIN_COMPLAINT_REMINDER_HOURS",
        default_value = "48,24",
        value_delimiter = ','
    )]
    pub complaint_reminder_hours: Vec<u32>,
    /// Bearer token that `/metrics` requires; without it `/metrics` is off (404). The
    /// figures tell an outsider how busy we are and which sites are seen: not public.
    #[arg(long, env = "CHENGXIN_METRICS_TOKEN")]
    pub metrics_token: Option<String>,
    /// Domain-control checks one account may start per hour (a verification counts
    /// its domains, a site's re-verification its domains): each domain costs DNS
    /// queries through every resolver and HTTP fetches.
    #[arg(long, env = "CHENGXIN_DOMAIN_CHECKS_PER_HOUR", default_value_t = 300)]
    pub domain_checks_per_hour: u32,
    /// Days a shared record (客户诚信档案) is kept before the housekeeping job deletes
    /// it (1 to 3650); applies to records submitted from then on.
    #[arg(long, env = "CHENGXIN_RECORD_RETENTION_DAYS", default_value_t = 730,
          value_parser = clap::value_parser!(i64).range(1..=3650))]
    pub record_retention_days: i64,
    /// OCSP requests one client (an IPv4 address, an IPv6 /64) may make a minute;
    /// more are answered 429 with `Retry-After`. Answers are pre-signed, but each
    /// request still costs a database read, and a relying party asks about a
    /// certificate once per response lifetime (four days), not many times a minute.
    #[arg(long, env = "CHENGXIN_OCSP_PER_MINUTE", default_value_t = 1200)]
    pub ocsp_per_minute: u32,
    /// Complaints one account may file in 24 hours.
    #[arg(long, env = "CHENGXIN_COMPLAINTS_PER_USER_DAY", default_value_t = 5)]
    pub complaints_per_user_day: u32,
    /// Complaints about one site accepted per hour, from all accounts together.
    #[arg(long, env = "CHENGXIN_COMPLAINTS_PER_SITE_HOUR", default_value_t = 30)]
    pub complaints_per_site_hour: u32,
    /// Largest complaint attachment in bytes, as uploaded and as stored.
    #[arg(long, env = "CHENGXIN_ATTACHMENT_MAX_BYTES", default_value_t = AttachmentLimits::default().max_bytes)]
    pub attachment_max_bytes: usize,
    /// Most attachments one complaint may have.
    #[arg(long, env = "CHENGXIN_ATTACHMENTS_PER_COMPLAINT", default_value_t = AttachmentLimits::default().per_complaint)]
    pub attachments_per_complaint: i64,
    /// Most pixels an attached image may have (checked before decoding).
    #[arg(long, env = "CHENGXIN_ATTACHMENT_MAX_PIXELS", default_value_t = AttachmentLimits::default().max_pixels)]
    pub attachment_max_pixels: u64,
    /// Uploads (taken or refused) one account may make per hour.
    #[arg(long, env = "CHENGXIN_UPLOADS_PER_HOUR", default_value_t = AttachmentLimits::default().uploads_per_hour)]
    pub uploads_per_hour: u32,
    /// Images decoded at once (each may take up to 8 bytes a pixel).
    #[arg(long, env = "CHENGXIN_DECODES_AT_ONCE", default_value_t = AttachmentLimits::default().decodes_at_once)]
    pub decodes_at_once: usize,
    /// The job queue, mail and webhooks.
    #[command(flatten)]
    pub jobs: JobSettings,
    /// The transparency log: checkpoints and witnesses.
    #[command(flatten)]
    pub log: LogSettings,
}

/// The transparency log's checkpoints and the witnesses that cosign them.
#[derive(clap::Args, Debug, Clone)]
pub struct LogSettings {
    /// Seconds between checkpoints: new entries are hashed into the tiles and one
    /// checkpoint is signed per period, however many events it covers.
    #[arg(long, env = "CHENGXIN_LOG_CHECKPOINT_SECS", default_value_t = 1)]
    pub log_checkpoint_secs: u64,
    /// Witnesses that cosign each checkpoint (C2SP tlog-witness): a comma-separated
    /// list of `URL VERIFIER-KEY` (the witness's base URL, then its cosignature/v1
    /// verifier key as `chengxin-witness keygen` prints it).
    #[arg(long, env = "CHENGXIN_LOG_WITNESSES")]
    pub log_witnesses: Option<String>,
    /// Cosignatures a checkpoint needs before it is published (default: every
    /// witness). Short of it after the timeout, it is published uncosigned.
    #[arg(long, env = "CHENGXIN_LOG_WITNESS_QUORUM")]
    pub log_witness_quorum: Option<usize>,
    /// Seconds to wait for the witnesses before publishing without them.
    #[arg(long, env = "CHENGXIN_LOG_WITNESS_TIMEOUT_SECS", default_value_t = 5)]
    pub log_witness_timeout_secs: u64,
}

impl ServerSettings {
    /// The complaint deadlines these settings ask for.
    pub fn complaint_policy(&self) -> crate::domain::complaint::ComplaintPolicy {
        crate::domain::complaint::ComplaintPolicy {
            answer_within: i64::from(self.complaint_deadline_hours) * 3600,
            reminders_before: self
                .complaint_reminder_hours
                .iter()
                .map(|h| i64::from(*h) * 3600)
                .collect(),
            per_user_per_day: i64::from(self.complaints_per_user_day),
            per_site_per_hour: i64::from(self.complaints_per_site_hour),
        }
    }

    /// The attachment limits these settings ask for.
    pub fn attachment_limits(&self) -> AttachmentLimits {
        AttachmentLimits {
            max_bytes: self.attachment_max_bytes,
            per_complaint: self.attachments_per_complaint,
            max_pixels: self.attachment_max_pixels,
            uploads_per_hour: self.uploads_per_hour,
            decodes_at_once: self.decodes_at_once,
            ..AttachmentLimits::default()
        }
    }
}

/// The durable job queue and what its jobs deliver (mail over SMTP, webhooks).
#[derive(clap::Args, Debug, Clone)]
pub struct JobSettings {
    /// SMTP server: `smtp://host:25` (plain), `smtp://host:587?tls=required`
    /// (STARTTLS), `smtps://user:pass@host:465` (TLS). Unset: mail is written to the
    /// log and not sent (development).
    #[arg(long, env = "CHENGXIN_SMTP_URL")]
    pub smtp_url: Option<String>,
    /// Sender of every mail (default `Chengxin 诚信 <noreply@PUBLIC-HOST>`).
    #[arg(long, env = "CHENGXIN_MAIL_FROM")]
    pub mail_from: Option<String>,
    /// Milliseconds between polls of the job table.
    #[arg(long, env = "CHENGXIN_JOB_POLL_MS", default_value_t = 1000)]
    pub job_poll_ms: u64,
    /// Seconds before the first retry of a failed job; each retry waits twice as long.
    #[arg(long, env = "CHENGXIN_JOB_BACKOFF_SECS", default_value_t = 30)]
    pub job_backoff_secs: u64,
    /// Longest wait between retries, in seconds.
    #[arg(long, env = "CHENGXIN_JOB_BACKOFF_MAX_SECS", default_value_t = 3600)]
    pub job_backoff_max_secs: u64,
    /// Seconds a claimed job stays reserved for its worker; a job that is still
    /// running then is cut off and retried.
    #[arg(long, env = "CHENGXIN_JOB_LEASE_SECS", default_value_t = 300)]
    pub job_lease_secs: u64,
    /// Jobs claimed (and run concurrently) at once.
    #[arg(long, env = "CHENGXIN_JOB_BATCH", default_value_t = 10)]
    pub job_batch: u32,
    /// Sites one job of a re-verification run takes (the run's counts move after
    /// each such batch; a crash loses at most one batch's work).
    #[arg(long, env = "CHENGXIN_RECHECK_RUN_BATCH", default_value_t = 100)]
    pub recheck_run_batch: usize,
    /// Seconds between two publications of the CRLs that revocations changed (the
    /// `crl.publish` job, one per period across replicas): a revoked certificate is
    /// listed in its shard's CRL by the end of the period it was revoked in, and a
    /// burst of revocations costs one CRL per changed shard per period.
    #[arg(long, env = "CHENGXIN_CRL_PUBLISH_SECS", default_value_t = 1)]
    pub crl_publish_secs: u64,
    /// Run no job worker in this process (it still enqueues).
    #[arg(long, env = "CHENGXIN_JOB_WORKER_DISABLED", default_value_t = false, value_parser = ca::config::boolish)]
    pub job_worker_disabled: bool,
    /// Seconds one webhook delivery may take (a receiver should answer at once and
    /// work afterwards; a slow one holds up only the webhook lane).
    #[arg(long, env = "CHENGXIN_WEBHOOK_TIMEOUT", default_value_t = 5)]
    pub webhook_timeout_secs: u64,
}
