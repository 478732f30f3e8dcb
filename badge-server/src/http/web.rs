//! What every server-rendered page shares: the header's login state ([`Nav`]), the
//! security headers, and the HTML error type ([`PageError`]) page handlers return.
//! Pages are zh-CN first with the English beside it.

use askama::Template;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, LOCATION, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};

use crate::domain::account::Account;
use crate::error::AppError;
use crate::http::session::Session;

/// The policy of every page: no script at all, inline style, images and form targets
/// from our origin only, never in a frame.
pub const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; \
                       form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// Set once at start-up by `serve --demo`: every page then says it shows
/// demonstration data. A process-wide mode rather than a field of the state,
/// because the header ([`Nav`]) is built in every page handler from the session
/// alone; a demo database holds only demo sites, so the whole process shows demo
/// data.
static DEMO_MODE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Marks every page this process serves as demonstration data (`serve --demo`).
pub fn set_demo_mode() {
    DEMO_MODE.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// What `base.html`'s header shows: who is signed in, and the token of its logout form.
#[derive(Debug, Clone, Default)]
pub struct Nav {
    /// The signed-in account.
    pub account: Option<Account>,
    /// The session's CSRF token (for the logout button).
    pub csrf: String,
}

impl Nav {
    /// The header for a session (or for nobody).
    pub fn of(session: Option<&Session>) -> Nav {
        match session {
            Some(s) => Nav {
                account: s.account.clone(),
                csrf: s.csrf.clone(),
            },
            None => Nav::default(),
        }
    }

    /// Whether this process serves demonstration data (`serve --demo`): the
    /// layout shows the "演示 Demo" banner on every page.
    pub fn demo(&self) -> bool {
        DEMO_MODE.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether the signed-in account is staff (shows the console link).
    pub fn is_staff(&self) -> bool {
        self.account.as_ref().is_some_and(|a| a.role.is_staff())
    }

    /// Whether the signed-in account operates sites (shows the portal link).
    pub fn is_operator(&self) -> bool {
        self.account
            .as_ref()
            .is_some_and(|a| a.role == crate::domain::account::Role::Operator)
    }
}

/// The Chinese name of a form field, for messages ("机构名称 (organization): …").
fn field_zh(field: &str) -> &'static str {
    let base = field.split('[').next().unwrap_or(field);
    match base {
        "organization" => "机构名称",
        "uscc" => "统一社会信用代码",
        "icp" => "ICP 备案号",
        "province" => "省份",
        "city" => "城市",
        "domains" | "domain" => "域名",
        "csr_pem" => "证书签名请求",
        "category" => "投诉类别",
        "text" => "内容",
        "site" => "网站",
        "reason" => "理由",
        "decision" => "决定",
        "revocation" => "撤销方式",
        "description" => "说明",
        "evidence" => "证据",
        "impersonates" => "被冒充的网站",
        "satisfied" => "是否满意",
        "method" => "验证方式",
        "title" => "标题",
        "starts" => "开始时间",
        "place" => "地点",
        "registration_url" => "报名链接",
        "organization_id" => "机构",
        "complaint_deadline_hours" => "投诉答复期限",
        "complaint_reminder_hours" => "答复提醒",
        "recheck_icp_days" => "ICP 复核间隔",
        "recheck_domain_days" => "域名控制复核间隔",
        "grace_hours" => "宽限期",
        _ => "输入",
    }
}

/// What a refused step tells the person on the re-rendered form (field by field for
/// invalid input, the state for a conflict); a step the account may not take becomes
/// the 403 page, anything else the error page.
pub fn input_problems(e: AppError) -> Result<Vec<String>, PageError> {
    match e {
        AppError::Invalid(fields) => Ok(fields
            .into_iter()
            .map(|(f, m)| format!("{} ({f}): {m}", field_zh(&f)))
            .collect()),
        AppError::Conflict(m) => Ok(vec![format!(
            "当前状态不允许此操作。 / Not possible now: {m}"
        )]),
        AppError::BadRequest(m) => Ok(vec![format!("输入无效。 / Invalid input: {m}")]),
        AppError::Upload(r) => Ok(vec![format!("{} / {r}", r.zh())]),
        AppError::TooMany { message, .. } => Ok(vec![format!(
            "已达到次数限制，请稍后再试。 / Limit reached: {message}"
        )]),
        AppError::Forbidden(_) | AppError::Unauthorized => Err(PageError::Forbidden),
        other => Err(other.into()),
    }
}

/// After a form's step: when it worked, `done` is left in the session and the browser
/// is sent back to `back` (303), so a reload does not post the step again; when it
/// was refused, the page `again` renders with the reasons and the form as filled
/// (422 for bad input, 409 for the wrong state); an unknown object is the 404 page.
pub async fn after_step<F, Fut>(
    db: &ca::db::Database,
    session: &Session,
    back: &str,
    result: Result<String, AppError>,
    again: F,
) -> Result<Response, PageError>
where
    F: FnOnce(Vec<String>, StatusCode) -> Fut,
    Fut: std::future::Future<Output = Result<Response, PageError>>,
{
    match result {
        Ok(done) => {
            session.set_flash(db, &done).await?;
            Ok(see_other(back, None))
        }
        Err(AppError::NotFound) => Err(PageError::NotFound),
        Err(e) => {
            let status = if matches!(e, AppError::Conflict(_)) {
                StatusCode::CONFLICT
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            again(input_problems(e)?, status).await
        }
    }
}

/// A unix time as Beijing time, to the minute.
pub fn when(t: i64) -> String {
    crate::domain::clock::date_time(t)
}

/// Renders a page with the security headers, and the session's cookie when it is new.
pub fn render(status: StatusCode, page: &impl Template, session: Option<&Session>) -> Response {
    let html = match page.render() {
        Ok(h) => h,
        Err(e) => {
            return PageError::Internal(AppError::Internal(ca::Error::Encoding(e.to_string())))
                .into_response();
        }
    };
    let mut r = (status, Html(html)).into_response();
    secure_headers(&mut r);
    match session {
        Some(s) => s.attach(r),
        None => r,
    }
}

fn secure_headers(r: &mut Response) {
    let h = r.headers_mut();
    h.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // Pages carry CSRF tokens and personal data: never cached, never in a shared cache.
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Link tokens in URLs (reset, confirm) must not leak to other sites.
    h.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
}

/// A 303 to `to`, with the session's cookie when it is new.
pub fn see_other(to: &str, set_cookie: Option<HeaderValue>) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(LOCATION, v);
    }
    if let Some(c) = set_cookie {
        r.headers_mut().append(axum::http::header::SET_COOKIE, c);
    }
    secure_headers(&mut r);
    r
}

/// A page with a title and a message: confirmations and errors.
#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    /// Header state.
    pub nav: Nav,
    /// Title (bilingual).
    pub title: String,
    /// Paragraphs (bilingual).
    pub lines: Vec<String>,
    /// A link to go on with: (href, label).
    pub link: Option<(String, String)>,
    /// `ok` or `error`, for the colour.
    pub kind: &'static str,
}

impl MessagePage {
    /// A message page.
    pub fn new(nav: Nav, kind: &'static str, title: &str, lines: &[&str]) -> Self {
        MessagePage {
            nav,
            title: title.into(),
            lines: lines.iter().map(|l| l.to_string()).collect(),
            link: None,
            kind,
        }
    }

    /// With a link to go on with.
    pub fn link(mut self, href: &str, label: &str) -> Self {
        self.link = Some((href.into(), label.into()));
        self
    }
}

/// An error page's title and its two lines (Chinese, English).
type ErrorText = (&'static str, [&'static str; 2]);

const NOT_FOUND: ErrorText = (
    "页面不存在 / Not found",
    [
        "找不到此页面：链接可能有误，或网站编号不存在。",
        "There is no such page: the link may be wrong, or there is no site with this id.",
    ],
);
const SERVER_ERROR: ErrorText = (
    "服务器错误 / Server error",
    [
        "出现内部错误，请稍后再试。",
        "Something went wrong; try again later.",
    ],
);
const DISK_FULL: ErrorText = (
    "服务器磁盘已满 / The server's disk is full",
    [
        "未能保存，请稍后再试。",
        "The server's disk is full: nothing was saved; try again later.",
    ],
);
const TOO_MANY: ErrorText = (
    "尝试次数过多 / Too many attempts",
    [
        "尝试次数过多，请稍后再试。",
        "Too many attempts; try again later.",
    ],
);
const FORBIDDEN: ErrorText = (
    "无权访问 / Forbidden",
    [
        "您的账户角色无权访问此页面。",
        "Your account's role does not allow this page.",
    ],
);
const INVALID: ErrorText = (
    "输入无效 / Invalid input",
    ["请求中的输入无效：", "The request's input is not valid:"],
);
const REFUSED: ErrorText = (
    "无法完成 / Not possible",
    ["请求未能完成：", "The request could not be completed:"],
);

/// The page a browser gets for a failed request outside `/api/`
/// ([`crate::http::error::negotiate`]): the page of its `status` in the site's
/// layout with a link home; `said` (what the JSON answer said) is shown for a
/// client error other than 404, never for a server error.
pub fn error_page(status: StatusCode, said: &str) -> Response {
    let (title, lines) = match status {
        StatusCode::NOT_FOUND => NOT_FOUND,
        StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED => FORBIDDEN,
        StatusCode::TOO_MANY_REQUESTS => TOO_MANY,
        StatusCode::SERVICE_UNAVAILABLE => DISK_FULL,
        StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => INVALID,
        s if s.is_server_error() => SERVER_ERROR,
        _ => REFUSED,
    };
    let mut page = MessagePage::new(Nav::default(), "error", title, &lines)
        .link("/", "返回首页 / Back to the home page");
    if status.is_client_error() && status != StatusCode::NOT_FOUND && !said.is_empty() {
        page.lines.push(said.to_string());
    }
    render(status, &page, None)
}

/// Why a page request failed, as the person sees it.
#[derive(Debug)]
pub enum PageError {
    /// Needs a login: 303 to `/login`, with where to come back to.
    Login(Option<String>),
    /// Signed in, but the role does not allow this page.
    Forbidden,
    /// The form's CSRF token is missing, wrong, or its session expired.
    Csrf,
    /// An unsafe request from another origin.
    CrossOrigin,
    /// The body is not a form.
    BadForm,
    /// The body is larger than the form takes (an upload).
    TooLarge,
    /// Too many attempts from this address.
    TooMany,
    /// Nothing here.
    NotFound,
    /// Anything else.
    Internal(AppError),
}

impl From<AppError> for PageError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::NotFound => PageError::NotFound,
            AppError::TooMany { .. } => PageError::TooMany,
            e => PageError::Internal(e),
        }
    }
}

impl From<ca::Error> for PageError {
    fn from(e: ca::Error) -> Self {
        PageError::Internal(AppError::Internal(e))
    }
}

impl From<sqlx::Error> for PageError {
    fn from(e: sqlx::Error) -> Self {
        PageError::Internal(e.into())
    }
}

impl From<ca::db::Error> for PageError {
    fn from(e: ca::db::Error) -> Self {
        PageError::Internal(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, lines): (StatusCode, &str, &[&str]) = match &self {
            PageError::Login(next) => {
                let to = match next.as_deref().and_then(crate::http::session::safe_next) {
                    Some(n) => format!(
                        "/login?next={}",
                        url::form_urlencoded::byte_serialize(n.as_bytes()).collect::<String>()
                    ),
                    None => "/login".into(),
                };
                return see_other(&to, None);
            }
            PageError::Forbidden => (StatusCode::FORBIDDEN, FORBIDDEN.0, &FORBIDDEN.1),
            PageError::Csrf => (
                StatusCode::FORBIDDEN,
                "表单已失效 / The form has expired",
                &[
                    "表单缺少有效的安全令牌，或会话已过期。请返回、刷新页面后重试（需要启用 Cookie）。没有做任何更改。",
                    "The form's security token is missing or wrong, or the session expired. Go back, reload the page and try again (cookies must be enabled). Nothing was changed.",
                ],
            ),
            PageError::CrossOrigin => (
                StatusCode::FORBIDDEN,
                "来源不符 / Wrong origin",
                &[
                    "此表单不是从本站页面提交的，已拒绝。没有做任何更改。",
                    "This form was not submitted from a page of this site and was refused. Nothing was changed.",
                ],
            ),
            PageError::BadForm => (
                StatusCode::BAD_REQUEST,
                "无法读取表单 / Unreadable form",
                &[
                    "提交的内容不是有效的表单。",
                    "The submission is not a valid form.",
                ],
            ),
            PageError::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "文件过大 / File too large",
                &[
                    "上传的文件超过大小限制，已拒绝。没有做任何更改。请返回，选择较小的文件后重试。",
                    "The uploaded file is over the size limit and was refused. Nothing was changed. Go back and choose a smaller file.",
                ],
            ),
            PageError::TooMany => (StatusCode::TOO_MANY_REQUESTS, TOO_MANY.0, &TOO_MANY.1),
            PageError::NotFound => (StatusCode::NOT_FOUND, NOT_FOUND.0, &NOT_FOUND.1),
            PageError::Internal(AppError::Internal(e)) if e.is_disk_full() => {
                tracing::error!(error = %e, "page failed: the database's disk is full");
                (StatusCode::SERVICE_UNAVAILABLE, DISK_FULL.0, &DISK_FULL.1)
            }
            PageError::Internal(e) => {
                tracing::error!(error = %e, "page failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    SERVER_ERROR.0,
                    &SERVER_ERROR.1,
                )
            }
        };
        let page = MessagePage::new(Nav::default(), "error", title, lines);
        let mut r = render(status, &page, None);
        if matches!(self, PageError::TooMany) {
            r.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                HeaderValue::from_static("600"),
            );
        }
        r
    }
}

/// What a re-verification run did, for the notice of the page that asked for it:
/// the counts, then each site that changed state with its reason (the page escapes
/// the text).
pub fn recheck_notice(s: &verifier::recheck::Summary) -> String {
    let mut out = format!(
        "已重新验证：检查 {c} 个网站，通过 {p}，待重试 {r}，进入宽限期 {g}，暂停 {su}，撤销 {rv}，恢复 {rl}。 / \
         Re-verified: {c} checked, {p} passed, {r} to retry, {g} entered grace, {su} suspended, {rv} revoked, {rl} released.",
        c = s.checked,
        p = s.passed,
        r = s.retried,
        g = s.entered_grace,
        su = s.suspended,
        rv = s.revoked,
        rl = s.released,
    );
    for c in &s.changes {
        out.push_str(&format!(
            " {}: {} → {} ({})",
            c.site,
            c.from.as_str(),
            c.to.as_str(),
            c.reason
        ));
    }
    for f in &s.failures {
        out.push_str(&format!(" {f}"));
    }
    out
}
