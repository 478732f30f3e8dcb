//! The homepage seal: one SVG per (state, language, size), naming the certified
//! domain large enough to compare with the address bar, and today's date, so a
//! screenshot of last year's seal looks stale.

use askama::Template;

/// What the seal says about the site.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SealState {
    /// Certified and in force.
    Certified,
    /// On hold (re-verification failed, or staff hold).
    Suspended,
    /// Revoked.
    Revoked,
    /// Past notAfter.
    Expired,
    /// No such site.
    Unknown,
    /// Shown on a host the certificate does not cover: a copied seal.
    NotThisSite,
}

impl SealState {
    fn color(self) -> &'static str {
        match self {
            SealState::Certified => "#1a7f37",
            SealState::Suspended => "#9a6700",
            SealState::Revoked | SealState::NotThisSite => "#cf222e",
            SealState::Expired | SealState::Unknown => "#59636e",
        }
    }

    fn words(self) -> (&'static str, &'static str) {
        match self {
            SealState::Certified => ("网站身份已验证", "Verified"),
            SealState::Suspended => ("认证已暂停", "Suspended"),
            SealState::Revoked => ("认证已撤销", "Revoked"),
            SealState::Expired => ("认证已过期", "Expired"),
            SealState::Unknown => ("未认证网站", "Not certified"),
            SealState::NotThisSite => ("非本站认证", "Not certified for this site"),
        }
    }

    /// From the site status the API reports.
    pub fn from_status(status: &str) -> Self {
        match status {
            "certified" => SealState::Certified,
            "suspended" => SealState::Suspended,
            "revoked" => SealState::Revoked,
            "expired" => SealState::Expired,
            _ => SealState::Unknown,
        }
    }
}

/// Language order of the seal's two lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    /// Chinese first (default).
    Zh,
    /// English first.
    En,
}

/// Rendered size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Size {
    /// 120 × 45.
    Small,
    /// 160 × 60 (default).
    Medium,
    /// 240 × 90.
    Large,
}

impl Size {
    fn dims(self) -> (u32, u32) {
        match self {
            Size::Small => (120, 45),
            Size::Medium => (160, 60),
            Size::Large => (240, 90),
        }
    }
}

#[derive(Template)]
#[template(path = "seal.svg")]
struct SealSvg<'a> {
    width: u32,
    height: u32,
    color: &'a str,
    label: String,
    first: String,
    second: String,
    domain: &'a str,
    date: &'a str,
}

/// Renders the seal. `domain` is shown in Unicode form; every value is escaped by
/// the template engine.
pub fn render_svg(state: SealState, domain: &str, date: &str, lang: Lang, size: Size) -> String {
    let (zh, en) = state.words();
    let (first, second) = match lang {
        Lang::Zh => (format!("诚信 · {zh}"), format!("Chengxin · {en}")),
        Lang::En => (format!("Chengxin · {en}"), format!("诚信 · {zh}")),
    };
    let (width, height) = size.dims();
    let label = format!("{first} / {second}: {domain}");
    SealSvg {
        width,
        height,
        color: state.color(),
        label,
        first,
        second,
        domain,
        date,
    }
    .render()
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_has_its_own_words_and_the_domain_is_escaped() {
        let ok = render_svg(
            SealState::Certified,
            "chenxi-shuzhi.cn",
            "2026-11-29",
            Lang::Zh,
            Size::Medium,
        );
        assert!(
            ok.contains("网站身份已验证")
                && ok.contains("chenxi-shuzhi.cn")
                && ok.contains("2026-11-29")
        );
        assert!(
            ok.find("诚信 · 网站身份已验证").unwrap() < ok.find("Chengxin · Verified").unwrap()
        );
        let en = render_svg(
            SealState::Certified,
            "a.cn",
            "2026-11-29",
            Lang::En,
            Size::Large,
        );
        assert!(en.find("Chengxin · Verified").unwrap() < en.find("诚信 ·").unwrap());
        assert!(en.contains("width=\"240\""));
        let copied = render_svg(SealState::NotThisSite, "a.cn", "d", Lang::Zh, Size::Small);
        assert!(copied.contains("非本站认证") && copied.contains("#cf222e"));
        let hostile = render_svg(
            SealState::Unknown,
            "<script>alert(1)</script>\"",
            "d",
            Lang::Zh,
            Size::Small,
        );
        assert!(!hostile.contains("<script>"), "{hostile}");
        assert!(
            hostile.contains("script") && !hostile.contains("\"</script>"),
            "{hostile}"
        );
    }
}
