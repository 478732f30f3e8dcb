//! badge-server's integration tests, one binary with a module per area: the real
//! router and a real state (a fresh CA, SQLite or PostgreSQL), driven in-process.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod accounts;
mod complaints;
mod openapi;
mod pages;
mod queue;
mod snapshots;
