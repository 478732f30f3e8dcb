//! The verifier against real servers on loopback: DNS (dnsmasq), HTTP (axum) and a
//! MIIT-shaped ICP service; and the log monitor against a log served over HTTP.

#![allow(clippy::unwrap_used, missing_docs)]

mod challenge;
mod icp;
mod monitor;
mod recheck;
