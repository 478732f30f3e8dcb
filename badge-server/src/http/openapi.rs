//! The OpenAPI document of the JSON API under `/api/v1`, served at
//! `GET /api/v1/openapi.json` (assembled from the routers by `http::router::document`).
//!
//! Each handler carries its own `#[utoipa::path]` and its area router registers it with
//! `utoipa_axum::routes!`, so the path and method the document names are the ones the
//! router answers. This module adds what no handler owns: the document's title, the
//! bearer scheme, and schemas for types from other crates that handlers return
//! (challenges, re-verification summaries). The views the API
//! returns (`crate::http::views`) describe themselves.
//!
//! `tests/openapi.rs` holds the document and the router to the same story: every
//! documented operation is routed, no other method or `/api/v1` path is, and the bodies
//! the real handlers return match the documented schemas.

use std::collections::BTreeMap;
use utoipa::{OpenApi, ToSchema};

/// Name of the bearer security scheme, as operations refer to it.
pub const BEARER: &str = "bearer";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Chengxin JSON API",
        description = "Applications for a Chengxin trust seal, the sites it certifies, and the \
            public registry. Operators and staff authenticate with a bearer token \
            (`badge-server token create`). Errors are JSON: `{\"error\": message}`, and \
            `{\"error\": \"invalid fields\", \"fields\": {name: message}}` for 422. \
            Exceptions, marked on the operations: malformed query strings, and a malformed \
            body on verify, are rejected by the framework with a plain-text message.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    tags(
        (name = "applications", description = "Apply, prove domain control, and staff review"),
        (name = "sites", description = "Certified sites: their state, revocation, re-verification"),
        (name = "registry", description = "Public, unauthenticated look-ups"),
        (name = "account", description = "The token's account"),
        (name = "complaints", description = "File, answer, give feedback on and decide complaints about certified sites"),
        (name = "warnings", description = "Fraud warnings and the copied-seal report they come from"),
        (name = "webhooks", description = "Events POSTed to the operator's URL, signed: \
            `Chengxin-Webhook-Signature: v1=<hex HMAC-SHA256(secret, \"<id>.<timestamp>.<body>\")>` \
            with `Chengxin-Webhook-Id` and `Chengxin-Webhook-Timestamp` (unix seconds). \
            Receivers must verify the signature in constant time and reject timestamps \
            older than 5 minutes (replays); the id repeats on retries (deduplicate by it)."),
        (name = "conventions", description = "Self-discipline conventions: staff publish them in versions, operators sign them for their organizations"),
        (name = "events", description = "Seminars and forums: the public list, staff publishing them"),
        (name = "members", description = "Members of the alliance and their trust-and-safety accounts"),
        (name = "settings", description = "Settings staff change without a restart: complaint deadlines, re-verification intervals, grace period"),
        (name = "meta", description = "This document"),
    )
)]
struct ApiDoc;

/// The document's frame: info and tags, and no paths (the routers bring those).
pub(crate) fn frame() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// Every error but invalid fields (and the plain-text rejections the operations name).
#[derive(ToSchema)]
pub struct ErrorBody {
    /// What went wrong, for a person.
    pub error: String,
}

/// 422: fields of the request that failed validation.
#[derive(ToSchema)]
pub struct InvalidFields {
    /// Always `invalid fields`.
    #[schema(example = "invalid fields")]
    pub error: String,
    /// Field name (`uscc`, `domains[0]`, `body`, …) → what is wrong with it.
    pub fields: BTreeMap<String, String>,
}

/// What to publish to prove control of one domain, by one method; any one method per
/// domain suffices.
#[derive(ToSchema)]
#[serde(tag = "method", rename_all = "kebab-case")]
pub enum Challenge {
    /// Publish a TXT record.
    DnsTxt {
        /// The domain this proves.
        domain: String,
        /// Record name (`_chengxin-challenge.<domain>`).
        name: String,
        /// Record value: the application's token.
        value: String,
    },
    /// Serve a file.
    HttpFile {
        /// The domain this proves.
        domain: String,
        /// Where (`http://<domain>/.well-known/chengxin/<token>`).
        url: String,
        /// Its exact body.
        body: String,
    },
    /// Add a meta tag to the homepage head.
    HtmlMeta {
        /// The domain this proves.
        domain: String,
        /// The tag.
        html: String,
    },
}

/// What a re-verification run did.
#[derive(ToSchema)]
pub struct RecheckSummary {
    /// Sites checked.
    pub checked: u64,
    /// Sites whose checks passed.
    pub passed: u64,
    /// Sites with a transient error, to retry.
    pub retried: u64,
    /// Sites that started a grace period.
    pub entered_grace: u64,
    /// Sites still failing within grace or suspension.
    pub still_failing: u64,
    /// Certificates put on hold.
    pub suspended: u64,
    /// Certificates revoked.
    pub revoked: u64,
    /// Holds released after the checks passed again.
    pub released: u64,
    /// Sites that could not be processed, with the reason.
    pub failures: Vec<String>,
    /// Every site whose state changed, with the reason.
    pub changes: Vec<RecheckChange>,
}

/// A site whose re-verification state changed.
#[derive(ToSchema)]
pub struct RecheckChange {
    /// The site id.
    pub site: String,
    /// `ok`, `grace`, `suspended` or `revoked` before.
    pub from: String,
    /// The state after.
    pub to: String,
    /// Why.
    pub reason: String,
}
