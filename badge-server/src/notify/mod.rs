//! Every mail text and every webhook delivery, queued inside the caller's
//! transaction.

pub mod mail;
pub mod webhook;
