//! The one error type of the verifier crate.

/// Failures that are not verdicts: bad configuration, storage, bad input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An identifier failed to parse (USCC, ICP number, domain, 公安 number).
    #[error(transparent)]
    Identifier(#[from] ca::Error),
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
}

/// Result with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
