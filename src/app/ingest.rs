//! Ingesting one SIS event (`POST /v1/webhooks/sis`, once its signature is checked):
//! parse the envelope, apply it to the student's snapshot, re-evaluate and audit,
//! all durable before the outcome is returned. The event logic itself is
//! [`crate::students`]'s. A plan event (`progress.recorded`, `intervention.session`)
//! is checked and claimed the same way and written by the plan use cases
//! ([`super::plans`]), with its outcome in the same commit.

use serde_json::json;

use super::plans::{Origin, ProgressRequest, SessionRequest};
use super::{AppError, Caller, Service};
use crate::record::RecordError;
use crate::students::{
    Change, Clock, Envelope, EventError, EventStatus, EventType, IngestError, Outcome, PlanEvent,
};

/// Largest envelope parsed on the calling async worker itself.
const INLINE_PARSE_MAX_BYTES: usize = 16 * 1024;

/// Ingest the event envelope in `text`, checked against the replay window of the
/// settings.
pub async fn event(svc: &Service, text: String, by: Caller<'_>) -> Result<Outcome, AppError> {
    // A small envelope parses in microseconds: one hop to the blocking pool (the
    // ingest's, below) is enough. A large one is parsed there too.
    let env = if text.len() <= INLINE_PARSE_MAX_BYTES {
        parse_envelope(&text)?
    } else {
        crate::blocking::run(move || parse_envelope(&text)).await??
    };
    let clock = Clock::now(svc.settings.webhook.replay_window_secs);
    if EventType::parse(&env.kind).is_some_and(EventType::is_plan) {
        return plan_event(svc, env, clock, by).await;
    }
    let rules = svc.registry.active();
    let outcome = svc
        .students
        .ingest(
            env,
            rules,
            svc.evaluator.clone(),
            clock,
            by.actor,
            by.request_id,
        )
        .await?;
    if outcome.decision.is_some() && !outcome.duplicate {
        super::history::write_record_points_of(svc, by, &outcome.student_id).await;
    }
    Ok(outcome)
}

/// The envelope in `text` (up to `max_body_bytes` of JSON).
fn parse_envelope(text: &str) -> Result<Envelope, AppError> {
    // The record inside is one level down: the depth `POST /v1/evaluate` allows it.
    crate::record::check_depth_limit(text, crate::record::MAX_JSON_DEPTH + 1)
        .map_err(AppError::InvalidRecord)?;
    serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_str(text)).map_err(|e| {
        let path = e.path().to_string();
        let syntax = e.inner().is_syntax() || e.inner().is_eof();
        let msg = e.inner().to_string();
        let msg = crate::record::without_position(&msg);
        AppError::Unprocessable(if syntax {
            format!("event envelope is not valid JSON: {msg}")
        } else if path == "." {
            format!("event envelope: {msg}")
        } else {
            format!("`{path}`: {msg}")
        })
    })
}

/// A plan event: the envelope checked as every event's is, then under the event id's
/// and the student's locks (as [`crate::students::Students::ingest`] takes them) a
/// repeated id answers with its first outcome, and a new one is written to its plan
/// by the same use case as `POST /v1/plans/{id}/progress` or `/sessions`, its outcome
/// landing in the same durable commit as the plan's entry. Points are a set keyed by
/// date (the progress math averages one date's points), so any order of the same
/// events ends in the same plan.
async fn plan_event(
    svc: &Service,
    env: Envelope,
    clock: Clock,
    by: Caller<'_>,
) -> Result<Outcome, AppError> {
    let (_, change) = env.change(&clock).map_err(IngestError::from)?;
    let Change::Plan(event) = change else {
        return Err(IngestError::from(EventError::UnknownType(env.kind.clone())).into());
    };
    let students = svc.students.clone();
    let work = async {
        let (outcomes, eid, sid) = (
            students.outcomes().clone(),
            env.event_id.clone(),
            env.student_id.clone(),
        );
        if let Some(first) = crate::blocking::run(move || outcomes.seen(&eid, &sid)).await?? {
            return Ok(first);
        }
        let id = event.plan_id().to_string();
        let outcome = Outcome {
            event_id: env.event_id.clone(),
            student_id: env.student_id.clone(),
            status: EventStatus::Applied,
            duplicate: false,
            decision: None,
            plan_id: Some(id.clone()),
        };
        let mut origin = Origin::of("sis");
        origin.student = Some(env.student_id.clone());
        origin.extra.payload.insert(
            "event".into(),
            json!({"event_id": env.event_id, "type": env.kind, "occurred_at": env.occurred_at}),
        );
        origin
            .extra
            .companions
            .push(students.outcomes().write(&outcome)?);
        let written = match event {
            PlanEvent::Progress(p) => {
                let req = ProgressRequest {
                    date: p.date,
                    value: p.value,
                    note: p.note,
                };
                super::plans::progress_from(svc, by, &id, req, origin).await
            }
            PlanEvent::Session(s) => {
                let req = SessionRequest {
                    date: s.date,
                    minutes: s.minutes,
                    delivered: s.delivered,
                };
                super::plans::session_from(svc, by, &id, req, origin).await
            }
        };
        written.map_err(|e| within_data(e, &id))?;
        Ok(outcome)
    };
    students
        .exclusive(&env.event_id, &env.student_id, work)
        .await
}

/// A plan use case's refusal with its fields named inside the event's `data`.
fn within_data(e: AppError, plan_id: &str) -> AppError {
    match e {
        AppError::InvalidInput(RecordError { mut problems }) => {
            for p in &mut problems {
                p.field = match p.field.as_str() {
                    "plan" => "data.plan_id".into(),
                    f => format!("data.{f}"),
                };
            }
            AppError::InvalidInput(RecordError { problems })
        }
        AppError::NotFound(_) => AppError::NotFound(format!("`data.plan_id`: no plan `{plan_id}`")),
        other => other,
    }
}
