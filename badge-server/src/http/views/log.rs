//! A site's events in the transparency log, as `/cert/{site}.json` returns them and
//! the certificate page shows them (issue 15): the checkpoint the proofs lead to,
//! the key that signed it, and each event with its entry and inclusion proof, so
//! that anyone (the page's own script included) can check them without trusting us.
//! Binary values are standard base64, as in the checkpoint itself.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use utoipa::ToSchema;

use crate::service::log::{Published, SiteEvent, SiteLog};

/// What happened, as the entry's `kind` line names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LogEventKind {
    /// A certificate was issued.
    Issue,
    /// A certificate was put on hold.
    Hold,
    /// A hold was released.
    Release,
    /// A certificate was revoked.
    Revoke,
    /// A complaint about the site was decided.
    ComplaintDecision,
    /// The audit chain's head (never a site's event; listed for completeness).
    AuditAnchor,
}

impl From<tlog::Kind> for LogEventKind {
    fn from(k: tlog::Kind) -> LogEventKind {
        match k {
            tlog::Kind::Issue => LogEventKind::Issue,
            tlog::Kind::Hold => LogEventKind::Hold,
            tlog::Kind::Release => LogEventKind::Release,
            tlog::Kind::Revoke => LogEventKind::Revoke,
            tlog::Kind::ComplaintDecision => LogEventKind::ComplaintDecision,
            tlog::Kind::AuditAnchor => LogEventKind::AuditAnchor,
        }
    }
}

impl LogEventKind {
    /// What the certificate page calls it: Chinese, then English.
    pub fn label(self) -> (&'static str, &'static str) {
        match self {
            LogEventKind::Issue => ("签发证书", "certificate issued"),
            LogEventKind::Hold => ("暂停证书", "certificate suspended"),
            LogEventKind::Release => ("恢复证书", "certificate reinstated"),
            LogEventKind::Revoke => ("撤销证书", "certificate revoked"),
            LogEventKind::ComplaintDecision => ("投诉裁定", "complaint decided"),
            LogEventKind::AuditAnchor => ("审计日志锚定", "audit log anchored"),
        }
    }
}

/// The newest published checkpoint (C2SP tlog-checkpoint, a signed note).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = LogCheckpoint)]
pub struct CheckpointView {
    /// Entries in the tree.
    pub size: u64,
    /// The tree's RFC 6962 root hash, base64.
    pub root: String,
    /// The signed note exactly as `/log/checkpoint` serves it: the text (origin,
    /// size, root), a blank line, the log's signature line and any witnesses'.
    pub note: String,
}

impl From<&Published> for CheckpointView {
    fn from(p: &Published) -> CheckpointView {
        CheckpointView {
            size: p.size,
            root: STANDARD.encode(p.root.0),
            note: p.note.to_string(),
        }
    }
}

/// One event of the site, with what it takes to check that the log holds it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = LogEvent)]
pub struct LogEventView {
    /// The entry's index in the log.
    pub index: u64,
    /// What happened.
    pub kind: LogEventKind,
    /// When, Unix seconds.
    pub time: i64,
    /// The certificate's serial (hex), for certificate events.
    pub serial: Option<String>,
    /// The revocation reason (`certificateHold`, `privilegeWithdrawn`, …) or the
    /// complaint decision (`upheld`, `dismissed`).
    pub reason: Option<String>,
    /// The entry's bytes, base64 (the format: `docs/log-format.md`). Its leaf hash is
    /// SHA-256(0x00 || entry).
    pub entry: String,
    /// The RFC 9162 inclusion proof (audit path) of the entry in the checkpoint's
    /// tree, base64 hashes, leaf end first; `null` until a published checkpoint
    /// holds the entry.
    pub proof: Option<Vec<String>>,
    /// Whether the server checked the proof against the checkpoint's root.
    pub verified: bool,
}

impl From<SiteEvent> for LogEventView {
    fn from(e: SiteEvent) -> LogEventView {
        LogEventView {
            index: e.index,
            kind: e.kind.into(),
            time: e.time,
            serial: e.serial,
            reason: e.reason,
            entry: STANDARD.encode(&e.body),
            proof: e
                .proof
                .map(|p| p.iter().map(|h| STANDARD.encode(h.0)).collect()),
            verified: e.verified,
        }
    }
}

/// A site's events in the transparency log.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = SiteLog)]
pub struct SiteLogView {
    /// The checkpoint the proofs lead to; `null` before the first is published.
    pub checkpoint: Option<CheckpointView>,
    /// The log's key in signed-note verifier-key form (`name+hexid+base64`), as
    /// `/log/verifier-key` serves it: the checkpoint's signature is checked with it.
    pub verifier_key: String,
    /// The site's events, oldest first.
    pub events: Vec<LogEventView>,
}

impl From<SiteLog> for SiteLogView {
    fn from(l: SiteLog) -> SiteLogView {
        SiteLogView {
            checkpoint: l.published.as_ref().map(CheckpointView::from),
            verifier_key: l.verifier_key,
            events: l.events.into_iter().map(LogEventView::from).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_serialize_as_the_entry_names_them() {
        for k in tlog::Kind::ALL {
            assert_eq!(
                serde_json::to_value(LogEventKind::from(k)).unwrap(),
                serde_json::Value::from(k.name())
            );
        }
    }

    #[test]
    fn a_site_log_has_base64_values_and_nulls_before_publication() {
        let body = b"chengxin-log-entry/v1\nkind issue\n".to_vec();
        let log = SiteLog {
            published: None,
            verifier_key: "log+01234567+AQ==".into(),
            events: vec![SiteEvent {
                index: 7,
                kind: tlog::Kind::Issue,
                time: 1,
                serial: Some("01ab".into()),
                reason: None,
                body: body.clone(),
                proof: None,
                verified: false,
            }],
        };
        let v = serde_json::to_value(SiteLogView::from(log)).unwrap();
        assert_eq!(v["checkpoint"], serde_json::Value::Null);
        assert_eq!(v["events"][0]["proof"], serde_json::Value::Null);
        assert_eq!(v["events"][0]["kind"], "issue");
        assert_eq!(v["events"][0]["entry"], STANDARD.encode(&body));
    }
}
