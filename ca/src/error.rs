//! The one error type of the `ca` crate.

use std::path::PathBuf;

/// Everything that can go wrong in the certificate authority.
///
/// Variants that describe bad input carry a message meant for the person who
/// gave it; variants that describe internal failures carry the cause for logs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A unified social credit code failed GB 32100-2015 validation.
    #[error("invalid unified social credit code: {0}")]
    InvalidUscc(String),
    /// An ICP filing number is malformed or is not a website filing.
    #[error("invalid ICP filing number: {0}")]
    InvalidIcp(String),
    /// A domain name is not a valid, certifiable DNS name.
    #[error("invalid domain {domain:?}: {reason}")]
    InvalidDomain {
        /// The domain as given.
        domain: String,
        /// Why it was refused.
        reason: String,
    },
    /// The domain is a public suffix (`com.cn`, `gov.cn`, `github.io`): a name others
    /// register under, which no one holds, so it is never certified.
    #[error(
        "{domain:?} is a public suffix ({section} section of the Public Suffix List): \
         no one holds it, so it is never certified; certify a registered name under it"
    )]
    PublicSuffix {
        /// The domain, A-labels.
        domain: String,
        /// `ICANN` or `private`.
        section: &'static str,
    },
    /// The domain is, or is under, a name reserved for special use (RFC 2606, RFC 6761
    /// and the RFCs that registered later ones): never delegated, so never certified.
    #[error("{domain:?} is under {zone:?}, reserved by {reference}: it is never certified")]
    ReservedName {
        /// The domain, A-labels.
        domain: String,
        /// The reserved name it is or is under.
        zone: &'static str,
        /// The document that reserves it.
        reference: &'static str,
    },
    /// A label mixes scripts beyond UTS #39's "highly restrictive" level (`pаypal` with
    /// a Cyrillic `а`), or holds characters outside its identifier profile.
    #[error(
        "{domain:?}: the label {label:?} {reason}; UTS #39 (highly restrictive) allows one \
         script, or Latin with Han and kana, Han and Bopomofo, or Han and Hangul"
    )]
    MixedScript {
        /// The domain, A-labels.
        domain: String,
        /// The offending label, Unicode.
        label: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A subject field (organization, province, city) is empty or unusable.
    #[error("invalid {field}: {reason}")]
    InvalidField {
        /// Which field.
        field: &'static str,
        /// Why it was refused.
        reason: String,
    },
    /// A certificate signing request is unparsable, badly signed or carries a weak key.
    #[error("invalid certificate signing request: {0}")]
    InvalidCsr(String),
    /// A serial number string is not a valid hexadecimal certificate serial.
    #[error("invalid serial number: {0}")]
    InvalidSerial(String),
    /// A revocation reason name is not one of RFC 5280's.
    #[error("unknown revocation reason {0:?}")]
    InvalidReason(String),
    /// The certificate the operator asked about does not exist.
    #[error("no certificate with serial {0}")]
    UnknownCertificate(String),
    /// A certificate presented for checking is not valid (chain, time or revocation).
    #[error("certificate is not valid: {0}")]
    CertificateInvalid(String),
    /// The requested revocation is not allowed from the certificate's current state.
    #[error("cannot revoke: {0}")]
    RevocationRefused(String),
    /// `ca init` found an existing CA in the directory.
    #[error("a CA already exists in {0}; refusing to overwrite it")]
    AlreadyInitialized(PathBuf),
    /// The CA directory does not hold a CA.
    #[error("no CA in {0}; run `ca init` first")]
    NotInitialized(PathBuf),
    /// A private key could not be decrypted with the given passphrase.
    #[error("cannot decrypt {0}: wrong passphrase or corrupt key file")]
    WrongPassphrase(PathBuf),
    /// No passphrase was configured for the issuing key.
    #[error(
        "no passphrase for the issuing key: set CHENGXIN_CA_PASSPHRASE or pass --passphrase-file"
    )]
    MissingPassphrase,
    /// `ca init` was given no passphrase for the root key, which has its own.
    #[error(
        "no passphrase for the root key: set CHENGXIN_CA_ROOT_PASSPHRASE_FILE (or \
         CHENGXIN_CA_ROOT_PASSPHRASE), or pass --root-passphrase-file; it must differ \
         from the issuing key's"
    )]
    MissingRootPassphrase,
    /// A key passphrase is short or easy to guess; nothing was created.
    #[error("the {which} passphrase is too weak: {reason}; use a long random passphrase")]
    WeakPassphrase {
        /// Which key it was for.
        which: &'static str,
        /// What makes it guessable.
        reason: String,
    },
    /// The root and issuing keys were given one passphrase: the online CA's would then
    /// open the offline root key.
    #[error("the root key and the issuing key need different passphrases")]
    SamePassphrase,
    /// The key was revoked for keyCompromise (or reported compromised) and is never
    /// certified again.
    #[error("this key was reported compromised and is never certified again; use a new key")]
    KeyCompromised,
    /// The issuing CA expires before a certificate issued now would: it is time to
    /// bring in a new issuing CA. Nothing was signed.
    #[error(
        "the issuing CA expires at {issuer_not_after}, before a certificate issued now would \
         ({not_after}); a new issuing CA is needed"
    )]
    IssuerExpires {
        /// The issuing CA's notAfter.
        issuer_not_after: time::OffsetDateTime,
        /// The new certificate's notAfter.
        not_after: time::OffsetDateTime,
    },
    /// Another live CA instance holds this instance's serial prefix
    /// (`CHENGXIN_CA_INSTANCE`); this one does not start issuing.
    #[error(
        "serial instance prefix {prefix} is held by a running CA ({holder}, lease until unix \
         time {until}): give this instance another CHENGXIN_CA_INSTANCE (1 to 127), or, if \
         that CA is gone, wait for its lease to run out"
    )]
    SerialPrefixInUse {
        /// The prefix asked for.
        prefix: u8,
        /// Who holds it.
        holder: String,
        /// When its lease runs out unless renewed (Unix seconds).
        until: i64,
    },
    /// This CA does not hold its serial prefix (never claimed, released, taken over or
    /// expired), so it makes no serial.
    #[error("this CA does not hold its serial instance prefix: {0}")]
    SerialPrefixNotHeld(String),
    /// A certificate failed the pre-issuance lint; nothing was signed.
    #[error("certificate lint failed: {0}")]
    Lint(String),
    /// A signature produced by the signer did not verify.
    #[error("signature verification failed after signing: {0}")]
    SignatureCheck(String),
    /// The signing key (file or HSM) failed.
    #[error("signer error: {0}")]
    Signer(String),
    /// The audit log's hash chain is broken.
    #[error("audit log verification failed at entry {seq}: {reason}")]
    AuditChain {
        /// The first entry at which the chain does not hold.
        seq: i64,
        /// What is wrong with it.
        reason: String,
    },
    /// Certificate or CRL encoding failed inside rcgen.
    #[error("certificate encoding: {0}")]
    Encoding(String),
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A database migration failed.
    #[error("database migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The configuration is unusable.
    #[error("configuration: {0}")]
    Config(String),
    /// The transparency log is inconsistent, or an entry or tile cannot be made.
    #[error("transparency log: {0}")]
    Log(String),
}

impl From<chengxin_db::Error> for Error {
    fn from(e: chengxin_db::Error) -> Self {
        match e {
            chengxin_db::Error::Database(e) => Error::Database(e),
            chengxin_db::Error::Migration(e) => Error::Migration(e),
            chengxin_db::Error::Io { path, source } => Error::Io { path, source },
            chengxin_db::Error::Config(m) => Error::Config(m),
        }
    }
}

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// True when the database refused a write because its disk is full (SQLite
    /// `SQLITE_FULL`, PostgreSQL `53100 disk_full`): nothing was written, and writes
    /// work again once there is room, so it is worth saying so rather than "internal
    /// error".
    pub fn is_disk_full(&self) -> bool {
        match self {
            Error::Database(sqlx::Error::Database(e)) => {
                matches!(e.code().as_deref(), Some("13" | "53100"))
            }
            _ => false,
        }
    }

    /// True when the error was caused by the caller's input rather than by the CA.
    pub fn is_input_error(&self) -> bool {
        matches!(
            self,
            Error::InvalidUscc(_)
                | Error::InvalidIcp(_)
                | Error::InvalidDomain { .. }
                | Error::PublicSuffix { .. }
                | Error::ReservedName { .. }
                | Error::MixedScript { .. }
                | Error::InvalidField { .. }
                | Error::InvalidCsr(_)
                | Error::KeyCompromised
                | Error::InvalidSerial(_)
                | Error::InvalidReason(_)
                | Error::UnknownCertificate(_)
                | Error::RevocationRefused(_)
                | Error::CertificateInvalid(_)
                | Error::Log(_)
        )
    }
}

impl From<rcgen::Error> for Error {
    fn from(e: rcgen::Error) -> Self {
        Error::Encoding(e.to_string())
    }
}

impl From<der::Error> for Error {
    fn from(e: der::Error) -> Self {
        Error::Encoding(e.to_string())
    }
}

/// Result with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
