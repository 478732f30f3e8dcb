//! Settings staff change without a restart (后台工作人员可以对系统进行设置): the
//! complaint answer deadline and its reminders, the re-verification intervals and
//! the grace period. The configured values (environment, command line) are the
//! defaults; a stored value (`staff_settings`, [`crate::store::settings`]) replaces
//! one until it is changed again. The use cases are [`crate::service::settings`].
//!
//! This module holds the rules that need no database: the names, the bounds, how a
//! change is checked (every refusal names its field) and what it changed.

use verifier::recheck::{Policy, SETTING_DOMAIN_DAYS, SETTING_GRACE_HOURS, SETTING_ICP_DAYS};

use crate::domain::complaint::ComplaintPolicy;

/// The stored setting for the hours an operator has to answer a complaint (default
/// `CHENGXIN_COMPLAINT_DEADLINE_HOURS`).
pub const DEADLINE_HOURS: &str = "complaint_deadline_hours";
/// The stored setting for the reminders, in hours before the deadline, as a
/// comma-separated list (default `CHENGXIN_COMPLAINT_REMINDER_HOURS`).
pub const REMINDER_HOURS: &str = "complaint_reminder_hours";

/// Longest answer deadline: 30 days. Longer leaves a fraud complaint unanswered for
/// a month; a typo (`1200` for `120`) is refused rather than applied.
pub const MAX_DEADLINE_HOURS: i64 = 30 * 24;
/// Most reminders before one deadline: each is a mail to the operator.
pub const MAX_REMINDERS: usize = 5;
/// Longest interval between checks of a healthy site: a year, the certificate's
/// lifetime; a longer one would never check it again.
pub const MAX_INTERVAL_DAYS: i64 = 365;
/// Longest grace period (and again before revocation): 30 days.
pub const MAX_GRACE_HOURS: i64 = 30 * 24;

/// The values staff can change, in the units the console shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Hours an operator has to answer a complaint.
    pub complaint_deadline_hours: i64,
    /// Reminders to the operator, in hours before the deadline, largest first.
    pub complaint_reminder_hours: Vec<i64>,
    /// Days between ICP checks of a healthy site.
    pub recheck_icp_days: i64,
    /// Days between domain-control checks of a healthy site.
    pub recheck_domain_days: i64,
    /// Hours from the first failure to suspension, and from suspension to revocation.
    pub grace_hours: i64,
}

/// A change asked for: the fields given replace the values in force.
#[derive(Debug, Clone, Default)]
pub struct Change {
    /// New answer deadline, hours.
    pub complaint_deadline_hours: Option<i64>,
    /// New reminders, hours before the deadline.
    pub complaint_reminder_hours: Option<Vec<i64>>,
    /// New ICP interval, days.
    pub recheck_icp_days: Option<i64>,
    /// New domain-control interval, days.
    pub recheck_domain_days: Option<i64>,
    /// New grace period, hours.
    pub grace_hours: Option<i64>,
}

impl Settings {
    /// The values of these policies (seconds are shown in whole hours and days).
    pub fn of(complaints: &ComplaintPolicy, recheck: &Policy) -> Settings {
        let mut reminders: Vec<i64> = complaints
            .reminders_before
            .iter()
            .map(|s| s / 3_600)
            .collect();
        reminders.sort_unstable_by(|a, b| b.cmp(a));
        Settings {
            complaint_deadline_hours: complaints.answer_within / 3_600,
            complaint_reminder_hours: reminders,
            recheck_icp_days: recheck.icp_every / 86_400,
            recheck_domain_days: recheck.domain_every / 86_400,
            grace_hours: recheck.grace / 3_600,
        }
    }

    /// The values in force: the configured policies overridden by what is stored.
    pub fn in_force(
        complaints: &ComplaintPolicy,
        recheck: &Policy,
        stored: &[(String, String)],
    ) -> Settings {
        Settings::of(
            &complaint_policy(complaints, stored),
            &recheck.clone().with_stored(stored),
        )
    }

    /// These values with `change` applied.
    pub fn changed(&self, change: &Change) -> Settings {
        let mut reminders = change
            .complaint_reminder_hours
            .clone()
            .unwrap_or_else(|| self.complaint_reminder_hours.clone());
        reminders.sort_unstable_by(|a, b| b.cmp(a));
        Settings {
            complaint_deadline_hours: change
                .complaint_deadline_hours
                .unwrap_or(self.complaint_deadline_hours),
            complaint_reminder_hours: reminders,
            recheck_icp_days: change.recheck_icp_days.unwrap_or(self.recheck_icp_days),
            recheck_domain_days: change
                .recheck_domain_days
                .unwrap_or(self.recheck_domain_days),
            grace_hours: change.grace_hours.unwrap_or(self.grace_hours),
        }
    }

    /// Refuses values that cannot work, each with its field's name: a deadline of 0
    /// or beyond [`MAX_DEADLINE_HOURS`]; a reminder at or after the deadline (0 hours
    /// before it or less) or at or before the filing (as many hours before it as the
    /// deadline has), repeated, or more than [`MAX_REMINDERS`]; intervals outside 1 to
    /// [`MAX_INTERVAL_DAYS`] days; a grace period outside 1 to [`MAX_GRACE_HOURS`].
    pub fn check(&self) -> Result<(), Vec<(String, String)>> {
        let mut errors = Vec::new();
        let deadline = self.complaint_deadline_hours;
        if !(1..=MAX_DEADLINE_HOURS).contains(&deadline) {
            errors.push((
                DEADLINE_HOURS.to_string(),
                format!(
                    "the answer deadline must be 1 to {MAX_DEADLINE_HOURS} hours, not {deadline} \
                     / 答复期限须为 1 至 {MAX_DEADLINE_HOURS} 小时"
                ),
            ));
        }
        let reminders = &self.complaint_reminder_hours;
        if reminders.len() > MAX_REMINDERS {
            errors.push((
                REMINDER_HOURS.to_string(),
                format!(
                    "at most {MAX_REMINDERS} reminders, not {} / 最多 {MAX_REMINDERS} 次提醒",
                    reminders.len()
                ),
            ));
        }
        if let Some(r) = reminders.iter().find(|r| **r <= 0) {
            errors.push((
                REMINDER_HOURS.to_string(),
                format!(
                    "a reminder {r} hours before the deadline comes at or after it: give hours \
                     before the deadline, at least 1 / 提醒须早于答复期限至少 1 小时"
                ),
            ));
        }
        if let Some(r) = reminders.iter().find(|r| **r >= deadline) {
            errors.push((
                REMINDER_HOURS.to_string(),
                format!(
                    "a reminder {r} hours before a {deadline}-hour deadline comes before the \
                     complaint is filed: give fewer than {deadline} hours / 提醒时间须短于答复期限"
                ),
            ));
        }
        if reminders.windows(2).any(|w| w[0] == w[1]) {
            errors.push((
                REMINDER_HOURS.to_string(),
                "the same reminder is given twice / 提醒时间重复".to_string(),
            ));
        }
        for (name, days) in [
            (SETTING_ICP_DAYS, self.recheck_icp_days),
            (SETTING_DOMAIN_DAYS, self.recheck_domain_days),
        ] {
            if !(1..=MAX_INTERVAL_DAYS).contains(&days) {
                errors.push((
                    name.to_string(),
                    format!(
                        "the interval must be 1 to {MAX_INTERVAL_DAYS} days, not {days} \
                         / 间隔须为 1 至 {MAX_INTERVAL_DAYS} 天"
                    ),
                ));
            }
        }
        if !(1..=MAX_GRACE_HOURS).contains(&self.grace_hours) {
            errors.push((
                SETTING_GRACE_HOURS.to_string(),
                format!(
                    "the grace period must be 1 to {MAX_GRACE_HOURS} hours, not {} \
                     / 宽限期须为 1 至 {MAX_GRACE_HOURS} 小时",
                    self.grace_hours
                ),
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Each setting's name and its stored text.
    pub fn values(&self) -> [(&'static str, String); 5] {
        [
            (DEADLINE_HOURS, self.complaint_deadline_hours.to_string()),
            (REMINDER_HOURS, hours_text(&self.complaint_reminder_hours)),
            (SETTING_ICP_DAYS, self.recheck_icp_days.to_string()),
            (SETTING_DOMAIN_DAYS, self.recheck_domain_days.to_string()),
            (SETTING_GRACE_HOURS, self.grace_hours.to_string()),
        ]
    }

    /// What `to` changes: name, old text, new text; the settings that stay are left
    /// out.
    pub fn differences(&self, to: &Settings) -> Vec<(&'static str, String, String)> {
        self.values()
            .into_iter()
            .zip(to.values())
            .filter(|((_, old), (_, new))| old != new)
            .map(|((name, old), (_, new))| (name, old, new))
            .collect()
    }
}

/// A list of hours as stored and shown: `48,24`.
pub fn hours_text(hours: &[i64]) -> String {
    hours
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Reads `48, 24` (commas or spaces; empty: no reminders); the error names the
/// field.
pub fn parse_hours(field: &str, text: &str) -> Result<Vec<i64>, (String, String)> {
    text.split([',', ' ', '，'])
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.parse::<i64>().map_err(|_| {
                (
                    field.to_string(),
                    format!("{t:?} is not a whole number of hours / 须为整数小时"),
                )
            })
        })
        .collect()
}

/// Reads one whole number typed into a form field; the error names the field.
pub fn parse_number(field: &str, text: &str) -> Result<i64, (String, String)> {
    text.trim().parse::<i64>().map_err(|_| {
        (
            field.to_string(),
            format!("{:?} is not a whole number / 须为整数", text.trim()),
        )
    })
}

/// The complaint deadlines in force: `configured`, with the stored answer deadline
/// and reminders in place of its own. A stored value that does not parse (a row
/// written by hand) is ignored with a warning.
pub fn complaint_policy(
    configured: &ComplaintPolicy,
    stored: &[(String, String)],
) -> ComplaintPolicy {
    let mut policy = configured.clone();
    for (name, value) in stored {
        match name.as_str() {
            DEADLINE_HOURS => match value.trim().parse::<i64>() {
                Ok(h) if h > 0 => policy.answer_within = h * 3_600,
                _ => tracing::warn!(%name, %value, "a stored setting is not a positive number"),
            },
            REMINDER_HOURS => match parse_hours(name, value) {
                Ok(hours) => policy.reminders_before = hours.iter().map(|h| h * 3_600).collect(),
                Err(_) => tracing::warn!(%name, %value, "a stored setting is not a list of hours"),
            },
            _ => {}
        }
    }
    policy
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Settings {
        Settings::of(&ComplaintPolicy::default(), &Policy::default())
    }

    fn refused(change: Change) -> Vec<String> {
        defaults()
            .changed(&change)
            .check()
            .unwrap_err()
            .into_iter()
            .map(|(field, _)| field)
            .collect()
    }

    #[test]
    fn the_defaults_pass_and_are_shown_in_hours_and_days() {
        let d = defaults();
        assert_eq!(d.complaint_deadline_hours, 120);
        assert_eq!(d.complaint_reminder_hours, vec![48, 24]);
        assert_eq!((d.recheck_icp_days, d.recheck_domain_days), (7, 30));
        assert_eq!(d.grace_hours, 72);
        d.check().unwrap();
    }

    #[test]
    fn impossible_values_are_refused_naming_their_field() {
        let change = |f: fn(&mut Change)| {
            let mut c = Change::default();
            f(&mut c);
            c
        };
        assert_eq!(
            refused(change(|c| c.complaint_deadline_hours = Some(0))),
            [DEADLINE_HOURS, REMINDER_HOURS].map(String::from),
            "0 hours, and the reminders now come before the filing"
        );
        assert_eq!(
            refused(change(
                |c| c.complaint_deadline_hours = Some(MAX_DEADLINE_HOURS + 1)
            )),
            [DEADLINE_HOURS]
        );
        let none = change(|c| c.complaint_reminder_hours = Some(vec![]));
        assert_eq!(
            defaults().changed(&none).check(),
            Ok(()),
            "no reminders is fine"
        );
        for bad in [vec![0], vec![-3], vec![120], vec![200, 24], vec![24, 24]] {
            let c = Change {
                complaint_reminder_hours: Some(bad.clone()),
                ..Change::default()
            };
            assert_eq!(refused(c), [REMINDER_HOURS], "{bad:?}");
        }
        let c = Change {
            complaint_reminder_hours: Some(vec![1, 2, 3, 4, 5, 6]),
            ..Change::default()
        };
        assert_eq!(refused(c), [REMINDER_HOURS]);
        for days in [0, -1, MAX_INTERVAL_DAYS + 1] {
            let c = Change {
                recheck_icp_days: Some(days),
                recheck_domain_days: Some(days),
                ..Change::default()
            };
            assert_eq!(refused(c), [SETTING_ICP_DAYS, SETTING_DOMAIN_DAYS]);
        }
        for hours in [0, MAX_GRACE_HOURS + 1] {
            let c = Change {
                grace_hours: Some(hours),
                ..Change::default()
            };
            assert_eq!(refused(c), [SETTING_GRACE_HOURS]);
        }
    }

    #[test]
    fn stored_values_replace_the_configured_ones_and_differences_name_old_and_new() {
        let stored = vec![
            (DEADLINE_HOURS.to_string(), "72".to_string()),
            (REMINDER_HOURS.to_string(), "6,36".to_string()),
            (SETTING_GRACE_HOURS.to_string(), "24".to_string()),
            (SETTING_ICP_DAYS.to_string(), "garbage".to_string()),
        ];
        let c = complaint_policy(&ComplaintPolicy::default(), &stored);
        assert_eq!(c.answer_within, 72 * 3_600);
        assert_eq!(c.reminders_before, vec![6 * 3_600, 36 * 3_600]);
        let now = Settings::in_force(&ComplaintPolicy::default(), &Policy::default(), &stored);
        assert_eq!(now.complaint_reminder_hours, vec![36, 6]);
        assert_eq!(
            now.recheck_icp_days, 7,
            "an unreadable row leaves the default"
        );
        assert_eq!(now.grace_hours, 24);
        assert_eq!(
            defaults().differences(&now),
            vec![
                (DEADLINE_HOURS, "120".into(), "72".into()),
                (REMINDER_HOURS, "48,24".into(), "36,6".into()),
                (SETTING_GRACE_HOURS, "72".into(), "24".into()),
            ]
        );
        assert_eq!(parse_hours("f", "48, 24，6").unwrap(), vec![48, 24, 6]);
        assert_eq!(parse_hours("f", "").unwrap(), Vec::<i64>::new());
        assert_eq!(parse_hours("f", "1x").unwrap_err().0, "f");
    }
}
