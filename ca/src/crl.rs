//! Revocation and CRLs (RFC 5280 v2, sharded).
//!
//! Each certificate is assigned a CRL shard at issuance: its issuance sequence number
//! (a database counter per issuer, `crl_seq:{issuer_id}`) divided by
//! [`CRL_SHARD_SIZE`], so no shard ever lists more than that many certificates. Its
//! CRL distribution point names the shard (`{public}/crl/{slug}/{shard}.crl`), and the
//! shard's CRL carries the same URL as its issuing distribution point (RFC 5280
//! §5.2.5), which is what makes a partitioned CRL complete for the certificates that
//! name it. Certificates issued before CRLs were sharded are [`LEGACY_SHARD`], whose
//! CRL keeps `{public}/crl/{slug}.crl`. CRL numbers come from one counter per issuer
//! shared by its shards, so every shard's numbers only grow.
//!
//! A revocation records itself, the new OCSP answer and the audit entry, and marks
//! its shard dirty, all in one transaction; it signs no CRL. A publisher signs a new
//! CRL for every dirty shard ([`Ca::publish_dirty_crls`]): the server's `crl.publish`
//! job at most once a second, the `ca` commands that revoke at their end.

use rcgen::{
    CertificateRevocationListParams, CrlDistributionPoint, CrlIssuingDistributionPoint, CrlScope,
    KeyIdMethod, RevokedCertParams, SerialNumber,
};
use serde_json::json;
use time::{Duration, OffsetDateTime};

use crate::authority::Ca;
use crate::db::Tx;
use crate::ocsp::Status;
pub use crate::revocation::RevocationReason;
use crate::serial::Serial;
use crate::store::{CertificateStatus, CrlRecord, RevokedEntry};
use crate::{Error, Result, audit, store, transparency};

/// How long a CRL is valid; the server publishes a new one well before.
pub const CRL_LIFETIME_DAYS: i64 = 7;

/// Most certificates in one CRL shard: a shard's CRL never lists more.
pub const CRL_SHARD_SIZE: i64 = 10_000;

pub use crate::profile::LEGACY_SHARD;

/// Most issuance sequence numbers a CA reserves from the database at once. It starts
/// with one (so a `ca issue` process wastes none) and doubles up to this, so a busy
/// server takes a block every hundred issuances. Numbers reserved and unused (the
/// process ends) are skipped: a shard then holds fewer, never more.
pub const SHARD_SEQUENCE_BLOCK: i64 = 100;

/// Revocations per transaction in [`Ca::revoke_many`]. A batch holds SQLite's write
/// lock while it runs (about 1 ms a revocation), and a CRL publication waits for the
/// lock between batches: at 500 a publication waited up to a second and more, and the
/// worst commit-to-CRL time passed 2 s; at 100 it stays near 1 s (bench-ca, issue
/// 14's note).
pub const BULK_REVOCATION_BATCH: usize = 100;

/// Seconds a shard may stay dirty before [`Ca::revoke_many`], between its batches,
/// publishes the dirty shards itself. On SQLite the publisher waits for the write
/// lock between the batches, and the lock goes to whoever polls at the right moment:
/// the publisher sometimes missed it for a second and more, and a revocation waited
/// over 2 s for its CRL (bench-ca: 2.04 s once at one transaction per publication).
/// The revoker, between its own transactions, never waits for itself. Marks are kept
/// in whole seconds, so a shard marked in the second before counts: the revoker then
/// publishes at most about once a second, and only while the publisher lags.
pub const STARVED_CRL_SECS: i64 = 1;

/// The CRL shard of issuance sequence number `seq` (the first is 1).
pub fn shard_of_sequence(seq: i64) -> i64 {
    (seq - 1).div_euclid(CRL_SHARD_SIZE)
}

/// What [`Ca::revoke_key`] did.
#[derive(Debug, Clone)]
pub struct KeyRevoked {
    /// The certificates revoked for keyCompromise.
    pub revoked: Vec<Serial>,
}

/// A CRL published for one shard of one issuer.
#[derive(Debug, Clone)]
pub struct ShardCrl {
    /// The issuer's URL slug.
    pub issuer: String,
    /// The shard ([`LEGACY_SHARD`] for the legacy CRL).
    pub shard: i64,
    /// The CRL as stored.
    pub crl: CrlRecord,
}

/// What [`Ca::revoke_many`] did.
#[derive(Debug, Clone, Default)]
pub struct BulkRevoked {
    /// Each revocation made, in the order given.
    pub revoked: Vec<Revoked>,
    /// Serials skipped because they were already revoked for good (so a bulk
    /// revocation can be run again after an interruption).
    pub already_revoked: Vec<Serial>,
    /// The CRLs it published itself, between batches, because a shard had been
    /// dirty for [`STARVED_CRL_SECS`] (the publisher lagging).
    pub published: Vec<ShardCrl>,
}

/// What a revocation did.
#[derive(Debug, Clone)]
pub struct Revoked {
    /// The certificate row.
    pub certificate_id: i64,
    /// Its serial.
    pub serial: Serial,
    /// The reason now in force (`RemoveFromCrl` when a hold was released).
    pub reason: RevocationReason,
    /// Unix seconds.
    pub at: i64,
    /// The CRL shard that lists it, marked dirty in the same transaction: the next
    /// publication ([`Ca::publish_dirty_crls`]) signs its new CRL.
    pub crl_shard: i64,
    /// For keyCompromise: the other live certificates with the same key, revoked
    /// with it (their holders need to be told).
    pub also_revoked: Vec<Serial>,
}

impl Ca {
    /// Revokes (or holds, or releases) a certificate in one transaction: revocation
    /// row, new OCSP response, audit entry and the mark on its CRL shard commit
    /// together. The CRL itself is published afterwards ([`Ca::publish_dirty_crls`]).
    pub async fn revoke(
        &self,
        serial: &Serial,
        reason: RevocationReason,
        actor: &str,
    ) -> Result<Revoked> {
        let mut tx = self.db.begin().await?;
        let out = self.revoke_in(&mut tx, serial, reason, actor).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// As [`Ca::revoke`], inside the caller's transaction.
    pub async fn revoke_in(
        &self,
        tx: &mut Tx,
        serial: &Serial,
        reason: RevocationReason,
        actor: &str,
    ) -> Result<Revoked> {
        // Take the write lock first (SQLite) so two revocations queue instead of deadlocking.
        store::next_counter(tx, "revocations").await?;
        let (ca, rec) = self.certificate_for_update(tx, serial).await?;
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let revocation = rec.revocation();
        let current = revocation.and_then(|r| r.reason());
        let status = if reason == RevocationReason::RemoveFromCrl {
            if !rec.on_hold() {
                return Err(Error::RevocationRefused(
                    "removeFromCRL releases a certificateHold, and this certificate is not on hold"
                        .into(),
                ));
            }
            store::delete_revocation(tx, rec.id).await?;
            Status::Good
        } else {
            // A certificate not yet revoked, or one on hold being revoked for good.
            let allowed =
                current.is_none() || (rec.on_hold() && reason != RevocationReason::CertificateHold);
            if let (false, Some(existing)) = (allowed, current) {
                return Err(Error::RevocationRefused(format!(
                    "already revoked ({existing})"
                )));
            }
            // A hold made final keeps the date the hold began.
            let at = revocation.map_or(now, |r| r.at);
            store::upsert_revocation(tx, rec.id, at, reason.code(), actor).await?;
            Status::Revoked {
                at,
                reason: reason.code(),
            }
        };
        ca.store_ocsp_in(tx, rec.id, serial, status).await?;
        let entry = transparency::certificate_event_in(tx, &rec, ca.slug(), reason, now).await?;
        crate::crash_point("revoke-before-log");
        transparency::append(tx, &[(entry, Some(rec.id))]).await?;
        crate::crash_point("revoke-after-log");
        let compromised = match (reason, &rec.spki_sha256, &rec.der) {
            (RevocationReason::KeyCompromise, Some(h), _) => Some(h.clone()),
            (RevocationReason::KeyCompromise, None, Some(der)) => {
                Some(crate::profile::certificate_spki_sha256(der)?)
            }
            _ => None,
        };
        store::mark_crl_shard_dirty(tx, ca.issuer_id, rec.crl_shard, now).await?;
        let also_revoked = match &compromised {
            Some(key) => {
                let why = format!("keyCompromise of {serial}");
                self.revoke_same_key_in(tx, key, Some(rec.id), &why, actor, now)
                    .await?
            }
            None => Vec::new(),
        };
        if let Some(key) = &compromised {
            self.audit_same_key(tx, &also_revoked, key, Some(serial), actor)
                .await?;
        }
        audit::append(
            tx,
            actor,
            if reason == RevocationReason::RemoveFromCrl {
                "certificate.release"
            } else {
                "certificate.revoke"
            },
            &serial.to_hex(),
            &json!({ "reason": reason.name(), "crl_shard": rec.crl_shard }),
        )
        .await?;
        count_revocation(reason);
        Ok(Revoked {
            certificate_id: rec.id,
            serial: serial.clone(),
            reason,
            at: now,
            crl_shard: rec.crl_shard,
            also_revoked,
        })
    }

    /// Revokes many certificates for one reason, [`BULK_REVOCATION_BATCH`] to a
    /// transaction, each as [`Ca::revoke_in`] does (OCSP answer, audit entry, shard
    /// marked dirty); their shards' CRLs are left to the publisher. Every serial is
    /// looked up first: an unknown one fails the whole call before anything is
    /// revoked. One already revoked for good is skipped and reported, so a call cut
    /// short (each batch commits on its own) can simply be made again. A batch that
    /// fails rolls back alone; the batches before it stay committed. After each
    /// batch, a shard dirty for [`STARVED_CRL_SECS`] has the dirty shards published
    /// here, so that the CRLs follow within about a second even when the publisher
    /// cannot get the lock.
    pub async fn revoke_many(
        &self,
        serials: &[Serial],
        reason: RevocationReason,
        actor: &str,
    ) -> Result<BulkRevoked> {
        if reason == RevocationReason::RemoveFromCrl {
            return Err(Error::RevocationRefused(
                "removeFromCRL releases one hold at a time; use `ca revoke --serial`".into(),
            ));
        }
        for serial in serials {
            self.find_certificate(serial).await?;
        }
        let mut out = BulkRevoked::default();
        for batch in serials.chunks(BULK_REVOCATION_BATCH) {
            let mut tx = self.db.begin().await?;
            for serial in batch {
                match self.revoke_in(&mut tx, serial, reason, actor).await {
                    Ok(r) => out.revoked.push(r),
                    Err(Error::RevocationRefused(_)) => out.already_revoked.push(serial.clone()),
                    Err(e) => return Err(e),
                }
            }
            tx.commit().await?;
            if self.crl_publication_lags().await? {
                out.published.extend(self.publish_dirty_crls(actor).await?);
            }
        }
        Ok(out)
    }

    /// Whether a shard of this issuer or a retired one has been dirty for
    /// [`STARVED_CRL_SECS`] or more.
    async fn crl_publication_lags(&self) -> Result<bool> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        for ca in self.all_issuers() {
            let oldest = store::dirty_crl_shards(&self.db, ca.issuer_id).await?;
            if oldest
                .first()
                .is_some_and(|&(_, since)| now - since >= STARVED_CRL_SECS)
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Whether this CA or a retired one issued `serial`.
    async fn find_certificate(&self, serial: &Serial) -> Result<()> {
        for ca in self.all_issuers() {
            if store::certificate_by_serial(&self.db, ca.issuer_id, serial)
                .await?
                .is_some_and(|r| r.status == CertificateStatus::Issued)
            {
                return Ok(());
            }
        }
        Err(Error::UnknownCertificate(serial.to_hex()))
    }

    /// Someone proved a key compromised by handing over its private key (PKCS#8
    /// PEM): in one transaction the key is blocked for good and every live
    /// certificate with it is revoked for keyCompromise (one on hold keeps its
    /// hold's date), their CRL shards marked dirty, with an audit entry for the key
    /// and for each.
    pub async fn revoke_key(&self, private_key_pem: &str, actor: &str) -> Result<KeyRevoked> {
        let key = rcgen::KeyPair::from_pem(private_key_pem).map_err(|e| Error::InvalidField {
            field: "key",
            reason: format!("not a private key: {e}"),
        })?;
        let spki =
            crate::profile::spki_sha256(&rcgen::PublicKeyData::subject_public_key_info(&key));
        let mut tx = self.db.begin().await?;
        // The same lock as a revocation takes first: revocations queue behind each other.
        store::next_counter(&mut tx, "revocations").await?;
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let revoked = self
            .revoke_same_key_in(&mut tx, &spki, None, "private key handed over", actor, now)
            .await?;
        audit::append(
            &mut tx,
            actor,
            "key.block",
            &hex::encode(&spki),
            &json!({ "proof": "private key", "revoked": revoked.len() }),
        )
        .await?;
        self.audit_same_key(&mut tx, &revoked, &spki, None, actor)
            .await?;
        tx.commit().await?;
        Ok(KeyRevoked { revoked })
    }

    /// The issuing CA (this one or a retired one) that issued `serial`, and the
    /// certificate, locked as [`store::certificate_by_serial_for_update`] locks it.
    async fn certificate_for_update(
        &self,
        tx: &mut Tx,
        serial: &Serial,
    ) -> Result<(&Ca, store::CertificateRecord)> {
        for ca in self.all_issuers() {
            if let Some(rec) = store::certificate_by_serial_for_update(tx, ca.issuer_id, serial)
                .await?
                .filter(|r| r.status == CertificateStatus::Issued)
            {
                return Ok((ca, rec));
            }
        }
        Err(Error::UnknownCertificate(serial.to_hex()))
    }

    /// Blocks a compromised key (SHA-256 of its SubjectPublicKeyInfo) for good and
    /// revokes every live certificate with it but `except` for keyCompromise (another
    /// operator's too, and those of retired issuing CAs; one on hold keeps its hold's
    /// date), with a new OCSP answer for each, signed by its issuer, and its CRL
    /// shard marked dirty. Returns their serials.
    async fn revoke_same_key_in(
        &self,
        tx: &mut Tx,
        spki_sha256: &[u8],
        except: Option<i64>,
        why: &str,
        actor: &str,
        now: i64,
    ) -> Result<Vec<Serial>> {
        store::block_key(tx, spki_sha256, why, actor, now).await?;
        let code = RevocationReason::KeyCompromise.code();
        let mut revoked = Vec::new();
        for ca in self.all_issuers() {
            for other in
                store::live_certificates_with_key_for_update(tx, ca.issuer_id, spki_sha256, now)
                    .await?
                    .into_iter()
                    .filter(|o| Some(o.id) != except)
            {
                let at = other.revocation().map_or(now, |r| r.at);
                store::upsert_revocation(tx, other.id, at, code, actor).await?;
                let other_serial = Serial::from_bytes(&other.serial);
                ca.store_ocsp_in(
                    tx,
                    other.id,
                    &other_serial,
                    Status::Revoked { at, reason: code },
                )
                .await?;
                store::mark_crl_shard_dirty(tx, ca.issuer_id, other.crl_shard, now).await?;
                let entry = transparency::certificate_event_in(
                    tx,
                    &other,
                    ca.slug(),
                    RevocationReason::KeyCompromise,
                    now,
                )
                .await?;
                transparency::append(tx, &[(entry, Some(other.id))]).await?;
                revoked.push(other_serial);
            }
        }
        Ok(revoked)
    }

    /// One certificate.revoke audit entry for each certificate revoked with its key.
    async fn audit_same_key(
        &self,
        tx: &mut Tx,
        revoked: &[Serial],
        spki_sha256: &[u8],
        same_key_as: Option<&Serial>,
        actor: &str,
    ) -> Result<()> {
        for serial in revoked {
            audit::append(
                tx,
                actor,
                "certificate.revoke",
                &serial.to_hex(),
                &json!({
                    "reason": RevocationReason::KeyCompromise.name(),
                    "key": hex::encode(spki_sha256),
                    "same_key_as": same_key_as.map(Serial::to_hex),
                }),
            )
            .await?;
        }
        Ok(())
    }

    /// Builds, signs and stores a new CRL for `shard` of this issuer and its
    /// `crl.publish` audit entry, in one transaction (see [`Ca::publish_dirty_crls`]).
    pub async fn publish_crl(&self, shard: i64, actor: &str) -> Result<CrlRecord> {
        self.publish_shards(&[(self, shard)], actor)
            .await?
            .pop()
            .map(|p| p.crl)
            .ok_or_else(|| Error::Encoding("no CRL published".into()))
    }

    /// Builds, signs and stores a new CRL for `shard` of this issuer inside `tx`, and
    /// clears the shard's dirty mark. The shard's row is taken (locked) before its
    /// entries are read, so a revocation committing meanwhile is either listed or
    /// leaves the shard dirty again. The number comes from a database counter shared
    /// by the issuer's shards, so it only ever grows.
    pub async fn publish_crl_in(&self, tx: &mut Tx, shard: i64) -> Result<CrlRecord> {
        let now = OffsetDateTime::now_utc();
        let this_update = now.replace_nanosecond(0).unwrap_or(now);
        store::take_crl_shard(tx, self.issuer_id, shard, this_update.unix_timestamp()).await?;
        let number = store::next_counter(tx, &format!("crl:{}", self.issuer_id)).await?;
        let entries =
            store::revoked_entries(tx, self.issuer_id, shard, this_update.unix_timestamp()).await?;
        let der = self.build_crl(shard, number, this_update, &entries)?;
        let rec = CrlRecord {
            number,
            this_update: this_update.unix_timestamp(),
            next_update: (this_update + Duration::days(CRL_LIFETIME_DAYS)).unix_timestamp(),
            entries: entries.len() as i64,
            der,
        };
        store::insert_crl(tx, self.issuer_id, shard, &rec).await?;
        Ok(rec)
    }

    /// Publishes a new CRL for every dirty shard of this issuer and of the retired
    /// ones, and one `crl.publish` audit entry naming them all, in one transaction:
    /// a crash cannot leave CRLs published without their audit record. The
    /// transaction takes the audit head first, as a revocation does before it marks
    /// shards, so the two queue and never wait on each other (they used to publish
    /// in a transaction per shard and audit in one of their own, for fear of that
    /// deadlock). The server calls it at most once a second, the `ca` commands that
    /// revoke at their end.
    pub async fn publish_dirty_crls(&self, actor: &str) -> Result<Vec<ShardCrl>> {
        let mut todo = Vec::new();
        for ca in self.all_issuers() {
            for (shard, _) in store::dirty_crl_shards(&self.db, ca.issuer_id).await? {
                todo.push((ca, shard));
            }
        }
        self.publish_shards(&todo, actor).await
    }

    /// Publishes, for this issuer and each retired one, a new CRL for every shard
    /// whose newest CRL expires within `margin` seconds (or that has none, or is
    /// dirty), among the shards with an unexpired certificate and shard 0 (where a
    /// new issuer's first certificates go, so that it publishes from the start).
    /// The server's hourly refresh.
    pub async fn publish_due_crls(&self, margin: i64, actor: &str) -> Result<Vec<ShardCrl>> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let mut todo = Vec::new();
        for ca in self.all_issuers() {
            let dirty: Vec<i64> = store::dirty_crl_shards(&self.db, ca.issuer_id)
                .await?
                .into_iter()
                .map(|(s, _)| s)
                .collect();
            let mut shards = store::live_crl_shards(&self.db, ca.issuer_id, now).await?;
            shards.push(0);
            shards.extend(&dirty);
            shards.sort_unstable();
            shards.dedup();
            let next_updates = store::crl_next_updates(&self.db, ca.issuer_id).await?;
            for shard in shards {
                let fresh = next_updates
                    .iter()
                    .any(|&(s, next)| s == shard && next - now >= margin);
                if !fresh || dirty.contains(&shard) {
                    todo.push((ca, shard));
                }
            }
        }
        self.publish_shards(&todo, actor).await
    }

    async fn publish_shards(&self, todo: &[(&Ca, i64)], actor: &str) -> Result<Vec<ShardCrl>> {
        if todo.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.db.begin().await?;
        store::audit::lock_head(&mut tx).await?;
        let mut out = Vec::with_capacity(todo.len());
        for &(ca, shard) in todo {
            out.push(ShardCrl {
                issuer: ca.slug().to_string(),
                shard,
                crl: ca.publish_crl_in(&mut tx, shard).await?,
            });
        }
        let published: Vec<_> = out
            .iter()
            .map(|p| {
                json!({ "issuer": p.issuer, "shard": p.shard, "number": p.crl.number,
                        "entries": p.crl.entries })
            })
            .collect();
        audit::append(
            &mut tx,
            actor,
            "crl.publish",
            self.slug(),
            &json!({ "crls": published }),
        )
        .await?;
        tx.commit().await?;
        Ok(out)
    }

    /// The CRL shard of the next certificate [`Ca::issue`] signs, from the sequence
    /// numbers this CA reserved (reserving more in a short transaction of its own
    /// when they run out).
    pub(crate) async fn next_crl_shard(&self) -> Result<i64> {
        let mut seq = self.crl_seq.lock().await;
        if let Some(n) = seq.reserved.next() {
            return Ok(shard_of_sequence(n));
        }
        let grant = (seq.grant * 2).clamp(1, SHARD_SEQUENCE_BLOCK);
        let mut tx = self.db.begin().await?;
        let last = store::reserve_counter(&mut tx, &self.crl_sequence_counter(), grant).await?;
        tx.commit().await?;
        seq.grant = grant;
        seq.reserved = (last - grant + 1)..(last + 1);
        let n = seq.reserved.next().unwrap_or(last);
        Ok(shard_of_sequence(n))
    }

    /// As [`Ca::next_crl_shard`] inside the caller's transaction ([`Ca::issue_in`]):
    /// from the numbers already reserved, else one from the counter inside `tx` (a
    /// transaction of its own would wait for the caller's SQLite write lock).
    pub(crate) async fn crl_shard_in(&self, tx: &mut Tx) -> Result<i64> {
        // Never wait for the lock: its holder may be reserving in a transaction of
        // its own, which waits for the caller's SQLite write lock.
        if let Some(n) = self
            .crl_seq
            .try_lock()
            .ok()
            .and_then(|mut seq| seq.reserved.next())
        {
            return Ok(shard_of_sequence(n));
        }
        let n = store::next_counter(tx, &self.crl_sequence_counter()).await?;
        Ok(shard_of_sequence(n))
    }

    /// The name of this issuer's issuance sequence counter.
    fn crl_sequence_counter(&self) -> String {
        format!("crl_seq:{}", self.issuer_id)
    }

    /// Encodes and signs the CRL of `shard` over `entries`, its issuing distribution
    /// point the URL the shard's certificates name; the signature is checked before
    /// return.
    pub fn build_crl(
        &self,
        shard: i64,
        number: i64,
        this_update: OffsetDateTime,
        entries: &[RevokedEntry],
    ) -> Result<Vec<u8>> {
        let revoked_certs = entries
            .iter()
            .map(|e| {
                Ok(RevokedCertParams {
                    serial_number: SerialNumber::from_slice(&e.serial),
                    revocation_time: OffsetDateTime::from_unix_timestamp(e.revoked_at)
                        .map_err(|e| Error::Encoding(e.to_string()))?,
                    reason_code: RevocationReason::rcgen(e.reason),
                    invalidity_date: None,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let params = CertificateRevocationListParams {
            this_update,
            next_update: this_update + Duration::days(CRL_LIFETIME_DAYS),
            crl_number: SerialNumber::from(number as u64),
            issuing_distribution_point: Some(CrlIssuingDistributionPoint {
                distribution_point: CrlDistributionPoint {
                    uris: vec![self.urls.crl_shard(shard)],
                },
                scope: Some(CrlScope::UserCertsOnly),
            }),
            revoked_certs,
            key_identifier_method: KeyIdMethod::PreSpecified(self.issuer.ski.clone()),
        };
        let crl = params.signed_by(&self.rcgen_issuer()?)?;
        let der = crl.der().to_vec();
        self.check_crl_signature(&der)?;
        Ok(der)
    }

    /// Verifies the CRL signature over its TBS bytes with the issuing key. Only the
    /// outer SEQUENCE is decoded, so a 100,000-entry CRL is not parsed twice.
    fn check_crl_signature(&self, der: &[u8]) -> Result<()> {
        use der::{Decode, Encode};
        let list = RawSigned::from_der(der).map_err(|e| Error::SignatureCheck(e.to_string()))?;
        let tbs = list.tbs.to_der()?;
        let sig = list
            .signature
            .as_bytes()
            .ok_or_else(|| Error::SignatureCheck("CRL signature has unused bits".into()))?;
        crate::signer::verify_with(&*self.signer, &tbs, sig)
    }
}

/// `SEQUENCE { tbs, signatureAlgorithm, signature }`, the tbs left undecoded.
#[derive(der::Sequence)]
struct RawSigned<'a> {
    tbs: der::asn1::AnyRef<'a>,
    algorithm: der::asn1::AnyRef<'a>,
    signature: der::asn1::BitStringRef<'a>,
}

/// Counts a revocation as it is written: holds (`chengxin_certificate_holds_total`),
/// releases (`chengxin_certificate_releases_total`) and the rest by RFC 5280 reason
/// (`chengxin_revocations_total{reason}`). A caller's transaction that rolls back
/// afterwards is still counted.
fn count_revocation(reason: RevocationReason) {
    match reason {
        RevocationReason::CertificateHold => {
            metrics::counter!("chengxin_certificate_holds_total").increment(1)
        }
        RevocationReason::RemoveFromCrl => {
            metrics::counter!("chengxin_certificate_releases_total").increment(1)
        }
        other => {
            metrics::counter!("chengxin_revocations_total", "reason" => other.name()).increment(1)
        }
    }
}
