//! An event as the API returns it and the pages read it.

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::event::Event;

/// An event as the API returns it and the pages read it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventView {
    /// Row id.
    pub id: i64,
    /// Title.
    pub title: String,
    /// Start (unix seconds).
    pub starts_at: i64,
    /// Start in Beijing time, as people read it.
    #[schema(example = "2026-12-20 14:30 (UTC+8)")]
    pub starts: String,
    /// Where.
    pub place: String,
    /// What it is about (plain text).
    pub description: String,
    /// Where to register (http or https), if anywhere.
    #[schema(required = true)]
    pub registration_url: Option<String>,
    /// The start has passed.
    pub past: bool,
}

impl EventView {
    /// The view of `e` at time `now`.
    pub fn new(e: Event, now: i64) -> Self {
        EventView {
            id: e.id,
            starts: crate::domain::clock::date_time(e.starts_at),
            past: e.starts_at < now,
            title: e.title,
            starts_at: e.starts_at,
            place: e.place,
            description: e.description,
            registration_url: e.registration_url,
        }
    }
}
