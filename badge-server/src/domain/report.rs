//! The anti-fraud work report (《反网络欺诈工作报告》, issue 16): what a period is, the
//! figures a report publishes, how small numbers are hidden, and the charts.
//!
//! A report covers one calendar month (`2026-11`) or quarter (`2026-Q4`) in Beijing
//! time. Its figures are counted from rows that carry their own times (the audit
//! chain, applications, complaints and their events, warnings, checks), never from
//! "now", so that building a closed period again gives the same bytes: published
//! reports are immutable ([`crate::service::reports`]). Counts below
//! [`MIN_PUBLISHED_COUNT`] are published as `<5`, as on the certificate page, and a
//! median or a share over fewer cases is not published at all; nothing names a
//! person.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::{Date, Month, OffsetDateTime, UtcOffset};

use crate::domain::privacy::MIN_PUBLISHED_COUNT;

/// Beijing time, in which periods begin and end.
const BEIJING: UtcOffset = time::macros::offset!(+8);

/// Provinces listed in a report's "top provinces".
pub const TOP_PROVINCES: usize = 5;

/// A report's period: a calendar month or quarter, Beijing time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Period {
    /// A month, 1–12.
    Month {
        /// The year.
        year: i32,
        /// The month, 1–12.
        month: u8,
    },
    /// A quarter, 1–4.
    Quarter {
        /// The year.
        year: i32,
        /// The quarter, 1–4.
        quarter: u8,
    },
}

/// Why a period could not be read.
pub const PERIOD_FORMAT: &str =
    "a month as YYYY-MM (2026-11) or a quarter as YYYY-Qn (2026-Q4), year 2000 to 2999";

impl Period {
    /// Reads `2026-11` or `2026-Q4`.
    pub fn parse(s: &str) -> Result<Period, String> {
        let bad = || format!("{s:?} is not {PERIOD_FORMAT}");
        let (y, rest) = s.split_once('-').ok_or_else(bad)?;
        if y.len() != 4 || !y.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let year: i32 = y.parse().map_err(|_| bad())?;
        if !(2000..=2999).contains(&year) {
            return Err(bad());
        }
        if let Some(q) = rest.strip_prefix('Q') {
            match q {
                "1" | "2" | "3" | "4" => Ok(Period::Quarter {
                    year,
                    quarter: q.parse().map_err(|_| bad())?,
                }),
                _ => Err(bad()),
            }
        } else if rest.len() == 2 && rest.bytes().all(|b| b.is_ascii_digit()) {
            let month: u8 = rest.parse().map_err(|_| bad())?;
            if (1..=12).contains(&month) {
                Ok(Period::Month { year, month })
            } else {
                Err(bad())
            }
        } else {
            Err(bad())
        }
    }

    /// The first day and the first day after, as (year, month) pairs.
    fn months(self) -> ((i32, u8), (i32, u8)) {
        let (year, first, count) = match self {
            Period::Month { year, month } => (year, month, 1),
            Period::Quarter { year, quarter } => (year, 3 * quarter - 2, 3),
        };
        let next = first + count;
        let end = if next > 12 {
            (year + 1, next - 12)
        } else {
            (year, next)
        };
        ((year, first), end)
    }

    fn midnight((year, month): (i32, u8)) -> i64 {
        let month = Month::try_from(month).unwrap_or(Month::January);
        Date::from_calendar_date(year, month, 1)
            .map(|d| d.midnight().assume_offset(BEIJING).unix_timestamp())
            .unwrap_or(0)
    }

    /// When it begins (Unix seconds: 00:00 Beijing time on its first day).
    pub fn start(self) -> i64 {
        Self::midnight(self.months().0)
    }

    /// When the next period begins: the period is `start() .. end()`.
    pub fn end(self) -> i64 {
        Self::midnight(self.months().1)
    }

    /// Its first and last day, `2026-10-01` and `2026-12-31`.
    pub fn days(self) -> (String, String) {
        let day = |t: i64| {
            OffsetDateTime::from_unix_timestamp(t)
                .map(|d| d.to_offset(BEIJING).date().to_string())
                .unwrap_or_default()
        };
        (day(self.start()), day(self.end() - 1))
    }

    /// The month and the quarter that last ended at `now`: what the scheduled job
    /// builds.
    pub fn last_ended(now: i64) -> [Period; 2] {
        let today = OffsetDateTime::from_unix_timestamp(now)
            .map(|d| d.to_offset(BEIJING).date())
            .unwrap_or(Date::MIN);
        let (year, month) = (today.year(), u8::from(today.month()));
        let last_month = if month == 1 {
            Period::Month {
                year: year - 1,
                month: 12,
            }
        } else {
            Period::Month {
                year,
                month: month - 1,
            }
        };
        let quarter = (month - 1) / 3 + 1;
        let last_quarter = if quarter == 1 {
            Period::Quarter {
                year: year - 1,
                quarter: 4,
            }
        } else {
            Period::Quarter {
                year,
                quarter: quarter - 1,
            }
        };
        [last_month, last_quarter]
    }

    /// Whether it is a quarter.
    pub fn is_quarter(self) -> bool {
        matches!(self, Period::Quarter { .. })
    }
}

impl std::fmt::Display for Period {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Period::Month { year, month } => write!(f, "{year}-{month:02}"),
            Period::Quarter { year, quarter } => write!(f, "{year}-Q{quarter}"),
        }
    }
}

/// A published count: the number, or `<5` below [`MIN_PUBLISHED_COUNT`] (zero
/// included: "none" would tell as much as the number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Count {
    /// Fewer than five.
    Few,
    /// Five or more.
    Exact(i64),
}

impl Count {
    /// The count as published.
    pub fn of(n: i64) -> Count {
        if n < MIN_PUBLISHED_COUNT {
            Count::Few
        } else {
            Count::Exact(n)
        }
    }

    /// The number a chart draws (`<5` as nought).
    pub fn drawn(self) -> i64 {
        match self {
            Count::Few => 0,
            Count::Exact(n) => n,
        }
    }
}

impl std::fmt::Display for Count {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Count::Few => write!(f, "<{MIN_PUBLISHED_COUNT}"),
            Count::Exact(n) => write!(f, "{n}"),
        }
    }
}

impl Serialize for Count {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Count::Few => s.serialize_str(&format!("<{MIN_PUBLISHED_COUNT}")),
            Count::Exact(n) => s.serialize_i64(*n),
        }
    }
}

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Count, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(i64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) if n >= MIN_PUBLISHED_COUNT => Ok(Count::Exact(n)),
            Raw::S(s) if s == format!("<{MIN_PUBLISHED_COUNT}") => Ok(Count::Few),
            _ => Err(serde::de::Error::custom("a count of at least 5, or \"<5\"")),
        }
    }
}

/// What the database counted for a period, before anything is hidden.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counted {
    /// Applications submitted.
    pub applications: i64,
    /// Certificates issued.
    pub issued: i64,
    /// Certificates put on hold.
    pub held: i64,
    /// Certificates revoked, by RFC 5280 reason name.
    pub revoked: BTreeMap<String, i64>,
    /// Complaints filed, by category.
    pub complaints: BTreeMap<String, i64>,
    /// Complaints closed, by outcome (upheld, dismissed, withdrawn).
    pub outcomes: BTreeMap<String, i64>,
    /// Seconds from filing to the operator's answer, for answers given.
    pub to_answer: Vec<i64>,
    /// Seconds from filing to the decision, for decisions made.
    pub to_decision: Vec<i64>,
    /// Complaints whose answer deadline fell in the period.
    pub due: i64,
    /// Of those, answered by the deadline.
    pub answered_in_time: i64,
    /// Fraud warnings published.
    pub warnings: i64,
    /// Hosts first seen showing a copied seal.
    pub copied_hosts: i64,
    /// Re-verification checks that failed.
    pub recheck_failures: i64,
    /// Certificates issued, by the organization's province.
    pub provinces: BTreeMap<String, i64>,
}

/// A median or share and how many cases it is over.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Measure {
    /// The value: hours for a median (one decimal), percent for a share (one decimal).
    pub value: f64,
    /// Cases it is over.
    pub cases: i64,
}

/// A report's figures as published: the JSON at `/reports/{period}.json`, byte for
/// byte (fields in this order, maps in key order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    /// The period, `2026-Q4` or `2026-11`.
    pub period: String,
    /// Its first day (Beijing time).
    pub from: String,
    /// Its last day.
    pub to: String,
    /// Applications submitted.
    pub applications: Count,
    /// Certificates issued.
    pub certificates_issued: Count,
    /// Certificates put on hold.
    pub certificates_held: Count,
    /// Certificates revoked, by reason.
    pub certificates_revoked: BTreeMap<String, Count>,
    /// Complaints filed, by category.
    pub complaints_by_category: BTreeMap<String, Count>,
    /// Complaints closed, by outcome.
    pub complaints_by_outcome: BTreeMap<String, Count>,
    /// Median hours from filing to the operator's answer (absent under five cases).
    pub median_hours_to_answer: Option<Measure>,
    /// Median hours from filing to the decision (absent under five cases).
    pub median_hours_to_decision: Option<Measure>,
    /// Percent of complaints due in the period answered by their deadline (absent
    /// under five).
    pub answered_within_deadline: Option<Measure>,
    /// Fraud warnings published.
    pub warnings_published: Count,
    /// Hosts first seen showing a copied seal.
    pub copied_seal_hosts: Count,
    /// Re-verification checks that failed.
    pub reverification_failures: Count,
    /// The provinces with the most certificates issued, most first (ties by name).
    pub top_provinces: Vec<(String, Count)>,
}

fn one_decimal(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// The median of `seconds` in hours, when there are at least five.
fn median_hours(seconds: &[i64]) -> Option<Measure> {
    let n = seconds.len() as i64;
    if n < MIN_PUBLISHED_COUNT {
        return None;
    }
    let mut s = seconds.to_vec();
    s.sort_unstable();
    let mid = s.len() / 2;
    let median = if s.len() % 2 == 1 {
        s[mid] as f64
    } else {
        (s[mid - 1] as f64 + s[mid] as f64) / 2.0
    };
    Some(Measure {
        value: one_decimal(median / 3600.0),
        cases: n,
    })
}

impl Figures {
    /// The published figures of `period` from what was counted.
    pub fn from_counted(period: Period, c: &Counted) -> Figures {
        let counts =
            |m: &BTreeMap<String, i64>| m.iter().map(|(k, v)| (k.clone(), Count::of(*v))).collect();
        let mut provinces: Vec<(&String, &i64)> = c.provinces.iter().collect();
        provinces.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let (from, to) = period.days();
        Figures {
            period: period.to_string(),
            from,
            to,
            applications: Count::of(c.applications),
            certificates_issued: Count::of(c.issued),
            certificates_held: Count::of(c.held),
            certificates_revoked: counts(&c.revoked),
            complaints_by_category: counts(&c.complaints),
            complaints_by_outcome: counts(&c.outcomes),
            median_hours_to_answer: median_hours(&c.to_answer),
            median_hours_to_decision: median_hours(&c.to_decision),
            answered_within_deadline: (c.due >= MIN_PUBLISHED_COUNT).then(|| Measure {
                value: one_decimal(100.0 * c.answered_in_time as f64 / c.due as f64),
                cases: c.due,
            }),
            warnings_published: Count::of(c.warnings),
            copied_seal_hosts: Count::of(c.copied_hosts),
            reverification_failures: Count::of(c.recheck_failures),
            top_provinces: provinces
                .into_iter()
                .take(TOP_PROVINCES)
                .map(|(p, n)| (p.clone(), Count::of(*n)))
                .collect(),
        }
    }

    /// The canonical bytes: what is stored, served and compared on a rebuild.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).unwrap_or_default();
        out.push(b'\n');
        out
    }

    /// Every figure as `section,key,value` rows (RFC 4180 CSV, CRLF line ends,
    /// fields quoted when they hold a comma, a quote or a line break).
    pub fn to_csv(&self) -> String {
        let mut rows: Vec<(String, String, String)> = vec![
            ("period".into(), String::new(), self.period.clone()),
            ("period".into(), "from".into(), self.from.clone()),
            ("period".into(), "to".into(), self.to.clone()),
            (
                "applications".into(),
                String::new(),
                self.applications.to_string(),
            ),
            (
                "certificates_issued".into(),
                String::new(),
                self.certificates_issued.to_string(),
            ),
            (
                "certificates_held".into(),
                String::new(),
                self.certificates_held.to_string(),
            ),
        ];
        let map =
            |rows: &mut Vec<(String, String, String)>, name: &str, m: &BTreeMap<String, Count>| {
                for (k, v) in m {
                    rows.push((name.into(), k.clone(), v.to_string()));
                }
            };
        map(
            &mut rows,
            "certificates_revoked",
            &self.certificates_revoked,
        );
        map(
            &mut rows,
            "complaints_by_category",
            &self.complaints_by_category,
        );
        map(
            &mut rows,
            "complaints_by_outcome",
            &self.complaints_by_outcome,
        );
        for (name, m) in [
            ("median_hours_to_answer", &self.median_hours_to_answer),
            ("median_hours_to_decision", &self.median_hours_to_decision),
            (
                "answered_within_deadline_percent",
                &self.answered_within_deadline,
            ),
        ] {
            let v = m.map_or(String::new(), |m| m.value.to_string());
            rows.push((name.into(), String::new(), v));
        }
        rows.push((
            "warnings_published".into(),
            String::new(),
            self.warnings_published.to_string(),
        ));
        rows.push((
            "copied_seal_hosts".into(),
            String::new(),
            self.copied_seal_hosts.to_string(),
        ));
        rows.push((
            "reverification_failures".into(),
            String::new(),
            self.reverification_failures.to_string(),
        ));
        for (p, n) in &self.top_provinces {
            rows.push(("top_provinces".into(), p.clone(), n.to_string()));
        }
        let field = |s: &str| {
            if s.contains([',', '"', '\r', '\n']) {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s.to_owned()
            }
        };
        let mut out = String::from("section,key,value\r\n");
        for (a, b, c) in rows {
            out.push_str(&format!("{},{},{}\r\n", field(&a), field(&b), field(&c)));
        }
        out
    }

    /// The charts of the report page, as SVG documents: complaints by category,
    /// certificates revoked by reason, and the top provinces.
    pub fn charts(&self) -> Vec<Chart> {
        let pairs = |m: &BTreeMap<String, Count>| -> Vec<(String, Count)> {
            m.iter().map(|(k, v)| (k.clone(), *v)).collect()
        };
        [
            (
                "投诉（按类别） Complaints by category",
                pairs(&self.complaints_by_category),
            ),
            (
                "证书撤销（按原因） Revocations by reason",
                pairs(&self.certificates_revoked),
            ),
            (
                "签发最多的省份 Top provinces by certificates",
                self.top_provinces.clone(),
            ),
        ]
        .into_iter()
        .filter(|(_, bars)| !bars.is_empty())
        .map(|(title, bars)| Chart {
            svg: bar_chart(&bars),
            title: title.to_owned(),
        })
        .collect()
    }
}

/// The report as a standalone HTML document (no navigation, print CSS, charts
/// inline): what Chromium prints to the PDF. The web page includes the same body.
#[derive(askama::Template)]
#[template(path = "report-print.html")]
pub struct PrintDocument<'a> {
    /// The figures.
    pub f: &'a Figures,
    /// Their charts.
    pub charts: Vec<Chart>,
}

impl Figures {
    /// [`PrintDocument`] rendered.
    pub fn print_html(&self) -> Result<String, askama::Error> {
        askama::Template::render(&PrintDocument {
            f: self,
            charts: self.charts(),
        })
    }
}

/// One chart.
#[derive(Debug, Clone)]
pub struct Chart {
    /// Its title.
    pub title: String,
    /// The SVG document (no scripts, no external references).
    pub svg: String,
}

/// A horizontal bar chart drawn by `plotters`' SVG backend: one bar per item, the
/// first at the top, each labelled with its count (`<5` drawn as nought and labelled
/// so). The title is the figure's caption, not part of the drawing.
fn bar_chart(bars: &[(String, Count)]) -> String {
    use plotters::prelude::*;
    use plotters::style::text_anchor::{HPos, Pos, VPos};
    let rows = bars.len();
    let height = 60 + 44 * rows as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (560, height)).into_drawing_area();
        let max = bars
            .iter()
            .map(|(_, c)| c.drawn())
            .max()
            .unwrap_or(0)
            .max(5);
        // Row i from the top is segment rows - 1 - i from the bottom.
        let row = |i: usize| rows - 1 - i;
        let drawn = (|| -> Result<(), Box<dyn std::error::Error + '_>> {
            root.fill(&WHITE)?;
            let mut chart = ChartBuilder::on(&root)
                .margin(10)
                .x_label_area_size(28)
                .y_label_area_size(150)
                .build_cartesian_2d(0i64..max + max / 4 + 1, (0..rows).into_segmented())?;
            chart
                .configure_mesh()
                .disable_y_mesh()
                .y_labels(rows)
                .label_style(("sans-serif", 15))
                .y_label_formatter(&|v| match v {
                    SegmentValue::CenterOf(i) if *i < rows => bars[row(*i)].0.clone(),
                    _ => String::new(),
                })
                .draw()?;
            chart.draw_series(bars.iter().enumerate().map(|(i, (_, c))| {
                let mut bar = Rectangle::new(
                    [
                        (0, SegmentValue::Exact(row(i))),
                        (c.drawn(), SegmentValue::Exact(row(i) + 1)),
                    ],
                    RGBColor(0x1a, 0x7f, 0x37).filled(),
                );
                bar.set_margin(6, 6, 0, 0);
                bar
            }))?;
            let value = ("sans-serif", 15)
                .into_font()
                .color(&BLACK)
                .pos(Pos::new(HPos::Left, VPos::Center));
            chart.draw_series(bars.iter().enumerate().map(|(i, (_, c))| {
                Text::new(
                    format!(" {c}"),
                    (c.drawn(), SegmentValue::CenterOf(row(i))),
                    value.clone(),
                )
            }))?;
            root.present()?;
            Ok(())
        })();
        if let Err(e) = drawn {
            tracing::warn!(error = %e, "a report chart was not drawn");
        }
    }
    // plotters writes a viewBox, so the page's CSS scales it.
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_read_strictly_and_bound_beijing_days() {
        let q4 = Period::parse("2026-Q4").unwrap();
        assert_eq!(q4.to_string(), "2026-Q4");
        // 2026-10-01 00:00 +08:00 and 2027-01-01 00:00 +08:00.
        assert_eq!(q4.start(), 1_790_784_000);
        assert_eq!(q4.end(), 1_798_732_800);
        assert_eq!(q4.days(), ("2026-10-01".into(), "2026-12-31".into()));
        let feb = Period::parse("2028-02").unwrap();
        assert_eq!(feb.days(), ("2028-02-01".into(), "2028-02-29".into()));
        assert_eq!(feb.end() - feb.start(), 29 * 86_400);
        for bad in [
            "2026-Q5",
            "2026-Q0",
            "2026-13",
            "2026-00",
            "26-Q1",
            "2026-1",
            "2026Q1",
            "",
            "2026-q1",
            "1999-01",
            "2026-01-01",
            "２０２６-01",
        ] {
            assert!(Period::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_last_ended_periods_are_yesterday_s_month_and_quarter_in_beijing() {
        // 2027-01-01 00:30 Beijing is still 2026-12-31 in UTC: December and Q4 ended.
        let t = Period::parse("2027-01").unwrap().start() + 1_800;
        assert_eq!(
            Period::last_ended(t),
            [
                Period::Month {
                    year: 2026,
                    month: 12
                },
                Period::Quarter {
                    year: 2026,
                    quarter: 4
                }
            ]
        );
        let t = Period::parse("2026-05").unwrap().start() + 86_400;
        assert_eq!(
            Period::last_ended(t),
            [
                Period::Month {
                    year: 2026,
                    month: 4
                },
                Period::Quarter {
                    year: 2026,
                    quarter: 1
                }
            ]
        );
    }

    #[test]
    fn small_numbers_medians_and_shares_are_hidden_below_five() {
        let c = Counted {
            applications: 4,
            issued: 5,
            held: 0,
            revoked: [("keyCompromise".into(), 1), ("superseded".into(), 7)].into(),
            to_answer: vec![3600, 7200, 10800, 14400],
            to_decision: vec![3600, 7200, 10800, 14400, 36_000, 3600],
            due: 8,
            answered_in_time: 6,
            provinces: [
                ("上海市".into(), 9),
                ("北京市".into(), 9),
                ("广东省".into(), 2),
                ("浙江省".into(), 12),
            ]
            .into(),
            ..Counted::default()
        };
        let f = Figures::from_counted(Period::parse("2026-Q3").unwrap(), &c);
        assert_eq!(f.applications, Count::Few);
        assert_eq!(f.certificates_issued, Count::Exact(5));
        assert_eq!(f.certificates_held, Count::Few);
        assert_eq!(f.median_hours_to_answer, None);
        assert_eq!(
            f.median_hours_to_decision,
            Some(Measure {
                value: 2.5,
                cases: 6
            })
        );
        assert_eq!(
            f.answered_within_deadline,
            Some(Measure {
                value: 75.0,
                cases: 8
            })
        );
        assert_eq!(
            f.top_provinces,
            [
                ("浙江省".to_string(), Count::Exact(12)),
                ("上海市".into(), Count::Exact(9)),
                ("北京市".into(), Count::Exact(9)),
                ("广东省".into(), Count::Few)
            ]
        );
        let json = String::from_utf8(f.to_bytes()).unwrap();
        assert!(json.contains("\"applications\": \"<5\""), "{json}");
        assert!(json.contains("\"keyCompromise\": \"<5\""), "{json}");
        let back: Figures = serde_json::from_str(&json).unwrap();
        assert_eq!(back, f);
        let csv = f.to_csv();
        assert!(
            csv.starts_with("section,key,value\r\nperiod,,2026-Q3\r\n"),
            "{csv}"
        );
        assert!(
            csv.contains("certificates_revoked,superseded,7\r\n"),
            "{csv}"
        );
        assert!(csv.contains("median_hours_to_answer,,\r\n"), "{csv}");
        // A count of four can never be read back as a number.
        assert!(serde_json::from_str::<Count>("4").is_err());
    }

    #[test]
    fn charts_are_svg_with_their_labels_escaped() {
        let c = Counted {
            complaints: [("fraud<script>".into(), 12), ("fake_shop".into(), 3)].into(),
            ..Counted::default()
        };
        let f = Figures::from_counted(Period::parse("2026-11").unwrap(), &c);
        let charts = f.charts();
        assert_eq!(charts.len(), 1);
        let svg = &charts[0].svg;
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(!svg.contains("<script"), "{svg}");
        assert!(svg.contains("fraud&lt;script&gt;"), "{svg}");
        assert!(svg.contains("&lt;5"), "{svg}");
    }
}
