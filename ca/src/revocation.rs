//! RFC 5280 revocation reasons and a certificate's revocation as stored: below both
//! the store (which reads revocations) and the CRL and OCSP code (which write them).

use std::fmt;
use std::str::FromStr;

use rcgen::RevocationReason as RcgenReason;

use crate::{Error, Result};

/// RFC 5280 revocation reasons we use, plus `removeFromCRL` to release a hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RevocationReason {
    /// No reason given (the CRL entry then carries no reason code).
    Unspecified,
    /// The subject's private key was compromised.
    KeyCompromise,
    /// The organization changed (e.g. the ICP subject changed).
    AffiliationChanged,
    /// Replaced by a new certificate.
    Superseded,
    /// The site or organization ceased operating (e.g. the filing was cancelled).
    CessationOfOperation,
    /// Suspended; can be released with `removeFromCRL` or made final.
    CertificateHold,
    /// Releases a `certificateHold`.
    #[serde(rename = "removeFromCRL")]
    RemoveFromCrl,
    /// Withdrawn by the alliance (e.g. an upheld complaint).
    PrivilegeWithdrawn,
}

impl RevocationReason {
    /// The RFC 5280 code.
    pub fn code(self) -> i64 {
        match self {
            RevocationReason::Unspecified => 0,
            RevocationReason::KeyCompromise => 1,
            RevocationReason::AffiliationChanged => 3,
            RevocationReason::Superseded => 4,
            RevocationReason::CessationOfOperation => 5,
            RevocationReason::CertificateHold => 6,
            RevocationReason::RemoveFromCrl => 8,
            RevocationReason::PrivilegeWithdrawn => 9,
        }
    }

    /// From an RFC 5280 code.
    pub fn from_code(code: i64) -> Option<Self> {
        Some(match code {
            0 => RevocationReason::Unspecified,
            1 => RevocationReason::KeyCompromise,
            3 => RevocationReason::AffiliationChanged,
            4 => RevocationReason::Superseded,
            5 => RevocationReason::CessationOfOperation,
            6 => RevocationReason::CertificateHold,
            8 => RevocationReason::RemoveFromCrl,
            9 => RevocationReason::PrivilegeWithdrawn,
            _ => return None,
        })
    }

    /// The RFC 5280 name (`keyCompromise`, …).
    pub fn name(self) -> &'static str {
        match self {
            RevocationReason::Unspecified => "unspecified",
            RevocationReason::KeyCompromise => "keyCompromise",
            RevocationReason::AffiliationChanged => "affiliationChanged",
            RevocationReason::Superseded => "superseded",
            RevocationReason::CessationOfOperation => "cessationOfOperation",
            RevocationReason::CertificateHold => "certificateHold",
            RevocationReason::RemoveFromCrl => "removeFromCRL",
            RevocationReason::PrivilegeWithdrawn => "privilegeWithdrawn",
        }
    }

    /// rcgen's reason for a stored code, for a CRL entry (none for unspecified).
    pub(crate) fn rcgen(code: i64) -> Option<RcgenReason> {
        Some(match code {
            1 => RcgenReason::KeyCompromise,
            3 => RcgenReason::AffiliationChanged,
            4 => RcgenReason::Superseded,
            5 => RcgenReason::CessationOfOperation,
            6 => RcgenReason::CertificateHold,
            9 => RcgenReason::PrivilegeWithdrawn,
            _ => return None,
        })
    }
}

impl FromStr for RevocationReason {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        [
            RevocationReason::Unspecified,
            RevocationReason::KeyCompromise,
            RevocationReason::AffiliationChanged,
            RevocationReason::Superseded,
            RevocationReason::CessationOfOperation,
            RevocationReason::CertificateHold,
            RevocationReason::RemoveFromCrl,
            RevocationReason::PrivilegeWithdrawn,
        ]
        .into_iter()
        .find(|r| r.name().eq_ignore_ascii_case(s.trim()))
        .ok_or_else(|| Error::InvalidReason(s.to_string()))
    }
}

impl fmt::Display for RevocationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A certificate's revocation as stored: when, and the RFC 5280 reason code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revocation {
    /// Unix seconds (for a hold made final, when the hold began).
    pub at: i64,
    /// The RFC 5280 reason code as stored.
    pub code: i64,
}

impl Revocation {
    /// The reason, `None` for a code this CA never writes.
    pub fn reason(&self) -> Option<RevocationReason> {
        RevocationReason::from_code(self.code)
    }

    /// Whether this is a certificateHold: suspended, and still releasable.
    pub fn on_hold(&self) -> bool {
        self.code == RevocationReason::CertificateHold.code()
    }
}
