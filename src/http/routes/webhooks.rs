//! `POST /v1/webhooks/sis`: signed SIS events, idempotent by event id.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::app::{self, Caller};
use crate::http::auth::deny;
use crate::http::error::ApiError;
use crate::http::openapi as doc;
use crate::http::signature::{self, SignatureError};
use crate::http::{AppState, body, request_id};
use crate::students::Envelope;

#[utoipa::path(
    post,
    path = "/v1/webhooks/sis",
    tag = "webhooks",
    operation_id = "sis_event",
    summary = "Receive a signed SIS event",
    description = "Applies one SIS event to the student's snapshot, re-evaluates the student and \
audits the decision (with the event id as its source) before answering. Authenticated by the \
`X-Intervene-Signature` header (HMAC-SHA256 with the shared webhook secret), not by a bearer \
key. Idempotent by `event_id`: a repeated id changes nothing and answers with the first outcome \
(`duplicate: true`); one id sent for two students is applied once, the other gets a 409. An \
event older than what the snapshot holds for that part is `stale` and does not roll it back. \
`progress.recorded` and `intervention.session` add a point or a session to a plan of the \
student (`plan_id` in `data`) exactly as `POST /v1/plans/{id}/progress` and `/sessions` do, with \
the same idempotence (the outcome names the `plan_id`); points are kept as a set by date, so any \
order of the same events ends in the same plan. An unknown plan is a 404, a plan of another \
student, a closed plan or a value outside the measure's range a 422 naming the `data` field. \
Refused with the field named: a `student_id` that breaks the student id rule, an `occurred_at` \
before 1990-01-01 or further ahead of the server's clock than the replay window, `data` over \
the 256 KiB record limit, and an event after which the student's record would pass that limit \
(or the stored snapshot 1 MiB, or a behavior count 1000).",
    params(
        ("X-Intervene-Signature" = String, Header,
            description = "`t=<unix seconds>,v1=<hex HMAC-SHA256(secret, \"<t>.<raw body>\")>` \
over the exact body bytes; refused when it does not match or `t` is outside the replay window \
(default 300 s).",
            example = "t=1763651045,v1=3f1c0e7d9b5a2c4e6f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6"),
    ),
    request_body(content = Envelope, content_type = "application/json",
        description = "The event envelope"),
    responses(
        (status = 200, description = "The event's outcome (also for a repeated event id)",
            body = crate::students::Outcome),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 404, response = doc::NotFound),
        (status = 409, description = "The event id was already used for another student",
            body = doc::Problem, content_type = "application/problem+json"),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 422, response = doc::Unprocessable),
        (status = 503, response = doc::Unavailable),
    )
)]
pub async fn sis(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let Some(secret) = state.webhook_secret.clone() else {
        return Err(ApiError::Unavailable(format!(
            "webhooks are off: set the secret in `{}`",
            state.settings.webhook.secret_env
        )));
    };
    let text = body::read_text(&req, payload, state.settings.max_body_bytes).await?;
    let header = req
        .headers()
        .get("x-intervene-signature")
        .and_then(|v| v.to_str().ok());
    let now = chrono::Utc::now().timestamp();
    if let Err(e) = signature::verify(
        &secret,
        header,
        text.as_bytes(),
        now,
        state.settings.webhook.replay_window_secs,
    ) {
        let reason = match e {
            SignatureError::Missing => "missing signature",
            SignatureError::Malformed => "malformed signature",
            SignatureError::Stale(..) => "signature outside the replay window",
            SignatureError::Mismatch => "signature mismatch",
        };
        deny(&req, &state, Some("sis-webhook".into()), reason).await;
        return Err(ApiError::Unauthorized(e.to_string()));
    }
    body::check_type(&req, &["application/json"])?;
    let rid = request_id(&req);
    let by = Caller {
        actor: "sis-webhook",
        request_id: &rid,
    };
    let outcome = app::ingest::event(&state, text, by).await?;
    if let Some(d) = &outcome.decision
        && !outcome.duplicate
    {
        state.metrics.observe_decision(d);
    }
    let decision_id = outcome.decision.as_ref().map(|d| d.decision_id.as_str());
    tracing::info!(event_id = %outcome.event_id, decision_id, status = %outcome.status, duplicate = outcome.duplicate, "sis event");
    tracing::debug!(event_id = %outcome.event_id, student_id = %outcome.student_id, "sis event student");
    Ok(HttpResponse::Ok().json(outcome))
}
