//! The Chengxin certificate authority.
//!
//! An offline root and an online issuing CA sign one-year site identity certificates
//! (organization, unified social credit code, ICP filing number, location, domains),
//! publish CRLs and pre-signed OCSP responses, and refuse to sign anything that fails
//! their own lint. Every action is appended to a hash-chained audit log in the same
//! database transaction as the action itself.
//!
//! The CA signs; it never decides whether a site deserves a certificate: that is the
//! verifier's and the server's job.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod audit;
pub mod authority;
pub mod certificate;
pub mod cli;
pub mod config;
pub mod crl;
mod error;
pub mod goodkey;
pub mod identity;
pub mod instance;
mod issue_queue;
pub mod ocsp;
pub mod oid;
pub mod passphrase;
pub mod pkcs11;
pub mod profile;
pub mod revocation;
pub mod serial;
pub mod signer;
pub mod store;
pub mod transparency;

/// Test builds only: `CHENGXIN_CA_TEST_CRASH=<point>` aborts the process at that
/// point, as a kill would, so that a test can check what a crash there leaves
/// behind: `ca issue`'s `after-key` and `after-commit`, and inside the issuance and
/// revocation transactions `issue-before-log`, `issue-after-log`,
/// `revoke-before-log` and `revoke-after-log`. Release builds never read it.
pub fn crash_point(point: &str) {
    #[cfg(debug_assertions)]
    if std::env::var("CHENGXIN_CA_TEST_CRASH").as_deref() == Ok(point) {
        std::process::abort();
    }
    #[cfg(not(debug_assertions))]
    let _ = point;
}

/// The shared database ([`chengxin_db`]), re-exported so that `ca::db::Database` and
/// the query macros reach every component through one path.
pub use chengxin_db as db;
pub use chengxin_db::{on_pool, on_tx};

pub use authority::{Ca, CaConfig};
pub use certificate::{Issued, KeySource};
pub use error::{Error, Result};
pub use profile::SiteIdentity;
pub use revocation::RevocationReason;
pub use serial::Serial;
