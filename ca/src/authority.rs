//! The CA hierarchy on disk and the online issuing CA in memory.

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType, IsCa,
    KeyIdMethod, KeyUsagePurpose, SerialNumber,
};
use ring::digest::{SHA1_FOR_LEGACY_USE_ONLY, digest};
use ring::rand::SystemRandom;
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate};
use zeroize::Zeroizing;

use crate::db::Database;
use crate::oid;
use crate::profile::{IssuerInfo, Urls, certificate_spki_sha256, last_second};
use crate::serial::Serial;
use crate::signer::{FileSigner, KeyAlgorithm, RcgenSigner, Signer, write_encrypted_key};
use crate::{Error, Result, store};

/// Root CA lifetime: 20 years.
const ROOT_DAYS: i64 = 20 * 365 + 5;
/// Issuing CA lifetime: 5 years.
const ISSUING_DAYS: i64 = 5 * 365 + 1;
pub use crate::passphrase::{KeyPassphrases, MIN_PASSPHRASE_LEN};

/// File names inside the CA directory.
pub mod files {
    /// Root certificate, PEM.
    pub const ROOT_CERT: &str = "root.pem";
    /// Root private key, encrypted PKCS#8 PEM. Move it offline after `ca init`.
    pub const ROOT_KEY: &str = "root.key.pem";
    /// Issuing CA certificate, PEM.
    pub const ISSUING_CERT: &str = "issuing.pem";
    /// Issuing CA private key, encrypted PKCS#8 PEM.
    pub const ISSUING_KEY: &str = "issuing.key.pem";
    /// Issuing then root certificate, PEM.
    pub const CHAIN: &str = "chain.pem";
    /// Issuing CAs replaced by `ca rotate-issuing`: `{slug}.pem` and `{slug}.key.pem`,
    /// kept for the CRLs and OCSP answers of their certificates until the last expires.
    pub const RETIRED: &str = "retired";
}

/// What `ca init` created.
#[derive(Debug, Clone)]
pub struct InitReport {
    /// The directory.
    pub dir: PathBuf,
    /// Root certificate, PEM.
    pub root_pem: String,
    /// Issuing certificate, PEM.
    pub issuing_pem: String,
    /// The root key's identifier (its subject key identifier, RFC 7093 method 1), hex.
    pub root_key_id: String,
    /// The issuing key's identifier, hex.
    pub issuing_key_id: String,
}

impl InitReport {
    /// Removes the files `ca init` wrote, when what had to follow them (the audit
    /// entries, the first CRL) failed: a CA nobody recorded must not block a new
    /// `ca init`. A key generated in a token stays there.
    pub fn undo(&self) {
        for f in CA_FILES {
            let _ = fs::remove_file(self.dir.join(f));
        }
    }
}

/// Every file `ca init` writes.
const CA_FILES: [&str; 5] = [
    files::ROOT_CERT,
    files::ROOT_KEY,
    files::ISSUING_CERT,
    files::ISSUING_KEY,
    files::CHAIN,
];

/// Refuses a directory that already holds any CA file: checked before anything is
/// created, here and in the token.
pub fn refuse_existing(dir: &Path) -> Result<()> {
    if CA_FILES.iter().any(|f| dir.join(f).exists()) {
        return Err(Error::AlreadyInitialized(dir.to_path_buf()));
    }
    Ok(())
}

/// Creates the CA directory owner-only, or tightens an existing one to 0700: it holds
/// the encrypted keys, and a directory others can write lets them swap a certificate
/// or plant a key file.
fn owner_only_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::io(dir, e))?;
    let mode = fs::metadata(dir)
        .map_err(|e| Error::io(dir, e))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        tracing::warn!(
            dir = %dir.display(),
            mode = format!("{:o}", mode & 0o777),
            "the CA directory was open to other users; now 0700"
        );
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(|e| Error::io(dir, e))?;
    }
    Ok(())
}

fn ca_name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(
        DnType::CountryName,
        rcgen::DnValue::PrintableString("CN".try_into().expect("ascii")),
    );
    dn.push(
        DnType::OrganizationName,
        "Chengxin Internet Integrity Alliance",
    );
    dn.push(DnType::CommonName, common_name);
    dn
}

fn now_seconds() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(0).unwrap_or(now)
}

/// The parameters of an issuing CA certificate (P-256, pathLen 0, the site identity
/// policy) named `common_name` for `key`, valid [`ISSUING_DAYS`] from `now`: what
/// `ca init` and `ca rotate-issuing` have the root sign.
fn issuing_params(
    common_name: &str,
    key: &dyn Signer,
    now: OffsetDateTime,
    rng: &SystemRandom,
) -> Result<CertificateParams> {
    let mut issuing = CertificateParams::default();
    issuing.distinguished_name = ca_name(common_name);
    issuing.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    issuing.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
    ];
    issuing.not_before = now;
    issuing.not_after = last_second(now, ISSUING_DAYS);
    issuing.serial_number = Some(SerialNumber::from_slice(
        Serial::generate(0x01, rng)?.as_bytes(),
    ));
    issuing.use_authority_key_identifier_extension = true;
    issuing.key_identifier_method =
        KeyIdMethod::PreSpecified(crate::profile::key_id(key.public_key()));
    let policies = x509_cert::ext::pkix::CertificatePolicies(vec![
        x509_cert::ext::pkix::certpolicy::PolicyInformation {
            policy_identifier: oid::der_oid(&oid::POLICY_SITE_IDENTITY),
            policy_qualifiers: None,
        },
    ]);
    issuing.custom_extensions = vec![CustomExtension::from_oid_content(
        &[2, 5, 29, 32],
        der::Encode::to_der(&policies)?,
    )];
    Ok(issuing)
}

/// Creates the root CA (P-384, 20 years) and the issuing CA (P-256, 5 years, pathLen
/// 0) in `dir`, each key encrypted with its own passphrase ([`KeyPassphrases`], checked
/// first). Refuses to touch a directory that already holds any CA file, and leaves the
/// directory 0700 however it found it. With `hsm_issuing_key`, the issuing key is that
/// token key and no issuing key file is written.
pub fn init(
    dir: &Path,
    passphrases: &KeyPassphrases<'_>,
    hsm_issuing_key: Option<&dyn Signer>,
) -> Result<InitReport> {
    passphrases.check()?;
    let issuing_passphrase = match (passphrases.issuing, hsm_issuing_key) {
        (Some(p), _) => Some(p),
        (None, Some(_)) => None,
        (None, None) => return Err(Error::MissingPassphrase),
    };
    refuse_existing(dir)?;
    owner_only_dir(dir)?;
    let rng = SystemRandom::new();
    let now = now_seconds();

    let (root_key, root_pkcs8) = FileSigner::generate(KeyAlgorithm::EcdsaP384)?;
    let mut root = CertificateParams::default();
    root.distinguished_name = ca_name("Chengxin Root CA R1");
    root.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    root.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    root.not_before = now;
    root.not_after = last_second(now, ROOT_DAYS);
    root.serial_number = Some(SerialNumber::from_slice(
        Serial::generate(0x01, &rng)?.as_bytes(),
    ));
    root.key_identifier_method =
        KeyIdMethod::PreSpecified(crate::profile::key_id(root_key.public_key()));
    let root_cert = root.self_signed(&RcgenSigner(&root_key))?;

    let generated;
    let (issuing_key, issuing_pkcs8): (&dyn Signer, Option<Zeroizing<Vec<u8>>>) =
        match hsm_issuing_key {
            Some(k) if k.algorithm() == KeyAlgorithm::EcdsaP256 => (k, None),
            Some(_) => {
                return Err(Error::Config(
                    "the issuing key in the token must be P-256".into(),
                ));
            }
            None => {
                let (signer, pkcs8) = FileSigner::generate(KeyAlgorithm::EcdsaP256)?;
                generated = signer;
                (&generated, Some(pkcs8))
            }
        };
    let issuing = issuing_params("Chengxin Site Identity CA 1", issuing_key, now, &rng)?;
    let root_issuer = rcgen::Issuer::new(root.clone(), RcgenSigner(&root_key));
    let issuing_cert = issuing.signed_by(&RcgenSigner(issuing_key), &root_issuer)?;

    write_encrypted_key(&dir.join(files::ROOT_KEY), &root_pkcs8, passphrases.root)?;
    if let (Some(pkcs8), Some(passphrase)) = (issuing_pkcs8, issuing_passphrase) {
        write_encrypted_key(&dir.join(files::ISSUING_KEY), &pkcs8, passphrase)?;
    }
    let root_pem = root_cert.pem();
    let issuing_pem = issuing_cert.pem();
    for (name, contents) in [
        (files::ROOT_CERT, root_pem.clone()),
        (files::ISSUING_CERT, issuing_pem.clone()),
        (files::CHAIN, format!("{issuing_pem}{root_pem}")),
    ] {
        let path = dir.join(name);
        fs::write(&path, contents).map_err(|e| Error::io(&path, e))?;
    }
    Ok(InitReport {
        dir: dir.to_path_buf(),
        root_pem,
        issuing_pem,
        root_key_id: hex::encode(crate::profile::key_id(root_key.public_key())),
        issuing_key_id: hex::encode(crate::profile::key_id(issuing_key.public_key())),
    })
}

/// What `ca rotate-issuing` did.
#[derive(Debug, Clone)]
pub struct RotateReport {
    /// The slug of the issuing CA now retired.
    pub retired_slug: String,
    /// The new issuing certificate, PEM.
    pub issuing_pem: String,
    /// The new issuing CA's notAfter, Unix seconds.
    pub not_after: i64,
}

/// Brings in a new issuing CA: a new P-256 key (encrypted with `issuing_passphrase`)
/// and a certificate signed by the root, whose key `root_key` was brought online
/// (decrypted with `root_passphrase`). The old issuing certificate and key move to
/// [`files::RETIRED`], from where [`Ca::open`] keeps them for CRLs and OCSP until
/// their last certificate expires; new certificates come from the new one. The new
/// issuing CA never outlives the root. Key files only: an issuing key in a PKCS#11
/// token is refused.
pub fn rotate_issuing(
    dir: &Path,
    root_key: &Path,
    root_passphrase: &[u8],
    issuing_passphrase: &[u8],
) -> Result<RotateReport> {
    let issuing_key_path = dir.join(files::ISSUING_KEY);
    if !dir.join(files::ISSUING_CERT).exists() {
        return Err(Error::NotInitialized(dir.to_path_buf()));
    }
    if !issuing_key_path.exists() {
        return Err(Error::Config(format!(
            "no {} in {}: rotate-issuing replaces issuing key files, not keys in a token",
            files::ISSUING_KEY,
            dir.display()
        )));
    }
    let root_der = read_pem_cert(&dir.join(files::ROOT_CERT))?;
    let root_signer =
        FileSigner::load_encrypted(root_key, KeyAlgorithm::EcdsaP384, root_passphrase)?;
    let (_, root) = X509Certificate::from_der(&root_der)
        .map_err(|e| Error::Config(format!("root certificate: {e}")))?;
    if root.public_key().subject_public_key.data.as_ref() != root_signer.public_key() {
        return Err(Error::Config(format!(
            "{} is not the key of {}",
            root_key.display(),
            files::ROOT_CERT
        )));
    }
    let old = IssuerInfo::from_cert_der(&read_pem_cert(&dir.join(files::ISSUING_CERT))?)?;
    let retired = dir.join(files::RETIRED);
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&retired)
        .map_err(|e| Error::io(&retired, e))?;
    let generation = 2 + retired_certificates(&retired)?.len();

    let rng = SystemRandom::new();
    let now = now_seconds();
    let (key, pkcs8) = FileSigner::generate(KeyAlgorithm::EcdsaP256)?;
    let mut params = issuing_params(
        &format!("Chengxin Site Identity CA {generation}"),
        &key,
        now,
        &rng,
    )?;
    let root_not_after = OffsetDateTime::from_unix_timestamp(root.validity().not_after.timestamp())
        .map_err(|e| Error::Config(format!("root certificate: {e}")))?;
    params.not_after = params.not_after.min(root_not_after);
    let root_issuer =
        rcgen::Issuer::from_ca_cert_der(&root_der.clone().into(), RcgenSigner(&root_signer))?;
    let cert = params.signed_by(&RcgenSigner(&key), &root_issuer)?;

    // The old pair is linked into retired/ first (a link never replaces a file), so
    // that it survives whatever happens next; then the new pair takes its names.
    for (from, to) in [
        (files::ISSUING_CERT, format!("{}.pem", old.slug)),
        (files::ISSUING_KEY, format!("{}.key.pem", old.slug)),
    ] {
        let to = retired.join(to);
        fs::hard_link(dir.join(from), &to).map_err(|e| Error::io(&to, e))?;
    }
    let next_key = dir.join(".issuing-next.key.pem");
    write_encrypted_key(&next_key, &pkcs8, issuing_passphrase)?;
    fs::rename(&next_key, &issuing_key_path).map_err(|e| Error::io(&issuing_key_path, e))?;
    let issuing_pem = cert.pem();
    let root_pem = fs::read_to_string(dir.join(files::ROOT_CERT))
        .map_err(|e| Error::io(dir.join(files::ROOT_CERT), e))?;
    for (name, contents) in [
        (files::ISSUING_CERT, issuing_pem.clone()),
        (files::CHAIN, format!("{issuing_pem}{root_pem}")),
    ] {
        crate::signer::write_file_atomically(&dir.join(name), contents.as_bytes(), 0o644, true)?;
    }
    Ok(RotateReport {
        retired_slug: old.slug,
        issuing_pem,
        not_after: params.not_after.unix_timestamp(),
    })
}

/// The retired issuing certificates in `retired` (`{slug}.pem`), in name order.
fn retired_certificates(retired: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(retired).map_err(|e| Error::io(retired, e))? {
        let path = entry.map_err(|e| Error::io(retired, e))?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.ends_with(".pem") && !name.ends_with(".key.pem") {
            found.push(path);
        }
    }
    found.sort();
    Ok(found)
}

/// How to open the online CA.
#[derive(Debug, Clone)]
pub struct CaConfig {
    /// The CA directory (`CHENGXIN_CA_DIR`).
    pub dir: PathBuf,
    /// Base URL that CRL, OCSP and AIA URLs hang from (`CHENGXIN_PUBLIC_URL`).
    pub public_url: String,
    /// Serial prefix of this CA instance (0x01–0x7f).
    pub instance: u8,
}

/// The online issuing CA: its certificate, its signer, the database, and a throwaway
/// lint key that signs a mirror of every certificate before the real key does.
pub struct Ca {
    pub(crate) db: Database,
    pub(crate) issuer: IssuerInfo,
    pub(crate) issuer_id: i64,
    pub(crate) signer: Arc<dyn Signer>,
    /// The same key for the OCSP refresh: with an HSM, a session of its own, so
    /// that a long refresh never queues issuance and revocation behind it.
    pub(crate) refresh_signer: Arc<dyn Signer>,
    pub(crate) urls: Urls,
    pub(crate) lint_key: rcgen::KeyPair,
    pub(crate) rng: SystemRandom,
    pub(crate) instance: u8,
    pub(crate) issuer_name_hash: Vec<u8>,
    pub(crate) issuer_key_hash: Vec<u8>,
    pub(crate) issuer_name_hash256: Vec<u8>,
    pub(crate) issuer_key_hash256: Vec<u8>,
    pub(crate) queue: crate::issue_queue::IssueQueue,
    /// The public keys (EC points) of the root and the issuing CA, which no
    /// subscriber certificate may carry.
    pub(crate) own_keys: Vec<Vec<u8>>,
    /// The lease on `instance` in the database, once claimed ([`crate::instance`]).
    pub(crate) serial_lease: crate::instance::SerialLease,
    /// Issuance sequence numbers reserved for CRL shards (`crl.rs`).
    pub(crate) crl_seq: tokio::sync::Mutex<crate::issue_queue::ShardSequence>,
    /// Issuing CAs replaced by `ca rotate-issuing` that still have unexpired
    /// certificates: they sign those certificates' CRLs and OCSP answers, and
    /// nothing else.
    pub(crate) retired: Vec<Ca>,
    root_der: Vec<u8>,
    chain_pem: String,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca")
            .field("issuer", &self.issuer.slug)
            .field("signer", &self.signer)
            .finish_non_exhaustive()
    }
}

fn read_pem_cert(path: &Path) -> Result<Vec<u8>> {
    let text = fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let (label, der) = der::pem::decode_vec(text.trim().as_bytes())
        .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
    if label != "CERTIFICATE" {
        return Err(Error::Config(format!(
            "{}: not a CERTIFICATE",
            path.display()
        )));
    }
    Ok(der)
}

impl Ca {
    /// Opens the CA in `config.dir` with the issuing key decrypted by `passphrase`.
    pub async fn open(config: &CaConfig, passphrase: Option<&[u8]>, db: Database) -> Result<Self> {
        let key_path = config.dir.join(files::ISSUING_KEY);
        if !config.dir.join(files::ISSUING_CERT).exists() || !key_path.exists() {
            return Err(Error::NotInitialized(config.dir.clone()));
        }
        let passphrase = passphrase.ok_or(Error::MissingPassphrase)?;
        let signer = FileSigner::load_encrypted(&key_path, KeyAlgorithm::EcdsaP256, passphrase)?;
        let mut ca = Self::open_with_signer(config, Arc::new(signer), db).await?;
        ca.open_retired(config, passphrase).await?;
        Ok(ca)
    }

    /// Opens the retired issuing CAs (key files in [`files::RETIRED`], decrypted with
    /// `passphrase`) that still have unexpired certificates. Their keys join the
    /// keys no subscriber may carry.
    async fn open_retired(&mut self, config: &CaConfig, passphrase: &[u8]) -> Result<()> {
        let dir = config.dir.join(files::RETIRED);
        if !dir.exists() {
            return Ok(());
        }
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let root_pem = fs::read_to_string(config.dir.join(files::ROOT_CERT))
            .map_err(|e| Error::io(config.dir.join(files::ROOT_CERT), e))?;
        for cert_path in retired_certificates(&dir)? {
            let cert_der = read_pem_cert(&cert_path)?;
            let info = IssuerInfo::from_cert_der(&cert_der)?;
            // A certificate never outlives its issuer, and one without unexpired
            // certificates has nothing left to answer for.
            if info.not_after <= now
                || !store::issuer_has_unexpired(&self.db, &info.slug, now).await?
            {
                continue;
            }
            let key_path = dir.join(format!("{}.key.pem", info.slug));
            let signer =
                FileSigner::load_encrypted(&key_path, KeyAlgorithm::EcdsaP256, passphrase)?;
            let cert_pem = fs::read_to_string(&cert_path).map_err(|e| Error::io(&cert_path, e))?;
            let retired = Self::from_parts(
                config,
                cert_der,
                self.root_der.clone(),
                format!("{}\n{root_pem}", cert_pem.trim_end()),
                Arc::new(signer),
                self.db.clone(),
            )
            .await?;
            self.own_keys.push(retired.signer.public_key().to_vec());
            self.retired.push(retired);
        }
        Ok(())
    }

    /// This issuing CA, then the retired ones still answering for their certificates.
    pub fn all_issuers(&self) -> impl Iterator<Item = &Ca> {
        std::iter::once(self).chain(self.retired.iter())
    }

    /// The issuing CA (this one or a retired one) with URL slug `slug`.
    pub fn issuer_by_slug(&self, slug: &str) -> Option<&Ca> {
        self.all_issuers().find(|c| c.slug() == slug)
    }

    /// Opens the CA with any [`Signer`] for the issuing key (an HSM, for instance).
    /// The signer's public key must be the issuing certificate's.
    pub async fn open_with_signer(
        config: &CaConfig,
        signer: Arc<dyn Signer>,
        db: Database,
    ) -> Result<Self> {
        if !config.dir.join(files::ISSUING_CERT).exists() {
            return Err(Error::NotInitialized(config.dir.clone()));
        }
        let cert_der = read_pem_cert(&config.dir.join(files::ISSUING_CERT))?;
        let root_der = read_pem_cert(&config.dir.join(files::ROOT_CERT))?;
        let chain_path = config.dir.join(files::CHAIN);
        let chain_pem = fs::read_to_string(&chain_path).map_err(|e| Error::io(&chain_path, e))?;
        Self::from_parts(config, cert_der, root_der, chain_pem, signer, db).await
    }

    /// One issuing CA from its certificate, the root's, its chain and its signer.
    async fn from_parts(
        config: &CaConfig,
        cert_der: Vec<u8>,
        root_der: Vec<u8>,
        chain_pem: String,
        signer: Arc<dyn Signer>,
        db: Database,
    ) -> Result<Self> {
        let issuer = IssuerInfo::from_cert_der(&cert_der)?;
        let (_, parsed) = X509Certificate::from_der(&cert_der)
            .map_err(|e| Error::Config(format!("issuing certificate: {e}")))?;
        let public_bits = parsed.public_key().subject_public_key.data.to_vec();
        if public_bits != signer.public_key() {
            return Err(Error::Config(
                "the issuing key does not belong to the issuing certificate".into(),
            ));
        }
        let subject = parsed.subject().to_string();
        let issuer_name_hash = digest(&SHA1_FOR_LEGACY_USE_ONLY, &issuer.subject_der)
            .as_ref()
            .to_vec();
        let issuer_key_hash = digest(&SHA1_FOR_LEGACY_USE_ONLY, &public_bits)
            .as_ref()
            .to_vec();
        let issuer_name_hash256 = digest(&ring::digest::SHA256, &issuer.subject_der)
            .as_ref()
            .to_vec();
        let issuer_key_hash256 = digest(&ring::digest::SHA256, &public_bits)
            .as_ref()
            .to_vec();
        store::backfill_spki_sha256(&db, certificate_spki_sha256).await?;
        crate::transparency::ensure_head(&db).await?;
        let issuer_id = store::ensure_issuer(
            &db,
            &issuer.slug,
            &subject,
            &cert_der,
            &issuer_name_hash,
            &issuer_key_hash,
        )
        .await?;
        if !(0x01..=0x7f).contains(&config.instance) {
            return Err(Error::Config(format!(
                "CA instance prefix must be 1 to 127, got {}",
                config.instance
            )));
        }
        let (_, root) = X509Certificate::from_der(&root_der)
            .map_err(|e| Error::Config(format!("root certificate: {e}")))?;
        let own_keys = vec![
            public_bits.clone(),
            root.public_key().subject_public_key.data.to_vec(),
        ];
        let lint_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let urls = Urls::new(&config.public_url, &issuer.slug);
        Ok(Ca {
            db,
            issuer,
            issuer_id,
            refresh_signer: signer.clone(),
            signer,
            urls,
            lint_key,
            rng: SystemRandom::new(),
            instance: config.instance,
            issuer_name_hash,
            issuer_key_hash,
            issuer_name_hash256,
            issuer_key_hash256,
            queue: Default::default(),
            own_keys,
            serial_lease: Default::default(),
            crl_seq: Default::default(),
            retired: Vec::new(),
            root_der,
            chain_pem,
        })
    }

    /// Signs the OCSP refresh with `signer` (the issuing key on a session of its
    /// own) instead of the issuance signer.
    pub fn with_refresh_signer(mut self, signer: Arc<dyn Signer>) -> Result<Self> {
        if signer.public_key() != self.signer.public_key() {
            return Err(Error::Config(
                "the OCSP refresh signer is not the issuing key".into(),
            ));
        }
        self.refresh_signer = signer;
        Ok(self)
    }

    /// The database this CA writes to.
    pub fn db(&self) -> &Database {
        &self.db
    }

    /// The issuing CA's URL slug (`/crl/{slug}/{shard}.crl`, `/ca/{slug}.der`).
    pub fn slug(&self) -> &str {
        &self.issuer.slug
    }

    /// The issuing CA certificate, DER.
    pub fn issuing_der(&self) -> &[u8] {
        &self.issuer.cert_der
    }

    /// The root certificate, DER.
    pub fn root_der(&self) -> &[u8] {
        &self.root_der
    }

    /// Issuing then root certificate, PEM.
    pub fn chain_pem(&self) -> &str {
        &self.chain_pem
    }

    /// The URLs certificates point at.
    pub fn urls(&self) -> &Urls {
        &self.urls
    }

    pub(crate) fn rcgen_issuer(&self) -> Result<rcgen::Issuer<'static, RcgenSigner<'_>>> {
        Ok(rcgen::Issuer::from_ca_cert_der(
            &self.issuer.cert_der.clone().into(),
            RcgenSigner(&*self.signer),
        )?)
    }
}

/// Reads a passphrase file, dropping one trailing newline.
pub fn read_passphrase_file(path: &Path) -> Result<Zeroizing<Vec<u8>>> {
    // A passphrase others can read protects nothing: refuse it rather than use it.
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &fs::metadata(path)
            .map_err(|e| Error::io(path, e))?
            .permissions(),
    );
    if mode & 0o077 != 0 {
        return Err(Error::Config(format!(
            "the passphrase file {} is readable by other users (mode {:o}): chmod 600 it",
            path.display(),
            mode & 0o777
        )));
    }
    let mut bytes = Zeroizing::new(fs::read(path).map_err(|e| Error::io(path, e))?);
    while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        bytes.pop();
    }
    Ok(bytes)
}
