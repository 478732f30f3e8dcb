//! The complaint platform's use cases: a visitor complains about a certified site,
//! the operator must answer by a deadline (with reminders), the complainant gives
//! feedback, staff decide, and an upheld complaint takes the certificate away.
//!
//! Every step is one transaction: a conditional status change following the
//! lifecycle table ([`crate::domain::complaint::Step`]), a timeline event, an audit
//! entry, and the notifications it causes ([`crate::notify::complaint`]), queued in
//! the same transaction so they are sent exactly when the step committed. Functions
//! take `now` so tests drive the clock.

use ca::RevocationReason;
use ca::db::Tx;
use serde_json::json;

use crate::domain::account::{Account, Role};
use crate::domain::clock::date_time;
use crate::domain::clock::new_id;
use crate::domain::complaint::{
    Category, Complaint, Decision, Event, MIN_TEXT, Party, REPUTATION_WINDOW, Reputation, Status,
    Step, text_field,
};
use crate::domain::privacy;
use crate::error::AppError;
use crate::jobs::queue::{self, Job, JobError};
use crate::notify::complaint as notify;
use crate::service::Services;
use crate::service::sites;
use crate::store::complaints::{self as store, Change, NewComplaint};

/// Job kind: remind the operator that a complaint is unanswered.
pub const JOB_REMINDER: &str = "complaint.reminder";
/// Job kind: the answer deadline has passed.
pub const JOB_DEADLINE: &str = "complaint.deadline";

/// The relation of `account` to `c`, or 403.
pub async fn party(s: &Services, account: &Account, c: &Complaint) -> Result<Party, AppError> {
    if account.role.is_staff() {
        return Ok(Party::Staff);
    }
    if account.id == c.complainant_id {
        return Ok(Party::Complainant);
    }
    if sites::owner(&s.db, &c.site_id).await? == Some(account.id) {
        return Ok(Party::Operator);
    }
    Err(AppError::Forbidden(
        "only the complainant, the site's operator and staff see a complaint".into(),
    ))
}

/// One complaint.
pub async fn get(s: &Services, id: &str) -> Result<Complaint, AppError> {
    store::get(&s.db, id).await
}

/// Complaints `account` may see, nearest deadline first for staff (the queue), newest
/// first otherwise; at most 200.
pub async fn list(s: &Services, account: &Account) -> Result<Vec<Complaint>, AppError> {
    if account.role.is_staff() {
        store::list_all(&s.db).await
    } else {
        store::list_for(&s.db, account.id).await
    }
}

/// The timeline of a complaint.
pub async fn events(s: &Services, id: &str) -> Result<Vec<Event>, AppError> {
    store::events(&s.db, id).await
}

/// The site's reputation at `now`, or `None` below
/// [`crate::domain::complaint::MIN_REPUTATION_COUNT`] complaints.
pub async fn reputation(
    s: &Services,
    site: &str,
    now: i64,
) -> Result<Option<Reputation>, AppError> {
    let records = store::records(&s.db, site, now - REPUTATION_WINDOW).await?;
    Ok(Reputation::of(&records, now))
}

/// The complaint's page, for mail.
pub(crate) fn link(s: &Services, id: &str) -> String {
    format!("{}/complaints/{id}", s.public_base())
}

/// Takes `step` on complaint `id` inside `tx`, recording `change`: the status before,
/// or 409 when the step cannot start from the current one.
async fn take(
    tx: &mut Tx,
    id: &str,
    step: Step,
    now: i64,
    change: Change<'_>,
) -> Result<Status, AppError> {
    let t = store::transition(tx, id, step.from(), step.to(), now, change).await?;
    if !t.moved {
        return Err(step.refused(t.current));
    }
    Ok(t.current)
}

/// Ends a step: its audit entry, the commit, and the complaint as it now is.
async fn finish(
    s: &Services,
    mut tx: Tx,
    account: &Account,
    action: &str,
    id: &str,
    details: &serde_json::Value,
) -> Result<Complaint, AppError> {
    ca::audit::append(&mut tx, &account.email, action, id, details).await?;
    tx.commit().await?;
    get(s, id).await
}

/// The limits on filing, counted inside the filing's transaction (see
/// [`store::filing_counts`]). One open complaint per account and site; at most
/// [`crate::domain::complaint::ComplaintPolicy::per_user_per_day`] a day per
/// account; at most [`crate::domain::complaint::ComplaintPolicy::per_site_per_hour`]
/// an hour per site.
async fn within_filing_limits(
    s: &Services,
    tx: &mut Tx,
    account: i64,
    site: &str,
    now: i64,
) -> Result<(), AppError> {
    let policy = &s.complaints;
    let counts = store::filing_counts(tx, account, site, now - 86_400, now - 3_600).await?;
    if counts.open > 0 {
        return Err(AppError::Conflict(
            "you already have an open complaint about this site: add to it instead".into(),
        ));
    }
    if counts.by_account >= policy.per_user_per_day {
        return Err(AppError::TooMany {
            message: format!(
                "at most {} complaints a day per account",
                policy.per_user_per_day
            ),
            retry_after: 3_600,
        });
    }
    if counts.about_site >= policy.per_site_per_hour {
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
    s: &Services,
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
    let sc = match sites::site_certificate(&s.db, site).await {
        Ok(sc) => sc,
        Err(AppError::NotFound) => {
            return Err(AppError::Invalid(vec![(
                "site".into(),
                format!("no certified site {site:?}"),
            )]));
        }
        Err(e) => return Err(e),
    };
    if sites::owner(&s.db, &sc.id).await? == Some(account.id) {
        return Err(AppError::Forbidden(
            "operators cannot complain about their own site".into(),
        ));
    }
    let id = new_id("c_")?;
    let mut tx = s.db.begin().await?;
    // The deadline and reminders staff set last (`/console/settings`), read here so
    // that a change applies to the next complaint without a restart.
    let policy = crate::service::settings::complaint_policy_in(s, &mut tx).await?;
    let deadline = now + policy.answer_within;
    within_filing_limits(s, &mut tx, account.id, &sc.id, now).await?;
    store::insert(
        &mut tx,
        &NewComplaint {
            id: &id,
            site_id: &sc.id,
            complainant_id: account.id,
            category,
            text: &text,
            deadline_at: deadline,
        },
        now,
    )
    .await?;
    store::add_event(
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
        category,
        text: text.clone(),
        status: Status::Forwarded,
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
    let p = store::parties(&mut tx, &c).await?;
    let due = date_time(deadline);
    let url = link(s, &id);
    match &p.operator {
        Some((op_id, op_email)) => {
            let masked = privacy::mask(&text);
            notify::mail(
                &mut tx,
                op_email,
                &notify::filed(&p.domain, category, &due, &masked, &url),
                now,
            )
            .await?;
            notify::webhook(
                &mut tx,
                *op_id,
                "complaint.submitted",
                json!({ "complaint": id, "site": sc.id, "category": category.as_str(),
                        "text": masked, "deadline_at": deadline, "url": url }),
                now,
            )
            .await?;
            store::add_event(
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
            store::add_event(
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
    for before in &policy.reminders_before {
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
    s: &Services,
    account: &Account,
    id: &str,
    text: &str,
    now: i64,
) -> Result<Complaint, AppError> {
    let c = get(s, id).await?;
    Step::Answer.permit(party(s, account, &c).await?)?;
    let text = text_field("text", text, 1)?;
    let late = now > c.deadline_at;
    let mut tx = s.db.begin().await?;
    let from = take(
        &mut tx,
        id,
        Step::Answer,
        now,
        Change::Answer { text: &text },
    )
    .await?;
    store::add_event(
        &mut tx,
        id,
        now,
        "operator",
        Some(from),
        Status::Answered,
        late.then_some("answered after the deadline"),
    )
    .await?;
    let p = store::parties(&mut tx, &c).await?;
    notify::mail(
        &mut tx,
        &p.complainant,
        &notify::answered(&p.domain, &text, &link(s, id)),
        now,
    )
    .await?;
    finish(
        s,
        tx,
        account,
        "complaint.answer",
        id,
        &json!({ "late": late }),
    )
    .await
}

/// The complainant says whether the answer satisfies them: satisfied → `feedback`
/// (staff close it), not satisfied → `under_review`.
pub async fn feedback(
    s: &Services,
    account: &Account,
    id: &str,
    satisfied: bool,
    text: Option<&str>,
    now: i64,
) -> Result<Complaint, AppError> {
    let step = Step::Feedback { satisfied };
    let c = get(s, id).await?;
    step.permit(party(s, account, &c).await?)?;
    let text = match text {
        Some(t) if !t.trim().is_empty() => Some(text_field("text", t, 1)?),
        _ => None,
    };
    let mut tx = s.db.begin().await?;
    let change = Change::Feedback {
        satisfied,
        text: text.as_deref(),
    };
    let from = take(&mut tx, id, step, now, change).await?;
    store::add_event(
        &mut tx,
        id,
        now,
        "complainant",
        Some(from),
        step.to(),
        Some(if satisfied {
            "satisfied"
        } else {
            "not satisfied"
        }),
    )
    .await?;
    finish(
        s,
        tx,
        account,
        "complaint.feedback",
        id,
        &json!({ "satisfied": satisfied }),
    )
    .await
}

/// Staff decide. Upheld revokes the site's certificate in the same transaction (the
/// seal, page, OCSP and CRL say so within a second); both parties are told.
pub async fn decide(
    s: &Services,
    account: &Account,
    id: &str,
    decision: Decision,
    reason: &str,
    now: i64,
) -> Result<Complaint, AppError> {
    account.require(&[Role::Staff, Role::Admin])?;
    let reason = text_field("reason", reason, 1)?;
    let c = get(s, id).await?;
    let step = Step::Decide(decision);
    let to = step.to();
    let mut tx = s.db.begin().await?;
    let from = take(&mut tx, id, step, now, Change::Decision { reason: &reason }).await?;
    let mut revoked = None;
    if let Decision::Upheld { revocation } = decision {
        store::lock_site(&mut tx, &c.site_id).await?;
        let cert = store::site_certificate(&mut tx, &c.site_id).await?;
        // A live certificate is revoked (or held); a held one can be made final; a
        // certificate already revoked for good stays as it is.
        if let Some((serial, _)) = cert.filter(|(_, r)| match r {
            None => true,
            Some(r) => r.on_hold() && revocation != RevocationReason::CertificateHold,
        }) {
            let r =
                s.ca.revoke_in(&mut tx, &serial, revocation, &account.email)
                    .await
                    .map_err(|e| match e {
                        ca::Error::RevocationRefused(m) => AppError::Conflict(m),
                        other => other.into(),
                    })?;
            sites::notify_same_key_revocations(s, &mut tx, &r, now).await?;
            s.publish_crls_after(&mut tx, now).await?;
            revoked = Some(r.serial.to_hex());
        }
    }
    store::add_event(&mut tx, id, now, "staff", Some(from), to, Some(&reason)).await?;
    let domains = crate::store::sites::domains_in(&mut tx, &c.site_id).await?;
    crate::service::log::log_decision_in(
        &mut tx,
        &c.site_id,
        domains,
        to == Status::Upheld,
        id,
        now,
    )
    .await?;
    let p = store::parties(&mut tx, &c).await?;
    let revocation = match decision {
        Decision::Upheld { revocation } => Some(revocation.name()),
        Decision::Dismissed => None,
    };
    let text = notify::decided(
        &p.domain,
        to == Status::Upheld,
        &reason,
        revocation.filter(|_| revoked.is_some()),
        &link(s, id),
    );
    notify::mail(&mut tx, &p.complainant, &text, now).await?;
    if let Some((op_id, op_email)) = &p.operator {
        notify::mail(&mut tx, op_email, &text, now).await?;
        notify::webhook(
            &mut tx,
            *op_id,
            "complaint.decided",
            json!({ "complaint": id, "site": c.site_id, "decision": to.as_str(),
                    "reason": reason, "revoked_serial": revoked }),
            now,
        )
        .await?;
    }
    finish(
        s,
        tx,
        account,
        "complaint.decide",
        id,
        &json!({ "decision": to.as_str(), "reason": reason, "revoked_serial": revoked,
                 "revocation": revocation }),
    )
    .await
}

/// Marks an upheld complaint prominent, or unmarks it (staff): one transaction with
/// its audit entry. It then leads the board members embed, the Atom feed and
/// `/warnings` (issue 17); a complaint not upheld is refused with 409.
pub async fn set_prominent(
    s: &Services,
    account: &Account,
    id: &str,
    prominent: bool,
    now: i64,
) -> Result<(), AppError> {
    account.require(&[Role::Staff, Role::Admin])?;
    let c = get(s, id).await?;
    let mut tx = s.db.begin().await?;
    if !store::set_prominent(&mut tx, id, prominent.then_some((account.id, now))).await? {
        return Err(AppError::Conflict(format!(
            "complaint {id} is {}: only an upheld complaint is a public case",
            c.status.as_str()
        )));
    }
    let action = if prominent {
        "complaint.prominent"
    } else {
        "complaint.unprominent"
    };
    ca::audit::append(&mut tx, &account.email, action, id, &json!({})).await?;
    tx.commit().await?;
    Ok(())
}

/// The complainant withdraws a complaint that is not decided yet.
pub async fn withdraw(
    s: &Services,
    account: &Account,
    id: &str,
    now: i64,
) -> Result<Complaint, AppError> {
    let c = get(s, id).await?;
    Step::Withdraw.permit(party(s, account, &c).await?)?;
    let mut tx = s.db.begin().await?;
    let from = take(&mut tx, id, Step::Withdraw, now, Change::Status).await?;
    store::add_event(
        &mut tx,
        id,
        now,
        "complainant",
        Some(from),
        Status::Withdrawn,
        None,
    )
    .await?;
    finish(s, tx, account, "complaint.withdraw", id, &json!({})).await
}

/// Job `complaint.reminder`: remind the operator while the complaint is unanswered.
pub async fn on_reminder(s: &Services, id: &str, now: i64) -> Result<bool, AppError> {
    let c = get(s, id).await?;
    if !matches!(c.status, Status::Submitted | Status::Forwarded) {
        return Ok(false);
    }
    let mut tx = s.db.begin().await?;
    let p = store::parties(&mut tx, &c).await?;
    let Some((op_id, op_email)) = p.operator else {
        return Ok(false);
    };
    let due = date_time(c.deadline_at);
    let url = link(s, id);
    notify::mail(
        &mut tx,
        &op_email,
        &notify::reminder(&p.domain, &due, &url),
        now,
    )
    .await?;
    notify::webhook(
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
pub async fn on_deadline(s: &Services, id: &str, now: i64) -> Result<bool, AppError> {
    let c = get(s, id).await?;
    if now < c.deadline_at {
        return Ok(false);
    }
    let mut tx = s.db.begin().await?;
    let from = match take(&mut tx, id, Step::Overdue, now, Change::Status).await {
        Ok(from) => from,
        // Answered or closed in time: nothing to do.
        Err(AppError::Conflict(_)) => return Ok(false),
        Err(e) => return Err(e),
    };
    store::add_event(
        &mut tx,
        id,
        now,
        "system",
        Some(from),
        Status::Overdue,
        Some("no answer by the deadline: escalated to staff"),
    )
    .await?;
    let staff = store::staff_emails(&mut tx).await?;
    let p = store::parties(&mut tx, &c).await?;
    let text = notify::overdue(&p.domain, &link(s, id));
    for email in staff {
        notify::mail(&mut tx, &email, &text, now).await?;
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
pub async fn reminder_job(s: &Services, job: &Job) -> Result<(), JobError> {
    on_reminder(s, &complaint_of(job)?, job.now)
        .await
        .map(drop)
        .map_err(job_error)
}

/// The queue's handler for [`JOB_DEADLINE`], on the claiming run's clock.
pub async fn deadline_job(s: &Services, job: &Job) -> Result<(), JobError> {
    on_deadline(s, &complaint_of(job)?, job.now)
        .await
        .map(drop)
        .map_err(job_error)
}
