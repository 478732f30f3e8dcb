//! All of the server's SQL, one file per group of tables: private row structs,
//! conversions into domain types, and the only place with a backend branch.

pub mod complaints;
