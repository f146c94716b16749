//! The 16 default rules written by hand in plain Rust: the yardstick for the engine.
//!
//! This is what "native Rust" means in the benchmarks: a typed serde parse of the
//! canonical record (unknown top-level keys rejected, as the real parser does) and the
//! rules of `rules/*.yaml` as `if`s over derived indicators, with the thresholds of
//! `rules/params.yaml` as constants (`benches/engine.rs` checks they still agree). It
//! needs only serde and serde_json, and it does not validate values (negative day
//! counts, percentiles outside 0–100, …) the way `intervene::record` does.
//!
//! Missing data follows the engine's rule: a rule whose input is absent does not fire.
//!
//! Shared by `benches/engine.rs` and `examples/baseline_eval.rs` through `#[path]`.

use serde::Deserialize;

/// The defaults of `rules/params.yaml`, one constant per parameter.
pub mod params {
    pub const ATTENDANCE_WATCH_RATE: f64 = 0.05;
    pub const CHRONIC_ABSENCE_RATE: f64 = 0.10;
    pub const SEVERE_ABSENCE_RATE: f64 = 0.20;
    pub const COURSE_FAILURES_MIN: u32 = 1;
    pub const CORE_FAILURES_MULTIPLE: u32 = 2;
    pub const LOW_GPA: f64 = 2.0;
    pub const BENCHMARK_PERCENTILE: f64 = 25.0;
    pub const WELL_BELOW_PERCENTILE: f64 = 10.0;
    pub const REFERRALS_REPEATED: u32 = 2;
    pub const REFERRALS_FREQUENT: u32 = 6;
    pub const SUSPENSIONS_REPEATED: u32 = 2;
    pub const SEL_NEED_T_SCORE: f64 = 40.0;
    // The rules on plans (`rules/plans.yaml`) read plan facts, not the record: the
    // baseline does not implement them, and no benchmark record has a plan.
    pub const NONRESPONSE_WEEKS: f64 = 6.0;
    pub const MIN_POINTS: f64 = 4.0;
    pub const POINTS_IN_A_ROW: f64 = 4.0;
    pub const FIDELITY_MIN: f64 = 0.8;
    pub const FIDELITY_CHECK_WEEKS: f64 = 4.0;

    /// Every parameter by its name in `params.yaml`, for the drift check.
    #[allow(
        dead_code,
        reason = "the benchmark checks it against params.yaml; baseline_eval does not"
    )]
    pub const ALL: [(&str, f64); 17] = [
        ("attendance_watch_rate", ATTENDANCE_WATCH_RATE),
        ("chronic_absence_rate", CHRONIC_ABSENCE_RATE),
        ("severe_absence_rate", SEVERE_ABSENCE_RATE),
        ("course_failures_min", COURSE_FAILURES_MIN as f64),
        ("core_failures_multiple", CORE_FAILURES_MULTIPLE as f64),
        ("low_gpa", LOW_GPA),
        ("benchmark_percentile", BENCHMARK_PERCENTILE),
        ("well_below_percentile", WELL_BELOW_PERCENTILE),
        ("referrals_repeated", REFERRALS_REPEATED as f64),
        ("referrals_frequent", REFERRALS_FREQUENT as f64),
        ("suspensions_repeated", SUSPENSIONS_REPEATED as f64),
        ("nonresponse_weeks", NONRESPONSE_WEEKS),
        ("min_points", MIN_POINTS),
        ("points_in_a_row", POINTS_IN_A_ROW),
        ("fidelity_min", FIDELITY_MIN),
        ("fidelity_check_weeks", FIDELITY_CHECK_WEEKS),
        ("sel_need_t_score", SEL_NEED_T_SCORE),
    ];
}

// ---------------------------------------------------------------------------------
// The canonical student record (DESIGN.md), every section optional.

/// One student as the SIS sends it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(
    dead_code,
    reason = "fields the rules do not read are parsed, as the real record is, but not used"
)]
pub struct BaselineRecord {
    pub student_id: String,
    pub as_of: Option<String>,
    pub school_id: Option<String>,
    pub grade_level: Option<u32>,
    pub attendance: Option<Attendance>,
    pub courses: Option<Vec<Course>>,
    pub gpa: Option<f64>,
    pub assessments: Option<Vec<Assessment>>,
    pub behavior: Option<Behavior>,
    pub sel: Option<Sel>,
    pub programs: Option<Programs>,
    pub extra: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code, reason = "parsed, not read by the rules")]
pub struct Attendance {
    pub days_enrolled: Option<f64>,
    pub days_present: Option<f64>,
    pub unexcused_absences: Option<f64>,
    pub tardies: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Subject {
    Math,
    Ela,
    Reading,
    Science,
    SocialStudies,
    Other,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code, reason = "parsed, not read by the rules")]
pub struct Course {
    pub course_id: Option<String>,
    pub title: Option<String>,
    pub subject: Option<Subject>,
    pub grade_pct: Option<f64>,
    pub letter: Option<String>,
    pub credits: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code, reason = "parsed, not read by the rules")]
pub struct Assessment {
    pub name: Option<String>,
    pub subject: Subject,
    pub percentile: Option<f64>,
    pub date: String,
}

#[derive(Debug, Deserialize)]
pub struct Behavior {
    pub office_referrals: Option<u32>,
    pub suspensions_in_school: Option<u32>,
    pub suspensions_out_of_school: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code, reason = "parsed, not read by the rules")]
pub struct Sel {
    pub screener: Option<String>,
    pub t_score: Option<f64>,
    pub date: Option<String>,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code, reason = "parsed, not read by the rules")]
pub struct Programs {
    pub ell: Option<bool>,
    pub iep: Option<bool>,
    pub section_504: Option<bool>,
}

/// Parses one JSON record.
pub fn parse(line: &str) -> serde_json::Result<BaselineRecord> {
    serde_json::from_str(line)
}

// ---------------------------------------------------------------------------------
// Derived indicators, as DESIGN.md defines them.

impl Course {
    /// `grade_pct` below 60 or letter F.
    fn is_failing(&self) -> bool {
        self.grade_pct.is_some_and(|pct| pct < 60.0) || self.letter.as_deref() == Some("F")
    }

    fn is_core(&self) -> bool {
        matches!(self.subject, Some(Subject::Math | Subject::Ela))
    }
}

impl BaselineRecord {
    /// (enrolled − present) / enrolled, only when something is enrolled.
    pub fn absence_rate(&self) -> Option<f64> {
        let attendance = self.attendance.as_ref()?;
        let enrolled = attendance.days_enrolled?;
        let present = attendance.days_present?;
        (enrolled > 0.0).then(|| (enrolled - present) / enrolled)
    }

    /// Failing courses, and failing core (math, ELA) courses; absent without a course list.
    pub fn failing_courses(&self) -> Option<(u32, u32)> {
        let courses = self.courses.as_ref()?;
        Some(
            courses
                .iter()
                .filter(|c| c.is_failing())
                .fold((0, 0), |(all, core), c| {
                    (all + 1, core + u32::from(c.is_core()))
                }),
        )
    }

    /// The percentile of the latest assessment in `subject` (a later entry wins a tie).
    pub fn latest_percentile(&self, subject: Subject) -> Option<f64> {
        let mut latest: Option<&Assessment> = None;
        for a in self
            .assessments
            .iter()
            .flatten()
            .filter(|a| a.subject == subject)
        {
            if latest.is_none_or(|l| a.date >= l.date) {
                latest = Some(a);
            }
        }
        latest?.percentile
    }

    /// Office referrals and suspensions (in school + out of school); absent without a
    /// behavior section or its field.
    pub fn referrals_and_suspensions(&self) -> (Option<u32>, Option<u32>) {
        let Some(b) = self.behavior.as_ref() else {
            return (None, None);
        };
        let suspensions = match (b.suspensions_in_school, b.suspensions_out_of_school) {
            (None, None) => None,
            (in_school, out) => Some(in_school.unwrap_or(0) + out.unwrap_or(0)),
        };
        (b.office_referrals, suspensions)
    }
}

// ---------------------------------------------------------------------------------
// The rules.

/// Ids of the rules that fire for `rec`, in file order: attendance, academic,
/// behavioral, social_emotional.
pub fn fired(rec: &BaselineRecord) -> Vec<&'static str> {
    use params::*;
    let mut out = Vec::new();
    let rate = rec.absence_rate();
    let failing = rec.failing_courses();
    let (referrals, suspensions) = rec.referrals_and_suspensions();

    // attendance.yaml
    if let Some(r) = rate {
        if (ATTENDANCE_WATCH_RATE..CHRONIC_ABSENCE_RATE).contains(&r) {
            out.push("attendance-watch");
        }
        if (CHRONIC_ABSENCE_RATE..SEVERE_ABSENCE_RATE).contains(&r) {
            out.push("chronic-absence");
        }
        if r >= SEVERE_ABSENCE_RATE {
            out.push("severe-chronic-absence");
        }
    }

    // academic.yaml
    if let Some((all, core)) = failing {
        if all >= COURSE_FAILURES_MIN {
            out.push("course-failure");
        }
        if core >= CORE_FAILURES_MULTIPLE {
            out.push("multiple-core-failures");
        }
    }
    if rec.gpa.is_some_and(|gpa| gpa <= LOW_GPA) {
        out.push("low-gpa");
    }
    screener_rules(
        rec.latest_percentile(Subject::Reading),
        "reading-below-benchmark",
        "reading-well-below-benchmark",
        &mut out,
    );
    screener_rules(
        rec.latest_percentile(Subject::Math),
        "math-below-benchmark",
        "math-well-below-benchmark",
        &mut out,
    );
    if let (Some(r), Some((_, core)), Some(refs), Some(susp)) =
        (rate, failing, referrals, suspensions)
        && r >= CHRONIC_ABSENCE_RATE
        && core >= COURSE_FAILURES_MIN
        && (refs >= REFERRALS_REPEATED || susp >= 1)
    {
        out.push("abc-off-track");
    }

    // behavioral.yaml
    if let Some(refs) = referrals {
        if (REFERRALS_REPEATED..REFERRALS_FREQUENT).contains(&refs) {
            out.push("repeated-referrals");
        }
        if refs >= REFERRALS_FREQUENT {
            out.push("frequent-referrals");
        }
    }
    if let Some(susp) = suspensions {
        if (1..SUSPENSIONS_REPEATED).contains(&susp) {
            out.push("suspension");
        }
        if susp >= SUSPENSIONS_REPEATED {
            out.push("repeated-suspensions");
        }
    }

    // social_emotional.yaml
    if rec
        .sel
        .as_ref()
        .and_then(|s| s.t_score)
        .is_some_and(|t| t <= SEL_NEED_T_SCORE)
    {
        out.push("sel-need-for-instruction");
    }
    out
}

/// The below / well-below benchmark pair for one screener subject.
fn screener_rules(
    percentile: Option<f64>,
    below: &'static str,
    well_below: &'static str,
    out: &mut Vec<&'static str>,
) {
    use params::{BENCHMARK_PERCENTILE, WELL_BELOW_PERCENTILE};
    if let Some(p) = percentile {
        if p > WELL_BELOW_PERCENTILE && p < BENCHMARK_PERCENTILE {
            out.push(below);
        }
        if p <= WELL_BELOW_PERCENTILE {
            out.push(well_below);
        }
    }
}
