//! The one error type of the server's use cases. The HTTP layer maps it to status
//! codes (`http::error`), the job worker to retry or fail; internals are logged,
//! never returned.

/// What a client is told when the database's disk is full (503): nothing was saved,
/// and the same request works once the operator has made room, without a restart.
pub const DISK_FULL: &str = "the server's disk is full: nothing was saved; try again later / 服务器磁盘已满，未能保存，请稍后再试";

/// Everything a handler can fail with, mapped to a status code in one place.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// The resource does not exist.
    #[error("not found")]
    NotFound,
    /// The request is malformed; the message is shown to the client.
    #[error("{0}")]
    BadRequest(String),
    /// Fields of a request failed validation: field name → message.
    #[error("invalid fields: {}", fields(.0))]
    Invalid(Vec<(String, String)>),
    /// The request conflicts with the resource's state.
    #[error("{0}")]
    Conflict(String),
    /// No valid credentials were presented.
    #[error("authentication required")]
    Unauthorized,
    /// The credentials do not allow this.
    #[error("{0}")]
    Forbidden(String),
    /// A limit on how often one may do something was reached (429); the message says
    /// which, `retry_after` when to try again (seconds).
    #[error("{message}")]
    TooMany {
        /// Which limit, for the client.
        message: String,
        /// Seconds until a new attempt can succeed.
        retry_after: u64,
    },
    /// An upload that is refused: too large (413), of a type not taken (415), or
    /// broken (422); see [`crate::domain::attachment`].
    #[error(transparent)]
    Upload(#[from] crate::domain::attachment::Refusal),
    /// Anything else; logged, and the client sees a generic message.
    #[error(transparent)]
    Internal(#[from] ca::Error),
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        AppError::Internal(e.into())
    }
}

impl From<ca::db::Error> for AppError {
    fn from(e: ca::db::Error) -> Self {
        AppError::Internal(e.into())
    }
}

impl From<verifier::Error> for AppError {
    fn from(e: verifier::Error) -> Self {
        AppError::Internal(ca::Error::Config(e.to_string()))
    }
}

/// `name: message; …`, as a command line says an [`AppError::Invalid`].
fn fields(f: &[(String, String)]) -> String {
    f.iter()
        .map(|(name, message)| format!("{name}: {message}"))
        .collect::<Vec<_>>()
        .join("; ")
}
