//! Settings staff change without a restart: staff and admins read them, admins
//! change them. A change is one transaction: the new rows and one audit entry
//! (`settings.change`) naming each setting with its old and new value. The next
//! complaint filed reads its deadline and reminders here ([`complaint_policy_in`]),
//! the next re-verification run its intervals and grace period
//! ([`verifier::recheck::Policy::in_force`]). The rules are
//! [`crate::domain::settings`], the table [`crate::store::settings`].
//!
//! Changing is for admins only: a shorter grace period or a longer interval changes
//! what happens to every certified site (when it is held, when it is revoked), the
//! same reach as managing staff accounts; staff who review and adjudicate see the
//! values in force and who set them.

use ca::db::Tx;
use serde_json::{Map, Value, json};

use crate::domain::account::{Account, Role};
use crate::domain::complaint::ComplaintPolicy;
use crate::domain::settings::{self as rules, Change, Settings};
use crate::error::AppError;
use crate::service::Services;
use crate::store::settings::{self as store, Stored};

/// Who may read the settings.
const READERS: [Role; 2] = [Role::Staff, Role::Admin];
/// Who may change them.
const WRITERS: [Role; 1] = [Role::Admin];

/// The settings in force, the configured defaults, and the stored rows (who changed
/// which setting last, and when).
#[derive(Debug, Clone)]
pub struct Current {
    /// The values in force.
    pub settings: Settings,
    /// The configured values, in force where nothing is stored.
    pub defaults: Settings,
    /// The stored rows.
    pub stored: Vec<Stored>,
}

fn pairs(stored: &[Stored]) -> Vec<(String, String)> {
    stored
        .iter()
        .map(|r| (r.name.clone(), r.value.clone()))
        .collect()
}

fn current_of(s: &Services, stored: Vec<Stored>) -> Current {
    Current {
        settings: Settings::in_force(&s.complaints, &s.policy, &pairs(&stored)),
        defaults: Settings::of(&s.complaints, &s.policy),
        stored,
    }
}

/// The settings (staff and admins).
pub async fn current(s: &Services, account: &Account) -> Result<Current, AppError> {
    account.require(&READERS)?;
    Ok(current_of(s, store::all(&s.db).await?))
}

/// Applies `change` (admins): refused whole, each reason naming its field, when a
/// value is out of bounds ([`Settings::check`]); otherwise one transaction with the
/// changed rows and one audit entry. A change that changes nothing writes nothing.
pub async fn update(
    s: &Services,
    account: &Account,
    change: &Change,
    now: i64,
) -> Result<Current, AppError> {
    account.require(&WRITERS)?;
    let mut tx = s.db.begin().await?;
    let before = current_of(s, store::all_in(&mut tx).await?).settings;
    let after = before.changed(change);
    after.check().map_err(AppError::Invalid)?;
    let differences = before.differences(&after);
    if !differences.is_empty() {
        let mut details = Map::new();
        for (name, old, new) in &differences {
            store::put(&mut tx, name, new, &account.email, now).await?;
            details.insert((*name).to_string(), json!({ "from": old, "to": new }));
        }
        ca::audit::append(
            &mut tx,
            &account.email,
            "settings.change",
            "settings",
            &Value::Object(details),
        )
        .await?;
        tx.commit().await?;
    }
    current(s, account).await
}

/// The complaint deadline and reminders in force, read inside the filing's
/// transaction.
pub async fn complaint_policy_in(s: &Services, tx: &mut Tx) -> Result<ComplaintPolicy, AppError> {
    let stored = store::all_in(tx).await?;
    Ok(rules::complaint_policy(&s.complaints, &pairs(&stored)))
}
