//! The exchange feed's rules (issue 17; seed.txt: 会员之间的通报、交流与共享): which
//! audited actions become events members see, the opaque cursor a page ends with,
//! and the page's exact bytes, which are what the alliance signs.
//!
//! Events are projected from the hash-chained audit log in its order. An audit
//! entry's number is taken under the log head's lock, held until its transaction
//! commits, so entries commit in number order and a projection that reads the
//! committed entries after its last one never skips one that commits later.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;
use serde_json::Value;

use crate::error::AppError;

/// Events a page holds when the client does not say.
pub const DEFAULT_PAGE: i64 = 100;
/// The most events one page holds.
pub const MAX_PAGE: i64 = 1_000;
/// Pages one member account may read a minute. A member that keeps up polls every few
/// seconds; one catching up reads 10 pages a second, [`MAX_PAGE`] events each, twice
/// the 5,000 events a second the feed promises a paging client. One account cannot
/// keep a replica signing pages: a page of 1,000 events costs some 8 ms of CPU
/// (`scripts/bench-exchange`), so at most 8% of a core.
pub const PAGES_PER_MINUTE: u32 = 600;

/// What happened, as members see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Staff decided a complaint: upheld or dismissed.
    ComplaintDecided,
    /// A site's certificate was revoked.
    SiteRevoked,
    /// A site's certificate was put on hold (certificateHold).
    SiteHeld,
    /// A hold was lifted.
    SiteReleased,
    /// A fraud warning was published.
    WarningPublished,
    /// Staff marked a public case (a warning, an upheld complaint) prominent: members
    /// publish it on their own sites too.
    CaseProminent,
    /// Staff took the mark off.
    CaseUnprominent,
    /// A member shared a record with all members.
    RecordShared,
    /// The organization a shared record concerns disputed it.
    RecordDisputed,
    /// Staff kept a disputed shared record.
    RecordKept,
    /// Staff deleted a shared record.
    RecordRemoved,
}

/// The audited actions that can make an event ([`Kind::of_audit`]): the projection
/// reads only these, so that the first projection of a long audit log (every
/// issuance of 100,000 sites) reads no more than it keeps.
pub const ACTIONS: [&str; 12] = [
    "complaint.decide",
    "certificate.revoke",
    "certificate.release",
    "warning.publish",
    "warning.prominent",
    "warning.unprominent",
    "complaint.prominent",
    "complaint.unprominent",
    "record.submit",
    "record.dispute",
    "record.keep",
    "record.remove",
];

impl Kind {
    /// The event's name in the feed.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::ComplaintDecided => "complaint.decided",
            Kind::SiteRevoked => "site.revoked",
            Kind::SiteHeld => "site.held",
            Kind::SiteReleased => "site.released",
            Kind::WarningPublished => "warning.published",
            Kind::CaseProminent => "case.prominent",
            Kind::CaseUnprominent => "case.unprominent",
            Kind::RecordShared => "record.shared",
            Kind::RecordDisputed => "record.disputed",
            Kind::RecordKept => "record.kept",
            Kind::RecordRemoved => "record.removed",
        }
    }

    /// The event an audited action makes, if members see it. `details` is the audit
    /// entry's JSON: a revocation's CRL reason tells a hold from a revocation, and a
    /// record is an event only when shared with all members.
    pub fn of_audit(action: &str, details: &Value) -> Option<Kind> {
        match action {
            "complaint.decide" => Some(Kind::ComplaintDecided),
            "certificate.revoke" if details["reason"] == "certificateHold" => Some(Kind::SiteHeld),
            "certificate.revoke" => Some(Kind::SiteRevoked),
            "certificate.release" => Some(Kind::SiteReleased),
            "warning.publish" => Some(Kind::WarningPublished),
            "warning.prominent" | "complaint.prominent" => Some(Kind::CaseProminent),
            "warning.unprominent" | "complaint.unprominent" => Some(Kind::CaseUnprominent),
            _ if details["scope"] != "members" => None,
            "record.submit" => Some(Kind::RecordShared),
            "record.dispute" => Some(Kind::RecordDisputed),
            "record.keep" => Some(Kind::RecordKept),
            "record.remove" => Some(Kind::RecordRemoved),
            _ => None,
        }
    }
}

/// Where a reader is in the feed: after the event with this audit number (0: before
/// the first). Shown to clients only sealed ([`Cursor::seal`]), so a cursor that was
/// never issued is refused rather than read as a position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor(pub i64);

/// Bytes of the MAC a sealed cursor carries: all of HMAC-SHA256's.
const MAC_BYTES: usize = 32;

impl Cursor {
    /// The cursor as clients see it: base64url of the position and a MAC over it.
    pub fn seal(self, key: &hmac::Key) -> String {
        let pos = self.0.to_be_bytes();
        let tag = hmac::sign(key, &pos);
        let mut raw = pos.to_vec();
        raw.extend_from_slice(tag.as_ref());
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Reads a cursor this server issued; anything else is a 400 that says so.
    pub fn open(sealed: &str, key: &hmac::Key) -> Result<Cursor, AppError> {
        let refused = || {
            AppError::BadRequest(
                "after: not a cursor this feed issued; start without one, or use a page's next"
                    .into(),
            )
        };
        let raw = URL_SAFE_NO_PAD
            .decode(sealed.trim())
            .map_err(|_| refused())?;
        if raw.len() != 8 + MAC_BYTES {
            return Err(refused());
        }
        let (pos, tag) = raw.split_at(8);
        // In constant time: a cursor must not leak its MAC byte by byte.
        hmac::verify(key, pos, tag).map_err(|_| refused())?;
        let pos = i64::from_be_bytes(pos.try_into().map_err(|_| refused())?);
        if pos < 0 {
            return Err(refused());
        }
        Ok(Cursor(pos))
    }
}

/// The page size asked for: [`DEFAULT_PAGE`] when none, 1 to [`MAX_PAGE`].
pub fn page_size(limit: Option<i64>) -> Result<i64, AppError> {
    match limit.unwrap_or(DEFAULT_PAGE) {
        n @ 1..=MAX_PAGE => Ok(n),
        _ => Err(AppError::BadRequest(format!(
            "limit: 1 to {MAX_PAGE} events a page"
        ))),
    }
}

/// One stored event: its audit number, name, time and what members see of it (JSON,
/// fixed when projected).
#[derive(Debug, Clone)]
pub struct Event {
    /// The audit entry's number: the event's place in the feed.
    pub seq: i64,
    /// Its name ([`Kind::as_str`]).
    pub kind: String,
    /// Unix seconds of the audited action.
    pub at: i64,
    /// The event's data, JSON text.
    pub data: String,
}

/// A page's exact bytes: `{"events": [...], "next": CURSOR}`, each event
/// `{"cursor", "seq", "kind", "at", "data"}`. `next` is the last event's cursor, or
/// `after` again when the page is empty, so that a reader can always go on from it.
pub fn page_body(events: &[Event], after: Cursor, key: &hmac::Key) -> Vec<u8> {
    let mut out =
        String::with_capacity(64 + events.iter().map(|e| e.data.len() + 96).sum::<usize>());
    out.push_str(r#"{"events":["#);
    for (i, e) in events.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        // The names and cursors are ours (no characters to escape); `data` is JSON
        // we serialised when projecting.
        out.push_str(&format!(
            r#"{{"cursor":"{}","seq":{},"kind":"{}","at":{},"data":{}}}"#,
            Cursor(e.seq).seal(key),
            e.seq,
            e.kind,
            e.at,
            e.data
        ));
    }
    let next = events.last().map_or(after, |e| Cursor(e.seq));
    out.push_str(&format!(r#"],"next":"{}"}}"#, next.seal(key)));
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key() -> hmac::Key {
        hmac::Key::new(hmac::HMAC_SHA256, b"test key")
    }

    #[test]
    fn cursors_open_only_when_this_server_sealed_them() {
        let k = key();
        let sealed = Cursor(1234).seal(&k);
        assert_eq!(Cursor::open(&sealed, &k).unwrap(), Cursor(1234));
        let other = hmac::Key::new(hmac::HMAC_SHA256, b"another key");
        assert!(Cursor::open(&sealed, &other).is_err());
        let mut forged = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        forged[7] ^= 1;
        assert!(Cursor::open(&URL_SAFE_NO_PAD.encode(forged), &k).is_err());
        for junk in ["", "1234", "!!!", &"A".repeat(500)] {
            let e = Cursor::open(junk, &k).unwrap_err();
            assert!(
                e.to_string().contains("not a cursor this feed issued"),
                "{e}"
            );
        }
    }

    #[test]
    fn page_sizes_are_bounded() {
        assert_eq!(page_size(None).unwrap(), DEFAULT_PAGE);
        assert_eq!(page_size(Some(MAX_PAGE)).unwrap(), MAX_PAGE);
        for bad in [0, -1, MAX_PAGE + 1] {
            assert!(page_size(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn audited_actions_map_to_the_events_members_see() {
        let hold = json!({ "reason": "certificateHold" });
        let revoke = json!({ "reason": "cessationOfOperation" });
        assert_eq!(
            Kind::of_audit("certificate.revoke", &hold),
            Some(Kind::SiteHeld)
        );
        assert_eq!(
            Kind::of_audit("certificate.revoke", &revoke),
            Some(Kind::SiteRevoked)
        );
        assert_eq!(
            Kind::of_audit("complaint.decide", &json!({})),
            Some(Kind::ComplaintDecided)
        );
        assert_eq!(
            Kind::of_audit("record.submit", &json!({ "scope": "staff" })),
            None
        );
        assert_eq!(
            Kind::of_audit("record.submit", &json!({ "scope": "members" })),
            Some(Kind::RecordShared)
        );
        assert_eq!(Kind::of_audit("complaint.submit", &json!({})), None);
        assert_eq!(
            Kind::of_audit("warning.prominent", &json!({})),
            Some(Kind::CaseProminent)
        );
        // The projection reads ACTIONS only: each can make an event, and others cannot.
        let shared = json!({ "scope": "members", "reason": "keyCompromise" });
        for action in ACTIONS {
            assert!(Kind::of_audit(action, &shared).is_some(), "{action}");
        }
        for other in [
            "certificate.issue",
            "site.grace",
            "member.add",
            "record.attach",
        ] {
            assert_eq!(Kind::of_audit(other, &shared), None, "{other}");
        }
    }

    #[test]
    fn a_page_is_json_and_its_next_cursor_goes_on_from_its_last_event() {
        let k = key();
        let events = vec![Event {
            seq: 7,
            kind: "site.held".into(),
            at: 1,
            data: r#"{"site":"s_x"}"#.into(),
        }];
        let body: Value = serde_json::from_slice(&page_body(&events, Cursor(3), &k)).unwrap();
        assert_eq!(body["events"][0]["data"]["site"], "s_x");
        assert_eq!(
            Cursor::open(body["next"].as_str().unwrap(), &k).unwrap(),
            Cursor(7)
        );
        assert_eq!(body["events"][0]["cursor"], body["next"]);
        let empty: Value = serde_json::from_slice(&page_body(&[], Cursor(3), &k)).unwrap();
        assert_eq!(
            Cursor::open(empty["next"].as_str().unwrap(), &k).unwrap(),
            Cursor(3)
        );
    }
}
