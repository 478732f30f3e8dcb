//! Issuance: reserve → lint → sign → verify → store → audit, in one transaction.

use ring::digest::{SHA256, digest};
use serde_json::json;
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate};
use zeroize::Zeroizing;

use crate::authority::Ca;
use crate::db::Tx;
use crate::profile::{Expected, SiteIdentity, SubjectPublicKey};
use crate::serial::Serial;
use crate::{Error, Result, audit, store};

/// Where the subject key comes from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// The operator's PKCS#10 request (already checked).
    Csr(SubjectPublicKey),
    /// Generate a P-256 key pair; its private half is returned once and never stored.
    Generate,
}

/// A freshly issued certificate.
#[derive(Debug)]
pub struct Issued {
    /// Row id in `certificates`.
    pub certificate_id: i64,
    /// Serial number.
    pub serial: Serial,
    /// DER.
    pub der: Vec<u8>,
    /// PEM.
    pub pem: String,
    /// SHA-256 fingerprint of the DER.
    pub sha256: Vec<u8>,
    /// notBefore.
    pub not_before: OffsetDateTime,
    /// notAfter.
    pub not_after: OffsetDateTime,
    /// PKCS#8 PEM of a generated key: hand it over once, never store it.
    pub private_key_pem: Option<Zeroizing<String>>,
}

fn pem_encode(label: &str, der: &[u8]) -> Result<String> {
    der::pem::encode_string(label, der::pem::LineEnding::LF, der)
        .map_err(|e| Error::Encoding(e.to_string()))
}

impl Ca {
    /// Issues a one-year site identity certificate in its own transaction.
    pub async fn issue(
        &self,
        identity: &SiteIdentity,
        key: KeySource,
        actor: &str,
    ) -> Result<Issued> {
        let mut tx = self.db.begin().await?;
        let issued = self.issue_in(&mut tx, identity, key, actor).await?;
        tx.commit().await?;
        Ok(issued)
    }

    /// Issues inside the caller's transaction, so that the caller's own state change
    /// (a site becoming certified) commits or rolls back with the certificate.
    pub async fn issue_in(
        &self,
        tx: &mut Tx,
        identity: &SiteIdentity,
        key: KeySource,
        actor: &str,
    ) -> Result<Issued> {
        let (subject_key, private_key_pem) = match key {
            KeySource::Csr(k) => (k, None),
            KeySource::Generate => {
                let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
                (
                    SubjectPublicKey::from_key_pair(&kp),
                    Some(Zeroizing::new(kp.serialize_pem())),
                )
            }
        };
        let serial = Serial::generate(self.instance, &self.rng)?;
        let now = OffsetDateTime::now_utc();
        let not_before = now.replace_nanosecond(0).unwrap_or(now);
        let expected = Expected {
            identity,
            serial: &serial,
            not_before,
            issuer: &self.issuer,
            urls: &self.urls,
            subject_key: &subject_key,
        };
        let not_after = expected.not_after();

        let certificate_id = store::reserve_certificate(
            tx,
            self.issuer_id,
            &serial,
            identity,
            not_before.unix_timestamp(),
            not_after.unix_timestamp(),
        )
        .await?;

        let params = expected.params()?;
        // The lint copy: same issuer name and key identifier, throwaway key.
        let mirror =
            rcgen::Issuer::from_ca_cert_der(&self.issuer.cert_der.clone().into(), &self.lint_key)?;
        let lint_cert = params.signed_by(&subject_key, &mirror)?;
        expected.lint(lint_cert.der())?;

        let cert = params.signed_by(&subject_key, &self.rcgen_issuer()?)?;
        let der = cert.der().to_vec();
        self.check_signed(&der, lint_cert.der())?;

        let sha256 = digest(&SHA256, &der).as_ref().to_vec();
        store::complete_certificate(tx, certificate_id, &der, &sha256).await?;
        self.store_ocsp_in(tx, certificate_id, &serial, crate::ocsp::Status::Good)
            .await?;
        audit::append(
            tx,
            actor,
            "certificate.issue",
            &serial.to_hex(),
            &json!({
                "organization": identity.organization,
                "uscc": identity.uscc.as_str(),
                "icp": identity.icp.as_str(),
                "domains": identity.domains,
                "not_after": not_after.unix_timestamp(),
                "sha256": hex::encode(&sha256),
                "key": if private_key_pem.is_some() { "generated" } else { "csr" },
            }),
        )
        .await?;
        Ok(Issued {
            certificate_id,
            serial,
            pem: pem_encode("CERTIFICATE", &der)?,
            der,
            sha256,
            not_before,
            not_after,
            private_key_pem,
        })
    }

    /// The real signature must verify under the issuing CA's key, and everything it
    /// signed must be byte-for-byte what the lint approved.
    fn check_signed(&self, der: &[u8], lint_der: &[u8]) -> Result<()> {
        let (_, cert) =
            X509Certificate::from_der(der).map_err(|e| Error::SignatureCheck(e.to_string()))?;
        let (_, linted) = X509Certificate::from_der(lint_der)
            .map_err(|e| Error::SignatureCheck(e.to_string()))?;
        let (_, issuer) = X509Certificate::from_der(&self.issuer.cert_der)
            .map_err(|e| Error::SignatureCheck(e.to_string()))?;
        cert.verify_signature(Some(issuer.public_key()))
            .map_err(|e| Error::SignatureCheck(e.to_string()))?;
        if cert.tbs_certificate.as_ref() != linted.tbs_certificate.as_ref() {
            return Err(Error::Lint(
                "the signed certificate differs from the linted one".into(),
            ));
        }
        Ok(())
    }
}

/// What `ca verify` found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckReport {
    /// Chain, time and status all good.
    pub valid: bool,
    /// Serial, hexadecimal.
    pub serial: String,
    /// Subject, as text.
    pub subject: String,
    /// notBefore, Unix seconds.
    pub not_before: i64,
    /// notAfter, Unix seconds.
    pub not_after: i64,
    /// `good`, `revoked` or `unknown` (not in our database).
    pub status: &'static str,
    /// RFC 5280 reason name when revoked.
    pub revocation_reason: Option<String>,
    /// Everything wrong with it.
    pub problems: Vec<String>,
}

impl Ca {
    /// Checks a certificate (PEM or DER) against this CA: issuer signature, validity
    /// period, and our records of issuance and revocation.
    pub async fn check_certificate(&self, bytes: &[u8]) -> Result<CheckReport> {
        let der = match std::str::from_utf8(bytes) {
            Ok(text) if text.contains("-----BEGIN") => {
                let (label, der) = der::pem::decode_vec(text.trim().as_bytes())
                    .map_err(|e| Error::CertificateInvalid(format!("not PEM: {e}")))?;
                if label != "CERTIFICATE" {
                    return Err(Error::CertificateInvalid(format!(
                        "expected CERTIFICATE, found {label}"
                    )));
                }
                der
            }
            _ => bytes.to_vec(),
        };
        let (_, cert) = X509Certificate::from_der(&der)
            .map_err(|e| Error::CertificateInvalid(format!("does not parse: {e}")))?;
        let (_, issuer) = X509Certificate::from_der(&self.issuer.cert_der)
            .map_err(|e| Error::Config(e.to_string()))?;
        let mut problems = Vec::new();
        if cert.verify_signature(Some(issuer.public_key())).is_err() {
            problems.push("not signed by this issuing CA".to_string());
        }
        if !cert.validity().is_valid() {
            problems.push("outside its validity period".to_string());
        }
        let serial = Serial::from_bytes(cert.tbs_certificate.raw_serial());
        let rec = store::certificate_by_serial(&self.db, self.issuer_id, &serial).await?;
        let (status, reason) = match &rec {
            Some(r) if r.der.as_deref() == Some(der.as_slice()) => match r.revocation_reason {
                Some(code) => (
                    "revoked",
                    Some(
                        crate::RevocationReason::from_code(code)
                            .map_or("unknown".into(), |r| r.name().to_string()),
                    ),
                ),
                None => ("good", None),
            },
            _ => ("unknown", None),
        };
        match status {
            "revoked" => problems.push(format!("revoked ({})", reason.as_deref().unwrap_or("?"))),
            "unknown" => problems.push("not in this CA's records".to_string()),
            _ => {}
        }
        Ok(CheckReport {
            valid: problems.is_empty(),
            serial: serial.to_hex(),
            subject: cert.subject().to_string(),
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
            status,
            revocation_reason: reason,
            problems,
        })
    }
}
