//! A site as the API returns it and the pages show it: to its operator and staff
//! ([`SiteView`], with the seal snippets) and to anyone ([`PublicSiteView`]).
//!
//! The public fields are in alphabetical order, the same bytes as the `json!` object
//! they replaced; the operator's two snippet fields follow them. A site without a
//! certificate shows only `site` and `status`: every other field is then left out
//! (the `Option`s below are absent, not `null`), while `sha256_fingerprint` and
//! `revocation_reason` of a certified site may be `null`.

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::seal::SealVariant;
use crate::domain::site::{SiteStatus, certified_domains, domain_filings};
use crate::service::check::{UrlCheck, Verdict};
use crate::service::sites::SiteCertificate;

/// One certified domain and the website filing number that covers it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DomainFiling {
    /// The domain (A-label).
    pub domain: String,
    /// Its filing number (网站备案号).
    pub icp: String,
}

/// A certified site as anyone may see it (`/cert/{site}.json`, registry results).
/// The fields after `site` and `status` are present once the site has a certificate,
/// which every site this server issued has.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = PublicSite)]
pub struct PublicSiteView {
    /// The public certificate page.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, required = false)]
    pub certificate_url: Option<String>,
    /// The certified domains, primary first.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Vec<String>, required = false)]
    pub domains: Option<Vec<String>>,
    /// Which website filing number covers which domain (each registrable domain is
    /// filed on its own), as the certificate's filings extension says.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Vec<DomainFiling>, required = false)]
    pub filings: Option<Vec<DomainFiling>>,
    /// The primary domain's ICP filing number.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, required = false)]
    pub icp: Option<String>,
    /// Validity end, Unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = i64, required = false)]
    pub not_after: Option<i64>,
    /// Validity start, Unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = i64, required = false)]
    pub not_before: Option<i64>,
    /// The certified organization.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, required = false)]
    pub organization: Option<String>,
    /// RFC 5280 name of the revocation reason (`keyCompromise`, `certificateHold`, …);
    /// `null` while the certificate is neither revoked nor on hold.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, required = false)]
    pub revocation_reason: Option<Option<String>>,
    /// The seal image.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, required = false)]
    pub seal_url: Option<String>,
    /// Certificate serial number, hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, required = false)]
    pub serial: Option<String>,
    /// SHA-256 of the certificate, hex (`null` on rows from before it was kept).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, required = false)]
    pub sha256_fingerprint: Option<Option<String>>,
    /// Site id (`s_…`).
    pub site: String,
    /// `certified`, `suspended` (certificate on hold), `revoked` or `expired`.
    pub status: SiteStatus,
    /// Its Unified Social Credit Code.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, required = false)]
    pub uscc: Option<String>,
}

impl PublicSiteView {
    /// The primary domain, once certified.
    pub fn primary(&self) -> Option<&str> {
        self.domains.as_ref()?.first().map(String::as_str)
    }
}

/// `/cert/{site}.json`: the site as anyone may see it, and its events in the
/// transparency log with their inclusion proofs (what the certificate page shows).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Certificate)]
pub struct CertificateView {
    /// The site.
    #[serde(flatten)]
    pub public: PublicSiteView,
    /// The site's events in the transparency log.
    pub transparency_log: crate::http::views::log::SiteLogView,
}

/// A site as its operator and staff see it: the public view plus the HTML snippets
/// that embed the seal (present once the site has a certificate).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Site)]
pub struct SiteView {
    /// What anyone may see.
    #[serde(flatten)]
    pub public: PublicSiteView,
    /// HTML that shows the seal linked to the certificate page.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, required = false)]
    pub snippet: Option<String>,
    /// Every size, language and format of the seal with its snippet, the default
    /// (the one in `snippet`) first.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Vec<SealVariant>, required = false)]
    pub seal_variants: Option<Vec<SealVariant>>,
}

impl SiteView {
    /// The view of `site`, its links under the public base URL `base`.
    pub fn new(site: SiteCertificate, base: &str) -> SiteView {
        let SiteCertificate {
            id,
            status,
            certificate,
            ..
        } = site;
        let Some(cert) = certificate else {
            return SiteView {
                public: PublicSiteView {
                    certificate_url: None,
                    domains: None,
                    filings: None,
                    icp: None,
                    not_after: None,
                    not_before: None,
                    organization: None,
                    revocation_reason: None,
                    seal_url: None,
                    serial: None,
                    sha256_fingerprint: None,
                    site: id,
                    status,
                    uscc: None,
                },
                snippet: None,
                seal_variants: None,
            };
        };
        let domains = certified_domains(&cert);
        let variants = crate::domain::seal::variants(
            base,
            &id,
            domains.first().map(String::as_str).unwrap_or(""),
        );
        SiteView {
            public: PublicSiteView {
                certificate_url: Some(format!("{base}/cert/{id}")),
                filings: Some(
                    domain_filings(&cert)
                        .into_iter()
                        .map(|(domain, icp)| DomainFiling { domain, icp })
                        .collect(),
                ),
                domains: Some(domains),
                not_after: Some(cert.not_after),
                not_before: Some(cert.not_before),
                revocation_reason: Some(
                    cert.revocation_reason
                        .and_then(ca::RevocationReason::from_code)
                        .map(|r| r.name().to_string()),
                ),
                seal_url: Some(variants[0].url.clone()),
                serial: Some(hex::encode(&cert.serial)),
                sha256_fingerprint: Some(cert.sha256.as_deref().map(hex::encode)),
                site: id,
                status,
                organization: Some(cert.organization),
                icp: Some(cert.icp),
                uscc: Some(cert.uscc),
            },
            snippet: Some(variants[0].snippet.clone()),
            seal_variants: Some(variants),
        }
    }
}

impl From<SiteView> for PublicSiteView {
    fn from(v: SiteView) -> PublicSiteView {
        v.public
    }
}

/// Whether a URL's host is covered by a certified site.
// Fields in alphabetical order: the same bytes as the `json!` objects they replaced.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum Checked {
    /// A site covers the host.
    Covered {
        /// The site's certificate page.
        #[schema(required = true)]
        certificate_url: Option<String>,
        /// The host, normalized to A-labels.
        host: String,
        /// The certified organization.
        #[schema(required = true)]
        organization: Option<String>,
        /// The site's state: `certified`, `suspended`, `revoked` or `expired`.
        result: SiteStatus,
        /// Site id.
        site: String,
        /// The URL as given, trimmed.
        url: String,
    },
    /// The host is on the fraud-warning list.
    Warned {
        /// The host, normalized to A-labels.
        host: String,
        /// `warned`.
        #[schema(value_type = String, example = "warned")]
        result: &'static str,
        /// The URL as given, trimmed.
        url: String,
        /// The warning.
        warning: crate::domain::warning::Warning,
    },
    /// No site covers the host.
    NotCertified {
        /// The host, normalized to A-labels.
        host: String,
        /// `not_certified`.
        #[schema(value_type = String, example = "not_certified")]
        result: &'static str,
        /// The URL as given, trimmed.
        url: String,
    },
}

impl Checked {
    /// The view of a check's answer, links under the public base URL `base`.
    pub fn new(c: UrlCheck, base: &str) -> Checked {
        let host = c.host.as_str().to_string();
        match c.verdict {
            Verdict::Warned(warning) => Checked::Warned {
                host,
                result: "warned",
                url: c.url,
                warning,
            },
            Verdict::Covered(site) => {
                let site_id = site.id.clone();
                let view = SiteView::new(*site, base).public;
                Checked::Covered {
                    certificate_url: view.certificate_url,
                    host,
                    organization: view.organization,
                    result: view.status,
                    site: site_id,
                    url: c.url,
                }
            }
            Verdict::NotCertified => Checked::NotCertified {
                host,
                result: "not_certified",
                url: c.url,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn certified(revocation_reason: Option<i64>) -> SiteCertificate {
        SiteCertificate {
            id: "s_1".into(),
            status: SiteStatus::Certified,
            certificate: Some(crate::domain::site::tests::record(
                revocation_reason.map(|r| (2, r)),
                2,
            )),
            demo: false,
        }
    }

    #[test]
    fn a_site_without_a_certificate_shows_only_its_id_and_status() {
        let site = SiteCertificate {
            id: "s_1".into(),
            status: SiteStatus::Pending,
            certificate: None,
            demo: false,
        };
        let view = SiteView::new(site, "https://example.test");
        assert_eq!(
            serde_json::to_string(&view).unwrap(),
            r#"{"site":"s_1","status":"pending"}"#
        );
        assert_eq!(
            serde_json::to_string(&PublicSiteView::from(view)).unwrap(),
            r#"{"site":"s_1","status":"pending"}"#
        );
    }

    #[test]
    fn a_certified_site_serializes_with_sorted_keys_and_its_nulls() {
        let view = SiteView::new(certified(None), "https://example.test");
        let value = serde_json::to_value(&view).unwrap();
        // The public part: the bytes a `json!` object (keys sorted) gave.
        let text = serde_json::to_string(&view.public).unwrap();
        assert_eq!(
            text,
            serde_json::to_value(&view.public).unwrap().to_string()
        );
        assert_eq!(value["revocation_reason"], serde_json::Value::Null);
        assert_eq!(value["sha256_fingerprint"], serde_json::Value::Null);
        assert_eq!(value["serial"], "01");
        assert_eq!(value["certificate_url"], "https://example.test/cert/s_1");
        assert_eq!(value["seal_url"], value["seal_variants"][0]["url"]);
        assert_eq!(value["snippet"], value["seal_variants"][0]["snippet"]);
        assert_eq!(
            value["filings"],
            serde_json::json!([
                {"domain": "chenxi-shuzhi.cn", "icp": "京ICP备2024018653号-1"},
                {"domain": "www.chenxi-shuzhi.cn", "icp": "京ICP备2024018653号-1"},
            ])
        );
        let public = serde_json::to_value(PublicSiteView::from(view)).unwrap();
        let mut expected = value.as_object().unwrap().clone();
        expected.remove("snippet");
        expected.remove("seal_variants");
        assert_eq!(public, serde_json::Value::Object(expected));

        let held = SiteView::new(certified(Some(6)), "https://example.test");
        assert_eq!(
            held.public.revocation_reason,
            Some(Some("certificateHold".into()))
        );
    }
}
