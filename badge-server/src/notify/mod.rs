//! Every mail text and every webhook delivery, queued inside the caller's
//! transaction.

pub mod account_mail;
pub mod complaint;
pub mod mail;
pub mod record_mail;
pub mod site_mail;
pub mod watch;
pub mod webhook;
