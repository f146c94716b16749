//! The fields a rule can read (`student.<path>`), and their values for one record
//! and the student's plan and history facts.
//!
//! [`FIELDS`] (with [`PLAN_FACTS`] and [`HISTORY_FACTS`]) is the catalogue the rule
//! checker uses to reject misspelled fields and the engine uses to fetch values. A
//! value is `None` when the record does not have it (a missing section, an attendance
//! rate with no enrolled days, no reading assessment, no plan in the domain): rules
//! that read it are reported under `insufficient_data`.

use super::history::{self, HistoryFacts};
pub use super::value::{Value, human_number};
use super::{Record, Subject};

/// What kind of value a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Number,
    Text,
    Flag,
    List,
}

/// Which direction of a number is the better one for the student; used to say what
/// would clear a flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    Lower,
    Higher,
    Neither,
}

/// One readable field.
#[derive(Debug)]
pub struct FieldSpec {
    /// Path after `student.`, e.g. `attendance.absence_rate`.
    pub path: &'static str,
    pub kind: FieldKind,
    /// Plain-language name for explanations (`absence rate`).
    pub label: &'static str,
    pub better: Better,
    /// Shown as a percentage when a fraction (rates).
    pub percent: bool,
    /// A status rather than a changeable indicator; rules that flag on it get a
    /// fairness warning.
    pub status: bool,
}

const fn f(path: &'static str, kind: FieldKind, label: &'static str, better: Better) -> FieldSpec {
    FieldSpec {
        path,
        kind,
        label,
        better,
        percent: false,
        status: false,
    }
}

const fn pct(path: &'static str, label: &'static str, better: Better) -> FieldSpec {
    FieldSpec {
        path,
        kind: FieldKind::Number,
        label,
        better,
        percent: true,
        status: false,
    }
}

const fn status(path: &'static str, label: &'static str) -> FieldSpec {
    FieldSpec {
        path,
        kind: FieldKind::Flag,
        label,
        better: Better::Neither,
        percent: false,
        status: true,
    }
}

use Better::{Higher, Lower, Neither};
use FieldKind::{Flag, List, Number, Text};

/// Every field a rule may read, after `student.`. `extra.<key>` is also readable.
pub static FIELDS: &[FieldSpec] = &[
    f("student_id", Text, "student id", Neither),
    f("as_of", Text, "as-of date", Neither),
    f("school_id", Text, "school", Neither),
    f("grade_level", Number, "grade level", Neither),
    f("gpa", Number, "GPA", Higher),
    f("attendance.days_enrolled", Number, "days enrolled", Neither),
    f("attendance.days_present", Number, "days present", Higher),
    f("attendance.days_absent", Number, "days absent", Lower),
    f(
        "attendance.unexcused_absences",
        Number,
        "unexcused absences",
        Lower,
    ),
    f("attendance.tardies", Number, "tardies", Lower),
    pct("attendance.rate", "attendance rate", Higher),
    pct("attendance.absence_rate", "absence rate", Lower),
    f("courses", List, "courses", Neither),
    f("failing_courses", Number, "failing courses", Lower),
    f(
        "failing_core_courses",
        Number,
        "failing core courses",
        Lower,
    ),
    f("assessments", List, "assessments", Neither),
    f("reading_percentile", Number, "reading percentile", Higher),
    f("math_percentile", Number, "math percentile", Higher),
    f(
        "behavior.office_referrals",
        Number,
        "office referrals",
        Lower,
    ),
    f(
        "behavior.suspensions_in_school",
        Number,
        "in-school suspensions",
        Lower,
    ),
    f(
        "behavior.suspensions_out_of_school",
        Number,
        "out-of-school suspensions",
        Lower,
    ),
    f("behavior.suspensions", Number, "suspensions", Lower),
    f("sel.screener", Text, "SEL screener", Neither),
    f("sel.t_score", Number, "SEL T-score", Higher),
    f("sel.date", Text, "SEL screening date", Neither),
    status("programs.ell", "English learner status"),
    status("programs.iep", "IEP status"),
    status("programs.section_504", "Section 504 status"),
];

/// The domains a plan or a tier history is keyed by (`student.plans.academic.…`,
/// `student.history.attendance.…`), as rules write them.
pub const DOMAINS: [&str; 4] = ["academic", "attendance", "behavioral", "social_emotional"];

const fn fact(
    path: &'static str,
    kind: FieldKind,
    label: &'static str,
    better: Better,
) -> FieldSpec {
    FieldSpec {
        path,
        kind,
        label,
        better,
        percent: false,
        status: false,
    }
}

/// The facts of one plan: `student.plans.<key>.<fact>`, where `<key>` is an
/// intervention id of the catalogue or a domain (that domain's active plan with the
/// highest tier, then the earliest start). `path` is the fact's name.
pub static PLAN_FACTS: &[FieldSpec] = &[
    fact("active", Flag, "plan active", Neither),
    fact("tier", Number, "plan tier", Neither),
    fact("intervention", Text, "intervention", Neither),
    fact("weeks_active", Number, "weeks active", Neither),
    fact("data_points", Number, "progress data points", Neither),
    fact("slope_per_week", Number, "trend per week", Neither),
    // The trend goes toward the goal's target (needs a trend: 3 points or more).
    fact("improving", Flag, "trend improving", Neither),
    // Negative: the newest point is behind the aim line.
    fact("aim_gap", Number, "gap to the aim line", Higher),
    // How far the newest point is behind the aim line (0 when on it or ahead).
    fact("behind_aim", Number, "distance behind the aim line", Lower),
    fact("aim_now", Number, "aim line now", Neither),
    fact(
        "points_off_aim",
        Number,
        "points in a row off the aim line",
        Lower,
    ),
    fact(
        "points_on_track",
        Number,
        "points in a row on track",
        Higher,
    ),
    FieldSpec {
        path: "fidelity",
        kind: Number,
        label: "sessions delivered",
        better: Higher,
        percent: true,
        status: false,
    },
    fact("goal_met", Flag, "goal met", Neither),
];

/// The facts of a student's tier history in one domain:
/// `student.history.<domain>.<fact>`.
pub static HISTORY_FACTS: &[FieldSpec] = &[
    fact("prev_tier", Number, "previous tier", Neither),
    fact(
        "weeks_at_tier",
        Number,
        "weeks at the current tier",
        Neither,
    ),
];

/// Facts whose values are whole numbers (the rest of the numbers may have decimals).
const INTEGER_FACTS: [&str; 7] = [
    "tier",
    "weeks_active",
    "data_points",
    "points_off_aim",
    "points_on_track",
    "prev_tier",
    "weeks_at_tier",
];

/// Record fields whose values are whole numbers (counts).
const INTEGER_FIELDS: [&str; 7] = [
    "grade_level",
    "failing_courses",
    "failing_core_courses",
    "behavior.office_referrals",
    "behavior.suspensions_in_school",
    "behavior.suspensions_out_of_school",
    "behavior.suspensions",
];

/// Whether `value` is of the kind `spec` declares (an integer is also a number).
pub(crate) fn fits(spec: &FieldSpec, value: &Value) -> bool {
    matches!(
        (spec.kind, value),
        (Number, Value::Int(_) | Value::Num(_)) | (Flag, Value::Bool(_)) | (Text, Value::Text(_))
    )
}

/// A value of the fact's kind, for running a condition once at load time.
pub(crate) fn sample(spec: &FieldSpec) -> Value {
    match spec.kind {
        Flag => Value::Bool(true),
        Text => Value::Text("sample-intervention".into()),
        _ if INTEGER_FACTS.contains(&spec.path) => Value::Int(1),
        _ => Value::Num(0.5),
    }
}

/// Section names (the first path segment of nested fields), for "did you mean".
pub fn sections() -> impl Iterator<Item = &'static str> {
    let mut seen: Vec<&'static str> = Vec::new();
    for spec in FIELDS {
        let first = spec.path.split('.').next().unwrap_or(spec.path);
        if !seen.contains(&first) {
            seen.push(first);
        }
    }
    seen.extend(["extra", "plans", "history"]);
    seen.into_iter()
}

/// A field reference resolved at load time.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FieldRef {
    /// Index into [`FIELDS`].
    Known(usize),
    /// `student.extra.<key>`: district-specific data.
    Extra(String),
    /// `student.plans.<key>.<fact>`: a fact of a plan (`fact` indexes
    /// [`PLAN_FACTS`]); `key` is an intervention id or a domain, checked against the
    /// catalogue by the rule checker.
    Plan { key: String, fact: usize },
    /// `student.history.<domain>.<fact>` (`fact` indexes [`HISTORY_FACTS`]).
    History { domain: &'static str, fact: usize },
}

impl FieldRef {
    /// Resolve a path after `student.`.
    pub fn resolve(path: &str) -> Option<FieldRef> {
        if let Some(key) = path.strip_prefix("extra.") {
            if !key.is_empty() && !key.contains('.') {
                return Some(FieldRef::Extra(key.to_string()));
            }
            return None;
        }
        if let Some(rest) = path.strip_prefix("plans.") {
            let (key, name) = rest.split_once('.')?;
            let plain =
                |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_';
            if key.is_empty() || !key.chars().all(plain) {
                return None;
            }
            let fact = PLAN_FACTS.iter().position(|f| f.path == name)?;
            return Some(FieldRef::Plan {
                key: key.to_string(),
                fact,
            });
        }
        if let Some(rest) = path.strip_prefix("history.") {
            let (domain, name) = rest.split_once('.')?;
            let domain = DOMAINS.into_iter().find(|d| *d == domain)?;
            let fact = HISTORY_FACTS.iter().position(|f| f.path == name)?;
            return Some(FieldRef::History { domain, fact });
        }
        FIELDS
            .iter()
            .position(|s| s.path == path)
            .map(FieldRef::Known)
    }

    pub fn spec(&self) -> Option<&'static FieldSpec> {
        match self {
            FieldRef::Known(i) => FIELDS.get(*i),
            FieldRef::Extra(_) => None,
            FieldRef::Plan { fact, .. } => PLAN_FACTS.get(*fact),
            FieldRef::History { fact, .. } => HISTORY_FACTS.get(*fact),
        }
    }

    /// The path as rules write it: `student.attendance.rate`.
    pub fn full_path(&self) -> String {
        match self {
            FieldRef::Known(i) => format!("student.{}", FIELDS[*i].path),
            FieldRef::Extra(k) => format!("student.extra.{k}"),
            other => format!("student.{}", other.history_path().unwrap_or_default()),
        }
    }

    /// The key of a plan or history fact in [`HistoryFacts`] (the path after
    /// `student.`); `None` for a record field.
    pub fn history_path(&self) -> Option<String> {
        match self {
            FieldRef::Plan { key, fact } => Some(format!("plans.{key}.{}", PLAN_FACTS[*fact].path)),
            FieldRef::History { domain, fact } => {
                Some(format!("history.{domain}.{}", HISTORY_FACTS[*fact].path))
            }
            FieldRef::Known(_) | FieldRef::Extra(_) => None,
        }
    }

    /// Whether the field only takes whole numbers (a count, a tier, weeks), so
    /// `< 6` reads as `≤ 5`; `false` for `extra` fields, whose kind is not known.
    pub fn is_whole_number(&self) -> bool {
        match self {
            FieldRef::Known(i) => INTEGER_FIELDS.contains(&FIELDS[*i].path),
            FieldRef::Extra(_) => false,
            FieldRef::Plan { fact, .. } => INTEGER_FACTS.contains(&PLAN_FACTS[*fact].path),
            FieldRef::History { fact, .. } => INTEGER_FACTS.contains(&HISTORY_FACTS[*fact].path),
        }
    }

    pub fn label(&self) -> String {
        match self {
            FieldRef::Known(i) => FIELDS[*i].label.to_string(),
            FieldRef::Extra(k) => k.replace('_', " "),
            FieldRef::Plan { key, fact } => format!("{} ({key} plan)", PLAN_FACTS[*fact].label),
            FieldRef::History { domain, fact } => {
                format!("{} ({domain})", HISTORY_FACTS[*fact].label)
            }
        }
    }
}

/// The derived indicators of one record, computed once per evaluation, and the
/// student's plan and history facts.
#[derive(Debug)]
pub struct Facts<'r> {
    record: &'r Record,
    history: &'r HistoryFacts,
    failing: Option<(i64, i64)>,
    reading: Option<f64>,
    math: Option<f64>,
}

impl<'r> Facts<'r> {
    /// The record's facts with no plan or history facts.
    pub fn new(record: &'r Record) -> Self {
        Self::with_history(record, &history::EMPTY)
    }

    /// The record's facts with the student's plan and history facts.
    pub fn with_history(record: &'r Record, history: &'r HistoryFacts) -> Self {
        let failing = record.courses.as_ref().map(|cs| {
            let failing = cs.iter().filter(|c| c.is_failing());
            let all = failing.clone().count() as i64;
            let core = failing
                .filter(|c| c.subject.is_some_and(Subject::is_core))
                .count() as i64;
            (all, core)
        });
        Facts {
            record,
            history,
            failing,
            reading: latest_percentile(record, Subject::Reading),
            math: latest_percentile(record, Subject::Math),
        }
    }

    pub fn record(&self) -> &'r Record {
        self.record
    }

    /// The value of a field, or `None` when the record does not have it.
    pub fn get(&self, field: &FieldRef) -> Option<Value> {
        match field {
            FieldRef::Known(i) => self.known(FIELDS[*i].path),
            FieldRef::Extra(k) => self
                .record
                .extra
                .as_ref()
                .and_then(|m| m.get(k))
                .and_then(Value::from_json),
            FieldRef::Plan { .. } | FieldRef::History { .. } => {
                // Students without plans pay one branch, not a lookup.
                if self.history.is_empty() {
                    return None;
                }
                self.history_value(field, &field.history_path()?)
            }
        }
    }

    /// The plan or history fact `field`, whose key in the history facts is `path`
    /// (given by a caller that computed it once, not per student).
    pub fn history_value(&self, field: &FieldRef, path: &str) -> Option<Value> {
        if self.history.is_empty() {
            return None;
        }
        let v = self.history.get(path)?;
        fits(field.spec()?, v).then(|| v.clone())
    }

    fn known(&self, path: &str) -> Option<Value> {
        let r = self.record;
        let (section, name) = path.split_once('.').unwrap_or(("", path));
        match section {
            "attendance" => self.attendance(name),
            "behavior" => self.behavior(name),
            "sel" => self.sel(name),
            "programs" => {
                let p = r.programs.as_ref()?;
                let v = match name {
                    "ell" => p.ell,
                    "iep" => p.iep,
                    _ => p.section_504,
                };
                Some(Value::Bool(v))
            }
            _ => self.top_level(name),
        }
    }

    fn top_level(&self, name: &str) -> Option<Value> {
        let r = self.record;
        match name {
            "student_id" => Some(Value::Text(r.student_id.clone())),
            "as_of" => r.as_of.clone().map(Value::Text),
            "school_id" => r.school_id.clone().map(Value::Text),
            "grade_level" => r.grade_level.map(Value::Int),
            "gpa" => r.gpa.map(Value::Num),
            "failing_courses" => self.failing.map(|f| Value::Int(f.0)),
            "failing_core_courses" => self.failing.map(|f| Value::Int(f.1)),
            "reading_percentile" => self.reading.map(Value::Num),
            "math_percentile" => self.math.map(Value::Num),
            "courses" => r.courses.as_ref().and_then(to_json),
            "assessments" => r.assessments.as_ref().and_then(to_json),
            _ => None,
        }
    }

    fn attendance(&self, name: &str) -> Option<Value> {
        let a = self.record.attendance.as_ref()?;
        let absent = a.days_enrolled - a.days_present;
        // Rounded to 12 decimals: days are decimals (half days), and 4.05 absent of 45
        // must be exactly 9%, not 8.999…% from binary subtraction, or a student at a
        // threshold falls on the wrong side of it.
        let rated = |v: f64| (a.days_enrolled > 0.0).then_some(Value::Num(decimal_rate(v)));
        match name {
            "days_enrolled" => Some(Value::Num(a.days_enrolled)),
            "days_present" => Some(Value::Num(a.days_present)),
            "days_absent" => Some(Value::Num(absent)),
            "unexcused_absences" => a.unexcused_absences.map(Value::Num),
            "tardies" => a.tardies.map(Value::Num),
            "rate" => rated(a.days_present / a.days_enrolled),
            "absence_rate" => rated(absent / a.days_enrolled),
            _ => None,
        }
    }

    fn behavior(&self, name: &str) -> Option<Value> {
        let b = self.record.behavior.as_ref()?;
        // Summed as i64: two u32 counts cannot overflow it (validation also caps
        // each count at 1,000, but a stored snapshot may predate that).
        let v = match name {
            "office_referrals" => i64::from(b.office_referrals),
            "suspensions_in_school" => i64::from(b.suspensions_in_school),
            "suspensions_out_of_school" => i64::from(b.suspensions_out_of_school),
            _ => i64::from(b.suspensions_in_school) + i64::from(b.suspensions_out_of_school),
        };
        Some(Value::Int(v))
    }

    fn sel(&self, name: &str) -> Option<Value> {
        let s = self.record.sel.as_ref()?;
        match name {
            "t_score" => Some(Value::Num(s.t_score)),
            "screener" => s.screener.clone().map(Value::Text),
            _ => s.date.clone().map(Value::Text),
        }
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> Option<Value> {
    serde_json::to_value(v).ok().map(Value::Json)
}

/// The percentile of the latest assessment of `subject` (by date; undated results
/// count as oldest; among equal dates the later entry in the list wins).
fn latest_percentile(record: &Record, subject: Subject) -> Option<f64> {
    let mut best: Option<(&str, f64)> = None;
    for a in record.assessments.iter().flatten() {
        if a.subject != subject {
            continue;
        }
        let Some(p) = a.percentile else { continue };
        let date = a.date.as_deref().unwrap_or("");
        if best.is_none_or(|(d, _)| date >= d) {
            best = Some((date, p));
        }
    }
    best.map(|(_, p)| p)
}

/// A rate rounded to 12 decimal places (rates of days are in [0, 1]; the rounding
/// removes binary noise and nothing a school could record).
fn decimal_rate(v: f64) -> f64 {
    let r = (v * 1e12).round() / 1e12;
    if r.is_finite() { r } else { v }
}
