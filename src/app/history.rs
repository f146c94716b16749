//! What a student's past adds to a new evaluation: the history facts rules read
//! (`student.plans.<key>.*` from their plans, `student.history.<domain>.*` from
//! their caseload entry), and the progress points a new record gives their open
//! plans whose goal measures a record indicator.
//!
//! Order of one evaluation: the record's points are added (in memory) to the plans
//! first, so the decision judges the plan with the newest data; the facts are
//! computed on the record's `as_of` day (today when the record has none); the
//! decision is made and made durable with the facts it used (`history` in its
//! payload, so replay is identical); then the points are written to their plans,
//! each a `plan.progress` entry. A crash between the two loses only the points,
//! which the next decision about the student adds again.
//!
//! Students pay only for what the rule set reads: no lookup at all when no rule
//! reads a plan or history fact, one prefix scan of the plan index (empty for a
//! student without plans) when rules read plan facts, and one caseload read when
//! they read history facts. Record points are looked for only when the student has
//! an open plan.

use chrono::NaiveDate;

use super::{Caller, Service};
use crate::caseload::Index;
use crate::engine::History;
use crate::plans::{Plan, Plans, ProgressPoint, Write};
use crate::record::facts::FieldRef;
use crate::record::{Facts, HistoryFacts, Record};
use crate::rules::RuleSet;

/// The source a point taken from a decision carries.
pub const FROM_DECISION: &str = "decision";

/// The plan and caseload stores the history facts come from. Cheap to clone.
#[derive(Clone)]
pub struct Provider {
    pub plans: Plans,
    pub caseload: Index,
}

impl Provider {
    pub fn of(svc: &Service) -> Provider {
        Provider {
            plans: svc.plans.clone(),
            caseload: svc.caseload.clone(),
        }
    }
}

/// What one evaluation takes from the student's past.
#[derive(Debug, Default)]
pub struct Prepared {
    /// The facts the decision is made with (and logs).
    pub facts: HistoryFacts,
    /// The points the record gives open plans: `(plan_id, point)`, written once the
    /// decision is durable ([`write_points`]).
    pub points: Vec<(String, ProgressPoint)>,
}

impl Provider {
    /// The facts and record points of evaluating `record` under `rules` (blocking:
    /// reads the plan and caseload trees).
    pub fn prepare(&self, rules: &RuleSet, record: &Record) -> Prepared {
        let paths = rules.history_paths();
        let reads_plans = paths.iter().any(|p| p.starts_with("plans."));
        let reads_history = paths.iter().any(|p| p.starts_with("history."));
        let mut out = Prepared::default();
        let on = day_of_record(record);
        // A store read that fails leaves the facts missing: the rules that read
        // them land in `insufficient_data` rather than guess.
        let mut list = self
            .plans
            .of_student(&record.student_id)
            .unwrap_or_default();
        if list.iter().any(|p| p.status.is_open()) {
            for (i, p) in record_points(&list, record, on) {
                out.points.push((list[i].plan_id.clone(), p.clone()));
                list[i].progress.push(p);
                list[i].progress.sort_by_key(|p| p.date);
            }
        }
        if reads_plans {
            for (path, v) in crate::plans::facts::plan_facts(&list, on) {
                out.facts.insert(path, v);
            }
        }
        if reads_history && let Ok(Some(entry)) = self.caseload.get(&record.student_id) {
            for (path, v) in entry.history_facts(on) {
                out.facts.insert(path, v);
            }
        }
        out
    }
}

impl History for Provider {
    fn facts(&self, rules: &RuleSet, record: &Record) -> HistoryFacts {
        self.prepare(rules, record).facts
    }
}

/// The day a record is about: its `as_of`, else today.
pub fn day_of_record(record: &Record) -> NaiveDate {
    record
        .as_of
        .as_deref()
        .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
        .unwrap_or_else(super::today)
}

/// The points `record` gives the open plans of `plans` whose goal measures a record
/// indicator it has, dated `on`: `(plan index, point)`. None for a plan that already
/// holds the same decision point on that day, or when the value is outside the
/// measure's range.
fn record_points(plans: &[Plan], record: &Record, on: NaiveDate) -> Vec<(usize, ProgressPoint)> {
    let mut out = Vec::new();
    let mut facts: Option<Facts> = None;
    for (i, plan) in plans.iter().enumerate() {
        if !plan.status.is_open() || on < plan.start {
            continue;
        }
        let Some(measure) = crate::rules::measure::record_measure(&plan.goal.measure) else {
            continue;
        };
        let (lo, hi) = (measure.min, measure.max);
        let Some(field) = FieldRef::resolve(&plan.goal.measure) else {
            continue;
        };
        let facts = facts.get_or_insert_with(|| Facts::new(record));
        let Some(value) = facts.get(&field).and_then(|v| v.as_f64()) else {
            continue;
        };
        let value = value + 0.0;
        if !(lo..=hi).contains(&value) {
            continue;
        }
        let seen = plan
            .progress
            .iter()
            .any(|p| p.date == on && p.source == FROM_DECISION && p.value == value);
        if !seen {
            let point = ProgressPoint {
                date: on,
                value,
                source: FROM_DECISION.into(),
                note: None,
            };
            out.push((i, point));
        }
    }
    out
}

/// Once the decision that took them is durable: write `points` (from
/// [`Provider::prepare`]) to their plans, each a `plan.progress` entry by `by`. The
/// decision is already answered for, so a point that cannot be written (its plan
/// closed meanwhile) is logged, not raised; the next decision adds it again.
pub async fn write_points(svc: &Service, by: Caller<'_>, points: Vec<(String, ProgressPoint)>) {
    for (id, point) in points {
        let write = Write::Progress(point);
        let done = svc
            .plans
            .write(&svc.store, by.actor, by.request_id, &id, write, |current| {
                current
                    .filter(|p| p.status.is_open())
                    .ok_or_else(|| crate::plans::PlanError::NotFound(id.clone()))
            })
            .await;
        if let Err(e) = done {
            tracing::warn!(plan_id = %id, error = %e, "progress point from a decision not written");
        }
    }
}

/// [`write_points`] for a decision made elsewhere (an SIS event, an import line):
/// the points the student's stored record gives their open plans. A student without
/// an open plan costs one scan of the plan index, on the calling worker.
pub async fn write_record_points_of(svc: &Service, by: Caller<'_>, student: &str) {
    let list = match svc.plans.of_student(student) {
        Ok(list) if list.iter().any(|p| p.status.is_open()) => list,
        Ok(_) => return,
        Err(e) => {
            tracing::warn!(student_id = %student, error = %e, "plans not read for progress points");
            return;
        }
    };
    let (students, id) = (svc.students.clone(), student.to_string());
    let points = crate::blocking::run(move || {
        let Ok(Some(snap)) = students.get(&id) else {
            return Vec::new();
        };
        let on = day_of_record(&snap.record);
        record_points(&list, &snap.record, on)
            .into_iter()
            .map(|(i, p)| (list[i].plan_id.clone(), p))
            .collect::<Vec<_>>()
    })
    .await;
    match points {
        Ok(points) => write_points(svc, by, points).await,
        Err(e) => tracing::warn!(error = %e, "progress points from a decision not read"),
    }
}
