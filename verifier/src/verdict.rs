//! Verdicts and the evidence every check leaves behind.

use serde::{Deserialize, Serialize};

/// The result of one check, or of several combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Proven.
    Pass,
    /// Disproven: the record is wrong or absent, the filing does not match.
    Fail,
    /// A human must decide (e.g. the names differ in a way only a person can judge).
    Review,
    /// We could not tell (timeout, provider down): retry later; never a pass.
    Error,
}

impl Verdict {
    /// CLI exit code: 0 pass, 1 fail or review, 2 error.
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Pass => 0,
            Verdict::Fail | Verdict::Review => 1,
            Verdict::Error => 2,
        }
    }

    /// Combines two verdicts of checks that must all hold: the worst wins, with an
    /// outright failure worse than a review, and a review worse than an error (an
    /// error can be retried, a review cannot become a pass by retrying).
    pub fn and(self, other: Verdict) -> Verdict {
        use Verdict::*;
        match (self, other) {
            (Fail, _) | (_, Fail) => Fail,
            (Review, _) | (_, Review) => Review,
            (Error, _) | (_, Error) => Error,
            (Pass, Pass) => Pass,
        }
    }

    /// The lower-case name (`pass`, `fail`, `review`, `error`).
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Review => "review",
            Verdict::Error => "error",
        }
    }
}

/// What one check asked, what came back, through which resolver, when, and what
/// it concluded. Stored for every attempt, passing or not.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Evidence {
    /// `dns-txt`, `http-file`, `html-meta` or `icp`.
    pub check: String,
    /// The domain checked.
    pub subject: String,
    /// What was asked (query name, URL, request body).
    pub asked: serde_json::Value,
    /// What came back (records, addresses, status, body hash, rows).
    pub answered: serde_json::Value,
    /// Which resolver or provider answered.
    pub resolver: Option<String>,
    /// Unix seconds.
    pub at: i64,
    /// This check's verdict.
    pub verdict: Verdict,
    /// Why, in words for the operator.
    pub reasons: Vec<String>,
}

/// A verdict with its reasons and evidence.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outcome {
    /// Overall verdict.
    pub verdict: Verdict,
    /// Why.
    pub reasons: Vec<String>,
    /// Every check made.
    pub evidence: Vec<Evidence>,
}

impl Outcome {
    /// An outcome made of one piece of evidence.
    pub fn single(evidence: Evidence) -> Self {
        Outcome {
            verdict: evidence.verdict,
            reasons: evidence.reasons.clone(),
            evidence: vec![evidence],
        }
    }
}

/// Now, in Unix seconds.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}
