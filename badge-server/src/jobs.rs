//! Timers: keep the CRL and the pre-signed OCSP responses fresh.
//!
//! Every replica runs them; both are idempotent (a CRL number only grows, a refresh
//! only re-signs responses close to expiry). A database-backed job queue replaces
//! this when complaint deadlines arrive.

use std::sync::Arc;
use std::time::Duration;

use ca::Ca;

/// Publish a new CRL when the newest expires within this many seconds.
const CRL_REFRESH_MARGIN: i64 = 3 * 86_400;

/// Runs the refresh loop until the process ends.
pub async fn run(ca: Arc<Ca>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        if let Err(e) = refresh_once(&ca).await {
            tracing::error!(error = %e, "PKI refresh failed");
        }
    }
}

/// One pass: a CRL when due, OCSP responses close to expiry.
pub async fn refresh_once(ca: &Ca) -> ca::Result<()> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let due = match ca::store::latest_crl(ca.db(), ca.slug()).await? {
        Some(crl) => crl.next_update - now < CRL_REFRESH_MARGIN,
        None => true,
    };
    if due {
        let crl = ca.publish_crl("system").await?;
        tracing::info!(number = crl.number, entries = crl.entries, "published CRL");
    }
    let refreshed = ca.refresh_ocsp(10_000).await?;
    if refreshed > 0 {
        tracing::info!(refreshed, "re-signed OCSP responses");
    }
    Ok(())
}
