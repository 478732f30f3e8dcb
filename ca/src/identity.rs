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
            .chars()
            .find(|&c| !c.is_ascii() || uscc_value(c as u8).is_none())
        {
            return Err(Error::InvalidUscc(format!(
                "{input:?} contains {bad:?}, which is not in the USCC alphabet (I, O, Z, S and V are never used)"
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
        // UTS 46 would drop some of these silently (a zero-width space) and keep
        // others (joiners): either way the name shown is not the name typed.
        if let Some(c) = hidden_character(trimmed) {
            return Err(fail(&format!(
                "contains U+{:04X}, a control, invisible or formatting character",
                u32::from(c)
            )));
        }
        // One trailing root dot, in any of the forms UTS 46 maps to `.` (an IME types 。).
        let trimmed = trimmed
            .strip_suffix(['.', '\u{3002}', '\u{FF0E}', '\u{FF61}'])
            .unwrap_or(trimmed);
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
        // An A-label typed as such skips the checks its Unicode form gets: `xn--0b2oaa`
        // encodes three U+324A5, which the check above refuses as unassigned. The
        // name must come back to itself through its Unicode form (what we show), and
        // that form must pass the same check.
        let (unicode, decoded) = idna::domain_to_unicode(&ascii);
        if decoded.is_err() || idna::domain_to_ascii_strict(&unicode).ok().as_ref() != Some(&ascii)
        {
            return Err(fail(
                "holds an A-label (xn--) that does not encode a valid name",
            ));
        }
        if let Some(c) = hidden_character(&unicode) {
            return Err(fail(&format!(
                "encodes U+{:04X}, a control, invisible, unassigned or formatting character",
                u32::from(c)
            )));
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
        // The WHATWG URL standard's "ends in a number": such a host is parsed as an IPv4
        // address (`1.2.3.0x4` is 1.2.3.4 in a browser), never as a domain.
        let tld = labels[labels.len() - 1];
        let hex = tld
            .strip_prefix("0x")
            .is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
        if hex || tld.bytes().all(|b| b.is_ascii_digit()) {
            return Err(fail("the top-level label cannot be numeric"));
        }
        Ok(Domain(ascii))
    }

    /// Parses like [`Domain::parse`], then refuses a name the CA never certifies
    /// ([`Domain::check_certifiable`]). Every name a certificate will carry goes
    /// through this; plain [`Domain::parse`] serves hosts that are only looked at
    /// (challenges, warnings, the seal's page).
    pub fn parse_certifiable(input: &str) -> Result<Self> {
        let domain = Self::parse(input)?;
        domain.check_certifiable()?;
        Ok(domain)
    }

    /// Refuses a well-formed name that no subscriber can hold, or that reads as
    /// another name:
    ///
    /// * a public suffix, from either section of the Public Suffix List
    ///   ([`Error::PublicSuffix`]): `com.cn` and `gov.cn` (ICANN) are where others
    ///   register, `github.io` (private) is where a platform's users get their names;
    /// * a name that is, or is under, a special-use name ([`Error::ReservedName`],
    ///   see [`RESERVED_NAMES`]), which is never delegated to anyone;
    /// * a label mixing scripts beyond UTS #39's highly restrictive level
    ///   ([`Error::MixedScript`]): `pаypal.cn` with a Cyrillic `а` shows as
    ///   `paypal.cn`.
    pub fn check_certifiable(&self) -> Result<()> {
        let name = self.0.as_str();
        if let Some((zone, reference)) = reserved_zone(name) {
            return Err(Error::ReservedName {
                domain: name.to_string(),
                zone,
                reference,
            });
        }
        if let Some(suffix) = psl::suffix(name.as_bytes())
            && suffix.as_bytes() == name.as_bytes()
            && let Some(typ) = suffix.typ()
        {
            return Err(Error::PublicSuffix {
                domain: name.to_string(),
                section: match typ {
                    psl::Type::Icann => "ICANN",
                    psl::Type::Private => "private",
                },
            });
        }
        for label in name.split('.').filter(|l| l.starts_with("xn--")) {
            let unicode = idna::domain_to_unicode(label).0;
            if let Some(reason) = mixed_script(&unicode) {
                return Err(Error::MixedScript {
                    domain: name.to_string(),
                    label: unicode,
                    reason,
                });
            }
        }
        Ok(())
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
        // Lower-casing allocates only when needed: the seal asks once per request.
        let host = host.trim_end_matches('.');
        let host: std::borrow::Cow<'_, str> = if host.bytes().any(|b| b.is_ascii_uppercase()) {
            host.to_ascii_lowercase().into()
        } else {
            host.into()
        };
        *host == *self.0
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

/// Special-use names the CA never certifies, nor any name under them, with the
/// document that reserves each. None is delegated to anyone, so no applicant can hold
/// one: a certificate for one would assert control nobody has.
pub const RESERVED_NAMES: &[(&str, &str)] = &[
    // RFC 2606 §2 reserves four top-level names; RFC 6761 §6.2–6.5 says how each is
    // treated and that registrars never grant them.
    ("test", "RFC 2606 §2 and RFC 6761 §6.2"),
    ("localhost", "RFC 2606 §2 and RFC 6761 §6.3"),
    ("invalid", "RFC 2606 §2 and RFC 6761 §6.4"),
    ("example", "RFC 2606 §2 and RFC 6761 §6.5"),
    // RFC 2606 §3: second-level names for documentation (example.cn is not among them).
    ("example.com", "RFC 2606 §3 and RFC 6761 §6.5"),
    ("example.net", "RFC 2606 §3 and RFC 6761 §6.5"),
    ("example.org", "RFC 2606 §3 and RFC 6761 §6.5"),
    // Later entries of the Special-Use Domain Names registry RFC 6761 created.
    ("local", "RFC 6762 §3 (Multicast DNS)"),
    ("onion", "RFC 7686 §2 (Tor onion services)"),
    ("home.arpa", "RFC 8375 (home networks)"),
    ("alt", "RFC 9476 (non-DNS namespaces)"),
    // The rest of .arpa is infrastructure (RFC 3172), including the private-address
    // reverse zones of RFC 6761 §6.1: never a website.
    ("arpa", "RFC 3172 and RFC 6761 §6.1"),
];

/// The reserved name (and its reference) that `name` (A-labels) is or lies under; the
/// longest wins, so `x.home.arpa` names RFC 8375 rather than RFC 3172.
fn reserved_zone(name: &str) -> Option<(&'static str, &'static str)> {
    RESERVED_NAMES
        .iter()
        .filter(|(zone, _)| {
            name == *zone
                || name
                    .strip_suffix(zone)
                    .is_some_and(|prefix| prefix.ends_with('.'))
        })
        .max_by_key(|(zone, _)| zone.len())
        .copied()
}

/// Why a label (Unicode) fails UTS #39 §5.2's "highly restrictive" level, or `None`
/// when it passes: all of one script (Common and Inherited characters such as digits
/// and `-` go with any), or Latin with Han and Hiragana/Katakana, with Han and
/// Bopomofo, or with Han and Hangul. That admits `例子`, `qq音乐` and `中国-2024`
/// and refuses `pаypal` (Latin with Cyrillic), which browsers would show as
/// `paypal` or only as its A-label. The unicode-security crate holds the Unicode
/// tables; nothing is copied here.
fn mixed_script(label: &str) -> Option<String> {
    use unicode_security::{RestrictionLevel, RestrictionLevelDetection};
    match label.detect_restriction_level() {
        RestrictionLevel::ASCIIOnly
        | RestrictionLevel::SingleScript
        | RestrictionLevel::HighlyRestrictive => None,
        RestrictionLevel::Unrestricted => {
            Some("holds characters outside the UTS #39 identifier profile".into())
        }
        _ => {
            let scripts = label
                .chars()
                .map(|c| {
                    unicode_security::mixed_script::AugmentedScriptSet::for_char(c).to_string()
                })
                .filter(|s| s != "All")
                .collect::<std::collections::BTreeSet<_>>();
            Some(format!(
                "mixes scripts ({})",
                scripts.into_iter().collect::<Vec<_>>().join(", ")
            ))
        }
    }
}

/// Upper bounds of the subject attributes we write, in characters (X.520, RFC 5280
/// Appendix A): a longer value is not valid DER for its type, pkilint calls it FATAL
/// and strict decoders refuse the certificate.
pub mod x520 {
    /// ub-common-name.
    pub const COMMON_NAME: usize = 64;
    /// ub-organization-name.
    pub const ORGANIZATION_NAME: usize = 64;
    /// ub-state-name.
    pub const STATE_OR_PROVINCE_NAME: usize = 128;
    /// ub-locality-name.
    pub const LOCALITY_NAME: usize = 128;
    /// ub-serial-number.
    pub const SERIAL_NUMBER: usize = 64;
}

/// The first character a name shown to people must not hold: a control character
/// (Cc), an invisible or formatting one (Cf: zero-width spaces and joiners, the
/// bidirectional controls U+202A–U+202E and U+2066–U+2069, soft hyphen, BOM), a line
/// or paragraph separator, a private-use or unassigned code point. They let a name
/// display as something it is not.
pub fn hidden_character(text: &str) -> Option<char> {
    static HIDDEN: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"[\p{Cc}\p{Cf}\p{Co}\p{Cn}\p{Zl}\p{Zp}]").expect("valid regex")
    });
    HIDDEN.find(text).and_then(|m| m.as_str().chars().next())
}

/// A free-text subject field (organization, province, city): NFC, trimmed, 1 to `max`
/// characters, none of them hidden ([`hidden_character`]).
pub fn subject_text(field: &'static str, input: &str, max: usize) -> Result<String> {
    let value: String = input.trim().nfc().collect();
    let fail = |reason: String| Error::InvalidField { field, reason };
    if value.is_empty() {
        return Err(fail("must not be empty".into()));
    }
    if value.chars().count() > max {
        return Err(fail(format!("longer than {max} characters")));
    }
    if let Some(c) = hidden_character(&value) {
        return Err(fail(format!(
            "contains U+{:04X}, a control, invisible or formatting character",
            u32::from(c)
        )));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invisible_and_bidirectional_formatting_characters_are_refused_in_subject_text() {
        for (text, code) in [
            ("示例\u{202E}公司", "U+202E"),
            ("示例\u{200B}公司", "U+200B"),
            ("示例\u{2066}公司\u{2069}", "U+2066"),
            ("\u{FEFF}示例公司", "U+FEFF"),
            ("示例\u{00AD}公司", "U+00AD"),
            ("示例\u{2028}公司", "U+2028"),
            ("示例\u{E000}公司", "U+E000"),
        ] {
            let err = subject_text("organization", text, 64).unwrap_err();
            assert!(err.to_string().contains(code), "{text:?}: {err}");
        }
        subject_text("organization", "北京晨曦数智科技有限公司", 64).unwrap();
    }

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
    fn a_public_suffix_of_either_section_of_the_list_is_never_certifiable() {
        for (suffix, section) in [
            ("com.cn", "ICANN"),
            ("gov.cn", "ICANN"),
            ("公司.cn", "ICANN"),
            ("cn", "ICANN"),
            ("github.io", "private"),
            ("myqnapcloud.cn", "private"),
        ] {
            // One-label names never parse; the rule is checked on the Domain itself.
            let d = Domain(idna::domain_to_ascii(suffix).unwrap());
            match d.check_certifiable() {
                Err(Error::PublicSuffix { section: s, .. }) => assert_eq!(s, section, "{suffix}"),
                other => panic!("{suffix}: {other:?}"),
            }
        }
        let err = Domain::parse_certifiable("COM.CN.")
            .unwrap_err()
            .to_string();
        assert!(err.contains("public suffix"), "{err}");
        for ok in [
            "example.cn",
            "example.com.cn",
            "hzbjdata.gov.cn",
            "someone.github.io",
            "诚信.公司.cn",
        ] {
            Domain::parse_certifiable(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
    }

    #[test]
    fn names_reserved_by_rfc_2606_and_rfc_6761_and_their_subdomains_are_never_certifiable() {
        for (name, zone, rfc) in [
            ("foo.test", "test", "RFC 2606"),
            ("www.localhost", "localhost", "RFC 6761"),
            ("foo.invalid", "invalid", "RFC 2606"),
            ("a.b.example", "example", "RFC 2606"),
            ("example.com", "example.com", "RFC 2606 §3"),
            ("www.example.net", "example.net", "RFC 2606 §3"),
            ("EXAMPLE.ORG", "example.org", "RFC 2606 §3"),
            ("printer.local", "local", "RFC 6762"),
            (
                "duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad.onion",
                "onion",
                "RFC 7686",
            ),
            ("router.home.arpa", "home.arpa", "RFC 8375"),
            ("10.in-addr.arpa", "arpa", "RFC 3172"),
            ("thing.alt", "alt", "RFC 9476"),
        ] {
            match Domain::parse_certifiable(name) {
                Err(Error::ReservedName {
                    zone: z, reference, ..
                }) => {
                    assert_eq!(z, zone, "{name}");
                    assert!(reference.contains(rfc), "{name}: {reference}");
                }
                other => panic!("{name}: {other:?}"),
            }
        }
        // Only the three second-level names are reserved, not example under other TLDs.
        for ok in [
            "example.cn",
            "example.com.cn",
            "myexample.com",
            "example.company",
            "test.cn",
            "localhost.cn",
            "local.cn",
            "arpa.cn",
        ] {
            Domain::parse_certifiable(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
    }

    #[test]
    fn a_label_mixing_scripts_beyond_uts_39_highly_restrictive_is_never_certifiable() {
        for (name, label) in [
            ("p\u{0430}ypal.cn", "p\u{0430}ypal"),
            ("www.\u{03B1}pple.cn", "\u{03B1}pple"),
            (
                "\u{0430}\u{0440}\u{0440}le.com",
                "\u{0430}\u{0440}\u{0440}le",
            ),
            (
                "\u{0E44}\u{0E17}\u{0E22}shop.cn",
                "\u{0E44}\u{0E17}\u{0E22}shop",
            ),
        ] {
            match Domain::parse_certifiable(name) {
                Err(Error::MixedScript {
                    label: l, reason, ..
                }) => {
                    assert_eq!(l, label, "{name}");
                    assert!(reason.contains("mixes scripts"), "{name}: {reason}");
                }
                other => panic!("{name}: {other:?}"),
            }
        }
        let err = Domain::parse_certifiable("p\u{0430}ypal.cn")
            .unwrap_err()
            .to_string();
        assert!(err.contains("Cyrillic") && err.contains("UTS #39"), "{err}");
        // One script, or Latin with Han (and kana or Hangul), is what UTS #39 calls
        // highly restrictive; digits and hyphens go with any script.
        for ok in [
            "例子.cn",
            "诚信.中国",
            "qq音乐.cn",
            "中国-2024.cn",
            "пример.рф",
            "日本語テキスト.jp",
            "한국어漢字.kr",
            "bücher.de",
        ] {
            Domain::parse_certifiable(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
    }

    #[test]
    fn a_non_ascii_character_in_a_uscc_is_named_as_itself() {
        let err = Uscc::parse("91110108MA04T7K2中H").unwrap_err().to_string();
        assert!(err.contains("contains '中'"), "{err}");
        let err = Uscc::parse("91110108MA04T7KI1H").unwrap_err().to_string();
        assert!(err.contains("contains 'I'"), "{err}");
    }

    #[test]
    fn a_trailing_ideographic_full_stop_is_a_root_dot_like_an_ascii_one() {
        for input in [
            "example.cn.",
            "example.cn。",
            "example。cn．",
            "EXAMPLE.CN｡",
        ] {
            let d = Domain::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(d.as_str(), "example.cn");
        }
        let d = Domain::parse("诚信。中国。").unwrap();
        assert_eq!(d, Domain::parse("诚信.中国").unwrap());
        for bad in ["example.cn..", "example.cn.。", "example.cn。。", "。", "."] {
            assert!(Domain::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn a_name_a_browser_would_read_as_an_ipv4_address_is_refused() {
        // WHATWG URL: a host whose last label is decimal or 0x-hex is an IPv4 address.
        for bad in [
            "1.2.3.0x4",
            "a.0x1",
            "example.0x7f",
            "a.0x",
            "127.1",
            "0x7f.0.0.1",
        ] {
            let err = Domain::parse(bad).expect_err(bad).to_string();
            assert!(err.contains("numeric"), "{bad}: {err}");
        }
        for ok in ["a.0xg", "1.2.3.x4", "0x7f.cn"] {
            Domain::parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
    }

    #[test]
    fn every_uscc_vector_of_icp_md_is_judged_as_listed() {
        for ok in [
            "91440300708461136T",
            "9144030071526726XG",
            "91110000802100433B",
            "91110108551385082Q",
            "91512081MA62K0260E",
            "91110000600037341L",
            "91350100M000100Y43",
            "91110105MA0002E790",
            "91110105MA0000E73Y",
            "91110105MA000047XN",
            "12100000425006117P",
            "531000005000126499",
            "91440300708461136t",
            "9144 0300 7084 6113-6T",
        ] {
            Uscc::parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            "91350100M000100Y4Z",
            "91110108MA04T7KI1H",
            "91110108MA04T7K21J",
            "91520102MAAJ3P7YXX",
            "9144030070846113",
        ] {
            assert!(Uscc::parse(bad).is_err(), "{bad} accepted");
        }
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        /// The USCC alphabet and weights as icp.md §3.1–§3.2 state them, kept apart from
        /// the implementation's own constants on purpose.
        const ALPHABET: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";
        const WEIGHTS: [u32; 17] = [
            1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
        ];
        const PROVINCES: &[&str] = &[
            "10", "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35",
            "36", "37", "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61",
            "62", "63", "64", "65",
        ];

        /// GB 32100 §4: C18 = 31 − (Σ Ci·Wi mod 31), 31 → 0.
        fn check_char(first17: &str) -> char {
            let sum: u32 = first17
                .chars()
                .zip(WEIGHTS)
                .map(|(c, w)| ALPHABET.find(c).expect("alphabet") as u32 * w)
                .sum();
            let value = match 31 - sum % 31 {
                31 => 0,
                v => v,
            };
            ALPHABET
                .chars()
                .nth(value as usize)
                .expect("value below 31")
        }

        #[test]
        fn the_test_oracle_agrees_with_the_standard_and_the_worked_examples() {
            let mut w = 1;
            for weight in WEIGHTS {
                assert_eq!(weight, w);
                w = w * 3 % 31;
            }
            assert_eq!(ALPHABET.len(), 31);
            assert_eq!(check_char("91350100M000100Y4"), '3');
            assert_eq!(check_char("91440300708461136"), 'T');
            assert_eq!(check_char("91110105MA0002E79"), '0');
        }

        fn alphabet_char() -> impl Strategy<Value = char> {
            proptest::sample::select(ALPHABET.chars().collect::<Vec<_>>())
        }

        fn alphabet_string(n: usize) -> impl Strategy<Value = String> {
            proptest::collection::vec(alphabet_char(), n).prop_map(String::from_iter)
        }

        /// 17 characters of a well-shaped USCC: two alphabet characters, a province code
        /// and four more digits of division code, nine alphabet characters.
        fn uscc_body() -> impl Strategy<Value = String> {
            (
                alphabet_string(2),
                proptest::sample::select(PROVINCES),
                "[0-9]{4}",
                alphabet_string(9),
            )
                .prop_map(|(a, p, d, b)| format!("{a}{p}{d}{b}"))
        }

        /// Text shaped like an ICP number, to get past the first checks.
        fn icp_like() -> impl Strategy<Value = String> {
            (
                "[京沪粤蜀川陇A]{0,2}",
                prop_oneof![Just("ICP备"), Just("ICP证"), Just("B2-"), Just("ICP 备 ")],
                "[0-9０-９]{0,12}",
                prop_oneof![Just("号"), Just("")],
                prop_oneof![Just(String::new()), "[-－‐]{1,2}[0-9]{0,5}[AX]?",],
            )
                .prop_map(|(p, w, n, h, s)| format!("{p}{w}{n}{h}{s}"))
        }

        /// Text shaped like a host name: labels of letters, digits, hyphens, IDN
        /// characters and A-labels, with any of the dots UTS 46 knows.
        fn domain_like() -> impl Strategy<Value = String> {
            let label = prop_oneof![
                "[a-zA-Z0-9-]{0,12}",
                "(xn|XN)--[a-z0-9]{1,10}",
                "[诚信中国公司網絡ÄßΣ]{1,3}",
                "[0-9]{1,3}",
                "0x[0-9a-f]{0,2}",
            ];
            (
                proptest::collection::vec(label, 1..6),
                proptest::sample::select(vec![".", "。", "．"]),
                proptest::sample::select(vec!["", ".", "。", " "]),
            )
                .prop_map(|(labels, dot, end)| format!("{}{end}", labels.join(dot)))
        }

        fn check_uscc(input: &str) -> std::result::Result<(), TestCaseError> {
            if let Ok(u) = Uscc::parse(input) {
                prop_assert_eq!(u.as_str().len(), 18);
                prop_assert_eq!(Uscc::parse(u.as_str()).ok(), Some(u.clone()));
                prop_assert_eq!(u.to_string(), u.as_str());
                let _ = u.warnings();
            }
            Ok(())
        }

        fn check_icp(input: &str) -> std::result::Result<(), TestCaseError> {
            if let Ok(n) = IcpNumber::parse_any(input) {
                prop_assert_eq!(IcpNumber::parse_any(n.as_str()).ok(), Some(n.clone()));
                prop_assert!(n.as_str().starts_with(n.main()));
                match n.site() {
                    Some(site) => prop_assert_eq!(n.as_str(), format!("{}-{site}", n.main())),
                    None => prop_assert_eq!(n.as_str(), n.main()),
                }
                prop_assert_eq!(IcpNumber::parse_website(input).is_ok(), n.site().is_some());
                let _ = n.kind();
            }
            Ok(())
        }

        #[test]
        fn an_a_label_that_does_not_encode_a_valid_name_is_refused() {
            // Found by the property below: it encodes U+324A5 three times, a code
            // point our Unicode tables call unassigned, refused when typed as such.
            assert!(Domain::parse("網.xn--0b2oaa").is_err());
            assert!(Domain::parse("xn--0b2oaa.cn").is_err());
            assert!(Domain::parse("xn--fiqs8s.cn").is_ok());
        }

        fn check_domain(input: &str) -> std::result::Result<(), TestCaseError> {
            let parsed = Domain::parse(input);
            // Upper or lower case in the ASCII letters makes no difference.
            prop_assert_eq!(
                Domain::parse(&input.to_ascii_lowercase()).ok(),
                parsed.as_ref().ok().cloned()
            );
            prop_assert_eq!(
                Domain::parse(&input.to_ascii_uppercase()).ok(),
                parsed.as_ref().ok().cloned()
            );
            if let Ok(d) = parsed {
                let s = d.as_str();
                // Parsing is idempotent, and the Unicode form is the same name.
                prop_assert_eq!(Domain::parse(s).ok(), Some(d.clone()));
                prop_assert_eq!(Domain::parse(&d.to_unicode()).ok(), Some(d.clone()));
                prop_assert!(s.len() <= 253);
                prop_assert!(s.split('.').count() >= 2);
                prop_assert!(s.split('.').all(|l| (1..=63).contains(&l.len())));
                prop_assert!(s.bytes().all(|b| b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || b == b'-'
                    || b == b'.'));
                prop_assert!(d.covers(s));
                let sub = format!("www.{s}");
                prop_assert!(d.covers(&sub));
            }
            Ok(())
        }

        proptest! {
            #[test]
            fn uscc_parse_never_panics_on_any_string_and_round_trips(s in any::<String>()) {
                check_uscc(&s)?;
            }

            #[test]
            fn uscc_parse_never_panics_on_code_shaped_text_and_round_trips(
                s in "[0-9A-Za-z -]{0,22}",
            ) {
                check_uscc(&s)?;
            }

            #[test]
            fn seventeen_characters_and_their_check_character_always_parse(
                body in uscc_body(),
            ) {
                let code = format!("{body}{}", check_char(&body));
                let parsed = Uscc::parse(&code);
                prop_assert!(parsed.is_ok(), "{code}: {parsed:?}");
                prop_assert_eq!(parsed.as_ref().map(Uscc::as_str).ok(), Some(code.as_str()));
                // Lower case, spaces and hyphens are display noise.
                let noisy = format!("{} {}-{}", &code[..6], &code[6..12], &code[12..]);
                let noisy = noisy.to_lowercase();
                prop_assert_eq!(Uscc::parse(&noisy).ok(), parsed.ok());
            }

            #[test]
            fn any_17_alphabet_characters_with_their_check_character_never_fail_the_check(
                body in alphabet_string(17),
            ) {
                let code = format!("{body}{}", check_char(&body));
                if let Err(e) = Uscc::parse(&code) {
                    // Only the shape (positions 3–8 are digits) or the province may fail.
                    let msg = e.to_string();
                    prop_assert!(!msg.contains("check character"), "{code}: {msg}");
                    let shape_ok = code[2..8].bytes().all(|b| b.is_ascii_digit());
                    prop_assert!(!shape_ok || !PROVINCES.contains(&&code[2..4]), "{code}: {msg}");
                }
            }

            #[test]
            fn any_other_check_character_fails(body in uscc_body(), other in alphabet_char()) {
                let right = check_char(&body);
                prop_assume!(other != right);
                let code = format!("{body}{other}");
                let err = Uscc::parse(&code);
                prop_assert!(
                    matches!(&err, Err(Error::InvalidUscc(m)) if m.contains("check character")),
                    "{code}: {err:?}"
                );
            }

            #[test]
            fn icp_parse_never_panics_on_any_string_and_round_trips(s in any::<String>()) {
                check_icp(&s)?;
            }

            #[test]
            fn icp_parse_never_panics_on_number_shaped_text_and_round_trips(s in icp_like()) {
                check_icp(&s)?;
            }

            #[test]
            fn every_well_formed_ten_digit_website_filing_parses(
                prov in proptest::sample::select(ICP_PROVINCES.chars().collect::<Vec<_>>()),
                year in 2020..=2025_u32,
                seq in "[0-9]{6}",
                site in 1..=9999_u32,
            ) {
                let text = format!("{prov}ICP备{year}{seq}号-{site}");
                let n = IcpNumber::parse_website(&text);
                prop_assert!(n.is_ok(), "{text}: {n:?}");
                let n = n.unwrap();
                prop_assert_eq!(n.as_str(), text.as_str());
                prop_assert_eq!(n.main(), format!("{prov}ICP备{year}{seq}号"));
                prop_assert_eq!(n.site(), Some(site));
                prop_assert_eq!(n.kind(), IcpKind::Filing);
                let app = format!("{text}A");
                prop_assert!(IcpNumber::parse_website(&app).is_err());
            }

            #[test]
            fn domain_parse_never_panics_on_any_string_is_idempotent_and_ignores_case(
                s in any::<String>(),
            ) {
                check_domain(&s)?;
            }

            #[test]
            fn domain_parse_of_host_shaped_text_is_idempotent_and_ignores_case(s in domain_like()) {
                check_domain(&s)?;
            }

            #[test]
            fn every_ldh_name_parses_to_its_lower_case(
                labels in proptest::collection::vec(
                    "[a-zA-Z0-9]([a-zA-Z0-9-]{0,10}[a-zA-Z0-9])?",
                    1..5,
                ),
                tld in "[a-zA-Z]{2,6}",
            ) {
                let name = format!("{}.{tld}", labels.join("."));
                let lower = name.to_ascii_lowercase();
                // A-labels are checked by the other properties.
                prop_assume!(!lower.split('.').any(|l| l.starts_with("xn--")));
                // Labels with "--" in positions 3–4 are reserved (RFC 5891) and refused.
                let reserved = lower.split('.').any(|l| l.get(2..4) == Some("--"));
                let parsed = Domain::parse(&name);
                if reserved {
                    prop_assert!(parsed.is_err(), "{name}");
                } else {
                    prop_assert_eq!(parsed.map(String::from).ok(), Some(lower));
                }
            }
        }
    }
}
