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
    /// No passphrase was configured for the CA keys.
    #[error("no CA passphrase: set CHENGXIN_CA_PASSPHRASE or pass --passphrase-file")]
    MissingPassphrase,
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
                | Error::InvalidField { .. }
                | Error::InvalidCsr(_)
                | Error::KeyCompromised
                | Error::InvalidSerial(_)
                | Error::InvalidReason(_)
                | Error::UnknownCertificate(_)
                | Error::RevocationRefused(_)
                | Error::CertificateInvalid(_)
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
