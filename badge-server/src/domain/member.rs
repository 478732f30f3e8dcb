//! Members of the alliance: the internet companies whose trust-and-safety staff take
//! part in the exchange (seed.txt: 会员之间的通报、交流与共享机制). A member is an
//! organization, named by its USCC, with staff accounts of the `member` role.

use ca::identity::Uscc;
use serde::Serialize;

use super::account::Email;

/// The longest member name taken, in characters (the longest registered Chinese
/// company names are well under 100).
pub const MAX_NAME: usize = 100;

/// A member as staff and the member itself see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Member {
    /// `m_…`.
    pub id: String,
    /// The organization's registered name.
    pub name: String,
    /// Its unified social credit code.
    pub uscc: String,
    /// Where the alliance writes to the member's trust-and-safety team (else to its
    /// `member` accounts).
    pub contact: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
}

/// A new member as submitted (CLI or API), not yet checked.
#[derive(Debug, Clone, Copy)]
pub struct NewMember<'a> {
    /// Registered name.
    pub name: &'a str,
    /// USCC as typed.
    pub uscc: &'a str,
    /// Contact address as typed, if any.
    pub contact: Option<&'a str>,
}

/// A new member that passed [`check`].
#[derive(Debug, Clone)]
pub struct CheckedMember {
    /// Name, trimmed.
    pub name: String,
    /// The parsed code.
    pub uscc: Uscc,
    /// The parsed address.
    pub contact: Option<Email>,
}

/// Checks every field, naming each that fails.
pub fn check(new: &NewMember<'_>) -> Result<CheckedMember, Vec<(String, String)>> {
    let mut bad = Vec::new();
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME {
        bad.push(("name".into(), format!("1 to {MAX_NAME} characters")));
    } else if name.chars().any(char::is_control) {
        bad.push(("name".into(), "no control characters".into()));
    }
    let uscc = Uscc::parse(new.uscc).map_err(|e| bad.push(("uscc".into(), e.to_string())));
    let contact = new
        .contact
        .filter(|c| !c.trim().is_empty())
        .map(Email::parse)
        .transpose()
        .map_err(|e| bad.push(("contact".into(), e.to_string())));
    match (uscc, contact) {
        (Ok(uscc), Ok(contact)) if bad.is_empty() => Ok(CheckedMember {
            name: name.into(),
            uscc,
            contact,
        }),
        _ => Err(bad),
    }
}

/// Whether `id` has the shape of a member id (`m_` and 12 base64url characters), so
/// that a made-up path segment is refused before any query.
pub fn is_id(id: &str) -> bool {
    id.len() == 14
        && id.starts_with("m_")
        && id[2..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    const USCC: &str = "91110108MA04T7K21H";

    fn new<'a>(name: &'a str, uscc: &'a str, contact: &'a str) -> NewMember<'a> {
        NewMember {
            name,
            uscc,
            contact: Some(contact),
        }
    }

    #[test]
    fn a_member_needs_a_name_a_valid_uscc_and_an_address() {
        let ok = check(&new(" 示例网络科技有限公司 ", USCC, "tns@example.com")).unwrap();
        assert_eq!(ok.name, "示例网络科技有限公司");
        assert_eq!(ok.uscc.as_str(), USCC);
        assert_eq!(check(&new("示例", USCC, " ")).unwrap().contact, None);
        let bad = check(&new("", "91110108MA04T7K21J", "nobody")).unwrap_err();
        let fields: Vec<_> = bad.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["name", "uscc", "contact"]);
        let long = "公".repeat(MAX_NAME + 1);
        assert_eq!(
            check(&new(&long, USCC, "a@example.com")).unwrap_err()[0].0,
            "name"
        );
    }

    #[test]
    fn member_ids_have_one_shape() {
        let id = super::super::clock::new_id("m_").unwrap();
        assert!(is_id(&id), "{id}");
        assert!(!is_id("m_short"));
        assert!(!is_id("s_AAAAAAAAAAAA"));
        assert!(!is_id("m_AAAA/AAAAAAA"));
    }
}
