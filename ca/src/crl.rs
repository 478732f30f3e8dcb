//! Revocation and CRLs (RFC 5280 v2, one full CRL per issuing CA).

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
use crate::{Error, Result, audit, store};

/// How long a CRL is valid; the server publishes a new one well before.
pub const CRL_LIFETIME_DAYS: i64 = 7;

/// What [`Ca::revoke_key`] did.
#[derive(Debug, Clone)]
pub struct KeyRevoked {
    /// The certificates revoked for keyCompromise.
    pub revoked: Vec<Serial>,
    /// The CRL published with them.
    pub crl_number: i64,
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
    /// The CRL published with it.
    pub crl_number: i64,
    /// For keyCompromise: the other live certificates with the same key, revoked
    /// with it (their holders need to be told).
    pub also_revoked: Vec<Serial>,
}

impl Ca {
    /// Revokes (or holds, or releases) a certificate in one transaction: revocation
    /// row, new OCSP response, new CRL and audit entry commit together.
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
        let compromised = match (reason, &rec.spki_sha256, &rec.der) {
            (RevocationReason::KeyCompromise, Some(h), _) => Some(h.clone()),
            (RevocationReason::KeyCompromise, None, Some(der)) => {
                Some(crate::profile::certificate_spki_sha256(der)?)
            }
            _ => None,
        };
        let also_revoked = match &compromised {
            Some(key) => {
                let why = format!("keyCompromise of {serial}");
                self.revoke_same_key_in(tx, key, Some(rec.id), &why, actor, now, ca.issuer_id)
                    .await?
            }
            None => Vec::new(),
        };
        let crl = ca.publish_crl_in(tx).await?;
        if let Some(key) = &compromised {
            self.audit_same_key(tx, &also_revoked, key, Some(serial), crl.number, actor)
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
            &json!({ "reason": reason.name(), "crl_number": crl.number }),
        )
        .await?;
        Ok(Revoked {
            certificate_id: rec.id,
            serial: serial.clone(),
            reason,
            at: now,
            crl_number: crl.number,
            also_revoked,
        })
    }

    /// Someone proved a key compromised by handing over its private key (PKCS#8
    /// PEM): in one transaction the key is blocked for good and every live
    /// certificate with it is revoked for keyCompromise (one on hold keeps its
    /// hold's date), with a new CRL and an audit entry for the key and for each.
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
            .revoke_same_key_in(
                &mut tx,
                &spki,
                None,
                "private key handed over",
                actor,
                now,
                self.issuer_id,
            )
            .await?;
        let crl = self.publish_crl_in(&mut tx).await?;
        audit::append(
            &mut tx,
            actor,
            "key.block",
            &hex::encode(&spki),
            &json!({ "proof": "private key", "revoked": revoked.len(), "crl_number": crl.number }),
        )
        .await?;
        self.audit_same_key(&mut tx, &revoked, &spki, None, crl.number, actor)
            .await?;
        tx.commit().await?;
        Ok(KeyRevoked {
            revoked,
            crl_number: crl.number,
        })
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
    /// date), with a new OCSP answer for each, signed by its issuer. An issuer other
    /// than `crl_by_caller` (whose CRL the caller publishes) that revoked any
    /// publishes a new CRL. Returns their serials.
    #[allow(clippy::too_many_arguments)]
    async fn revoke_same_key_in(
        &self,
        tx: &mut Tx,
        spki_sha256: &[u8],
        except: Option<i64>,
        why: &str,
        actor: &str,
        now: i64,
        crl_by_caller: i64,
    ) -> Result<Vec<Serial>> {
        store::block_key(tx, spki_sha256, why, actor, now).await?;
        let code = RevocationReason::KeyCompromise.code();
        let mut revoked = Vec::new();
        for ca in self.all_issuers() {
            let before = revoked.len();
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
                revoked.push(other_serial);
            }
            if revoked.len() > before && ca.issuer_id != crl_by_caller {
                ca.publish_crl_in(tx).await?;
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
        crl_number: i64,
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
                    "crl_number": crl_number,
                    "key": hex::encode(spki_sha256),
                    "same_key_as": same_key_as.map(Serial::to_hex),
                }),
            )
            .await?;
        }
        Ok(())
    }

    /// Builds, signs and stores a new CRL in its own transaction.
    pub async fn publish_crl(&self, actor: &str) -> Result<CrlRecord> {
        let mut tx = self.db.begin().await?;
        let crl = self.publish_crl_in(&mut tx).await?;
        audit::append(
            &mut tx,
            actor,
            "crl.publish",
            self.slug(),
            &json!({ "number": crl.number, "entries": crl.entries }),
        )
        .await?;
        tx.commit().await?;
        Ok(crl)
    }

    /// Builds, signs and stores a new CRL inside `tx`; the number comes from a
    /// database counter, so it only ever grows.
    pub async fn publish_crl_in(&self, tx: &mut Tx) -> Result<CrlRecord> {
        let number = store::next_counter(tx, &format!("crl:{}", self.issuer_id)).await?;
        let now = OffsetDateTime::now_utc();
        let this_update = now.replace_nanosecond(0).unwrap_or(now);
        let entries =
            store::revoked_entries(tx, self.issuer_id, this_update.unix_timestamp()).await?;
        let der = self.build_crl(number, this_update, &entries)?;
        let rec = CrlRecord {
            number,
            this_update: this_update.unix_timestamp(),
            next_update: (this_update + Duration::days(CRL_LIFETIME_DAYS)).unix_timestamp(),
            entries: entries.len() as i64,
            der,
        };
        store::insert_crl(tx, self.issuer_id, &rec).await?;
        Ok(rec)
    }

    /// Encodes and signs a CRL over `entries`; the signature is checked before return.
    pub fn build_crl(
        &self,
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
                    uris: vec![self.urls.crl.clone()],
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
