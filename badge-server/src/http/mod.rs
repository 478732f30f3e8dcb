//! The only module that knows HTTP: the router and its middleware, the shared
//! state, extractors, the OpenAPI document, and the handlers — `api/` (JSON under
//! `/api/v1`), `pages/` (HTML for people signed in or signing in) and `public/`
//! (the seal, certificate pages, PKI files, health: what anyone may fetch).

pub mod api;
pub mod attachments;
pub mod demo;
pub mod edge;
pub mod encoding;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod openapi;
pub mod pages;
pub mod public;
pub mod router;
pub mod session;
pub mod state;
pub mod views;
pub mod web;

pub use state::AppState;
