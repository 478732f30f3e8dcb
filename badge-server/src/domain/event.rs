//! Seminars and forums (研讨会、专题论坛) the alliance holds (issue 16): what staff
//! enter and the rules it must meet, and the iCalendar feed (RFC 5545) `/events.ics`
//! serves. The table is [`crate::store::events`], the use cases
//! [`crate::service::events`].

use time::format_description::well_known::Rfc3339;
use time::macros::{format_description, offset};
use time::{OffsetDateTime, PrimitiveDateTime};

/// Longest title or place, in characters.
pub const MAX_LINE: usize = 200;
/// Longest description, in characters.
pub const MAX_DESCRIPTION: usize = 5000;
/// Longest registration link, in bytes.
pub const MAX_URL: usize = 2000;

/// An event as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Row id.
    pub id: i64,
    /// Title.
    pub title: String,
    /// When it starts (unix seconds).
    pub starts_at: i64,
    /// Where.
    pub place: String,
    /// What it is about (plain text).
    pub description: String,
    /// Where to register (http or https), if anywhere.
    pub registration_url: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds: the iCalendar `DTSTAMP`, so the feed's bytes change only with it.
    pub updated_at: i64,
}

/// What staff submit (form or JSON), unchecked.
#[derive(Debug, Clone, Default)]
pub struct EventInput<'a> {
    /// Title.
    pub title: &'a str,
    /// `YYYY-MM-DDTHH:MM[:SS]` in Beijing time (a `datetime-local` field), or RFC 3339
    /// with its own offset.
    pub starts: &'a str,
    /// Where.
    pub place: &'a str,
    /// What it is about.
    pub description: &'a str,
    /// Registration link; empty for none.
    pub registration_url: &'a str,
}

/// An [`EventInput`] that passed the checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedEvent {
    /// Title, trimmed.
    pub title: String,
    /// Unix seconds.
    pub starts_at: i64,
    /// Place, trimmed.
    pub place: String,
    /// Description, trimmed.
    pub description: String,
    /// The link, parsed and re-serialized.
    pub registration_url: Option<String>,
}

fn text(field: &str, value: &str, max: usize, multiline: bool) -> Result<String, (String, String)> {
    let v = value.trim();
    let n = v.chars().count();
    if n == 0 || n > max {
        return Err((field.into(), format!("write 1 to {max} characters")));
    }
    if v.chars()
        .any(|c| c.is_control() && !(multiline && (c == '\n' || c == '\r' || c == '\t')))
    {
        return Err((field.into(), "control characters are not allowed".into()));
    }
    Ok(v.to_string())
}

/// Reads a start time: Beijing time without an offset, or RFC 3339.
pub fn parse_start(input: &str) -> Result<i64, String> {
    let s = input.trim();
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Ok(t.unix_timestamp());
    }
    let minutes = format_description!("[year]-[month]-[day]T[hour]:[minute]");
    let seconds = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    PrimitiveDateTime::parse(s, minutes)
        .or_else(|_| PrimitiveDateTime::parse(s, seconds))
        .map(|t| t.assume_offset(offset!(+8)).unix_timestamp())
        .map_err(|_| {
            format!(
                "{:?} is not a time: write YYYY-MM-DDTHH:MM (Beijing time, UTC+8) or RFC 3339",
                s.chars().take(40).collect::<String>()
            )
        })
}

/// A registration link: absolute http or https with a host, nothing else (no
/// `javascript:`, `data:`, relative or scheme-less links).
pub fn parse_link(input: &str) -> Result<Option<String>, String> {
    let s = input.trim();
    if s.is_empty() {
        return Ok(None);
    }
    if s.len() > MAX_URL {
        return Err(format!("at most {MAX_URL} bytes"));
    }
    match url::Url::parse(s) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {
            Ok(Some(u.to_string()))
        }
        _ => Err("give an http:// or https:// link".into()),
    }
}

/// Checks what staff submitted; every problem as field → message, in the form's order.
pub fn check(input: &EventInput<'_>) -> Result<CheckedEvent, Vec<(String, String)>> {
    let mut errors = Vec::new();
    let title = text("title", input.title, MAX_LINE, false)
        .map_err(|e| errors.push(e))
        .ok();
    let starts_at = parse_start(input.starts)
        .map_err(|e| errors.push(("starts".into(), e)))
        .ok();
    let place = text("place", input.place, MAX_LINE, false)
        .map_err(|e| errors.push(e))
        .ok();
    let description = text("description", input.description, MAX_DESCRIPTION, true)
        .map_err(|e| errors.push(e))
        .ok();
    let registration_url = parse_link(input.registration_url)
        .map_err(|e| errors.push(("registration_url".into(), e)))
        .ok();
    match (title, starts_at, place, description, registration_url) {
        (Some(title), Some(starts_at), Some(place), Some(description), Some(registration_url))
            if errors.is_empty() =>
        {
            Ok(CheckedEvent {
                title,
                starts_at,
                place,
                description,
                registration_url,
            })
        }
        _ => Err(errors),
    }
}

/// Longest content line of the feed, in octets, before folding (RFC 5545 §3.1).
const FOLD_AT: usize = 75;

/// Escapes a TEXT value (RFC 5545 §3.3.11): backslash, semicolon, comma, newline.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push_str("\\n");
            }
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// One content line, folded: at most [`FOLD_AT`] octets a line, never inside a UTF-8
/// character, each continuation starting with a space, every line ending in CRLF.
fn line(out: &mut String, name: &str, value: &str) {
    let full = format!("{name}:{value}");
    let mut used = 0;
    for c in full.chars() {
        let n = c.len_utf8();
        if used + n > FOLD_AT {
            out.push_str("\r\n ");
            used = 1;
        }
        out.push(c);
        used += n;
    }
    out.push_str("\r\n");
}

/// A UTC DATE-TIME (`19970714T173000Z`).
fn utc(t: i64) -> String {
    OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(format_description!(
                "[year][month][day]T[hour][minute][second]Z"
            ))
            .ok()
        })
        .unwrap_or_default()
}

/// The iCalendar feed of `events`: one VEVENT each, with a UID stable across
/// changes (`event-<id>@<host>`), DTSTAMP the last change, DTSTART in UTC, and a link
/// to the event's page (`<public>/events/<id>`).
pub fn ics(events: &[Event], public: &str, host: &str) -> String {
    let mut out = String::new();
    for (name, value) in [
        ("BEGIN", "VCALENDAR"),
        ("VERSION", "2.0"),
        ("PRODID", "-//Chengxin//Events//ZH"),
        ("CALSCALE", "GREGORIAN"),
        ("METHOD", "PUBLISH"),
        ("X-WR-CALNAME", "诚信推进联盟活动 Chengxin events"),
        ("X-WR-TIMEZONE", "Asia/Shanghai"),
    ] {
        line(&mut out, name, value);
    }
    for e in events {
        line(&mut out, "BEGIN", "VEVENT");
        line(&mut out, "UID", &format!("event-{}@{host}", e.id));
        line(&mut out, "DTSTAMP", &utc(e.updated_at));
        line(&mut out, "DTSTART", &utc(e.starts_at));
        line(&mut out, "SUMMARY", &escape(&e.title));
        line(&mut out, "LOCATION", &escape(&e.place));
        let mut description = e.description.clone();
        if let Some(link) = &e.registration_url {
            description.push_str(&format!("\n\n报名 / Registration: {link}"));
        }
        line(&mut out, "DESCRIPTION", &escape(&description));
        line(&mut out, "URL", &format!("{public}/events/{}", e.id));
        line(&mut out, "END", "VEVENT");
    }
    line(&mut out, "END", "VCALENDAR");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input<'a>(starts: &'a str, link: &'a str) -> EventInput<'a> {
        EventInput {
            title: "网络诚信研讨会",
            starts,
            place: "北京市海淀区",
            description: "议程：\n1. 开幕",
            registration_url: link,
        }
    }

    #[test]
    fn a_start_is_beijing_time_unless_it_names_its_offset() {
        let local = check(&input("2026-12-20T14:30", "")).unwrap();
        assert_eq!(utc(local.starts_at), "20261220T063000Z");
        let rfc = check(&input("2026-12-20T06:30:00Z", "")).unwrap();
        assert_eq!(rfc.starts_at, local.starts_at);
        let e = check(&input("20 December", "")).unwrap_err();
        assert_eq!(e[0].0, "starts");
    }

    #[test]
    fn only_http_and_https_links_with_a_host_are_taken() {
        for bad in [
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            "data:text/html,<script>x</script>",
            "/relative",
            "www.example.cn",
            "ftp://example.cn/",
            "http://",
        ] {
            let e = check(&input("2026-12-20T14:30", bad)).unwrap_err();
            assert_eq!(e[0].0, "registration_url", "{bad}");
        }
        let ok = check(&input("2026-12-20T14:30", "https://reg.example.cn/a?b=1")).unwrap();
        assert_eq!(
            ok.registration_url.as_deref(),
            Some("https://reg.example.cn/a?b=1")
        );
    }

    #[test]
    fn the_feed_escapes_folds_at_75_octets_and_ends_lines_in_crlf() {
        let e = Event {
            id: 7,
            title: "研讨会; 公约, 诚信\\反欺诈 ".repeat(6),
            starts_at: 1_797_748_200,
            place: "北京".into(),
            description: "一\n二".into(),
            registration_url: Some("https://reg.example.cn/".into()),
            created_at: 0,
            updated_at: 1_797_000_000,
        };
        let feed = ics(&[e], "https://seal.example.cn", "seal.example.cn");
        assert!(feed.ends_with("END:VCALENDAR\r\n"));
        assert!(!feed.replace("\r\n", "").contains('\n'), "bare LF");
        for l in feed.split("\r\n") {
            assert!(l.len() <= FOLD_AT, "{l:?} is {} octets", l.len());
        }
        let unfolded = feed.replace("\r\n ", "");
        assert!(unfolded.contains("SUMMARY:研讨会\\; 公约\\, 诚信\\\\反欺诈"));
        assert!(unfolded.contains("DESCRIPTION:一\\n二\\n\\n报名"));
        assert!(unfolded.contains("UID:event-7@seal.example.cn\r\n"));
        assert!(unfolded.contains("DTSTART:20261220T063000Z\r\n"));
    }
}
