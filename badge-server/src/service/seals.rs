//! What the seal endpoint keeps between requests: each site's facts for a second (so a
//! revocation shows within [`FRESHNESS`] on every replica), the copied-seal sightings
//! waiting to be written, and the permits of seal drawing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use ca::db::Database;
use ca::identity::Domain;

use crate::error::AppError;
use crate::service::Services;
use crate::store::seal_copies::{self, Sightings};

/// How long site facts are reused before the database is asked again.
pub const FRESHNESS: Duration = Duration::from_secs(1);

/// Site facts held at once. Facts live for [`FRESHNESS`], so this only needs to
/// cover the distinct sites asked for within one second; it bounds memory when a
/// load is spread over every site.
const MAX_FACTS: usize = 20_000;

/// Copied-seal hosts kept on record per site. Anyone can send a seal request with
/// a made-up `Referer`; without a cap each one would be a new row for ever. A
/// thousand hosts are more than staff read, and a host already on record keeps
/// being counted. At the cap a new host takes the place of the weakest candidate
/// (seen in one hour only, fewest sightings, oldest), never of a confirmed host.
pub const MAX_COPIES_PER_SITE: i64 = 1_000;

/// Distinct hours a host must be seen in before staff see it (a burst of forged
/// Referers, however large, is one hour).
pub const CONFIRM_HOURS: i64 = 2;

/// Distinct (site, host) copies held in memory between flushes; beyond this new
/// hosts are dropped (and logged) rather than letting forged `Referer`s grow memory.
const MAX_PENDING_COPIES: usize = 10_000;

/// What a seal needs to know about a site.
#[derive(Debug)]
pub struct SiteFacts {
    /// The site's status, its certificate's.
    pub status: crate::domain::site::SiteStatus,
    /// The domains its certificate covers.
    pub domains: Vec<Domain>,
    /// The first domain as the seal shows it.
    pub shown: Arc<str>,
}

/// Facts (or their absence: an unknown site) and when they were read.
type Fresh = (Instant, Option<Arc<SiteFacts>>);

/// Site facts by site id, each with the time it was read, and the copies seen
/// since the last flush.
#[derive(Debug)]
pub struct SealCache {
    facts: Mutex<HashMap<String, Fresh>>,
    copies: Mutex<HashMap<(String, String), Sightings>>,
    /// Certified seals fetched without a `Referer` since the last flush, by site.
    no_referer: Mutex<HashMap<String, i64>>,
    /// Seals being drawn at once: two per core (one draws while the other waits on
    /// its blocking thread to be scheduled).
    renders: tokio::sync::Semaphore,
}

impl Default for SealCache {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        SealCache {
            facts: Mutex::default(),
            copies: Mutex::default(),
            no_referer: Mutex::default(),
            renders: tokio::sync::Semaphore::new(2 * cores),
        }
    }
}

impl SealCache {
    /// What the seal of `site` shows (`None`: no such site), from the cache when read
    /// within [`FRESHNESS`].
    pub async fn facts(
        &self,
        state: &Services,
        site: &str,
    ) -> Result<Option<Arc<SiteFacts>>, AppError> {
        if let Some(f) = self.get(site) {
            return Ok(f);
        }
        let facts = match crate::service::sites::site_certificate(&state.db, site).await {
            Ok(sc) => {
                let domains: Vec<Domain> = sc
                    .certificate
                    .map(|c| serde_json::from_str::<Vec<String>>(&c.domains).unwrap_or_default())
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|d| Domain::parse(d).ok())
                    .collect();
                let shown = domains
                    .first()
                    .map(|d| state.seals.display_domain(d))
                    .unwrap_or_default();
                Some(Arc::new(SiteFacts {
                    status: sc.status,
                    domains,
                    shown: shown.into(),
                }))
            }
            Err(AppError::NotFound) => None,
            Err(e) => return Err(e),
        };
        self.put(site, facts.clone());
        Ok(facts)
    }

    /// The permits of seal drawing: two per core.
    pub fn renders(&self) -> &tokio::sync::Semaphore {
        &self.renders
    }

    fn get(&self, site: &str) -> Option<Option<Arc<SiteFacts>>> {
        let map = self.facts.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(site)
            .filter(|(at, _)| at.elapsed() < FRESHNESS)
            .map(|(_, f)| f.clone())
    }

    fn put(&self, site: &str, facts: Option<Arc<SiteFacts>>) {
        let mut map = self.facts.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= MAX_FACTS {
            // Entries older than FRESHNESS are never used again; only a load of more
            // than MAX_FACTS distinct sites a second starts over.
            map.retain(|_, (at, _)| at.elapsed() < FRESHNESS);
            if map.len() >= MAX_FACTS {
                map.clear();
            }
        }
        map.insert(site.to_string(), (Instant::now(), facts));
    }

    /// Notes that `host`, not one of the site's domains, showed its seal.
    pub fn saw_copy(&self, site: &str, host: &str) {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let mut map = self.copies.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (site.to_string(), host.chars().take(253).collect::<String>());
        if let Some(seen) = map.get_mut(&key) {
            seen.last = now;
            seen.hits += 1;
        } else if map.len() < MAX_PENDING_COPIES {
            map.insert(
                key,
                Sightings {
                    first: now,
                    last: now,
                    hits: 1,
                },
            );
        } else {
            tracing::warn!(%site, %host, "too many copied-seal hosts pending; dropped one");
        }
    }

    /// Writes the copies seen since the last call to `seal_copies`; how many were
    /// recorded. A host on record is counted (and one more hour of sightings noted
    /// when the clock hour changed); a new one is inserted while the site has fewer
    /// than [`MAX_COPIES_PER_SITE`], else in place of the weakest unconfirmed host
    /// with no more sightings than it, else not at all.
    pub async fn flush_copies(&self, db: &Database) -> Result<usize, AppError> {
        let pending =
            std::mem::take(&mut *self.copies.lock().unwrap_or_else(PoisonError::into_inner));
        let mut recorded = 0;
        for ((site, host), seen) in pending {
            if seal_copies::count(db, &site, &host, seen).await? == 1 {
                recorded += 1;
                continue;
            }
            let mut inserted =
                seal_copies::insert_below_cap(db, &site, &host, seen, MAX_COPIES_PER_SITE).await?;
            if inserted == 0
                && seal_copies::evict_weakest(db, &site, CONFIRM_HOURS, seen.hits).await? == 1
            {
                inserted =
                    seal_copies::insert_below_cap(db, &site, &host, seen, MAX_COPIES_PER_SITE)
                        .await?;
            }
            if inserted == 0 {
                tracing::warn!(%site, %host, "site has {MAX_COPIES_PER_SITE} stronger copied-seal hosts on record; not recording another");
            } else {
                recorded += 1;
            }
        }
        Ok(recorded)
    }

    /// Notes that a certified site's seal was fetched without a `Referer`.
    pub fn saw_without_referer(&self, site: &str) {
        let mut map = self
            .no_referer
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = map.get_mut(site) {
            *n += 1;
        } else if map.len() < MAX_PENDING_COPIES {
            map.insert(site.to_string(), 1);
        }
    }

    /// Adds the fetches without a `Referer` seen since the last call to the day of
    /// `now`; how many sites were written.
    pub async fn flush_no_referer(&self, db: &Database, now: i64) -> Result<usize, AppError> {
        let pending = std::mem::take(
            &mut *self
                .no_referer
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        let day = now.div_euclid(86_400);
        for (site, hits) in &pending {
            crate::store::seal_fetches::add_no_referer(db, site, day, *hits).await?;
        }
        Ok(pending.len())
    }

    /// Flushes copies and fetches without a `Referer` every `every` until the
    /// process ends.
    pub async fn run_flusher(self: Arc<Self>, db: Database, every: Duration) {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            if let Err(e) = self.flush_copies(&db).await {
                tracing::warn!(error = %e, "could not record copied seals");
            }
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            if let Err(e) = self.flush_no_referer(&db, now).await {
                tracing::warn!(error = %e, "could not record seals fetched without a Referer");
            }
        }
    }
}

/// How often the seal of `site` was fetched without a `Referer` in the seven days up
/// to `now` (the operator portal asks for a new snippet past a threshold).
pub async fn no_referer_week(state: &Services, site: &str, now: i64) -> Result<i64, AppError> {
    crate::store::seal_fetches::no_referer_since(&state.db, site, now.div_euclid(86_400) - 6).await
}
