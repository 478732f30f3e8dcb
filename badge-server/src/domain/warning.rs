//! Fraud warnings: staff publish the domains of sites that impersonate certified
//! ones. The public list is at `/warnings` (and as JSON), and `/api/v1/check` answers
//! `warned` for them. A host seen showing someone else's seal (the copied-seal report)
//! becomes a warning in one step.
//!
//! This module holds the types and the rules that need no database: the text limits,
//! that a public suffix is nobody's site, which names a warning covers, and what a
//! warning made from a copied seal says. The table is [`crate::store::warnings`], the
//! use cases [`crate::service::warnings`].

use ca::identity::Domain;
use serde::Serialize;

use crate::error::AppError;

/// Longest description or evidence, in characters.
pub const MAX_TEXT: usize = 2000;

/// A published warning.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Warning {
    /// Row id.
    pub id: i64,
    /// The impersonating domain (A-label).
    pub domain: String,
    /// The certified site it impersonates, if any.
    pub impersonates: Option<String>,
    /// What visitors should know.
    pub description: String,
    /// What staff saw (published as written: staff write it for the public).
    pub evidence: String,
    /// When it was published (unix seconds).
    pub published_at: i64,
    /// It names a certified domain (or a parent or a child of one), published on
    /// staff's explicit confirmation.
    pub on_certified: bool,
    /// When staff marked it prominent (重点案例), if they did: it then leads the
    /// board members embed, the Atom feed and `/warnings`.
    pub prominent_at: Option<i64>,
}

/// What staff submit.
#[derive(Debug, Clone)]
pub struct NewWarning<'a> {
    /// The impersonating domain, any form.
    pub domain: &'a str,
    /// The site impersonated.
    pub impersonates: Option<&'a str>,
    /// For the public.
    pub description: &'a str,
    /// What was seen.
    pub evidence: &'a str,
    /// Staff confirm that the domain, though certified (or a parent or a child of a
    /// certified one), is to be warned about.
    pub confirm_certified: bool,
}

/// A [`NewWarning`] whose fields passed the checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The impersonating domain, parsed.
    pub domain: Domain,
    /// The description, trimmed.
    pub description: String,
    /// The evidence, trimmed.
    pub evidence: String,
}

/// A host seen showing a site's seal that its certificate does not cover.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SealCopy {
    /// The site whose seal was shown.
    pub site_id: String,
    /// Where (from the `Referer`).
    pub host: String,
    /// First seen (unix seconds).
    pub first_seen: i64,
    /// Last seen (unix seconds).
    pub last_seen: i64,
    /// Requests seen.
    pub hits: i64,
}

fn text(field: &str, value: &str) -> Result<String, (String, String)> {
    let v = value.trim();
    let n = v.chars().count();
    if n == 0 || n > MAX_TEXT {
        return Err((field.into(), format!("write 1 to {MAX_TEXT} characters")));
    }
    Ok(v.to_string())
}

/// Checks what staff submitted, every problem as field → message in the order of the
/// form: the domain, the texts, the impersonated site (`unknown_site`: it names no
/// site we have), and that the domain is not a public suffix (`com.cn`, `gov.cn` are
/// nobody's site: a warning on one would mark every site under it, certified ones
/// included).
pub fn check(new: &NewWarning<'_>, unknown_site: bool) -> Result<Checked, Vec<(String, String)>> {
    let mut errors = Vec::new();
    let domain = Domain::parse(new.domain)
        .map_err(|e| errors.push(("domain".to_string(), e.to_string())))
        .ok();
    let description = text("description", new.description)
        .map_err(|e| errors.push(e))
        .ok();
    let evidence = text("evidence", new.evidence)
        .map_err(|e| errors.push(e))
        .ok();
    if let (Some(site), true) = (new.impersonates, unknown_site) {
        errors.push(("impersonates".into(), format!("no site {site:?}")));
    }
    if let Some(d) = &domain
        && let Err(verifier::Error::PublicSuffix(_)) = verifier::ident::registrable_domain(d)
    {
        errors.push((
            "domain".into(),
            format!(
                "{d} is a public suffix (Public Suffix List): warn about a registrable domain or a host under one"
            ),
        ));
    }
    match (domain, description, evidence) {
        (Some(domain), Some(description), Some(evidence)) if errors.is_empty() => Ok(Checked {
            domain,
            description,
            evidence,
        }),
        _ => Err(errors),
    }
}

/// `domain` and each of its parents, the name itself first and the top-level label
/// last: `a.b.cn`, `b.cn`, `cn`.
pub fn with_parents(domain: &str) -> Vec<String> {
    let labels: Vec<&str> = domain.split('.').collect();
    (0..labels.len()).map(|i| labels[i..].join(".")).collect()
}

/// The names a warning on one of them covers for `host`: the host and its parents,
/// but not its top-level label alone.
pub fn covering(host: &Domain) -> Vec<String> {
    let mut names = with_parents(host.as_str());
    names.pop();
    names
}

/// The refusal (409) to publish a warning on `domain` when it is, covers or is under
/// the `certified` sites and staff have not confirmed it.
pub fn certified_conflict(domain: &Domain, certified: &[String]) -> AppError {
    AppError::Conflict(format!(
        "{} is (or covers, or is under) the certified site {}: publishing would mark it as \
         warned; confirm that this is intended",
        domain.as_str(),
        certified.join(", ")
    ))
}

/// What a warning made from a copied-seal record says: a description naming the
/// certified domain `certified` whose seal `copy.host` shows, and the record as
/// evidence.
pub fn from_copy_texts(copy: &SealCopy, certified: &str) -> (String, String) {
    let host = &copy.host;
    let description = format!(
        "{host} 展示了 {certified} 的诚信印章，但并未获得认证，可能是仿冒网站。\n\
         {host} displays the Chengxin seal of {certified} without being certified: it may impersonate it."
    );
    let evidence = format!(
        "印章被展示 {hits} 次 / seal shown {hits} times, {first} — {last}",
        hits = copy.hits,
        first = crate::domain::clock::date_time(copy.first_seen),
        last = crate::domain::clock::date_time(copy.last_seen),
    );
    (description, evidence)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn new<'a>(domain: &'a str, description: &'a str) -> NewWarning<'a> {
        NewWarning {
            domain,
            impersonates: Some("s_1"),
            description,
            evidence: "seen on 1 May",
            confirm_certified: false,
        }
    }

    #[test]
    fn a_good_warning_is_checked_into_a_domain_and_trimmed_texts() {
        let c = check(&new("shop-fake.example.cn", "  a fake shop  "), false).unwrap();
        assert_eq!(c.domain.as_str(), "shop-fake.example.cn");
        assert_eq!(c.description, "a fake shop");
        assert_eq!(c.evidence, "seen on 1 May");
    }

    #[test]
    fn every_problem_is_named_by_its_field_in_the_order_of_the_form() {
        let long = "x".repeat(MAX_TEXT + 1);
        let errors = check(&new("not a domain", &long), true).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["domain", "description", "impersonates"]);
        assert_eq!(errors[1].1, format!("write 1 to {MAX_TEXT} characters"));
        assert_eq!(errors[2].1, "no site \"s_1\"");
        let blank = check(&new("fake.example.cn", "   "), false).unwrap_err();
        assert_eq!(blank[0].0, "description");
        assert!(check(&new("fake.example.cn", &"字".repeat(MAX_TEXT)), false).is_ok());
    }

    #[test]
    fn a_public_suffix_is_nobody_s_site() {
        for suffix in ["com.cn", "gov.cn"] {
            let errors = check(&new(suffix, "a fake shop"), false).unwrap_err();
            assert_eq!(errors.len(), 1, "{suffix}: {errors:?}");
            assert_eq!(errors[0].0, "domain");
            assert!(errors[0].1.contains("public suffix"), "{}", errors[0].1);
        }
        assert!(check(&new("example.com.cn", "a fake shop"), false).is_ok());
    }

    #[test]
    fn a_warning_covers_the_host_and_its_parents_but_not_the_top_level_label() {
        assert_eq!(with_parents("a.b.cn"), ["a.b.cn", "b.cn", "cn"]);
        let host = Domain::parse("www.fake.example.cn").unwrap();
        assert_eq!(
            covering(&host),
            ["www.fake.example.cn", "fake.example.cn", "example.cn"]
        );
    }

    #[test]
    fn a_warning_from_a_copied_seal_names_the_host_the_site_and_the_sightings() {
        let copy = SealCopy {
            site_id: "s_1".into(),
            host: "fake.example.cn".into(),
            first_seen: 0,
            last_seen: 1_700_000_059,
            hits: 12,
        };
        let (description, evidence) = from_copy_texts(&copy, "shop.example.cn");
        assert!(description.starts_with("fake.example.cn 展示了 shop.example.cn 的诚信印章"));
        assert!(description.contains(
            "fake.example.cn displays the Chengxin seal of shop.example.cn without being certified"
        ));
        assert_eq!(
            evidence,
            "印章被展示 12 次 / seal shown 12 times, 1970-01-01 08:00 (UTC+8) — 2023-11-15 06:14 (UTC+8)"
        );
    }
}
