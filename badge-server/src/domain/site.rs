//! Certified sites as values: the status a site shows, derived from its certificate,
//! which filing number covers which of its domains, and the host a pasted URL names
//! (what the URL check looks up).

use std::fmt;
use std::str::FromStr;

use ca::store::CertificateRecord;
use serde::Serialize;

use crate::error::AppError;

/// What a site shows: its row's status, unless its certificate says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SiteStatus {
    /// Not yet verified (no site this server issued stays here).
    Pending,
    /// Verified, not yet certified.
    Validated,
    /// Its certificate is valid.
    Certified,
    /// Its certificate is on hold (certificateHold).
    Suspended,
    /// Its certificate is revoked.
    Revoked,
    /// Its certificate has expired.
    Expired,
}

impl SiteStatus {
    /// Every status (the `sites.status` column allows each).
    pub const ALL: [SiteStatus; 6] = [
        SiteStatus::Pending,
        SiteStatus::Validated,
        SiteStatus::Certified,
        SiteStatus::Suspended,
        SiteStatus::Revoked,
        SiteStatus::Expired,
    ];

    /// The stored name, and the one the API shows.
    pub fn as_str(self) -> &'static str {
        match self {
            SiteStatus::Pending => "pending",
            SiteStatus::Validated => "validated",
            SiteStatus::Certified => "certified",
            SiteStatus::Suspended => "suspended",
            SiteStatus::Revoked => "revoked",
            SiteStatus::Expired => "expired",
        }
    }

    /// The status the site shows at `now`: a revocation or hold made anywhere (CLI,
    /// verifier, another replica) or the certificate's expiry shows at once, with no
    /// site row to keep in step; otherwise the row's own status.
    pub fn shown(self, certificate: Option<&CertificateRecord>, now: i64) -> SiteStatus {
        self.shown_with(certificate.map(CertificateState::of), now)
    }

    /// [`SiteStatus::shown`] from the few facts of the certificate that decide it (what
    /// the seal cache keeps, so that an expiry shows without a database read).
    pub fn shown_with(self, certificate: Option<CertificateState>, now: i64) -> SiteStatus {
        match certificate {
            Some(c) if c.revocation.is_some_and(|r| r.on_hold()) => SiteStatus::Suspended,
            Some(c) if c.revocation.is_some() => SiteStatus::Revoked,
            Some(c) if c.not_after < now => SiteStatus::Expired,
            _ => self,
        }
    }
}

/// What of a site's certificate decides the status the site shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertificateState {
    /// Its revocation or hold, if any.
    pub revocation: Option<ca::revocation::Revocation>,
    /// Unix seconds after which it has expired.
    pub not_after: i64,
}

impl CertificateState {
    /// The state of a stored certificate.
    pub fn of(c: &CertificateRecord) -> Self {
        CertificateState {
            revocation: c.revocation(),
            not_after: c.not_after,
        }
    }
}

impl fmt::Display for SiteStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SiteStatus {
    type Err = AppError;
    fn from_str(s: &str) -> Result<Self, AppError> {
        SiteStatus::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| AppError::Internal(ca::Error::Config(format!("site status {s:?}"))))
    }
}

/// Sites per registry page.
pub const PAGE_SIZE: i64 = 20;

/// A site as stored: its own status and its certificate's row.
#[derive(Debug, Clone)]
pub struct SiteRecord {
    /// Site id (`s_…`).
    pub id: String,
    /// The row's status (what the site shows is [`SiteStatus::shown`]).
    pub status: SiteStatus,
    /// Its certificate's row, once issued.
    pub certificate_id: Option<i64>,
    /// Demonstration data (`serve --demo`), marked as such wherever it is shown.
    pub demo: bool,
}

/// The certified domains of a certificate record, primary first.
pub fn certified_domains(cert: &CertificateRecord) -> Vec<String> {
    serde_json::from_str(&cert.domains).unwrap_or_default()
}

/// Each certified domain with the filing number that covers it, as the certificate's
/// filings extension says; certificates issued before it carried one name `icp` for
/// every domain.
pub fn domain_filings(cert: &CertificateRecord) -> Vec<(String, String)> {
    let from_cert = cert
        .der
        .as_deref()
        .map(ca::profile::filings_of)
        .unwrap_or_default();
    if !from_cert.is_empty() {
        return from_cert;
    }
    certified_domains(cert)
        .into_iter()
        .map(|d| (d, cert.icp.clone()))
        .collect()
}

/// Longest URL the URL check reads, in bytes.
pub const MAX_CHECK_URL: usize = 2048;

/// The host of a URL or bare domain a visitor pasted (trimmed; `http://` assumed
/// when there is no scheme), as the URL check looks it up: the trimmed input and the
/// host. Refused field by field (`url`) when it is empty, too long, not a URL, or a
/// host that cannot be certified (an IP address, a single label, a bad name).
pub fn check_host(raw: &str) -> Result<(String, ca::identity::Domain), AppError> {
    let raw = raw.trim();
    let invalid = |m: String| AppError::Invalid(vec![("url".into(), m)]);
    if raw.is_empty() || raw.len() > MAX_CHECK_URL {
        return Err(invalid(format!(
            "give a URL of at most {MAX_CHECK_URL} characters"
        )));
    }
    let with_scheme = if raw.contains("://") {
        raw.to_string()
    } else {
        format!("http://{raw}")
    };
    let host = url::Url::parse(&with_scheme)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .ok_or_else(|| invalid(format!("{raw:?} is not a URL")))?;
    let host = ca::identity::Domain::parse(&host).map_err(|e| invalid(e.to_string()))?;
    Ok((raw.to_string(), host))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An issued certificate of the fixture organization for two domains, revoked
    /// (at, reason code) when given.
    pub(crate) fn record(revocation: Option<(i64, i64)>, not_after: i64) -> CertificateRecord {
        CertificateRecord {
            id: 1,
            issuer_id: 1,
            serial: vec![1],
            status: ca::store::CertificateStatus::Issued,
            organization: "北京晨曦数智科技有限公司".into(),
            uscc: "91110108MA04T7K21H".into(),
            icp: "京ICP备2024018653号-1".into(),
            province: "北京市".into(),
            city: "市辖区".into(),
            domains: r#"["chenxi-shuzhi.cn","www.chenxi-shuzhi.cn"]"#.into(),
            not_before: 0,
            not_after,
            der: None,
            sha256: None,
            revoked_at: revocation.map(|r| r.0),
            revocation_reason: revocation.map(|r| r.1),
            spki_sha256: None,
            crl_shard: 0,
        }
    }

    #[test]
    fn every_status_reads_back_as_itself() {
        for s in SiteStatus::ALL {
            assert_eq!(s.as_str().parse::<SiteStatus>().unwrap(), s);
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                serde_json::json!(s.as_str())
            );
        }
        assert!("issued".parse::<SiteStatus>().is_err());
    }

    #[test]
    fn the_certificate_decides_what_a_site_shows() {
        let now = 1_000;
        let row = SiteStatus::Certified;
        assert_eq!(row.shown(None, now), SiteStatus::Certified);
        assert_eq!(
            SiteStatus::Pending.shown(None, now),
            SiteStatus::Pending,
            "no certificate: the row's status"
        );
        assert_eq!(
            row.shown(Some(&record(None, now + 1)), now),
            SiteStatus::Certified
        );
        assert_eq!(
            row.shown(Some(&record(None, now - 1)), now),
            SiteStatus::Expired
        );
        // certificateHold (6) suspends, even past expiry; any other reason revokes.
        assert_eq!(
            row.shown(Some(&record(Some((now, 6)), now - 1)), now),
            SiteStatus::Suspended
        );
        assert_eq!(
            row.shown(Some(&record(Some((now, 1)), now - 1)), now),
            SiteStatus::Revoked
        );
    }

    #[test]
    fn a_certificate_without_a_filings_extension_names_icp_for_every_domain() {
        assert_eq!(
            domain_filings(&record(None, 0)),
            [
                (
                    "chenxi-shuzhi.cn".to_string(),
                    "京ICP备2024018653号-1".to_string()
                ),
                (
                    "www.chenxi-shuzhi.cn".to_string(),
                    "京ICP备2024018653号-1".to_string()
                ),
            ]
        );
    }

    #[test]
    fn the_url_check_reads_a_host_from_a_url_or_a_domain_and_refuses_the_rest() {
        for (raw, host) in [
            (
                "https://www.chenxi-shuzhi.cn/about?x=1",
                "www.chenxi-shuzhi.cn",
            ),
            ("  chenxi-shuzhi.cn  ", "chenxi-shuzhi.cn"),
            ("HTTP://Chenxi-Shuzhi.CN:8443/", "chenxi-shuzhi.cn"),
        ] {
            let (given, d) = check_host(raw).unwrap();
            assert_eq!(given, raw.trim());
            assert_eq!(d.as_str(), host, "{raw}");
        }
        for raw in [
            "",
            "   ",
            "not a url",
            "http://",
            "127.0.0.1",
            "localhost",
            "<script>",
        ] {
            match check_host(raw) {
                Err(AppError::Invalid(f)) => assert_eq!(f[0].0, "url", "{raw}"),
                other => panic!("{raw:?}: {other:?}"),
            }
        }
        // An IDN is looked up by its A-label.
        let (_, d) = check_host("https://晨曦.中国/").unwrap();
        assert!(d.as_str().starts_with("xn--"), "{d}");
        assert_eq!(d.to_unicode(), "晨曦.中国");
        assert!(check_host(&"a".repeat(MAX_CHECK_URL + 1)).is_err());
    }
}
