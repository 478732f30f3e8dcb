//! The staff view of certified sites (issue 18): the state a site is in as staff see
//! it, the filters and sorts of the sites list, its page limits, and the kinds of
//! entry of a site's history. The facts come from the certificate (revocation, hold,
//! expiry) and from the verifier's re-verification row (grace, failures, due dates):
//! nothing here is stored twice.

use std::fmt;
use std::str::FromStr;

use crate::error::AppError;

/// Rows per page of the sites list when the request names none.
pub const PAGE_DEFAULT: i64 = 50;
/// The most rows one page of the sites list returns (`limit` above it is refused).
pub const PAGE_LIMIT: i64 = 200;
/// The furthest page: `page * limit` may not pass this many rows (narrow the filter
/// instead), so that no request makes the database skip more rows than this.
pub const MAX_OFFSET: i64 = 10_000;
/// A search longer than this is refused.
pub const MAX_QUERY: usize = 200;
/// "Grace ending soon": the grace period ends within this many seconds (24 h).
pub const GRACE_ENDING_WITHIN: i64 = 86_400;
/// Entries of each kind a site's history shows at most (newest kept).
pub const HISTORY_PER_KIND: i64 = 200;
/// A staff note or an action's reason: at most this many characters.
pub const MAX_NOTE: usize = 2_000;

/// Where a certified site stands, as staff see it. Revocation and hold come from the
/// certificate, grace from re-verification, expiry from the certificate's validity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StaffState {
    /// Its certificate is valid and re-verification passes (or has not failed).
    Certified,
    /// Re-verification fails; the seal still shows until the grace period ends.
    Grace,
    /// Its certificate is on hold (certificateHold).
    Held,
    /// Its certificate is revoked.
    Revoked,
    /// Its certificate has expired.
    Expired,
}

impl StaffState {
    /// Every state, in the order the list's filter offers them.
    pub const ALL: [StaffState; 5] = [
        StaffState::Certified,
        StaffState::Grace,
        StaffState::Held,
        StaffState::Revoked,
        StaffState::Expired,
    ];

    /// The name the API and the filter use.
    pub fn as_str(self) -> &'static str {
        match self {
            StaffState::Certified => "certified",
            StaffState::Grace => "grace",
            StaffState::Held => "held",
            StaffState::Revoked => "revoked",
            StaffState::Expired => "expired",
        }
    }

    /// Chinese and English labels.
    pub fn labels(self) -> (&'static str, &'static str) {
        match self {
            StaffState::Certified => ("已认证", "Certified"),
            StaffState::Grace => ("宽限期", "In grace"),
            StaffState::Held => ("已暂停", "Held"),
            StaffState::Revoked => ("已撤销", "Revoked"),
            StaffState::Expired => ("已过期", "Expired"),
        }
    }

    /// The state from the facts that decide it: the certificate's revocation reason
    /// code (if revoked or held), its end of validity, and the re-verification state.
    pub fn of(revocation: Option<i64>, not_after: i64, recheck: Option<&str>, now: i64) -> Self {
        match revocation {
            Some(code) if code == ca::RevocationReason::CertificateHold.code() => StaffState::Held,
            Some(_) => StaffState::Revoked,
            None if not_after < now => StaffState::Expired,
            None if recheck == Some("grace") => StaffState::Grace,
            None => StaffState::Certified,
        }
    }
}

impl fmt::Display for StaffState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for StaffState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        StaffState::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "one of {}",
                    StaffState::ALL.map(StaffState::as_str).join(", ")
                )
            })
    }
}

/// The outcome of a site's latest re-verification, from the verifier's row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LastResult {
    /// The checks passed (or the site has not been re-checked yet since approval).
    Pass,
    /// The checks failed; `failing_since` says since when.
    Fail,
    /// A transient error (DNS timeout, provider down); a retry is scheduled.
    Error,
}

impl LastResult {
    /// Every result.
    pub const ALL: [LastResult; 3] = [LastResult::Pass, LastResult::Fail, LastResult::Error];

    /// The name the API and the filter use.
    pub fn as_str(self) -> &'static str {
        match self {
            LastResult::Pass => "pass",
            LastResult::Fail => "fail",
            LastResult::Error => "error",
        }
    }

    /// The result from the verifier's row: a pending retry is an error, a failure
    /// date a failure (a failing site that then hits an error keeps both: error).
    pub fn of(failing_since: Option<i64>, retry_at: Option<i64>) -> Self {
        match (retry_at, failing_since) {
            (Some(_), _) => LastResult::Error,
            (None, Some(_)) => LastResult::Fail,
            (None, None) => LastResult::Pass,
        }
    }
}

impl FromStr for LastResult {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        LastResult::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| "one of pass, fail, error".to_string())
    }
}

/// How the list is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    /// Newest site first.
    #[default]
    Newest,
    /// Next re-verification due first.
    Due,
    /// Most recent failure first (sites not failing last).
    Failure,
}

impl Sort {
    /// The name the API and the form use.
    pub fn as_str(self) -> &'static str {
        match self {
            Sort::Newest => "newest",
            Sort::Due => "due",
            Sort::Failure => "failure",
        }
    }
}

impl FromStr for Sort {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        [Sort::Newest, Sort::Due, Sort::Failure]
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| "one of newest, due, failure".to_string())
    }
}

/// What the sites list is asked for, validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SiteFilter {
    /// Sites in this state.
    pub state: Option<StaffState>,
    /// Sites whose re-verification is due (or a retry is).
    pub due: bool,
    /// Sites whose checks fail (in grace, held by re-verification, or failing).
    pub failing: bool,
    /// Sites in grace whose grace period ends within [`GRACE_ENDING_WITHIN`].
    pub grace_ending: bool,
    /// Sites whose latest re-verification had this outcome.
    pub last: Option<LastResult>,
    /// The organization's province, exactly.
    pub province: Option<String>,
    /// Sites with a complaint not yet closed.
    pub open_complaints: bool,
    /// Sites whose seal was seen on hosts not theirs (reported copies).
    pub copies: bool,
    /// Domain, organization, USCC, ICP number (substring) or site id (exact).
    pub q: Option<String>,
    /// Order.
    pub sort: Sort,
    /// Rows per page, 1 to [`PAGE_LIMIT`].
    pub limit: i64,
    /// Page number, from 1.
    pub page: i64,
}

/// The raw query of the list (page form or API), every field a string as typed.
#[derive(Debug, Clone, Default)]
pub struct RawFilter<'a> {
    /// `state`
    pub state: Option<&'a str>,
    /// `due`
    pub due: Option<&'a str>,
    /// `failing`
    pub failing: Option<&'a str>,
    /// `grace_ending`
    pub grace_ending: Option<&'a str>,
    /// `last`
    pub last: Option<&'a str>,
    /// `province`
    pub province: Option<&'a str>,
    /// `complaints`
    pub complaints: Option<&'a str>,
    /// `copies`
    pub copies: Option<&'a str>,
    /// `q`
    pub q: Option<&'a str>,
    /// `sort`
    pub sort: Option<&'a str>,
    /// `limit`
    pub limit: Option<&'a str>,
    /// `page`
    pub page: Option<&'a str>,
}

/// An empty field is no filter (an HTML form sends every field).
fn given(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

/// A yes/no filter: `1`, `true`, `on` or `yes`.
fn flag(s: Option<&str>, name: &str, errors: &mut Vec<(String, String)>) -> bool {
    match given(s) {
        None => false,
        Some("1" | "true" | "on" | "yes") => true,
        Some("0" | "false" | "off" | "no") => false,
        Some(_) => {
            errors.push((name.into(), "1 or 0".into()));
            false
        }
    }
}

impl SiteFilter {
    /// Validates a raw query: 422 naming each field that is wrong.
    pub fn parse(raw: &RawFilter<'_>) -> Result<SiteFilter, AppError> {
        let mut errors: Vec<(String, String)> = vec![];
        let mut f = SiteFilter {
            limit: PAGE_DEFAULT,
            page: 1,
            ..SiteFilter::default()
        };
        if let Some(s) = given(raw.state) {
            match s.parse() {
                Ok(s) => f.state = Some(s),
                Err(e) => errors.push(("state".into(), e)),
            }
        }
        if let Some(s) = given(raw.last) {
            match s.parse() {
                Ok(s) => f.last = Some(s),
                Err(e) => errors.push(("last".into(), e)),
            }
        }
        if let Some(s) = given(raw.sort) {
            match s.parse() {
                Ok(s) => f.sort = s,
                Err(e) => errors.push(("sort".into(), e)),
            }
        }
        f.due = flag(raw.due, "due", &mut errors);
        f.failing = flag(raw.failing, "failing", &mut errors);
        f.grace_ending = flag(raw.grace_ending, "grace_ending", &mut errors);
        f.open_complaints = flag(raw.complaints, "complaints", &mut errors);
        f.copies = flag(raw.copies, "copies", &mut errors);
        if let Some(p) = given(raw.province) {
            if p.chars().count() > 64 {
                errors.push(("province".into(), "at most 64 characters".into()));
            } else {
                f.province = Some(p.to_string());
            }
        }
        if let Some(q) = given(raw.q) {
            if q.chars().count() > MAX_QUERY {
                errors.push(("q".into(), format!("at most {MAX_QUERY} characters")));
            } else {
                f.q = Some(q.to_string());
            }
        }
        if let Some(l) = given(raw.limit) {
            match l.parse::<i64>() {
                Ok(l) if (1..=PAGE_LIMIT).contains(&l) => f.limit = l,
                _ => errors.push(("limit".into(), format!("1 to {PAGE_LIMIT}"))),
            }
        }
        if let Some(p) = given(raw.page) {
            match p.parse::<i64>() {
                Ok(p) if p >= 1 => f.page = p,
                _ => errors.push(("page".into(), "a page number from 1".into())),
            }
        }
        if errors.is_empty() && f.offset() + f.limit > MAX_OFFSET + PAGE_LIMIT {
            errors.push((
                "page".into(),
                format!("at most {MAX_OFFSET} rows are skipped: narrow the filter"),
            ));
        }
        if errors.is_empty() {
            Ok(f)
        } else {
            Err(AppError::Invalid(errors))
        }
    }

    /// Rows skipped before this page.
    pub fn offset(&self) -> i64 {
        (self.page - 1) * self.limit
    }

    /// The query string of this filter at `page` (for the page's links), without
    /// the defaults.
    pub fn query(&self, page: i64) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        if let Some(s) = self.state {
            q.append_pair("state", s.as_str());
        }
        for (on, name) in [
            (self.due, "due"),
            (self.failing, "failing"),
            (self.grace_ending, "grace_ending"),
            (self.open_complaints, "complaints"),
            (self.copies, "copies"),
        ] {
            if on {
                q.append_pair(name, "1");
            }
        }
        if let Some(l) = self.last {
            q.append_pair("last", l.as_str());
        }
        if let Some(p) = &self.province {
            q.append_pair("province", p);
        }
        if let Some(s) = &self.q {
            q.append_pair("q", s);
        }
        if self.sort != Sort::Newest {
            q.append_pair("sort", self.sort.as_str());
        }
        if self.limit != PAGE_DEFAULT {
            q.append_pair("limit", &self.limit.to_string());
        }
        if page != 1 {
            q.append_pair("page", &page.to_string());
        }
        q.finish()
    }
}

/// Whether a complaint is past its deadline: marked overdue, or still waiting for the
/// operator's answer after its deadline (the console's queue count, store/site_list.rs
/// `queue_counts`, counts the same).
pub fn complaint_past_deadline(
    status: crate::domain::complaint::Status,
    deadline_at: i64,
    now: i64,
) -> bool {
    use crate::domain::complaint::Status;
    status == Status::Overdue
        || (matches!(status, Status::Submitted | Status::Forwarded) && deadline_at < now)
}

/// The kinds of entry in a site's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryKind {
    /// A certificate was issued.
    Certificate,
    /// A re-verification check, with its evidence.
    Check,
    /// A complaint was filed.
    Complaint,
    /// Its seal was seen on another host.
    Copy,
    /// A fraud warning names it.
    Warning,
    /// An audit entry about the site or its certificates (notes included).
    Audit,
}

impl HistoryKind {
    /// The name the API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            HistoryKind::Certificate => "certificate",
            HistoryKind::Check => "check",
            HistoryKind::Complaint => "complaint",
            HistoryKind::Copy => "copy",
            HistoryKind::Warning => "warning",
            HistoryKind::Audit => "audit",
        }
    }
}

/// The staff actions on a site's certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SiteAction {
    /// Put the certificate on hold.
    Hold,
    /// Release a hold.
    Release,
    /// Revoke for good.
    Revoke,
}

impl SiteAction {
    /// The path segment and the audit action's suffix.
    pub fn as_str(self) -> &'static str {
        match self {
            SiteAction::Hold => "hold",
            SiteAction::Release => "release",
            SiteAction::Revoke => "revoke",
        }
    }

    /// From a path segment.
    pub fn parse(s: &str) -> Option<Self> {
        [SiteAction::Hold, SiteAction::Release, SiteAction::Revoke]
            .into_iter()
            .find(|a| a.as_str() == s)
    }

    /// Chinese and English labels of the button.
    pub fn labels(self) -> (&'static str, &'static str) {
        match self {
            SiteAction::Hold => ("暂停证书", "Hold the certificate"),
            SiteAction::Release => ("解除暂停", "Release the hold"),
            SiteAction::Revoke => ("撤销证书", "Revoke the certificate"),
        }
    }
}

/// A reason or note as typed: trimmed, 1 to [`MAX_NOTE`] characters; 422 otherwise.
pub fn note_text(field: &str, text: &str) -> Result<String, AppError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(AppError::Invalid(vec![(field.into(), "required".into())]));
    }
    if t.chars().count() > MAX_NOTE {
        return Err(AppError::Invalid(vec![(
            field.into(),
            format!("at most {MAX_NOTE} characters"),
        )]));
    }
    Ok(t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw<'a>(pairs: &[(&str, &'a str)]) -> RawFilter<'a> {
        let mut r = RawFilter::default();
        for (k, v) in pairs {
            let v = Some(*v);
            match *k {
                "state" => r.state = v,
                "limit" => r.limit = v,
                "page" => r.page = v,
                "due" => r.due = v,
                "sort" => r.sort = v,
                "q" => r.q = v,
                _ => unreachable!(),
            }
        }
        r
    }

    #[test]
    fn states_follow_the_certificate_first_then_re_verification() {
        let now = 1_000;
        assert_eq!(
            StaffState::of(Some(6), 2_000, Some("grace"), now),
            StaffState::Held
        );
        assert_eq!(
            StaffState::of(Some(1), 2_000, None, now),
            StaffState::Revoked
        );
        assert_eq!(
            StaffState::of(None, 999, Some("grace"), now),
            StaffState::Expired
        );
        assert_eq!(
            StaffState::of(None, 2_000, Some("grace"), now),
            StaffState::Grace
        );
        assert_eq!(
            StaffState::of(None, 2_000, Some("ok"), now),
            StaffState::Certified
        );
        assert_eq!(
            StaffState::of(None, 2_000, None, now),
            StaffState::Certified
        );
    }

    #[test]
    fn the_filter_is_validated_and_the_page_size_bounded() {
        let f = SiteFilter::parse(&raw(&[])).unwrap();
        assert_eq!((f.limit, f.page, f.sort), (PAGE_DEFAULT, 1, Sort::Newest));
        let f =
            SiteFilter::parse(&raw(&[("state", "grace"), ("due", "1"), ("sort", "due")])).unwrap();
        assert_eq!(f.state, Some(StaffState::Grace));
        assert!(f.due);
        assert_eq!(f.query(2), "state=grace&due=1&sort=due&page=2");
        let limit = PAGE_LIMIT.to_string();
        assert!(SiteFilter::parse(&raw(&[("limit", &limit)])).is_ok());
        let over = (PAGE_LIMIT + 1).to_string();
        for bad in [
            raw(&[("limit", &over)]),
            raw(&[("limit", "0")]),
            raw(&[("page", "0")]),
            raw(&[("page", "1000")]),
            raw(&[("state", "pending")]),
            raw(&[("due", "maybe")]),
            raw(&[("sort", "name")]),
        ] {
            assert!(
                matches!(SiteFilter::parse(&bad), Err(AppError::Invalid(_))),
                "{bad:?}"
            );
        }
        let long = "x".repeat(MAX_QUERY + 1);
        assert!(SiteFilter::parse(&raw(&[("q", &long)])).is_err());
    }

    #[test]
    fn the_last_result_reads_the_retry_before_the_failure() {
        assert_eq!(LastResult::of(None, None), LastResult::Pass);
        assert_eq!(LastResult::of(Some(1), None), LastResult::Fail);
        assert_eq!(LastResult::of(Some(1), Some(2)), LastResult::Error);
    }
}
