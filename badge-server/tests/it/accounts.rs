//! Accounts in the browser, through the real router on both database backends:
//! registration, confirmation by the mailed link (read from the queued `mail` job),
//! login and logout, the session cookie, lockout and the per-address limit, password
//! reset, CSRF and origin checks, safe redirects, and who may see which page.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use badge_server::domain::account::{self, Email, Role};
use badge_server::http::AppState;
use ca::on_pool;
use testkit::Backend;
use tower::ServiceExt;

pub(crate) const PUBLIC: &str = "http://127.0.0.1:8080";
pub(crate) const PASSWORD: &str = "correct horse battery";

/// The real application on a fresh database of `backend` and a new CA.
pub(crate) struct TestApp {
    pub(crate) state: AppState,
    app: Router,
    db_url: String,
    extra: Vec<String>,
    _dir: tempfile::TempDir,
}

impl TestApp {
    pub(crate) async fn new(backend: Backend) -> Self {
        Self::with_public_url(backend, PUBLIC).await
    }

    pub(crate) async fn with_public_url(backend: Backend, public_url: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db_url = backend.fresh_database(dir.path());
        Self::with_database(dir, &db_url, &["--public-url", public_url]).await
    }

    /// The application on the database at `db_url`, its CA in `dir`, with `extra`
    /// command-line settings.
    pub(crate) async fn with_database(
        dir: tempfile::TempDir,
        db_url: &str,
        extra: &[&str],
    ) -> Self {
        let state = crate::app_state(dir.path(), db_url, extra).await;
        TestApp {
            app: badge_server::http::router::build(state.clone()),
            state,
            db_url: db_url.to_owned(),
            extra: extra.iter().map(|s| (*s).to_owned()).collect(),
            _dir: dir,
        }
    }

    /// The application started again on the same database and CA directory, with
    /// nothing kept in memory from before (caches empty).
    pub(crate) async fn restart(&mut self) {
        let extra: Vec<&str> = self.extra.iter().map(String::as_str).collect();
        // As a stopping server does, so that the new one may claim it.
        self.state.ca.release_serial_prefix().await.unwrap();
        self.state = crate::app_state(self._dir.path(), &self.db_url, &extra).await;
        self.rebuild();
    }

    /// Rebuilds the router after the state was changed.
    pub(crate) fn rebuild(&mut self) {
        self.app = badge_server::http::router::build(self.state.clone());
    }

    pub(crate) fn browser(&self) -> Client<'_> {
        self.browser_at("192.0.2.10:50000")
    }

    pub(crate) fn browser_at(&self, addr: &str) -> Client<'_> {
        Client {
            app: self,
            cookie: None,
            device: None,
            peer: addr.parse().unwrap(),
            origin: Some(PUBLIC.into()),
        }
    }

    /// Sends a request to the real router; the response's parts and bytes.
    pub(crate) async fn call(
        &self,
        req: Request<Body>,
    ) -> (StatusCode, HeaderMap, axum::body::Bytes) {
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, headers, bytes)
    }

    pub(crate) async fn scalar(&self, sql: &str) -> i64 {
        let (n,): (i64,) = on_pool!(&self.state.db, |p| sqlx::query_as(sql)
            .fetch_one(p)
            .await
            .unwrap());
        n
    }

    pub(crate) async fn exec(&self, sql: &str) {
        on_pool!(&self.state.db, |p| sqlx::query(sql)
            .execute(p)
            .await
            .map(|_| ())
            .unwrap());
    }

    /// The queued mails, oldest first, once the jobs due now have run (a reset
    /// request becomes its mail in a job).
    pub(crate) async fn mails(&self) -> Vec<serde_json::Value> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        while badge_server::jobs::queue::run_due(&self.state, now)
            .await
            .unwrap()
            > 0
        {}
        let rows: Vec<(String,)> = on_pool!(&self.state.db, |p| sqlx::query_as(
            "SELECT payload FROM jobs WHERE kind = 'mail' ORDER BY id"
        )
        .fetch_all(p)
        .await
        .unwrap());
        rows.iter()
            .map(|(p,)| serde_json::from_str(p).unwrap())
            .collect()
    }

    /// The path of the first link to `{PUBLIC}{prefix}` in the newest mail to `to`.
    pub(crate) async fn link_in_mail(&self, to: &str, prefix: &str) -> String {
        let mails = self.mails().await;
        let mail = mails
            .iter()
            .rev()
            .find(|m| m["to"] == to)
            .unwrap_or_else(|| panic!("no mail to {to} in {mails:?}"));
        let text = mail["text"].as_str().unwrap();
        let start = text
            .find(&format!("{PUBLIC}{prefix}"))
            .unwrap_or_else(|| panic!("no {prefix} link in {text}"));
        let url: String = text[start..]
            .chars()
            .take_while(|c| !c.is_whitespace())
            .collect();
        url.strip_prefix(PUBLIC).unwrap().to_string()
    }

    /// An account with a password and a confirmed address, as `user add
    /// --password-file` makes it.
    pub(crate) async fn account(&self, role: Role, email: &str) {
        let email = Email::parse(email).unwrap();
        let a = badge_server::store::accounts::upsert_role(&self.state.db, &email, role)
            .await
            .unwrap();
        let hash = badge_server::domain::password::hash(PASSWORD).unwrap();
        let mut tx = self.state.db.begin().await.unwrap();
        badge_server::store::accounts::set_password(&mut tx, a.id, &hash)
            .await
            .unwrap();
        badge_server::store::accounts::confirm_email(&mut tx, a.id, 1)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
}

/// One response, read whole.
#[derive(Debug)]
pub(crate) struct Resp {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

impl Resp {
    pub(crate) fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .map(|v| v.to_str().unwrap())
            .unwrap_or_else(|| panic!("no Location in {self:?}"))
    }

    pub(crate) fn set_cookie(&self) -> Option<&str> {
        self.headers
            .get(header::SET_COOKIE)
            .map(|v| v.to_str().unwrap())
    }

    /// The value of the form's hidden `csrf` field.
    pub(crate) fn csrf(&self) -> String {
        hidden(&self.body, "csrf")
    }

    #[track_caller]
    pub(crate) fn expect(self, status: u16, text: &str) -> Self {
        assert_eq!(self.status.as_u16(), status, "{self:?}");
        assert!(self.body.contains(text), "{text:?} not in {}", self.body);
        self
    }
}

pub(crate) fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} field in {html}"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_string()
}

/// A browser: keeps the session and device cookies, sends `Origin` on POSTs, comes
/// from one address.
pub(crate) struct Client<'a> {
    app: &'a TestApp,
    pub(crate) cookie: Option<String>,
    /// The device cookie a login leaves (`cx_device=…`).
    pub(crate) device: Option<String>,
    peer: SocketAddr,
    pub(crate) origin: Option<String>,
}

impl Client<'_> {
    pub(crate) async fn send(
        &mut self,
        method: Method,
        path: &str,
        form: Option<&[(&str, &str)]>,
    ) -> Resp {
        let (content_type, body) = match form {
            Some(f) => (
                Some("application/x-www-form-urlencoded"),
                serde_urlencoded::to_string(f).unwrap().into_bytes(),
            ),
            None => (None, vec![]),
        };
        let (status, headers, bytes) = self.send_bytes(method, path, content_type, body).await;
        Resp {
            status,
            headers,
            body: String::from_utf8(bytes.to_vec()).unwrap(),
        }
    }

    /// Sends any body (a multipart form, say) and returns the response's bytes as they
    /// are (a download, say); keeps the cookie like [`Client::send`].
    pub(crate) async fn send_bytes(
        &mut self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<Body>,
    ) -> (StatusCode, HeaderMap, axum::body::Bytes) {
        let mut req = Request::builder().method(method.clone()).uri(path);
        let cookies: Vec<&str> = [&self.cookie, &self.device]
            .into_iter()
            .filter_map(|c| c.as_deref())
            .collect();
        if !cookies.is_empty() {
            req = req.header(header::COOKIE, cookies.join("; "));
        }
        if method == Method::POST
            && let Some(o) = &self.origin
        {
            req = req.header(header::ORIGIN, o);
        }
        if let Some(t) = content_type {
            req = req.header(header::CONTENT_TYPE, t);
        }
        let mut req = req.body(body.into()).unwrap();
        req.extensions_mut().insert(ConnectInfo(self.peer));
        let (status, headers, bytes) = self.app.call(req).await;
        for sc in headers.get_all(header::SET_COOKIE) {
            let sc = sc.to_str().unwrap();
            let pair = sc.split(';').next().unwrap().to_string();
            let kept = (!sc.contains("Max-Age=0")).then_some(pair);
            if sc.starts_with("cx_device=") || sc.starts_with("__Host-cx_device=") {
                self.device = kept;
            } else {
                self.cookie = kept;
            }
        }
        (status, headers, bytes)
    }

    pub(crate) async fn get(&mut self, path: &str) -> Resp {
        self.send(Method::GET, path, None).await
    }

    pub(crate) async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Resp {
        self.send(Method::POST, path, Some(form)).await
    }

    /// Opens `page`, fills its form with `fields` and the page's CSRF token, submits.
    pub(crate) async fn submit(
        &mut self,
        page: &str,
        action: &str,
        fields: &[(&str, &str)],
    ) -> Resp {
        let csrf = self.get(page).await.csrf();
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post(action, &all).await
    }

    /// Follows the 303 of a step that worked (post/redirect/get) to the page it
    /// names, where the step's notice is shown once.
    #[track_caller]
    pub(crate) fn follow(&mut self, r: Resp) -> impl std::future::Future<Output = Resp> + '_ {
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{r:?}");
        let to = r.location().to_string();
        async move { self.get(&to).await }
    }

    pub(crate) async fn login(&mut self, email: &str, password: &str) -> Resp {
        self.submit(
            "/login",
            "/login",
            &[("email", email), ("password", password)],
        )
        .await
    }
}

fn register_fields<'a>(email: &'a str, password: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("email", email),
        ("password", password),
        ("password2", password),
        ("role", "user"),
    ]
}

#[tokio::test]
async fn a_visitor_registers_confirms_by_the_mailed_link_logs_in_and_logging_out_ends_the_session_on_the_server()
 {
    for backend in Backend::all() {
        let t = TestApp::new(backend).await;
        let mut b = t.browser();
        let form = b.get("/register").await.expect(200, "注册");
        let anonymous = b.cookie.clone().unwrap();
        let sc = form.set_cookie().unwrap();
        assert!(sc.starts_with("cx_session="), "{sc}");
        for attr in ["HttpOnly", "SameSite=Lax", "Path=/"] {
            assert!(sc.contains(attr), "{attr} missing from {sc}");
        }
        assert!(!sc.contains("Secure"), "http public URL, yet {sc}");
        let csp = form.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        assert!(
            csp.contains("default-src 'none'") && csp.contains("form-action 'self'"),
            "{csp}"
        );
        assert_eq!(form.headers[header::CACHE_CONTROL], "no-store");

        let mut fields = register_fields("li.lei@example.cn", PASSWORD);
        fields[3] = ("role", "operator");
        let csrf = form.csrf();
        fields.push(("csrf", &csrf));
        b.post("/register", &fields)
            .await
            .expect(200, "li.lei@example.cn");
        assert_eq!(
            t.scalar("SELECT COUNT(*) FROM accounts WHERE email = 'li.lei@example.cn' AND role = 'operator' AND email_confirmed_at IS NULL").await,
            1
        );
        let mails = t.mails().await;
        assert_eq!(mails.len(), 1);
        let text = mails[0]["text"].as_str().unwrap();
        assert!(
            text.find("请打开以下链接").unwrap() < text.find("Open this link").unwrap(),
            "Chinese first: {text}"
        );

        // Not before the address is confirmed.
        b.login("li.lei@example.cn", PASSWORD)
            .await
            .expect(403, "Confirm your e-mail address first");
        let confirm = t.link_in_mail("li.lei@example.cn", "/confirm?token=").await;
        let token = confirm
            .split_once("token=")
            .map(|(_, t)| t.to_string())
            .unwrap();
        // Opening the link (as a mail scanner would) only shows the button.
        let page = b.get(&confirm).await.expect(200, "Confirm my address");
        assert_eq!(hidden(&page.body, "token"), token);
        assert_eq!(
            t.scalar("SELECT COUNT(*) FROM accounts WHERE email = 'li.lei@example.cn' AND email_confirmed_at IS NULL").await,
            1
        );
        // Without the form's CSRF token the button does nothing.
        b.post("/confirm", &[("token", &token)])
            .await
            .expect(403, "security token");
        assert_eq!(
            t.scalar("SELECT COUNT(*) FROM accounts WHERE email = 'li.lei@example.cn' AND email_confirmed_at IS NULL").await,
            1
        );
        b.submit(&confirm, "/confirm", &[("token", &token)])
            .await
            .expect(200, "Address confirmed");
        b.submit(&confirm, "/confirm", &[("token", &token)])
            .await
            .expect(400, "This link has already been used");

        let r = b.login("li.lei@example.cn", PASSWORD).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{r:?}");
        assert_eq!(r.location(), "/account");
        let signed_in = b.cookie.clone().unwrap();
        assert_ne!(signed_in, anonymous, "login rotates the session id");
        let sc = r.set_cookie().unwrap();
        assert!(sc.contains("HttpOnly") && sc.contains("SameSite=Lax") && sc.contains("Path=/"));
        let page = b.get("/account").await.expect(200, "li.lei@example.cn");
        assert!(page.body.contains("operator"));
        assert!(page.body.contains("id=\"logout\""));

        // The database holds the session's hash, never its id.
        let id = signed_in.split_once('=').unwrap().1;
        assert_eq!(
            t.scalar("SELECT COUNT(*) FROM sessions WHERE account_id IS NOT NULL")
                .await,
            1
        );
        let stored: (Vec<u8>,) = on_pool!(&t.state.db, |p| sqlx::query_as(
            "SELECT id_hash FROM sessions WHERE account_id IS NOT NULL"
        )
        .fetch_one(p)
        .await
        .unwrap());
        assert_eq!(stored.0.len(), 32);
        assert_ne!(stored.0, id.as_bytes());

        // The anonymous session it replaced is gone.
        let mut old = t.browser();
        old.cookie = Some(anonymous);
        assert_eq!(old.get("/account").await.status, StatusCode::SEE_OTHER);

        let csrf = page.csrf();
        let out = b.post("/logout", &[("csrf", &csrf)]).await;
        assert_eq!(out.status, StatusCode::SEE_OTHER);
        assert!(out.set_cookie().unwrap().contains("Max-Age=0"));
        assert_eq!(
            t.scalar("SELECT COUNT(*) FROM sessions WHERE account_id IS NOT NULL")
                .await,
            0
        );
        // Replaying the cookie after logout gets nowhere: the server forgot the session.
        let mut replay = t.browser();
        replay.cookie = Some(signed_in);
        let r = replay.get("/account").await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        assert_eq!(r.location(), "/login?next=%2Faccount");
    }
}

#[tokio::test]
async fn an_https_public_url_makes_the_session_cookie_secure_and_host_only() {
    let t = TestApp::with_public_url(Backend::Sqlite, "https://chengxin.example").await;
    let mut b = t.browser();
    b.origin = Some("https://chengxin.example".into());
    let r = b.get("/login").await.expect(200, "登录");
    // Served over https, browsers are told to stay on https.
    assert_eq!(r.headers["strict-transport-security"], "max-age=31536000");
    let sc = r.set_cookie().unwrap();
    assert!(sc.starts_with("__Host-cx_session="), "{sc}");
    assert!(sc.contains("; Secure") && sc.contains("HttpOnly") && sc.contains("Path=/"));
    t.account(Role::User, "wang@example.cn").await;
    let r = b.login("wang@example.cn", PASSWORD).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{r:?}");
    b.get("/account").await.expect(200, "wang@example.cn");
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_address_get_the_same_answer_and_five_failures_lock_the_account_until_the_lock_ends()
 {
    for backend in Backend::all() {
        let t = TestApp::new(backend).await;
        t.account(Role::User, "zhao@example.cn").await;
        let mut b = t.browser();
        let wrong = b.login("zhao@example.cn", "not the password").await;
        let unknown = b.login("nobody@example.cn", "not the password").await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
        assert_eq!(unknown.status, wrong.status);
        let message = |r: &Resp| {
            let s = r.body.find("id=\"error\"").unwrap();
            r.body[s..].split("</p>").next().unwrap().to_string()
        };
        assert_eq!(message(&wrong), message(&unknown));
        assert!(message(&wrong).contains("Wrong e-mail or password"));
        // The form keeps the address typed, never the password.
        assert!(wrong.body.contains("value=\"zhao@example.cn\""));
        assert!(!wrong.body.contains("not the password"));

        for _ in 0..4 {
            b.login("zhao@example.cn", "not the password")
                .await
                .expect(401, "Wrong e-mail or password");
        }
        // Five failures: even the right password is refused from here, with the same
        // answer.
        let locked = b.login("zhao@example.cn", PASSWORD).await;
        assert_eq!(locked.status, StatusCode::UNAUTHORIZED);
        assert_eq!(message(&locked), message(&unknown));
        let until = t
            .scalar("SELECT locked_until FROM login_failures WHERE client = 'net:192.0.2.10'")
            .await;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        assert!((now + 14 * 60..=now + 15 * 60).contains(&until), "{until}");
        assert_eq!(
            t.scalar("SELECT COUNT(*) FROM sessions WHERE account_id IS NOT NULL")
                .await,
            0
        );
        // The guesser locked out only themselves: the owner, elsewhere, signs in.
        let mut owner = t.browser_at("198.51.100.7:40000");
        let r = owner.login("zhao@example.cn", PASSWORD).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{backend:?} {r:?}");
        assert!(owner.device.is_some(), "a login leaves a device cookie");

        // The lock ends.
        t.exec(&format!(
            "UPDATE login_failures SET locked_until = {} WHERE client = 'net:192.0.2.10'",
            now - 1
        ))
        .await;
        let r = b.login("zhao@example.cn", PASSWORD).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{r:?}");
        assert_eq!(
            t.scalar("SELECT COUNT(*) FROM login_failures WHERE client LIKE 'net:%'")
                .await,
            0,
            "a login forgets its client's failures"
        );
    }
}

#[tokio::test]
async fn guessing_from_many_networks_locks_unknown_clients_but_never_a_browser_that_signed_in_before()
 {
    for backend in Backend::all() {
        let t = TestApp::new(backend).await;
        t.account(Role::Staff, "sun@example.cn").await;
        let mut staff = t.browser_at("203.0.113.5:1000");
        staff
            .login("sun@example.cn", PASSWORD)
            .await
            .expect(303, "");
        let device = staff.device.clone().expect("a device cookie");
        staff.cookie = None;
        // An attacker spreads guesses over many networks (an IPv6 /64 counts as one).
        let limit = account::UNKNOWN_CLIENTS_MAX_FAILURES;
        for i in 0..limit {
            let mut g = t.browser_at(&format!("[2001:db8:{i:x}::1]:5000"));
            g.login("sun@example.cn", "a guess")
                .await
                .expect(401, "Wrong e-mail");
        }
        // Now every unknown client is locked out, the right password included…
        let mut fresh = t.browser_at("198.51.100.99:7000");
        fresh
            .login("sun@example.cn", PASSWORD)
            .await
            .expect(401, "Wrong e-mail or password");
        // …but the staff member's own browser still signs in, from anywhere.
        let mut own = t.browser_at("192.0.2.200:8000");
        own.device = Some(device.clone());
        own.login("sun@example.cn", PASSWORD).await.expect(303, "");
        // A device cookie is good only for the account it was given for, and a forged
        // one is an unknown client.
        let mut forged = t.browser_at("192.0.2.201:8000");
        forged.device = Some(format!("cx_device={}", "A".repeat(43)));
        forged
            .login("sun@example.cn", PASSWORD)
            .await
            .expect(401, "Wrong e-mail or password");
        // A password reset lifts every lock.
        let id = t
            .scalar("SELECT id FROM accounts WHERE email = 'sun@example.cn'")
            .await;
        let mut tx = t.state.db.begin().await.unwrap();
        badge_server::store::accounts::set_password(
            &mut tx,
            id,
            &badge_server::domain::password::hash(PASSWORD).unwrap(),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(
            t.scalar("SELECT COUNT(*) FROM login_failures").await,
            0,
            "{backend:?}"
        );
        fresh
            .login("sun@example.cn", PASSWORD)
            .await
            .expect(303, "");
    }
}

#[tokio::test]
async fn one_address_gets_only_so_many_login_attempts_while_others_are_unaffected() {
    let mut t = TestApp::new(Backend::Sqlite).await;
    t.state.login_limiter = Arc::new(badge_server::service::limiter::IpLimiter::new(3, 600));
    t.rebuild();
    t.account(Role::User, "qian@example.cn").await;
    let mut guesser = t.browser_at("198.51.100.7:40000");
    for _ in 0..3 {
        guesser
            .login("qian@example.cn", "guess guess guess")
            .await
            .expect(401, "Wrong");
    }
    guesser
        .login("qian@example.cn", PASSWORD)
        .await
        .expect(429, "Too many attempts");
    let mut owner = t.browser_at("203.0.113.9:40000");
    assert_eq!(
        owner.login("qian@example.cn", PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn a_reset_link_sets_a_new_password_once_ends_every_session_and_expired_or_used_links_are_refused()
 {
    for backend in Backend::all() {
        let t = TestApp::new(backend).await;
        t.account(Role::Operator, "sun@example.cn").await;
        let sun = badge_server::store::accounts::upsert_role(
            &t.state.db,
            &Email::parse("sun@example.cn").unwrap(),
            Role::Operator,
        )
        .await
        .unwrap();
        let old_token =
            badge_server::store::accounts::create_token(&t.state.db, &sun, "before the reset")
                .await
                .unwrap();
        assert_eq!(me(&t, &old_token).await, StatusCode::OK);
        let mut other_device = t.browser();
        assert_eq!(
            other_device.login("sun@example.cn", PASSWORD).await.status,
            StatusCode::SEE_OTHER
        );

        let mut b = t.browser();
        // An unknown address gets the same answer and no mail, after the same work:
        // one queued request each, no link made before the queue runs (the answer's
        // timing must not tell which addresses have accounts).
        let writes = || async {
            [
                t.scalar("SELECT COUNT(*) FROM jobs").await,
                t.scalar("SELECT COUNT(*) FROM email_tokens").await,
            ]
        };
        let before = writes().await;
        for address in ["nobody@example.cn", "sun@example.cn"] {
            b.submit(
                "/password/forgot",
                "/password/forgot",
                &[("email", address)],
            )
            .await
            .expect(200, &format!("If {address} has an account"));
        }
        let after = writes().await;
        assert_eq!(after, [before[0] + 2, before[1]], "{backend:?}");
        let mails = t.mails().await;
        assert!(
            mails.iter().all(|m| m["to"] != "nobody@example.cn") && mails.len() == 1,
            "{mails:?}"
        );
        let first = t
            .link_in_mail("sun@example.cn", "/password/reset?token=")
            .await;
        b.submit(
            "/password/forgot",
            "/password/forgot",
            &[("email", "sun@example.cn")],
        )
        .await
        .expect(200, "Check your mail");
        let link = t
            .link_in_mail("sun@example.cn", "/password/reset?token=")
            .await;
        assert_ne!(first, link);
        // A newer link retires the older one.
        b.get(&first).await.expect(400, "already been used");

        let page = b.get(&link).await.expect(200, "Set a new password");
        let token = hidden(&page.body, "token");
        let csrf = page.csrf();
        let new = "a brand new passphrase";
        // Mismatched: refused, link still good.
        b.post(
            "/password/reset",
            &[
                ("csrf", &csrf),
                ("token", &token),
                ("password", new),
                ("password2", "something else entirely"),
            ],
        )
        .await
        .expect(422, "The two passwords differ");
        b.post(
            "/password/reset",
            &[
                ("csrf", &csrf),
                ("token", &token),
                ("password", new),
                ("password2", new),
            ],
        )
        .await
        .expect(200, "Password changed");
        // Every session of the account ended, and its API tokens were revoked.
        assert_eq!(
            other_device.get("/account").await.status,
            StatusCode::SEE_OTHER
        );
        assert_eq!(me(&t, &old_token).await, StatusCode::UNAUTHORIZED);
        // Used: refused, on the page and on a replayed submission.
        b.get(&link).await.expect(400, "already been used");
        b.post(
            "/password/reset",
            &[
                ("csrf", &csrf),
                ("token", &token),
                ("password", "yet another passphrase"),
                ("password2", "yet another passphrase"),
            ],
        )
        .await
        .expect(400, "already been used");
        b.login("sun@example.cn", PASSWORD)
            .await
            .expect(401, "Wrong");
        assert_eq!(
            b.login("sun@example.cn", new).await.status,
            StatusCode::SEE_OTHER
        );

        // Expired: refused.
        let mut c = t.browser();
        c.submit(
            "/password/forgot",
            "/password/forgot",
            &[("email", "sun@example.cn")],
        )
        .await
        .expect(200, "Check your mail");
        let link = t
            .link_in_mail("sun@example.cn", "/password/reset?token=")
            .await;
        let page = c.get(&link).await.expect(200, "Set a new password");
        t.exec("UPDATE email_tokens SET expires_at = 1 WHERE used_at IS NULL")
            .await;
        c.get(&link).await.expect(400, "This link has expired");
        let (token, csrf) = (hidden(&page.body, "token"), page.csrf());
        c.post(
            "/password/reset",
            &[
                ("csrf", &csrf),
                ("token", &token),
                ("password", "expired link password"),
                ("password2", "expired link password"),
            ],
        )
        .await
        .expect(400, "This link has expired");
        let mut d = t.browser();
        assert_eq!(
            d.login("sun@example.cn", new).await.status,
            StatusCode::SEE_OTHER
        );
        b.get("/password/reset?token=nonsense")
            .await
            .expect(400, "This link is not valid");
    }
}

#[tokio::test]
async fn a_form_without_its_csrf_token_or_from_another_origin_is_refused_and_changes_nothing() {
    for backend in Backend::all() {
        let t = TestApp::new(backend).await;
        let mut b = t.browser();
        let csrf = b.get("/register").await.csrf();
        let fields = register_fields("zhou@example.cn", PASSWORD);

        // Missing token.
        b.post("/register", &fields)
            .await
            .expect(403, "security token is missing or wrong");
        // Wrong token.
        let mut wrong = fields.clone();
        wrong.push(("csrf", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
        b.post("/register", &wrong)
            .await
            .expect(403, "Nothing was changed");
        // Another session's token.
        let mut other = t.browser();
        let theirs = other.get("/register").await.csrf();
        let mut stolen = fields.clone();
        stolen.push(("csrf", &theirs));
        b.post("/register", &stolen)
            .await
            .expect(403, "security token");
        // The right token twice (a second, different value smuggled in).
        let mut doubled = fields.clone();
        doubled.push(("csrf", &csrf));
        doubled.push(("csrf", "x"));
        b.post("/register", &doubled)
            .await
            .expect(403, "security token");
        // The right token without the session cookie.
        let mut good = fields.clone();
        good.push(("csrf", &csrf));
        let mut cookieless = t.browser();
        cookieless
            .post("/register", &good)
            .await
            .expect(403, "security token");
        // The right token and cookie, from another origin.
        b.origin = Some("https://evil.example".into());
        b.post("/register", &good)
            .await
            .expect(403, "not submitted from a page of this site");
        b.origin = Some("null".into());
        b.post("/register", &good).await.expect(403, "Wrong origin");
        assert_eq!(t.scalar("SELECT COUNT(*) FROM accounts").await, 0);
        assert_eq!(t.scalar("SELECT COUNT(*) FROM jobs").await, 0);
        // The same submission from our own page works.
        b.origin = Some(PUBLIC.into());
        b.post("/register", &good)
            .await
            .expect(200, "Check your mail");
        assert_eq!(t.scalar("SELECT COUNT(*) FROM accounts").await, 1);

        // Logout without the token leaves the session alive.
        t.account(Role::User, "wu@example.cn").await;
        let mut u = t.browser();
        u.login("wu@example.cn", PASSWORD).await;
        u.post("/logout", &[]).await.expect(403, "security token");
        u.post("/logout", &[("csrf", &theirs)])
            .await
            .expect(403, "security token");
        u.get("/account").await.expect(200, "wu@example.cn");
    }
}

#[tokio::test]
async fn login_sends_back_to_a_local_page_only() {
    let t = TestApp::new(Backend::Sqlite).await;
    t.account(Role::Staff, "zheng@example.cn").await;
    // A page that needs a login names itself in `next`.
    let mut b = t.browser();
    let r = b.get("/console?tab=queue").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), "/login?next=%2Fconsole%3Ftab%3Dqueue");
    for (next, expect) in [
        ("/console?tab=queue", "/console?tab=queue"),
        ("https://evil.example/", "/account"),
        ("//evil.example/", "/account"),
        ("/\\evil.example", "/account"),
        ("javascript:alert(1)", "/account"),
    ] {
        let mut b = t.browser();
        let page = b
            .get(&format!(
                "/login?next={}",
                url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
            ))
            .await;
        // The form never carries an off-site target…
        assert_eq!(hidden(&page.body, "next"), expect.replace("/account", ""));
        // …and the login refuses one even when posted directly.
        let csrf = page.csrf();
        let r = b
            .post(
                "/login",
                &[
                    ("csrf", &csrf),
                    ("email", "zheng@example.cn"),
                    ("password", PASSWORD),
                    ("next", next),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{r:?}");
        assert_eq!(r.location(), expect, "next={next}");
    }
}

#[tokio::test]
async fn the_json_api_takes_bearer_tokens_only_and_ignores_a_session_cookie() {
    for backend in Backend::all() {
        let t = TestApp::new(backend).await;
        t.account(Role::Operator, "feng@example.cn").await;
        let mut b = t.browser();
        b.login("feng@example.cn", PASSWORD).await;
        b.get("/account").await.expect(200, "feng@example.cn");
        let r = b.get("/api/v1/me").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{r:?}");
        assert!(r.set_cookie().is_none());
        let a = badge_server::store::accounts::ensure(
            &t.state.db,
            &Email::parse("feng@example.cn").unwrap(),
            Role::Operator,
        )
        .await
        .unwrap();
        let token = badge_server::store::accounts::create_token(&t.state.db, &a, "test")
            .await
            .unwrap();
        let req = Request::get("/api/v1/me")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::COOKIE, b.cookie.clone().unwrap())
            .body(Body::empty())
            .unwrap();
        let resp = t.app.clone().oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn who_may_see_the_account_page_and_the_console() {
    for backend in Backend::all() {
        let t = TestApp::new(backend).await;
        // (role, /account, /console); None is a visitor without a login.
        let matrix: [(Option<Role>, u16, u16); 5] = [
            (None, 303, 303),
            (Some(Role::User), 200, 403),
            (Some(Role::Operator), 200, 403),
            (Some(Role::Staff), 200, 200),
            (Some(Role::Admin), 200, 200),
        ];
        for (role, account_status, console_status) in matrix {
            let mut b = t.browser();
            if let Some(role) = role {
                let email = format!("{role}@example.cn");
                t.account(role, &email).await;
                assert_eq!(
                    b.login(&email, PASSWORD).await.status,
                    StatusCode::SEE_OTHER
                );
            }
            let account = b.get("/account").await;
            let console = b.get("/console").await;
            assert_eq!(account.status.as_u16(), account_status, "{role:?} /account");
            assert_eq!(console.status.as_u16(), console_status, "{role:?} /console");
            if let Some(role) = role {
                assert!(account.body.contains(role.as_str()));
                // The header links the console exactly for those who may open it.
                assert_eq!(
                    account.body.contains("href=\"/console\""),
                    console_status == 200
                );
            }
            if console_status == 403 {
                assert!(console.body.contains("Forbidden"));
            }
        }
    }
}

#[tokio::test]
async fn bad_input_on_every_form_gets_a_clear_message_and_changes_nothing() {
    for backend in Backend::all() {
        let t = TestApp::new(backend).await;
        let mut b = t.browser();
        let long_email = format!("{}@example.cn", "a".repeat(250));
        let long_password = "长".repeat(60);
        let script = "<script>alert(1)</script>@example.cn";
        let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
            (register_fields("", PASSWORD), "Enter your e-mail address"),
            (
                register_fields("not-an-address", PASSWORD),
                "invalid e-mail address",
            ),
            (register_fields(&long_email, PASSWORD), "longer than 254"),
            (register_fields(script, PASSWORD), "invalid e-mail address"),
            (register_fields("ok@example.cn", ""), "Enter a password"),
            (
                register_fields("ok@example.cn", "short"),
                "at least 10 characters",
            ),
            (register_fields("ok@example.cn", "1234567890"), "too weak"),
            (register_fields("ok@example.cn", &long_password), "too long"),
            (
                vec![
                    ("email", "ok@example.cn"),
                    ("password", PASSWORD),
                    ("password2", "different password"),
                    ("role", "user"),
                ],
                "The two passwords differ",
            ),
            (
                vec![
                    ("email", "ok@example.cn"),
                    ("password", PASSWORD),
                    ("password2", PASSWORD),
                    ("role", "staff"),
                ],
                "visitor or a site operator only",
            ),
        ];
        for (fields, message) in cases {
            let r = b.submit("/register", "/register", &fields).await;
            assert_eq!(
                r.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{fields:?}: {r:?}"
            );
            assert!(
                r.body.contains(message),
                "{message:?} for {fields:?}: {}",
                r.body
            );
            assert!(!r.body.contains("<script>"), "escaped");
        }
        b.submit("/login", "/login", &[("email", ""), ("password", "x")])
            .await
            .expect(422, "Enter your e-mail address");
        b.submit(
            "/login",
            "/login",
            &[("email", "ok@example.cn"), ("password", "")],
        )
        .await
        .expect(422, "Enter your password");
        b.submit("/password/forgot", "/password/forgot", &[("email", "nope")])
            .await
            .expect(422, "invalid e-mail address");
        let csrf = b.get("/login").await.csrf();
        b.post("/login", &[("csrf", &csrf), ("email", "%%%")])
            .await
            .expect(422, "invalid e-mail address");
        b.get("/confirm?token=")
            .await
            .expect(400, "This link is not valid");
        b.get("/confirm")
            .await
            .expect(400, "This link is not valid");
        b.submit("/login", "/confirm", &[("token", "forged")])
            .await
            .expect(400, "This link is not valid");
        assert_eq!(t.scalar("SELECT COUNT(*) FROM accounts").await, 0);
        assert_eq!(t.scalar("SELECT COUNT(*) FROM jobs").await, 0);
    }
}

#[tokio::test]
async fn registering_an_address_that_has_an_account_looks_the_same_and_tells_its_owner() {
    for backend in Backend::all() {
        let t = TestApp::new(backend).await;
        t.account(Role::Staff, "chen@example.cn").await;
        let mut b = t.browser();
        b.submit(
            "/register",
            "/register",
            &register_fields("chen@example.cn", "another passphrase"),
        )
        .await
        .expect(200, "Check your mail");
        assert_eq!(t.scalar("SELECT COUNT(*) FROM accounts").await, 1);
        assert_eq!(
            t.scalar("SELECT COUNT(*) FROM accounts WHERE role = 'staff'")
                .await,
            1
        );
        let mails = t.mails().await;
        assert_eq!(mails.len(), 1);
        assert!(
            mails[0]["text"]
                .as_str()
                .unwrap()
                .contains("already has one")
        );
        assert_eq!(
            b.login("chen@example.cn", PASSWORD).await.status,
            StatusCode::SEE_OTHER
        );
    }
}

/// `GET /api/v1/me` with `token`: the status.
async fn me(t: &TestApp, token: &str) -> StatusCode {
    let req = Request::get("/api/v1/me")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    t.call(req).await.0
}

#[tokio::test]
async fn api_tokens_expire_are_listed_without_secrets_and_can_be_revoked_by_their_owner_only() {
    for backend in Backend::all() {
        let t = TestApp::new(backend).await;
        t.account(Role::Operator, "sun@example.cn").await;
        let sun = badge_server::store::accounts::upsert_role(
            &t.state.db,
            &Email::parse("sun@example.cn").unwrap(),
            Role::Operator,
        )
        .await
        .unwrap();
        let moon = badge_server::store::accounts::upsert_role(
            &t.state.db,
            &Email::parse("moon@example.cn").unwrap(),
            Role::Operator,
        )
        .await
        .unwrap();
        let main = badge_server::store::accounts::create_token(&t.state.db, &sun, "deploy")
            .await
            .unwrap();
        let short =
            badge_server::store::accounts::create_token_for(&t.state.db, &sun, "one day", 1)
                .await
                .unwrap();
        let theirs = badge_server::store::accounts::create_token(&t.state.db, &moon, "moon")
            .await
            .unwrap();
        assert!(matches!(
            badge_server::store::accounts::create_token_for(&t.state.db, &sun, "forever", 10_000)
                .await,
            Err(badge_server::AppError::Invalid(_))
        ));
        for tok in [&main, &short, &theirs] {
            assert_eq!(me(&t, tok).await, StatusCode::OK);
        }
        // Listed newest first, with expiry, never with the secret.
        let list = Request::get("/api/v1/me/tokens")
            .header("authorization", format!("Bearer {main}"))
            .body(Body::empty())
            .unwrap();
        let (status, _, body) = t.call(list).await;
        assert_eq!(status, StatusCode::OK);
        let text = String::from_utf8_lossy(&body).to_string();
        assert!(
            !text.contains("cx_") && !text.contains(&main[3..]),
            "{text}"
        );
        let listed: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let listed = listed.as_array().unwrap();
        assert_eq!(listed.len(), 2, "only the account's own tokens: {text}");
        assert_eq!(listed[0]["label"], "one day");
        let day =
            listed[0]["expires_at"].as_i64().unwrap() - listed[0]["created_at"].as_i64().unwrap();
        assert_eq!(day, 86_400);
        let ninety =
            listed[1]["expires_at"].as_i64().unwrap() - listed[1]["created_at"].as_i64().unwrap();
        assert_eq!(ninety, 90 * 86_400);

        // Expired: refused.
        t.exec("UPDATE api_tokens SET expires_at = 1 WHERE label = 'one day'")
            .await;
        assert_eq!(me(&t, &short).await, StatusCode::UNAUTHORIZED);

        // Revoked by its owner: refused from then on; another's token is not theirs.
        let ids: Vec<i64> = listed.iter().map(|t| t["id"].as_i64().unwrap()).collect();
        let (moon_id,): (i64,) = ca::on_pool!(&t.state.db, |p| sqlx::query_as(
            "SELECT id FROM api_tokens WHERE label = 'moon'"
        )
        .fetch_one(p)
        .await
        .unwrap());
        let delete = |id: i64, tok: &str| {
            Request::delete(format!("/api/v1/me/tokens/{id}"))
                .header("authorization", format!("Bearer {tok}"))
                .body(Body::empty())
                .unwrap()
        };
        assert_eq!(
            t.call(delete(moon_id, &main)).await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(me(&t, &theirs).await, StatusCode::OK);
        assert_eq!(
            t.call(delete(ids[1], &main)).await.0,
            StatusCode::NO_CONTENT
        );
        assert_eq!(me(&t, &main).await, StatusCode::UNAUTHORIZED);
        let audit = t
            .scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'token.revoke'")
            .await;
        assert_eq!(audit, 1);

        // The account page lists them and revokes with its form.
        let fresh = badge_server::store::accounts::create_token(&t.state.db, &sun, "laptop")
            .await
            .unwrap();
        let mut b = t.browser();
        b.login("sun@example.cn", PASSWORD).await;
        let page = b.get("/account").await.expect(200, "id=\"tokens\"");
        assert!(page.body.contains("laptop") && page.body.contains("data-state=\"revoked\""));
        let (fresh_id,): (i64,) = ca::on_pool!(&t.state.db, |p| sqlx::query_as(
            "SELECT id FROM api_tokens WHERE label = 'laptop'"
        )
        .fetch_one(p)
        .await
        .unwrap());
        let r = b
            .submit(
                "/account",
                &format!("/account/tokens/{fresh_id}/revoke"),
                &[],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{r:?}");
        assert_eq!(me(&t, &fresh).await, StatusCode::UNAUTHORIZED);
    }
}

/// Showing a form writes nothing, and visitors who hang up at any moment leave the
/// server writing. 80 anonymous clients opening `/login` with a 50 ms timeout wedged
/// the SQLite server in 15 s: each view wrote a session in a transaction, and a
/// request cut off at the wrong moment left its connection inside it. Here 320 views
/// are cut off between 0 and 4 ms; afterwards no session row exists, a login (a
/// write) works, and the anonymous form's token still guards the form.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hurried_anonymous_visitors_write_nothing_and_do_not_stop_the_server_writing() {
    for backend in Backend::all() {
        let t = TestApp::new(backend).await;
        t.account(Role::User, "wang@example.cn").await;
        for round in 0..4u64 {
            let views = (0..80u64).map(|k| {
                let req = Request::get("/login")
                    .extension(ConnectInfo(SocketAddr::from(([192, 0, 2, 20], 40000))))
                    .body(Body::empty())
                    .unwrap();
                let cut = std::time::Duration::from_micros((round * 80 + k) * 12);
                let app = t.app.clone();
                async move {
                    let _ = tokio::time::timeout(cut, app.oneshot(req)).await;
                }
            });
            futures_util::future::join_all(views).await;
        }
        let mut b = t.browser();
        let page = b.get("/login").await.expect(200, "登录");
        assert_eq!(
            t.scalar("SELECT COUNT(*) FROM sessions").await,
            0,
            "{backend:?}"
        );
        assert!(b.cookie.as_deref().unwrap().starts_with("cx_session=a."));
        assert!(page.set_cookie().unwrap().contains("Max-Age=7200"));
        // The same visitor sees the same token; a forged one is refused.
        assert_eq!(b.get("/login").await.csrf(), page.csrf());
        let forged = b
            .post(
                "/login",
                &[
                    ("csrf", "A".repeat(43).as_str()),
                    ("email", "wang@example.cn"),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN, "{backend:?}");
        let r = b.login("wang@example.cn", PASSWORD).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{backend:?}: {r:?}");
        b.get("/account").await.expect(200, "wang@example.cn");
        assert_eq!(
            t.scalar("SELECT COUNT(*) FROM sessions").await,
            1,
            "{backend:?}"
        );

        // An anonymous session is good for two hours after it was issued: signed with
        // the server's key, a cookie issued 3 h ago is refused, one issued now works.
        let (key,): (Vec<u8>,) = on_pool!(&t.state.db, |p| sqlx::query_as(
            "SELECT secret FROM server_keys WHERE name = 'form'"
        )
        .fetch_one(p)
        .await
        .unwrap());
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        for (issued, status) in [
            (now - 3 * 3600, StatusCode::FORBIDDEN),
            (now, StatusCode::SEE_OTHER),
        ] {
            let value = format!("a.{issued}.{}", "B".repeat(43));
            let tag = ring::hmac::sign(
                &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key),
                value.as_bytes(),
            );
            let csrf = base64::Engine::encode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                tag.as_ref(),
            );
            let mut v = t.browser();
            v.cookie = Some(format!("cx_session={value}"));
            let r = v
                .post(
                    "/login",
                    &[
                        ("csrf", csrf.as_str()),
                        ("email", "wang@example.cn"),
                        ("password", PASSWORD),
                    ],
                )
                .await;
            assert_eq!(r.status, status, "{backend:?} issued {issued}: {r:?}");
        }
    }
}

#[tokio::test]
async fn metrics_need_their_token_api_answers_are_not_stored_and_plain_http_gets_no_hsts() {
    let mut t = TestApp::new(Backend::Sqlite).await;
    let metrics = |token: Option<&str>| {
        let mut req = Request::get("/metrics");
        if let Some(tok) = token {
            req = req.header("authorization", format!("Bearer {tok}"));
        }
        req.body(Body::empty()).unwrap()
    };
    // No token configured: /metrics is off.
    assert_eq!(t.call(metrics(None)).await.0, StatusCode::NOT_FOUND);
    t.state.metrics = Some(
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .build_recorder()
            .handle(),
    );
    t.state.metrics_token = Some("scrape-secret-1234".into());
    t.rebuild();
    assert_eq!(t.call(metrics(None)).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        t.call(metrics(Some("guess"))).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        t.call(metrics(Some("scrape-secret-1234"))).await.0,
        StatusCode::OK
    );

    // API answers (accounts, complaints, evidence) are never stored by a cache.
    let sun = badge_server::store::accounts::upsert_role(
        &t.state.db,
        &Email::parse("sun@example.cn").unwrap(),
        Role::Operator,
    )
    .await
    .unwrap();
    let token = badge_server::store::accounts::create_token(&t.state.db, &sun, "cache")
        .await
        .unwrap();
    let me = Request::get("/api/v1/me")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let (status, headers, _) = t.call(me).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["cache-control"], "no-store");
    // Over plain http there is no HSTS header.
    let (_, headers, _) = t
        .call(Request::get("/healthz").body(Body::empty()).unwrap())
        .await;
    assert!(headers.get("strict-transport-security").is_none());
}
