//! Shared records (客户诚信档案, issue 17): what a member reports about an
//! organization or a site, for all members or for alliance staff only. The rules of
//! what may be submitted (nothing personal about natural persons), who sees a record,
//! and how long it is kept.

use std::str::FromStr;

use ca::identity::{Domain, Uscc};
use serde::Serialize;

use super::complaint::Category;
use super::privacy::{mask, personal_number_left};

/// The longest summary taken, in characters.
pub const MAX_SUMMARY: usize = 4_000;
/// The longest dispute or resolution text taken, in characters.
pub const MAX_NOTE: usize = 2_000;
/// Records one member account may submit a day: a partner's trust-and-safety team
/// shares cases, not bulk dumps, and one account must not fill the table others read.
pub const PER_ACCOUNT_PER_DAY: u32 = 100;
/// Days a record is kept unless `CHENGXIN_RECORD_RETENTION_DAYS` says otherwise.
pub const RETENTION_DAYS: i64 = 730;

/// Who a record is shared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Every member (and the feed).
    Members,
    /// Alliance staff only.
    Staff,
}

impl Scope {
    /// The API name.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Members => "members",
            Scope::Staff => "staff",
        }
    }
}

impl FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> Result<Scope, String> {
        match s {
            "members" => Ok(Scope::Members),
            "staff" => Ok(Scope::Staff),
            _ => Err("members (every member) or staff (alliance staff only)".into()),
        }
    }
}

/// A record as submitted, not yet checked.
#[derive(Debug, Clone, Copy)]
pub struct NewRecord<'a> {
    /// The organization's USCC, if known.
    pub uscc: Option<&'a str>,
    /// The site's domain, if known.
    pub domain: Option<&'a str>,
    /// A complaint category's API name.
    pub category: &'a str,
    /// What happened.
    pub summary: &'a str,
    /// `members` or `staff`.
    pub scope: &'a str,
}

/// A record that passed [`check`]: its summary is masked already.
#[derive(Debug, Clone)]
pub struct CheckedRecord {
    /// The organization concerned.
    pub uscc: Option<Uscc>,
    /// The site concerned.
    pub domain: Option<Domain>,
    /// Category.
    pub category: Category,
    /// Masked summary.
    pub summary: String,
    /// Who sees it.
    pub scope: Scope,
}

fn blank(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

/// Masks a free text and refuses it (naming `field`) when it still holds a personal
/// number after masking, is empty, or is longer than `max` characters.
pub fn checked_text(field: &str, text: &str, max: usize) -> Result<String, (String, String)> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > max {
        return Err((field.into(), format!("1 to {max} characters")));
    }
    let masked = mask(text);
    match personal_number_left(&masked) {
        Some(kind) => Err((
            field.into(),
            format!(
                "holds what looks like a {kind} number even after masking (digits written apart?); \
                 records hold nothing personal about natural persons: remove it"
            ),
        )),
        None => Ok(masked),
    }
}

/// Checks every field, naming each that fails.
pub fn check(new: &NewRecord<'_>) -> Result<CheckedRecord, Vec<(String, String)>> {
    let mut bad = Vec::new();
    let uscc = blank(new.uscc)
        .map(Uscc::parse)
        .transpose()
        .map_err(|e| bad.push(("uscc".into(), e.to_string())));
    let domain = blank(new.domain)
        .map(Domain::parse)
        .transpose()
        .map_err(|e| bad.push(("domain".into(), e.to_string())));
    if blank(new.uscc).is_none() && blank(new.domain).is_none() {
        bad.push((
            "uscc".into(),
            "name the organization (uscc), the site (domain), or both".into(),
        ));
    }
    let category =
        Category::from_str(new.category).map_err(|e| bad.push(("category".into(), e.to_string())));
    let summary = checked_text("summary", new.summary, MAX_SUMMARY).map_err(|e| bad.push(e));
    let scope = Scope::from_str(new.scope).map_err(|e| bad.push(("scope".into(), e)));
    match (uscc, domain, category, summary, scope) {
        (Ok(uscc), Ok(domain), Ok(category), Ok(summary), Ok(scope)) if bad.is_empty() => {
            Ok(CheckedRecord {
                uscc,
                domain,
                category,
                summary,
                scope,
            })
        }
        _ => Err(bad),
    }
}

/// A record as its readers see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Record {
    /// `r_…`.
    pub id: String,
    /// The member that submitted it.
    pub member: String,
    /// The organization concerned.
    pub uscc: Option<String>,
    /// The site concerned.
    pub domain: Option<String>,
    /// A complaint category's API name.
    pub category: String,
    /// Masked.
    pub summary: String,
    /// `members` or `staff`.
    pub scope: Scope,
    /// When the organization concerned disputed it (shown wherever it is shown).
    pub disputed_at: Option<i64>,
    /// What the organization said, masked.
    pub dispute: Option<String>,
    /// When staff resolved the dispute by keeping the record, and why.
    pub resolved_at: Option<i64>,
    /// Staff's reason, masked.
    pub resolution: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// When it is deleted.
    pub expires_at: i64,
}

/// How a reader relates to a record.
#[derive(Debug, Clone, Copy, Default)]
pub struct Reader<'a> {
    /// Alliance staff.
    pub staff: bool,
    /// The member a member account acts for.
    pub member: Option<&'a str>,
    /// An operator of the organization or site concerned.
    pub concerned: bool,
}

impl Record {
    /// Issue 17's rule: a member sees records shared with all members and its own;
    /// the organization concerned sees records about itself; staff see every record;
    /// nobody else sees any.
    pub fn visible_to(&self, r: Reader<'_>) -> bool {
        r.staff
            || r.concerned
            || r.member
                .is_some_and(|m| m == self.member || self.scope == Scope::Members)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new<'a>(uscc: &'a str, summary: &'a str, scope: &'a str) -> NewRecord<'a> {
        NewRecord {
            uscc: Some(uscc),
            domain: None,
            category: "fraud",
            summary,
            scope,
        }
    }

    #[test]
    fn a_record_names_whom_it_concerns_and_holds_nothing_personal() {
        let ok = check(&new(
            "91110108MA04T7K21H",
            "收款后不发货，联系 13812345678",
            "members",
        ))
        .unwrap();
        assert_eq!(ok.summary, "收款后不发货，联系 138****5678");
        let bad = check(&NewRecord {
            uscc: Some("91110108MA04T7K21J"),
            domain: Some("not a domain"),
            category: "gossip",
            summary: "电话 138 1234 5678x 或 138.1234.5678",
            scope: "everyone",
        })
        .unwrap_err();
        let fields: Vec<&str> = bad.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["uscc", "domain", "category", "summary", "scope"]);
        assert!(bad[3].1.contains("phone"), "{bad:?}");
        let none = check(&NewRecord {
            uscc: None,
            domain: Some(" "),
            category: "fraud",
            summary: "x",
            scope: "staff",
        })
        .unwrap_err();
        assert_eq!(none[0].0, "uscc");
        let long = "字".repeat(MAX_SUMMARY + 1);
        assert_eq!(
            check(&new("91110108MA04T7K21H", &long, "staff")).unwrap_err()[0].0,
            "summary"
        );
    }

    #[test]
    fn who_sees_a_record() {
        let r = |scope| Record {
            id: "r_1".into(),
            member: "m_a".into(),
            uscc: None,
            domain: Some("x.cn".into()),
            category: "fraud".into(),
            summary: "s".into(),
            scope,
            disputed_at: None,
            dispute: None,
            resolved_at: None,
            resolution: None,
            created_at: 0,
            expires_at: 1,
        };
        let member = |m| Reader {
            member: Some(m),
            ..Reader::default()
        };
        let (shared, staff_only) = (r(Scope::Members), r(Scope::Staff));
        assert!(shared.visible_to(member("m_b")));
        assert!(!staff_only.visible_to(member("m_b")));
        assert!(staff_only.visible_to(member("m_a")));
        assert!(staff_only.visible_to(Reader {
            staff: true,
            ..Reader::default()
        }));
        assert!(staff_only.visible_to(Reader {
            concerned: true,
            ..Reader::default()
        }));
        assert!(!shared.visible_to(Reader::default()));
    }
}
