//! The tables of certified sites (`organizations`, `sites`, `site_domains`) and the
//! registry search over them: every statement once for both backends (the search
//! is the one place the backends differ), rows converted into
//! [`crate::domain::site`] types here.

use ca::db::{Database, Tx};
use ca::identity::Domain;
use ca::profile::SiteIdentity;
use ca::{on_pool, on_tx};
use verifier::icp::Filings;

use crate::domain::site::{CertificateState, PAGE_SIZE, SiteRecord, SiteStatus};
use crate::error::AppError;

/// Creates or updates the organization of `identity` (by USCC): its row id.
pub async fn upsert_organization(
    tx: &mut Tx,
    identity: &SiteIdentity,
    now: i64,
) -> Result<i64, AppError> {
    let (id,): (i64,) = on_tx!(tx, |c| {
        sqlx::query_as(
        "INSERT INTO organizations (name, uscc, province, city, created_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (uscc) DO UPDATE SET name = excluded.name, province = excluded.province, city = excluded.city \
         RETURNING id"
    )
    .bind(&identity.organization)
    .bind(identity.uscc.as_str())
    .bind(&identity.province)
    .bind(&identity.city)
    .bind(now)
    .fetch_one(c)
    .await
    ?
    });
    Ok(id)
}

/// A new certified site.
pub struct NewSite<'a> {
    /// Public id (`s_…`).
    pub id: &'a str,
    /// Its organization's row.
    pub organization_id: i64,
    /// The primary domain's filing number.
    pub icp: &'a str,
    /// The filing number of each registrable domain.
    pub filings: &'a Filings,
    /// Its certificate's row.
    pub certificate_id: i64,
    /// Its operator.
    pub account_id: i64,
    /// Unix seconds.
    pub now: i64,
    /// Issued by `serve --demo`: demonstration data, marked on every page.
    pub demo: bool,
}

/// Stores a `certified` site with its domains (in order) and the text the registry
/// searches; 409 when a domain is already another site's.
pub async fn insert(
    tx: &mut Tx,
    new: &NewSite<'_>,
    domains: &[Domain],
    search_text: &str,
) -> Result<(), AppError> {
    let filings = serde_json::to_string(new.filings).unwrap_or_else(|_| "{}".into());
    on_tx!(tx, |c| {
        sqlx::query(
        "INSERT INTO sites (id, organization_id, status, icp, filings, certificate_id, created_at, updated_at, \
         account_id, demo) VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9)"
    )
    .bind(new.id)
    .bind(new.organization_id)
    .bind(SiteStatus::Certified.as_str())
    .bind(new.icp)
    .bind(&filings)
    .bind(new.certificate_id)
    .bind(new.now)
    .bind(new.account_id)
    .bind(new.demo)
    .execute(c)
    .await
    .map(|_| ())
    ?
    });
    for (i, d) in domains.iter().enumerate() {
        let r = on_tx!(tx, |c| sqlx::query(
            "INSERT INTO site_domains (site_id, domain, position) VALUES ($1, $2, $3)"
        )
        .bind(new.id)
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
    on_tx!(tx, |c| sqlx::query(
        "UPDATE sites SET search_text = $1 WHERE id = $2"
    )
    .bind(search_text)
    .bind(new.id)
    .execute(c)
    .await
    .map(|_| ())?);
    Ok(())
}

/// The `LIKE … ESCAPE '\\'` pattern that finds `q` (trimmed, lowercased) anywhere in
/// a site's search text, and whether it is too short for the trigram index (under
/// three characters; two Chinese characters are a common query), so that the caller
/// scans the sites table instead.
pub(crate) fn contains_pattern(q: &str) -> (String, bool) {
    let needle = q.trim().to_lowercase();
    // LIKE wildcards in the query are literal characters.
    let escaped: String = needle
        .chars()
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    (format!("%{escaped}%"), needle.chars().count() < 3)
}

/// Registry search: sites whose search text contains `q` (case-insensitive), newest
/// first, one page of [`PAGE_SIZE`]. Returns site ids.
pub async fn search(db: &Database, q: &str, page: i64) -> Result<Vec<String>, AppError> {
    let (pattern, short) = contains_pattern(q);
    let offset = (page.max(1) - 1) * PAGE_SIZE;
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

/// A `sites` row, as much of it as the site's status needs.
#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    status: String,
    certificate_id: Option<i64>,
    demo: bool,
}

/// A site's domains, primary first, inside a transaction.
pub async fn domains_in(tx: &mut Tx, site: &str) -> Result<Vec<String>, AppError> {
    let rows: Vec<(String,)> = on_tx!(tx, |c| sqlx::query_as(
        "SELECT domain FROM site_domains WHERE site_id = $1 ORDER BY position"
    )
    .bind(site)
    .fetch_all(c)
    .await?);
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// One site, or 404.
pub async fn get(db: &Database, site: &str) -> Result<SiteRecord, AppError> {
    let row: Row = on_pool!(db, |p| sqlx::query_as(
        "SELECT id, status, certificate_id, demo FROM sites WHERE id = $1"
    )
    .bind(site)
    .fetch_optional(p)
    .await?)
    .ok_or(AppError::NotFound)?;
    Ok(SiteRecord {
        status: row.status.parse()?,
        id: row.id,
        certificate_id: row.certificate_id,
        demo: row.demo,
    })
}

/// How many sites are real and how many are demonstration data (`serve --demo`).
pub async fn census(db: &Database) -> Result<(i64, i64), AppError> {
    let (real, demo): (i64, i64) = on_pool!(db, |p| sqlx::query_as(
        "SELECT COALESCE(SUM(CASE WHEN demo THEN 0 ELSE 1 END), 0), \
         COALESCE(SUM(CASE WHEN demo THEN 1 ELSE 0 END), 0) FROM sites"
    )
    .fetch_one(p)
    .await?);
    Ok((real, demo))
}

/// What a site's seal shows, read in one statement without the certificate's DER:
/// the row's status, and its certificate's domains (primary first) and state.
#[derive(Debug)]
pub struct SealRow {
    /// The row's own status.
    pub status: SiteStatus,
    /// The certified domains and the certificate's state, once issued.
    pub certificate: Option<(Vec<String>, CertificateState)>,
}

/// A seal row as selected: status, domains, not_after, revoked_at, reason.
type SealRaw = (
    String,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

/// The columns of a [`SealRaw`], and the joins they come from.
const SEAL_COLUMNS: &str = "s.status, c.domains, c.not_after, r.revoked_at, r.reason";
const SEAL_FROM: &str = "FROM sites s LEFT JOIN certificates c ON c.id = s.certificate_id \
     LEFT JOIN revocations r ON r.certificate_id = c.id";

fn seal_row_from(raw: SealRaw) -> Result<SealRow, AppError> {
    let (status, domains, not_after, revoked_at, reason) = raw;
    let certificate = match (domains, not_after) {
        (Some(domains), Some(not_after)) => Some((
            serde_json::from_str(&domains).unwrap_or_default(),
            CertificateState {
                revocation: revoked_at
                    .zip(reason)
                    .map(|(at, code)| ca::revocation::Revocation { at, code }),
                not_after,
            },
        )),
        _ => None,
    };
    Ok(SealRow {
        status: status.parse()?,
        certificate,
    })
}

/// The seal's facts of `site`, `None` for an unknown site.
pub async fn seal_row(db: &Database, site: &str) -> Result<Option<SealRow>, AppError> {
    let sql = format!("SELECT {SEAL_COLUMNS} {SEAL_FROM} WHERE s.id = $1");
    let row: Option<SealRaw> = on_pool!(db, |p| sqlx::query_as(&sql)
        .bind(site)
        .fetch_optional(p)
        .await?);
    row.map(seal_row_from).transpose()
}

/// The seal facts of up to `limit` sites whose ids sort after `after`, in id order:
/// a replica reads every site's facts in pages of these, rather than one read per
/// site on its first seal request.
pub async fn seal_rows_after(
    db: &Database,
    after: &str,
    limit: i64,
) -> Result<Vec<(String, SealRow)>, AppError> {
    let sql =
        format!("SELECT s.id, {SEAL_COLUMNS} {SEAL_FROM} WHERE s.id > $1 ORDER BY s.id LIMIT $2");
    type Row = (
        String,
        String,
        Option<String>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
    );
    let rows: Vec<Row> = on_pool!(db, |p| sqlx::query_as(&sql)
        .bind(after)
        .bind(limit)
        .fetch_all(p)
        .await?);
    rows.into_iter()
        .map(|(id, status, domains, not_after, revoked_at, reason)| {
            Ok((
                id,
                seal_row_from((status, domains, not_after, revoked_at, reason))?,
            ))
        })
        .collect()
}

/// The operator of a site (none for sites from before accounts); 404 for an unknown
/// site.
pub async fn owner(db: &Database, site: &str) -> Result<Option<i64>, AppError> {
    let row: Option<(Option<i64>,)> = on_pool!(db, |p| sqlx::query_as(
        "SELECT account_id FROM sites WHERE id = $1"
    )
    .bind(site)
    .fetch_optional(p)
    .await?);
    row.map(|r| r.0).ok_or(AppError::NotFound)
}

/// The ids of the sites an account operates, newest first; at most 200.
pub async fn ids_of(db: &Database, account_id: i64) -> Result<Vec<String>, AppError> {
    let rows: Vec<(String,)> = on_pool!(db, |p| sqlx::query_as(
        "SELECT id FROM sites WHERE account_id = $1 ORDER BY created_at DESC, id LIMIT 200"
    )
    .bind(account_id)
    .fetch_all(p)
    .await?);
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// The site that certifies exactly `domain`, if any.
pub async fn for_domain(db: &Database, domain: &str) -> Result<Option<String>, AppError> {
    let site: Option<(String,)> = on_pool!(db, |p| sqlx::query_as(
        "SELECT site_id FROM site_domains WHERE domain = $1"
    )
    .bind(domain)
    .fetch_optional(p)
    .await?);
    Ok(site.map(|s| s.0))
}

/// A site whose certificate is the one with a given serial, and whom to tell.
pub struct Holder {
    /// Site id.
    pub site: String,
    /// Its operator's address.
    pub email: String,
    /// Its primary domain.
    pub domain: Option<String>,
}

/// The sites holding the certificate with `serial` from the issuer of certificate
/// row `sibling`, as the transaction sees them.
pub async fn holders(tx: &mut Tx, serial: &[u8], sibling: i64) -> Result<Vec<Holder>, AppError> {
    let rows: Vec<(String, String, Option<String>)> = on_tx!(tx, |c| sqlx::query_as(
        "SELECT s.id, a.email, (SELECT d.domain FROM site_domains d WHERE d.site_id = s.id \
         ORDER BY d.position LIMIT 1) FROM certificates c \
         JOIN sites s ON s.certificate_id = c.id JOIN accounts a ON a.id = s.account_id \
         WHERE c.serial = $1 AND c.issuer_id = \
         (SELECT issuer_id FROM certificates WHERE id = $2)"
    )
    .bind(serial)
    .bind(sibling)
    .fetch_all(c)
    .await
    .map_err(ca::Error::from)?);
    Ok(rows
        .into_iter()
        .map(|(site, email, domain)| Holder {
            site,
            email,
            domain,
        })
        .collect())
}
