//! Complaint attachments as use cases: storing an upload within the uploader's quota
//! and the complaint's room, in one transaction with its timeline event, audit entry
//! and notifications; and reading one back for a party that may see it. What an
//! upload must be is [`crate::domain::attachment`]; the table is
//! [`crate::store::attachments`].

use serde_json::json;

use crate::domain::account::Account;
use crate::domain::attachment::{Attachment, AttachmentLimits, Stored, size_label};
use crate::domain::clock::new_id;
use crate::domain::complaint::{Party, attachment_name, closed, may_add_to};
use crate::domain::privacy;
use crate::error::AppError;
use crate::notify::complaint as notify;
use crate::service::Services;
use crate::service::complaints::{get, link, party};
use crate::service::limiter::Limiter;
use crate::store::attachments::{self as store, Owner};
use crate::store::complaints;

/// What every upload passes before its bytes are decoded: the uploader's hourly
/// quota and a bounded number of decodes at once, so one account cannot take the
/// server's memory or CPU with image bombs (a 308 KB PNG can claim 320 MB).
#[derive(Debug)]
pub struct UploadGate {
    per_account: Limiter<i64>,
    decodes: tokio::sync::Semaphore,
    wait: std::time::Duration,
}

impl UploadGate {
    /// A gate for these limits.
    pub fn new(limits: &AttachmentLimits) -> Self {
        UploadGate {
            per_account: Limiter::new(limits.uploads_per_hour, 3_600),
            decodes: tokio::sync::Semaphore::new(limits.decodes_at_once.max(1)),
            wait: limits.decode_wait,
        }
    }

    /// Counts an upload by `account` and waits for a decoding slot; 429 when the
    /// account is over its quota or no slot frees up in time.
    pub async fn enter(
        &self,
        account: i64,
        now: i64,
    ) -> Result<tokio::sync::SemaphorePermit<'_>, AppError> {
        if !self.per_account.allow(account, now) {
            return Err(AppError::TooMany {
                message: "too many uploads from this account in the last hour".into(),
                retry_after: 3_600,
            });
        }
        match tokio::time::timeout(self.wait, self.decodes.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(AppError::TooMany {
                message: "the server is checking other uploads; try again shortly".into(),
                retry_after: 10,
            }),
        }
    }
}

/// Checks an upload (complaint or record evidence): counted against the uploader's
/// hour before anything is decoded (refusals cost CPU too), then parsed off the async
/// workers in one of a few decoding slots, held until the decode is done.
pub async fn checked_upload(
    s: &Services,
    account: &Account,
    upload: Vec<u8>,
    name: Option<String>,
    now: i64,
) -> Result<Attachment, AppError> {
    let _slot = s.uploads.enter(account.id, now).await?;
    let check = s.attachments.clone();
    Ok(
        tokio::task::spawn_blocking(move || Attachment::parse(&upload, name.as_deref(), &check))
            .await
            .map_err(|e| {
                AppError::Internal(ca::Error::Config(format!("attachment check: {e}")))
            })??,
    )
}

/// Adds a file (see [`crate::domain::attachment`]) to a complaint that is not closed (not
/// upheld, dismissed or withdrawn), by the complainant, the site's operator or staff.
///
/// The cheap checks come first (who, the state, room for one more), then the upload is
/// parsed (decoded and re-encoded: CPU work, off the async workers), then one
/// transaction: the complaint's row is taken ([`complaints::hold_open`]), the count checked
/// again under it, the file stored, the timeline event and the audit entry written. A
/// refusal at any point leaves nothing behind. Returns what was stored and how the
/// uploader relates to the complaint.
pub async fn attach(
    s: &Services,
    account: &Account,
    id: &str,
    upload: Vec<u8>,
    name: Option<String>,
    now: i64,
) -> Result<(Stored, Party), AppError> {
    let c = get(s, id).await?;
    let party = party(s, account, &c).await?;
    let limits = s.attachments.clone();
    let full = |n: i64| {
        (n >= limits.per_complaint).then(|| {
            AppError::Conflict(format!(
                "the complaint has {n} attachments; at most {} are taken",
                limits.per_complaint
            ))
        })
    };
    may_add_to(c.status)?;
    if let Some(e) = full(store::list(&s.db, Owner::Complaint(id)).await?.len() as i64) {
        return Err(e);
    }
    let a = checked_upload(s, account, upload, name, now).await?;
    let attachment_id = new_id("att_")?;
    let mut tx = s.db.begin().await?;
    let held = complaints::hold_open(&mut tx, id, now).await?;
    if !held.moved {
        return Err(closed(held.current));
    }
    let current = held.current;
    if let Some(e) = full(store::count_in(&mut tx, Owner::Complaint(id)).await?) {
        return Err(e);
    }
    let stored = store::insert(
        &mut tx,
        &attachment_id,
        Owner::Complaint(id),
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
        size_label(stored.size)
    );
    complaints::add_event(
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
    let p = complaints::parties(&mut tx, &c).await?;
    let (kind, size) = (a.media_type().as_str(), size_label(stored.size));
    let text = notify::attachment_added(&p.domain, kind, &size, &link(s, id));
    if party != Party::Complainant {
        notify::mail(&mut tx, &p.complainant, &text, now).await?;
    }
    if let (Some((op_id, op_email)), false) = (&p.operator, party == Party::Operator) {
        notify::mail(&mut tx, op_email, &text, now).await?;
        notify::webhook(
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

/// An attachment of complaint `id` with its bytes, for `account` if it may see the
/// complaint (the same rule as the complaint itself: 403 otherwise), and the name to
/// give it: masked for the operator, as the complaint's text is.
pub async fn attachment_for(
    s: &Services,
    account: &Account,
    id: &str,
    attachment_id: &str,
) -> Result<(Stored, String, Vec<u8>), AppError> {
    let c = get(s, id).await?;
    let party = party(s, account, &c).await?;
    let (stored, content) = store::fetch(&s.db, Owner::Complaint(id), attachment_id).await?;
    let name = attachment_name(party, &stored.name);
    Ok((stored, name, content))
}

/// The attachments of complaint `id`, oldest first, without their bytes; the caller
/// has checked that the reader may see the complaint.
pub async fn list(s: &Services, id: &str) -> Result<Vec<Stored>, AppError> {
    store::list(&s.db, Owner::Complaint(id)).await
}
