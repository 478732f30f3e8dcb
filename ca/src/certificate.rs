//! Issuance: lint → sign → verify → pre-sign OCSP, then store certificate, OCSP
//! answer and audit entry in one transaction (shared with concurrent issuances,
//! `issue_queue`).

use ring::digest::{SHA256, digest};
use serde_json::json;
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate};
use zeroize::Zeroizing;

use crate::authority::Ca;
use crate::db::Tx;
use crate::issue_queue::{Prepared, store_batch};
use crate::profile::{
    Expected, SiteIdentity, SubjectPublicKey, VALIDITY_DAYS, last_second, spki_sha256,
};
use crate::serial::Serial;
use crate::{Error, Result, store};

/// Where the subject key comes from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// The operator's PKCS#10 request (already checked).
    Csr(SubjectPublicKey),
    /// Generate a P-256 key pair; its private half is returned once and never stored.
    Generate,
    /// A key pair the caller generated and has already handed to the operator: `ca
    /// issue` writes the key file before issuing, so that a crash after the commit
    /// cannot leave a certificate whose key is lost. Audited as generated.
    Generated(SubjectPublicKey),
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
    /// Issues a one-year site identity certificate. The signing happens first, in
    /// the caller's task; the store joins a group commit, so concurrent issuances
    /// share transactions instead of queueing for one commit each.
    pub async fn issue(
        &self,
        identity: &SiteIdentity,
        key: KeySource,
        actor: &str,
    ) -> Result<Issued> {
        self.claim_serial_prefix().await?;
        if let KeySource::Csr(k) = &key {
            self.refuse_compromised_key(k).await?;
        }
        let crl_shard = self.next_crl_shard().await?;
        let (prepared, private_key_pem) = self.prepare(identity, key, crl_shard, None)?;
        let certificate_id = self
            .queue
            .submit(&self.db, self.issuer_id, prepared.clone(), actor)
            .await?;
        issued_counter().increment(1);
        Self::issued(prepared, certificate_id, private_key_pem)
    }

    /// Refuses a key that was revoked for keyCompromise: at CSR intake, so that an
    /// operator hears it at once, and again at issuance.
    pub async fn refuse_compromised_key(&self, key: &SubjectPublicKey) -> Result<()> {
        if store::key_blocked(&self.db, &spki_sha256(key.spki_der())).await? {
            return Err(Error::KeyCompromised);
        }
        Ok(())
    }

    /// Issues inside the caller's transaction, so that the caller's own state change
    /// (a site becoming certified) commits or rolls back with the certificate and its
    /// transparency log entry, which names `site`. The CA
    /// must have claimed its serial prefix before ([`Ca::claim_serial_prefix`]):
    /// claiming here would wait on the caller's own SQLite write lock.
    pub async fn issue_in(
        &self,
        tx: &mut Tx,
        identity: &SiteIdentity,
        key: KeySource,
        site: Option<&str>,
        actor: &str,
    ) -> Result<Issued> {
        if let KeySource::Csr(k) = &key
            && store::key_blocked_in(tx, &spki_sha256(k.spki_der())).await?
        {
            return Err(Error::KeyCompromised);
        }
        let crl_shard = self.crl_shard_in(tx).await?;
        let (prepared, private_key_pem) = self.prepare(identity, key, crl_shard, site)?;
        let ids = store_batch(tx, self.issuer_id, std::slice::from_ref(&prepared), actor).await?;
        issued_counter().increment(1);
        Self::issued(prepared, ids[0], private_key_pem)
    }

    fn issued(
        p: Prepared,
        certificate_id: i64,
        private_key_pem: Option<Zeroizing<String>>,
    ) -> Result<Issued> {
        Ok(Issued {
            certificate_id,
            pem: pem_encode("CERTIFICATE", &p.der)?,
            serial: p.serial,
            der: p.der,
            sha256: p.sha256,
            not_before: p.not_before,
            not_after: p.not_after,
            private_key_pem,
        })
    }

    /// Lint, sign, verify and pre-sign the OCSP answer: all the cryptography of an
    /// issuance. A failing lint signs nothing with the real key. The certificate's
    /// CRL distribution point names `crl_shard`.
    pub(crate) fn prepare(
        &self,
        identity: &SiteIdentity,
        key: KeySource,
        crl_shard: i64,
        site: Option<&str>,
    ) -> Result<(Prepared, Option<Zeroizing<String>>)> {
        if let KeySource::Csr(k) = &key {
            self.refuse_own_key(k)?;
        }
        let generated = !matches!(key, KeySource::Csr(_));
        let (subject_key, private_key_pem) = match key {
            KeySource::Csr(k) | KeySource::Generated(k) => (k, None),
            KeySource::Generate => {
                let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
                (
                    SubjectPublicKey::from_key_pair(&kp),
                    Some(Zeroizing::new(kp.serialize_pem())),
                )
            }
        };
        self.check_serial_prefix()?;
        let serial = Serial::generate(self.instance, &self.rng)?;
        let now = OffsetDateTime::now_utc();
        let not_before = now.replace_nanosecond(0).unwrap_or(now);
        self.check_issuer_outlives(not_before)?;
        let expected = Expected {
            identity,
            serial: &serial,
            not_before,
            issuer: &self.issuer,
            urls: &self.urls,
            crl_shard,
            subject_key: &subject_key,
        };
        let not_after = expected.not_after();
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
        let spki_sha256 = spki_sha256(subject_key.spki_der());
        let ocsp = self.sign_ocsp_for(
            &*self.signer,
            &serial,
            crate::ocsp::Status::Good,
            now.unix_timestamp(),
        )?;
        let audit_details = json!({
            "organization": identity.organization,
            "uscc": identity.uscc.as_str(),
            "icp": identity.icp.as_str(),
            "domains": identity.domains,
            "filings": identity.filings.iter().map(|f| f.as_str()).collect::<Vec<_>>(),
            "not_after": not_after.unix_timestamp(),
            "crl_shard": crl_shard,
            "sha256": hex::encode(&sha256),
            "key": if generated { "generated" } else { "csr" },
        });
        Ok((
            Prepared {
                serial,
                identity: identity.clone(),
                der,
                sha256,
                spki_sha256,
                not_before,
                not_after,
                ocsp,
                audit_details,
                crl_shard,
                issuer: self.slug().to_owned(),
                site: site.map(str::to_owned),
            },
            private_key_pem,
        ))
    }

    /// Refuses a subscriber key that is the root's or the issuing CA's. EC keys are
    /// compared by x-coordinate, so neither another point encoding (compressed) nor
    /// the negated key (private key n - d) gets through.
    fn refuse_own_key(&self, key: &SubjectPublicKey) -> Result<()> {
        use rcgen::PublicKeyData;
        let x = |point: &[u8]| -> Vec<u8> {
            match point.first() {
                Some(4) => point[1..1 + (point.len() - 1) / 2].to_vec(),
                Some(2 | 3) => point[1..].to_vec(),
                _ => point.to_vec(),
            }
        };
        let theirs = x(key.der_bytes());
        if self.own_keys.iter().any(|k| x(k) == theirs) {
            return Err(Error::InvalidCsr(
                "the request carries one of this CA's own keys".into(),
            ));
        }
        Ok(())
    }

    /// Refuses when the issuing CA expires before a certificate issued at
    /// `not_before` would: a certificate must never outlive its issuer (an expired
    /// issuer included).
    pub fn check_issuer_outlives(&self, not_before: OffsetDateTime) -> Result<()> {
        let not_after = last_second(not_before, VALIDITY_DAYS);
        if not_after.unix_timestamp() <= self.issuer.not_after {
            return Ok(());
        }
        Err(Error::IssuerExpires {
            issuer_not_after: OffsetDateTime::from_unix_timestamp(self.issuer.not_after)
                .map_err(|e| Error::Encoding(e.to_string()))?,
            not_after,
        })
    }

    /// The real signature must verify under the issuing CA's key, and everything it
    /// signed must be byte-for-byte what the lint approved.
    fn check_signed(&self, der: &[u8], lint_der: &[u8]) -> Result<()> {
        let (_, cert) =
            X509Certificate::from_der(der).map_err(|e| Error::SignatureCheck(e.to_string()))?;
        let (_, linted) = X509Certificate::from_der(lint_der)
            .map_err(|e| Error::SignatureCheck(e.to_string()))?;
        crate::signer::verify_with(
            &*self.signer,
            cert.tbs_certificate.as_ref(),
            &cert.signature_value.data,
        )?;
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
        // Its issuer: this issuing CA or a retired one whose key signed it.
        let mut signed_by = None;
        for ca in self.all_issuers() {
            let (_, issuer) = X509Certificate::from_der(&ca.issuer.cert_der)
                .map_err(|e| Error::Config(e.to_string()))?;
            if cert.verify_signature(Some(issuer.public_key())).is_ok() {
                signed_by = Some(ca);
                break;
            }
        }
        let mut problems = Vec::new();
        if signed_by.is_none() {
            problems.push("not signed by this issuing CA".to_string());
        }
        let ca = signed_by.unwrap_or(self);
        if !cert.validity().is_valid() {
            problems.push("outside its validity period".to_string());
        }
        let serial = Serial::from_bytes(cert.tbs_certificate.raw_serial());
        let rec = store::certificate_by_serial(&ca.db, ca.issuer_id, &serial).await?;
        let (status, reason) = match &rec {
            Some(r) if r.der.as_deref() == Some(der.as_slice()) => match r.revocation() {
                Some(revocation) => (
                    "revoked",
                    Some(
                        revocation
                            .reason()
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

/// `chengxin_certificates_issued_total`: certificates stored, counted when written
/// (a caller's transaction that rolls back afterwards is still counted). Counted in
/// whichever process holds a metrics recorder (the server; the CLI has none).
fn issued_counter() -> metrics::Counter {
    metrics::counter!("chengxin_certificates_issued_total")
}
