//! `serve --demo`: certifies the demonstration sites ([`crate::demo::SITES`]) through
//! the same use cases an operator and staff go through (apply, publish the DNS TXT
//! challenge, verify domain control and the ICP filing, staff approval, issuance),
//! and keeps demo data and real data apart.

use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use crate::demo::dns::DemoDns;
use crate::demo::{DemoSite, OPERATOR_EMAIL, SITES, STAFF_EMAIL};
use crate::domain::account::{Email, Role};
use crate::domain::application::ApplicationStatus;
use crate::error::AppError;
use crate::service::Services;
use crate::service::applications::{self, Verified};

/// Random bytes in a generated staff password (16 base64url characters).
const PASSWORD_BYTES: usize = 12;
/// Passwords drawn before giving up (one in a billion fails the strength check).
const PASSWORD_TRIES: usize = 8;

/// Refuses to mix demonstration and real data: `--demo` on a database that holds a
/// real site, or a plain `serve` on one that holds demo sites. Reads only.
pub async fn check_database(db: &ca::db::Database, demo: bool) -> Result<(), AppError> {
    let (real, demo_sites) = crate::store::sites::census(db).await?;
    if demo && real > 0 {
        return Err(AppError::Conflict(format!(
            "--demo refused: this database holds {real} real site(s), and demonstration data \
             must never mix with them. Run the demo on a fresh database \
             (CHENGXIN_DATABASE_URL=sqlite://./demo/chengxin.db CHENGXIN_CA_DIR=./demo/ca)."
        )));
    }
    if !demo && demo_sites > 0 {
        return Err(AppError::Conflict(format!(
            "this database holds {demo_sites} demonstration site(s) from `serve --demo`: \
             run it with --demo again, or start real service on a fresh database \
             (CHENGXIN_DATABASE_URL, CHENGXIN_CA_DIR)."
        )));
    }
    Ok(())
}

/// A demo site as certified: its spec and its site id.
#[derive(Debug, Clone)]
pub struct Certified {
    /// What was applied for.
    pub spec: DemoSite,
    /// The site's id.
    pub site: String,
}

/// Certifies every demo site that is not certified yet, publishing each challenge
/// in `dns`; a site certified by an earlier run gets its challenge published again
/// (re-verification asks for it).
pub async fn certify(s: &Services, dns: &DemoDns, now: i64) -> Result<Vec<Certified>, AppError> {
    let operator =
        crate::store::accounts::upsert_role(&s.db, &Email::parse(OPERATOR_EMAIL)?, Role::Operator)
            .await?;
    let staff =
        crate::store::accounts::upsert_role(&s.db, &Email::parse(STAFF_EMAIL)?, Role::Staff)
            .await?;
    let earlier = applications::list_for(&s.db, operator.id).await?;
    let mut out = Vec::new();
    for spec in SITES {
        let challenge = format!("{}.{}", verifier::challenge::DNS_LABEL, spec.domain);
        if let Some(site) = crate::service::sites::for_domain(&s.db, spec.domain).await? {
            if let Some(app) = earlier
                .iter()
                .find(|a| a.site_id.as_deref() == Some(site.as_str()))
            {
                dns.publish_txt(&challenge, &app.token).await.map_err(io)?;
            }
            out.push(Certified { spec, site });
            continue;
        }
        let identity = ca::profile::SiteIdentity::parse(
            spec.organization,
            spec.uscc,
            spec.icp,
            spec.province,
            spec.city,
            &[spec.domain],
        )?;
        let filings =
            crate::domain::application::claims(&identity, &[]).map_err(AppError::Invalid)?;
        let created =
            applications::create(&s.db, &operator, &identity, &filings, None, now).await?;
        let app = created.application;
        dns.publish_txt(&challenge, &app.token).await.map_err(io)?;
        let checked =
            match applications::verify(s, &app, &operator, Some(verifier::Method::DnsTxt), now)
                .await?
            {
                Verified::Checked(v) => v,
                Verified::Issued(site) => {
                    out.push(Certified {
                        spec,
                        site: site.id,
                    });
                    continue;
                }
            };
        if checked.status != ApplicationStatus::Validated {
            return Err(AppError::Conflict(format!(
                "the demo application for {} was not validated ({}): {}",
                spec.domain,
                checked.status,
                checked.reasons.join("; ")
            )));
        }
        let fresh = applications::get(&s.db, &app.id)
            .await?
            .ok_or(AppError::NotFound)?;
        let issued = applications::approve(s, &fresh, &staff, now).await?;
        out.push(Certified {
            spec,
            site: issued.id,
        });
    }
    Ok(out)
}

/// Gives the demo staff account a newly generated password (each run its own) and
/// a confirmed address; returns the password, to be printed once.
pub async fn staff_password(s: &Services, now: i64) -> Result<Zeroizing<String>, AppError> {
    let email = Email::parse(STAFF_EMAIL)?;
    let account = crate::store::accounts::upsert_role(&s.db, &email, Role::Staff).await?;
    let rng = SystemRandom::new();
    let mut password = None;
    for _ in 0..PASSWORD_TRIES {
        let mut raw = Zeroizing::new([0u8; PASSWORD_BYTES]);
        rng.fill(raw.as_mut())
            .map_err(|_| ca::Error::Config("no system randomness".into()))?;
        let candidate = Zeroizing::new(base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            raw.as_ref(),
        ));
        if crate::domain::password::check_new(&candidate, email.as_str()).is_ok() {
            password = Some(candidate);
            break;
        }
    }
    let password =
        password.ok_or_else(|| ca::Error::Config("could not draw a staff password".into()))?;
    let hash = crate::domain::password::hash_blocking(password.to_string()).await?;
    let mut tx = s.db.begin().await?;
    crate::store::accounts::set_password(&mut tx, account.id, &hash).await?;
    crate::store::accounts::confirm_email(&mut tx, account.id, now).await?;
    tx.commit().await?;
    Ok(password)
}

fn io(e: std::io::Error) -> AppError {
    AppError::Internal(ca::Error::Config(format!("demo DNS: {e}")))
}
