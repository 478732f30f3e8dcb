//! A published fraud warning as the pages show it (`/warnings`, the home page, the
//! handbook): the domain in Unicode and the time in Beijing time. The API returns
//! [`Warning`] itself.

use crate::domain::warning::Warning;

/// One warning on a page.
#[derive(Debug, Clone)]
pub struct WarningRow {
    /// Row id (the anchor `#w{id}` on `/warnings`).
    pub id: i64,
    /// The impersonating domain, Unicode.
    pub domain: String,
    /// The certified site it impersonates, if any.
    pub impersonates: Option<String>,
    /// What visitors should know.
    pub description: String,
    /// What staff saw.
    pub evidence: String,
    /// When it was published, UTC+8.
    pub published: String,
    /// Marked prominent by staff (issue 17).
    pub prominent: bool,
}

impl WarningRow {
    /// The domain as HTML that wraps only after its dots
    /// ([`crate::http::views::text::domain_html`]).
    pub fn domain_html(&self) -> String {
        crate::http::views::text::domain_html(&self.domain)
    }

    /// The first line of the description, at most `max` characters (with `…` when
    /// cut): what a list of the latest warnings shows.
    pub fn summary(&self, max: usize) -> String {
        let line = self.description.lines().next().unwrap_or_default();
        if line.chars().count() > max {
            let cut: String = line.chars().take(max).collect();
            format!("{cut}…")
        } else {
            line.to_string()
        }
    }
}

impl From<Warning> for WarningRow {
    fn from(w: Warning) -> Self {
        WarningRow {
            id: w.id,
            domain: ca::identity::Domain::parse(&w.domain)
                .map(|d| d.to_unicode())
                .unwrap_or(w.domain),
            impersonates: w.impersonates,
            description: w.description,
            evidence: w.evidence,
            published: crate::domain::clock::date_time(w.published_at),
            prominent: w.prominent_at.is_some(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_is_the_first_line_cut_at_a_character_boundary() {
        let row = WarningRow::from(Warning {
            id: 1,
            domain: "xn--3ss.cn".into(),
            impersonates: None,
            description: "冒充晨曦数智的网站，请勿付款。\n第二行".into(),
            evidence: String::new(),
            published_at: 0,
            on_certified: false,
            prominent_at: None,
        });
        assert_eq!(row.summary(100), "冒充晨曦数智的网站，请勿付款。");
        assert_eq!(row.summary(4), "冒充晨曦…");
        assert!(!row.domain.starts_with("xn--"), "{}", row.domain);
    }
}
