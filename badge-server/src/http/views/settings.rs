//! The settings staff change, as the API returns them and the console page reads
//! them: the values in force, the configured defaults, and who changed which last.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::clock::date_time;
use crate::domain::settings::{Change, Settings};
use crate::service::settings::Current;
use crate::store::settings::Stored;

/// The values of the settings.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SettingValues {
    /// Hours an operator has to answer a complaint.
    #[schema(example = 120)]
    pub complaint_deadline_hours: i64,
    /// Reminders to the operator, in hours before the deadline, largest first.
    #[schema(example = json!([48, 24]))]
    pub complaint_reminder_hours: Vec<i64>,
    /// Days between ICP checks of a healthy site.
    #[schema(example = 7)]
    pub recheck_icp_days: i64,
    /// Days between domain-control checks of a healthy site.
    #[schema(example = 30)]
    pub recheck_domain_days: i64,
    /// Hours from the first failed re-verification to suspension, and from
    /// suspension to revocation.
    #[schema(example = 72)]
    pub grace_hours: i64,
}

impl From<Settings> for SettingValues {
    fn from(s: Settings) -> Self {
        SettingValues {
            complaint_deadline_hours: s.complaint_deadline_hours,
            complaint_reminder_hours: s.complaint_reminder_hours,
            recheck_icp_days: s.recheck_icp_days,
            recheck_domain_days: s.recheck_domain_days,
            grace_hours: s.grace_hours,
        }
    }
}

/// Who changed one setting last.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SettingChange {
    /// The setting (a field name of [`SettingValues`]).
    #[schema(example = "complaint_deadline_hours")]
    pub name: String,
    /// Its value as stored.
    pub value: String,
    /// Who changed it (an account's email).
    pub changed_by: String,
    /// When (unix seconds).
    pub changed_at: i64,
    /// The same, in Beijing time.
    pub changed: String,
}

impl From<Stored> for SettingChange {
    fn from(r: Stored) -> Self {
        SettingChange {
            changed: date_time(r.changed_at),
            name: r.name,
            value: r.value,
            changed_by: r.changed_by,
            changed_at: r.changed_at,
        }
    }
}

/// The settings: in force, as configured, and the last change of each changed one.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SettingsView {
    /// The values in force now.
    pub current: SettingValues,
    /// The configured values (environment, command line), in force where staff
    /// changed nothing.
    pub defaults: SettingValues,
    /// Each setting staff changed, with who changed it last and when.
    pub changes: Vec<SettingChange>,
}

impl From<Current> for SettingsView {
    fn from(c: Current) -> Self {
        SettingsView {
            current: c.settings.into(),
            defaults: c.defaults.into(),
            changes: c.stored.into_iter().map(SettingChange::from).collect(),
        }
    }
}

/// A change: the fields given replace the values in force; the others stay.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsUpdate {
    /// Hours an operator has to answer a complaint (1 to 720).
    pub complaint_deadline_hours: Option<i64>,
    /// Reminders in hours before the deadline: each at least 1 and less than the
    /// deadline, at most 5, none repeated (empty: no reminders).
    pub complaint_reminder_hours: Option<Vec<i64>>,
    /// Days between ICP checks of a healthy site (1 to 365).
    pub recheck_icp_days: Option<i64>,
    /// Days between domain-control checks of a healthy site (1 to 365).
    pub recheck_domain_days: Option<i64>,
    /// Hours of grace (1 to 720).
    pub grace_hours: Option<i64>,
}

impl From<SettingsUpdate> for Change {
    fn from(u: SettingsUpdate) -> Self {
        Change {
            complaint_deadline_hours: u.complaint_deadline_hours,
            complaint_reminder_hours: u.complaint_reminder_hours,
            recheck_icp_days: u.recheck_icp_days,
            recheck_domain_days: u.recheck_domain_days,
            grace_hours: u.grace_hours,
        }
    }
}
