//! Group commit of issuance: prepared certificates queue here, and whoever holds the
//! writer stores them with their first OCSP answers and audit entries in one
//! transaction. The queue knows the database and the issuer's row, not the CA.

use time::OffsetDateTime;

use crate::db::{Database, Tx};
use crate::profile::SiteIdentity;
use crate::serial::Serial;
use crate::store::{self, NewCertificate};
use crate::{Error, Result, audit};

/// A certificate that is signed, checked and ready to store: everything but the
/// database work, so signing never happens while the database write lock is held.
/// [`crate::certificate`] makes it; the queue carries it to the store.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    pub(crate) serial: Serial,
    pub(crate) identity: SiteIdentity,
    pub(crate) der: Vec<u8>,
    pub(crate) sha256: Vec<u8>,
    pub(crate) spki_sha256: Vec<u8>,
    pub(crate) not_before: OffsetDateTime,
    pub(crate) not_after: OffsetDateTime,
    pub(crate) ocsp: store::OcspAnswers,
    pub(crate) audit_details: serde_json::Value,
    /// The CRL shard its distribution point names.
    pub(crate) crl_shard: i64,
    /// The issuing CA's slug, for the transparency log entry.
    pub(crate) issuer: String,
    /// The site the certificate is for, when issued for one.
    pub(crate) site: Option<String>,
}

impl Prepared {
    /// Its `issue` entry in the transparency log.
    fn log_entry(&self, now: i64) -> tlog::Entry {
        let mut sha256 = [0u8; 32];
        sha256.copy_from_slice(&self.sha256);
        tlog::Entry {
            issuer: Some(self.issuer.clone()),
            serial: Some(self.serial.to_hex()),
            sha256: Some(sha256),
            site: self.site.clone(),
            uscc: Some(self.identity.uscc.to_string()),
            domains: self
                .identity
                .domains
                .iter()
                .map(|d| d.to_string())
                .collect(),
            certificate: Some(self.der.clone()),
            ..tlog::Entry::new(tlog::Kind::Issue, now)
        }
    }
}

impl Prepared {
    /// Its row of `certificates`.
    fn row(&self) -> NewCertificate<'_> {
        NewCertificate {
            serial: &self.serial,
            organization: &self.identity.organization,
            uscc: self.identity.uscc.as_str(),
            icp: self.identity.icp.as_str(),
            province: &self.identity.province,
            city: &self.identity.city,
            domains: &self.identity.domains,
            not_before: self.not_before.unix_timestamp(),
            not_after: self.not_after.unix_timestamp(),
            der: &self.der,
            sha256: &self.sha256,
            spki_sha256: &self.spki_sha256,
            crl_shard: self.crl_shard,
        }
    }
}

/// Stores prepared certificates of issuer row `issuer_id`, their OCSP answers and
/// audit entries inside `tx`, a few multi-row statements for the whole batch. The
/// unique (issuer, serial) constraint refuses a repeated serial. Returns the row ids
/// in order.
pub(crate) async fn store_batch(
    tx: &mut Tx,
    issuer_id: i64,
    items: &[Prepared],
    actor: &str,
) -> Result<Vec<i64>> {
    let rows: Vec<NewCertificate<'_>> = items.iter().map(Prepared::row).collect();
    let ids = store::insert_certificates(tx, issuer_id, &rows).await?;
    let ocsp: Vec<(i64, &store::OcspAnswers)> = ids
        .iter()
        .zip(items)
        .map(|(id, p)| (*id, &p.ocsp))
        .collect();
    store::insert_ocsp_responses(tx, &ocsp).await?;
    let entries: Vec<audit::NewEntry<'_>> = items
        .iter()
        .map(|p| audit::NewEntry {
            actor,
            action: "certificate.issue",
            subject: p.serial.to_hex(),
            details: p.audit_details.to_string(),
        })
        .collect();
    audit::append_many(tx, &entries).await?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let logged: Vec<(tlog::Entry, Option<i64>)> = items
        .iter()
        .zip(&ids)
        .map(|(p, id)| (p.log_entry(now), Some(*id)))
        .collect();
    crate::crash_point("issue-before-log");
    crate::transparency::append(tx, &logged).await?;
    crate::crash_point("issue-after-log");
    Ok(ids)
}

/// Issuance sequence numbers (which pick a certificate's CRL shard, `crl.rs`)
/// reserved from the database and not yet used.
#[derive(Debug, Default)]
pub(crate) struct ShardSequence {
    pub(crate) reserved: std::ops::Range<i64>,
    /// The size of the last reservation.
    pub(crate) grant: i64,
}

/// Group commit: every caller queues its prepared certificate, then whoever gets
/// the writer lock stores everything queued so far in one transaction and answers
/// each waiting caller. One caller alone pays one transaction, as before; many
/// callers share transactions.
#[derive(Debug, Default)]
pub(crate) struct IssueQueue {
    pending: std::sync::Mutex<Vec<Pending>>,
    writer: tokio::sync::Mutex<()>,
}

#[derive(Debug)]
struct Pending {
    prepared: Prepared,
    actor: String,
    reply: tokio::sync::oneshot::Sender<std::result::Result<i64, String>>,
}

/// Most certificates stored in one group transaction.
const MAX_GROUP: usize = 256;

impl IssueQueue {
    /// Queues `prepared` for issuer row `issuer_id` and returns its certificate row
    /// id once stored, by this caller or another.
    pub(crate) async fn submit(
        &self,
        db: &Database,
        issuer_id: i64,
        prepared: Prepared,
        actor: &str,
    ) -> Result<i64> {
        let (reply, mut answer) = tokio::sync::oneshot::channel();
        self.lock_pending().push(Pending {
            prepared,
            actor: actor.to_string(),
            reply,
        });
        loop {
            // Whichever comes first: our answer (another caller stored our certificate)
            // or the writer lock (we store everything queued). Waiting only for the
            // lock would make every caller pass through it one by one, a convoy that
            // writes one certificate per transaction.
            tokio::select! {
                biased;
                result = &mut answer => {
                    return result
                        .map_err(|_| Error::Encoding("issuance writer went away".into()))?
                        .map_err(|e| Error::Encoding(format!("storing the certificate failed: {e}")));
                }
                _writer = self.writer.lock() => {
                    loop {
                        let batch: Vec<Pending> = {
                            let mut q = self.lock_pending();
                            let n = q.len().min(MAX_GROUP);
                            q.drain(..n).collect()
                        };
                        if batch.is_empty() {
                            break;
                        }
                        let result = Self::write(db, issuer_id, &batch).await;
                        if let Err(e) = &result {
                            tracing::error!(error = %e, certificates = batch.len(), "group commit failed");
                        }
                        for (i, p) in batch.into_iter().enumerate() {
                            let _ = p.reply.send(match &result {
                                Ok(ids) => Ok(ids[i]),
                                Err(e) => Err(e.to_string()),
                            });
                        }
                    }
                }
            }
        }
    }

    fn lock_pending(&self) -> std::sync::MutexGuard<'_, Vec<Pending>> {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn write(db: &Database, issuer_id: i64, batch: &[Pending]) -> Result<Vec<i64>> {
        let mut tx = db.begin().await?;
        let mut ids = Vec::with_capacity(batch.len());
        // Entries of one actor are stored together; a batch usually has one actor.
        let mut start = 0;
        while start < batch.len() {
            let actor = &batch[start].actor;
            let end = batch[start..]
                .iter()
                .position(|p| &p.actor != actor)
                .map_or(batch.len(), |n| start + n);
            let items: Vec<Prepared> = batch[start..end]
                .iter()
                .map(|p| p.prepared.clone())
                .collect();
            ids.extend(store_batch(&mut tx, issuer_id, &items, actor).await?);
            start = end;
        }
        tx.commit().await?;
        Ok(ids)
    }
}
