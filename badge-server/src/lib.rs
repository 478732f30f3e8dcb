//! The Chengxin badge server: the public face of the CA.
//!
//! It serves the PKI endpoints relying parties need (`/ca/chain.pem`, the issuing
//! certificate, CRLs, OCSP) and, as issues land, seals, certificate pages, the
//! registry and the complaint platform. It is the orchestrator: it owns site state
//! and asks the `ca` crate to sign.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod app;
pub mod cli;
pub mod config;
pub mod demo;
pub mod domain;
pub mod error;
pub mod http;
pub mod jobs;
pub mod notify;
pub mod service;
pub mod store;
pub mod telemetry;

pub use error::AppError;
