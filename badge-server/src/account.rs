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
    .await
    .map_err(ca::Error::from)?);
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
    .map(|_| ())
    .map_err(ca::Error::from)?);
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
    .await
    .map_err(ca::Error::from)?))
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
    .map_err(ca::Error::from)?
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
    .await
    .map_err(ca::Error::from)?);
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

/// Consecutive failed logins that lock an account.
pub const MAX_FAILURES: i64 = 5;
/// How long a locked account refuses logins, in seconds.
pub const LOCK_SECS: i64 = 15 * 60;
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
    /// Logins refused until then.
    pub locked_until: Option<i64>,
}

/// The account with this address, with its password hash and lockout state.
pub async fn credentials(db: &Database, email: &Email) -> Result<Option<Credentials>, AppError> {
    type Row = (
        i64,
        String,
        String,
        Option<String>,
        Option<i64>,
        Option<i64>,
    );
    let row: Option<Row> = on_pool!(db, |p| sqlx::query_as(
        "SELECT id, email, role, password_hash, email_confirmed_at, locked_until \
         FROM accounts WHERE email = $1"
    )
    .bind(email.as_str())
    .fetch_optional(p)
    .await
    .map_err(ca::Error::from)?);
    row.map(|(id, email, role, password_hash, confirmed, locked)| {
        Ok(Credentials {
            account: Account {
                id,
                email,
                role: role.parse()?,
            },
            password_hash,
            email_confirmed_at: confirmed,
            locked_until: locked,
        })
    })
    .transpose()
}

/// Counts a failed login; the [`MAX_FAILURES`]th in a row locks the account for
/// [`LOCK_SECS`] and starts the count again.
pub async fn record_failed_login(db: &Database, id: i64, now: i64) -> Result<(), AppError> {
    let mut tx = db.begin().await?;
    on_tx!(&mut tx, |c| sqlx::query(
        "UPDATE accounts SET \
           locked_until = CASE WHEN failed_logins + 1 >= $2 THEN $3 ELSE locked_until END, \
           failed_logins = CASE WHEN failed_logins + 1 >= $2 THEN 0 ELSE failed_logins + 1 END \
         WHERE id = $1"
    )
    .bind(id)
    .bind(MAX_FAILURES)
    .bind(now + LOCK_SECS)
    .execute(c)
    .await
    .map(|_| ())
    .map_err(ca::Error::from)?);
    tx.commit().await?;
    Ok(())
}

/// Forgets failed logins after a successful one.
pub async fn clear_failed_logins(db: &Database, id: i64) -> Result<(), AppError> {
    on_pool!(db, |p| sqlx::query(
        "UPDATE accounts SET failed_logins = 0, locked_until = NULL \
         WHERE id = $1 AND (failed_logins <> 0 OR locked_until IS NOT NULL)"
    )
    .bind(id)
    .execute(p)
    .await
    .map(|_| ())
    .map_err(ca::Error::from)?);
    Ok(())
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
        .map(|_| ())
        .map_err(ca::Error::from)?);
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
    .map(|_| ())
    .map_err(ca::Error::from)?);
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
    .await
    .map_err(ca::Error::from)?);
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
    .await
    .map_err(ca::Error::from)?);
    if let Some((id,)) = used {
        return Ok(Ok(id));
    }
    let row: Option<(i64, Option<i64>)> = on_tx!(&mut *tx, |c| sqlx::query_as(
        "SELECT expires_at, used_at FROM email_tokens WHERE token_hash = $1 AND purpose = $2"
    )
    .bind(hash(token))
    .bind(purpose.as_str())
    .fetch_optional(c)
    .await
    .map_err(ca::Error::from)?);
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
    .await
    .map_err(ca::Error::from)?);
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
    .map(|_| ())
    .map_err(ca::Error::from)?);
    Ok(())
}

/// Sets a new password hash, lifts any lockout, ends every session of the account and
/// revokes its API tokens: whoever knew the old password may have made them.
pub async fn set_password(
    tx: &mut ca::db::Tx,
    id: i64,
    password_hash: &str,
) -> Result<(), AppError> {
    on_tx!(&mut *tx, |c| {
        sqlx::query(
        "UPDATE accounts SET password_hash = $2, failed_logins = 0, locked_until = NULL WHERE id = $1"
    )
    .bind(id)
    .bind(password_hash)
    .execute(c)
    .await
    .map(|_| ())
    .map_err(ca::Error::from)?
    });
    on_tx!(&mut *tx, |c| sqlx::query(
        "DELETE FROM sessions WHERE account_id = $1"
    )
    .bind(id)
    .execute(c)
    .await
    .map(|_| ())
    .map_err(ca::Error::from)?);
    on_tx!(&mut *tx, |c| sqlx::query(
        "UPDATE api_tokens SET revoked_at = $2 WHERE account_id = $1 AND revoked_at IS NULL"
    )
    .bind(id)
    .bind(now())
    .execute(c)
    .await
    .map(|_| ())
    .map_err(ca::Error::from)?);
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
        .await
        .map_err(ca::Error::from)?);
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
    crate::queue::enqueue(
        tx,
        crate::queue::kind::MAIL,
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
    crate::queue::enqueue(
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
    state: &crate::state::AppState,
    job: &crate::queue::Job,
) -> Result<(), crate::queue::JobError> {
    use crate::queue::JobError;
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
    .await
    .map_err(ca::Error::from)?))
}
