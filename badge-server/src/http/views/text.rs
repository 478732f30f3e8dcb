//! How identifiers are written into pages so that a phone never breaks one in the
//! middle yet never scrolls sideways: a domain may wrap only after a dot, each label
//! kept whole (`.id` is `white-space:nowrap` in `base.html`) unless it is longer than
//! a phone's line can hold.

/// Longest label kept whole: at 360 px a heading's line holds about twenty
/// characters. A longer one (look-alike domains often are) wraps where it must, at
/// a hyphen first (`body`'s `overflow-wrap`), rather than make the page scroll.
pub const WHOLE_LABEL_CHARS: usize = 20;

/// `domain` as HTML: each label (with its dot) in a `<span class="id">` (a label
/// longer than [`WHOLE_LABEL_CHARS`] in a plain `<span>`), a `<wbr>` after each dot,
/// every character escaped. For `{{ …|safe }}` in templates.
pub fn domain_html(domain: &str) -> String {
    let mut out = String::with_capacity(domain.len() * 2 + 32);
    let labels: Vec<&str> = domain.split('.').collect();
    for (i, label) in labels.iter().enumerate() {
        if i > 0 {
            out.push_str("<wbr>");
        }
        if label.chars().count() <= WHOLE_LABEL_CHARS {
            out.push_str("<span class=\"id\">");
        } else {
            out.push_str("<span>");
        }
        escape_into(&mut out, label);
        if i + 1 < labels.len() {
            out.push('.');
        }
        out.push_str("</span>");
    }
    out
}

fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_domain_wraps_only_after_its_dots_and_is_escaped() {
        assert_eq!(
            domain_html("www.chenxi-shuzhi.cn"),
            "<span class=\"id\">www.</span><wbr><span class=\"id\">chenxi-shuzhi.</span><wbr><span class=\"id\">cn</span>"
        );
        assert_eq!(
            domain_html("localhost"),
            "<span class=\"id\">localhost</span>"
        );
        assert_eq!(
            domain_html("www.beijing-chenxi-shuzhi-keji-kefu.cn"),
            "<span class=\"id\">www.</span><wbr><span>beijing-chenxi-shuzhi-keji-kefu.</span><wbr><span class=\"id\">cn</span>"
        );
        let hostile = domain_html("<script>x</script>.cn");
        assert!(!hostile.contains("<script>"), "{hostile}");
        assert!(
            hostile.contains("&lt;script&gt;x&lt;/script&gt;."),
            "{hostile}"
        );
    }
}
