//! An SIS event as sent ([`Envelope`]) and the checks that turn it into the
//! version it carries and the change it makes ([`Envelope::change`]).
//!
//! A version — `(occurred_at, event_id)` — orders changes to one part of a record:
//! an event only replaces a part whose version is older, and ties are broken by
//! event id, so any order of the same events ends in the same snapshot.

use serde::{Deserialize, Serialize};

use crate::record::{Assessment, Attendance, Course, MAX_RECORD_BYTES, Record, Sel, StudentId};

use super::bounds::{Clock, check_counts, json_len};
use super::error::{EventError, invalid};
use super::event_type::EventType;

/// The envelope of every SIS event.
#[derive(utoipa::ToSchema)]
#[schema(examples(json!({
    "event_id": "evt_01JDX2V4C1Q9Z8YH3K7M5N6P0R", "type": "attendance.updated",
    "occurred_at": "2026-11-20T15:04:05Z", "student_id": "S1042",
    "data": {"days_enrolled": 64, "days_present": 54, "tardies": 3}
})))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    pub event_id: String,
    /// `student.snapshot`, `attendance.updated`, `course_grade.posted`,
    /// `assessment.scored`, `behavior.incident`, `sel.screened`, `student.withdrawn`,
    /// `progress.recorded` or `intervention.session`.
    #[serde(rename = "type")]
    pub kind: String,
    pub occurred_at: String,
    pub student_id: String,
    /// The event's data: a whole record, one section, one course, one assessment or
    /// one incident, depending on `type`; absent for `student.withdrawn`. For
    /// `progress.recorded` `{"plan_id", "date", "value", "note"?}` and for
    /// `intervention.session` `{"plan_id", "date", "minutes", "delivered"}`: one point or
    /// session of a plan of this student, checked as `POST /v1/plans/{id}/progress` and
    /// `/sessions` check them.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// Event types and their data, checked.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Snapshot(Box<Record>),
    Attendance(Attendance),
    Course(Course),
    Assessment(Assessment),
    Incident(Incident),
    Sel(Sel),
    Withdrawn,
    /// A point or session of a plan: written to the plan, never to the snapshot.
    Plan(PlanEvent),
}

/// What a plan event carries (see [`EventType::is_plan`]).
#[derive(Debug, Clone, PartialEq)]
pub enum PlanEvent {
    Progress(PlanPoint),
    Session(PlanSession),
}

impl PlanEvent {
    /// The plan the event is about.
    pub fn plan_id(&self) -> &str {
        match self {
            PlanEvent::Progress(p) => &p.plan_id,
            PlanEvent::Session(s) => &s.plan_id,
        }
    }
}

/// A `progress.recorded` event's data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanPoint {
    pub plan_id: String,
    pub date: chrono::NaiveDate,
    pub value: f64,
    #[serde(default)]
    pub note: Option<String>,
}

/// An `intervention.session` event's data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanSession {
    pub plan_id: String,
    pub date: chrono::NaiveDate,
    pub minutes: f64,
    pub delivered: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Suspension {
    None,
    InSchool,
    OutOfSchool,
}

/// One behavior incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Incident {
    pub date: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub referral: bool,
    #[serde(default = "no_suspension")]
    pub suspension: Suspension,
}

fn no_suspension() -> Suspension {
    Suspension::None
}

/// When an event happened and which it was: orders changes to one part.
#[derive(
    utoipa::ToSchema, Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct Version {
    pub at: String,
    pub event_id: String,
}

/// `data` decoded as `T`; a problem names the path inside `data`.
fn data<T: serde::de::DeserializeOwned>(v: &serde_json::Value) -> Result<T, EventError> {
    serde_path_to_error::deserialize(v.clone()).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            "data".to_string()
        } else {
            format!("data.{path}")
        };
        let msg = e.inner().to_string();
        invalid(field, crate::record::without_position(&msg))
    })
}

/// `r` validated, its problems named by their path inside `data`: validation names
/// fields as in a whole record, and an event's data is the record (`section` empty)
/// or the part of it at `section`.
fn validated(r: Record, section: &str) -> Result<Record, EventError> {
    r.validate().map(|()| r).map_err(|mut e| {
        for p in &mut e.problems {
            let inner = p
                .field
                .strip_prefix(section)
                .map(|rest| rest.trim_start_matches('.'))
                .unwrap_or(&p.field);
            p.field = if inner.is_empty() {
                "data".into()
            } else {
                format!("data.{inner}")
            };
        }
        EventError::Invalid(e)
    })
}

impl Envelope {
    /// Check the envelope against `clock` and decode its data for its type.
    pub fn change(&self, clock: &Clock) -> Result<(Version, Change), EventError> {
        let version = self.version(clock)?;
        let Some(kind) = EventType::parse(&self.kind) else {
            return Err(EventError::UnknownType(self.kind.clone()));
        };
        Ok((version, self.decode(kind)?))
    }

    /// The event id, student id, time and size checked: the event's version.
    fn version(&self, clock: &Clock) -> Result<Version, EventError> {
        if self.event_id.trim().is_empty()
            || self.event_id.len() > 128
            || self.event_id.chars().any(char::is_control)
        {
            return Err(EventError::BadId(
                "must be 1 to 128 printable characters".into(),
            ));
        }
        StudentId::parse(&self.student_id)
            .map_err(|problem| invalid("student_id", problem.to_string()))?;
        let at = clock.check(&self.occurred_at)?;
        let bytes = json_len(&self.data);
        if bytes > MAX_RECORD_BYTES {
            return Err(invalid(
                "data",
                format!(
                    "is {bytes} bytes; the limit is {MAX_RECORD_BYTES} bytes, as for one record"
                ),
            ));
        }
        Ok(Version {
            at,
            event_id: self.event_id.clone(),
        })
    }

    /// The data decoded and checked for `kind`.
    fn decode(&self, kind: EventType) -> Result<Change, EventError> {
        // One section is checked as the only section of an otherwise empty record.
        let within = |f: &dyn Fn(&mut Record), section: &str| -> Result<(), EventError> {
            let mut r = Record::empty(&self.student_id);
            f(&mut r);
            validated(r, section).map(|_| ())
        };
        Ok(match kind {
            EventType::Snapshot => Change::Snapshot(Box::new(self.snapshot()?)),
            EventType::Attendance => {
                let a: Attendance = data(&self.data)?;
                within(&|r| r.attendance = Some(a.clone()), "attendance")?;
                Change::Attendance(a)
            }
            EventType::CourseGrade => {
                let c: Course = data(&self.data)?;
                within(&|r| r.courses = Some(vec![c.clone()]), "courses[0]")?;
                Change::Course(c)
            }
            EventType::Assessment => {
                let a: Assessment = data(&self.data)?;
                within(&|r| r.assessments = Some(vec![a.clone()]), "assessments[0]")?;
                Change::Assessment(a)
            }
            EventType::Incident => {
                let i: Incident = data(&self.data)?;
                if chrono::NaiveDate::parse_from_str(&i.date, "%Y-%m-%d").is_err() {
                    return Err(invalid(
                        "data.date",
                        format!("must be a date like 2026-11-20, got `{}`", i.date),
                    ));
                }
                Change::Incident(i)
            }
            EventType::Sel => {
                let s: Sel = data(&self.data)?;
                within(&|r| r.sel = Some(s.clone()), "sel")?;
                Change::Sel(s)
            }
            EventType::Withdrawn => Change::Withdrawn,
            EventType::Progress => Change::Plan(PlanEvent::Progress(data(&self.data)?)),
            EventType::Session => Change::Plan(PlanEvent::Session(data(&self.data)?)),
        })
    }

    /// A `student.snapshot`'s record: for this event's student, counts in range, valid.
    fn snapshot(&self) -> Result<Record, EventError> {
        let r: Record = data(&self.data)?;
        if r.student_id != self.student_id {
            return Err(EventError::StudentMismatch {
                outer: self.student_id.clone(),
                inner: r.student_id,
            });
        }
        if let Some(b) = &r.behavior {
            check_counts(b, "data.behavior")?;
        }
        validated(r, "")
    }
}
