//! The impersonation watch as use cases (issue 17): members register brands; a new
//! application that imitates one is held for staff with the reason and becomes a
//! draft warning, and so does a host showing a member's site seal; the member is
//! told in the same transaction; staff dismiss drafts here and publish them with
//! [`crate::service::warnings::publish_draft`].
//!
//! Members are tens with a few brands each: the index is built for each screening
//! from the table (well under a millisecond at that size; `scripts/bench-impersonation`
//! measures 10,000 brands).

use ca::db::{Database, Tx};
use ca::profile::SiteIdentity;
use serde_json::json;

use crate::domain::account::{Account, Role};
use crate::domain::clock::new_id;
use crate::domain::impersonation::{Candidate, Index, Match};
use crate::domain::watch::{
    DraftSource, DraftState, MemberBrand, NewDraft, WarningDraft, check_brand,
};
use crate::error::AppError;
use crate::notify;
use crate::service::members::require_staff_or_member;
use crate::store::members as member_store;
use crate::store::watch as store;

/// Registers a brand for member `member_id`: that member's own accounts, or an admin.
pub async fn add_brand(
    db: &Database,
    account: &Account,
    member_id: &str,
    name: &str,
    domains: &[String],
    aliases: &[String],
    now: i64,
) -> Result<MemberBrand, AppError> {
    if account.role != Role::Admin && account.member.as_deref() != Some(member_id) {
        return Err(AppError::Forbidden(
            "only the member's own accounts (or an admin) register its brands".into(),
        ));
    }
    let brand = check_brand(name, domains, aliases).map_err(AppError::Invalid)?;
    let mut tx = db.begin().await?;
    if member_store::get_tx(&mut tx, member_id).await?.is_none() {
        return Err(AppError::NotFound);
    }
    let Some(stored) =
        store::insert_brand(&mut tx, &new_id("mb_")?, member_id, &brand, now).await?
    else {
        return Err(AppError::Conflict(format!(
            "the member has a brand named {:?} already",
            brand.name
        )));
    };
    ca::audit::append(
        &mut tx,
        &account.email,
        "member.brand.add",
        &stored.id,
        &json!({ "member": member_id, "name": stored.name, "domains": stored.domains, "aliases": stored.aliases }),
    )
    .await?;
    tx.commit().await?;
    Ok(stored)
}

/// A member's brands: staff and the member's own accounts.
pub async fn brands(
    db: &Database,
    account: &Account,
    member_id: &str,
) -> Result<Vec<MemberBrand>, AppError> {
    require_staff_or_member(account, member_id)?;
    store::brands_of(db, member_id).await
}

fn candidate_domains(identity: &SiteIdentity) -> Vec<String> {
    identity
        .domains
        .iter()
        .map(|d| d.as_str().to_string())
        .collect()
}

/// The matches of an application's domains and organization name against every
/// member's brand (read only: verification asks again, so a brand registered after
/// the application still holds it).
pub async fn screen(db: &Database, identity: &SiteIdentity) -> Result<Vec<Match>, AppError> {
    let brands = store::screening_brands(db).await?;
    Ok(screen_brands(brands, identity))
}

/// The matches against `brands`, less those of the applicant's own member: a member
/// applying for a new site of its own imitates nobody.
fn screen_brands(
    brands: Vec<crate::domain::impersonation::Brand>,
    identity: &SiteIdentity,
) -> Vec<Match> {
    let own: Vec<String> = brands
        .iter()
        .filter(|b| b.member_uscc == identity.uscc.as_str())
        .map(|b| b.member_id.clone())
        .collect();
    Index::new(brands)
        .screen(Candidate {
            domains: &candidate_domains(identity),
            organization: &identity.organization,
        })
        .into_iter()
        .filter(|m| !own.contains(&m.member_id))
        .collect()
}

/// Screens a new application in its transaction: each match becomes a draft warning
/// (once per domain and member) and the member is told of each new draft. The
/// matches, for the application's reasons.
pub async fn screen_application(
    tx: &mut Tx,
    application_id: &str,
    identity: &SiteIdentity,
    now: i64,
) -> Result<Vec<Match>, AppError> {
    let brands = store::screening_brands_tx(tx).await?;
    if brands.is_empty() {
        return Ok(Vec::new());
    }
    let matches = screen_brands(brands, identity);
    for m in &matches {
        // An organization name has no domain of its own: the draft names the
        // application's first domain.
        let domain = if m.is_domain {
            ca::identity::Domain::parse(&m.subject)
                .map_or_else(|_| m.subject.clone(), |d| d.as_str().to_string())
        } else {
            identity.primary().as_str().to_string()
        };
        let new = NewDraft {
            domain: &domain,
            member_id: &m.member_id,
            brand: &m.brand,
            reason: &m.reason,
            source: DraftSource::Application,
            application_id: Some(application_id),
            site_id: None,
        };
        if store::insert_draft(tx, &new_id("wd_")?, &new, now).await? {
            tell_member(tx, &m.member_id, &domain, &m.reason, now).await?;
        }
    }
    Ok(matches)
}

/// Queues the mail to a member about a new draft.
async fn tell_member(
    tx: &mut Tx,
    member_id: &str,
    domain: &str,
    reason: &str,
    now: i64,
) -> Result<(), AppError> {
    let shown =
        ca::identity::Domain::parse(domain).map_or_else(|_| domain.to_string(), |d| d.to_unicode());
    let text = notify::watch::imitation(&shown, reason);
    for to in store::recipients_tx(tx, member_id).await? {
        notify::complaint::mail(tx, &to, &text, now).await?;
    }
    Ok(())
}

/// A host not the site's showed the seal of `site_id` (just recorded as a copy):
/// when the site belongs to a member, a draft warning for staff and a mail to the
/// member, once per host. True when a draft was made.
pub async fn on_seal_copy(
    db: &Database,
    site_id: &str,
    host: &str,
    now: i64,
) -> Result<bool, AppError> {
    let Some(member_id) = store::member_of_site(db, site_id).await? else {
        return Ok(false);
    };
    let Ok(domain) = ca::identity::Domain::parse(host) else {
        return Ok(false);
    };
    let certified = crate::store::warnings::first_domain(db, site_id)
        .await?
        .unwrap_or_else(|| site_id.to_string());
    let reason = format!(
        "{} shows the seal of {certified} (site {site_id}), a site of member {member_id}, \
         without being one of its domains (seal_copy)",
        domain.to_unicode()
    );
    let mut tx = db.begin().await?;
    let new = NewDraft {
        domain: domain.as_str(),
        member_id: &member_id,
        brand: &certified,
        reason: &reason,
        source: DraftSource::SealCopy,
        application_id: None,
        site_id: Some(site_id),
    };
    let made = store::insert_draft(&mut tx, &new_id("wd_")?, &new, now).await?;
    if made {
        tell_member(&mut tx, &member_id, domain.as_str(), &reason, now).await?;
    }
    tx.commit().await?;
    Ok(made)
}

/// Drafts in `state`, oldest first: staff.
pub async fn drafts(
    db: &Database,
    account: &Account,
    state: DraftState,
) -> Result<Vec<WarningDraft>, AppError> {
    account.require(&[Role::Staff, Role::Admin])?;
    store::drafts(db, state).await
}

/// A draft still waiting, or why not.
pub(crate) async fn open_draft(db: &Database, id: &str) -> Result<WarningDraft, AppError> {
    let draft = store::draft(db, id).await?.ok_or(AppError::NotFound)?;
    if draft.state != DraftState::Draft {
        return Err(AppError::Conflict(format!(
            "the draft is {} already",
            draft.state.as_str()
        )));
    }
    Ok(draft)
}

/// Dismisses a draft (staff): not an impersonation.
pub async fn dismiss_draft(
    db: &Database,
    account: &Account,
    id: &str,
    now: i64,
) -> Result<(), AppError> {
    account.require(&[Role::Staff, Role::Admin])?;
    open_draft(db, id).await?;
    let mut tx = db.begin().await?;
    if !store::decide(
        &mut tx,
        id,
        DraftState::Dismissed,
        None,
        &account.email,
        now,
    )
    .await?
    {
        return Err(AppError::Conflict("the draft was decided meanwhile".into()));
    }
    ca::audit::append(
        &mut tx,
        &account.email,
        "warning_draft.dismiss",
        id,
        &json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
