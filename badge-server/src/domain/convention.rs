//! Self-discipline conventions (自律公约, issue 16): staff publish a convention's text
//! in versions, and an operator signs the current version for their organization.
//! This module holds the types, the text limits, which signature needs renewing, and
//! how a text written in Markdown becomes safe HTML. The tables are
//! [`crate::store::conventions`], the use cases [`crate::service::conventions`].

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

/// Longest title, in characters.
pub const MAX_TITLE: usize = 100;
/// Longest text of one version, in characters.
pub const MAX_TEXT: usize = 50_000;

/// A convention with its current (latest) version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Convention {
    /// Row id.
    pub id: i64,
    /// Title, e.g. 《网络诚信自律公约》 without the brackets.
    pub title: String,
    /// The current version (1, 2, …).
    pub version: i64,
    /// Its text (Markdown).
    pub text: String,
    /// When the current version was published (unix seconds).
    pub published_at: i64,
}

/// The latest signature of one organization on one convention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// The convention.
    pub convention_id: i64,
    /// Its title.
    pub title: String,
    /// Its current version.
    pub current_version: i64,
    /// The organization (its registered name: no personal data).
    pub organization: String,
    /// Its USCC.
    pub uscc: String,
    /// The version it signed last.
    pub version: i64,
    /// When (unix seconds).
    pub signed_at: i64,
}

impl Signature {
    /// Whether a newer version waits for the organization to sign it again (the old
    /// signature still stands for the version it names).
    pub fn outdated(&self) -> bool {
        self.version < self.current_version
    }
}

/// A convention's title: 1 to [`MAX_TITLE`] characters, one line, without the
/// 《》 the pages add.
pub fn check_title(title: &str) -> Result<String, (String, String)> {
    let t = title
        .trim()
        .trim_start_matches('《')
        .trim_end_matches('》')
        .trim();
    let n = t.chars().count();
    if n == 0 || n > MAX_TITLE {
        return Err(("title".into(), format!("write 1 to {MAX_TITLE} characters")));
    }
    if t.chars().any(char::is_control) {
        return Err((
            "title".into(),
            "one line, without control characters".into(),
        ));
    }
    Ok(t.to_string())
}

/// A version's text: 1 to [`MAX_TEXT`] characters of Markdown.
pub fn check_text(text: &str) -> Result<String, (String, String)> {
    let t = text.trim();
    let n = t.chars().count();
    if n == 0 || n > MAX_TEXT {
        return Err(("text".into(), format!("write 1 to {MAX_TEXT} characters")));
    }
    if t.chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(("text".into(), "control characters are not allowed".into()));
    }
    Ok(t.to_string())
}

/// Whether a link may stay a link: absolute http or https with a host, or mailto.
fn safe_link(dest: &str) -> bool {
    match url::Url::parse(dest.trim()) {
        Ok(u) => match u.scheme() {
            "http" | "https" => u.host_str().is_some(),
            "mailto" => true,
            _ => false,
        },
        Err(_) => false,
    }
}

/// Renders a convention's Markdown as HTML that cannot run anything: raw HTML
/// (blocks and inline) is shown as text, links other than http(s) and mailto lose
/// their link (their text stays), images become their alt text (nothing is loaded).
pub fn render(markdown: &str) -> String {
    let mut dropped_links: Vec<bool> = Vec::new();
    let mut events: Vec<Event<'_>> = Vec::new();
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
    for event in Parser::new_ext(markdown, options) {
        match event {
            Event::Html(raw) | Event::InlineHtml(raw) => events.push(Event::Text(raw)),
            Event::Start(Tag::Link {
                link_type,
                dest_url,
                title,
                id,
            }) => {
                let keep = safe_link(&dest_url);
                dropped_links.push(!keep);
                if keep {
                    events.push(Event::Start(Tag::Link {
                        link_type,
                        dest_url,
                        title,
                        id,
                    }));
                }
            }
            Event::End(TagEnd::Link) => {
                if !dropped_links.pop().unwrap_or(true) {
                    events.push(Event::End(TagEnd::Link));
                }
            }
            Event::Start(Tag::Image { .. }) | Event::End(TagEnd::Image) => {}
            other => events.push(other),
        }
    }
    let mut out = String::with_capacity(markdown.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut out, events.into_iter());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_renders_but_nothing_in_it_runs() {
        let html = render(
            "# 第一条\n\n**诚信**经营，见[联盟](https://example.cn/a?b=1&c=2)。\n\n\
             <script>alert(1)</script>\n\n\
             点<a href=\"javascript:alert(2)\">这里</a>\n\n\
             [链接](javascript:alert(3)) [相对](/x) [邮件](mailto:a@example.cn)\n\n\
             <javascript:alert(4)>\n\n\
             ![图](https://evil.example/x.png \"t\")\n\n\
             | a | b |\n|---|---|\n| <img src=x onerror=alert(5)> | 2 |\n",
        );
        assert!(html.contains("<h1>第一条</h1>"), "{html}");
        assert!(html.contains("<strong>诚信</strong>"));
        assert!(html.contains("<a href=\"https://example.cn/a?b=1&amp;c=2\">联盟</a>"));
        assert!(html.contains("<a href=\"mailto:a@example.cn\">邮件</a>"));
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{html}"
        );
        assert!(html.contains("<table>"));
        for bad in [
            "<script",
            "javascript:alert(3)\"",
            "<a href=\"javascript",
            "<img",
            "href=\"/x\"",
        ] {
            assert!(!html.contains(bad), "{bad} in {html}");
        }
        // The texts of dropped links and images stay.
        assert!(html.contains("链接") && html.contains("相对") && html.contains("图"));
    }

    #[test]
    fn titles_and_texts_have_limits_and_titles_lose_their_brackets() {
        assert_eq!(
            check_title("《网络诚信自律公约》").unwrap(),
            "网络诚信自律公约"
        );
        assert!(check_title("").is_err());
        assert!(check_title("a\nb").is_err());
        assert!(check_title(&"长".repeat(MAX_TITLE + 1)).is_err());
        assert!(check_text(" ").is_err());
        assert!(check_text("第一条\n第二条").is_ok());
    }

    #[test]
    fn a_signature_of_an_older_version_is_outdated() {
        let s = Signature {
            convention_id: 1,
            title: "t".into(),
            current_version: 2,
            organization: "o".into(),
            uscc: "u".into(),
            version: 1,
            signed_at: 0,
        };
        assert!(s.outdated());
        assert!(!Signature { version: 2, ..s }.outdated());
    }
}
