//! Members as use cases: an admin adds a member (the row and its audit entry in one
//! transaction); staff and the member itself read it. The rules are
//! [`crate::domain::member`], the table [`crate::store::members`].

use ca::db::Database;
use serde_json::json;

use crate::domain::account::{Account, Role};
use crate::domain::clock::new_id;
use crate::domain::member::{Member, NewMember, check, is_id};
use crate::error::AppError;
use crate::store::members as store;

/// Adds a member; `actor` is who, for the audit log (an admin's address, or `cli`).
/// A second member with the same USCC is a conflict: one organization, one member.
pub async fn add(
    db: &Database,
    actor: &str,
    new: &NewMember<'_>,
    now: i64,
) -> Result<Member, AppError> {
    let m = check(new).map_err(AppError::Invalid)?;
    let mut tx = db.begin().await?;
    let Some(member) = store::insert(&mut tx, &new_id("m_")?, &m, now).await? else {
        return Err(AppError::Conflict(format!(
            "the organization {} is a member already",
            m.uscc.as_str()
        )));
    };
    ca::audit::append(
        &mut tx,
        actor,
        "member.add",
        &member.id,
        &json!({ "name": member.name, "uscc": member.uscc }),
    )
    .await?;
    tx.commit().await?;
    Ok(member)
}

/// Adds a member for an admin signed in or holding a token.
pub async fn add_as(
    db: &Database,
    account: &Account,
    new: &NewMember<'_>,
    now: i64,
) -> Result<Member, AppError> {
    account.require(&[Role::Admin])?;
    add(db, &account.email, new, now).await
}

/// Refuses (403) unless `account` is staff or acts for member `id`.
pub fn require_staff_or_member(account: &Account, id: &str) -> Result<(), AppError> {
    if account.role.is_staff() || account.member.as_deref() == Some(id) {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "this is for alliance staff and the member's own accounts".into(),
        ))
    }
}

/// The member that is the organization with this USCC, if it is one: certificate
/// pages show membership (issue 17).
pub async fn of_organization(db: &Database, uscc: &str) -> Result<Option<Member>, AppError> {
    store::by_uscc(db, uscc).await
}

/// One member, for staff and for the member's own accounts; 404 when there is none.
pub async fn get(db: &Database, account: &Account, id: &str) -> Result<Member, AppError> {
    require_staff_or_member(account, id)?;
    if !is_id(id) {
        return Err(AppError::NotFound);
    }
    store::get(db, id).await?.ok_or(AppError::NotFound)
}
