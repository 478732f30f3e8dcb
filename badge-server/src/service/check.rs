//! The URL check: what `/api/v1/check` answers and the check box of the public pages
//! shows for a URL or domain a visitor pasted.

use ca::identity::Domain;

use crate::error::AppError;
use crate::service::sites::SiteCertificate;
use crate::service::{Services, sites, warnings};

/// What the URL check found for a pasted URL.
#[derive(Debug, Clone)]
pub enum Verdict {
    /// A published fraud warning covers the host (named so even under a certified
    /// parent domain).
    Warned(crate::domain::warning::Warning),
    /// A site certifies the host or one of its parent domains (in whatever state it
    /// is now).
    Covered(Box<SiteCertificate>),
    /// No site covers the host.
    NotCertified,
}

/// The URL check's answer: the URL as given (trimmed), its host, and the verdict.
#[derive(Debug, Clone)]
pub struct UrlCheck {
    /// The URL as given, trimmed.
    pub url: String,
    /// Its host, in A-labels.
    pub host: Domain,
    /// What covers it.
    pub verdict: Verdict,
}

/// The URL check (`/api/v1/check` and the check form of the public pages): the
/// warning covering the URL's host, else the site certifying it or its nearest
/// parent domain. Refuses (422, field `url`) what
/// [`check_host`](crate::domain::site::check_host) refuses.
pub async fn check(s: &Services, raw: &str) -> Result<UrlCheck, AppError> {
    let (url, host) = crate::domain::site::check_host(raw)?;
    if let Some(w) = warnings::for_host(s, &host).await? {
        return Ok(UrlCheck {
            url,
            host,
            verdict: Verdict::Warned(w),
        });
    }
    let labels: Vec<&str> = host.as_str().split('.').collect();
    for i in 0..labels.len().saturating_sub(1) {
        let candidate = labels[i..].join(".");
        if let Some(site) = sites::for_domain(&s.db, &candidate).await? {
            let site = sites::site_certificate(&s.db, &site).await?;
            return Ok(UrlCheck {
                url,
                host,
                verdict: Verdict::Covered(Box::new(site)),
            });
        }
    }
    Ok(UrlCheck {
        url,
        host,
        verdict: Verdict::NotCertified,
    })
}
