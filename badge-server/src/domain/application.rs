//! Applications as values: their statuses and the rules between them, the filing
//! claims an applicant makes, and what verification makes of its checks. No SQL
//! (that is `store::applications`), no HTTP.

use std::fmt;
use std::str::FromStr;

use ca::identity::IcpNumber;
use ca::profile::SiteIdentity;
use serde::Serialize;
use verifier::Verdict;
use verifier::icp::{Filings, filing_key};

use crate::domain::account::Account;
use crate::error::AppError;

/// Where an application stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ApplicationStatus {
    /// Applied, or the last verification could not tell (verify again).
    Pending,
    /// Every check passed; staff approve it (or it is issued at once).
    Validated,
    /// Domain control passed; a person must judge the filing.
    Review,
    /// A check failed.
    Failed,
    /// Approved: the certificate is issued.
    Certified,
    /// Staff rejected it.
    Rejected,
}

impl ApplicationStatus {
    /// Every status.
    pub const ALL: [ApplicationStatus; 6] = [
        ApplicationStatus::Pending,
        ApplicationStatus::Validated,
        ApplicationStatus::Review,
        ApplicationStatus::Failed,
        ApplicationStatus::Certified,
        ApplicationStatus::Rejected,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ApplicationStatus::Pending => "pending",
            ApplicationStatus::Validated => "validated",
            ApplicationStatus::Review => "review",
            ApplicationStatus::Failed => "failed",
            ApplicationStatus::Certified => "certified",
            ApplicationStatus::Rejected => "rejected",
        }
    }

    /// Whether verification may run (again): not once certified or rejected.
    pub fn may_verify(self) -> bool {
        matches!(
            self,
            ApplicationStatus::Pending
                | ApplicationStatus::Failed
                | ApplicationStatus::Review
                | ApplicationStatus::Validated
        )
    }

    /// Whether staff may approve it: `validated` or `review`.
    pub fn may_approve(self) -> bool {
        matches!(
            self,
            ApplicationStatus::Validated | ApplicationStatus::Review
        )
    }

    /// Whether nothing more can happen to it (certified or rejected).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            ApplicationStatus::Certified | ApplicationStatus::Rejected
        )
    }
}

impl fmt::Display for ApplicationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ApplicationStatus {
    type Err = AppError;
    fn from_str(s: &str) -> Result<Self, AppError> {
        ApplicationStatus::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| {
                AppError::Internal(ca::Error::Config(format!("application status {s:?}")))
            })
    }
}

/// An application as stored.
#[derive(Debug, Clone)]
pub struct Application {
    /// Public id (`app_…`).
    pub id: String,
    /// Owner.
    pub account_id: i64,
    /// Where it stands.
    pub status: ApplicationStatus,
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
    /// The domains applied for, primary first.
    pub domains: Vec<String>,
    /// The request for the operator's key: theirs, or made with the key generated
    /// for them at application time.
    pub csr_pem: Option<String>,
    /// The filing number the applicant claimed for each registrable domain; none on
    /// rows from before, read as `icp` for the primary.
    pub filings: Option<Filings>,
    /// The filing numbers MIIT gave at the last verification.
    pub verified_filings: Option<Filings>,
    /// Challenge token.
    pub token: String,
    /// The method that proved control.
    pub method: Option<String>,
    /// The last verification's reasons, or the rejection reason.
    pub reasons: Vec<String>,
    /// The site, once certified.
    pub site_id: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

impl Application {
    /// The identity it asks to certify (already validated when it was stored).
    pub fn identity(&self) -> Result<SiteIdentity, AppError> {
        Ok(SiteIdentity::parse(
            &self.organization,
            &self.uscc,
            &self.icp,
            &self.province,
            &self.city,
            &self.domains,
        )?)
    }

    /// The filing number the applicant claimed for each registrable domain: what
    /// every verification checks against MIIT (a claim never becomes MIIT's number,
    /// so a mismatch cannot pass by verifying twice).
    pub fn claims(&self) -> Result<Filings, AppError> {
        if let Some(filings) = &self.filings {
            return Ok(filings.clone());
        }
        let identity = self.identity()?;
        Ok(Filings::from([(
            filing_key(identity.primary()),
            identity.icp,
        )]))
    }

    /// The filing numbers a certificate would name: MIIT's from the last
    /// verification where it found one, else the claim (no filing source: staff
    /// checked it).
    pub fn filings(&self) -> Result<Filings, AppError> {
        let mut out = self.claims()?;
        if let Some(verified) = &self.verified_filings {
            out.extend(verified.clone());
        }
        Ok(out)
    }

    /// Whether `account` may see and act on it: its owner, or staff.
    pub fn visible_to(&self, account: &Account) -> bool {
        account.role.is_staff() || account.id == self.account_id
    }
}

/// The filing claims of an application: the primary domain's `icp`, and the numbers
/// given for other registrable domains (`extra`, by domain or registrable domain).
/// Refuses a claim for a domain the application does not name, or one that
/// contradicts `icp`.
pub fn claims(
    identity: &SiteIdentity,
    extra: &[(String, String)],
) -> Result<Filings, Vec<(String, String)>> {
    let mut filings = Filings::from([(filing_key(identity.primary()), identity.icp.clone())]);
    let keys: Vec<String> = identity.domains.iter().map(filing_key).collect();
    let mut errors = Vec::new();
    for (domain, number) in extra {
        let field = format!("filings.{domain}");
        let key = match ca::identity::Domain::parse(domain) {
            Ok(d) => filing_key(&d),
            Err(e) => {
                errors.push((field, e.to_string()));
                continue;
            }
        };
        if !keys.contains(&key) {
            errors.push((field, format!("{key} is not among the domains applied for")));
            continue;
        }
        match IcpNumber::parse_website(number) {
            Ok(n) => {
                if filings.get(&key).is_some_and(|old| *old != n) {
                    errors.push((
                        field,
                        format!("{key} already has the filing number {}", filings[&key]),
                    ));
                } else {
                    filings.insert(key, n);
                }
            }
            Err(e) => errors.push((field, e.to_string())),
        }
    }
    if errors.is_empty() {
        Ok(filings)
    } else {
        Err(errors)
    }
}

/// An application's verdict and status from its two kinds of checks. Domain control
/// is never waived (design §4): only when every domain passed can the filing
/// question go to staff (`review`); a domain-control error keeps the application
/// `pending` (verify again), whatever the filing check said.
pub fn application_status(control: Verdict, filing: Verdict) -> (Verdict, ApplicationStatus) {
    match (control, filing) {
        (Verdict::Fail, _) | (_, Verdict::Fail) => (Verdict::Fail, ApplicationStatus::Failed),
        (Verdict::Pass, Verdict::Pass) => (Verdict::Pass, ApplicationStatus::Validated),
        (Verdict::Pass, Verdict::Review) => (Verdict::Review, ApplicationStatus::Review),
        _ => (Verdict::Error, ApplicationStatus::Pending),
    }
}

/// The registrable domains of `identity` that no filing number in `filings` covers,
/// sorted and each once.
pub fn unfiled(identity: &SiteIdentity, filings: &Filings) -> Vec<String> {
    identity
        .domains
        .iter()
        .map(filing_key)
        .filter(|k| !filings.contains_key(k))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(domains: &[&str]) -> SiteIdentity {
        SiteIdentity::parse(
            "北京晨曦数智科技有限公司",
            "91110108MA04T7K21H",
            "京ICP备2024018653号-1",
            "北京市",
            "市辖区",
            domains,
        )
        .unwrap()
    }

    #[test]
    fn every_status_reads_back_as_itself_and_nothing_else_parses() {
        for s in ApplicationStatus::ALL {
            assert_eq!(s.as_str().parse::<ApplicationStatus>().unwrap(), s);
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                serde_json::json!(s.as_str())
            );
        }
        assert!("approved".parse::<ApplicationStatus>().is_err());
    }

    #[test]
    fn only_open_applications_verify_and_only_checked_ones_are_approved() {
        use ApplicationStatus::*;
        let verifiable: Vec<_> = ApplicationStatus::ALL
            .into_iter()
            .filter(|s| s.may_verify())
            .collect();
        assert_eq!(verifiable, [Pending, Validated, Review, Failed]);
        let approvable: Vec<_> = ApplicationStatus::ALL
            .into_iter()
            .filter(|s| s.may_approve())
            .collect();
        assert_eq!(approvable, [Validated, Review]);
        for s in ApplicationStatus::ALL {
            assert_eq!(s.is_final(), !s.may_verify(), "{s}");
        }
    }

    #[test]
    fn domain_control_is_never_waived() {
        use Verdict::*;
        let cases = [
            (Pass, Pass, Pass, ApplicationStatus::Validated),
            (Pass, Review, Review, ApplicationStatus::Review),
            (Pass, Fail, Fail, ApplicationStatus::Failed),
            (Pass, Error, Error, ApplicationStatus::Pending),
            (Fail, Pass, Fail, ApplicationStatus::Failed),
            (Fail, Review, Fail, ApplicationStatus::Failed),
            (Error, Pass, Error, ApplicationStatus::Pending),
            (Error, Review, Error, ApplicationStatus::Pending),
            (Error, Fail, Fail, ApplicationStatus::Failed),
            (Review, Pass, Error, ApplicationStatus::Pending),
        ];
        for (control, filing, verdict, status) in cases {
            assert_eq!(
                application_status(control, filing),
                (verdict, status),
                "{control:?} {filing:?}"
            );
        }
    }

    #[test]
    fn claims_name_only_domains_applied_for_and_never_contradict_the_primary() {
        let id = identity(&["chenxi-shuzhi.cn", "www.chenxi-ai.com.cn"]);
        let ok = claims(
            &id,
            &[(
                "chenxi-ai.com.cn".to_string(),
                "京ICP备2024018653号-2".to_string(),
            )],
        )
        .unwrap();
        assert_eq!(ok.len(), 2);
        assert_eq!(unfiled(&id, &ok), Vec::<String>::new());
        let only_primary = claims(&id, &[]).unwrap();
        assert_eq!(unfiled(&id, &only_primary), ["chenxi-ai.com.cn"]);

        let errors = claims(
            &id,
            &[
                ("other.cn".to_string(), "京ICP备2024018653号-3".to_string()),
                (
                    "chenxi-shuzhi.cn".to_string(),
                    "京ICP备2024018653号-9".to_string(),
                ),
            ],
        )
        .unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["filings.other.cn", "filings.chenxi-shuzhi.cn"]);
    }
}
