//! Accounts in the browser: register, confirm the address, log in and out, reset a
//! forgotten password, see one's account. Every form goes through
//! [`crate::http::extract::session::CsrfForm`]; every failure re-renders the form with a
//! bilingual message and changes nothing.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use crate::domain::account::{Account, Email, Purpose, Role, TokenProblem};
use crate::domain::password;
use crate::error::AppError;
use crate::http::extract::session::{CsrfForm, SignedIn, Visitor};
use crate::http::session::{self, safe_next};
use crate::http::state::AppState;
use crate::http::web::{MessagePage, Nav, PageError, render, see_other};

/// The account pages (HTML, cookie sessions; not part of the JSON API).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/register", get(register_page).post(register))
        .route("/confirm", get(confirm_page).post(confirm))
        .route("/password/forgot", get(forgot_page).post(forgot))
        .route("/password/reset", get(reset_page).post(reset))
        .route("/account", get(account_page))
        .route("/account/tokens/{id}/revoke", post(revoke_token))
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

const WRONG_CREDENTIALS: &str = "邮箱或密码错误（多次失败后账户将暂时锁定）。 / Wrong e-mail or password (after repeated failures the account is locked for a while).";
const EMAIL_EMPTY: &str = "请输入邮箱地址。 / Enter your e-mail address.";
const PASSWORDS_DIFFER: &str = "两次输入的密码不一致。 / The two passwords differ.";

fn email_error(input: &str) -> Option<String> {
    if input.trim().is_empty() {
        return Some(EMAIL_EMPTY.into());
    }
    match Email::parse(input) {
        Ok(_) => None,
        Err(AppError::BadRequest(m)) => Some(format!("邮箱地址无效。 / {m}.")),
        Err(_) => Some("邮箱地址无效。 / Invalid e-mail address.".into()),
    }
}

/// The e-mail as typed, cut to a length a form can show back.
fn keep(input: &str) -> String {
    input.chars().take(254).collect()
}

// ---- login / logout ----

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    nav: Nav,
    csrf: String,
    email: String,
    next: String,
    error: Option<String>,
    notice: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NextQuery {
    next: String,
}

async fn login_page(
    Visitor(session): Visitor,
    Query(q): Query<NextQuery>,
) -> Result<Response, PageError> {
    let next = safe_next(&q.next).unwrap_or_default();
    if session.signed_in() {
        return Ok(see_other(
            if next.is_empty() { "/account" } else { &next },
            None,
        ));
    }
    let page = LoginPage {
        nav: Nav::of(Some(&session)),
        csrf: session.csrf.clone(),
        email: String::new(),
        next,
        error: None,
        notice: None,
    };
    Ok(render(StatusCode::OK, &page, Some(&session)))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct LoginForm {
    email: String,
    password: String,
    next: String,
}

async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    CsrfForm { session, form, ip }: CsrfForm<LoginForm>,
) -> Result<Response, PageError> {
    let now = now();
    if !state.login_limiter.allow_from(ip, now) {
        return Err(PageError::TooMany);
    }
    let next = safe_next(&form.next).unwrap_or_default();
    let again = |status: StatusCode, error: String| {
        let page = LoginPage {
            nav: Nav::of(Some(&session)),
            csrf: session.csrf.clone(),
            email: keep(&form.email),
            next: next.clone(),
            error: Some(error),
            notice: None,
        };
        render(status, &page, Some(&session))
    };
    if let Some(e) = email_error(&form.email) {
        return Ok(again(StatusCode::UNPROCESSABLE_ENTITY, e));
    }
    if form.password.is_empty() {
        return Ok(again(
            StatusCode::UNPROCESSABLE_ENTITY,
            "请输入密码。 / Enter your password.".into(),
        ));
    }
    let email = Email::parse(&form.email)?;
    let creds = crate::store::accounts::credentials(&state.db, &email).await?;
    // One argon2 verification on every path, so an unknown address, a locked account
    // and a wrong password take the same time and get the same answer.
    let matched = password::verify_blocking(
        form.password.clone(),
        creds.as_ref().and_then(|c| c.password_hash.clone()),
    )
    .await;
    let Some(creds) = creds else {
        return Ok(again(StatusCode::UNAUTHORIZED, WRONG_CREDENTIALS.into()));
    };
    // Locks are per client (a known browser, else a network), so a guesser locks out
    // only themselves; unknown clients together are locked after many more failures.
    let device = session::device_token(&headers, &state);
    let client = crate::store::accounts::login_client(
        &state.db,
        creds.account.id,
        device.as_deref(),
        ip,
        now,
    )
    .await?;
    if crate::store::accounts::login_locked(&state.db, creds.account.id, &client, now).await? {
        return Ok(again(StatusCode::UNAUTHORIZED, WRONG_CREDENTIALS.into()));
    }
    if !matched {
        crate::store::accounts::record_failed_login(&state.db, creds.account.id, &client, now)
            .await?;
        return Ok(again(StatusCode::UNAUTHORIZED, WRONG_CREDENTIALS.into()));
    }
    if creds.email_confirmed_at.is_none() {
        return Ok(again(
            StatusCode::FORBIDDEN,
            "请先打开确认邮件中的链接以确认邮箱。如未收到，可通过“忘记密码”重新获取链接。 / Confirm your e-mail address first with the link we sent. If it did not arrive, use “Forgot your password” to get a new link."
                .into(),
        ));
    }
    let device =
        crate::store::accounts::signed_in_from(&state.db, creds.account.id, &client, now).await?;
    let new = session::start(&state, Some(&session), creds.account).await?;
    let to = if next.is_empty() { "/account" } else { &next };
    let mut response = new.attach(see_other(to, None));
    response
        .headers_mut()
        .append(header::SET_COOKIE, session::device_cookie(&state, &device));
    Ok(response)
}

#[derive(Debug, Default, Deserialize)]
struct NoFields {}

async fn logout(
    State(state): State<AppState>,
    CsrfForm { session, .. }: CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    let clear = session::end(&state, &session).await?;
    Ok(see_other("/login", Some(clear)))
}

// ---- registration and confirmation ----

#[derive(Template)]
#[template(path = "register.html")]
struct RegisterPage {
    nav: Nav,
    csrf: String,
    email: String,
    role: String,
    errors: Vec<String>,
    min_len: usize,
}

async fn register_page(Visitor(session): Visitor) -> Result<Response, PageError> {
    let page = RegisterPage {
        nav: Nav::of(Some(&session)),
        csrf: session.csrf.clone(),
        email: String::new(),
        role: "user".into(),
        errors: vec![],
        min_len: password::MIN_LEN,
    };
    Ok(render(StatusCode::OK, &page, Some(&session)))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RegisterForm {
    email: String,
    password: String,
    password2: String,
    role: String,
}

/// Visitors register as complainants or as site operators; staff and admins are made
/// on the command line only.
fn self_service_role(role: &str) -> Option<Role> {
    match role {
        "" | "user" => Some(Role::User),
        "operator" => Some(Role::Operator),
        _ => None,
    }
}

async fn register(
    State(state): State<AppState>,
    CsrfForm { session, form, ip }: CsrfForm<RegisterForm>,
) -> Result<Response, PageError> {
    let now = now();
    if !state.login_limiter.allow_from(ip, now) {
        return Err(PageError::TooMany);
    }
    let mut errors = vec![];
    errors.extend(email_error(&form.email));
    let role = self_service_role(&form.role);
    if role.is_none() {
        errors.push(
            "只能注册为访客或网站运营者。 / You can register as a visitor or a site operator only."
                .into(),
        );
    }
    if let Err(e) = password::check_new(&form.password, &form.email) {
        errors.push(e);
    } else if form.password != form.password2 {
        errors.push(PASSWORDS_DIFFER.into());
    }
    if !errors.is_empty() {
        let page = RegisterPage {
            nav: Nav::of(Some(&session)),
            csrf: session.csrf.clone(),
            email: keep(&form.email),
            role: if form.role == "operator" {
                "operator".into()
            } else {
                "user".into()
            },
            errors,
            min_len: password::MIN_LEN,
        };
        return Ok(render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &page,
            Some(&session),
        ));
    }
    let (email, role) = (Email::parse(&form.email)?, role.unwrap_or(Role::User));
    let hash = password::hash_blocking(form.password).await?;
    let mut tx = state.db.begin().await?;
    match crate::store::accounts::insert_with_password(&mut tx, &email, role, &hash, now).await? {
        Some(id) => {
            let created = Account {
                id,
                email: email.as_str().into(),
                role,
                member: None,
            };
            crate::service::accounts::enqueue_confirm(&mut tx, &created, &state.public_url, now)
                .await?;
            ca::audit::append(
                &mut tx,
                email.as_str(),
                "account.register",
                email.as_str(),
                &json!({ "role": role }),
            )
            .await?;
        }
        None => {
            // The address has an account: tell its owner, and tell the visitor the same
            // as for a new one, so the form does not reveal who is registered.
            let u = &state.public_url;
            let text = crate::notify::account_mail::already_registered(
                &format!("{u}/login"),
                &format!("{u}/password/forgot"),
            );
            crate::service::accounts::enqueue_mail(&mut tx, email.as_str(), text, now).await?;
        }
    }
    tx.commit().await?;
    let page = MessagePage::new(
        Nav::of(Some(&session)),
        "ok",
        "请查收邮件 / Check your mail",
        &[
            &format!(
                "我们已向 {} 发送了一封邮件，请打开其中的链接确认邮箱（48 小时内有效）。",
                email.as_str()
            ),
            &format!(
                "We sent a message to {}; open its link to confirm your address (valid for 48 hours).",
                email.as_str()
            ),
        ],
    );
    Ok(render(StatusCode::OK, &page, Some(&session)))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TokenQuery {
    token: String,
}

fn token_problem_page(nav: Nav, problem: TokenProblem, purpose: Purpose) -> Response {
    let (zh, en) = match problem {
        TokenProblem::Unknown => ("此链接无效。", "This link is not valid."),
        TokenProblem::Used => ("此链接已使用过。", "This link has already been used."),
        TokenProblem::Expired => ("此链接已过期。", "This link has expired."),
    };
    let (title, zh2, en2, href, label) = match purpose {
        Purpose::Confirm => (
            "无法确认邮箱 / Cannot confirm",
            "如需新的链接，可通过“忘记密码”获取（同时确认邮箱）；若已确认，请直接登录。",
            "To get a new link use “Forgot your password” (it confirms the address too); if you already confirmed, log in.",
            "/login",
            "登录 / Log in",
        ),
        Purpose::Reset => (
            "无法重设密码 / Cannot reset the password",
            "请重新申请重设密码的链接。",
            "Ask for a new reset link.",
            "/password/forgot",
            "忘记密码 / Forgot your password",
        ),
    };
    let page = MessagePage::new(nav, "error", title, &[zh, en, zh2, en2]).link(href, label);
    render(StatusCode::BAD_REQUEST, &page, None)
}

#[derive(Template)]
#[template(path = "confirm.html")]
struct ConfirmPage {
    nav: Nav,
    csrf: String,
    token: String,
}

/// The mailed link only shows a button: opening it changes nothing, so a mail
/// scanner or link preview that fetches every link cannot confirm an address for
/// someone who never read the mail.
async fn confirm_page(
    Visitor(session): Visitor,
    Query(q): Query<TokenQuery>,
) -> Result<Response, PageError> {
    let token = q.token.trim();
    if token.is_empty() || token.len() > 128 {
        return Ok(token_problem_page(
            Nav::of(Some(&session)),
            TokenProblem::Unknown,
            Purpose::Confirm,
        ));
    }
    let page = ConfirmPage {
        nav: Nav::of(Some(&session)),
        csrf: session.csrf.clone(),
        token: token.to_string(),
    };
    Ok(render(StatusCode::OK, &page, Some(&session)))
}

async fn confirm(
    State(state): State<AppState>,
    CsrfForm { session, form, .. }: CsrfForm<TokenQuery>,
) -> Result<Response, PageError> {
    let q = form;
    let session = Some(session);
    let nav = Nav::of(session.as_ref());
    let now = now();
    let mut tx = state.db.begin().await?;
    let id = match crate::store::accounts::use_email_token(
        &mut tx,
        q.token.trim(),
        Purpose::Confirm,
        now,
    )
    .await?
    {
        Ok(id) => id,
        Err(problem) => return Ok(token_problem_page(nav, problem, Purpose::Confirm)),
    };
    crate::store::accounts::confirm_email(&mut tx, id, now).await?;
    tx.commit().await?;
    let page = MessagePage::new(
        nav,
        "ok",
        "邮箱已确认 / Address confirmed",
        &[
            "您的邮箱已确认，现在可以登录。",
            "Your e-mail address is confirmed; you can log in now.",
        ],
    )
    .link("/login", "登录 / Log in");
    Ok(render(StatusCode::OK, &page, None))
}

// ---- password reset ----

#[derive(Template)]
#[template(path = "forgot.html")]
struct ForgotPage {
    nav: Nav,
    csrf: String,
    email: String,
    error: Option<String>,
}

async fn forgot_page(Visitor(session): Visitor) -> Result<Response, PageError> {
    let page = ForgotPage {
        nav: Nav::of(Some(&session)),
        csrf: session.csrf.clone(),
        email: String::new(),
        error: None,
    };
    Ok(render(StatusCode::OK, &page, Some(&session)))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ForgotForm {
    email: String,
}

async fn forgot(
    State(state): State<AppState>,
    CsrfForm { session, form, ip }: CsrfForm<ForgotForm>,
) -> Result<Response, PageError> {
    let now = now();
    if !state.login_limiter.allow_from(ip, now) {
        return Err(PageError::TooMany);
    }
    if let Some(error) = email_error(&form.email) {
        let page = ForgotPage {
            nav: Nav::of(Some(&session)),
            csrf: session.csrf.clone(),
            email: keep(&form.email),
            error: Some(error),
        };
        return Ok(render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &page,
            Some(&session),
        ));
    }
    let email = Email::parse(&form.email)?;
    // The same work for every address (one queued job): the answer's timing must not
    // tell whether the address has an account. The job makes the link, or nothing.
    let mut tx = state.db.begin().await?;
    crate::service::accounts::enqueue_reset_request(&mut tx, &email, now).await?;
    tx.commit().await?;
    let page = MessagePage::new(
        Nav::of(Some(&session)),
        "ok",
        "请查收邮件 / Check your mail",
        &[
            &format!(
                "如果 {} 有账户，我们已向它发送了重设密码的链接（1 小时内有效）。",
                email.as_str()
            ),
            &format!(
                "If {} has an account, we sent it a link to set a new password (valid for 1 hour).",
                email.as_str()
            ),
        ],
    );
    Ok(render(StatusCode::OK, &page, Some(&session)))
}

#[derive(Template)]
#[template(path = "reset.html")]
struct ResetPage {
    nav: Nav,
    csrf: String,
    token: String,
    errors: Vec<String>,
    min_len: usize,
}

async fn reset_page(
    State(state): State<AppState>,
    Visitor(session): Visitor,
    Query(q): Query<TokenQuery>,
) -> Result<Response, PageError> {
    let token = q.token.trim().to_string();
    if let Err(problem) =
        crate::store::accounts::peek_email_token(&state.db, &token, Purpose::Reset, now()).await?
    {
        return Ok(session.attach(token_problem_page(
            Nav::of(Some(&session)),
            problem,
            Purpose::Reset,
        )));
    }
    let page = ResetPage {
        nav: Nav::of(Some(&session)),
        csrf: session.csrf.clone(),
        token,
        errors: vec![],
        min_len: password::MIN_LEN,
    };
    Ok(render(StatusCode::OK, &page, Some(&session)))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ResetForm {
    token: String,
    password: String,
    password2: String,
}

async fn reset(
    State(state): State<AppState>,
    CsrfForm { session, form, .. }: CsrfForm<ResetForm>,
) -> Result<Response, PageError> {
    let now = now();
    let nav = Nav::of(Some(&session));
    let id =
        match crate::store::accounts::peek_email_token(&state.db, &form.token, Purpose::Reset, now)
            .await?
        {
            Ok(id) => id,
            Err(problem) => return Ok(token_problem_page(nav, problem, Purpose::Reset)),
        };
    let email = crate::store::accounts::email(&state.db, id).await?;
    let mut errors = vec![];
    if let Err(e) = password::check_new(&form.password, &email) {
        errors.push(e);
    } else if form.password != form.password2 {
        errors.push(PASSWORDS_DIFFER.into());
    }
    if !errors.is_empty() {
        let page = ResetPage {
            nav,
            csrf: session.csrf.clone(),
            token: form.token,
            errors,
            min_len: password::MIN_LEN,
        };
        return Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page, None));
    }
    let hash = password::hash_blocking(form.password).await?;
    let mut tx = state.db.begin().await?;
    let id =
        match crate::store::accounts::use_email_token(&mut tx, &form.token, Purpose::Reset, now)
            .await?
        {
            Ok(id) => id,
            Err(problem) => return Ok(token_problem_page(nav, problem, Purpose::Reset)),
        };
    crate::store::accounts::set_password(&mut tx, id, &hash).await?;
    // The mail reached its owner: that confirms the address too.
    crate::store::accounts::confirm_email(&mut tx, id, now).await?;
    ca::audit::append(
        &mut tx,
        &email,
        "account.password_reset",
        &email,
        &json!({}),
    )
    .await?;
    tx.commit().await?;
    let page = MessagePage::new(
        Nav::default(),
        "ok",
        "密码已更新 / Password changed",
        &[
            "新密码已生效，此账户的所有会话均已退出。请用新密码登录。",
            "Your new password is set and every session of this account has ended. Log in with the new password.",
        ],
    )
    .link("/login", "登录 / Log in");
    Ok(render(StatusCode::OK, &page, None))
}

// ---- signed-in pages ----

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    nav: Nav,
    email: String,
    role: Role,
    role_zh: &'static str,
    confirmed: String,
    created: String,
    /// The complaints this person filed, newest first: the way back to each one
    /// without searching the mailbox for its link.
    complaints: Vec<MyComplaint>,
    /// The account's API tokens, each with a revoke button while live.
    tokens: Vec<MyToken>,
    csrf: String,
}

struct MyToken {
    id: i64,
    label: String,
    created: String,
    expires: String,
    /// `live`, `expired` or `revoked`.
    state: &'static str,
}

struct MyComplaint {
    id: String,
    site: String,
    status: String,
    status_zh: &'static str,
    status_en: &'static str,
    filed: String,
}

fn date(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .map(|t| {
            let t = t.to_offset(time::macros::offset!(+8));
            format!("{} {:02}:{:02}", t.date(), t.hour(), t.minute())
        })
        .unwrap_or_default()
}

async fn account_page(
    State(state): State<AppState>,
    user: SignedIn,
) -> Result<Response, PageError> {
    let (created, confirmed) = crate::store::accounts::dates(&state.db, user.account.id).await?;
    let now = now();
    let tokens = crate::store::accounts::tokens(&state.db, &user.account)
        .await?
        .into_iter()
        .map(|t| MyToken {
            id: t.id,
            created: date(t.created_at),
            expires: date(t.expires_at),
            state: match t.revoked_at {
                Some(_) => "revoked",
                None if t.expires_at <= now => "expired",
                None => "live",
            },
            label: t.label,
        })
        .collect();
    let page = AccountPage {
        tokens,
        csrf: user.session.csrf.clone(),
        nav: Nav::of(Some(&user.session)),
        email: user.account.email.clone(),
        role: user.account.role,
        role_zh: match user.account.role {
            Role::User => "访客",
            Role::Operator => "网站运营者",
            Role::Staff => "员工",
            Role::Admin => "管理员",
            Role::Member => "联盟成员",
        },
        confirmed: confirmed.map_or_else(|| "—".into(), date),
        created: date(created),
        complaints: if user.account.role.is_staff() {
            vec![]
        } else {
            crate::service::complaints::list(&state, &user.account)
                .await?
                .into_iter()
                .filter(|c| c.complainant_id == user.account.id)
                .map(|c| {
                    let (status_zh, status_en) = c.status.labels();
                    MyComplaint {
                        filed: date(c.created_at),
                        id: c.id,
                        site: c.site_id,
                        status: c.status.as_str().into(),
                        status_zh,
                        status_en,
                    }
                })
                .collect()
        },
    };
    Ok(render(StatusCode::OK, &page, None))
}
/// Revokes one of the signed-in person's own API tokens, then back to the account page.
async fn revoke_token(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { session, .. }: CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    let Some(account) = session.account.clone() else {
        return Err(PageError::Login(Some("/account".into())));
    };
    match crate::store::accounts::revoke_token(&state.db, &account.email, &account, id).await {
        Ok(()) | Err(AppError::NotFound) => Ok(see_other("/account", None)),
        Err(e) => Err(e.into()),
    }
}
