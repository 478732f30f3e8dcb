//! Accounts, roles and API tokens.
//!
//! A token is 256 random bits shown once as `cx_<base64url>`; only its SHA-256 is
//! stored, so a database leak does not leak working tokens.

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ca::db::Database;
use ca::identity::Domain;
use ca::{on_pool, on_tx};
use ring::digest::{SHA256, digest};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::error::AppError;

/// What an account may do.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A registered visitor: files complaints.
    User,
    /// A site operator: applies, answers complaints about its own sites.
    Operator,
    /// Alliance staff: review, approve, revoke, adjudicate.
    Staff,
    /// Staff who also manage staff.
    Admin,
}

impl Role {
    /// The role's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Operator => "operator",
            Role::Staff => "staff",
            Role::Admin => "admin",
        }
    }

    /// Staff and admins act for the alliance.
    pub fn is_staff(self) -> bool {
        matches!(self, Role::Staff | Role::Admin)
    }
}

impl FromStr for Role {
    type Err = AppError;
    fn from_str(s: &str) -> Result<Self, AppError> {
        [Role::User, Role::Operator, Role::Staff, Role::Admin]
            .into_iter()
            .find(|r| r.as_str() == s.trim())
            .ok_or_else(|| {
                AppError::BadRequest(format!(
                    "unknown role {s:?}; use user, operator, staff or admin"
                ))
            })
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An e-mail address, lower-cased, with a domain that parses as a DNS name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Email(String);

impl Email {
    /// Parses an address as typed.
    pub fn parse(input: &str) -> Result<Self, AppError> {
        let s = input.trim().to_lowercase();
        let bad =
            |why: &str| AppError::BadRequest(format!("invalid e-mail address {input:?}: {why}"));
        if s.len() > 254 {
            return Err(bad("longer than 254 characters"));
        }
        let (local, domain) = s.rsplit_once('@').ok_or_else(|| bad("no @"))?;
        if local.is_empty() || local.len() > 64 {
            return Err(bad("the part before @ must be 1 to 64 characters"));
        }
        if local
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>()[]\\,;:\"@".contains(c))
        {
            return Err(bad(
                "the part before @ holds characters mail systems refuse",
            ));
        }
        let domain = Domain::parse(domain).map_err(|_| bad("the domain is not valid"))?;
        Ok(Email(format!("{local}@{domain}")))
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A signed-in account.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Account {
    /// Row id.
    pub id: i64,
    /// E-mail address.
    pub email: String,
    /// Role.
    pub role: Role,
}

impl Account {
    /// Refuses (403) unless the account has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), AppError> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(AppError::Forbidden(format!(
                "this needs the {} role",
                roles[0]
            )))
        }
    }
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn hash(token: &str) -> Vec<u8> {
    digest(&SHA256, token.as_bytes()).as_ref().to_vec()
}

/// Finds or creates the account for `email` with `role`. An existing account keeps
/// its role: changing roles is a deliberate act, not a side effect.
pub async fn ensure(db: &Database, email: &Email, role: Role) -> Result<Account, AppError> {
    let existing: Option<(i64, String)> = on_pool!(db, |p| sqlx::query_as(
        "SELECT id, role FROM accounts WHERE email = $1"
    )
    .bind(email.as_str())
    .fetch_optional(p)
    .await?);
    if let Some((id, r)) = existing {
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
        });
    }
    write(db, email, role, false).await
}

/// Days an API token lives unless its creator says otherwise.
pub const TOKEN_DAYS: i64 = 90;
/// The longest life a token may be given.
pub const MAX_TOKEN_DAYS: i64 = 366;

/// An API token as its owner may see it: never the secret, which exists only once.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct TokenInfo {
    /// Token id (to revoke it).
    pub id: i64,
    /// What it is for.
    pub label: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds; it is refused from then on.
    pub expires_at: i64,
    /// Unix seconds, once revoked.
    pub revoked_at: Option<i64>,
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
    let row: Option<(i64, String, String)> = on_pool!(db, |p| sqlx::query_as(
        "SELECT a.id, a.email, a.role FROM api_tokens t JOIN accounts a ON a.id = t.account_id \
         WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND t.expires_at > $2"
    )
    .bind(hash(token))
    .bind(now())
    .fetch_optional(p)
    .await?);
    row.map(|(id, email, role)| {
        Ok(Account {
            id,
            email,
            role: role.parse()?,
        })
    })
    .transpose()
}

/// 256 random bits, base64url: session ids and e-mail link tokens.
pub(crate) fn random_token() -> Result<String, AppError> {
    let mut raw = [0u8; 32];
    SystemRandom::new()
        .fill(&mut raw)
        .map_err(|_| AppError::Internal(ca::Error::Config("no system randomness".into())))?;
    Ok(URL_SAFE_NO_PAD.encode(raw))
}

/// SHA-256 of a secret handed out (session id, link token): what the database keeps.
pub(crate) fn secret_hash(secret: &str) -> Vec<u8> {
    hash(secret)
}

/// Consecutive failed logins that lock one client (a network or a known browser) out
/// of an account.
pub const MAX_FAILURES: i64 = 5;
/// Failed logins from unknown clients, all networks together, that lock every unknown
/// client out of an account; browsers that signed in to it before are not affected.
pub const UNKNOWN_CLIENTS_MAX_FAILURES: i64 = 100;
/// How long a lock lasts, in seconds.
pub const LOCK_SECS: i64 = 15 * 60;
/// Failure counts untouched this long are forgotten, in seconds.
const FAILURE_MEMORY_SECS: i64 = 24 * 3600;
/// How long a browser stays known after it signed in, in seconds.
pub const DEVICE_SECS: i64 = 365 * 24 * 3600;
/// Known browsers kept per account (the most recent).
const DEVICES_PER_ACCOUNT: i64 = 20;
/// How long a confirmation link works, in seconds.
pub const CONFIRM_SECS: i64 = 48 * 3600;
/// How long a password-reset link works, in seconds.
pub const RESET_SECS: i64 = 3600;

/// What a login needs to know about an account.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The account.
    pub account: Account,
    /// argon2id PHC string, if a password was ever set.
    pub password_hash: Option<String>,
    /// When the address was confirmed.
    pub email_confirmed_at: Option<i64>,
}

/// The account with this address, with its password hash.
pub async fn credentials(db: &Database, email: &Email) -> Result<Option<Credentials>, AppError> {
    type Row = (i64, String, String, Option<String>, Option<i64>);
    let row: Option<Row> = on_pool!(db, |p| sqlx::query_as(
        "SELECT id, email, role, password_hash, email_confirmed_at \
         FROM accounts WHERE email = $1"
    )
    .bind(email.as_str())
    .fetch_optional(p)
    .await?);
    row.map(|(id, email, role, password_hash, confirmed)| {
        Ok(Credentials {
            account: Account {
                id,
                email,
                role: role.parse()?,
            },
            password_hash,
            email_confirmed_at: confirmed,
        })
    })
    .transpose()
}

/// Who is trying to sign in, as the lockout counts them (issue 12, item 8): locks are
/// per client, so that whoever guesses locks out only themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginClient {
    /// A browser that signed in to this account before: SHA-256 of its device cookie.
    Known(Vec<u8>),
    /// Anyone else, by network: an IPv4 address or an IPv6 /64
    /// ([`crate::service::limiter::network`]).
    Unknown(String),
}

impl LoginClient {
    /// The rows of `login_failures` that can lock this client out, with the count
    /// that locks each.
    fn counters(&self) -> Vec<(String, i64)> {
        match self {
            LoginClient::Known(hash) => {
                vec![(format!("device:{}", hex::encode(hash)), MAX_FAILURES)]
            }
            LoginClient::Unknown(net) => vec![
                (format!("net:{net}"), MAX_FAILURES),
                ("*".to_string(), UNKNOWN_CLIENTS_MAX_FAILURES),
            ],
        }
    }
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

/// What a one-time e-mail link does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Confirms the address.
    Confirm,
    /// Sets a new password.
    Reset,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Confirm => "confirm",
            Purpose::Reset => "reset",
        }
    }
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

/// Why a link token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenProblem {
    /// No such token (or for another purpose).
    Unknown,
    /// Already used.
    Used,
    /// Past its expiry.
    Expired,
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

/// Creates the account for `email` with `role`, or gives an existing one that role:
/// what `badge-server user add` does. Audited either way.
pub async fn upsert_role(db: &Database, email: &Email, role: Role) -> Result<Account, AppError> {
    write(db, email, role, true).await
}

/// Inserts the account (or, with `set_role`, gives an existing one `role`) and
/// audits it, in one transaction: the one write behind [`ensure`] and [`upsert_role`].
async fn write(
    db: &Database,
    email: &Email,
    role: Role,
    set_role: bool,
) -> Result<Account, AppError> {
    let (sql, action) = if set_role {
        (
            "INSERT INTO accounts (email, role, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (email) DO UPDATE SET role = excluded.role RETURNING id",
            "account.role",
        )
    } else {
        (
            "INSERT INTO accounts (email, role, created_at) VALUES ($1, $2, $3) RETURNING id",
            "account.create",
        )
    };
    let mut tx = db.begin().await?;
    let (id,): (i64,) = on_tx!(&mut tx, |c| sqlx::query_as(sql)
        .bind(email.as_str())
        .bind(role.as_str())
        .bind(now())
        .fetch_one(c)
        .await?);
    ca::audit::append(
        &mut tx,
        "cli",
        action,
        email.as_str(),
        &json!({ "role": role }),
    )
    .await?;
    tx.commit().await?;
    Ok(Account {
        id,
        email: email.as_str().into(),
        role,
    })
}

/// The text of the mails this module sends: Chinese first, then English.
pub mod mail {
    /// Confirm the address of a new account.
    pub fn confirm(link: &str) -> (String, String) {
        (
            "请确认您的诚信认证账户邮箱 / Confirm your Chengxin account e-mail".into(),
            format!(
                "您好！\n\n请打开以下链接确认您的邮箱地址（48 小时内有效）：\n{link}\n\n\
                 如果您没有注册诚信认证账户，请忽略本邮件。\n\n---\n\n\
                 Hello,\n\nOpen this link to confirm your e-mail address (valid for 48 hours):\n{link}\n\n\
                 If you did not register a Chengxin account, ignore this message.\n"
            ),
        )
    }

    /// Set a new password.
    pub fn reset(link: &str) -> (String, String) {
        (
            "重设您的诚信认证账户密码 / Reset your Chengxin account password".into(),
            format!(
                "您好！\n\n请打开以下链接设置新密码（1 小时内有效，仅可使用一次）：\n{link}\n\n\
                 如果您没有申请重设密码，请忽略本邮件，您的密码不会改变。\n\n---\n\n\
                 Hello,\n\nOpen this link to set a new password (valid for 1 hour, once):\n{link}\n\n\
                 If you did not ask for this, ignore this message; your password stays as it is.\n"
            ),
        )
    }

    /// Someone tried to register an address that already has an account.
    pub fn already_registered(login: &str, forgot: &str) -> (String, String) {
        (
            "您的邮箱已注册诚信认证账户 / Your e-mail already has a Chengxin account".into(),
            format!(
                "您好！\n\n有人（可能是您）尝试用此邮箱注册诚信认证账户，但此邮箱已有账户。\n\
                 登录：{login}\n忘记密码：{forgot}\n\n如果不是您本人操作，请忽略本邮件。\n\n---\n\n\
                 Hello,\n\nSomeone (perhaps you) tried to register a Chengxin account with this address, \
                 which already has one.\nLog in: {login}\nForgot your password: {forgot}\n\n\
                 If this was not you, ignore this message.\n"
            ),
        )
    }
}

/// Queues a mail (`{"to", "subject", "text"}`) in the transaction that causes it.
pub async fn enqueue_mail(
    tx: &mut ca::db::Tx,
    to: &str,
    (subject, text): (String, String),
    now: i64,
) -> Result<(), AppError> {
    crate::jobs::queue::enqueue(
        tx,
        crate::jobs::queue::kind::MAIL,
        &json!({ "to": to, "subject": subject, "text": text }),
        now,
        None,
    )
    .await?;
    Ok(())
}

/// Creates a reset link for the account and queues the mail that carries it.
pub async fn enqueue_reset(
    tx: &mut ca::db::Tx,
    account: &Account,
    public_url: &str,
    now: i64,
) -> Result<(), AppError> {
    let token = create_email_token(tx, account.id, Purpose::Reset, now).await?;
    let link = format!("{public_url}/password/reset?token={token}");
    enqueue_mail(tx, &account.email, mail::reset(&link), now).await
}

/// Job kind: a password reset was asked for an address (payload `{"email"}`).
pub const JOB_RESET_REQUEST: &str = "password.reset_request";

/// Queues the handling of a reset request for `email`, whether or not it has an
/// account: the request does the same work either way, so its timing says nothing
/// about which addresses have accounts. [`reset_request_job`] decides.
pub async fn enqueue_reset_request(
    tx: &mut ca::db::Tx,
    email: &Email,
    now: i64,
) -> Result<(), AppError> {
    crate::jobs::queue::enqueue(
        tx,
        JOB_RESET_REQUEST,
        &json!({ "email": email.as_str() }),
        now,
        None,
    )
    .await
    .map(drop)
}

/// The queue's handler for [`JOB_RESET_REQUEST`]: for an address with an account, a
/// new link and its mail (in one transaction); for any other, nothing.
pub async fn reset_request_job(
    state: &crate::service::Services,
    job: &crate::jobs::queue::Job,
) -> Result<(), crate::jobs::queue::JobError> {
    use crate::jobs::queue::JobError;
    let email = job.payload["email"]
        .as_str()
        .and_then(|e| Email::parse(e).ok())
        .ok_or_else(|| JobError::Fail("reset request without a valid email".into()))?;
    let Some(creds) = credentials(&state.db, &email)
        .await
        .map_err(|e| JobError::Retry(e.to_string()))?
    else {
        return Ok(());
    };
    let retry = |e: AppError| JobError::Retry(e.to_string());
    let mut tx = state
        .db
        .begin()
        .await
        .map_err(|e| JobError::Retry(e.to_string()))?;
    enqueue_reset(&mut tx, &creds.account, &state.public_url, job.now)
        .await
        .map_err(retry)?;
    tx.commit()
        .await
        .map_err(|e| JobError::Retry(e.to_string()))?;
    Ok(())
}

/// Creates a confirmation link for the account and queues the mail that carries it.
pub async fn enqueue_confirm(
    tx: &mut ca::db::Tx,
    account: &Account,
    public_url: &str,
    now: i64,
) -> Result<(), AppError> {
    let token = create_email_token(tx, account.id, Purpose::Confirm, now).await?;
    let link = format!("{public_url}/confirm?token={token}");
    enqueue_mail(tx, &account.email, mail::confirm(&link), now).await
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
