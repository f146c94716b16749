//! An intervention plan as the team writes it: the request, its validation (every
//! problem named by its field), and the plan as stored, with its progress points and
//! sessions.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::record::FieldProblem;
use crate::rules::{Domain, RuleSet};

/// Longest free text (owner, note, exit reason), in characters.
pub const MAX_TEXT_CHARS: usize = 500;
/// Progress points and sessions one plan may hold.
pub const MAX_POINTS: usize = 1000;

/// Where a plan is.
#[derive(utoipa::ToSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Active,
    Met,
    Modified,
    Discontinued,
    Escalated,
}

impl Status {
    pub const NAMES: [&'static str; 5] = ["active", "met", "modified", "discontinued", "escalated"];

    /// Whether the plan is still being delivered (`active`, `modified`).
    pub fn is_open(self) -> bool {
        matches!(self, Status::Active | Status::Modified)
    }
}

/// A measurable goal as sent.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Goal {
    /// A record indicator (`attendance.absence_rate`, `reading_percentile`,
    /// `math_percentile`, `sel.t_score`, `behavior.office_referrals`, `gpa`,
    /// `failing_courses`) or the id of a manual measure of the active rule set's
    /// `measures.yaml` (`oral-reading-fluency`, ...).
    pub measure: String,
    pub baseline: f64,
    pub target: f64,
    /// `YYYY-MM-DD`: when the target should be reached.
    #[schema(value_type = String, format = Date)]
    pub by: NaiveDate,
}

/// The decision (and its flags) a plan answers.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenedFrom {
    pub decision_seq: u64,
    pub rule_ids: Vec<String>,
}

/// `POST /v1/students/{id}/plans` as sent.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanRequest {
    /// An intervention id of the active rule set's catalogue.
    pub intervention: String,
    /// The adult responsible for delivery.
    pub owner: String,
    pub goal: Goal,
    /// `YYYY-MM-DD`.
    #[schema(value_type = String, format = Date)]
    pub start: NaiveDate,
    #[serde(default)]
    pub review_every_days: Option<u32>,
    /// More than 0, at most 21; when omitted, the intervention's `sessions_per_week`
    /// in the catalogue (if it has one).
    #[serde(default)]
    #[schema(exclusive_minimum = 0, maximum = 21)]
    pub sessions_per_week: Option<f64>,
    #[serde(default)]
    pub minutes_per_session: Option<u32>,
    #[serde(default)]
    pub opened_from: Option<OpenedFrom>,
}

/// One progress point.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgressPoint {
    #[schema(value_type = String, format = Date)]
    pub date: NaiveDate,
    pub value: f64,
    /// `decision` (taken from a decision), `staff` or `sis`.
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One delivered (or missed) session.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    #[schema(value_type = String, format = Date)]
    pub date: NaiveDate,
    pub minutes: u32,
    pub delivered: bool,
}

/// A plan as stored (and answered).
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub plan_id: String,
    pub student_id: String,
    pub intervention: String,
    pub domain: Domain,
    pub tier: u8,
    pub owner: String,
    pub goal: Goal,
    #[schema(value_type = String, format = Date)]
    pub start: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review_every_days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions_per_week: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minutes_per_session: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opened_from: Option<OpenedFrom>,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_reason: Option<String>,
    /// Counts every write; the `ETag` is `"<revision>"` and `If-Match` must name it.
    /// (Each write is an audit entry under the student naming the `plan_id`.)
    pub revision: u64,
    #[serde(default)]
    pub progress: Vec<ProgressPoint>,
    #[serde(default)]
    pub sessions: Vec<SessionRecord>,
}

fn problem(problems: &mut Vec<FieldProblem>, field: &str, text: impl Into<String>) {
    problems.push(FieldProblem {
        field: field.to_string(),
        problem: text.into(),
    });
}

/// Check free text: present, not too long, no control characters.
pub fn check_text(problems: &mut Vec<FieldProblem>, field: &str, text: &str) {
    if text.trim().is_empty() {
        problem(problems, field, "must not be empty");
    } else if text.chars().count() > MAX_TEXT_CHARS {
        problem(
            problems,
            field,
            format!("must be at most {MAX_TEXT_CHARS} characters"),
        );
    } else if text.chars().any(char::is_control) {
        problem(problems, field, "must not hold control characters");
    }
}

/// Check a goal: a measure of `rules` (a record indicator or a manual measure of
/// its `measures.yaml`), finite numbers, a direction, `by` after `start`.
pub fn check_goal(
    problems: &mut Vec<FieldProblem>,
    goal: &Goal,
    start: NaiveDate,
    rules: &RuleSet,
) {
    if rules.goal_measure(&goal.measure).is_none() {
        let names = rules.goal_measure_names();
        let hint = crate::source::diag::suggest(&goal.measure, names.clone());
        let all: Vec<_> = names.map(|n| format!("`{n}`")).collect();
        problem(
            problems,
            "goal.measure",
            format!(
                "`{}` is not a measure: {hint} (accepted: {})",
                goal.measure,
                all.join(", ")
            ),
        );
    }
    for (field, v) in [
        ("goal.baseline", goal.baseline),
        ("goal.target", goal.target),
    ] {
        if !v.is_finite() {
            problem(problems, field, "must be a finite number");
        }
    }
    if goal.baseline == goal.target {
        problem(
            problems,
            "goal.target",
            "must differ from the baseline (the goal's direction follows from them)",
        );
    }
    if goal.by <= start {
        problem(problems, "goal.by", "must be after `start`");
    }
}

impl PlanRequest {
    /// The plan `plan_id` of `student_id` this request opens, checked against the
    /// active rule set's catalogue; every problem named by its field.
    pub fn validate(
        self,
        plan_id: String,
        student_id: &str,
        rules: &RuleSet,
    ) -> Result<Plan, Vec<FieldProblem>> {
        let mut problems = Vec::new();
        let found = rules
            .interventions
            .iter()
            .find(|i| i.id == self.intervention);
        if found.is_none() {
            let hint = crate::source::diag::suggest(
                &self.intervention,
                rules.interventions.iter().map(|i| i.id.as_str()),
            );
            problem(
                &mut problems,
                "intervention",
                format!("`{}` is not in the catalogue: {hint}", self.intervention),
            );
        }
        check_text(&mut problems, "owner", &self.owner);
        check_goal(&mut problems, &self.goal, self.start, rules);
        if self
            .sessions_per_week
            .is_some_and(|s| !(s.is_finite() && s > 0.0 && s <= 21.0))
        {
            problem(
                &mut problems,
                "sessions_per_week",
                "must be more than 0 and at most 21",
            );
        }
        if self.minutes_per_session.is_some_and(|m| m == 0 || m > 480) {
            problem(&mut problems, "minutes_per_session", "must be 1 to 480");
        }
        if self.review_every_days.is_some_and(|d| d == 0 || d > 366) {
            problem(&mut problems, "review_every_days", "must be 1 to 366");
        }
        let Some(i) = found.filter(|_| problems.is_empty()) else {
            return Err(problems);
        };
        Ok(Plan {
            plan_id,
            student_id: student_id.to_string(),
            domain: i.domain,
            tier: i.tier,
            intervention: self.intervention,
            owner: self.owner,
            goal: self.goal,
            start: self.start,
            review_every_days: self.review_every_days,
            // The catalogue's usual sessions when the request does not say.
            sessions_per_week: self.sessions_per_week.or(i.sessions_per_week),
            minutes_per_session: self.minutes_per_session,
            opened_from: self.opened_from,
            status: Status::Active,
            exit_reason: None,
            revision: 0,
            progress: Vec::new(),
            sessions: Vec::new(),
        })
    }
}

/// `PATCH /v1/plans/{id}` as sent: what changes.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanUpdate {
    #[serde(default)]
    pub status: Option<Status>,
    #[serde(default)]
    pub exit_reason: Option<String>,
    #[serde(default)]
    pub goal: Option<Goal>,
    #[serde(default)]
    pub owner: Option<String>,
}

impl PlanUpdate {
    /// `plan` with this update, or every problem. Closing (`met`, `discontinued`,
    /// `escalated`) needs an `exit_reason`; a closed plan takes no more changes.
    /// A new goal's measure must be one of `rules`, the active rule set.
    pub fn apply_to(self, plan: &Plan, rules: &RuleSet) -> Result<Plan, Vec<FieldProblem>> {
        let mut problems = Vec::new();
        if !plan.status.is_open() {
            problem(
                &mut problems,
                "status",
                "the plan is closed; open a new plan",
            );
            return Err(problems);
        }
        let mut next = plan.clone();
        if let Some(g) = self.goal {
            check_goal(&mut problems, &g, plan.start, rules);
            next.goal = g;
            next.status = Status::Modified;
        }
        if let Some(o) = self.owner {
            check_text(&mut problems, "owner", &o);
            next.owner = o;
        }
        if let Some(r) = &self.exit_reason {
            check_text(&mut problems, "exit_reason", r);
        }
        if let Some(s) = self.status {
            next.status = s;
        }
        if !next.status.is_open() && self.exit_reason.is_none() {
            problem(&mut problems, "exit_reason", "is needed to close a plan");
        }
        next.exit_reason = self.exit_reason.or(next.exit_reason);
        if problems.is_empty() {
            Ok(next)
        } else {
            Err(problems)
        }
    }
}

impl Plan {
    /// Where the plan stands on `as_of` (aim, trend, points off aim, fidelity...),
    /// from the progress math; `None` when the stored goal is not one it accepts.
    pub fn summary(&self, as_of: NaiveDate) -> Option<super::progress::Summary> {
        use super::progress::{self, Point, Schedule, Session};
        let g = &self.goal;
        let goal = progress::Goal::new(g.baseline, g.target, self.start, g.by).ok()?;
        let points: Vec<Point> = self
            .progress
            .iter()
            .map(|p| Point {
                date: p.date,
                value: p.value,
            })
            .collect();
        let sessions: Vec<Session> = self
            .sessions
            .iter()
            .map(|s| Session {
                date: s.date,
                minutes: s.minutes,
                delivered: s.delivered,
            })
            .collect();
        let schedule = Schedule::new(self.sessions_per_week).ok()?;
        Some(progress::summarize(
            &goal, &points, &sessions, &schedule, as_of,
        ))
    }
}
