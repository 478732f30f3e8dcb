//! Accounts, roles, addresses and API tokens as values, and the rules of logging in:
//! who is locked out, for how long, and how a token is made.
//!
//! A token is 256 random bits shown once as `cx_<base64url>`; only its SHA-256 is
//! stored, so a database leak does not leak working tokens.

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ca::identity::Domain;
use ring::digest::{SHA256, digest};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

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
    /// Trust-and-safety staff of an alliance member: reads the exchange feed, shares
    /// records, registers its brands. Always tied to one member.
    Member,
}

impl Role {
    /// The role's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Operator => "operator",
            Role::Staff => "staff",
            Role::Admin => "admin",
            Role::Member => "member",
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
        [
            Role::User,
            Role::Operator,
            Role::Staff,
            Role::Admin,
            Role::Member,
        ]
        .into_iter()
        .find(|r| r.as_str() == s.trim())
        .ok_or_else(|| {
            AppError::BadRequest(format!(
                "unknown role {s:?}; use user, operator, staff, admin or member"
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
    /// The member (`m_…`) a `member` account acts for; none for other roles.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
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

/// SHA-256 of a token or secret, as stored.
pub(crate) fn hash(token: &str) -> Vec<u8> {
    digest(&SHA256, token.as_bytes()).as_ref().to_vec()
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
pub(crate) const FAILURE_MEMORY_SECS: i64 = 24 * 3600;
/// How long a browser stays known after it signed in, in seconds.
pub const DEVICE_SECS: i64 = 365 * 24 * 3600;
/// Known browsers kept per account (the most recent).
pub(crate) const DEVICES_PER_ACCOUNT: i64 = 20;
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
    pub(crate) fn counters(&self) -> Vec<(String, i64)> {
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

/// What a one-time e-mail link does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Confirms the address.
    Confirm,
    /// Sets a new password.
    Reset,
}

impl Purpose {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Purpose::Confirm => "confirm",
            Purpose::Reset => "reset",
        }
    }
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

/// Job kind: a password reset was asked for an address (payload `{"email"}`).
pub const JOB_RESET_REQUEST: &str = "password.reset_request";
