//! Handlers, one module per area.

pub mod health;
pub mod me;
pub mod pki;
