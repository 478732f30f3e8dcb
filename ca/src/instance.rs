//! The serial-number instance prefix a CA issues under, held as a lease in the
//! database so that no two running CAs share one.
//!
//! Every serial starts with its instance's prefix byte (`CHENGXIN_CA_INSTANCE`,
//! 1–127). Replicas that all kept the default 1 could only be told apart by their
//! random bits. A CA that issues takes its prefix first ([`Ca::claim_serial_prefix`]):
//! a row of `ca_instances` naming it (a random token), its host and process id, with
//! an expiry it renews every [`HEARTBEAT`] while it runs and deletes when it stops
//! cleanly ([`Ca::release_serial_prefix`]).
//!
//! A row is held by a *live* instance unless
//! * its expiry has passed (the holder stopped renewing: crashed, frozen or cut off
//!   from the database for [`LEASE_SECS`] seconds), or
//! * it names this host and a process that no longer runs here (a crash or `kill -9`
//!   on this machine frees the prefix at once), or this very process but no CA in it
//!   still holds the token (a CA dropped without releasing).
//!
//! Commands that never issue (revoke, CRL, OCSP refresh, verify) take no lease, so
//! they run beside the server that holds the prefix.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use ring::rand::SecureRandom;

use crate::db::Database;
use crate::store::instance::{self as leases, Holder};
use crate::{Ca, Error, Result};

/// How long a lease lasts without renewal, in seconds.
pub const LEASE_SECS: i64 = 60;
/// How often a running CA renews its lease.
pub const HEARTBEAT: Duration = Duration::from_secs(20);

/// Tokens of the leases held by CAs alive in this process.
static HELD_HERE: LazyLock<Mutex<HashSet<String>>> = LazyLock::new(Default::default);

fn held_here() -> std::sync::MutexGuard<'static, HashSet<String>> {
    HELD_HERE.lock().unwrap_or_else(|e| e.into_inner())
}

/// The lease slot of one open CA: empty until the CA first issues or claims.
#[derive(Default)]
pub(crate) struct SerialLease(tokio::sync::OnceCell<Held>);

struct Held {
    db: Database,
    prefix: u8,
    token: String,
    /// Unix second the lease runs out unless renewed.
    expires_at: Arc<AtomicI64>,
    /// Set when a renewal found the row gone or taken, or the lease was released.
    lost: Arc<AtomicBool>,
    heartbeat: tokio::task::JoinHandle<()>,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.heartbeat.abort();
        held_here().remove(&self.token);
        if self.lost.load(Ordering::SeqCst) {
            return;
        }
        // Best effort: a runtime that is shutting down may never run this; the row
        // is then free anyway, since no CA in this process holds its token.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let (db, prefix, token) = (self.db.clone(), self.prefix, self.token.clone());
            rt.spawn(async move {
                let _ = release(&db, prefix, &token).await;
            });
        }
    }
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".into())
}

fn process_running(pid: i64) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Whether a holder is live is this module's rule, not the store's.
impl Holder {
    /// See the module documentation for what counts as live.
    fn live(&self, host: &str, now: i64) -> bool {
        if self.expires_at <= now {
            return false;
        }
        if self.host != host {
            return true;
        }
        if self.pid == i64::from(std::process::id()) {
            held_here().contains(&self.holder)
        } else {
            process_running(self.pid)
        }
    }
}

async fn release(db: &Database, prefix: u8, token: &str) -> Result<()> {
    leases::delete(db, prefix, token).await
}

/// Takes `prefix` for a new token, or says who holds it.
async fn claim(db: &Database, prefix: u8, rng: &ring::rand::SystemRandom) -> Result<Held> {
    let mut raw = [0u8; 16];
    rng.fill(&mut raw)
        .map_err(|_| Error::Signer("system random generator failed".into()))?;
    let token = hex::encode(raw);
    let host = host_name();
    let pid = i64::from(std::process::id());
    let now = now();
    let expires_at = now + LEASE_SECS;
    // Three rounds: a row may be released, cleared or taken over between statements.
    let mut claimed = false;
    for _ in 0..3 {
        let inserted = leases::insert(db, prefix, &token, &host, pid, now, expires_at).await?;
        if inserted == 1 {
            claimed = true;
            break;
        }
        let current = leases::holder(db, prefix).await?;
        let Some(h) = current else { continue };
        if h.live(&host, now) {
            return Err(Error::SerialPrefixInUse {
                prefix,
                holder: format!("host {}, process {}", h.host, h.pid),
                until: h.expires_at,
            });
        }
        // A dead holder's row goes (unless someone else took it over meanwhile), and
        // the next round inserts ours.
        release(db, prefix, &h.holder).await?;
    }
    if !claimed {
        return Err(Error::SerialPrefixInUse {
            prefix,
            holder: "instances starting at the same time".into(),
            until: expires_at,
        });
    }
    held_here().insert(token.clone());
    let expires = Arc::new(AtomicI64::new(expires_at));
    let lost = Arc::new(AtomicBool::new(false));
    let heartbeat = tokio::spawn(renew(
        db.clone(),
        prefix,
        token.clone(),
        expires.clone(),
        lost.clone(),
    ));
    tracing::info!(prefix, host, pid, "serial instance prefix claimed");
    Ok(Held {
        db: db.clone(),
        prefix,
        token,
        expires_at: expires,
        lost,
        heartbeat,
    })
}

/// Renews the lease every [`HEARTBEAT`] until it is found taken or gone.
async fn renew(
    db: Database,
    prefix: u8,
    token: String,
    expires: Arc<AtomicI64>,
    lost: Arc<AtomicBool>,
) {
    loop {
        tokio::time::sleep(HEARTBEAT).await;
        let until = now() + LEASE_SECS;
        let renewed = leases::renew(&db, prefix, &token, until).await;
        match renewed {
            Ok(1) => expires.store(until, Ordering::SeqCst),
            Ok(_) => {
                tracing::error!(
                    prefix,
                    "the serial prefix lease was taken over; issuance stops"
                );
                lost.store(true, Ordering::SeqCst);
                return;
            }
            // The lease runs out by itself if this goes on; issuance stops then.
            Err(e) => tracing::warn!(prefix, error = %e, "cannot renew the serial prefix lease"),
        }
    }
}

impl Ca {
    /// Takes this CA's serial prefix (`CHENGXIN_CA_INSTANCE`) for as long as it is
    /// open, or fails with [`Error::SerialPrefixInUse`] when a live instance holds it
    /// (see the [module documentation](self)). A server calls it at start;
    /// [`Ca::issue`] calls it on first use. Calling it again is a no-op.
    pub async fn claim_serial_prefix(&self) -> Result<()> {
        self.serial_lease
            .0
            .get_or_try_init(|| claim(&self.db, self.instance, &self.rng))
            .await?;
        self.check_serial_prefix()
    }

    /// Gives the prefix back (a clean shutdown): another instance may take it at once,
    /// and this CA issues nothing more.
    pub async fn release_serial_prefix(&self) -> Result<()> {
        if let Some(held) = self.serial_lease.0.get() {
            held.heartbeat.abort();
            held.lost.store(true, Ordering::SeqCst);
            held_here().remove(&held.token);
            release(&held.db, held.prefix, &held.token).await?;
        }
        Ok(())
    }

    /// Refuses to make a serial unless this CA holds its prefix now.
    pub(crate) fn check_serial_prefix(&self) -> Result<()> {
        let Some(held) = self.serial_lease.0.get() else {
            return Err(Error::SerialPrefixNotHeld(
                "it was never claimed: call Ca::claim_serial_prefix when the CA starts".into(),
            ));
        };
        if held.lost.load(Ordering::SeqCst) {
            return Err(Error::SerialPrefixNotHeld(
                "it was released or taken over".into(),
            ));
        }
        if held.expires_at.load(Ordering::SeqCst) <= now() {
            return Err(Error::SerialPrefixNotHeld(
                "its lease could not be renewed in time".into(),
            ));
        }
        Ok(())
    }
}
