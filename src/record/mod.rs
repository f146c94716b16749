//! The canonical student record: the model an SIS sends, its validation, and the
//! derived indicators rules read.
//!
//! A record is deserialized strictly (unknown keys are errors at every level, with the
//! path of the offending field), then validated once ([`Record::validate`]); code after
//! [`parse_record`] only sees records known to be good. Derived indicators (attendance
//! rate, failing courses, latest percentiles) are computed in Rust in [`facts`], never
//! in scripts: Rhai divides integers as integers and would turn `54 / 64` into 0.

pub mod facts;
pub mod history;
pub mod privacy;
pub mod student_id;
mod validate;
mod value;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use facts::{Facts, FieldKind, FieldSpec, Value};
pub use history::HistoryFacts;
pub use student_id::{StudentId, StudentIdError};
pub use validate::{
    FieldProblem, MAX_STUDENT_ID_LEN, RecordError, check_depth_limit, ranges, without_position,
};

/// Largest JSON text accepted for one record (bytes). Larger input is refused before
/// it is parsed.
pub const MAX_RECORD_BYTES: usize = 256 * 1024;
/// Deepest JSON nesting accepted in one record (objects and arrays).
pub const MAX_JSON_DEPTH: usize = 32;

/// One student as the SIS describes them. Every section but `student_id` is optional.
#[derive(utoipa::ToSchema)]
#[schema(examples(json!({
    "student_id": "S1042",
    "as_of": "2026-11-20",
    "school_id": "HS-01",
    "grade_level": 9,
    "attendance": {"days_enrolled": 64, "days_present": 54, "unexcused_absences": 7, "tardies": 3},
    "courses": [
        {"course_id": "ALG1", "title": "Algebra I", "subject": "math", "grade_pct": 55.0, "letter": "F", "credits": 1.0}
    ],
    "gpa": 1.9,
    "assessments": [
        {"name": "MAP Growth Reading", "subject": "reading", "percentile": 18, "date": "2026-10-01"}
    ],
    "behavior": {"office_referrals": 3, "suspensions_in_school": 0, "suspensions_out_of_school": 1},
    "sel": {"screener": "DESSA-mini", "t_score": 38, "date": "2026-10-15"},
    "programs": {"ell": true, "iep": false, "section_504": false},
    "extra": {}
})))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    pub student_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_of: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub school_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = -1, maximum = 13)]
    pub grade_level: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attendance: Option<Attendance>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub courses: Option<Vec<Course>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0.0, maximum = 5.0)]
    pub gpa: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assessments: Option<Vec<Assessment>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub behavior: Option<Behavior>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sel: Option<Sel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub programs: Option<Programs>,
    /// District-specific data, kept as sent (any JSON values by key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<BTreeMap<String, Value>>)]
    pub extra: Option<BTreeMap<String, serde_json::Value>>,
    /// Student group labels for equity reports (`ell`, `iep`, `frl`, `race_ethnicity`,
    /// `gender`, or the district's own): no rule may read them, and the audit log never
    /// keeps them (it keeps only what rules read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<BTreeMap<String, Value>>)]
    pub reporting: Option<BTreeMap<String, Label>>,
}

/// A reporting label's value: yes/no, or a short text (`race_ethnicity: hispanic`).
#[derive(
    utoipa::ToSchema, Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(untagged)]
pub enum Label {
    Flag(bool),
    Text(String),
}

impl Label {
    /// The value as a group name: `true`, `false` or the text.
    pub fn group(&self) -> String {
        match self {
            Label::Flag(b) => b.to_string(),
            Label::Text(t) => t.clone(),
        }
    }
}

/// Attendance so far this year. Day counts may be fractional (half days).
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attendance {
    #[schema(minimum = 0.0, maximum = 400.0)]
    pub days_enrolled: f64,
    #[schema(minimum = 0.0, maximum = 400.0)]
    pub days_present: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0.0, maximum = 400.0)]
    pub unexcused_absences: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0.0, maximum = 2000.0)]
    pub tardies: Option<f64>,
}

/// Subjects a course or assessment can belong to; free text goes in `title`/`name`.
#[derive(utoipa::ToSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Subject {
    Math,
    Ela,
    Reading,
    Science,
    SocialStudies,
    Other,
}

impl Subject {
    /// Core subjects for the failing-core-courses indicator (Freshman On-Track).
    pub fn is_core(self) -> bool {
        matches!(self, Subject::Math | Subject::Ela)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Subject::Math => "math",
            Subject::Ela => "ela",
            Subject::Reading => "reading",
            Subject::Science => "science",
            Subject::SocialStudies => "social_studies",
            Subject::Other => "other",
        }
    }
}

/// One course with its current grade.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Course {
    pub course_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Subject>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0.0, maximum = 100.0)]
    pub grade_pct: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub letter: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0.0, maximum = 20.0)]
    pub credits: Option<f64>,
}

impl Course {
    /// A failing course has `grade_pct` below 60 or the letter F.
    pub fn is_failing(&self) -> bool {
        self.grade_pct.is_some_and(|g| g < 60.0)
            || self
                .letter
                .as_deref()
                .is_some_and(|l| l.trim().eq_ignore_ascii_case("f"))
    }
}

/// One screening assessment result.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assessment {
    pub name: String,
    pub subject: Subject,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0.0, maximum = 100.0)]
    pub percentile: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
}

/// Discipline counts so far this year. Absent counts are zero.
#[derive(utoipa::ToSchema, Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Behavior {
    #[serde(default)]
    #[schema(minimum = 0, maximum = 1000)]
    pub office_referrals: u32,
    #[serde(default)]
    #[schema(minimum = 0, maximum = 1000)]
    pub suspensions_in_school: u32,
    #[serde(default)]
    #[schema(minimum = 0, maximum = 1000)]
    pub suspensions_out_of_school: u32,
}

/// The latest social-emotional screener result.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sel {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub screener: Option<String>,
    #[schema(minimum = 0.0, maximum = 100.0)]
    pub t_score: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
}

/// Program participation. Kept for context; the shipped rules never flag on it.
#[derive(utoipa::ToSchema, Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Programs {
    #[serde(default)]
    pub ell: bool,
    #[serde(default)]
    pub iep: bool,
    #[serde(default)]
    pub section_504: bool,
}

/// The record section [`Record::project`] keeps for a field the rules read (`extra`
/// for `extra.<key>`, of which only that key is kept; `None` for fields computed from
/// nothing kept, such as `student_id`).
pub fn kept_section(f: &facts::FieldRef) -> Option<&'static str> {
    let path = match f {
        facts::FieldRef::Extra(_) => return Some("extra"),
        facts::FieldRef::Known(_) => f.full_path(),
        facts::FieldRef::Plan { .. } | facts::FieldRef::History { .. } => return None,
    };
    let path = path.trim_start_matches("student.");
    Some(match path.split('.').next().unwrap_or(path) {
        "attendance" => "attendance",
        "courses" | "failing_courses" | "failing_core_courses" => "courses",
        "assessments" | "reading_percentile" | "math_percentile" => "assessments",
        "behavior" => "behavior",
        "sel" => "sel",
        "programs" => "programs",
        "gpa" => "gpa",
        "grade_level" => "grade_level",
        "school_id" => "school_id",
        "as_of" => "as_of",
        _ => return None,
    })
}

/// Parse one JSON record and validate it. The error names the field and the problem.
pub fn parse_record(json: &str) -> Result<Record, RecordError> {
    if json.len() > MAX_RECORD_BYTES {
        return Err(RecordError::too_large(json.len()));
    }
    validate::check_depth(json)?;
    // serde also accepts a struct as a positional array; a record is an object.
    if !json.trim_start().starts_with('{') {
        return Err(not_an_object(json.trim_start().chars().next()));
    }
    // The fast path parses plainly; only a refused record is parsed again with
    // path tracking, to name the field (tracking costs a third of a parse).
    let record: Record = match serde_json::from_str(json) {
        Ok(r) => r,
        Err(_) => {
            let mut de = serde_json::Deserializer::from_str(json);
            let record: Record =
                serde_path_to_error::deserialize(&mut de).map_err(RecordError::from_serde)?;
            de.end().map_err(|e| RecordError::syntax(&e))?;
            record
        }
    };
    record.validate()?;
    Ok(record)
}

fn not_an_object(first: Option<char>) -> RecordError {
    match first {
        None => RecordError::message(
            "empty input: a record is a JSON object like {\"student_id\": \"S1\"}".into(),
        ),
        Some(_) => RecordError::message(
            "a record must be a JSON object like {\"student_id\": \"S1\"}".into(),
        ),
    }
}

/// Validate an already-deserialized value (for records embedded in other documents,
/// such as rule tests and webhook envelopes).
pub fn record_from_value(value: serde_json::Value) -> Result<Record, RecordError> {
    if !value.is_object() {
        return Err(not_an_object(value.to_string().chars().next()));
    }
    let record: Record =
        serde_path_to_error::deserialize(value).map_err(RecordError::from_serde)?;
    record.validate()?;
    Ok(record)
}

/// A record with every section present and typical values, used to try rule
/// conditions at load time.
pub fn probe_record() -> Record {
    Record {
        student_id: "PROBE".into(),
        as_of: Some("2026-11-20".into()),
        school_id: Some("SCH".into()),
        grade_level: Some(9),
        attendance: Some(Attendance {
            days_enrolled: 64.0,
            days_present: 57.5,
            unexcused_absences: Some(3.0),
            tardies: Some(2.0),
        }),
        courses: Some(vec![Course {
            course_id: "ALG1".into(),
            title: Some("Algebra I".into()),
            subject: Some(Subject::Math),
            grade_pct: Some(58.5),
            letter: Some("F".into()),
            credits: Some(1.0),
        }]),
        gpa: Some(2.1),
        assessments: Some(vec![
            Assessment {
                name: "Screener".into(),
                subject: Subject::Reading,
                percentile: Some(18.0),
                date: Some("2026-10-01".into()),
            },
            Assessment {
                name: "Screener".into(),
                subject: Subject::Math,
                percentile: Some(30.0),
                date: Some("2026-10-01".into()),
            },
        ]),
        behavior: Some(Behavior {
            office_referrals: 2,
            suspensions_in_school: 1,
            suspensions_out_of_school: 0,
        }),
        sel: Some(Sel {
            screener: Some("DESSA-mini".into()),
            t_score: 42.0,
            date: Some("2026-10-15".into()),
        }),
        programs: Some(Programs::default()),
        extra: None,
        reporting: None,
    }
}

impl Record {
    /// A record with only a student id.
    pub fn empty(student_id: &str) -> Record {
        Record {
            student_id: student_id.to_string(),
            as_of: None,
            school_id: None,
            grade_level: None,
            attendance: None,
            courses: None,
            gpa: None,
            assessments: None,
            behavior: None,
            sel: None,
            programs: None,
            extra: None,
            reporting: None,
        }
    }

    /// A copy keeping only `student_id` and the parts needed to compute `fields`
    /// (what the audit log keeps of a record).
    pub fn project(&self, fields: &[facts::FieldRef]) -> Record {
        let mut out = Record::empty(&self.student_id);
        out.as_of.clone_from(&self.as_of);
        for f in fields {
            if let facts::FieldRef::Extra(k) = f {
                if let Some(v) = self.extra.as_ref().and_then(|m| m.get(k)) {
                    out.extra
                        .get_or_insert_with(BTreeMap::new)
                        .insert(k.clone(), v.clone());
                }
                continue;
            }
            match kept_section(f) {
                Some("attendance") => out.attendance.clone_from(&self.attendance),
                Some("courses") => out.courses.clone_from(&self.courses),
                Some("assessments") => out.assessments.clone_from(&self.assessments),
                Some("behavior") => out.behavior.clone_from(&self.behavior),
                Some("sel") => out.sel.clone_from(&self.sel),
                Some("programs") => out.programs.clone_from(&self.programs),
                Some("gpa") => out.gpa = self.gpa,
                Some("grade_level") => out.grade_level = self.grade_level,
                Some("school_id") => out.school_id.clone_from(&self.school_id),
                _ => {}
            }
        }
        out
    }
}
