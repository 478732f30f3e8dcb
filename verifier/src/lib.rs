//! The Chengxin verifier: proves that an applicant controls a domain (DNS TXT record,
//! file under `/.well-known/chengxin/`, or HTML meta tag, ACME-style) and that the
//! domain's MIIT ICP filing names the same organization; re-runs both for the whole
//! certificate year.
//!
//! Identifier parsing (`Uscc`, `IcpNumber`, `Domain`) lives in `ca::identity`, since
//! the CA must refuse malformed identifiers itself; this crate re-exports it and adds
//! what only verification needs (公安 numbers, registrable domains).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod challenge;
pub mod cli;
pub mod config;
pub mod dns;
mod error;
pub mod http;
pub mod icp;
pub mod ident;
pub mod monitor;
pub mod net;
pub mod recheck;
pub mod store;
pub mod token;
pub mod verdict;

pub use ca::identity;
pub use challenge::{Challenger, Method};
pub use error::{Error, Result};
pub use token::Token;
pub use verdict::{Evidence, Outcome, Verdict};
