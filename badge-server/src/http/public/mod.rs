//! What anyone may fetch without an account: the seal, certificate pages and their
//! JSON, the URL check, the archive, the PKI files (chain, CRLs, OCSP), the
//! transparency log, health, and the pages' first-party scripts.

pub mod archive;
pub mod assets;
pub mod board;
pub mod cert;
pub mod certificate;
pub mod health;
pub mod home;
pub mod log;
pub mod pki;
pub mod places;
pub mod reports;
pub mod seal;
