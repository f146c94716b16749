//! Record validation: every problem names the field (as a path such as
//! `attendance.days_present` or `courses[2].grade_pct`) and says what is wrong.

use std::fmt;

use serde::Serialize;

use super::{MAX_JSON_DEPTH, MAX_RECORD_BYTES, Record};

pub use super::student_id::MAX_STUDENT_ID_LEN;

/// One problem with one field.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldProblem {
    /// Path of the field, e.g. `attendance.days_present`; empty for the whole record.
    pub field: String,
    pub problem: String,
}

/// Why a record was refused. Holds every validation problem found, or the single
/// parse problem that stopped reading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordError {
    pub problems: Vec<FieldProblem>,
}

impl RecordError {
    fn one(field: impl Into<String>, problem: impl Into<String>) -> Self {
        RecordError {
            problems: vec![FieldProblem {
                field: field.into(),
                problem: problem.into(),
            }],
        }
    }

    /// A problem with the record as a whole.
    pub fn message(problem: String) -> Self {
        Self::one("", problem)
    }

    pub(super) fn too_large(len: usize) -> Self {
        Self::one(
            "",
            format!("record is {len} bytes; the limit is {MAX_RECORD_BYTES} bytes"),
        )
    }

    pub(super) fn syntax(e: &serde_json::Error) -> Self {
        Self::one("", format!("invalid JSON: {e}"))
    }

    pub(super) fn from_serde(e: serde_path_to_error::Error<serde_json::Error>) -> Self {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let syntax = inner.is_syntax() || inner.is_eof();
        let mut field = if path == "." || syntax {
            String::new()
        } else {
            path
        };
        let raw = inner.to_string();
        let message = if syntax {
            format!(
                "invalid JSON at column {}: {}",
                inner.column(),
                clean_serde_message(&raw)
            )
        } else {
            // "missing field `x`" belongs to `x`, not to the object holding it.
            if let Some(name) = raw
                .strip_prefix("missing field `")
                .and_then(|r| r.split('`').next())
            {
                field = if field.is_empty() {
                    name.to_string()
                } else {
                    format!("{field}.{name}")
                };
            }
            clean_serde_message(&raw)
        };
        Self::one(field, message)
    }

    /// The first problem's field, for callers that report one field.
    pub fn field(&self) -> &str {
        self.problems
            .first()
            .map(|p| p.field.as_str())
            .unwrap_or("")
    }
}

/// A serde_json message without its trailing " at line L column C".
pub fn without_position(msg: &str) -> &str {
    msg.rfind(" at line ").map_or(msg, |i| &msg[..i])
}

/// serde's messages end with "at line 1 column 40"; the path already locates the
/// problem, and for NDJSON the caller adds the line number.
fn clean_serde_message(msg: &str) -> String {
    let msg = without_position(msg);
    // Speak JSON, not Rust: serde names the Rust type it expected.
    let mut msg = msg.replace("invalid type: ", "wrong type: ");
    if msg.starts_with("invalid value: integer `-") && msg.ends_with("expected u32") {
        let n = msg.split('`').nth(1).unwrap_or("?").to_string();
        return format!("must be zero or more, got {n}");
    }
    for (rust, json) in [
        ("expected f64", "expected a number"),
        ("expected u32", "expected a whole number of zero or more"),
        ("expected i64", "expected a whole number"),
        ("expected usize", "expected a whole number of zero or more"),
        ("expected a boolean", "expected true or false"),
        ("floating point", "number"),
    ] {
        msg = msg.replace(rust, json);
    }
    msg
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            if p.field.is_empty() {
                write!(f, "{}", p.problem)?;
            } else {
                write!(f, "`{}`: {}", p.field, p.problem)?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for RecordError {}

/// Refuse JSON nested deeper than [`MAX_JSON_DEPTH`] before serde recurses into it.
pub(super) fn check_depth(json: &str) -> Result<(), RecordError> {
    check_depth_limit(json, MAX_JSON_DEPTH)
}

/// Refuse JSON nested deeper than `limit` levels.
pub fn check_depth_limit(json: &str, limit: usize) -> Result<(), RecordError> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for b in json.bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > limit {
                    return Err(RecordError::one(
                        "",
                        format!("JSON is nested deeper than {MAX_JSON_DEPTH} levels"),
                    ));
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// The plausible ranges of a record's numbers and dates: what validation accepts.
/// Documented in the README's record section; `tests/range.rs` generates values
/// across all of it.
pub mod ranges {
    /// Day counts (`days_enrolled`, `days_present`, `unexcused_absences`): a school
    /// year is about 180 days; 400 leaves room for year-round calendars.
    pub const MAX_DAYS: f64 = 400.0;
    /// Tardies are counted per class period in some districts (7 a day).
    pub const MAX_TARDIES: f64 = 2000.0;
    /// Credits of one course (fractions such as 1/3 allowed).
    pub const MAX_CREDITS: f64 = 20.0;
    /// Each behavior count (referrals, suspensions) so far this year.
    pub const MAX_BEHAVIOR_COUNT: u32 = 1000;
    pub const MAX_GPA: f64 = 5.0;
    /// Grade percentages, percentiles and SEL T-scores.
    pub const MAX_SCORE: f64 = 100.0;
    /// Smallest non-zero score or GPA: smaller ones are data errors (or subnormal
    /// numbers such as `5e-324`), not measurements.
    pub const MIN_NONZERO: f64 = 0.001;

    /// The values a record number a rule may read can take once validated, by its
    /// path after `student.` (derived indicators too); `None` when unbounded or not
    /// a number. The rule-set analysis reads it to call a band unreachable.
    pub fn of(path: &str) -> Option<(f64, f64)> {
        let behavior = f64::from(MAX_BEHAVIOR_COUNT);
        Some(match path {
            "gpa" => (0.0, MAX_GPA),
            "attendance.days_enrolled"
            | "attendance.days_present"
            | "attendance.days_absent"
            | "attendance.unexcused_absences" => (0.0, MAX_DAYS),
            "attendance.tardies" => (0.0, MAX_TARDIES),
            "attendance.rate" | "attendance.absence_rate" => (0.0, 1.0),
            "reading_percentile" | "math_percentile" | "sel.t_score" => (0.0, MAX_SCORE),
            "behavior.office_referrals"
            | "behavior.suspensions_in_school"
            | "behavior.suspensions_out_of_school" => (0.0, behavior),
            "behavior.suspensions" => (0.0, 2.0 * behavior),
            "failing_courses" | "failing_core_courses" => (0.0, f64::INFINITY),
            _ => return None,
        })
    }
    /// Dates (`as_of`, assessment and screening dates) lie in these years.
    pub const YEARS: std::ops::RangeInclusive<i32> = 1990..=2100;
    /// Largest number (in size) anywhere in `extra`.
    pub const MAX_EXTRA_NUMBER: f64 = 1e15;
    /// Smallest non-zero number (in size) anywhere in `extra`.
    pub const MIN_EXTRA_NONZERO: f64 = 1e-6;
    /// Longest key in `extra`, in characters.
    pub const MAX_EXTRA_KEY_LEN: usize = 64;
    /// `reporting`: most labels, longest label name (ASCII) and longest text value
    /// (characters).
    pub const MAX_LABELS: usize = 32;
    pub const MAX_LABEL_NAME: usize = 32;
    pub const MAX_LABEL_TEXT: usize = 64;
}

use ranges::*;

/// A number as a problem message shows it: plain when ordinary, `1e308` when not.
fn shown(v: f64) -> String {
    let a = v.abs();
    if a != 0.0 && !(1e-3..1e15).contains(&a) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

/// Text from the record as a problem message shows it: escaped, and cut at 40
/// characters.
fn quoted(s: &str) -> String {
    let mut out: String = s.chars().take(40).flat_map(char::escape_debug).collect();
    if s.chars().nth(40).is_some() {
        out.push('…');
    }
    out
}

/// Problems common to every number: not finite, or negative zero (which would print
/// as `-0` in explanations and the audit log while comparing equal to 0).
fn number_problem(v: f64) -> Option<String> {
    if !v.is_finite() {
        Some(format!("must be a finite number, got {v}"))
    } else if v == 0.0 && v.is_sign_negative() {
        Some("must be 0, not -0".into())
    } else {
        None
    }
}

struct Checker {
    problems: Vec<FieldProblem>,
}

impl Checker {
    fn fail(&mut self, field: impl Into<String>, problem: impl Into<String>) {
        self.problems.push(FieldProblem {
            field: field.into(),
            problem: problem.into(),
        });
    }

    /// A count of days (or tardies): 0 to `max`, in hundredths (half and quarter
    /// days are real; `5e-324` days is not).
    fn count(&mut self, field: &str, v: f64, max: f64) {
        if let Some(p) = number_problem(v) {
            self.fail(field, p);
        } else if v < 0.0 {
            self.fail(field, format!("must be zero or more, got {}", shown(v)));
        } else if v > max {
            self.fail(field, format!("must be at most {max}, got {}", shown(v)));
        } else if ((v * 100.0).round() - v * 100.0).abs() > 1e-6 || (v > 0.0 && v < 0.01) {
            self.fail(
                field,
                format!(
                    "must be given in hundredths at most (like 12.5 or 0.25), got {}",
                    shown(v)
                ),
            );
        }
    }

    /// A score or GPA between `lo` and `hi`; non-zero values from [`MIN_NONZERO`].
    fn range(&mut self, field: &str, v: f64, lo: f64, hi: f64) {
        if let Some(p) = number_problem(v) {
            self.fail(field, p);
        } else if v < lo || v > hi {
            self.fail(
                field,
                format!("must be between {lo} and {hi}, got {}", shown(v)),
            );
        } else if v != 0.0 && v.abs() < MIN_NONZERO {
            self.fail(
                field,
                format!("must be 0 or at least {MIN_NONZERO}, got {}", shown(v)),
            );
        }
    }

    fn behavior(&mut self, field: &str, v: u32) {
        if v > MAX_BEHAVIOR_COUNT {
            self.fail(
                field,
                format!("must be at most {MAX_BEHAVIOR_COUNT} this year, got {v}"),
            );
        }
    }

    fn text(&mut self, field: &str, s: &str, max: usize) {
        if s.trim().is_empty() {
            self.fail(field, "must not be empty");
        } else if s.chars().count() > max {
            self.fail(field, format!("is longer than {max} characters"));
        } else if s.chars().any(char::is_control) {
            self.fail(field, "must not contain control characters");
        }
    }

    fn date(&mut self, field: &str, s: &str) {
        use chrono::Datelike;
        match chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            Err(_) => self.fail(
                field,
                format!("must be a date like 2026-11-20, got `{}`", quoted(s)),
            ),
            Ok(d) if !YEARS.contains(&d.year()) => self.fail(
                field,
                format!(
                    "must be a date in the years {} to {}, got `{}`",
                    YEARS.start(),
                    YEARS.end(),
                    quoted(s)
                ),
            ),
            Ok(_) => {}
        }
    }

    /// `extra`: keys are short, visible names; values hold no control characters
    /// other than tab and line breaks, and plausible numbers.
    fn extra(&mut self, extra: &std::collections::BTreeMap<String, serde_json::Value>) {
        for (key, value) in extra {
            if let Err(problem) = extra_key(key) {
                // The key itself is the problem: name it by position, not by its text.
                let i = extra.keys().position(|k| k == key).unwrap_or(0);
                self.fail(format!("extra (key {})", i + 1), problem);
                continue;
            }
            if let Some(problem) = extra_problem(value) {
                self.fail(format!("extra.{key}"), problem);
            }
        }
    }
}

impl Checker {
    fn reporting(&mut self, labels: &std::collections::BTreeMap<String, super::Label>) {
        if labels.len() > MAX_LABELS {
            self.fail(
                "reporting",
                format!("holds {} labels; at most {MAX_LABELS}", labels.len()),
            );
            return;
        }
        for (i, (name, value)) in labels.iter().enumerate() {
            let ok_name = !name.is_empty()
                && name.len() <= MAX_LABEL_NAME
                && name.starts_with(|c: char| c.is_ascii_lowercase())
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !ok_name {
                // The name itself is the problem: name it by position, not by its text.
                self.fail(
                    format!("reporting (label {})", i + 1),
                    format!(
                        "a label name is lowercase letters, digits and `_`, starting with a letter, at most {MAX_LABEL_NAME} characters"
                    ),
                );
                continue;
            }
            if let super::Label::Text(t) = value {
                self.text(&format!("reporting.{name}"), t, MAX_LABEL_TEXT);
            }
        }
    }
}

fn extra_key(key: &str) -> Result<(), String> {
    let n = key.chars().count();
    if key.trim().is_empty() {
        return Err("a key must not be empty".into());
    }
    if n > MAX_EXTRA_KEY_LEN {
        return Err(format!(
            "a key is longer than {MAX_EXTRA_KEY_LEN} characters ({n})"
        ));
    }
    if key
        .chars()
        .any(|c| !(c.is_alphanumeric() || c.is_ascii_graphic() || c == ' '))
    {
        return Err(
            "a key must be letters, digits, ASCII punctuation and spaces (no control or invisible characters)"
                .into(),
        );
    }
    Ok(())
}

/// What is wrong in an `extra` value, if anything: text (nested, keys too) holding a
/// control character other than tab, line feed or carriage return, or a number
/// outside [`MAX_EXTRA_NUMBER`] or below [`MIN_EXTRA_NONZERO`] or `-0`. Depth is
/// bounded by the JSON depth limit.
fn extra_problem(v: &serde_json::Value) -> Option<String> {
    let bad_text = |s: &str| {
        s.chars()
            .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    };
    match v {
        serde_json::Value::String(s) if bad_text(s) => {
            Some("text must not contain control characters (other than tab and line breaks)".into())
        }
        serde_json::Value::Number(n) => {
            let x = n.as_f64().unwrap_or(f64::NAN);
            let plausible = x.abs() <= MAX_EXTRA_NUMBER
                && (x == 0.0 || x.abs() >= MIN_EXTRA_NONZERO)
                && !(x == 0.0 && x.is_sign_negative());
            (!plausible).then(|| {
                format!(
                    "numbers must be 0 or between {MIN_EXTRA_NONZERO:e} and {MAX_EXTRA_NUMBER:e} in size (not -0), got {}",
                    shown(x)
                )
            })
        }
        serde_json::Value::Array(items) => items.iter().find_map(extra_problem),
        serde_json::Value::Object(m) => m.iter().find_map(|(k, v)| {
            if bad_text(k) {
                Some("keys must not contain control characters".into())
            } else {
                extra_problem(v)
            }
        }),
        _ => None,
    }
}

impl Record {
    /// Check every field; report all problems at once.
    pub fn validate(&self) -> Result<(), RecordError> {
        let mut c = Checker {
            problems: Vec::new(),
        };
        if let Err(problem) = super::student_id::StudentId::parse(&self.student_id) {
            c.fail("student_id", problem.to_string());
        }
        if let Some(d) = &self.as_of {
            c.date("as_of", d);
        }
        if let Some(s) = &self.school_id {
            c.text("school_id", s, MAX_STUDENT_ID_LEN);
        }
        if let Some(g) = self.grade_level
            && !(-1..=13).contains(&g)
        {
            c.fail(
                "grade_level",
                format!("must be between -1 (pre-K) and 13, got {g}"),
            );
        }
        if let Some(gpa) = self.gpa {
            c.range("gpa", gpa, 0.0, MAX_GPA);
        }
        self.validate_attendance(&mut c);
        self.validate_lists(&mut c);
        self.validate_behavior_and_sel(&mut c);
        if let Some(extra) = &self.extra {
            c.extra(extra);
        }
        if let Some(labels) = &self.reporting {
            c.reporting(labels);
        }
        if c.problems.is_empty() {
            Ok(())
        } else {
            Err(RecordError {
                problems: c.problems,
            })
        }
    }

    fn validate_behavior_and_sel(&self, c: &mut Checker) {
        if let Some(b) = &self.behavior {
            c.behavior("behavior.office_referrals", b.office_referrals);
            c.behavior("behavior.suspensions_in_school", b.suspensions_in_school);
            c.behavior(
                "behavior.suspensions_out_of_school",
                b.suspensions_out_of_school,
            );
        }
        if let Some(sel) = &self.sel {
            c.range("sel.t_score", sel.t_score, 0.0, MAX_SCORE);
            if let Some(d) = &sel.date {
                c.date("sel.date", d);
            }
            if let Some(s) = &sel.screener {
                c.text("sel.screener", s, 100);
            }
        }
    }

    fn validate_attendance(&self, c: &mut Checker) {
        let Some(a) = &self.attendance else { return };
        let before = c.problems.len();
        c.count("attendance.days_enrolled", a.days_enrolled, MAX_DAYS);
        c.count("attendance.days_present", a.days_present, MAX_DAYS);
        if let Some(u) = a.unexcused_absences {
            c.count("attendance.unexcused_absences", u, MAX_DAYS);
        }
        if let Some(t) = a.tardies {
            c.count("attendance.tardies", t, MAX_TARDIES);
        }
        if c.problems.len() > before {
            // The counts relate to each other only once each is plausible.
            return;
        }
        if a.days_present > a.days_enrolled {
            c.fail(
                "attendance.days_present",
                format!(
                    "is {} but days_enrolled is {}; a student cannot be present more days than enrolled",
                    shown(a.days_present),
                    shown(a.days_enrolled)
                ),
            );
        }
        if let Some(u) = a.unexcused_absences {
            let absent = a.days_enrolled - a.days_present;
            // In hundredths: 0.3 - 0.1 is 0.19999999999999998 in binary.
            if (u * 100.0).round() > (absent * 100.0).round() {
                c.fail(
                    "attendance.unexcused_absences",
                    format!(
                        "is {} but only {} days were missed",
                        shown(u),
                        shown(absent)
                    ),
                );
            }
        }
    }

    fn validate_lists(&self, c: &mut Checker) {
        for (i, course) in self.courses.iter().flatten().enumerate() {
            let at = |f: &str| format!("courses[{i}].{f}");
            c.text(&at("course_id"), &course.course_id, 64);
            if let Some(title) = &course.title {
                c.text(&at("title"), title, 200);
            }
            if let Some(g) = course.grade_pct {
                c.range(&at("grade_pct"), g, 0.0, MAX_SCORE);
            }
            match course.credits {
                Some(cr) if cr < 0.0 => {
                    c.fail(
                        at("credits"),
                        format!("must be zero or more, got {}", shown(cr)),
                    );
                }
                Some(cr) => c.range(&at("credits"), cr, 0.0, MAX_CREDITS),
                None => {}
            }
            if let Some(l) = &course.letter
                && (l.trim().is_empty() || l.chars().count() > 3 || l.chars().any(char::is_control))
            {
                c.fail(
                    at("letter"),
                    format!("must be a letter grade like B+ or F, got `{}`", quoted(l)),
                );
            }
        }
        for (i, a) in self.assessments.iter().flatten().enumerate() {
            let at = |f: &str| format!("assessments[{i}].{f}");
            c.text(&at("name"), &a.name, 100);
            if let Some(p) = a.percentile {
                c.range(&at("percentile"), p, 0.0, MAX_SCORE);
            }
            if let Some(d) = &a.date {
                c.date(&at("date"), d);
            }
        }
    }
}
