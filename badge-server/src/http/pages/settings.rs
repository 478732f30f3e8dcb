//! `/console/settings`: the settings staff change without a restart (complaint
//! deadline and reminders, re-verification intervals, grace period), with the
//! configured default and who changed each last. Staff see them; the form changes
//! them for admins ([`crate::service::settings`], the same use case as
//! `PUT /api/v1/staff/settings`).

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;

use crate::domain::account::Role;
use crate::domain::clock::now;
use crate::domain::settings::{self as rules, Change, DEADLINE_HOURS, REMINDER_HOURS};
use crate::error::AppError;
use crate::http::extract::session::{CsrfForm, SignedIn, StaffSignedIn};
use crate::http::pages::console::staff;
use crate::http::state::AppState;
use crate::http::views::settings::SettingsView;
use crate::http::web::{Nav, PageError, after_step, render};
use crate::service::settings;

/// The settings page.
pub fn router() -> Router<AppState> {
    Router::new().route("/console/settings", get(show).post(change))
}

/// The form as typed: shown back as it was when refused.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SettingsForm {
    complaint_deadline_hours: String,
    complaint_reminder_hours: String,
    recheck_icp_days: String,
    recheck_domain_days: String,
    grace_hours: String,
}

/// One row of the page: a setting, its value (or what was typed), its default and
/// its last change.
struct Row {
    name: &'static str,
    label: &'static str,
    unit: &'static str,
    value: String,
    default: String,
    changed: Option<String>,
}

#[derive(Template)]
#[template(path = "console-settings.html")]
struct SettingsPage {
    nav: Nav,
    csrf: String,
    notice: Option<String>,
    errors: Vec<String>,
    admin: bool,
    rows: Vec<Row>,
}

const LABELS: [(&str, &str, &str); 5] = [
    (
        DEADLINE_HOURS,
        "投诉答复期限 / Complaint answer deadline",
        "小时 hours",
    ),
    (
        REMINDER_HOURS,
        "答复提醒（期限前） / Reminders before the deadline",
        "小时，逗号分隔 hours, comma-separated",
    ),
    (
        verifier::recheck::SETTING_ICP_DAYS,
        "ICP 备案复核间隔 / ICP re-check interval",
        "天 days",
    ),
    (
        verifier::recheck::SETTING_DOMAIN_DAYS,
        "域名控制复核间隔 / Domain-control re-check interval",
        "天 days",
    ),
    (
        verifier::recheck::SETTING_GRACE_HOURS,
        "宽限期（失败至暂停，暂停至撤销） / Grace period (failure to hold, hold to revocation)",
        "小时 hours",
    ),
];

async fn page(
    state: &AppState,
    user: &SignedIn,
    notice: Option<String>,
    errors: Vec<String>,
    typed: Option<&SettingsForm>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let current = settings::current(state, &user.account).await?;
    let values = current.settings.values();
    let defaults = current.defaults.values();
    let view = SettingsView::from(current);
    let rows = LABELS
        .iter()
        .zip(values.into_iter().zip(defaults))
        .map(|((name, label, unit), ((_, value), (_, default)))| Row {
            value: typed.map_or(value, |f| f.field(name).to_string()),
            changed: view
                .changes
                .iter()
                .find(|c| c.name == *name)
                .map(|c| format!("{} · {}", c.changed_by, c.changed)),
            name,
            label,
            unit,
            default,
        })
        .collect();
    let p = SettingsPage {
        nav: Nav::of(Some(&user.session)),
        csrf: user.session.csrf.clone(),
        notice,
        errors,
        admin: user.account.role == Role::Admin,
        rows,
    };
    Ok(render(status, &p, None))
}

impl SettingsForm {
    fn field(&self, name: &str) -> &str {
        match name {
            DEADLINE_HOURS => &self.complaint_deadline_hours,
            REMINDER_HOURS => &self.complaint_reminder_hours,
            verifier::recheck::SETTING_ICP_DAYS => &self.recheck_icp_days,
            verifier::recheck::SETTING_DOMAIN_DAYS => &self.recheck_domain_days,
            _ => &self.grace_hours,
        }
    }

    /// The change the form asks for; every field that is not a number is named.
    fn change(&self) -> Result<Change, AppError> {
        let mut errors = vec![];
        let mut number = |name: &str| {
            rules::parse_number(name, self.field(name))
                .map_err(|e| errors.push(e))
                .ok()
        };
        let deadline = number(DEADLINE_HOURS);
        let icp = number(verifier::recheck::SETTING_ICP_DAYS);
        let domain = number(verifier::recheck::SETTING_DOMAIN_DAYS);
        let grace = number(verifier::recheck::SETTING_GRACE_HOURS);
        let reminders = rules::parse_hours(REMINDER_HOURS, &self.complaint_reminder_hours)
            .map_err(|e| errors.push(e))
            .ok();
        if !errors.is_empty() {
            return Err(AppError::Invalid(errors));
        }
        Ok(Change {
            complaint_deadline_hours: deadline,
            complaint_reminder_hours: reminders,
            recheck_icp_days: icp,
            recheck_domain_days: domain,
            grace_hours: grace,
        })
    }
}

async fn show(
    State(state): State<AppState>,
    StaffSignedIn(user): StaffSignedIn,
) -> Result<Response, PageError> {
    let notice = user.session.take_flash(&state.db).await?;
    page(&state, &user, notice, vec![], None, StatusCode::OK).await
}

async fn change(
    State(state): State<AppState>,
    CsrfForm { session, form, .. }: CsrfForm<SettingsForm>,
) -> Result<Response, PageError> {
    let user = staff(session)?;
    let r = match form.change() {
        Ok(change) => settings::update(&state, &user.account, &change, now())
            .await
            .map(|_| "设置已保存，即时生效。 / Settings saved; in force now.".to_string()),
        Err(e) => Err(e),
    };
    after_step(
        &state.db,
        &user.session,
        "/console/settings",
        r,
        |errors, status| page(&state, &user, None, errors, Some(&form), status),
    )
    .await
}
