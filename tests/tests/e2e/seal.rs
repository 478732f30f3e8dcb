//! The seal on the wire: content codings chosen by `Accept-Encoding`, validators per
//! coding, and the coded bytes decoded by an implementation that is not ours (curl's
//! brotli and zlib).

use std::process::Command;

use testkit::Backend;

use crate::{Deployment, http};

/// `(content-encoding, etag, vary, raw body)` of the seal fetched with `accept`.
fn fetch(
    client: &reqwest::blocking::Client,
    url: &str,
    accept: Option<&str>,
    if_none_match: Option<&str>,
) -> (u16, Option<String>, String, String, Vec<u8>) {
    let mut r = client
        .get(url)
        .header("referer", "https://chenxi-shuzhi.cn/");
    if let Some(a) = accept {
        r = r.header("accept-encoding", a);
    }
    if let Some(tag) = if_none_match {
        r = r.header("if-none-match", tag);
    }
    let r = r.send().unwrap();
    let header = |name: &str| {
        r.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    };
    let (encoding, etag, vary) = (
        header("content-encoding"),
        header("etag").unwrap(),
        header("vary").unwrap(),
    );
    // Tracking-free: a seal never sets a cookie.
    assert!(r.headers().get("set-cookie").is_none(), "{url}");
    let status = r.status().as_u16();
    (status, encoding, etag, vary, r.bytes().unwrap().to_vec())
}

#[test]
fn the_seal_goes_out_as_brotli_or_gzip_by_q_value_and_curl_decodes_either_to_the_plain_bytes() {
    let d = Deployment::new(Backend::Sqlite);
    let (_server, site) = d.certified_chenxi();
    let url = site["seal_url"].as_str().unwrap();
    // reqwest here has no decompression: it shows the bytes as sent.
    let client = http();

    let (status, encoding, plain_tag, vary, plain) = fetch(&client, url, None, None);
    assert_eq!((status, encoding), (200, None));
    assert_eq!(vary, "Accept-Encoding, Referer");
    let text = String::from_utf8(plain.clone()).unwrap();
    assert!(
        text.starts_with("<svg") && text.contains("网站身份已验证"),
        "{text}"
    );

    let mut tags = vec![plain_tag.clone()];
    for (accept, expected) in [
        ("gzip, deflate, br, zstd", Some("br")),
        ("gzip, deflate", Some("gzip")),
        ("br;q=0.5, gzip;q=0.9", Some("gzip")),
        ("identity", None),
        ("gzip;q=0.5, identity", None),
        ("zstd", None),
        // Unreadable elements are skipped, not refused.
        ("br;q=7, gzip;q=abc, *;q=0.2", Some("br")),
    ] {
        let (status, encoding, tag, vary, body) = fetch(&client, url, Some(accept), None);
        assert_eq!(status, 200, "{accept}");
        assert_eq!(encoding.as_deref(), expected, "{accept}");
        assert_eq!(vary, "Accept-Encoding, Referer");
        match expected {
            None => assert_eq!((&tag, &body), (&plain_tag, &plain), "{accept}"),
            Some(_) => {
                assert!(
                    body.len() < plain.len() / 3,
                    "{accept}: {} bytes",
                    body.len()
                );
                assert_ne!(tag, plain_tag, "{accept}");
                // The coding's own validator answers 304; the plain one does not
                // match a coded representation.
                assert_eq!(fetch(&client, url, Some(accept), Some(&tag)).0, 304);
                assert_eq!(fetch(&client, url, Some(accept), Some(&plain_tag)).0, 200);
                if !tags.contains(&tag) {
                    tags.push(tag);
                }
            }
        }
    }
    assert_eq!(
        tags.len(),
        3,
        "identity, gzip and br each have a validator: {tags:?}"
    );

    // curl asks for a coding and decodes it itself.
    for coding in ["br", "gzip"] {
        let out = Command::new("curl")
            .args(["-s", "--compressed", "-D", "-", "-H"])
            .arg(format!("Accept-Encoding: {coding}"))
            .args(["-H", "Referer: https://chenxi-shuzhi.cn/", "-o"])
            .arg(d.path(&format!("seal.{coding}.svg")))
            .arg(url)
            .output()
            .expect("curl runs");
        let headers = String::from_utf8_lossy(&out.stdout).to_lowercase();
        assert!(
            headers.contains(&format!("content-encoding: {coding}")),
            "{headers}"
        );
        assert_eq!(
            std::fs::read(d.path(&format!("seal.{coding}.svg"))).unwrap(),
            plain,
            "curl's {coding} decoder gives back the plain seal"
        );
    }

    // Nor does the certificate page a seal links to (its own session cookie is only
    // for people who sign in).
    let page = client
        .get(site["certificate_url"].as_str().unwrap())
        .header("referer", "https://chenxi-shuzhi.cn/")
        .header("cookie", "tracking=1")
        .send()
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers().get("set-cookie").is_none());

    // A PNG is compressed already: no coding, whatever is asked.
    let png = url.replace(".svg", ".png");
    let (status, encoding, _, _, body) = fetch(&client, &png, Some("br, gzip"), None);
    assert_eq!((status, encoding), (200, None));
    assert!(body.starts_with(b"\x89PNG"));
}
