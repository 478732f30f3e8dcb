//! ICP filing providers and the rules that match a filing to an applicant.
//!
//! A seal may only name an organization that MIIT's filing system names for the same
//! registrable domain (`shared/icp.md` §5, §7). The filing data comes from a
//! [`IcpProvider`]: [`MiitProvider`] speaks the JSON shape of the MIIT query over HTTP
//! (production points it at a licensed data source with that shape), and
//! [`FileProvider`] serves an offline dataset. [`evaluate`] applies the rules to the
//! rows, and [`check`] runs query plus rules and records the evidence.
//!
//! A provider that cannot answer yields [`crate::Verdict::Error`]:
//! retryable, never a pass and never a silent failure.

mod file;
pub mod index;
mod miit;
mod rules;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::identity::{Domain, IcpNumber, Uscc};
use crate::verdict::{Evidence, Outcome, Verdict, now};

pub use file::{FileProvider, import, read_records};
pub use index::IndexedProvider;
pub use miit::{MAX_PAGES, MAX_RESPONSE_BYTES, MiitProvider};
pub use rules::{covers, evaluate, normalise_name};

/// The environment variable holding the provider spec (`miit:URL` or `file:PATH`),
/// named here so the CLI and the server read the same one.
pub const PROVIDER_ENV: &str = "CHENGXIN_ICP_PROVIDER";
/// The environment variable holding the optional `token` header value for the HTTP
/// provider; kept out of the spec so it never lands in logs or evidence.
pub const TOKEN_ENV: &str = "CHENGXIN_ICP_TOKEN";
/// How long the HTTP provider waits for one page when the spec does not say: long
/// enough for a slow upstream, short enough that a re-verification run keeps moving.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Installs rustls' ring crypto provider as the process default.
///
/// reqwest is built with `rustls-no-provider` (its default would pull aws-lc-rs), so
/// some provider must be installed before the first client is built. Calling this more
/// than once, or after another part of the process installed one, is harmless.
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// One row of the MIIT query's `params.list[]` (icp.md §2.1), the unit every rule
/// works on.
///
/// String fields missing from the source (or `null`) read as `""`, so a rule that
/// needs a value sees an empty one and fails closed instead of the parse failing on
/// shapes MIIT is known to vary (e.g. `serviceName` omitted). Unknown keys are kept in
/// [`IcpRecord::raw`], which is what evidence records.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IcpRecord {
    /// 主办单位名称: legal name of the filing subject (a person's name for 个人).
    pub unit_name: String,
    /// 主办单位性质: 企业, 个人, 事业单位, 政府机关, ….
    pub nature_name: String,
    /// 主体备案号: the subject's number, e.g. 京ICP备10046444号.
    pub main_licence: String,
    /// 网站备案号: the site's number, e.g. 京ICP备10046444号-9.
    pub service_licence: String,
    /// 网站名称 (informational).
    pub service_name: String,
    /// 网站首页网址 (informational).
    pub home_url: String,
    /// 网站域名: the registrable domain the filing covers.
    pub domain: String,
    /// 是否限制接入: "否" normally; "是" marks a restricted site.
    pub limit_access: String,
    /// 审核日期: latest approval time, `YYYY-MM-DD HH:MM:SS` China time.
    pub update_record_time: String,
    /// 服务前置审批项 (informational).
    pub content_type_name: String,
    /// Always empty in samples; kept for completeness.
    pub leader_name: String,
    /// Stable subject id, for change detection.
    pub main_id: Option<i64>,
    /// Stable site id, for change detection.
    pub service_id: Option<i64>,
    /// Stable domain id, for change detection.
    pub domain_id: Option<i64>,
    /// The row exactly as the source gave it, for evidence.
    pub raw: Value,
}

/// The wire form of a row: every field optional so absent and `null` both read as
/// empty.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireRow {
    unit_name: Option<String>,
    nature_name: Option<String>,
    main_licence: Option<String>,
    service_licence: Option<String>,
    service_name: Option<String>,
    home_url: Option<String>,
    domain: Option<String>,
    limit_access: Option<String>,
    update_record_time: Option<String>,
    content_type_name: Option<String>,
    leader_name: Option<String>,
    main_id: Option<WireId>,
    service_id: Option<WireId>,
    domain_id: Option<WireId>,
}

/// MIIT sends ids as numbers; CSV exports and some mirrors send digit strings.
#[derive(Deserialize)]
#[serde(untagged)]
enum WireId {
    Number(i64),
    Text(String),
}

impl WireId {
    fn into_id(self, key: &str) -> Result<Option<i64>, String> {
        match self {
            WireId::Number(n) => Ok(Some(n)),
            WireId::Text(t) if t.trim().is_empty() => Ok(None),
            WireId::Text(t) => t
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| format!("{key} {t:?} is not an integer")),
        }
    }
}

impl IcpRecord {
    /// Reads one row from its JSON object, keeping the object as [`IcpRecord::raw`].
    /// Fails on a non-object or on a field of the wrong type (a number where a name
    /// belongs), because such a row cannot be trusted field by field.
    pub fn from_json(value: Value) -> Result<Self, String> {
        if !value.is_object() {
            return Err(format!(
                "a row must be a JSON object, not {}",
                kind_of(&value)
            ));
        }
        let wire: WireRow =
            serde_json::from_value(value.clone()).map_err(|e| format!("bad row: {e}"))?;
        Ok(IcpRecord {
            unit_name: wire.unit_name.unwrap_or_default(),
            nature_name: wire.nature_name.unwrap_or_default(),
            main_licence: wire.main_licence.unwrap_or_default(),
            service_licence: wire.service_licence.unwrap_or_default(),
            service_name: wire.service_name.unwrap_or_default(),
            home_url: wire.home_url.unwrap_or_default(),
            domain: wire.domain.unwrap_or_default(),
            limit_access: wire.limit_access.unwrap_or_default(),
            update_record_time: wire.update_record_time.unwrap_or_default(),
            content_type_name: wire.content_type_name.unwrap_or_default(),
            leader_name: wire.leader_name.unwrap_or_default(),
            main_id: wire.main_id.map_or(Ok(None), |v| v.into_id("mainId"))?,
            service_id: wire
                .service_id
                .map_or(Ok(None), |v| v.into_id("serviceId"))?,
            domain_id: wire.domain_id.map_or(Ok(None), |v| v.into_id("domainId"))?,
            raw: value,
        })
    }

    /// The row as MIIT-shaped JSON: the typed fields (ids as numbers) over any extra
    /// keys of [`IcpRecord::raw`]. This is the normalized form `import` writes.
    pub fn to_json(&self) -> Value {
        let mut out = match &self.raw {
            Value::Object(m) => m.clone(),
            _ => Map::new(),
        };
        let strings = [
            ("contentTypeName", &self.content_type_name),
            ("domain", &self.domain),
            ("homeUrl", &self.home_url),
            ("leaderName", &self.leader_name),
            ("limitAccess", &self.limit_access),
            ("mainLicence", &self.main_licence),
            ("natureName", &self.nature_name),
            ("serviceLicence", &self.service_licence),
            ("serviceName", &self.service_name),
            ("unitName", &self.unit_name),
            ("updateRecordTime", &self.update_record_time),
        ];
        for (key, value) in strings {
            out.insert(key.to_string(), Value::String(value.clone()));
        }
        for (key, value) in [
            ("domainId", self.domain_id),
            ("mainId", self.main_id),
            ("serviceId", self.service_id),
        ] {
            match value {
                Some(id) => out.insert(key.to_string(), Value::from(id)),
                None => out.remove(key),
            };
        }
        Value::Object(out)
    }
}

impl Serialize for IcpRecord {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for IcpRecord {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        IcpRecord::from_json(value).map_err(serde::de::Error::custom)
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The MIIT `queryByCondition` body for a website query (icp.md §2.2 step 3). Both
/// providers describe what they were asked with it, so evidence reads the same
/// whichever source answered.
pub fn query_body(unit_name: &str) -> Value {
    json!({"pageNum": "", "pageSize": "", "unitName": unit_name, "serviceType": 1})
}

/// What a provider answered: the rows, the raw data they came from, and the request,
/// so a check can store all three as evidence (icp.md §5 rule 10).
#[derive(Debug, Clone)]
pub struct ProviderAnswer {
    /// The provider's name ([`IcpProvider::name`]).
    pub provider: String,
    /// What was asked: URL and bodies of every page, or file and key. Never the token.
    pub asked: Value,
    /// Every row of every page, in order.
    pub rows: Vec<IcpRecord>,
    /// The raw answer: the page envelopes (HTTP) or the matched raw rows (file).
    pub raw: Value,
}

/// Why a provider could not answer. Every variant is retryable: none says anything
/// about the filing, so none may become a pass or a fail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// No complete answer within the configured time; the upstream may be slow or down.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The upstream answered with a non-success HTTP status (5xx, 4xx or a redirect,
    /// which a data source has no business sending).
    #[error("HTTP status {status}: {body}")]
    Http {
        /// The status code.
        status: u16,
        /// The start of the body, for the operator.
        body: String,
    },
    /// The answer is not the MIIT envelope: not JSON, too large, a missing or
    /// mistyped field, or pages that do not add up.
    #[error("malformed answer: {0}")]
    Malformed(String),
    /// The envelope says `success: false` (e.g. code 401 "token过期" or 500 "服务器异常").
    #[error("provider refused the query (code {code:?}): {msg}")]
    Unsuccessful {
        /// The envelope's `code`, if any.
        code: Option<i64>,
        /// The envelope's `msg`.
        msg: String,
    },
    /// The connection failed (refused, reset, DNS, TLS).
    #[error("transport: {0}")]
    Transport(String),
}

impl ProviderError {
    /// Whether retrying later can help; true for every variant today, and kept as a
    /// method so schedulers do not hard-code that.
    pub fn is_retryable(&self) -> bool {
        true
    }
}

/// A source of MIIT filing rows. Implementations must be cheap to share between
/// concurrent checks.
#[async_trait::async_trait]
pub trait IcpProvider: Send + Sync {
    /// A short name for logs and evidence, e.g. `miit:http://127.0.0.1:9000` or
    /// `file:/srv/icp.jsonl`. Never contains credentials.
    fn name(&self) -> String;

    /// Asks for the filings of `registrable_domain`. Like MIIT's `unitName`, the term
    /// may also be a filing number (`京ICP备2024018653号-1`), which [`check`] uses to
    /// explain a missing filing. Rows for other domains may come back; the rules
    /// decide what they mean.
    async fn query(&self, registrable_domain: &str) -> Result<ProviderAnswer, ProviderError>;
}

/// Options for [`provider_from_spec_with`], separate from the spec so secrets never
/// sit in a string that gets logged.
#[derive(Debug, Clone)]
pub struct ProviderOptions {
    /// Value of the `token` header for the HTTP provider.
    pub token: Option<String>,
    /// Per-request timeout for the HTTP provider.
    pub timeout: Duration,
}

impl Default for ProviderOptions {
    fn default() -> Self {
        ProviderOptions {
            token: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// Builds the provider named by a `CHENGXIN_ICP_PROVIDER` value: `miit:http://host:port[/path]`
/// or `file:PATH`. The token comes from `CHENGXIN_ICP_TOKEN` when set (and non-empty).
pub fn provider_from_spec(spec: &str) -> crate::Result<Box<dyn IcpProvider>> {
    let token = std::env::var(TOKEN_ENV)
        .ok()
        .filter(|t| !t.trim().is_empty());
    provider_from_spec_with(
        spec,
        ProviderOptions {
            token,
            ..ProviderOptions::default()
        },
    )
}

/// As [`provider_from_spec`], with the token and timeout given explicitly (tests, and
/// callers with their own configuration layer).
pub fn provider_from_spec_with(
    spec: &str,
    options: ProviderOptions,
) -> crate::Result<Box<dyn IcpProvider>> {
    let spec = spec.trim();
    if let Some(url) = spec.strip_prefix("miit:") {
        Ok(Box::new(MiitProvider::new(
            url,
            options.token,
            options.timeout,
        )?))
    } else if let Some(path) = spec.strip_prefix("file:") {
        if path.is_empty() {
            return Err(crate::Error::Config(format!(
                "{PROVIDER_ENV}=file: needs a path, e.g. file:/srv/icp.jsonl"
            )));
        }
        // An index written by `verifier icp-index` is read from disk; any other
        // dataset is loaded into memory.
        if index::is_index(std::path::Path::new(path)) {
            Ok(Box::new(IndexedProvider::open(path)?))
        } else {
            Ok(Box::new(FileProvider::load(path)?))
        }
    } else {
        Err(crate::Error::Config(format!(
            "{PROVIDER_ENV} must be miit:http://host:port or file:PATH, not {spec:?}"
        )))
    }
}

/// Who asks for a seal, as far as the ICP rules care: the legal name, the USCC (None
/// for a personal or unknown applicant), the ICP number the applicant claims (if
/// any), and the domain to certify.
#[derive(Debug, Clone)]
pub struct Applicant {
    /// Legal name as on the business licence.
    pub organization: String,
    /// Unified social credit code; `None` for a person or when not given.
    pub uscc: Option<Uscc>,
    /// The filing number the applicant shows (footer, form); `None` when not given.
    pub icp: Option<IcpNumber>,
    /// The host to certify; its registrable domain is what MIIT is asked about.
    pub domain: Domain,
}

impl Applicant {
    /// Parses form input, treating empty USCC and ICP fields as absent. Malformed
    /// identifiers are refused here, before any provider is asked (a USCC with a
    /// wrong check character never reaches MIIT).
    pub fn parse(organization: &str, uscc: &str, icp: &str, domain: &str) -> crate::Result<Self> {
        let organization = ca::identity::subject_text("organization", organization, 200)?;
        let uscc = match uscc.trim() {
            "" => None,
            s => Some(Uscc::parse(s)?),
        };
        let icp = match icp.trim() {
            "" => None,
            s => Some(IcpNumber::parse_website(s)?),
        };
        Ok(Applicant {
            organization,
            uscc,
            icp,
            domain: Domain::parse(domain)?,
        })
    }
}

/// Makes the one piece of `icp` evidence a check or a lookup of `domain` through the
/// provider `name` leaves: what was asked, what came back, the verdict and why.
fn icp_evidence<'a>(
    name: &'a str,
    domain: &'a Domain,
) -> impl Fn(Value, Value, Verdict, Vec<String>) -> Outcome + 'a {
    move |asked, answered, verdict, reasons| {
        Outcome::single(Evidence {
            check: "icp".into(),
            subject: domain.as_str().to_string(),
            asked,
            answered,
            resolver: Some(name.to_string()),
            at: now(),
            verdict,
            reasons,
        })
    }
}

/// Runs the ICP check for one applicant: derives the registrable domain, asks the
/// provider, applies [`evaluate`], and returns an [`Outcome`] with one piece of `icp`
/// evidence (request, raw rows, provider, verdict, reasons).
///
/// When no row covers the domain and the applicant claims a filing number, the
/// provider is asked once more by that number, so the operator learns whether the
/// filing exists for another domain (icp.md F15). That second answer only adds
/// explanation: if it fails, the verdict stays the first answer's.
///
/// A provider error gives [`Verdict::Error`], never a pass or a fail.
pub async fn check(provider: &dyn IcpProvider, applicant: &Applicant) -> Outcome {
    check_filing(provider, applicant).await.0
}

/// As [`check`], also returning the row that covers the registrable domain when the
/// verdict is a pass or a review (the filing the certificate will name).
pub async fn check_filing(
    provider: &dyn IcpProvider,
    applicant: &Applicant,
) -> (Outcome, Option<IcpRecord>) {
    let name = provider.name();
    let evidence = icp_evidence(&name, &applicant.domain);

    // ICANN section only: MIIT files the name bought from a registrar (icp.md §5 rule 1).
    let registrable = match crate::ident::registrable_domain(&applicant.domain) {
        Ok(r) => r.as_str().to_string(),
        Err(e) => {
            return (
                evidence(
                    json!({"provider": name, "queries": []}),
                    Value::Null,
                    Verdict::Fail,
                    vec![e.to_string()],
                ),
                None,
            );
        }
    };

    let mut queries = vec![query_body(&registrable)];
    let first = match provider.query(&registrable).await {
        Ok(a) => a,
        Err(e) => {
            return (
                evidence(
                    json!({"provider": name, "queries": queries}),
                    Value::String(e.to_string()),
                    Verdict::Error,
                    vec![format!(
                        "ICP provider {name} could not answer for {registrable}: {e}; retry later"
                    )],
                ),
                None,
            );
        }
    };
    let mut requests = vec![first.asked.clone()];
    let mut rows = first.rows;
    let mut notes = Vec::new();

    let covered = rows.iter().any(|r| rules::covers(r, &registrable));
    if let (false, Some(icp)) = (covered, &applicant.icp) {
        queries.push(query_body(icp.as_str()));
        match provider.query(icp.as_str()).await {
            Ok(more) => {
                requests.push(more.asked);
                for row in more.rows {
                    if !rows.contains(&row) {
                        rows.push(row);
                    }
                }
            }
            Err(e) => notes.push(format!(
                "follow-up query by the claimed number {icp} failed ({e}); it only explains a missing filing"
            )),
        }
    }

    let (verdict, mut reasons) = evaluate(applicant, &registrable, &rows);
    reasons.extend(notes);
    let matched = match verdict {
        Verdict::Pass | Verdict::Review => rows
            .iter()
            .find(|r| rules::covers(r, &registrable))
            .cloned(),
        Verdict::Fail | Verdict::Error => None,
    };
    let answered = Value::Array(rows.iter().map(|r| r.raw.clone()).collect());
    (
        evidence(
            json!({"provider": name, "registrable": registrable, "queries": queries, "requests": requests}),
            answered,
            verdict,
            reasons,
        ),
        matched,
    )
}

/// The website filing number of each registrable domain of an application or a site
/// (`example.cn` → `京ICP备2024018653号-1`). Hosts under one registrable domain share
/// its filing (icp.md §5 rule 1).
pub type Filings = std::collections::BTreeMap<String, IcpNumber>;

/// The registrable domain a host's filing is looked up under; the host itself when it
/// has none (the ICP check then fails for it with the reason).
pub fn filing_key(domain: &Domain) -> String {
    crate::ident::registrable_domain(domain)
        .map(|r| r.as_str().to_string())
        .unwrap_or_else(|_| domain.as_str().to_string())
}

/// What [`check_domains`] found.
#[derive(Debug, Clone)]
pub struct DomainsCheck {
    /// Every registrable domain's check, combined: the worst verdict wins.
    pub outcome: Outcome,
    /// The filing number of each registrable domain: MIIT's `serviceLicence` where a
    /// row covers it (with a pass or a review), else the applicant's claim if any.
    pub filings: Filings,
    /// The covering row of each registrable domain that has one.
    pub rows: std::collections::BTreeMap<String, IcpRecord>,
}

/// Runs the ICP check for every registrable domain among `domains` (icp.md §5 rule 1:
/// each needs its own MIIT row naming the same subject), not only the first. `claims`
/// holds the filing numbers the applicant gave, by registrable domain; a registrable
/// domain without a claim is checked without one. Rows of different registrable
/// domains must name the same subject (`mainLicence`); a difference is a review.
pub async fn check_domains(
    provider: &dyn IcpProvider,
    organization: &str,
    uscc: Option<&Uscc>,
    claims: &Filings,
    domains: &[Domain],
) -> DomainsCheck {
    let mut outcome = Outcome {
        verdict: Verdict::Pass,
        reasons: Vec::new(),
        evidence: Vec::new(),
    };
    let mut filings = Filings::new();
    let mut rows = std::collections::BTreeMap::new();
    let mut seen = Vec::new();
    for domain in domains {
        let key = filing_key(domain);
        if seen.contains(&key) {
            continue;
        }
        seen.push(key.clone());
        let applicant = Applicant {
            organization: organization.to_string(),
            uscc: uscc.cloned(),
            icp: claims.get(&key).cloned(),
            domain: domain.clone(),
        };
        let (out, row) = check_filing(provider, &applicant).await;
        outcome.verdict = outcome.verdict.and(out.verdict);
        outcome.reasons.extend(out.reasons);
        outcome.evidence.extend(out.evidence);
        let number = row
            .as_ref()
            .and_then(|r| IcpNumber::parse_website(&r.service_licence).ok())
            .or_else(|| applicant.icp.clone());
        if let Some(n) = number {
            filings.insert(key.clone(), n);
        }
        if let Some(r) = row {
            rows.insert(key, r);
        }
    }
    let subjects: Vec<(&String, &IcpRecord)> = rows.iter().collect();
    if let Some((first_key, first)) = subjects.first()
        && let Some((key, other)) = subjects
            .iter()
            .find(|(_, r)| r.main_licence != first.main_licence)
    {
        outcome.verdict = outcome.verdict.and(Verdict::Review);
        outcome.reasons.push(format!(
            "{key} is filed under the subject {}, but {first_key} under {}: one seal names one filing subject",
            other.main_licence, first.main_licence
        ));
    }
    DomainsCheck {
        outcome,
        filings,
        rows,
    }
}

/// Answers a bare question about a domain's filing (no applicant to compare with):
/// whether its registrable domain is filed for a website, by whom, under which
/// number. A website filing covering it is a pass (exit 0), none is a fail, and a
/// provider that cannot answer is an error.
pub async fn lookup(provider: &dyn IcpProvider, domain: &Domain) -> Outcome {
    let name = provider.name();
    let evidence = icp_evidence(&name, domain);
    let registrable = match crate::ident::registrable_domain(domain) {
        Ok(r) => r.as_str().to_string(),
        Err(e) => return evidence(Value::Null, Value::Null, Verdict::Fail, vec![e.to_string()]),
    };
    let asked = json!({"provider": name, "registrable": registrable, "queries": [query_body(&registrable)]});
    let answer = match provider.query(&registrable).await {
        Ok(a) => a,
        Err(e) => {
            return evidence(
                asked,
                Value::String(e.to_string()),
                Verdict::Error,
                vec![format!(
                    "ICP provider {name} could not answer for {registrable}: {e}; retry later"
                )],
            );
        }
    };
    let answered = Value::Array(answer.rows.iter().map(|r| r.raw.clone()).collect());
    let websites: Vec<&IcpRecord> = answer
        .rows
        .iter()
        .filter(|r| {
            rules::covers(r, &registrable) && IcpNumber::parse_website(&r.service_licence).is_ok()
        })
        .collect();
    if websites.is_empty() {
        let mut reasons = vec![format!("{registrable} has no website filing")];
        reasons.extend(answer.rows.iter().map(|r| {
            format!(
                "{} ({}, {}) is filed for {}",
                r.service_licence, r.unit_name, r.nature_name, r.domain
            )
        }));
        return evidence(asked, answered, Verdict::Fail, reasons);
    }
    let reasons = websites
        .iter()
        .map(|r| {
            format!(
                "{registrable} is filed for a website by {} ({}) under {} (subject {}); access limited: {}",
                r.unit_name, r.nature_name, r.service_licence, r.main_licence, r.limit_access
            )
        })
        .collect();
    evidence(asked, answered, Verdict::Pass, reasons)
}
