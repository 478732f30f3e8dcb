//! Staff work on certified sites over JSON (issue 18): the filtered list, a site's
//! whole history, re-verify now, hold / release / revoke with a reason, notes, and
//! the console's queue counts. The same views as the console pages.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::account::{Account, Role};
use crate::domain::clock::now;
use crate::domain::site_list::{RawFilter, SiteAction, SiteFilter};
use crate::error::AppError;
use crate::http::openapi::{ErrorBody, InvalidFields, RecheckSummary};
use crate::http::state::AppState;
use crate::http::views::staff_site::{StaffQueues, StaffSiteDetail, StaffSiteList};
use crate::service::site_list as service;

/// Routes of this area.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(show))
        .routes(routes!(recheck))
        .routes(routes!(act))
        .routes(routes!(note))
        .routes(routes!(queues))
}

/// The filters of the staff sites list; every one optional, all of them combined.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// `certified`, `grace`, `held`, `revoked` or `expired`.
    pub(crate) state: Option<String>,
    /// `1`: re-verification (or a retry) is due.
    pub(crate) due: Option<String>,
    /// `1`: the checks fail.
    pub(crate) failing: Option<String>,
    /// `1`: in grace, the grace period ending within 24 hours.
    pub(crate) grace_ending: Option<String>,
    /// The latest re-verification's outcome: `pass`, `fail` or `error`.
    pub(crate) last: Option<String>,
    /// The organization's province, exactly (e.g. `北京市`).
    pub(crate) province: Option<String>,
    /// `1`: has a complaint not yet closed.
    pub(crate) complaints: Option<String>,
    /// `1`: its seal was seen on other hosts.
    pub(crate) copies: Option<String>,
    /// Domain, organization, USCC or ICP number (substring), or a site id.
    pub(crate) q: Option<String>,
    /// `newest` (default), `due` (next due first) or `failure` (latest failure first).
    pub(crate) sort: Option<String>,
    /// Rows per page, 1 to 200 (default 50).
    pub(crate) limit: Option<String>,
    /// Page, from 1; at most 10,000 rows are skipped.
    pub(crate) page: Option<String>,
}

impl ListQuery {
    /// The validated filter.
    pub(crate) fn filter(&self) -> Result<SiteFilter, AppError> {
        SiteFilter::parse(&RawFilter {
            state: self.state.as_deref(),
            due: self.due.as_deref(),
            failing: self.failing.as_deref(),
            grace_ending: self.grace_ending.as_deref(),
            last: self.last.as_deref(),
            province: self.province.as_deref(),
            complaints: self.complaints.as_deref(),
            copies: self.copies.as_deref(),
            q: self.q.as_deref(),
            sort: self.sort.as_deref(),
            limit: self.limit.as_deref(),
            page: self.page.as_deref(),
        })
    }
}

/// Certified sites, filtered
///
/// Staff or admin. Each row links to the site's staff page.
#[utoipa::path(
    get,
    path = "/api/v1/staff/sites",
    operation_id = "listStaffSites",
    tag = "sites",
    security(("bearer" = [])),
    params(ListQuery),
    responses(
        (status = 200, description = "One page of sites", body = StaffSiteList),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Not staff", body = ErrorBody),
        (status = 422, description = "A filter that is not valid, or a page too far", body = InvalidFields),
    )
)]
async fn list(
    State(state): State<AppState>,
    account: Account,
    Query(q): Query<ListQuery>,
) -> Result<Json<StaffSiteList>, AppError> {
    account.require(&[Role::Staff, Role::Admin])?;
    let now = now();
    let page = service::list(&state.services, &account, q.filter()?, now).await?;
    Ok(Json(StaffSiteList::new(page, now)))
}

/// A site's staff view
///
/// Staff or admin: identity, domains and filing numbers, every certificate, the
/// re-verification state and the whole history with its evidence.
#[utoipa::path(
    get,
    path = "/api/v1/staff/sites/{id}",
    operation_id = "showStaffSite",
    tag = "sites",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Site id (`s_…`)")),
    responses(
        (status = 200, description = "The site", body = StaffSiteDetail),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Not staff", body = ErrorBody),
        (status = 404, description = "No such site", body = ErrorBody),
    )
)]
async fn show(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
) -> Result<Json<StaffSiteDetail>, AppError> {
    let d = service::detail(&state.services, &account, &id, now()).await?;
    Ok(Json(d.into()))
}

/// What re-verifying a site now did.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StaffRechecked {
    /// The run's summary.
    #[schema(value_type = RecheckSummary)]
    summary: serde_json::Value,
    /// The site afterwards.
    site: StaffSiteDetail,
}

/// Re-verify a site now
///
/// Staff or admin, with the periodic run's consequences (grace, hold, release).
#[utoipa::path(
    post,
    path = "/api/v1/staff/sites/{id}/recheck",
    operation_id = "recheckStaffSite",
    tag = "sites",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Site id (`s_…`)")),
    responses(
        (status = 200, description = "The summary and the site afterwards", body = StaffRechecked),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Not staff", body = ErrorBody),
        (status = 404, description = "No such site", body = ErrorBody),
    )
)]
async fn recheck(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
) -> Result<Json<StaffRechecked>, AppError> {
    // Staff only, and 404 before anything runs for an unknown site.
    service::detail(&state.services, &account, &id, now()).await?;
    let summary = super::applications::run_recheck(&state, &account, &id).await?;
    let site = service::detail(&state.services, &account, &id, now()).await?;
    Ok(Json(StaffRechecked {
        summary: serde_json::json!(summary),
        site: site.into(),
    }))
}

/// A staff action's reason.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ActionBody {
    /// Why, in words (1 to 2,000 characters), kept in the audit chain.
    #[schema(example = "ICP filing cancelled according to MIIT")]
    reason: String,
    /// For `revoke`: the RFC 5280 reason (`keyCompromise`, `cessationOfOperation`,
    /// `privilegeWithdrawn`, …).
    #[schema(example = "privilegeWithdrawn")]
    rfc_reason: Option<String>,
}

/// Hold, release or revoke a site's certificate
///
/// Staff or admin. `hold` puts the certificate on hold (certificateHold), `release`
/// lifts a hold, `revoke` revokes for good with `rfc_reason`. The reason in words
/// goes into the audit chain (`site.hold`, `site.release`, `site.revoke`) in the
/// same transaction.
#[utoipa::path(
    post,
    path = "/api/v1/staff/sites/{id}/{action}",
    operation_id = "actOnStaffSite",
    tag = "sites",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "Site id (`s_…`)"),
        ("action" = String, Path, description = "`hold`, `release` or `revoke`"),
    ),
    request_body = ActionBody,
    responses(
        (status = 200, description = "The site afterwards", body = StaffSiteDetail),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Not staff", body = ErrorBody),
        (status = 404, description = "No such site or action", body = ErrorBody),
        (status = 409, description = "No certificate, or the CA refused (already revoked, not on hold)", body = ErrorBody),
        (status = 422, description = "No reason, or no valid RFC 5280 reason for a revocation", body = InvalidFields),
    )
)]
async fn act(
    State(state): State<AppState>,
    account: Account,
    Path((id, action)): Path<(String, String)>,
    body: Result<Json<ActionBody>, JsonRejection>,
) -> Result<Json<StaffSiteDetail>, AppError> {
    account.require(&[Role::Staff, Role::Admin])?;
    let action = SiteAction::parse(&action).ok_or(AppError::NotFound)?;
    let Json(b) = body?;
    let rfc = b.rfc_reason.as_deref().map(parse_reason).transpose()?;
    service::act(
        &state.services,
        &account,
        &id,
        action,
        rfc,
        &b.reason,
        now(),
    )
    .await?;
    let d = service::detail(&state.services, &account, &id, now()).await?;
    Ok(Json(d.into()))
}

/// An RFC 5280 reason name; 422 otherwise.
pub(crate) fn parse_reason(s: &str) -> Result<ca::RevocationReason, AppError> {
    s.parse().map_err(|_| {
        AppError::Invalid(vec![(
            "rfc_reason".into(),
            "an RFC 5280 reason name (e.g. privilegeWithdrawn)".into(),
        )])
    })
}

/// A note.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NoteBody {
    /// Free text, 1 to 2,000 characters.
    #[schema(example = "Operator called: the TXT record will be back tonight.")]
    note: String,
}

/// Where a note went.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct NoteKept {
    /// Its sequence number in the audit chain.
    seq: i64,
}

/// Note about a site
///
/// Staff or admin. Kept in the audit chain as `site.note`.
#[utoipa::path(
    post,
    path = "/api/v1/staff/sites/{id}/notes",
    operation_id = "noteStaffSite",
    tag = "sites",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Site id (`s_…`)")),
    request_body = NoteBody,
    responses(
        (status = 201, description = "Kept", body = NoteKept),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Not staff", body = ErrorBody),
        (status = 404, description = "No such site", body = ErrorBody),
        (status = 422, description = "Empty or too long", body = InvalidFields),
    )
)]
async fn note(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
    body: Result<Json<NoteBody>, JsonRejection>,
) -> Result<(StatusCode, Json<NoteKept>), AppError> {
    account.require(&[Role::Staff, Role::Admin])?;
    let Json(b) = body?;
    let seq = service::note(&state.services, &account, &id, &b.note).await?;
    Ok((StatusCode::CREATED, Json(NoteKept { seq })))
}

/// What waits for staff
///
/// Staff or admin: applications awaiting review (and why), sites whose grace ends
/// within 24 hours, complaints past their deadline, draft warnings; each with the
/// console page that lists them.
#[utoipa::path(
    get,
    path = "/api/v1/staff/queues",
    operation_id = "staffQueues",
    tag = "sites",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The counts", body = StaffQueues),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Not staff", body = ErrorBody),
    )
)]
async fn queues(
    State(state): State<AppState>,
    account: Account,
) -> Result<Json<StaffQueues>, AppError> {
    Ok(Json(
        service::queues(&state.services, &account, now())
            .await?
            .into(),
    ))
}
