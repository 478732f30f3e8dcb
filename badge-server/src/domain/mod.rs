//! Pure types and rules: no SQL, no HTTP; unit-tested in place.

pub mod account;
pub mod application;
pub mod attachment;
pub mod board;
pub mod clock;
pub mod complaint;
pub mod convention;
pub mod event;
pub mod exchange;
pub mod impersonation;
pub mod jws;
pub mod member;
pub mod notice;
pub mod password;
pub mod places;
pub mod privacy;
pub mod recheck_run;
pub mod record;
pub mod report;
pub mod seal;
pub mod settings;
pub mod site;
pub mod site_list;
pub mod warning;
pub mod watch;
