//! Every object identifier of ours, under one IANA Private Enterprise Number arc.
//!
//! The default PEN is 32473, which RFC 5612 reserves for documentation, until the
//! alliance registers its own; changing [`PEN`] moves every OID with it. We do not use
//! a `2.25.<UUID>` arc: its 128-bit component makes pkilint and other X.509 parsers
//! refuse the whole certificate.

/// The Private Enterprise Number the arc hangs from.
pub const PEN: u64 = 32473;

/// `1.3.6.1.4.1.<PEN>.1.1`: the Chengxin site-identity certificate policy.
pub const POLICY_SITE_IDENTITY: [u64; 9] = [1, 3, 6, 1, 4, 1, PEN, 1, 1];
/// `1.3.6.1.4.1.<PEN>.2.1`: extended key usage "website identity seal".
pub const EKU_SITE_IDENTITY: [u64; 9] = [1, 3, 6, 1, 4, 1, PEN, 2, 1];
/// `1.3.6.1.4.1.<PEN>.3.1`: extension carrying the ICP filing number as UTF8String.
pub const EXT_ICP_NUMBER: [u64; 9] = [1, 3, 6, 1, 4, 1, PEN, 3, 1];
/// `1.3.6.1.4.1.<PEN>.3.2`: extension saying which filing covers which domain:
/// `SEQUENCE OF SEQUENCE { dNSName IA5String, filing UTF8String }`, one entry per
/// subjectAltName dNSName in the same order (shared/icp.md §5 rule 1: every
/// registrable domain has its own filing).
pub const EXT_ICP_FILINGS: [u64; 9] = [1, 3, 6, 1, 4, 1, PEN, 3, 2];

/// Dotted form of an OID, as x509-parser prints it.
pub fn dotted(arcs: &[u64]) -> String {
    arcs.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

/// The OID as a `der` object identifier.
pub fn der_oid(arcs: &[u64]) -> der::oid::ObjectIdentifier {
    der::oid::ObjectIdentifier::new_unwrap(&dotted(arcs))
}

/// Standard OIDs the lint compares against.
pub(crate) mod std_oids {
    pub const AUTHORITY_KEY_ID: &str = "2.5.29.35";
    pub const SUBJECT_KEY_ID: &str = "2.5.29.14";
    pub const KEY_USAGE: &str = "2.5.29.15";
    pub const SUBJECT_ALT_NAME: &str = "2.5.29.17";
    pub const BASIC_CONSTRAINTS: &str = "2.5.29.19";
    pub const CRL_DISTRIBUTION_POINTS: &str = "2.5.29.31";
    pub const CERTIFICATE_POLICIES: &str = "2.5.29.32";
    pub const EXT_KEY_USAGE: &str = "2.5.29.37";
    pub const AUTHORITY_INFO_ACCESS: &str = "1.3.6.1.5.5.7.1.1";
    pub const AD_OCSP: &str = "1.3.6.1.5.5.7.48.1";
    pub const AD_CA_ISSUERS: &str = "1.3.6.1.5.5.7.48.2";
    pub const COUNTRY: &str = "2.5.4.6";
    pub const STATE: &str = "2.5.4.8";
    pub const LOCALITY: &str = "2.5.4.7";
    pub const ORGANIZATION: &str = "2.5.4.10";
    pub const SERIAL_NUMBER: &str = "2.5.4.5";
    pub const COMMON_NAME: &str = "2.5.4.3";
}
