//! The `accounts`, `api_tokens`, `email_tokens`, `login_failures` and
//! `login_devices` tables.

use ca::db::Database;
use ca::{on_pool, on_tx};

use crate::domain::account::*;
use crate::error::AppError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::json;

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Finds or creates the account for `email` with `role` (not `member`: see
/// [`upsert_member`]). An existing account keeps its role: changing roles is a
/// deliberate act, not a side effect.
pub async fn ensure(db: &Database, email: &Email, role: Role) -> Result<Account, AppError> {
    let existing: Option<(i64, String, Option<String>)> = on_pool!(db, |p| sqlx::query_as(
        "SELECT id, role, member_id FROM accounts WHERE email = $1"
    )
    .bind(email.as_str())
    .fetch_optional(p)
    .await?);
    if let Some((id, r, current_member)) = existing {
        let current: Role = r.parse()?;
        if current != role {
            return Err(AppError::BadRequest(format!(
                "{} already exists with the {current} role",
                email.as_str()
            )));
        }
        return Ok(Account {
            id,
            email: email.as_str().into(),
            role,
            member: current_member,
        });
    }
    write(db, email, role, None, false).await
}

/// Creates an API token of [`TOKEN_DAYS`] for an account and returns its plaintext,
/// the only time it exists outside the caller's hands.
pub async fn create_token(
    db: &Database,
    account: &Account,
    label: &str,
) -> Result<String, AppError> {
    create_token_for(db, account, label, TOKEN_DAYS).await
}

/// As [`create_token`], living `days` (1 to [`MAX_TOKEN_DAYS`]).
pub async fn create_token_for(
    db: &Database,
    account: &Account,
    label: &str,
    days: i64,
) -> Result<String, AppError> {
    if !(1..=MAX_TOKEN_DAYS).contains(&days) {
        return Err(AppError::Invalid(vec![(
            "days".into(),
            format!("a token lives 1 to {MAX_TOKEN_DAYS} days"),
        )]));
    }
    let mut raw = [0u8; 32];
    SystemRandom::new()
        .fill(&mut raw)
        .map_err(|_| AppError::Internal(ca::Error::Config("no system randomness".into())))?;
    let token = format!("cx_{}", URL_SAFE_NO_PAD.encode(raw));
    let mut tx = db.begin().await?;
    on_tx!(&mut tx, |c| sqlx::query(
        "INSERT INTO api_tokens (account_id, token_hash, label, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5)"
    )
    .bind(account.id)
    .bind(hash(&token))
    .bind(label)
    .bind(now())
    .bind(now() + days * 86_400)
    .execute(c)
    .await
    .map(|_| ())?);
    ca::audit::append(
        &mut tx,
        &account.email,
        "token.create",
        &account.email,
        &json!({ "label": label, "days": days }),
    )
    .await?;
    tx.commit().await?;
    Ok(token)
}

/// The account's tokens, newest first (at most 100), without their secrets.
pub async fn tokens(db: &Database, account: &Account) -> Result<Vec<TokenInfo>, AppError> {
    Ok(on_pool!(db, |p| sqlx::query_as(
        "SELECT id, label, created_at, expires_at, revoked_at FROM api_tokens \
         WHERE account_id = $1 ORDER BY created_at DESC, id DESC LIMIT 100"
    )
    .bind(account.id)
    .fetch_all(p)
    .await?))
}

/// Revokes one of `owner`'s tokens, with its audit entry (by `actor`: the owner, or
/// an administrator at the command line). 404 when the owner has no such live token.
pub async fn revoke_token(
    db: &Database,
    actor: &str,
    owner: &Account,
    id: i64,
) -> Result<(), AppError> {
    let mut tx = db.begin().await?;
    let n = on_tx!(&mut tx, |c| {
        sqlx::query(
        "UPDATE api_tokens SET revoked_at = $3 WHERE id = $1 AND account_id = $2 AND revoked_at IS NULL"
    )
    .bind(id)
    .bind(owner.id)
    .bind(now())
    .execute(c)
    .await
    ?
    .rows_affected()
    });
    if n != 1 {
        return Err(AppError::NotFound);
    }
    ca::audit::append(
        &mut tx,
        actor,
        "token.revoke",
        &owner.email,
        &json!({ "id": id }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The account a bearer token belongs to, if the token is live.
pub async fn authenticate(db: &Database, token: &str) -> Result<Option<Account>, AppError> {
    if !token.starts_with("cx_") || token.len() != 46 {
        return Ok(None);
    }
    let row: Option<(i64, String, String, Option<String>)> = on_pool!(db, |p| {
        sqlx::query_as(
        "SELECT a.id, a.email, a.role, a.member_id FROM api_tokens t JOIN accounts a ON a.id = t.account_id \
         WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND t.expires_at > $2"
    )
    .bind(hash(token))
    .bind(now())
    .fetch_optional(p)
    .await?
    });
    row.map(|(id, email, role, member)| {
        Ok(Account {
            id,
            email,
            role: role.parse()?,
            member,
        })
    })
    .transpose()
}

/// The account with this address, with its password hash.
pub async fn credentials(db: &Database, email: &Email) -> Result<Option<Credentials>, AppError> {
    type Row = (
        i64,
        String,
        String,
        Option<String>,
        Option<i64>,
        Option<String>,
    );
    let row: Option<Row> = on_pool!(db, |p| sqlx::query_as(
        "SELECT id, email, role, password_hash, email_confirmed_at, member_id \
         FROM accounts WHERE email = $1"
    )
    .bind(email.as_str())
    .fetch_optional(p)
    .await?);
    row.map(|(id, email, role, password_hash, confirmed, member)| {
        Ok(Credentials {
            account: Account {
                id,
                email,
                role: role.parse()?,
                member,
            },
            password_hash,
            email_confirmed_at: confirmed,
        })
    })
    .transpose()
}

/// Who a login comes from: a known browser if `device_token` (the device cookie) was
/// given to this account, else its network.
pub async fn login_client(
    db: &Database,
    account_id: i64,
    device_token: Option<&str>,
    ip: std::net::IpAddr,
    now: i64,
) -> Result<LoginClient, AppError> {
    if let Some(token) = device_token {
        let token_hash = hash(token);
        let known: Option<i64> = on_pool!(db, |p| sqlx::query_scalar(
            "SELECT account_id FROM login_devices \
             WHERE token_hash = $1 AND account_id = $2 AND created_at > $3"
        )
        .bind(&token_hash)
        .bind(account_id)
        .bind(now - DEVICE_SECS)
        .fetch_optional(p)
        .await?);
        if known.is_some() {
            return Ok(LoginClient::Known(token_hash));
        }
    }
    Ok(LoginClient::Unknown(
        crate::service::limiter::network(ip).to_string(),
    ))
}

/// Whether `client` is locked out of the account now.
pub async fn login_locked(
    db: &Database,
    account_id: i64,
    client: &LoginClient,
    now: i64,
) -> Result<bool, AppError> {
    for (key, _) in client.counters() {
        let until: Option<Option<i64>> = on_pool!(db, |p| sqlx::query_scalar(
            "SELECT locked_until FROM login_failures WHERE account_id = $1 AND client = $2"
        )
        .bind(account_id)
        .bind(&key)
        .fetch_optional(p)
        .await?);
        if until.flatten().is_some_and(|t| t > now) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Counts a failed login against each of the client's counters; the one that reaches
/// its limit locks for [`LOCK_SECS`] and starts again. Counts untouched for a day are
/// swept on the way, so the table holds only recent guessing.
pub async fn record_failed_login(
    db: &Database,
    account_id: i64,
    client: &LoginClient,
    now: i64,
) -> Result<(), AppError> {
    let mut tx = db.begin().await?;
    on_tx!(&mut tx, |c| {
        sqlx::query(
        "DELETE FROM login_failures WHERE updated_at < $1 AND (locked_until IS NULL OR locked_until < $2)"
    )
    .bind(now - FAILURE_MEMORY_SECS)
    .bind(now)
    .execute(c)
    .await
    .map(|_| ())
    ?
    });
    for (key, limit) in client.counters() {
        on_tx!(&mut tx, |c| sqlx::query(
            "INSERT INTO login_failures (account_id, client, failures, locked_until, updated_at) \
             VALUES ($1, $2, 1, CASE WHEN 1 >= $3 THEN $4 ELSE NULL END, $5) \
             ON CONFLICT (account_id, client) DO UPDATE SET \
               locked_until = CASE WHEN login_failures.failures + 1 >= $3 THEN $4 \
                              ELSE login_failures.locked_until END, \
               failures = CASE WHEN login_failures.failures + 1 >= $3 THEN 0 \
                          ELSE login_failures.failures + 1 END, \
               updated_at = $5"
        )
        .bind(account_id)
        .bind(&key)
        .bind(limit)
        .bind(now + LOCK_SECS)
        .bind(now)
        .execute(c)
        .await
        .map(|_| ())?);
    }
    tx.commit().await?;
    Ok(())
}

/// After a successful login: forgets the client's own failures (not the count of
/// unknown clients together, which a successful guess must not reset) and remembers
/// the browser. Returns the device cookie's new token.
pub async fn signed_in_from(
    db: &Database,
    account_id: i64,
    client: &LoginClient,
    now: i64,
) -> Result<String, AppError> {
    let token = random_token()?;
    let mut tx = db.begin().await?;
    let (own, _) = client.counters().swap_remove(0);
    on_tx!(&mut tx, |c| sqlx::query(
        "DELETE FROM login_failures WHERE account_id = $1 AND client = $2"
    )
    .bind(account_id)
    .bind(&own)
    .execute(c)
    .await
    .map(|_| ())?);
    if let LoginClient::Known(old) = client {
        on_tx!(&mut tx, |c| sqlx::query(
            "DELETE FROM login_devices WHERE token_hash = $1"
        )
        .bind(old)
        .execute(c)
        .await
        .map(|_| ())?);
    }
    on_tx!(&mut tx, |c| sqlx::query(
        "INSERT INTO login_devices (token_hash, account_id, created_at) VALUES ($1, $2, $3)"
    )
    .bind(hash(&token))
    .bind(account_id)
    .bind(now)
    .execute(c)
    .await
    .map(|_| ())?);
    // The most recent few per account, and none past their lifetime.
    on_tx!(&mut tx, |c| {
        sqlx::query(
        "DELETE FROM login_devices WHERE account_id = $1 AND (created_at <= $2 OR token_hash NOT IN \
           (SELECT token_hash FROM login_devices WHERE account_id = $1 \
            ORDER BY created_at DESC, token_hash LIMIT $3))"
    )
    .bind(account_id)
    .bind(now - DEVICE_SECS)
    .bind(DEVICES_PER_ACCOUNT)
    .execute(c)
    .await
    .map(|_| ())
    ?
    });
    tx.commit().await?;
    Ok(token)
}

/// Creates a one-time link token for `account_id` and returns its plaintext. A new
/// reset token retires the account's earlier unused ones.
pub async fn create_email_token(
    tx: &mut ca::db::Tx,
    account_id: i64,
    purpose: Purpose,
    now: i64,
) -> Result<String, AppError> {
    let token = random_token()?;
    let ttl = match purpose {
        Purpose::Confirm => CONFIRM_SECS,
        Purpose::Reset => RESET_SECS,
    };
    if purpose == Purpose::Reset {
        on_tx!(&mut *tx, |c| sqlx::query(
            "UPDATE email_tokens SET used_at = $3 \
             WHERE account_id = $1 AND purpose = $2 AND used_at IS NULL"
        )
        .bind(account_id)
        .bind(purpose.as_str())
        .bind(now)
        .execute(c)
        .await
        .map(|_| ())?);
    }
    on_tx!(&mut *tx, |c| sqlx::query(
        "INSERT INTO email_tokens (token_hash, account_id, purpose, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5)"
    )
    .bind(hash(&token))
    .bind(account_id)
    .bind(purpose.as_str())
    .bind(now)
    .bind(now + ttl)
    .execute(c)
    .await
    .map(|_| ())?);
    Ok(token)
}

/// The account a live link token belongs to, without using it up.
pub async fn peek_email_token(
    db: &Database,
    token: &str,
    purpose: Purpose,
    now: i64,
) -> Result<Result<i64, TokenProblem>, AppError> {
    let row: Option<(i64, i64, Option<i64>)> = on_pool!(db, |p| sqlx::query_as(
        "SELECT account_id, expires_at, used_at FROM email_tokens \
         WHERE token_hash = $1 AND purpose = $2"
    )
    .bind(hash(token))
    .bind(purpose.as_str())
    .fetch_optional(p)
    .await?);
    Ok(match row {
        None => Err(TokenProblem::Unknown),
        Some((_, _, Some(_))) => Err(TokenProblem::Used),
        Some((_, exp, None)) if exp <= now => Err(TokenProblem::Expired),
        Some((id, _, None)) => Ok(id),
    })
}

/// Uses up a link token inside `tx`: the account it belongs to, or why not. Only one
/// of two concurrent uses wins (the update is conditional on `used_at IS NULL`).
pub async fn use_email_token(
    tx: &mut ca::db::Tx,
    token: &str,
    purpose: Purpose,
    now: i64,
) -> Result<Result<i64, TokenProblem>, AppError> {
    let used: Option<(i64,)> = on_tx!(&mut *tx, |c| sqlx::query_as(
        "UPDATE email_tokens SET used_at = $3 \
         WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3 \
         RETURNING account_id"
    )
    .bind(hash(token))
    .bind(purpose.as_str())
    .bind(now)
    .fetch_optional(c)
    .await?);
    if let Some((id,)) = used {
        return Ok(Ok(id));
    }
    let row: Option<(i64, Option<i64>)> = on_tx!(&mut *tx, |c| sqlx::query_as(
        "SELECT expires_at, used_at FROM email_tokens WHERE token_hash = $1 AND purpose = $2"
    )
    .bind(hash(token))
    .bind(purpose.as_str())
    .fetch_optional(c)
    .await?);
    Ok(Err(match row {
        None => TokenProblem::Unknown,
        Some((_, Some(_))) => TokenProblem::Used,
        Some(_) => TokenProblem::Expired,
    }))
}

/// Creates an account with a password (not yet confirmed) inside `tx`; `None` when the
/// address is taken.
pub async fn insert_with_password(
    tx: &mut ca::db::Tx,
    email: &Email,
    role: Role,
    password_hash: &str,
    now: i64,
) -> Result<Option<i64>, AppError> {
    let row: Option<(i64,)> = on_tx!(&mut *tx, |c| sqlx::query_as(
        "INSERT INTO accounts (email, role, password_hash, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (email) DO NOTHING RETURNING id"
    )
    .bind(email.as_str())
    .bind(role.as_str())
    .bind(password_hash)
    .bind(now)
    .fetch_optional(c)
    .await?);
    Ok(row.map(|r| r.0))
}

/// Marks the address confirmed (keeps the first confirmation time).
pub async fn confirm_email(tx: &mut ca::db::Tx, id: i64, now: i64) -> Result<(), AppError> {
    on_tx!(&mut *tx, |c| sqlx::query(
        "UPDATE accounts SET email_confirmed_at = COALESCE(email_confirmed_at, $2) WHERE id = $1"
    )
    .bind(id)
    .bind(now)
    .execute(c)
    .await
    .map(|_| ())?);
    Ok(())
}

/// Sets a new password hash, lifts every lockout of the account, ends its sessions and
/// revokes its API tokens: whoever knew the old password may have made them.
pub async fn set_password(
    tx: &mut ca::db::Tx,
    id: i64,
    password_hash: &str,
) -> Result<(), AppError> {
    on_tx!(&mut *tx, |c| {
        sqlx::query("UPDATE accounts SET password_hash = $2 WHERE id = $1")
            .bind(id)
            .bind(password_hash)
            .execute(c)
            .await
            .map(|_| ())?
    });
    on_tx!(&mut *tx, |c| sqlx::query(
        "DELETE FROM login_failures WHERE account_id = $1"
    )
    .bind(id)
    .execute(c)
    .await
    .map(|_| ())?);
    on_tx!(&mut *tx, |c| sqlx::query(
        "DELETE FROM sessions WHERE account_id = $1"
    )
    .bind(id)
    .execute(c)
    .await
    .map(|_| ())?);
    on_tx!(&mut *tx, |c| sqlx::query(
        "UPDATE api_tokens SET revoked_at = $2 WHERE account_id = $1 AND revoked_at IS NULL"
    )
    .bind(id)
    .bind(now())
    .execute(c)
    .await
    .map(|_| ())?);
    Ok(())
}

/// Creates the account for `email` with `role` (not `member`), or gives an existing
/// one that role: what `badge-server user add` does. Audited either way.
pub async fn upsert_role(db: &Database, email: &Email, role: Role) -> Result<Account, AppError> {
    write(db, email, role, None, true).await
}

/// Creates the account for `email` with the `member` role acting for `member`, or
/// gives an existing account that role: `badge-server user add --role member
/// --member ID`. Audited either way; an unknown member is 404.
pub async fn upsert_member(
    db: &Database,
    email: &Email,
    member: &str,
) -> Result<Account, AppError> {
    write(db, email, Role::Member, Some(member), true).await
}

/// Inserts the account (or, with `set_role`, gives an existing one `role`) and
/// audits it, in one transaction: the one write behind [`ensure`] and [`upsert_role`].
async fn write(
    db: &Database,
    email: &Email,
    role: Role,
    member: Option<&str>,
    set_role: bool,
) -> Result<Account, AppError> {
    if (role == Role::Member) != member.is_some() {
        return Err(AppError::BadRequest(
            "the member role needs --member (a member id), and only it takes one".into(),
        ));
    }
    let (sql, action) = if set_role {
        (
            "INSERT INTO accounts (email, role, member_id, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (email) DO UPDATE SET role = excluded.role, member_id = excluded.member_id \
             RETURNING id",
            "account.role",
        )
    } else {
        (
            "INSERT INTO accounts (email, role, member_id, created_at) VALUES ($1, $2, $3, $4) \
             RETURNING id",
            "account.create",
        )
    };
    let mut tx = db.begin().await?;
    if let Some(m) = member {
        crate::store::members::get_tx(&mut tx, m)
            .await?
            .ok_or_else(|| AppError::Invalid(vec![("member".into(), format!("no member {m}"))]))?;
    }
    let (id,): (i64,) = on_tx!(&mut tx, |c| sqlx::query_as(sql)
        .bind(email.as_str())
        .bind(role.as_str())
        .bind(member)
        .bind(now())
        .fetch_one(c)
        .await?);
    ca::audit::append(
        &mut tx,
        "cli",
        action,
        email.as_str(),
        &json!({ "role": role, "member": member }),
    )
    .await?;
    tx.commit().await?;
    Ok(Account {
        id,
        email: email.as_str().into(),
        role,
        member: member.map(str::to_string),
    })
}

/// When the account was created and confirmed: what its page shows.
pub async fn dates(db: &Database, id: i64) -> Result<(i64, Option<i64>), AppError> {
    Ok(on_pool!(db, |p| sqlx::query_as(
        "SELECT created_at, email_confirmed_at FROM accounts WHERE id = $1"
    )
    .bind(id)
    .fetch_one(p)
    .await?))
}

/// The address of account `id`.
pub async fn email(db: &Database, id: i64) -> Result<String, AppError> {
    let (email,): (String,) = on_pool!(db, |p| sqlx::query_as(
        "SELECT email FROM accounts WHERE id = $1"
    )
    .bind(id)
    .fetch_one(p)
    .await?);
    Ok(email)
}
