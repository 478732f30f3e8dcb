//! One log entry: an event about a seal, in one canonical text encoding.
//!
//! The encoding is lines of `key value`, in a fixed order, each key at most once
//! (`domain` once per domain, sorted), values printable ASCII without spaces, every
//! line ending in `\n`. Text, so that an auditor can read an entry with `cat`;
//! canonical, so that the same event always hashes the same: [`Entry::parse`] takes
//! only bytes that [`Entry::encode`] would give back. `docs/log-format.md` is the
//! specification, with a worked example.
//!
//! No personal data: a complaint appears only as a salted hash of its id; the
//! organization appears by its unified social credit code, which is public.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::{Error, Result};

/// The first line of every entry: names the format and its version.
pub const HEADER: &str = "chengxin-log-entry/v1";

/// The largest entry: an entry bundle prefixes each entry with a 16-bit length
/// (C2SP tlog-tiles).
pub const MAX_ENTRY_BYTES: usize = u16::MAX as usize;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A certificate was issued (the entry carries its DER).
    Issue,
    /// A certificate was put on hold (certificateHold).
    Hold,
    /// A hold was released (removeFromCRL).
    Release,
    /// A certificate was revoked for good.
    Revoke,
    /// A complaint about a site was decided.
    ComplaintDecision,
    /// The head of the audit chain, so that a rewritten audit log is caught.
    AuditAnchor,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 6] = [
        Kind::Issue,
        Kind::Hold,
        Kind::Release,
        Kind::Revoke,
        Kind::ComplaintDecision,
        Kind::AuditAnchor,
    ];

    /// The name written in the entry.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Issue => "issue",
            Kind::Hold => "hold",
            Kind::Release => "release",
            Kind::Revoke => "revoke",
            Kind::ComplaintDecision => "complaint_decision",
            Kind::AuditAnchor => "audit_anchor",
        }
    }

    /// The kind with this name.
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Whether entries of this kind are about one certificate.
    pub fn names_certificate(self) -> bool {
        matches!(
            self,
            Kind::Issue | Kind::Hold | Kind::Release | Kind::Revoke
        )
    }
}

/// One event. Which fields a kind requires is checked by [`Entry::encode`]:
/// certificate events name issuer, serial, certificate hash, organization and
/// domains, and the site when the certificate was issued for one (issue adds the DER; hold and revoke add the reason); a complaint decision
/// names the site, its domains, the decision and the complaint's salted hash; an audit
/// anchor names the audit chain's size and head.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Entry {
    /// What happened.
    pub kind: Option<Kind>,
    /// When, in Unix seconds (UTC).
    pub time: i64,
    /// The issuing CA's slug.
    pub issuer: Option<String>,
    /// The certificate serial, lowercase hex.
    pub serial: Option<String>,
    /// SHA-256 of the certificate's DER.
    pub sha256: Option<[u8; 32]>,
    /// The site id (`s_…`).
    pub site: Option<String>,
    /// The organization's unified social credit code.
    pub uscc: Option<String>,
    /// The site's domains (A-labels), sorted and unique when encoded.
    pub domains: Vec<String>,
    /// The RFC 5280 reason name (`keyCompromise`, `certificateHold`, …).
    pub reason: Option<String>,
    /// A complaint decision: `upheld` or `dismissed`.
    pub decision: Option<String>,
    /// A complaint decision: SHA-256 of the log's secret salt and the complaint id.
    pub complaint: Option<[u8; 32]>,
    /// An audit anchor: how many audit entries the chain holds.
    pub audit_size: Option<u64>,
    /// An audit anchor: the hash of the chain's last entry.
    pub audit_head: Option<[u8; 32]>,
    /// An issue: the certificate's DER.
    pub certificate: Option<Vec<u8>>,
}

/// A value that is safe on one line: printable ASCII, no space, not empty.
fn token(field: &str, value: &str) -> Result<()> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::Entry(format!(
            "{field} must be printable ASCII without spaces: {value:?}"
        )));
    }
    Ok(())
}

fn domain_ok(d: &str) -> Result<()> {
    let ok = !d.is_empty()
        && d.len() <= 253
        && d.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    if !ok {
        return Err(Error::Entry(format!(
            "domain must be a lowercase A-label: {d:?}"
        )));
    }
    Ok(())
}

impl Entry {
    /// A new entry of `kind` at `time` (Unix seconds), every other field empty.
    pub fn new(kind: Kind, time: i64) -> Entry {
        Entry {
            kind: Some(kind),
            time,
            ..Entry::default()
        }
    }

    /// The kind (every encoded entry has one).
    pub fn kind(&self) -> Kind {
        self.kind.unwrap_or(Kind::Issue)
    }

    fn check(&self) -> Result<Kind> {
        let kind = self
            .kind
            .ok_or_else(|| Error::Entry("an entry needs a kind".into()))?;
        let need = |present: bool, field: &str| {
            if present {
                Ok(())
            } else {
                Err(Error::Entry(format!(
                    "a {} entry needs {field}",
                    kind.name()
                )))
            }
        };
        let forbid = |present: bool, field: &str| {
            if present {
                Err(Error::Entry(format!(
                    "a {} entry has no {field}",
                    kind.name()
                )))
            } else {
                Ok(())
            }
        };
        let cert = kind.names_certificate();
        for (present, field) in [
            (self.issuer.is_some(), "issuer"),
            (self.serial.is_some(), "serial"),
            (self.sha256.is_some(), "sha256"),
            (self.uscc.is_some(), "uscc"),
        ] {
            if cert {
                need(present, field)?
            } else {
                forbid(present, field)?
            }
        }
        if kind == Kind::AuditAnchor {
            forbid(self.site.is_some(), "site")?;
            forbid(!self.domains.is_empty(), "domain")?;
        } else {
            // A certificate issued outside a site (`ca issue`) has no site id.
            need(self.site.is_some() || cert, "site")?;
            need(!self.domains.is_empty(), "domain")?;
        }
        let reason = matches!(kind, Kind::Hold | Kind::Revoke);
        if reason {
            need(self.reason.is_some(), "reason")?
        } else {
            forbid(self.reason.is_some(), "reason")?
        }
        let decided = kind == Kind::ComplaintDecision;
        for (present, field) in [
            (self.decision.is_some(), "decision"),
            (self.complaint.is_some(), "complaint"),
        ] {
            if decided {
                need(present, field)?
            } else {
                forbid(present, field)?
            }
        }
        if let Some(d) = &self.decision
            && d != "upheld"
            && d != "dismissed"
        {
            return Err(Error::Entry(format!(
                "decision is upheld or dismissed, not {d:?}"
            )));
        }
        let anchor = kind == Kind::AuditAnchor;
        for (present, field) in [
            (self.audit_size.is_some(), "audit-size"),
            (self.audit_head.is_some(), "audit-head"),
        ] {
            if anchor {
                need(present, field)?
            } else {
                forbid(present, field)?
            }
        }
        if kind == Kind::Issue {
            need(self.certificate.is_some(), "certificate")?;
        } else {
            forbid(self.certificate.is_some(), "certificate")?;
        }
        for (field, value) in [
            ("issuer", &self.issuer),
            ("serial", &self.serial),
            ("site", &self.site),
            ("uscc", &self.uscc),
            ("reason", &self.reason),
        ] {
            if let Some(v) = value {
                token(field, v)?;
            }
        }
        if let Some(s) = &self.serial
            && !s
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(Error::Entry(format!("serial must be lowercase hex: {s:?}")));
        }
        for d in &self.domains {
            domain_ok(d)?;
        }
        Ok(kind)
    }

    /// The canonical bytes. Domains are written sorted and without repeats, so the
    /// caller's order does not matter.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let kind = self.check()?;
        let time = OffsetDateTime::from_unix_timestamp(self.time)
            .ok()
            .filter(|t| (1970..=9999).contains(&t.year()))
            .ok_or_else(|| Error::Entry(format!("time out of range: {}", self.time)))?
            .format(&Rfc3339)
            .map_err(|e| Error::Entry(e.to_string()))?;
        let mut out = String::with_capacity(256);
        let mut line = |k: &str, v: &str| {
            out.push_str(k);
            out.push(' ');
            out.push_str(v);
            out.push('\n');
        };
        let hex32 = |h: &Option<[u8; 32]>| h.map(hex::encode);
        line("kind", kind.name());
        line("time", &time);
        let fields = [
            ("issuer", self.issuer.clone()),
            ("serial", self.serial.clone()),
            ("sha256", hex32(&self.sha256)),
            ("site", self.site.clone()),
            ("uscc", self.uscc.clone()),
        ];
        for (k, v) in &fields {
            if let Some(v) = v {
                line(k, v);
            }
        }
        let mut domains = self.domains.clone();
        domains.sort();
        domains.dedup();
        for d in &domains {
            line("domain", d);
        }
        let tail = [
            ("reason", self.reason.clone()),
            ("decision", self.decision.clone()),
            ("complaint", hex32(&self.complaint)),
            ("audit-size", self.audit_size.map(|n| n.to_string())),
            ("audit-head", hex32(&self.audit_head)),
            (
                "certificate",
                self.certificate.as_ref().map(|d| STANDARD.encode(d)),
            ),
        ];
        for (k, v) in &tail {
            if let Some(v) = v {
                line(k, v);
            }
        }
        let bytes = format!("{HEADER}\n{out}").into_bytes();
        if bytes.len() > MAX_ENTRY_BYTES {
            return Err(Error::Entry(format!(
                "{} bytes, more than the {MAX_ENTRY_BYTES} an entry bundle can hold",
                bytes.len()
            )));
        }
        Ok(bytes)
    }

    /// Reads an entry, refusing anything that is not exactly the canonical encoding.
    pub fn parse(bytes: &[u8]) -> Result<Entry> {
        let text = std::str::from_utf8(bytes).map_err(|_| Error::Entry("not UTF-8".into()))?;
        let body = text
            .strip_prefix(HEADER)
            .and_then(|t| t.strip_prefix('\n'))
            .ok_or_else(|| Error::Entry(format!("does not begin with {HEADER}")))?;
        let mut e = Entry::default();
        let hash = |v: &str| -> Result<[u8; 32]> {
            let mut h = [0u8; 32];
            hex::decode_to_slice(v, &mut h)
                .map_err(|_| Error::Entry(format!("not a SHA-256 in hex: {v:?}")))?;
            Ok(h)
        };
        for line in body.split_terminator('\n') {
            let (k, v) = line
                .split_once(' ')
                .ok_or_else(|| Error::Entry(format!("line without a value: {line:?}")))?;
            let dup = || Error::Entry(format!("{k} given twice"));
            match k {
                "kind" => {
                    let kind = Kind::from_name(v)
                        .ok_or_else(|| Error::Entry(format!("unknown kind {v:?}")))?;
                    if e.kind.replace(kind).is_some() {
                        return Err(dup());
                    }
                }
                "time" => {
                    e.time = OffsetDateTime::parse(v, &Rfc3339)
                        .map_err(|_| Error::Entry(format!("not an RFC 3339 time: {v:?}")))?
                        .unix_timestamp();
                }
                "issuer" => e.issuer = Some(v.to_owned()),
                "serial" => e.serial = Some(v.to_owned()),
                "sha256" => e.sha256 = Some(hash(v)?),
                "site" => e.site = Some(v.to_owned()),
                "uscc" => e.uscc = Some(v.to_owned()),
                "domain" => e.domains.push(v.to_owned()),
                "reason" => e.reason = Some(v.to_owned()),
                "decision" => e.decision = Some(v.to_owned()),
                "complaint" => e.complaint = Some(hash(v)?),
                "audit-size" => {
                    e.audit_size = Some(
                        v.parse()
                            .map_err(|_| Error::Entry(format!("not a count: {v:?}")))?,
                    )
                }
                "audit-head" => e.audit_head = Some(hash(v)?),
                "certificate" => {
                    e.certificate = Some(
                        STANDARD
                            .decode(v)
                            .map_err(|_| Error::Entry("certificate is not base64".into()))?,
                    )
                }
                _ => return Err(Error::Entry(format!("unknown field {k:?}"))),
            }
        }
        // Whatever was read must encode back to the very same bytes: this refuses
        // repeated or reordered fields, unsorted domains, other spellings of a time.
        if e.encode()? != bytes {
            return Err(Error::Entry("not in the canonical encoding".into()));
        }
        Ok(e)
    }

    /// SHA-256 of the certificate, for the `sha256` field.
    pub fn certificate_sha256(der: &[u8]) -> [u8; 32] {
        let d = ring::digest::digest(&ring::digest::SHA256, der);
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        out
    }

    /// The salted hash of a complaint id, for the `complaint` field: SHA-256 of the
    /// salt, a zero byte, and the id. The salt is the log's secret, so nobody can test
    /// a guessed id against the log; the complainant, told the hash, can find it.
    pub fn complaint_hash(salt: &[u8], complaint_id: &str) -> [u8; 32] {
        let mut c = ring::digest::Context::new(&ring::digest::SHA256);
        c.update(salt);
        c.update(&[0]);
        c.update(complaint_id.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(c.finish().as_ref());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issue() -> Entry {
        Entry {
            issuer: Some("chengxin-issuing-1".into()),
            serial: Some("7c0a".into()),
            sha256: Some([7; 32]),
            site: Some("s_abc".into()),
            uscc: Some("91110108MA04T7K21H".into()),
            domains: vec!["www.example.cn".into(), "example.cn".into()],
            certificate: Some(vec![0x30, 0x03, 0x02, 0x01, 0x01]),
            ..Entry::new(Kind::Issue, 1_796_000_000)
        }
    }

    #[test]
    fn an_issue_entry_encodes_to_sorted_lines_and_parses_back() {
        let bytes = issue().encode().unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert_eq!(
            text,
            "chengxin-log-entry/v1\nkind issue\ntime 2026-11-30T00:53:20Z\nissuer chengxin-issuing-1\n\
             serial 7c0a\nsha256 0707070707070707070707070707070707070707070707070707070707070707\n\
             site s_abc\nuscc 91110108MA04T7K21H\ndomain example.cn\ndomain www.example.cn\n\
             certificate MAMCAQE=\n"
        );
        let back = Entry::parse(&bytes).unwrap();
        assert_eq!(back.domains, ["example.cn", "www.example.cn"]);
        assert_eq!(back.encode().unwrap(), bytes);
    }

    #[test]
    fn anything_but_the_canonical_bytes_is_refused() {
        let bytes = issue().encode().unwrap();
        let text = String::from_utf8(bytes).unwrap();
        let swapped = text.replace(
            "domain example.cn\ndomain www.example.cn\n",
            "domain www.example.cn\ndomain example.cn\n",
        );
        let spaced = text.replace("kind issue", "kind  issue");
        let crlf = text.replace('\n', "\r\n");
        let offset = text.replace("00:53:20Z", "08:53:20+08:00");
        let twice = text.replace("site s_abc\n", "site s_abc\nsite s_abc\n");
        let unknown = format!("{text}extra 1\n");
        for bad in [swapped, spaced, crlf, offset, twice, unknown] {
            assert!(Entry::parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn each_kind_needs_its_fields_and_no_others() {
        let mut hold = issue();
        hold.kind = Some(Kind::Hold);
        hold.certificate = None;
        assert!(hold.encode().is_err(), "a hold needs a reason");
        hold.reason = Some("certificateHold".into());
        hold.encode().unwrap();
        let mut decision = Entry::new(Kind::ComplaintDecision, 1);
        decision.site = Some("s_abc".into());
        decision.domains = vec!["example.cn".into()];
        decision.decision = Some("upheld".into());
        assert!(
            decision.encode().is_err(),
            "a decision needs the complaint hash"
        );
        decision.complaint = Some(Entry::complaint_hash(b"salt", "c_1"));
        decision.encode().unwrap();
        decision.uscc = Some("91110108MA04T7K21H".into());
        assert!(
            decision.encode().is_err(),
            "a decision names no certificate"
        );
        decision.uscc = None;
        decision.decision = Some("maybe".into());
        assert!(decision.encode().is_err());
        let mut anchor = Entry::new(Kind::AuditAnchor, 1);
        anchor.audit_size = Some(12);
        anchor.audit_head = Some([1; 32]);
        let bytes = anchor.encode().unwrap();
        assert_eq!(Entry::parse(&bytes).unwrap(), anchor);
    }

    #[test]
    fn values_that_could_break_a_line_are_refused() {
        let mut e = issue();
        e.site = Some("s_a\nkind revoke".into());
        assert!(e.encode().is_err());
        let mut e = issue();
        e.domains = vec!["例子.cn".into()];
        assert!(e.encode().is_err(), "domains are A-labels");
        let mut e = issue();
        e.serial = Some("7C0A".into());
        assert!(e.encode().is_err(), "serials are lowercase hex");
        let mut e = issue();
        e.certificate = Some(vec![0; 60_000]);
        assert!(e.encode().is_err(), "an entry fits a 16-bit length");
    }

    #[test]
    fn the_worked_example_of_the_format_document_is_what_the_code_writes() {
        let doc = include_str!("../../docs/log-format.md");
        let mut sha256 = [0u8; 32];
        hex::decode_to_slice(
            "60a3fc80cd8d087bc8168f6570269dc500863b337424a07aa71b9a104dc25c7f",
            &mut sha256,
        )
        .unwrap();
        let e = Entry {
            issuer: Some("chengxin-site-identity-ca-1".into()),
            serial: Some("01a3f09c2e5b7d4410".into()),
            sha256: Some(sha256),
            site: Some("s_Vr-j0HSLH7mT".into()),
            uscc: Some("91110108MA04T7K21H".into()),
            domains: vec!["www.chenxi-shuzhi.cn".into(), "chenxi-shuzhi.cn".into()],
            reason: Some("keyCompromise".into()),
            ..Entry::new(Kind::Revoke, 1_796_270_400)
        };
        let bytes = e.encode().unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        let shown = doc
            .split("<!-- example-entry -->\n```text\n")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .unwrap();
        assert_eq!(shown, text);
        assert!(doc.contains(&format!("{} bytes", bytes.len())));
        let leaf = hex::encode(crate::tiles::leaf_hash(&bytes).0);
        assert!(
            doc.contains(&format!("`{leaf}`\n<!-- example-leaf -->")),
            "{leaf}"
        );
    }

    #[test]
    fn the_complaint_hash_depends_on_the_salt() {
        assert_ne!(
            Entry::complaint_hash(b"a", "c_1"),
            Entry::complaint_hash(b"b", "c_1")
        );
        assert_ne!(
            Entry::complaint_hash(b"a", "c_1"),
            Entry::complaint_hash(b"a", "c_2")
        );
    }
}
