//! The OpenAPI document of the JSON API under `/api/v1`, served at
//! `GET /api/v1/openapi.json` (assembled from the routers by `http::router::document`).
//!
//! Each handler carries its own `#[utoipa::path]` and its area router registers it with
//! `utoipa_axum::routes!`, so the path and method the document names are the ones the
//! router answers. This module adds what no handler owns: the document's title, the
//! bearer scheme, and schemas for the JSON that handlers build ad hoc (the site view,
//! verification results, evidence), which only describe it.
//!
//! `tests/openapi.rs` holds the document and the router to the same story: every
//! documented operation is routed, no other method or `/api/v1` path is, and the bodies
//! the real handlers return match the documented schemas.

use std::collections::BTreeMap;
use utoipa::{OpenApi, ToSchema};

/// Name of the bearer security scheme, as operations refer to it.
pub const BEARER: &str = "bearer";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Chengxin JSON API",
        description = "Applications for a Chengxin trust seal, the sites it certifies, and the \
            public registry. Operators and staff authenticate with a bearer token \
            (`badge-server token create`). Errors are JSON: `{\"error\": message}`, and \
            `{\"error\": \"invalid fields\", \"fields\": {name: message}}` for 422. \
            Exceptions, marked on the operations: malformed query strings, and a malformed \
            body on verify, are rejected by the framework with a plain-text message.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    tags(
        (name = "applications", description = "Apply, prove domain control, and staff review"),
        (name = "sites", description = "Certified sites: their state, revocation, re-verification"),
        (name = "registry", description = "Public, unauthenticated look-ups"),
        (name = "account", description = "The token's account"),
        (name = "complaints", description = "File, answer, give feedback on and decide complaints about certified sites"),
        (name = "warnings", description = "Fraud warnings and the copied-seal report they come from"),
        (name = "webhooks", description = "Events POSTed to the operator's URL, signed: \
            `Chengxin-Webhook-Signature: v1=<hex HMAC-SHA256(secret, \"<id>.<timestamp>.<body>\")>` \
            with `Chengxin-Webhook-Id` and `Chengxin-Webhook-Timestamp` (unix seconds). \
            Receivers must verify the signature in constant time and reject timestamps \
            older than 5 minutes (replays); the id repeats on retries (deduplicate by it)."),
        (name = "meta", description = "This document"),
    )
)]
struct ApiDoc;

/// The document's frame: info and tags, and no paths (the routers bring those).
pub(crate) fn frame() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// Every error but invalid fields (and the plain-text rejections the operations name).
#[derive(ToSchema)]
pub struct ErrorBody {
    /// What went wrong, for a person.
    pub error: String,
}

/// 422: fields of the request that failed validation.
#[derive(ToSchema)]
pub struct InvalidFields {
    /// Always `invalid fields`.
    #[schema(example = "invalid fields")]
    pub error: String,
    /// Field name (`uscc`, `domains[0]`, `body`, …) → what is wrong with it.
    pub fields: BTreeMap<String, String>,
}

/// A certified site as anyone may see it (`/cert/{site}.json`, registry results).
/// The fields after `site` and `status` are present once the site has a certificate,
/// which every site this server issued has.
#[derive(serde::Serialize, ToSchema)]
pub struct PublicSite {
    /// Site id (`s_…`).
    pub site: String,
    /// `certified`, `suspended` (certificate on hold), `revoked` or `expired`.
    pub status: String,
    /// The certified domains, primary first.
    #[schema(required = false)]
    pub domains: Vec<String>,
    /// The certified organization.
    #[schema(required = false)]
    pub organization: String,
    /// Its Unified Social Credit Code.
    #[schema(required = false)]
    pub uscc: String,
    /// The primary domain's ICP filing number.
    #[schema(required = false)]
    pub icp: String,
    /// Which website filing number covers which domain (each registrable domain is
    /// filed on its own), as the certificate's filings extension says.
    #[schema(required = false)]
    pub filings: Vec<DomainFiling>,
    /// Certificate serial number, hex.
    #[schema(required = false)]
    pub serial: String,
    /// SHA-256 of the certificate, hex.
    #[schema(required = false)]
    pub sha256_fingerprint: Option<String>,
    /// Validity start, Unix seconds.
    #[schema(required = false)]
    pub not_before: i64,
    /// Validity end, Unix seconds.
    #[schema(required = false)]
    pub not_after: i64,
    /// RFC 5280 name of the revocation reason (`keyCompromise`, `certificateHold`, …).
    #[schema(required = false)]
    pub revocation_reason: Option<String>,
    /// The seal image.
    #[schema(required = false)]
    pub seal_url: String,
    /// The public certificate page.
    #[schema(required = false)]
    pub certificate_url: String,
}

/// One certified domain and the website filing number that covers it.
#[derive(serde::Serialize, ToSchema)]
pub struct DomainFiling {
    /// The domain (A-label).
    pub domain: String,
    /// Its filing number (网站备案号).
    pub icp: String,
}

/// A site as its operator and staff see it: the public view plus the HTML snippet that
/// embeds the seal.
#[derive(serde::Serialize, ToSchema)]
pub struct Site {
    /// What anyone may see.
    #[serde(flatten)]
    pub public: PublicSite,
    /// HTML that shows the seal linked to the certificate page.
    #[schema(required = false)]
    pub snippet: String,
    /// Every size, language and format of the seal with its snippet, the default
    /// (the one in `snippet`) first.
    #[schema(required = false)]
    pub seal_variants: Vec<crate::domain::seal::SealVariant>,
}

/// An application with its domains, the last verification's reasons and every check's
/// evidence.
#[derive(ToSchema)]
pub struct ApplicationView {
    /// Public id (`app_…`).
    pub id: String,
    /// `pending`, `validated`, `review`, `failed`, `certified` or `rejected`.
    pub status: String,
    /// Organization.
    pub organization: String,
    /// USCC.
    pub uscc: String,
    /// ICP number.
    pub icp: String,
    /// Province.
    pub province: String,
    /// City.
    pub city: String,
    /// The domains applied for.
    pub domains: Vec<String>,
    /// Challenge token.
    pub token: String,
    /// The method that proved control.
    #[schema(required = true)]
    pub method: Option<String>,
    /// The last verification's reasons, or the rejection reason.
    pub reasons: Vec<String>,
    /// Every check made for it, oldest first.
    pub evidence: Vec<Evidence>,
    /// The site, once certified.
    #[schema(required = true)]
    pub site_id: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

/// The result of a check, or of several combined.
#[derive(ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Proven.
    Pass,
    /// Disproven.
    Fail,
    /// A person must decide.
    Review,
    /// Could not tell; retry later.
    Error,
}

/// What one check asked, what came back, through which resolver, when, and what it
/// concluded.
#[derive(ToSchema)]
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
    #[schema(required = true)]
    pub resolver: Option<String>,
    /// Unix seconds.
    pub at: i64,
    /// This check's verdict.
    pub verdict: Verdict,
    /// Why, in words for the operator.
    pub reasons: Vec<String>,
}

/// What to publish to prove control of one domain, by one method; any one method per
/// domain suffices.
#[derive(ToSchema)]
#[serde(tag = "method", rename_all = "kebab-case")]
pub enum Challenge {
    /// Publish a TXT record.
    DnsTxt {
        /// The domain this proves.
        domain: String,
        /// Record name (`_chengxin-challenge.<domain>`).
        name: String,
        /// Record value: the application's token.
        value: String,
    },
    /// Serve a file.
    HttpFile {
        /// The domain this proves.
        domain: String,
        /// Where (`http://<domain>/.well-known/chengxin/<token>`).
        url: String,
        /// Its exact body.
        body: String,
    },
    /// Add a meta tag to the homepage head.
    HtmlMeta {
        /// The domain this proves.
        domain: String,
        /// The tag.
        html: String,
    },
}

/// A verification run: the application's new state and every check's evidence.
#[derive(ToSchema)]
pub struct Verification {
    /// Application id.
    pub id: String,
    /// `validated`, `review`, `failed`, or `pending` after a transient error.
    pub status: String,
    /// The combined verdict.
    pub verdict: Verdict,
    /// Why it did not pass, per domain and for the ICP filing.
    pub reasons: Vec<String>,
    /// This run's checks.
    pub evidence: Vec<Evidence>,
}

/// What verify returns: the run, or, when the server approves automatically and every
/// check passed, the site it issued.
#[derive(ToSchema)]
#[serde(untagged)]
pub enum VerifyOutcome {
    /// Checks ran; the application waits for the next step.
    Checked(Verification),
    /// Checks passed and the certificate was issued.
    Issued(Box<Site>),
}

/// What a re-verification run did.
#[derive(ToSchema)]
pub struct RecheckSummary {
    /// Sites checked.
    pub checked: u64,
    /// Sites whose checks passed.
    pub passed: u64,
    /// Sites with a transient error, to retry.
    pub retried: u64,
    /// Sites that started a grace period.
    pub entered_grace: u64,
    /// Sites still failing within grace or suspension.
    pub still_failing: u64,
    /// Certificates put on hold.
    pub suspended: u64,
    /// Certificates revoked.
    pub revoked: u64,
    /// Holds released after the checks passed again.
    pub released: u64,
    /// Sites that could not be processed, with the reason.
    pub failures: Vec<String>,
}
