//! The one error type of this crate.

/// Everything that can go wrong reading or writing the log's formats.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An entry that is not in the canonical encoding, or lacks a field its kind needs.
    #[error("log entry: {0}")]
    Entry(String),
    /// A tile path that does not follow C2SP tlog-tiles.
    #[error("malformed tile path: {0}")]
    Path(String),
    /// An entry bundle or hash tile whose bytes do not have the promised shape.
    #[error("malformed tile: {0}")]
    Tile(String),
    /// A computation needs stored tiles that were not loaded; load them and retry.
    #[error("{} stored tiles needed", .0.len())]
    Missing(Vec<(u8, u64)>),
    /// A Merkle proof or tree computation failed (a wrong hash, index or size).
    #[error("merkle: {0}")]
    Merkle(String),
    /// A checkpoint or note that does not parse.
    #[error("malformed checkpoint: {0}")]
    Checkpoint(String),
    /// A note whose signature does not verify with the key given.
    #[error("signature: {0}")]
    Signature(String),
    /// A key that cannot be read or made.
    #[error("key: {0}")]
    Key(String),
    /// An `add-checkpoint` request or a witness's answer that does not follow C2SP
    /// tlog-witness (a witness answers 400).
    #[error("{0}")]
    Request(String),
    /// A request whose old size is not the size the witness last cosigned, which it
    /// names (tlog-witness: 409 with that size in the body).
    #[error("the witness last cosigned size {latest}")]
    OldSize {
        /// The size of the checkpoint the witness last cosigned (0: none).
        latest: u64,
    },
    /// A checkpoint of the size the witness last cosigned but another root: the log
    /// shows two trees (tlog-witness: 409, and never a cosignature).
    #[error("split view: another root for size {size}")]
    SplitView {
        /// The size both trees claim.
        size: u64,
        /// The root the witness was shown this time.
        root: crate::tiles::Hash,
    },
}

/// This crate's result.
pub type Result<T> = std::result::Result<T, Error>;

impl From<tlog_tiles::Error> for Error {
    fn from(e: tlog_tiles::Error) -> Self {
        Error::Merkle(e.to_string())
    }
}
