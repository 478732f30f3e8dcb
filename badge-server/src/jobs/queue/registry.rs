//! What a job is, how a handler answers, and the registry of handlers by kind.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::error::AppError;
use crate::service::Services;

use super::settings::QueueSettings;

/// A claimed job, as its handler sees it.
#[derive(Debug, Clone)]
pub struct Job {
    /// Row id: stable across retries (webhooks send it as their id, mails in their
    /// Message-ID), so a receiver can drop a duplicate.
    pub id: i64,
    /// What to do (`mail`, `webhook`, …).
    pub kind: String,
    /// The job's arguments.
    pub payload: serde_json::Value,
    /// This is attempt number `attempts` (from 1).
    pub attempts: i32,
    /// After this many attempts the job fails for good.
    pub max_attempts: i32,
    /// When it was due, unix seconds.
    pub run_at: i64,
    /// When it was enqueued, unix seconds.
    pub created_at: i64,
    /// The clock of the run that claimed it (unix seconds): handlers that schedule
    /// follow-up work count from here, so tests can drive them with a fixed clock.
    pub now: i64,
}

/// Why a job did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// Could succeed later: retried with backoff until `max_attempts`.
    #[error("{0}")]
    Retry(String),
    /// Cannot succeed (a malformed payload, a permanent SMTP refusal): failed now.
    #[error("{0}")]
    Fail(String),
}

impl From<ca::Error> for JobError {
    fn from(e: ca::Error) -> Self {
        JobError::Retry(e.to_string())
    }
}

impl From<sqlx::Error> for JobError {
    fn from(e: sqlx::Error) -> Self {
        JobError::Retry(e.to_string())
    }
}

/// A use case's refusal cannot turn into success by trying again: a job whose step is
/// forbidden, invalid, unknown or in conflict with the state fails at once. Only what
/// may pass later is retried: an internal error (the database, the CA, the network)
/// and a rate limit, which says itself when to come back.
impl From<AppError> for JobError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Internal(_) | AppError::TooMany { .. } => JobError::Retry(e.to_string()),
            AppError::NotFound
            | AppError::BadRequest(_)
            | AppError::Invalid(_)
            | AppError::Conflict(_)
            | AppError::Unauthorized
            | AppError::Forbidden(_)
            | AppError::Upload(_) => JobError::Fail(match &e {
                AppError::Invalid(fields) => format!(
                    "invalid: {}",
                    fields
                        .iter()
                        .map(|(f, m)| format!("{f}: {m}"))
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
                _ => e.to_string(),
            }),
        }
    }
}

/// The future a handler returns.
pub type BoxFuture<'a> = Pin<Box<dyn Future<Output = Result<(), JobError>> + Send + 'a>>;

/// Runs jobs of one kind. Implemented for every
/// `async fn(&Services, &Job) -> Result<(), JobError>`; implement it on a struct for a
/// handler that carries its own data.
pub trait Handler: Send + Sync + 'static {
    /// Runs `job`.
    fn run<'a>(&'a self, state: &'a Services, job: &'a Job) -> BoxFuture<'a>;
}

/// An async function usable as a [`Handler`] (named so the bound can say that its
/// future borrows the arguments).
pub trait JobFn<'a>: Send + Sync {
    /// The future it returns.
    type Fut: Future<Output = Result<(), JobError>> + Send + 'a;
    /// Calls it.
    fn call(&self, state: &'a Services, job: &'a Job) -> Self::Fut;
}

impl<'a, F, Fut> JobFn<'a> for F
where
    F: Fn(&'a Services, &'a Job) -> Fut + Send + Sync,
    Fut: Future<Output = Result<(), JobError>> + Send + 'a,
{
    type Fut = Fut;
    fn call(&self, state: &'a Services, job: &'a Job) -> Fut {
        self(state, job)
    }
}

impl<F> Handler for F
where
    F: for<'a> JobFn<'a> + 'static,
{
    fn run<'a>(&'a self, state: &'a Services, job: &'a Job) -> BoxFuture<'a> {
        Box::pin(self.call(state, job))
    }
}

/// Handlers by job kind, and the kinds that get worker lanes of their own.
#[derive(Clone, Default)]
pub struct Registry {
    handlers: HashMap<String, Arc<dyn Handler>>,
    own_lanes: Vec<&'static [&'static str]>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut kinds: Vec<&String> = self.handlers.keys().collect();
        kinds.sort();
        f.debug_struct("Registry")
            .field("kinds", &kinds)
            .field("own_lanes", &self.own_lanes)
            .finish()
    }
}

impl Registry {
    /// No handlers.
    pub fn empty() -> Self {
        Registry::default()
    }

    /// Sets the handler of `kind` (replacing any before).
    pub fn register(&mut self, kind: &str, handler: impl Handler) -> &mut Self {
        self.handlers.insert(kind.to_string(), Arc::new(handler));
        self
    }

    /// Gives `kinds` a worker lane of their own: their jobs never wait behind other
    /// kinds' jobs, nor the others behind them (a slow webhook endpoint must not
    /// delay a password-reset mail).
    pub fn own_lane(&mut self, kinds: &'static [&'static str]) -> &mut Self {
        self.own_lanes.push(kinds);
        self
    }

    /// The groups of kinds given lanes of their own, in the order given.
    pub fn own_lanes(&self) -> &[&'static [&'static str]] {
        &self.own_lanes
    }

    /// The handler of `kind`.
    pub fn get(&self, kind: &str) -> Option<Arc<dyn Handler>> {
        self.handlers.get(kind).cloned()
    }
}

/// The queue as a process runs it: its handlers, its timings and its worker's name.
#[derive(Debug, Clone)]
pub struct Queue {
    /// Handlers by kind.
    pub registry: Registry,
    /// Timings.
    pub settings: QueueSettings,
    /// Written to `locked_by` on claim: unique per process.
    pub worker_id: String,
}

impl Queue {
    /// `registry` with `settings`, under a fresh worker name.
    pub fn with_registry(registry: Registry, settings: QueueSettings) -> Self {
        let mut raw = [0u8; 4];
        let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut raw);
        Queue {
            registry,
            settings,
            worker_id: format!("pid{}-{}", std::process::id(), hex::encode(raw)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_fail_at_once_and_only_internal_errors_and_limits_retry() {
        let fail = |e: AppError| matches!(JobError::from(e), JobError::Fail(_));
        assert!(fail(AppError::NotFound));
        assert!(fail(AppError::Forbidden("staff only".into())));
        assert!(fail(AppError::Invalid(vec![(
            "site".into(),
            "unknown".into()
        )])));
        assert!(fail(AppError::Conflict("already decided".into())));
        assert!(fail(AppError::BadRequest("bad payload".into())));
        assert!(fail(AppError::Unauthorized));
        assert!(!fail(AppError::Internal(ca::Error::Config(
            "db down".into()
        ))));
        assert!(!fail(AppError::TooMany {
            message: "domain checks".into(),
            retry_after: 60
        }));
        assert_eq!(
            JobError::from(AppError::Invalid(vec![("site".into(), "unknown".into())])),
            JobError::Fail("invalid: site: unknown".into())
        );
    }
}
