//! The durable job queue (generic: claim, run, retry, fail), its worker, and the
//! handlers the application registers.

pub mod handlers;
pub mod kind;
pub mod queue;
