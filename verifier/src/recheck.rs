//! Re-verification for the certificate's whole year: the operator's proof stays in
//! place and is checked again on schedule, on request, on complaint and by staff,
//! together with the ICP filing.
//!
//! Outcome policy: a pass moves the due dates; a transient error retries with
//! backoff; a failure starts a grace period (with notice), then the certificate is
//! put on hold (suspended), then revoked through the `ca` API. A change of the
//! filing's subject (`unitName`, `mainLicence`, `natureName`) suspends at once.
//! Every transition is one transaction with its evidence and an audit entry.

use std::sync::Arc;

use ca::db::{Database, Tx};
use ca::identity::{Domain, IcpNumber, Uscc};
use ca::{Ca, RevocationReason, Serial};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::challenge::{Challenger, Method};
use crate::config::VerifierSettings;
use crate::icp::{self, Filings, IcpProvider, IcpRecord};
use crate::store::{self, NewSubject, Subject, SubjectRow as Row, SubjectUpdate};
use crate::token::Token;
use crate::verdict::{Evidence, Verdict};
use crate::{Error, Result};

/// Timings of re-verification, in seconds.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Between ICP checks of a healthy site (default 7 days).
    pub icp_every: i64,
    /// Between domain-control checks of a healthy site (default 30 days).
    pub domain_every: i64,
    /// From the first failure to suspension (default 72 hours).
    pub grace: i64,
    /// From suspension to revocation while the failure lasts (default 72 hours).
    pub suspension: i64,
    /// Between checks of a failing site (default 1 hour).
    pub failing_every: i64,
    /// First retry after a transient error (default 5 minutes), doubled each time.
    pub retry_base: i64,
    /// Longest retry interval (default 6 hours).
    pub retry_max: i64,
    /// How old a passing domain-control check may be when an application is approved
    /// (default 30 days).
    pub validation_reuse: i64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            icp_every: 7 * 86_400,
            domain_every: 30 * 86_400,
            grace: 72 * 3_600,
            suspension: 72 * 3_600,
            failing_every: 3_600,
            retry_base: 300,
            retry_max: 6 * 3_600,
            validation_reuse: 30 * 86_400,
        }
    }
}

/// [`VerifierSettings::policy`] lives beside [`Policy`], which it builds: the
/// settings module stays below re-verification.
impl VerifierSettings {
    /// The re-verification timings.
    pub fn policy(&self) -> Policy {
        Policy {
            icp_every: self.recheck_icp_days.max(1) * 86_400,
            domain_every: self.recheck_domain_days.max(1) * 86_400,
            grace: self.grace_hours.max(0) * 3_600,
            suspension: self.grace_hours.max(0) * 3_600,
            validation_reuse: self.validation_reuse_days.max(0) * 86_400,
            ..Default::default()
        }
    }
}

/// The stored setting (`staff_settings.name`) for days between ICP checks of a
/// healthy site; staff change it in the console, `CHENGXIN_RECHECK_ICP_DAYS` is the
/// default.
pub const SETTING_ICP_DAYS: &str = "recheck_icp_days";
/// The stored setting for days between domain-control checks of a healthy site
/// (default `CHENGXIN_RECHECK_DOMAIN_DAYS`).
pub const SETTING_DOMAIN_DAYS: &str = "recheck_domain_days";
/// The stored setting for hours of grace from the first failure to suspension, and
/// again from suspension to revocation (default `CHENGXIN_GRACE_HOURS`).
pub const SETTING_GRACE_HOURS: &str = "grace_hours";

impl Policy {
    /// These timings with the settings staff stored (name, value) in place of the
    /// configured ones. Values were validated when stored; one that does not parse
    /// as a positive number (a row written by hand) is ignored, with a warning, and
    /// the configured value stays.
    pub fn with_stored(mut self, stored: &[(String, String)]) -> Policy {
        for (name, value) in stored {
            let field = match name.as_str() {
                SETTING_ICP_DAYS => (&mut self.icp_every, 86_400),
                SETTING_DOMAIN_DAYS => (&mut self.domain_every, 86_400),
                SETTING_GRACE_HOURS => (&mut self.grace, 3_600),
                _ => continue,
            };
            match value.trim().parse::<i64>() {
                Ok(n) if n > 0 => *field.0 = n.saturating_mul(field.1),
                _ => {
                    tracing::warn!(%name, %value, "a stored setting is not a positive number; the configured value stays")
                }
            }
            if name == SETTING_GRACE_HOURS {
                self.suspension = self.grace;
            }
        }
        self
    }

    /// The timings in force now: these, overridden by what staff stored.
    pub async fn in_force(&self, db: &Database) -> Result<Policy> {
        Ok(self.clone().with_stored(&store::stored_settings(db).await?))
    }

    /// As [`Policy::in_force`], read inside the caller's transaction.
    pub async fn in_force_in(&self, tx: &mut Tx) -> Result<Policy> {
        Ok(self
            .clone()
            .with_stored(&store::stored_settings_in(tx).await?))
    }
}

/// `chengxin_reverifications_total{method, verdict}`: one per site re-verified, by
/// the method that proves control and the verdict — `pass`, `fail` (grace, still
/// failing, held, revoked) or `error` (a transient error retried later, or one that
/// stopped the check).
fn count_outcome(method: &str, result: &Result<Transition>) {
    let verdict = match result {
        Ok(Transition::Passed { .. }) => "pass",
        Ok(
            Transition::EnteredGrace
            | Transition::StillFailing
            | Transition::Suspended
            | Transition::Revoked,
        ) => "fail",
        Ok(Transition::Retried) | Err(_) => "error",
    };
    metrics::counter!("chengxin_reverifications_total", "method" => method.to_string(), "verdict" => verdict)
        .increment(1);
}

/// A certified site handed to the verifier for re-verification.
#[derive(Debug, Clone)]
pub struct Enrollment {
    /// The server's site id.
    pub site_id: String,
    /// Organization as certified.
    pub organization: String,
    /// Its USCC.
    pub uscc: Option<Uscc>,
    /// The website filing number of each registrable domain (icp.md §5 rule 1); each
    /// is checked again, not only the primary domain's.
    pub filings: Filings,
    /// Certified domains, primary first.
    pub domains: Vec<Domain>,
    /// The method that proved control.
    pub method: Method,
    /// The token the operator published.
    pub token: Token,
    /// The certificate to hold or revoke when checks fail.
    pub certificate_serial: Option<Serial>,
}

/// A site's re-verification state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Checks pass.
    Ok,
    /// Failing, within the grace period.
    Grace,
    /// Failing past the grace period; the certificate is on hold.
    Suspended,
    /// Failing past the suspension period; the certificate is revoked.
    Revoked,
}

impl State {
    /// The stored name (`ok`, `grace`, `suspended`, `revoked`).
    pub fn as_str(self) -> &'static str {
        match self {
            State::Ok => "ok",
            State::Grace => "grace",
            State::Suspended => "suspended",
            State::Revoked => "revoked",
        }
    }
    /// The state a stored name means (anything unknown reads as `ok`).
    pub fn parse(s: &str) -> State {
        match s {
            "grace" => State::Grace,
            "suspended" => State::Suspended,
            "revoked" => State::Revoked,
            _ => State::Ok,
        }
    }
}

/// The subject fields of a filing whose change suspends at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Snapshot {
    unit_name: String,
    main_licence: String,
    nature_name: String,
}

/// The snapshot of each registrable domain's filing.
type Snapshots = std::collections::BTreeMap<String, Snapshot>;

impl Row {
    /// The filing numbers to check again: the stored map, or for rows enrolled before
    /// it existed the single `icp` number for the primary domain.
    fn filings(&self, domains: &[Domain]) -> Result<Filings> {
        if let Some(json) = &self.filings {
            return serde_json::from_str(json)
                .map_err(|e| Error::Config(format!("stored filings of {}: {e}", self.site_id)));
        }
        let mut out = Filings::new();
        if let (Some(icp), Some(primary)) = (&self.icp, domains.first()) {
            out.insert(icp::filing_key(primary), IcpNumber::parse_website(icp)?);
        }
        Ok(out)
    }
}

/// Registers (or re-registers, after renewal) a site for re-verification, inside the
/// caller's transaction (the approval that issues the certificate): a certified site
/// that is never re-verified must not be possible. The first checks are due after the
/// policy's intervals.
pub async fn enroll(tx: &mut Tx, e: &Enrollment, policy: &Policy, now: i64) -> Result<()> {
    let domains = serde_json::to_string(&e.domains).unwrap_or_else(|_| "[]".into());
    let filings = serde_json::to_string(&e.filings).unwrap_or_else(|_| "{}".into());
    let primary = e
        .domains
        .first()
        .and_then(|d| e.filings.get(&icp::filing_key(d)));
    store::upsert_subject(
        tx,
        &NewSubject {
            site_id: &e.site_id,
            organization: &e.organization,
            uscc: e.uscc.as_ref().map(Uscc::as_str),
            icp: primary.map(IcpNumber::as_str),
            filings,
            domains,
            method: e.method.as_str(),
            token: e.token.as_str(),
            certificate_serial: e.certificate_serial.as_ref().map(|s| s.as_bytes().to_vec()),
            domain_due_at: now + policy.domain_every,
            icp_due_at: now + policy.icp_every,
            now,
        },
    )
    .await
}

/// A site's current state, for the server's pages.
pub async fn state_of(db: &Database, site_id: &str) -> Result<Option<(State, Option<String>)>> {
    let row = store::subject_state(db, site_id).await?;
    Ok(row.map(|(s, r)| (State::parse(&s), r)))
}

/// Which sites to re-verify.
#[derive(Debug, Clone)]
pub enum Scope {
    /// Sites with a check or a retry due.
    Due,
    /// Every site not yet revoked, every check.
    All,
    /// One site, every check (on request, on complaint, by staff).
    Site(String),
}

/// What a run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Sites checked.
    pub checked: usize,
    /// Sites whose checks passed.
    pub passed: usize,
    /// Sites with a transient error, to retry.
    pub retried: usize,
    /// Sites that started a grace period.
    pub entered_grace: usize,
    /// Sites still failing within grace or suspension.
    pub still_failing: usize,
    /// Certificates put on hold.
    pub suspended: usize,
    /// Certificates revoked.
    pub revoked: usize,
    /// Holds released after the checks passed again.
    pub released: usize,
    /// Sites that could not be processed, with the reason.
    pub failures: Vec<String>,
    /// Every site whose state changed (entered grace, held, revoked, released, or
    /// passing again within grace), with the reason: a summary that only counted
    /// them left staff unable to say which site entered grace.
    pub changes: Vec<Change>,
}

impl Summary {
    /// Sites whose checks failed (in grace, held or revoked, newly or still).
    pub fn failed(&self) -> usize {
        self.entered_grace + self.still_failing + self.suspended + self.revoked
    }

    /// Sites that could not be told: a transient error to retry, or one that could
    /// not be processed at all.
    pub fn errors(&self) -> usize {
        self.retried + self.failures.len()
    }
}

/// A site whose re-verification state changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// The server's site id.
    pub site: String,
    /// Its state before.
    pub from: State,
    /// Its state after.
    pub to: State,
    /// Why, in the words the audit entry carries.
    pub reason: String,
}

/// Evidence lines an audit entry of a transition carries at most (the failing
/// checks; the full evidence stays in `verification_checks`).
pub const AUDIT_EVIDENCE_MAX: usize = 8;

enum Transition {
    Passed { released: bool },
    Retried,
    EnteredGrace,
    StillFailing,
    Suspended,
    Revoked,
}

/// Runs re-verification.
pub struct Rechecker {
    /// The shared database.
    pub db: Database,
    /// Domain-control checks.
    pub challenger: Challenger,
    /// ICP filing source; without one, only domain control is re-checked.
    pub icp: Option<Arc<dyn IcpProvider>>,
    /// The CA that holds, releases and revokes certificates; without one, states change
    /// but no certificate is touched.
    pub ca: Option<Arc<Ca>>,
    /// Timings.
    pub policy: Policy,
    /// Sites checked at once.
    pub concurrency: usize,
}

impl Rechecker {
    /// Re-verifies the sites in `scope` as of `now`; `progress(done, total)` is called
    /// after each site.
    ///
    /// The timings are those in force when the run starts: [`Rechecker::policy`]
    /// overridden by what staff stored, so a change in the console applies to the
    /// next run without a restart.
    pub async fn run(
        &self,
        scope: Scope,
        now: i64,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<Summary> {
        self.in_force()
            .await?
            .run_with_policy(scope, now, progress)
            .await
    }

    /// This rechecker with the timings in force now ([`Policy::in_force`]): what a
    /// run or a batch of a durable run uses, so that a change staff made applies from
    /// the next one on.
    async fn in_force(&self) -> Result<Rechecker> {
        Ok(Rechecker {
            db: self.db.clone(),
            challenger: self.challenger.clone(),
            icp: self.icp.clone(),
            ca: self.ca.clone(),
            policy: self.policy.in_force(&self.db).await?,
            concurrency: self.concurrency,
        })
    }

    async fn run_with_policy(
        &self,
        scope: Scope,
        now: i64,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<Summary> {
        let rows = self.select(&scope, now).await?;
        let force = !matches!(scope, Scope::Due);
        self.run_rows(rows, now, force, progress).await
    }

    async fn run_rows(
        &self,
        rows: Vec<Row>,
        now: i64,
        force: bool,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<Summary> {
        let total = rows.len();
        let mut summary = Summary::default();
        let mut done = 0;
        let mut results = futures_util::stream::iter(rows)
            .map(|row| async move {
                let id = row.site_id.clone();
                let method = row.method.clone();
                (id, method, self.recheck(row, now, force).await)
            })
            .buffer_unordered(self.concurrency.max(1));
        while let Some((id, method, result)) = results.next().await {
            done += 1;
            summary.checked += 1;
            let result = result.map(|(t, change)| {
                summary.changes.extend(change);
                t
            });
            count_outcome(&method, &result);
            match result {
                Ok(Transition::Passed { released }) => {
                    summary.passed += 1;
                    summary.released += usize::from(released);
                }
                Ok(Transition::Retried) => summary.retried += 1,
                Ok(Transition::EnteredGrace) => summary.entered_grace += 1,
                Ok(Transition::StillFailing) => summary.still_failing += 1,
                Ok(Transition::Suspended) => summary.suspended += 1,
                Ok(Transition::Revoked) => summary.revoked += 1,
                Err(e) => summary.failures.push(format!("{id}: {e}")),
            }
            progress(done, total);
        }
        Ok(summary)
    }

    /// One batch of a durable run: the sites due at `now` whose ids sort after
    /// `after`, at most `limit`, re-verified as [`Rechecker::run`] does (with the
    /// timings in force when the batch starts). Returns what
    /// the batch did and the last site id it took (`None`: nothing was left, the run
    /// is over). Walking by site id means a site is taken at most once per run, even
    /// one that errors and stays due.
    pub async fn run_batch(
        &self,
        after: &str,
        limit: usize,
        now: i64,
    ) -> Result<(Summary, Option<String>)> {
        let rows =
            store::subjects_due_after(&self.db, now, after, i64::try_from(limit).unwrap_or(1))
                .await?;
        let last = rows.last().map(|r| r.site_id.clone());
        let summary = self
            .in_force()
            .await?
            .run_rows(rows, now, false, &|_, _| {})
            .await?;
        Ok((summary, last))
    }

    /// How many sites are due at `now` (what a run over the due sites will take).
    pub async fn count_due(&self, now: i64) -> Result<i64> {
        store::count_due(&self.db, now).await
    }

    async fn select(&self, scope: &Scope, now: i64) -> Result<Vec<Row>> {
        let rows = match scope {
            Scope::Due => store::subjects_due(&self.db, now).await?,
            Scope::All => store::subjects_not_revoked(&self.db).await?,
            Scope::Site(id) => {
                let rows = store::subject(&self.db, id).await?;
                if rows.is_empty() {
                    return Err(Error::Config(format!(
                        "no site {id:?} is enrolled for re-verification"
                    )));
                }
                rows
            }
        };
        Ok(rows)
    }

    async fn recheck(
        &self,
        row: Row,
        now: i64,
        force: bool,
    ) -> Result<(Transition, Option<Change>)> {
        let domains: Vec<Domain> = serde_json::from_str(&row.domains)
            .map_err(|e| Error::Config(format!("stored domains of {}: {e}", row.site_id)))?;
        let method: Method = row.method.parse()?;
        let token = Token::parse(&row.token)?;
        let retrying = row.retry_at.is_some();
        let run_domain = force || retrying || row.domain_due_at <= now;
        let run_icp = self.icp.is_some() && (force || retrying || row.icp_due_at <= now);

        let mut evidence: Vec<Evidence> = Vec::new();
        let mut verdict = Verdict::Pass;
        let mut reasons = Vec::new();
        if run_domain {
            for d in &domains {
                let out = self.challenger.check(method, d, &token).await;
                verdict = verdict.and(out.verdict);
                if out.verdict != Verdict::Pass {
                    reasons.extend(out.reasons.iter().map(|r| format!("{d}: {r}")));
                }
                evidence.extend(out.evidence);
            }
        }
        let mut icp_verdict = None;
        let mut snapshot = None;
        if let (true, Some(provider)) = (run_icp, &self.icp) {
            let uscc = row.uscc.as_deref().map(Uscc::parse).transpose()?;
            let claims = row.filings(&domains)?;
            // Every registrable domain, not only the primary (icp.md §5 rule 1).
            let out = icp::check_domains(
                provider.as_ref(),
                &row.organization,
                uscc.as_ref(),
                &claims,
                &domains,
            )
            .await
            .outcome;
            snapshot = Some(snapshots_of(&out.evidence));
            verdict = verdict.and(out.verdict);
            icp_verdict = Some(out.verdict);
            if out.verdict != Verdict::Pass {
                reasons.extend(out.reasons.iter().map(|r| format!("ICP: {r}")));
            }
            evidence.extend(out.evidence);
        }
        let previous: Option<Snapshots> = row
            .icp_snapshot
            .as_deref()
            .and_then(|s| parse_snapshots(s, &domains));
        let subject_changed = match (&previous, &snapshot) {
            (Some(before), Some(now)) => now.iter().find_map(|(key, b)| {
                let a = before.get(key).filter(|a| *a != b)?;
                Some(format!(
                    "the filing's subject changed for {key}: {} / {} / {} became {} / {} / {}",
                    a.unit_name,
                    a.main_licence,
                    a.nature_name,
                    b.unit_name,
                    b.main_licence,
                    b.nature_name
                ))
            }),
            _ => None,
        };

        let mut tx = self.db.begin().await?;
        store::record_in(
            &mut tx,
            &Subject {
                site_id: Some(row.site_id.clone()),
                application_id: None,
            },
            &evidence,
        )
        .await?;
        let state = State::parse(&row.state);
        let serial = row.certificate_serial.as_deref().map(Serial::from_bytes);
        let p = &self.policy;
        let mut changed: Option<(State, State, String)> = None;
        let transition = if let Some(change) = subject_changed {
            if state != State::Suspended {
                self.certificate(&mut tx, serial.as_ref(), RevocationReason::CertificateHold)
                    .await?;
            }
            self.save(
                &mut tx,
                &row.site_id,
                State::Suspended,
                now,
                &change,
                Some(row.failing_since.unwrap_or(now)),
                Some(now),
                None,
                0,
                snapshot.as_ref(),
                None,
            )
            .await?;
            let details = notice(&change, Some(now + p.suspension), &evidence);
            self.audit(&mut tx, &row.site_id, "site.suspend", details)
                .await?;
            changed = Some((state, State::Suspended, change.clone()));
            Transition::Suspended
        } else {
            match verdict {
                Verdict::Pass => {
                    let released = state == State::Suspended;
                    if released {
                        self.certificate(&mut tx, serial.as_ref(), RevocationReason::RemoveFromCrl)
                            .await?;
                        let details = notice("checks pass again", None, &evidence);
                        self.audit(&mut tx, &row.site_id, "site.release", details)
                            .await?;
                        changed = Some((state, State::Ok, "checks pass again".into()));
                    } else if state == State::Grace {
                        changed = Some((state, State::Ok, "checks pass".into()));
                    }
                    let domain_due = if run_domain {
                        now + p.domain_every
                    } else {
                        row.domain_due_at
                    };
                    let icp_due = if run_icp {
                        now + p.icp_every
                    } else {
                        row.icp_due_at
                    };
                    self.save(
                        &mut tx,
                        &row.site_id,
                        State::Ok,
                        now,
                        "checks pass",
                        None,
                        None,
                        None,
                        0,
                        snapshot.as_ref().or(previous.as_ref()),
                        Some((domain_due, icp_due)),
                    )
                    .await?;
                    Transition::Passed { released }
                }
                Verdict::Error => {
                    let retries = row.retries + 1;
                    let wait = (p.retry_base.saturating_mul(1 << (retries - 1).clamp(0, 20)))
                        .min(p.retry_max);
                    let reason = reasons.join("; ");
                    self.save(
                        &mut tx,
                        &row.site_id,
                        state,
                        now,
                        &reason,
                        row.failing_since,
                        row.suspended_at,
                        Some(now + wait),
                        retries,
                        previous.as_ref(),
                        None,
                    )
                    .await?;
                    Transition::Retried
                }
                Verdict::Fail | Verdict::Review => {
                    let reason = reasons.join("; ");
                    let since = row.failing_since.unwrap_or(now);
                    match state {
                        State::Ok => {
                            self.save(
                                &mut tx,
                                &row.site_id,
                                State::Grace,
                                now,
                                &reason,
                                Some(now),
                                None,
                                None,
                                0,
                                previous.as_ref(),
                                None,
                            )
                            .await?;
                            let details = notice(&reason, Some(now + p.grace), &evidence);
                            self.audit(&mut tx, &row.site_id, "site.grace", details)
                                .await?;
                            changed = Some((state, State::Grace, reason.clone()));
                            Transition::EnteredGrace
                        }
                        State::Grace if now - since >= p.grace => {
                            self.certificate(
                                &mut tx,
                                serial.as_ref(),
                                RevocationReason::CertificateHold,
                            )
                            .await?;
                            self.save(
                                &mut tx,
                                &row.site_id,
                                State::Suspended,
                                now,
                                &reason,
                                Some(since),
                                Some(now),
                                None,
                                0,
                                previous.as_ref(),
                                None,
                            )
                            .await?;
                            let details = notice(&reason, Some(now + p.suspension), &evidence);
                            self.audit(&mut tx, &row.site_id, "site.suspend", details)
                                .await?;
                            changed = Some((state, State::Suspended, reason.clone()));
                            Transition::Suspended
                        }
                        State::Suspended
                            if now - row.suspended_at.unwrap_or(now) >= p.suspension =>
                        {
                            let why = if icp_verdict == Some(Verdict::Review) {
                                RevocationReason::AffiliationChanged
                            } else {
                                RevocationReason::CessationOfOperation
                            };
                            self.certificate(&mut tx, serial.as_ref(), why).await?;
                            self.save(
                                &mut tx,
                                &row.site_id,
                                State::Revoked,
                                now,
                                &reason,
                                Some(since),
                                row.suspended_at,
                                None,
                                0,
                                previous.as_ref(),
                                None,
                            )
                            .await?;
                            let why = format!("{why}: {reason}");
                            let details = notice(&why, None, &evidence);
                            self.audit(&mut tx, &row.site_id, "site.revoke", details)
                                .await?;
                            changed = Some((state, State::Revoked, why));
                            Transition::Revoked
                        }
                        _ => {
                            self.save(
                                &mut tx,
                                &row.site_id,
                                state,
                                now,
                                &reason,
                                Some(since),
                                row.suspended_at,
                                None,
                                0,
                                previous.as_ref(),
                                None,
                            )
                            .await?;
                            Transition::StillFailing
                        }
                    }
                }
            }
        };
        tx.commit().await?;
        let change = changed
            .filter(|(from, to, _)| from != to)
            .map(|(from, to, reason)| Change {
                site: row.site_id.clone(),
                from,
                to,
                reason,
            });
        Ok((transition, change))
    }

    /// Holds, releases or revokes the site's certificate in the same transaction.
    async fn certificate(
        &self,
        tx: &mut Tx,
        serial: Option<&Serial>,
        reason: RevocationReason,
    ) -> Result<()> {
        let (Some(ca), Some(serial)) = (&self.ca, serial) else {
            return Ok(());
        };
        match ca.revoke_in(tx, serial, reason, "verifier").await {
            Ok(_) => Ok(()),
            // Staff may already have revoked it; the site's state still follows the checks.
            Err(ca::Error::RevocationRefused(why)) => {
                tracing::warn!(%serial, %why, "certificate state unchanged");
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn audit(
        &self,
        tx: &mut Tx,
        site: &str,
        action: &str,
        details: serde_json::Value,
    ) -> Result<()> {
        ca::audit::append(tx, "verifier", action, site, &details).await?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn save(
        &self,
        tx: &mut Tx,
        site: &str,
        state: State,
        now: i64,
        reason: &str,
        failing_since: Option<i64>,
        suspended_at: Option<i64>,
        retry_at: Option<i64>,
        retries: i64,
        snapshot: Option<&Snapshots>,
        due: Option<(i64, i64)>,
    ) -> Result<()> {
        // Unless the caller moved them (a pass), a failing site is looked at again
        // soon, so grace and suspension expire on time.
        let (domain_due, icp_due) = due.unwrap_or_else(|| {
            let next = now
                + if state == State::Ok && retry_at.is_none() {
                    self.policy.icp_every
                } else {
                    self.policy.failing_every
                };
            (next, next)
        });
        let snapshot = snapshot.map(|s| serde_json::to_string(s).unwrap_or_default());
        store::update_subject(
            tx,
            &SubjectUpdate {
                site_id: site,
                state: state.as_str(),
                reason,
                failing_since,
                suspended_at,
                retry_at,
                retries,
                snapshot,
                domain_due_at: domain_due,
                icp_due_at: icp_due,
                now,
            },
        )
        .await
    }
}

/// The details of a transition's audit entry: the reason, the deadline of the next
/// step (`until`: the end of grace, or of the hold), and the failing checks. The
/// server tells the operator from this entry (the audit entry is the outbox: it
/// commits with the transition, whoever ran it, this process or `verifier recheck`).
fn notice(reason: &str, until: Option<i64>, evidence: &[Evidence]) -> serde_json::Value {
    let failing: Vec<serde_json::Value> = evidence
        .iter()
        .filter(|e| e.verdict != Verdict::Pass)
        .take(AUDIT_EVIDENCE_MAX)
        .map(|e| {
            json!({
                "check": e.check,
                "subject": e.subject,
                "resolver": e.resolver,
                "verdict": e.verdict,
                "reasons": e.reasons,
                "at": e.at,
            })
        })
        .collect();
    json!({ "reason": reason, "until": until, "evidence": failing })
}

/// The subject fields of the row covering each registrable domain, from the ICP
/// evidence of one run (whatever its verdict: a subject that changed to a personal
/// filing fails and must still be seen as a change).
fn snapshots_of(evidence: &[Evidence]) -> Snapshots {
    let mut out = Snapshots::new();
    for e in evidence.iter().filter(|e| e.check == "icp") {
        let Ok(domain) = Domain::parse(&e.subject) else {
            continue;
        };
        let key = icp::filing_key(&domain);
        let Some(rows) = e.answered.as_array() else {
            continue;
        };
        if let Some(r) = rows
            .iter()
            .filter_map(|v| IcpRecord::from_json(v.clone()).ok())
            .find(|r| icp::covers(r, &key))
        {
            out.insert(
                key,
                Snapshot {
                    unit_name: r.unit_name,
                    main_licence: r.main_licence,
                    nature_name: r.nature_name,
                },
            );
        }
    }
    out
}

/// Reads stored snapshots; rows written before every registrable domain was checked
/// hold one snapshot, the primary domain's.
fn parse_snapshots(stored: &str, domains: &[Domain]) -> Option<Snapshots> {
    if let Ok(map) = serde_json::from_str::<Snapshots>(stored) {
        return Some(map);
    }
    let single: Snapshot = serde_json::from_str(stored).ok()?;
    let primary = domains.first()?;
    Some(Snapshots::from([(icp::filing_key(primary), single)]))
}
