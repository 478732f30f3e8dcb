//! Staff work on certified sites (issue 18): the filtered list, a site's whole
//! history, the actions on its certificate with a reason kept in the audit chain,
//! notes, and the counts of the console's queues. Staff and admins only.

use ca::store::CertificateRecord;
use serde_json::json;

use crate::domain::account::{Account, Role};
use crate::domain::clock::date_time;
use crate::domain::site_list::{
    GRACE_ENDING_WITHIN, HISTORY_PER_KIND, HistoryKind, SiteAction, SiteFilter, StaffState,
    note_text,
};
use crate::error::AppError;
use crate::service::Services;
use crate::store::site_list::{self as store, ListContext, SiteListRow};

const STAFF: [Role; 2] = [Role::Staff, Role::Admin];

fn context(s: &Services, now: i64) -> ListContext {
    ListContext {
        now,
        grace: s.policy.grace,
        ending_within: GRACE_ENDING_WITHIN,
        copy_hours: crate::service::seals::CONFIRM_HOURS,
    }
}

/// One page of the sites list and whether another follows.
#[derive(Debug, Clone)]
pub struct SitePage {
    /// The rows of this page.
    pub rows: Vec<SiteListRow>,
    /// Whether a next page has rows.
    pub more: bool,
    /// The filter asked.
    pub filter: SiteFilter,
    /// The grace period, seconds (when a row's grace ends).
    pub grace: i64,
}

/// One page of the sites matching `filter`.
pub async fn list(
    s: &Services,
    account: &Account,
    filter: SiteFilter,
    now: i64,
) -> Result<SitePage, AppError> {
    account.require(&STAFF)?;
    let mut rows = store::list(&s.db, &filter, context(s, now)).await?;
    let more = rows.len() as i64 > filter.limit;
    rows.truncate(filter.limit as usize);
    Ok(SitePage {
        rows,
        more,
        filter,
        grace: s.policy.grace,
    })
}

/// One entry of a site's history.
#[derive(Debug, Clone)]
pub struct HistoryEntry {
    /// Unix seconds.
    pub at: i64,
    /// What kind of fact.
    pub kind: HistoryKind,
    /// One line saying what happened.
    pub title: String,
    /// The details (evidence, reasons, audit details), as text.
    pub detail: String,
    /// Who (audit entries), when known.
    pub actor: Option<String>,
    /// A page about it, when there is one.
    pub link: Option<String>,
}

/// A re-verification check with its evidence, as stored by the verifier.
#[derive(Debug, Clone)]
pub struct CheckEntry {
    /// Unix seconds.
    pub at: i64,
    /// `dns-txt`, `http-file`, `html-meta` or `icp`.
    pub check: String,
    /// The domain checked.
    pub subject: String,
    /// `pass`, `fail`, `error` or `review`.
    pub verdict: String,
    /// What was asked.
    pub asked: serde_json::Value,
    /// What came back.
    pub answered: serde_json::Value,
    /// Which resolver or provider answered.
    pub resolver: Option<String>,
    /// Why.
    pub reasons: Vec<String>,
}

/// Everything staff know about a site.
#[derive(Debug, Clone)]
pub struct SiteDetail {
    /// Identity and organization.
    pub identity: store::SiteIdentityRow,
    /// Its state now.
    pub state: StaffState,
    /// Each domain with its filing number, primary first.
    pub domains: Vec<(String, String)>,
    /// Every certificate it has had, oldest first.
    pub certificates: Vec<CertificateRecord>,
    /// Its re-verification row, when enrolled.
    pub recheck: Option<store::RecheckRow>,
    /// When its grace period ends, when in grace.
    pub grace_ends: Option<i64>,
    /// Its re-verification checks, newest first.
    pub checks: Vec<CheckEntry>,
    /// Its complaints, newest first.
    pub complaints: Vec<store::ComplaintRow>,
    /// Copies of its seal seen elsewhere.
    pub copies: Vec<store::CopyRow>,
    /// Warnings naming it.
    pub warnings: Vec<store::WarningRow>,
    /// Audit entries about it or its certificates, newest first.
    pub audit: Vec<ca::audit::Entry>,
    /// All of the above merged, newest first.
    pub history: Vec<HistoryEntry>,
}

fn check_entry(at: i64, json: &str) -> Option<CheckEntry> {
    let e: verifier::verdict::Evidence = serde_json::from_str(json).ok()?;
    Some(CheckEntry {
        at,
        check: e.check,
        subject: e.subject,
        verdict: e.verdict.as_str().to_string(),
        asked: e.asked,
        answered: e.answered,
        resolver: e.resolver,
        reasons: e.reasons,
    })
}

/// A site's staff page: identity, certificates, re-verification, complaints, copies,
/// warnings and audit entries, and their merged history; 404 for an unknown site.
pub async fn detail(
    s: &Services,
    account: &Account,
    site: &str,
    now: i64,
) -> Result<SiteDetail, AppError> {
    account.require(&STAFF)?;
    let identity = store::identity(&s.db, site).await?;
    let mut certificates = vec![];
    for id in store::certificate_ids(&s.db, site).await? {
        if let Some(c) = ca::store::certificate_by_id(&s.db, id).await? {
            certificates.push(c);
        }
    }
    let current = certificates
        .iter()
        .find(|c| Some(c.id) == identity.certificate_id);
    // The certificate says which filing covers which domain; before issuance, the
    // site's own domains and its primary filing number.
    let domains = match current {
        Some(c) => crate::domain::site::domain_filings(c),
        None => store::domains(&s.db, site)
            .await?
            .into_iter()
            .map(|d| (d, identity.icp.clone()))
            .collect(),
    };
    let recheck = store::recheck(&s.db, site).await?;
    let state = StaffState::of(
        current.and_then(|c| c.revocation()).map(|r| r.code),
        current.map_or(i64::MAX, |c| c.not_after),
        recheck.as_ref().map(|r| r.state.as_str()),
        now,
    );
    let grace_ends = recheck
        .as_ref()
        .filter(|r| r.state == "grace")
        .and_then(|r| r.failing_since)
        .map(|f| f + s.policy.grace);
    let checks: Vec<CheckEntry> = store::checks(&s.db, site, HISTORY_PER_KIND)
        .await?
        .into_iter()
        .filter_map(|r| check_entry(r.at, &r.evidence))
        .collect();
    let complaints = store::complaints(&s.db, site, HISTORY_PER_KIND).await?;
    let copies = store::copies(&s.db, site, HISTORY_PER_KIND).await?;
    let warnings = store::warnings(&s.db, site, HISTORY_PER_KIND).await?;
    let mut subjects = vec![site.to_string()];
    subjects.extend(
        certificates
            .iter()
            .map(|c| ca::Serial::from_bytes(&c.serial).to_hex()),
    );
    let audit = ca::audit::about(&s.db, &subjects, HISTORY_PER_KIND).await?;
    let history = merge(
        &certificates,
        &checks,
        &complaints,
        &copies,
        &warnings,
        &audit,
    );
    Ok(SiteDetail {
        identity,
        state,
        domains,
        certificates,
        recheck,
        grace_ends,
        checks,
        complaints,
        copies,
        warnings,
        audit,
        history,
    })
}

/// Every fact of a site as one history, newest first (ties: the order of the kinds).
fn merge(
    certificates: &[CertificateRecord],
    checks: &[CheckEntry],
    complaints: &[store::ComplaintRow],
    copies: &[store::CopyRow],
    warnings: &[store::WarningRow],
    audit: &[ca::audit::Entry],
) -> Vec<HistoryEntry> {
    let entry = |at, kind, title: String, detail: String| HistoryEntry {
        at,
        kind,
        title,
        detail,
        actor: None,
        link: None,
    };
    let mut out = vec![];
    for c in certificates {
        let serial = ca::Serial::from_bytes(&c.serial).to_hex();
        out.push(entry(
            c.not_before,
            HistoryKind::Certificate,
            format!("certificate {serial} issued"),
            format!(
                "valid {} – {}; {}",
                date_time(c.not_before),
                date_time(c.not_after),
                c.domains
            ),
        ));
        if let Some(r) = c.revocation() {
            let name = r
                .reason()
                .map_or_else(|| r.code.to_string(), |x| x.name().to_string());
            out.push(entry(
                r.at,
                HistoryKind::Certificate,
                format!(
                    "certificate {serial} {}",
                    if r.on_hold() { "held" } else { "revoked" }
                ),
                name,
            ));
        }
    }
    for c in checks {
        let mut detail = format!(
            "asked: {}\nanswered: {}\nresolver: {}",
            c.asked,
            c.answered,
            c.resolver.as_deref().unwrap_or("-")
        );
        if !c.reasons.is_empty() {
            detail.push_str(&format!("\nreasons: {}", c.reasons.join("; ")));
        }
        out.push(entry(
            c.at,
            HistoryKind::Check,
            format!("{} {}: {}", c.check, c.subject, c.verdict),
            detail,
        ));
    }
    for c in complaints {
        out.push(HistoryEntry {
            link: Some(format!("/complaints/{}", c.id)),
            ..entry(
                c.created_at,
                HistoryKind::Complaint,
                format!("complaint {} ({}): {}", c.id, c.category, c.status),
                format!("answer by {}", date_time(c.deadline_at)),
            )
        });
    }
    for c in copies {
        out.push(entry(
            c.first_seen,
            HistoryKind::Copy,
            format!("seal seen on {}", c.host),
            format!(
                "{} requests in {} hours, last {}",
                c.hits,
                c.hours_seen,
                date_time(c.last_seen)
            ),
        ));
    }
    for w in warnings {
        out.push(HistoryEntry {
            link: Some(format!("/warnings#warning-{}", w.id)),
            ..entry(
                w.published_at,
                HistoryKind::Warning,
                format!("warning #{} about {}", w.id, w.domain),
                w.withdrawn_at
                    .map_or_else(String::new, |at| format!("withdrawn {}", date_time(at))),
            )
        });
    }
    for a in audit {
        out.push(HistoryEntry {
            actor: Some(a.actor.clone()),
            ..entry(
                a.at,
                HistoryKind::Audit,
                format!("{} {}", a.action, a.subject),
                a.details.clone(),
            )
        });
    }
    // Stable: equal times keep the order above.
    out.sort_by_key(|e| std::cmp::Reverse(e.at));
    out
}

/// Holds, releases or revokes a site's certificate with a reason in words (kept in
/// the audit chain with the action, in the revocation's transaction). A revocation
/// names its RFC 5280 reason (`revoke_reason`, not certificateHold or removeFromCRL).
pub async fn act(
    s: &Services,
    account: &Account,
    site: &str,
    action: SiteAction,
    revoke_reason: Option<ca::RevocationReason>,
    text: &str,
    now: i64,
) -> Result<(), AppError> {
    account.require(&STAFF)?;
    let text = note_text("reason", text)?;
    let reason = match action {
        SiteAction::Hold => ca::RevocationReason::CertificateHold,
        SiteAction::Release => ca::RevocationReason::RemoveFromCrl,
        SiteAction::Revoke => revoke_reason
            .filter(|r| {
                !matches!(
                    r,
                    ca::RevocationReason::CertificateHold | ca::RevocationReason::RemoveFromCrl
                )
            })
            .ok_or_else(|| {
                AppError::Invalid(vec![(
                    "rfc_reason".into(),
                    "an RFC 5280 revocation reason (not certificateHold or removeFromCRL)".into(),
                )])
            })?,
    };
    crate::service::sites::revoke_noted(s, account, site, reason, Some(&text), now).await
}

/// Keeps a staff note about a site in the audit chain (`site.note`); 404 for an
/// unknown site.
pub async fn note(
    s: &Services,
    account: &Account,
    site: &str,
    text: &str,
) -> Result<i64, AppError> {
    account.require(&STAFF)?;
    let text = note_text("note", text)?;
    store::identity(&s.db, site).await?;
    let mut tx = s.db.begin().await?;
    let seq = ca::audit::append(
        &mut tx,
        &account.email,
        "site.note",
        site,
        &json!({ "note": text }),
    )
    .await?;
    tx.commit().await?;
    Ok(seq)
}

/// The console's queues: how many of each wait for staff.
#[derive(Debug, Clone, Default)]
pub struct Queues {
    /// Applications awaiting review.
    pub awaiting_review: i64,
    /// Why they wait: each reason with how many applications it holds (among the
    /// oldest 200 the console lists).
    pub review_reasons: Vec<(String, i64)>,
    /// Sites in grace whose grace ends within 24 hours.
    pub grace_ending: i64,
    /// Complaints past their answer deadline.
    pub complaints_overdue: i64,
    /// Warning drafts awaiting confirmation.
    pub warning_drafts: i64,
}

/// Counts the console's queues at `now`.
pub async fn queues(s: &Services, account: &Account, now: i64) -> Result<Queues, AppError> {
    account.require(&STAFF)?;
    let counts = store::queue_counts(&s.db, context(s, now)).await?;
    let review = crate::service::applications::awaiting_review(&s.db).await?;
    let mut reasons: std::collections::BTreeMap<String, i64> = Default::default();
    for a in &review {
        for r in &a.reasons {
            *reasons.entry(r.clone()).or_default() += 1;
        }
    }
    let mut review_reasons: Vec<(String, i64)> = reasons.into_iter().collect();
    review_reasons.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(Queues {
        awaiting_review: counts.awaiting_review,
        review_reasons,
        grace_ending: counts.grace_ending,
        complaints_overdue: counts.complaints_overdue,
        warning_drafts: counts.warning_drafts,
    })
}
