//! The `Referer` host, read on the seal's hot path.

use std::borrow::Cow;

/// The host of the `Referer`, lower-cased: all a cross-origin image request reveals
/// (browsers send only the origin), and absent when the page suppressed it. Borrowed
/// from the header when it is already in the form browsers send (the seal's case).
pub(crate) fn referer_host(headers: &axum::http::HeaderMap) -> Option<Cow<'_, str>> {
    let referer = headers.get(axum::http::header::REFERER)?.to_str().ok()?;
    match plain_host(referer) {
        Some(host) if !host.bytes().any(|b| b.is_ascii_uppercase()) => Some(Cow::Borrowed(host)),
        Some(host) => Some(Cow::Owned(host.to_ascii_lowercase())),
        None => url::Url::parse(referer)
            .ok()
            .and_then(|u| u.host_str().map(|h| Cow::Owned(h.to_ascii_lowercase()))),
    }
}

/// The host of an `http(s)://host[:port][/…]` URL in the form browsers send it,
/// found by a byte scan because the seal's hot path reads one per request. Anything
/// the URL standard would rewrite (numeric or hex IPv4, IPv6, IDNA labels, userinfo,
/// backslashes, percent-escapes) is left to the full parser by answering `None`.
fn plain_host(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let end = rest
        .bytes()
        .position(|b| !(b.is_ascii_alphanumeric() || b == b'-' || b == b'.'))
        .unwrap_or(rest.len());
    let after = &rest[end..];
    let port_ok = match after.strip_prefix(':') {
        Some(port) => {
            let digits = port.find(['/', '?', '#']).map_or(port, |i| &port[..i]);
            digits.parse::<u16>().is_ok() && digits.bytes().all(|b| b.is_ascii_digit())
        }
        None => matches!(after.as_bytes().first(), None | Some(b'/' | b'?' | b'#')),
    };
    let host = &rest[..end];
    let labels = host.strip_suffix('.').unwrap_or(host);
    let plain = port_ok
        && labels.split('.').all(|l| {
            let idna = l.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("xn--"));
            !l.is_empty() && !idna
        })
        // A last label that starts with a letter cannot be read as IPv4.
        && labels
            .rsplit('.')
            .next()
            .and_then(|l| l.bytes().next())
            .is_some_and(|b| b.is_ascii_alphabetic());
    plain.then_some(host)
}

#[cfg(test)]
mod tests {
    use super::plain_host;
    use proptest::prelude::*;

    fn parsed(url: &str) -> Option<String> {
        url::Url::parse(url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
    }

    #[test]
    fn the_byte_scan_finds_the_host_of_what_browsers_send() {
        for (url, host) in [
            ("https://chenxi-shuzhi.cn/", "chenxi-shuzhi.cn"),
            ("http://www.Example.COM:8080/a?b#c", "www.Example.COM"),
            ("https://shop.example.com", "shop.example.com"),
            ("https://example.com?q=1", "example.com"),
            ("https://example.com./", "example.com."),
        ] {
            assert_eq!(plain_host(url), Some(host), "{url}");
            assert_eq!(
                parsed(url).as_deref(),
                Some(host.to_ascii_lowercase().as_str())
            );
        }
    }

    #[test]
    fn what_the_url_standard_would_rewrite_is_left_to_the_parser() {
        for url in [
            "https://evil.com\\@chenxi-shuzhi.cn/",
            "https://user@chenxi-shuzhi.cn/",
            "http://0x7f.1/",
            "http://127.0.0.1/",
            "http://[::1]/",
            "https://xn--fiqs8s.cn/",
            "https://ex%41mple.com/",
            "https://a..b.com/",
            "ftp://example.com/",
            "https:///example.com",
        ] {
            assert_eq!(plain_host(url), None, "{url}");
        }
    }

    proptest! {
        #[test]
        fn whenever_the_byte_scan_answers_it_agrees_with_the_url_parser(
            url in "(https?://)[a-zA-Z0-9.%@\\\\:\\[\\]-]{0,24}([/?#:][ -~]{0,8})?"
        ) {
            if let Some(host) = plain_host(&url) {
                prop_assert_eq!(Some(host.to_ascii_lowercase()), parsed(&url));
            }
        }
    }
}
