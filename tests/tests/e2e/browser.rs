//! Headless Chromium: the seal on a real page, registration and login, and a complaint
//! filed, answered and upheld through the pages.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use testkit::{Backend, bin, free_port, run};

use crate::{
    Deployment, SEAL_BLUE, SEAL_GREEN, SEAL_RED, chenxi_application, count_colours, mailed_link,
    quick_queue, url_after,
};

/// Headless Chromium (Debian's, through its chromedriver: `testkit::browser`) with a
/// blocking API over fantoccini. Dropping it closes the session, which ends Chromium,
/// and then chromedriver. The log's browser test (`browser_log`) drives it too.
pub(crate) struct Browser {
    client: fantoccini::Client,
    rt: tokio::runtime::Runtime,
    driver: testkit::browser::Chromedriver,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// A new session in a fresh profile, resolving `loopback_hosts` to 127.0.0.1 and
    /// asking for pages in `accept_language`.
    pub(crate) fn start(loopback_hosts: &[&str], accept_language: &str) -> Self {
        Self::start_with(
            loopback_hosts,
            serde_json::json!({ "intl.accept_languages": accept_language }),
        )
    }

    /// As [`Browser::start`], with the profile preferences `prefs` (for example
    /// scripts turned off).
    pub(crate) fn start_with(loopback_hosts: &[&str], prefs: serde_json::Value) -> Self {
        let driver = testkit::browser::Chromedriver::start();
        let profile = tempfile::tempdir().unwrap();
        let mut caps = testkit::browser::capabilities(profile.path(), loopback_hosts);
        caps["goog:chromeOptions"]["prefs"] = prefs;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = rt
            .block_on(
                fantoccini::ClientBuilder::new(connector)
                    .capabilities(caps)
                    .connect(driver.url()),
            )
            .unwrap_or_else(|e| {
                panic!(
                    "Chromium did not start: {e}\nchromedriver log:\n{}",
                    driver.log()
                )
            });
        let browser = Browser {
            client,
            rt,
            driver,
            _profile: profile,
        };
        browser.run(
            "set timeouts",
            browser
                .client
                .update_timeouts(fantoccini::wd::TimeoutConfiguration::new(
                    Some(Duration::from_secs(30)),
                    Some(Duration::from_secs(60)),
                    Some(Duration::ZERO),
                )),
        );
        browser
    }

    /// Runs one WebDriver command to completion.
    pub(crate) fn run<T>(
        &self,
        what: &str,
        f: impl std::future::Future<Output = Result<T, fantoccini::error::CmdError>>,
    ) -> T {
        self.rt.block_on(f).unwrap_or_else(|e| {
            panic!(
                "browser: {what}: {e}\nchromedriver log (tail):\n{}",
                tail(&self.driver.log(), 40)
            )
        })
    }

    pub(crate) fn goto(&self, url: &str) {
        self.run(&format!("open {url}"), self.client.goto(url));
    }

    pub(crate) fn js(&self, script: &str) -> serde_json::Value {
        self.run(script, self.client.execute(script, vec![]))
    }

    pub(crate) fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.run(css, self.client.find(fantoccini::Locator::Css(css)))
    }

    /// Types `text` into the field `css` names.
    pub(crate) fn fill(&self, css: &str, text: &str) {
        let field = self.find(css);
        self.run(&format!("type into {css}"), field.send_keys(text));
    }

    /// Clicks the element `css` names.
    pub(crate) fn click(&self, css: &str) {
        let element = self.find(css);
        self.run(&format!("click {css}"), element.click());
    }

    /// The visible text of the element `css` names.
    pub(crate) fn text(&self, css: &str) -> String {
        let element = self.find(css);
        self.run(&format!("text of {css}"), element.text())
    }

    /// The visible text of the element `css` names, or `None` while there is none: a
    /// page still loading, or the page being left (the form's own page has no
    /// `#message`, and a form that posts to its own path is "there" before it loads).
    pub(crate) fn try_text(&self, css: &str) -> Option<String> {
        self.rt.block_on(async {
            let element = self.client.find(fantoccini::Locator::Css(css)).await.ok()?;
            element.text().await.ok()
        })
    }

    /// Switches to the `index`th frame of the current page (what later commands
    /// read), until [`Browser::leave_frame`].
    pub(crate) fn enter_frame(&self, index: u16) {
        self.run(
            &format!("enter frame {index}"),
            self.client.enter_frame(index),
        );
    }

    /// Back from a frame to the page that holds it.
    pub(crate) fn leave_frame(&self) {
        self.run("leave frame", self.client.enter_parent_frame());
    }

    /// The computed value of the CSS property `prop` of the element `css` names.
    pub(crate) fn css_value(&self, css: &str, prop: &str) -> String {
        let element = self.find(css);
        self.run(&format!("{prop} of {css}"), element.css_value(prop))
    }

    pub(crate) fn current_url(&self) -> String {
        self.run("current URL", self.client.current_url())
            .to_string()
    }

    /// Polls `probe` until it gives a value, for at most `secs` seconds.
    pub(crate) fn wait_for<T>(
        &self,
        what: &str,
        secs: u64,
        mut probe: impl FnMut(&Self) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(v) = probe(self) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "browser: {what} did not happen in {secs} s (at {})",
                self.current_url()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Screenshot of the whole page (the window grown to the document's size), saved
    /// as `path`.
    pub(crate) fn save_page(&self, path: &Path) {
        let size =
            self.js("const e = document.documentElement; return [e.scrollWidth, e.scrollHeight];");
        let dim = |i: usize, min: u64| size[i].as_u64().unwrap_or(min).max(min) as u32;
        self.run(
            "resize",
            self.client.set_window_size(dim(0, 1024), dim(1, 768)),
        );
        let png = self.run("page screenshot", self.client.screenshot());
        std::fs::write(path, png).unwrap();
    }

    /// Shows the current page in a `width`×`height` viewport, asserts that it is no
    /// wider than the viewport (`document.documentElement.scrollWidth <= innerWidth`:
    /// nothing to scroll sideways) and that no identifier marked `.id` is broken
    /// across lines, and saves a screenshot of the whole page at that
    /// width (the window grown to the document's height) as `path`.
    pub(crate) fn save_fitting(&self, width: u32, height: u32, path: &Path) {
        self.run("resize", self.client.set_window_size(width, height));
        // The window's frame, if any, comes off the viewport: grow until the
        // viewport itself is `width` wide (and, for the whole-page shot, as tall as
        // the document plus the frame).
        let inner = self.js("return window.innerWidth;").as_u64().unwrap_or(0) as u32;
        if inner != width && inner > 0 {
            let outer = width + width.saturating_sub(inner);
            self.run("resize", self.client.set_window_size(outer, height));
        }
        let fit = self.js("const e = document.documentElement; \
             const broken = [...document.querySelectorAll('.id')] \
                 .filter(x => x.getClientRects().length > 1).map(x => x.textContent); \
             return [e.scrollWidth, window.innerWidth, e.scrollHeight, \
                     window.outerHeight - window.innerHeight, broken];");
        let (scroll, inner, tall, frame) = (
            fit[0].as_u64().unwrap(),
            fit[1].as_u64().unwrap(),
            fit[2].as_u64().unwrap(),
            fit[3].as_u64().unwrap_or(0),
        );
        assert_eq!(
            inner,
            u64::from(width),
            "viewport of {}",
            self.current_url()
        );
        assert!(
            scroll <= inner,
            "{} is {scroll} px wide in a {inner} px viewport: it scrolls sideways",
            self.current_url()
        );
        // Identifiers marked `.id` (dates, codes, filing numbers, domains) stay whole.
        assert_eq!(
            fit[4],
            serde_json::json!([]),
            "identifiers broken across lines at {width} px on {}",
            self.current_url()
        );
        let outer_width = self.run("window size", self.client.get_window_size()).0 as u32;
        self.run(
            "resize",
            self.client
                .set_window_size(outer_width, (tall.max(u64::from(height)) + frame) as u32),
        );
        let png = self.run("page screenshot", self.client.screenshot());
        std::fs::write(path, png).unwrap();
        self.run("resize", self.client.set_window_size(outer_width, height));
    }

    /// The current page printed to PDF by Chromium (the page's print style applies).
    pub(crate) fn print_pdf(&self) -> Vec<u8> {
        self.run(
            "print",
            self.client
                .print(fantoccini::wd::PrintConfiguration::default()),
        )
    }

    /// Screenshot of one element, saved as `path`; returns the PNG.
    fn save_element(&self, element: &fantoccini::elements::Element, path: &Path) -> Vec<u8> {
        let png = self.run("element screenshot", element.screenshot());
        std::fs::write(path, &png).unwrap();
        png
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.rt.block_on(self.client.clone().close());
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[test]
fn a_browser_shows_the_certified_seal_on_the_site_and_the_copy_warning_elsewhere() {
    const SITE_HOST: &str = "chenxi-shuzhi.cn";
    const COPY_HOST: &str = "www.copycat-example.com";
    let started = Instant::now();
    let d = Deployment::new(Backend::Sqlite);
    let (_server, site) = d.certified_chenxi();
    let site_id = site["site"].as_str().unwrap();
    let snippet = site["snippet"].as_str().unwrap();
    let seal_url = site["seal_url"].as_str().unwrap();
    let certificate_url = site["certificate_url"].as_str().unwrap();
    assert!(
        snippet.contains(seal_url) && snippet.contains(certificate_url),
        "{site}"
    );

    // One loopback web server plays both the certified site and the copycat: the
    // page embeds the snippet verbatim, and only the host name differs. The page asks
    // for no Referer at all: the snippet's own `referrerpolicy` still sends the origin.
    // A copycat that also strips the snippet's attribute gets no green seal either.
    let page = |snippet: &str| {
        format!(
            "<!doctype html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
             <meta name=\"referrer\" content=\"no-referrer\">\
             <title>晨曦数智 官方商城</title></head>\n<body><h1>晨曦数智 官方商城</h1>\n\
             <p>欢迎光临。</p>\n<footer>{snippet}</footer>\n</body></html>\n"
        )
    };
    assert_eq!(
        snippet.matches("referrerpolicy=\"strict-origin\"").count(),
        2,
        "{snippet}"
    );
    let stripped = snippet.replace("strict-origin", "no-referrer");
    let shop = testkit::browser::StaticSite::serve(&[
        ("/", &page(snippet)),
        ("/stripped", &page(&stripped)),
    ]);
    let shots = testkit::browser::artifacts_dir("browser");
    let browser = Browser::start(&[SITE_HOST, COPY_HOST], "zh-CN,zh");

    let cases = [
        (
            SITE_HOST,
            SEAL_GREEN,
            "banner ok",
            format!("此印章显示在本证书认证的网站上： {SITE_HOST}"),
        ),
        (
            COPY_HOST,
            SEAL_RED,
            "banner warn",
            format!("警告：此印章显示在 {COPY_HOST} 上，本证书并不认证该网站。"),
        ),
    ];
    for (host, colour, banner_class, banner_text) in cases {
        let shop_url = format!("http://{host}:{}/", shop.port());
        browser.goto(&shop_url);
        assert_eq!(browser.current_url(), shop_url);

        // The seal loaded and rendered.
        let natural_width = browser.wait_for(&format!("the seal on {host} loading"), 30, |b| {
            b.js("const i = document.querySelector('a > img'); \
                  return i && i.complete ? i.naturalWidth : null;")
                .as_u64()
        });
        assert!(natural_width > 0, "the seal on {host} did not render");
        assert_eq!(
            browser.js("return document.querySelector('a > img').currentSrc;"),
            seal_url
        );
        browser.save_page(&shots.join(format!("{host}-page.png")));
        let seal = browser.find("a > img");
        let png = browser.save_element(&seal, &shots.join(format!("{host}-seal.png")));

        // It says what it should: green certified on the site, red elsewhere.
        let [green, red] = count_colours(&png, [SEAL_GREEN, SEAL_RED]);
        let (want, other) = if colour == SEAL_GREEN {
            (green, red)
        } else {
            (red, green)
        };
        eprintln!("{host}: seal {natural_width} px wide, {green} green and {red} red pixels");
        assert!(
            want >= 100 && other * 20 <= want,
            "the seal on {host} is not {colour:?}: {green} green and {red} red pixels"
        );

        // Clicking it leads to the certificate page, with the banner for this host.
        browser.run("click the seal", browser.find("a:has(> img)").click());
        let banner = browser.wait_for(&format!("the certificate page from {host}"), 30, |b| {
            let url = b.current_url();
            let found =
                b.rt.block_on(b.client.find(fantoccini::Locator::Css("#banner")));
            found.ok().filter(|_| url == certificate_url)
        });
        let class = browser.run("banner class", banner.attr("class"));
        let text = browser.run("banner text", banner.text());
        browser.save_page(&shots.join(format!("{host}-certificate.png")));
        assert_eq!(class.as_deref(), Some(banner_class), "{host}: {text}");
        assert_eq!(text.trim(), banner_text, "{host}");
        assert_eq!(
            browser.run("status", browser.find("#status").text()),
            "有效"
        );
    }

    // The snippet with its Referer stripped, even on the certified host: the seal
    // asks to check the address bar instead of vouching (blue, not green).
    let stripped_url = format!("http://{SITE_HOST}:{}/stripped", shop.port());
    browser.goto(&stripped_url);
    browser.wait_for("the stripped seal loading", 30, |b| {
        b.js("const i = document.querySelector('a > img'); \
              return i && i.complete && i.naturalWidth > 0 ? true : null;")
            .as_bool()
    });
    let seal = browser.find("a > img");
    let png = browser.save_element(&seal, &shots.join("stripped-seal.png"));
    let [green, blue] = count_colours(&png, [SEAL_GREEN, SEAL_BLUE]);
    eprintln!("stripped Referer: {green} green and {blue} blue pixels");
    assert!(
        blue >= 100 && green * 20 <= blue,
        "a seal fetched without a Referer is not the neutral one: {green} green, {blue} blue"
    );

    // The copy was recorded for staff (off the request path: poll for it), and the
    // certified site was not.
    let copies = || {
        testkit::sqlite3(
            &d.db_url,
            &format!("SELECT host FROM seal_copies WHERE site_id = '{site_id}' ORDER BY host"),
        )
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    while copies().trim().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(copies().trim(), COPY_HOST);
    eprintln!(
        "browser test: screenshots in {}, {:.1} s",
        shots.display(),
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn a_person_registers_confirms_the_mailed_link_logs_in_and_out_in_a_browser() {
    let started = Instant::now();
    let d = Deployment::new(Backend::Sqlite);
    d.ca(&["init"]).ok();
    let _server = d.serve();
    let shots = testkit::browser::artifacts_dir("accounts");
    let b = Browser::start(&[], "zh-CN");
    let fill = |css: &str, text: &str| b.fill(css, text);
    let click = |css: &str| b.click(css);
    let text = |css: &str| b.text(css);

    b.goto(&d.url("/register"));
    fill("#email", "Han.Meimei@example.cn");
    fill("#password", "晨曦 correct horse");
    fill("#password2", "晨曦 correct horse");
    click("#role-operator");
    b.save_page(&shots.join("register.png"));
    click("#submit");
    let message = b.wait_for("the check-your-mail page", 10, |b| b.try_text("#message"));
    assert!(message.contains("han.meimei@example.cn"), "{message}");

    let link = mailed_link(&d, "han.meimei@example.cn", "/confirm?token=");
    b.goto(&link);
    // The link shows a button; only pressing it confirms.
    click("#confirm");
    b.wait_for("the confirmation", 10, |b| {
        b.current_url().ends_with("/confirm").then_some(())
    });
    assert!(
        text("#message").contains("邮箱已确认"),
        "{}",
        text("#message")
    );
    click("#next-link");
    b.wait_for("the login page", 10, |b| {
        b.current_url().ends_with("/login").then_some(())
    });
    fill("#email", "han.meimei@example.cn");
    fill("#password", "晨曦 correct horse");
    click("#submit");
    b.wait_for("the account page", 10, |b| {
        b.current_url().ends_with("/account").then_some(())
    });
    assert_eq!(text("dd#email"), "han.meimei@example.cn");
    assert!(text("#role").contains("operator"));
    // The cookie is HttpOnly: the page's script cannot read it.
    assert_eq!(b.js("return document.cookie;"), "");
    b.save_page(&shots.join("account.png"));

    click("#logout");
    b.wait_for("the login page after logout", 10, |b| {
        b.current_url().ends_with("/login").then_some(())
    });
    assert!(text("#nav-login").contains("登录"));
    b.goto(&d.url("/account"));
    assert!(
        b.current_url().ends_with("/login?next=%2Faccount"),
        "{}",
        b.current_url()
    );
    assert_eq!(
        testkit::sqlite3(
            &d.db_url,
            "SELECT COUNT(*) FROM sessions WHERE account_id IS NOT NULL"
        )
        .trim(),
        "0"
    );
    eprintln!(
        "register → confirm → login → logout in Chromium: {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

// ---------------------------------------------------------------------------------
// The complaint pages in a browser, from registration to a revoked seal.

/// `badge-server user add` with a password file: the account's bearer token.
pub(crate) fn user_add(d: &Deployment, role: &str, email: &str, password: &str) -> String {
    let file = d.path(&format!("{role}-password"));
    std::fs::write(&file, format!("{password}\n")).unwrap();
    let mut cmd = Command::new(bin("badge-server"));
    d.env(&mut cmd);
    let out = run(cmd.args([
        "user",
        "add",
        "--role",
        role,
        "--email",
        email,
        "--password-file",
        file.to_str().unwrap(),
    ]))
    .ok();
    out.stdout.lines().last().unwrap().to_string()
}

#[test]
fn a_complaint_filed_answered_and_upheld_through_the_pages_turns_the_seal_on_the_site_red() {
    const SITE_HOST: &str = "chenxi-shuzhi.cn";
    const USER: &str = "li.xiaoming@example.cn";
    const OPERATOR: &str = "op@chenxi-shuzhi.cn";
    const STAFF: &str = "reviewer@chengxin.test";
    const PASSWORD: &str = "晨曦 correct horse";
    for backend in Backend::all() {
        let started = Instant::now();
        let d = Deployment::new(backend);
        d.ca(&["init"]).ok();
        let operator = user_add(&d, "operator", OPERATOR, "operator passphrase 2026");
        let staff = user_add(&d, "staff", STAFF, "staff passphrase 2026");
        let sink = testkit::SmtpSink::start();
        let dns_port = free_port();
        let miit = testkit::fixtures_dir().join("miit-rows.json");
        let _server = d.serve_with(&quick_queue(&[
            ("CHENGXIN_SMTP_URL", sink.url()),
            ("CHENGXIN_DNS_SERVERS", format!("127.0.0.1:{dns_port}")),
            ("CHENGXIN_DNS_TIMEOUT", "1".into()),
            ("CHENGXIN_HTTP_TIMEOUT", "2".into()),
            ("CHENGXIN_HTTP_CHALLENGE_PORT", free_port().to_string()),
            ("CHENGXIN_ICP_PROVIDER", format!("file:{}", miit.display())),
        ]));
        let (_, site) = d.certify(&operator, &staff, dns_port, chenxi_application());
        let site_id = site["site"].as_str().unwrap().to_string();
        let snippet = site["snippet"].as_str().unwrap();
        let page = format!(
            "<!doctype html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
             <title>晨曦数智</title></head>\n<body><h1>晨曦数智 官方商城</h1>\n\
             <footer>{snippet}</footer>\n</body></html>\n"
        );
        let shop = testkit::browser::StaticSite::serve(&[("/", &page)]);
        let shots = testkit::browser::artifacts_dir("complaint");
        let tag = format!("{backend:?}").to_lowercase();
        let shot = |b: &Browser, name: &str| b.save_page(&shots.join(format!("{tag}-{name}.png")));
        let b = Browser::start(&[SITE_HOST], "zh-CN");
        let fill = |css: &str, text: &str| b.fill(css, text);
        let click = |css: &str| b.click(css);
        let text = |css: &str| b.text(css);
        let wait_path = |what: &str, path: &str| {
            b.wait_for(what, 15, |b| {
                b.current_url()
                    .split_once(&format!(":{}", d.port))
                    .is_some_and(|(_, p)| p.starts_with(path))
                    .then_some(())
            });
        };
        // Polled while a form submission navigates: an element of the page being left
        // goes stale, which is "not yet", not a failure.
        let status = |b: &Browser| {
            b.rt.block_on(async {
                let element = b
                    .client
                    .find(fantoccini::Locator::Css("#status"))
                    .await
                    .ok()?;
                element.attr("data-status").await.ok().flatten()
            })
            .unwrap_or_default()
        };
        let login = |email: &str, password: &str| {
            fill("#email", email);
            fill("#password", password);
            click("#submit");
        };
        let logout = || {
            click("#logout");
            wait_path("the login page after logout", "/login");
        };

        // A visitor registers and confirms by the link the SMTP server received.
        b.goto(&d.url("/register"));
        fill("#email", USER);
        fill("#password", PASSWORD);
        fill("#password2", PASSWORD);
        click("#role-user");
        click("#submit");
        let message = b.wait_for("the check-your-mail page", 15, |b| b.try_text("#message"));
        assert!(message.contains(USER), "{message}");
        let confirm = {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let found = sink
                    .messages()
                    .into_iter()
                    .find(|m| m.rcpt_tos.iter().any(|t| t == USER))
                    .map(|m| url_after(&m.text, &d.url("/confirm?token=")));
                if let Some(token) = found {
                    break d.url(&format!("/confirm?token={token}"));
                }
                assert!(
                    Instant::now() < deadline,
                    "no confirmation mail reached the sink"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        };
        b.goto(&confirm);
        click("#confirm");
        b.wait_for("the confirmation", 15, |b| {
            b.current_url().ends_with("/confirm").then_some(())
        });
        assert!(text("#message").contains("邮箱已确认"));

        // From the certificate page to the complaint form, through the login.
        b.goto(&d.url(&format!("/cert/{site_id}")));
        assert_eq!(text("#status"), "有效");
        click("#report");
        wait_path("the login page", "/login?next=");
        login(USER, PASSWORD);
        wait_path("the complaint form", "/complaints/new?site=");
        click("#category option[value='fraud']");
        fill(
            "#text",
            "付款后一直不发货，客服电话13812345678无人接听。<script>alert(1)</script>",
        );
        shot(&b, "1-complaint-form");
        click("#submit");
        let complaint = b.wait_for("the complaint page", 15, |b| {
            let url = b.current_url();
            url.rsplit_once("/complaints/c_")
                .map(|(_, id)| format!("c_{id}"))
        });
        b.wait_for("forwarded", 15, |b| {
            (status(b) == "forwarded").then_some(())
        });
        assert!(
            text("#text").contains("<script>alert(1)</script>"),
            "shown as text"
        );
        shot(&b, "2-filed");
        logout();

        // The operator answers in the portal: the complaint is masked there.
        b.goto(&d.url("/login"));
        login(OPERATOR, "operator passphrase 2026");
        wait_path("the account page", "/account");
        click("#nav-portal");
        wait_path("the portal", "/portal");
        click("a.site-link");
        wait_path("the site page", &format!("/portal/sites/{site_id}"));
        let listed = text(&format!("#complaint-{complaint}"));
        assert!(
            !listed.contains("13812345678") && !listed.contains(USER),
            "{listed}"
        );
        fill(
            &format!("#answer-{complaint}"),
            "已安排发货，并已联系您退款运费。",
        );
        shot(&b, "3-portal");
        click(&format!("#complaint-{complaint} .answer-submit"));
        wait_path(
            "the answered complaint",
            &format!("/complaints/{complaint}"),
        );
        b.wait_for("answered", 15, |b| (status(b) == "answered").then_some(()));
        logout();

        // The visitor is not satisfied.
        b.goto(&d.url(&format!("/complaints/{complaint}")));
        wait_path("the login page", "/login?next=");
        login(USER, PASSWORD);
        wait_path("the complaint", &format!("/complaints/{complaint}"));
        assert!(text("#answer").contains("已安排发货"));
        click("#satisfied-no");
        fill("#feedback-text", "至今没有收到货。");
        click("#feedback-submit");
        b.wait_for("under review", 15, |b| {
            (status(b) == "under_review").then_some(())
        });
        shot(&b, "4-feedback");
        logout();

        // Staff uphold it from the console's queue.
        b.goto(&d.url("/login"));
        login(STAFF, "staff passphrase 2026");
        wait_path("the account page", "/account");
        b.goto(&d.url("/console"));
        shot(&b, "5-console");
        click(&format!("a.complaint-link[href='/complaints/{complaint}']"));
        wait_path("the complaint", &format!("/complaints/{complaint}"));
        click("#decision-upheld");
        fill("#decide-reason", "经核实，经营者收款后未发货，投诉成立。");
        click("#decide-submit");
        b.wait_for("upheld", 15, |b| (status(b) == "upheld").then_some(()));
        shot(&b, "6-upheld");

        // The seal on the operator's site now says revoked, in red (the server keeps
        // a site's facts for a second).
        std::thread::sleep(Duration::from_millis(1500));
        let shop_url = format!("http://{SITE_HOST}:{}/", shop.port());
        b.goto(&shop_url);
        b.wait_for("the seal loading", 30, |b| {
            b.js("const i = document.querySelector('a > img'); \
                  return i && i.complete ? i.naturalWidth : null;")
                .as_u64()
                .filter(|w| *w > 0)
        });
        shot(&b, "7-site");
        let seal = b.find("a > img");
        let png = b.save_element(&seal, &shots.join(format!("{tag}-8-seal.png")));
        let [green, red] = count_colours(&png, [SEAL_GREEN, SEAL_RED]);
        assert!(
            red >= 100 && green * 20 <= red,
            "the seal is not red: {green} green and {red} red pixels"
        );
        b.goto(&d.url(&format!("/cert/{site_id}")));
        assert_ne!(text("#status"), "有效");
        assert_eq!(
            d.sql(&format!(
                "SELECT status FROM complaints WHERE id = '{complaint}'"
            ))
            .trim(),
            "upheld"
        );
        eprintln!(
            "{backend:?}: complaint through the pages in Chromium, {:.1} s; screenshots in {}",
            started.elapsed().as_secs_f64(),
            shots.display()
        );
    }
}
