//! Chinese identifiers and domain names, parsed once at the edge and trusted after.
//!
//! Formats and rules follow `shared/icp.md` (GB 32100-2015 for the unified social
//! credit code, MIIT filing-number shapes for ICP numbers).

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

use crate::{Error, Result};

/// Normalises display text the way icp.md §1.5 asks: NFKC, no white space, dash
/// variants mapped to ASCII `-`.
fn normalise_display(input: &str) -> String {
    input
        .nfkc()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{FF0D}' => '-',
            other => other,
        })
        .collect()
}

/// The 31 characters of the USCC alphabet, in value order (I, O, Z, S, V are excluded).
const USCC_ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
/// GB 32100 weights, `3^(i-1) mod 31`.
const USCC_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];
/// Province prefixes (positions 3–4) that GB/T 2260 assigns, plus 10 for central registration.
const USCC_PROVINCES: &[&str] = &[
    "10", "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
    "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65",
];
/// Known (registration authority, organisation type) pairs from GB 32100 and its amendments.
const USCC_KINDS: &[&str] = &[
    "11", "12", "13", "19", "21", "29", "31", "32", "33", "34", "35", "39", "41", "49", "51", "52",
    "53", "59", "61", "62", "69", "71", "72", "79", "81", "89", "91", "92", "93", "A1", "A9", "N1",
    "N2", "N3", "N9", "Y1",
];

fn uscc_value(c: u8) -> Option<u32> {
    USCC_ALPHABET.iter().position(|&a| a == c).map(|v| v as u32)
}

/// A unified social credit code (统一社会信用代码) that passed GB 32100-2015 checks.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Uscc(String);

/// Something about an identifier that is legal but worth a human's look.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning(pub String);

impl Uscc {
    /// Parses user input: NFKC, upper case, spaces and hyphens removed, then the
    /// alphabet, the check character and the province prefix are checked.
    pub fn parse(input: &str) -> Result<Self> {
        let code: String = input
            .nfkc()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .flat_map(char::to_uppercase)
            .collect();
        static SHAPE: LazyLock<Regex> = LazyLock::new(|| {
            Regex::new("^[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}$")
                .expect("static regex")
        });
        if code.chars().count() != 18 {
            return Err(Error::InvalidUscc(format!(
                "{input:?} has {} characters; a USCC has 18",
                code.chars().count()
            )));
        }
        if let Some(bad) = code
            .bytes()
            .find(|&b| !b.is_ascii() || uscc_value(b).is_none())
        {
            return Err(Error::InvalidUscc(format!(
                "{input:?} contains {:?}, which is not in the USCC alphabet (I, O, Z, S and V are never used)",
                bad as char
            )));
        }
        if !SHAPE.is_match(&code) {
            return Err(Error::InvalidUscc(format!(
                "{input:?}: positions 3 to 8 must be the digits of a division code"
            )));
        }
        let bytes = code.as_bytes();
        let expected = uscc_check_char(&bytes[..17]);
        if bytes[17] != expected {
            return Err(Error::InvalidUscc(format!(
                "{input:?}: check character is {:?}, expected {:?}",
                bytes[17] as char, expected as char
            )));
        }
        if !USCC_PROVINCES.contains(&&code[2..4]) {
            return Err(Error::InvalidUscc(format!(
                "{input:?}: {:?} is not a province code",
                &code[2..4]
            )));
        }
        Ok(Uscc(code))
    }

    /// The 18 characters.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Registration authority and organisation type (positions 1–2), e.g. `91` for an enterprise.
    pub fn kind(&self) -> &str {
        &self.0[..2]
    }

    /// Legal oddities a human should look at: an unknown authority/type pair, or an
    /// embedded GB 11714 organisation code whose own check character fails.
    pub fn warnings(&self) -> Vec<Warning> {
        let mut out = Vec::new();
        if !USCC_KINDS.contains(&self.kind()) {
            out.push(Warning(format!(
                "registration authority and type {:?} are not in the GB 32100 table",
                self.kind()
            )));
        }
        if !org_code_valid(&self.0.as_bytes()[8..17]) {
            out.push(Warning(format!(
                "embedded organization code {} fails its GB 11714 check",
                &self.0[8..17]
            )));
        }
        out
    }
}

fn uscc_check_char(first17: &[u8]) -> u8 {
    let sum: u32 = first17
        .iter()
        .zip(USCC_WEIGHTS)
        .map(|(&c, w)| uscc_value(c).unwrap_or(0) * w)
        .sum();
    let check = (31 - sum % 31) % 31;
    USCC_ALPHABET[check as usize]
}

/// GB 11714-1997: 8 characters (full Latin alphabet) plus a check character.
fn org_code_valid(code: &[u8]) -> bool {
    const W: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];
    let value = |c: u8| match c {
        b'0'..=b'9' => Some(u32::from(c - b'0')),
        b'A'..=b'Z' => Some(u32::from(c - b'A') + 10),
        _ => None,
    };
    let Some(sum) = code[..8]
        .iter()
        .zip(W)
        .map(|(&c, w)| value(c).map(|v| v * w))
        .sum::<Option<u32>>()
    else {
        return false;
    };
    let expected = match 11 - sum % 11 {
        10 => b'X',
        11 => b'0',
        d => b'0' + d as u8,
    };
    code[8] == expected
}

impl fmt::Display for Uscc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Debug for Uscc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Uscc({})", self.0)
    }
}
impl TryFrom<String> for Uscc {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        Uscc::parse(&s)
    }
}
impl From<Uscc> for String {
    fn from(u: Uscc) -> String {
        u.0
    }
}

/// The kind of MIIT number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum IcpKind {
    /// `京ICP备…号`, a filing for non-commercial services.
    Filing,
    /// `京ICP证…号`, a commercial-service licence number used as filing number.
    Licence,
    /// `粤B2-20210734`, a value-added telecom licence number.
    LicenceB2,
}

/// A website ICP filing number (网站备案号), with its site suffix.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IcpNumber {
    text: String,
    main_len: usize,
}

/// Canonical ICP province characters (icp.md §1.5 `P`).
const ICP_PROVINCES: &str = "京津冀晋蒙辽吉黑沪苏浙皖闽赣鲁豫鄂湘粤桂琼渝蜀黔滇藏陕陇青宁新";

static ICP_BEI: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        "^(?P<prov>[{ICP_PROVINCES}])ICP备(?P<num>[0-9]{{6}}|[0-9]{{8}}|20[0-9]{{8}})号(?:-(?P<site>[1-9][0-9]{{0,3}}))?$"
    ))
    .expect("static regex")
});
static ICP_ZHENG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        "^(?P<prov>[{ICP_PROVINCES}])ICP证(?P<num>[0-9]{{6}})号(?:-(?P<site>[1-9][0-9]{{0,3}}))?$"
    ))
    .expect("static regex")
});
static LIC_B2: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        "^(?P<prov>[{ICP_PROVINCES}])?B2-(?P<year>(?:19|20)[0-9]{{2}})(?P<seq>[0-9]{{4}})(?:-(?P<site>[1-9][0-9]{{0,3}}))?$"
    ))
    .expect("static regex")
});
static APP_ETC: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        "^[{ICP_PROVINCES}]ICP备(?:[0-9]{{6}}|[0-9]{{8}}|20[0-9]{{8}})号-[1-9][0-9]{{0,3}}[A-Z]$"
    ))
    .expect("static regex")
});

impl IcpNumber {
    /// Parses a website filing number. Display text is normalised first (NFKC, no
    /// spaces, dash variants); app and mini-program numbers (`-4A`, `-7X`) and numbers
    /// without a site suffix are refused, because a seal certifies one website.
    pub fn parse_website(input: &str) -> Result<Self> {
        let n = Self::parse_any(input)?;
        if n.site().is_none() {
            return Err(Error::InvalidIcp(format!(
                "{input:?} is a subject number; a website filing ends in -N (e.g. {}-1)",
                n.text
            )));
        }
        Ok(n)
    }

    /// Parses a subject (主体) or website filing number.
    pub fn parse_any(input: &str) -> Result<Self> {
        Self::parse_at(input, current_year())
    }

    /// As [`IcpNumber::parse_any`], with "now" given, so year sanity can be tested.
    pub fn parse_at(input: &str, this_year: i32) -> Result<Self> {
        let text = normalise_display(input);
        if text.is_empty() {
            return Err(Error::InvalidIcp("empty".into()));
        }
        if APP_ETC.is_match(&text) {
            return Err(Error::InvalidIcp(format!(
                "{input:?} is an app or mini-program filing, not a website filing"
            )));
        }
        let (caps, year) = if let Some(c) = ICP_BEI.captures(&text) {
            let num = &c["num"];
            let year = match num.len() {
                6 | 8 => 2000 + num[..2].parse::<i32>().unwrap_or(0),
                _ => num[..4].parse::<i32>().unwrap_or(0),
            };
            if num.len() == 10 && year < 2020 {
                return Err(Error::InvalidIcp(format!(
                    "{input:?}: ten-digit filing numbers start in 2020, not {year}"
                )));
            }
            if num.len() == 8 && year > 2019 {
                return Err(Error::InvalidIcp(format!(
                    "{input:?}: eight-digit filing numbers end in 2019; {year} would have ten digits"
                )));
            }
            (c, year)
        } else if let Some(c) = ICP_ZHENG.captures(&text) {
            let year = 2000 + c["num"][..2].parse::<i32>().unwrap_or(0);
            (c, year)
        } else if let Some(c) = LIC_B2.captures(&text) {
            let year = c["year"].parse::<i32>().unwrap_or(0);
            (c, year)
        } else {
            return Err(Error::InvalidIcp(format!(
                "{input:?} is not of the form 京ICP备2024018653号-1, 京ICP证030173号-1 or 粤B2-20210734-2"
            )));
        };
        if year > this_year {
            return Err(Error::InvalidIcp(format!(
                "{input:?} would have been issued in {year}, which is in the future"
            )));
        }
        let main_len = match caps.name("site") {
            Some(site) => site.start() - 1,
            None => text.len(),
        };
        Ok(IcpNumber { text, main_len })
    }

    /// The whole number as MIIT writes it.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The subject (主体) number: the number without its `-N` site suffix.
    pub fn main(&self) -> &str {
        &self.text[..self.main_len]
    }

    /// The site suffix `N`, when present.
    pub fn site(&self) -> Option<u32> {
        self.text
            .get(self.main_len + 1..)
            .and_then(|s| s.parse().ok())
    }

    /// Which of the three number families this is.
    pub fn kind(&self) -> IcpKind {
        if self.text.contains("ICP备") {
            IcpKind::Filing
        } else if self.text.contains("ICP证") {
            IcpKind::Licence
        } else {
            IcpKind::LicenceB2
        }
    }
}

fn current_year() -> i32 {
    time::OffsetDateTime::now_utc().year()
}

impl fmt::Display for IcpNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}
impl fmt::Debug for IcpNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IcpNumber({})", self.text)
    }
}
impl TryFrom<String> for IcpNumber {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        IcpNumber::parse_any(&s)
    }
}
impl From<IcpNumber> for String {
    fn from(n: IcpNumber) -> String {
        n.text
    }
}

/// A DNS name we may certify: lower-case A-labels, at least two labels, no wildcard,
/// no IP address, every label LDH and at most 63 octets, at most 253 octets in all.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Domain(String);

impl Domain {
    /// Parses a host name as a user types it (Unicode or A-labels, any case, an
    /// optional trailing dot) into its A-label form.
    pub fn parse(input: &str) -> Result<Self> {
        let fail = |reason: &str| Error::InvalidDomain {
            domain: input.to_string(),
            reason: reason.to_string(),
        };
        let trimmed = input.trim();
        let trimmed = trimmed.strip_suffix('.').unwrap_or(trimmed);
        if trimmed.is_empty() {
            return Err(fail("empty"));
        }
        if trimmed.contains('*') {
            return Err(fail("wildcards are not certified; list each host"));
        }
        if trimmed.parse::<std::net::IpAddr>().is_ok() {
            return Err(fail("an IP address is not a domain"));
        }
        let ascii = idna::domain_to_ascii_strict(trimmed)
            .map_err(|_| fail("not a valid internationalised domain name"))?;
        if ascii.len() > 253 {
            return Err(fail("longer than 253 characters"));
        }
        let labels: Vec<&str> = ascii.split('.').collect();
        if labels.len() < 2 {
            return Err(fail("a certified domain has at least two labels"));
        }
        for label in &labels {
            if label.is_empty() || label.len() > 63 {
                return Err(fail("each label must be 1 to 63 characters"));
            }
            if !label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            {
                return Err(fail("labels may hold only letters, digits and hyphens"));
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err(fail("a label may not start or end with a hyphen"));
            }
        }
        let tld = labels[labels.len() - 1];
        if tld.bytes().all(|b| b.is_ascii_digit()) {
            return Err(fail("the top-level label cannot be numeric"));
        }
        Ok(Domain(ascii))
    }

    /// The A-label form, as it goes into certificates.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The Unicode form, for display.
    pub fn to_unicode(&self) -> String {
        idna::domain_to_unicode(&self.0).0
    }

    /// True when `host` is this domain or one of its subdomains.
    pub fn covers(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        host == self.0
            || host
                .strip_suffix(self.0.as_str())
                .is_some_and(|prefix| prefix.ends_with('.'))
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Debug for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Domain({})", self.0)
    }
}
impl TryFrom<String> for Domain {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        Domain::parse(&s)
    }
}
impl From<Domain> for String {
    fn from(d: Domain) -> String {
        d.0
    }
}

/// A free-text subject field (organization, province, city): NFC, trimmed, no control
/// characters, 1 to `max` characters.
pub fn subject_text(field: &'static str, input: &str, max: usize) -> Result<String> {
    let value: String = input.trim().nfc().collect();
    let fail = |reason: String| Error::InvalidField { field, reason };
    if value.is_empty() {
        return Err(fail("must not be empty".into()));
    }
    if value.chars().count() > max {
        return Err(fail(format!("longer than {max} characters")));
    }
    if value.chars().any(char::is_control) {
        return Err(fail("contains control characters".into()));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standards_worked_example_gets_check_character_3() {
        assert_eq!(uscc_check_char(b"91350100M000100Y4"), b'3');
        assert_eq!(uscc_check_char(b"91440300708461136"), b'T');
    }

    #[test]
    fn an_app_filing_is_refused_for_a_website() {
        let err = IcpNumber::parse_website("冀ICP备2022016663号-4A").unwrap_err();
        assert!(err.to_string().contains("app or mini-program"), "{err}");
    }

    #[test]
    fn the_accept_and_reject_lists_of_icp_md_hold() {
        for ok in [
            "京ICP备05002571号-1",
            "沪ICP备06019413号-118",
            "湘ICP备2026037508号-1",
            "粤B2-20090059-5",
            "京ICP证030173号-1",
        ] {
            IcpNumber::parse_at(ok, 2026).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        IcpNumber::parse_at("B2-20090028", 2026).expect("cross-regional B2");
        for bad in [
            "京ICP备14016851-1号",
            "京ICP备1004644号",
            "京ICP证1000001号",
            "川ICP备2015012345号-1",
            "京ICP备2031000001号-1",
            "京ICP备18000001号-0",
        ] {
            assert!(IcpNumber::parse_at(bad, 2026).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn display_text_with_spaces_and_full_width_dashes_is_normalised() {
        let n = IcpNumber::parse_website("京 ICP 备 11018762 号－11").unwrap();
        assert_eq!(n.as_str(), "京ICP备11018762号-11");
        assert_eq!(n.main(), "京ICP备11018762号");
        assert_eq!(n.site(), Some(11));
    }

    #[test]
    fn idn_domains_become_a_labels_and_cover_their_subdomains() {
        let d = Domain::parse("诚信.中国").unwrap();
        assert!(d.as_str().starts_with("xn--"));
        assert_eq!(d.to_unicode(), "诚信.中国");
        let d = Domain::parse("Example.COM.cn.").unwrap();
        assert_eq!(d.as_str(), "example.com.cn");
        assert!(d.covers("www.example.com.cn"));
        assert!(!d.covers("badexample.com.cn"));
        for bad in [
            "",
            "localhost",
            "*.example.cn",
            "127.0.0.1",
            "-a.cn",
            "a..cn",
            "a_b.cn",
            "a.123",
        ] {
            assert!(Domain::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn zz_probe() {
        for s in ["91110108MA04T7K2中H", "91110108MA04T7K2ÄH"] {
            println!("{s}: {:?}", Uscc::parse(s).map_err(|e| e.to_string()));
        }
        for s in ["example.cn。", "example.cn．", "example.cn.", "a.0x1", "1.2.3.0x4", "example.0x7f", "a.0xg", "ab--cd.cn", "xn--abc.cn", "EXAMPLE。CN", "a.b.c.d.e.f.g.xn--fiqs8s", "ΑΣ.cn", "ας.cn", "ασ.cn", "ß.cn", "faß.de"] {
            println!("{s}: {:?}", Domain::parse(s).map_err(|e| e.to_string()));
        }
        println!("{:?}", Domain::parse("ΑΣ.cn").ok() == Domain::parse(&"ΑΣ.cn".to_lowercase()).ok());
    }
}
