//! The CA's tables: issuers, certificates, revocations, CRLs, OCSP responses and
//! counters here; the audit chain in `store/audit.rs` and the serial-prefix leases
//! in `store/instance.rs`. All of the CA's SQL lives in this module.

use serde::Serialize;
use sqlx::FromRow;

use crate::db::{Database, Tx};
use crate::identity::Domain;
use crate::revocation::Revocation;
use crate::serial::Serial;
use crate::{Error, Result, on_pool, on_tx};

pub(crate) mod audit;
pub(crate) mod instance;
pub mod log;

/// Where a certificate row stands: the `status` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CertificateStatus {
    /// The intent is stored, nothing is signed yet.
    Reserved,
    /// Signed and stored.
    Issued,
}

impl CertificateStatus {
    /// The column's value.
    pub fn as_str(self) -> &'static str {
        match self {
            CertificateStatus::Reserved => "reserved",
            CertificateStatus::Issued => "issued",
        }
    }
}

impl TryFrom<String> for CertificateStatus {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        match s.as_str() {
            "reserved" => Ok(CertificateStatus::Reserved),
            "issued" => Ok(CertificateStatus::Issued),
            _ => Err(Error::Encoding(format!("unknown certificate status {s:?}"))),
        }
    }
}

/// A certificate row joined with its revocation, if any.
#[derive(Debug, Clone, FromRow, Serialize)]
pub struct CertificateRecord {
    /// Row id.
    pub id: i64,
    /// Issuer row id.
    pub issuer_id: i64,
    /// Serial, big-endian bytes.
    #[serde(with = "hex_bytes")]
    pub serial: Vec<u8>,
    /// Reserved (intent stored, not yet signed) or issued.
    #[sqlx(try_from = "String")]
    pub status: CertificateStatus,
    /// Organization (O).
    pub organization: String,
    /// USCC (serialNumber).
    pub uscc: String,
    /// ICP filing number.
    pub icp: String,
    /// Province (ST).
    pub province: String,
    /// City (L).
    pub city: String,
    /// JSON array of the certified domains.
    pub domains: String,
    /// Unix seconds.
    pub not_before: i64,
    /// Unix seconds.
    pub not_after: i64,
    /// The signed certificate, once issued.
    #[serde(skip)]
    pub der: Option<Vec<u8>>,
    /// SHA-256 of the DER.
    #[serde(with = "hex_opt")]
    pub sha256: Option<Vec<u8>>,
    /// Revocation time, Unix seconds.
    pub revoked_at: Option<i64>,
    /// RFC 5280 reason code.
    pub revocation_reason: Option<i64>,
    /// SHA-256 of the SubjectPublicKeyInfo (NULL until filled in for older rows).
    #[serde(skip)]
    pub spki_sha256: Option<Vec<u8>>,
    /// The CRL shard that lists it when revoked ([`crate::crl::LEGACY_SHARD`] for
    /// certificates issued before CRLs were sharded).
    pub crl_shard: i64,
}

impl CertificateRecord {
    /// Its revocation, if it is revoked or on hold.
    pub fn revocation(&self) -> Option<Revocation> {
        match (self.revoked_at, self.revocation_reason) {
            (Some(at), Some(code)) => Some(Revocation { at, code }),
            _ => None,
        }
    }

    /// Whether it is on hold (certificateHold): suspended, and still releasable.
    pub fn on_hold(&self) -> bool {
        self.revocation().is_some_and(|r| r.on_hold())
    }
}

/// A signed certificate to store: one row of `certificates`.
#[derive(Debug, Clone)]
pub struct NewCertificate<'a> {
    /// Serial number.
    pub serial: &'a Serial,
    /// Organization (O).
    pub organization: &'a str,
    /// USCC (serialNumber).
    pub uscc: &'a str,
    /// ICP filing number.
    pub icp: &'a str,
    /// Province (ST).
    pub province: &'a str,
    /// City (L).
    pub city: &'a str,
    /// The certified domains, stored as a JSON array.
    pub domains: &'a [Domain],
    /// Unix seconds.
    pub not_before: i64,
    /// Unix seconds.
    pub not_after: i64,
    /// The signed certificate.
    pub der: &'a [u8],
    /// SHA-256 of the DER.
    pub sha256: &'a [u8],
    /// SHA-256 of the SubjectPublicKeyInfo.
    pub spki_sha256: &'a [u8],
    /// The CRL shard its distribution point names.
    pub crl_shard: i64,
}

mod hex_bytes {
    pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }
}
mod hex_opt {
    pub fn serialize<S: serde::Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_str(&hex::encode(v)),
            None => s.serialize_none(),
        }
    }
}

const CERT_COLUMNS: &str = "c.id, c.issuer_id, c.serial, c.status, c.organization, c.uscc, c.icp, \
    c.province, c.city, c.domains, c.not_before, c.not_after, c.der, c.sha256, \
    r.revoked_at, r.reason AS revocation_reason, c.spki_sha256, c.crl_shard";

/// A revoked certificate as the CRL lists it.
#[derive(Debug, Clone, FromRow)]
pub struct RevokedEntry {
    /// Serial bytes.
    pub serial: Vec<u8>,
    /// Unix seconds.
    pub revoked_at: i64,
    /// RFC 5280 reason code.
    pub reason: i64,
}

/// A stored CRL.
#[derive(Debug, Clone, FromRow)]
pub struct CrlRecord {
    /// CRL number.
    pub number: i64,
    /// Unix seconds.
    pub this_update: i64,
    /// Unix seconds.
    pub next_update: i64,
    /// Entries listed.
    pub entries: i64,
    /// DER.
    pub der: Vec<u8>,
}

/// Registers an issuing CA (idempotent) and returns its row id.
pub async fn ensure_issuer(
    db: &Database,
    slug: &str,
    subject: &str,
    cert_der: &[u8],
    name_hash: &[u8],
    key_hash: &[u8],
) -> Result<i64> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    on_pool!(db, |p| {
        sqlx::query(
            "INSERT INTO issuers (slug, subject, cert_der, name_hash, key_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (slug) DO NOTHING",
        )
        .bind(slug)
        .bind(subject)
        .bind(cert_der)
        .bind(name_hash)
        .bind(key_hash)
        .bind(now)
        .execute(p)
        .await?;
        let id: (i64,) = sqlx::query_as("SELECT id FROM issuers WHERE slug = $1")
            .bind(slug)
            .fetch_one(p)
            .await?;
        Ok(id.0)
    })
}

/// Whether the issuer with URL slug `slug` has an issued certificate that is
/// unexpired at `now`: a retired issuing CA is kept while it has.
pub async fn issuer_has_unexpired(db: &Database, slug: &str, now: i64) -> Result<bool> {
    let row: Option<(i64,)> = on_pool!(db, |p| sqlx::query_as(
        "SELECT c.id FROM certificates c JOIN issuers i ON i.id = c.issuer_id \
         WHERE i.slug = $1 AND c.status = 'issued' AND c.not_after > $2 LIMIT 1"
    )
    .bind(slug)
    .bind(now)
    .fetch_optional(p)
    .await?);
    Ok(row.is_some())
}

/// Stores signed certificates (multi-row inserts) and returns their row ids in the
/// order given. The unique (issuer, serial) constraint refuses a repeated serial.
pub(crate) async fn insert_certificates(
    tx: &mut Tx,
    issuer_id: i64,
    items: &[NewCertificate<'_>],
) -> Result<Vec<i64>> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut ids_by_serial = std::collections::HashMap::with_capacity(items.len());
    for chunk in items.chunks(200) {
        let rows: Vec<(Vec<u8>, i64)> = on_tx!(tx, |c| {
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO certificates (issuer_id, serial, status, organization, uscc, icp, province, city, \
                 domains, not_before, not_after, der, sha256, spki_sha256, crl_shard, created_at) ",
            );
            q.push_values(chunk, |mut b, p| {
                let domains = serde_json::to_string(p.domains).unwrap_or_else(|_| "[]".into());
                b.push_bind(issuer_id)
                    .push_bind(p.serial.as_bytes().to_vec())
                    .push_bind(CertificateStatus::Issued.as_str())
                    .push_bind(p.organization.to_string())
                    .push_bind(p.uscc.to_string())
                    .push_bind(p.icp.to_string())
                    .push_bind(p.province.to_string())
                    .push_bind(p.city.to_string())
                    .push_bind(domains)
                    .push_bind(p.not_before)
                    .push_bind(p.not_after)
                    .push_bind(p.der.to_vec())
                    .push_bind(p.sha256.to_vec())
                    .push_bind(p.spki_sha256.to_vec())
                    .push_bind(p.crl_shard)
                    .push_bind(now);
            });
            q.push(" RETURNING serial, id");
            q.build_query_as().fetch_all(&mut *c).await?
        });
        ids_by_serial.extend(rows);
    }
    items
        .iter()
        .map(|p| {
            ids_by_serial
                .get(p.serial.as_bytes())
                .copied()
                .ok_or_else(|| Error::Encoding("inserted certificate has no id".into()))
        })
        .collect()
}

/// One certificate's pre-signed OCSP answers, for the SHA-1 and the SHA-256 CertID.
#[derive(Debug, Clone)]
pub struct OcspAnswers {
    /// thisUpdate, Unix seconds.
    pub this_update: i64,
    /// nextUpdate, Unix seconds.
    pub next_update: i64,
    /// The answer for the SHA-1 CertID, DER.
    pub sha1: Vec<u8>,
    /// The answer for the SHA-256 CertID, DER.
    pub sha256: Vec<u8>,
}

/// Stores the first OCSP responses of new certificates: (certificate id, answers).
pub(crate) async fn insert_ocsp_responses(tx: &mut Tx, rows: &[(i64, &OcspAnswers)]) -> Result<()> {
    for chunk in rows.chunks(500) {
        on_tx!(tx, |c| {
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO ocsp_responses (certificate_id, this_update, next_update, der, der_sha256) ",
            );
            q.push_values(chunk, |mut b, (id, a)| {
                b.push_bind(*id)
                    .push_bind(a.this_update)
                    .push_bind(a.next_update)
                    .push_bind(a.sha1.clone())
                    .push_bind(a.sha256.clone());
            });
            q.build().execute(&mut *c).await?;
        });
    }
    Ok(())
}

/// Looks a certificate up by issuer and serial.
pub async fn certificate_by_serial(
    db: &Database,
    issuer_id: i64,
    serial: &Serial,
) -> Result<Option<CertificateRecord>> {
    let sql = format!(
        "SELECT {CERT_COLUMNS} FROM certificates c LEFT JOIN revocations r ON r.certificate_id = c.id \
         WHERE c.issuer_id = $1 AND c.serial = $2"
    );
    Ok(on_pool!(db, |p| sqlx::query_as(&sql)
        .bind(issuer_id)
        .bind(serial.as_bytes())
        .fetch_optional(p)
        .await?))
}

/// As [`certificate_by_serial`], inside a transaction that is about to change the
/// certificate's status: on PostgreSQL the row stays locked (`FOR UPDATE`) until the
/// transaction ends, so an OCSP refresh that read the old status cannot store its
/// answer in between ([`revocation_states_locked`]). SQLite's `BEGIN IMMEDIATE`
/// already holds the only write lock.
pub async fn certificate_by_serial_for_update(
    tx: &mut Tx,
    issuer_id: i64,
    serial: &Serial,
) -> Result<Option<CertificateRecord>> {
    let lock = lock_certificates(tx);
    let sql = format!(
        "SELECT {CERT_COLUMNS} FROM certificates c LEFT JOIN revocations r ON r.certificate_id = c.id \
         WHERE c.issuer_id = $1 AND c.serial = $2{lock}"
    );
    Ok(on_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(issuer_id)
        .bind(serial.as_bytes())
        .fetch_optional(c)
        .await?))
}

/// What a SELECT over `certificates c` appends to lock its rows until the transaction
/// ends: `FOR UPDATE OF c` on PostgreSQL; nothing on SQLite, whose `BEGIN IMMEDIATE`
/// already holds the only write lock.
fn lock_certificates(tx: &Tx) -> &'static str {
    match tx {
        Tx::Postgres(_) => " FOR UPDATE OF c",
        Tx::Sqlite(_) => "",
    }
}

/// The revocation state (id, revoked_at, reason) of certificates, read inside `tx`
/// after locking their rows until it ends, so that no revocation can commit between
/// this read and the caller's writes. On PostgreSQL the lock (`FOR UPDATE`, in id
/// order) and the read are two statements: under READ COMMITTED a locking SELECT that
/// waited for a revocation returns the revocations row of its own snapshot, taken
/// before that revocation committed; the next statement sees it. On SQLite
/// `BEGIN IMMEDIATE` already holds the only write lock.
pub async fn revocation_states_locked(
    tx: &mut Tx,
    ids: &[i64],
) -> Result<Vec<(i64, Option<i64>, Option<i64>)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    if let Tx::Postgres(t) = tx {
        sqlx::query("SELECT id FROM certificates WHERE id = ANY($1) ORDER BY id FOR UPDATE")
            .bind(ids)
            .execute(&mut **t)
            .await?;
    }
    Ok(on_tx!(tx, |c| {
        let mut q = sqlx::QueryBuilder::new(
            "SELECT c.id, r.revoked_at, r.reason FROM certificates c \
             LEFT JOIN revocations r ON r.certificate_id = c.id WHERE c.id IN (",
        );
        let mut list = q.separated(", ");
        for id in ids {
            list.push_bind(*id);
        }
        q.push(")");
        q.build_query_as().fetch_all(&mut *c).await?
    }))
}

/// Looks a certificate up by row id.
pub async fn certificate_by_id(db: &Database, id: i64) -> Result<Option<CertificateRecord>> {
    let sql = format!(
        "SELECT {CERT_COLUMNS} FROM certificates c LEFT JOIN revocations r ON r.certificate_id = c.id WHERE c.id = $1"
    );
    Ok(on_pool!(db, |p| sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(p)
        .await?))
}

/// As [`certificate_by_id`], inside a transaction.
pub async fn certificate_by_id_in(tx: &mut Tx, id: i64) -> Result<Option<CertificateRecord>> {
    let sql = format!(
        "SELECT {CERT_COLUMNS} FROM certificates c LEFT JOIN revocations r ON r.certificate_id = c.id WHERE c.id = $1"
    );
    Ok(on_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(c)
        .await?))
}

/// A certificate whose OCSP answer is due, with its revocation state as read.
#[derive(Debug, Clone, FromRow)]
pub struct OcspDue {
    /// Certificate row id.
    pub id: i64,
    /// Serial bytes.
    pub serial: Vec<u8>,
    /// Revocation time, Unix seconds.
    pub revoked_at: Option<i64>,
    /// RFC 5280 reason code.
    pub revocation_reason: Option<i64>,
}

/// Certificates whose stored OCSP response expires before `before` (Unix seconds),
/// with their revocation state.
pub async fn certificates_needing_ocsp(
    db: &Database,
    issuer_id: i64,
    before: i64,
    limit: i64,
) -> Result<Vec<OcspDue>> {
    Ok(on_pool!(db, |p| sqlx::query_as(
        "SELECT c.id, c.serial, r.revoked_at, r.reason AS revocation_reason FROM certificates c \
         LEFT JOIN ocsp_responses o ON o.certificate_id = c.id \
         LEFT JOIN revocations r ON r.certificate_id = c.id \
         WHERE c.issuer_id = $1 AND c.status = 'issued' AND c.not_after > $2 \
         AND (o.next_update IS NULL OR o.next_update < $3 OR o.der_sha256 IS NULL) \
         ORDER BY c.id LIMIT $4"
    )
    .bind(issuer_id)
    .bind(time::OffsetDateTime::now_utc().unix_timestamp())
    .bind(before)
    .bind(limit)
    .fetch_all(p)
    .await?))
}

/// Fills in `spki_sha256` of certificates stored before that column existed, a
/// thousand per transaction; `hash` computes it from a certificate's DER.
pub async fn backfill_spki_sha256(
    db: &Database,
    hash: impl Fn(&[u8]) -> Result<Vec<u8>>,
) -> Result<()> {
    loop {
        let rows: Vec<(i64, Vec<u8>)> = on_pool!(db, |p| sqlx::query_as(
            "SELECT id, der FROM certificates WHERE spki_sha256 IS NULL AND der IS NOT NULL \
             ORDER BY id LIMIT 1000"
        )
        .fetch_all(p)
        .await?);
        if rows.is_empty() {
            return Ok(());
        }
        let mut tx = db.begin().await?;
        for (id, der) in &rows {
            let h = hash(der)?;
            on_tx!(&mut tx, |c| sqlx::query(
                "UPDATE certificates SET spki_sha256 = $1 WHERE id = $2"
            )
            .bind(h)
            .bind(id)
            .execute(c)
            .await
            .map(|_| ())?);
        }
        tx.commit().await?;
    }
}

const KEY_BLOCKED: &str = "SELECT spki_sha256 FROM blocked_keys WHERE spki_sha256 = $1";

/// Whether a key (SHA-256 of its SubjectPublicKeyInfo) is blocked.
pub async fn key_blocked(db: &Database, spki_sha256: &[u8]) -> Result<bool> {
    let row: Option<(Vec<u8>,)> = on_pool!(db, |p| sqlx::query_as(KEY_BLOCKED)
        .bind(spki_sha256)
        .fetch_optional(p)
        .await?);
    Ok(row.is_some())
}

/// As [`key_blocked`], inside a transaction.
pub async fn key_blocked_in(tx: &mut Tx, spki_sha256: &[u8]) -> Result<bool> {
    let row: Option<(Vec<u8>,)> = on_tx!(tx, |c| sqlx::query_as(KEY_BLOCKED)
        .bind(spki_sha256)
        .fetch_optional(c)
        .await?);
    Ok(row.is_some())
}

/// Blocks a key for good (idempotent: the first reason stays).
pub async fn block_key(
    tx: &mut Tx,
    spki_sha256: &[u8],
    reason: &str,
    actor: &str,
    at: i64,
) -> Result<()> {
    on_tx!(tx, |c| sqlx::query(
        "INSERT INTO blocked_keys (spki_sha256, reason, actor, blocked_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (spki_sha256) DO NOTHING"
    )
    .bind(spki_sha256)
    .bind(reason)
    .bind(actor)
    .bind(at)
    .execute(c)
    .await
    .map(|_| ())?);
    Ok(())
}

/// The unexpired certificates of an issuer for one key that are not revoked for
/// good (live, or on hold), in id order, locked on PostgreSQL like
/// [`certificate_by_serial_for_update`].
pub async fn live_certificates_with_key_for_update(
    tx: &mut Tx,
    issuer_id: i64,
    spki_sha256: &[u8],
    now: i64,
) -> Result<Vec<CertificateRecord>> {
    let lock = lock_certificates(tx);
    let sql = format!(
        "SELECT {CERT_COLUMNS} FROM certificates c LEFT JOIN revocations r ON r.certificate_id = c.id \
         WHERE c.issuer_id = $1 AND c.spki_sha256 = $2 AND c.status = 'issued' AND c.not_after > $3 \
         AND (r.reason IS NULL OR r.reason = 6) ORDER BY c.id{lock}"
    );
    Ok(on_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(issuer_id)
        .bind(spki_sha256)
        .bind(now)
        .fetch_all(c)
        .await?))
}

/// Records a revocation, or replaces a certificateHold with a final reason: then the
/// revocation keeps the date the hold began (RFC 5280 revocationDate), and only the
/// reason and the actor change; the audit log keeps when the hold was made final.
pub async fn upsert_revocation(
    tx: &mut Tx,
    certificate_id: i64,
    at: i64,
    reason: i64,
    actor: &str,
) -> Result<()> {
    on_tx!(tx, |c| {
        sqlx::query(
        "INSERT INTO revocations (certificate_id, revoked_at, reason, actor) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (certificate_id) DO UPDATE SET reason = excluded.reason, actor = excluded.actor"
    )
    .bind(certificate_id)
    .bind(at)
    .bind(reason)
    .bind(actor)
    .execute(c)
    .await
    .map(|_| ())?
    });
    Ok(())
}

/// Removes a revocation (release of a certificateHold).
pub async fn delete_revocation(tx: &mut Tx, certificate_id: i64) -> Result<()> {
    on_tx!(tx, |c| sqlx::query(
        "DELETE FROM revocations WHERE certificate_id = $1"
    )
    .bind(certificate_id)
    .execute(c)
    .await
    .map(|_| ())?);
    Ok(())
}

/// Every revoked, unexpired certificate of an issuer in CRL shard `shard`. The
/// shard's certificates are read first (index on issuer and shard), each joined to
/// its revocation by key: the cost follows the shard's size, not the number of
/// revocations of every shard.
pub async fn revoked_entries(
    tx: &mut Tx,
    issuer_id: i64,
    shard: i64,
    now: i64,
) -> Result<Vec<RevokedEntry>> {
    Ok(on_tx!(tx, |c| {
        sqlx::query_as(
            "SELECT c.serial, r.revoked_at, r.reason FROM certificates c CROSS JOIN revocations r \
         WHERE c.issuer_id = $1 AND c.crl_shard = $2 AND c.not_after > $3 AND r.certificate_id = c.id",
        )
        .bind(issuer_id)
        .bind(shard)
        .bind(now)
        .fetch_all(c)
        .await?
    }))
}

/// Advances a named counter and returns its new value (first value 1).
pub async fn next_counter(tx: &mut Tx, name: &str) -> Result<i64> {
    reserve_counter(tx, name, 1).await
}

/// Advances a named counter by `n` and returns its new value: the caller owns the
/// `n` values ending there.
pub async fn reserve_counter(tx: &mut Tx, name: &str, n: i64) -> Result<i64> {
    let v: (i64,) = on_tx!(tx, |c| sqlx::query_as(
        "INSERT INTO counters (name, value) VALUES ($1, $2) \
         ON CONFLICT (name) DO UPDATE SET value = counters.value + excluded.value RETURNING value"
    )
    .bind(name)
    .bind(n)
    .fetch_one(c)
    .await?);
    Ok(v.0)
}

/// Stores the CRL of shard `shard` and deletes the older CRLs of that shard: only
/// the newest is ever served, and a busy shard gets a new one every second.
pub async fn insert_crl(tx: &mut Tx, issuer_id: i64, shard: i64, crl: &CrlRecord) -> Result<()> {
    on_tx!(tx, |c| {
        sqlx::query(
            "INSERT INTO crls (issuer_id, shard, number, this_update, next_update, entries, der) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(issuer_id)
        .bind(shard)
        .bind(crl.number)
        .bind(crl.this_update)
        .bind(crl.next_update)
        .bind(crl.entries)
        .bind(&crl.der)
        .execute(&mut *c)
        .await?;
        sqlx::query("DELETE FROM crls WHERE issuer_id = $1 AND shard = $2 AND number < $3")
            .bind(issuer_id)
            .bind(shard)
            .bind(crl.number)
            .execute(&mut *c)
            .await
            .map(|_| ())?
    });
    Ok(())
}

const CRL_COLUMNS: &str = "l.number, l.this_update, l.next_update, l.entries, l.der";

/// The newest CRL an issuer published, whichever shard: what the health check
/// reads, and proof that the issuer publishes at all.
pub async fn latest_crl(db: &Database, issuer_slug: &str) -> Result<Option<CrlRecord>> {
    let sql = format!(
        "SELECT {CRL_COLUMNS} FROM crls l JOIN issuers i ON i.id = l.issuer_id \
         WHERE i.slug = $1 ORDER BY l.number DESC LIMIT 1"
    );
    Ok(on_pool!(db, |p| sqlx::query_as(&sql)
        .bind(issuer_slug)
        .fetch_optional(p)
        .await?))
}

/// The newest CRL of one shard of an issuer: what `/crl/{slug}/{shard}.crl` serves
/// ([`crate::crl::LEGACY_SHARD`]: `/crl/{slug}.crl`).
pub async fn latest_shard_crl(
    db: &Database,
    issuer_slug: &str,
    shard: i64,
) -> Result<Option<CrlRecord>> {
    let sql = format!(
        "SELECT {CRL_COLUMNS} FROM crls l JOIN issuers i ON i.id = l.issuer_id \
         WHERE i.slug = $1 AND l.shard = $2 ORDER BY l.number DESC LIMIT 1"
    );
    Ok(on_pool!(db, |p| sqlx::query_as(&sql)
        .bind(issuer_slug)
        .bind(shard)
        .fetch_optional(p)
        .await?))
}

/// The nextUpdate of each shard's newest CRL of an issuer: (shard, next_update).
pub async fn crl_next_updates(db: &Database, issuer_id: i64) -> Result<Vec<(i64, i64)>> {
    Ok(on_pool!(db, |p| sqlx::query_as(
        "SELECT shard, MAX(next_update) FROM crls WHERE issuer_id = $1 GROUP BY shard"
    )
    .bind(issuer_id)
    .fetch_all(p)
    .await?))
}

/// The shards of an issuer that hold an issued certificate unexpired at `now`: those
/// whose CRLs must stay current.
pub async fn live_crl_shards(db: &Database, issuer_id: i64, now: i64) -> Result<Vec<i64>> {
    let rows: Vec<(i64,)> = on_pool!(db, |p| sqlx::query_as(
        "SELECT DISTINCT crl_shard FROM certificates \
         WHERE issuer_id = $1 AND status = 'issued' AND not_after > $2"
    )
    .bind(issuer_id)
    .bind(now)
    .fetch_all(p)
    .await?);
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// Marks a shard as needing a new CRL, inside the transaction that changed what it
/// lists. The first mark's time stays until the shard is published.
pub async fn mark_crl_shard_dirty(tx: &mut Tx, issuer_id: i64, shard: i64, now: i64) -> Result<()> {
    on_tx!(tx, |c| sqlx::query(
        "INSERT INTO crl_shards (issuer_id, shard, dirty_since) VALUES ($1, $2, $3) \
         ON CONFLICT (issuer_id, shard) DO UPDATE SET \
         dirty_since = COALESCE(crl_shards.dirty_since, excluded.dirty_since)"
    )
    .bind(issuer_id)
    .bind(shard)
    .bind(now)
    .execute(c)
    .await
    .map(|_| ())?);
    Ok(())
}

/// The shards of an issuer marked dirty, oldest mark first: (shard, dirty_since).
pub async fn dirty_crl_shards(db: &Database, issuer_id: i64) -> Result<Vec<(i64, i64)>> {
    Ok(on_pool!(db, |p| sqlx::query_as(
        "SELECT shard, dirty_since FROM crl_shards \
         WHERE issuer_id = $1 AND dirty_since IS NOT NULL ORDER BY dirty_since, shard"
    )
    .bind(issuer_id)
    .fetch_all(p)
    .await?))
}

/// Takes a shard for publication inside `tx`: its row is locked until `tx` ends
/// (PostgreSQL; SQLite's `BEGIN IMMEDIATE` already holds the only write lock), so a
/// revocation that marks it dirty commits either before (and is read by the
/// publisher's next statement) or after (and leaves the shard dirty again). Clears
/// the mark and records the publication time.
pub async fn take_crl_shard(tx: &mut Tx, issuer_id: i64, shard: i64, now: i64) -> Result<()> {
    on_tx!(tx, |c| {
        sqlx::query(
        "INSERT INTO crl_shards (issuer_id, shard, dirty_since, published_at) VALUES ($1, $2, NULL, $3) \
         ON CONFLICT (issuer_id, shard) DO UPDATE SET dirty_since = NULL, published_at = excluded.published_at"
    )
    .bind(issuer_id)
    .bind(shard)
    .bind(now)
    .execute(c)
    .await
    .map(|_| ())?
    });
    Ok(())
}

/// Stores (or replaces) the pre-signed OCSP answers of a certificate.
pub async fn upsert_ocsp(tx: &mut Tx, certificate_id: i64, answers: &OcspAnswers) -> Result<()> {
    on_tx!(tx, |c| {
        sqlx::query(
            "INSERT INTO ocsp_responses (certificate_id, this_update, next_update, der, der_sha256) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (certificate_id) DO UPDATE SET \
             this_update = excluded.this_update, next_update = excluded.next_update, \
             der = excluded.der, der_sha256 = excluded.der_sha256",
        )
        .bind(certificate_id)
        .bind(answers.this_update)
        .bind(answers.next_update)
        .bind(&answers.sha1)
        .bind(&answers.sha256)
        .execute(c)
        .await
        .map(|_| ())?
    });
    Ok(())
}

/// The stored OCSP response for (issuer, serial) and the CertID's hash (SHA-256 or
/// SHA-1), if we issued that certificate and the response is still current at `now`
/// (its nextUpdate not passed).
pub async fn ocsp_response(
    db: &Database,
    issuer_id: i64,
    serial: &[u8],
    sha256: bool,
    now: i64,
) -> Result<Option<Vec<u8>>> {
    let column = if sha256 { "o.der_sha256" } else { "o.der" };
    let sql = format!(
        "SELECT {column} FROM ocsp_responses o JOIN certificates c ON c.id = o.certificate_id \
         WHERE c.issuer_id = $1 AND c.serial = $2 AND o.next_update > $3"
    );
    let row: Option<(Option<Vec<u8>>,)> = on_pool!(db, |p| sqlx::query_as(&sql)
        .bind(issuer_id)
        .bind(serial)
        .bind(now)
        .fetch_optional(p)
        .await?);
    Ok(row.and_then(|r| r.0))
}

/// The newest CRL of each issuer and shard that still lists for an unexpired
/// certificate at `now` (the shards the hourly refresh keeps current; one whose
/// certificates all expired is left to age): (issuer slug, shard, thisUpdate,
/// nextUpdate). Old CRLs are pruned, so this reads a small table, and each shard's
/// check stops at its first unexpired certificate (`certificates_crl_shard`).
pub async fn newest_crls(db: &Database, now: i64) -> Result<Vec<(String, i64, i64, i64)>> {
    Ok(on_pool!(db, |p| sqlx::query_as(
        "SELECT i.slug, l.shard, MAX(l.this_update), MAX(l.next_update) \
         FROM crls l JOIN issuers i ON i.id = l.issuer_id \
         WHERE EXISTS (SELECT 1 FROM certificates c WHERE c.issuer_id = l.issuer_id \
                       AND c.crl_shard = l.shard AND c.status = 'issued' AND c.not_after > $1) \
         GROUP BY i.slug, l.shard ORDER BY i.slug, l.shard"
    )
    .bind(now)
    .fetch_all(p)
    .await?))
}

/// The earliest nextUpdate among the stored OCSP responses of certificates
/// unexpired at `now` (expired ones are no longer refreshed): read along the
/// `next_update` index, so it stops at the first such response.
pub async fn earliest_ocsp_next_update(db: &Database, now: i64) -> Result<Option<i64>> {
    let row: Option<(i64,)> = on_pool!(db, |p| {
        sqlx::query_as(
        "SELECT o.next_update FROM ocsp_responses o JOIN certificates c ON c.id = o.certificate_id \
         WHERE c.not_after > $1 ORDER BY o.next_update LIMIT 1"
    )
    .bind(now)
    .fetch_optional(p)
    .await?
    });
    Ok(row.map(|(t,)| t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RevocationReason;

    fn record(revoked_at: Option<i64>, reason: Option<i64>) -> CertificateRecord {
        CertificateRecord {
            id: 1,
            issuer_id: 1,
            serial: vec![1],
            status: CertificateStatus::Issued,
            organization: String::new(),
            uscc: String::new(),
            icp: String::new(),
            province: String::new(),
            city: String::new(),
            domains: "[]".into(),
            not_before: 0,
            not_after: 1,
            der: None,
            sha256: None,
            revoked_at,
            revocation_reason: reason,
            spki_sha256: None,
            crl_shard: 0,
        }
    }

    #[test]
    fn a_record_says_whether_it_is_revoked_and_whether_that_is_a_hold() {
        let live = record(None, None);
        assert_eq!(live.revocation(), None);
        assert!(!live.on_hold());
        let held = record(Some(7), Some(RevocationReason::CertificateHold.code()));
        assert_eq!(held.revocation(), Some(Revocation { at: 7, code: 6 }));
        assert_eq!(
            held.revocation().and_then(|r| r.reason()),
            Some(RevocationReason::CertificateHold)
        );
        assert!(held.on_hold());
        let revoked = record(Some(7), Some(RevocationReason::KeyCompromise.code()));
        assert!(!revoked.on_hold());
        assert_eq!(
            revoked.revocation().and_then(|r| r.reason()),
            Some(RevocationReason::KeyCompromise)
        );
    }

    #[test]
    fn the_status_column_reads_into_its_enum_and_refuses_anything_else() {
        for s in [CertificateStatus::Reserved, CertificateStatus::Issued] {
            assert_eq!(
                CertificateStatus::try_from(s.as_str().to_string()).ok(),
                Some(s)
            );
            assert_eq!(
                serde_json::to_value(s).ok(),
                Some(serde_json::json!(s.as_str()))
            );
        }
        assert!(CertificateStatus::try_from("revoked".to_string()).is_err());
    }
}
