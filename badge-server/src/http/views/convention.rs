//! A convention, its signatories and one organization's signature as the API returns
//! them and the pages read them. Signatories are organization names only: who signed
//! for them stays in the audit log.

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::clock::date_time;
use crate::domain::convention::{Convention, Signature, render};

/// A convention at its current version.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConventionView {
    /// Row id.
    pub id: i64,
    /// Title (pages add 《》).
    #[schema(example = "网络诚信自律公约")]
    pub title: String,
    /// The current version.
    pub version: i64,
    /// Its text as written (Markdown).
    pub text: String,
    /// Its text as HTML: raw HTML shown as text, only http(s) and mailto links.
    pub html: String,
    /// When the current version was published (unix seconds).
    pub published_at: i64,
    /// The same, in Beijing time.
    pub published: String,
}

impl From<Convention> for ConventionView {
    fn from(c: Convention) -> Self {
        ConventionView {
            html: render(&c.text),
            published: date_time(c.published_at),
            id: c.id,
            title: c.title,
            version: c.version,
            text: c.text,
            published_at: c.published_at,
        }
    }
}

/// One organization's latest signature on a convention.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SignatureView {
    /// The convention.
    pub convention_id: i64,
    /// Its title.
    pub title: String,
    /// The organization's registered name.
    pub organization: String,
    /// The version it signed last.
    pub version: i64,
    /// The convention's current version.
    pub current_version: i64,
    /// A newer version waits for the organization's signature; this one stands for
    /// the version it names.
    pub outdated: bool,
    /// When it signed (unix seconds).
    pub signed_at: i64,
    /// The same, in Beijing time.
    pub signed: String,
}

impl From<Signature> for SignatureView {
    fn from(s: Signature) -> Self {
        SignatureView {
            outdated: s.outdated(),
            signed: date_time(s.signed_at),
            convention_id: s.convention_id,
            title: s.title,
            organization: s.organization,
            version: s.version,
            current_version: s.current_version,
            signed_at: s.signed_at,
        }
    }
}

/// A convention with the organizations that signed it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConventionDetail {
    /// The convention.
    pub convention: ConventionView,
    /// Every organization that signed it, by name, with the version it signed last.
    pub signatories: Vec<SignatureView>,
}
