//! A re-verification run staff start over every due site (issue 18): what it has
//! done so far, and what it changed.

use serde::Serialize;
use utoipa::ToSchema;

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    /// Its job is walking the due sites.
    Running,
    /// Every due site was taken.
    Finished,
    /// Its job stopped for good before the end.
    Failed,
}

impl RunState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Running => "running",
            RunState::Finished => "finished",
            RunState::Failed => "failed",
        }
    }

    /// From the stored name (anything unknown reads as failed).
    pub fn parse(s: &str) -> RunState {
        match s {
            "running" => RunState::Running,
            "finished" => RunState::Finished,
            _ => RunState::Failed,
        }
    }
}

/// A site a run moved from one state to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct RunChange {
    /// The site id.
    pub site: String,
    /// Re-verification state before: `ok`, `grace`, `suspended`.
    pub from: String,
    /// After: `grace` (entered grace), `suspended` (held), `revoked`, `ok`
    /// (released, or passing again within grace).
    pub to: String,
    /// Why, in the verifier's words.
    pub reason: String,
    /// When, unix seconds.
    pub at: i64,
}

impl RunChange {
    /// What happened, in Chinese and English.
    pub fn label(&self) -> (&'static str, &'static str) {
        match (self.from.as_str(), self.to.as_str()) {
            (_, "grace") => ("进入宽限期", "entered grace"),
            (_, "suspended") => ("已暂停", "held"),
            (_, "revoked") => ("已撤销", "revoked"),
            ("suspended", "ok") => ("已恢复", "released"),
            _ => ("恢复正常", "passing again"),
        }
    }
}

/// A run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Run {
    /// Its id.
    pub id: i64,
    /// Where it is.
    pub state: RunState,
    /// Who started it (e-mail).
    pub started_by: String,
    /// Unix seconds.
    pub started_at: i64,
    /// When it ended, unix seconds.
    pub finished_at: Option<i64>,
    /// Sites due when it started (sites that fall due while it runs are taken too).
    pub total: i64,
    /// Sites taken so far.
    pub done: i64,
    /// Sites whose checks passed.
    pub passed: i64,
    /// Sites whose checks failed (in grace, held or revoked).
    pub failed: i64,
    /// Sites that could not be told (a transient error, retried later).
    pub errors: i64,
    /// Why it failed, if it did.
    pub problem: Option<String>,
    /// Every site it moved to another state, in order (empty in lists).
    pub changes: Vec<RunChange>,
}
