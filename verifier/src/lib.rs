//! The Chengxin verifier: proves domain control (DNS TXT, HTTP file, HTML meta) and
//! matches the domain's MIIT ICP filing against the applicant.
//!
//! Identifier parsing (`Uscc`, `IcpNumber`, `Domain`) lives in `ca::identity`, because
//! the CA must refuse malformed identifiers itself; this crate re-exports it.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub use ca::identity;
