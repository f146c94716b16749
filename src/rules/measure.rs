//! What a plan's goal can measure: the record indicators (taken from each decision)
//! and the manual measures a rule set declares in `measures.yaml`, with their ranges.

use serde::Serialize;

/// Which way a measure improves.
#[derive(utoipa::ToSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    Higher,
    Lower,
}

impl Better {
    pub const NAMES: [&'static str; 2] = ["higher", "lower"];

    pub fn as_str(self) -> &'static str {
        match self {
            Better::Higher => "higher",
            Better::Lower => "lower",
        }
    }

    pub fn parse(s: &str) -> Option<Better> {
        [Better::Higher, Better::Lower]
            .into_iter()
            .find(|b| b.as_str() == s)
    }
}

/// A manual progress measure of `measures.yaml` (staff or the SIS record its points).
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize)]
pub struct Measure {
    /// Kebab-case, e.g. `oral-reading-fluency`; what a goal's `measure` names.
    pub id: String,
    pub name: String,
    /// E.g. `words correct per minute`.
    pub unit: String,
    /// The least and greatest value a progress point may take.
    pub min: f64,
    pub max: f64,
    pub better: Better,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
}

/// A record indicator a goal can measure, with the values a progress point may take.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecordMeasure {
    pub name: &'static str,
    pub min: f64,
    pub max: f64,
    pub unit: &'static str,
}

const fn rm(name: &'static str, min: f64, max: f64, unit: &'static str) -> RecordMeasure {
    RecordMeasure {
        name,
        min,
        max,
        unit,
    }
}

/// Record indicators a goal can measure (their value is taken from each new decision
/// about the student). A manual measure may not take one of these names.
pub const RECORD_MEASURES: [RecordMeasure; 7] = [
    rm(
        "attendance.absence_rate",
        0.0,
        1.0,
        "fraction of enrolled days",
    ),
    rm("reading_percentile", 0.0, 100.0, "percentile"),
    rm("math_percentile", 0.0, 100.0, "percentile"),
    rm("sel.t_score", 0.0, 100.0, "T-score"),
    rm("behavior.office_referrals", 0.0, 1000.0, "office referrals"),
    rm("gpa", 0.0, 5.0, "grade points"),
    rm("failing_courses", 0.0, 1000.0, "courses"),
];

/// The record indicator `name`, if it is one.
pub fn record_measure(name: &str) -> Option<&'static RecordMeasure> {
    RECORD_MEASURES.iter().find(|m| m.name == name)
}

/// What a goal's measure is: its range and unit, from the record table or the rule
/// set's `measures.yaml`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GoalMeasure<'a> {
    pub min: f64,
    pub max: f64,
    pub unit: &'a str,
}

impl<'a> From<&'a Measure> for GoalMeasure<'a> {
    fn from(m: &'a Measure) -> Self {
        GoalMeasure {
            min: m.min,
            max: m.max,
            unit: &m.unit,
        }
    }
}

impl From<&'static RecordMeasure> for GoalMeasure<'static> {
    fn from(m: &'static RecordMeasure) -> Self {
        GoalMeasure {
            min: m.min,
            max: m.max,
            unit: m.unit,
        }
    }
}
