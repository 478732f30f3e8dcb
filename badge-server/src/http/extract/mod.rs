//! What handlers take from a request: the bearer token's account, the session and
//! its CSRF checks, and the `Referer` host.

pub mod auth;
pub mod referer;
pub mod session;
