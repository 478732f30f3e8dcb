//! The exchange feed as use cases (issue 17): projecting audited actions into events
//! (run by every replica, one at a time), serving signed pages to member accounts,
//! and pushing each new event to the webhooks of member accounts.
//!
//! Events come from the audit log, which every component writes in the transaction
//! of the action (the CA's CLI and the verifier too), so nothing that happens can be
//! missed by the feed, even when it happened while no server ran.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ca::db::{Database, Tx};
use ring::digest::{SHA256, digest};
use ring::hmac;
use serde_json::{Value, json};

use crate::domain::account::{Account, Role};
use crate::domain::exchange::{Cursor, Event, Kind, PAGES_PER_MINUTE, page_body, page_size};
use crate::domain::jws::Es256Key;
use crate::domain::privacy::mask;
use crate::error::AppError;
use crate::service::limiter::Limiter;
use crate::store::exchange as store;

/// The exchange key's file in the CA directory, encrypted like the CA's keys.
pub const KEY_FILE: &str = "exchange-es256.key";

/// Audit entries one projection transaction reads.
const PROJECT_BATCH: i64 = 500;

/// How often each replica looks for new audit entries: a case is on the feed (and
/// on its way to members' webhooks) within this.
pub const PROJECT_EVERY: Duration = Duration::from_secs(1);

/// Events older than this when projected are not pushed to webhooks: the first
/// projection of a long history fills the feed, not members' inboxes.
const PUSH_WITHIN_SECS: i64 = 86_400;

/// The alliance's exchange key and the cursor key derived from it.
pub struct Exchange {
    key: Es256Key,
    cursors: hmac::Key,
    /// Pages read per account ([`crate::domain::exchange::PAGES_PER_MINUTE`]).
    pages: Limiter<i64>,
}

impl std::fmt::Debug for Exchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exchange")
            .field("kid", &self.key.kid())
            .finish_non_exhaustive()
    }
}

impl Exchange {
    /// Opens the key in `ca_dir`, creating it (encrypted with `passphrase`) on the
    /// first start that needs it. Every replica opens the same file, so all sign
    /// with one key and accept each other's cursors.
    pub fn open(ca_dir: &Path, passphrase: &[u8]) -> ca::Result<Exchange> {
        let path = ca_dir.join(KEY_FILE);
        if !path.exists() {
            let pkcs8 = zeroize::Zeroizing::new(
                Es256Key::generate_pkcs8().map_err(|e| ca::Error::Config(e.to_string()))?,
            );
            ca::signer::write_encrypted_key(&path, &pkcs8, passphrase)?;
            tracing::warn!(path = %path.display(), "created the exchange feed's signing key");
        }
        let pkcs8 = ca::signer::read_encrypted_pkcs8(&path, passphrase)?;
        Exchange::from_pkcs8(&pkcs8).map_err(|e| ca::Error::Config(e.to_string()))
    }

    /// From the key's PKCS #8 DER; the cursor MAC key is derived from it.
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<Exchange, AppError> {
        let mut material = b"chengxin exchange cursors\0".to_vec();
        material.extend_from_slice(pkcs8);
        let cursors = hmac::Key::new(hmac::HMAC_SHA256, digest(&SHA256, &material).as_ref());
        Ok(Exchange {
            key: Es256Key::from_pkcs8(pkcs8)?,
            cursors,
            pages: Limiter::new(PAGES_PER_MINUTE, 60),
        })
    }

    /// `/.well-known/jwks.json`: the key pages are signed with.
    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.key.jwk()] })
    }
}

/// A page as served: its exact bytes and their detached JWS.
#[derive(Debug)]
pub struct SignedPage {
    /// `{"events": [...], "next": CURSOR}`.
    pub body: Vec<u8>,
    /// The `Chengxin-JWS` header.
    pub jws: String,
}

/// A page of the feed for a member account: events after `after` (a cursor this
/// feed issued; none: from the start), at most `limit`.
pub async fn page(
    db: &Database,
    exchange: &Exchange,
    account: &Account,
    after: Option<&str>,
    limit: Option<i64>,
) -> Result<SignedPage, AppError> {
    account.require(&[Role::Member])?;
    let limit = page_size(limit)?;
    let now = crate::domain::clock::now();
    if !exchange.pages.allow(account.id, now) {
        return Err(AppError::TooMany {
            message: format!("at most {PAGES_PER_MINUTE} pages a minute from one account"),
            retry_after: exchange.pages.retry_after(&account.id, now),
        });
    }
    let after = match after {
        Some(c) => Cursor::open(c, &exchange.cursors)?,
        None => Cursor(0),
    };
    let events = store::page(db, after.0, limit).await?;
    let body = page_body(&events, after, &exchange.cursors);
    let jws = exchange.key.sign_detached(&body)?;
    Ok(SignedPage { body, jws })
}

/// Projects the audit entries written since the last projection, in batches, each
/// one transaction: the events, the head, and the webhook jobs for member accounts.
/// Returns how many events were added.
pub async fn project(db: &Database, exchange: &Exchange, now: i64) -> Result<usize, AppError> {
    let mut added = 0;
    // A look without the lock first: on SQLite the lock is the database's write lock,
    // which a replica polling every second should not take for nothing.
    //
    // Entries up to the newest committed one (`upto`) are all committed (they commit
    // in number order), so the head may move to `upto` once the entries that make
    // events are read: the others are never read at all.
    let upto = store::audit_max(db).await?;
    if upto <= store::head(db, store::Head::Exchange).await? {
        return Ok(0);
    }
    loop {
        let mut tx = db.begin().await?;
        let head = store::lock_head(&mut tx, store::Head::Exchange).await?;
        if head >= upto {
            return Ok(added);
        }
        let entries = store::audit_after(
            &mut tx,
            (head, upto, PROJECT_BATCH),
            &crate::domain::exchange::ACTIONS,
            None,
        )
        .await?;
        let last = match entries.last() {
            Some(e) if entries.len() as i64 == PROJECT_BATCH => e.seq,
            _ => upto,
        };
        let hooks = store::member_hooks(&mut tx).await?;
        for entry in &entries {
            let details: Value = serde_json::from_str(&entry.details).unwrap_or(Value::Null);
            let Some(kind) = Kind::of_audit(&entry.action, &details) else {
                continue;
            };
            let Some(data) = event_data(db, &mut tx, kind, entry, &details).await? else {
                continue;
            };
            let event = Event {
                seq: entry.seq,
                kind: kind.as_str().into(),
                at: entry.at,
                data: data.to_string(),
            };
            store::insert(&mut tx, &event).await?;
            if entry.at >= now - PUSH_WITHIN_SECS {
                let pushed = json!({
                    "cursor": Cursor(event.seq).seal(&exchange.cursors),
                    "seq": event.seq, "kind": event.kind, "at": event.at, "data": data,
                });
                for account in &hooks {
                    crate::notify::complaint::webhook(
                        &mut tx,
                        *account,
                        "exchange.event",
                        pushed.clone(),
                        now,
                    )
                    .await?;
                }
            }
            added += 1;
        }
        store::set_head(&mut tx, store::Head::Exchange, last).await?;
        tx.commit().await?;
        if last == upto {
            return Ok(added);
        }
    }
}

/// Projects every [`PROJECT_EVERY`] until the process ends.
pub async fn run_projector(db: Database, exchange: Arc<Exchange>) {
    loop {
        let now = crate::domain::clock::now();
        match project(&db, &exchange, now).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(events = n, "exchange events projected"),
            Err(e) => tracing::warn!(error = %e, "could not project the exchange events"),
        }
        tokio::time::sleep(PROJECT_EVERY).await;
    }
}

/// What members see of one audited action; `None` when its subject is gone (an
/// entry that names nothing we still hold is not an event).
async fn event_data(
    db: &Database,
    tx: &mut Tx,
    kind: Kind,
    entry: &store::AuditRow,
    details: &Value,
) -> Result<Option<Value>, AppError> {
    let site_fields = |c: &store::SiteContext| json!({ "site": c.site, "domains": c.domains, "organization": c.organization, "uscc": c.uscc });
    let data = match kind {
        Kind::ComplaintDecided => {
            let c = crate::store::complaints::get(db, &entry.subject).await?;
            let Some(ctx) = store::site_context(tx, &c.site_id).await? else {
                return Ok(None);
            };
            let mut v = site_fields(&ctx);
            v["complaint"] = json!({
                "id": c.id,
                "category": c.category.as_str(),
                "decision": details["decision"],
                "filed_at": c.created_at,
                "decided_at": c.decided_at,
                "text": mask(&c.text),
                "reason": c.decision_reason.as_deref().map(mask),
                "revoked_serial": details["revoked_serial"],
            });
            v
        }
        Kind::SiteRevoked | Kind::SiteHeld | Kind::SiteReleased => {
            let Ok(serial) = hex::decode(&entry.subject) else {
                return Ok(None);
            };
            let Some(ctx) = store::certificate_context(tx, &serial).await? else {
                return Ok(None);
            };
            let explanation = match &ctx.site {
                Some(site) => store::verifier_reason(tx, site, entry.seq).await?,
                None => None,
            };
            let mut v = site_fields(&ctx);
            v["serial"] = json!(entry.subject);
            v["reason"] = details["reason"].clone();
            v["explanation"] = json!(explanation.as_deref().map(mask));
            v
        }
        Kind::WarningPublished => {
            let Some(id) = details["id"].as_i64() else {
                return Ok(None);
            };
            let Some((domain, impersonates, description, published_at)) =
                store::warning(tx, id).await?
            else {
                return Ok(None);
            };
            json!({ "warning": id, "domain": domain, "impersonates": impersonates,
                    "description": mask(&description), "published_at": published_at })
        }
        Kind::CaseProminent | Kind::CaseUnprominent => json!({
            "case": entry.action.split('.').next(),
            "id": entry.subject,
        }),
        Kind::RecordShared => details["record"].clone(),
        Kind::RecordDisputed | Kind::RecordKept | Kind::RecordRemoved => json!({
            "record": entry.subject,
            "text": details["text"],
            "reason": details["reason"],
        }),
    };
    Ok(Some(data))
}
