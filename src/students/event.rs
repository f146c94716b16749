//! SIS events and how each changes a snapshot.
//!
//! Every replaceable part of a record (the profile, attendance, SEL, each course,
//! each assessment, the behavior baseline) carries the version — `(occurred_at,
//! event_id)` — of the event that last set it, and an event only replaces a part
//! whose version is older: a late event never rolls a snapshot back, and ties are
//! broken by event id so any order of the same events ends in the same snapshot.
//! Incidents are kept by event id and counted on top of the behavior baseline when
//! they happened after it, so each counts once, in any order; incidents the baseline
//! already covers are dropped, so they do not pile up.
//!
//! Bounds, so that one event cannot pin or bloat a snapshot: `occurred_at` lies between
//! [`EARLIEST_OCCURRED_AT`] and the server's clock plus the webhook replay window; an
//! event's `data` and the record after applying it are held to the record limit of
//! `POST /v1/evaluate` ([`MAX_RECORD_BYTES`]), the whole stored snapshot to
//! [`MAX_SNAPSHOT_BYTES`]; behavior counts stay within [`MAX_BEHAVIOR_COUNT`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::record::{
    Assessment, Attendance, Behavior, Course, FieldProblem, MAX_RECORD_BYTES, Record, RecordError,
    Sel,
};

/// Largest behavior count (referrals, suspensions of each kind) a snapshot holds: the
/// record's own range, so a snapshot built from events is always a valid record, and
/// far below where a `u32` wraps. An event that would pass it is refused, naming the
/// count.
pub use crate::record::ranges::MAX_BEHAVIOR_COUNT;

/// Largest stored snapshot (the record, the version of each part and the incidents
/// kept by event id), in bytes of JSON.
pub const MAX_SNAPSHOT_BYTES: usize = 4 * MAX_RECORD_BYTES;

/// Most an `occurred_at` may be ahead of the server's clock, however wide the replay
/// window is set: one day.
pub const MAX_AHEAD_SECS: u64 = 24 * 60 * 60;

/// Earliest `occurred_at` accepted (the record dates' lower bound).
pub const EARLIEST_OCCURRED_AT: &str = "1990-01-01T00:00:00Z";

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
    /// `assessment.scored`, `behavior.incident`, `sel.screened` or `student.withdrawn`.
    #[serde(rename = "type")]
    pub kind: String,
    pub occurred_at: String,
    pub student_id: String,
    /// The event's data: a whole record, one section, one course, one assessment or
    /// one incident, depending on `type`; absent for `student.withdrawn`.
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
}

pub const EVENT_TYPES: [&str; 7] = [
    "student.snapshot",
    "attendance.updated",
    "course_grade.posted",
    "assessment.scored",
    "behavior.incident",
    "sel.screened",
    "student.withdrawn",
];

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

/// A student's current picture and the versions of its parts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub record: Record,
    /// Part name (`profile`, `attendance`, `sel`, `behavior`, `course:<id>`,
    /// `assessment:<name>|<date>`) → version that set it.
    pub versions: BTreeMap<String, Version>,
    /// Behavior counts as of the last snapshot (`versions["behavior"]`).
    #[serde(default)]
    pub behavior_base: Option<Behavior>,
    /// Incidents by event id.
    #[serde(default)]
    pub incidents: BTreeMap<String, (String, Incident)>,
    /// The latest withdrawal: events from before it are stale. The student has no
    /// snapshot while nothing newer than it has arrived ([`Snapshot::has_data`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withdrawn: Option<Version>,
}

/// What applying an event did.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    /// The snapshot changed (or was created).
    Updated(Box<Snapshot>),
    /// Every part the event carries is already newer.
    Stale,
    /// The student was withdrawn: the snapshot becomes this tombstone.
    Removed(Box<Snapshot>),
}

/// Why an event cannot be applied.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EventError {
    #[error("unknown event type `{0}`; expected one of {types}", types = EVENT_TYPES.join(", "))]
    UnknownType(String),
    #[error("{0}")]
    Invalid(RecordError),
    #[error("`occurred_at`: must be an RFC 3339 time like 2026-11-20T15:04:05Z, got `{0}`")]
    BadTime(String),
    #[error("`event_id`: {0}")]
    BadId(String),
    #[error("no snapshot for student `{0}`; send a student.snapshot (or import) first")]
    UnknownStudent(String),
    #[error(
        "event id `{event_id}` was already used for student `{student_id}`; event ids must be unique"
    )]
    IdReused {
        event_id: String,
        student_id: String,
    },
    #[error("`data.student_id` is `{inner}` but the event is for `{outer}`")]
    StudentMismatch { outer: String, inner: String },
    #[error(
        "applying this event would make the student's {what} {bytes} bytes; the limit is {limit} bytes"
    )]
    TooLarge {
        what: &'static str,
        bytes: usize,
        limit: usize,
    },
}

/// One field's problem as an event error.
fn invalid(field: impl Into<String>, problem: impl Into<String>) -> EventError {
    EventError::Invalid(RecordError {
        problems: vec![FieldProblem {
            field: field.into(),
            problem: problem.into(),
        }],
    })
}

/// Bytes of `value` as compact JSON, counted without building the text.
pub fn json_len<T: Serialize + ?Sized>(value: &T) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Count(0);
    // Writing into a counter cannot fail; a value that cannot serialize counts 0.
    let _ = serde_json::to_writer(&mut c, value);
    c.0
}

/// What the server accepts as `occurred_at`: its clock and how far ahead of it an
/// event may be (the webhook replay window: the sender's clock may run that much
/// ahead of ours).
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub now: chrono::DateTime<chrono::Utc>,
    pub max_ahead: chrono::TimeDelta,
}

impl Clock {
    /// The server's clock now, allowing `max_ahead_secs` (at most
    /// [`MAX_AHEAD_SECS`], whatever the replay window is set to).
    pub fn now(max_ahead_secs: u64) -> Clock {
        let secs = max_ahead_secs.min(MAX_AHEAD_SECS) as i64;
        Clock {
            now: chrono::Utc::now(),
            max_ahead: chrono::TimeDelta::seconds(secs),
        }
    }

    /// `occurred_at` checked against the bounds, in the form versions use.
    fn check(&self, occurred_at: &str) -> Result<String, EventError> {
        let at = chrono::DateTime::parse_from_rfc3339(occurred_at)
            .map_err(|_| EventError::BadTime(occurred_at.to_string()))?
            .with_timezone(&chrono::Utc);
        let earliest = chrono::DateTime::parse_from_rfc3339(EARLIEST_OCCURRED_AT)
            .map(|t| t.with_timezone(&chrono::Utc))
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
        if at < earliest {
            return Err(invalid(
                "occurred_at",
                format!("`{occurred_at}` is before {EARLIEST_OCCURRED_AT}"),
            ));
        }
        let latest = self
            .now
            .checked_add_signed(self.max_ahead)
            .unwrap_or(self.now);
        if at > latest {
            return Err(invalid(
                "occurred_at",
                format!(
                    "`{occurred_at}` is more than {} s ahead of the server's clock ({}); an event cannot have happened in the future",
                    self.max_ahead.num_seconds(),
                    self.now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                ),
            ));
        }
        Ok(at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
    }
}

fn data<T: serde::de::DeserializeOwned>(v: &serde_json::Value) -> Result<T, EventError> {
    serde_path_to_error::deserialize(v.clone()).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            "data".to_string()
        } else {
            format!("data.{path}")
        };
        let msg = e.inner().to_string();
        let msg = crate::record::without_position(&msg).to_string();
        EventError::Invalid(RecordError {
            problems: vec![crate::record::FieldProblem {
                field,
                problem: msg,
            }],
        })
    })
}

impl Envelope {
    /// Check the envelope against `clock` and decode its data for its type.
    pub fn change(&self, clock: &Clock) -> Result<(Version, Change), EventError> {
        if self.event_id.trim().is_empty()
            || self.event_id.len() > 128
            || self.event_id.chars().any(char::is_control)
        {
            return Err(EventError::BadId(
                "must be 1 to 128 printable characters".into(),
            ));
        }
        crate::record::student_id::check(&self.student_id)
            .map_err(|problem| invalid("student_id", problem))?;
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
        let version = Version {
            at,
            event_id: self.event_id.clone(),
        };
        // Validation names fields as in a whole record; an event's data is the record
        // (snapshot) or one section of it, so rename to the path inside `data`.
        let check = |r: Record, section: &str| -> Result<Record, EventError> {
            match r.validate() {
                Ok(()) => Ok(r),
                Err(mut e) => {
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
                    Err(EventError::Invalid(e))
                }
            }
        };
        let check_section = |r: Record| check(r, "");
        let wrap = |f: &dyn Fn(&mut Record), section: &str| -> Result<(), EventError> {
            let mut r = Record::empty(&self.student_id);
            f(&mut r);
            check(r, section).map(|_| ())
        };
        let change = match self.kind.as_str() {
            "student.snapshot" => {
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
                Change::Snapshot(Box::new(check_section(r)?))
            }
            "attendance.updated" => {
                let a: Attendance = data(&self.data)?;
                wrap(&|r| r.attendance = Some(a.clone()), "attendance")?;
                Change::Attendance(a)
            }
            "course_grade.posted" => {
                let c: Course = data(&self.data)?;
                wrap(&|r| r.courses = Some(vec![c.clone()]), "courses[0]")?;
                Change::Course(c)
            }
            "assessment.scored" => {
                let a: Assessment = data(&self.data)?;
                wrap(&|r| r.assessments = Some(vec![a.clone()]), "assessments[0]")?;
                Change::Assessment(a)
            }
            "behavior.incident" => {
                let i: Incident = data(&self.data)?;
                if chrono::NaiveDate::parse_from_str(&i.date, "%Y-%m-%d").is_err() {
                    return Err(EventError::Invalid(RecordError {
                        problems: vec![crate::record::FieldProblem {
                            field: "data.date".into(),
                            problem: format!("must be a date like 2026-11-20, got `{}`", i.date),
                        }],
                    }));
                }
                Change::Incident(i)
            }
            "sel.screened" => {
                let s: Sel = data(&self.data)?;
                wrap(&|r| r.sel = Some(s.clone()), "sel")?;
                Change::Sel(s)
            }
            "student.withdrawn" => Change::Withdrawn,
            other => return Err(EventError::UnknownType(other.to_string())),
        };
        Ok((version, change))
    }
}

/// Each behavior count at most [`MAX_BEHAVIOR_COUNT`]; `at` prefixes the field named.
fn check_counts(b: &Behavior, at: &str) -> Result<(), EventError> {
    for (name, n) in [
        ("office_referrals", b.office_referrals),
        ("suspensions_in_school", b.suspensions_in_school),
        ("suspensions_out_of_school", b.suspensions_out_of_school),
    ] {
        if n > MAX_BEHAVIOR_COUNT {
            return Err(invalid(
                format!("{at}.{name}"),
                format!("would be {n}; the plausible maximum is {MAX_BEHAVIOR_COUNT}"),
            ));
        }
    }
    Ok(())
}

/// `n + 1`, refused past [`MAX_BEHAVIOR_COUNT`] (never wrapping).
fn bump(n: &mut u32, name: &str) -> Result<(), EventError> {
    match n.checked_add(1).filter(|m| *m <= MAX_BEHAVIOR_COUNT) {
        Some(m) => {
            *n = m;
            Ok(())
        }
        None => Err(invalid(
            format!("behavior.{name}"),
            format!("would pass the plausible maximum of {MAX_BEHAVIOR_COUNT} with this incident"),
        )),
    }
}

/// The current time in the form versions use (RFC 3339, nanoseconds, `Z`): fixed
/// width, so string order is time order.
pub fn now_version_time() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

fn assessment_key(a: &Assessment) -> String {
    format!("assessment:{}|{}", a.name, a.date.as_deref().unwrap_or(""))
}

impl Snapshot {
    pub fn new(student_id: &str) -> Snapshot {
        Snapshot {
            record: Record::empty(student_id),
            versions: BTreeMap::new(),
            behavior_base: None,
            incidents: BTreeMap::new(),
            withdrawn: None,
        }
    }

    /// Take `part` at `v` if `v` is newer than what set it; true when taken.
    fn claim(&mut self, part: String, v: &Version) -> bool {
        match self.versions.get(&part) {
            Some(cur) if cur >= v => false,
            _ => {
                self.versions.insert(part, v.clone());
                true
            }
        }
    }

    /// Apply one change (the snapshot is `None` when the student is unknown).
    pub fn apply(
        current: Option<&Snapshot>,
        student_id: &str,
        v: &Version,
        change: &Change,
    ) -> Result<Applied, EventError> {
        // Events from before the latest withdrawal were settled by it.
        if current
            .and_then(|c| c.withdrawn.as_ref())
            .is_some_and(|w| v <= w)
        {
            return Ok(Applied::Stale);
        }
        let present = current.is_some_and(Snapshot::has_data);
        if !present && matches!(change, Change::Incident(_) | Change::Withdrawn) {
            return Err(EventError::UnknownStudent(student_id.to_string()));
        }
        let mut s = current
            .cloned()
            .unwrap_or_else(|| Snapshot::new(student_id));
        if let Change::Withdrawn = change {
            // Remove what is older than the withdrawal; keep what is newer (a late
            // withdrawal after a re-enrolment's data), so any order ends the same.
            s.withdraw(v);
            s.tidy()?;
            return Ok(if s.has_data() {
                Applied::Updated(Box::new(s))
            } else {
                Applied::Removed(Box::new(s))
            });
        }
        let changed = match change {
            Change::Snapshot(r) => s.take_snapshot(r, v),
            Change::Attendance(a) => {
                s.claim("attendance".into(), v) && {
                    s.record.attendance = Some(a.clone());
                    true
                }
            }
            Change::Sel(x) => {
                s.claim("sel".into(), v) && {
                    s.record.sel = Some(x.clone());
                    true
                }
            }
            // A list item older than the last snapshot's list was settled by it.
            Change::Course(_) if s.versions.get("courses").is_some_and(|l| v < l) => false,
            Change::Assessment(_) if s.versions.get("assessments").is_some_and(|l| v < l) => false,
            Change::Course(c) => {
                s.claim(format!("course:{}", c.course_id), v) && {
                    upsert(
                        s.record.courses.get_or_insert_with(Vec::new),
                        c.clone(),
                        |x| x.course_id == c.course_id,
                    );
                    true
                }
            }
            Change::Assessment(a) => {
                s.claim(assessment_key(a), v) && {
                    let key = assessment_key(a);
                    upsert(
                        s.record.assessments.get_or_insert_with(Vec::new),
                        a.clone(),
                        |x| assessment_key(x) == key,
                    );
                    true
                }
            }
            Change::Incident(i) => s
                .incidents
                .insert(v.event_id.clone(), (v.at.clone(), i.clone()))
                .is_none(),
            Change::Withdrawn => false,
        };
        if !changed {
            return Ok(Applied::Stale);
        }
        s.tidy()?;
        Ok(Applied::Updated(Box::new(s)))
    }

    /// Whether the student has any data (a withdrawn student has none).
    pub fn has_data(&self) -> bool {
        !self.versions.is_empty() || !self.incidents.is_empty()
    }

    /// Recount behavior and order the lists so the record does not depend on the
    /// order events arrived in.
    fn tidy(&mut self) -> Result<(), EventError> {
        self.recount_behavior()?;
        if let Some(c) = self.record.courses.as_mut() {
            c.sort_by(|a, b| a.course_id.cmp(&b.course_id));
        }
        if let Some(a) = self.record.assessments.as_mut() {
            a.sort_by(|x, y| (x.date.as_deref(), &x.name).cmp(&(y.date.as_deref(), &y.name)));
        }
        Ok(())
    }

    /// The snapshot as stored, refused when its record would be larger than one
    /// record may be ([`MAX_RECORD_BYTES`], as `POST /v1/evaluate` enforces) or the
    /// whole snapshot larger than [`MAX_SNAPSHOT_BYTES`].
    pub fn encode(&self) -> Result<Vec<u8>, EventError> {
        let record = json_len(&self.record);
        if record > MAX_RECORD_BYTES {
            return Err(EventError::TooLarge {
                what: "record",
                bytes: record,
                limit: MAX_RECORD_BYTES,
            });
        }
        let bytes = serde_json::to_vec(self)
            .map_err(|e| invalid("data", format!("the snapshot cannot be stored: {e}")))?;
        if bytes.len() > MAX_SNAPSHOT_BYTES {
            return Err(EventError::TooLarge {
                what: "stored snapshot (record, part versions and incidents)",
                bytes: bytes.len(),
                limit: MAX_SNAPSHOT_BYTES,
            });
        }
        Ok(bytes)
    }

    /// Drop every part (and incident) older than the withdrawal at `v`.
    fn withdraw(&mut self, v: &Version) {
        let old: Vec<String> = self
            .versions
            .iter()
            .filter(|(_, ver)| *ver < v)
            .map(|(k, _)| k.clone())
            .collect();
        for part in old {
            self.versions.remove(&part);
            let r = &mut self.record;
            match part.as_str() {
                "profile" => {
                    (
                        r.as_of,
                        r.school_id,
                        r.grade_level,
                        r.gpa,
                        r.programs,
                        r.extra,
                    ) = (None, None, None, None, None, None);
                }
                "attendance" => r.attendance = None,
                "sel" => r.sel = None,
                "behavior" => self.behavior_base = None,
                p => {
                    if let Some(id) = p.strip_prefix("course:") {
                        if let Some(list) = r.courses.as_mut() {
                            list.retain(|c| c.course_id != id);
                        }
                    } else if let (true, Some(list)) =
                        (p.starts_with("assessment:"), r.assessments.as_mut())
                    {
                        list.retain(|a| assessment_key(a) != p);
                    }
                }
            }
        }
        self.incidents.retain(|id, (at, _)| {
            Version {
                at: at.clone(),
                event_id: id.clone(),
            } > *v
        });
        if self.record.courses.as_ref().is_some_and(Vec::is_empty)
            && !self.versions.contains_key("courses")
        {
            self.record.courses = None;
        }
        if self.record.assessments.as_ref().is_some_and(Vec::is_empty)
            && !self.versions.contains_key("assessments")
        {
            self.record.assessments = None;
        }
        self.withdrawn = Some(v.clone());
    }

    /// A whole record: each part is replaced only where the snapshot is newer.
    fn take_snapshot(&mut self, r: &Record, v: &Version) -> bool {
        let mut any = false;
        if self.claim("profile".into(), v) {
            let rec = &mut self.record;
            rec.as_of.clone_from(&r.as_of);
            rec.school_id.clone_from(&r.school_id);
            rec.grade_level = r.grade_level;
            rec.gpa = r.gpa;
            rec.programs.clone_from(&r.programs);
            rec.extra.clone_from(&r.extra);
            any = true;
        }
        if self.claim("attendance".into(), v) {
            self.record.attendance.clone_from(&r.attendance);
            any = true;
        }
        if self.claim("sel".into(), v) {
            self.record.sel.clone_from(&r.sel);
            any = true;
        }
        if self.claim("behavior".into(), v) {
            self.behavior_base.clone_from(&r.behavior);
            any = true;
        }
        if self.claim("courses".into(), v) {
            any |= self.merge_list(
                v,
                r.courses.as_deref(),
                |c: &Course| format!("course:{}", c.course_id),
                |rec| &mut rec.courses,
            );
        }
        if self.claim("assessments".into(), v) {
            any |= self.merge_list(v, r.assessments.as_deref(), assessment_key, |rec| {
                &mut rec.assessments
            });
        }
        any
    }

    /// Items of a list section from a snapshot: newer items replace, older items
    /// absent from the snapshot are dropped.
    fn merge_list<T: Clone>(
        &mut self,
        v: &Version,
        items: Option<&[T]>,
        key: impl Fn(&T) -> String,
        list: impl Fn(&mut Record) -> &mut Option<Vec<T>>,
    ) -> bool {
        let mut any = false;
        let incoming: Vec<(String, &T)> = items
            .unwrap_or_default()
            .iter()
            .map(|i| (key(i), i))
            .collect();
        let current = list(&mut self.record).take().unwrap_or_default();
        let mut kept = Vec::new();
        for item in current {
            let k = key(&item);
            let older = self.versions.get(&k).is_none_or(|cur| cur < v);
            if older && !incoming.iter().any(|(ik, _)| *ik == k) {
                self.versions.insert(k, v.clone());
                any = true;
                continue; // removed by the newer snapshot
            }
            kept.push(item);
        }
        for (k, item) in incoming {
            if self.claim(k.clone(), v) {
                upsert(&mut kept, item.clone(), |x| key(x) == k);
                any = true;
            }
        }
        if items.is_some() || !kept.is_empty() {
            *list(&mut self.record) = Some(kept);
        }
        any
    }

    /// Behavior = baseline from the last snapshot + incidents after it. Incidents the
    /// baseline already covers are dropped (they never count again: the baseline
    /// only moves forward, and a withdrawal drops them too). Counts never pass
    /// [`MAX_BEHAVIOR_COUNT`].
    fn recount_behavior(&mut self) -> Result<(), EventError> {
        let since = self.versions.get("behavior").map(|v| v.at.clone());
        if let Some(s) = &since {
            self.incidents.retain(|_, (at, _)| &*at > s);
        }
        let mut b = self.behavior_base.clone().unwrap_or_default();
        check_counts(&b, "behavior")?;
        let mut any = self.behavior_base.is_some();
        for (_, i) in self.incidents.values() {
            any = true;
            if i.referral {
                bump(&mut b.office_referrals, "office_referrals")?;
            }
            match i.suspension {
                Suspension::InSchool => {
                    bump(&mut b.suspensions_in_school, "suspensions_in_school")?
                }
                Suspension::OutOfSchool => bump(
                    &mut b.suspensions_out_of_school,
                    "suspensions_out_of_school",
                )?,
                Suspension::None => {}
            }
        }
        self.record.behavior = any.then_some(b);
        Ok(())
    }
}

fn upsert<T>(list: &mut Vec<T>, item: T, same: impl Fn(&T) -> bool) {
    match list.iter_mut().find(|x| same(x)) {
        Some(slot) => *slot = item,
        None => list.push(item),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u32) -> String {
        format!("2026-11-20T08:{:02}:{:02}.000000000Z", secs / 60, secs % 60)
    }

    fn v(secs: u32, id: &str) -> Version {
        Version {
            at: at(secs),
            event_id: id.into(),
        }
    }

    fn incident(referral: bool) -> Change {
        Change::Incident(Incident {
            date: "2026-11-20".into(),
            kind: "disruption".into(),
            referral,
            suspension: Suspension::None,
        })
    }

    fn updated(a: Applied) -> Snapshot {
        match a {
            Applied::Updated(s) => *s,
            other => panic!("not updated: {other:?}"),
        }
    }

    /// Incidents the behavior baseline already covers count for nothing; kept by
    /// event id forever, a stream of them grew the snapshot without bound.
    #[test]
    fn settled_incidents_do_not_pile_up_in_a_snapshot() {
        let mut r = Record::empty("S1");
        r.behavior = Some(Behavior {
            office_referrals: 2,
            ..Behavior::default()
        });
        let snap = Change::Snapshot(Box::new(r));
        let mut s =
            updated(Snapshot::apply(None, "S1", &v(3000, "snap"), &snap).expect("snapshot"));
        for i in 0..500 {
            let id = format!("old-{i}");
            s = updated(
                Snapshot::apply(Some(&s), "S1", &v(i % 2999, &id), &incident(true))
                    .expect("incident"),
            );
        }
        assert!(
            s.incidents.is_empty(),
            "{} settled incidents kept",
            s.incidents.len()
        );
        s = updated(
            Snapshot::apply(Some(&s), "S1", &v(3001, "new"), &incident(true)).expect("incident"),
        );
        assert_eq!(s.incidents.len(), 1);
        assert_eq!(
            s.record.behavior.as_ref().map(|b| b.office_referrals),
            Some(3)
        );
    }

    /// `occurred_at` lies between 1990 and the clock plus the window, and no window
    /// setting lets an event from 9999 in.
    #[test]
    fn occurred_at_is_bounded_by_the_clock_whatever_the_window() {
        let ahead = |secs: i64| {
            (chrono::Utc::now() + chrono::TimeDelta::seconds(secs))
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        };
        let window = Clock::now(300);
        assert!(window.check(&ahead(60)).is_ok());
        assert!(window.check(&ahead(400)).is_err());
        assert!(window.check("1990-01-01T00:00:00Z").is_ok());
        assert!(window.check("1989-12-31T23:59:59Z").is_err());
        let huge = Clock::now(u64::MAX);
        assert!(huge.check("9999-12-31T23:59:59Z").is_err());
        assert!(huge.check(&ahead(3600)).is_ok());
    }

    /// A snapshot whose record passes the record limit cannot be stored.
    #[test]
    fn a_snapshot_over_the_record_limit_cannot_be_encoded() {
        let mut s = Snapshot::new("S1");
        s.record.extra = Some(BTreeMap::from([(
            "notes".to_string(),
            serde_json::json!("x".repeat(MAX_RECORD_BYTES)),
        )]));
        assert!(matches!(
            s.encode(),
            Err(EventError::TooLarge { what: "record", .. })
        ));
    }
}
