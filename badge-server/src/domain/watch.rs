//! The impersonation watch as stored (issue 17): the brands a member registers and
//! the draft warnings staff decide on. The screening rules are
//! [`super::impersonation`].

use ca::identity::Domain;
use serde::Serialize;

/// Most domains one brand lists.
pub const MAX_DOMAINS: usize = 50;
/// Most aliases one brand lists.
pub const MAX_ALIASES: usize = 20;
/// Longest brand name or alias, in characters (a DNS label is at most 63 octets).
pub const MAX_NAME: usize = 63;

/// A member's brand as registered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct MemberBrand {
    /// `mb_…`.
    pub id: String,
    /// The member (`m_…`).
    pub member_id: String,
    /// The brand, lower case, e.g. `taobao`.
    #[schema(example = "taobao")]
    pub name: String,
    /// Other names, e.g. `淘宝`.
    #[schema(example = json!(["淘宝"]))]
    pub aliases: Vec<String>,
    /// Its own domains (A-labels): they and their hosts are never flagged.
    #[schema(example = json!(["taobao.com"]))]
    pub domains: Vec<String>,
    /// Unix seconds.
    pub created_at: i64,
}

/// A brand that passed [`check_brand`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedBrand {
    /// Trimmed, lower case.
    pub name: String,
    /// Trimmed, each once.
    pub aliases: Vec<String>,
    /// A-labels, each once.
    pub domains: Vec<String>,
}

/// Checks a brand as submitted, naming each field that fails.
pub fn check_brand(
    name: &str,
    domains: &[String],
    aliases: &[String],
) -> Result<CheckedBrand, Vec<(String, String)>> {
    let mut bad = Vec::new();
    let name = name.trim().to_lowercase();
    if name.is_empty() || name.chars().count() > MAX_NAME {
        bad.push(("name".into(), format!("1 to {MAX_NAME} characters")));
    } else if name.chars().any(|c| c.is_control() || c.is_whitespace()) {
        bad.push((
            "name".into(),
            "no spaces or control characters: the brand as it is written in a domain".into(),
        ));
    }
    if domains.is_empty() || domains.len() > MAX_DOMAINS {
        bad.push((
            "domains".into(),
            format!("1 to {MAX_DOMAINS} of the brand's own domains"),
        ));
    }
    let mut parsed: Vec<String> = Vec::new();
    for d in domains.iter().take(MAX_DOMAINS) {
        match Domain::parse(d) {
            Ok(d) if !parsed.iter().any(|p| p == d.as_str()) => parsed.push(d.as_str().into()),
            Ok(_) => {}
            Err(e) => bad.push(("domains".into(), e.to_string())),
        }
    }
    if aliases.len() > MAX_ALIASES {
        bad.push(("aliases".into(), format!("at most {MAX_ALIASES}")));
    }
    let mut kept: Vec<String> = Vec::new();
    for a in aliases.iter().take(MAX_ALIASES) {
        let a = a.trim();
        if a.is_empty() || a.chars().count() > MAX_NAME || a.chars().any(char::is_control) {
            bad.push((
                "aliases".into(),
                format!("each 1 to {MAX_NAME} characters, no control characters"),
            ));
        } else if !kept.iter().any(|k| k == a) {
            kept.push(a.into());
        }
    }
    if bad.is_empty() {
        Ok(CheckedBrand {
            name,
            aliases: kept,
            domains: parsed,
        })
    } else {
        Err(bad)
    }
}

/// Where a draft comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DraftSource {
    /// A new application imitates a member's brand.
    Application,
    /// A host shows a member's site seal without being the member's.
    SealCopy,
}

impl DraftSource {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            DraftSource::Application => "application",
            DraftSource::SealCopy => "seal_copy",
        }
    }

    /// From the stored text.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "application" => Some(DraftSource::Application),
            "seal_copy" => Some(DraftSource::SealCopy),
            _ => None,
        }
    }
}

/// What staff did with a draft.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DraftState {
    /// Waiting for staff.
    Draft,
    /// Published as a warning.
    Published,
    /// Dismissed: not an impersonation.
    Dismissed,
}

impl DraftState {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            DraftState::Draft => "draft",
            DraftState::Published => "published",
            DraftState::Dismissed => "dismissed",
        }
    }

    /// From the stored text.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "draft" => Some(DraftState::Draft),
            "published" => Some(DraftState::Published),
            "dismissed" => Some(DraftState::Dismissed),
            _ => None,
        }
    }
}

/// A draft warning for staff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct WarningDraft {
    /// `wd_…`.
    pub id: String,
    /// The imitating domain (A-label).
    pub domain: String,
    /// The member imitated.
    pub member_id: String,
    /// Its brand (for a copied seal: the member's site id).
    pub brand: String,
    /// Which rule matched and why, for staff.
    pub reason: String,
    /// Where it comes from.
    pub source: DraftSource,
    /// The application, for [`DraftSource::Application`].
    pub application_id: Option<String>,
    /// The member's site whose seal was copied, for [`DraftSource::SealCopy`].
    pub site_id: Option<String>,
    /// Draft, published or dismissed.
    pub state: DraftState,
    /// The published warning.
    pub warning_id: Option<i64>,
    /// Unix seconds.
    pub created_at: i64,
}

/// A new draft, before it is stored.
#[derive(Debug, Clone)]
pub struct NewDraft<'a> {
    /// The imitating domain (A-label).
    pub domain: &'a str,
    /// The member imitated.
    pub member_id: &'a str,
    /// The brand (or site) imitated.
    pub brand: &'a str,
    /// Why.
    pub reason: &'a str,
    /// Where it comes from.
    pub source: DraftSource,
    /// The application, if any.
    pub application_id: Option<&'a str>,
    /// The copied site, if any.
    pub site_id: Option<&'a str>,
}

/// What a warning published from an application draft says (staff may edit it when
/// they publish through the warnings form instead).
pub fn draft_texts(draft: &WarningDraft) -> (String, String) {
    let domain =
        Domain::parse(&draft.domain).map_or_else(|_| draft.domain.clone(), |d| d.to_unicode());
    (
        format!(
            "{domain} 可能仿冒联盟成员的品牌“{brand}”，请勿在该网站输入账号、密码或付款。\n\
             {domain} may impersonate the alliance member's brand \"{brand}\": do not enter \
             accounts, passwords or payments there.",
            brand = draft.brand
        ),
        draft.reason.clone(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_brand_is_checked_field_by_field() {
        let ok = check_brand(
            " TaoBao ",
            &["TaoBao.com".into(), "taobao.com".into()],
            &["淘宝".into()],
        );
        assert_eq!(
            ok,
            Ok(CheckedBrand {
                name: "taobao".into(),
                aliases: vec!["淘宝".into()],
                domains: vec!["taobao.com".into()],
            })
        );
        let bad = check_brand("", &[], &["".into()]).err().unwrap_or_default();
        let fields: Vec<&str> = bad.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["name", "domains", "aliases"]);
        let bad = check_brand("tao bao", &["not a domain".into()], &[])
            .err()
            .unwrap_or_default();
        let fields: Vec<&str> = bad.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["name", "domains"]);
    }

    #[test]
    fn stored_states_and_sources_read_back() {
        for s in [
            DraftState::Draft,
            DraftState::Published,
            DraftState::Dismissed,
        ] {
            assert_eq!(DraftState::parse(s.as_str()), Some(s));
        }
        for s in [DraftSource::Application, DraftSource::SealCopy] {
            assert_eq!(DraftSource::parse(s.as_str()), Some(s));
        }
        assert_eq!(DraftState::parse("other"), None);
    }
}
