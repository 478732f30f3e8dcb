//! Fraud warnings as use cases: staff publish and withdraw them (each one transaction
//! with its audit entry), everyone reads the list, `/api/v1/check` asks for the one
//! covering a host, and staff turn a copied-seal record into a warning. The types and
//! rules are [`crate::domain::warning`], the tables [`crate::store::warnings`] and
//! [`crate::store::seal_copies`].

use ca::identity::Domain;
use serde_json::json;

use crate::domain::account::{Account, Role};
use crate::domain::board::{self, Case};
use crate::domain::site::SiteStatus;
use crate::domain::warning::{
    NewWarning, SealCopy, Warning, certified_conflict, check, covering, from_copy_texts,
};
use crate::domain::watch::{DraftState, draft_texts};
use crate::error::AppError;
use crate::service::Services;
use crate::service::sites;
use crate::store::complaints;
use crate::store::seal_copies;
use crate::store::warnings as store;

/// The sites holding a live (certified or suspended) certificate for `domain`, a
/// parent of it, or a host under it: what a warning on `domain` would mark as warned
/// in `/api/v1/check`.
async fn certified_overlap(s: &Services, domain: &Domain) -> Result<Vec<String>, AppError> {
    let mut live = Vec::new();
    for site in store::overlapping_sites(&s.db, domain).await? {
        let status = sites::site_certificate(&s.db, &site).await?.status;
        if matches!(status, SiteStatus::Certified | SiteStatus::Suspended) {
            live.push(site);
        }
    }
    Ok(live)
}

/// Publishes a warning (staff): one transaction with its audit entry.
pub async fn publish(
    s: &Services,
    account: &Account,
    new: &NewWarning<'_>,
    now: i64,
) -> Result<Warning, AppError> {
    account.require(&[Role::Staff, Role::Admin])?;
    let unknown_site = match new.impersonates {
        Some(site) => matches!(
            sites::site_certificate(&s.db, site).await,
            Err(AppError::NotFound)
        ),
        None => false,
    };
    let checked = check(new, unknown_site).map_err(AppError::Invalid)?;
    let domain = &checked.domain;
    let certified = certified_overlap(s, domain).await?;
    if !certified.is_empty() && !new.confirm_certified {
        return Err(certified_conflict(domain, &certified));
    }
    let on_certified = !certified.is_empty();
    let mut tx = s.db.begin().await?;
    let Some(id) = store::insert(
        &mut tx,
        &checked,
        new.impersonates,
        account.id,
        on_certified,
        now,
    )
    .await?
    else {
        return Err(AppError::Conflict(format!(
            "{} already has a published warning",
            domain.as_str()
        )));
    };
    ca::audit::append(
        &mut tx,
        &account.email,
        "warning.publish",
        domain.as_str(),
        &json!({ "id": id, "impersonates": new.impersonates, "certified_sites": certified }),
    )
    .await?;
    tx.commit().await?;
    Ok(Warning {
        id,
        domain: domain.as_str().to_string(),
        impersonates: new.impersonates.map(str::to_string),
        description: checked.description,
        evidence: checked.evidence,
        published_at: now,
        on_certified,
        prominent_at: None,
    })
}

/// Withdraws a warning (staff): one transaction with its audit entry.
pub async fn withdraw(s: &Services, account: &Account, id: i64, now: i64) -> Result<(), AppError> {
    account.require(&[Role::Staff, Role::Admin])?;
    let mut tx = s.db.begin().await?;
    if !store::withdraw(&mut tx, id, now).await? {
        return Err(AppError::NotFound);
    }
    ca::audit::append(
        &mut tx,
        &account.email,
        "warning.withdraw",
        &id.to_string(),
        &json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Marks a published warning prominent, or unmarks it (staff): one transaction with
/// its audit entry. It then leads the board members embed, the Atom feed and
/// `/warnings` (issue 17).
pub async fn set_prominent(
    s: &Services,
    account: &Account,
    id: i64,
    prominent: bool,
    now: i64,
) -> Result<(), AppError> {
    account.require(&[Role::Staff, Role::Admin])?;
    let mut tx = s.db.begin().await?;
    if !store::set_prominent(&mut tx, id, prominent.then_some((account.id, now))).await? {
        return Err(AppError::NotFound);
    }
    let action = if prominent {
        "warning.prominent"
    } else {
        "warning.unprominent"
    };
    ca::audit::append(&mut tx, &account.email, action, &id.to_string(), &json!({})).await?;
    tx.commit().await?;
    Ok(())
}

/// The first `limit` public cases in the order everything shows them
/// ([`board::order`]): published warnings and prominent upheld complaints, prominent
/// ones first, then newest first. Read fresh on every call: a case marked
/// prominent shows at once (what the edges cache is at most
/// [`board::MAX_AGE_SECONDS`]).
pub async fn board(s: &Services, limit: usize) -> Result<Vec<Case>, AppError> {
    let n = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut cases: Vec<Case> = store::board(&s.db, n)
        .await?
        .iter()
        .map(|w| Case::of_warning(w, w.prominent_at))
        .collect();
    cases.extend(complaints::prominent_cases(&s.db, n).await?);
    board::order(&mut cases);
    cases.truncate(limit);
    Ok(cases)
}

/// The prominent upheld complaints `/warnings` lists beside the warnings, newest
/// first (at most [`LIST_LIMIT`]).
pub async fn prominent_complaints(s: &Services) -> Result<Vec<Case>, AppError> {
    complaints::prominent_cases(&s.db, LIST_LIMIT).await
}

/// Most warnings the public list shows.
pub const LIST_LIMIT: i64 = 500;

/// Published warnings, newest first (at most [`LIST_LIMIT`]).
pub async fn list(s: &Services) -> Result<Vec<Warning>, AppError> {
    store::latest(&s.db, LIST_LIMIT).await
}

/// The newest `n` published warnings, newest first: the few the home page and the
/// handbook show.
pub async fn latest(s: &Services, n: i64) -> Result<Vec<Warning>, AppError> {
    store::latest(&s.db, n).await
}

/// The warning covering `host` or one of its parent domains.
pub async fn for_host(s: &Services, host: &Domain) -> Result<Option<Warning>, AppError> {
    store::first_published(&s.db, &covering(host)).await
}

/// The copied-seal report (staff), most requests first: hosts seen in at least
/// [`CONFIRM_HOURS`](crate::service::seals::CONFIRM_HOURS) different hours, so a burst
/// of forged Referers does not bury the real copies.
pub async fn copies(s: &Services, account: &Account) -> Result<Vec<SealCopy>, AppError> {
    account.require(&[Role::Staff, Role::Admin])?;
    seal_copies::copies(&s.db, crate::service::seals::CONFIRM_HOURS).await
}

/// Turns a copied-seal record into a published warning (staff), its evidence taken
/// from the record.
pub async fn from_copy(
    s: &Services,
    account: &Account,
    site: &str,
    host: &str,
    now: i64,
) -> Result<Warning, AppError> {
    account.require(&[Role::Staff, Role::Admin])?;
    let copy = seal_copies::copy(&s.db, site, host)
        .await?
        .ok_or(AppError::NotFound)?;
    let certified = store::first_domain(&s.db, site)
        .await?
        .unwrap_or_else(|| site.to_string());
    let (description, evidence) = from_copy_texts(&copy, &certified);
    publish(
        s,
        account,
        &NewWarning {
            domain: host,
            impersonates: Some(site),
            description: &description,
            evidence: &evidence,
            // A copy is by definition not the certified site: if the host is
            // certified after all, staff must say so on the form.
            confirm_certified: false,
        },
        now,
    )
    .await
}

/// Publishes a draft of the impersonation watch (issue 17) as a warning (staff),
/// through [`publish`] (its checks, its audit entry), then marks the draft published.
pub async fn publish_draft(
    s: &Services,
    account: &Account,
    id: &str,
    now: i64,
) -> Result<Warning, AppError> {
    account.require(&[Role::Staff, Role::Admin])?;
    let draft = crate::service::watch::open_draft(&s.db, id).await?;
    let (description, evidence) = draft_texts(&draft);
    let warning = publish(
        s,
        account,
        &NewWarning {
            domain: &draft.domain,
            impersonates: draft.site_id.as_deref(),
            description: &description,
            evidence: &evidence,
            confirm_certified: false,
        },
        now,
    )
    .await?;
    let mut tx = s.db.begin().await?;
    crate::store::watch::decide(
        &mut tx,
        id,
        DraftState::Published,
        Some(warning.id),
        &account.email,
        now,
    )
    .await?;
    ca::audit::append(
        &mut tx,
        &account.email,
        "warning_draft.publish",
        id,
        &json!({ "warning": warning.id }),
    )
    .await?;
    tx.commit().await?;
    Ok(warning)
}
