//! A small in-memory limiter of attempts per key (a client address for logins, an
//! account for uploads): at most `max` attempts in a fixed window of `window` seconds.
//!
//! Per replica and per process (a restart forgets it); the per-account lockout in the
//! database is what holds across replicas. tower_governor limits whole routes as a
//! layer and needs the peer address at the layer; here only the form submissions that
//! guess passwords or send mail count, and the handler decides, so a keyed counter is
//! all that is needed.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;

/// Past this many tracked keys, windows that ended are dropped.
const PRUNE_AT: usize = 10_000;

/// Counts attempts per key.
#[derive(Debug)]
pub struct Limiter<K> {
    max: u32,
    window: i64,
    seen: Mutex<HashMap<K, (i64, u32)>>,
}

/// Attempts per client address.
pub type IpLimiter = Limiter<IpAddr>;

impl<K: Hash + Eq> Limiter<K> {
    /// At most `max` attempts per `window` seconds for one key.
    pub fn new(max: u32, window: i64) -> Self {
        Limiter {
            max,
            window,
            seen: Mutex::default(),
        }
    }

    /// Counts one attempt for `ip` at `now` (unix seconds); false when over the limit.
    pub fn allow(&self, ip: K, now: i64) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= PRUNE_AT {
            let window = self.window;
            seen.retain(|_, (start, _)| now - *start < window);
        }
        let entry = seen.entry(ip).or_insert((now, 0));
        if now - entry.0 >= self.window {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        entry.1 <= self.max
    }
}

impl Default for Limiter<IpAddr> {
    /// 20 attempts per 10 minutes: plenty for a person, little for a guesser.
    fn default() -> Self {
        IpLimiter::new(20, 600)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_over_its_quota_waits_for_the_next_window_and_others_are_unaffected() {
        let l = IpLimiter::new(3, 60);
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        assert!((0..3).all(|_| l.allow(a, 1000)));
        assert!(!l.allow(a, 1030));
        assert!(l.allow(b, 1030));
        assert!(l.allow(a, 1060));
    }
}
