//! The application use cases: apply, verify (domain control and the ICP filing),
//! approve (issue the certificate and create the site) and reject; each one
//! transaction with its audit entry.

use ca::KeySource;
use ca::db::Database;
use ca::identity::IcpNumber;
use ca::profile::{GeneratedKey, SiteIdentity, SubjectPublicKey};
use futures_util::StreamExt;
use serde_json::json;
use verifier::icp::{Filings, filing_key};
use verifier::recheck::{Enrollment, enroll};
use verifier::verdict::Evidence;
use verifier::{Method, Token, Verdict};
use zeroize::Zeroizing;

use crate::domain::account::Account;
use crate::domain::application::{Application, ApplicationStatus, application_status, unfiled};
use crate::domain::clock::new_id;
use crate::domain::places;
use crate::error::AppError;
use crate::service::Services;
use crate::service::sites::{SiteCertificate, site_certificate};
use crate::service::watch;
use crate::store::applications::{self as store, NewApplication, StatusChange};
use crate::store::sites::{self as site_store, NewSite};

/// A stored application, and the private key generated for it when the operator
/// sent no CSR: shown to the operator this once, never stored, never shown to staff.
pub struct Created {
    /// The application.
    pub application: Application,
    /// The generated private key (PKCS#8 PEM), when no CSR was given.
    pub private_key_pem: Option<Zeroizing<String>>,
}

/// One application.
pub async fn get(db: &Database, id: &str) -> Result<Option<Application>, AppError> {
    store::get(db, id).await
}

/// The applications of one account, newest first (the operator portal).
pub async fn list_for(db: &Database, account_id: i64) -> Result<Vec<Application>, AppError> {
    store::list_for(db, account_id).await
}

/// Applications waiting for staff (`validated` or `review`), oldest first.
pub async fn awaiting_review(db: &Database) -> Result<Vec<Application>, AppError> {
    store::awaiting_review(db).await
}

/// The evidence of every check made for an application, oldest first.
pub async fn evidence(db: &Database, id: &str) -> Result<Vec<serde_json::Value>, AppError> {
    store::evidence(db, id).await
}

/// Stores a new application with its filing claims. Without a CSR a P-256 key is
/// generated here: its request is stored, its private half returned once.
pub async fn create(
    db: &Database,
    account: &Account,
    identity: &SiteIdentity,
    filings: &Filings,
    csr_pem: Option<&str>,
    now: i64,
) -> Result<Created, AppError> {
    let id = new_id("app_")?;
    let token = Token::generate()?;
    let (csr_pem, private_key_pem) = match csr_pem {
        Some(pem) => (pem.to_string(), None),
        None => {
            let key = GeneratedKey::generate(identity.primary())?;
            (key.csr_pem, Some(key.private_key_pem))
        }
    };
    let mut tx = db.begin().await?;
    store::insert(
        &mut tx,
        &NewApplication {
            id: &id,
            account_id: account.id,
            identity,
            filings,
            csr_pem: &csr_pem,
            token: token.as_str(),
            now,
        },
    )
    .await?;
    // Imitating a member's brand (issue 17): held for staff with the reasons, a
    // draft warning for each match and the member told, all in this transaction.
    let imitations = watch::screen_application(&mut tx, &id, identity, now).await?;
    if !imitations.is_empty() {
        let reasons = imitation_reasons(&imitations);
        store::set_status(
            &mut tx,
            &id,
            &StatusChange {
                status: ApplicationStatus::Review,
                method: None,
                reasons: &reasons,
                site: None,
                now,
            },
        )
        .await?;
    }
    ca::audit::append(
        &mut tx,
        &account.email,
        "application.create",
        &id,
        &json!({
            "domains": identity.domains,
            "filings": filings,
            "key": if private_key_pem.is_some() { "generated" } else { "csr" },
            "imitations": imitations.len(),
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(Created {
        application: get(db, &id).await?.ok_or(AppError::NotFound)?,
        private_key_pem,
    })
}

/// The reasons an application imitating a member's brand is held, one per match.
fn imitation_reasons(matches: &[crate::domain::impersonation::Match]) -> Vec<String> {
    matches
        .iter()
        .map(|m| format!("Impersonation: {}", m.reason))
        .collect()
}

/// Domains of one application whose control is checked at the same time.
const DOMAINS_AT_ONCE: usize = 8;

/// A verification run: the application's new state and every check's evidence.
#[derive(Debug, Clone)]
pub struct Verification {
    /// Application id.
    pub id: String,
    /// `validated`, `review`, `failed`, or `pending` after a transient error.
    pub status: ApplicationStatus,
    /// The combined verdict.
    pub verdict: Verdict,
    /// Why it did not pass, per domain and for the ICP filing.
    pub reasons: Vec<String>,
    /// This run's checks.
    pub evidence: Vec<Evidence>,
}

/// What verification led to.
#[derive(Debug, Clone)]
pub enum Verified {
    /// Checks ran; the application waits for the next step.
    Checked(Verification),
    /// Every check passed and, approving automatically, the certificate was issued.
    Issued(Box<SiteCertificate>),
}

/// Runs domain control for every domain and the ICP check, stores the evidence, and
/// moves the application to `validated`, `review`, `failed` or (on a transient error)
/// keeps it `pending`. With auto-approval a validated application is issued at once.
pub async fn verify(
    s: &Services,
    app: &Application,
    actor: &Account,
    method: Option<Method>,
    now: i64,
) -> Result<Verified, AppError> {
    if !app.status.may_verify() {
        return Err(AppError::Conflict(format!(
            "application is {}; nothing to verify",
            app.status
        )));
    }
    let identity = app.identity()?;
    let token = Token::parse(&app.token)?;
    let methods: Vec<Method> = method.map_or_else(|| Method::ALL.to_vec(), |m| vec![m]);
    charge_domain_checks(s, actor, identity.domains.len(), now)?;
    let mut control = Verdict::Pass;
    let mut reasons = Vec::new();
    let mut evidence = Vec::new();
    let mut proven_by = None;
    // Domains are checked side by side (a few at a time, results kept in order): a
    // method that times out costs seconds, and the request has 30.
    let checks: Vec<_> = identity
        .domains
        .iter()
        .map(|d| s.challenger.check_any(&methods, d, &token))
        .collect();
    let outcomes = identity.domains.iter().zip(
        futures_util::stream::iter(checks)
            .buffered(DOMAINS_AT_ONCE)
            .collect::<Vec<_>>()
            .await,
    );
    for (d, out) in outcomes {
        let method = out.evidence.last().map_or("none", |e| e.check.as_str());
        count_verification(method, out.verdict);
        if out.verdict == Verdict::Pass {
            proven_by = out.evidence.last().map(|e| e.check.clone());
        } else {
            reasons.extend(out.reasons.iter().map(|r| format!("{d}: {r}")));
        }
        control = control.and(out.verdict);
        evidence.extend(out.evidence);
    }
    // Every registrable domain's own filing (icp.md §5 rule 1), not only the primary's.
    let mut filings = app.claims()?;
    let mut verified = Filings::new();
    let filing = match &s.icp {
        Some(provider) => {
            let out = verifier::icp::check_domains(
                provider.as_ref(),
                &identity.organization,
                Some(&identity.uscc),
                &filings,
                &identity.domains,
            )
            .await;
            count_verification("icp", out.outcome.verdict);
            if out.outcome.verdict != Verdict::Pass {
                reasons.extend(out.outcome.reasons.iter().map(|r| format!("ICP: {r}")));
            }
            evidence.extend(out.outcome.evidence);
            verified.extend(out.rows.iter().filter_map(|(key, row)| {
                Some((
                    key.clone(),
                    IcpNumber::parse_website(&row.service_licence).ok()?,
                ))
            }));
            filings.extend(verified.clone());
            out.outcome.verdict
        }
        None => {
            reasons.push("ICP: no filing source is configured; staff must check the filing".into());
            Verdict::Review
        }
    };
    let unfiled = unfiled(&identity, &filings);
    let filing = if unfiled.is_empty() {
        filing
    } else {
        reasons.push(format!(
            "ICP: no filing number is known for {}; give it with the application",
            unfiled.join(", ")
        ));
        filing.and(Verdict::Review)
    };
    // A USCC registered in another province than the one named: a person looks
    // (issue 16), it is not refused (an organization may have moved).
    let filing = match places::uscc_mismatch(identity.uscc.as_str(), &identity.province) {
        Some(why) => {
            reasons.push(why);
            // A pass becomes review; a transient error still asks to verify again.
            if filing == Verdict::Pass {
                Verdict::Review
            } else {
                filing
            }
        }
        None => filing,
    };
    // Still imitating a member's brand (one registered since counts too): a person
    // decides, never auto-approval.
    let imitations = watch::screen(&s.db, &identity).await?;
    let filing = if imitations.is_empty() {
        filing
    } else {
        reasons.extend(imitation_reasons(&imitations));
        if filing == Verdict::Pass {
            Verdict::Review
        } else {
            filing
        }
    };
    let (verdict, status) = application_status(control, filing);
    let mut tx = s.db.begin().await?;
    verifier::store::record_in(
        &mut tx,
        &verifier::store::Subject {
            application_id: Some(app.id.clone()),
            site_id: None,
        },
        &evidence,
    )
    .await?;
    store::set_status(
        &mut tx,
        &app.id,
        &StatusChange {
            status,
            method: proven_by.as_deref(),
            reasons: &reasons,
            site: None,
            now,
        },
    )
    .await?;
    store::set_verified_filings(&mut tx, &app.id, &verified).await?;
    ca::audit::append(
        &mut tx,
        &actor.email,
        "application.verify",
        &app.id,
        &json!({ "verdict": verdict, "reasons": reasons }),
    )
    .await?;
    tx.commit().await?;
    if verdict == Verdict::Pass && s.auto_approve {
        let fresh = get(&s.db, &app.id).await?.ok_or(AppError::NotFound)?;
        return Ok(Verified::Issued(Box::new(
            approve(s, &fresh, actor, now).await?,
        )));
    }
    Ok(Verified::Checked(Verification {
        id: app.id.clone(),
        status,
        verdict,
        reasons,
        evidence,
    }))
}

/// Counts `domains` domain-control checks against `actor`'s hourly quota
/// (`CHENGXIN_DOMAIN_CHECKS_PER_HOUR`); 429 past it. One call on a 100-domain
/// application sends hundreds of DNS queries and HTTP fetches.
pub fn charge_domain_checks(
    s: &Services,
    actor: &Account,
    domains: usize,
    now: i64,
) -> Result<(), AppError> {
    let n = u32::try_from(domains).unwrap_or(u32::MAX);
    if s.domain_checks.allow_n(actor.id, n, now) {
        Ok(())
    } else {
        Err(AppError::TooMany {
            message: format!(
                "too many domain-control checks from this account in the last hour (this one needs {domains})"
            ),
            retry_after: 3_600,
        })
    }
}

/// Counts one re-verification of `site` (as many checks as it has domains, at least
/// one) against `account`'s hourly quota of domain-control checks.
pub async fn charge_recheck(
    s: &Services,
    account: &Account,
    site: &str,
    now: i64,
) -> Result<(), AppError> {
    let domains = site_certificate(&s.db, site)
        .await?
        .certificate
        .map_or(1, |c| {
            serde_json::from_str::<Vec<String>>(&c.domains).map_or(1, |d| d.len())
        });
    charge_domain_checks(s, account, domains, now)
}

/// Issues the certificate: organization, site, domains, certificate, the
/// application's new state and the site's enrolment for re-verification commit
/// together. Refused unless every domain has a passing domain-control check of this
/// application no older than the reuse period, read inside the same transaction:
/// staff review decides identity and filing questions, never domain control. The
/// new site.
pub async fn approve(
    s: &Services,
    app: &Application,
    actor: &Account,
    now: i64,
) -> Result<SiteCertificate, AppError> {
    if !app.status.may_approve() {
        return Err(AppError::Conflict(format!(
            "application is {}; only validated or review applications can be approved",
            app.status
        )));
    }
    let filings = app.filings()?;
    let per_domain = app
        .identity()?
        .domains
        .iter()
        .map(|d| {
            filings.get(&filing_key(d)).cloned().ok_or_else(|| {
                AppError::Conflict(format!(
                    "no filing number is known for {}; the operator must give it",
                    filing_key(d)
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let identity = app.identity()?.with_filings(per_domain)?;
    // The operator's key, from their CSR or the one generated for them when they
    // applied; the CA never makes a key here, so none can reach whoever approves.
    let key = match &app.csr_pem {
        Some(pem) => KeySource::Csr(SubjectPublicKey::from_csr_pem(pem)?),
        None => {
            return Err(AppError::Conflict(
                "the application has no key request; the operator must apply again with a CSR"
                    .into(),
            ));
        }
    };
    let site_id = new_id("s_")?;
    let mut tx = s.db.begin().await?;
    // Write first (SQLite takes its write lock here).
    store::set_status(
        &mut tx,
        &app.id,
        &StatusChange {
            status: ApplicationStatus::Certified,
            method: None,
            reasons: &[],
            site: Some(&site_id),
            now,
        },
    )
    .await?;
    let since = now - s.policy.validation_reuse;
    let proven = verifier::store::proven_domains_in(&mut tx, &app.id, since).await?;
    let unproven: Vec<&str> = identity
        .domains
        .iter()
        .map(|d| d.as_str())
        .filter(|d| !proven.iter().any(|p| p == d))
        .collect();
    if !unproven.is_empty() {
        // Dropping the transaction rolls the status change back.
        return Err(AppError::Conflict(format!(
            "domain control is not proven for {} (no passing check in the last {} days); \
             verify the application again",
            unproven.join(", "),
            s.policy.validation_reuse / 86_400
        )));
    }
    let organization_id = site_store::upsert_organization(&mut tx, &identity, now).await?;
    let issued =
        s.ca.issue_in(&mut tx, &identity, key, Some(&site_id), &actor.email)
            .await?;
    let search_text = format!(
        "{} {} {} {}",
        identity.organization,
        identity.uscc.as_str(),
        identity.icp.as_str(),
        identity
            .domains
            .iter()
            .map(|d| format!("{} {}", d.as_str(), d.to_unicode()))
            .collect::<Vec<_>>()
            .join(" ")
    )
    .to_lowercase();
    site_store::insert(
        &mut tx,
        &NewSite {
            id: &site_id,
            organization_id,
            icp: identity.icp.as_str(),
            filings: &filings,
            certificate_id: issued.certificate_id,
            account_id: app.account_id,
            now,
            demo: s.demo,
        },
        &identity.domains,
        &search_text,
    )
    .await?;
    let method: Method = app.method.as_deref().unwrap_or("dns-txt").parse()?;
    let enrollment = Enrollment {
        site_id: site_id.clone(),
        organization: identity.organization.clone(),
        uscc: Some(identity.uscc.clone()),
        filings,
        domains: identity.domains.clone(),
        method,
        token: Token::parse(&app.token)?,
        certificate_serial: Some(issued.serial.clone()),
    };
    // The first due dates follow the intervals staff set (`/console/settings`).
    let policy = s.policy.in_force_in(&mut tx).await?;
    enroll(&mut tx, &enrollment, &policy, now).await?;
    ca::audit::append(
        &mut tx,
        &actor.email,
        "application.approve",
        &app.id,
        &json!({ "site": site_id, "serial": issued.serial.to_hex() }),
    )
    .await?;
    tx.commit().await?;
    site_certificate(&s.db, &site_id).await
}

/// Rejects an application (staff).
pub async fn reject(
    s: &Services,
    app: &Application,
    actor: &Account,
    reason: &str,
    now: i64,
) -> Result<(), AppError> {
    if app.status.is_final() {
        return Err(AppError::Conflict(format!(
            "application is already {}",
            app.status
        )));
    }
    let mut tx = s.db.begin().await?;
    store::set_status(
        &mut tx,
        &app.id,
        &StatusChange {
            status: ApplicationStatus::Rejected,
            method: None,
            reasons: &[reason.to_string()],
            site: None,
            now,
        },
    )
    .await?;
    ca::audit::append(
        &mut tx,
        &actor.email,
        "application.reject",
        &app.id,
        &json!({ "reason": reason }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// `chengxin_verifications_total{method, verdict}`: one per domain-control check of a
/// domain (by the method that decided it: `dns-txt`, `http-file`, …) and one per ICP
/// check of an application (`icp`), by verdict.
fn count_verification(method: &str, verdict: Verdict) {
    metrics::counter!("chengxin_verifications_total", "method" => method.to_string(), "verdict" => verdict.as_str())
        .increment(1);
}
