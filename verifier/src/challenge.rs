//! Domain control, ACME-style (RFC 8555 semantics, our names): a TXT record, a file
//! under `/.well-known/chengxin/`, or a meta tag in the homepage head.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use ca::identity::Domain;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::config::VerifierSettings;
use crate::dns::Perspectives;
use crate::http::SafeHttp;
use crate::token::Token;
use crate::verdict::{Evidence, Outcome, Verdict, now};
use crate::{Error, Result};

/// Label under which the TXT record lives.
pub const DNS_LABEL: &str = "_chengxin-challenge";
/// Meta tag name for `html-meta`.
pub const META_NAME: &str = "chengxin-site-verification";

/// A domain-control method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// TXT record at `_chengxin-challenge.<domain>` equal to the token.
    DnsTxt,
    /// `http://<domain>/.well-known/chengxin/<token>` returns the token.
    HttpFile,
    /// `<meta name="chengxin-site-verification" content="<token>">` in the homepage head.
    HtmlMeta,
}

impl Method {
    /// Every method, in the order they are tried by default.
    pub const ALL: [Method; 3] = [Method::DnsTxt, Method::HttpFile, Method::HtmlMeta];

    /// The method's name (`dns-txt`, `http-file`, `html-meta`).
    pub fn as_str(self) -> &'static str {
        match self {
            Method::DnsTxt => "dns-txt",
            Method::HttpFile => "http-file",
            Method::HtmlMeta => "html-meta",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Method {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Method::ALL
            .into_iter()
            .find(|m| m.as_str() == s.trim())
            .ok_or_else(|| {
                Error::Config(format!(
                    "unknown method {s:?}; use dns-txt, http-file or html-meta"
                ))
            })
    }
}

/// What the operator must publish, per method.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "method", rename_all = "kebab-case")]
pub enum Instruction {
    /// Publish a TXT record.
    DnsTxt {
        /// Record name.
        name: String,
        /// Record value.
        value: String,
    },
    /// Serve a file.
    HttpFile {
        /// Where.
        url: String,
        /// Its exact body.
        body: String,
    },
    /// Add a tag to the homepage head.
    HtmlMeta {
        /// The tag.
        html: String,
    },
}

/// Runs domain-control checks.
#[derive(Debug, Clone)]
pub struct Challenger {
    dns: Arc<Perspectives>,
    http: SafeHttp,
    http_port: u16,
}

impl Challenger {
    /// From settings: perspectives, SSRF policy, challenge port, timeouts.
    pub fn from_settings(s: &VerifierSettings) -> Result<Self> {
        let servers = s.dns_servers()?;
        let dns = Arc::new(Perspectives::new(
            &servers,
            s.quorum(servers.len())?,
            s.dns_timeout(),
        )?);
        let http = SafeHttp::new(
            dns.clone(),
            s.private_policy()?,
            s.http_challenge_port,
            s.http_timeout(),
        )?;
        Ok(Challenger {
            dns,
            http,
            http_port: s.http_challenge_port,
        })
    }

    fn port_suffix(&self) -> String {
        if self.http_port == 80 {
            String::new()
        } else {
            format!(":{}", self.http_port)
        }
    }

    /// The three ways to prove control of `domain` with `token`.
    pub fn instructions(&self, domain: &Domain, token: &Token) -> Vec<Instruction> {
        vec![
            Instruction::DnsTxt {
                name: format!("{DNS_LABEL}.{domain}"),
                value: token.to_string(),
            },
            Instruction::HttpFile {
                url: format!(
                    "http://{domain}{}/.well-known/chengxin/{token}",
                    self.port_suffix()
                ),
                body: token.to_string(),
            },
            Instruction::HtmlMeta {
                html: format!("<meta name=\"{META_NAME}\" content=\"{token}\">"),
            },
        ]
    }

    /// Runs one method.
    pub async fn check(&self, method: Method, domain: &Domain, token: &Token) -> Outcome {
        let evidence = match method {
            Method::DnsTxt => self.dns_txt(domain, token).await,
            Method::HttpFile => self.http_file(domain, token).await,
            Method::HtmlMeta => self.html_meta(domain, token).await,
        };
        Outcome::single(evidence)
    }

    /// Tries each method in turn; the first that proves control counts. Every attempt's
    /// evidence is kept. Without a pass, the verdict is an error if any method could not
    /// be checked, else a failure.
    pub async fn check_any(&self, methods: &[Method], domain: &Domain, token: &Token) -> Outcome {
        let mut evidence = Vec::new();
        let mut reasons = Vec::new();
        let mut any_error = false;
        for m in methods {
            let e = self.check(*m, domain, token).await.evidence.remove(0);
            let verdict = e.verdict;
            reasons.extend(e.reasons.iter().map(|r| format!("{m}: {r}")));
            evidence.push(e);
            if verdict == Verdict::Pass {
                return Outcome {
                    verdict,
                    reasons: vec![format!("{m}: control proven")],
                    evidence,
                };
            }
            any_error |= verdict == Verdict::Error;
        }
        Outcome {
            verdict: if any_error {
                Verdict::Error
            } else {
                Verdict::Fail
            },
            reasons,
            evidence,
        }
    }

    async fn dns_txt(&self, domain: &Domain, token: &Token) -> Evidence {
        let name = format!("{DNS_LABEL}.{domain}");
        let answers = self.dns.txt(&name).await;
        let answered = answers.iter().filter(|a| a.error.is_none()).count();
        let agreeing = answers
            .iter()
            .filter(|a| a.records.iter().any(|r| r.trim() == token.as_str()))
            .count();
        let quorum = self.dns.quorum();
        let (verdict, reason) = if agreeing >= quorum {
            (
                Verdict::Pass,
                format!(
                    "{agreeing} of {} resolvers see the token at {name}",
                    answers.len()
                ),
            )
        } else if answered < quorum {
            (
                Verdict::Error,
                format!(
                    "only {answered} of {} resolvers answered for {name}; {quorum} must agree",
                    answers.len()
                ),
            )
        } else if agreeing > 0 {
            (
                Verdict::Fail,
                format!(
                    "only {agreeing} of {} resolvers see the token at {name}; {quorum} must agree",
                    answers.len()
                ),
            )
        } else {
            (
                Verdict::Fail,
                format!("no TXT record at {name} holds the token"),
            )
        };
        self.evidence(
            Method::DnsTxt,
            domain,
            json!({ "name": name, "type": "TXT", "quorum": quorum }),
            json!(answers),
            verdict,
            reason,
        )
    }

    async fn http_file(&self, domain: &Domain, token: &Token) -> Evidence {
        let url = format!(
            "http://{domain}{}/.well-known/chengxin/{token}",
            self.port_suffix()
        );
        self.fetch_check(Method::HttpFile, domain, &url, |f| {
            let body = String::from_utf8_lossy(&f.body);
            let (v, r) = if f.status != 200 {
                (Verdict::Fail, format!("{url} answered HTTP {}", f.status))
            } else if body.trim() == token.as_str() {
                (Verdict::Pass, format!("{url} returns the token"))
            } else {
                (Verdict::Fail, format!("{url} does not return the token"))
            };
            (v, r, json!(f))
        })
        .await
    }

    async fn html_meta(&self, domain: &Domain, token: &Token) -> Evidence {
        let url = format!("http://{domain}{}/", self.port_suffix());
        self.fetch_check(Method::HtmlMeta, domain, &url, |f| {
            let found = meta_contents(&String::from_utf8_lossy(&f.body));
            let (v, r) = if f.status != 200 {
                (
                    Verdict::Fail,
                    format!("the homepage answered HTTP {}", f.status),
                )
            } else if found.iter().any(|c| c.trim() == token.as_str()) {
                (
                    Verdict::Pass,
                    format!("the homepage head carries the {META_NAME} tag"),
                )
            } else if found.is_empty() {
                (
                    Verdict::Fail,
                    format!("no <meta name=\"{META_NAME}\"> in the homepage head"),
                )
            } else {
                (
                    Verdict::Fail,
                    format!("the {META_NAME} tag does not hold the token"),
                )
            };
            let mut answered = json!(f);
            answered["meta_contents"] = json!(found);
            (v, r, answered)
        })
        .await
    }

    /// Fetches `url` through the guarded client and judges what came back; a fetch
    /// failure is an error when retrying could help, else a failure.
    async fn fetch_check(
        &self,
        method: Method,
        domain: &Domain,
        url: &str,
        judge: impl FnOnce(&crate::http::Fetched) -> (Verdict, String, serde_json::Value),
    ) -> Evidence {
        let (verdict, reason, answered) = match self.http.get(url).await {
            Ok(f) => judge(&f),
            Err(f) => (
                if f.transient {
                    Verdict::Error
                } else {
                    Verdict::Fail
                },
                f.reason.clone(),
                json!(f),
            ),
        };
        self.evidence(
            method,
            domain,
            json!({ "url": url }),
            answered,
            verdict,
            reason,
        )
    }

    fn evidence(
        &self,
        method: Method,
        domain: &Domain,
        asked: serde_json::Value,
        answered: serde_json::Value,
        verdict: Verdict,
        reason: String,
    ) -> Evidence {
        Evidence {
            check: method.to_string(),
            subject: domain.to_string(),
            asked,
            answered,
            resolver: Some(self.dns.servers().join(",")),
            at: now(),
            verdict,
            reasons: vec![reason],
        }
    }
}

/// The `content` of every `<meta name="chengxin-site-verification">` inside `<head>`,
/// as a real HTML parser (html5ever) sees the document.
pub fn meta_contents(html: &str) -> Vec<String> {
    let doc = scraper::Html::parse_document(html);
    let Ok(selector) = scraper::Selector::parse(&format!("head meta[name=\"{META_NAME}\"]")) else {
        return Vec::new();
    };
    doc.select(&selector)
        .filter_map(|e| e.value().attr("content"))
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_meta_tag_in_the_head_counts() {
        let in_head = r#"<html><head><title>x</title><meta name="chengxin-site-verification" content="abc"></head><body></body></html>"#;
        assert_eq!(meta_contents(in_head), vec!["abc"]);
        let in_body = r#"<html><head></head><body><p>hi</p><meta name="chengxin-site-verification" content="abc"></body></html>"#;
        assert!(meta_contents(in_body).is_empty());
        let in_comment = r#"<html><head><!-- <meta name="chengxin-site-verification" content="abc"> --></head></html>"#;
        assert!(meta_contents(in_comment).is_empty());
        let in_script = r#"<html><head><script>"<meta name='chengxin-site-verification' content='abc'>"</script></head></html>"#;
        assert!(meta_contents(in_script).is_empty());
    }

    #[test]
    fn methods_parse_from_their_names() {
        for m in Method::ALL {
            assert_eq!(m.as_str().parse::<Method>().unwrap(), m);
        }
        assert!("dns".parse::<Method>().is_err());
    }
}
