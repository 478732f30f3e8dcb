//! All of the server's SQL, one file per group of tables: private row handling and
//! conversions into domain types; the only place with a backend branch.

pub mod accounts;
pub mod applications;
pub mod attachments;
pub mod complaints;
pub mod conventions;
pub mod events;
pub mod exchange;
pub mod figures;
pub mod health;
pub mod housekeeping;
pub mod jobs;
pub mod member_origins;
pub mod members;
pub mod notices;
pub mod rechecks;
pub mod records;
pub mod reports;
pub mod seal_changes;
pub mod seal_copies;
pub mod seal_fetches;
pub mod sessions;
pub mod settings;
pub mod site_list;
pub mod sites;
pub mod warnings;
pub mod watch;
pub mod webhooks;
