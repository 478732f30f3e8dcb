//! Typed views: the JSON the API returns and the values the pages read, built from
//! domain and service types, and described by the OpenAPI document as they are.

pub mod application;
pub mod board;
pub mod convention;
pub mod event;
pub mod log;
pub mod settings;
pub mod site;
pub mod staff_site;
pub mod text;
pub mod warning;
