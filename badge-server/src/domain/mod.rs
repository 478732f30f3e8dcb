//! Pure types and rules: no SQL, no HTTP; unit-tested in place.

pub mod account;
pub mod password;
pub mod privacy;
pub mod seal;
