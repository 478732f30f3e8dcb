//! The application flow over JSON: apply, verify, approve or reject; sites.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use ca::identity::{Domain, IcpNumber, Uscc, subject_text};
use ca::profile::{SiteIdentity, SubjectPublicKey};
use serde::Deserialize;
use serde_json::{Value, json};
use verifier::Method;

use crate::account::{Account, Role};
use crate::application::{self, Application};
use crate::error::AppError;
use crate::state::AppState;

/// Routes of this area.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/applications", post(apply))
        .route("/api/v1/applications/{id}", get(show))
        .route("/api/v1/applications/{id}/verify", post(verify))
        .route("/api/v1/applications/{id}/approve", post(approve))
        .route("/api/v1/applications/{id}/reject", post(reject))
        .route("/api/v1/sites/{site}", get(site))
        .route("/api/v1/sites/{site}/revoke", post(revoke))
        .route("/api/v1/sites/{site}/recheck", post(recheck))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApplyBody {
    domains: Vec<String>,
    organization: String,
    uscc: String,
    icp: String,
    province: String,
    city: String,
    csr_pem: Option<String>,
}

/// Validates every field and reports each failure by name (422).
fn validate(b: &ApplyBody) -> Result<SiteIdentity, AppError> {
    let mut errors: Vec<(String, String)> = Vec::new();
    let mut note = |field: &str, r: Result<(), ca::Error>| {
        if let Err(e) = r {
            errors.push((field.to_string(), e.to_string()));
        }
    };
    note(
        "organization",
        subject_text("organization", &b.organization, 128).map(drop),
    );
    note("uscc", Uscc::parse(&b.uscc).map(drop));
    note("icp", IcpNumber::parse_website(&b.icp).map(drop));
    note(
        "province",
        subject_text("province", &b.province, 32).map(drop),
    );
    note("city", subject_text("city", &b.city, 64).map(drop));
    if b.domains.is_empty() || b.domains.len() > ca::profile::MAX_DOMAINS {
        errors.push((
            "domains".into(),
            format!("give 1 to {} domains", ca::profile::MAX_DOMAINS),
        ));
    }
    for (i, d) in b.domains.iter().enumerate() {
        if let Err(e) = Domain::parse(d) {
            errors.push((format!("domains[{i}]"), e.to_string()));
        }
    }
    if let Some(pem) = &b.csr_pem
        && let Err(e) = SubjectPublicKey::from_csr_pem(pem)
    {
        errors.push(("csr_pem".into(), e.to_string()));
    }
    if !errors.is_empty() {
        return Err(AppError::Invalid(errors));
    }
    Ok(SiteIdentity::parse(
        &b.organization,
        &b.uscc,
        &b.icp,
        &b.province,
        &b.city,
        &b.domains,
    )?)
}

async fn apply(
    State(state): State<AppState>,
    account: Account,
    body: Result<Json<ApplyBody>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    account.require(&[Role::Operator])?;
    let Json(body) = body?;
    let identity = validate(&body)?;
    let app = application::insert(&state.db, &account, &identity, body.csr_pem.as_deref()).await?;
    let token = verifier::Token::parse(&app.token)?;
    let challenges: Vec<Value> = identity
        .domains
        .iter()
        .flat_map(|d| {
            state
                .challenger
                .instructions(d, &token)
                .into_iter()
                .map(move |i| {
                    let mut v = json!(i);
                    v["domain"] = json!(d);
                    v
                })
        })
        .collect();
    Ok((
        StatusCode::CREATED,
        Json(
            json!({ "id": app.id, "status": app.status, "domains": identity.domains, "challenges": challenges }),
        ),
    ))
}

/// The application, if `account` may see it: 404 when it does not exist, 403 when
/// it belongs to someone else.
async fn visible(state: &AppState, account: &Account, id: &str) -> Result<Application, AppError> {
    let app = application::get(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    if !app.visible_to(account) {
        return Err(AppError::Forbidden(
            "this application belongs to another operator".into(),
        ));
    }
    Ok(app)
}

async fn show(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let app = visible(&state, &account, &id).await?;
    let evidence = application_evidence(&state, &app.id).await?;
    let reasons: Vec<String> = serde_json::from_str(&app.reasons).unwrap_or_default();
    let mut v = json!(app);
    v["domains"] = json!(app.domain_list());
    v["reasons"] = json!(reasons);
    v["evidence"] = json!(evidence);
    Ok(Json(v))
}

async fn application_evidence(state: &AppState, id: &str) -> Result<Vec<Value>, AppError> {
    let rows: Vec<(String,)> = ca::on_pool!(&state.db, |p| sqlx::query_as(
        "SELECT evidence FROM verification_checks WHERE application_id = $1 ORDER BY id"
    )
    .bind(id)
    .fetch_all(p)
    .await
    .map_err(ca::Error::from)?);
    Ok(rows
        .into_iter()
        .filter_map(|(j,)| serde_json::from_str(&j).ok())
        .collect())
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyBody {
    method: Option<String>,
}

async fn verify(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
    body: Option<Json<VerifyBody>>,
) -> Result<Json<Value>, AppError> {
    let app = visible(&state, &account, &id).await?;
    if app.account_id != account.id {
        return Err(AppError::Forbidden(
            "only the applicant runs verification".into(),
        ));
    }
    let method = match body.and_then(|Json(b)| b.method) {
        Some(m) => Some(
            m.parse::<Method>()
                .map_err(|e| AppError::Invalid(vec![("method".into(), e.to_string())]))?,
        ),
        None => None,
    };
    Ok(Json(
        application::verify(&state, &app, &account, method).await?,
    ))
}

async fn approve(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    account.require(&[Role::Staff, Role::Admin])?;
    let app = application::get(&state.db, &id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(Json(application::approve(&state, &app, &account).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReasonBody {
    reason: String,
}

async fn reject(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
    body: Result<Json<ReasonBody>, JsonRejection>,
) -> Result<Json<Value>, AppError> {
    account.require(&[Role::Staff, Role::Admin])?;
    let Json(body) = body?;
    let reason = subject_text("reason", &body.reason, 1000)
        .map_err(|e| AppError::Invalid(vec![("reason".into(), e.to_string())]))?;
    let app = application::get(&state.db, &id)
        .await?
        .ok_or(AppError::NotFound)?;
    application::reject(&state, &app, &account, &reason).await?;
    Ok(Json(
        json!({ "id": id, "status": "rejected", "reason": reason }),
    ))
}

/// 404 for unknown sites, 403 for an operator's look at another operator's site.
async fn site_access(state: &AppState, account: &Account, site: &str) -> Result<(), AppError> {
    let owner = application::site_owner(&state.db, site).await?;
    if account.role.is_staff() || owner == Some(account.id) {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "this site belongs to another operator".into(),
        ))
    }
}

async fn site(
    State(state): State<AppState>,
    account: Account,
    Path(site): Path<String>,
) -> Result<Json<Value>, AppError> {
    site_access(&state, &account, &site).await?;
    Ok(Json(application::site_view(&state, &site).await?))
}

async fn revoke(
    State(state): State<AppState>,
    account: Account,
    Path(site): Path<String>,
    body: Result<Json<ReasonBody>, JsonRejection>,
) -> Result<Json<Value>, AppError> {
    account.require(&[Role::Staff, Role::Admin])?;
    let Json(body) = body?;
    let reason: ca::RevocationReason = body
        .reason
        .parse()
        .map_err(|e: ca::Error| AppError::Invalid(vec![("reason".into(), e.to_string())]))?;
    let view = application::site_view(&state, &site).await?;
    let serial = view["serial"]
        .as_str()
        .ok_or_else(|| AppError::Conflict("the site has no certificate".into()))?;
    let serial = ca::Serial::parse_hex(serial)?;
    state
        .ca
        .revoke(&serial, reason, &account.email)
        .await
        .map_err(|e| match e {
            ca::Error::RevocationRefused(m) => AppError::Conflict(m),
            other => other.into(),
        })?;
    Ok(Json(application::site_view(&state, &site).await?))
}

async fn recheck(
    State(state): State<AppState>,
    account: Account,
    Path(site): Path<String>,
) -> Result<Json<Value>, AppError> {
    site_access(&state, &account, &site).await?;
    let rechecker = verifier::recheck::Rechecker {
        db: state.db.clone(),
        challenger: (*state.challenger).clone(),
        icp: state.icp.clone(),
        ca: Some(state.ca.clone()),
        policy: state.policy.clone(),
        concurrency: 1,
    };
    let summary = rechecker
        .run(
            verifier::recheck::Scope::Site(site.clone()),
            verifier::verdict::now(),
            &|_, _| {},
        )
        .await?;
    Ok(Json(
        json!({ "summary": summary, "site": application::site_view(&state, &site).await? }),
    ))
}
