//! The site identity certificate profile (design §3): one struct, [`Expected`], both
//! builds the rcgen parameters and lints the parsed result, so the lint can never
//! drift from what we mean to sign.

use der::Encode;
use der::asn1::{Ia5String, Utf8StringRef};
use rcgen::{
    CertificateParams, CrlDistributionPoint, CustomExtension, DistinguishedName, DnType, DnValue,
    ExtendedKeyUsagePurpose, IsCa, KeyIdMethod, KeyUsagePurpose, SanType, SerialNumber,
};
use serde::Serialize;
use time::OffsetDateTime;
use x509_cert::ext::pkix::certpolicy::PolicyInformation;
use x509_cert::ext::pkix::name::GeneralName as DerGeneralName;
use x509_cert::ext::pkix::{AccessDescription, AuthorityInfoAccessSyntax, CertificatePolicies};
use x509_parser::extensions::{DistributionPointName, GeneralName, ParsedExtension};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;

use crate::identity::{Domain, IcpNumber, Uscc, hidden_character, subject_text, x520};
use crate::oid::{self, std_oids};
use crate::serial::Serial;
use crate::{Error, Result};

/// Days a site identity certificate is valid: one year, as the seed requires.
pub const VALIDITY_DAYS: i64 = 365;
/// Most domains one certificate may carry.
pub const MAX_DOMAINS: usize = 100;

/// What a site identity certificate asserts. Every field was parsed and validated
/// before it got here; the first domain is the primary one (subject CN).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SiteIdentity {
    /// Legal name of the organization, as on its business licence.
    pub organization: String,
    /// Its unified social credit code.
    pub uscc: Uscc,
    /// The website ICP filing number of the primary domain.
    pub icp: IcpNumber,
    /// The website filing number covering each domain, in the order of `domains`
    /// (domains under one registrable domain share a filing; other registrable
    /// domains have their own, icp.md §5 rule 1). `filings[0]` is `icp`.
    pub filings: Vec<IcpNumber>,
    /// Province (ST).
    pub province: String,
    /// City (L).
    pub city: String,
    /// Certified domains, primary first, no duplicates.
    pub domains: Vec<Domain>,
}

impl SiteIdentity {
    /// Parses and validates raw input; the first error found is returned.
    pub fn parse(
        organization: &str,
        uscc: &str,
        icp: &str,
        province: &str,
        city: &str,
        domains: &[impl AsRef<str>],
    ) -> Result<Self> {
        let organization = subject_text("organization", organization, x520::ORGANIZATION_NAME)?;
        let uscc = Uscc::parse(uscc)?;
        let icp = IcpNumber::parse_website(icp)?;
        let province = subject_text("province", province, 32)?;
        let city = subject_text("city", city, 64)?;
        if domains.is_empty() {
            return Err(Error::InvalidDomain {
                domain: String::new(),
                reason: "at least one domain is required".into(),
            });
        }
        if domains.len() > MAX_DOMAINS {
            return Err(Error::InvalidDomain {
                domain: String::new(),
                reason: format!("at most {MAX_DOMAINS} domains per certificate"),
            });
        }
        let mut parsed: Vec<Domain> = Vec::with_capacity(domains.len());
        for d in domains {
            let d = Domain::parse_certifiable(d.as_ref())?;
            if !parsed.contains(&d) {
                parsed.push(d);
            }
        }
        Ok(SiteIdentity {
            organization,
            uscc,
            filings: vec![icp.clone(); parsed.len()],
            icp,
            province,
            city,
            domains: parsed,
        })
    }

    /// Sets the filing number covering each domain (in the order of `domains`); the
    /// primary domain's becomes `icp`. Refused unless there is exactly one per domain.
    pub fn with_filings(mut self, filings: Vec<IcpNumber>) -> Result<Self> {
        if filings.len() != self.domains.len() {
            return Err(Error::InvalidIcp(format!(
                "{} filing numbers for {} domains",
                filings.len(),
                self.domains.len()
            )));
        }
        if let Some(bad) = filings.iter().find(|f| f.site().is_none()) {
            return Err(Error::InvalidIcp(format!(
                "{bad} is not a website filing number"
            )));
        }
        self.icp = filings[0].clone();
        self.filings = filings;
        Ok(self)
    }

    /// Each domain with the filing number that covers it.
    pub fn domain_filings(&self) -> impl Iterator<Item = (&Domain, &IcpNumber)> {
        self.domains.iter().zip(&self.filings)
    }

    /// The primary domain.
    pub fn primary(&self) -> &Domain {
        &self.domains[0]
    }

    /// The subject CN: the first domain within X.520's 64 characters, or none (the
    /// SAN carries every domain either way).
    pub fn common_name(&self) -> Option<&Domain> {
        self.domains
            .iter()
            .find(|d| d.as_str().len() <= x520::COMMON_NAME)
    }
}

/// The subject's public key: from a checked CSR, or generated for the operator.
#[derive(Debug, Clone)]
pub struct SubjectPublicKey {
    raw: Vec<u8>,
    alg: &'static rcgen::SignatureAlgorithm,
    spki_der: Vec<u8>,
}

impl rcgen::PublicKeyData for SubjectPublicKey {
    fn der_bytes(&self) -> &[u8] {
        &self.raw
    }
    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        self.alg
    }
}

impl SubjectPublicKey {
    /// Takes the key of a PKCS#10 request after checking that the request parses with
    /// nothing left over, that its self-signature verifies (proof of possession), and
    /// that the key is EC P-256/P-384 or RSA of 2048 to 8192 bits.
    pub fn from_csr_der(der: &[u8]) -> Result<Self> {
        use x509_parser::certification_request::X509CertificationRequest;
        let (rest, csr) = X509CertificationRequest::from_der(der)
            .map_err(|e| Error::InvalidCsr(format!("not a PKCS#10 request: {e}")))?;
        if !rest.is_empty() {
            return Err(Error::InvalidCsr(format!(
                "{} bytes after the request",
                rest.len()
            )));
        }
        // The key first: ring cannot verify with a weak key, and "weak key" is the
        // message the operator needs.
        let spki = &csr.certification_request_info.subject_pki;
        let alg = check_public_key(spki).map_err(Error::InvalidCsr)?;
        check_csr_signature_algorithm(&csr.signature_algorithm.algorithm.to_id_string())
            .map_err(Error::InvalidCsr)?;
        csr.verify_signature()
            .map_err(|_| Error::InvalidCsr("the request's signature does not verify".into()))?;
        Ok(SubjectPublicKey {
            raw: spki.subject_public_key.data.to_vec(),
            alg,
            spki_der: spki.raw.to_vec(),
        })
    }

    /// Takes the key of a PEM `CERTIFICATE REQUEST`.
    pub fn from_csr_pem(pem: &str) -> Result<Self> {
        let (label, der) = der::pem::decode_vec(pem.trim().as_bytes())
            .map_err(|e| Error::InvalidCsr(format!("not PEM: {e}")))?;
        if label != "CERTIFICATE REQUEST" && label != "NEW CERTIFICATE REQUEST" {
            return Err(Error::InvalidCsr(format!(
                "expected CERTIFICATE REQUEST, found {label}"
            )));
        }
        Self::from_csr_der(&der)
    }

    /// Uses a key pair generated here (its private half goes to the operator once).
    pub fn from_key_pair(key: &rcgen::KeyPair) -> Self {
        use rcgen::PublicKeyData;
        SubjectPublicKey {
            raw: key.der_bytes().to_vec(),
            alg: key.algorithm(),
            spki_der: key.subject_public_key_info(),
        }
    }

    /// The SubjectPublicKeyInfo, DER.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }
}

/// The key identifier of a public key by RFC 7093 section 2 method 1: the leftmost
/// 160 bits of SHA-256 over the subjectPublicKey BIT STRING's value (`raw`: the key
/// bytes, without tag, length and unused-bits octet). rcgen's `KeyIdMethod::Sha256`
/// hashes the whole SubjectPublicKeyInfo instead, which no published method names.
pub fn key_id(raw: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, raw).as_ref()[..20].to_vec()
}

/// notAfter of a period of `days` days from `not_before`: RFC 5280 counts notAfter in
/// the period, so it is the period's last second.
pub(crate) fn last_second(not_before: OffsetDateTime, days: i64) -> OffsetDateTime {
    not_before + time::Duration::days(days) - time::Duration::seconds(1)
}

/// SHA-256 of a SubjectPublicKeyInfo: what finds every certificate for one key.
pub(crate) fn spki_sha256(spki_der: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, spki_der)
        .as_ref()
        .to_vec()
}

/// [`spki_sha256`] of a certificate's key.
pub(crate) fn certificate_spki_sha256(der: &[u8]) -> Result<Vec<u8>> {
    let (_, cert) =
        X509Certificate::from_der(der).map_err(|e| Error::CertificateInvalid(e.to_string()))?;
    Ok(spki_sha256(cert.public_key().raw))
}

/// One entry of the ICP filings extension ([`oid::EXT_ICP_FILINGS`]).
#[derive(Debug, der::Sequence)]
struct DomainFiling<'a> {
    domain: der::asn1::Ia5StringRef<'a>,
    filing: Utf8StringRef<'a>,
}

/// The DER content of the ICP filings extension for `id`.
fn domain_filings_der(id: &SiteIdentity) -> Result<Vec<u8>> {
    let entries = id
        .domain_filings()
        .map(|(d, f)| {
            Ok(DomainFiling {
                domain: der::asn1::Ia5StringRef::new(d.as_str())?,
                filing: Utf8StringRef::new(f.as_str())?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(entries.to_der()?)
}

/// Reads the ICP filings extension of a certificate: each dNSName with the filing
/// number that covers it. Empty when the certificate has none (issued before it).
pub fn filings_of(cert_der: &[u8]) -> Vec<(String, String)> {
    let filings_oid = oid::dotted(&oid::EXT_ICP_FILINGS);
    let Ok((_, cert)) = X509Certificate::from_der(cert_der) else {
        return Vec::new();
    };
    cert.extensions()
        .iter()
        .find(|e| e.oid.to_id_string() == filings_oid)
        .and_then(|e| Vec::<DomainFiling<'_>>::from_der(e.value).ok())
        .map(|v| {
            v.iter()
                .map(|e| (e.domain.as_str().to_string(), e.filing.as_str().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// A P-256 key pair made for an operator who sent no CSR: the private half goes to
/// the operator once and is never stored; the request (public) is kept with the
/// application, so approval later signs the operator's key like any other CSR.
pub struct GeneratedKey {
    /// The private key, PKCS#8 PEM.
    pub private_key_pem: zeroize::Zeroizing<String>,
    /// A PKCS#10 request for it, signed by it (CN = `domain`), PEM.
    pub csr_pem: String,
}

impl GeneratedKey {
    /// Generates the key pair and its request.
    pub fn generate(domain: &Domain) -> Result<Self> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::default();
        params.distinguished_name.push(
            DnType::CommonName,
            DnValue::Utf8String(domain.as_str().into()),
        );
        let csr_pem = params.serialize_request(&key)?.pem()?;
        Ok(GeneratedKey {
            private_key_pem: zeroize::Zeroizing::new(key.serialize_pem()),
            csr_pem,
        })
    }
}

/// Accepts a request signed with ECDSA or RSA PKCS#1 v1.5 over SHA-256, SHA-384 or
/// SHA-512. SHA-1 (and MD5) signatures are refused: a collision lets someone else's
/// request pass as proof of possession.
fn check_csr_signature_algorithm(oid: &str) -> std::result::Result<(), String> {
    const ACCEPTED: [&str; 6] = [
        "1.2.840.10045.4.3.2",   // ecdsa-with-SHA256
        "1.2.840.10045.4.3.3",   // ecdsa-with-SHA384
        "1.2.840.10045.4.3.4",   // ecdsa-with-SHA512
        "1.2.840.113549.1.1.11", // sha256WithRSAEncryption
        "1.2.840.113549.1.1.12", // sha384WithRSAEncryption
        "1.2.840.113549.1.1.13", // sha512WithRSAEncryption
    ];
    if ACCEPTED.contains(&oid) {
        return Ok(());
    }
    let name = match oid {
        "1.2.840.10045.4.1" => "ecdsa-with-SHA1",
        "1.2.840.113549.1.1.5" => "sha1WithRSAEncryption",
        "1.2.840.113549.1.1.4" => "md5WithRSAEncryption",
        other => other,
    };
    Err(format!(
        "the request is signed with {name}; sign it with SHA-256 or stronger (ECDSA or RSA PKCS#1 v1.5)"
    ))
}

/// Accepts EC P-256/P-384 and RSA 2048–8192 and says which algorithm identifier to
/// write for it. The algorithm comes from the key itself, never from the CSR's
/// signature algorithm, which could name another curve.
fn check_public_key(
    spki: &x509_parser::x509::SubjectPublicKeyInfo<'_>,
) -> std::result::Result<&'static rcgen::SignatureAlgorithm, String> {
    let key_oid = spki.algorithm.algorithm.to_id_string();
    let parsed = spki
        .parsed()
        .map_err(|e| format!("cannot parse the public key: {e}"))?;
    match (key_oid.as_str(), parsed) {
        ("1.2.840.10045.2.1", PublicKey::EC(_)) => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string())
                .unwrap_or_default();
            match curve.as_str() {
                "1.2.840.10045.3.1.7" => Ok(&rcgen::PKCS_ECDSA_P256_SHA256),
                "1.3.132.0.34" => Ok(&rcgen::PKCS_ECDSA_P384_SHA384),
                other => Err(format!(
                    "EC curve {other} is not accepted; use P-256 or P-384"
                )),
            }
        }
        ("1.2.840.113549.1.1.1", PublicKey::RSA(rsa)) => {
            let bits = rsa.key_size();
            if !(2048..=8192).contains(&bits) {
                Err(format!(
                    "RSA key of {bits} bits; 2048 to 8192 bits are accepted"
                ))
            } else if rsa.exponent != [0x01, 0x00, 0x01] {
                Err("RSA public exponent must be 65537".into())
            } else {
                crate::goodkey::check_rsa_modulus(rsa.modulus)?;
                Ok(&rcgen::PKCS_RSA_SHA256)
            }
        }
        (oid, _) => Err(format!("key algorithm {oid} is not accepted; use EC P-256")),
    }
}

/// The issuing CA as the profile needs it.
#[derive(Debug, Clone)]
pub struct IssuerInfo {
    /// Short stable name used in URLs (`/crl/{slug}/{shard}.crl`, `/ca/{slug}.der`).
    pub slug: String,
    /// The issuing CA certificate, DER.
    pub cert_der: Vec<u8>,
    /// Its subject Name, DER.
    pub subject_der: Vec<u8>,
    /// Its subject key identifier.
    pub ski: Vec<u8>,
    /// Its SubjectPublicKeyInfo, DER.
    pub spki_der: Vec<u8>,
    /// Its notAfter, Unix seconds: nothing it signs may outlive it.
    pub not_after: i64,
}

impl IssuerInfo {
    /// Reads what the profile needs from the issuing CA certificate, checking that it
    /// may sign certificates: rcgen does not check this itself.
    pub fn from_cert_der(cert_der: &[u8]) -> Result<Self> {
        let (_, cert) = X509Certificate::from_der(cert_der)
            .map_err(|e| Error::Config(format!("issuing certificate does not parse: {e}")))?;
        let bc = cert
            .basic_constraints()
            .ok()
            .flatten()
            .map(|e| e.value.ca)
            .unwrap_or(false);
        let ku = cert
            .key_usage()
            .ok()
            .flatten()
            .map(|e| e.value.key_cert_sign() && e.value.crl_sign())
            .unwrap_or(false);
        if !bc || !ku {
            return Err(Error::Config(
                "the issuing certificate is not a CA allowed to sign certificates and CRLs".into(),
            ));
        }
        let ski = cert
            .extensions()
            .iter()
            .find_map(|e| match e.parsed_extension() {
                ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
                _ => None,
            })
            .ok_or_else(|| {
                Error::Config("issuing certificate has no subject key identifier".into())
            })?;
        let spki_der = cert.public_key().raw.to_vec();
        let slug =
            hex::encode(&ring::digest::digest(&ring::digest::SHA256, &spki_der).as_ref()[..8]);
        Ok(IssuerInfo {
            slug,
            cert_der: cert_der.to_vec(),
            subject_der: cert.subject().as_raw().to_vec(),
            ski,
            spki_der,
            not_after: cert.validity().not_after.timestamp(),
        })
    }
}

/// The CRL shard of certificates issued before CRLs were sharded
/// ([`crate::crl`]): their distribution point is the issuer's one CRL,
/// `{public}/crl/{slug}.crl`.
pub const LEGACY_SHARD: i64 = -1;

/// Where certificates point relying parties: CRL, OCSP and issuer certificate URLs.
#[derive(Debug, Clone)]
pub struct Urls {
    /// The CRL distribution point of the certificates issued before CRLs were
    /// sharded (`{public}/crl/{slug}.crl`), [`LEGACY_SHARD`]; a shard's
    /// is [`Urls::crl_shard`].
    pub crl: String,
    /// OCSP responder.
    pub ocsp: String,
    /// Issuer certificate (DER) for AIA caIssuers.
    pub ca_issuers: String,
    /// `{public}/crl/{slug}`, which shard URLs extend.
    crl_base: String,
}

impl Urls {
    /// The URLs under the public base URL for an issuer.
    pub fn new(public_url: &str, slug: &str) -> Self {
        let base = public_url.trim_end_matches('/');
        Urls {
            crl: format!("{base}/crl/{slug}.crl"),
            ocsp: format!("{base}/ocsp"),
            ca_issuers: format!("{base}/ca/{slug}.der"),
            crl_base: format!("{base}/crl/{slug}"),
        }
    }

    /// The CRL distribution point of CRL shard `shard` (`{public}/crl/{slug}/{shard}.crl`;
    /// the legacy shard keeps `{public}/crl/{slug}.crl`): each certificate names its
    /// shard, and the shard's CRL names the same URL as its issuing distribution point.
    pub fn crl_shard(&self, shard: i64) -> String {
        if shard == LEGACY_SHARD {
            self.crl.clone()
        } else {
            format!("{}/{shard}.crl", self.crl_base)
        }
    }
}

/// Everything one certificate must say. Built once per issuance; it makes the rcgen
/// parameters and it lints the parsed certificate.
#[derive(Debug, Clone)]
pub struct Expected<'a> {
    /// The certified identity.
    pub identity: &'a SiteIdentity,
    /// The serial number.
    pub serial: &'a Serial,
    /// notBefore (whole seconds).
    pub not_before: OffsetDateTime,
    /// The issuing CA.
    pub issuer: &'a IssuerInfo,
    /// Relying-party URLs.
    pub urls: &'a Urls,
    /// The CRL shard the certificate is listed in when revoked (its distribution
    /// point names it).
    pub crl_shard: i64,
    /// The subject key.
    pub subject_key: &'a SubjectPublicKey,
}

impl Expected<'_> {
    /// notAfter: the last second of [`VALIDITY_DAYS`] days from notBefore (RFC 5280
    /// counts notAfter in the period, so notBefore + 365 days would be one second more).
    pub fn not_after(&self) -> OffsetDateTime {
        last_second(self.not_before, VALIDITY_DAYS)
    }

    fn subject(&self) -> Vec<(&'static str, String)> {
        let id = self.identity;
        let mut subject = vec![
            (std_oids::COUNTRY, "CN".to_string()),
            (std_oids::STATE, id.province.clone()),
            (std_oids::LOCALITY, id.city.clone()),
            (std_oids::ORGANIZATION, id.organization.clone()),
            (std_oids::SERIAL_NUMBER, id.uscc.as_str().to_string()),
        ];
        if let Some(cn) = id.common_name() {
            subject.push((std_oids::COMMON_NAME, cn.as_str().to_string()));
        }
        subject
    }

    fn extension_set() -> [(&'static str, bool); 11] {
        static ICP: std::sync::LazyLock<String> =
            std::sync::LazyLock::new(|| oid::dotted(&oid::EXT_ICP_NUMBER));
        static FILINGS: std::sync::LazyLock<String> =
            std::sync::LazyLock::new(|| oid::dotted(&oid::EXT_ICP_FILINGS));
        let icp: &'static str = ICP.as_str();
        let filings: &'static str = FILINGS.as_str();
        [
            (std_oids::AUTHORITY_KEY_ID, false),
            (std_oids::SUBJECT_ALT_NAME, false),
            (std_oids::KEY_USAGE, true),
            (std_oids::EXT_KEY_USAGE, false),
            (std_oids::CRL_DISTRIBUTION_POINTS, false),
            (std_oids::SUBJECT_KEY_ID, false),
            (std_oids::BASIC_CONSTRAINTS, true),
            (std_oids::CERTIFICATE_POLICIES, false),
            (std_oids::AUTHORITY_INFO_ACCESS, false),
            (icp, false),
            (filings, false),
        ]
    }

    /// The rcgen parameters for this certificate.
    pub fn params(&self) -> Result<CertificateParams> {
        let id = self.identity;
        let mut dn = DistinguishedName::new();
        dn.push(
            DnType::CountryName,
            DnValue::PrintableString("CN".try_into()?),
        );
        dn.push(
            DnType::StateOrProvinceName,
            DnValue::Utf8String(id.province.clone()),
        );
        dn.push(DnType::LocalityName, DnValue::Utf8String(id.city.clone()));
        dn.push(
            DnType::OrganizationName,
            DnValue::Utf8String(id.organization.clone()),
        );
        dn.push(
            DnType::CustomDnType(vec![2, 5, 4, 5]),
            DnValue::PrintableString(id.uscc.as_str().try_into()?),
        );
        if let Some(cn) = id.common_name() {
            dn.push(
                DnType::CommonName,
                DnValue::Utf8String(cn.as_str().to_string()),
            );
        }

        let mut params = CertificateParams::default();
        params.not_before = self.not_before;
        params.not_after = self.not_after();
        params.serial_number = Some(SerialNumber::from_slice(self.serial.as_bytes()));
        params.distinguished_name = dn;
        params.subject_alt_names = id
            .domains
            .iter()
            .map(|d| Ok(SanType::DnsName(d.as_str().try_into()?)))
            .collect::<Result<_>>()?;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::Other(
            oid::EKU_SITE_IDENTITY.to_vec(),
        )];
        params.crl_distribution_points = vec![CrlDistributionPoint {
            uris: vec![self.urls.crl_shard(self.crl_shard)],
        }];
        params.use_authority_key_identifier_extension = true;
        params.key_identifier_method = KeyIdMethod::PreSpecified(key_id(&self.subject_key.raw));

        let policies = CertificatePolicies(vec![PolicyInformation {
            policy_identifier: oid::der_oid(&oid::POLICY_SITE_IDENTITY),
            policy_qualifiers: None,
        }]);
        let uri = |s: &str| -> Result<DerGeneralName> {
            Ok(DerGeneralName::UniformResourceIdentifier(Ia5String::new(
                s,
            )?))
        };
        let aia = AuthorityInfoAccessSyntax(vec![
            AccessDescription {
                access_method: der::oid::ObjectIdentifier::new_unwrap(std_oids::AD_OCSP),
                access_location: uri(&self.urls.ocsp)?,
            },
            AccessDescription {
                access_method: der::oid::ObjectIdentifier::new_unwrap(std_oids::AD_CA_ISSUERS),
                access_location: uri(&self.urls.ca_issuers)?,
            },
        ]);
        params.custom_extensions = vec![
            CustomExtension::from_oid_content(&[2, 5, 29, 32], policies.to_der()?),
            CustomExtension::from_oid_content(&[1, 3, 6, 1, 5, 5, 7, 1, 1], aia.to_der()?),
            CustomExtension::from_oid_content(
                &oid::EXT_ICP_NUMBER,
                Utf8StringRef::new(id.icp.as_str())?.to_der()?,
            ),
            CustomExtension::from_oid_content(&oid::EXT_ICP_FILINGS, domain_filings_der(id)?),
        ];
        Ok(params)
    }

    /// Checks a certificate signed from [`Expected::params`] against the profile. Used on
    /// the lint copy (throwaway key, mirror issuer) before the real key signs anything.
    pub fn lint(&self, der: &[u8]) -> Result<()> {
        let lint = |msg: String| Error::Lint(msg);
        let (rest, cert) =
            X509Certificate::from_der(der).map_err(|e| lint(format!("does not parse: {e}")))?;
        if !rest.is_empty() {
            return Err(lint("trailing bytes after the certificate".into()));
        }
        let tbs = &cert.tbs_certificate;
        if tbs.version.0 != 2 {
            return Err(lint("not an X.509 v3 certificate".into()));
        }
        if tbs.raw_serial() != self.serial.as_bytes() {
            return Err(lint(format!(
                "serial is {} instead of {}",
                hex::encode(tbs.raw_serial()),
                self.serial
            )));
        }
        let s = self.serial.as_bytes();
        if s.len() != 18 || !(0x01..=0x7f).contains(&s[0]) {
            return Err(lint(
                "serial must be an instance byte 0x01-0x7f and 136 random bits".into(),
            ));
        }
        if tbs.issuer.as_raw() != self.issuer.subject_der.as_slice() {
            return Err(lint(
                "issuer name differs from the issuing CA's subject".into(),
            ));
        }
        let nb = tbs.validity.not_before.timestamp();
        let na = tbs.validity.not_after.timestamp();
        if na > self.issuer.not_after {
            return Err(lint("the certificate would outlive its issuing CA".into()));
        }
        if nb != self.not_before.unix_timestamp() || na - nb + 1 != VALIDITY_DAYS * 86_400 {
            return Err(lint(format!(
                "validity must be {VALIDITY_DAYS} days from issuance, notAfter included; is {} s",
                na - nb + 1
            )));
        }
        if tbs.subject_pki.raw != self.subject_key.spki_der() {
            return Err(lint(
                "subject public key differs from the requested key".into(),
            ));
        }

        let mut subject = Vec::new();
        for rdn in tbs.subject.iter() {
            let atvs: Vec<_> = rdn.iter().collect();
            let [atv] = atvs.as_slice() else {
                return Err(lint("multi-valued RDN in subject".into()));
            };
            let value = atv.as_str().map_err(|_| {
                lint(format!(
                    "subject attribute {} is not a string",
                    atv.attr_type()
                ))
            })?;
            let oid_str = atv.attr_type().to_id_string();
            let bound = match oid_str.as_str() {
                std_oids::COUNTRY => 2,
                std_oids::STATE => x520::STATE_OR_PROVINCE_NAME,
                std_oids::LOCALITY => x520::LOCALITY_NAME,
                std_oids::ORGANIZATION => x520::ORGANIZATION_NAME,
                std_oids::SERIAL_NUMBER => x520::SERIAL_NUMBER,
                std_oids::COMMON_NAME => x520::COMMON_NAME,
                other => return Err(lint(format!("unexpected subject attribute {other}"))),
            };
            if value.chars().count() > bound {
                return Err(lint(format!(
                    "subject attribute {oid_str} is longer than its X.520 bound of {bound}"
                )));
            }
            if let Some(c) = hidden_character(value) {
                return Err(lint(format!(
                    "subject attribute {oid_str} holds U+{:04X}",
                    u32::from(c)
                )));
            }
            subject.push((oid_str, value.to_string()));
        }
        let want: Vec<(String, String)> = self
            .subject()
            .into_iter()
            .map(|(o, v)| (o.to_string(), v))
            .collect();
        if subject != want {
            return Err(lint(format!("subject is {subject:?}, expected {want:?}")));
        }

        let expected_exts = Self::extension_set();
        let exts = cert.extensions();
        if exts.len() != expected_exts.len() {
            return Err(lint(format!(
                "{} extensions, the profile has {}",
                exts.len(),
                expected_exts.len()
            )));
        }
        for (oid_str, critical) in expected_exts {
            let matching: Vec<_> = exts
                .iter()
                .filter(|e| e.oid.to_id_string() == oid_str)
                .collect();
            if matching.len() != 1 {
                return Err(lint(format!(
                    "extension {oid_str} appears {} times",
                    matching.len()
                )));
            }
            if matching[0].critical != critical {
                return Err(lint(format!(
                    "extension {oid_str} criticality must be {critical}"
                )));
            }
        }
        for ext in exts {
            canonical_extension(&ext.oid.to_id_string(), ext.value).map_err(lint)?;
            self.lint_extension(ext)?;
        }
        // The whole certificate too: x509-parser reads BER leniently, and a strict
        // verifier refuses what DER forbids (an explicit DEFAULT, a long length).
        let reencoded = x509_cert::Certificate::from_der(der)
            .and_then(|c| c.to_der())
            .map_err(|e| lint(format!("does not decode as DER: {e}")))?;
        if reencoded != der {
            return Err(lint("the certificate is not in canonical DER".into()));
        }
        Ok(())
    }

    fn lint_extension(&self, ext: &x509_parser::extensions::X509Extension<'_>) -> Result<()> {
        let lint = |msg: String| Error::Lint(msg);
        let icp_oid = oid::dotted(&oid::EXT_ICP_NUMBER);
        let filings_oid = oid::dotted(&oid::EXT_ICP_FILINGS);
        match ext.parsed_extension() {
            ParsedExtension::BasicConstraints(bc) => {
                if bc.ca || bc.path_len_constraint.is_some() {
                    return Err(lint("basicConstraints must say CA:FALSE".into()));
                }
            }
            ParsedExtension::KeyUsage(ku) => {
                if ku.flags.count_ones() != 1 || !ku.digital_signature() {
                    return Err(lint("keyUsage must be digitalSignature only".into()));
                }
            }
            ParsedExtension::ExtendedKeyUsage(eku) => {
                let ours = oid::dotted(&oid::EKU_SITE_IDENTITY);
                let only_ours = !eku.any
                    && !eku.server_auth
                    && !eku.client_auth
                    && !eku.code_signing
                    && !eku.email_protection
                    && !eku.time_stamping
                    && !eku.ocsp_signing
                    && eku.other.len() == 1
                    && eku.other[0].to_id_string() == ours;
                if !only_ours {
                    return Err(lint(format!("extendedKeyUsage must be exactly {ours}")));
                }
            }
            ParsedExtension::CertificatePolicies(p) => {
                let ours = oid::dotted(&oid::POLICY_SITE_IDENTITY);
                if p.len() != 1
                    || p[0].policy_id.to_id_string() != ours
                    || p[0].policy_qualifiers.is_some()
                {
                    return Err(lint(format!("certificatePolicies must be exactly {ours}")));
                }
            }
            ParsedExtension::SubjectAlternativeName(san) => {
                let names: Vec<&str> = san
                    .general_names
                    .iter()
                    .map(|g| match g {
                        GeneralName::DNSName(n) => Ok(*n),
                        other => Err(lint(format!("SAN holds a non-DNS name {other:?}"))),
                    })
                    .collect::<Result<_>>()?;
                let want: Vec<&str> = self.identity.domains.iter().map(Domain::as_str).collect();
                if names != want {
                    return Err(lint(format!("SAN is {names:?}, expected {want:?}")));
                }
                // Whatever built the identity: no public suffix, reserved or
                // mixed-script name is signed.
                for name in names {
                    Domain::parse_certifiable(name)
                        .map_err(|e| lint(format!("SAN {name:?}: {e}")))?;
                }
            }
            ParsedExtension::AuthorityKeyIdentifier(aki) => {
                let ok = aki.key_identifier.as_ref().map(|k| k.0)
                    == Some(self.issuer.ski.as_slice())
                    && aki.authority_cert_issuer.is_none()
                    && aki.authority_cert_serial.is_none();
                if !ok {
                    return Err(lint(
                        "authorityKeyIdentifier must be the issuer's key id only".into(),
                    ));
                }
            }
            ParsedExtension::SubjectKeyIdentifier(ski) => {
                if ski.0 != key_id(&self.subject_key.raw).as_slice() {
                    return Err(lint(
                        "subjectKeyIdentifier must be RFC 7093 method 1 of the subject key".into(),
                    ));
                }
            }
            ParsedExtension::CRLDistributionPoints(dps) => {
                let crl = self.urls.crl_shard(self.crl_shard);
                let ok = dps.points.len() == 1
                    && dps.points[0].reasons.is_none()
                    && dps.points[0].crl_issuer.is_none()
                    && matches!(&dps.points[0].distribution_point,
                        Some(DistributionPointName::FullName(names))
                            if names.len() == 1 && names[0] == GeneralName::URI(&crl));
                if !ok {
                    return Err(lint(format!(
                        "CRL distribution point must be exactly {crl}"
                    )));
                }
            }
            ParsedExtension::AuthorityInfoAccess(aia) => {
                let got: Vec<(String, &GeneralName<'_>)> = aia
                    .accessdescs
                    .iter()
                    .map(|a| (a.access_method.to_id_string(), &a.access_location))
                    .collect();
                let ok = got.len() == 2
                    && got[0].0 == std_oids::AD_OCSP
                    && *got[0].1 == GeneralName::URI(&self.urls.ocsp)
                    && got[1].0 == std_oids::AD_CA_ISSUERS
                    && *got[1].1 == GeneralName::URI(&self.urls.ca_issuers);
                if !ok {
                    return Err(lint(
                        "authorityInformationAccess must give our OCSP and issuer URLs".into(),
                    ));
                }
            }
            _ if ext.oid.to_id_string() == filings_oid => {
                let got = Vec::<DomainFiling<'_>>::from_der(ext.value)
                    .map_err(|e| lint(format!("ICP filings extension does not parse: {e}")))?;
                let want: Vec<(&str, &str)> = self
                    .identity
                    .domain_filings()
                    .map(|(d, f)| (d.as_str(), f.as_str()))
                    .collect();
                let got: Vec<(&str, &str)> = got
                    .iter()
                    .map(|e| (e.domain.as_str(), e.filing.as_str()))
                    .collect();
                if got != want {
                    return Err(lint(format!(
                        "ICP filings extension says {got:?}, expected {want:?}"
                    )));
                }
            }
            _ if ext.oid.to_id_string() == icp_oid => {
                let value = der::asn1::Utf8StringRef::from_der(ext.value)
                    .map_err(|_| lint("ICP extension is not a UTF8String".into()))?;
                if value.as_str() != self.identity.icp.as_str() {
                    return Err(lint(format!(
                        "ICP extension says {:?}, expected {:?}",
                        value.as_str(),
                        self.identity.icp.as_str()
                    )));
                }
            }
            ParsedExtension::ParseError { error } => {
                return Err(lint(format!(
                    "extension {} does not parse: {error}",
                    ext.oid
                )));
            }
            _ => return Err(lint(format!("unexpected extension {}", ext.oid))),
        }
        Ok(())
    }
}

/// Checks that an extension's value is the DER encoding of what it says: decoded with
/// the `x509-cert` types and encoded again, the bytes must not change. x509-parser
/// accepts what DER forbids, such as an explicit DEFAULT (rcgen 0.14.7 wrote
/// `cA FALSE` into every end-entity BasicConstraints, X.690 §11.5), which pkilint
/// calls FATAL and strict verifiers refuse. An extension without a row here fails:
/// a new extension needs its canonical check before it can be signed.
fn canonical_extension(oid_str: &str, value: &[u8]) -> std::result::Result<(), String> {
    use x509_cert::ext::pkix;
    fn again<'a, T: der::Decode<'a> + Encode>(value: &'a [u8]) -> der::Result<Vec<u8>> {
        T::from_der(value)?.to_der()
    }
    let reencoded = match oid_str {
        std_oids::AUTHORITY_KEY_ID => again::<pkix::AuthorityKeyIdentifier>(value),
        std_oids::SUBJECT_KEY_ID => again::<pkix::SubjectKeyIdentifier>(value),
        std_oids::KEY_USAGE => again::<pkix::KeyUsage>(value),
        std_oids::SUBJECT_ALT_NAME => again::<pkix::SubjectAltName>(value),
        std_oids::BASIC_CONSTRAINTS => again::<pkix::BasicConstraints>(value),
        std_oids::CRL_DISTRIBUTION_POINTS => again::<pkix::CrlDistributionPoints>(value),
        std_oids::CERTIFICATE_POLICIES => again::<CertificatePolicies>(value),
        std_oids::EXT_KEY_USAGE => again::<pkix::ExtendedKeyUsage>(value),
        std_oids::AUTHORITY_INFO_ACCESS => again::<AuthorityInfoAccessSyntax>(value),
        other if other == oid::dotted(&oid::EXT_ICP_NUMBER) => again::<Utf8StringRef<'_>>(value),
        other if other == oid::dotted(&oid::EXT_ICP_FILINGS) => {
            again::<Vec<DomainFiling<'_>>>(value)
        }
        other => return Err(format!("extension {other} has no canonical-encoding check")),
    };
    match reencoded {
        Ok(canonical) if canonical == value => Ok(()),
        Ok(canonical) => Err(format!(
            "extension {oid_str} is not in canonical DER: {} instead of {}",
            hex::encode(value),
            hex::encode(canonical)
        )),
        Err(e) => Err(format!("extension {oid_str} does not decode as DER: {e}")),
    }
}

use der::Decode as _;

#[cfg(test)]
mod tests {
    use super::canonical_extension;

    #[test]
    fn an_explicit_ca_false_is_not_canonical_der() {
        // BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, ... }
        let explicit_false = [0x30, 0x03, 0x01, 0x01, 0x00];
        let err = canonical_extension("2.5.29.19", &explicit_false).unwrap_err();
        assert!(err.contains("not in canonical DER"), "{err}");
        canonical_extension("2.5.29.19", &[0x30, 0x00]).unwrap();
        canonical_extension("2.5.29.19", &[0x30, 0x03, 0x01, 0x01, 0xff]).unwrap();
        // A BOOLEAN TRUE other than 0xFF and a long-form length are not DER either.
        assert!(canonical_extension("2.5.29.19", &[0x30, 0x03, 0x01, 0x01, 0x01]).is_err());
        assert!(canonical_extension("2.5.29.19", &[0x30, 0x81, 0x00]).is_err());
        assert!(canonical_extension("1.2.3.4", &[0x05, 0x00]).is_err());
    }
}
