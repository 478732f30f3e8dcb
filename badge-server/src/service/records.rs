//! Shared records (客户诚信档案, issue 17) as use cases: a member submits one (masked;
//! refused if anything personal is left), the organization concerned is told and may
//! dispute it once, staff keep or delete a disputed record; each step one transaction
//! with its audit entry and its mails. Records shared with all members reach the
//! exchange feed through their audit entry. The rules are [`crate::domain::record`].

use serde_json::json;

use crate::domain::account::{Account, Role};
use crate::domain::attachment::Stored;
use crate::domain::clock::new_id;
use crate::domain::record::{MAX_NOTE, NewRecord, Reader, Record, Scope, check, checked_text};
use crate::error::AppError;
use crate::notify::record_mail;
use crate::service::Services;
use crate::store::attachments::{self as files, Owner};
use crate::store::records::{self as store, Audience};

/// A member account submits a record for its member.
pub async fn submit(
    s: &Services,
    account: &Account,
    new: &NewRecord<'_>,
    now: i64,
) -> Result<Record, AppError> {
    account.require(&[Role::Member])?;
    let member = account
        .member
        .as_deref()
        .ok_or_else(|| AppError::Forbidden("this account acts for no member".into()))?;
    let r = check(new).map_err(AppError::Invalid)?;
    if !s.record_submissions.allow(account.id, now) {
        return Err(AppError::TooMany {
            message: format!(
                "at most {} records a day from one account",
                crate::domain::record::PER_ACCOUNT_PER_DAY
            ),
            retry_after: s.record_submissions.retry_after(&account.id, now),
        });
    }
    let expires = now + s.record_retention_days * 86_400;
    let mut tx = s.db.begin().await?;
    let record = store::insert(
        &mut tx,
        &new_id("r_")?,
        member,
        account.id,
        &r,
        now,
        expires,
    )
    .await?;
    ca::audit::append(
        &mut tx,
        &account.email,
        "record.submit",
        &record.id,
        &json!({ "scope": record.scope.as_str(), "record": shared_view(&record) }),
    )
    .await?;
    let about = record
        .domain
        .clone()
        .or_else(|| record.uscc.clone())
        .unwrap_or_default();
    let url = format!("{}/api/v1/records/{}", s.public_base(), record.id);
    for (_, email) in
        store::operators_concerned(&mut tx, record.uscc.as_deref(), record.domain.as_deref())
            .await?
    {
        crate::service::accounts::enqueue_mail(
            &mut tx,
            &email,
            record_mail::shared_about_you(&about, &record.category, &url),
            now,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(record)
}

/// What the feed and the organization concerned see: the record without the member
/// that submitted it (members share so that the organization cannot single them out).
fn shared_view(r: &Record) -> Record {
    Record {
        member: String::new(),
        ..r.clone()
    }
}

/// How `account` relates to `record`, read once.
async fn reader<'a>(
    s: &Services,
    account: &'a Account,
    record: &Record,
) -> Result<Reader<'a>, AppError> {
    Ok(Reader {
        staff: account.role.is_staff(),
        member: account
            .member
            .as_deref()
            .filter(|_| account.role == Role::Member),
        concerned: account.role == Role::Operator
            && store::concerns(&s.db, &record.id, account.id).await?,
    })
}

/// One record for whoever may see it; 404 for everyone else (not 403: whether a
/// record about someone exists is itself not theirs to know).
pub async fn get(s: &Services, account: &Account, id: &str) -> Result<Record, AppError> {
    let record = store::get(&s.db, id).await?.ok_or(AppError::NotFound)?;
    let r = reader(s, account, &record).await?;
    if !record.visible_to(r) {
        return Err(AppError::NotFound);
    }
    Ok(
        if r.staff
            || r.member == Some(record.member.as_str())
            || record.scope == Scope::Members && r.member.is_some()
        {
            record
        } else {
            shared_view(&record)
        },
    )
}

/// The records `account` may see, newest first, optionally about one USCC or domain.
pub async fn list(
    s: &Services,
    account: &Account,
    uscc: Option<&str>,
    domain: Option<&str>,
) -> Result<Vec<Record>, AppError> {
    let audience = match (account.role, account.member.as_deref()) {
        (r, _) if r.is_staff() => Audience::Staff,
        (Role::Member, Some(m)) => Audience::Member(m),
        (Role::Operator, _) => Audience::Concerned(account.id),
        _ => {
            return Err(AppError::Forbidden(
                "records are for members, staff and the organizations they concern".into(),
            ));
        }
    };
    let records = store::list(&s.db, audience, uscc, domain).await?;
    Ok(match audience {
        Audience::Concerned(_) => records.iter().map(shared_view).collect(),
        _ => records,
    })
}

/// The organization concerned disputes a record, once; staff are told.
pub async fn dispute(
    s: &Services,
    account: &Account,
    id: &str,
    text: &str,
    now: i64,
) -> Result<Record, AppError> {
    let record = store::get(&s.db, id).await?.ok_or(AppError::NotFound)?;
    let r = reader(s, account, &record).await?;
    if !r.concerned {
        return Err(if record.visible_to(r) {
            AppError::Forbidden("only the organization a record concerns disputes it".into())
        } else {
            AppError::NotFound
        });
    }
    let text = checked_text("text", text, MAX_NOTE).map_err(|e| AppError::Invalid(vec![e]))?;
    let mut tx = s.db.begin().await?;
    if !store::dispute(&mut tx, id, account.id, &text, now).await? {
        return Err(AppError::Conflict(
            "this record was disputed already".into(),
        ));
    }
    ca::audit::append(
        &mut tx,
        &account.email,
        "record.dispute",
        id,
        &json!({ "text": text, "scope": record.scope.as_str() }),
    )
    .await?;
    let url = format!("{}/api/v1/records/{id}", s.public_base());
    for email in crate::store::complaints::staff_emails(&mut tx).await? {
        crate::service::accounts::enqueue_mail(
            &mut tx,
            &email,
            record_mail::disputed(id, &url),
            now,
        )
        .await?;
    }
    tx.commit().await?;
    get(s, account, id).await
}

/// What staff decide about a disputed record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The record stands, marked as disputed and kept.
    Keep,
    /// The record is deleted.
    Delete,
}

/// Staff resolve a disputed record (or delete any record): one transaction with its
/// audit entry. Deleting a record shared with members puts `record.removed` on the
/// feed (through the audit entry).
pub async fn resolve(
    s: &Services,
    account: &Account,
    id: &str,
    outcome: Outcome,
    reason: &str,
    now: i64,
) -> Result<Option<Record>, AppError> {
    account.require(&[Role::Staff, Role::Admin])?;
    let record = store::get(&s.db, id).await?.ok_or(AppError::NotFound)?;
    let reason =
        checked_text("reason", reason, MAX_NOTE).map_err(|e| AppError::Invalid(vec![e]))?;
    let mut tx = s.db.begin().await?;
    match outcome {
        Outcome::Keep => {
            if !store::keep(&mut tx, id, account.id, &reason, now).await? {
                return Err(AppError::Conflict(
                    "only a disputed record not yet resolved can be kept".into(),
                ));
            }
            ca::audit::append(
                &mut tx,
                &account.email,
                "record.keep",
                id,
                &json!({ "reason": reason, "scope": record.scope.as_str() }),
            )
            .await?;
        }
        Outcome::Delete => {
            if !store::delete(&mut tx, id).await? {
                return Err(AppError::NotFound);
            }
            ca::audit::append(
                &mut tx,
                &account.email,
                "record.remove",
                id,
                &json!({ "reason": reason, "scope": record.scope.as_str() }),
            )
            .await?;
        }
    }
    tx.commit().await?;
    Ok(match outcome {
        Outcome::Keep => store::get(&s.db, id).await?,
        Outcome::Delete => None,
    })
}

/// Adds evidence to a record, by an account of the member that shared it: the same
/// checks and limits as a complaint's attachments (sniffed type, decoded and
/// re-encoded images, PDFs without scripts; size, count per record, uploads per hour,
/// decodes at once). One transaction with its audit entry; a refusal stores nothing.
pub async fn attach(
    s: &Services,
    account: &Account,
    id: &str,
    upload: Vec<u8>,
    name: Option<String>,
    now: i64,
) -> Result<Stored, AppError> {
    let record = get(s, account, id).await?;
    if account.role != Role::Member || account.member.as_deref() != Some(record.member.as_str()) {
        return Err(AppError::Forbidden(
            "only the member that shared a record adds evidence to it".into(),
        ));
    }
    let limits = s.attachments.clone();
    let full = |n: i64| {
        (n >= limits.per_complaint).then(|| {
            AppError::Conflict(format!(
                "the record has {n} attachments; at most {} are taken",
                limits.per_complaint
            ))
        })
    };
    if let Some(e) = full(files::list(&s.db, Owner::Record(id)).await?.len() as i64) {
        return Err(e);
    }
    let a = crate::service::attachments::checked_upload(s, account, upload, name, now).await?;
    let attachment_id = new_id("att_")?;
    let mut tx = s.db.begin().await?;
    if let Some(e) = full(files::count_in(&mut tx, Owner::Record(id)).await?) {
        return Err(e);
    }
    let stored = files::insert(
        &mut tx,
        &attachment_id,
        Owner::Record(id),
        &a,
        account.id,
        "member",
        now,
    )
    .await?;
    ca::audit::append(
        &mut tx,
        &account.email,
        "record.attach",
        id,
        &json!({ "attachment": attachment_id, "media_type": a.media_type().as_str(),
                 "size": stored.size, "sha256": a.sha256() }),
    )
    .await?;
    tx.commit().await?;
    Ok(stored)
}

/// A record's evidence, for whoever may see the record (404 otherwise).
pub async fn attachments(
    s: &Services,
    account: &Account,
    id: &str,
) -> Result<Vec<Stored>, AppError> {
    get(s, account, id).await?;
    files::list(&s.db, Owner::Record(id)).await
}

/// One file of a record with its bytes, for whoever may see the record.
pub async fn attachment(
    s: &Services,
    account: &Account,
    id: &str,
    attachment_id: &str,
) -> Result<(Stored, Vec<u8>), AppError> {
    get(s, account, id).await?;
    files::fetch(&s.db, Owner::Record(id), attachment_id).await
}
