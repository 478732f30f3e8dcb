//! The operator portal, the staff console and the complaint pages, through the real
//! router on both backends: who may open and post to what (role × route × own or
//! someone else's), CSRF on every form, bad input answered on the form with nothing
//! changed, and user text escaped wherever it is shown.

use axum::http::StatusCode;
use badge_server::domain::account::{Account, Email, Role};
use testkit::Backend;

use crate::accounts::{Client, PASSWORD, Resp, TestApp};

pub(crate) const USER: &str = "visitor@example.cn";
pub(crate) const OPERATOR: &str = "op@chenxi-shuzhi.cn";
const OTHER: &str = "op@other-shop.cn";
pub(crate) const STAFF: &str = "staff@chengxin.test";
/// Form fields.
type Fields<'a> = Vec<(&'a str, &'a str)>;
/// Who posts, where, what.
type Post<'a> = (&'a str, String, Fields<'a>);

const COMPLAINT: &str = "付款后不发货，客服电话13812345678不接，请处理。";

pub(crate) async fn account_of(t: &TestApp, role: Role, email: &str) -> Account {
    t.account(role, email).await;
    badge_server::store::accounts::upsert_role(&t.state.db, &Email::parse(email).unwrap(), role)
        .await
        .unwrap()
}

pub(crate) async fn signed_in<'a>(t: &'a TestApp, email: &str) -> Client<'a> {
    let mut b = t.browser();
    let r = b.login(email, PASSWORD).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "login {email}: {r:?}");
    b
}

/// Everything the pages could change, to compare before and after refused posts.
async fn counts(t: &TestApp) -> Vec<i64> {
    let mut out = vec![];
    for sql in [
        "SELECT COUNT(*) FROM applications",
        "SELECT COUNT(*) FROM applications WHERE status IN ('certified', 'rejected')",
        "SELECT COUNT(*) FROM sites",
        "SELECT COUNT(*) FROM complaints",
        "SELECT COUNT(*) FROM complaint_events",
        "SELECT COUNT(*) FROM fraud_warnings",
        "SELECT COUNT(*) FROM fraud_warnings WHERE withdrawn_at IS NOT NULL",
        "SELECT COUNT(*) FROM revocations",
        "SELECT COUNT(*) FROM audit_log",
        "SELECT COUNT(*) FROM jobs",
    ] {
        out.push(t.scalar(sql).await);
    }
    out
}

/// A world: a user, two operators (one with a certified site and a pending
/// application), staff, a complaint by the user about the site and a warning.
pub(crate) struct World {
    pub(crate) t: TestApp,
    pub(crate) site: String,
    app: String,
    pub(crate) complaint: String,
    pub(crate) warning: i64,
}

pub(crate) async fn world(backend: Backend) -> World {
    let t = TestApp::new(backend).await;
    account_of(&t, Role::User, USER).await;
    let op = account_of(&t, Role::Operator, OPERATOR).await;
    account_of(&t, Role::Operator, OTHER).await;
    let staff = account_of(&t, Role::Staff, STAFF).await;
    let site = crate::certified_site(&t.state, &op, &staff, "chenxi-shuzhi.cn").await;
    let app = crate::pending_application(&t.state, &op, "shop.chenxi-shuzhi.cn").await;
    let mut u = signed_in(&t, USER).await;
    let r = u
        .submit(
            &format!("/complaints/new?site={site}"),
            "/complaints",
            &[("site", &site), ("category", "fraud"), ("text", COMPLAINT)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{r:?}");
    let complaint = r
        .location()
        .strip_prefix("/complaints/")
        .unwrap()
        .to_string();
    let mut s = signed_in(&t, STAFF).await;
    let r = s
        .submit(
            "/console",
            "/console/warnings",
            &[
                ("domain", "chenxi-shuzhi-shop.cn"),
                ("impersonates", &site),
                ("description", "冒充晨曦数智的网站。"),
                ("evidence", "seen 2026-11-30"),
            ],
        )
        .await;
    s.follow(r).await.expect(200, "Published a warning");
    // Shown once: a reload neither repeats the step nor the notice.
    let again = s.get("/console").await.expect(200, "chenxi-shuzhi-shop.cn");
    assert!(
        !again.body.contains("Published a warning"),
        "{}",
        again.body
    );
    let warning = t.scalar("SELECT MAX(id) FROM fraud_warnings").await;
    World {
        t,
        site,
        app,
        complaint,
        warning,
    }
}

#[tokio::test]
async fn who_may_open_the_portal_the_console_and_the_complaint_pages() {
    for backend in Backend::all() {
        let w = world(backend).await;
        let t = &w.t;
        let (site, app, c) = (&w.site, &w.app, &w.complaint);
        // (path, anonymous, user, operator, other operator, staff)
        let matrix: Vec<(String, [u16; 5])> = vec![
            ("/portal".into(), [303, 403, 200, 200, 403]),
            ("/portal/apply".into(), [303, 403, 200, 200, 403]),
            (
                format!("/portal/applications/{app}"),
                [303, 403, 200, 403, 200],
            ),
            (format!("/portal/sites/{site}"), [303, 403, 200, 403, 200]),
            (
                "/portal/sites/s_nosuchsite".into(),
                [303, 403, 404, 404, 404],
            ),
            ("/console".into(), [303, 403, 403, 403, 200]),
            ("/console/audit".into(), [303, 403, 403, 403, 200]),
            (
                format!("/complaints/new?site={site}"),
                [303, 200, 200, 200, 403],
            ),
            (format!("/complaints/{c}"), [303, 200, 200, 403, 200]),
            (
                "/complaints/c_nosuchthing".into(),
                [303, 404, 404, 404, 404],
            ),
        ];
        let who = [None, Some(USER), Some(OPERATOR), Some(OTHER), Some(STAFF)];
        for (i, email) in who.iter().enumerate() {
            let mut b = match email {
                Some(e) => signed_in(t, e).await,
                None => t.browser(),
            };
            for (path, statuses) in &matrix {
                let r = b.get(path).await;
                assert_eq!(r.status.as_u16(), statuses[i], "{email:?} GET {path}");
                match r.status.as_u16() {
                    303 => {
                        let next = url::form_urlencoded::byte_serialize(path.as_bytes())
                            .collect::<String>();
                        assert_eq!(r.location(), format!("/login?next={next}"));
                    }
                    403 => assert!(r.body.contains("Forbidden"), "{path}"),
                    200 => {
                        assert_eq!(r.headers["cache-control"], "no-store");
                        assert!(
                            r.headers["content-security-policy"]
                                .to_str()
                                .unwrap()
                                .contains("default-src 'none'")
                        );
                    }
                    _ => {}
                }
            }
        }

        // What each party reads on the complaint page.
        let mut op = signed_in(t, OPERATOR).await;
        let seen = op
            .get(&format!("/complaints/{c}"))
            .await
            .expect(200, "operator");
        assert!(
            !seen.body.contains("13812345678"),
            "masked for the operator"
        );
        assert!(!seen.body.contains(USER), "the complainant is not named");
        assert!(seen.body.contains("id=\"answer-text\""));
        assert!(!seen.body.contains("id=\"complainant\""));
        let mut u = signed_in(t, USER).await;
        let mine = u
            .get(&format!("/complaints/{c}"))
            .await
            .expect(200, "13812345678");
        assert!(mine.body.contains("id=\"withdraw\""));
        assert!(!mine.body.contains("id=\"answer-text\""));
        let mut s = signed_in(t, STAFF).await;
        let staff_view = s
            .get(&format!("/complaints/{c}"))
            .await
            .expect(200, "id=\"complainant\"");
        assert!(staff_view.body.contains("13812345678"));
        // The operator's portal lists the complaint, masked, with an answer form.
        let portal_site = op.get(&format!("/portal/sites/{site}")).await;
        assert!(portal_site.body.contains(c.as_str()));
        assert!(!portal_site.body.contains("13812345678"));
        assert_eq!(portal_site.body.matches("class=\"snippet\"").count(), 12);
        assert!(portal_site.body.contains(&format!("/cert/{site}.pem")));
        // The console lists the pending application? Only once it awaits review.
        assert!(!s.get("/console").await.body.contains(app.as_str()));

        // Steps by those who may not take them: 403, nothing changed.
        let before = counts(t).await;
        let mut other = signed_in(t, OTHER).await;
        let attempts: [Post; 10] = [
            (
                OTHER,
                format!("/complaints/{c}/answer"),
                vec![("text", "我们没有问题。")],
            ),
            (
                USER,
                format!("/complaints/{c}/answer"),
                vec![("text", "我自己答复。")],
            ),
            (
                OPERATOR,
                format!("/complaints/{c}/feedback"),
                vec![("satisfied", "yes")],
            ),
            (OPERATOR, format!("/complaints/{c}/withdraw"), vec![]),
            (
                USER,
                format!("/complaints/{c}/decide"),
                vec![("decision", "dismissed"), ("reason", "我说不成立")],
            ),
            (OTHER, format!("/portal/applications/{app}/verify"), vec![]),
            (STAFF, format!("/portal/applications/{app}/verify"), vec![]),
            (OTHER, format!("/portal/sites/{site}/recheck"), vec![]),
            (
                OPERATOR,
                "/console/sites/revoke".into(),
                vec![("site", site.as_str()), ("reason", "keyCompromise")],
            ),
            (
                OPERATOR,
                format!("/console/warnings/{}/withdraw", w.warning),
                vec![],
            ),
        ];
        for (email, path, fields) in attempts {
            let b: &mut Client = match email {
                USER => &mut u,
                OPERATOR => &mut op,
                OTHER => &mut other,
                _ => &mut s,
            };
            let r: Resp = b.submit("/account", &path, &fields).await;
            assert_eq!(
                r.status,
                StatusCode::FORBIDDEN,
                "{email} POST {path}: {r:?}"
            );
            assert!(r.body.contains("Forbidden"));
        }
        for path in [
            "/console/recheck-due",
            "/console/rechecks",
            "/console/copies/warn",
            "/portal/apply",
        ] {
            let r = u.submit("/account", path, &[]).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "user POST {path}");
        }
        // Staff do not file complaints.
        let r = s
            .submit(
                "/account",
                "/complaints",
                &[("site", site), ("category", "fraud"), ("text", COMPLAINT)],
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        // Nor does an operator about its own site.
        let r = op
            .submit(
                "/account",
                "/complaints",
                &[("site", site), ("category", "fraud"), ("text", COMPLAINT)],
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert_eq!(counts(t).await, before, "refused steps changed nothing");

        // A form posted after logging out goes to the login page.
        let mut gone = t.browser();
        let csrf = gone.get("/login").await.csrf();
        let r = gone
            .post(
                &format!("/complaints/{c}/answer"),
                &[("csrf", &csrf), ("text", "x")],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        assert_eq!(r.location(), "/login");
        assert_eq!(counts(t).await, before);
    }
}

#[tokio::test]
async fn a_form_without_its_csrf_token_is_refused_and_changes_nothing() {
    for backend in Backend::all() {
        let w = world(backend).await;
        let t = &w.t;
        let (site, app, c) = (w.site.as_str(), w.app.as_str(), w.complaint.as_str());
        let warning = w.warning.to_string();
        let before = counts(t).await;
        let posts: Vec<Post> = vec![
            (
                OPERATOR,
                "/portal/apply".into(),
                vec![
                    ("organization", "北京晨曦数智科技有限公司"),
                    ("uscc", "91110108MA04T7K21H"),
                    ("icp", "京ICP备2024018653号-1"),
                    ("province", "北京市"),
                    ("city", "市辖区"),
                    ("domains", "www.chenxi-shuzhi.cn"),
                ],
            ),
            (
                OPERATOR,
                format!("/portal/applications/{app}/verify"),
                vec![],
            ),
            (OPERATOR, format!("/portal/sites/{site}/recheck"), vec![]),
            (
                OPERATOR,
                format!("/complaints/{c}/answer"),
                vec![("text", "已处理。")],
            ),
            (
                USER,
                "/complaints".into(),
                vec![("site", site), ("category", "fraud"), ("text", COMPLAINT)],
            ),
            (USER, format!("/complaints/{c}/withdraw"), vec![]),
            (
                USER,
                format!("/complaints/{c}/feedback"),
                vec![("satisfied", "no")],
            ),
            (
                STAFF,
                format!("/complaints/{c}/decide"),
                vec![("decision", "dismissed"), ("reason", "不成立")],
            ),
            (
                STAFF,
                format!("/console/applications/{app}/approve"),
                vec![],
            ),
            (
                STAFF,
                format!("/console/applications/{app}/reject"),
                vec![("reason", "材料不符")],
            ),
            (
                STAFF,
                "/console/sites/revoke".into(),
                vec![("site", site), ("reason", "keyCompromise")],
            ),
            (STAFF, "/console/sites/recheck".into(), vec![("site", site)]),
            (STAFF, "/console/recheck-due".into(), vec![]),
            (STAFF, "/console/rechecks".into(), vec![]),
            (
                STAFF,
                "/console/warnings".into(),
                vec![
                    ("domain", "fake-chenxi.cn"),
                    ("description", "仿冒"),
                    ("evidence", "截图"),
                ],
            ),
            (
                STAFF,
                format!("/console/warnings/{warning}/withdraw"),
                vec![],
            ),
            (
                STAFF,
                "/console/copies/warn".into(),
                vec![("site", site), ("host", "copycat.example")],
            ),
        ];
        let (mut u, mut op, mut s) = (
            signed_in(t, USER).await,
            signed_in(t, OPERATOR).await,
            signed_in(t, STAFF).await,
        );
        for (email, path, fields) in &posts {
            let b: &mut Client = match *email {
                USER => &mut u,
                OPERATOR => &mut op,
                _ => &mut s,
            };
            b.origin = Some(crate::accounts::PUBLIC.into());
            // No token at all, and another session's token.
            let r = b.post(path, fields).await;
            assert_eq!(
                r.status,
                StatusCode::FORBIDDEN,
                "{email} {path} without a token"
            );
            assert!(r.body.contains("The form has expired"), "{path}");
            let mut with_wrong = fields.clone();
            with_wrong.push(("csrf", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
            assert_eq!(
                b.post(path, &with_wrong).await.status,
                StatusCode::FORBIDDEN
            );
            // From another origin, even with the right token.
            let csrf = b.get("/account").await.csrf();
            let mut right = fields.clone();
            right.push(("csrf", &csrf));
            b.origin = Some("https://evil.example".into());
            let r = b.post(path, &right).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{path} cross-origin");
            assert!(r.body.contains("Wrong origin"));
        }
        assert_eq!(counts(t).await, before);
    }
}

#[tokio::test]
async fn bad_input_on_each_form_gets_a_clear_message_and_changes_nothing() {
    for backend in Backend::all() {
        let w = world(backend).await;
        let t = &w.t;
        let (site, c) = (w.site.as_str(), w.complaint.as_str());
        let before = counts(t).await;
        let long = "长".repeat(5001);
        let script = "<script>alert(1)</script>";

        // The apply form: per-field messages like the JSON API's.
        let mut op = signed_in(t, OPERATOR).await;
        let good: Vec<(&str, &str)> = vec![
            ("organization", "北京晨曦数智科技有限公司"),
            ("uscc", "91110108MA04T7K21H"),
            ("icp", "京ICP备2024018653号-1"),
            ("province", "北京市"),
            ("city", "市辖区"),
            ("domains", "www.chenxi-shuzhi.cn"),
        ];
        let with = |k: &'static str, v: &'static str| {
            let mut f = good.clone();
            f.retain(|(x, _)| *x != k);
            f.push((k, v));
            f
        };
        let long_org: &'static str = "机".repeat(300).leak();
        let cases: Vec<(Fields, Vec<&str>)> = vec![
            (
                vec![],
                vec![
                    "(organization)",
                    "(uscc)",
                    "(icp)",
                    "(province)",
                    "(city)",
                    "(domains)",
                ],
            ),
            (
                with("uscc", "91110108MA04T7K21J"),
                vec!["统一社会信用代码 (uscc)"],
            ),
            (with("domains", "bad!domain.cn"), vec!["(domains[0])"]),
            (with("domains", ""), vec!["(domains)"]),
            (with("organization", long_org), vec!["(organization)"]),
            (
                with("csr_pem", "-----BEGIN NONSENSE-----"),
                vec!["(csr_pem)"],
            ),
            (with("icp", "<script>alert(1)</script>"), vec!["(icp)"]),
        ];
        for (fields, messages) in cases {
            let r = op.submit("/portal/apply", "/portal/apply", &fields).await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{fields:?}");
            for m in messages {
                assert!(r.body.contains(m), "{m} for {fields:?}: {}", r.body);
            }
            assert!(!r.body.contains("<script>alert"), "escaped");
        }
        // Wrong types: a field sent twice is not a form this page reads.
        let csrf = op.get("/portal/apply").await.csrf();
        let r = op
            .post(
                "/portal/apply",
                &[("csrf", &csrf), ("uscc", "a"), ("uscc", "b")],
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{r:?}");

        // The complaint form.
        let mut u = signed_in(t, USER).await;
        let new = format!("/complaints/new?site={site}");
        for (fields, message) in [
            (
                vec![("site", site), ("category", "fraud"), ("text", "")],
                "(text)",
            ),
            (
                vec![("site", site), ("category", "fraud"), ("text", "太短")],
                "write 10 to 5000",
            ),
            (
                vec![("site", site), ("category", "fraud"), ("text", &long)],
                "write 10 to 5000",
            ),
            (
                vec![("site", site), ("category", "pigeon"), ("text", COMPLAINT)],
                "(category)",
            ),
            (
                vec![("site", site), ("category", ""), ("text", COMPLAINT)],
                "(category)",
            ),
            (
                vec![
                    ("site", "s_nosuchsite"),
                    ("category", "fraud"),
                    ("text", COMPLAINT),
                ],
                "网站 (site)",
            ),
            (
                vec![("site", script), ("category", "fraud"), ("text", COMPLAINT)],
                "(site)",
            ),
        ] {
            let r = u.submit(&new, "/complaints", &fields).await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{fields:?}");
            assert!(r.body.contains(message), "{message}: {}", r.body);
            assert!(!r.body.contains("<script>alert"));
        }
        // The complaint's step forms.
        let page = format!("/complaints/{c}");
        op.submit(&page, &format!("{page}/answer"), &[("text", "   ")])
            .await
            .expect(422, "(text)");
        op.submit(&page, &format!("{page}/answer"), &[("text", &long)])
            .await
            .expect(422, "write 1 to 5000");
        // Feedback before an answer: the state says no.
        u.submit(&page, &format!("{page}/feedback"), &[("satisfied", "no")])
            .await
            .expect(409, "Not possible now");
        u.submit(
            &page,
            &format!("{page}/feedback"),
            &[("satisfied", "maybe")],
        )
        .await
        .expect(422, "(satisfied)");
        let mut s = signed_in(t, STAFF).await;
        for (fields, message) in [
            (
                vec![("decision", "maybe"), ("reason", "理由")],
                "(decision)",
            ),
            (vec![("decision", "upheld"), ("reason", "")], "(reason)"),
            (
                vec![
                    ("decision", "upheld"),
                    ("reason", "理由"),
                    ("revocation", "keyCompromise"),
                ],
                "(revocation)",
            ),
            // Not answered yet: nothing to decide.
            (
                vec![("decision", "upheld"), ("reason", "理由")],
                "Not possible now",
            ),
        ] {
            let r = s.submit(&page, &format!("{page}/decide"), &fields).await;
            assert!(matches!(r.status.as_u16(), 409 | 422), "{fields:?}: {r:?}");
            assert!(r.body.contains(message), "{message}: {}", r.body);
        }

        // The console's forms.
        let app = w.app.as_str();
        for (path, fields, message) in [
            (
                format!("/console/applications/{app}/reject"),
                vec![("reason", "")],
                "(reason)",
            ),
            (
                format!("/console/applications/{app}/approve"),
                vec![],
                "only validated or review",
            ),
            (
                "/console/sites/revoke".to_string(),
                vec![("site", site), ("reason", "removeFromCRL")],
                "(reason)",
            ),
            (
                "/console/sites/revoke".to_string(),
                vec![("site", site), ("reason", "pigeon")],
                "(reason)",
            ),
            (
                "/console/sites/revoke".to_string(),
                vec![("site", "s_nosuchsite"), ("reason", "keyCompromise")],
                "(site)",
            ),
            (
                "/console/sites/recheck".to_string(),
                vec![("site", "")],
                "(site)",
            ),
            (
                "/console/warnings".to_string(),
                vec![
                    ("domain", "not a domain"),
                    ("description", "仿冒"),
                    ("evidence", "截图"),
                ],
                "(domain)",
            ),
            (
                "/console/warnings".to_string(),
                vec![
                    ("domain", "fake-chenxi.cn"),
                    ("description", ""),
                    ("evidence", "截图"),
                ],
                "(description)",
            ),
            (
                "/console/warnings".to_string(),
                vec![
                    ("domain", "fake-chenxi.cn"),
                    ("description", &long),
                    ("evidence", "截图"),
                ],
                "write 1 to 2000",
            ),
            (
                "/console/warnings".to_string(),
                vec![
                    ("domain", "fake-chenxi.cn"),
                    ("impersonates", "s_nosuchsite"),
                    ("description", "仿冒"),
                    ("evidence", script),
                ],
                "(impersonates)",
            ),
            (
                "/console/warnings".to_string(),
                vec![
                    ("domain", "chenxi-shuzhi-shop.cn"),
                    ("description", "仿冒"),
                    ("evidence", "截图"),
                ],
                "already has a published warning",
            ),
        ] {
            let r = s.submit("/console", &path, &fields).await;
            assert!(
                matches!(r.status.as_u16(), 409 | 422),
                "{path} {fields:?}: {r:?}"
            );
            assert!(r.body.contains(message), "{message}: {}", r.body);
            assert!(!r.body.contains("<script>alert"));
        }
        // The warning form keeps what was typed, escaped.
        let r = s
            .submit(
                "/console",
                "/console/warnings",
                &[
                    ("domain", "bad domain"),
                    ("description", script),
                    ("evidence", "x"),
                ],
            )
            .await
            .expect(422, "&#60;script&#62;alert(1)");
        assert!(!r.body.contains(script));
        // Unknown objects: 404 pages.
        let r = s
            .submit("/console", "/console/warnings/999999/withdraw", &[])
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        let r = s
            .submit(
                "/console",
                "/console/copies/warn",
                &[("site", site), ("host", "never.example")],
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert_eq!(counts(t).await, before);
    }
}

#[tokio::test]
async fn script_in_a_complaint_or_a_warning_is_shown_as_text() {
    for backend in Backend::all() {
        let w = world(backend).await;
        let t = &w.t;
        let site = w.site.as_str();
        let script = "<script>alert('x')</script><img src=x onerror=alert(1)>";
        let text = format!("{script} 付款后不发货，请处理。");
        let mut u = signed_in(t, USER).await;
        // One open complaint per person and site: the world's one is withdrawn first.
        let open = format!("/complaints/{}", w.complaint);
        let r = u.submit(&open, &format!("{open}/withdraw"), &[]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{r:?}");
        let r = u
            .submit(
                &format!("/complaints/new?site={site}"),
                "/complaints",
                &[("site", site), ("category", "fraud"), ("text", &text)],
            )
            .await;
        let page = r.location().to_string();
        let mut op = signed_in(t, OPERATOR).await;
        let mut s = signed_in(t, STAFF).await;
        for b in [&mut u, &mut op, &mut s] {
            let r = b.get(&page).await.expect(200, "&#60;script&#62;");
            assert!(!r.body.contains("<script>"), "{}", r.body);
            assert!(!r.body.contains("<img src=x"));
        }
        let r = op.get(&format!("/portal/sites/{site}")).await;
        assert!(r.body.contains("&#60;script&#62;") && !r.body.contains("<script>"));
        // The operator answers with markup too; the complainant sees it as text.
        let id = page.strip_prefix("/complaints/").unwrap();
        op.submit(
            &format!("/portal/sites/{site}"),
            &format!("/complaints/{id}/answer"),
            &[("text", script)],
        )
        .await;
        let r = u.get(&page).await.expect(200, "id=\"feedback-section\"");
        assert!(!r.body.contains("<script>") && !r.body.contains("<img src=x"));

        let r = s
            .submit(
                "/console",
                "/console/warnings",
                &[
                    ("domain", "evil-chenxi.cn"),
                    ("description", script),
                    ("evidence", script),
                ],
            )
            .await;
        s.follow(r).await.expect(200, "Published a warning");
        let r = s.get("/console").await.expect(200, "evil-chenxi.cn");
        assert!(!r.body.contains("<script>") && !r.body.contains("<img src=x"));
        // Domains on public pages may wrap after a dot (`<wbr>`).
        let r = t
            .browser()
            .get("/warnings")
            .await
            .expect(200, "evil-chenxi.</span><wbr><span class=\"id\">cn");
        assert!(!r.body.contains("<script>") && !r.body.contains("<img src=x"));
    }
}

#[tokio::test]
async fn an_application_goes_from_the_apply_form_to_an_upheld_complaint_through_the_pages() {
    for backend in Backend::all() {
        let t = TestApp::new(backend).await;
        account_of(&t, Role::User, USER).await;
        account_of(&t, Role::Operator, OPERATOR).await;
        account_of(&t, Role::Staff, STAFF).await;
        let mut op = signed_in(&t, OPERATOR).await;
        let r = op
            .submit(
                "/portal/apply",
                "/portal/apply",
                &[
                    ("organization", "北京晨曦数智科技有限公司"),
                    ("uscc", "91110108MA04T7K21H"),
                    ("icp", "京ICP备2024018653号-1"),
                    ("province", "北京市"),
                    ("city", "市辖区"),
                    ("domains", "\r\nchenxi-shuzhi.cn\r\n"),
                ],
            )
            .await;
        // No CSR: the generated key is shown on this answer, once, with what it is for.
        assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
        assert!(r.body.contains("-----BEGIN PRIVATE KEY-----"), "{r:?}");
        assert!(r.body.contains("只显示这一次"), "{r:?}");
        let app_page = r
            .body
            .split("href=\"")
            .filter_map(|h| h.split('"').next())
            .find(|h| h.starts_with("/portal/applications/"))
            .unwrap()
            .to_string();
        let app_id = app_page.rsplit('/').next().unwrap().to_string();
        assert!(
            !op.get(&app_page).await.body.contains("PRIVATE KEY"),
            "the key is shown once only"
        );
        let page = op
            .get(&app_page)
            .await
            .expect(200, "_chengxin-challenge.chenxi-shuzhi.cn");
        assert_eq!(page.body.matches("class=\"txt-value\"").count(), 1);
        assert!(page.body.contains("/.well-known/chengxin/"));
        assert!(page.body.contains("&#60;meta name="));
        assert!(op.get("/portal").await.body.contains(&app_id));

        // No DNS answers: domain control could not be told, so the run leaves the
        // application pending, and staff cannot approve it from the console.
        let r = op
            .submit(&app_page, &format!("{app_page}/verify"), &[])
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{r:?}");
        let page = op
            .get(&app_page)
            .await
            .expect(200, "data-status=\"pending\"");
        assert!(page.body.contains("ICP: no filing source"));
        assert!(!page.body.contains("尚未验证"), "evidence shown");
        let mut s = signed_in(&t, STAFF).await;
        let r = s
            .submit(
                "/console",
                &format!("/console/applications/{app_id}/approve"),
                &[],
            )
            .await;
        assert_eq!(r.status.as_u16(), 409, "{r:?}");
        assert_eq!(t.scalar("SELECT COUNT(*) FROM sites").await, 0);

        // Proven over real DNS: the filing question waits for staff.
        let operator = badge_server::store::accounts::upsert_role(
            &t.state.db,
            &Email::parse(OPERATOR).unwrap(),
            Role::Operator,
        )
        .await
        .unwrap();
        crate::prove_control(&t.state, &operator, &app_id).await;
        op.get(&app_page)
            .await
            .expect(200, "data-status=\"review\"");
        let console = s.get("/console").await.expect(200, &app_id);
        assert!(console.body.contains("ICP: no filing source"));
        let r = s
            .submit(
                "/console",
                &format!("/console/applications/{app_id}/approve"),
                &[],
            )
            .await;
        s.follow(r).await.expect(200, "Approved");
        let site: String = {
            let (id,): (String,) = ca::on_pool!(&t.state.db, |p| sqlx::query_as(
                "SELECT site_id FROM applications WHERE site_id IS NOT NULL"
            )
            .fetch_one(p)
            .await
            .unwrap());
            id
        };
        let site_page = format!("/portal/sites/{site}");
        let r = op.get(&site_page).await.expect(200, "status-certified");
        assert_eq!(
            r.body
                .matches("<textarea readonly rows=\"3\" class=\"snippet\">")
                .count(),
            12
        );
        assert!(
            r.body
                .contains(&format!("{}/seal/{site}.svg", crate::accounts::PUBLIC))
        );
        assert!(r.body.contains("Fewer than 5 complaints"));

        // A complaint, answered from the portal, not satisfied, upheld in the console.
        let mut u = signed_in(&t, USER).await;
        u.get(&format!("/cert/{site}"))
            .await
            .expect(200, &format!("/complaints/new?site={site}"));
        let r = u
            .submit(
                &format!("/complaints/new?site={site}"),
                "/complaints",
                &[
                    ("site", &site),
                    ("category", "counterfeit"),
                    ("text", COMPLAINT),
                ],
            )
            .await;
        let complaint = r.location().to_string();
        let id = complaint.strip_prefix("/complaints/").unwrap();
        let r = op
            .submit(
                &site_page,
                &format!("{complaint}/answer"),
                &[("text", "已联系客户退款。")],
            )
            .await;
        assert_eq!(r.location(), complaint);
        u.submit(
            &complaint,
            &format!("{complaint}/feedback"),
            &[("satisfied", "no"), ("text", "没有收到退款。")],
        )
        .await;
        s.get("/console").await.expect(200, id);
        let r = s
            .submit(
                &complaint,
                &format!("{complaint}/decide"),
                &[
                    ("decision", "upheld"),
                    ("revocation", "privilegeWithdrawn"),
                    ("reason", "经核实，投诉成立。"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{r:?}");
        u.get(&complaint)
            .await
            .expect(200, "data-status=\"upheld\"");
        op.get(&site_page).await.expect(200, "status-revoked");
        // Re-verification from the portal and the console, and the audit log.
        op.submit(&site_page, &format!("{site_page}/recheck"), &[])
            .await
            .expect(200, "Re-verified");
        // Every site due: a durable run, shown on its own page.
        let r = s.submit("/console", "/console/recheck-due", &[]).await;
        s.follow(r).await.expect(200, "data-state=\"running\"");
        let audit = s
            .get("/console/audit")
            .await
            .expect(200, "complaint.decide");
        assert!(audit.body.contains("application.approve"));
        s.get("/console/audit?page=99")
            .await
            .expect(200, "complaint.decide");
        s.get("/console/audit?page=x")
            .await
            .expect(200, "complaint.decide");
    }
}

#[tokio::test]
async fn the_account_page_lists_the_complaints_a_person_filed_and_no_one_elses() {
    for backend in Backend::all() {
        let w = world(backend).await;
        let (t, c) = (&w.t, &w.complaint);
        let mut user = signed_in(t, USER).await;
        let page = user.get("/account").await.expect(200, "My complaints");
        assert!(
            page.body
                .contains(&format!("<a href=\"/complaints/{c}\">{c}</a>")),
            "{}",
            page.body
        );
        assert!(page.body.contains("data-status=\"forwarded\""));
        // The operator of the site complained about answers it in the portal; it is
        // not theirs to list here, nor another operator's.
        for who in [OPERATOR, OTHER] {
            let mut b = signed_in(t, who).await;
            let page = b
                .get("/account")
                .await
                .expect(200, "You have not filed a complaint");
            assert!(!page.body.contains(c.as_str()), "{who}: {}", page.body);
        }
    }
}

#[tokio::test]
async fn forged_referers_cannot_fill_the_copied_seal_report_real_copies_seen_over_hours_are_listed()
{
    use axum::body::Body;
    use axum::http::Request;
    use badge_server::service::seals::MAX_COPIES_PER_SITE;
    use tower::ServiceExt;

    for backend in Backend::all() {
        let w = world(backend).await;
        let (t, site) = (&w.t, &w.site);
        let app = badge_server::http::router::build(t.state.clone());
        let show_on = |host: String| {
            let app = app.clone();
            let uri = format!("/seal/{site}.svg");
            async move {
                let r = app
                    .oneshot(
                        Request::get(uri)
                            .header("referer", format!("https://{host}/"))
                            .body(Body::empty())
                            .unwrap(),
                    )
                    .await
                    .unwrap();
                assert_eq!(r.status(), StatusCode::OK);
            }
        };
        let flush = || async { t.state.seal_cache.flush_copies(&t.state.db).await.unwrap() };
        let rows = format!("SELECT COUNT(*) FROM seal_copies WHERE site_id = '{site}'");
        let hits = |host: &str| {
            format!("SELECT hits FROM seal_copies WHERE site_id = '{site}' AND host = '{host}'")
        };
        // An hour ago a real copy was seen a few times.
        for _ in 0..3 {
            show_on("real-copy.example".into()).await;
        }
        flush().await;
        t.exec(
            "UPDATE seal_copies SET first_seen = first_seen - 3600, last_seen = last_seen - 3600",
        )
        .await;
        // Now a burst of forged Referers, more than the cap.
        let limit = usize::try_from(MAX_COPIES_PER_SITE).unwrap();
        for i in 0..limit + 5 {
            show_on(format!("copy-{i}.example")).await;
        }
        flush().await;
        assert_eq!(t.scalar(&rows).await, MAX_COPIES_PER_SITE, "{backend:?}");
        // The real copy is seen again, in a new hour: counted and confirmed.
        show_on("real-copy.example".into()).await;
        flush().await;
        assert_eq!(t.scalar(&hits("real-copy.example")).await, 4);
        // The report lists only hosts seen in two different hours: not the burst.
        let mut s = signed_in(t, STAFF).await;
        let console = s.get("/console").await.expect(200, "real-copy.example");
        assert!(
            !console.body.contains("copy-0.example"),
            "the burst is listed"
        );
        let staff = badge_server::store::accounts::upsert_role(
            &t.state.db,
            &Email::parse(STAFF).unwrap(),
            Role::Staff,
        )
        .await
        .unwrap();
        let listed = badge_server::service::warnings::copies(&t.state, &staff)
            .await
            .unwrap();
        let hosts: Vec<&str> = listed.iter().map(|c| c.host.as_str()).collect();
        assert_eq!(hosts, ["real-copy.example"], "{backend:?}");

        // At the cap, a new host takes a forged one's place, never the confirmed one.
        show_on("copy-new.example".into()).await;
        flush().await;
        assert_eq!(t.scalar(&hits("copy-new.example")).await, 1);
        assert_eq!(t.scalar(&rows).await, MAX_COPIES_PER_SITE);
        assert_eq!(t.scalar(&hits("real-copy.example")).await, 4);

        // A day on, the unconfirmed burst ages out; the confirmed host stays.
        let purged = badge_server::jobs::handlers::purge(
            &t.state.db,
            time::OffsetDateTime::now_utc().unix_timestamp() + 2 * 86_400,
        )
        .await
        .unwrap();
        assert_eq!(
            purged.seal_copies,
            u64::try_from(MAX_COPIES_PER_SITE - 1).unwrap()
        );
        assert_eq!(t.scalar(&rows).await, 1);
    }
}

/// Issue 14: a request without a `Referer` cannot tell where the seal stands, so a
/// certified seal then asks the visitor to check the address bar (not green), and the
/// fetch is counted for the operator; bad news is shown whatever the `Referer`.
#[tokio::test]
async fn a_certified_seal_fetched_without_a_referer_asks_to_check_the_address_bar_and_is_counted() {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    for backend in Backend::all() {
        let w = world(backend).await;
        let (t, site) = (&w.t, &w.site);
        let app = badge_server::http::router::build(t.state.clone());
        let fetch = |referer: Option<&str>| {
            let app = app.clone();
            let mut req = Request::get(format!("/seal/{site}.svg"));
            if let Some(r) = referer {
                req = req.header("referer", r);
            }
            async move {
                let r = app.oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
                assert_eq!(r.status(), StatusCode::OK);
                let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
                String::from_utf8(body.to_vec()).unwrap()
            }
        };
        let title = |svg: &str| {
            svg[svg.find("<title>").unwrap()..svg.find("</title>").unwrap()].to_string()
        };

        let on_site = fetch(Some("https://chenxi-shuzhi.cn/")).await;
        assert!(title(&on_site).contains("网站身份已验证"), "{backend:?}");
        let blind = fetch(None).await;
        assert!(
            title(&blind).contains("请核对地址栏")
                && title(&blind).contains("Check the address bar")
                && title(&blind).contains("chenxi-shuzhi.cn"),
            "{}",
            title(&blind)
        );
        assert!(
            !blind.contains("#1a7f37") && blind.contains("#0969da"),
            "not green"
        );
        fetch(None).await;
        fetch(None).await;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        assert_eq!(
            t.state
                .seal_cache
                .flush_no_referer(&t.state.db, now)
                .await
                .unwrap(),
            1
        );
        let day = now.div_euclid(86_400);
        assert_eq!(
            badge_server::store::seal_fetches::no_referer_since(&t.state.db, site, day - 6)
                .await
                .unwrap(),
            3,
            "{backend:?}"
        );

        // The operator's portal previews the seal from our own origin: it shows the
        // seal as it stands and is neither a copy nor a fetch without a Referer.
        let own = url::Url::parse(&t.state.public_url).unwrap();
        let own_referer = format!("{}/portal/sites/{site}", own.origin().ascii_serialization());
        assert!(title(&fetch(Some(&own_referer)).await).contains("网站身份已验证"));
        assert_eq!(
            t.state.seal_cache.flush_copies(&t.state.db).await.unwrap(),
            0
        );
        let mut op = signed_in(t, OPERATOR).await;
        let page = op
            .get(&format!("/portal/sites/{site}"))
            .await
            .expect(200, "印章代码");
        assert!(
            !page.body.contains("id=\"no-referer\""),
            "3 fetches are not often"
        );
        assert!(!page.body.contains("referrerpolicy=\"no-referrer\""));
        // Often fetched without a Referer: the portal asks for the new snippet.
        badge_server::store::seal_fetches::add_no_referer(&t.state.db, site, day - 1, 30)
            .await
            .unwrap();
        let page = op
            .get(&format!("/portal/sites/{site}"))
            .await
            .expect(200, "id=\"no-referer\"");
        assert!(page.body.contains("33"), "the count of the week is shown");

        // Revoked: the red seal, with or without a Referer.
        let (serial,): (Vec<u8>,) = ca::on_pool!(&t.state.db, |p| sqlx::query_as(
            "SELECT c.serial FROM sites s JOIN certificates c ON c.id = s.certificate_id \
             WHERE s.id = $1"
        )
        .bind(site)
        .fetch_one(p)
        .await
        .unwrap());
        t.state
            .ca
            .revoke(
                &ca::Serial::from_bytes(&serial),
                ca::RevocationReason::PrivilegeWithdrawn,
                "test",
            )
            .await
            .unwrap();
        // The change reaches the cache within a poll and a read.
        tokio::time::sleep(badge_server::service::seals::CHANGE_POLL * 3).await;
        assert!(
            title(&fetch(None).await).contains("认证已撤销"),
            "{backend:?}"
        );
        // Only certified seals are counted: nothing more to write.
        assert_eq!(
            t.state
                .seal_cache
                .flush_no_referer(&t.state.db, now)
                .await
                .unwrap(),
            0
        );
    }
}

/// The seal cache keeps a site's facts between requests and learns of a change from
/// the database's own record of it (`seal_changes`, written by triggers): a hold and
/// its release made by the CA alone (as `ca revoke` does, no server involved) and a
/// status written straight to the site row (as the verifier does) each reach the
/// cached seal within a second, on both backends.
#[tokio::test]
async fn changes_made_outside_the_server_reach_its_cached_seal_within_a_second() {
    use axum::body::Body;
    use axum::http::Request;
    use badge_server::domain::seal::SealState;
    use std::time::{Duration, Instant};
    use tower::ServiceExt;

    for backend in Backend::all() {
        let w = world(backend).await;
        let (t, site) = (&w.t, &w.site);
        let app = badge_server::http::router::build(t.state.clone());
        let title = || {
            let app = app.clone();
            let req = Request::get(format!("/seal/{site}.svg"))
                .header("referer", "https://chenxi-shuzhi.cn/")
                .body(Body::empty())
                .unwrap();
            async move {
                let r = app.oneshot(req).await.unwrap();
                let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
                let svg = String::from_utf8(body.to_vec()).unwrap();
                svg[svg.find("<title>").unwrap()..svg.find("</title>").unwrap()].to_string()
            }
        };
        let shows = |state: SealState| async move {
            let t0 = Instant::now();
            loop {
                if title().await.contains(state.words().0) {
                    return t0.elapsed();
                }
                assert!(
                    t0.elapsed() < Duration::from_secs(1),
                    "{backend:?}: still not {state:?} after a second: {}",
                    title().await
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        // Cached: read once after the change feed has started.
        tokio::time::sleep(Duration::from_millis(400)).await;
        shows(SealState::Certified).await;

        let (serial,): (Vec<u8>,) = ca::on_pool!(&t.state.db, |p| sqlx::query_as(
            "SELECT c.serial FROM certificates c JOIN sites s ON s.certificate_id = c.id \
             WHERE s.id = $1"
        )
        .bind(site)
        .fetch_one(p)
        .await
        .unwrap());
        let serial = ca::serial::Serial::from_bytes(&serial);
        let reason = ca::revocation::RevocationReason::CertificateHold;
        t.state.ca.revoke(&serial, reason, "test").await.unwrap();
        let held = shows(SealState::Suspended).await;
        let reason = ca::revocation::RevocationReason::RemoveFromCrl;
        t.state.ca.revoke(&serial, reason, "test").await.unwrap();
        let released = shows(SealState::Certified).await;
        ca::on_pool!(&t.state.db, |p| sqlx::query(
            "UPDATE sites SET status = 'revoked' WHERE id = $1"
        )
        .bind(site)
        .execute(p)
        .await
        .map(drop)
        .unwrap());
        let revoked = shows(SealState::Revoked).await;
        eprintln!("{backend:?}: hold {held:?}, release {released:?}, row {revoked:?}");
    }
}

/// A refresh reads every site's facts in pages, so that a load spread over every
/// site reads no database per seal; a revocation still evicts the site's facts (and
/// the seal shows it) within the change poll.
#[tokio::test]
async fn a_refresh_holds_every_site_s_facts_and_a_revocation_still_evicts_them() {
    for backend in Backend::all() {
        let t = TestApp::new(backend).await;
        let operator = account_of(&t, Role::Operator, OPERATOR).await;
        let staff = account_of(&t, Role::Staff, STAFF).await;
        let site = crate::certified_site(&t.state, &operator, &staff, "chenxi-shuzhi.cn").await;
        let cache = &t.state.seal_cache;
        // The change feed runs (spawned with the state); facts are only kept once it
        // is followed.
        let began = std::time::Instant::now();
        while cache
            .refresh(&t.state.db, &t.state.services.seals)
            .await
            .unwrap()
            == 0
            || !cache.holds(&site)
        {
            assert!(
                began.elapsed() < std::time::Duration::from_secs(5),
                "{backend:?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(!cache.holds("s_nosuchsite"));
        badge_server::service::sites::revoke(
            &t.state.services,
            &staff,
            &site,
            ca::RevocationReason::KeyCompromise,
            badge_server::domain::clock::now(),
        )
        .await
        .unwrap();
        let began = std::time::Instant::now();
        while cache.holds(&site) {
            assert!(
                began.elapsed() < std::time::Duration::from_secs(1),
                "{backend:?}: a revoked site's facts were still held after 1 s"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}
