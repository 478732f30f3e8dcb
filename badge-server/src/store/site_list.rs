//! The staff sites list and a site's staff page (issue 18), read across the tables
//! that hold a site's facts: `sites`/`organizations`/`site_domains` (ours), the CA's
//! `certificates`/`revocations`/`log_entries`, the verifier's `recheck_subjects` and
//! `verification_checks`, complaints, copied seals and warnings. Read only: each
//! fact stays where its owner writes it. Every filter has its index (migration 0039).

use ca::db::Database;
use ca::on_pool;

use crate::domain::complaint::Status;
use crate::domain::site_list::{LastResult, SiteFilter, Sort, StaffState};
use crate::error::AppError;

/// When a site's re-verification is next due: a pending retry, else the earlier of
/// its two checks. Written exactly as the index `recheck_subjects_next_due` is, so
/// that both backends answer the filter and the sort from it.
const NEXT_DUE: &str = "(CASE WHEN rs.retry_at IS NOT NULL THEN rs.retry_at \
     WHEN rs.domain_due_at < rs.icp_due_at THEN rs.domain_due_at ELSE rs.icp_due_at END)";

/// One row of the list, as selected.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SiteListRow {
    /// Site id.
    pub id: String,
    /// The organization's name.
    pub organization: String,
    /// Its USCC.
    pub uscc: String,
    /// Its province.
    pub province: String,
    /// JSON array of the certified domains (the certificate's).
    pub domains: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// The certificate's end of validity.
    pub not_after: Option<i64>,
    /// The revocation reason code, when revoked or held.
    pub revocation: Option<i64>,
    /// The verifier's state (`ok`, `grace`, `suspended`, `revoked`), when enrolled.
    pub recheck_state: Option<String>,
    /// Since when its checks fail.
    pub failing_since: Option<i64>,
    /// When a retry is due after a transient error.
    pub retry_at: Option<i64>,
    /// When its re-verification is next due.
    pub next_due: Option<i64>,
    /// The verifier's last reason.
    pub last_reason: Option<String>,
    /// Complaints not yet closed.
    pub open_complaints: i64,
    /// Reported copies of its seal.
    pub copies: i64,
    /// Demonstration data.
    pub demo: bool,
}

impl SiteListRow {
    /// The state staff see at `now`.
    pub fn state(&self, now: i64) -> StaffState {
        StaffState::of(
            self.revocation,
            self.not_after.unwrap_or(i64::MAX),
            self.recheck_state.as_deref(),
            now,
        )
    }

    /// The latest re-verification's outcome, when enrolled.
    pub fn last(&self) -> Option<LastResult> {
        self.recheck_state
            .as_ref()
            .map(|_| LastResult::of(self.failing_since, self.retry_at))
    }
}

/// A bound value of a query built here.
enum Arg {
    Int(i64),
    Text(String),
}

/// A query under construction: its clauses and the values they bind, in order.
#[derive(Default)]
struct Sql {
    clauses: Vec<String>,
    args: Vec<Arg>,
}

impl Sql {
    /// The next placeholder, bound to `a`.
    fn arg(&mut self, a: Arg) -> String {
        self.args.push(a);
        format!("${}", self.args.len())
    }
}

/// The open statuses of a complaint, as an SQL list.
fn open_statuses() -> String {
    Status::ALL
        .into_iter()
        .filter(|s| !s.is_final())
        .map(|s| format!("'{}'", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What the list needs besides the filter: the time, the grace period (for "grace
/// ending soon") and the hours a copy must be seen in before it is reported.
#[derive(Debug, Clone, Copy)]
pub struct ListContext {
    /// Unix seconds.
    pub now: i64,
    /// The re-verification grace period, seconds.
    pub grace: i64,
    /// [`crate::domain::site_list::GRACE_ENDING_WITHIN`].
    pub ending_within: i64,
    /// Copies seen in fewer distinct hours are not reported.
    pub copy_hours: i64,
}

/// One page of the sites list: at most `filter.limit + 1` rows (one more than a
/// page says that there is a next page).
pub async fn list(
    db: &Database,
    filter: &SiteFilter,
    cx: ListContext,
) -> Result<Vec<SiteListRow>, AppError> {
    let mut q = Sql::default();
    let needs_recheck = matches!(filter.sort, Sort::Due | Sort::Failure)
        || filter.due
        || filter.failing
        || filter.grace_ending
        || filter.last.is_some()
        || filter.state == Some(StaffState::Grace);
    let revoked = matches!(filter.state, Some(StaffState::Held | StaffState::Revoked));
    let hold = ca::RevocationReason::CertificateHold.code();
    match filter.state {
        None => {}
        Some(StaffState::Held) => q.clauses.push(format!("r.reason = {hold}")),
        Some(StaffState::Revoked) => q.clauses.push(format!("r.reason <> {hold}")),
        Some(state) => {
            let now = q.arg(Arg::Int(cx.now));
            q.clauses.push(match state {
                StaffState::Expired => format!("r.certificate_id IS NULL AND c.not_after < {now}"),
                // `+c.not_after`: nearly every site is within its validity, so
                // SQLite must not walk the validity index for it (the unary plus
                // keeps it off the index; PostgreSQL plans by statistics anyway).
                StaffState::Grace => format!(
                    "r.certificate_id IS NULL AND +c.not_after >= {now} AND rs.state = 'grace'"
                ),
                _ => format!(
                    "r.certificate_id IS NULL AND +c.not_after >= {now} \
                     AND (rs.state IS NULL OR rs.state <> 'grace')"
                ),
            });
        }
    }
    if filter.due {
        let now = q.arg(Arg::Int(cx.now));
        q.clauses
            .push(format!("{NEXT_DUE} <= {now} AND rs.state <> 'revoked'"));
    }
    if filter.failing {
        q.clauses.push("rs.failing_since IS NOT NULL".into());
    }
    if filter.grace_ending {
        let cutoff = q.arg(Arg::Int(cx.now + cx.ending_within - cx.grace));
        q.clauses.push(format!(
            "rs.state = 'grace' AND rs.failing_since IS NOT NULL AND rs.failing_since <= {cutoff}"
        ));
    }
    match filter.last {
        None => {}
        Some(LastResult::Pass) => q
            .clauses
            .push("rs.retry_at IS NULL AND rs.failing_since IS NULL".into()),
        Some(LastResult::Fail) => q
            .clauses
            .push("rs.retry_at IS NULL AND rs.failing_since IS NOT NULL".into()),
        Some(LastResult::Error) => q.clauses.push("rs.retry_at IS NOT NULL".into()),
    }
    if let Some(p) = &filter.province {
        let p = q.arg(Arg::Text(p.clone()));
        q.clauses.push(format!("o.province = {p}"));
    }
    if filter.open_complaints {
        q.clauses.push(format!(
            "s.id IN (SELECT site_id FROM complaints WHERE status IN ({}))",
            open_statuses()
        ));
    }
    if filter.copies {
        let h = q.arg(Arg::Int(cx.copy_hours));
        q.clauses.push(format!(
            "s.id IN (SELECT site_id FROM seal_copies WHERE hours_seen >= {h})"
        ));
    }
    if let Some(text) = &filter.q {
        let (pattern, short) = crate::store::sites::contains_pattern(text);
        let id = q.arg(Arg::Text(text.trim().to_string()));
        let pattern = q.arg(Arg::Text(pattern));
        q.clauses.push(match db {
            // SQLite answers LIKE through the FTS5 trigram table (three characters on).
            Database::Sqlite(_) if !short => format!(
                "(s.id = {id} OR s.id IN (SELECT site_id FROM site_search \
                 WHERE text LIKE {pattern} ESCAPE '\\'))"
            ),
            _ => format!("(s.id = {id} OR s.search_text LIKE {pattern} ESCAPE '\\')"),
        });
    }
    // The page is chosen first, from the narrowest rows that decide it: only the
    // tables a filter or the sort reads are joined, and only the site's id selected,
    // so that the rows skipped or sorted away are never read whole (on SQLite each
    // of them was a page read per table: with 12,500 sites in a province that was
    // most of a request's time). The wide row and the two counts are then read for
    // the page's rows alone: `CROSS JOIN` makes SQLite start from the page (it keeps
    // the tables in that order) instead of walking every site in date order and
    // probing the page for each; PostgreSQL plans it as the inner join it is.
    let (order, outer_order) = match filter.sort {
        Sort::Newest => (
            "s.created_at DESC, s.id DESC".to_string(),
            "s.created_at DESC, s.id DESC".to_string(),
        ),
        Sort::Due => (
            format!("{NEXT_DUE}, rs.site_id"),
            format!("{NEXT_DUE}, s.id"),
        ),
        Sort::Failure => (
            "rs.failing_since DESC NULLS LAST, rs.site_id DESC".to_string(),
            "rs.failing_since DESC NULLS LAST, s.id DESC".to_string(),
        ),
    };
    let certified = filter.state == Some(StaffState::Certified);
    let page_joins = [
        (
            filter.province.is_some(),
            "JOIN organizations o ON o.id = s.organization_id",
        ),
        (
            filter.state.is_some(),
            "JOIN certificates c ON c.id = s.certificate_id",
        ),
        (
            filter.state.is_some(),
            if revoked {
                "JOIN revocations r ON r.certificate_id = c.id"
            } else {
                "LEFT JOIN revocations r ON r.certificate_id = c.id"
            },
        ),
        (
            needs_recheck || certified,
            if needs_recheck {
                "JOIN recheck_subjects rs ON rs.site_id = s.id"
            } else {
                "LEFT JOIN recheck_subjects rs ON rs.site_id = s.id"
            },
        ),
    ]
    .into_iter()
    .filter_map(|(needed, join)| needed.then_some(join))
    .collect::<Vec<_>>()
    .join(" ");
    let limit = q.arg(Arg::Int(filter.limit + 1));
    let offset = q.arg(Arg::Int(filter.offset()));
    let copy_hours = q.arg(Arg::Int(cx.copy_hours));
    let sql = format!(
        "SELECT s.id, o.name AS organization, o.uscc, o.province, c.domains, s.created_at, \
         c.not_after, r.reason AS revocation, rs.state AS recheck_state, rs.failing_since, \
         rs.retry_at, {due} AS next_due, rs.last_reason, s.demo, \
         (SELECT COUNT(*) FROM complaints k WHERE k.site_id = s.id AND k.status IN ({open})) \
           AS open_complaints, \
         (SELECT COUNT(*) FROM seal_copies sc WHERE sc.site_id = s.id \
           AND sc.hours_seen >= {copy_hours}) AS copies \
         FROM (SELECT s.id FROM sites s {page_joins} {where_} \
           ORDER BY {order} LIMIT {limit} OFFSET {offset}) p \
         CROSS JOIN sites s JOIN organizations o ON o.id = s.organization_id \
         LEFT JOIN certificates c ON c.id = s.certificate_id \
         LEFT JOIN revocations r ON r.certificate_id = c.id \
         LEFT JOIN recheck_subjects rs ON rs.site_id = s.id \
         WHERE s.id = p.id ORDER BY {outer_order}",
        due = NEXT_DUE,
        open = open_statuses(),
        where_ = if q.clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", q.clauses.join(" AND "))
        },
    );
    let rows: Vec<SiteListRow> = on_pool!(db, |p| {
        let mut query = sqlx::query_as(&sql);
        for a in &q.args {
            query = match a {
                Arg::Int(i) => query.bind(*i),
                Arg::Text(t) => query.bind(t.as_str()),
            };
        }
        query.fetch_all(p).await?
    });
    Ok(rows)
}

/// A site's identity as staff see it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SiteIdentityRow {
    /// Site id.
    pub id: String,
    /// The row's own status (`sites.status`).
    pub status: String,
    /// The primary domain's filing number.
    pub icp: String,
    /// JSON map domain → filing number (NULL on sites from before).
    pub filings: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Demonstration data.
    pub demo: bool,
    /// Its current certificate's row.
    pub certificate_id: Option<i64>,
    /// The organization's name.
    pub organization: String,
    /// Its USCC.
    pub uscc: String,
    /// Province.
    pub province: String,
    /// City.
    pub city: String,
    /// The operator's e-mail, when the site has one.
    pub operator: Option<String>,
}

/// A site's identity; 404 for an unknown site.
pub async fn identity(db: &Database, site: &str) -> Result<SiteIdentityRow, AppError> {
    on_pool!(db, |p| sqlx::query_as(
        "SELECT s.id, s.status, s.icp, s.filings, s.created_at, s.demo, s.certificate_id, \
         o.name AS organization, o.uscc, o.province, o.city, a.email AS operator \
         FROM sites s JOIN organizations o ON o.id = s.organization_id \
         LEFT JOIN accounts a ON a.id = s.account_id WHERE s.id = $1"
    )
    .bind(site)
    .fetch_optional(p)
    .await?)
    .ok_or(AppError::NotFound)
}

/// A site's domains, primary first.
pub async fn domains(db: &Database, site: &str) -> Result<Vec<String>, AppError> {
    let rows: Vec<(String,)> = on_pool!(db, |p| sqlx::query_as(
        "SELECT domain FROM site_domains WHERE site_id = $1 ORDER BY position"
    )
    .bind(site)
    .fetch_all(p)
    .await?);
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// The row ids of every certificate a site has had (its current one and every one
/// the transparency log recorded for it), oldest first.
pub async fn certificate_ids(db: &Database, site: &str) -> Result<Vec<i64>, AppError> {
    let rows: Vec<(i64,)> = on_pool!(db, |p| sqlx::query_as(
        "SELECT certificate_id FROM sites WHERE id = $1 AND certificate_id IS NOT NULL \
         UNION SELECT certificate_id FROM log_entries WHERE site_id = $1 \
         AND certificate_id IS NOT NULL ORDER BY 1"
    )
    .bind(site)
    .fetch_all(p)
    .await?);
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// A site's re-verification row (the verifier's), when enrolled.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RecheckRow {
    /// `ok`, `grace`, `suspended` or `revoked`.
    pub state: String,
    /// How control is re-proven (`dns-txt`, …).
    pub method: String,
    /// Next domain-control check.
    pub domain_due_at: i64,
    /// Next ICP check.
    pub icp_due_at: i64,
    /// Pending retry.
    pub retry_at: Option<i64>,
    /// Since when the checks fail.
    pub failing_since: Option<i64>,
    /// When the verifier held the certificate.
    pub suspended_at: Option<i64>,
    /// The last outcome's reason.
    pub last_reason: Option<String>,
}

/// A site's re-verification row, if enrolled.
pub async fn recheck(db: &Database, site: &str) -> Result<Option<RecheckRow>, AppError> {
    Ok(on_pool!(db, |p| sqlx::query_as(
        "SELECT state, method, domain_due_at, icp_due_at, retry_at, failing_since, \
         suspended_at, last_reason FROM recheck_subjects WHERE site_id = $1"
    )
    .bind(site)
    .fetch_optional(p)
    .await?))
}

/// One stored check (re-verification evidence), as JSON with its time.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CheckRow {
    /// Row id.
    pub id: i64,
    /// Unix seconds.
    pub at: i64,
    /// The evidence as the verifier stored it (JSON).
    pub evidence: String,
}

/// A site's re-verification checks, newest first, at most `limit`.
pub async fn checks(db: &Database, site: &str, limit: i64) -> Result<Vec<CheckRow>, AppError> {
    Ok(on_pool!(db, |p| sqlx::query_as(
        "SELECT id, at, evidence FROM verification_checks WHERE site_id = $1 \
         ORDER BY at DESC, id DESC LIMIT $2"
    )
    .bind(site)
    .bind(limit)
    .fetch_all(p)
    .await?))
}

/// A complaint about a site, as its staff page lists it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ComplaintRow {
    /// Complaint id.
    pub id: String,
    /// Its category.
    pub category: String,
    /// Its status (stored name).
    pub status: String,
    /// The operator's answer deadline.
    pub deadline_at: i64,
    /// Filed at.
    pub created_at: i64,
}

/// The complaints about a site, newest first, at most `limit`.
pub async fn complaints(
    db: &Database,
    site: &str,
    limit: i64,
) -> Result<Vec<ComplaintRow>, AppError> {
    Ok(on_pool!(db, |p| sqlx::query_as(
        "SELECT id, category, status, deadline_at, created_at FROM complaints \
         WHERE site_id = $1 ORDER BY created_at DESC, id LIMIT $2"
    )
    .bind(site)
    .bind(limit)
    .fetch_all(p)
    .await?))
}

/// A copy of a site's seal seen on another host.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CopyRow {
    /// The host that showed it.
    pub host: String,
    /// Requests seen.
    pub hits: i64,
    /// Distinct hours it was seen in.
    pub hours_seen: i64,
    /// First seen.
    pub first_seen: i64,
    /// Last seen.
    pub last_seen: i64,
}

/// The copies of a site's seal (every host recorded, reported or not), most recent
/// first, at most `limit`.
pub async fn copies(db: &Database, site: &str, limit: i64) -> Result<Vec<CopyRow>, AppError> {
    Ok(on_pool!(db, |p| sqlx::query_as(
        "SELECT host, hits, hours_seen, first_seen, last_seen FROM seal_copies \
         WHERE site_id = $1 ORDER BY last_seen DESC, host LIMIT $2"
    )
    .bind(site)
    .bind(limit)
    .fetch_all(p)
    .await?))
}

/// A fraud warning that names a site as the one impersonated.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WarningRow {
    /// Warning id.
    pub id: i64,
    /// The impersonating domain.
    pub domain: String,
    /// Published at.
    pub published_at: i64,
    /// Withdrawn at, if withdrawn.
    pub withdrawn_at: Option<i64>,
}

/// The warnings that name a site, newest first, at most `limit`.
pub async fn warnings(db: &Database, site: &str, limit: i64) -> Result<Vec<WarningRow>, AppError> {
    Ok(on_pool!(db, |p| sqlx::query_as(
        "SELECT id, domain, published_at, withdrawn_at FROM fraud_warnings \
         WHERE impersonates = $1 ORDER BY published_at DESC, id DESC LIMIT $2"
    )
    .bind(site)
    .bind(limit)
    .fetch_all(p)
    .await?))
}

/// The console's queue counts, each in one indexed statement.
#[derive(Debug, Clone, Copy, Default)]
pub struct QueueCounts {
    /// Applications awaiting review (validated, or held for staff).
    pub awaiting_review: i64,
    /// Sites in grace whose grace ends within the window.
    pub grace_ending: i64,
    /// Complaints past their answer deadline (or marked overdue), not closed.
    pub complaints_overdue: i64,
    /// Warning drafts awaiting a decision.
    pub warning_drafts: i64,
}

/// Counts the queues at `cx.now`.
pub async fn queue_counts(db: &Database, cx: ListContext) -> Result<QueueCounts, AppError> {
    let (grace_ending,): (i64,) = on_pool!(db, |p| sqlx::query_as(
        "SELECT COUNT(*) FROM recheck_subjects WHERE state = 'grace' \
         AND failing_since IS NOT NULL AND failing_since <= $1"
    )
    .bind(cx.now + cx.ending_within - cx.grace)
    .fetch_one(p)
    .await?);
    let (complaints_overdue,): (i64,) = on_pool!(db, |p| sqlx::query_as(
        "SELECT COUNT(*) FROM complaints WHERE status = 'overdue' \
         OR (status IN ('submitted', 'forwarded') AND deadline_at < $1)"
    )
    .bind(cx.now)
    .fetch_one(p)
    .await?);
    let (awaiting_review,): (i64,) = on_pool!(db, |p| sqlx::query_as(
        "SELECT COUNT(*) FROM applications WHERE status IN ($1, $2)"
    )
    .bind(crate::domain::application::ApplicationStatus::Validated.as_str())
    .bind(crate::domain::application::ApplicationStatus::Review.as_str())
    .fetch_one(p)
    .await?);
    let (warning_drafts,): (i64,) = on_pool!(db, |p| sqlx::query_as(
        "SELECT COUNT(*) FROM warning_drafts WHERE state = 'draft'"
    )
    .fetch_one(p)
    .await?);
    Ok(QueueCounts {
        awaiting_review,
        grace_ending,
        complaints_overdue,
        warning_drafts,
    })
}
