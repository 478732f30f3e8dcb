//! What an operator is told when re-verification changes their site's state (issue
//! 18): it entered grace, its certificate was held, released or revoked. One notice
//! per transition, read from the transition's audit entry (the verifier writes the
//! reason, the failing checks and the next deadline there, in the transition's own
//! transaction), told three ways with the same words: a mail (Chinese first, English
//! second), a `site.*` webhook event, and the site's page in the portal.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::domain::clock::date_time;

/// The audited transitions that make a notice: the verifier's names.
pub const ACTIONS: [&str; 4] = ["site.grace", "site.suspend", "site.release", "site.revoke"];

/// The actor re-verification writes its audit entries as.
pub const ACTOR: &str = "verifier";

/// The most evidence lines a notice carries (the verifier stores at most as many).
pub const MAX_EVIDENCE: usize = 8;

/// Which transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// The checks failed: the grace period started.
    Grace,
    /// Failing past grace (or the filing's subject changed): certificate on hold.
    Held,
    /// The checks pass again: the hold was lifted.
    Released,
    /// Failing past the hold: the certificate was revoked.
    Revoked,
}

impl Kind {
    /// The notice an audited action makes.
    pub fn of_action(action: &str) -> Option<Kind> {
        match action {
            "site.grace" => Some(Kind::Grace),
            "site.suspend" => Some(Kind::Held),
            "site.release" => Some(Kind::Released),
            "site.revoke" => Some(Kind::Revoked),
            _ => None,
        }
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Grace => "grace",
            Kind::Held => "held",
            Kind::Released => "released",
            Kind::Revoked => "revoked",
        }
    }

    /// From the stored name.
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "grace" => Some(Kind::Grace),
            "held" => Some(Kind::Held),
            "released" => Some(Kind::Released),
            "revoked" => Some(Kind::Revoked),
            _ => None,
        }
    }

    /// The webhook event's name (the exchange feed names holds, releases and
    /// revocations the same way).
    pub fn event(self) -> &'static str {
        match self {
            Kind::Grace => "site.grace",
            Kind::Held => "site.held",
            Kind::Released => "site.released",
            Kind::Revoked => "site.revoked",
        }
    }

    /// The verifier's state this notice leaves the site in (`ok` after a release).
    pub fn state(self) -> &'static str {
        match self {
            Kind::Grace => "grace",
            Kind::Held => "suspended",
            Kind::Released => "ok",
            Kind::Revoked => "revoked",
        }
    }

    /// What happened, in Chinese and English.
    pub fn headline(self) -> (&'static str, &'static str) {
        match self {
            Kind::Grace => (
                "重新验证未通过，已进入宽限期",
                "Re-verification failed: grace period started",
            ),
            Kind::Held => (
                "重新验证仍未通过，证书已暂停",
                "Re-verification still fails: certificate on hold",
            ),
            Kind::Released => (
                "重新验证已通过，证书已恢复",
                "Re-verification passes again: certificate released",
            ),
            Kind::Revoked => (
                "重新验证持续未通过，证书已撤销",
                "Re-verification kept failing: certificate revoked",
            ),
        }
    }
}

/// One failing check, as the verifier recorded it in the audit entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// `dns-txt`, `http-file`, `html-meta` or `icp`.
    pub check: String,
    /// The domain checked.
    pub subject: String,
    /// Which resolver or provider answered.
    #[serde(default)]
    pub resolver: Option<String>,
    /// `fail`, `review` or `error`.
    #[serde(default)]
    pub verdict: String,
    /// The verifier's words.
    #[serde(default)]
    pub reasons: Vec<String>,
    /// Unix seconds.
    #[serde(default)]
    pub at: i64,
}

impl Evidence {
    /// The check in plain words: what we asked, and that it did not hold.
    pub fn plain(&self) -> (String, String) {
        let d = &self.subject;
        let zh = match self.check.as_str() {
            "dns-txt" => format!("DNS 中 _chengxin-challenge.{d} 没有含有您验证令牌的 TXT 记录"),
            "http-file" => {
                format!("http://{d}/.well-known/chengxin/ 下的验证文件没有返回您的验证令牌")
            }
            "html-meta" => format!("{d} 首页的 chengxin-site-verification 标签没有您的验证令牌"),
            "icp" => format!("{d} 的 ICP 备案与证书记载的不一致或查不到"),
            other => format!("{d} 的 {other} 检查未通过"),
        };
        let zh = if self.verdict == "error" {
            format!("{zh}（暂时无法查询，我们会重试）")
        } else {
            zh
        };
        let zh = match self.resolver.as_deref() {
            Some(r) => format!("{zh}（查询 {r}）"),
            None => zh,
        };
        let via = self
            .resolver
            .as_deref()
            .map(|r| format!(" (asked {r})"))
            .unwrap_or_default();
        let en = format!(
            "{} check of {d}: {}{via}",
            self.check,
            if self.reasons.is_empty() {
                self.verdict.clone()
            } else {
                self.reasons.join("; ")
            }
        );
        (zh, en)
    }

    /// How to make this check pass again.
    fn fix(&self) -> (String, String) {
        let d = &self.subject;
        match self.check.as_str() {
            "dns-txt" => (
                format!(
                    "在 DNS 中重新发布 TXT 记录 _chengxin-challenge.{d}（记录值见门户中该网站的页面）"
                ),
                format!(
                    "publish the TXT record _chengxin-challenge.{d} again (its value is on the site's page in the portal)"
                ),
            ),
            "http-file" => (
                format!("让 http://{d}/.well-known/chengxin/ 下的验证文件重新可以访问"),
                format!("make the file under http://{d}/.well-known/chengxin/ reachable again"),
            ),
            "html-meta" => (
                format!("把 chengxin-site-verification 标签放回 {d} 首页的 <head>"),
                format!(
                    "put the chengxin-site-verification tag back into the <head> of {d}'s homepage"
                ),
            ),
            _ => icp_fix(),
        }
    }
}

fn icp_fix() -> (String, String) {
    (
        "核对 ICP 备案（主体名称、备案号）与证书一致；备案主体已变更的，请重新申请".into(),
        "check that the ICP filing (holder, number) matches the certificate; if the holder changed, apply again".into(),
    )
}

/// A notice to a site's operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// Which transition.
    pub kind: Kind,
    /// The site id.
    pub site: String,
    /// Why, in the verifier's words.
    pub reason: String,
    /// The failing checks.
    pub evidence: Vec<Evidence>,
    /// When the next step comes unless the checks pass: the end of grace (then
    /// hold) or of the hold (then revocation).
    pub until: Option<i64>,
    /// When it happened, unix seconds.
    pub at: i64,
}

impl Notice {
    /// From a transition's audit entry (`details` its JSON): `None` for any other
    /// action.
    pub fn of_audit(action: &str, site: &str, details: &Value, at: i64) -> Option<Notice> {
        let kind = Kind::of_action(action)?;
        let evidence = details["evidence"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| serde_json::from_value(e.clone()).ok())
                    .take(MAX_EVIDENCE)
                    .collect()
            })
            .unwrap_or_default();
        Some(Notice {
            kind,
            site: site.to_string(),
            reason: details["reason"].as_str().unwrap_or_default().to_string(),
            evidence,
            until: details["until"].as_i64(),
            at,
        })
    }

    /// The deadline in words, if there is a next step.
    pub fn deadline(&self) -> Option<(String, String)> {
        let until = self.until?;
        let when = date_time(until);
        Some(match self.kind {
            Kind::Grace => (
                format!("宽限期至 {when}；届时检查仍未通过，证书将被暂停"),
                format!(
                    "Grace ends {when}; if the checks still fail then, the certificate is put on hold"
                ),
            ),
            _ => (
                format!("暂停期至 {when}；届时检查仍未通过，证书将被撤销"),
                format!(
                    "The hold ends {when}; if the checks still fail then, the certificate is revoked"
                ),
            ),
        })
    }

    /// What the operator should do.
    pub fn what_to_do(&self) -> (String, String) {
        let (fix_zh, fix_en) = self
            .evidence
            .iter()
            .find(|e| e.verdict != "error")
            .or(self.evidence.first())
            .map(Evidence::fix)
            .unwrap_or_else(|| {
                if self.reason.contains("ICP") || self.reason.contains("filing") {
                    icp_fix()
                } else {
                    (
                        "恢复您验证网站时使用的方式（DNS 记录、验证文件或首页标签）".into(),
                        "restore the proof you verified the site with (DNS record, file or homepage tag)".into(),
                    )
                }
            });
        match self.kind {
            Kind::Grace | Kind::Held => (
                format!("请{fix_zh}，然后在门户中该网站的页面点击“重新验证”，检查通过即恢复正常。"),
                format!(
                    "Please {fix_en}, then press \"Re-verify\" on the site's page in the portal: once the checks pass, all is back to normal."
                ),
            ),
            Kind::Released => (
                "无需操作：印章已恢复正常显示。".into(),
                "Nothing to do: the seal shows as certified again.".into(),
            ),
            Kind::Revoked => (
                format!("证书已撤销，无法恢复。如需继续使用诚信印章，请{fix_zh}后重新申请。"),
                format!(
                    "A revocation cannot be undone. To use the seal again, {fix_en} and apply again."
                ),
            ),
        }
    }

    /// The mail to the operator: subject and text; `url` is the site's page in the
    /// portal.
    pub fn mail(&self, domain: &str, url: &str) -> (String, String) {
        let (head_zh, head_en) = self.kind.headline();
        let (todo_zh, todo_en) = self.what_to_do();
        let mut zh = format!(
            "您好！\n\n{domain}：{head_zh}（{when}）。\n原因：{reason}\n",
            when = date_time(self.at),
            reason = self.reason
        );
        let mut en = format!(
            "Hello,\n\n{domain}: {head_en} ({when}).\nReason: {reason}\n",
            when = date_time(self.at),
            reason = self.reason
        );
        if !self.evidence.is_empty() {
            zh.push_str("\n我们的检查：\n");
            en.push_str("\nWhat we checked:\n");
            for e in &self.evidence {
                let (z, n) = e.plain();
                zh.push_str(&format!("- {z}\n"));
                en.push_str(&format!("- {n}\n"));
            }
        }
        if let Some((dz, de)) = self.deadline() {
            zh.push_str(&format!("\n期限：{dz}。\n"));
            en.push_str(&format!("\nDeadline: {de}.\n"));
        }
        zh.push_str(&format!("\n{todo_zh}\n{url}\n"));
        en.push_str(&format!("\n{todo_en}\n{url}\n"));
        (
            format!("【诚信】{domain} {head_zh} / {domain}: {head_en}"),
            format!("{zh}\n---\n\n{en}"),
        )
    }

    /// The webhook event's data.
    pub fn webhook_data(&self, domain: &str, url: &str) -> Value {
        let (todo_zh, todo_en) = self.what_to_do();
        json!({
            "site": self.site,
            "domain": domain,
            "state": self.kind.state(),
            "reason": self.reason,
            "evidence": self.evidence.iter().map(|e| {
                let (zh, en) = e.plain();
                json!({ "check": e.check, "subject": e.subject, "resolver": e.resolver,
                        "verdict": e.verdict, "reasons": e.reasons, "at": e.at,
                        "plain_zh": zh, "plain_en": en })
            }).collect::<Vec<_>>(),
            "deadline_at": self.until,
            "what_to_do_zh": todo_zh,
            "what_to_do_en": todo_en,
            "at": self.at,
            "url": url,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grace() -> Notice {
        Notice::of_audit(
            "site.grace",
            "s_example",
            &json!({
                "reason": "example.cn: dns-txt: no TXT record at _chengxin-challenge.example.cn holds the token",
                "until": 1_764_900_000,
                "evidence": [{
                    "check": "dns-txt", "subject": "example.cn", "resolver": "223.5.5.5:53",
                    "verdict": "fail",
                    "reasons": ["no TXT record at _chengxin-challenge.example.cn holds the token"],
                    "at": 1_764_640_800
                }]
            }),
            1_764_640_800,
        )
        .unwrap()
    }

    #[test]
    fn only_the_four_transitions_make_notices() {
        for a in ACTIONS {
            assert!(Kind::of_action(a).is_some(), "{a}");
        }
        assert!(Notice::of_audit("site.enroll", "s", &json!({}), 0).is_none());
        assert_eq!(
            Kind::of_action("site.suspend").map(Kind::event),
            Some("site.held")
        );
        for k in [Kind::Grace, Kind::Held, Kind::Released, Kind::Revoked] {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
        }
    }

    #[test]
    fn a_grace_mail_says_why_what_we_saw_what_to_do_and_by_when() {
        let n = grace();
        let (subject, text) = n.mail("example.cn", "https://chengxin.test/portal/sites/s_example");
        insta::assert_snapshot!("grace-mail", format!("{subject}\n\n{text}"));
        // Chinese first, then English.
        assert!(text.find("宽限期至").unwrap() < text.find("Grace ends").unwrap());
        assert!(text.contains("_chengxin-challenge.example.cn"));
        assert!(text.contains("223.5.5.5:53"));
    }

    #[test]
    fn hold_release_and_revocation_mails() {
        let mut n = grace();
        n.kind = Kind::Held;
        let (s, t) = n.mail("example.cn", "https://chengxin.test/portal/sites/s_example");
        insta::assert_snapshot!("held-mail", format!("{s}\n\n{t}"));
        assert!(t.contains("将被撤销") && t.contains("is revoked"));
        n.kind = Kind::Released;
        n.until = None;
        n.evidence.clear();
        n.reason = "checks pass again".into();
        let (s, t) = n.mail("example.cn", "https://chengxin.test/portal/sites/s_example");
        insta::assert_snapshot!("released-mail", format!("{s}\n\n{t}"));
        assert!(!t.contains("Deadline"));
        let mut n = grace();
        n.kind = Kind::Revoked;
        n.until = None;
        n.reason = format!("cessationOfOperation: {}", n.reason);
        let (s, t) = n.mail("example.cn", "https://chengxin.test/portal/sites/s_example");
        insta::assert_snapshot!("revoked-mail", format!("{s}\n\n{t}"));
        assert!(t.contains("apply again"));
    }

    #[test]
    fn the_webhook_carries_state_reason_evidence_deadline_and_what_to_do() {
        let v = grace().webhook_data("example.cn", "https://x/portal/sites/s_example");
        assert_eq!(v["state"], "grace");
        assert_eq!(v["deadline_at"], 1_764_900_000);
        assert_eq!(v["evidence"][0]["resolver"], "223.5.5.5:53");
        assert!(
            v["what_to_do_en"]
                .as_str()
                .unwrap()
                .contains("_chengxin-challenge.example.cn")
        );
    }
}
