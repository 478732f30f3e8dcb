//! All of the server's SQL, one file per group of tables: private row handling and
//! conversions into domain types; the only place with a backend branch.

pub mod accounts;
pub mod applications;
pub mod complaints;
pub mod sessions;
pub mod sites;
