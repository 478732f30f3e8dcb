//! The complaint platform over JSON, for member integrations: the same steps and the
//! same rules as the pages (they call the same `complaint` functions).

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::account::Account;
use crate::domain::attachment::{Refusal, Stored};
use crate::domain::complaint::{Complaint, Decision, Event, Party, attachment_name};
use crate::domain::privacy;
use crate::error::AppError;
use crate::http::openapi::{ErrorBody, InvalidFields};
use crate::http::state::AppState;
use crate::service::attachments;
use crate::service::complaints as complaint;

/// Routes of this area, each documented by its handler.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(file, list))
        .routes(routes!(show))
        .routes(routes!(answer))
        .routes(routes!(feedback))
        .routes(routes!(decide))
        .routes(routes!(withdraw))
        .routes(routes!(mark_prominent, unmark_prominent))
        .routes(routes!(download))
}

/// The upload, kept out of the 64 KiB body limit that covers every other route
/// ([`crate::http::router`]): it reads its body up to the configured attachment size.
pub fn uploads() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(upload))
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A complaint about a certified site.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct FileBody {
    /// The site id (`s_…`), as in its certificate page's address.
    site: String,
    /// `fraud`, `counterfeit`, `false_information`, `privacy`, `service` or `other`.
    #[schema(example = "fraud")]
    category: String,
    /// What happened: 10 to 5000 characters. Phone numbers, e-mail addresses, ID and
    /// bank-card numbers are masked before the operator or the public sees it.
    text: String,
}

/// Text from the operator.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct AnswerBody {
    /// The answer: 1 to 5000 characters.
    text: String,
}

/// The complainant's verdict on the answer.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct FeedbackBody {
    /// Satisfied: staff close the complaint; not satisfied: staff review it.
    satisfied: bool,
    /// Optional words on the answer.
    text: Option<String>,
}

/// Staff's decision.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct DecideBody {
    /// `upheld` or `dismissed`.
    #[schema(example = "upheld")]
    decision: String,
    /// Why; shown to both parties.
    reason: String,
    /// For an upheld complaint: `privilegeWithdrawn` (default, final) or
    /// `certificateHold` (suspend first).
    revocation: Option<String>,
}

/// A complaint as one party sees it. The operator sees the text masked and never
/// who complained; staff see everything.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ComplaintView {
    /// `c_…`.
    pub(crate) id: String,
    /// The site complained about.
    pub(crate) site: String,
    /// Category.
    pub(crate) category: String,
    /// `submitted`, `forwarded`, `answered`, `feedback`, `under_review`, `upheld`,
    /// `dismissed`, `withdrawn` or `overdue`.
    pub(crate) status: String,
    /// The complaint (masked for the operator).
    pub(crate) text: String,
    /// Filed at (unix seconds).
    pub(crate) created_at: i64,
    /// The operator must answer by (unix seconds).
    pub(crate) deadline_at: i64,
    /// The operator's answer.
    pub(crate) answer: Option<String>,
    /// When it was answered.
    pub(crate) answered_at: Option<i64>,
    /// The complainant's verdict.
    pub(crate) satisfied: Option<bool>,
    /// The complainant's words on the answer.
    pub(crate) feedback: Option<String>,
    /// Staff's reason.
    pub(crate) decision_reason: Option<String>,
    /// When staff decided.
    pub(crate) decided_at: Option<i64>,
    /// `complainant`, `operator` or `staff`: how the caller relates to it.
    pub(crate) you_are: String,
    /// The complainant's account id: staff only.
    pub(crate) complainant_id: Option<i64>,
    /// What happened, in order.
    pub(crate) events: Vec<Event>,
    /// Files the parties added, oldest first.
    pub(crate) attachments: Vec<AttachmentView>,
}

/// A file added to a complaint, as one party sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct AttachmentView {
    /// `att_…`.
    pub(crate) id: String,
    /// The file name as given, cleaned for display (no path, no control characters)
    /// and ending in an extension of its type; masked for the operator.
    pub(crate) name: String,
    /// `image/png`, `image/jpeg`, `image/webp` or `application/pdf`: sniffed from the
    /// content, never taken from the upload's name or Content-Type.
    #[schema(example = "image/png")]
    pub(crate) media_type: String,
    /// Bytes as stored (images are re-encoded without their metadata).
    pub(crate) size: i64,
    /// SHA-256 of the stored bytes, hex.
    pub(crate) sha256: String,
    /// `complainant`, `operator` or `staff`: who added it.
    pub(crate) uploaded_by: String,
    /// When (unix seconds).
    pub(crate) created_at: i64,
    /// Where to download it (with the same bearer token).
    pub(crate) download_url: String,
}

impl AttachmentView {
    fn of(state: &AppState, party: Party, a: Stored) -> AttachmentView {
        AttachmentView {
            download_url: format!(
                "{}/api/v1/complaints/{}/attachments/{}",
                state.public_base(),
                a.owner_id,
                a.id
            ),
            name: attachment_name(party, &a.name),
            id: a.id,
            media_type: a.media_type,
            size: a.size,
            sha256: a.sha256,
            uploaded_by: a.uploader_role,
            created_at: a.created_at,
        }
    }
}

pub(crate) async fn view(
    state: &AppState,
    c: Complaint,
    party: Party,
) -> Result<ComplaintView, AppError> {
    let events = complaint::events(state, &c.id).await?;
    let attachments = attachments::list(state, &c.id)
        .await?
        .into_iter()
        .map(|a| AttachmentView::of(state, party, a))
        .collect();
    let (text, feedback) = match party {
        Party::Operator => (
            privacy::mask(&c.text),
            c.feedback_text.as_deref().map(privacy::mask),
        ),
        Party::Complainant | Party::Staff => (c.text, c.feedback_text),
    };
    Ok(ComplaintView {
        id: c.id,
        site: c.site_id,
        category: c.category.as_str().into(),
        status: c.status.as_str().into(),
        text,
        created_at: c.created_at,
        deadline_at: c.deadline_at,
        answer: c.answer_text,
        answered_at: c.answered_at,
        satisfied: c.satisfied,
        feedback,
        decision_reason: c.decision_reason,
        decided_at: c.decided_at,
        you_are: party.as_str().into(),
        complainant_id: (party == Party::Staff).then_some(c.complainant_id),
        events,
        attachments,
    })
}

async fn as_party(
    state: &AppState,
    account: &Account,
    c: Complaint,
) -> Result<Json<ComplaintView>, AppError> {
    let party = complaint::party(state, account, &c).await?;
    Ok(Json(view(state, c, party).await?))
}

/// File a complaint
///
/// Registered users (and operators, about sites not their own). The operator is
/// notified at once and must answer by the deadline.
#[utoipa::path(
    post,
    path = "/api/v1/complaints",
    operation_id = "fileComplaint",
    tag = "complaints",
    security(("bearer" = [])),
    request_body = FileBody,
    responses(
        (status = 201, description = "Filed and forwarded to the operator", body = ComplaintView),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Staff cannot file; operators cannot complain about their own site", body = ErrorBody),
        (status = 422, description = "Invalid fields, or a body of the wrong shape (`fields.body`)", body = InvalidFields),
    )
)]
async fn file(
    State(state): State<AppState>,
    account: Account,
    body: Result<Json<FileBody>, JsonRejection>,
) -> Result<(StatusCode, Json<ComplaintView>), AppError> {
    let Json(b) = body?;
    let c = complaint::submit(&state, &account, &b.site, &b.category, &b.text, now()).await?;
    Ok((
        StatusCode::CREATED,
        Json(view(&state, c, Party::Complainant).await?),
    ))
}

/// Complaints the caller may see
///
/// Staff: the queue, open complaints first by deadline. Others: those they filed and
/// those about their sites.
#[utoipa::path(
    get,
    path = "/api/v1/complaints",
    operation_id = "listComplaints",
    tag = "complaints",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "At most 200 complaints", body = Vec<ComplaintView>),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
    )
)]
async fn list(
    State(state): State<AppState>,
    account: Account,
) -> Result<Json<Vec<ComplaintView>>, AppError> {
    let mut out = Vec::new();
    for c in complaint::list(&state, &account).await? {
        let party = complaint::party(&state, &account, &c).await?;
        out.push(view(&state, c, party).await?);
    }
    Ok(Json(out))
}

/// One complaint
///
/// The complainant, the site's operator (text masked, complainant hidden) or staff.
#[utoipa::path(
    get,
    path = "/api/v1/complaints/{id}",
    operation_id = "getComplaint",
    tag = "complaints",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Complaint id (`c_…`)")),
    responses(
        (status = 200, description = "The complaint", body = ComplaintView),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Not a party to it", body = ErrorBody),
        (status = 404, description = "No such complaint", body = ErrorBody),
    )
)]
async fn show(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
) -> Result<Json<ComplaintView>, AppError> {
    let c = complaint::get(&state, &id).await?;
    as_party(&state, &account, c).await
}

/// Answer a complaint
///
/// The site's operator, while it is forwarded (or overdue: a late answer is recorded
/// as late).
#[utoipa::path(
    post,
    path = "/api/v1/complaints/{id}/answer",
    operation_id = "answerComplaint",
    tag = "complaints",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Complaint id (`c_…`)")),
    request_body = AnswerBody,
    responses(
        (status = 200, description = "Answered; the complainant is told", body = ComplaintView),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Not the site's operator", body = ErrorBody),
        (status = 404, description = "No such complaint", body = ErrorBody),
        (status = 409, description = "Not awaiting an answer", body = ErrorBody),
        (status = 422, description = "Invalid text, or a body of the wrong shape", body = InvalidFields),
    )
)]
async fn answer(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
    body: Result<Json<AnswerBody>, JsonRejection>,
) -> Result<Json<ComplaintView>, AppError> {
    let Json(b) = body?;
    let c = complaint::answer(&state, &account, &id, &b.text, now()).await?;
    as_party(&state, &account, c).await
}

/// Give feedback on the answer
///
/// The complainant, once the operator answered.
#[utoipa::path(
    post,
    path = "/api/v1/complaints/{id}/feedback",
    operation_id = "complaintFeedback",
    tag = "complaints",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Complaint id (`c_…`)")),
    request_body = FeedbackBody,
    responses(
        (status = 200, description = "Recorded: `feedback` when satisfied, `under_review` when not", body = ComplaintView),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Not the complainant", body = ErrorBody),
        (status = 404, description = "No such complaint", body = ErrorBody),
        (status = 409, description = "Not answered (yet), or already past feedback", body = ErrorBody),
        (status = 422, description = "Invalid text, or a body of the wrong shape", body = InvalidFields),
    )
)]
async fn feedback(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
    body: Result<Json<FeedbackBody>, JsonRejection>,
) -> Result<Json<ComplaintView>, AppError> {
    let Json(b) = body?;
    let c =
        complaint::feedback(&state, &account, &id, b.satisfied, b.text.as_deref(), now()).await?;
    as_party(&state, &account, c).await
}

/// Decide a complaint
///
/// Staff. Upheld revokes the site's certificate (`privilegeWithdrawn`, or
/// `certificateHold` first) in the same step; both parties are told.
#[utoipa::path(
    post,
    path = "/api/v1/complaints/{id}/decide",
    operation_id = "decideComplaint",
    tag = "complaints",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Complaint id (`c_…`)")),
    request_body = DecideBody,
    responses(
        (status = 200, description = "Decided", body = ComplaintView),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Not staff", body = ErrorBody),
        (status = 404, description = "No such complaint", body = ErrorBody),
        (status = 409, description = "Not ready for a decision, or already decided", body = ErrorBody),
        (status = 422, description = "Unknown decision or revocation, empty reason, or a body of the wrong shape", body = InvalidFields),
    )
)]
async fn decide(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
    body: Result<Json<DecideBody>, JsonRejection>,
) -> Result<Json<ComplaintView>, AppError> {
    let Json(b) = body?;
    let decision = decision(&b.decision, b.revocation.as_deref())?;
    let c = complaint::decide(&state, &account, &id, decision, &b.reason, now()).await?;
    as_party(&state, &account, c).await
}

/// Mark an upheld complaint prominent
///
/// Staff. A prominent case (重点案例) leads the board members embed
/// (`/embed/warnings`), the Atom feed (`/warnings.atom`) and `/warnings` with the
/// site's domain, the category and staff's reason (masked), within a minute on every
/// one of them. Audited.
#[utoipa::path(
    post,
    path = "/api/v1/complaints/{id}/prominent",
    operation_id = "markComplaintProminent",
    tag = "complaints",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Complaint id (`c_…`)")),
    responses(
        (status = 204, description = "Marked"),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Not staff", body = ErrorBody),
        (status = 404, description = "No such complaint", body = ErrorBody),
        (status = 409, description = "The complaint is not upheld", body = ErrorBody),
    )
)]
async fn mark_prominent(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    complaint::set_prominent(&state, &account, &id, true, now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Unmark a prominent complaint
///
/// Staff. The complaint leaves the board, the feed and `/warnings`. Audited.
#[utoipa::path(
    delete,
    path = "/api/v1/complaints/{id}/prominent",
    operation_id = "unmarkComplaintProminent",
    tag = "complaints",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Complaint id (`c_…`)")),
    responses(
        (status = 204, description = "Unmarked"),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Not staff", body = ErrorBody),
        (status = 404, description = "No such complaint", body = ErrorBody),
        (status = 409, description = "The complaint is not upheld", body = ErrorBody),
    )
)]
async fn unmark_prominent(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    complaint::set_prominent(&state, &account, &id, false, now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Withdraw a complaint
///
/// The complainant, until staff decide.
#[utoipa::path(
    post,
    path = "/api/v1/complaints/{id}/withdraw",
    operation_id = "withdrawComplaint",
    tag = "complaints",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Complaint id (`c_…`)")),
    responses(
        (status = 200, description = "Withdrawn", body = ComplaintView),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Not the complainant", body = ErrorBody),
        (status = 404, description = "No such complaint", body = ErrorBody),
        (status = 409, description = "Already decided or withdrawn", body = ErrorBody),
    )
)]
async fn withdraw(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
) -> Result<Json<ComplaintView>, AppError> {
    let c = complaint::withdraw(&state, &account, &id, now()).await?;
    as_party(&state, &account, c).await
}

/// The upload's name, for display only.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct UploadQuery {
    /// The file's name as the uploader knows it (`截图.png`): shown and downloaded as,
    /// after cleaning; never used to decide the type.
    pub(crate) name: Option<String>,
}

/// Add a file to a complaint
///
/// The complainant, the site's operator or staff, while the complaint is not closed
/// (upheld, dismissed or withdrawn). The body is the file itself. Its type is sniffed
/// from the content (the Content-Type header and the name are not looked at): PNG,
/// JPEG and WebP images, which are decoded and re-encoded without their metadata
/// (EXIF, GPS), and PDF documents without scripts, launch actions or embedded files.
/// At most 5 MiB and 5 files per complaint (configurable).
#[utoipa::path(
    post,
    path = "/api/v1/complaints/{id}/attachments",
    operation_id = "addComplaintAttachment",
    tag = "complaints",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Complaint id (`c_…`)"), UploadQuery),
    request_body(
        description = "The file's bytes",
        content(("image/png"), ("image/jpeg"), ("image/webp"), ("application/pdf"), ("application/octet-stream")),
    ),
    responses(
        (status = 201, description = "Added; the timeline and the audit log say so", body = AttachmentView),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Not a party to it", body = ErrorBody),
        (status = 404, description = "No such complaint", body = ErrorBody),
        (status = 409, description = "The complaint is closed, or has as many files as it may", body = ErrorBody),
        (status = 413, description = "Larger than the limit (5 MiB by default)", body = ErrorBody),
        (status = 415, description = "Not a PNG, JPEG, WebP or PDF by its content, or a PDF with scripts, launch actions or embedded files", body = ErrorBody),
        (status = 422, description = "Empty, an image that does not decode or has too many pixels, or a truncated PDF", body = ErrorBody),
    )
)]
async fn upload(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
    Query(q): Query<UploadQuery>,
    request: Request,
) -> Result<(StatusCode, Json<AttachmentView>), AppError> {
    let bytes = read_upload(request, state.attachments.max_bytes).await?;
    let (stored, party) =
        attachments::attach(&state, &account, &id, bytes.into(), q.name, now()).await?;
    Ok((
        StatusCode::CREATED,
        Json(AttachmentView::of(&state, party, stored)),
    ))
}

/// The body of a raw upload, at most `max` bytes: 413 when `Content-Length` says more,
/// or when the stream runs past it.
pub(crate) async fn read_upload(mut request: Request, max: usize) -> Result<Bytes, AppError> {
    if crate::http::attachments::declares_more_than(request.headers(), max) {
        return Err(Refusal::TooLarge { max }.into());
    }
    DefaultBodyLimit::max(max).apply(&mut request);
    Bytes::from_request(request, &()).await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Refusal::TooLarge { max }.into()
        } else {
            AppError::BadRequest(format!("request body: {}", e.body_text()))
        }
    })
}

/// Download a complaint's file
///
/// The complainant, the site's operator or staff. Served as a download with the type
/// sniffed at upload, `X-Content-Type-Options: nosniff`, a sandboxing
/// Content-Security-Policy and `Cache-Control: private, no-store`.
#[utoipa::path(
    get,
    path = "/api/v1/complaints/{id}/attachments/{attachment}",
    operation_id = "getComplaintAttachment",
    tag = "complaints",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "Complaint id (`c_…`)"),
        ("attachment" = String, Path, description = "Attachment id (`att_…`)"),
    ),
    responses(
        (status = 200, description = "The file, as `Content-Disposition: attachment`",
            content(("image/png"), ("image/jpeg"), ("image/webp"), ("application/pdf"))),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Not a party to the complaint", body = ErrorBody),
        (status = 404, description = "No such complaint, or no such file of it", body = ErrorBody),
    )
)]
async fn download(
    State(state): State<AppState>,
    account: Account,
    Path((id, attachment_id)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let (stored, name, content) =
        attachments::attachment_for(&state, &account, &id, &attachment_id).await?;
    Ok(crate::http::attachments::download(&stored, &name, content))
}

/// Staff's decision from its names: `upheld` (with `privilegeWithdrawn`, the default,
/// or `certificateHold`) or `dismissed` (which revokes nothing).
pub(crate) fn decision(decision: &str, revocation: Option<&str>) -> Result<Decision, AppError> {
    Ok(match decision {
        "upheld" => {
            let revocation = match revocation {
                None | Some("privilegeWithdrawn") => ca::RevocationReason::PrivilegeWithdrawn,
                Some("certificateHold") => ca::RevocationReason::CertificateHold,
                Some(other) => {
                    return Err(AppError::Invalid(vec![(
                        "revocation".into(),
                        format!("privilegeWithdrawn or certificateHold, not {other:?}"),
                    )]));
                }
            };
            Decision::Upheld { revocation }
        }
        "dismissed" if revocation.is_none() => Decision::Dismissed,
        "dismissed" => {
            return Err(AppError::Invalid(vec![(
                "revocation".into(),
                "only an upheld complaint revokes".into(),
            )]));
        }
        other => {
            return Err(AppError::Invalid(vec![(
                "decision".into(),
                format!("upheld or dismissed, not {other:?}"),
            )]));
        }
    })
}
