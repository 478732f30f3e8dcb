//! An application and a verification run as the API returns them.
//!
//! Fields are in alphabetical order, the same bytes as the `json!` objects they
//! replaced; evidence stays JSON objects for the same reason (their keys sorted),
//! described by [`Evidence`] and [`Verdict`], the schemas of the verifier's types.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::domain::application::{Application, ApplicationStatus};
use crate::http::views::site::SiteView;
use crate::service::applications::{Verification, Verified};

/// An application with its domains, the last verification's reasons and every check's
/// evidence.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApplicationView {
    /// City.
    pub city: String,
    /// Unix seconds.
    pub created_at: i64,
    /// The domains applied for.
    pub domains: Vec<String>,
    /// Every check made for it, oldest first.
    #[schema(value_type = Vec<Evidence>)]
    pub evidence: Vec<Value>,
    /// ICP number.
    pub icp: String,
    /// Public id (`app_…`).
    pub id: String,
    /// The method that proved control.
    #[schema(required = true)]
    pub method: Option<String>,
    /// Organization.
    pub organization: String,
    /// Province.
    pub province: String,
    /// The last verification's reasons, or the rejection reason.
    pub reasons: Vec<String>,
    /// The site, once certified.
    #[schema(required = true)]
    pub site_id: Option<String>,
    /// Where it stands.
    pub status: ApplicationStatus,
    /// Challenge token.
    pub token: String,
    /// Unix seconds.
    pub updated_at: i64,
    /// USCC.
    pub uscc: String,
}

impl ApplicationView {
    /// The view of `app` with the evidence of its checks.
    pub fn new(app: Application, evidence: Vec<Value>) -> ApplicationView {
        ApplicationView {
            city: app.city,
            created_at: app.created_at,
            domains: app.domains,
            evidence,
            icp: app.icp,
            id: app.id,
            method: app.method,
            organization: app.organization,
            province: app.province,
            reasons: app.reasons,
            site_id: app.site_id,
            status: app.status,
            token: app.token,
            updated_at: app.updated_at,
            uscc: app.uscc,
        }
    }
}

/// A verification run: the application's new state and every check's evidence.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Verification)]
pub struct VerificationView {
    /// This run's checks.
    #[schema(value_type = Vec<Evidence>)]
    pub evidence: Vec<Value>,
    /// Application id.
    pub id: String,
    /// Why it did not pass, per domain and for the ICP filing.
    pub reasons: Vec<String>,
    /// `validated`, `review`, `failed`, or `pending` after a transient error.
    pub status: ApplicationStatus,
    /// The combined verdict.
    #[schema(value_type = Verdict)]
    pub verdict: verifier::Verdict,
}

impl From<Verification> for VerificationView {
    fn from(v: Verification) -> VerificationView {
        VerificationView {
            evidence: v
                .evidence
                .iter()
                .map(|e| serde_json::to_value(e).unwrap_or_default())
                .collect(),
            id: v.id,
            reasons: v.reasons,
            status: v.status,
            verdict: v.verdict,
        }
    }
}

/// What verify returns: the run, or, when the server approves automatically and every
/// check passed, the site it issued.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum VerifyOutcome {
    /// Checks ran; the application waits for the next step.
    Checked(VerificationView),
    /// Checks passed and the certificate was issued.
    Issued(Box<SiteView>),
}

impl VerifyOutcome {
    /// The view of what verification led to, links under the public base URL `base`.
    pub fn new(verified: Verified, base: &str) -> VerifyOutcome {
        match verified {
            Verified::Checked(v) => VerifyOutcome::Checked(v.into()),
            Verified::Issued(site) => VerifyOutcome::Issued(Box::new(SiteView::new(*site, base))),
        }
    }
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
