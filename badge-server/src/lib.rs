//! The Chengxin badge server: the public face of the CA.
//!
//! It serves the PKI endpoints relying parties need (`/ca/chain.pem`, the issuing
//! certificate, CRLs, OCSP) and, as issues land, seals, certificate pages, the
//! registry and the complaint platform. It is the orchestrator: it owns site state
//! and asks the `ca` crate to sign.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod account;
pub mod application;
pub mod attachment;
mod auth;
pub mod cli;
pub mod complaint;
pub mod config;
pub mod error;
pub mod jobs;
pub mod limiter;
pub mod listen;
pub mod mail;
pub mod openapi;
pub mod password;
pub mod privacy;
pub mod queue;
pub mod router;
pub mod routes;
pub mod seal;
pub mod session;
pub mod state;
pub mod telemetry;
pub mod warning;
pub mod web;
pub mod webhook;

pub use error::AppError;
pub use state::AppState;
