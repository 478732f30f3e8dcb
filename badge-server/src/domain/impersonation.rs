//! Impersonation watch (issue 17): is a new application, by its domains or its
//! organization name, passing itself off as one of the members' brands?
//!
//! A member registers brands: a name (`taobao`), its own domains (`taobao.com`) and
//! optional aliases (`淘宝`). [`Index::new`] prepares them once (UTS #39 skeletons,
//! the pinyin of each alias, tables by text and by length) so that [`Index::screen`]
//! costs the same few lookups whatever the number of brands, plus one bounded
//! edit-distance pass over the brand names of about the candidate's length.
//!
//! The rules, each named in the reason a match carries ([`Rule`]):
//! * the registrable label reads as the brand: same text under another suffix, or
//!   the same UTS #39 skeleton (`tаobao` with a Cyrillic `а`, `a1ipay`);
//! * it is a plausible typo of the brand: at most [`MAX_EDITS`] edits of the kinds
//!   typosquatting uses (a look-alike or neighbouring key, a doubled or dropped
//!   letter, two letters swapped), fewer for short brands, and never on the first
//!   letter — pinyin names sit one arbitrary edit apart (`weixin`, `weixun`), so an
//!   arbitrary substitution is not taken as a typo;
//! * the brand is a hyphen-separated part or a label of the host
//!   (`taobao-refund.cn`, `taobao.com.verify.cn`), a prefix or suffix of a label
//!   (`myalipay.cn`), or, for brands shorter than [`FREE_AFFIX`], a prefix or suffix
//!   next to a phishing word (`qqkefu.cn`, `icbcvip.cn`): `qq` and `jd` alone start
//!   too many innocent names;
//! * a Chinese label holds an alias (`淘宝客服.cn`) on the same terms, or reads as
//!   the brand in pinyin (`桃宝.cn`);
//! * the organization name contains an alias, the brand or the member's own name,
//!   or has the same skeleton as the member's name.
//!
//! A member's own domains and their subdomains never match its brand.

use std::collections::HashMap;

use ca::identity::Domain;
use pinyin::ToPinyin;
use unicode_normalization::UnicodeNormalization;
use unicode_security::skeleton;

use super::places;

/// Most typo edits taken between a label and a brand name of [`LONG_BRAND`] or more
/// characters (the "edit distance ≤ 2").
pub const MAX_EDITS: u32 = 2;
/// Brand names this long or longer get [`MAX_EDITS`]; shorter ones one edit.
pub const LONG_BRAND: usize = 6;
/// Brand names this short get only a look-alike substitution (`lcbc` for `icbc`),
/// never a dropped, added or neighbouring letter: 4-letter names are too dense.
pub const SHORT_BRAND: usize = 4;
/// Brand names this long or longer match as any prefix or suffix of a label; shorter
/// ones only next to a [`LURE_WORDS`] word or a hyphen.
pub const FREE_AFFIX: usize = 6;
/// Aliases this long (in characters) or longer match anywhere in a Chinese label;
/// two-character ones (`美团`) hide in ordinary words (`完美团队`).
pub const FREE_ALIAS: usize = 3;
/// Longest organization name or label looked at, in characters (a DNS label is at
/// most 63 octets; an organization name in a USCC register is far shorter).
pub const MAX_TEXT: usize = 200;

/// Words phishing sites put next to a brand (pinyin and English), written down
/// before the rules were measured: a short brand matches as a prefix or suffix only
/// beside one of them.
pub const LURE_WORDS: &[&str] = &[
    "kefu", "refund", "tuikuan", "pay", "zhifu", "login", "signin", "secure", "security", "safe",
    "service", "support", "help", "vip", "shop", "store", "online", "bank", "verify", "auth",
    "account", "mail", "app", "official", "guanfang", "ticket", "coupon", "hongbao", "award",
    "prize", "www",
];
/// The same for Chinese labels: a two-character alias matches beside one of them.
pub const LURE_WORDS_ZH: &[&str] = &[
    "客服", "退款", "退票", "商城", "官网", "官方", "认证", "支付", "邮箱", "登录", "安全", "中心",
    "服务", "会员", "红包", "中奖", "银行", "理财", "贷款", "网", "在线",
];

/// A member's brand as it registered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Brand {
    /// The member (`m_…`).
    pub member_id: String,
    /// The member's registered name (its organization), for the organization rule;
    /// empty when unknown.
    pub member_name: String,
    /// The member's USCC, so that its own applications are not taken for imitations;
    /// empty when unknown.
    pub member_uscc: String,
    /// The brand, e.g. `taobao`.
    pub name: String,
    /// The brand's own domains, e.g. `taobao.com`: never flagged, nor their hosts.
    pub domains: Vec<String>,
    /// Other names of the brand, e.g. `淘宝`.
    pub aliases: Vec<String>,
}

/// What is screened: an application's domains and organization name.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    /// The hosts applied for, as typed (Unicode or A-labels).
    pub domains: &'a [String],
    /// The applicant organization's name.
    pub organization: &'a str,
}

/// Which rule matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    /// The registrable label is the brand name under another suffix.
    SameName,
    /// Same UTS #39 skeleton as the brand name.
    Homograph,
    /// A plausible typo of the brand name.
    Typo,
    /// The brand name is a part, label, prefix or suffix of the host.
    BrandInHost,
    /// A Chinese label holds an alias or reads as the brand in pinyin.
    ChineseName,
    /// The organization name imitates the member or holds its brand.
    Organization,
}

impl Rule {
    /// The rule's name in reasons and stored drafts.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::SameName => "same_name",
            Rule::Homograph => "homograph",
            Rule::Typo => "typo",
            Rule::BrandInHost => "brand_in_host",
            Rule::ChineseName => "chinese_name",
            Rule::Organization => "organization",
        }
    }
}

/// One finding: which brand, which rule, about what, and why in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    /// The member whose brand is imitated.
    pub member_id: String,
    /// The brand's name.
    pub brand: String,
    /// The domain (Unicode form) or the organization name that matched.
    pub subject: String,
    /// True when `subject` is a domain, false for the organization name.
    pub is_domain: bool,
    /// The rule.
    pub rule: Rule,
    /// For staff: which brand, which rule, which part of the subject.
    pub reason: String,
}

/// Where a token comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// The brand's name.
    Name,
    /// The pinyin of one of its aliases.
    Pinyin,
}

/// A brand name or alias pinyin, folded for comparison.
#[derive(Debug)]
struct Token {
    /// Folded text ([`fold`]), ASCII.
    text: Box<[u8]>,
    /// Which bytes it holds ([`letters`]): a typo changes at most two per edit.
    letters: u64,
    brand: u32,
    source: Source,
}

/// The brands, prepared for screening.
#[derive(Debug, Default)]
pub struct Index {
    brands: Vec<Brand>,
    /// Each brand's own domains, parsed (unparsable ones are left out).
    own: Vec<Vec<Domain>>,
    /// Each brand's member name, normalized ([`normalize_org`]) and skeleton-folded.
    member_names: Vec<(String, String)>,
    tokens: Vec<Token>,
    /// Token ids by folded text.
    by_text: HashMap<Box<[u8]>, Vec<u32>>,
    /// Token ids by folded length and first byte: a typo keeps the first letter
    /// (or a look-alike of it) and the length within the budget.
    by_start: HashMap<(usize, u8), Vec<u32>>,
    /// Brand ids by normalized member name ([`normalize_org`]), and the lengths in
    /// characters held, for substring lookups.
    members: HashMap<String, Vec<u32>>,
    member_lengths: Vec<usize>,
    /// Brand ids by the skeleton of the normalized member name.
    member_skeletons: HashMap<String, Vec<u32>>,
    /// Brand ids by alias (NFKC, lower case).
    aliases: HashMap<String, Vec<u32>>,
    /// Lengths in characters of the aliases held, to bound substring lookups.
    alias_lengths: Vec<usize>,
    /// Short place names (北京, 南京…): an alias occurrence straddling one is part of
    /// the place's name (`北京东方` does not hold `京东`).
    places: std::collections::HashSet<String>,
    /// Lengths in characters of the place names.
    place_lengths: Vec<usize>,
    /// [`LURE_WORDS`], folded as labels are.
    lure_words: Vec<String>,
}

impl Index {
    /// Prepares `brands` for screening: skeletons, pinyin and tables, once.
    pub fn new(brands: Vec<Brand>) -> Self {
        let mut index = Index {
            places: place_names().into_iter().collect(),
            lure_words: LURE_WORDS.iter().map(|w| fold(w)).collect(),
            ..Index::default()
        };
        for (i, brand) in brands.iter().enumerate() {
            let id = u32::try_from(i).unwrap_or(u32::MAX);
            index.own.push(
                brand
                    .domains
                    .iter()
                    .filter_map(|d| Domain::parse(d).ok())
                    .collect(),
            );
            let member = normalize_org(&brand.member_name);
            let member_folded = fold(&member);
            if !member.is_empty() && member.chars().count() <= MAX_TEXT {
                let len = member.chars().count();
                if !index.member_lengths.contains(&len) {
                    index.member_lengths.push(len);
                }
                index.members.entry(member.clone()).or_default().push(id);
                index
                    .member_skeletons
                    .entry(member_folded.clone())
                    .or_default()
                    .push(id);
            }
            index.member_names.push((member, member_folded));
            index.add_token(&fold(&brand.name), id, Source::Name);
            for alias in &brand.aliases {
                let alias: String = alias.nfkc().flat_map(char::to_lowercase).collect();
                if alias.chars().any(is_han) {
                    index.add_token(&fold(&to_pinyin(&alias)), id, Source::Pinyin);
                    let len = alias.chars().count();
                    if !index.alias_lengths.contains(&len) {
                        index.alias_lengths.push(len);
                    }
                    index.aliases.entry(alias).or_default().push(id);
                } else {
                    index.add_token(&fold(&alias), id, Source::Name);
                }
            }
        }
        for place in &index.places {
            let len = place.chars().count();
            if !index.place_lengths.contains(&len) {
                index.place_lengths.push(len);
            }
        }
        index.brands = brands;
        index
    }

    fn add_token(&mut self, text: &str, brand: u32, source: Source) {
        if text.is_empty() || !text.is_ascii() || text.len() > MAX_TEXT {
            return;
        }
        let text: Box<[u8]> = text.as_bytes().into();
        let ids = self.by_text.entry(text.clone()).or_default();
        if ids.iter().any(|&t| self.tokens[t as usize].brand == brand) {
            return;
        }
        let id = u32::try_from(self.tokens.len()).unwrap_or(u32::MAX);
        ids.push(id);
        self.by_start
            .entry((text.len(), text[0]))
            .or_default()
            .push(id);
        self.tokens.push(Token {
            letters: letters(&text),
            text,
            brand,
            source,
        });
    }

    /// How many brands the index holds.
    pub fn len(&self) -> usize {
        self.brands.len()
    }

    /// True when no brand is registered.
    pub fn is_empty(&self) -> bool {
        self.brands.is_empty()
    }

    /// Every match of `candidate` against the brands, at most one per (brand,
    /// subject), the strongest rule first; empty when nothing matched. Domains that
    /// do not parse are skipped (the application's own checks refuse them).
    pub fn screen(&self, candidate: Candidate<'_>) -> Vec<Match> {
        let mut found = Found::default();
        for host in candidate.domains {
            if let Ok(domain) = Domain::parse(host) {
                self.screen_domain(&domain, &mut found);
            }
        }
        self.screen_organization(candidate.organization, &mut found);
        found.into_matches(self)
    }

    fn screen_domain(&self, domain: &Domain, found: &mut Found) {
        let Ok(registrable) = verifier::ident::registrable_domain(domain) else {
            return;
        };
        let shown = domain.to_unicode();
        let host = domain.as_str();
        let Some(label_ascii) = registrable.as_str().split('.').next() else {
            return;
        };
        let label = idna::domain_to_unicode(label_ascii).0;
        let mut hit = |brand: u32, rule: Rule, why: String| {
            if !self.own[brand as usize].iter().any(|d| d.covers(host)) {
                found.add(brand, &shown, true, rule, why);
            }
        };

        // Labels left of the registrable domain: the brand as one of them.
        let sub = host
            .strip_suffix(registrable.as_str())
            .unwrap_or("")
            .trim_end_matches('.');
        for part in sub.split('.').filter(|l| !l.is_empty()) {
            let part = idna::domain_to_unicode(part).0;
            for &t in self.exact(&fold(&part)) {
                let brand = self.tokens[t as usize].brand;
                hit(
                    brand,
                    Rule::BrandInHost,
                    format!("its subdomain label {part:?} is the brand"),
                );
            }
        }

        if label.chars().count() > MAX_TEXT {
            return;
        }
        if label.chars().any(is_han) {
            self.chinese_label(&label, &mut hit);
            return;
        }
        let folded = fold(&label);
        if !folded.is_ascii() {
            return;
        }
        // The whole label: same name, homograph, typo.
        for &t in self.exact(&folded) {
            let token = &self.tokens[t as usize];
            let (rule, why) = if label == self.brands[token.brand as usize].name.to_lowercase() {
                (
                    Rule::SameName,
                    format!(
                        "its registrable label {label:?} is the brand name under another suffix"
                    ),
                )
            } else if token.source == Source::Pinyin {
                (
                    Rule::ChineseName,
                    format!(
                        "its registrable label {label:?} is the pinyin of the brand's Chinese name"
                    ),
                )
            } else {
                (
                    Rule::Homograph,
                    format!(
                        "its registrable label {label:?} has the same UTS #39 skeleton as the brand name"
                    ),
                )
            };
            hit(token.brand, rule, why);
        }
        let parts: Vec<&str> = folded.split('-').filter(|p| !p.is_empty()).collect();
        for part in &parts {
            self.typos(part.as_bytes(), &mut |t, edits| {
                let token = &self.tokens[t as usize];
                hit(
                    token.brand,
                    Rule::Typo,
                    format!(
                        "its registrable label {label:?} is {edits} typo edit{} from the brand{}",
                        if edits == 1 { "" } else { "s" },
                        if token.source == Source::Pinyin {
                            "'s Chinese name in pinyin"
                        } else {
                            " name"
                        },
                    ),
                );
            });
            if parts.len() > 1 {
                for &t in self.exact(part) {
                    hit(
                        self.tokens[t as usize].brand,
                        Rule::BrandInHost,
                        format!("the brand is a hyphen-separated part of {label:?}"),
                    );
                }
            }
        }
        // Prefix or suffix, with or without a separator.
        let joined: String = parts.concat();
        self.affixes(&joined, &mut |t, rest, prefix| {
            let token = &self.tokens[t as usize];
            let free = token.text.len() >= FREE_AFFIX;
            if free || self.lure_words.iter().any(|w| w == rest) {
                hit(
                    token.brand,
                    Rule::BrandInHost,
                    format!(
                        "its registrable label {label:?} {} with the brand{}",
                        if prefix { "starts" } else { "ends" },
                        if token.source == Source::Pinyin {
                            "'s Chinese name in pinyin"
                        } else {
                            " name"
                        },
                    ),
                );
            }
        });
    }

    /// A Chinese registrable label: an alias in it, or its pinyin equal to a brand.
    fn chinese_label(&self, label: &str, hit: &mut impl FnMut(u32, Rule, String)) {
        let label: String = label.nfkc().flat_map(char::to_lowercase).collect();
        for (a, b, len) in substrings(&label, &self.alias_lengths) {
            let Some(brands) = self.aliases.get(&label[a..b]) else {
                continue;
            };
            let before = &label[..a];
            let after = &label[b..];
            let beside_lure = |s: &str| s.is_empty() || LURE_WORDS_ZH.contains(&s);
            let whole_or_lure = (before.is_empty() && beside_lure(after))
                || (after.is_empty() && beside_lure(before));
            if !(len >= FREE_ALIAS || whole_or_lure) || self.straddles_place(&label, a, b) {
                continue;
            }
            for &brand in brands {
                hit(
                    brand,
                    Rule::ChineseName,
                    format!(
                        "its label {label:?} holds the brand's name {:?}",
                        &label[a..b]
                    ),
                );
            }
        }
        let spoken = fold(&to_pinyin(&label));
        for &t in self.exact(&spoken) {
            hit(
                self.tokens[t as usize].brand,
                Rule::ChineseName,
                format!("its label {label:?} reads {spoken:?} in pinyin, as the brand"),
            );
        }
    }

    fn screen_organization(&self, organization: &str, found: &mut Found) {
        let org = normalize_org(organization);
        if org.is_empty() || org.chars().count() > MAX_TEXT {
            return;
        }
        let shown = organization.trim();
        let folded = fold(&org);
        let is_member = |brand: u32| self.member_names[brand as usize].0 == org;
        for &brand in self.member_skeletons.get(&folded).into_iter().flatten() {
            if !is_member(brand) {
                found.add(
                    brand,
                    shown,
                    false,
                    Rule::Organization,
                    "the organization name has the same UTS #39 skeleton as the member's name"
                        .into(),
                );
            }
        }
        let mut hit = |brand: u32, why: String| {
            if !is_member(brand) {
                found.add(brand, shown, false, Rule::Organization, why);
            }
        };
        for (a, b, _) in substrings(&org, &self.member_lengths) {
            let name = &org[a..b];
            for &brand in self.members.get(name).into_iter().flatten() {
                hit(
                    brand,
                    format!("the organization name contains the member's name {name:?}"),
                );
            }
        }
        // Aliases anywhere in the name, unless part of a place name.
        for (a, b, _) in substrings(&org, &self.alias_lengths) {
            let alias = &org[a..b];
            if let Some(brands) = self.aliases.get(alias)
                && !self.straddles_place(&org, a, b)
            {
                for &brand in brands {
                    hit(
                        brand,
                        format!("the organization name contains the brand's name {alias:?}"),
                    );
                }
            }
        }
        // A brand name as one Latin word of the name.
        let latin: String = organization
            .nfkc()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { ' ' })
            .collect();
        for word in latin.split_whitespace() {
            for &t in self.exact(&fold(word)) {
                hit(
                    self.tokens[t as usize].brand,
                    format!("the organization name contains the brand name {word:?}"),
                );
            }
        }
    }

    /// Token ids whose folded text is `text`.
    fn exact(&self, text: &str) -> &[u32] {
        self.by_text
            .get(text.as_bytes())
            .map_or(&[], |ids| ids.as_slice())
    }

    /// Calls `f(token, edits)` for each brand token within its typo budget of `part`.
    fn typos(&self, part: &[u8], f: &mut impl FnMut(u32, u32)) {
        let m = part.len();
        let mask = letters(part);
        let Some(&first) = part.first() else {
            return;
        };
        let starts = std::iter::once(first).chain(LOOK_ALIKE.iter().filter_map(|&(a, b)| {
            if a == first {
                Some(b)
            } else if b == first {
                Some(a)
            } else {
                None
            }
        }));
        for start in starts {
            for n in m.saturating_sub(MAX_EDITS as usize)..=m + MAX_EDITS as usize {
                let Some(bucket) = self.by_start.get(&(n, start)) else {
                    continue;
                };
                let budget = budget(n);
                if budget == 0 || m.abs_diff(n) > budget as usize {
                    continue;
                }
                for &t in bucket {
                    let token = &self.tokens[t as usize];
                    if (token.letters ^ mask).count_ones() > 2 * budget {
                        continue;
                    }
                    let token = &token.text;
                    if token.as_ref() == part {
                        continue;
                    }
                    if let Some(edits) = typo_distance(token, part, budget, n < SHORT_BRAND + 1)
                        && edits > 0
                    {
                        f(t, edits);
                    }
                }
            }
        }
    }

    /// Calls `f(token, rest, is_prefix)` for each brand token that is a proper
    /// prefix or suffix of `label`, with the rest of the label.
    fn affixes<'l>(&self, label: &'l str, f: &mut impl FnMut(u32, &'l str, bool)) {
        for cut in 1..label.len() {
            let (head, tail) = label.split_at(cut);
            for &t in self.exact(head) {
                f(t, tail, true);
            }
            for &t in self.exact(tail) {
                f(t, head, false);
            }
        }
    }

    /// True when `text[a..b]` overlaps a place name without containing it whole.
    fn straddles_place(&self, text: &str, a: usize, b: usize) -> bool {
        substrings(text, &self.place_lengths).any(|(p, q, _)| {
            p < b && a < q && !(a <= p && q <= b) && self.places.contains(&text[p..q])
        })
    }
}

/// Matches gathered during one screening, one per (brand, subject).
#[derive(Default)]
struct Found {
    seen: HashMap<(u32, String), (Rule, String, bool)>,
}

impl Found {
    fn add(&mut self, brand: u32, subject: &str, is_domain: bool, rule: Rule, why: String) {
        let entry = self
            .seen
            .entry((brand, subject.to_string()))
            .or_insert_with(|| (rule, why.clone(), is_domain));
        if rule < entry.0 {
            *entry = (rule, why, is_domain);
        }
    }

    fn into_matches(self, index: &Index) -> Vec<Match> {
        let mut out: Vec<Match> = self
            .seen
            .into_iter()
            .map(|((brand, subject), (rule, why, is_domain))| {
                let b = &index.brands[brand as usize];
                Match {
                    member_id: b.member_id.clone(),
                    brand: b.name.clone(),
                    reason: format!(
                        "{subject} imitates brand {:?} of member {} ({}): {why}",
                        b.name,
                        b.member_id,
                        rule.as_str()
                    ),
                    subject,
                    is_domain,
                    rule,
                }
            })
            .collect();
        out.sort_by(|a, b| {
            (a.rule, &a.subject, &a.member_id).cmp(&(b.rule, &b.subject, &b.member_id))
        });
        out
    }
}

/// Every substring of `text` whose length in characters is one of `lengths`, as
/// (start, end, length): byte offsets, always on character boundaries.
fn substrings<'a>(
    text: &'a str,
    lengths: &'a [usize],
) -> impl Iterator<Item = (usize, usize, usize)> + 'a {
    let starts: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(text.len()))
        .collect();
    lengths.iter().flat_map(move |&len| {
        let starts = starts.clone();
        (0..starts.len().saturating_sub(len)).map(move |i| (starts[i], starts[i + len], len))
    })
}

/// A set of the bytes of `s`, folded onto 64 bits (letters and digits each have
/// their own bit): one edit adds or removes at most one member on each side.
fn letters(s: &[u8]) -> u64 {
    s.iter().fold(0, |m, &b| m | 1 << (b % 64))
}

/// How many typo edits a brand name of `n` characters allows.
fn budget(n: usize) -> u32 {
    match n {
        0..3 => 0,
        n if n < LONG_BRAND => 1,
        _ => MAX_EDITS,
    }
}

/// UTS #39 skeleton, lower-cased: two strings that look alike fold to the same text
/// (`tаobao`, `ta0bao` → `taobao`).
pub fn fold(s: &str) -> String {
    skeleton(s).flat_map(char::to_lowercase).collect()
}

/// Organization names compared without case, white space or brackets, after NFKC
/// (full-width forms folded).
fn normalize_org(s: &str) -> String {
    s.nfkc()
        .flat_map(char::to_lowercase)
        .filter(|c| !c.is_whitespace() && !matches!(c, '(' | ')' | '[' | ']' | '【' | '】' | '·'))
        .collect()
}

/// The plain pinyin of the Han characters of `s`, other characters kept.
fn to_pinyin(s: &str) -> String {
    let mut out = String::new();
    for (c, p) in s.chars().zip(s.to_pinyin()) {
        match p {
            Some(p) => out.push_str(p.plain()),
            None => out.push(c),
        }
    }
    out
}

fn is_han(c: char) -> bool {
    matches!(u32::from(c), 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x3134F)
}

/// The list's provinces and cities without their 省/市/自治区… ending, two
/// characters or more.
fn place_names() -> Vec<String> {
    const ENDINGS: &[&str] = &[
        "维吾尔自治区",
        "壮族自治区",
        "回族自治区",
        "自治区",
        "自治州",
        "地区",
        "省",
        "市",
        "盟",
    ];
    let mut out: Vec<String> = Vec::new();
    for p in places::provinces() {
        for name in std::iter::once(p.name).chain(p.cities.iter().copied()) {
            let short = ENDINGS
                .iter()
                .find_map(|e| name.strip_suffix(e))
                .unwrap_or(name);
            if short.chars().count() >= 2 && !out.iter().any(|o| o == short) {
                out.push(short.to_string());
            }
        }
    }
    out
}

/// Keyboard rows (QWERTY), for neighbouring-key typos.
const ROWS: [&[u8]; 4] = [b"1234567890", b"qwertyuiop", b"asdfghjkl", b"zxcvbnm"];

/// Pairs that look alike once folded (the skeleton already maps `0`→`o`, `1`→`l`).
const LOOK_ALIKE: &[(u8, u8)] = &[
    (b'l', b'i'),
    (b'1', b'i'),
    (b'6', b'b'),
    (b'8', b'b'),
    (b'5', b's'),
    (b'3', b'e'),
    (b'4', b'a'),
    (b'7', b't'),
    (b'9', b'g'),
    (b'9', b'q'),
    (b'g', b'q'),
    (b'u', b'v'),
    (b'v', b'y'),
    (b'n', b'h'),
    (b'o', b'0'),
];

/// Per ASCII byte, the bytes it may be typed as: bit `b` of `[a][0]` when `a`, `b`
/// look alike, of `[a][1]` when they are neighbouring keys. Built once: the typo
/// distance asks for every cell of its table.
static SUBSTITUTES: std::sync::LazyLock<[[u128; 2]; 128]> = std::sync::LazyLock::new(|| {
    let mut table = [[0u128; 2]; 128];
    for a in 0..128u8 {
        for b in 0..128u8 {
            let alike = a == b
                || LOOK_ALIKE
                    .iter()
                    .any(|&(x, y)| (x, y) == (a, b) || (y, x) == (a, b));
            table[usize::from(a)][0] |= u128::from(alike) << b;
            table[usize::from(a)][1] |= u128::from(neighbouring_keys(a, b)) << b;
        }
    }
    table
});

fn look_alike(a: u8, b: u8) -> bool {
    a < 128 && b < 128 && SUBSTITUTES[usize::from(a)][0] >> b & 1 == 1
}

fn near_key(a: u8, b: u8) -> bool {
    a < 128 && b < 128 && SUBSTITUTES[usize::from(a)][1] >> b & 1 == 1
}

fn key_position(c: u8) -> Option<(usize, usize)> {
    ROWS.iter()
        .enumerate()
        .find_map(|(r, row)| row.iter().position(|&k| k == c).map(|i| (r, i)))
}

fn neighbouring_keys(a: u8, b: u8) -> bool {
    match (key_position(a), key_position(b)) {
        (Some((ra, ia)), Some((rb, ib))) => match ra.abs_diff(rb) {
            0 => ia.abs_diff(ib) == 1,
            // Each row is shifted right by about half a key from the one above.
            1 => {
                let (upper, lower) = if ra < rb { (ia, ib) } else { (ib, ia) };
                lower == upper || lower + 1 == upper
            }
            _ => false,
        },
        _ => false,
    }
}

/// Longest folded label part compared for typos, in bytes: a DNS label is at most 63
/// octets, and folding can double a letter (`m` → `rn`).
const MAX_FOLDED: usize = 128;

/// "Impossible" in the typo distance: an edit typosquatting does not make.
const NO: u32 = u32::MAX / 4;

/// The fewest typo edits turning `brand` into `label` (optimal string alignment:
/// look-alike or neighbouring-key substitution, a dropped letter, an added letter
/// that doubles or neighbours its neighbour, two letters swapped; each 1; any other
/// edit impossible; a label of the brand's length only substituted or swapped, a
/// shorter one only dropped letters, a longer one only added), when at most `budget`. `strict` allows only look-alike
/// substitutions. The first letter is never dropped.
fn typo_distance(brand: &[u8], label: &[u8], budget: u32, strict: bool) -> Option<u32> {
    let (n, m) = (brand.len(), label.len());
    if n.abs_diff(m) > budget as usize || n == 0 || m == 0 || m > MAX_FOLDED {
        return None;
    }
    let width = m + 1;
    // Three rows of the table (i-2, i-1, i), on the stack: this runs per brand.
    let mut rows = [NO; 3 * (MAX_FOLDED + 1)];
    let idx = |i: usize, j: usize| (i % 3) * width + j;
    // The smallest value of the previous row: a swap reaches back two rows.
    let mut previous_best = NO;
    let band = budget as usize;
    for i in 0..=n {
        let mut best = NO;
        // Cells further than the budget from the diagonal cannot be within it.
        rows[(i % 3) * width..(i % 3 + 1) * width].fill(NO);
        for j in i.saturating_sub(band)..=(i + band).min(m) {
            let v = if i == 0 && j == 0 {
                0
            } else {
                let mut v = NO;
                if i > 0 && j > 0 {
                    let (a, b) = (brand[i - 1], label[j - 1]);
                    let sub = if a == b {
                        0
                    } else if look_alike(a, b) || (!strict && near_key(a, b)) {
                        1
                    } else {
                        NO
                    };
                    v = v.min(rows[idx(i - 1, j - 1)].saturating_add(sub));
                }
                // A dropped letter (not the first), only in a shorter label.
                if i > 1 && !strict && m < n {
                    v = v.min(rows[idx(i - 1, j)].saturating_add(1));
                }
                // An added letter: doubled or on a neighbouring key of a neighbour.
                // Only in a longer label: a typo adds or drops letters, not both.
                if j > 0 && !strict && i > 0 && m > n {
                    let c = label[j - 1];
                    let near = |k: Option<&u8>| k.is_some_and(|&k| k == c || near_key(k, c));
                    if near(j.checked_sub(2).and_then(|p| label.get(p))) || near(label.get(j)) {
                        v = v.min(rows[idx(i, j - 1)].saturating_add(1));
                    }
                }
                if i > 1
                    && j > 1
                    && !strict
                    && brand[i - 1] == label[j - 2]
                    && brand[i - 2] == label[j - 1]
                {
                    v = v.min(rows[idx(i - 2, j - 2)].saturating_add(1));
                }
                v
            };
            rows[idx(i, j)] = v;
            best = best.min(v);
        }
        if best > budget && previous_best > budget {
            return None;
        }
        previous_best = best;
    }
    let d = rows[idx(n, m)];
    (d <= budget).then_some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brand(member: &str, name: &str, domains: &[&str], aliases: &[&str]) -> Brand {
        Brand {
            member_id: member.into(),
            member_name: String::new(),
            member_uscc: String::new(),
            name: name.into(),
            domains: domains.iter().map(|d| d.to_string()).collect(),
            aliases: aliases.iter().map(|d| d.to_string()).collect(),
        }
    }

    fn sample() -> Index {
        let mut taobao = brand("m_1", "taobao", &["taobao.com"], &["淘宝"]);
        taobao.member_name = "浙江淘宝网络有限公司".into();
        Index::new(vec![
            taobao,
            brand("m_2", "jd", &["jd.com"], &["京东"]),
            brand("m_3", "qq", &["qq.com"], &["腾讯"]),
            brand("m_4", "alipay", &["alipay.com"], &["支付宝"]),
        ])
    }

    fn screen(index: &Index, domain: &str) -> Vec<Match> {
        index.screen(Candidate {
            domains: &[domain.to_string()],
            organization: "",
        })
    }

    fn rule_of(index: &Index, domain: &str) -> Option<Rule> {
        screen(index, domain).first().map(|m| m.rule)
    }

    #[test]
    fn each_rule_names_the_brand_and_itself() {
        let index = sample();
        for (domain, rule) in [
            ("taobao.cn", Rule::SameName),
            ("tаobao.com", Rule::Homograph),
            ("ta0bao.cn", Rule::Homograph),
            ("tao6ao.com", Rule::Typo),
            ("taobao-refund.cn", Rule::BrandInHost),
            ("login.taobao.com.verify.cn", Rule::BrandInHost),
            ("myalipay.cn", Rule::BrandInHost),
            ("qqkefu.cn", Rule::BrandInHost),
            ("jd-shop.net", Rule::BrandInHost),
            ("淘宝客服.cn", Rule::ChineseName),
            ("zhifubao.cn", Rule::ChineseName),
        ] {
            let found = screen(&index, domain);
            assert_eq!(
                found.first().map(|m| m.rule),
                Some(rule),
                "{domain}: {found:?}"
            );
            assert!(found[0].reason.contains(rule.as_str()), "{found:?}");
            assert!(found[0].reason.contains("m_"), "{found:?}");
        }
    }

    #[test]
    fn short_brands_need_a_separator_or_a_phishing_word() {
        let index = sample();
        for innocent in ["jdzx.com", "qqhr.gov.cn", "qingqing.com", "jdb.com.cn"] {
            assert_eq!(rule_of(&index, innocent), None, "{innocent}");
        }
        assert_eq!(rule_of(&index, "jdrefund.cn"), Some(Rule::BrandInHost));
    }

    #[test]
    fn a_member_s_own_domains_and_their_hosts_never_match() {
        let index = sample();
        for own in [
            "taobao.com",
            "www.taobao.com",
            "item.taobao.com",
            "jd.com",
            "qq.com",
        ] {
            assert_eq!(screen(&index, own), vec![], "{own}");
        }
    }

    #[test]
    fn typos_are_the_kinds_squatters_make_not_any_two_letters() {
        let index = sample();
        for typo in [
            "taoboa.net",
            "tabao.cn",
            "taobaoo.com",
            "alipya.com",
            "a1ipay.cn",
        ] {
            assert!(rule_of(&index, typo).is_some(), "{typo}");
        }
        // One arbitrary letter off, or the first letter changed: other words.
        for other in ["haobao.cn", "taotao.cn", "alipas.cn", "xlipay.cn"] {
            assert_eq!(rule_of(&index, other), None, "{other}");
        }
    }

    #[test]
    fn a_chinese_alias_in_an_ordinary_word_or_a_place_is_not_the_brand() {
        let index = sample();
        assert_eq!(rule_of(&index, "京东客服.cn"), Some(Rule::ChineseName));
        assert_eq!(rule_of(&index, "北京东方.cn"), None);
        assert_eq!(rule_of(&index, "南京东路.cn"), None);
        assert_eq!(
            rule_of(&index, "支付宝退款中心.cn"),
            Some(Rule::ChineseName)
        );
    }

    #[test]
    fn organization_names_holding_the_brand_or_the_member_are_flagged() {
        let index = sample();
        let org = |name: &str| {
            index
                .screen(Candidate {
                    domains: &[],
                    organization: name,
                })
                .into_iter()
                .map(|m| (m.member_id, m.rule))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            org("杭州淘宝客服有限公司"),
            vec![("m_1".into(), Rule::Organization)]
        );
        assert_eq!(org("浙江淘宝网络有限公司"), vec![], "the member itself");
        assert_eq!(
            org("浙江 淘宝网络（有限）公司"),
            vec![],
            "the member, spaced"
        );
        assert_eq!(
            org("Alipay Service Co., Ltd."),
            vec![("m_4".into(), Rule::Organization)]
        );
        assert_eq!(org("北京东方红科技有限公司"), vec![]);
    }

    #[test]
    fn unparsable_and_oversized_input_is_skipped_not_a_panic() {
        let index = sample();
        let long = "淘".repeat(1000);
        for bad in ["", "..", "a b.cn", "淘宝", long.as_str()] {
            let _ = index.screen(Candidate {
                domains: &[bad.to_string()],
                organization: bad,
            });
        }
    }

    /// The lists in `tests/data/impersonation/` (written before the rules were
    /// measured): precision and recall over them, printed and bounded.
    #[test]
    fn precision_and_recall_on_the_lists_in_the_repository() {
        const BRANDS: &str = include_str!("../../tests/data/impersonation/brands.tsv");
        const BENIGN: &str = include_str!("../../tests/data/impersonation/benign.txt");
        const LOOKALIKES: &str = include_str!("../../tests/data/impersonation/lookalikes.tsv");
        let rows = |text: &'static str| {
            text.lines()
                .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
                .collect::<Vec<_>>()
        };
        let brands: Vec<Brand> = rows(BRANDS)
            .into_iter()
            .map(|row| {
                let f: Vec<&str> = row.split('\t').collect();
                let list = |s: &str| {
                    s.split(',')
                        .filter(|x| !x.is_empty())
                        .map(String::from)
                        .collect()
                };
                Brand {
                    member_id: format!("m_{}", f[0]),
                    member_name: String::new(),
                    member_uscc: String::new(),
                    name: f[0].into(),
                    domains: list(f[1]),
                    aliases: f.get(2).map_or_else(Vec::new, |a| list(a)),
                }
            })
            .collect();
        let index = Index::new(brands);
        let benign = rows(BENIGN);
        let lookalikes = rows(LOOKALIKES);
        assert!(benign.len() >= 200 && lookalikes.len() >= 100);
        let (mut tp, mut fp, mut missed) = (0usize, 0usize, Vec::new());
        for domain in &benign {
            let found = screen(&index, domain);
            if !found.is_empty() {
                fp += 1;
                println!("false positive: {}", found[0].reason);
            }
        }
        for row in &lookalikes {
            let (domain, brand) = row.split_once('\t').unwrap_or((row, ""));
            if screen(&index, domain).iter().any(|m| m.brand == brand) {
                tp += 1;
            } else {
                missed.push(domain);
            }
        }
        let precision = tp as f64 / (tp + fp) as f64;
        let recall = tp as f64 / lookalikes.len() as f64;
        println!("missed: {missed:?}");
        println!(
            "impersonation: {} benign, {} look-alikes: tp {tp}, fp {fp}; precision {precision:.3}, recall {recall:.3}",
            benign.len(),
            lookalikes.len()
        );
        assert!(precision >= 0.9, "precision {precision:.3}");
        assert!(recall >= 0.8, "recall {recall:.3}");
    }
}
