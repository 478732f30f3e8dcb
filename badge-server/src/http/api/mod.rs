//! Thin JSON handlers under `/api/v1`, one module per area.

pub mod applications;
pub mod complaints;
pub mod conventions;
pub mod events;
pub mod me;
pub mod members;
pub mod warnings;
pub mod watch;
pub mod webhook;
