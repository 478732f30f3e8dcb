//! A public case (issue 17) as the board members embed, the Atom feed and `/warnings`
//! show it: the domain in Unicode, what kind of case it is in the reader's language,
//! the masked summary, the dates, and the link to the case on `/warnings`.

use time::format_description::well_known::Rfc3339;

use crate::domain::board::{Case, CaseKind, Lang};

/// One case on the board, in the feed or on `/warnings`.
#[derive(Debug, Clone)]
pub struct CaseView {
    /// The anchor on `/warnings` (`w12`, `c_…`).
    pub anchor: String,
    /// The domain concerned, Unicode.
    pub domain: String,
    /// What kind of case, in the board's language.
    pub kind: String,
    /// Masked text ([`crate::domain::board::summary`]).
    pub summary: String,
    /// Marked prominent by staff.
    pub prominent: bool,
    /// Published or decided, UTC+8, for people.
    pub date: String,
    /// Published or decided, RFC 3339 (Atom `published`).
    pub published: String,
    /// Last change (published, decided or marked prominent), RFC 3339 (Atom
    /// `updated`).
    pub updated: String,
    /// The case's page on our site: `<public>/warnings#<anchor>`.
    pub url: String,
    /// The case's `tag:` URI part after the date: `warning/12`, `complaint/c_…`.
    pub tag: String,
}

/// Unix seconds as RFC 3339 in UTC (`2026-12-03T11:15:00Z`).
pub fn rfc3339(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| d.format(&Rfc3339).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".into())
}

/// `text` without the characters XML 1.0 cannot carry at all (C0 controls but tab,
/// line feed and carriage return; U+FFFE, U+FFFF): escaping cannot save them, and a
/// feed holding one is refused whole by a strict parser.
pub fn xml_text(text: &str) -> String {
    text.chars()
        .filter(|&c| {
            (c >= ' ' || matches!(c, '\t' | '\n' | '\r')) && c != '\u{FFFE}' && c != '\u{FFFF}'
        })
        .collect()
}

impl CaseView {
    /// The view of `case` in `lang`, linking to `public` (`https://host`).
    pub fn new(case: &Case, lang: Lang, public: &str) -> CaseView {
        let anchor = case.anchor();
        let (kind, tag) = match &case.kind {
            CaseKind::Warning => (
                lang.pick("仿冒网站警示", "Fraud warning").to_string(),
                format!("warning/{}", case.id),
            ),
            CaseKind::Complaint(category) => {
                let (zh, en) = category.labels();
                (
                    match lang {
                        Lang::Zh => format!("投诉成立：{zh}"),
                        Lang::En => format!("Complaint upheld: {en}"),
                    },
                    format!("complaint/{}", case.id),
                )
            }
        };
        CaseView {
            url: format!("{public}/warnings#{anchor}"),
            anchor,
            domain: ca::identity::Domain::parse(&case.domain)
                .map(|d| d.to_unicode())
                .unwrap_or_else(|_| case.domain.clone()),
            kind,
            summary: xml_text(&case.summary),
            prominent: case.prominent(),
            date: crate::domain::clock::date_time(case.at),
            published: rfc3339(case.at),
            updated: rfc3339(case.updated()),
            tag,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_in_utc_and_xml_text_drops_what_xml_cannot_carry() {
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(xml_text("a\u{1}b\tc\nd\u{FFFF}"), "ab\tc\nd");
    }
}
