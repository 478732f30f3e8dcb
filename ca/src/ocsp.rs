//! OCSP (RFC 6960): responses are signed ahead of time, for SHA-1 and SHA-256
//! CertIDs, at issuance, revocation and refresh, and stored, so a responder only reads
//! bytes and never signs. Serials we never issued get an unsigned "unauthorized".

use der::asn1::{BitString, GeneralizedTime, OctetString};
use der::{Decode, Encode};
use std::time::Duration as StdDuration;
use time::OffsetDateTime;
use x509_cert::ext::pkix::CrlReason;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_ocsp::{
    BasicOcspResponse, CertId, CertStatus, OcspGeneralizedTime, OcspRequest, OcspResponse,
    ResponderId, ResponseData, RevokedInfo, SingleResponse, Version,
};

use crate::authority::Ca;
use crate::db::Tx;
use crate::serial::Serial;
use crate::signer::{Signer, verify_with};
use crate::{Error, Result, store};

/// How long a pre-signed response is valid.
pub const RESPONSE_LIFETIME_SECS: i64 = 4 * 86_400;
/// Refresh responses that have less than this left.
pub const REFRESH_MARGIN_SECS: i64 = 2 * 86_400;
/// Most answers [`Ca::refresh_ocsp`] signs and then stores in one transaction.
pub const REFRESH_CHUNK: i64 = 500;

const SHA1_OID: &str = "1.3.14.3.2.26";
const SHA256_OID: &str = "2.16.840.1.101.3.4.2.1";

/// A certificate's status as OCSP reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Issued by us and not revoked.
    Good,
    /// Revoked at a Unix time with an RFC 5280 reason code.
    Revoked {
        /// Unix seconds.
        at: i64,
        /// Reason code (omitted from the response when 0, unspecified).
        reason: i64,
    },
}

impl Status {
    /// The status of one of our certificates from its revocation row, if any.
    pub fn of(revoked_at: Option<i64>, reason: Option<i64>) -> Self {
        match (revoked_at, reason) {
            (Some(at), Some(reason)) => Status::Revoked { at, reason },
            _ => Status::Good,
        }
    }
}

/// OCSP answers signed by [`Ca::sign_ocsp_refresh`], for [`Ca::store_ocsp_refresh`].
#[derive(Debug, Clone)]
pub struct SignedAnswer {
    certificate_id: i64,
    status: Status,
    answers: store::OcspAnswers,
}

/// The responder's answer: DER bytes for `application/ocsp-response`.
#[derive(Debug)]
pub struct Answer {
    /// The encoded `OCSPResponse`.
    pub der: Vec<u8>,
    /// Whether this is a successful response (for metrics).
    pub successful: bool,
}

fn gtime(unix: i64) -> Result<OcspGeneralizedTime> {
    let secs = u64::try_from(unix).map_err(|_| Error::Encoding("time before 1970".into()))?;
    Ok(OcspGeneralizedTime(GeneralizedTime::from_unix_duration(
        StdDuration::from_secs(secs),
    )?))
}

fn crl_reason(code: i64) -> Option<CrlReason> {
    Some(match code {
        1 => CrlReason::KeyCompromise,
        2 => CrlReason::CaCompromise,
        3 => CrlReason::AffiliationChanged,
        4 => CrlReason::Superseded,
        5 => CrlReason::CessationOfOperation,
        6 => CrlReason::CertificateHold,
        9 => CrlReason::PrivilegeWithdrawn,
        10 => CrlReason::AaCompromise,
        _ => return None,
    })
}

fn encode(resp: OcspResponse) -> Vec<u8> {
    resp.to_der().unwrap_or_default()
}

impl Ca {
    fn cert_id(&self, serial: &[u8], sha256: bool) -> Result<CertId> {
        let (alg, name, key) = if sha256 {
            (
                SHA256_OID,
                &self.issuer_name_hash256,
                &self.issuer_key_hash256,
            )
        } else {
            (SHA1_OID, &self.issuer_name_hash, &self.issuer_key_hash)
        };
        Ok(CertId {
            hash_algorithm: AlgorithmIdentifierOwned {
                oid: der::oid::ObjectIdentifier::new_unwrap(alg),
                parameters: Some(der::Any::null()),
            },
            issuer_name_hash: OctetString::new(name.clone())?,
            issuer_key_hash: OctetString::new(key.clone())?,
            serial_number: SerialNumber::new(serial)?,
        })
    }

    /// Signs one OCSP response for `cert_id` with `signer` (the issuing key), valid
    /// from `this_update` for the configured lifetime, and checks the signature
    /// before returning it.
    pub(crate) fn sign_ocsp(
        &self,
        signer: &dyn Signer,
        cert_id: CertId,
        status: Status,
        this_update: i64,
    ) -> Result<Vec<u8>> {
        let cert_status = match status {
            Status::Good => CertStatus::good(),
            Status::Revoked { at, reason } => CertStatus::revoked(RevokedInfo {
                revocation_time: gtime(at)?,
                revocation_reason: crl_reason(reason),
            }),
        };
        let data = ResponseData {
            version: Version::V1,
            responder_id: ResponderId::ByKey(OctetString::new(self.issuer_key_hash.clone())?),
            produced_at: gtime(this_update)?,
            responses: vec![SingleResponse {
                cert_id,
                cert_status,
                this_update: gtime(this_update)?,
                next_update: Some(gtime(this_update + RESPONSE_LIFETIME_SECS)?),
                single_extensions: None,
            }],
            response_extensions: None,
        };
        let tbs = data.to_der()?;
        let sig = signer.sign(&tbs)?;
        verify_with(signer, &tbs, &sig)?;
        let basic = BasicOcspResponse {
            tbs_response_data: data,
            signature_algorithm: AlgorithmIdentifierOwned {
                oid: signer.algorithm().signature_oid(),
                parameters: None,
            },
            signature: BitString::from_bytes(&sig)?,
            certs: None,
        };
        Ok(OcspResponse::successful(basic)?.to_der()?)
    }

    /// Signs the answers for one of our serials, for the SHA-1 and the SHA-256 CertID
    /// (clients ask with either), valid from `this_update`, with `signer`.
    pub(crate) fn sign_ocsp_for(
        &self,
        signer: &dyn Signer,
        serial: &Serial,
        status: Status,
        this_update: i64,
    ) -> Result<store::OcspAnswers> {
        let sign = |sha256| {
            self.sign_ocsp(
                signer,
                self.cert_id(serial.as_bytes(), sha256)?,
                status,
                this_update,
            )
        };
        Ok(store::OcspAnswers {
            this_update,
            next_update: this_update + RESPONSE_LIFETIME_SECS,
            sha1: sign(false)?,
            sha256: sign(true)?,
        })
    }

    /// Signs and stores the answers for one of our certificates.
    pub(crate) async fn store_ocsp_in(
        &self,
        tx: &mut Tx,
        certificate_id: i64,
        serial: &Serial,
        status: Status,
    ) -> Result<()> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let answers = self.sign_ocsp_for(&*self.signer, serial, status, now)?;
        store::upsert_ocsp(tx, certificate_id, &answers).await
    }

    /// Re-signs stored responses that expire within the refresh margin, at most
    /// `batch`, and returns how many were stored. Run on a timer by the server.
    /// Works in chunks of [`REFRESH_CHUNK`], each signed with no transaction open
    /// and then stored in a short one, so signing never holds the write lock.
    /// Each issuing CA, retired ones included, refreshes its own certificates'
    /// answers, up to `batch` each.
    pub async fn refresh_ocsp(&self, batch: i64) -> Result<usize> {
        let mut stored = 0;
        for ca in self.all_issuers() {
            let mut looked_at = 0;
            while looked_at < batch {
                let answers = ca
                    .sign_ocsp_refresh(REFRESH_CHUNK.min(batch - looked_at))
                    .await?;
                if answers.is_empty() {
                    break;
                }
                looked_at += answers.len() as i64;
                stored += ca.store_ocsp_refresh(&answers).await?;
            }
        }
        Ok(stored)
    }

    /// The first half of [`Ca::refresh_ocsp`]: signs new answers for up to `batch`
    /// certificates whose stored answer expires within the refresh margin, reading
    /// through the pool with no transaction open. It signs with the refresh signer
    /// (its own HSM session), never on the session issuance and revocation use.
    pub async fn sign_ocsp_refresh(&self, batch: i64) -> Result<Vec<SignedAnswer>> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let due = store::certificates_needing_ocsp(
            &self.db,
            self.issuer_id,
            now + REFRESH_MARGIN_SECS,
            batch,
        )
        .await?;
        due.into_iter()
            .map(|d| {
                let status = Status::of(d.revoked_at, d.revocation_reason);
                Ok(SignedAnswer {
                    certificate_id: d.id,
                    status,
                    answers: self.sign_ocsp_for(
                        &*self.refresh_signer,
                        &Serial::from_bytes(&d.serial),
                        status,
                        now,
                    )?,
                })
            })
            .collect()
    }

    /// The second half of [`Ca::refresh_ocsp`]: stores signed answers in one
    /// transaction, each only if its certificate's status is still the one it says.
    /// A revocation that committed after the signing (or waits for this transaction)
    /// wrote its own answer, which a "good" signed before it must never overwrite.
    /// Every read goes through the transaction: it never waits for a second pool
    /// connection while holding one. Returns how many were stored.
    pub async fn store_ocsp_refresh(&self, answers: &[SignedAnswer]) -> Result<usize> {
        let mut tx = self.db.begin().await?;
        let ids: Vec<i64> = answers.iter().map(|a| a.certificate_id).collect();
        let now: std::collections::HashMap<i64, Status> =
            store::revocation_states_locked(&mut tx, &ids)
                .await?
                .into_iter()
                .map(|(id, at, reason)| (id, Status::of(at, reason)))
                .collect();
        let mut stored = 0;
        for a in answers {
            if now.get(&a.certificate_id) != Some(&a.status) {
                continue;
            }
            stored += 1;
            store::upsert_ocsp(&mut tx, a.certificate_id, &a.answers).await?;
        }
        tx.commit().await?;
        Ok(stored)
    }

    /// Answers a DER `OCSPRequest` (from POST, or GET after base64 decoding).
    pub async fn answer_ocsp(&self, request: &[u8]) -> Answer {
        match self.try_answer(request).await {
            Ok(der) => Answer {
                der,
                successful: true,
            },
            Err(AnswerError::Malformed) => Answer {
                der: encode(OcspResponse::malformed_request()),
                successful: false,
            },
            Err(AnswerError::Unauthorized) => Answer {
                der: encode(OcspResponse::unauthorized()),
                successful: false,
            },
            Err(AnswerError::TryLater) => Answer {
                der: encode(OcspResponse::try_later()),
                successful: false,
            },
            Err(AnswerError::Internal(e)) => {
                tracing::error!(error = %e, "OCSP responder failed");
                Answer {
                    der: encode(OcspResponse::internal_error()),
                    successful: false,
                }
            }
        }
    }

    async fn try_answer(&self, request: &[u8]) -> Result<Vec<u8>, AnswerError> {
        let req = OcspRequest::from_der(request).map_err(|_| AnswerError::Malformed)?;
        // RFC 5019: one certificate per request; answers are pre-signed, so no nonce.
        let [single] = req.tbs_request.request_list.as_slice() else {
            return Err(AnswerError::Malformed);
        };
        let id = &single.req_cert;
        let alg = id.hash_algorithm.oid.to_string();
        let sha256 = match alg.as_str() {
            SHA1_OID => false,
            SHA256_OID => true,
            _ => return Err(AnswerError::Unauthorized),
        };
        // The issuing CA the CertID names: this one, or a retired one still
        // answering for its certificates.
        let ca = self
            .all_issuers()
            .find(|ca| {
                let (name_hash, key_hash) = if sha256 {
                    (&ca.issuer_name_hash256, &ca.issuer_key_hash256)
                } else {
                    (&ca.issuer_name_hash, &ca.issuer_key_hash)
                };
                id.issuer_name_hash.as_bytes() == name_hash.as_slice()
                    && id.issuer_key_hash.as_bytes() == key_hash.as_slice()
            })
            .ok_or(AnswerError::Unauthorized)?;
        let serial = Serial::from_bytes(id.serial_number.as_bytes());
        let now = OffsetDateTime::now_utc().unix_timestamp();
        // Answers are signed at issuance, revocation and refresh; the responder only
        // reads, so no number of requests reaches the signer. A stored answer is
        // served only while current: past its nextUpdate a client would reject it,
        // and it may no longer say what is true.
        if let Some(der) =
            store::ocsp_response(&ca.db, ca.issuer_id, serial.as_bytes(), sha256, now)
                .await
                .map_err(AnswerError::Internal)?
        {
            return Ok(der);
        }
        match store::certificate_by_serial(&ca.db, ca.issuer_id, &serial)
            .await
            .map_err(AnswerError::Internal)?
        {
            // Ours and unexpired, but the refresh has not kept its answer current.
            Some(rec) if rec.status == store::CertificateStatus::Issued && rec.not_after > now => {
                tracing::error!(%serial, "no current OCSP answer stored: is the refresh running?");
                Err(AnswerError::TryLater)
            }
            // Never issued by us (RFC 5019 2.2.3, as Boulder answers), or expired with
            // no current answer: the refresh stops at notAfter, as the CRL does.
            _ => Err(AnswerError::Unauthorized),
        }
    }
}

enum AnswerError {
    Malformed,
    Unauthorized,
    TryLater,
    Internal(Error),
}
