//! Applications and sites: the tables badge-server owns, and the state changes
//! between them (verification, approval, rejection). SQL for them lives here.

use base64::Engine;
use ca::db::{Database, Tx};
use ca::identity::IcpNumber;
use ca::profile::{GeneratedKey, SiteIdentity, SubjectPublicKey};
use ca::{KeySource, on_pool, on_tx};
use futures_util::StreamExt;
use ring::rand::{SecureRandom, SystemRandom};
use serde::Serialize;
use serde_json::json;
use verifier::icp::{Filings, filing_key};
use verifier::recheck::{Enrollment, enroll};
use verifier::{Method, Token, Verdict};
use zeroize::Zeroizing;

use crate::domain::account::Account;
use crate::error::AppError;
use crate::service::Services;

/// An application row.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Application {
    /// Public id (`app_…`).
    pub id: String,
    /// Owner.
    #[serde(skip)]
    pub account_id: i64,
    /// `pending`, `validated`, `review`, `failed`, `certified` or `rejected`.
    pub status: String,
    /// Organization.
    pub organization: String,
    /// USCC.
    pub uscc: String,
    /// ICP number.
    pub icp: String,
    /// Province.
    pub province: String,
    /// City.
    pub city: String,
    /// JSON array of domains.
    #[serde(skip)]
    pub domains: String,
    /// The request for the operator's key: theirs, or made with the key generated
    /// for them at application time.
    #[serde(skip)]
    pub csr_pem: Option<String>,
    /// JSON object: the filing number the applicant claimed for each registrable
    /// domain; NULL on rows from before, read as `icp` for the primary.
    #[serde(skip)]
    pub filings: Option<String>,
    /// JSON object: the filing numbers MIIT gave at the last verification.
    #[serde(skip)]
    pub verified_filings: Option<String>,
    /// Challenge token.
    pub token: String,
    /// The method that proved control.
    pub method: Option<String>,
    /// JSON array of the last verification's reasons.
    #[serde(skip)]
    pub reasons: String,
    /// The site, once certified.
    pub site_id: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

impl Application {
    /// Its domains.
    pub fn domain_list(&self) -> Vec<String> {
        serde_json::from_str(&self.domains).unwrap_or_default()
    }

    /// The identity it asks to certify (already validated when it was stored).
    pub fn identity(&self) -> Result<SiteIdentity, AppError> {
        Ok(SiteIdentity::parse(
            &self.organization,
            &self.uscc,
            &self.icp,
            &self.province,
            &self.city,
            &self.domain_list(),
        )?)
    }

    /// The filing number the applicant claimed for each registrable domain: what
    /// every verification checks against MIIT (a claim never becomes MIIT's number,
    /// so a mismatch cannot pass by verifying twice).
    pub fn claims(&self) -> Result<Filings, AppError> {
        if let Some(json) = &self.filings {
            return parse_filings(&self.id, json);
        }
        let identity = self.identity()?;
        Ok(Filings::from([(
            filing_key(identity.primary()),
            identity.icp,
        )]))
    }

    /// The filing numbers a certificate would name: MIIT's from the last
    /// verification where it found one, else the claim (no filing source: staff
    /// checked it).
    pub fn filings(&self) -> Result<Filings, AppError> {
        let mut out = self.claims()?;
        if let Some(json) = &self.verified_filings {
            out.extend(parse_filings(&self.id, json)?);
        }
        Ok(out)
    }

    /// Whether `account` may see and act on it: its owner, or staff.
    pub fn visible_to(&self, account: &Account) -> bool {
        account.role.is_staff() || account.id == self.account_id
    }
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A short random public id with a prefix.
pub fn new_id(prefix: &str) -> Result<String, AppError> {
    let mut raw = [0u8; 9];
    SystemRandom::new()
        .fill(&mut raw)
        .map_err(|_| AppError::Internal(ca::Error::Config("no system randomness".into())))?;
    Ok(format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    ))
}

const COLUMNS: &str = "id, account_id, status, organization, uscc, icp, province, city, domains, csr_pem, \
    filings, verified_filings, token, method, reasons, site_id, created_at, updated_at";

fn parse_filings(id: &str, json: &str) -> Result<Filings, AppError> {
    serde_json::from_str(json)
        .map_err(|e| AppError::Internal(ca::Error::Config(format!("stored filings of {id}: {e}"))))
}

/// A stored application, and the private key generated for it when the operator
/// sent no CSR: shown to the operator this once, never stored, never shown to staff.
pub struct Created {
    /// The application.
    pub application: Application,
    /// The generated private key (PKCS#8 PEM), when no CSR was given.
    pub private_key_pem: Option<Zeroizing<String>>,
}

/// The filing claims of an application: the primary domain's `icp`, and the numbers
/// given for other registrable domains (`extra`, by domain or registrable domain).
/// Refuses a claim for a domain the application does not name, or one that
/// contradicts `icp`.
pub fn claims(
    identity: &SiteIdentity,
    extra: &[(String, String)],
) -> Result<Filings, Vec<(String, String)>> {
    let mut filings = Filings::from([(filing_key(identity.primary()), identity.icp.clone())]);
    let keys: Vec<String> = identity.domains.iter().map(filing_key).collect();
    let mut errors = Vec::new();
    for (domain, number) in extra {
        let field = format!("filings.{domain}");
        let key = match ca::identity::Domain::parse(domain) {
            Ok(d) => filing_key(&d),
            Err(e) => {
                errors.push((field, e.to_string()));
                continue;
            }
        };
        if !keys.contains(&key) {
            errors.push((field, format!("{key} is not among the domains applied for")));
            continue;
        }
        match IcpNumber::parse_website(number) {
            Ok(n) => {
                if filings.get(&key).is_some_and(|old| *old != n) {
                    errors.push((
                        field,
                        format!("{key} already has the filing number {}", filings[&key]),
                    ));
                } else {
                    filings.insert(key, n);
                }
            }
            Err(e) => errors.push((field, e.to_string())),
        }
    }
    if errors.is_empty() {
        Ok(filings)
    } else {
        Err(errors)
    }
}

/// Stores a new application with its filing claims. Without a CSR a P-256 key is
/// generated here: its request is stored, its private half returned once.
pub async fn insert(
    db: &Database,
    account: &Account,
    identity: &SiteIdentity,
    filings: &Filings,
    csr_pem: Option<&str>,
) -> Result<Created, AppError> {
    let id = new_id("app_")?;
    let token = Token::generate()?;
    let domains = serde_json::to_string(&identity.domains).unwrap_or_else(|_| "[]".into());
    let filings_json = serde_json::to_string(filings).unwrap_or_else(|_| "{}".into());
    let (csr_pem, private_key_pem) = match csr_pem {
        Some(pem) => (pem.to_string(), None),
        None => {
            let key = GeneratedKey::generate(identity.primary())?;
            (key.csr_pem, Some(key.private_key_pem))
        }
    };
    let t = now();
    let mut tx = db.begin().await?;
    on_tx!(&mut tx, |c| {
        sqlx::query(
        "INSERT INTO applications (id, account_id, status, organization, uscc, icp, province, city, domains, csr_pem, \
         filings, token, created_at, updated_at) VALUES ($1, $2, 'pending', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)"
    )
    .bind(&id)
    .bind(account.id)
    .bind(&identity.organization)
    .bind(identity.uscc.as_str())
    .bind(identity.icp.as_str())
    .bind(&identity.province)
    .bind(&identity.city)
    .bind(&domains)
    .bind(&csr_pem)
    .bind(&filings_json)
    .bind(token.as_str())
    .bind(t)
    .execute(c)
    .await
    .map(|_| ())
    ?
    });
    ca::audit::append(
        &mut tx,
        &account.email,
        "application.create",
        &id,
        &json!({
            "domains": identity.domains,
            "filings": filings,
            "key": if private_key_pem.is_some() { "generated" } else { "csr" },
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(Created {
        application: get(db, &id).await?.ok_or(AppError::NotFound)?,
        private_key_pem,
    })
}

/// One application.
pub async fn get(db: &Database, id: &str) -> Result<Option<Application>, AppError> {
    let sql = format!("SELECT {COLUMNS} FROM applications WHERE id = $1");
    Ok(on_pool!(db, |p| sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(p)
        .await?))
}

async fn set_status(
    tx: &mut Tx,
    id: &str,
    status: &str,
    method: Option<&str>,
    reasons: &[String],
    site: Option<&str>,
) -> Result<(), AppError> {
    let reasons = serde_json::to_string(reasons).unwrap_or_else(|_| "[]".into());
    on_tx!(tx, |c| sqlx::query(
        "UPDATE applications SET status = $1, method = COALESCE($2, method), reasons = $3, \
         site_id = COALESCE($4, site_id), updated_at = $5 WHERE id = $6"
    )
    .bind(status)
    .bind(method)
    .bind(reasons)
    .bind(site)
    .bind(now())
    .bind(id)
    .execute(c)
    .await
    .map(|_| ())?);
    Ok(())
}

/// Domains of one application whose control is checked at the same time.
const DOMAINS_AT_ONCE: usize = 8;

/// Runs domain control for every domain and the ICP check, stores the evidence, and
/// moves the application to `validated`, `review`, `failed` or (on a transient error)
/// keeps it `pending`. With auto-approval a validated application is issued at once.
pub async fn verify(
    state: &Services,
    app: &Application,
    actor: &Account,
    method: Option<Method>,
) -> Result<serde_json::Value, AppError> {
    if !matches!(
        app.status.as_str(),
        "pending" | "failed" | "review" | "validated"
    ) {
        return Err(AppError::Conflict(format!(
            "application is {}; nothing to verify",
            app.status
        )));
    }
    let identity = app.identity()?;
    let token = Token::parse(&app.token)?;
    let methods: Vec<Method> = method.map_or_else(|| Method::ALL.to_vec(), |m| vec![m]);
    charge_domain_checks(state, actor, identity.domains.len())?;
    let mut control = Verdict::Pass;
    let mut reasons = Vec::new();
    let mut evidence = Vec::new();
    let mut proven_by = None;
    // Domains are checked side by side (a few at a time, results kept in order): a
    // method that times out costs seconds, and the request has 30.
    let checks: Vec<_> = identity
        .domains
        .iter()
        .map(|d| state.challenger.check_any(&methods, d, &token))
        .collect();
    let outcomes = identity.domains.iter().zip(
        futures_util::stream::iter(checks)
            .buffered(DOMAINS_AT_ONCE)
            .collect::<Vec<_>>()
            .await,
    );
    for (d, out) in outcomes {
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
    let filing = match &state.icp {
        Some(provider) => {
            let out = verifier::icp::check_domains(
                provider.as_ref(),
                &identity.organization,
                Some(&identity.uscc),
                &filings,
                &identity.domains,
            )
            .await;
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
    let unfiled: Vec<String> = identity
        .domains
        .iter()
        .map(filing_key)
        .filter(|k| !filings.contains_key(k))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let filing = if unfiled.is_empty() {
        filing
    } else {
        reasons.push(format!(
            "ICP: no filing number is known for {}; give it with the application",
            unfiled.join(", ")
        ));
        filing.and(Verdict::Review)
    };
    let (verdict, status) = application_status(control, filing);
    let mut tx = state.db.begin().await?;
    verifier::store::record_in(
        &mut tx,
        &verifier::store::Subject {
            application_id: Some(app.id.clone()),
            site_id: None,
        },
        &evidence,
    )
    .await?;
    set_status(
        &mut tx,
        &app.id,
        status,
        proven_by.as_deref(),
        &reasons,
        None,
    )
    .await?;
    let verified_json = serde_json::to_string(&verified).unwrap_or_else(|_| "{}".into());
    on_tx!(&mut tx, |c| sqlx::query(
        "UPDATE applications SET verified_filings = $1 WHERE id = $2"
    )
    .bind(&verified_json)
    .bind(&app.id)
    .execute(c)
    .await
    .map(|_| ())?);
    ca::audit::append(
        &mut tx,
        &actor.email,
        "application.verify",
        &app.id,
        &json!({ "verdict": verdict, "reasons": reasons }),
    )
    .await?;
    tx.commit().await?;
    if verdict == Verdict::Pass && state.auto_approve {
        let fresh = get(&state.db, &app.id).await?.ok_or(AppError::NotFound)?;
        return approve(state, &fresh, actor).await;
    }
    Ok(
        json!({ "id": app.id, "status": status, "verdict": verdict, "reasons": reasons, "evidence": evidence }),
    )
}

/// Counts `domains` domain-control checks against `actor`'s hourly quota
/// (`CHENGXIN_DOMAIN_CHECKS_PER_HOUR`); 429 past it. One call on a 100-domain
/// application sends hundreds of DNS queries and HTTP fetches.
pub fn charge_domain_checks(
    state: &Services,
    actor: &Account,
    domains: usize,
) -> Result<(), AppError> {
    let n = u32::try_from(domains).unwrap_or(u32::MAX);
    if state.domain_checks.allow_n(actor.id, n, now()) {
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

/// An application's verdict and status from its two kinds of checks. Domain control
/// is never waived (design §4): only when every domain passed can the filing
/// question go to staff (`review`); a domain-control error keeps the application
/// `pending` (verify again), whatever the filing check said.
pub fn application_status(control: Verdict, filing: Verdict) -> (Verdict, &'static str) {
    match (control, filing) {
        (Verdict::Fail, _) | (_, Verdict::Fail) => (Verdict::Fail, "failed"),
        (Verdict::Pass, Verdict::Pass) => (Verdict::Pass, "validated"),
        (Verdict::Pass, Verdict::Review) => (Verdict::Review, "review"),
        _ => (Verdict::Error, "pending"),
    }
}

/// Issues the certificate: organization, site, domains, certificate, the
/// application's new state and the site's enrolment for re-verification commit
/// together. Refused unless every domain has a passing domain-control check of this
/// application no older than the reuse period, read inside the same transaction:
/// staff review decides identity and filing questions, never domain control.
pub async fn approve(
    state: &Services,
    app: &Application,
    actor: &Account,
) -> Result<serde_json::Value, AppError> {
    if !matches!(app.status.as_str(), "validated" | "review") {
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
    let t = now();
    let mut tx = state.db.begin().await?;
    // Write first (SQLite takes its write lock here).
    set_status(&mut tx, &app.id, "certified", None, &[], Some(&site_id)).await?;
    let since = t - state.policy.validation_reuse;
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
            state.policy.validation_reuse / 86_400
        )));
    }
    let org_id: (i64,) = on_tx!(&mut tx, |c| {
        sqlx::query_as(
        "INSERT INTO organizations (name, uscc, province, city, created_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (uscc) DO UPDATE SET name = excluded.name, province = excluded.province, city = excluded.city \
         RETURNING id"
    )
    .bind(&identity.organization)
    .bind(identity.uscc.as_str())
    .bind(&identity.province)
    .bind(&identity.city)
    .bind(t)
    .fetch_one(c)
    .await
    ?
    });
    let issued = state
        .ca
        .issue_in(&mut tx, &identity, key, &actor.email)
        .await?;
    let filings_json = serde_json::to_string(&filings).unwrap_or_else(|_| "{}".into());
    on_tx!(&mut tx, |c| {
        sqlx::query(
        "INSERT INTO sites (id, organization_id, status, icp, filings, certificate_id, created_at, updated_at, \
         account_id) VALUES ($1, $2, 'certified', $3, $4, $5, $6, $6, $7)"
    )
    .bind(&site_id)
    .bind(org_id.0)
    .bind(identity.icp.as_str())
    .bind(&filings_json)
    .bind(issued.certificate_id)
    .bind(t)
    .bind(app.account_id)
    .execute(c)
    .await
    .map(|_| ())
    ?
    });
    for (i, d) in identity.domains.iter().enumerate() {
        let r = on_tx!(&mut tx, |c| sqlx::query(
            "INSERT INTO site_domains (site_id, domain, position) VALUES ($1, $2, $3)"
        )
        .bind(&site_id)
        .bind(d.as_str())
        .bind(i as i64)
        .execute(c)
        .await
        .map(|_| ()));
        if let Err(e) = r {
            if e.as_database_error()
                .is_some_and(|d| d.is_unique_violation())
            {
                return Err(AppError::Conflict(format!(
                    "{d} is already certified for another site"
                )));
            }
            return Err(e.into());
        }
    }
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
    on_tx!(&mut tx, |c| sqlx::query(
        "UPDATE sites SET search_text = $1 WHERE id = $2"
    )
    .bind(&search_text)
    .bind(&site_id)
    .execute(c)
    .await
    .map(|_| ())?);
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
    enroll(&mut tx, &enrollment, &state.policy, t).await?;
    ca::audit::append(
        &mut tx,
        &actor.email,
        "application.approve",
        &app.id,
        &json!({ "site": site_id, "serial": issued.serial.to_hex() }),
    )
    .await?;
    tx.commit().await?;
    site_view(state, &site_id).await
}
/// Sites per registry page.
pub const PAGE_SIZE: i64 = 20;

/// Registry search: sites whose organization, USCC, ICP number or a domain contains
/// `q` (case-insensitive), newest first, one page. Returns site ids.
pub async fn search(db: &Database, q: &str, page: i64) -> Result<Vec<String>, AppError> {
    let needle = q.trim().to_lowercase();
    // LIKE wildcards in the query are literal characters.
    let escaped: String = needle
        .chars()
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    let pattern = format!("%{escaped}%");
    let offset = (page.max(1) - 1) * PAGE_SIZE;
    // The trigram index cannot answer substrings shorter than three characters (two
    // Chinese characters are a common query): those scan the sites table instead.
    let short = needle.chars().count() < 3;
    let rows: Vec<(String,)> = match db {
        Database::Sqlite(p) if !short => {
            sqlx::query_as(
                "SELECT s.id FROM site_search f JOIN sites s ON s.id = f.site_id \
             WHERE f.text LIKE $1 ESCAPE '\\' ORDER BY s.created_at DESC, s.id LIMIT $2 OFFSET $3",
            )
            .bind(&pattern)
            .bind(PAGE_SIZE)
            .bind(offset)
            .fetch_all(p)
            .await?
        }
        // PostgreSQL's trigram index serves LIKE on the column itself.
        _ => on_pool!(db, |p| sqlx::query_as(
            "SELECT id FROM sites WHERE search_text LIKE $1 ESCAPE '\\' \
             ORDER BY created_at DESC, id LIMIT $2 OFFSET $3"
        )
        .bind(&pattern)
        .bind(PAGE_SIZE)
        .bind(offset)
        .fetch_all(p)
        .await?),
    };
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// Rejects an application (staff).
pub async fn reject(
    state: &Services,
    app: &Application,
    actor: &Account,
    reason: &str,
) -> Result<(), AppError> {
    if matches!(app.status.as_str(), "certified" | "rejected") {
        return Err(AppError::Conflict(format!(
            "application is already {}",
            app.status
        )));
    }
    let mut tx = state.db.begin().await?;
    set_status(
        &mut tx,
        &app.id,
        "rejected",
        None,
        &[reason.to_string()],
        None,
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

#[derive(sqlx::FromRow)]
struct SiteRow {
    id: String,
    status: String,
    certificate_id: Option<i64>,
}

/// A site and its certificate, with the status derived from the certificate: a
/// revocation or hold made anywhere (CLI, verifier, another replica) shows at once,
/// with no site row to keep in step.
#[derive(Debug, Clone)]
pub struct SiteCertificate {
    /// Site id.
    pub id: String,
    /// `certified`, `suspended`, `revoked`, `expired` or the site row's own status.
    pub status: String,
    /// The certificate, once issued.
    pub certificate: Option<ca::store::CertificateRecord>,
}

/// Loads a site and its certificate; 404 for an unknown site.
pub async fn site_certificate(db: &Database, site: &str) -> Result<SiteCertificate, AppError> {
    let row: SiteRow = on_pool!(db, |p| sqlx::query_as(
        "SELECT id, status, certificate_id FROM sites WHERE id = $1"
    )
    .bind(site)
    .fetch_optional(p)
    .await?)
    .ok_or(AppError::NotFound)?;
    let certificate = match row.certificate_id {
        Some(id) => ca::store::certificate_by_id(db, id).await?,
        None => None,
    };
    let status = match &certificate {
        Some(c) if c.on_hold() => "suspended".to_string(),
        Some(c) if c.revocation().is_some() => "revoked".to_string(),
        Some(c) if c.not_after < now() => "expired".to_string(),
        _ => row.status,
    };
    Ok(SiteCertificate {
        id: row.id,
        status,
        certificate,
    })
}

/// Tells the operators of the other sites whose certificates a keyCompromise
/// revocation revoked with it (the same key, [`ca::crl::Revoked::also_revoked`]):
/// one mail each, queued in `tx`, the revocation's transaction, so that the mail
/// goes out if and only if the revocation commits. Those sites show as revoked
/// (keyCompromise) at once: a site's status is its certificate's.
pub async fn notify_same_key_revocations(
    state: &Services,
    tx: &mut Tx,
    revoked: &ca::crl::Revoked,
    now: i64,
) -> Result<(), AppError> {
    for serial in &revoked.also_revoked {
        let holders: Vec<(String, String, Option<String>)> = on_tx!(tx, |c| sqlx::query_as(
            "SELECT s.id, a.email, (SELECT d.domain FROM site_domains d WHERE d.site_id = s.id \
             ORDER BY d.position LIMIT 1) FROM certificates c \
             JOIN sites s ON s.certificate_id = c.id JOIN accounts a ON a.id = s.account_id \
             WHERE c.serial = $1 AND c.issuer_id = \
             (SELECT issuer_id FROM certificates WHERE id = $2)"
        )
        .bind(serial.as_bytes())
        .bind(revoked.certificate_id)
        .fetch_all(c)
        .await
        .map_err(ca::Error::from)?);
        for (site, email, domain) in holders {
            let domain = domain.unwrap_or_else(|| site.clone());
            let link = format!("{}/cert/{site}", state.public_base());
            crate::service::accounts::enqueue_mail(
                tx,
                &email,
                (
                    format!("【诚信】证书已因密钥泄露撤销 / Certificate revoked, key compromised: {domain}"),
                    format!(
                        "您好！\n\n{domain} 的诚信证书（序列号 {serial}）已撤销（keyCompromise）：\
                         它的公钥与另一张报告了私钥泄露的证书相同，该密钥已永久停用，印章与证书页即时显示已撤销。\
                         请生成新的密钥并重新申请。\n{link}\n\n---\n\n\
                         Hello,\n\nThe Chengxin certificate of {domain} (serial {serial}) has been revoked \
                         (keyCompromise): it carries the same public key as another certificate whose private \
                         key was reported compromised. That key is blocked for good, and the seal and \
                         certificate page show the revocation now. Generate a new key and apply again.\n{link}\n"
                    ),
                ),
                now,
            )
            .await?;
        }
    }
    Ok(())
}

/// The owner of a site, for authorization.
pub async fn site_owner(db: &Database, site: &str) -> Result<Option<i64>, AppError> {
    let row: Option<(Option<i64>,)> = on_pool!(db, |p| sqlx::query_as(
        "SELECT account_id FROM sites WHERE id = $1"
    )
    .bind(site)
    .fetch_optional(p)
    .await?);
    row.map(|r| r.0).ok_or(AppError::NotFound)
}

/// A site as anyone may see it: the site view without what only its operator needs
/// (the embedding snippets).
pub async fn public_view(state: &Services, site: &str) -> Result<serde_json::Value, AppError> {
    let mut v = site_view(state, site).await?;
    if let Some(o) = v.as_object_mut() {
        o.remove("snippet");
        o.remove("seal_variants");
    }
    Ok(v)
}

/// A site as the API shows it to its operator and staff.
pub async fn site_view(state: &Services, site: &str) -> Result<serde_json::Value, AppError> {
    let SiteCertificate {
        id,
        status,
        certificate,
    } = site_certificate(&state.db, site).await?;
    let Some(cert) = certificate else {
        return Ok(json!({ "site": id, "status": status }));
    };
    let domains: Vec<String> = serde_json::from_str(&cert.domains).unwrap_or_default();
    let base = state.public_base();
    let variants = crate::domain::seal::variants(
        &base,
        &id,
        domains.first().map(String::as_str).unwrap_or(""),
    );
    let seal_url = variants[0].url.clone();
    let certificate_url = format!("{base}/cert/{id}");
    Ok(json!({
        "site": id,
        "status": status,
        "domains": domains,
        "organization": cert.organization,
        "uscc": cert.uscc,
        "icp": cert.icp,
        "filings": domain_filings(&cert)
            .into_iter()
            .map(|(domain, icp)| json!({ "domain": domain, "icp": icp }))
            .collect::<Vec<_>>(),
        "serial": hex::encode(&cert.serial),
        "sha256_fingerprint": cert.sha256.as_deref().map(hex::encode),
        "not_before": cert.not_before,
        "not_after": cert.not_after,
        "revocation_reason": cert.revocation_reason.and_then(ca::RevocationReason::from_code).map(|r| r.name()),
        "seal_url": seal_url,
        "certificate_url": certificate_url,
        "snippet": variants[0].snippet,
        "seal_variants": variants,
    }))
}

/// Each certified domain with the filing number that covers it, as the certificate's
/// filings extension says; certificates issued before it carried one name `icp` for
/// every domain.
pub fn domain_filings(cert: &ca::store::CertificateRecord) -> Vec<(String, String)> {
    let from_cert = cert
        .der
        .as_deref()
        .map(ca::profile::filings_of)
        .unwrap_or_default();
    if !from_cert.is_empty() {
        return from_cert;
    }
    serde_json::from_str::<Vec<String>>(&cert.domains)
        .unwrap_or_default()
        .into_iter()
        .map(|d| (d, cert.icp.clone()))
        .collect()
}

/// The applications of one account, newest first (the operator portal).
pub async fn list_for(db: &Database, account_id: i64) -> Result<Vec<Application>, AppError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM applications WHERE account_id = $1 ORDER BY created_at DESC, id LIMIT 200"
    );
    Ok(on_pool!(db, |p| sqlx::query_as(&sql)
        .bind(account_id)
        .fetch_all(p)
        .await?))
}

/// Applications waiting for staff (`validated` or `review`), oldest first.
pub async fn awaiting_review(db: &Database) -> Result<Vec<Application>, AppError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM applications WHERE status IN ('validated', 'review') \
         ORDER BY updated_at, id LIMIT 200"
    );
    Ok(on_pool!(db, |p| sqlx::query_as(&sql).fetch_all(p).await?))
}

/// The ids of the sites an account operates, newest first.
pub async fn sites_of(db: &Database, account_id: i64) -> Result<Vec<String>, AppError> {
    let rows: Vec<(String,)> = on_pool!(db, |p| sqlx::query_as(
        "SELECT id FROM sites WHERE account_id = $1 ORDER BY created_at DESC, id LIMIT 200"
    )
    .bind(account_id)
    .fetch_all(p)
    .await?);
    Ok(rows.into_iter().map(|r| r.0).collect())
}
