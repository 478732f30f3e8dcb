//! Every mail text and every webhook delivery, queued inside the caller's
//! transaction.

pub mod complaint;
pub mod mail;
pub mod webhook;
