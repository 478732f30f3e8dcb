//! Certified sites: their status and certificate, the registry search, revocation by
//! staff, and telling the operators of sites whose key was revoked with another.

use ca::db::{Database, Tx};

use crate::domain::account::{Account, Role};
use crate::domain::clock;
use crate::domain::site::{SiteStatus, certified_domains};
use crate::error::AppError;
use crate::service::Services;
use crate::store::sites as store;

/// A site and its certificate, with the status derived from the certificate: a
/// revocation or hold made anywhere (CLI, verifier, another replica) shows at once,
/// with no site row to keep in step.
#[derive(Debug, Clone)]
pub struct SiteCertificate {
    /// Site id.
    pub id: String,
    /// What the site shows ([`SiteStatus::shown`]).
    pub status: SiteStatus,
    /// The certificate, once issued.
    pub certificate: Option<ca::store::CertificateRecord>,
    /// Demonstration data (`serve --demo`): pages show a "演示 Demo" banner.
    pub demo: bool,
}

impl SiteCertificate {
    /// The certified domains, primary first (none before issuance).
    pub fn domains(&self) -> Vec<String> {
        self.certificate
            .as_ref()
            .map(certified_domains)
            .unwrap_or_default()
    }
}

/// Loads a site and its certificate, its status as of now; 404 for an unknown site.
pub async fn site_certificate(db: &Database, site: &str) -> Result<SiteCertificate, AppError> {
    let row = store::get(db, site).await?;
    let certificate = match row.certificate_id {
        Some(id) => ca::store::certificate_by_id(db, id).await?,
        None => None,
    };
    Ok(SiteCertificate {
        status: row.status.shown(certificate.as_ref(), clock::now()),
        id: row.id,
        certificate,
        demo: row.demo,
    })
}

/// The operator of a site (none for sites from before accounts), for
/// authorization; 404 for an unknown site.
pub async fn owner(db: &Database, site: &str) -> Result<Option<i64>, AppError> {
    store::owner(db, site).await
}

/// The ids of the sites an account operates, newest first.
pub async fn ids_of(db: &Database, account_id: i64) -> Result<Vec<String>, AppError> {
    store::ids_of(db, account_id).await
}

/// The site that certifies exactly `domain`, if any.
pub async fn for_domain(db: &Database, domain: &str) -> Result<Option<String>, AppError> {
    store::for_domain(db, domain).await
}

/// Registry search: sites whose organization, USCC, ICP number or a domain contains
/// `q` (case-insensitive), newest first, one page of
/// [`crate::domain::site::PAGE_SIZE`]. Returns site ids.
pub async fn search(db: &Database, q: &str, page: i64) -> Result<Vec<String>, AppError> {
    store::search(db, q, page).await
}

/// Revokes (or holds) a site's certificate (staff), and tells the operators of the
/// sites revoked with it: 409 when it has none or the CA refuses.
pub async fn revoke(
    s: &Services,
    account: &Account,
    site: &str,
    reason: ca::RevocationReason,
    now: i64,
) -> Result<(), AppError> {
    revoke_noted(s, account, site, reason, None, now).await
}

/// As [`revoke`] (a hold is `certificateHold`, a release `removeFromCRL`), with the
/// staff member's reason in words: when given, a `site.hold`, `site.release` or
/// `site.revoke` audit entry about the site keeps it, in the revocation's transaction.
pub async fn revoke_noted(
    s: &Services,
    account: &Account,
    site: &str,
    reason: ca::RevocationReason,
    note: Option<&str>,
    now: i64,
) -> Result<(), AppError> {
    account.require(&[Role::Staff, Role::Admin])?;
    let certificate = site_certificate(&s.db, site)
        .await?
        .certificate
        .ok_or_else(|| AppError::Conflict("the site has no certificate".into()))?;
    let serial = ca::Serial::parse_hex(&hex::encode(&certificate.serial))?;
    let mut tx = s.db.begin().await?;
    let revoked =
        s.ca.revoke_in(&mut tx, &serial, reason, &account.email)
            .await
            .map_err(|e| match e {
                ca::Error::RevocationRefused(m) => AppError::Conflict(m),
                other => other.into(),
            })?;
    if let Some(note) = note {
        let action = match reason {
            ca::RevocationReason::CertificateHold => "site.hold",
            ca::RevocationReason::RemoveFromCrl => "site.release",
            _ => "site.revoke",
        };
        ca::audit::append(
            &mut tx,
            &account.email,
            action,
            site,
            &serde_json::json!({
                "reason": reason.name(),
                "note": note,
                "serial": serial.to_hex(),
            }),
        )
        .await?;
    }
    notify_same_key_revocations(s, &mut tx, &revoked, now).await?;
    s.publish_crls_after(&mut tx, now).await?;
    tx.commit().await?;
    Ok(())
}

/// Tells the operators of the other sites whose certificates a keyCompromise
/// revocation revoked with it (the same key, [`ca::crl::Revoked::also_revoked`]):
/// one mail each, queued in `tx`, the revocation's transaction, so that the mail
/// goes out if and only if the revocation commits. Those sites show as revoked
/// (keyCompromise) at once: a site's status is its certificate's.
pub async fn notify_same_key_revocations(
    s: &Services,
    tx: &mut Tx,
    revoked: &ca::crl::Revoked,
    now: i64,
) -> Result<(), AppError> {
    for serial in &revoked.also_revoked {
        for holder in store::holders(tx, serial.as_bytes(), revoked.certificate_id).await? {
            let domain = holder.domain.unwrap_or_else(|| holder.site.clone());
            let link = format!("{}/cert/{}", s.public_base(), holder.site);
            crate::service::accounts::enqueue_mail(
                tx,
                &holder.email,
                crate::notify::site_mail::same_key_revoked(&domain, serial, &link),
                now,
            )
            .await?;
        }
    }
    Ok(())
}

/// Enqueues, inside `tx` (a revocation's), the `crl.publish` run at the end of the
/// period of `every` seconds that contains `now`: one per period across replicas
/// (its dedupe key names the period). The first revocation of a period also sets a
/// timer that wakes this process's worker when the run is due, instead of at its
/// next poll.
pub async fn enqueue_crl_publish(
    tx: &mut ca::db::Tx,
    now: i64,
    every: i64,
) -> Result<(), AppError> {
    let every = every.max(1);
    let end = now - now.rem_euclid(every) + every;
    let queued = crate::jobs::queue::enqueue(
        tx,
        crate::jobs::kind::CRL_PUBLISH,
        &serde_json::json!({ "period": end }),
        end,
        Some(&format!("{}:{end}", crate::jobs::kind::CRL_PUBLISH)),
    )
    .await?;
    if queued.is_some()
        && let Ok(handle) = tokio::runtime::Handle::try_current()
    {
        let due = std::time::UNIX_EPOCH + std::time::Duration::from_secs(end.max(0) as u64);
        let wait = due
            .duration_since(std::time::SystemTime::now())
            .unwrap_or_default();
        handle.spawn(async move {
            tokio::time::sleep(wait).await;
            crate::jobs::queue::wake();
        });
    }
    Ok(())
}
