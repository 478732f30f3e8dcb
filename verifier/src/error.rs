//! The one error type of the verifier crate.

/// Failures that are not verdicts: bad configuration, storage, bad input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An identifier failed to parse (USCC, ICP number, domain).
    #[error(transparent)]
    Identifier(ca::Error),
    /// A 公安 (public security) filing number is malformed.
    #[error("invalid 公安 filing number: {0}")]
    InvalidGongan(String),
    /// The domain has no registrable part (it is a public suffix itself).
    #[error("{0} is a public suffix, not a registrable domain")]
    PublicSuffix(String),
    /// A challenge token is malformed.
    #[error("invalid token: {0}")]
    InvalidToken(String),
    /// The configuration is unusable.
    #[error("configuration: {0}")]
    Config(String),
    /// An ICP dataset file could not be read or holds a bad row.
    #[error("ICP dataset {path}: {reason}")]
    Dataset {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The CA or its database layer failed.
    #[error("CA: {0}")]
    Ca(String),
    /// A transparency log misbehaved: a bad signature, a shrunk or forked tree, tiles or
    /// entries that do not hash to its signed root (`log-monitor` exits 1).
    #[error("ALERT: {0}")]
    LogAlert(String),
    /// A transparency log could not be read (network, HTTP status, size limits).
    #[error("log: {0}")]
    LogFetch(String),
    /// The log monitor's state file cannot be read or written.
    #[error("state file: {0}")]
    LogState(String),
}

impl From<ca::db::Error> for Error {
    fn from(e: ca::db::Error) -> Self {
        ca::Error::from(e).into()
    }
}

impl From<ca::Error> for Error {
    fn from(e: ca::Error) -> Self {
        if e.is_input_error() {
            Error::Identifier(e)
        } else {
            Error::Ca(e.to_string())
        }
    }
}

/// Result with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
