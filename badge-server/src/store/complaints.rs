//! The complaint tables (`complaints`, `complaint_events`) and what the complaint
//! steps read of accounts, sites and certificates: every statement once for both
//! backends, rows converted into [`crate::domain::complaint`] types here.
//!
//! Status changes are conditional (`UPDATE … WHERE status IN (…)`), so that two
//! racing steps cannot both win, on either backend.

use ca::db::{Database, Tx};
use ca::{on_pool, on_tx};

use crate::domain::board::Case;
use crate::domain::complaint::{Category, Complaint, Event, Record, Status};
use crate::error::AppError;

const COLUMNS: &str = "id, site_id, complainant_id, category, text, status, deadline_at, answer_text, \
    answered_at, satisfied, feedback_text, feedback_at, decision_reason, decided_at, created_at, updated_at";

/// A `complaints` row as stored.
#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    site_id: String,
    complainant_id: i64,
    category: String,
    text: String,
    status: String,
    deadline_at: i64,
    answer_text: Option<String>,
    answered_at: Option<i64>,
    satisfied: Option<bool>,
    feedback_text: Option<String>,
    feedback_at: Option<i64>,
    decision_reason: Option<String>,
    decided_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<Row> for Complaint {
    type Error = AppError;
    fn try_from(r: Row) -> Result<Complaint, AppError> {
        Ok(Complaint {
            category: r.category.parse::<Category>().map_err(|_| {
                AppError::Internal(ca::Error::Config(format!(
                    "complaint category {:?}",
                    r.category
                )))
            })?,
            status: r.status.parse()?,
            id: r.id,
            site_id: r.site_id,
            complainant_id: r.complainant_id,
            text: r.text,
            deadline_at: r.deadline_at,
            answer_text: r.answer_text,
            answered_at: r.answered_at,
            satisfied: r.satisfied,
            feedback_text: r.feedback_text,
            feedback_at: r.feedback_at,
            decision_reason: r.decision_reason,
            decided_at: r.decided_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

fn complaints(rows: Vec<Row>) -> Result<Vec<Complaint>, AppError> {
    rows.into_iter().map(Complaint::try_from).collect()
}

/// One complaint, or 404.
pub async fn get(db: &Database, id: &str) -> Result<Complaint, AppError> {
    let sql = format!("SELECT {COLUMNS} FROM complaints WHERE id = $1");
    let row: Option<Row> = on_pool!(db, |p| sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(p)
        .await?);
    row.ok_or(AppError::NotFound)?.try_into()
}

/// Every complaint, open ones first, nearest deadline first (staff's queue); at
/// most 200.
pub async fn list_all(db: &Database) -> Result<Vec<Complaint>, AppError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM complaints ORDER BY \
         CASE WHEN status IN ('upheld','dismissed','withdrawn') THEN 1 ELSE 0 END, deadline_at LIMIT 200"
    );
    complaints(on_pool!(db, |p| sqlx::query_as(&sql).fetch_all(p).await?))
}

/// Complaints `account` filed or that are about its sites, newest first; at most 200.
pub async fn list_for(db: &Database, account: i64) -> Result<Vec<Complaint>, AppError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM complaints WHERE complainant_id = $1 \
         OR site_id IN (SELECT id FROM sites WHERE account_id = $1) ORDER BY created_at DESC LIMIT 200"
    );
    complaints(on_pool!(db, |p| sqlx::query_as(&sql)
        .bind(account)
        .fetch_all(p)
        .await?))
}

/// A `complaint_events` row as stored.
#[derive(sqlx::FromRow)]
struct EventRow {
    at: i64,
    actor_role: String,
    from_status: Option<String>,
    to_status: String,
    note: Option<String>,
}

/// The timeline of a complaint, oldest first.
pub async fn events(db: &Database, id: &str) -> Result<Vec<Event>, AppError> {
    let rows: Vec<EventRow> = on_pool!(db, |p| sqlx::query_as(
        "SELECT at, actor_role, from_status, to_status, note FROM complaint_events \
         WHERE complaint_id = $1 ORDER BY id"
    )
    .bind(id)
    .fetch_all(p)
    .await?);
    rows.into_iter()
        .map(|r| {
            Ok(Event {
                at: r.at,
                actor_role: r.actor_role,
                from_status: r.from_status.map(|s| s.parse()).transpose()?,
                to_status: r.to_status.parse()?,
                note: r.note,
            })
        })
        .collect()
}

/// Appends a step to a complaint's timeline.
pub async fn add_event(
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

/// The status of complaint `id` as the transaction sees it, or 404.
pub async fn status_in(tx: &mut Tx, id: &str) -> Result<Status, AppError> {
    let current: Option<(String,)> = on_tx!(tx, |c| sqlx::query_as(
        "SELECT status FROM complaints WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(c)
    .await?);
    current.ok_or(AppError::NotFound)?.0.parse()
}

/// What a step records besides the new status (each with its time, `now`).
#[derive(Debug, Clone, Copy)]
pub enum Change<'a> {
    /// Only the status.
    Status,
    /// The operator's answer.
    Answer {
        /// The answer.
        text: &'a str,
    },
    /// The complainant's feedback.
    Feedback {
        /// Satisfied or not.
        satisfied: bool,
        /// Their words, if any.
        text: Option<&'a str>,
    },
    /// Staff's decision.
    Decision {
        /// Why.
        reason: &'a str,
    },
}

/// A value for the extra columns of [`transition`].
enum Bind<'a> {
    Text(&'a str),
    OptText(Option<&'a str>),
    Int(i64),
    Bool(bool),
}

/// How a conditional status change went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// The status before the change was attempted.
    pub current: Status,
    /// Whether the row moved (it was in one of the allowed states).
    pub moved: bool,
}

/// Moves `id` from one of `from` to `to`, recording `change`; 404 when there is no
/// such complaint. Whether it moved is in the answer: the caller turns a refusal
/// into its 409.
pub async fn transition(
    tx: &mut Tx,
    id: &str,
    from: &[Status],
    to: Status,
    now: i64,
    change: Change<'_>,
) -> Result<Transition, AppError> {
    let current = status_in(tx, id).await?;
    let extra: Vec<(&str, Bind<'_>)> = match change {
        Change::Status => vec![],
        Change::Answer { text } => vec![
            ("answer_text", Bind::Text(text)),
            ("answered_at", Bind::Int(now)),
        ],
        Change::Feedback { satisfied, text } => vec![
            ("satisfied", Bind::Bool(satisfied)),
            ("feedback_text", Bind::OptText(text)),
            ("feedback_at", Bind::Int(now)),
        ],
        Change::Decision { reason } => vec![
            ("decision_reason", Bind::Text(reason)),
            ("decided_at", Bind::Int(now)),
        ],
    };
    let mut sql = String::from("UPDATE complaints SET status = $1, updated_at = $2");
    for (i, (col, _)) in extra.iter().enumerate() {
        sql.push_str(&format!(", {col} = ${}", i + 3));
    }
    let n = extra.len() + 3;
    sql.push_str(&format!(" WHERE id = ${n} AND status IN ("));
    sql.push_str(
        &(0..from.len())
            .map(|i| format!("${}", n + 1 + i))
            .collect::<Vec<_>>()
            .join(", "),
    );
    sql.push(')');
    let done = on_tx!(tx, |c| {
        let mut q = sqlx::query(&sql).bind(to.as_str()).bind(now);
        for (_, b) in &extra {
            q = match b {
                Bind::Text(s) => q.bind(*s),
                Bind::OptText(s) => q.bind(*s),
                Bind::Int(v) => q.bind(*v),
                Bind::Bool(v) => q.bind(*v),
            };
        }
        q = q.bind(id);
        for s in from {
            q = q.bind(s.as_str());
        }
        q.execute(c).await?.rows_affected()
    });
    Ok(Transition {
        current,
        moved: done == 1,
    })
}

/// Takes the row of a complaint that is not closed for the rest of the transaction
/// (`updated_at` is set, the status left alone), so that a step which only adds to
/// the complaint cannot race a decision, a withdrawal or another addition: on
/// PostgreSQL the UPDATE's row lock is held until commit, and SQLite transactions are
/// IMMEDIATE. Whether it was taken (it was not closed) and its status; 404 when there
/// is none.
pub async fn hold_open(tx: &mut Tx, id: &str, now: i64) -> Result<Transition, AppError> {
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
    Ok(Transition {
        current,
        moved: done == 1,
    })
}

/// A new complaint, stored as `forwarded`.
#[derive(Debug, Clone)]
pub struct NewComplaint<'a> {
    /// `c_…`.
    pub id: &'a str,
    /// The site complained about.
    pub site_id: &'a str,
    /// Who complains.
    pub complainant_id: i64,
    /// What about.
    pub category: Category,
    /// The checked text.
    pub text: &'a str,
    /// When the operator must have answered.
    pub deadline_at: i64,
}

/// Stores a new complaint (status `forwarded`), filed at `now`.
pub async fn insert(tx: &mut Tx, c: &NewComplaint<'_>, now: i64) -> Result<(), AppError> {
    on_tx!(tx, |x| {
        sqlx::query(
        "INSERT INTO complaints (id, site_id, complainant_id, category, text, status, deadline_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 'forwarded', $6, $7, $7)"
    )
    .bind(c.id)
    .bind(c.site_id)
    .bind(c.complainant_id)
    .bind(c.category.as_str())
    .bind(c.text)
    .bind(c.deadline_at)
    .bind(now)
    .execute(x)
    .await
    .map(|_| ())
    ?
    });
    Ok(())
}

/// What the filing limits count, inside the filing's transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilingCounts {
    /// Open complaints of the account about the site.
    pub open: i64,
    /// Complaints the account filed since the day's start.
    pub by_account: i64,
    /// Complaints about the site since the hour's start.
    pub about_site: i64,
}

/// Counts what the filing limits need so that concurrent filings cannot both take
/// the last place: on PostgreSQL the account's row is locked first (`FOR UPDATE`),
/// and SQLite transactions are IMMEDIATE. `day` and `hour` are the starts of the two
/// windows (exclusive).
pub async fn filing_counts(
    tx: &mut Tx,
    account: i64,
    site: &str,
    day: i64,
    hour: i64,
) -> Result<FilingCounts, AppError> {
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
        // The first limit refuses already: the others need not be counted.
        return Ok(FilingCounts {
            open,
            by_account: 0,
            about_site: 0,
        });
    }
    let (by_account,): (i64,) = on_tx!(tx, |c| sqlx::query_as(
        "SELECT COUNT(*) FROM complaints WHERE complainant_id = $1 AND created_at > $2"
    )
    .bind(account)
    .bind(day)
    .fetch_one(c)
    .await?);
    let (about_site,): (i64,) = on_tx!(tx, |c| sqlx::query_as(
        "SELECT COUNT(*) FROM complaints WHERE site_id = $1 AND created_at > $2"
    )
    .bind(site)
    .bind(hour)
    .fetch_one(c)
    .await?);
    Ok(FilingCounts {
        open,
        by_account,
        about_site,
    })
}

/// Who to tell about a complaint: the complainant, the site's operator (if the site
/// has an account) and the domain the complaint is about.
#[derive(Debug, Clone)]
pub struct Parties {
    /// The complainant's address.
    pub complainant: String,
    /// The operator's account id and address.
    pub operator: Option<(i64, String)>,
    /// The site's first domain (its id when it has none).
    pub domain: String,
}

/// The parties of `c`, read through the transaction.
pub async fn parties(tx: &mut Tx, c: &Complaint) -> Result<Parties, AppError> {
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

/// The addresses of staff and admins, to hear of overdue complaints.
pub async fn staff_emails(tx: &mut Tx) -> Result<Vec<String>, AppError> {
    let staff: Vec<(String,)> = on_tx!(tx, |x| sqlx::query_as(
        "SELECT email FROM accounts WHERE role IN ('staff', 'admin') ORDER BY id"
    )
    .fetch_all(x)
    .await?);
    Ok(staff.into_iter().map(|(e,)| e).collect())
}

/// Makes decisions about one site take turns, so that the second sees what the first
/// revoked (SQLite: BEGIN IMMEDIATE already made every writer take turns).
pub async fn lock_site(tx: &mut Tx, site: &str) -> Result<(), AppError> {
    if let Tx::Postgres(_) = &tx {
        on_tx!(tx, |conn| sqlx::query(
            "SELECT id FROM sites WHERE id = $1 FOR UPDATE"
        )
        .bind(site)
        .execute(conn)
        .await
        .map(drop)?);
    }
    Ok(())
}

/// The serial of the site's certificate and its revocation, if it is revoked or held.
/// Read through the transaction: waiting for another pool connection while holding
/// this one deadlocked once the pool's connections were all held by decisions (above
/// 8 concurrent on SQLite).
pub async fn site_certificate(
    tx: &mut Tx,
    site: &str,
) -> Result<Option<(ca::Serial, Option<ca::revocation::Revocation>)>, AppError> {
    let row: Option<(Vec<u8>, Option<i64>, Option<i64>)> = on_tx!(tx, |conn| {
        sqlx::query_as(
            "SELECT c.serial, r.revoked_at, r.reason FROM sites s \
             JOIN certificates c ON c.id = s.certificate_id \
             LEFT JOIN revocations r ON r.certificate_id = c.id WHERE s.id = $1",
        )
        .bind(site)
        .fetch_optional(conn)
        .await?
    });
    Ok(row.map(|(serial, at, code)| {
        let revocation = match (at, code) {
            (Some(at), Some(code)) => Some(ca::revocation::Revocation { at, code }),
            _ => None,
        };
        (ca::Serial::from_bytes(&serial), revocation)
    }))
}

/// A `complaints` row as reputation reads it.
#[derive(sqlx::FromRow)]
struct RecordRow {
    created_at: i64,
    deadline_at: i64,
    answered_at: Option<i64>,
    status: String,
    satisfied: Option<bool>,
}

/// The records of complaints about `site` filed since `since` that stand (neither
/// withdrawn nor dismissed).
pub async fn records(db: &Database, site: &str, since: i64) -> Result<Vec<Record>, AppError> {
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
    rows.into_iter()
        .map(|r| {
            Ok(Record {
                created_at: r.created_at,
                deadline_at: r.deadline_at,
                answered_at: r.answered_at,
                status: r.status.parse()?,
                satisfied: r.satisfied,
            })
        })
        .collect()
}

/// Marks upheld complaint `id` prominent (`Some((account, now))`) or not (`None`)
/// in the step's transaction; whether an upheld complaint was found.
pub async fn set_prominent(
    tx: &mut Tx,
    id: &str,
    by: Option<(i64, i64)>,
) -> Result<bool, AppError> {
    let n = on_tx!(tx, |c| {
        sqlx::query(
        "UPDATE complaints SET prominent_by = $1, prominent_at = $2 WHERE id = $3 AND status = $4"
    )
    .bind(by.map(|b| b.0))
    .bind(by.map(|b| b.1))
    .bind(id)
    .bind(Status::Upheld.as_str())
    .execute(c)
    .await?
    .rows_affected()
    });
    Ok(n == 1)
}

/// A prominent upheld complaint as the board reads it.
#[derive(sqlx::FromRow)]
struct CaseRow {
    id: String,
    domain: Option<String>,
    site_id: String,
    category: String,
    decision_reason: Option<String>,
    decided_at: Option<i64>,
    prominent_at: i64,
}

/// The newest `limit` prominent upheld complaints (by decision), as cases: the
/// site's first domain, the category, staff's reason.
pub async fn prominent_cases(db: &Database, limit: i64) -> Result<Vec<Case>, AppError> {
    let rows: Vec<CaseRow> = on_pool!(db, |p| sqlx::query_as(
        "SELECT c.id, c.site_id, c.category, c.decision_reason, c.decided_at, c.prominent_at, \
         (SELECT d.domain FROM site_domains d WHERE d.site_id = c.site_id \
          ORDER BY d.position LIMIT 1) AS domain \
         FROM complaints c WHERE c.prominent_at IS NOT NULL AND c.status = $1 \
         ORDER BY c.decided_at DESC, c.id DESC LIMIT $2"
    )
    .bind(Status::Upheld.as_str())
    .bind(limit)
    .fetch_all(p)
    .await?);
    rows.into_iter()
        .map(|r| {
            let category = r.category.parse::<Category>()?;
            Ok(Case::of_complaint(
                r.id,
                r.domain.unwrap_or(r.site_id),
                category,
                r.decision_reason.as_deref().unwrap_or_default(),
                r.decided_at.unwrap_or(r.prominent_at),
                Some(r.prominent_at),
            ))
        })
        .collect()
}
