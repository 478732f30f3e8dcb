//! The kinds of the jobs this server runs, each registered with its handler by
//! `app::job_registry`. Kinds of one use case live beside it (`service::complaints`,
//! `domain::account`); these are shared by several.

/// Send an e-mail: payload `{"to", "subject", "text"}`.
pub const MAIL: &str = "mail";
/// POST a signed webhook to an account's URL: payload `{"account_id", "event", "data"}`.
pub const WEBHOOK: &str = "webhook";
/// Keep the CRL and OCSP responses fresh; re-enqueues itself for the next hour.
pub const PKI_REFRESH: &str = "pki.refresh";
/// Publish a new CRL for every shard that revocations marked dirty; enqueued by
/// revocations, one per `CHENGXIN_CRL_PUBLISH_SECS` period.
pub const CRL_PUBLISH: &str = "crl.publish";
/// Delete finished jobs, expired sessions and old e-mail links; re-enqueues
/// itself for the next day.
pub const HOUSEKEEPING: &str = "housekeeping";
