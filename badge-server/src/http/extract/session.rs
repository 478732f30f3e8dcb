//! The extractors of the server-rendered pages: a visitor's session, a signed-in
//! account, and forms checked against CSRF.
//!
//! Every form is read through [`CsrfForm`] (or [`CsrfUpload`] for a file upload),
//! which refuses (403) a submission whose `Origin` (or `Referer`) is not the public
//! origin, that has no live session, or whose `csrf` field is not the session's token
//! — so no handler can forget the check. The JSON API never reads this cookie: it is
//! bearer-token only (`crate::http::extract::auth`).

use std::net::IpAddr;

use axum::body::Bytes;
use axum::extract::multipart::MultipartError;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Multipart, Request};
use axum::http::header::{ORIGIN, REFERER};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode};
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

use crate::domain::account::{Account, Role};
use crate::http::session::{Session, client_ip, load, start_anonymous};
use crate::http::state::AppState;
use crate::http::web::PageError;

/// The visitor's session, created (anonymous, in the cookie only) when there is none:
/// for pages that show a form. Send the page through [`Session::attach`].
#[derive(Debug, Clone)]
pub struct Visitor(pub Session);

impl FromRequestParts<AppState> for Visitor {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        match load(parts, state).await? {
            Some(s) => Ok(Visitor(s)),
            None => Ok(Visitor(start_anonymous(state).await?)),
        }
    }
}

/// The session if there is a live one (signed in or not); never creates one.
#[derive(Debug, Clone)]
pub struct MaybeSession(pub Option<Session>);

impl FromRequestParts<AppState> for MaybeSession {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        Ok(MaybeSession(load(parts, state).await?))
    }
}

/// A signed-in account, for pages that need one. Without a login the request is sent
/// (303) to `/login?next=<this page>`.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The account.
    pub account: Account,
    /// Its session (for the CSRF token of the page's forms).
    pub session: Session,
}

impl SignedIn {
    /// Refuses (403 page) unless the account has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), PageError> {
        if roles.contains(&self.account.role) {
            Ok(())
        } else {
            Err(PageError::Forbidden)
        }
    }
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        match load(parts, state).await? {
            Some(session) => match session.account.clone() {
                Some(account) => Ok(SignedIn { account, session }),
                None => Err(login_redirect(parts)),
            },
            None => Err(login_redirect(parts)),
        }
    }
}

/// Staff or admin, for the console's pages: 303 to login without a session, 403
/// page for other roles.
#[derive(Debug, Clone)]
pub struct StaffSignedIn(pub SignedIn);

impl FromRequestParts<AppState> for StaffSignedIn {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let s = SignedIn::from_request_parts(parts, state).await?;
        s.require(&[Role::Staff, Role::Admin])?;
        Ok(StaffSignedIn(s))
    }
}

fn login_redirect(parts: &Parts) -> PageError {
    let here = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    if parts.method == Method::GET {
        PageError::Login(Some(here))
    } else {
        PageError::Login(None)
    }
}

/// Whether an unsafe request comes from a page of our own origin: `Origin` when the
/// browser sent one, else the `Referer`'s origin, else `Sec-Fetch-Site`; a request with
/// none of them (not a browser) is left to the token.
fn same_origin(headers: &HeaderMap, origin: &str) -> bool {
    if let Some(o) = headers.get(ORIGIN) {
        return o.to_str().is_ok_and(|o| o == origin);
    }
    if let Some(r) = headers.get(REFERER) {
        return r
            .to_str()
            .ok()
            .and_then(|r| url::Url::parse(r).ok())
            .is_some_and(|u| u.origin().ascii_serialization() == origin);
    }
    if let Some(site) = headers.get("sec-fetch-site") {
        return matches!(site.to_str(), Ok("same-origin" | "none"));
    }
    true
}

/// A submitted form, accepted only with a same-origin `Origin`/`Referer`, a live
/// session and that session's CSRF token in the `csrf` field.
#[derive(Debug)]
pub struct CsrfForm<T> {
    /// The session the form was submitted in.
    pub session: Session,
    /// The form's fields.
    pub form: T,
    /// Where the request came from (for per-address limits).
    pub ip: IpAddr,
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for CsrfForm<T> {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, PageError> {
        let (req, session, ip) = form_request(req, state).await?;
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|_| PageError::BadForm)?;
        let fields: Vec<(String, String)> =
            serde_urlencoded::from_bytes(&bytes).map_err(|_| PageError::BadForm)?;
        let tokens: Vec<&str> = fields
            .iter()
            .filter(|(k, _)| k == "csrf")
            .map(|(_, v)| v.as_str())
            .collect();
        check_token(&session, &tokens)?;
        let form = serde_urlencoded::from_bytes(&bytes).map_err(|_| PageError::BadForm)?;
        Ok(CsrfForm { session, form, ip })
    }
}

/// The checks every form gets before its body is read: a same-origin `Origin` (or
/// `Referer`) and a live session. Returns the request to read the body from.
async fn form_request(
    req: Request,
    state: &AppState,
) -> Result<(Request, Session, IpAddr), PageError> {
    let (mut parts, body) = req.into_parts();
    if !same_origin(&parts.headers, &state.public_origin()) {
        return Err(PageError::CrossOrigin);
    }
    let session = load(&mut parts, state).await?.ok_or(PageError::Csrf)?;
    let ip = client_ip(&parts, state.trust_forwarded_for);
    Ok((Request::from_parts(parts, body), session, ip))
}

/// Exactly one `csrf` field, equal (in constant time) to the session's token.
fn check_token(session: &Session, tokens: &[&str]) -> Result<(), PageError> {
    match tokens {
        [t] if bool::from(t.as_bytes().ct_eq(session.csrf.as_bytes())) => Ok(()),
        _ => Err(PageError::Csrf),
    }
}

/// A file posted with a `multipart/form-data` form, under the same checks as
/// [`CsrfForm`]: a same-origin `Origin`/`Referer`, a live session, and that session's
/// token in exactly one `csrf` field, which must come first. The form has a `file`
/// field and nothing else.
/// The body is read up to the attachment limit plus
/// [`MULTIPART_OVERHEAD`](crate::domain::attachment::MULTIPART_OVERHEAD) (413 past it) and
/// the token is checked before the handler sees the file; what the file is, is
/// [`crate::domain::attachment`]'s business.
#[derive(Debug)]
pub struct CsrfUpload {
    /// The session the form was submitted in.
    pub session: Session,
    /// The file part's name as the browser sent it (`filename`), if any.
    pub file_name: Option<String>,
    /// The file part's bytes (empty when no file was chosen).
    pub file: Bytes,
    /// Where the request came from.
    pub ip: IpAddr,
}

impl FromRequest<AppState> for CsrfUpload {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, PageError> {
        let (mut req, session, ip) = form_request(req, state).await?;
        let max = state
            .attachments
            .max_bytes
            .saturating_add(crate::domain::attachment::MULTIPART_OVERHEAD);
        if crate::http::attachments::declares_more_than(req.headers(), max) {
            return Err(PageError::TooLarge);
        }
        DefaultBodyLimit::max(max).apply(&mut req);
        let failed = |e: MultipartError| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                PageError::TooLarge
            } else {
                PageError::BadForm
            }
        };
        let mut multipart = Multipart::from_request(req, state)
            .await
            .map_err(|_| PageError::BadForm)?;
        // The token comes first (browsers send fields in document order and our forms
        // put it first) and is checked before a byte of the file is read: a forged
        // form costs us its first field, not the attachment limit in memory.
        let first = multipart.next_field().await.map_err(failed)?;
        let token = match first {
            Some(field) if field.name() == Some("csrf") => field.text().await.map_err(failed)?,
            _ => return Err(PageError::Csrf),
        };
        check_token(&session, &[&token])?;
        let mut file = None;
        while let Some(field) = multipart.next_field().await.map_err(failed)? {
            match field.name() {
                // A second token is as suspect as a wrong one.
                Some("csrf") => return Err(PageError::Csrf),
                Some("file") if file.is_none() => {
                    let name = field.file_name().map(str::to_string);
                    file = Some((name, field.bytes().await.map_err(failed)?));
                }
                _ => return Err(PageError::BadForm),
            }
        }
        let (file_name, file) = file.unwrap_or_default();
        Ok(CsrfUpload {
            session,
            file_name,
            file,
            ip,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn a_form_from_another_origin_is_refused_and_one_without_browser_headers_is_left_to_the_token()
    {
        let o = "https://chengxin.example";
        let h = |k: &'static str, v: &'static str| {
            let mut m = HeaderMap::new();
            m.insert(k, HeaderValue::from_static(v));
            m
        };
        assert!(same_origin(&h("origin", "https://chengxin.example"), o));
        assert!(!same_origin(&h("origin", "https://evil.example"), o));
        assert!(!same_origin(&h("origin", "null"), o));
        assert!(same_origin(
            &h("referer", "https://chengxin.example/login"),
            o
        ));
        assert!(!same_origin(&h("referer", "https://evil.example/x"), o));
        assert!(!same_origin(&h("sec-fetch-site", "cross-site"), o));
        assert!(same_origin(&HeaderMap::new(), o));
    }
}
