//! What handlers take from a request: the bearer token's account, the session and
//! its CSRF checks, rate limits per client network, and the `Referer` host.

pub mod auth;
pub mod limiter;
pub mod referer;
pub mod session;
