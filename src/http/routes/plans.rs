//! Intervention plans (see [`crate::app::plans`]). A plan is answered with its
//! revision as the `ETag`; `PATCH` needs it back in `If-Match`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::de::DeserializeOwned;

use super::students::{IN_PATH, student_id};
use crate::app::plans::{self as use_case, ProgressRequest, SessionRequest};
use crate::config::Role;
use crate::http::auth::Actor;
use crate::http::error::ApiError;
use crate::http::openapi as doc;
use crate::http::{AppState, request_id};
use crate::plans::{Plan, PlanRequest, PlanUpdate};

/// Largest plan request body, in bytes.
const MAX_PLAN_BYTES: usize = 64 * 1024;
/// Longest plan id accepted in a path.
const MAX_PLAN_ID: usize = 64;

/// The JSON body, bounded, as `T` (a 400 naming what is wrong).
async fn json_body<T: DeserializeOwned>(
    req: &HttpRequest,
    payload: web::Payload,
    what: &str,
) -> Result<T, ApiError> {
    crate::http::body::json(req, payload, MAX_PLAN_BYTES, what).await
}

fn plan_id(raw: &str) -> Result<&str, ApiError> {
    let ok = !raw.is_empty()
        && raw.len() <= MAX_PLAN_ID
        && raw.bytes().all(|b| b.is_ascii_alphanumeric());
    if ok {
        Ok(raw)
    } else {
        Err(ApiError::NotFound(format!(
            "no plan `{}`",
            raw.chars().take(MAX_PLAN_ID).collect::<String>()
        )))
    }
}

/// `GET /v1/students/{id}/plans`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct PlanList {
    pub plans: Vec<Plan>,
}

/// A plan with where it stands today (`summary`), its revision as the `ETag`.
fn answer(status: actix_web::http::StatusCode, plan: &Plan) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::ETAG, format!("\"{}\"", plan.revision)))
        .json(with_summary(plan))
}

/// The plan as answered: the stored plan and `summary` (the progress math today).
fn with_summary(plan: &Plan) -> serde_json::Value {
    crate::plans::report::with_summary(plan, crate::app::today())
}

#[utoipa::path(post, path = "/v1/students/{id}/plans", tag = "plans", operation_id = "plan_open",
    summary = "Open an intervention plan with a measurable goal",
    description = "The intervention must be in the active catalogue; the goal's `measure` is a \
record indicator (`attendance.absence_rate`, `reading_percentile`, `math_percentile`, \
`sel.t_score`, `behavior.office_referrals`, `gpa`, `failing_courses`) or a manual measure of \
the active rule set (`measures` in `GET /v1/rules`, e.g. `oral-reading-fluency`); its direction \
follows from `baseline` and `target`. `sessions_per_week` defaults to the intervention's in the \
catalogue. `opened_from` names the decision and flags the plan answers. \
Appends `plan.opened` under the student; durable before the answer.",
    params(("id" = String, Path, description = "Student id")),
    request_body(content = PlanRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The plan (ETag: its revision)", body = Plan),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 422, response = doc::Unprocessable),
    ))]
pub async fn open(
    actor: Actor,
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let student = student_id(&id, IN_PATH)?;
    let body: PlanRequest = json_body(&req, payload, "plan").await?;
    let rid = request_id(&req);
    let plan = use_case::open(&state, AppState::caller(&actor, &rid), &student, body).await?;
    Ok(answer(actix_web::http::StatusCode::CREATED, &plan))
}

#[utoipa::path(get, path = "/v1/students/{id}/plans", tag = "plans", operation_id = "plans_of_student",
    summary = "A student's plans, oldest first",
    description = "Every plan with its goal, status, progress points and sessions. The read is \
audited (`student.accessed`).",
    params(("id" = String, Path, description = "Student id")),
    responses(
        (status = 200, description = "The plans", body = PlanList),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
    ))]
pub async fn of_student(
    actor: Actor,
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let student = student_id(&id, IN_PATH)?;
    let rid = request_id(&req);
    let list = use_case::of_student(&state, AppState::caller(&actor, &rid), &student).await?;
    let plans: Vec<serde_json::Value> = list.iter().map(with_summary).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "plans": plans })))
}

#[utoipa::path(get, path = "/v1/plans/{id}", tag = "plans", operation_id = "plan_get",
    summary = "One plan",
    description = "The plan, with its revision as the `ETag`, and `summary`: where it stands \
today by the progress math (aim now, trend per week from 3 points, points off the aim line in a \
row from the newest, aim gap (negative = behind), fidelity = delivered / planned sessions over \
completed weeks, weeks active, goal met). Every plan answer carries it. The read is audited \
(`student.accessed`, under the plan's student).",
    params(("id" = String, Path, description = "Plan id")),
    responses(
        (status = 200, description = "The plan", body = Plan),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
    ))]
pub async fn get(
    actor: Actor,
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = plan_id(&id)?;
    let rid = request_id(&req);
    let plan = use_case::get(&state, AppState::caller(&actor, &rid), id).await?;
    Ok(answer(actix_web::http::StatusCode::OK, &plan))
}

/// The revision `If-Match` names (`"3"` or `3`); 428 without it.
fn if_match(req: &HttpRequest) -> Result<u64, ApiError> {
    let Some(v) = req.headers().get(header::IF_MATCH) else {
        return Err(ApiError::PreconditionRequired(
            "send `If-Match` with the plan's ETag (its revision) from when you read it".into(),
        ));
    };
    v.to_str()
        .ok()
        .map(|s| s.trim().trim_matches('"'))
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| {
            ApiError::BadRequest("`If-Match` must be the plan's ETag, e.g. \"3\"".into())
        })
}

#[utoipa::path(patch, path = "/v1/plans/{id}", tag = "plans", operation_id = "plan_update",
    summary = "Change a plan's status, goal or owner",
    description = "`If-Match` must carry the plan's ETag (its revision): a change made from an \
older revision gets 412. A new goal makes the plan `modified`; closing it (`met`, \
`discontinued`, `escalated`) needs an `exit_reason` and appends `plan.closed`; other changes \
append `plan.updated`. A closed plan takes no more changes.",
    params(("id" = String, Path, description = "Plan id"),
        ("If-Match" = String, Header, pattern = r#"^"?[0-9]{1,19}"?$"#,
            description = "The plan's ETag when it was read (`\"3\"`)")),
    request_body(content = PlanUpdate, content_type = "application/json"),
    responses(
        (status = 200, description = "The plan as changed", body = Plan),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 412, response = doc::PreconditionFailed),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 422, response = doc::Unprocessable),
        (status = 428, response = doc::PreconditionRequired),
    ))]
pub async fn update(
    actor: Actor,
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = plan_id(&id)?;
    let revision = if_match(&req)?;
    let body: PlanUpdate = json_body(&req, payload, "plan change").await?;
    let rid = request_id(&req);
    let by = AppState::caller(&actor, &rid);
    let plan = use_case::update(&state, by, id, revision, body).await?;
    Ok(answer(actix_web::http::StatusCode::OK, &plan))
}

#[utoipa::path(post, path = "/v1/plans/{id}/progress", tag = "plans", operation_id = "plan_progress",
    summary = "Record a progress point",
    description = "`{date, value, note}`: a value outside the measure's range, a date before \
the plan's start or in the future, or a closed plan is refused. Appends `plan.progress`.",
    params(("id" = String, Path, description = "Plan id")),
    request_body(content = ProgressRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The plan with the point", body = Plan),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 422, response = doc::Unprocessable),
    ))]
pub async fn progress(
    actor: Actor,
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = plan_id(&id)?;
    let body: ProgressRequest = json_body(&req, payload, "progress point").await?;
    let source = if actor.role == Role::Ingest {
        "sis"
    } else {
        "staff"
    };
    let rid = request_id(&req);
    let by = AppState::caller(&actor, &rid);
    let plan = use_case::progress(&state, by, id, body, source).await?;
    Ok(answer(actix_web::http::StatusCode::CREATED, &plan))
}

#[utoipa::path(post, path = "/v1/plans/{id}/sessions", tag = "plans", operation_id = "plan_session",
    summary = "Record a session (delivered or missed)",
    description = "`{date, minutes, delivered}`: fidelity is delivered ÷ planned sessions so \
far. Appends `plan.session`.",
    params(("id" = String, Path, description = "Plan id")),
    request_body(content = SessionRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The plan with the session", body = Plan),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 422, response = doc::Unprocessable),
    ))]
pub async fn session(
    actor: Actor,
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = plan_id(&id)?;
    let body: SessionRequest = json_body(&req, payload, "session").await?;
    let rid = request_id(&req);
    let by = AppState::caller(&actor, &rid);
    let plan = use_case::session(&state, by, id, body).await?;
    Ok(answer(actix_web::http::StatusCode::CREATED, &plan))
}
