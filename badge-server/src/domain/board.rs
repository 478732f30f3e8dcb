//! Synchronized publication (issue 17): the cases members show on their own sites.
//! A case is a published fraud warning or an upheld complaint decision; staff mark
//! the grave ones as prominent (重点案例). The embeddable board
//! (`/embed/warnings`), the Atom feed (`/warnings.atom`) and `/warnings` show the
//! same cases in the same order, prominent ones first, each newest first, with their
//! text masked ([`crate::domain::privacy::mask`]): the board is framed by sites we
//! do not run, so nothing on it may carry personal data.
//!
//! Also the rules for the origins a member registers to frame the board: they go
//! into the board's `Content-Security-Policy: frame-ancestors`, so an origin is
//! exactly scheme, host and port, nothing a CSP parser could read as more.

use ca::identity::Domain;

use crate::domain::complaint::Category;
use crate::domain::privacy::mask;
use crate::domain::warning::Warning;

/// Cases the board shows when the query does not say.
pub const DEFAULT_LIMIT: usize = 5;
/// Most cases a board may ask for: a small frame on someone else's page.
pub const MAX_LIMIT: usize = 20;
/// Entries of the Atom feed.
pub const FEED_ENTRIES: usize = 50;
/// Characters of a case's text on the board and in the feed (the rest is on our
/// site, one click away).
pub const SUMMARY_CHARS: usize = 200;
/// How long the board and the feed may be kept by the browser and by caches:
/// issue 17 asks that a case marked prominent appear everywhere within a minute.
pub const MAX_AGE_SECONDS: u32 = 60;
/// Origins one member may register.
pub const MAX_ORIGINS: usize = 20;

/// The board's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// 简体中文 (the default).
    Zh,
    /// English.
    En,
}

impl Lang {
    /// The query value and the `lang` attribute.
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    /// The Chinese or the English of a pair.
    pub fn pick(self, zh: &'static str, en: &'static str) -> &'static str {
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }
}

/// What `/embed/warnings?lang=&limit=` asked for, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoardQuery {
    /// Language of the board.
    pub lang: Lang,
    /// Cases shown, 1 to [`MAX_LIMIT`].
    pub limit: usize,
}

/// Checks the board's query: `lang` is `zh` or `en` (default `zh`), `limit` a whole
/// number from 1 to [`MAX_LIMIT`] (default [`DEFAULT_LIMIT`]). The message says what
/// is allowed.
pub fn board_query(lang: Option<&str>, limit: Option<&str>) -> Result<BoardQuery, String> {
    let lang = match lang {
        None | Some("zh") | Some("zh-CN") => Lang::Zh,
        Some("en") => Lang::En,
        Some(other) => {
            return Err(format!(
                "lang must be zh or en, not {:?}",
                other.chars().take(20).collect::<String>()
            ));
        }
    };
    let limit = match limit {
        None => DEFAULT_LIMIT,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                format!(
                    "limit must be a whole number from 1 to {MAX_LIMIT}, not {:?}",
                    l.chars().take(20).collect::<String>()
                )
            })?,
    };
    Ok(BoardQuery { lang, limit })
}

/// What a case is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseKind {
    /// A published fraud warning about the domain.
    Warning,
    /// An upheld complaint about the certified site with the domain.
    Complaint(Category),
}

/// One case as the board, the feed and `/warnings` show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    /// What it is.
    pub kind: CaseKind,
    /// The warning's id, or the complaint's `c_…`.
    pub id: String,
    /// The domain concerned (A-label).
    pub domain: String,
    /// Public text, masked and cut to [`SUMMARY_CHARS`].
    pub summary: String,
    /// When it was published (warning) or decided (complaint), unix seconds.
    pub at: i64,
    /// When staff marked it prominent, if they did.
    pub prominent_at: Option<i64>,
}

impl Case {
    /// A warning as a case: its description, masked.
    pub fn of_warning(w: &Warning, prominent_at: Option<i64>) -> Case {
        Case {
            kind: CaseKind::Warning,
            id: w.id.to_string(),
            domain: w.domain.clone(),
            summary: summary(&w.description),
            at: w.published_at,
            prominent_at,
        }
    }

    /// An upheld complaint as a case: staff's reason for upholding it, masked (the
    /// complaint's own text is the complainant's, and stays on the complaint).
    pub fn of_complaint(
        id: String,
        domain: String,
        category: Category,
        reason: &str,
        decided_at: i64,
        prominent_at: Option<i64>,
    ) -> Case {
        Case {
            kind: CaseKind::Complaint(category),
            id,
            domain,
            summary: summary(reason),
            at: decided_at,
            prominent_at,
        }
    }

    /// The anchor of the case on `/warnings`: `w{id}` or `c_…`.
    pub fn anchor(&self) -> String {
        match self.kind {
            CaseKind::Warning => format!("w{}", self.id),
            CaseKind::Complaint(_) => self.id.clone(),
        }
    }

    /// Whether staff marked it prominent.
    pub fn prominent(&self) -> bool {
        self.prominent_at.is_some()
    }

    /// When it last changed for a reader: marked prominent, or published.
    pub fn updated(&self) -> i64 {
        self.prominent_at.unwrap_or(self.at).max(self.at)
    }
}

/// `text` masked, then cut to [`SUMMARY_CHARS`] (with `…`): masking first, so that
/// a cut never leaves half a phone number unmasked.
pub fn summary(text: &str) -> String {
    let masked = mask(text.trim());
    if masked.chars().count() > SUMMARY_CHARS {
        let cut: String = masked.chars().take(SUMMARY_CHARS).collect();
        format!("{cut}…")
    } else {
        masked
    }
}

/// Sorts cases as everything shows them: prominent first, then newest first (ties by
/// id, so that the order is stable).
pub fn order(cases: &mut [Case]) {
    cases.sort_by(|a, b| {
        b.prominent()
            .cmp(&a.prominent())
            .then(b.at.cmp(&a.at))
            .then(b.id.cmp(&a.id))
    });
}

/// An origin a member registered.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct MemberOrigin {
    /// `https://host[:port]`, as [`parse_origin`] serializes it.
    #[schema(example = "https://www.example.com")]
    pub origin: String,
    /// When it was registered (unix seconds).
    pub created_at: i64,
}

/// Why an origin is refused, for the client.
const ORIGIN_SHAPE: &str = "an origin is https://host or https://host:port (http:// only for localhost and 127.0.0.1), without path, query, user or wildcard";

/// Parses an origin a member registers into its serialization (`https://host[:port]`,
/// host in A-labels, lower case, the default port dropped): https with a domain
/// name, or http or https on `localhost` / `127.0.0.1` (a loopback origin can only
/// frame the board on the visitor's own machine). Anything else is refused with a
/// message: a path, a query, a fragment, user information, a wildcard, an IP
/// address.
pub fn parse_origin(input: &str) -> Result<String, String> {
    let refuse = || Err(format!("{ORIGIN_SHAPE}: {:?}", cut(input, 100)));
    let s = input.trim();
    let s = s.strip_suffix('/').unwrap_or(s);
    let Some((scheme, rest)) = s.split_once("://") else {
        return refuse();
    };
    let scheme = scheme.to_ascii_lowercase();
    if rest.is_empty() || rest.contains(['/', '?', '#', '@', '\\', '*', ' ', ';', ',', '\'']) {
        return refuse();
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => {
            let Ok(port) = p.parse::<u16>() else {
                return refuse();
            };
            if port == 0 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return refuse();
            }
            (h, Some(port))
        }
        None => (rest, None),
    };
    let host = host.to_ascii_lowercase();
    let loopback = host == "localhost" || host == "127.0.0.1";
    let host = if loopback {
        host
    } else {
        match Domain::parse(&host) {
            Ok(d) if !host.ends_with('.') => d.as_str().to_string(),
            _ => return refuse(),
        }
    };
    let default_port = match scheme.as_str() {
        "https" => 443,
        "http" if loopback => 80,
        _ => return refuse(),
    };
    Ok(match port {
        Some(p) if p != default_port => format!("{scheme}://{host}:{p}"),
        _ => format!("{scheme}://{host}"),
    })
}

fn cut(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_query_takes_zh_or_en_and_a_limit_from_one_to_twenty() {
        assert_eq!(
            board_query(None, None).unwrap(),
            BoardQuery {
                lang: Lang::Zh,
                limit: DEFAULT_LIMIT
            }
        );
        assert_eq!(
            board_query(Some("en"), Some("20")).unwrap().limit,
            MAX_LIMIT
        );
        for (lang, limit) in [
            (Some("fr"), None),
            (None, Some("0")),
            (None, Some("21")),
            (None, Some("999")),
            (None, Some("-1")),
            (None, Some("5x")),
            (None, Some("")),
        ] {
            let e = board_query(lang, limit).unwrap_err();
            assert!(e.contains("lang") || e.contains("limit"), "{e}");
        }
    }

    #[test]
    fn prominent_cases_come_first_then_the_newest() {
        let case = |id: &str, at: i64, prominent: Option<i64>| Case {
            kind: CaseKind::Warning,
            id: id.into(),
            domain: "a.cn".into(),
            summary: String::new(),
            at,
            prominent_at: prominent,
        };
        let mut cases = vec![
            case("1", 10, None),
            case("2", 30, None),
            case("3", 5, Some(40)),
            case("4", 20, Some(50)),
        ];
        order(&mut cases);
        let ids: Vec<&str> = cases.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["4", "3", "2", "1"]);
        assert_eq!(cases[1].updated(), 40);
    }

    #[test]
    fn a_summary_is_masked_before_it_is_cut() {
        let phone = format!("{}13812345678", "字".repeat(SUMMARY_CHARS - 5));
        let s = summary(&phone);
        assert!(!s.contains("1381234"), "{s}");
        assert!(s.ends_with('…'), "{s}");
        assert_eq!(summary(" 联系 13812345678 "), "联系 138****5678");
    }

    #[test]
    fn an_origin_is_scheme_host_and_port_only() {
        for (input, origin) in [
            ("https://www.example.com", "https://www.example.com"),
            ("https://WWW.Example.COM/", "https://www.example.com"),
            ("https://www.example.com:443", "https://www.example.com"),
            (
                "https://shop.example.cn:8443",
                "https://shop.example.cn:8443",
            ),
            ("https://淘宝.cn", "https://xn--pbt173b.cn"),
            ("http://127.0.0.1:41234", "http://127.0.0.1:41234"),
            ("http://localhost", "http://localhost"),
        ] {
            assert_eq!(parse_origin(input).unwrap(), origin, "{input}");
        }
        for bad in [
            "",
            "www.example.com",
            "http://www.example.com",
            "ftp://www.example.com",
            "https://www.example.com/path",
            "https://www.example.com?q=1",
            "https://www.example.com#x",
            "https://user@www.example.com",
            "https://*.example.com",
            "https://www.example.com:0",
            "https://www.example.com:99999",
            "https://www.example.com:",
            "https://1.2.3.4",
            "https://www.example.com; script-src *",
            "https://a.com https://b.com",
            "https://'self'",
            "https://com",
        ] {
            let e = parse_origin(bad).unwrap_err();
            assert!(e.starts_with("an origin is"), "{bad}: {e}");
        }
    }
}
