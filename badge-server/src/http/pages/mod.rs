//! Thin HTML handlers: accounts, the operator portal, the staff console and the
//! complaint pages.

pub mod accounts;
pub mod complaints;
pub mod console;
pub mod conventions;
pub mod events;
pub mod portal;
pub mod rechecks;
pub mod settings;
pub mod staff_sites;
