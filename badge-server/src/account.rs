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
    let mut tx = db.begin().await?;
    let (id,): (i64,) = on_tx!(&mut tx, |c| sqlx::query_as(
        "INSERT INTO accounts (email, role, created_at) VALUES ($1, $2, $3) RETURNING id"
    )
    .bind(email.as_str())
    .bind(role.as_str())
    .bind(now())
    .fetch_one(c)
    .await
    .map_err(ca::Error::from)?);
    ca::audit::append(
        &mut tx,
        "cli",
        "account.create",
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

/// Creates an API token for an account and returns its plaintext, the only time it
/// exists outside the caller's hands.
pub async fn create_token(
    db: &Database,
    account: &Account,
    label: &str,
) -> Result<String, AppError> {
    let mut raw = [0u8; 32];
    SystemRandom::new()
        .fill(&mut raw)
        .map_err(|_| AppError::Internal(ca::Error::Config("no system randomness".into())))?;
    let token = format!("cx_{}", URL_SAFE_NO_PAD.encode(raw));
    let mut tx = db.begin().await?;
    on_tx!(&mut tx, |c| sqlx::query(
        "INSERT INTO api_tokens (account_id, token_hash, label, created_at) VALUES ($1, $2, $3, $4)"
    )
    .bind(account.id)
    .bind(hash(&token))
    .bind(label)
    .bind(now())
    .execute(c)
    .await
    .map(|_| ())
    .map_err(ca::Error::from)?);
    ca::audit::append(
        &mut tx,
        &account.email,
        "token.create",
        &account.email,
        &json!({ "label": label }),
    )
    .await?;
    tx.commit().await?;
    Ok(token)
}

/// The account a bearer token belongs to, if the token is live.
pub async fn authenticate(db: &Database, token: &str) -> Result<Option<Account>, AppError> {
    if !token.starts_with("cx_") || token.len() != 46 {
        return Ok(None);
    }
    let row: Option<(i64, String, String)> = on_pool!(db, |p| sqlx::query_as(
        "SELECT a.id, a.email, a.role FROM api_tokens t JOIN accounts a ON a.id = t.account_id \
         WHERE t.token_hash = $1 AND t.revoked_at IS NULL"
    )
    .bind(hash(token))
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
