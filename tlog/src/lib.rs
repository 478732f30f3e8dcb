//! Chengxin's transparency log, as formats: what an entry is, how entries become
//! C2SP `tlog-tiles` tiles, and how a checkpoint is signed and checked.
//!
//! Nothing here touches a database or the network, so that the CA (which appends
//! and signs), the server (which serves tiles and proofs), the monitor and the
//! witness (which check them) all share one definition of the log.
//!
//! - [`entry`]: the canonical encoding of one event (`docs/log-format.md`).
//! - [`tiles`]: tile paths, entry bundles, and the tree computed from stored tiles
//!   (RFC 6962 hashing through `tlog_tiles`, a port of Go's `sumdb/tlog`).
//! - [`note`]: the log key, checkpoints as C2SP signed notes, verifier keys.
//! - [`witness`]: C2SP cosignatures (`cosignature/v1`), the `tlog-witness`
//!   request and answers, the witness's decision, quorums and forks.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod entry;
mod error;
pub mod note;
pub mod tiles;
pub mod witness;

pub use entry::{Entry, Kind};
pub use error::{Error, Result};
pub use note::{Checkpoint, LogKey};
pub use tiles::{Hash, TileMap, TilePath};
pub use witness::{WitnessKey, WitnessVerifier};
