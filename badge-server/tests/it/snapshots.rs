//! What people read, as reviewed: every mail a complaint's life sends, the
//! certificate page of the site it revoked and the complaint page its complainant
//! sees. Identifiers, tokens, dates and digests are replaced by placeholders; the
//! rest is compared byte for byte on both backends against one set of snapshots, so
//! a wording or layout change shows up for review, and the backends cannot drift
//! apart.

use badge_server::domain::account::{Email, Role};
use badge_server::service::attachments;
use testkit::Backend;

use crate::pages::{OPERATOR, STAFF, USER, signed_in, world};

/// Replaces what changes from run to run with placeholders.
pub(crate) fn settings(site: &str, complaint: &str) -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_prepend_module_to_snapshot(false);
    s.set_snapshot_path("snapshots");
    for (pattern, placeholder) in [
        (regex_escape(site), "[site]"),
        // The transparency log section: entries, notes, hashes and the log's key
        // differ per run; the script's URL carries a hash of the script.
        (
            r#"data-(entry|note)="[^"]*""#.into(),
            r#"data-$1="[base64]""#,
        ),
        (
            r"/log\+[0-9a-f]{8}\+[A-Za-z0-9+/]{44}".into(),
            "/log+[key-id]+[key]",
        ),
        (r"[A-Za-z0-9+/]{43}=".into(), "[hash]"),
        (
            r"log-verify\.[0-9a-f]{16}\.js".into(),
            "log-verify.[hash].js",
        ),
        (regex_escape(complaint), "[complaint]"),
        (
            r#"name="csrf" value="[^"]*""#.into(),
            r#"name="csrf" value="[csrf]""#,
        ),
        (r"token=[A-Za-z0-9_-]+".into(), "token=[token]"),
        (r"att_[A-Za-z0-9_-]+".into(), "att_[id]"),
        (
            r"(?:[0-9A-F]{2}:){15,}[0-9A-F]{2}".into(),
            "[hex-with-colons]",
        ),
        (r"\b[0-9a-fA-F]{24,}\b".into(), "[hex]"),
        (
            r"\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2})?(?:Z| ?\(?UTC\+8\)?)?)?".into(),
            "[date]",
        ),
    ] {
        s.add_filter(&pattern, placeholder);
    }
    s
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c.to_string()
            } else {
                format!("\\{c}")
            }
        })
        .collect()
}

#[tokio::test]
async fn the_mails_and_pages_of_an_upheld_complaint_read_as_reviewed() {
    for backend in Backend::all() {
        let w = world(backend).await;
        let (t, site, c) = (&w.t, &w.site, &w.complaint);

        let mut op = signed_in(t, OPERATOR).await;
        op.submit(
            &format!("/complaints/{c}"),
            &format!("/complaints/{c}/answer"),
            &[("text", "已联系买家并安排发货，单号 SF1234567890。")],
        )
        .await
        .expect(303, "");
        let mut user = signed_in(t, USER).await;
        // A screenshot, as the complainant attaches it.
        let mut png = std::io::Cursor::new(Vec::new());
        image::RgbImage::from_pixel(4, 3, image::Rgb([200, 30, 30]))
            .write_to(&mut png, image::ImageFormat::Png)
            .unwrap();
        let complainant = badge_server::store::accounts::upsert_role(
            &t.state.db,
            &Email::parse(USER).unwrap(),
            Role::User,
        )
        .await
        .unwrap();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        attachments::attach(
            &t.state,
            &complainant,
            c,
            png.into_inner(),
            Some("订单截图.png".into()),
            now,
        )
        .await
        .unwrap();
        user.submit(
            &format!("/complaints/{c}"),
            &format!("/complaints/{c}/feedback"),
            &[("satisfied", "no"), ("text", "至今没有收到货。")],
        )
        .await
        .expect(303, "");
        let mut staff = signed_in(t, STAFF).await;
        staff
            .submit(
                &format!("/complaints/{c}"),
                &format!("/complaints/{c}/decide"),
                &[
                    ("decision", "upheld"),
                    ("reason", "运营者未能证明已发货。"),
                    ("revocation", "privilegeWithdrawn"),
                ],
            )
            .await
            .expect(303, "");

        let mails = t
            .mails()
            .await
            .iter()
            .map(|m| {
                format!(
                    "To: {}\nSubject: {}\n\n{}",
                    m["to"].as_str().unwrap(),
                    m["subject"].as_str().unwrap(),
                    m["text"].as_str().unwrap()
                )
            })
            .collect::<Vec<_>>()
            .join("\n========\n");
        // The page with the log section as a visitor sees it once a checkpoint is out.
        t.state.services.log.checkpoint(&t.state.db).await.unwrap();
        let certificate = t.browser().get(&format!("/cert/{site}")).await;
        assert_eq!(certificate.status, 200);
        let complaint = user.get(&format!("/complaints/{c}")).await;
        assert_eq!(complaint.status, 200);

        settings(site, c).bind(|| {
            insta::assert_snapshot!("upheld-complaint-mails", mails);
            insta::assert_snapshot!("revoked-certificate-page.html", certificate.body);
            insta::assert_snapshot!("upheld-complaint-as-complainant.html", complaint.body);
        });
    }
}
