//! The live figures the home page shows: certified sites now, revocations and upheld
//! complaints in the last [`WINDOW_DAYS`] days, and fraud warnings published. One
//! `COUNT(*)` each ([`crate::store::figures`]), read on every request: a cache would
//! show a revocation late, and four counts cost less than the certificate page.

use ca::db::Database;

use crate::domain::privacy::shown_count;
use crate::error::AppError;
use crate::store::figures as store;

/// The window of the recent figures, in days.
pub const WINDOW_DAYS: i64 = 30;

/// The figures as counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Figures {
    /// Sites showing as certified now.
    pub certified_sites: i64,
    /// Certificates revoked (not held) in the window.
    pub revocations: i64,
    /// Complaints upheld in the window.
    pub upheld_complaints: i64,
    /// Fraud warnings published and not withdrawn.
    pub warnings: i64,
}

impl Figures {
    /// The figures as published: each below five shown as `<5`
    /// ([`shown_count`]), in the order above.
    pub fn shown(&self) -> [String; 4] {
        [
            self.certified_sites,
            self.revocations,
            self.upheld_complaints,
            self.warnings,
        ]
        .map(shown_count)
    }
}

/// Counts the figures at `now`.
pub async fn count(db: &Database, now: i64) -> Result<Figures, AppError> {
    let since = now - WINDOW_DAYS * 86_400;
    Ok(Figures {
        certified_sites: store::certified_sites(db, now).await?,
        revocations: store::revocations_since(db, since).await?,
        upheld_complaints: store::upheld_since(db, since).await?,
        warnings: store::warnings_published(db).await?,
    })
}
