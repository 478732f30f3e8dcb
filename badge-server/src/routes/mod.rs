//! Handlers, one module per area.

pub mod applications;
pub mod archive;
pub mod certificate;
pub mod health;
pub mod me;
pub mod pki;
pub mod public;
pub mod seal;
