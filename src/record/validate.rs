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

    fn count(&mut self, field: &str, v: f64) {
        if !v.is_finite() || v < 0.0 {
            self.fail(field, format!("must be zero or more, got {v}"));
        }
    }

    fn range(&mut self, field: &str, v: f64, lo: f64, hi: f64) {
        if !v.is_finite() || v < lo || v > hi {
            self.fail(field, format!("must be between {lo} and {hi}, got {v}"));
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
        if chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_err() {
            self.fail(field, format!("must be a date like 2026-11-20, got `{s}`"));
        }
    }
}

impl Record {
    /// Check every field; report all problems at once.
    pub fn validate(&self) -> Result<(), RecordError> {
        let mut c = Checker {
            problems: Vec::new(),
        };
        if let Err(problem) = super::student_id::check(&self.student_id) {
            c.fail("student_id", problem);
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
            c.range("gpa", gpa, 0.0, 5.0);
        }
        self.validate_attendance(&mut c);
        self.validate_lists(&mut c);
        if let Some(sel) = &self.sel {
            c.range("sel.t_score", sel.t_score, 0.0, 100.0);
            if let Some(d) = &sel.date {
                c.date("sel.date", d);
            }
            if let Some(s) = &sel.screener {
                c.text("sel.screener", s, 100);
            }
        }
        if c.problems.is_empty() {
            Ok(())
        } else {
            Err(RecordError {
                problems: c.problems,
            })
        }
    }

    fn validate_attendance(&self, c: &mut Checker) {
        let Some(a) = &self.attendance else { return };
        c.count("attendance.days_enrolled", a.days_enrolled);
        c.count("attendance.days_present", a.days_present);
        if let Some(u) = a.unexcused_absences {
            c.count("attendance.unexcused_absences", u);
        }
        if let Some(t) = a.tardies {
            c.count("attendance.tardies", t);
        }
        if a.days_present > a.days_enrolled {
            c.fail(
                "attendance.days_present",
                format!(
                    "is {} but days_enrolled is {}; a student cannot be present more days than enrolled",
                    a.days_present, a.days_enrolled
                ),
            );
        }
        if let Some(u) = a.unexcused_absences {
            let absent = a.days_enrolled - a.days_present;
            if u > absent && absent >= 0.0 {
                c.fail(
                    "attendance.unexcused_absences",
                    format!("is {u} but only {absent} days were missed"),
                );
            }
        }
    }

    fn validate_lists(&self, c: &mut Checker) {
        for (i, course) in self.courses.iter().flatten().enumerate() {
            let at = |f: &str| format!("courses[{i}].{f}");
            c.text(&at("course_id"), &course.course_id, 64);
            if let Some(g) = course.grade_pct {
                c.range(&at("grade_pct"), g, 0.0, 100.0);
            }
            if let Some(cr) = course.credits {
                c.count(&at("credits"), cr);
            }
            if let Some(l) = &course.letter
                && (l.trim().is_empty() || l.chars().count() > 3)
            {
                c.fail(
                    at("letter"),
                    format!("must be a letter grade like B+ or F, got `{l}`"),
                );
            }
        }
        for (i, a) in self.assessments.iter().flatten().enumerate() {
            let at = |f: &str| format!("assessments[{i}].{f}");
            c.text(&at("name"), &a.name, 100);
            if let Some(p) = a.percentile {
                c.range(&at("percentile"), p, 0.0, 100.0);
            }
            if let Some(d) = &a.date {
                c.date(&at("date"), d);
            }
        }
    }
}
