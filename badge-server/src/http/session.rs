//! Browser sessions of the server-rendered pages: the cookie, the session it stands
//! for, and the CSRF token of its forms (the extractors that check them are
//! `http::extract::session`).
//!
//! A session id is 256 random bits in a cookie (`HttpOnly`, `SameSite=Lax`, `Path=/`,
//! `Secure` and the `__Host-` prefix when the public URL is https); the database keeps
//! only its SHA-256, so a leaked table opens no session. A visitor who opens a form
//! gets an anonymous session (no account) that lives only in the cookie: its value is
//! `a.<issued at>.<256 random bits>` and the form's CSRF token is an HMAC of it under
//! the server's form key (`server_keys`), so showing a form writes nothing — page views
//! that wrote a session row each were what 80 hurried anonymous clients wedged the
//! SQLite server with, and what filled the table. Logging in replaces it with a new
//! session (new id, new token, a row), logging out deletes the row.
//! Sessions end after [`IDLE_SECS`] without a request and [`ABSOLUTE_SECS`] after
//! login whatever happens; an anonymous one [`ANONYMOUS_SECS`] after it was issued.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use base64::Engine as _;
use ca::db::Database;

use crate::domain::account::{self, Account, Role};
use crate::error::AppError;
use crate::http::state::AppState;
use crate::store::sessions as store;

/// A session ends this long after its last request.
pub const IDLE_SECS: i64 = 2 * 3600;
/// A signed-in session ends this long after login, however active.
pub const ABSOLUTE_SECS: i64 = 24 * 3600;
/// An anonymous session (a form's CSRF token) lives this long.
pub const ANONYMOUS_SECS: i64 = 2 * 3600;
/// An anonymous visitor's cookie value starts with this (a signed-in session's id is
/// 43 base64url characters, which never contain a `.`).
const ANONYMOUS_PREFIX: &str = "a.";
/// `last_seen_at` is written at most this often per session.
const TOUCH_SECS: i64 = 60;

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The cookie's name: with `Secure`, the `__Host-` prefix makes the browser refuse it
/// unless it is also `Path=/` without `Domain`, so no sibling host can plant one.
pub fn cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-cx_session"
    } else {
        "cx_session"
    }
}

fn set_cookie(secure: bool, value: &str, max_age: Option<i64>) -> HeaderValue {
    cookie_header(cookie_name(secure), secure, value, max_age)
}

/// `Set-Cookie` for one of our cookies: `HttpOnly`, `SameSite=Lax`, `Path=/`, and
/// `Secure` behind https.
fn cookie_header(name: &str, secure: bool, value: &str, max_age: Option<i64>) -> HeaderValue {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if secure {
        c.push_str("; Secure");
    }
    if let Some(secs) = max_age {
        c.push_str(&format!("; Max-Age={secs}"));
    }
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The device cookie: which browser signed in to an account before, so that the
/// lockout counts its failures apart from everyone else's
/// ([`account::LoginClient`]). `__Host-` for the same reason as the session's.
fn device_cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-cx_device"
    } else {
        "cx_device"
    }
}

/// The device cookie's token in a request, if it has one of the right shape.
pub fn device_token(headers: &HeaderMap, state: &AppState) -> Option<String> {
    cookie_value(headers, device_cookie_name(state.secure_cookies())).filter(|v| v.len() == 43)
}

/// `Set-Cookie` for a device token, kept for [`account::DEVICE_SECS`].
pub fn device_cookie(state: &AppState, token: &str) -> HeaderValue {
    let secure = state.secure_cookies();
    cookie_header(
        device_cookie_name(secure),
        secure,
        token,
        Some(account::DEVICE_SECS),
    )
}

/// The session cookie's value in a request, if any: a signed-in session's id (43
/// characters) or an anonymous visitor's `a.<issued at>.<43 characters>`.
fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| v.len() == 43 || (v.starts_with(ANONYMOUS_PREFIX) && v.len() <= 80))
}

/// A live session: the visitor's, signed in or not.
#[derive(Debug, Clone)]
pub struct Session {
    /// SHA-256 of the session id; `None` for an anonymous visitor, who has no row.
    id_hash: Option<Vec<u8>>,
    /// The signed-in account, if any.
    pub account: Option<Account>,
    /// The synchronizer token every form of this session carries.
    pub csrf: String,
    /// `Set-Cookie` to send with the response: the session is new (or was rotated).
    set_cookie: Option<HeaderValue>,
    /// The message left by the step before a redirect, not yet shown.
    flash: Option<String>,
}

impl Session {
    /// Adds the `Set-Cookie` of a new session to a response.
    pub fn attach(&self, mut response: Response) -> Response {
        if let Some(c) = &self.set_cookie {
            response.headers_mut().append(SET_COOKIE, c.clone());
        }
        response
    }

    /// Whether this is the session of an account.
    pub fn signed_in(&self) -> bool {
        self.account.is_some()
    }

    /// Leaves `message` for the next page of this session (post/redirect/get).
    pub async fn set_flash(&self, db: &Database, message: &str) -> Result<(), AppError> {
        self.write_flash(db, Some(message)).await
    }

    /// The message left for this page, if any; it is shown once.
    pub async fn take_flash(&self, db: &Database) -> Result<Option<String>, AppError> {
        if self.flash.is_some() {
            self.write_flash(db, None).await?;
        }
        Ok(self.flash.clone())
    }

    async fn write_flash(&self, db: &Database, message: Option<&str>) -> Result<(), AppError> {
        let Some(id_hash) = &self.id_hash else {
            return Ok(());
        };
        store::set_flash(db, id_hash, message).await
    }
}

/// The session a request's cookie names, if it is live (touched when due). Cached in
/// the request's extensions so several extractors load it once.
pub(crate) async fn load(parts: &mut Parts, state: &AppState) -> Result<Option<Session>, AppError> {
    #[derive(Clone)]
    struct Loaded(Option<Session>);
    if let Some(Loaded(s)) = parts.extensions.get::<Loaded>() {
        return Ok(s.clone());
    }
    let session = match cookie_value(&parts.headers, cookie_name(state.secure_cookies())) {
        Some(token) if token.starts_with(ANONYMOUS_PREFIX) => anonymous(state, &token, now())
            .await?
            .filter(|(_, issued)| now() < issued.saturating_add(ANONYMOUS_SECS))
            .map(|(s, _)| s),
        Some(token) => find(&state.db, &token).await?,
        None => None,
    };
    parts.extensions.insert(Loaded(session.clone()));
    Ok(session)
}

async fn find(db: &Database, token: &str) -> Result<Option<Session>, AppError> {
    let id_hash = account::secret_hash(token);
    let Some(row) = store::find(db, &id_hash).await? else {
        return Ok(None);
    };
    let now = now();
    if now >= row.expires_at || now >= row.last_seen_at + IDLE_SECS {
        store::delete(db, &id_hash).await?;
        return Ok(None);
    }
    if now - row.last_seen_at >= TOUCH_SECS {
        store::touch(db, &id_hash, now).await?;
    }
    let account = match (row.account_id, row.email, row.role) {
        (Some(id), Some(email), Some(role)) => Some(Account {
            id,
            email,
            role: role.parse::<Role>()?,
            member: row.member,
        }),
        _ => None,
    };
    Ok(Some(Session {
        id_hash: Some(id_hash),
        account,
        csrf: row.csrf,
        set_cookie: None,
        flash: row.flash,
    }))
}

/// The anonymous session a cookie value `a.<issued at>.<random>` stands for, with
/// when it was issued; `None` for a malformed value. Its CSRF token is the HMAC of the
/// whole value under the form key: only this server can make one, and it reads
/// nothing but the key (once per process) and writes nothing.
async fn anonymous(
    state: &AppState,
    value: &str,
    now: i64,
) -> Result<Option<(Session, i64)>, AppError> {
    let Some((issued, random)) = value
        .strip_prefix(ANONYMOUS_PREFIX)
        .and_then(|v| v.split_once('.'))
    else {
        return Ok(None);
    };
    let Ok(issued) = issued.parse::<i64>() else {
        return Ok(None);
    };
    if random.len() != 43 || issued > now + 60 {
        return Ok(None);
    }
    let key = form_key(state).await?;
    let tag = ring::hmac::sign(key, value.as_bytes());
    let session = Session {
        id_hash: None,
        account: None,
        csrf: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tag.as_ref()),
        set_cookie: None,
        flash: None,
    };
    Ok(Some((session, issued)))
}

/// A new anonymous session, for a visitor who opens a form without one.
pub(crate) async fn start_anonymous(state: &AppState) -> Result<Session, AppError> {
    let now = now();
    let value = format!("{ANONYMOUS_PREFIX}{now}.{}", account::random_token()?);
    let (mut session, _) = anonymous(state, &value, now)
        .await?
        .ok_or_else(|| AppError::Internal(ca::Error::Config("bad anonymous session".into())))?;
    session.set_cookie = Some(set_cookie(
        state.secure_cookies(),
        &value,
        Some(ANONYMOUS_SECS),
    ));
    Ok(session)
}

/// The key of the anonymous forms' CSRF tokens, read from `server_keys` once per
/// process (the migration made it; every replica shares it).
async fn form_key(state: &AppState) -> Result<&ring::hmac::Key, AppError> {
    state
        .form_key
        .get_or_try_init(|| async {
            let secret = store::form_secret(&state.db).await?;
            Ok::<_, AppError>(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &secret))
        })
        .await
}

/// Starts a session for `account`, replacing `old` (its row, if it had one) in the
/// same transaction: login rotates the id and the CSRF token. Expired sessions are
/// swept on the way.
pub async fn start(
    state: &AppState,
    old: Option<&Session>,
    account: Account,
) -> Result<Session, AppError> {
    let token = account::random_token()?;
    let csrf = account::random_token()?;
    let id_hash = account::secret_hash(&token);
    let now = now();
    let mut tx = state.db.begin().await?;
    let old = old.and_then(|s| s.id_hash.clone()).unwrap_or_default();
    store::sweep(&mut tx, now, now - IDLE_SECS, &old).await?;
    store::insert(
        &mut tx,
        &id_hash,
        account.id,
        &csrf,
        now,
        now + ABSOLUTE_SECS,
    )
    .await?;
    tx.commit().await?;
    Ok(Session {
        id_hash: Some(id_hash),
        account: Some(account),
        csrf,
        set_cookie: Some(set_cookie(state.secure_cookies(), &token, None)),
        flash: None,
    })
}

/// Ends a session server-side; returns the `Set-Cookie` that clears the cookie.
pub async fn end(state: &AppState, session: &Session) -> Result<HeaderValue, AppError> {
    if let Some(id_hash) = &session.id_hash {
        store::delete(&state.db, id_hash).await?;
    }
    Ok(set_cookie(state.secure_cookies(), "", Some(0)))
}

/// `next` if it is a path on this site (`/…`, not `//host` or `/\host`, no control
/// characters), else `None`: a login never redirects elsewhere.
pub fn safe_next(next: &str) -> Option<String> {
    let n = next.trim();
    if !n.starts_with('/')
        || n.starts_with("//")
        || n.contains('\\')
        || n.len() > 1024
        || n.chars().any(char::is_control)
    {
        return None;
    }
    let base = url::Url::parse("http://chengxin.invalid/").ok()?;
    let joined = base.join(n).ok()?;
    (joined.origin() == base.origin()).then(|| n.to_string())
}

/// The client's address: the last `X-Forwarded-For` hop when the proxy in front is
/// trusted to add it, else the connection's peer (0.0.0.0 when served without one).
pub fn client_ip(parts: &Parts, trust_forwarded_for: bool) -> IpAddr {
    let forwarded = trust_forwarded_for
        .then(|| {
            parts
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .next_back()
                .and_then(|hop| hop.trim().parse::<IpAddr>().ok())
        })
        .flatten();
    forwarded.unwrap_or_else(|| {
        parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_address_comes_from_the_proxy_s_hop_only_when_the_proxy_is_trusted() {
        let req = axum::http::Request::builder()
            .header("x-forwarded-for", "6.6.6.6, 198.51.100.4")
            .extension(ConnectInfo(SocketAddr::from(([10, 0, 0, 2], 4000))))
            .body(())
            .unwrap_or_default();
        let (parts, ()) = req.into_parts();
        assert_eq!(client_ip(&parts, true), IpAddr::from([198, 51, 100, 4]));
        assert_eq!(client_ip(&parts, false), IpAddr::from([10, 0, 0, 2]));
    }

    #[test]
    fn next_accepts_local_paths_only() {
        assert_eq!(safe_next("/account").as_deref(), Some("/account"));
        assert_eq!(
            safe_next("/cert/s_1?lang=en").as_deref(),
            Some("/cert/s_1?lang=en")
        );
        for bad in [
            "https://evil.example/",
            "//evil.example/x",
            "/\\evil.example",
            "\\\\evil.example",
            "evil.example",
            "javascript:alert(1)",
            "/\t/evil.example",
            "",
        ] {
            assert_eq!(safe_next(bad), None, "{bad:?}");
        }
    }
}
