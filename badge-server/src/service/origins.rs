//! The origins members register to frame the warnings board (issue 17): they become
//! the board's `frame-ancestors`. Rules in [`crate::domain::board::parse_origin`].

use crate::error::AppError;
use crate::service::Services;

/// Every registered origin, sorted and each once: the board's `frame-ancestors`
/// besides `'self'`.
pub async fn frame_origins(_s: &Services) -> Result<Vec<String>, AppError> {
    Ok(Vec::new())
}
