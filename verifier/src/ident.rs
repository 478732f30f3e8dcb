//! Identifiers only verification needs: 公安 filing numbers and registrable domains.
//!
//! Formats and rules follow `shared/icp.md` §1.3–§1.5 (公安联网备案号) and §5 rule 1
//! (the MIIT filing is looked up by the host's registrable domain).

use std::fmt;
use std::sync::LazyLock;

use ca::identity::{Domain, Warning};
use psl::Psl as _;
use regex::Regex;
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

use crate::{Error, Result};

/// The prefix characters a 公安 number may carry and the GB/T 2260 province code each
/// stands for (icp.md §1.4; the variants 川/蜀, 贵/黔 and 甘/陇 are all accepted).
const GONGAN_PROVINCES: &[(char, &str)] = &[
    ('京', "11"),
    ('津', "12"),
    ('冀', "13"),
    ('晋', "14"),
    ('蒙', "15"),
    ('辽', "21"),
    ('吉', "22"),
    ('黑', "23"),
    ('沪', "31"),
    ('苏', "32"),
    ('浙', "33"),
    ('皖', "34"),
    ('闽', "35"),
    ('赣', "36"),
    ('鲁', "37"),
    ('豫', "41"),
    ('鄂', "42"),
    ('湘', "43"),
    ('粤', "44"),
    ('桂', "45"),
    ('琼', "46"),
    ('渝', "50"),
    ('川', "51"),
    ('蜀', "51"),
    ('贵', "52"),
    ('黔', "52"),
    ('滇', "53"),
    ('藏', "54"),
    ('陕', "61"),
    ('甘', "62"),
    ('陇', "62"),
    ('青', "63"),
    ('宁', "64"),
    ('新', "65"),
];

/// icp.md §1.5 `GA`: the 公安 prefix characters.
const GA: &str = "京津冀晋蒙辽吉黑沪苏浙皖闽赣鲁豫鄂湘粤桂琼渝川蜀贵黔滇藏陕甘陇青宁新";

/// icp.md §1.5 `GONGAN`: the current 14-digit form.
static GONGAN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        "^(?P<prov>[{GA}])公网安备(?P<div>[1-6][0-9]{{5}})(?P<kind>[0-9]{{2}})(?P<seq>[0-9]{{6}})号$"
    ))
    .expect("static regex")
});
/// icp.md §1.5 `GONGAN_12`: the legacy 12-digit form (division code + serial).
static GONGAN_12: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        "^(?P<prov>[{GA}])公网安备(?P<code>[1-6][0-9]{{11}})号$"
    ))
    .expect("static regex")
});
/// Anything shaped like a 公安 number, to explain why it was refused.
static GONGAN_LOOSE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new("^(?P<prov>.*)公网安备(?P<digits>[0-9]*)号$").expect("static regex")
});

/// The current public query page (14-digit numbers).
const MPS_QUERY: &str = "https://beian.mps.gov.cn/#/query/webSearch?code=";
/// The legacy query page (12-digit numbers).
const LEGACY_QUERY: &str = "http://www.beian.gov.cn/portal/registerSystemInfo?recordcode=";

/// A public-security filing number (公安联网备案号), e.g. `京公网安备11000002000001号`.
///
/// Optional for a site; when a site shows one, it must be well formed and its first two
/// digits must be the province of its prefix character (icp.md §7 V6).
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct GonganNumber {
    text: String,
    legacy: bool,
}

impl GonganNumber {
    /// Parses a 公安 number as a footer shows it: NFKC (so full-width digits become
    /// ASCII) and all white space removed, then the 14-digit form, or the legacy 12-digit
    /// form (accepted with a warning). The division code must lie in the province of the
    /// prefix character.
    pub fn parse(input: &str) -> Result<Self> {
        let text: String = input.nfkc().filter(|c| !c.is_whitespace()).collect();
        let fail = |reason: String| Error::InvalidGongan(format!("{input:?}: {reason}"));
        if text.is_empty() {
            return Err(fail("empty".into()));
        }
        let (prov, digits, legacy) = if let Some(c) = GONGAN.captures(&text) {
            (
                c["prov"].to_string(),
                format!("{}{}{}", &c["div"], &c["kind"], &c["seq"]),
                false,
            )
        } else if let Some(c) = GONGAN_12.captures(&text) {
            (c["prov"].to_string(), c["code"].to_string(), true)
        } else {
            return Err(fail(explain_malformed(&text)));
        };
        let prov_char = prov.chars().next().unwrap_or_default();
        let expected = province_code(prov_char).unwrap_or_default();
        let actual = &digits[..2];
        if actual != expected {
            return Err(fail(format!(
                "the prefix {prov} stands for province {expected}, but the division code {} is in province {actual}",
                &digits[..6]
            )));
        }
        Ok(GonganNumber { text, legacy })
    }

    /// The number, normalised (e.g. `京公网安备11000002000001号`).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The 14 digits (12 for a legacy number).
    pub fn digits(&self) -> &str {
        let body = self.text.strip_suffix('号').unwrap_or(&self.text);
        let n = if self.legacy { 12 } else { 14 };
        // The digits are ASCII, so the last `n` bytes are the last `n` characters.
        body.get(body.len().saturating_sub(n)..).unwrap_or_default()
    }

    /// Positions 1–6: the division code of the accepting public-security organ (not
    /// always a current GB/T 2260 code: icp.md §1.3).
    pub fn division_code(&self) -> &str {
        self.digits().get(..6).unwrap_or_default()
    }

    /// Positions 7–8 of a 14-digit number ("02" for every website number seen);
    /// `None` for a legacy 12-digit number.
    pub fn kind(&self) -> Option<&str> {
        if self.legacy {
            None
        } else {
            self.digits().get(6..8)
        }
    }

    /// The prefix character, e.g. `京`.
    pub fn province(&self) -> char {
        self.text.chars().next().unwrap_or_default()
    }

    /// True for the legacy 12-digit form.
    pub fn is_legacy(&self) -> bool {
        self.legacy
    }

    /// Legal oddities a human should look at: the legacy 12-digit form, or a kind
    /// (positions 7–8) other than "02".
    pub fn warnings(&self) -> Vec<Warning> {
        let mut out = Vec::new();
        if self.legacy {
            out.push(Warning(format!(
                "{} is a legacy 12-digit 公安 number; current numbers have 14 digits",
                self.text
            )));
        }
        if let Some(kind) = self.kind()
            && kind != "02"
        {
            out.push(Warning(format!(
                "{}: positions 7-8 are {kind:?}; every website number seen has \"02\"",
                self.text
            )));
        }
        out
    }

    /// The public query page for this number: `beian.mps.gov.cn` for a 14-digit number,
    /// the old `beian.gov.cn` page for a legacy one.
    pub fn query_url(&self) -> String {
        let base = if self.legacy { LEGACY_QUERY } else { MPS_QUERY };
        format!("{base}{}", self.digits())
    }
}

/// The province code a 公安 prefix character stands for.
fn province_code(prefix: char) -> Option<&'static str> {
    GONGAN_PROVINCES
        .iter()
        .find(|(c, _)| *c == prefix)
        .map(|(_, code)| *code)
}

/// Why normalised text that matched neither GONGAN nor GONGAN_12 is malformed.
fn explain_malformed(text: &str) -> String {
    const FORM: &str = "a 公安 number looks like 京公网安备11000002000001号";
    let Some(c) = GONGAN_LOOSE.captures(text) else {
        return format!("not of the form <province>公网安备<14 digits>号 ({FORM})");
    };
    let prov = &c["prov"];
    let digits = &c["digits"];
    let mut chars = prov.chars();
    match (chars.next(), chars.next()) {
        (Some(p), None) if province_code(p).is_some() => {}
        _ => {
            return format!("{prov:?} is not a province prefix (one of {GA})");
        }
    }
    match digits.len() {
        14 | 12 => format!(
            "the division code {} does not start with a province digit 1-6",
            &digits[..6]
        ),
        13 => "13 digits: a 公安 number has 14 (or 12 in the legacy form)".into(),
        n => format!("{n} digits: a 公安 number has 14 (or 12 in the legacy form)"),
    }
}

impl fmt::Display for GonganNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}
impl fmt::Debug for GonganNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GonganNumber({})", self.text)
    }
}
impl TryFrom<String> for GonganNumber {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        GonganNumber::parse(&s)
    }
}
impl From<GonganNumber> for String {
    fn from(n: GonganNumber) -> String {
        n.text
    }
}

/// The ICANN section of the Public Suffix List. The `psl` crate returns the longest
/// matching rule from either section; when that is a private rule (`github.io`,
/// `myqnapcloud.cn`), this looks again at the name without the private rule's first
/// label, until the match is an ICANN rule or the `*` default rule.
struct IcannSection;

impl psl::Psl for IcannSection {
    fn find<'a, T>(&self, labels: T) -> psl::Info
    where
        T: Iterator<Item = &'a [u8]>,
    {
        // Labels come right to left (top-level label first).
        let labels: Vec<&[u8]> = labels.collect();
        let mut n = labels.len();
        loop {
            let info = psl::List.find(labels[..n].iter().copied());
            if info.typ != Some(psl::Type::Private) {
                return info;
            }
            // How many labels the private rule matched.
            let mut len = 0;
            let mut matched = labels.len();
            for (i, label) in labels.iter().enumerate() {
                len += label.len() + usize::from(i > 0);
                if len >= info.len {
                    matched = i + 1;
                    break;
                }
            }
            if matched <= 1 || matched > n {
                return psl::Info { len: 0, typ: None };
            }
            n = matched - 1;
        }
    }
}

/// The registrable domain of `domain` (icp.md §5 rule 1): the public suffix from the
/// ICANN section of the Public Suffix List plus one label, the name MIIT files.
/// `shop.example.com.cn` → `example.com.cn`; `hzbjdata.gov.cn` stays as it is; IDNs are
/// handled in their A-label form (`a.xn--55qx5d.cn` is already registrable under
/// `公司.cn`).
///
/// A bare public suffix (`com.cn`, `gov.cn`) is [`Error::PublicSuffix`]. A name whose
/// top-level label is in no ICANN rule (`example.test`, `intranet.local`) has no
/// registrable domain and is refused as an invalid domain: the CA certifies only names
/// under delegated top-level domains.
pub fn registrable_domain(domain: &Domain) -> Result<Domain> {
    let name = domain.as_str();
    let known = IcannSection
        .suffix(name.as_bytes())
        .is_some_and(|s| s.typ() == Some(psl::Type::Icann));
    if !known {
        let tld = name.rsplit('.').next().unwrap_or(name);
        return Err(Error::Identifier(ca::Error::InvalidDomain {
            domain: name.to_string(),
            reason: format!(
                "its top-level domain {tld:?} is not in the ICANN section of the Public Suffix List"
            ),
        }));
    }
    let Some(registrable) = IcannSection.domain(name.as_bytes()) else {
        return Err(Error::PublicSuffix(name.to_string()));
    };
    let registrable = std::str::from_utf8(registrable.as_bytes())
        .map_err(|_| Error::PublicSuffix(name.to_string()))?;
    Ok(Domain::parse(registrable)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The `gongan` and `domain` values of `shared/fixtures/miit-rows.json`.
    fn fixture_rows() -> Vec<(String, String, String)> {
        let path = testkit::fixtures_dir().join("miit-rows.json");
        let text = std::fs::read_to_string(&path).unwrap();
        let rows: serde_json::Value = serde_json::from_str(&text).unwrap();
        rows.as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["fixture"].as_str().unwrap().to_string(),
                    r["gongan"].as_str().unwrap().to_string(),
                    r["row"]["domain"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    fn domain(s: &str) -> Domain {
        Domain::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn every_gongan_number_in_the_miit_fixtures_parses_in_its_province() {
        let mut seen = 0;
        for (fixture, gongan, _) in fixture_rows() {
            if gongan.is_empty() {
                continue;
            }
            let n = GonganNumber::parse(&gongan).unwrap_or_else(|e| panic!("{fixture}: {e}"));
            assert_eq!(n.as_str(), gongan, "{fixture}");
            assert!(!n.is_legacy(), "{fixture}");
            assert_eq!(n.digits().len(), 14, "{fixture}");
            assert_eq!(n.kind(), Some("02"), "{fixture}");
            assert!(n.warnings().is_empty(), "{fixture}: {:?}", n.warnings());
            assert_eq!(
                Some(&n.division_code()[..2]),
                province_code(n.province()),
                "{fixture}"
            );
            assert_eq!(
                n.query_url(),
                format!(
                    "https://beian.mps.gov.cn/#/query/webSearch?code={}",
                    n.digits()
                ),
                "{fixture}"
            );
            seen += 1;
        }
        assert_eq!(seen, 15, "the fixtures hold 15 公安 numbers");
    }

    #[test]
    fn the_examples_of_icp_md_parse_with_their_parts() {
        let n = GonganNumber::parse("京公网安备11000002000001号").unwrap();
        assert_eq!(n.province(), '京');
        assert_eq!(n.digits(), "11000002000001");
        assert_eq!(n.division_code(), "110000");
        assert_eq!(n.kind(), Some("02"));
        assert_eq!(n.to_string(), "京公网安备11000002000001号");
        let n = GonganNumber::parse("粤公网安备44030002000001号").unwrap();
        assert_eq!(n.division_code(), "440300");
        assert_eq!(
            n.query_url(),
            "https://beian.mps.gov.cn/#/query/webSearch?code=44030002000001"
        );
    }

    #[test]
    fn a_13_digit_number_is_refused_with_a_message_naming_it() {
        let err = GonganNumber::parse("京公网安备1101080212535号").unwrap_err();
        assert!(matches!(err, Error::InvalidGongan(_)), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains("京公网安备1101080212535号"), "{msg}");
        assert!(msg.contains("13 digits"), "{msg}");
    }

    #[test]
    fn a_prefix_that_does_not_match_the_division_code_is_refused() {
        let err = GonganNumber::parse("沪公网安备11011502002400号").unwrap_err();
        assert!(matches!(err, Error::InvalidGongan(_)), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains("沪公网安备11011502002400号"), "{msg}");
        assert!(msg.contains("province 31"), "{msg}");
        assert!(msg.contains("province 11"), "{msg}");
        // The same digits under the right prefix are fine.
        GonganNumber::parse("京公网安备11011502002400号").unwrap();
    }

    #[test]
    fn the_legacy_12_digit_form_is_accepted_with_a_warning_and_the_old_query_url() {
        for legacy in ["京公网安备110000000001号", "京公网安备110000000006号"] {
            let n = GonganNumber::parse(legacy).unwrap();
            assert!(n.is_legacy());
            assert_eq!(n.digits().len(), 12);
            assert_eq!(n.division_code(), "110000");
            assert_eq!(n.kind(), None);
            let warnings = n.warnings();
            assert_eq!(warnings.len(), 1, "{warnings:?}");
            assert!(warnings[0].0.contains("legacy"), "{warnings:?}");
            assert_eq!(
                n.query_url(),
                format!(
                    "http://www.beian.gov.cn/portal/registerSystemInfo?recordcode={}",
                    n.digits()
                )
            );
        }
        let err = GonganNumber::parse("沪公网安备110000000001号").unwrap_err();
        assert!(err.to_string().contains("province 31"), "{err}");
    }

    #[test]
    fn a_kind_other_than_02_is_only_a_warning() {
        let n = GonganNumber::parse("京公网安备11010801045127号").unwrap();
        assert_eq!(n.kind(), Some("01"));
        let warnings = n.warnings();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].0.contains("\"01\""), "{warnings:?}");
    }

    #[test]
    fn footer_text_with_spaces_and_full_width_digits_is_normalised() {
        let n = GonganNumber::parse(" 京公网安备 １１０１０８０２０４５１２７ 号\u{a0}").unwrap();
        assert_eq!(n.as_str(), "京公网安备11010802045127号");
    }

    #[test]
    fn variant_prefix_characters_share_their_province() {
        for (text, code) in [
            ("川公网安备51010702003342号", "51"),
            ("蜀公网安备51010702003342号", "51"),
            ("贵公网安备52010202002867号", "52"),
            ("黔公网安备52010202002867号", "52"),
            ("甘公网安备62010202001478号", "62"),
            ("陇公网安备62010202001478号", "62"),
        ] {
            let n = GonganNumber::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(&n.division_code()[..2], code);
        }
        assert!(GonganNumber::parse("川公网安备52010202002867号").is_err());
    }

    #[test]
    fn every_prefix_of_the_table_is_in_the_regex_class_and_back() {
        let table: String = GONGAN_PROVINCES.iter().map(|(c, _)| *c).collect();
        assert_eq!(table, GA);
        assert_eq!(GA.chars().count(), 34);
    }

    #[test]
    fn malformed_numbers_are_refused_with_a_message_naming_the_input() {
        for bad in [
            "",
            "   ",
            "京公网安备号",
            "京公网安备11000002000001",
            "公网安备11000002000001号",
            "京京公网安备11000002000001号",
            "台公网安备71000002000001号",
            "港公网安备81000002000001号",
            "京公网安备01000002000001号",
            "京公网安备91000002000001号",
            "京公网安备110000020000011号",
            "京公网安备1100000200000号",
            "京公网安备11000002000001号-1",
            "京ICP备2024018653号-1",
            "京公网安备11000002000a01号",
            "京公网安备11000002000001號",
        ] {
            let err = GonganNumber::parse(bad).expect_err(bad);
            assert!(matches!(err, Error::InvalidGongan(_)), "{bad}: {err:?}");
            assert!(
                err.to_string().contains(&format!("{bad:?}")),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn a_gongan_number_round_trips_through_serde_and_serde_refuses_bad_ones() {
        let n = GonganNumber::parse("浙公网安备33010802000561号").unwrap();
        let json = serde_json::to_string(&n).unwrap();
        assert_eq!(json, "\"浙公网安备33010802000561号\"");
        let back: GonganNumber = serde_json::from_str(&json).unwrap();
        assert_eq!(back, n);
        assert!(serde_json::from_str::<GonganNumber>("\"沪公网安备11011502002400号\"").is_err());
    }

    #[test]
    fn every_domain_in_the_miit_fixtures_is_its_own_registrable_domain() {
        let rows = fixture_rows();
        assert_eq!(rows.len(), 16);
        for (fixture, _, name) in rows {
            let d = domain(&name);
            let r = registrable_domain(&d).unwrap_or_else(|e| panic!("{fixture}: {e}"));
            assert_eq!(r, d, "{fixture}");
        }
    }

    #[test]
    fn subdomains_of_the_fixture_domains_register_under_them() {
        for (fixture, _, name) in fixture_rows() {
            let d = domain(&name);
            for sub in ["www", "shop", "a.b.c", "xn--55qx5d", "诚信", "WWW"] {
                let host = domain(&format!("{sub}.{name}"));
                let r = registrable_domain(&host).unwrap_or_else(|e| panic!("{fixture}: {e}"));
                assert_eq!(r, d, "{fixture}: {host}");
                assert!(r.covers(host.as_str()));
            }
        }
    }

    #[test]
    fn the_examples_of_icp_md_register_as_expected() {
        let r = registrable_domain(&domain("shop.example.com.cn")).unwrap();
        assert_eq!(r.as_str(), "example.com.cn");
        let r = registrable_domain(&domain("hzbjdata.gov.cn")).unwrap();
        assert_eq!(r.as_str(), "hzbjdata.gov.cn");
        let r = registrable_domain(&domain("www.hzbjdata.gov.cn")).unwrap();
        assert_eq!(r.as_str(), "hzbjdata.gov.cn");
        let r = registrable_domain(&domain("a.b.example.cn")).unwrap();
        assert_eq!(r.as_str(), "example.cn");
    }

    #[test]
    fn a_bare_public_suffix_has_no_registrable_domain() {
        for suffix in [
            "com.cn",
            "gov.cn",
            "org.cn",
            "net.cn",
            "edu.cn",
            "bj.cn",
            "公司.cn",
            "网络.cn",
            "xn--55qx5d.cn",
            "com.hk",
            "co.uk",
        ] {
            let err = registrable_domain(&domain(suffix)).expect_err(suffix);
            assert!(matches!(err, Error::PublicSuffix(_)), "{suffix}: {err:?}");
            assert!(err.to_string().contains("public suffix"), "{err}");
        }
    }

    #[test]
    fn idn_names_register_under_their_a_label_suffix() {
        // 公司.cn and 网络.cn are public suffixes under .cn; 中国 is a top-level domain.
        for (host, expected) in [
            ("www.诚信.公司.cn", "诚信.公司.cn"),
            ("诚信.网络.cn", "诚信.网络.cn"),
            ("www.诚信.中国", "诚信.中国"),
            ("a.b.诚信.中國", "诚信.中國"),
            ("shop.诚信.cn", "诚信.cn"),
            ("shop.诚信.com.cn", "诚信.com.cn"),
        ] {
            let expected = domain(expected);
            assert!(expected.as_str().contains("xn--"), "{expected}");
            let unicode = domain(host);
            let a_labels = domain(unicode.as_str());
            assert_eq!(unicode, a_labels);
            let r = registrable_domain(&a_labels).unwrap_or_else(|e| panic!("{host}: {e}"));
            assert_eq!(r, expected, "{host}");
        }
        // Upper-case A-labels are the same name.
        let r = registrable_domain(&domain("WWW.XN--55QX5D.XN--55QX5D.CN")).unwrap();
        assert_eq!(r.as_str(), "xn--55qx5d.xn--55qx5d.cn");
    }

    #[test]
    fn private_suffixes_do_not_count_only_the_icann_section() {
        for (host, expected) in [
            ("a.b.github.io", "github.io"),
            ("github.io", "github.io"),
            ("x.myqnapcloud.cn", "myqnapcloud.cn"),
            ("bucket.s3.amazonaws.com", "amazonaws.com"),
            ("x.y.cn-north-1.eb.amazonaws.com.cn", "amazonaws.com.cn"),
        ] {
            let r = registrable_domain(&domain(host)).unwrap_or_else(|e| panic!("{host}: {e}"));
            assert_eq!(r.as_str(), expected, "{host}");
        }
    }

    #[test]
    fn a_top_level_domain_outside_the_public_suffix_list_is_refused() {
        for host in ["example.test", "intranet.local", "a.b.invalid", "x.notatld"] {
            let err = registrable_domain(&domain(host)).expect_err(host);
            assert!(
                matches!(err, Error::Identifier(ca::Error::InvalidDomain { .. })),
                "{host}: {err:?}"
            );
            assert!(err.to_string().contains("Public Suffix List"), "{err}");
        }
    }

    /// Text shaped like a 公安 number: a prefix (sometimes not a province), the fixed
    /// word, 0–16 digits (ASCII or full-width, with stray spaces), and usually 号.
    fn gongan_like() -> impl Strategy<Value = String> {
        let prefix = prop_oneof![
            proptest::sample::select(GA.chars().collect::<Vec<_>>()).prop_map(String::from),
            Just(String::new()),
            "[台港澳云A京]{1,2}",
        ];
        (
            prefix,
            prop_oneof![Just("公网安备"), Just("公网安备 "), Just("ICP备")],
            "[0-9０-９ ]{0,16}",
            prop_oneof![Just("号"), Just(""), Just("号 "), Just("號")],
        )
            .prop_map(|(p, w, d, s)| format!("{p}{w}{d}{s}"))
    }

    /// Checks the invariants of whatever `GonganNumber::parse` accepted.
    fn check_gongan(input: &str) -> std::result::Result<(), TestCaseError> {
        if let Ok(n) = GonganNumber::parse(input) {
            let again = GonganNumber::parse(n.as_str());
            prop_assert!(again.is_ok(), "{n:?} does not parse again: {again:?}");
            prop_assert_eq!(again.ok(), Some(n.clone()));
            prop_assert_eq!(n.to_string(), n.as_str());
            prop_assert_eq!(n.digits().len(), if n.is_legacy() { 12 } else { 14 });
            prop_assert_eq!(Some(&n.division_code()[..2]), province_code(n.province()));
            prop_assert!(n.query_url().ends_with(n.digits()));
        }
        Ok(())
    }

    fn a_label() -> impl Strategy<Value = String> {
        "[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?"
    }

    /// A label no Public Suffix List rule uses, so it is never part of a suffix.
    fn registrable_label() -> impl Strategy<Value = String> {
        "zq[a-z0-9]{1,8}"
    }

    proptest! {
        #[test]
        fn gongan_parse_never_panics_on_any_string_and_round_trips(s in any::<String>()) {
            check_gongan(&s)?;
        }

        #[test]
        fn gongan_parse_never_panics_on_number_shaped_text_and_round_trips(s in gongan_like()) {
            check_gongan(&s)?;
        }

        #[test]
        fn every_well_formed_number_under_its_own_prefix_parses(
            (prefix, code) in proptest::sample::select(GONGAN_PROVINCES),
            rest in "[0-9]{4}",
            kind in "[0-9]{2}",
            seq in "[0-9]{6}",
        ) {
            let text = format!("{prefix}公网安备{code}{rest}{kind}{seq}号");
            let n = GonganNumber::parse(&text);
            prop_assert!(n.is_ok(), "{text}: {n:?}");
            let n = n.unwrap();
            prop_assert_eq!(n.as_str(), text.as_str());
            prop_assert_eq!(n.division_code(), format!("{code}{rest}"));
            prop_assert_eq!(n.kind(), Some(kind.as_str()));
            prop_assert_eq!(n.warnings().is_empty(), kind == "02");
            let legacy = format!("{prefix}公网安备{code}{rest}{seq}号");
            let n = GonganNumber::parse(&legacy);
            prop_assert!(n.as_ref().is_ok_and(|n| n.is_legacy()), "{legacy}: {n:?}");
        }

        #[test]
        fn a_number_under_another_provinces_prefix_is_refused(
            (prefix, code) in proptest::sample::select(GONGAN_PROVINCES),
            (_, other) in proptest::sample::select(GONGAN_PROVINCES),
            rest in "[0-9]{10}",
        ) {
            prop_assume!(code != other);
            let text = format!("{prefix}公网安备{other}{rest}号");
            let err = GonganNumber::parse(&text);
            prop_assert!(matches!(err, Err(Error::InvalidGongan(_))), "{text}: {err:?}");
        }

        #[test]
        fn registrable_domain_never_panics_and_is_a_registrable_suffix(
            s in prop_oneof![
                any::<String>(),
                "[a-zA-Z0-9.-]{1,40}",
                "([a-z0-9-]{1,6}\\.){1,4}(cn|com\\.cn|gov\\.cn|org\\.cn|com|io|公司\\.cn|中国)",
            ],
        ) {
            if let Ok(d) = Domain::parse(&s)
                && let Ok(r) = registrable_domain(&d)
            {
                prop_assert!(r.covers(d.as_str()), "{r} does not cover {d}");
                prop_assert_eq!(registrable_domain(&r).ok(), Some(r.clone()));
            }
        }

        #[test]
        fn any_name_under_a_public_suffix_registers_one_label_below_it(
            label in registrable_label(),
            subs in proptest::collection::vec(a_label(), 0..3),
            suffix in proptest::sample::select(vec![
                "cn", "com.cn", "gov.cn", "org.cn", "net.cn", "edu.cn", "com",
                "xn--55qx5d.cn", "xn--fiqs8s",
            ]),
        ) {
            let registrable = format!("{label}.{suffix}");
            let host = subs.iter().fold(registrable.clone(), |name, sub| format!("{sub}.{name}"));
            let host = Domain::parse(&host);
            // Labels like "ab--c" are refused by Domain::parse; those are not our concern here.
            if let Ok(host) = host {
                let r = registrable_domain(&host);
                prop_assert_eq!(r.ok().map(String::from), Some(registrable));
            }
        }
    }
}
