//! The queue's timings: polling, backoff, leases and batch size.

use std::time::Duration;

use ring::rand::{SecureRandom, SystemRandom};

/// The queue's timings.
#[derive(Debug, Clone)]
pub struct QueueSettings {
    /// Between polls of the table.
    pub poll: Duration,
    /// Wait before the first retry; each further retry waits twice as long.
    pub backoff_base: Duration,
    /// Longest wait between retries.
    pub backoff_max: Duration,
    /// How long a claim holds a job.
    pub lease: Duration,
    /// Jobs claimed at once (and run concurrently).
    pub batch: u32,
}

impl Default for QueueSettings {
    fn default() -> Self {
        QueueSettings {
            poll: Duration::from_secs(1),
            backoff_base: Duration::from_secs(30),
            backoff_max: Duration::from_secs(3600),
            lease: Duration::from_secs(300),
            batch: 10,
        }
    }
}

impl QueueSettings {
    /// From the server's settings.
    pub fn from_settings(s: &crate::config::JobSettings) -> Self {
        QueueSettings {
            poll: Duration::from_millis(s.job_poll_ms.max(10)),
            backoff_base: Duration::from_secs(s.job_backoff_secs.max(1)),
            backoff_max: Duration::from_secs(s.job_backoff_max_secs.max(1)),
            lease: Duration::from_secs(s.job_lease_secs.max(5)),
            batch: s.job_batch.clamp(1, 1000),
        }
    }

    /// Seconds to wait after failed attempt number `attempts` (from 1), without
    /// jitter: `base × 2^(attempts−1)`, at most the cap.
    pub fn backoff_secs(&self, attempts: i32) -> i64 {
        let base = self.backoff_base.as_secs().max(1);
        let max = self.backoff_max.as_secs().max(1);
        let shift = u32::try_from(attempts.saturating_sub(1).clamp(0, 40)).unwrap_or(40);
        let delay = base.saturating_mul(1u64 << shift).min(max);
        i64::try_from(delay).unwrap_or(i64::MAX)
    }

    /// The backoff plus up to a fifth of it at random, so jobs that failed together
    /// do not all come back together.
    pub fn backoff_with_jitter(&self, attempts: i32) -> i64 {
        let delay = self.backoff_secs(attempts);
        let mut raw = [0u8; 4];
        let r = SystemRandom::new()
            .fill(&mut raw)
            .map(|()| i64::from(u32::from_be_bytes(raw)))
            .unwrap_or(0);
        delay + r % (delay / 5 + 1)
    }
}
