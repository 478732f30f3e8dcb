//! Thin JSON handlers under `/api/v1`, one module per area.

pub mod applications;
pub mod complaints;
pub mod conventions;
pub mod events;
pub mod exchange;
pub mod me;
pub mod members;
pub mod origins;
pub mod rechecks;
pub mod records;
pub mod settings;
pub mod staff_sites;
pub mod warnings;
pub mod watch;
pub mod webhook;
