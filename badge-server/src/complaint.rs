//! The complaint platform: a visitor complains about a certified site, the operator
//! must answer by a deadline (with reminders), the complainant gives feedback, staff
//! decide, and an upheld complaint takes the certificate away.
//!
//! Every step is one transaction: a conditional `UPDATE … WHERE status IN (…)` (so two
//! racing steps cannot both win, on either backend), a timeline event, an audit entry,
//! and the notifications it causes, queued in the same transaction so they are sent
//! exactly when the step committed. Functions take `now` so tests drive the clock.

use std::fmt;
use std::str::FromStr;

use ca::RevocationReason;
use ca::db::{Database, Tx};
use ca::{on_pool, on_tx};
use serde::Serialize;
use serde_json::json;

use crate::application;
use crate::attachment::{self, Attachment};
use crate::domain::account::{Account, Role};
use crate::domain::privacy;
use crate::error::AppError;
use crate::jobs::queue::{self, Job, JobError, kind};
use crate::service::Services;

/// Job kind: remind the operator that a complaint is unanswered.
pub const JOB_REMINDER: &str = "complaint.reminder";
/// Job kind: the answer deadline has passed.
pub const JOB_DEADLINE: &str = "complaint.deadline";

/// Longest complaint, answer or feedback text, in characters.
pub const MAX_TEXT: usize = 5000;
/// Shortest complaint text: enough to say what happened.
pub const MIN_TEXT: usize = 10;
/// Reputation is shown only from this many complaints in the last 12 months, so that
/// no single complainant can be singled out.
pub const MIN_REPUTATION_COUNT: i64 = 5;

/// Deadlines and reminders.
#[derive(Debug, Clone)]
pub struct ComplaintPolicy {
    /// Seconds the operator has to answer.
    pub answer_within: i64,
    /// Reminders, in seconds before the deadline.
    pub reminders_before: Vec<i64>,
    /// Complaints one account may file in 24 hours (each mails an operator).
    pub per_user_per_day: i64,
    /// Complaints about one site accepted in an hour, from everyone together: a
    /// flood from many new accounts cannot bury an operator in mail.
    pub per_site_per_hour: i64,
}

impl Default for ComplaintPolicy {
    fn default() -> Self {
        ComplaintPolicy {
            answer_within: 5 * 86_400,
            reminders_before: vec![48 * 3600, 24 * 3600],
            per_user_per_day: 5,
            per_site_per_hour: 30,
        }
    }
}

/// What a complaint is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// 诈骗: the site defrauds visitors.
    Fraud,
    /// 假冒伪劣: counterfeit goods.
    Counterfeit,
    /// 虚假宣传: false claims about the organization or its products.
    FalseInformation,
    /// 个人信息: misuse of personal information.
    Privacy,
    /// 服务质量: service not delivered as promised.
    Service,
    /// 其他.
    Other,
}

impl Category {
    /// Every category, for forms and documentation.
    pub const ALL: [Category; 6] = [
        Category::Fraud,
        Category::Counterfeit,
        Category::FalseInformation,
        Category::Privacy,
        Category::Service,
        Category::Other,
    ];

    /// The API name.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Fraud => "fraud",
            Category::Counterfeit => "counterfeit",
            Category::FalseInformation => "false_information",
            Category::Privacy => "privacy",
            Category::Service => "service",
            Category::Other => "other",
        }
    }

    /// Chinese and English labels.
    pub fn labels(self) -> (&'static str, &'static str) {
        match self {
            Category::Fraud => ("诈骗", "Fraud"),
            Category::Counterfeit => ("假冒伪劣", "Counterfeit goods"),
            Category::FalseInformation => ("虚假宣传", "False information"),
            Category::Privacy => ("个人信息", "Personal information"),
            Category::Service => ("服务质量", "Service"),
            Category::Other => ("其他", "Other"),
        }
    }
}

impl FromStr for Category {
    type Err = AppError;
    fn from_str(s: &str) -> Result<Self, AppError> {
        Category::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| {
                AppError::Invalid(vec![(
                    "category".into(),
                    format!(
                        "unknown category {s:?}; one of {}",
                        Category::ALL.map(Category::as_str).join(", ")
                    ),
                )])
            })
    }
}

/// Where a complaint stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Filed; the operator is being notified.
    Submitted,
    /// The operator has been notified and must answer by the deadline.
    Forwarded,
    /// The operator answered; waiting for the complainant's feedback.
    Answered,
    /// The complainant is satisfied; staff close it.
    Feedback,
    /// The complainant is not satisfied: staff review it.
    UnderReview,
    /// Staff upheld it: the certificate is revoked (or held).
    Upheld,
    /// Staff dismissed it.
    Dismissed,
    /// The complainant withdrew it.
    Withdrawn,
    /// No answer by the deadline: escalated to staff.
    Overdue,
}

impl Status {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Submitted => "submitted",
            Status::Forwarded => "forwarded",
            Status::Answered => "answered",
            Status::Feedback => "feedback",
            Status::UnderReview => "under_review",
            Status::Upheld => "upheld",
            Status::Dismissed => "dismissed",
            Status::Withdrawn => "withdrawn",
            Status::Overdue => "overdue",
        }
    }

    /// The states in which nothing more can happen.
    pub const CLOSED: [Status; 3] = [Status::Upheld, Status::Dismissed, Status::Withdrawn];

    /// Whether nothing more can happen.
    pub fn is_final(self) -> bool {
        Status::CLOSED.contains(&self)
    }

    /// Chinese and English labels.
    pub fn labels(self) -> (&'static str, &'static str) {
        match self {
            Status::Submitted => ("已提交", "Submitted"),
            Status::Forwarded => ("已转交经营者", "Forwarded to the operator"),
            Status::Answered => ("经营者已答复", "Answered"),
            Status::Feedback => ("投诉人已反馈", "Feedback given"),
            Status::UnderReview => ("审核中", "Under review"),
            Status::Upheld => ("投诉成立", "Upheld"),
            Status::Dismissed => ("投诉不成立", "Dismissed"),
            Status::Withdrawn => ("已撤回", "Withdrawn"),
            Status::Overdue => ("逾期未答复", "Overdue"),
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = AppError;
    fn from_str(s: &str) -> Result<Self, AppError> {
        [
            Status::Submitted,
            Status::Forwarded,
            Status::Answered,
            Status::Feedback,
            Status::UnderReview,
            Status::Upheld,
            Status::Dismissed,
            Status::Withdrawn,
            Status::Overdue,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
        .ok_or_else(|| AppError::Internal(ca::Error::Config(format!("complaint status {s:?}"))))
    }
}

/// A complaint as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Complaint {
    /// `c_…`.
    pub id: String,
    /// The site complained about.
    pub site_id: String,
    /// Who complained (never published).
    pub complainant_id: i64,
    /// Category name.
    pub category: String,
    /// The complaint as written.
    pub text: String,
    /// Status name.
    pub status: String,
    /// When the operator must have answered.
    pub deadline_at: i64,
    /// The operator's answer.
    pub answer_text: Option<String>,
    /// When.
    pub answered_at: Option<i64>,
    /// The complainant's verdict on the answer.
    pub satisfied: Option<bool>,
    /// The complainant's words on the answer.
    pub feedback_text: Option<String>,
    /// When.
    pub feedback_at: Option<i64>,
    /// Staff's reason.
    pub decision_reason: Option<String>,
    /// When staff decided.
    pub decided_at: Option<i64>,
    /// Filed at.
    pub created_at: i64,
    /// Last change.
    pub updated_at: i64,
}

const COLUMNS: &str = "id, site_id, complainant_id, category, text, status, deadline_at, answer_text, \
    answered_at, satisfied, feedback_text, feedback_at, decision_reason, decided_at, created_at, updated_at";

impl Complaint {
    /// The parsed status.
    pub fn status(&self) -> Result<Status, AppError> {
        self.status.parse()
    }
}

/// How a party relates to a complaint; decides what they may see and do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party {
    /// Filed it: sees everything they wrote.
    Complainant,
    /// Runs the site: sees the complaint masked, never who filed it.
    Operator,
    /// Alliance staff: see everything.
    Staff,
}

impl Party {
    /// `complainant`, `operator` or `staff`: as the timeline and views name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Party::Complainant => "complainant",
            Party::Operator => "operator",
            Party::Staff => "staff",
        }
    }
}

/// The relation of `account` to `c`, or 403.
pub async fn party(db: &Database, account: &Account, c: &Complaint) -> Result<Party, AppError> {
    if account.role.is_staff() {
        return Ok(Party::Staff);
    }
    if account.id == c.complainant_id {
        return Ok(Party::Complainant);
    }
    if application::site_owner(db, &c.site_id).await? == Some(account.id) {
        return Ok(Party::Operator);
    }
    Err(AppError::Forbidden(
        "only the complainant, the site's operator and staff see a complaint".into(),
    ))
}

/// One complaint.
pub async fn get(db: &Database, id: &str) -> Result<Complaint, AppError> {
    let sql = format!("SELECT {COLUMNS} FROM complaints WHERE id = $1");
    on_pool!(db, |p| sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(p)
        .await?)
    .ok_or(AppError::NotFound)
}

/// Complaints `account` may see, newest deadline first for staff (the queue), newest
/// first otherwise; at most 200.
pub async fn list(db: &Database, account: &Account) -> Result<Vec<Complaint>, AppError> {
    let sql = if account.role.is_staff() {
        format!(
            "SELECT {COLUMNS} FROM complaints ORDER BY \
             CASE WHEN status IN ('upheld','dismissed','withdrawn') THEN 1 ELSE 0 END, deadline_at LIMIT 200"
        )
    } else {
        format!(
            "SELECT {COLUMNS} FROM complaints WHERE complainant_id = $1 \
             OR site_id IN (SELECT id FROM sites WHERE account_id = $1) ORDER BY created_at DESC LIMIT 200"
        )
    };
    Ok(on_pool!(db, |p| {
        let q = sqlx::query_as(&sql);
        let q = if account.role.is_staff() {
            q
        } else {
            q.bind(account.id)
        };
        q.fetch_all(p).await?
    }))
}

/// The timeline of a complaint.
pub async fn events(db: &Database, id: &str) -> Result<Vec<Event>, AppError> {
    Ok(on_pool!(db, |p| sqlx::query_as(
        "SELECT at, actor_role, from_status, to_status, note FROM complaint_events \
         WHERE complaint_id = $1 ORDER BY id"
    )
    .bind(id)
    .fetch_all(p)
    .await?))
}

/// One step of a complaint's timeline.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Event {
    /// When (unix seconds).
    pub at: i64,
    /// `complainant`, `operator`, `staff` or `system`.
    pub actor_role: String,
    /// Status before.
    pub from_status: Option<String>,
    /// Status after.
    pub to_status: String,
    /// What happened, in a few words.
    pub note: Option<String>,
}

fn text_field(field: &str, text: &str, min: usize) -> Result<String, AppError> {
    let t = text.trim();
    let n = t.chars().count();
    if n < min || n > MAX_TEXT {
        return Err(AppError::Invalid(vec![(
            field.into(),
            format!("write {min} to {MAX_TEXT} characters"),
        )]));
    }
    if t.chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        return Err(AppError::Invalid(vec![(
            field.into(),
            "control characters are not allowed".into(),
        )]));
    }
    Ok(t.to_string())
}

/// The status of complaint `id` as the transaction sees it, or 404.
async fn status_in(tx: &mut Tx, id: &str) -> Result<Status, AppError> {
    let current: Option<(String,)> = on_tx!(tx, |c| sqlx::query_as(
        "SELECT status FROM complaints WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(c)
    .await?);
    current.ok_or(AppError::NotFound)?.0.parse()
}

/// Moves `id` from one of `from` to `to` with `sets` (extra `col = $n` assignments
/// bound after the fixed ones), or fails with 409 naming the current state.
async fn transition(
    tx: &mut Tx,
    id: &str,
    from: &[Status],
    to: Status,
    now: i64,
    extra: &[(&str, Bind<'_>)],
) -> Result<Status, AppError> {
    let current = status_in(tx, id).await?;
    let allowed: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
    let mut sql = String::from("UPDATE complaints SET status = $1, updated_at = $2");
    for (i, (col, _)) in extra.iter().enumerate() {
        sql.push_str(&format!(", {col} = ${}", i + 3));
    }
    let n = extra.len() + 3;
    sql.push_str(&format!(" WHERE id = ${n} AND status IN ("));
    sql.push_str(
        &(0..allowed.len())
            .map(|i| format!("${}", n + 1 + i))
            .collect::<Vec<_>>()
            .join(", "),
    );
    sql.push(')');
    let done = on_tx!(tx, |c| {
        let mut q = sqlx::query(&sql).bind(to.as_str()).bind(now);
        for (_, b) in extra {
            q = match b {
                Bind::Text(s) => q.bind(*s),
                Bind::OptText(s) => q.bind(*s),
                Bind::Int(v) => q.bind(*v),
                Bind::Bool(v) => q.bind(*v),
            };
        }
        q = q.bind(id);
        for s in &allowed {
            q = q.bind(*s);
        }
        q.execute(c).await?.rows_affected()
    });
    if done != 1 {
        return Err(AppError::Conflict(format!(
            "the complaint is {current}; this step needs it to be {}",
            allowed.join(" or ")
        )));
    }
    Ok(current)
}

/// A value for [`transition`]'s extra columns.
enum Bind<'a> {
    Text(&'a str),
    OptText(Option<&'a str>),
    Int(i64),
    Bool(bool),
}

async fn event(
    tx: &mut Tx,
    id: &str,
    now: i64,
    actor: &str,
    from: Option<Status>,
    to: Status,
    note: Option<&str>,
) -> Result<(), AppError> {
    on_tx!(tx, |c| sqlx::query(
        "INSERT INTO complaint_events (complaint_id, at, actor_role, from_status, to_status, note) \
         VALUES ($1, $2, $3, $4, $5, $6)"
    )
    .bind(id)
    .bind(now)
    .bind(actor)
    .bind(from.map(Status::as_str))
    .bind(to.as_str())
    .bind(note)
    .execute(c)
    .await
    .map(|_| ())?);
    Ok(())
}

/// Who to tell about a complaint: the complainant, the site's operator (if the site
/// has an account) and the domain the complaint is about.
struct Parties {
    complainant: String,
    operator: Option<(i64, String)>,
    domain: String,
}

async fn parties(tx: &mut Tx, c: &Complaint) -> Result<Parties, AppError> {
    let complainant: (String,) = on_tx!(tx, |x| sqlx::query_as(
        "SELECT email FROM accounts WHERE id = $1"
    )
    .bind(c.complainant_id)
    .fetch_one(x)
    .await?);
    let operator: Option<(i64, String)> = on_tx!(tx, |x| {
        sqlx::query_as(
        "SELECT a.id, a.email FROM sites s JOIN accounts a ON a.id = s.account_id WHERE s.id = $1"
    )
    .bind(&c.site_id)
    .fetch_optional(x)
    .await
    ?
    });
    let domain: Option<(String,)> = on_tx!(tx, |x| sqlx::query_as(
        "SELECT domain FROM site_domains WHERE site_id = $1 ORDER BY position LIMIT 1"
    )
    .bind(&c.site_id)
    .fetch_optional(x)
    .await?);
    Ok(Parties {
        complainant: complainant.0,
        operator,
        domain: domain.map(|d| d.0).unwrap_or_else(|| c.site_id.clone()),
    })
}

/// Queues a mail (Chinese first, English second) in the step's transaction.
async fn mail(tx: &mut Tx, to: &str, subject: &str, text: &str, now: i64) -> Result<(), AppError> {
    queue::enqueue(
        tx,
        kind::MAIL,
        &json!({ "to": to, "subject": subject, "text": text }),
        now,
        None,
    )
    .await
    .map(drop)
}

/// Queues a webhook to the operator's account (delivered only if it set a URL).
async fn webhook(
    tx: &mut Tx,
    account_id: i64,
    event: &str,
    data: serde_json::Value,
    now: i64,
) -> Result<(), AppError> {
    queue::enqueue(
        tx,
        kind::WEBHOOK,
        &json!({ "account_id": account_id, "event": event, "data": data }),
        now,
        None,
    )
    .await
    .map(drop)
}

fn link(state: &Services, id: &str) -> String {
    format!("{}/complaints/{id}", state.public_base())
}

/// The limits on filing, counted inside the filing's transaction so that concurrent
/// filings cannot both take the last place: on PostgreSQL the account's row is locked
/// first (`FOR UPDATE`), and SQLite transactions are IMMEDIATE. One open complaint per
/// account and site; at most [`ComplaintPolicy::per_user_per_day`] a day per account;
/// at most [`ComplaintPolicy::per_site_per_hour`] an hour per site.
async fn within_filing_limits(
    tx: &mut Tx,
    policy: &ComplaintPolicy,
    account: i64,
    site: &str,
    now: i64,
) -> Result<(), AppError> {
    if let Tx::Postgres(c) = tx {
        sqlx::query("SELECT id FROM accounts WHERE id = $1 FOR UPDATE")
            .bind(account)
            .execute(&mut **c)
            .await?;
    }
    let (open,): (i64,) = on_tx!(tx, |c| {
        let mut q = sqlx::query_as(
            "SELECT COUNT(*) FROM complaints WHERE complainant_id = $1 AND site_id = $2 \
             AND status NOT IN ($3, $4, $5)",
        )
        .bind(account)
        .bind(site);
        for s in Status::CLOSED {
            q = q.bind(s.as_str());
        }
        q.fetch_one(c).await?
    });
    if open > 0 {
        return Err(AppError::Conflict(
            "you already have an open complaint about this site: add to it instead".into(),
        ));
    }
    let (today,): (i64,) = on_tx!(tx, |c| sqlx::query_as(
        "SELECT COUNT(*) FROM complaints WHERE complainant_id = $1 AND created_at > $2"
    )
    .bind(account)
    .bind(now - 86_400)
    .fetch_one(c)
    .await?);
    if today >= policy.per_user_per_day {
        return Err(AppError::TooMany {
            message: format!(
                "at most {} complaints a day per account",
                policy.per_user_per_day
            ),
            retry_after: 3_600,
        });
    }
    let (this_hour,): (i64,) = on_tx!(tx, |c| sqlx::query_as(
        "SELECT COUNT(*) FROM complaints WHERE site_id = $1 AND created_at > $2"
    )
    .bind(site)
    .bind(now - 3_600)
    .fetch_one(c)
    .await?);
    if this_hour >= policy.per_site_per_hour {
        return Err(AppError::TooMany {
            message: format!(
                "this site has had {} complaints in the last hour; try again later",
                policy.per_site_per_hour
            ),
            retry_after: 600,
        });
    }
    Ok(())
}

/// Files a complaint: stored as `forwarded` with its deadline, the operator notified
/// (mail and webhook), reminders and the deadline queued, all in one transaction.
pub async fn submit(
    state: &Services,
    account: &Account,
    site: &str,
    category: &str,
    text: &str,
    now: i64,
) -> Result<Complaint, AppError> {
    account.require(&[Role::User, Role::Operator])?;
    let mut errors = Vec::new();
    let category = category
        .parse::<Category>()
        .map_err(|e| errors.push(e))
        .ok();
    let text = text_field("text", text, MIN_TEXT)
        .map_err(|e| errors.push(e))
        .ok();
    let (Some(category), Some(text)) = (category, text) else {
        return Err(AppError::Invalid(
            errors
                .into_iter()
                .flat_map(|e| match e {
                    AppError::Invalid(f) => f,
                    other => vec![("body".into(), other.to_string())],
                })
                .collect(),
        ));
    };
    let sc = match application::site_certificate(&state.db, site).await {
        Ok(sc) => sc,
        Err(AppError::NotFound) => {
            return Err(AppError::Invalid(vec![(
                "site".into(),
                format!("no certified site {site:?}"),
            )]));
        }
        Err(e) => return Err(e),
    };
    if application::site_owner(&state.db, &sc.id).await? == Some(account.id) {
        return Err(AppError::Forbidden(
            "operators cannot complain about their own site".into(),
        ));
    }
    let id = application::new_id("c_")?;
    let deadline = now + state.complaints.answer_within;
    let mut tx = state.db.begin().await?;
    within_filing_limits(&mut tx, &state.complaints, account.id, &sc.id, now).await?;
    on_tx!(&mut tx, |c| {
        sqlx::query(
        "INSERT INTO complaints (id, site_id, complainant_id, category, text, status, deadline_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 'forwarded', $6, $7, $7)"
    )
    .bind(&id)
    .bind(&sc.id)
    .bind(account.id)
    .bind(category.as_str())
    .bind(&text)
    .bind(deadline)
    .bind(now)
    .execute(c)
    .await
    .map(|_| ())
    ?
    });
    event(
        &mut tx,
        &id,
        now,
        "complainant",
        None,
        Status::Submitted,
        None,
    )
    .await?;
    let c = Complaint {
        id: id.clone(),
        site_id: sc.id.clone(),
        complainant_id: account.id,
        category: category.as_str().into(),
        text: text.clone(),
        status: Status::Forwarded.as_str().into(),
        deadline_at: deadline,
        answer_text: None,
        answered_at: None,
        satisfied: None,
        feedback_text: None,
        feedback_at: None,
        decision_reason: None,
        decided_at: None,
        created_at: now,
        updated_at: now,
    };
    let p = parties(&mut tx, &c).await?;
    let due = crate::complaint::date_time(deadline);
    let url = link(state, &id);
    match &p.operator {
        Some((op_id, op_email)) => {
            let masked = privacy::mask(&text);
            mail(
                &mut tx,
                op_email,
                &format!("【诚信】{} 收到投诉，请于 {due} 前答复 / Complaint about {}: answer by {due}", p.domain, p.domain),
                &format!(
                    "您的网站 {domain} 收到一条投诉（{zh}），请在 {due} 前登录答复，逾期将提交人工审核。\n\n{masked}\n\n{url}\n\n\
                     Your site {domain} received a complaint ({en}). Answer by {due} or it goes to staff review.\n",
                    domain = p.domain,
                    zh = category.labels().0,
                    en = category.labels().1,
                ),
                now,
            )
            .await?;
            webhook(
                &mut tx,
                *op_id,
                "complaint.submitted",
                json!({ "complaint": id, "site": sc.id, "category": category.as_str(),
                        "text": masked, "deadline_at": deadline, "url": url }),
                now,
            )
            .await?;
            event(
                &mut tx,
                &id,
                now,
                "system",
                Some(Status::Submitted),
                Status::Forwarded,
                Some("operator notified"),
            )
            .await?;
        }
        None => {
            event(
                &mut tx,
                &id,
                now,
                "system",
                Some(Status::Submitted),
                Status::Forwarded,
                Some("the site has no operator account: staff follow up"),
            )
            .await?;
        }
    }
    for before in &state.complaints.reminders_before {
        let at = deadline - before;
        if at > now {
            queue::enqueue(
                &mut tx,
                JOB_REMINDER,
                &json!({ "complaint": id, "before": before }),
                at,
                Some(&format!("{id}:reminder:{before}")),
            )
            .await?;
        }
    }
    queue::enqueue(
        &mut tx,
        JOB_DEADLINE,
        &json!({ "complaint": id }),
        deadline,
        Some(&format!("{id}:deadline")),
    )
    .await?;
    ca::audit::append(
        &mut tx,
        &account.email,
        "complaint.submit",
        &id,
        &json!({ "site": sc.id, "category": category.as_str(), "deadline_at": deadline }),
    )
    .await?;
    tx.commit().await?;
    Ok(c)
}

/// The operator answers (late answers are accepted, and recorded as late).
pub async fn answer(
    state: &Services,
    account: &Account,
    id: &str,
    text: &str,
    now: i64,
) -> Result<Complaint, AppError> {
    let c = get(&state.db, id).await?;
    if party(&state.db, account, &c).await? != Party::Operator {
        return Err(AppError::Forbidden(
            "only the site's operator answers a complaint".into(),
        ));
    }
    let text = text_field("text", text, 1)?;
    let late = now > c.deadline_at;
    let mut tx = state.db.begin().await?;
    let from = transition(
        &mut tx,
        id,
        &[Status::Submitted, Status::Forwarded, Status::Overdue],
        Status::Answered,
        now,
        &[
            ("answer_text", Bind::Text(&text)),
            ("answered_at", Bind::Int(now)),
        ],
    )
    .await?;
    event(
        &mut tx,
        id,
        now,
        "operator",
        Some(from),
        Status::Answered,
        late.then_some("answered after the deadline"),
    )
    .await?;
    let p = parties(&mut tx, &c).await?;
    mail(
        &mut tx,
        &p.complainant,
        &format!("【诚信】{} 已答复您的投诉 / {} answered your complaint", p.domain, p.domain),
        &format!(
            "{domain} 的经营者已答复您的投诉，请告诉我们您是否满意：\n{url}\n\n{text}\n\n\
             The operator of {domain} answered your complaint. Tell us whether you are satisfied: {url}\n",
            domain = p.domain,
            url = link(state, id),
        ),
        now,
    )
    .await?;
    ca::audit::append(
        &mut tx,
        &account.email,
        "complaint.answer",
        id,
        &json!({ "late": late }),
    )
    .await?;
    tx.commit().await?;
    get(&state.db, id).await
}

/// The complainant says whether the answer satisfies them: satisfied → `feedback`
/// (staff close it), not satisfied → `under_review`.
pub async fn feedback(
    state: &Services,
    account: &Account,
    id: &str,
    satisfied: bool,
    text: Option<&str>,
    now: i64,
) -> Result<Complaint, AppError> {
    let c = get(&state.db, id).await?;
    if party(&state.db, account, &c).await? != Party::Complainant {
        return Err(AppError::Forbidden(
            "only the complainant gives feedback".into(),
        ));
    }
    let text = match text {
        Some(t) if !t.trim().is_empty() => Some(text_field("text", t, 1)?),
        _ => None,
    };
    let to = if satisfied {
        Status::Feedback
    } else {
        Status::UnderReview
    };
    let mut tx = state.db.begin().await?;
    let from = transition(
        &mut tx,
        id,
        &[Status::Answered],
        to,
        now,
        &[
            ("satisfied", Bind::Bool(satisfied)),
            ("feedback_text", Bind::OptText(text.as_deref())),
            ("feedback_at", Bind::Int(now)),
        ],
    )
    .await?;
    event(
        &mut tx,
        id,
        now,
        "complainant",
        Some(from),
        to,
        Some(if satisfied {
            "satisfied"
        } else {
            "not satisfied"
        }),
    )
    .await?;
    ca::audit::append(
        &mut tx,
        &account.email,
        "complaint.feedback",
        id,
        &json!({ "satisfied": satisfied }),
    )
    .await?;
    tx.commit().await?;
    get(&state.db, id).await
}

/// Staff's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The complaint is founded: the certificate goes.
    Upheld {
        /// `privilegeWithdrawn` (final) or `certificateHold` (suspension first).
        revocation: RevocationReason,
    },
    /// Not founded.
    Dismissed,
}

/// Staff decide. Upheld revokes the site's certificate in the same transaction (the
/// seal, page, OCSP and CRL say so within a second); both parties are told.
pub async fn decide(
    state: &Services,
    account: &Account,
    id: &str,
    decision: Decision,
    reason: &str,
    now: i64,
) -> Result<Complaint, AppError> {
    account.require(&[Role::Staff, Role::Admin])?;
    let reason = text_field("reason", reason, 1)?;
    let c = get(&state.db, id).await?;
    let (to, verdict_zh, verdict_en) = match decision {
        Decision::Upheld { .. } => (Status::Upheld, "投诉成立", "upheld"),
        Decision::Dismissed => (Status::Dismissed, "投诉不成立", "dismissed"),
    };
    let mut tx = state.db.begin().await?;
    let from = transition(
        &mut tx,
        id,
        &[
            Status::Answered,
            Status::Feedback,
            Status::UnderReview,
            Status::Overdue,
        ],
        to,
        now,
        &[
            ("decision_reason", Bind::Text(&reason)),
            ("decided_at", Bind::Int(now)),
        ],
    )
    .await?;
    let mut revoked = None;
    if let Decision::Upheld { revocation } = decision {
        // Decisions about one site take turns, so that the second sees what the first
        // revoked (SQLite: BEGIN IMMEDIATE already made every writer take turns).
        if let Tx::Postgres(_) = &tx {
            on_tx!(&mut tx, |conn| sqlx::query(
                "SELECT id FROM sites WHERE id = $1 FOR UPDATE"
            )
            .bind(&c.site_id)
            .execute(conn)
            .await
            .map(drop)?);
        }
        // Read through the transaction: waiting for another pool connection while
        // holding this one deadlocked once the pool's connections were all held by
        // decisions (above 8 concurrent on SQLite).
        let cert: Option<(Vec<u8>, Option<i64>)> = on_tx!(&mut tx, |conn| {
            sqlx::query_as(
            "SELECT c.serial, r.reason FROM sites s JOIN certificates c ON c.id = s.certificate_id \
             LEFT JOIN revocations r ON r.certificate_id = c.id WHERE s.id = $1"
        )
        .bind(&c.site_id)
        .fetch_optional(conn)
        .await
        ?
        });
        // A live certificate is revoked (or held); a held one can be made final; a
        // certificate already revoked for good stays as it is.
        if let Some((serial, _)) = cert.filter(|(_, reason)| match reason {
            None => true,
            Some(r) => {
                *r == RevocationReason::CertificateHold.code()
                    && revocation != RevocationReason::CertificateHold
            }
        }) {
            let serial = ca::Serial::from_bytes(&serial);
            let r = state
                .ca
                .revoke_in(&mut tx, &serial, revocation, &account.email)
                .await
                .map_err(|e| match e {
                    ca::Error::RevocationRefused(m) => AppError::Conflict(m),
                    other => other.into(),
                })?;
            crate::application::notify_same_key_revocations(state, &mut tx, &r, now).await?;
            revoked = Some(r.serial.to_hex());
        }
    }
    event(&mut tx, id, now, "staff", Some(from), to, Some(&reason)).await?;
    let p = parties(&mut tx, &c).await?;
    let url = link(state, id);
    // Both parties learn what happened to the seal, not only the verdict.
    let (consequence, consequence_en) = match (&decision, &revoked) {
        (Decision::Upheld { revocation }, Some(_)) => (
            format!(
                "该网站的诚信证书已撤销（{r}），印章与证书页即时显示。\n",
                r = revocation.name()
            ),
            format!(
                " The site's Chengxin certificate has been revoked ({r}); its seal and certificate page show it now.",
                r = revocation.name()
            ),
        ),
        _ => (String::new(), String::new()),
    };
    let text = format!(
        "关于 {domain} 的投诉，审核结论：{verdict_zh}。\n理由：{reason}\n{consequence}{url}\n\n\
         The complaint about {domain} was {verdict_en}. Reason: {reason}{consequence_en}\n",
        domain = p.domain,
    );
    let subject = format!(
        "【诚信】投诉审核结论 / Complaint {verdict_en}: {}",
        p.domain
    );
    mail(&mut tx, &p.complainant, &subject, &text, now).await?;
    if let Some((op_id, op_email)) = &p.operator {
        mail(&mut tx, op_email, &subject, &text, now).await?;
        webhook(
            &mut tx,
            *op_id,
            "complaint.decided",
            json!({ "complaint": id, "site": c.site_id, "decision": to.as_str(),
                    "reason": reason, "revoked_serial": revoked }),
            now,
        )
        .await?;
    }
    ca::audit::append(
        &mut tx,
        &account.email,
        "complaint.decide",
        id,
        &json!({ "decision": to.as_str(), "reason": reason, "revoked_serial": revoked,
                 "revocation": match decision { Decision::Upheld { revocation } => Some(revocation.name()), _ => None } }),
    )
    .await?;
    tx.commit().await?;
    get(&state.db, id).await
}

/// The complainant withdraws a complaint that is not decided yet.
pub async fn withdraw(
    state: &Services,
    account: &Account,
    id: &str,
    now: i64,
) -> Result<Complaint, AppError> {
    let c = get(&state.db, id).await?;
    if party(&state.db, account, &c).await? != Party::Complainant {
        return Err(AppError::Forbidden(
            "only the complainant withdraws a complaint".into(),
        ));
    }
    let mut tx = state.db.begin().await?;
    let from = transition(
        &mut tx,
        id,
        &[
            Status::Submitted,
            Status::Forwarded,
            Status::Answered,
            Status::Feedback,
            Status::UnderReview,
            Status::Overdue,
        ],
        Status::Withdrawn,
        now,
        &[],
    )
    .await?;
    event(
        &mut tx,
        id,
        now,
        "complainant",
        Some(from),
        Status::Withdrawn,
        None,
    )
    .await?;
    ca::audit::append(
        &mut tx,
        &account.email,
        "complaint.withdraw",
        id,
        &json!({}),
    )
    .await?;
    tx.commit().await?;
    get(&state.db, id).await
}

/// Job `complaint.reminder`: remind the operator while the complaint is unanswered.
pub async fn on_reminder(state: &Services, id: &str, now: i64) -> Result<bool, AppError> {
    let c = get(&state.db, id).await?;
    if !matches!(c.status()?, Status::Submitted | Status::Forwarded) {
        return Ok(false);
    }
    let mut tx = state.db.begin().await?;
    let p = parties(&mut tx, &c).await?;
    let Some((op_id, op_email)) = p.operator else {
        return Ok(false);
    };
    let due = date_time(c.deadline_at);
    let url = link(state, id);
    mail(
        &mut tx,
        &op_email,
        &format!("【诚信】提醒：请于 {due} 前答复投诉 / Reminder: answer by {due}"),
        &format!(
            "关于 {domain} 的投诉尚未答复，截止时间 {due}。\n{url}\n\n\
             The complaint about {domain} is still unanswered; the deadline is {due}.\n",
            domain = p.domain
        ),
        now,
    )
    .await?;
    webhook(
        &mut tx,
        op_id,
        "complaint.reminder",
        json!({ "complaint": id, "site": c.site_id, "deadline_at": c.deadline_at, "url": url }),
        now,
    )
    .await?;
    ca::audit::append(
        &mut tx,
        "system",
        "complaint.remind",
        id,
        &json!({ "deadline_at": c.deadline_at }),
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Job `complaint.deadline`: an unanswered complaint becomes `overdue` and goes to
/// staff. Returns whether it changed anything.
pub async fn on_deadline(state: &Services, id: &str, now: i64) -> Result<bool, AppError> {
    let c = get(&state.db, id).await?;
    if now < c.deadline_at {
        return Ok(false);
    }
    let mut tx = state.db.begin().await?;
    let from = match transition(
        &mut tx,
        id,
        &[Status::Submitted, Status::Forwarded],
        Status::Overdue,
        now,
        &[],
    )
    .await
    {
        Ok(from) => from,
        // Answered or closed in time: nothing to do.
        Err(AppError::Conflict(_)) => return Ok(false),
        Err(e) => return Err(e),
    };
    event(
        &mut tx,
        id,
        now,
        "system",
        Some(from),
        Status::Overdue,
        Some("no answer by the deadline: escalated to staff"),
    )
    .await?;
    let staff: Vec<(String,)> = on_tx!(&mut tx, |x| sqlx::query_as(
        "SELECT email FROM accounts WHERE role IN ('staff', 'admin') ORDER BY id"
    )
    .fetch_all(x)
    .await?);
    let p = parties(&mut tx, &c).await?;
    for (email,) in staff {
        mail(
            &mut tx,
            &email,
            &format!("【诚信】投诉逾期未答复 / Overdue complaint: {}", p.domain),
            &format!(
                "关于 {domain} 的投诉已逾期未答复，请审核。\n{url}\n\n\
                 The complaint about {domain} was not answered in time; please review it.\n",
                domain = p.domain,
                url = link(state, id)
            ),
            now,
        )
        .await?;
    }
    ca::audit::append(&mut tx, "system", "complaint.overdue", id, &json!({})).await?;
    tx.commit().await?;
    Ok(true)
}

fn complaint_of(job: &Job) -> Result<String, JobError> {
    job.payload["complaint"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| JobError::Fail(format!("{}: payload without a complaint id", job.kind)))
}

fn job_error(e: AppError) -> JobError {
    match e {
        AppError::NotFound => JobError::Fail("no such complaint".into()),
        other => JobError::Retry(other.to_string()),
    }
}

/// The queue's handler for [`JOB_REMINDER`], on the claiming run's clock.
pub async fn reminder_job(state: &Services, job: &Job) -> Result<(), JobError> {
    on_reminder(state, &complaint_of(job)?, job.now)
        .await
        .map(drop)
        .map_err(job_error)
}

/// The queue's handler for [`JOB_DEADLINE`], on the claiming run's clock.
pub async fn deadline_job(state: &Services, job: &Job) -> Result<(), JobError> {
    on_deadline(state, &complaint_of(job)?, job.now)
        .await
        .map(drop)
        .map_err(job_error)
}

/// A unix time as Beijing time, to the minute.
pub fn date_time(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .map(|d| d.to_offset(time::macros::offset!(+8)))
        .ok()
        .and_then(|d| {
            d.format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute] (UTC+8)"
            ))
            .ok()
        })
        .unwrap_or_default()
}

/// A site's complaint record over the last 12 months, counting only complaints that
/// stand: withdrawn ones and those staff dismissed are left out of every figure (a
/// rival filing baseless complaints must not make a site look bad).
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Reputation {
    /// Complaints filed, not withdrawn and not dismissed.
    pub received: i64,
    /// Answered by their deadline.
    pub answered_in_time: i64,
    /// Median hours from filing to answer, over answered complaints.
    pub median_answer_hours: Option<f64>,
    /// Upheld by staff.
    pub upheld: i64,
    /// Complainants satisfied, out of those who gave feedback.
    pub satisfied: i64,
    /// Complainants who gave feedback.
    pub with_feedback: i64,
}

#[derive(sqlx::FromRow)]
struct RecordRow {
    created_at: i64,
    deadline_at: i64,
    answered_at: Option<i64>,
    status: String,
    satisfied: Option<bool>,
}

/// The site's reputation, or `None` below [`MIN_REPUTATION_COUNT`] complaints.
pub async fn reputation(
    db: &Database,
    site: &str,
    now: i64,
) -> Result<Option<Reputation>, AppError> {
    let since = now - 365 * 86_400;
    let rows: Vec<RecordRow> = on_pool!(db, |p| sqlx::query_as(
        "SELECT created_at, deadline_at, answered_at, status, satisfied FROM complaints \
         WHERE site_id = $1 AND created_at >= $2 AND status NOT IN ($3, $4)"
    )
    .bind(site)
    .bind(since)
    .bind(Status::Withdrawn.as_str())
    .bind(Status::Dismissed.as_str())
    .fetch_all(p)
    .await?);
    let received = rows.len() as i64;
    if received < MIN_REPUTATION_COUNT {
        return Ok(None);
    }
    let mut hours: Vec<f64> = rows
        .iter()
        .filter_map(|r| r.answered_at.map(|a| (a - r.created_at) as f64 / 3600.0))
        .collect();
    hours.sort_by(f64::total_cmp);
    let median_answer_hours = match hours.len() {
        0 => None,
        n if n % 2 == 1 => Some(hours[n / 2]),
        n => Some((hours[n / 2 - 1] + hours[n / 2]) / 2.0),
    }
    .map(|h| (h * 10.0).round() / 10.0);
    Ok(Some(Reputation {
        received,
        answered_in_time: rows
            .iter()
            .filter(|r| r.answered_at.is_some_and(|a| a <= r.deadline_at))
            .count() as i64,
        median_answer_hours,
        upheld: rows.iter().filter(|r| r.status == "upheld").count() as i64,
        satisfied: rows.iter().filter(|r| r.satisfied == Some(true)).count() as i64,
        with_feedback: rows.iter().filter(|r| r.satisfied.is_some()).count() as i64,
    }))
}

/// Adds a file (see [`crate::attachment`]) to a complaint that is not closed (not
/// upheld, dismissed or withdrawn), by the complainant, the site's operator or staff.
///
/// The cheap checks come first (who, the state, room for one more), then the upload is
/// parsed (decoded and re-encoded: CPU work, off the async workers), then one
/// transaction: the complaint's row is taken (`hold_open`), the count checked again
/// under it, the file stored, the timeline event and the audit entry written. A
/// refusal at any point leaves nothing behind. Returns what was stored and how the
/// uploader relates to the complaint.
pub async fn attach(
    state: &Services,
    account: &Account,
    id: &str,
    upload: Vec<u8>,
    name: Option<String>,
    now: i64,
) -> Result<(attachment::Stored, Party), AppError> {
    let c = get(&state.db, id).await?;
    let party = party(&state.db, account, &c).await?;
    let limits = state.attachments.clone();
    let full = |n: i64| {
        (n >= limits.per_complaint).then(|| {
            AppError::Conflict(format!(
                "the complaint has {n} attachments; at most {} are taken",
                limits.per_complaint
            ))
        })
    };
    let current = c.status()?;
    if current.is_final() {
        return Err(closed(current));
    }
    if let Some(e) = full(attachment::list(&state.db, id).await?.len() as i64) {
        return Err(e);
    }
    // Counted before anything is decoded (refusals cost CPU too), then one of a few
    // decoding slots, held until the decode is done.
    let _slot = state.uploads.enter(account.id, now).await?;
    let check = limits.clone();
    let a =
        tokio::task::spawn_blocking(move || Attachment::parse(&upload, name.as_deref(), &check))
            .await
            .map_err(|e| {
                AppError::Internal(ca::Error::Config(format!("attachment check: {e}")))
            })??;
    let attachment_id = application::new_id("att_")?;
    let mut tx = state.db.begin().await?;
    let current = hold_open(&mut tx, id, now).await?;
    if let Some(e) = full(attachment::count_in(&mut tx, id).await?) {
        return Err(e);
    }
    let stored = attachment::insert(
        &mut tx,
        &attachment_id,
        id,
        &a,
        account.id,
        party.as_str(),
        now,
    )
    .await?;
    // The timeline is shown to the operator too: the name is masked there as in views.
    let note = format!(
        "attachment added: {} ({}, {})",
        privacy::mask(a.name()),
        a.media_type().as_str(),
        attachment::size_label(stored.size)
    );
    event(
        &mut tx,
        id,
        now,
        party.as_str(),
        Some(current),
        current,
        Some(&note),
    )
    .await?;
    ca::audit::append(
        &mut tx,
        &account.email,
        "complaint.attach",
        id,
        &json!({ "attachment": attachment_id, "name": a.name(), "media_type": a.media_type().as_str(),
                 "size": stored.size, "sha256": a.sha256(), "party": party.as_str() }),
    )
    .await?;
    // The other parties hear of new evidence: what kind of file and where to see it,
    // never its name (it may identify the complainant) or its content.
    let p = parties(&mut tx, &c).await?;
    let (kind, size) = (a.media_type().as_str(), attachment::size_label(stored.size));
    let url = link(state, id);
    let subject = format!(
        "【诚信】关于 {d} 的投诉有新附件 / New file on the complaint about {d}",
        d = p.domain
    );
    let text = format!(
        "关于 {domain} 的投诉新增一个附件（{kind}，{size}），请登录查看：\n{url}\n\n\
         A file ({kind}, {size}) was added to the complaint about {domain}: {url}\n",
        domain = p.domain,
    );
    if party != Party::Complainant {
        mail(&mut tx, &p.complainant, &subject, &text, now).await?;
    }
    if let (Some((op_id, op_email)), false) = (&p.operator, party == Party::Operator) {
        mail(&mut tx, op_email, &subject, &text, now).await?;
        webhook(
            &mut tx,
            *op_id,
            "complaint.attachment",
            json!({ "complaint": id, "site": c.site_id, "attachment": attachment_id,
                    "media_type": kind, "size": stored.size }),
            now,
        )
        .await?;
    }
    tx.commit().await?;
    Ok((stored, party))
}

fn closed(current: Status) -> AppError {
    AppError::Conflict(format!(
        "the complaint is {current}: it is closed, nothing can be added"
    ))
}

/// Takes the row of a complaint that is not closed for the rest of the transaction
/// (`updated_at` is set, the status left alone), so that a step which only adds to
/// the complaint cannot race a decision, a withdrawal or another addition: on
/// PostgreSQL the UPDATE's row lock is held until commit, and SQLite transactions are
/// IMMEDIATE. Returns the status; 409 when it is closed, 404 when there is none.
async fn hold_open(tx: &mut Tx, id: &str, now: i64) -> Result<Status, AppError> {
    let done = on_tx!(tx, |c| {
        let mut q = sqlx::query(
            "UPDATE complaints SET updated_at = $2 WHERE id = $1 AND status NOT IN ($3, $4, $5)",
        )
        .bind(id)
        .bind(now);
        for s in Status::CLOSED {
            q = q.bind(s.as_str());
        }
        q.execute(c).await?.rows_affected()
    });
    let current = status_in(tx, id).await?;
    if done != 1 {
        return Err(closed(current));
    }
    Ok(current)
}

/// An attachment of complaint `id` with its bytes, for `account` if it may see the
/// complaint (the same rule as the complaint itself: 403 otherwise), and the name to
/// give it: masked for the operator, as the complaint's text is.
pub async fn attachment_for(
    db: &Database,
    account: &Account,
    id: &str,
    attachment_id: &str,
) -> Result<(attachment::Stored, String, Vec<u8>), AppError> {
    let c = get(db, id).await?;
    let party = party(db, account, &c).await?;
    let (stored, content) = attachment::fetch(db, id, attachment_id).await?;
    let name = attachment_name(party, &stored.name);
    Ok((stored, name, content))
}

/// An attachment's name as `party` sees it: masked for the operator (a file name can
/// carry a phone number as well as the text can).
pub fn attachment_name(party: Party, name: &str) -> String {
    match party {
        Party::Operator => privacy::mask(name),
        Party::Complainant | Party::Staff => name.to_string(),
    }
}
