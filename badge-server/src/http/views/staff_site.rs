//! The staff views of sites (issue 18): a row of the sites list, a site's whole
//! history, and the console's queue counts. The API returns them as JSON and the
//! console pages read the same values.

use serde::Serialize;
use utoipa::ToSchema;

use crate::service::site_list::{HistoryEntry, Queues, SiteDetail, SitePage};
use crate::store::site_list::SiteListRow;

/// One site in the staff list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StaffSiteRow {
    /// Site id (`s_…`).
    pub site: String,
    /// Its staff page.
    pub url: String,
    /// `certified`, `grace`, `held`, `revoked` or `expired`.
    pub state: String,
    /// The organization.
    pub organization: String,
    /// Its USCC.
    pub uscc: String,
    /// Its province.
    pub province: String,
    /// The certified domains, primary first.
    pub domains: Vec<String>,
    /// The latest re-verification's outcome (`pass`, `fail`, `error`), when enrolled.
    pub last_result: Option<String>,
    /// The verifier's last reason.
    pub last_reason: Option<String>,
    /// When re-verification is next due (Unix seconds), when enrolled.
    pub next_due: Option<i64>,
    /// Since when its checks fail.
    pub failing_since: Option<i64>,
    /// When its grace period ends, when in grace.
    pub grace_ends: Option<i64>,
    /// The certificate's end of validity.
    pub not_after: Option<i64>,
    /// Complaints not yet closed.
    pub open_complaints: i64,
    /// Reported copies of its seal on other hosts.
    pub copies: i64,
    /// Demonstration data.
    pub demo: bool,
}

impl StaffSiteRow {
    /// The row of `r` at `now`, a grace period of `grace` seconds.
    pub fn new(r: SiteListRow, now: i64, grace: i64) -> Self {
        let state = r.state(now);
        StaffSiteRow {
            url: format!("/console/sites/{}", r.id),
            state: state.as_str().into(),
            last_result: r.last().map(|l| l.as_str().into()),
            grace_ends: (state == crate::domain::site_list::StaffState::Grace)
                .then_some(r.failing_since.map(|f| f + grace))
                .flatten(),
            domains: r
                .domains
                .as_deref()
                .and_then(|d| serde_json::from_str(d).ok())
                .unwrap_or_default(),
            site: r.id,
            organization: r.organization,
            uscc: r.uscc,
            province: r.province,
            last_reason: r.last_reason,
            next_due: r.next_due,
            failing_since: r.failing_since,
            not_after: r.not_after,
            open_complaints: r.open_complaints,
            copies: r.copies,
            demo: r.demo,
        }
    }
}

/// One page of the staff sites list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StaffSiteList {
    /// The sites of this page.
    pub sites: Vec<StaffSiteRow>,
    /// This page's number (from 1).
    pub page: i64,
    /// Rows per page.
    pub limit: i64,
    /// The query of the next page, when there is one (`?…`).
    pub next: Option<String>,
}

impl StaffSiteList {
    /// The view of a page at `now`.
    pub fn new(p: SitePage, now: i64) -> Self {
        let grace = p.grace;
        StaffSiteList {
            next: p
                .more
                .then(|| format!("?{}", p.filter.query(p.filter.page + 1))),
            page: p.filter.page,
            limit: p.filter.limit,
            sites: p
                .rows
                .into_iter()
                .map(|r| StaffSiteRow::new(r, now, grace))
                .collect(),
        }
    }
}

/// A certificate a site has had.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StaffCertificate {
    /// Serial, hex.
    pub serial: String,
    /// Validity start, Unix seconds.
    pub not_before: i64,
    /// Validity end, Unix seconds.
    pub not_after: i64,
    /// The domains it certifies.
    pub domains: Vec<String>,
    /// When revoked or held (Unix seconds).
    pub revoked_at: Option<i64>,
    /// The RFC 5280 reason, when revoked or held.
    pub revocation_reason: Option<String>,
    /// The site's current certificate.
    pub current: bool,
}

/// One domain with its filing number.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StaffDomain {
    /// Domain (A-label).
    pub domain: String,
    /// Its website filing number.
    pub icp: String,
}

/// A site's re-verification schedule and state (the verifier's row).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StaffRecheck {
    /// `ok`, `grace`, `suspended` or `revoked`.
    pub state: String,
    /// How domain control is re-proven.
    pub method: String,
    /// Next domain-control check, Unix seconds.
    pub domain_due_at: i64,
    /// Next ICP check, Unix seconds.
    pub icp_due_at: i64,
    /// Pending retry after a transient error.
    pub retry_at: Option<i64>,
    /// Since when the checks fail.
    pub failing_since: Option<i64>,
    /// When its grace period ends, when in grace.
    pub grace_ends: Option<i64>,
    /// The last outcome's reason.
    pub last_reason: Option<String>,
}

/// One entry of a site's history.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StaffHistoryEntry {
    /// Unix seconds.
    pub at: i64,
    /// `certificate`, `check`, `complaint`, `copy`, `warning` or `audit`.
    pub kind: String,
    /// What happened, in one line.
    pub title: String,
    /// Details: a check's question, answer, resolver and reasons; an audit entry's
    /// JSON details.
    pub detail: String,
    /// Who, for audit entries.
    pub actor: Option<String>,
    /// A page about it.
    pub link: Option<String>,
}

impl From<HistoryEntry> for StaffHistoryEntry {
    fn from(h: HistoryEntry) -> Self {
        StaffHistoryEntry {
            at: h.at,
            kind: h.kind.as_str().into(),
            title: h.title,
            detail: h.detail,
            actor: h.actor,
            link: h.link,
        }
    }
}

/// Everything staff know about one site.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StaffSiteDetail {
    /// Site id.
    pub site: String,
    /// `certified`, `grace`, `held`, `revoked` or `expired`.
    pub state: String,
    /// The organization.
    pub organization: String,
    /// Its USCC.
    pub uscc: String,
    /// Province.
    pub province: String,
    /// City.
    pub city: String,
    /// The operator's e-mail address.
    pub operator: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Demonstration data.
    pub demo: bool,
    /// Its domains and their filing numbers, primary first.
    pub domains: Vec<StaffDomain>,
    /// Every certificate it has had, oldest first.
    pub certificates: Vec<StaffCertificate>,
    /// Its re-verification, when enrolled.
    pub recheck: Option<StaffRecheck>,
    /// Certificates, checks with their evidence, complaints, copies of its seal,
    /// warnings naming it and audit entries about it, merged, newest first (at most
    /// 200 of each kind).
    pub history: Vec<StaffHistoryEntry>,
}

impl From<SiteDetail> for StaffSiteDetail {
    fn from(d: SiteDetail) -> Self {
        let current = d.identity.certificate_id;
        StaffSiteDetail {
            site: d.identity.id,
            state: d.state.as_str().into(),
            organization: d.identity.organization,
            uscc: d.identity.uscc,
            province: d.identity.province,
            city: d.identity.city,
            operator: d.identity.operator,
            created_at: d.identity.created_at,
            demo: d.identity.demo,
            domains: d
                .domains
                .into_iter()
                .map(|(domain, icp)| StaffDomain { domain, icp })
                .collect(),
            certificates: d
                .certificates
                .iter()
                .map(|c| StaffCertificate {
                    serial: ca::Serial::from_bytes(&c.serial).to_hex(),
                    not_before: c.not_before,
                    not_after: c.not_after,
                    domains: crate::domain::site::certified_domains(c),
                    revoked_at: c.revocation().map(|r| r.at),
                    revocation_reason: c.revocation().map(|r| {
                        r.reason()
                            .map_or_else(|| r.code.to_string(), |x| x.name().to_string())
                    }),
                    current: Some(c.id) == current,
                })
                .collect(),
            recheck: d.recheck.map(|r| StaffRecheck {
                state: r.state,
                method: r.method,
                domain_due_at: r.domain_due_at,
                icp_due_at: r.icp_due_at,
                retry_at: r.retry_at,
                failing_since: r.failing_since,
                grace_ends: d.grace_ends,
                last_reason: r.last_reason,
            }),
            history: d.history.into_iter().map(Into::into).collect(),
        }
    }
}

/// A reason an application waits for staff, with how many it holds.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReviewReason {
    /// The reason, as the verification gave it.
    pub reason: String,
    /// Applications it holds.
    pub count: i64,
}

/// One queue: how many wait, and the filtered list that shows them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QueueCount {
    /// How many wait.
    pub count: i64,
    /// The console page that lists them.
    pub url: String,
}

/// What waits for staff.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StaffQueues {
    /// Applications awaiting review.
    pub applications: QueueCount,
    /// Why they wait.
    pub review_reasons: Vec<ReviewReason>,
    /// Sites in grace whose grace period ends within 24 hours.
    pub grace_ending: QueueCount,
    /// Complaints past their answer deadline.
    pub complaints_overdue: QueueCount,
    /// Draft warnings awaiting confirmation.
    pub warning_drafts: QueueCount,
}

impl From<Queues> for StaffQueues {
    fn from(q: Queues) -> Self {
        let count = |count, url: &str| QueueCount {
            count,
            url: url.into(),
        };
        StaffQueues {
            applications: count(q.awaiting_review, "/console#reviews"),
            review_reasons: q
                .review_reasons
                .into_iter()
                .map(|(reason, count)| ReviewReason { reason, count })
                .collect(),
            grace_ending: count(q.grace_ending, "/console/sites?state=grace&grace_ending=1"),
            complaints_overdue: count(q.complaints_overdue, "/console?complaints=overdue#queue"),
            warning_drafts: count(q.warning_drafts, "/console#drafts"),
        }
    }
}
