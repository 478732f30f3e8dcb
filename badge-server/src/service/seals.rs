//! What the seal endpoint keeps between requests: each site's facts until the
//! database says they changed (so a revocation made anywhere shows on every replica
//! within [`CHANGE_POLL`] and a read, without a database read per request), the
//! copied-seal sightings waiting to be written, and the permits of seal drawing.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use ca::db::Database;
use ca::identity::Domain;

use crate::domain::seal::SealRenderer;
use crate::domain::site::{CertificateState, SiteStatus};
use crate::error::AppError;
use crate::service::Services;
use crate::store::seal_changes;
use crate::store::seal_copies::{self, Sightings};

/// How often each replica asks the database which sites changed. A revocation shows
/// on every replica's seal within this and one read (the bound is 1 s).
pub const CHANGE_POLL: Duration = Duration::from_millis(200);

/// Without a successful poll for this long, cached facts are not trusted: each
/// request reads the database (and fails when it cannot) rather than vouch for a site
/// that may have been revoked meanwhile.
const POLL_TRUST: Duration = Duration::from_secs(2);

/// Facts are read again after this even when no change named them: a safety net for
/// a change the triggers of `seal_changes` do not see (a table edited by hand).
/// Three refreshes long, so that one failed refresh does not send requests to the
/// database.
const MAX_AGE: Duration = Duration::from_secs(30 * 60);

/// How often a replica reads every site's facts again, in pages of
/// [`REFRESH_PAGE`] (and first as soon as it follows the changes): facts are kept for
/// [`MAX_AGE`], so under a steady load no seal request waits on the database, even
/// one spread over every site. Changes reach the cache through the change feed
/// within [`CHANGE_POLL`]; the refresh is only the safety net, so it runs rarely:
/// reading 100,000 sites costs a few seconds of CPU, which at a two-minute period
/// showed as several µs on every seal request (bench-seal).
const REFRESH_EVERY: Duration = Duration::from_secs(10 * 60);

/// Sites read per page of a refresh.
const REFRESH_PAGE: i64 = 2_000;

/// How long an unknown site id stays known to be unknown; kept apart from the facts
/// of real sites so that made-up ids cannot push those out.
const UNKNOWN_FRESHNESS: Duration = Duration::from_secs(1);

/// Site facts held at once: every certified site of a large deployment (a fact is a
/// few hundred bytes: 100,000 sites take some 30 MiB). Past it the map starts over.
const MAX_FACTS: usize = 200_000;

/// Unknown site ids held at once (made-up ids are unbounded).
const MAX_UNKNOWN: usize = 10_000;

/// Change ids the poller waits for (a PostgreSQL sequence hands out ids in one order
/// and transactions commit in another: a lower id can appear after a higher one).
const MAX_GAPS: usize = 10_000;

/// How long a missing change id is waited for before it is taken for a rolled-back
/// transaction.
const GAP_WAIT: Duration = Duration::from_secs(60);

/// Changes read per poll; more wait for the next.
const CHANGES_PER_POLL: i64 = 10_000;

/// Polls for which an eviction is remembered, to refuse caching a read that began
/// before it (longer than any read takes).
const RECENT_POLLS: u64 = 100;

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

/// What a seal needs to know about a site. Every site's facts are kept in memory
/// (100,000 sites at some 250 bytes each), so they are kept small: the drawn form
/// of the first domain only when it differs from its A-labels (an IDN).
#[derive(Debug)]
pub struct SiteFacts {
    /// The site row's own status.
    row_status: SiteStatus,
    /// Its certificate's revocation and expiry.
    certificate: Option<CertificateState>,
    /// The domains its certificate covers, the primary first.
    pub domains: Box<[Domain]>,
    /// The first domain as the seal draws it, when not its A-label form.
    display: Option<Box<str>>,
}

impl SiteFacts {
    /// The facts of a site's seal row; the first domain drawn as `seals` shows it.
    fn from_row(row: crate::store::sites::SealRow, seals: &SealRenderer) -> SiteFacts {
        let (domains, certificate) = match row.certificate {
            Some((domains, c)) => (domains, Some(c)),
            None => (Vec::new(), None),
        };
        let domains: Box<[Domain]> = domains
            .iter()
            .filter_map(|d| Domain::parse(d).ok())
            .collect();
        let display = domains.first().and_then(|d| {
            let shown = seals.display_domain(d);
            (shown != d.as_str()).then(|| shown.into_boxed_str())
        });
        SiteFacts {
            row_status: row.status,
            certificate,
            domains,
            display,
        }
    }

    /// Whether `row` says what these facts say (a refresh then keeps them as they
    /// are instead of allocating them again).
    fn same_as(&self, row: &crate::store::sites::SealRow) -> bool {
        let (domains, certificate): (&[String], _) = match &row.certificate {
            Some((d, c)) => (d, Some(*c)),
            None => (&[], None),
        };
        self.row_status == row.status
            && self.certificate == certificate
            && self.domains.len() == domains.len()
            && self
                .domains
                .iter()
                .zip(domains)
                .all(|(have, read)| have.as_str() == read)
    }

    /// The first domain as the seal shows it.
    pub fn shown(&self) -> Arc<str> {
        match (&self.display, self.domains.first()) {
            (Some(d), _) => Arc::from(&**d),
            (None, Some(d)) => Arc::from(d.as_str()),
            (None, None) => Arc::from(""),
        }
    }

    /// The status the site shows at `now` (an expiry shows without a new read).
    pub fn status(&self, now: i64) -> SiteStatus {
        self.row_status.shown_with(self.certificate, now)
    }
}

/// The facts of known sites and of ids known to be unknown, each with when it was
/// read, and the sites evicted in recent polls (by poll number).
#[derive(Debug, Default)]
struct Facts {
    known: HashMap<Box<str>, (Instant, Arc<SiteFacts>)>,
    unknown: HashMap<String, Instant>,
    evicted: HashMap<String, u64>,
    /// The last poll that forgot every fact (the changes could not be followed): a
    /// read begun in or before it may have missed any change.
    cleared: u64,
}

/// Site facts by site id, the copies seen since the last flush, and the drawing
/// permits.
#[derive(Debug)]
pub struct SealCache {
    facts: Mutex<Facts>,
    /// Polls of `seal_changes` done; 0 until the first one has set the cursor (facts
    /// read before it are used but not kept).
    polls: AtomicU64,
    /// When this cache was made: the origin of `polled`.
    born: Instant,
    /// When the last poll succeeded, in milliseconds after `born` plus one (0: never);
    /// an atomic because every request reads it.
    polled: AtomicU64,
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
            polls: AtomicU64::new(0),
            born: Instant::now(),
            polled: AtomicU64::new(0),
            copies: Mutex::default(),
            no_referer: Mutex::default(),
            renders: tokio::sync::Semaphore::new(2 * cores),
        }
    }
}

impl SealCache {
    /// What the seal of `site` shows (`None`: no such site), from the cache while no
    /// change has named the site.
    pub async fn facts(
        &self,
        state: &Services,
        site: &str,
    ) -> Result<Option<Arc<SiteFacts>>, AppError> {
        if let Some(f) = self.cached(site) {
            return Ok(f);
        }
        let began = self.polls.load(Ordering::SeqCst);
        let facts = crate::store::sites::seal_row(&state.db, site)
            .await?
            .map(|row| Arc::new(SiteFacts::from_row(row, &state.seals)));
        self.put(site, facts.clone(), began);
        Ok(facts)
    }

    /// Whether the facts of `site` are held and trusted (a seal request for it reads
    /// no database).
    pub fn holds(&self, site: &str) -> bool {
        matches!(self.cached(site), Some(Some(_)))
    }

    /// The permits of seal drawing: two per core.
    pub fn renders(&self) -> &tokio::sync::Semaphore {
        &self.renders
    }

    fn trusted(&self) -> bool {
        match self.polled.load(Ordering::Relaxed) {
            0 => false,
            at => self.millis().saturating_sub(at - 1) < POLL_TRUST.as_millis() as u64,
        }
    }

    fn millis(&self) -> u64 {
        u64::try_from(self.born.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn mark_polled(&self) {
        self.polled.store(self.millis() + 1, Ordering::Relaxed);
    }

    /// The facts held for `site`, however old.
    fn get_any(&self, site: &str) -> Option<Arc<SiteFacts>> {
        let map = self.facts.lock().unwrap_or_else(PoisonError::into_inner);
        map.known.get(site).map(|(_, f)| f.clone())
    }

    /// The facts of `site` if held and trusted (`Some(None)`: known not to exist), or
    /// `None` when they must be read ([`SealCache::facts`]).
    pub fn cached(&self, site: &str) -> Option<Option<Arc<SiteFacts>>> {
        let map = self.facts.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((at, f)) = map.known.get(site) {
            return (at.elapsed() < MAX_AGE && self.trusted()).then(|| Some(f.clone()));
        }
        map.unknown
            .get(site)
            .filter(|at| at.elapsed() < UNKNOWN_FRESHNESS)
            .map(|_| None)
    }

    /// Keeps facts read from a poll number `began` on, unless a change named the site
    /// since (the read may have missed it) or the poller has not started.
    fn put(&self, site: &str, facts: Option<Arc<SiteFacts>>, began: u64) {
        let mut map = self.facts.lock().unwrap_or_else(PoisonError::into_inner);
        let polls = self.polls.load(Ordering::SeqCst);
        if began == 0
            || began + RECENT_POLLS <= polls
            || began <= map.cleared
            || map.evicted.get(site).is_some_and(|p| *p >= began)
        {
            return;
        }
        let now = Instant::now();
        match facts {
            Some(f) => {
                if map.known.len() >= MAX_FACTS {
                    map.known.clear();
                }
                map.unknown.remove(site);
                map.known.insert(site.into(), (now, f));
            }
            None => {
                if map.unknown.len() >= MAX_UNKNOWN {
                    map.unknown.clear();
                }
                map.known.remove(site);
                map.unknown.insert(site.to_string(), now);
            }
        }
    }

    /// Forgets the facts of `sites` (named by changes in poll `poll`), or of every
    /// site when the changes could not be followed.
    fn evict(&self, sites: &[String], all: bool, poll: u64) {
        let mut map = self.facts.lock().unwrap_or_else(PoisonError::into_inner);
        if all {
            map.known.clear();
            map.unknown.clear();
            map.cleared = poll;
        }
        for site in sites {
            map.known.remove(site.as_str());
            map.unknown.remove(site);
            map.evicted.insert(site.clone(), poll);
        }
        if poll.is_multiple_of(RECENT_POLLS) {
            map.evicted.retain(|_, p| *p + RECENT_POLLS > poll);
        }
    }

    /// Reads every site's facts into the cache, in pages, once the change feed is
    /// followed and then every ten minutes (`REFRESH_EVERY`), until the process ends.
    /// A page read while a change named one of its sites is not kept for that site
    /// (the same rule as a single read). At most three quarters of the facts the map
    /// holds (`MAX_FACTS`) are read so that it does not start over; further sites are
    /// read on their first request.
    pub async fn run_refresher(self: Arc<Self>, db: Database, seals: Arc<SealRenderer>) {
        loop {
            while !self.trusted() {
                tokio::time::sleep(CHANGE_POLL).await;
            }
            let started = Instant::now();
            match self.refresh(&db, &seals).await {
                Ok(n) => tracing::info!(sites = n, took = ?started.elapsed(), "seal facts read"),
                Err(e) => tracing::warn!(error = %e, "could not read the seal facts"),
            }
            tokio::time::sleep(REFRESH_EVERY).await;
        }
    }

    /// One refresh: every site's facts, page by page; how many were read.
    pub async fn refresh(&self, db: &Database, seals: &SealRenderer) -> Result<usize, AppError> {
        let mut after = String::new();
        let mut read = 0;
        while read < MAX_FACTS * 3 / 4 {
            let began = self.polls.load(Ordering::SeqCst);
            let page = crate::store::sites::seal_rows_after(db, &after, REFRESH_PAGE).await?;
            let Some((last, _)) = page.last() else {
                break;
            };
            after = last.clone();
            read += page.len();
            for (site, row) in page {
                // Unchanged facts are kept, only marked fresh: a refresh every ten
                // minutes then allocates (and fragments) nothing for them.
                let kept = self.get_any(&site).filter(|f| f.same_as(&row));
                let facts = kept.unwrap_or_else(|| Arc::new(SiteFacts::from_row(row, seals)));
                self.put(&site, Some(facts), began);
            }
        }
        Ok(read)
    }

    /// Follows `seal_changes` every [`CHANGE_POLL`] until the process ends, forgetting
    /// the facts of each site a change names.
    pub async fn run_change_feed(self: Arc<Self>, db: Database) {
        let mut cursor: Option<ChangeCursor> = None;
        let mut tick = tokio::time::interval(CHANGE_POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match self.poll_changes(&db, &mut cursor).await {
                Ok(()) => self.mark_polled(),
                Err(e) => tracing::warn!(error = %e, "could not read seal changes"),
            }
        }
    }

    /// One poll: the first sets the cursor at the newest change (the cache is empty
    /// then); later ones evict what changed since.
    async fn poll_changes(
        &self,
        db: &Database,
        cursor: &mut Option<ChangeCursor>,
    ) -> Result<(), AppError> {
        let Some(c) = cursor else {
            *cursor = Some(ChangeCursor::new(seal_changes::latest(db).await?));
            self.polls.store(1, Ordering::SeqCst);
            return Ok(());
        };
        let mut rows = seal_changes::after(db, c.last, CHANGES_PER_POLL).await?;
        if !c.gaps.is_empty() {
            let waiting: Vec<i64> = c.gaps.keys().copied().collect();
            rows.extend(seal_changes::among(db, &waiting).await?);
        }
        let step = c.advance(rows, Instant::now());
        let poll = self.polls.load(Ordering::SeqCst);
        self.evict(&step.sites, step.lost_track, poll);
        self.polls.store(poll + 1, Ordering::SeqCst);
        Ok(())
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
                // A new host copying a member's site seal: a draft warning and a mail
                // to the member (issue 17). A failure there does not lose the copy.
                if let Err(e) =
                    crate::service::watch::on_seal_copy(db, &site, &host, seen.last).await
                {
                    tracing::warn!(%site, %host, error = %e, "could not draft a warning for a copied member seal");
                }
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

/// Where the poller stands in `seal_changes`: the highest id seen, and lower ids not
/// seen yet (their transactions may still commit).
#[derive(Debug)]
struct ChangeCursor {
    last: i64,
    gaps: BTreeMap<i64, Instant>,
}

/// What one poll found.
#[derive(Debug, Default, PartialEq)]
struct Step {
    /// Sites named by new changes.
    sites: Vec<String>,
    /// Too many ids were missing to wait for each: every fact must go.
    lost_track: bool,
}

impl ChangeCursor {
    fn new(last: i64) -> Self {
        ChangeCursor {
            last,
            gaps: BTreeMap::new(),
        }
    }

    /// Takes the changes read (after `last`, and among the gaps) and says which
    /// sites they name; ids skipped on the way become gaps, gaps older than
    /// [`GAP_WAIT`] are given up.
    fn advance(&mut self, mut rows: Vec<(i64, String)>, now: Instant) -> Step {
        rows.sort_unstable_by_key(|r| r.0);
        rows.dedup_by_key(|r| r.0);
        let mut step = Step::default();
        for (id, site) in rows {
            if id > self.last {
                let skipped = id - self.last - 1;
                if skipped as usize + self.gaps.len() > MAX_GAPS {
                    step.lost_track = true;
                    self.gaps.clear();
                } else {
                    for g in self.last + 1..id {
                        self.gaps.insert(g, now);
                    }
                }
                self.last = id;
            } else if self.gaps.remove(&id).is_none() {
                continue;
            }
            step.sites.push(site);
        }
        self.gaps
            .retain(|_, at| now.saturating_duration_since(*at) < GAP_WAIT);
        step
    }
}

/// How often the seal of `site` was fetched without a `Referer` in the seven days up
/// to `now` (the operator portal asks for a new snippet past a threshold).
pub async fn no_referer_week(state: &Services, site: &str, now: i64) -> Result<i64, AppError> {
    crate::store::seal_fetches::no_referer_since(&state.db, site, now.div_euclid(86_400) - 6).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(ids: &[(i64, &str)]) -> Vec<(i64, String)> {
        ids.iter().map(|(i, s)| (*i, s.to_string())).collect()
    }

    #[test]
    fn a_change_committed_late_with_a_lower_id_is_still_seen() {
        let t0 = Instant::now();
        let mut c = ChangeCursor::new(10);
        // Id 11 is still in flight when 12 commits.
        let step = c.advance(rows(&[(12, "s_b")]), t0);
        assert_eq!(step.sites, ["s_b"]);
        assert_eq!(c.gaps.keys().copied().collect::<Vec<_>>(), [11]);
        // Read again (by `after`) it is not news; found among the gaps it is.
        let step = c.advance(rows(&[(11, "s_a"), (12, "s_b")]), t0);
        assert_eq!(step.sites, ["s_a"]);
        assert!(c.gaps.is_empty());
        assert_eq!(c.last, 12);
    }

    #[test]
    fn a_gap_is_given_up_after_a_while_and_too_many_lose_track() {
        let t0 = Instant::now();
        let mut c = ChangeCursor::new(0);
        c.advance(rows(&[(3, "s_a")]), t0);
        assert_eq!(c.gaps.len(), 2);
        let step = c.advance(Vec::new(), t0 + GAP_WAIT);
        assert_eq!(step, Step::default());
        assert!(
            c.gaps.is_empty(),
            "rolled-back ids are not waited for for ever"
        );
        let step = c.advance(rows(&[(10 + MAX_GAPS as i64 + 2, "s_b")]), t0);
        assert!(step.lost_track, "a jump past MAX_GAPS forgets every fact");
        assert_eq!(step.sites, ["s_b"]);
        assert!(c.gaps.is_empty());
    }

    fn facts() -> Arc<SiteFacts> {
        Arc::new(SiteFacts {
            row_status: SiteStatus::Certified,
            certificate: None,
            domains: Box::new([]),
            display: Some("chenxi-shuzhi.cn".into()),
        })
    }

    fn trusted_cache() -> SealCache {
        let cache = SealCache::default();
        cache.polls.store(1, Ordering::SeqCst);
        cache.mark_polled();
        cache
    }

    #[test]
    fn facts_are_kept_until_a_change_names_the_site() {
        let cache = trusted_cache();
        cache.put("s_a", Some(facts()), 1);
        cache.put("s_b", Some(facts()), 1);
        assert!(matches!(cache.cached("s_a"), Some(Some(_))));
        cache.evict(&["s_a".to_string()], false, 1);
        cache.polls.store(2, Ordering::SeqCst);
        assert!(
            cache.cached("s_a").is_none(),
            "a changed site is read again"
        );
        assert!(matches!(cache.cached("s_b"), Some(Some(_))));
    }

    #[test]
    fn a_read_that_began_before_an_eviction_is_not_kept() {
        let cache = trusted_cache();
        // A request starts reading s_a in poll 1; the poller evicts s_a in poll 1
        // (the change committed after the read), then the read comes back.
        let began = cache.polls.load(Ordering::SeqCst);
        cache.evict(&["s_a".to_string()], false, 1);
        cache.polls.store(2, Ordering::SeqCst);
        cache.put("s_a", Some(facts()), began);
        assert!(
            cache.cached("s_a").is_none(),
            "stale facts must not be kept"
        );
        // A read begun after the eviction is kept.
        cache.put("s_a", Some(facts()), 2);
        assert!(matches!(cache.cached("s_a"), Some(Some(_))));
    }

    #[test]
    fn a_read_that_began_before_the_changes_were_lost_track_of_is_not_kept() {
        let cache = trusted_cache();
        let began = cache.polls.load(Ordering::SeqCst);
        cache.evict(&[], true, 1);
        cache.polls.store(2, Ordering::SeqCst);
        cache.put("s_a", Some(facts()), began);
        assert!(
            cache.cached("s_a").is_none(),
            "any site may have changed unseen"
        );
        cache.put("s_a", Some(facts()), 2);
        assert!(matches!(cache.cached("s_a"), Some(Some(_))));
    }

    #[test]
    fn nothing_is_trusted_before_the_first_poll_or_when_polls_stop() {
        let cache = SealCache::default();
        cache.put("s_a", Some(facts()), 0);
        assert!(
            cache.cached("s_a").is_none(),
            "read before the cursor was set"
        );
        let cache = trusted_cache();
        cache.put("s_a", Some(facts()), 1);
        cache.polled.store(1, Ordering::Relaxed);
        std::thread::sleep(POLL_TRUST);
        assert!(
            cache.cached("s_a").is_none(),
            "no poll for POLL_TRUST: read again"
        );
    }

    #[test]
    fn made_up_site_ids_do_not_push_out_real_facts() {
        let cache = trusted_cache();
        cache.put("s_real", Some(facts()), 1);
        for i in 0..MAX_UNKNOWN + 10 {
            cache.put(&format!("s_fake{i}"), None, 1);
        }
        assert!(matches!(cache.cached("s_real"), Some(Some(_))));
        assert!(cache.facts.lock().unwrap().unknown.len() <= MAX_UNKNOWN);
    }
}
