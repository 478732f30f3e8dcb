//! Shared records (客户诚信档案): members submit them, members, staff and the
//! organizations concerned read them, the organization disputes, staff resolve.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::account::Account;
use crate::domain::clock::now;
use crate::domain::record::{NewRecord, Record};
use crate::error::AppError;
use crate::http::api::complaints::UploadQuery;
use crate::http::openapi::{ErrorBody, InvalidFields};
use crate::http::state::AppState;
use crate::service::records::{self as service, Outcome};

/// Routes of this area.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, submit))
        .routes(routes!(show))
        .routes(routes!(dispute))
        .routes(routes!(resolve))
        .routes(routes!(files))
        .routes(routes!(download))
}

/// The upload route, with the upload's own body limit (merged apart from the JSON
/// routes, like a complaint's).
pub fn uploads() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(upload))
}

/// A record's file as listed.
#[derive(Debug, serde::Serialize, ToSchema)]
struct FileView {
    /// `att_…`.
    id: String,
    /// The sniffed media type.
    media_type: String,
    /// Bytes.
    size: i64,
    /// SHA-256 of the bytes, hex.
    sha256: String,
    /// Display name.
    name: String,
    /// Unix seconds.
    created_at: i64,
    /// Where to download it (bearer token).
    url: String,
}

impl FileView {
    fn of(state: &AppState, a: crate::domain::attachment::Stored) -> FileView {
        FileView {
            url: format!(
                "{}/api/v1/records/{}/attachments/{}",
                state.services.public_base(),
                a.owner_id,
                a.id
            ),
            id: a.id,
            media_type: a.media_type,
            size: a.size,
            sha256: a.sha256,
            name: crate::domain::privacy::mask(&a.name),
            created_at: a.created_at,
        }
    }
}

/// Add evidence to a record
///
/// An account of the member that shared the record. The body is the file: PNG, JPEG
/// or WebP images (decoded and re-encoded without metadata) and PDFs without
/// scripts, launch actions or embedded files, sniffed from the content; the size and
/// count limits of complaint attachments apply. Audited.
#[utoipa::path(
    post,
    path = "/api/v1/records/{id}/attachments",
    operation_id = "addRecordAttachment",
    tag = "members",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Record id (r_…)"), UploadQuery),
    request_body(
        description = "The file's bytes",
        content(("image/png"), ("image/jpeg"), ("image/webp"), ("application/pdf"), ("application/octet-stream")),
    ),
    responses(
        (status = 201, description = "Added", body = FileView),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Sees the record but did not share it", body = ErrorBody),
        (status = 404, description = "No such record, or not one this account may see", body = ErrorBody),
        (status = 409, description = "The record has as many files as it may", body = ErrorBody),
        (status = 413, description = "Larger than the limit (5 MiB by default)", body = ErrorBody),
        (status = 415, description = "Not a PNG, JPEG, WebP or PDF by its content, or an active PDF", body = ErrorBody),
        (status = 422, description = "Empty, undecodable, too many pixels, or truncated", body = ErrorBody),
        (status = 429, description = "Too many uploads this hour", body = ErrorBody),
    )
)]
async fn upload(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
    Query(q): Query<UploadQuery>,
    request: axum::extract::Request,
) -> Result<(StatusCode, Json<FileView>), AppError> {
    let bytes =
        crate::http::api::complaints::read_upload(request, state.services.attachments.max_bytes)
            .await?;
    let stored =
        service::attach(&state.services, &account, &id, bytes.into(), q.name, now()).await?;
    Ok((StatusCode::CREATED, Json(FileView::of(&state, stored))))
}

/// A record's files
///
/// Whoever may see the record.
#[utoipa::path(
    get,
    path = "/api/v1/records/{id}/attachments",
    operation_id = "listRecordAttachments",
    tag = "members",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Record id (r_…)")),
    responses(
        (status = 200, description = "Its files, oldest first", body = [FileView]),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 404, description = "No such record, or not one this account may see", body = ErrorBody),
    )
)]
async fn files(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
) -> Result<Json<Vec<FileView>>, AppError> {
    let list = service::attachments(&state.services, &account, &id).await?;
    Ok(Json(
        list.into_iter().map(|a| FileView::of(&state, a)).collect(),
    ))
}

/// Download a record's file
///
/// Whoever may see the record; served as a download with `nosniff`, a sandboxing
/// policy and `Cache-Control: private, no-store`.
#[utoipa::path(
    get,
    path = "/api/v1/records/{id}/attachments/{attachment}",
    operation_id = "getRecordAttachment",
    tag = "members",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "Record id (r_…)"),
        ("attachment" = String, Path, description = "Attachment id (att_…)"),
    ),
    responses(
        (status = 200, description = "The file, as `Content-Disposition: attachment`",
            content(("image/png"), ("image/jpeg"), ("image/webp"), ("application/pdf"))),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 404, description = "No such record or file, or not one this account may see", body = ErrorBody),
    )
)]
async fn download(
    State(state): State<AppState>,
    account: Account,
    Path((id, attachment_id)): Path<(String, String)>,
) -> Result<axum::response::Response, AppError> {
    let (stored, content) =
        service::attachment(&state.services, &account, &id, &attachment_id).await?;
    let name = crate::domain::privacy::mask(&stored.name);
    Ok(crate::http::attachments::download(&stored, &name, content))
}

/// A record to share.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RecordBody {
    /// The organization's USCC (this, `domain`, or both).
    #[serde(default)]
    #[schema(example = "91110108MA04T7K21H")]
    uscc: Option<String>,
    /// The site's domain.
    #[serde(default)]
    #[schema(example = "shop.example.cn")]
    domain: Option<String>,
    /// A complaint category: fraud, counterfeit, false_information, privacy, service,
    /// other.
    #[schema(example = "fraud")]
    category: String,
    /// What happened, 1 to 4000 characters. Personal data is masked; a phone, ID-card
    /// or bank-card number left after masking is refused (422).
    summary: String,
    /// `members` (every member, and the exchange feed) or `staff` (alliance staff only).
    #[schema(example = "members")]
    scope: String,
}

/// Share a record
///
/// Member accounts. The organization concerned is told (its operators, by mail) and
/// may dispute it. Audited.
#[utoipa::path(
    post,
    path = "/api/v1/records",
    operation_id = "submitRecord",
    tag = "members",
    security(("bearer" = [])),
    request_body = RecordBody,
    responses(
        (status = 201, description = "Stored (masked)", body = Record),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Not a member account", body = ErrorBody),
        (status = 413, description = "The body is larger than the server takes", body = ErrorBody),
        (status = 422, description = "Invalid fields (each named), or a body of the wrong shape", body = InvalidFields),
    )
)]
async fn submit(
    State(state): State<AppState>,
    account: Account,
    body: Result<Json<RecordBody>, JsonRejection>,
) -> Result<(StatusCode, Json<Record>), AppError> {
    let Json(b) = body?;
    let new = NewRecord {
        uscc: b.uscc.as_deref(),
        domain: b.domain.as_deref(),
        category: &b.category,
        summary: &b.summary,
        scope: &b.scope,
    };
    let r = service::submit(&state.services, &account, &new, now()).await?;
    Ok((StatusCode::CREATED, Json(r)))
}

/// Which records.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only records about this USCC.
    uscc: Option<String>,
    /// Only records about this domain.
    domain: Option<String>,
}

/// Records
///
/// Member accounts see records shared with all members and their member's own; staff
/// see every record; operators see the records about their organizations and sites.
/// Newest first, at most 500.
#[utoipa::path(
    get,
    path = "/api/v1/records",
    operation_id = "listRecords",
    tag = "members",
    security(("bearer" = [])),
    params(ListQuery),
    responses(
        (status = 200, description = "The records", body = [Record]),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Neither a member, staff nor an operator", body = ErrorBody),
    )
)]
async fn list(
    State(state): State<AppState>,
    account: Account,
    Query(q): Query<ListQuery>,
) -> Result<Json<Vec<Record>>, AppError> {
    Ok(Json(
        service::list(
            &state.services,
            &account,
            q.uscc.as_deref(),
            q.domain.as_deref(),
        )
        .await?,
    ))
}

/// One record
///
/// Whoever may see it (as for the list); 404 for everyone else.
#[utoipa::path(
    get,
    path = "/api/v1/records/{id}",
    operation_id = "getRecord",
    tag = "members",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Record id (r_…)")),
    responses(
        (status = 200, description = "The record", body = Record),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 404, description = "No such record, or not one this account may see", body = ErrorBody),
    )
)]
async fn show(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
) -> Result<Json<Record>, AppError> {
    Ok(Json(service::get(&state.services, &account, &id).await?))
}

/// A dispute.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct DisputeBody {
    /// Why the record is wrong, 1 to 2000 characters (masked).
    text: String,
}

/// Dispute a record
///
/// Operators of the organization or site the record concerns, once. The record is
/// marked disputed wherever it is shown; staff are told. Audited.
#[utoipa::path(
    post,
    path = "/api/v1/records/{id}/dispute",
    operation_id = "disputeRecord",
    tag = "members",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Record id (r_…)")),
    request_body = DisputeBody,
    responses(
        (status = 200, description = "Disputed", body = Record),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Sees the record but is not the organization concerned", body = ErrorBody),
        (status = 404, description = "No such record, or not one this account may see", body = ErrorBody),
        (status = 409, description = "Disputed already", body = ErrorBody),
        (status = 422, description = "Invalid text", body = InvalidFields),
    )
)]
async fn dispute(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
    body: Result<Json<DisputeBody>, JsonRejection>,
) -> Result<Json<Record>, AppError> {
    let Json(b) = body?;
    Ok(Json(
        service::dispute(&state.services, &account, &id, &b.text, now()).await?,
    ))
}

/// A staff decision on a record.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ResolveBody {
    /// `keep` (a disputed record stands, marked disputed) or `delete`.
    #[schema(example = "keep")]
    outcome: String,
    /// Why, 1 to 2000 characters (masked; audited).
    reason: String,
}

/// Resolve a record
///
/// Staff. Audited; a deleted record shared with members is announced on the feed.
#[utoipa::path(
    post,
    path = "/api/v1/records/{id}/resolve",
    operation_id = "resolveRecord",
    tag = "members",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Record id (r_…)")),
    request_body = ResolveBody,
    responses(
        (status = 200, description = "Kept: the record", body = Record),
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Not staff", body = ErrorBody),
        (status = 404, description = "No such record", body = ErrorBody),
        (status = 409, description = "Keep: the record is not disputed, or resolved already", body = ErrorBody),
        (status = 422, description = "Invalid fields", body = InvalidFields),
    )
)]
async fn resolve(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
    body: Result<Json<ResolveBody>, JsonRejection>,
) -> Result<axum::response::Response, AppError> {
    use axum::response::IntoResponse;
    let Json(b) = body?;
    let outcome = match b.outcome.as_str() {
        "keep" => Outcome::Keep,
        "delete" => Outcome::Delete,
        _ => {
            return Err(AppError::Invalid(vec![(
                "outcome".into(),
                "keep or delete".into(),
            )]));
        }
    };
    Ok(
        match service::resolve(&state.services, &account, &id, outcome, &b.reason, now()).await? {
            Some(r) => Json(r).into_response(),
            None => StatusCode::NO_CONTENT.into_response(),
        },
    )
}
