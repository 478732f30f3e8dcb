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
        self.allow_n(ip, 1, now)
    }

    /// Counts `n` attempts at once (a verification of `n` domains); false when they
    /// would go over the limit, in which case none is counted.
    pub fn allow_n(&self, ip: K, n: u32, now: i64) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= PRUNE_AT {
            let window = self.window;
            seen.retain(|_, (start, _)| now - *start < window);
        }
        let entry = seen.entry(ip).or_insert((now, 0));
        if now - entry.0 >= self.window {
            *entry = (now, 0);
        }
        if entry.1.saturating_add(n) > self.max {
            // Still counted as one refused attempt, so hammering does not reset.
            entry.1 = entry.1.max(self.max).saturating_add(1);
            return false;
        }
        entry.1 += n;
        true
    }

    /// Seconds until `key`'s current window ends, at least 1: what a refusal's
    /// `Retry-After` says.
    pub fn retry_after(&self, key: &K, now: i64) -> u64 {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let left = seen
            .get(key)
            .map_or(self.window, |(start, _)| start + self.window - now);
        u64::try_from(left.max(1)).unwrap_or(1)
    }
}

impl Limiter<IpAddr> {
    /// Counts one attempt from `ip`'s network: the address itself for IPv4, its /64
    /// for IPv6 (one subscriber holds a whole /64, so per-address keys would give it
    /// unlimited tries).
    pub fn allow_from(&self, ip: IpAddr, now: i64) -> bool {
        self.allow(network(ip), now)
    }

    /// [`Limiter::retry_after`] for `ip`'s network, as [`Limiter::allow_from`] counts it.
    pub fn retry_after_from(&self, ip: IpAddr, now: i64) -> u64 {
        self.retry_after(&network(ip), now)
    }
}

/// The network an address counts as: itself for IPv4 (and IPv4-mapped IPv6), its
/// /64 for IPv6.
pub fn network(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
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

    #[test]
    fn an_ipv6_subscriber_gets_one_quota_for_its_whole_64() {
        let l = IpLimiter::new(3, 60);
        let ips: Vec<IpAddr> = (1..=4)
            .map(|i| format!("2001:db8:1:2::{i:x}").parse().unwrap())
            .collect();
        assert!(ips[..3].iter().all(|ip| l.allow_from(*ip, 1000)));
        assert!(
            !l.allow_from(ips[3], 1000),
            "a fourth address of the same /64"
        );
        assert!(l.allow_from("2001:db8:1:3::1".parse().unwrap(), 1000));
    }

    #[test]
    fn retry_after_is_what_is_left_of_the_window_and_at_least_a_second() {
        let l = IpLimiter::new(1, 60);
        let ip: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        assert!(l.allow_from(ip, 1000));
        assert!(!l.allow_from("2001:db8:1:2::9".parse().unwrap(), 1015));
        assert_eq!(
            l.retry_after_from("2001:db8:1:2::9".parse().unwrap(), 1015),
            45
        );
        assert_eq!(l.retry_after_from(ip, 1060), 1);
        assert_eq!(l.retry_after_from([10, 0, 0, 1].into(), 1000), 60, "unseen");
    }

    #[test]
    fn a_batch_that_would_go_over_is_refused_whole() {
        let l: Limiter<i64> = Limiter::new(10, 3600);
        assert!(l.allow_n(7, 8, 0));
        assert!(!l.allow_n(7, 3, 1), "8 + 3 > 10");
        assert!(!l.allow_n(7, 1, 2), "refusals count: no more room");
        assert!(l.allow_n(7, 10, 3600), "a new window");
    }
}
