//! The health of this process's database connection, as `/healthz` reports it: reads
//! and writes. A write probe runs at most once per interval; its answer is kept.

use std::time::{Duration, Instant};

use ca::db::Database;

/// Longest a write probe may take before the database counts as unable to write.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// The last write probe of this process and when it ran.
#[derive(Debug)]
pub struct WriteProbe {
    every: Duration,
    last: tokio::sync::Mutex<Option<(Instant, Result<(), String>)>>,
}

impl WriteProbe {
    /// Probes at most once per `every` (zero: on every check).
    pub fn new(every: Duration) -> Self {
        WriteProbe {
            every,
            last: tokio::sync::Mutex::new(None),
        }
    }

    /// Whether the database could write at the last probe, probing again when the
    /// last one is older than the interval. Concurrent checks wait for one probe.
    pub async fn check(&self, db: &Database) -> Result<(), String> {
        let mut last = self.last.lock().await;
        if let Some((at, result)) = last.as_ref()
            && at.elapsed() < self.every
        {
            return result.clone();
        }
        let result = match tokio::time::timeout(PROBE_TIMEOUT, write(db)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "health check: the database cannot write");
                Err(if e.is_disk_full() {
                    "the database cannot write: the server's disk is full".to_string()
                } else {
                    "the database cannot write".to_string()
                })
            }
            Err(_) => {
                tracing::error!("health check: a write did not finish within 5 s");
                Err("the database cannot write: a write did not finish within 5 s".to_string())
            }
        };
        *last = Some((Instant::now(), result.clone()));
        result
    }
}

/// One small write transaction.
async fn write(db: &Database) -> ca::Result<()> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    crate::store::health::probe_write(db, now).await
}

/// What `/metrics` computes when scraped: cheap reads of the job queue, the
/// connection pool and the newest CRLs and OCSP responses.
#[derive(Debug, Clone)]
pub struct Gauges {
    /// Unfinished jobs per kind.
    pub jobs: Vec<crate::store::jobs::Waiting>,
    /// The pool's connections.
    pub pool: ca::db::PoolConnections,
    /// The newest CRL per issuer and shard with an unexpired certificate: slug,
    /// shard, thisUpdate, nextUpdate.
    pub crls: Vec<(String, i64, i64, i64)>,
    /// The earliest nextUpdate of a stored OCSP response of an unexpired certificate.
    pub ocsp_earliest_next_update: Option<i64>,
}

/// The gauges as of `now`.
pub async fn gauges(db: &Database, now: i64) -> Result<Gauges, crate::error::AppError> {
    Ok(Gauges {
        jobs: crate::store::jobs::waiting(db, now).await?,
        pool: db.connections(),
        crls: ca::store::newest_crls(db, now).await?,
        ocsp_earliest_next_update: ca::store::earliest_ocsp_next_update(db, now).await?,
    })
}
