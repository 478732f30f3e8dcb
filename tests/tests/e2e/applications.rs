//! An operator applies, proves control of the domain, staff approve: the certificate, the
//! seal and the certificate page over HTTP, search, revocation, and who may do what.

use std::time::Duration;

use testkit::{Backend, free_port};

use crate::{Deployment, SEAL_GREEN, chenxi_application, count_colours, http};

#[test]
fn an_operator_applies_proves_control_and_staff_approve_while_everyone_else_is_kept_out() {
    for backend in Backend::all() {
        let d = Deployment::new(backend);
        d.ca(&["init"]).ok();
        let dns_port = free_port();
        let (a, b, staff, user) = (
            d.token("operator", "a@chenxi-shuzhi.cn"),
            d.token("operator", "b@pujiangyun.com"),
            d.token("staff", "staff@seal.test"),
            d.token("user", "visitor@seal.test"),
        );
        let _server = d.serve_for_applications(dns_port);
        let _empty_dns = testkit::Zone::new().start_on(dns_port);
        let client = http();
        let post = |path: &str, token: Option<&str>, body: serde_json::Value| {
            let mut r = client.post(d.url(path)).json(&body);
            if let Some(t) = token {
                r = r.bearer_auth(t);
            }
            r.send().unwrap()
        };
        let get =
            |path: &str, token: &str| client.get(d.url(path)).bearer_auth(token).send().unwrap();
        let f01 = chenxi_application();

        assert_eq!(
            post("/api/v1/applications", None, f01.clone()).status(),
            401
        );
        assert_eq!(
            post("/api/v1/applications", Some(&user), f01.clone()).status(),
            403
        );
        assert_eq!(
            post("/api/v1/applications", Some(&staff), f01.clone()).status(),
            403
        );
        let invalid = post(
            "/api/v1/applications",
            Some(&a),
            serde_json::json!({"domains": ["bad domain"], "organization": "<script>x</script>公司", "uscc": "91110108MA04T7K21J",
                "icp": "冀ICP备2022016663号-4A", "province": "北京市", "city": "市辖区"}),
        );
        assert_eq!(invalid.status(), 422);
        let fields: serde_json::Value = invalid.json().unwrap();
        for f in ["uscc", "icp", "domains[0]"] {
            assert!(
                fields["fields"][f].is_string(),
                "{f} not reported: {fields}"
            );
        }
        let mut unknown = f01.clone();
        unknown["admin"] = serde_json::json!(true);
        assert_eq!(
            post("/api/v1/applications", Some(&a), unknown).status(),
            422
        );
        let bad_json = client
            .post(d.url("/api/v1/applications"))
            .bearer_auth(&a)
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .unwrap();
        assert_eq!(bad_json.status(), 400);

        let created = post("/api/v1/applications", Some(&a), f01.clone());
        assert_eq!(created.status(), 201);
        let app: serde_json::Value = created.json().unwrap();
        let id = app["id"].as_str().unwrap().to_string();
        // No CSR: the operator's key is generated at application time, shown once.
        let operator_key = app["private_key_pem"].as_str().unwrap().to_string();
        let txt = app["challenges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["method"] == "dns-txt")
            .unwrap()
            .clone();
        assert_eq!(txt["name"], "_chengxin-challenge.chenxi-shuzhi.cn");
        let token = txt["value"].as_str().unwrap().to_string();
        assert!(app["challenges"].as_array().unwrap().iter().any(|c| c["method"] == "html-meta"
            && c["html"].as_str().unwrap().contains(&token)));

        // Before the record exists: failed, with the reason.
        let first: serde_json::Value = post(
            &format!("/api/v1/applications/{id}/verify"),
            Some(&a),
            serde_json::json!({"method": "dns-txt"}),
        )
        .json()
        .unwrap();
        assert_eq!(first["status"], "failed", "{first}");
        assert!(
            first["reasons"].to_string().contains("no TXT record"),
            "{first}"
        );
        assert_eq!(
            post(
                &format!("/api/v1/applications/{id}/verify"),
                Some(&b),
                serde_json::json!({})
            )
            .status(),
            403
        );
        assert_eq!(
            post(
                &format!("/api/v1/applications/{id}/verify"),
                Some(&a),
                serde_json::json!({"method": "pigeon"})
            )
            .status(),
            422
        );

        // The operator publishes the record; verification passes.
        drop(_empty_dns);
        let _dns = testkit::Zone::new()
            .txt("_chengxin-challenge.chenxi-shuzhi.cn", &token)
            .start_on(dns_port);
        let second: serde_json::Value = post(
            &format!("/api/v1/applications/{id}/verify"),
            Some(&a),
            serde_json::json!({"method": "dns-txt"}),
        )
        .json()
        .unwrap();
        assert_eq!(second["status"], "validated", "{second}");

        assert_eq!(get(&format!("/api/v1/applications/{id}"), &b).status(), 403);
        let seen: serde_json::Value = get(&format!("/api/v1/applications/{id}"), &staff)
            .json()
            .unwrap();
        assert_eq!(seen["status"], "validated");
        let checks: Vec<&str> = seen["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["check"].as_str().unwrap())
            .collect();
        assert!(
            checks.contains(&"dns-txt") && checks.contains(&"icp"),
            "{checks:?}"
        );
        assert_eq!(
            get("/api/v1/applications/app_doesnotexist", &staff).status(),
            404
        );

        assert_eq!(
            post(
                &format!("/api/v1/applications/{id}/approve"),
                Some(&a),
                serde_json::json!({})
            )
            .status(),
            403
        );
        // Rejection needs staff and a reason; a refused attempt changes nothing.
        let reject = |token: &str, body: serde_json::Value| {
            post(
                &format!("/api/v1/applications/{id}/reject"),
                Some(token),
                body,
            )
            .status()
        };
        assert_eq!(reject(&a, serde_json::json!({"reason": "mine"})), 403);
        assert_eq!(reject(&staff, serde_json::json!({"reason": "   "})), 422);
        assert_eq!(reject(&staff, serde_json::json!({})), 422);
        assert_eq!(
            reject(&staff, serde_json::json!({"reason": "x".repeat(1001)})),
            422
        );
        let still: serde_json::Value = get(&format!("/api/v1/applications/{id}"), &staff)
            .json()
            .unwrap();
        assert_eq!(still["status"], "validated");

        let approved = post(
            &format!("/api/v1/applications/{id}/approve"),
            Some(&staff),
            serde_json::json!({}),
        );
        assert_eq!(approved.status(), 200);
        let site: serde_json::Value = approved.json().unwrap();
        assert_eq!(site["status"], "certified");
        assert_eq!(site["uscc"], "91110108MA04T7K21H");
        assert_eq!(site["serial"].as_str().unwrap().len(), 36);
        // The key went to the operator when they applied; whoever approves gets none.
        assert!(site.get("private_key_pem").is_none(), "{site}");
        assert!(site["snippet"].as_str().unwrap().contains("/seal/"));
        let site_id = site["site"].as_str().unwrap().to_string();
        // Every offered variant is served, in its format and at its size; the PNGs
        // are drawn in the certified green (on a page of the site: with its Referer).
        let variants = site["seal_variants"].as_array().unwrap();
        assert_eq!(variants.len(), 12);
        assert_eq!(variants[0]["snippet"], site["snippet"]);
        let on_site = |url: &str| {
            client
                .get(url)
                .header("referer", "https://chenxi-shuzhi.cn/")
                .send()
                .unwrap()
        };
        for v in variants {
            let url = v["url"].as_str().unwrap();
            let r = on_site(url);
            assert_eq!(r.status(), 200, "{url}");
            let ct = r.headers()["content-type"].to_str().unwrap().to_string();
            let body = r.bytes().unwrap();
            if v["format"] == "png" {
                assert_eq!(ct, "image/png", "{url}");
                let (w, h) = png_size(&body);
                assert_eq!(
                    (w, h),
                    (
                        v["width"].as_u64().unwrap() as u32,
                        v["height"].as_u64().unwrap() as u32
                    ),
                    "{url}"
                );
                let [green] = count_colours(&body, [SEAL_GREEN]);
                assert!(green > 200, "{url}: {green} green pixels");
                let x2 = url.replace(".png", "@2x.png");
                assert!(
                    v["snippet"]
                        .as_str()
                        .unwrap()
                        .contains(&format!("{} 2x", x2.replace('&', "&#38;"))),
                    "{v}"
                );
                let (w2, h2) = png_size(&on_site(&x2).bytes().unwrap());
                assert_eq!((w2, h2), (2 * w, 2 * h), "{x2}");
            } else {
                assert_eq!(ct, "image/svg+xml; charset=utf-8", "{url}");
                assert!(
                    std::str::from_utf8(&body)
                        .unwrap()
                        .contains("网站身份已验证")
                );
            }
        }
        assert_eq!(
            post(
                &format!("/api/v1/applications/{id}/approve"),
                Some(&staff),
                serde_json::json!({})
            )
            .status(),
            409
        );

        // The certificate is public: PEM that openssl verifies against the served chain, and JSON.
        let pem = client
            .get(d.url(&format!("/cert/{site_id}.pem")))
            .send()
            .unwrap()
            .text()
            .unwrap();
        std::fs::write(d.path("site.pem"), &pem).unwrap();
        std::fs::write(
            d.path("chain.pem"),
            client
                .get(d.url("/ca/chain.pem"))
                .send()
                .unwrap()
                .text()
                .unwrap(),
        )
        .unwrap();
        d.openssl(&[
            "verify",
            "-CAfile",
            "ca/root.pem",
            "-untrusted",
            "chain.pem",
            "site.pem",
        ])
        .ok();
        // The certificate is for the key the operator was given when applying.
        std::fs::write(d.path("operator.key"), &operator_key).unwrap();
        let key_pub = d.openssl(&["pkey", "-in", "operator.key", "-pubout"]).ok();
        let cert_pub = d
            .openssl(&["x509", "-in", "site.pem", "-noout", "-pubkey"])
            .ok();
        assert_eq!(key_pub.stdout, cert_pub.stdout);
        let public: serde_json::Value = client
            .get(d.url(&format!("/cert/{site_id}.json")))
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(public["serial"], site["serial"]);
        assert_eq!(
            client
                .get(d.url("/cert/s_nothere.pem"))
                .send()
                .unwrap()
                .status(),
            404
        );
        let check = |u: &str| -> serde_json::Value {
            client
                .get(d.url("/api/v1/check"))
                .query(&[("url", u)])
                .send()
                .unwrap()
                .json()
                .unwrap()
        };
        assert_eq!(
            check("https://www.chenxi-shuzhi.cn/shop?x=1")["result"],
            "certified"
        );
        assert_eq!(check("chenxi-shuzhi.cn")["result"], "certified");
        assert_eq!(
            check("https://chenxi-shuzhi.cn.evil.example/")["result"],
            "not_certified"
        );
        assert_eq!(
            check("https://notchenxi-shuzhi.cn/")["result"],
            "not_certified"
        );
        assert_eq!(
            client
                .get(d.url("/api/v1/check"))
                .query(&[("url", "http://")])
                .send()
                .unwrap()
                .status(),
            422
        );

        // The seal: certified on the site itself, "not certified for this site" elsewhere.
        let seal = |referer: Option<&str>| {
            let mut r = client.get(d.url(&format!("/seal/{site_id}.svg")));
            if let Some(r2) = referer {
                r = r.header("referer", r2);
            }
            r.send().unwrap()
        };
        let own = seal(Some("https://www.chenxi-shuzhi.cn/"));
        assert_eq!(own.status(), 200);
        assert_eq!(
            own.headers()["content-type"],
            "image/svg+xml; charset=utf-8"
        );
        let etag = own.headers()["etag"].to_str().unwrap().to_string();
        let own_cache_control = own.headers()["cache-control"].to_str().unwrap().to_string();
        let own = own.text().unwrap();
        assert!(
            own.contains("网站身份已验证") && own.contains("chenxi-shuzhi.cn"),
            "{own}"
        );
        // No Referer proves nothing either way: the seal asks to compare the domain
        // with the address bar instead of vouching (issue 14).
        let blind = seal(None).text().unwrap();
        assert!(
            blind.contains("请核对地址栏") && !blind.contains("网站身份已验证"),
            "{blind}"
        );
        let copied = seal(Some("https://shop.evil-copy.cn/index.html"))
            .text()
            .unwrap();
        assert!(
            copied.contains("非本站认证") && copied.contains("chenxi-shuzhi.cn"),
            "{copied}"
        );
        let not_modified = client
            .get(d.url(&format!("/seal/{site_id}.svg")))
            .header("referer", "https://chenxi-shuzhi.cn/")
            .header("if-none-match", &etag)
            .send()
            .unwrap();
        assert_eq!(not_modified.status(), 304);
        assert_eq!(own_cache_control, "public, no-cache");
        let english = client
            .get(d.url(&format!("/seal/{site_id}.svg?lang=en&size=l")))
            .header("referer", "https://chenxi-shuzhi.cn/")
            .send()
            .unwrap()
            .text()
            .unwrap();
        assert!(english.find("Verified").unwrap() < english.find("网站身份已验证").unwrap());
        assert_eq!(
            client
                .get(d.url(&format!("/seal/{site_id}.svg?size=xxl")))
                .send()
                .unwrap()
                .status(),
            400
        );
        let unknown = client.get(d.url("/seal/s_nothere.svg")).send().unwrap();
        assert_eq!(unknown.status(), 404);
        assert!(unknown.text().unwrap().contains("未认证网站"));

        // The certificate page: zh-CN by default, English on request, a banner about the Referer.
        let page = |referer: Option<&str>, query: &str, lang: Option<&str>| {
            let mut r = client.get(d.url(&format!("/cert/{site_id}{query}")));
            if let Some(v) = referer {
                r = r.header("referer", v);
            }
            if let Some(l) = lang {
                r = r.header("accept-language", l);
            }
            let resp = r.send().unwrap();
            assert_eq!(resp.status(), 200);
            assert!(
                resp.headers()["content-security-policy"]
                    .to_str()
                    .unwrap()
                    .contains("default-src 'none'")
            );
            resp.text().unwrap()
        };
        let zh = page(Some("https://www.chenxi-shuzhi.cn/"), "", None);
        for needle in [
            "网站身份证书",
            "北京晨曦数智科技有限公司",
            "91110108MA04T7K21H",
            "京ICP备2024018653号-1",
            "北京市 市辖区",
            "class=\"banner ok\"",
            "有效",
        ] {
            assert!(zh.contains(needle), "{needle} missing from {zh}");
        }
        let warned = page(Some("https://shop.evil-copy.cn/"), "", None);
        assert!(
            warned.contains("class=\"banner warn\"") && warned.contains("shop.evil-copy.cn"),
            "{warned}"
        );
        assert!(page(None, "", None).contains("class=\"banner neutral\""));
        assert!(page(None, "?lang=en", None).contains("Website identity certificate"));
        assert!(
            page(None, "", Some("en-US,en;q=0.9"))
                .contains("We could not tell where this seal was shown")
        );
        assert!(page(None, "", Some("en-US,en;q=0.9")).contains("Certified domains"));
        assert_eq!(
            client
                .get(d.url("/cert/s_nothere"))
                .send()
                .unwrap()
                .status(),
            404
        );

        // The registry finds the site by Chinese substring, domain, USCC and ICP number.
        let search = |q: &str| -> serde_json::Value {
            client
                .get(d.url("/api/v1/sites"))
                .query(&[("q", q)])
                .send()
                .unwrap()
                .json()
                .unwrap()
        };
        for q in [
            "晨曦",
            "北京晨曦数智",
            "chenxi-shuzhi",
            "CHENXI",
            "91110108ma04t7k21h",
            "京ICP备2024018653号",
        ] {
            let found = search(q);
            assert_eq!(
                found["results"].as_array().unwrap().len(),
                1,
                "{q}: {found}"
            );
            assert_eq!(found["results"][0]["site"], site_id.as_str());
        }
        assert_eq!(search("浦江")["results"].as_array().unwrap().len(), 0);
        assert_eq!(
            search("%")["results"].as_array().unwrap().len(),
            0,
            "LIKE wildcards are literal"
        );
        let html = client
            .get(d.url("/archive"))
            .query(&[("q", "<script>alert('x')</script>晨曦")])
            .send()
            .unwrap()
            .text()
            .unwrap();
        assert!(
            !html.contains("<script>alert"),
            "the query is escaped: {html}"
        );
        let html = client
            .get(d.url("/archive"))
            .query(&[("q", "晨曦")])
            .send()
            .unwrap()
            .text()
            .unwrap();
        assert!(
            html.contains(&format!("/cert/{site_id}")) && html.contains("北京晨曦数智科技有限公司"),
            "{html}"
        );
        assert_eq!(
            client
                .get(d.url("/api/v1/sites"))
                .query(&[("q", "x".repeat(201))])
                .send()
                .unwrap()
                .status(),
            422
        );

        let mine: serde_json::Value = get(&format!("/api/v1/sites/{site_id}"), &a).json().unwrap();
        assert!(
            mine.get("private_key_pem").is_none(),
            "the key is shown once only"
        );
        assert_eq!(get(&format!("/api/v1/sites/{site_id}"), &b).status(), 403);
        assert_eq!(get("/api/v1/sites/s_nothere", &staff).status(), 404);
        assert_eq!(
            post(
                &format!("/api/v1/sites/{site_id}/revoke"),
                Some(&a),
                serde_json::json!({"reason": "keyCompromise"})
            )
            .status(),
            403
        );
        assert_eq!(
            post(
                &format!("/api/v1/sites/{site_id}/revoke"),
                Some(&staff),
                serde_json::json!({"reason": "nope"})
            )
            .status(),
            422
        );
        let revoked: serde_json::Value = post(
            &format!("/api/v1/sites/{site_id}/revoke"),
            Some(&staff),
            serde_json::json!({"reason": "privilegeWithdrawn"}),
        )
        .json()
        .unwrap();
        assert_eq!(revoked["status"], "revoked", "{revoked}");
        assert_eq!(revoked["revocation_reason"], "privilegeWithdrawn");
        assert_eq!(check("chenxi-shuzhi.cn")["result"], "revoked");
        // The seal follows within its one-second freshness window.
        std::thread::sleep(Duration::from_millis(1100));
        let after = seal(Some("https://chenxi-shuzhi.cn/")).text().unwrap();
        assert!(after.contains("认证已撤销"), "{after}");
        // A browser holding the certified seal must ask before showing it again
        // (no-cache), and asking with its ETag now brings the revoked seal.
        let held = client
            .get(d.url(&format!("/seal/{site_id}.svg")))
            .header("referer", "https://chenxi-shuzhi.cn/")
            .header("if-none-match", &etag)
            .send()
            .unwrap();
        assert_eq!(held.status(), 200);
        assert_eq!(held.headers()["cache-control"], "public, no-cache");
        assert_ne!(held.headers()["etag"].to_str().unwrap(), etag);
        assert!(held.text().unwrap().contains("认证已撤销"));
        let revoked_page = client
            .get(d.url(&format!("/cert/{site_id}")))
            .send()
            .unwrap()
            .text()
            .unwrap();
        assert!(
            revoked_page.contains("已撤销") && revoked_page.contains("privilegeWithdrawn"),
            "{revoked_page}"
        );
        let again = post(
            &format!("/api/v1/sites/{site_id}/revoke"),
            Some(&staff),
            serde_json::json!({"reason": "keyCompromise"}),
        );
        assert_eq!(again.status(), 409);
    }
}

#[test]
fn a_hostile_organization_name_is_escaped_on_every_page_that_shows_it() {
    let d = Deployment::new(Backend::Sqlite);
    d.ca(&["init"]).ok();
    let dns_port = free_port();
    let (op, staff) = (
        d.token("operator", "op@pujiangyun.com"),
        d.token("staff", "staff@seal.test"),
    );
    let _server = d.serve_for_applications(dns_port);
    let client = http();
    // Within the 64 characters X.520 allows an organization name.
    let hostile = "<script>alert('x')</script>\"><svg onload=alert(1)>上海浦江云服务有限公司";
    let (verified, site) = d.certify(
        &op,
        &staff,
        dns_port,
        serde_json::json!({"domains": ["pujiangyun.com"], "organization": hostile, "uscc": "91310115MA1H93QW9A",
            "icp": "沪ICP备17024538号-3", "province": "上海市", "city": "市辖区"}),
    );
    // The filing names 上海浦江云服务有限公司 without the markup: a human must look.
    assert_eq!(verified["status"], "review", "{verified}");
    let site_id = site["site"].as_str().unwrap();
    let page = client
        .get(d.url(&format!("/cert/{site_id}")))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let archive = client
        .get(d.url("/archive"))
        .query(&[("q", "浦江")])
        .send()
        .unwrap()
        .text()
        .unwrap();
    for (name, html) in [("certificate page", &page), ("archive", &archive)] {
        assert!(
            html.contains("上海浦江云服务有限公司"),
            "{name} lost the name: {html}"
        );
        for raw in ["<script>alert", "<svg onload"] {
            assert!(
                !html.contains(raw),
                "{name} shows {raw:?} unescaped: {html}"
            );
        }
    }
}

/// Width and height of a PNG.
fn png_size(png_bytes: &[u8]) -> (u32, u32) {
    let reader = png::Decoder::new(std::io::Cursor::new(png_bytes))
        .read_info()
        .unwrap();
    let info = reader.info();
    (info.width, info.height)
}
