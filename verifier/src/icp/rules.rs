//! The rules of icp.md §5 (1–6) and §7 (V3–V5) that match MIIT rows to an applicant.
//!
//! Every rule reports in words; the verdict is the worst finding. A difference a
//! person could resolve (a name spelled differently, a USCC type that does not fit
//! the filing's nature) is a review, never a pass; a fact that rules issuance out
//! (no filing, personal filing, restricted access, app filing) is a fail.

use unicode_normalization::UnicodeNormalization;

use super::{Applicant, IcpRecord};
use crate::Verdict;
use crate::identity::{Domain, IcpNumber};

/// Normalises an organization name for comparison (icp.md §5 rule 3): NFKC (which
/// also folds full-width （） to ASCII ()), the remaining bracket variants treated as
/// one, and all white space removed. Nothing else: names differing after this are a
/// matter for a person, never for fuzzy matching.
pub fn normalise_name(name: &str) -> String {
    name.nfkc()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            '（' | '﹙' => '(',
            '）' | '﹚' => ')',
            other => other,
        })
        .collect()
}

/// True when the row's `domain` is the registrable domain: byte-exact, or equal once
/// parsed as a domain (case, trailing dot, a Unicode IDN against its A-label). A
/// subdomain or a sibling name never matches.
pub fn covers(row: &IcpRecord, registrable: &str) -> bool {
    row.domain == registrable || Domain::parse(&row.domain).is_ok_and(|d| d.as_str() == registrable)
}

/// The filing natures (`natureName`) consistent with a USCC type (positions 1–2),
/// per icp.md §5 rule 3; `None` for types that table does not cover.
fn natures_for(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "91" | "92" | "93" => &["企业"],
        "12" => &["事业单位"],
        "11" => &["政府机关"],
        "51" => &["社会团体"],
        "52" => &["民办非企业单位"],
        "53" => &["基金会"],
        // icp.md §2.1 lists the nature as 律师事务所; §5 names the USCC type 律师执业机构.
        "31" => &["律师执业机构", "律师事务所"],
        _ => return None,
    })
}

/// What a USCC type is, for messages.
fn kind_label(kind: &str) -> &'static str {
    match kind {
        "11" => "机关",
        "12" => "事业单位",
        "31" => "律师执业机构",
        "51" => "社会团体",
        "52" => "民办非企业单位",
        "53" => "基金会",
        "91" => "企业",
        "92" => "个体工商户",
        "93" => "农民专业合作社",
        _ => "other",
    }
}

/// Findings collected by severity, in order, without repeats.
#[derive(Default)]
struct Findings {
    fail: Vec<String>,
    review: Vec<String>,
}

impl Findings {
    fn fail(&mut self, reason: String) {
        if !self.fail.contains(&reason) {
            self.fail.push(reason);
        }
    }
    fn review(&mut self, reason: String) {
        if !self.review.contains(&reason) {
            self.review.push(reason);
        }
    }
}

/// Judges `rows` (from any provider) for `applicant` and the `registrable` domain it
/// asks about, returning the verdict and every reason (icp.md §5 rules 1–6, §7 V3–V5).
///
/// - no row whose `domain` is `registrable` → fail (naming other domains' filings);
/// - `serviceLicence` not a website number (app/mini-program suffix, bad shape) → fail;
/// - `serviceLicence` not starting with `mainLicence` → review;
/// - `natureName` 个人 → fail; `limitAccess` other than exactly "否" → fail;
/// - `unitName` different from the organization after [`normalise_name`] → review;
/// - claimed ICP number not byte-equal to `serviceLicence` or `mainLicence` → review;
/// - USCC type inconsistent with `natureName`, or of type 92/93, or absent → review;
/// - several matching rows that disagree → review.
pub fn evaluate(
    applicant: &Applicant,
    registrable: &str,
    rows: &[IcpRecord],
) -> (Verdict, Vec<String>) {
    let mut f = Findings::default();
    let matching: Vec<&IcpRecord> = rows.iter().filter(|r| covers(r, registrable)).collect();

    if matching.is_empty() {
        f.fail(format!("no filing found for {registrable}"));
        for row in rows {
            f.fail(format!(
                "filing covers another domain: {} ({}, {}) is filed for {}, not {registrable}",
                display(&row.service_licence),
                display(&row.unit_name),
                display(&row.nature_name),
                display(&row.domain),
            ));
        }
        return (Verdict::Fail, f.fail);
    }

    for row in &matching {
        check_row(applicant, registrable, row, &mut f);
    }
    if matching.len() > 1 {
        check_agreement(registrable, &matching, &mut f);
    }

    if !f.fail.is_empty() {
        let mut reasons = f.fail;
        reasons.extend(f.review);
        (Verdict::Fail, reasons)
    } else if !f.review.is_empty() {
        (Verdict::Review, f.review)
    } else {
        let row = matching[0];
        (
            Verdict::Pass,
            vec![format!(
                "MIIT filing {} for {registrable} names {} ({}), access not limited",
                row.service_licence, row.unit_name, row.nature_name
            )],
        )
    }
}

fn display(s: &str) -> &str {
    if s.is_empty() { "(empty)" } else { s }
}

fn check_row(applicant: &Applicant, registrable: &str, row: &IcpRecord, f: &mut Findings) {
    let service = row.service_licence.as_str();
    let main = row.main_licence.as_str();

    // V3: a website filing number, with a numeric site suffix.
    match IcpNumber::parse_website(service) {
        Err(e) => f.fail(format!(
            "filing number {} for {registrable} is not a website filing number: {e}",
            display(service)
        )),
        Ok(n) if n.as_str() != service => f.review(format!(
            "filing number {service:?} is not written in MIIT's canonical form ({n})"
        )),
        Ok(_) => {}
    }

    // V5: the site number extends the subject number.
    let extends_main = !main.is_empty()
        && service
            .strip_prefix(main)
            .is_some_and(|rest| rest.starts_with('-'));
    if !extends_main {
        f.review(format!(
            "website filing number {} does not extend subject number {}",
            display(service),
            display(main)
        ));
    }

    // Rule 4: personal filings never get an organization seal.
    if row.nature_name == "个人" {
        f.fail(format!(
            "personal filing: {registrable} is filed by an individual (个人), which never gets an organization seal"
        ));
    }

    // Rule 5: restricted access, or anything we do not recognise, fails closed.
    match row.limit_access.as_str() {
        "否" => {}
        "是" => f.fail(format!(
            "filing has limited access (limitAccess 是) for {registrable}"
        )),
        other => f.fail(format!(
            "filing has an unknown limitAccess value {other:?}; failing closed"
        )),
    }

    // Rule 3: same legal name, modulo NFKC, brackets and spaces; never fuzzy.
    if normalise_name(&row.unit_name) != normalise_name(&applicant.organization) {
        f.review(format!(
            "organization name differs from filing: MIIT says {}, applicant says {}",
            display(&row.unit_name),
            display(&applicant.organization)
        ));
    }

    // V5 / rule 9: a claimed number must be MIIT's, byte for byte.
    if let Some(claimed) = &applicant.icp
        && claimed.as_str() != service
        && claimed.as_str() != main
    {
        f.review(format!(
            "applicant claims ICP number {claimed}, but MIIT files {registrable} under {} (subject {})",
            display(service),
            display(main)
        ));
    }

    // design.md §4: the same USCC where the source gives it (detail records and some
    // licensed sources carry the subject's certificate number; list rows do not).
    if let (Some(uscc), Some(cert)) = (
        &applicant.uscc,
        row.raw.get("mainUnitCertNo").and_then(|v| v.as_str()),
    ) && !cert.trim().is_empty()
        && !cert.trim().eq_ignore_ascii_case(uscc.as_str())
    {
        f.review(format!(
            "the filing's subject certificate number {} differs from the applicant's USCC {uscc}",
            cert.trim()
        ));
    }

    // Rule 3: USCC type against the filing's nature.
    if row.nature_name != "个人" {
        match &applicant.uscc {
            None => f.review(format!(
                "applicant gave no USCC, so the filing's nature {} cannot be checked against it",
                display(&row.nature_name)
            )),
            Some(uscc) => {
                let kind = uscc.kind();
                match natures_for(kind) {
                    Some(natures) if natures.contains(&row.nature_name.as_str()) => {}
                    Some(natures) => f.review(format!(
                        "USCC {uscc} is of type {kind} ({}), which files as {}, but the filing's nature is {}",
                        kind_label(kind),
                        natures.join(" or "),
                        display(&row.nature_name)
                    )),
                    None => f.review(format!(
                        "USCC {uscc} is of type {kind}, which has no known filing nature; a person must confirm it fits {}",
                        display(&row.nature_name)
                    )),
                }
                if matches!(kind, "92" | "93") {
                    f.review(format!(
                        "USCC {uscc} is of type {kind} ({}): policy review before an organization seal",
                        kind_label(kind)
                    ));
                }
            }
        }
    }
}

/// Reads one text field of a row.
type Field = fn(&IcpRecord) -> &str;

/// Legacy multi-domain filings can give several rows for one domain; they must tell
/// the same story.
fn check_agreement(registrable: &str, rows: &[&IcpRecord], f: &mut Findings) {
    let fields: [(&str, Field); 5] = [
        ("unitName", |r| &r.unit_name),
        ("natureName", |r| &r.nature_name),
        ("mainLicence", |r| &r.main_licence),
        ("serviceLicence", |r| &r.service_licence),
        ("limitAccess", |r| &r.limit_access),
    ];
    for (key, get) in fields {
        let mut values: Vec<&str> = Vec::new();
        for row in rows {
            let v = get(row);
            if !values.contains(&v) {
                values.push(v);
            }
        }
        if values.len() > 1 {
            f.review(format!(
                "MIIT returned {} rows for {registrable} that disagree on {key}: {}",
                rows.len(),
                values
                    .iter()
                    .map(|v| display(v))
                    .collect::<Vec<_>>()
                    .join(" / ")
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_width_and_ascii_brackets_and_spaces_compare_equal() {
        assert_eq!(
            normalise_name("腾讯科技（深圳）有限公司"),
            normalise_name("腾讯科技 (深圳) 有限公司")
        );
        assert_ne!(
            normalise_name("武汉洪山云帆科技有限公司"),
            normalise_name("武汉洪山云帆信息技术有限公司")
        );
    }

    #[test]
    fn a_subdomain_or_sibling_row_does_not_cover_the_registrable_domain() {
        let row = |d: &str| IcpRecord {
            domain: d.into(),
            ..IcpRecord::default()
        };
        assert!(covers(&row("example.cn"), "example.cn"));
        assert!(covers(&row("Example.CN"), "example.cn"));
        assert!(!covers(&row("www.example.cn"), "example.cn"));
        assert!(!covers(&row("example.com.cn"), "example.cn"));
        assert!(!covers(&row(""), "example.cn"));
    }
}
