//! Telling operators what re-verification did to their site (issue 18): entering
//! grace, hold, release and revocation each mail the operator and send the `site.*`
//! webhook event, and the portal shows the same notice on the site.
//!
//! The outbox is the audit log. The verifier writes each transition's audit entry in
//! the transition's own transaction, whichever process made it (this server's
//! re-verification, a run staff started, or `verifier recheck` on the command line),
//! with the reason, the failing checks and the next deadline. Every replica projects
//! the new entries here, one at a time (the head row's lock), and queues the mail and
//! the webhook in the transaction that moves the head: a notice is queued once, and
//! no crash between the state change and the queueing can lose it — the entry waits
//! for the next projection. This is the exchange feed's design
//! ([`crate::service::exchange`]); the issue asked for the jobs in the transition's
//! own transaction, which the verifier (below this crate) cannot write, and which
//! would have left `verifier recheck` silent.

use std::time::Duration;

use ca::db::Database;
use serde_json::Value;

use crate::domain::notice::{ACTIONS, ACTOR, Notice};
use crate::error::AppError;
use crate::notify::complaint as notify;
use crate::service::Services;
use crate::store::exchange::{self as log, Head, audit_max};
use crate::store::notices as store;

/// Audit entries one projection transaction reads.
const PROJECT_BATCH: i64 = 200;

/// How often each replica looks for new transitions: a notice is queued within this.
pub const PROJECT_EVERY: Duration = Duration::from_secs(1);

/// The portal page of `site`, where the operator sees the notice and re-verifies.
pub fn site_url(s: &Services, site: &str) -> String {
    format!("{}/portal/sites/{site}", s.public_base())
}

/// Projects the transitions audited since the last projection, in batches, each one
/// transaction: the site's latest notice, the mail and the webhook job, and the head.
/// Returns how many notices were queued.
pub async fn project(s: &Services, now: i64) -> Result<usize, AppError> {
    let db = &s.db;
    let mut added = 0;
    // Entries up to the newest committed one are all committed (they commit in
    // number order), so the head may move to it once they are read.
    let upto = audit_max(db).await?;
    if upto <= log::head(db, Head::SiteNotices).await? {
        return Ok(0);
    }
    loop {
        let mut tx = db.begin().await?;
        let head = log::lock_head(&mut tx, Head::SiteNotices).await?;
        if head >= upto {
            return Ok(added);
        }
        let entries =
            log::audit_after(&mut tx, (head, upto, PROJECT_BATCH), &ACTIONS, Some(ACTOR)).await?;
        let last = match entries.last() {
            Some(e) if entries.len() as i64 == PROJECT_BATCH => e.seq,
            _ => upto,
        };
        for entry in &entries {
            let details: Value = serde_json::from_str(&entry.details).unwrap_or(Value::Null);
            let Some(notice) = Notice::of_audit(&entry.action, &entry.subject, &details, entry.at)
            else {
                continue;
            };
            let Some(op) = store::operator(&mut tx, &notice.site).await? else {
                continue;
            };
            store::upsert(&mut tx, entry.seq, &notice).await?;
            let url = site_url(s, &notice.site);
            notify::mail(&mut tx, &op.email, &notice.mail(&op.domain, &url), now).await?;
            notify::webhook(
                &mut tx,
                op.account_id,
                notice.kind.event(),
                notice.webhook_data(&op.domain, &url),
                now,
            )
            .await?;
            added += 1;
        }
        log::set_head(&mut tx, Head::SiteNotices, last).await?;
        tx.commit().await?;
        if last == upto {
            return Ok(added);
        }
    }
}

/// Projects every [`PROJECT_EVERY`] until the process ends.
pub async fn run_projector(s: Services) {
    loop {
        match project(&s, crate::domain::clock::now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(notices = n, "re-verification notices queued"),
            Err(e) => tracing::warn!(error = %e, "could not project re-verification notices"),
        }
        tokio::time::sleep(PROJECT_EVERY).await;
    }
}

/// A site's latest notice, for its page in the portal.
pub async fn latest(db: &Database, site: &str) -> Result<Option<Notice>, AppError> {
    store::latest(db, site).await
}
