//! A complaint and its rules, with no database and no CA: what a complaint is, the
//! lifecycle table (which step moves it from which states to which, and who takes
//! it), the text limits and the reputation a site's record earns.
//!
//! The store reads and writes these types ([`crate::store::complaints`]); the use
//! cases ([`crate::service::complaints`]) apply the rules inside one transaction.

use std::fmt;
use std::str::FromStr;

use ca::RevocationReason;
use serde::Serialize;

use crate::domain::privacy;
use crate::error::AppError;

/// Longest complaint, answer or feedback text, in characters.
pub const MAX_TEXT: usize = 5000;
/// Shortest complaint text: enough to say what happened.
pub const MIN_TEXT: usize = 10;
/// Reputation is shown only from this many complaints in the last 12 months, so that
/// no single complainant can be singled out.
pub const MIN_REPUTATION_COUNT: i64 = crate::domain::privacy::MIN_PUBLISHED_COUNT;
/// The window reputation is counted over: the last 12 months, in seconds.
pub const REPUTATION_WINDOW: i64 = 365 * 86_400;

/// Deadlines and reminders.
#[derive(Debug, Clone)]
pub struct ComplaintPolicy {
    /// Seconds the operator has to answer.
    pub answer_within: i64,
    /// Reminders, in seconds before the deadline.
    pub reminders_before: Vec<i64>,
    /// Complaints one account may file in 24 hours (each mails an operator).
    pub per_user_per_day: i64,
    /// Complaints about one site accepted in an hour, from everyone together: a
    /// flood from many new accounts cannot bury an operator in mail.
    pub per_site_per_hour: i64,
}

impl Default for ComplaintPolicy {
    fn default() -> Self {
        ComplaintPolicy {
            answer_within: 5 * 86_400,
            reminders_before: vec![48 * 3600, 24 * 3600],
            per_user_per_day: 5,
            per_site_per_hour: 30,
        }
    }
}

/// What a complaint is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// 诈骗: the site defrauds visitors.
    Fraud,
    /// 假冒伪劣: counterfeit goods.
    Counterfeit,
    /// 虚假宣传: false claims about the organization or its products.
    FalseInformation,
    /// 个人信息: misuse of personal information.
    Privacy,
    /// 服务质量: service not delivered as promised.
    Service,
    /// 其他.
    Other,
}

impl Category {
    /// Every category, for forms and documentation.
    pub const ALL: [Category; 6] = [
        Category::Fraud,
        Category::Counterfeit,
        Category::FalseInformation,
        Category::Privacy,
        Category::Service,
        Category::Other,
    ];

    /// The API name.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Fraud => "fraud",
            Category::Counterfeit => "counterfeit",
            Category::FalseInformation => "false_information",
            Category::Privacy => "privacy",
            Category::Service => "service",
            Category::Other => "other",
        }
    }

    /// Chinese and English labels.
    pub fn labels(self) -> (&'static str, &'static str) {
        match self {
            Category::Fraud => ("诈骗", "Fraud"),
            Category::Counterfeit => ("假冒伪劣", "Counterfeit goods"),
            Category::FalseInformation => ("虚假宣传", "False information"),
            Category::Privacy => ("个人信息", "Personal information"),
            Category::Service => ("服务质量", "Service"),
            Category::Other => ("其他", "Other"),
        }
    }
}

impl FromStr for Category {
    type Err = AppError;
    fn from_str(s: &str) -> Result<Self, AppError> {
        Category::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| {
                AppError::Invalid(vec![(
                    "category".into(),
                    format!(
                        "unknown category {s:?}; one of {}",
                        Category::ALL.map(Category::as_str).join(", ")
                    ),
                )])
            })
    }
}

/// Where a complaint stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Filed; the operator is being notified.
    Submitted,
    /// The operator has been notified and must answer by the deadline.
    Forwarded,
    /// The operator answered; waiting for the complainant's feedback.
    Answered,
    /// The complainant is satisfied; staff close it.
    Feedback,
    /// The complainant is not satisfied: staff review it.
    UnderReview,
    /// Staff upheld it: the certificate is revoked (or held).
    Upheld,
    /// Staff dismissed it.
    Dismissed,
    /// The complainant withdrew it.
    Withdrawn,
    /// No answer by the deadline: escalated to staff.
    Overdue,
}

impl Status {
    /// Every status.
    pub const ALL: [Status; 9] = [
        Status::Submitted,
        Status::Forwarded,
        Status::Answered,
        Status::Feedback,
        Status::UnderReview,
        Status::Upheld,
        Status::Dismissed,
        Status::Withdrawn,
        Status::Overdue,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Submitted => "submitted",
            Status::Forwarded => "forwarded",
            Status::Answered => "answered",
            Status::Feedback => "feedback",
            Status::UnderReview => "under_review",
            Status::Upheld => "upheld",
            Status::Dismissed => "dismissed",
            Status::Withdrawn => "withdrawn",
            Status::Overdue => "overdue",
        }
    }

    /// The states in which nothing more can happen.
    pub const CLOSED: [Status; 3] = [Status::Upheld, Status::Dismissed, Status::Withdrawn];

    /// Whether nothing more can happen.
    pub fn is_final(self) -> bool {
        Status::CLOSED.contains(&self)
    }

    /// Chinese and English labels.
    pub fn labels(self) -> (&'static str, &'static str) {
        match self {
            Status::Submitted => ("已提交", "Submitted"),
            Status::Forwarded => ("已转交经营者", "Forwarded to the operator"),
            Status::Answered => ("经营者已答复", "Answered"),
            Status::Feedback => ("投诉人已反馈", "Feedback given"),
            Status::UnderReview => ("审核中", "Under review"),
            Status::Upheld => ("投诉成立", "Upheld"),
            Status::Dismissed => ("投诉不成立", "Dismissed"),
            Status::Withdrawn => ("已撤回", "Withdrawn"),
            Status::Overdue => ("逾期未答复", "Overdue"),
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = AppError;
    fn from_str(s: &str) -> Result<Self, AppError> {
        Status::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| AppError::Internal(ca::Error::Config(format!("complaint status {s:?}"))))
    }
}

/// A complaint as stored.
#[derive(Debug, Clone)]
pub struct Complaint {
    /// `c_…`.
    pub id: String,
    /// The site complained about.
    pub site_id: String,
    /// Who complained (never published).
    pub complainant_id: i64,
    /// What it is about.
    pub category: Category,
    /// The complaint as written.
    pub text: String,
    /// Where it stands.
    pub status: Status,
    /// When the operator must have answered.
    pub deadline_at: i64,
    /// The operator's answer.
    pub answer_text: Option<String>,
    /// When.
    pub answered_at: Option<i64>,
    /// The complainant's verdict on the answer.
    pub satisfied: Option<bool>,
    /// The complainant's words on the answer.
    pub feedback_text: Option<String>,
    /// When.
    pub feedback_at: Option<i64>,
    /// Staff's reason.
    pub decision_reason: Option<String>,
    /// When staff decided.
    pub decided_at: Option<i64>,
    /// Filed at.
    pub created_at: i64,
    /// Last change.
    pub updated_at: i64,
}

/// How a party relates to a complaint; decides what they may see and do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party {
    /// Filed it: sees everything they wrote.
    Complainant,
    /// Runs the site: sees the complaint masked, never who filed it.
    Operator,
    /// Alliance staff: see everything.
    Staff,
}

impl Party {
    /// `complainant`, `operator` or `staff`: as the timeline and views name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Party::Complainant => "complainant",
            Party::Operator => "operator",
            Party::Staff => "staff",
        }
    }
}

/// One step of a complaint's timeline.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Event {
    /// When (unix seconds).
    pub at: i64,
    /// `complainant`, `operator`, `staff` or `system`.
    pub actor_role: String,
    /// Status before.
    #[schema(value_type = Option<String>)]
    pub from_status: Option<Status>,
    /// Status after.
    #[schema(value_type = String)]
    pub to_status: Status,
    /// What happened, in a few words.
    pub note: Option<String>,
}

/// Staff's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The complaint is founded: the certificate goes.
    Upheld {
        /// `privilegeWithdrawn` (final) or `certificateHold` (suspension first).
        revocation: RevocationReason,
    },
    /// Not founded.
    Dismissed,
}

impl Decision {
    /// The status the decision closes the complaint with.
    pub fn status(self) -> Status {
        match self {
            Decision::Upheld { .. } => Status::Upheld,
            Decision::Dismissed => Status::Dismissed,
        }
    }
}

/// A step that changes a complaint's status: the lifecycle table. Filing is not a
/// step (a complaint is born `forwarded`), and adding a file changes no status (see
/// [`may_add_to`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The operator answers (late answers are accepted).
    Answer,
    /// The complainant says whether the answer satisfies them.
    Feedback {
        /// Satisfied → `feedback` (staff close it), not → `under_review`.
        satisfied: bool,
    },
    /// Staff decide.
    Decide(Decision),
    /// The complainant withdraws a complaint that is not decided yet.
    Withdraw,
    /// The deadline passed without an answer (the system).
    Overdue,
}

impl Step {
    /// The states the step starts from.
    pub fn from(self) -> &'static [Status] {
        match self {
            Step::Answer => &[Status::Submitted, Status::Forwarded, Status::Overdue],
            Step::Feedback { .. } => &[Status::Answered],
            Step::Decide(_) => &[
                Status::Answered,
                Status::Feedback,
                Status::UnderReview,
                Status::Overdue,
            ],
            Step::Withdraw => &[
                Status::Submitted,
                Status::Forwarded,
                Status::Answered,
                Status::Feedback,
                Status::UnderReview,
                Status::Overdue,
            ],
            Step::Overdue => &[Status::Submitted, Status::Forwarded],
        }
    }

    /// The state the step leads to.
    pub fn to(self) -> Status {
        match self {
            Step::Answer => Status::Answered,
            Step::Feedback { satisfied: true } => Status::Feedback,
            Step::Feedback { satisfied: false } => Status::UnderReview,
            Step::Decide(d) => d.status(),
            Step::Withdraw => Status::Withdrawn,
            Step::Overdue => Status::Overdue,
        }
    }

    /// Who takes the step: `None` for the system (the deadline job).
    pub fn taken_by(self) -> Option<Party> {
        match self {
            Step::Answer => Some(Party::Operator),
            Step::Feedback { .. } | Step::Withdraw => Some(Party::Complainant),
            Step::Decide(_) => Some(Party::Staff),
            Step::Overdue => None,
        }
    }

    /// Whether `party` may take the step; 403 with the rule otherwise.
    pub fn permit(self, party: Party) -> Result<(), AppError> {
        if self.taken_by() == Some(party) {
            return Ok(());
        }
        Err(AppError::Forbidden(
            match self {
                Step::Answer => "only the site's operator answers a complaint",
                Step::Feedback { .. } => "only the complainant gives feedback",
                Step::Withdraw => "only the complainant withdraws a complaint",
                Step::Decide(_) => "only staff decide a complaint",
                Step::Overdue => "only the deadline makes a complaint overdue",
            }
            .into(),
        ))
    }

    /// Whether the step can start from `current`.
    pub fn allowed_from(self, current: Status) -> bool {
        self.from().contains(&current)
    }

    /// The 409 for a complaint that is `current`, from which the step cannot start.
    pub fn refused(self, current: Status) -> AppError {
        AppError::Conflict(format!(
            "the complaint is {current}; this step needs it to be {}",
            self.from()
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" or ")
        ))
    }
}

/// Whether a file can still be added to a complaint that is `current`: any party
/// may, until it is closed; 409 otherwise.
pub fn may_add_to(current: Status) -> Result<(), AppError> {
    if current.is_final() {
        return Err(closed(current));
    }
    Ok(())
}

/// The 409 for adding to a complaint that is `current` and closed.
pub fn closed(current: Status) -> AppError {
    AppError::Conflict(format!(
        "the complaint is {current}: it is closed, nothing can be added"
    ))
}

/// An attachment's name as `party` sees it: masked for the operator (a file name can
/// carry a phone number as well as the text can).
pub fn attachment_name(party: Party, name: &str) -> String {
    match party {
        Party::Operator => privacy::mask(name),
        Party::Complainant | Party::Staff => name.to_string(),
    }
}

/// A text a party writes (complaint, answer, feedback, reason), trimmed, of `min` to
/// [`MAX_TEXT`] characters and without control characters other than line breaks and
/// tabs; 422 naming `field` otherwise.
pub fn text_field(field: &str, text: &str, min: usize) -> Result<String, AppError> {
    let t = text.trim();
    let n = t.chars().count();
    if n < min || n > MAX_TEXT {
        return Err(AppError::Invalid(vec![(
            field.into(),
            format!("write {min} to {MAX_TEXT} characters"),
        )]));
    }
    if t.chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        return Err(AppError::Invalid(vec![(
            field.into(),
            "control characters are not allowed".into(),
        )]));
    }
    Ok(t.to_string())
}

/// What reputation counts of one complaint.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Filed at.
    pub created_at: i64,
    /// The answer deadline.
    pub deadline_at: i64,
    /// When it was answered.
    pub answered_at: Option<i64>,
    /// Where it stands.
    pub status: Status,
    /// The complainant's verdict.
    pub satisfied: Option<bool>,
}

/// A site's complaint record over the last 12 months, counting only complaints that
/// stand: withdrawn ones and those staff dismissed are left out of every figure (a
/// rival filing baseless complaints must not make a site look bad).
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Reputation {
    /// Complaints filed, not withdrawn and not dismissed.
    pub received: i64,
    /// Answered by their deadline.
    pub answered_in_time: i64,
    /// Median hours from filing to answer, over answered complaints.
    pub median_answer_hours: Option<f64>,
    /// Upheld by staff.
    pub upheld: i64,
    /// Complainants satisfied, out of those who gave feedback.
    pub satisfied: i64,
    /// Complainants who gave feedback.
    pub with_feedback: i64,
}

impl Reputation {
    /// The reputation of a site whose complaints are `records`, at `now`: only those
    /// filed within [`REPUTATION_WINDOW`] and neither withdrawn nor dismissed count,
    /// and below [`MIN_REPUTATION_COUNT`] of them there is none.
    pub fn of(records: &[Record], now: i64) -> Option<Reputation> {
        let since = now - REPUTATION_WINDOW;
        let rows: Vec<&Record> = records
            .iter()
            .filter(|r| r.created_at >= since)
            .filter(|r| !matches!(r.status, Status::Withdrawn | Status::Dismissed))
            .collect();
        let received = rows.len() as i64;
        if received < MIN_REPUTATION_COUNT {
            return None;
        }
        let mut hours: Vec<f64> = rows
            .iter()
            .filter_map(|r| r.answered_at.map(|a| (a - r.created_at) as f64 / 3600.0))
            .collect();
        hours.sort_by(f64::total_cmp);
        let median_answer_hours = match hours.len() {
            0 => None,
            n if n % 2 == 1 => Some(hours[n / 2]),
            n => Some((hours[n / 2 - 1] + hours[n / 2]) / 2.0),
        }
        .map(|h| (h * 10.0).round() / 10.0);
        let count = |f: &dyn Fn(&Record) -> bool| rows.iter().filter(|r| f(r)).count() as i64;
        Some(Reputation {
            received,
            answered_in_time: count(&|r| r.answered_at.is_some_and(|a| a <= r.deadline_at)),
            median_answer_hours,
            upheld: count(&|r| r.status == Status::Upheld),
            satisfied: count(&|r| r.satisfied == Some(true)),
            with_feedback: count(&|r| r.satisfied.is_some()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3600;
    const DAY: i64 = 86_400;
    const HOLD: Decision = Decision::Upheld {
        revocation: RevocationReason::CertificateHold,
    };

    fn steps() -> Vec<Step> {
        vec![
            Step::Answer,
            Step::Feedback { satisfied: true },
            Step::Feedback { satisfied: false },
            Step::Decide(HOLD),
            Step::Decide(Decision::Dismissed),
            Step::Withdraw,
            Step::Overdue,
        ]
    }

    #[test]
    fn statuses_and_categories_round_trip_through_their_stored_names() {
        for s in Status::ALL {
            assert_eq!(s.as_str().parse::<Status>().unwrap(), s);
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                serde_json::json!(s.as_str())
            );
        }
        for c in Category::ALL {
            assert_eq!(c.as_str().parse::<Category>().unwrap(), c);
        }
        assert!(matches!(
            "closed".parse::<Status>(),
            Err(AppError::Internal(_))
        ));
        match "spam".parse::<Category>() {
            Err(AppError::Invalid(f)) => assert_eq!(f[0].0, "category"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_lifecycle_table_says_which_step_leads_where_from_where() {
        use Status::*;
        let table = [
            (Step::Answer, vec![Submitted, Forwarded, Overdue], Answered),
            (Step::Feedback { satisfied: true }, vec![Answered], Feedback),
            (
                Step::Feedback { satisfied: false },
                vec![Answered],
                UnderReview,
            ),
            (
                Step::Decide(HOLD),
                vec![Answered, Feedback, UnderReview, Overdue],
                Upheld,
            ),
            (
                Step::Decide(Decision::Dismissed),
                vec![Answered, Feedback, UnderReview, Overdue],
                Dismissed,
            ),
            (
                Step::Withdraw,
                vec![
                    Submitted,
                    Forwarded,
                    Answered,
                    Feedback,
                    UnderReview,
                    Overdue,
                ],
                Withdrawn,
            ),
            (Step::Overdue, vec![Submitted, Forwarded], Overdue),
        ];
        for (step, from, to) in table {
            assert_eq!(step.to(), to, "{step:?}");
            for s in Status::ALL {
                assert_eq!(step.allowed_from(s), from.contains(&s), "{step:?} from {s}");
            }
        }
    }

    #[test]
    fn nothing_leaves_a_closed_complaint_and_every_step_ends_somewhere_else() {
        for step in steps() {
            for closed in Status::CLOSED {
                assert!(!step.allowed_from(closed), "{step:?} from {closed}");
            }
            assert!(!step.allowed_from(step.to()), "{step:?} repeats");
        }
        for s in Status::ALL {
            assert_eq!(may_add_to(s).is_ok(), !s.is_final(), "{s}");
        }
        match may_add_to(Status::Withdrawn) {
            Err(AppError::Conflict(m)) => assert!(m.contains("withdrawn"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn each_step_is_taken_by_one_party_only() {
        let parties = [Party::Complainant, Party::Operator, Party::Staff];
        for step in steps() {
            for p in parties {
                let ok = step.permit(p).is_ok();
                assert_eq!(ok, step.taken_by() == Some(p), "{step:?} by {p:?}");
                if !ok {
                    assert!(matches!(step.permit(p), Err(AppError::Forbidden(_))));
                }
            }
        }
        assert_eq!(Step::Answer.taken_by(), Some(Party::Operator));
        assert_eq!(Step::Withdraw.taken_by(), Some(Party::Complainant));
        assert_eq!(
            Step::Feedback { satisfied: true }.taken_by(),
            Some(Party::Complainant)
        );
        assert_eq!(Step::Decide(HOLD).taken_by(), Some(Party::Staff));
        assert_eq!(Step::Overdue.taken_by(), None);
    }

    #[test]
    fn a_refused_step_names_the_current_state_and_the_ones_it_needs() {
        match (Step::Feedback { satisfied: true }).refused(Status::Forwarded) {
            AppError::Conflict(m) => assert_eq!(
                m,
                "the complaint is forwarded; this step needs it to be answered"
            ),
            other => panic!("{other:?}"),
        }
        match Step::Overdue.refused(Status::Answered) {
            AppError::Conflict(m) => assert!(m.ends_with("submitted or forwarded"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn texts_are_trimmed_and_bounded_and_carry_no_control_characters() {
        assert_eq!(text_field("text", "  已补发。\n", 1).unwrap(), "已补发。");
        assert!(text_field("text", "太短", MIN_TEXT).is_err());
        assert!(text_field("text", &"长".repeat(MAX_TEXT), 1).is_ok());
        assert!(text_field("text", &"长".repeat(MAX_TEXT + 1), 1).is_err());
        assert!(text_field("text", "第一行\n第二行\t", 1).is_ok());
        match text_field("reason", "bell\u{7}", 1) {
            Err(AppError::Invalid(f)) => assert_eq!(f[0].0, "reason"),
            other => panic!("{other:?}"),
        }
    }

    fn record(created_at: i64, status: Status) -> Record {
        Record {
            created_at,
            deadline_at: created_at + 5 * DAY,
            answered_at: None,
            status,
            satisfied: None,
        }
    }

    #[test]
    fn reputation_needs_five_standing_complaints_in_twelve_months() {
        let now = 400 * DAY;
        let mut rs: Vec<Record> = (0..4)
            .map(|i| record(now - i * DAY, Status::Forwarded))
            .collect();
        assert_eq!(Reputation::of(&rs, now), None);
        // Withdrawn, dismissed and older ones do not count towards the five.
        rs.push(record(now, Status::Withdrawn));
        rs.push(record(now, Status::Dismissed));
        rs.push(record(now - REPUTATION_WINDOW - 1, Status::Upheld));
        assert_eq!(Reputation::of(&rs, now), None);
        rs.push(record(now - REPUTATION_WINDOW, Status::Upheld));
        let r = Reputation::of(&rs, now).unwrap();
        assert_eq!(r.received, MIN_REPUTATION_COUNT);
        assert_eq!(r.upheld, 1);
        assert_eq!(r.answered_in_time, 0);
        assert_eq!(r.median_answer_hours, None);
    }

    #[test]
    fn reputation_counts_answers_in_time_the_median_and_satisfaction() {
        let t = 10 * DAY;
        let answered = |hours: i64, satisfied: Option<bool>| Record {
            answered_at: Some(t + hours * HOUR),
            satisfied,
            status: Status::Answered,
            ..record(t, Status::Answered)
        };
        let rs = vec![
            answered(2, Some(true)),
            answered(7, Some(false)),
            answered(6 * 24, None),
            record(t, Status::Overdue),
            record(t, Status::Upheld),
            Record {
                satisfied: Some(false),
                ..answered(1, None)
            },
        ];
        let r = Reputation::of(&rs[..5], t + 7 * DAY).unwrap();
        assert_eq!(
            r,
            Reputation {
                received: 5,
                answered_in_time: 2,
                median_answer_hours: Some(7.0),
                upheld: 1,
                satisfied: 1,
                with_feedback: 2,
            }
        );
        // An even number of answers: the mean of the middle two, to a tenth of an hour.
        let r = Reputation::of(&rs, t + 7 * DAY).unwrap();
        assert_eq!(r.median_answer_hours, Some(4.5));
        assert_eq!(r.with_feedback, 3);
        let odd = Record {
            answered_at: Some(t + 5400 + 40),
            ..record(t, Status::Answered)
        };
        let r = Reputation::of(
            &[odd.clone(), odd.clone(), odd, rs[3].clone(), rs[4].clone()],
            t,
        )
        .unwrap();
        assert_eq!(r.median_answer_hours, Some(1.5));
    }
}
