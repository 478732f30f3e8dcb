//! The origins members register to frame the warnings board (issue 17): they become
//! the board's `frame-ancestors`. Only the member's own accounts and admins change
//! or read them; each change is one transaction with its audit entry. Rules in
//! [`crate::domain::board::parse_origin`], the table
//! [`crate::store::member_origins`].

use serde_json::json;

use crate::domain::account::{Account, Role};
use crate::domain::board::{MAX_ORIGINS, MemberOrigin, parse_origin};
use crate::error::AppError;
use crate::service::Services;
use crate::store::member_origins as store;

/// Refuses (403) unless `account` is an admin or acts for member `member`.
fn require_member_or_admin(account: &Account, member: &str) -> Result<(), AppError> {
    if account.role == Role::Admin || account.member.as_deref() == Some(member) {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "only the member's own accounts and admins manage its origins".into(),
        ))
    }
}

/// Registers `origin` for member `member` (its own account or an admin): 404 for no
/// such member, 422 for an origin of the wrong shape or one past [`MAX_ORIGINS`],
/// 409 for one it has already. Nothing is stored when refused.
pub async fn add(
    s: &Services,
    account: &Account,
    member: &str,
    origin: &str,
    now: i64,
) -> Result<MemberOrigin, AppError> {
    require_member_or_admin(account, member)?;
    let origin = parse_origin(origin).map_err(|e| AppError::Invalid(vec![("origin".into(), e)]))?;
    let mut tx = s.db.begin().await?;
    if !store::lock_member(&mut tx, member).await? {
        return Err(AppError::NotFound);
    }
    if store::count(&mut tx, member).await? >= MAX_ORIGINS as i64 {
        return Err(AppError::Invalid(vec![(
            "origin".into(),
            format!("a member registers at most {MAX_ORIGINS} origins: remove one first"),
        )]));
    }
    if !store::insert(&mut tx, member, &origin, now).await? {
        return Err(AppError::Conflict(format!(
            "{origin} is registered already"
        )));
    }
    ca::audit::append(
        &mut tx,
        &account.email,
        "member.origin.add",
        member,
        &json!({ "origin": origin }),
    )
    .await?;
    tx.commit().await?;
    Ok(MemberOrigin {
        origin,
        created_at: now,
    })
}

/// Removes `origin` from member `member` (its own account or an admin); 404 when it
/// was not registered.
pub async fn remove(
    s: &Services,
    account: &Account,
    member: &str,
    origin: &str,
) -> Result<(), AppError> {
    require_member_or_admin(account, member)?;
    // Removed as registered: the same normalization as on the way in.
    let origin = parse_origin(origin).unwrap_or_else(|_| origin.to_string());
    let mut tx = s.db.begin().await?;
    if !store::delete(&mut tx, member, &origin).await? {
        return Err(AppError::NotFound);
    }
    ca::audit::append(
        &mut tx,
        &account.email,
        "member.origin.remove",
        member,
        &json!({ "origin": origin }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Member `member`'s origins (its own account or an admin); 404 for no such member.
pub async fn list(
    s: &Services,
    account: &Account,
    member: &str,
) -> Result<Vec<MemberOrigin>, AppError> {
    require_member_or_admin(account, member)?;
    if crate::store::members::get(&s.db, member).await?.is_none() {
        return Err(AppError::NotFound);
    }
    store::list(&s.db, member).await
}

/// Every registered origin, sorted and each once: the board's `frame-ancestors`
/// besides `'self'`. Read on every board request, so that a new origin frames the
/// board at once (caches keep the board a minute at most).
pub async fn frame_origins(s: &Services) -> Result<Vec<String>, AppError> {
    store::all(&s.db).await
}
