//! The verifier against real servers on loopback: DNS (dnsmasq), HTTP (axum) and a
//! MIIT-shaped ICP service.

#![allow(clippy::unwrap_used, missing_docs)]

mod challenge;
mod icp;
mod recheck;
