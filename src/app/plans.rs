//! Intervention plans: open one for a student (from a decision's flags), read them
//! (a read of the student's records, recorded like every other), change one with the
//! revision it was made from, and record progress points and sessions.

use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::json;

use super::{AppError, Caller, Service, reads};
use crate::audit::{EntryKind, Store};
use crate::plans::{
    Extra, Plan, PlanError, PlanRequest, PlanUpdate, ProgressPoint, SessionRecord, Write,
};
use crate::record::{FieldProblem, RecordError, StudentId};

impl From<PlanError> for AppError {
    fn from(e: PlanError) -> Self {
        match e {
            PlanError::NotFound(_) => AppError::NotFound(e.to_string()),
            PlanError::Stale { .. } => AppError::Stale(e.to_string()),
            PlanError::Full => AppError::Unprocessable(e.to_string()),
            PlanError::Invalid(problems) => invalid(problems),
            PlanError::Audit(a) => AppError::Audit(a),
            other => AppError::Unavailable(other.to_string()),
        }
    }
}

/// Field problems as the answer's 422 (named fields, like an invalid record).
fn invalid(problems: Vec<FieldProblem>) -> AppError {
    AppError::InvalidInput(RecordError { problems })
}

fn one(field: &str, problem: impl Into<String>) -> AppError {
    invalid(vec![FieldProblem {
        field: field.into(),
        problem: problem.into(),
    }])
}

/// Check `opened_from`: a live decision of this student, and each rule id one of
/// its flags.
fn check_opened_from(store: &Store, student: &str, req: &PlanRequest) -> Result<(), AppError> {
    let Some(from) = &req.opened_from else {
        return Ok(());
    };
    let e = store
        .get(from.decision_seq)?
        .filter(|e| e.kind == EntryKind::Decision && e.purged_by.is_none())
        .filter(|e| e.student_id() == Some(student))
        .ok_or_else(|| {
            one(
                "opened_from.decision_seq",
                format!(
                    "{} is not a decision of student `{student}`",
                    from.decision_seq
                ),
            )
        })?;
    let fired = e.rule_ids();
    for r in &from.rule_ids {
        if !fired.contains(&r.as_str()) {
            return Err(one(
                "opened_from.rule_ids",
                format!("`{r}` is not a flag of decision {}", from.decision_seq),
            ));
        }
    }
    Ok(())
}

/// `POST /v1/students/{id}/plans`.
pub async fn open(
    svc: &Service,
    by: Caller<'_>,
    student: &StudentId,
    req: PlanRequest,
) -> Result<Plan, AppError> {
    let (store, id, r) = (svc.store.clone(), student.to_string(), req.clone());
    crate::blocking::run(move || check_opened_from(&store, &id, &r)).await??;
    let plan_id = format!("P{}", ulid::Ulid::generate());
    let plan = req
        .validate(plan_id.clone(), student.as_str(), &svc.registry.active())
        .map_err(invalid)?;
    let done = svc
        .plans
        .write(
            &svc.store,
            by.actor,
            by.request_id,
            &plan_id,
            Write::Open,
            |_| Ok(plan),
        )
        .await?;
    tracing::info!(student_id = %done.student_id, plan_id = %done.plan_id, intervention = %done.intervention, "plan opened");
    Ok(done)
}

/// `GET /v1/students/{id}/plans`: recorded as a read of the student's records.
pub async fn of_student(
    svc: &Service,
    by: Caller<'_>,
    student: &StudentId,
) -> Result<Vec<Plan>, AppError> {
    let (plans, id) = (svc.plans.clone(), student.to_string());
    let list = crate::blocking::run(move || plans.of_student(&id)).await??;
    let extra = json!({"plans": list.len()});
    reads::record_access(&svc.store, by, student.as_str(), "plans", extra).await?;
    Ok(list)
}

/// `GET /v1/plans/{id}`: recorded as a read of its student's records.
pub async fn get(svc: &Service, by: Caller<'_>, id: &str) -> Result<Plan, AppError> {
    let plan = read(svc, id).await?;
    let extra = json!({"plan_id": id});
    reads::record_access(&svc.store, by, &plan.student_id, "plan", extra).await?;
    Ok(plan)
}

async fn read(svc: &Service, id: &str) -> Result<Plan, AppError> {
    let (plans, key) = (svc.plans.clone(), id.to_string());
    crate::blocking::run(move || plans.get(&key))
        .await??
        .ok_or_else(|| AppError::NotFound(format!("no plan `{id}`")))
}

/// `PATCH /v1/plans/{id}` made from revision `if_match`.
pub async fn update(
    svc: &Service,
    by: Caller<'_>,
    id: &str,
    if_match: u64,
    change: PlanUpdate,
) -> Result<Plan, AppError> {
    let write = Write::Update { if_match };
    let rules = svc.registry.active();
    let done = svc
        .plans
        .write(&svc.store, by.actor, by.request_id, id, write, |current| {
            let p = current.ok_or_else(|| PlanError::NotFound(id.to_string()))?;
            change.apply_to(&p, &rules).map_err(PlanError::Invalid)
        })
        .await?;
    Ok(done)
}

/// `POST /v1/plans/{id}/progress` as sent.
#[derive(utoipa::ToSchema, Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgressRequest {
    /// `YYYY-MM-DD`, on or after the plan's start and not in the future.
    #[schema(value_type = String, format = Date)]
    pub date: NaiveDate,
    pub value: f64,
    #[serde(default)]
    pub note: Option<String>,
}

/// `POST /v1/plans/{id}/sessions` as sent.
#[derive(utoipa::ToSchema, Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionRequest {
    #[schema(value_type = String, format = Date)]
    pub date: NaiveDate,
    /// Whole minutes, 0 to 480.
    #[schema(value_type = u32, minimum = 0, maximum = 480)]
    pub minutes: f64,
    pub delivered: bool,
}

fn check_date(plan: &Plan, date: NaiveDate) -> Result<(), PlanError> {
    let p = |field: &str, text: String| {
        PlanError::Invalid(vec![FieldProblem {
            field: field.into(),
            problem: text,
        }])
    };
    if !plan.status.is_open() {
        return Err(p("plan", "is closed".into()));
    }
    if date < plan.start {
        return Err(p(
            "date",
            format!("is before the plan's start ({})", plan.start),
        ));
    }
    if date > super::today() + chrono::Days::new(1) {
        return Err(p("date", "is in the future".into()));
    }
    Ok(())
}

/// Where a point or session comes from: `staff` or `sis`, and for an SIS event the
/// student the plan must be of and what lands with the write (the event's id in the
/// entry, its outcome in the same commit).
#[derive(Default)]
pub struct Origin {
    pub source: String,
    pub student: Option<String>,
    pub extra: Extra,
}

impl Origin {
    /// A point or session sent to the plan's own route by `source`.
    pub fn of(source: &str) -> Origin {
        Origin {
            source: source.to_string(),
            ..Origin::default()
        }
    }
}

/// `POST /v1/plans/{id}/progress` (`source`: `staff` or `sis`).
pub async fn progress(
    svc: &Service,
    by: Caller<'_>,
    id: &str,
    req: ProgressRequest,
    source: &str,
) -> Result<Plan, AppError> {
    progress_from(svc, by, id, req, Origin::of(source)).await
}

/// A progress point from `origin` (the route's or an SIS event's).
pub async fn progress_from(
    svc: &Service,
    by: Caller<'_>,
    id: &str,
    req: ProgressRequest,
    origin: Origin,
) -> Result<Plan, AppError> {
    let mut problems = Vec::new();
    if let Some(n) = &req.note {
        crate::plans::plan::check_text(&mut problems, "note", n);
    }
    if !req.value.is_finite() {
        problems.push(FieldProblem {
            field: "value".into(),
            problem: "must be a finite number".into(),
        });
    }
    if !problems.is_empty() {
        return Err(invalid(problems));
    }
    let point = ProgressPoint {
        date: req.date,
        value: req.value,
        source: origin.source.clone(),
        note: req.note,
    };
    let rules = svc.registry.active();
    write_to(
        svc,
        by,
        id,
        Write::Progress(point.clone()),
        origin,
        move |plan| {
            check_date(plan, point.date)?;
            // A measure the active rule set no longer declares keeps its points unchecked.
            let Some(m) = rules.goal_measure(&plan.goal.measure) else {
                return Ok(());
            };
            if point.value < m.min || point.value > m.max {
                return Err(PlanError::Invalid(vec![FieldProblem {
                    field: "value".into(),
                    problem: format!(
                        "must be from {} to {} ({}) for `{}`",
                        m.min, m.max, m.unit, plan.goal.measure
                    ),
                }]));
            }
            Ok(())
        },
    )
    .await
}

/// `POST /v1/plans/{id}/sessions`.
pub async fn session(
    svc: &Service,
    by: Caller<'_>,
    id: &str,
    req: SessionRequest,
) -> Result<Plan, AppError> {
    session_from(svc, by, id, req, Origin::of("staff")).await
}

/// A session from `origin` (the route's or an SIS event's).
pub async fn session_from(
    svc: &Service,
    by: Caller<'_>,
    id: &str,
    req: SessionRequest,
    origin: Origin,
) -> Result<Plan, AppError> {
    let whole = req.minutes.is_finite() && req.minutes.fract() == 0.0;
    if !whole || !(0.0..=480.0).contains(&req.minutes) {
        return Err(one(
            "minutes",
            "must be a whole number of minutes from 0 to 480",
        ));
    }
    let s = SessionRecord {
        date: req.date,
        // Checked just above: a whole number from 0 to 480.
        minutes: req.minutes as u32,
        delivered: req.delivered,
    };
    write_to(svc, by, id, Write::Session(s), origin, move |plan| {
        check_date(plan, req.date)
    })
    .await
}

/// Write to plan `id` after `check` accepts the plan as it stands (and, for an SIS
/// event, the plan is of the event's student).
async fn write_to(
    svc: &Service,
    by: Caller<'_>,
    id: &str,
    write: Write,
    origin: Origin,
    check: impl FnOnce(&Plan) -> Result<(), PlanError>,
) -> Result<Plan, AppError> {
    let Origin { student, extra, .. } = origin;
    let change = |current: Option<Plan>| {
        let plan = current.ok_or_else(|| PlanError::NotFound(id.to_string()))?;
        if let Some(s) = student.filter(|s| *s != plan.student_id) {
            return Err(PlanError::Invalid(vec![FieldProblem {
                field: "plan_id".into(),
                problem: format!("`{id}` is not a plan of student `{s}`"),
            }]));
        }
        check(&plan)?;
        Ok(plan)
    };
    Ok(svc
        .plans
        .write_with(
            &svc.store,
            by.actor,
            by.request_id,
            id,
            write,
            change,
            extra,
        )
        .await?)
}
