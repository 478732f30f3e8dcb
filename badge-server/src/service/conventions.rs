//! Conventions as use cases: staff publish a convention and its new versions; an
//! operator signs the current version for an organization whose site they operate;
//! everyone reads the texts and who signed them (organization names only). Each step
//! that writes is one transaction with its audit entry: who signed, for which
//! organization, which version, when. The rules are [`crate::domain::convention`],
//! the tables [`crate::store::conventions`].

use serde_json::json;

use crate::domain::account::{Account, Role};
use crate::domain::convention::{Convention, Signature, check_text, check_title};
use crate::error::AppError;
use crate::service::Services;
use crate::store::conventions as store;

/// Who may publish conventions.
const STAFF: [Role; 2] = [Role::Staff, Role::Admin];

fn subject(id: i64) -> String {
    format!("convention-{id}")
}

/// Publishes a new convention at version 1 (staff).
pub async fn publish(
    s: &Services,
    account: &Account,
    title: &str,
    text: &str,
    now: i64,
) -> Result<Convention, AppError> {
    account.require(&STAFF)?;
    let (title, text) = match (check_title(title), check_text(text)) {
        (Ok(t), Ok(x)) => (t, x),
        (a, b) => {
            return Err(AppError::Invalid(
                [a.err(), b.err()].into_iter().flatten().collect(),
            ));
        }
    };
    let mut tx = s.db.begin().await?;
    let Some(id) = store::insert(&mut tx, &title, &text, account.id, now).await? else {
        return Err(AppError::Conflict(format!(
            "a convention titled 《{title}》 exists; publish a new version of it instead"
        )));
    };
    ca::audit::append(
        &mut tx,
        &account.email,
        "convention.publish",
        &subject(id),
        &json!({ "title": title, "version": 1, "chars": text.chars().count() }),
    )
    .await?;
    tx.commit().await?;
    get(s, id).await
}

/// Publishes the next version of convention `id` (staff): every signatory is then
/// asked to sign again; their signatures of older versions stay.
pub async fn new_version(
    s: &Services,
    account: &Account,
    id: i64,
    text: &str,
    now: i64,
) -> Result<Convention, AppError> {
    account.require(&STAFF)?;
    let text = check_text(text).map_err(|e| AppError::Invalid(vec![e]))?;
    let mut tx = s.db.begin().await?;
    let current = store::current_in(&mut tx, id)
        .await?
        .ok_or(AppError::NotFound)?;
    if current.text == text {
        return Err(AppError::Conflict(format!(
            "the text is the same as version {}",
            current.version
        )));
    }
    let version = current.version + 1;
    store::insert_version(&mut tx, id, version, &text, account.id, now).await?;
    ca::audit::append(
        &mut tx,
        &account.email,
        "convention.version",
        &subject(id),
        &json!({ "title": current.title, "version": version, "chars": text.chars().count() }),
    )
    .await?;
    tx.commit().await?;
    get(s, id).await
}

/// Signs the current version of convention `id` for the organization with `uscc`
/// (an operator, for an organization one of whose sites they operate). The version
/// is read in the signing transaction.
pub async fn sign(
    s: &Services,
    account: &Account,
    id: i64,
    uscc: &str,
    now: i64,
) -> Result<Signature, AppError> {
    account.require(&[Role::Operator])?;
    let uscc = uscc.trim();
    let Some((org_id, org_name, org_uscc)) = store::organizations_of(&s.db, account.id)
        .await?
        .into_iter()
        .find(|(_, _, u)| u == uscc)
    else {
        return Err(AppError::Invalid(vec![(
            "organization".into(),
            "not an organization whose site this account operates".into(),
        )]));
    };
    let mut tx = s.db.begin().await?;
    let current = store::current_in(&mut tx, id)
        .await?
        .ok_or(AppError::NotFound)?;
    if !store::sign(&mut tx, id, current.version, org_id, account.id, now).await? {
        return Err(AppError::Conflict(format!(
            "{org_name} has already signed version {} of 《{}》",
            current.version, current.title
        )));
    }
    ca::audit::append(
        &mut tx,
        &account.email,
        "convention.sign",
        &subject(id),
        &json!({
            "title": current.title,
            "version": current.version,
            "organization": org_name,
            "uscc": org_uscc,
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(Signature {
        convention_id: id,
        title: current.title,
        current_version: current.version,
        organization: org_name,
        uscc: org_uscc,
        version: current.version,
        signed_at: now,
    })
}

/// One convention at its current version.
pub async fn get(s: &Services, id: i64) -> Result<Convention, AppError> {
    store::get(&s.db, id).await?.ok_or(AppError::NotFound)
}

/// Every convention at its current version.
pub async fn list(s: &Services) -> Result<Vec<Convention>, AppError> {
    store::list(&s.db).await
}

/// The organizations that signed convention `id`, each with the latest version it
/// signed.
pub async fn signatories(s: &Services, id: i64) -> Result<Vec<Signature>, AppError> {
    store::signatories(&s.db, id).await
}

/// The conventions the organization with `uscc` signed (the certificate page).
pub async fn signed_by(s: &Services, uscc: &str) -> Result<Vec<Signature>, AppError> {
    store::signed_by(&s.db, uscc).await
}

/// What an operator's portal shows: each of their organizations (name, USCC) with
/// its latest signature on each convention.
pub async fn for_operator(
    s: &Services,
    account: &Account,
) -> Result<Vec<(String, String, Vec<Signature>)>, AppError> {
    account.require(&[Role::Operator])?;
    let mut out = Vec::new();
    for (_, name, uscc) in store::organizations_of(&s.db, account.id).await? {
        let signed = store::signed_by(&s.db, &uscc).await?;
        out.push((name, uscc, signed));
    }
    Ok(out)
}
