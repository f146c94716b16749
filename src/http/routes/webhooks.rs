//! `POST /v1/webhooks/sis`: signed SIS events, idempotent by event id.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::audit::AuditError;
use crate::http::auth::deny;
use crate::http::error::ApiError;
use crate::http::openapi as doc;
use crate::http::signature::{self, SignatureError};
use crate::http::{AppState, body, request_id};
use crate::students::{Clock, Envelope, EventError, IngestError};

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
    // A small envelope parses in microseconds: one hop to the blocking pool (the
    // ingest's, below) is enough. A large one is parsed there too.
    let env = if text.len() <= INLINE_PARSE_MAX_BYTES {
        parse_envelope(&text)?
    } else {
        crate::http::blocking(move || parse_envelope(&text)).await??
    };
    let rules = state.registry.active();
    let clock = Clock::now(state.settings.webhook.replay_window_secs);
    let outcome = state
        .students
        .ingest(
            env,
            rules,
            state.evaluator.clone(),
            clock,
            "sis-webhook",
            &request_id(&req),
        )
        .await
        .map_err(ingest_error)?;
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

/// The envelope from the body (on the blocking pool: up to `max_body_bytes` of JSON).
fn parse_envelope(text: &str) -> Result<Envelope, ApiError> {
    // The record inside is one level down: the depth `POST /v1/evaluate` allows it.
    crate::record::check_depth_limit(text, crate::record::MAX_JSON_DEPTH + 1)
        .map_err(ApiError::InvalidRecord)?;
    serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_str(text)).map_err(|e| {
        let path = e.path().to_string();
        let syntax = e.inner().is_syntax() || e.inner().is_eof();
        let msg = e.inner().to_string();
        let msg = crate::record::without_position(&msg);
        ApiError::Unprocessable(if syntax {
            format!("event envelope is not valid JSON: {msg}")
        } else if path == "." {
            format!("event envelope: {msg}")
        } else {
            format!("`{path}`: {msg}")
        })
    })
}

/// The answer for an event that could not be ingested.
fn ingest_error(e: IngestError) -> ApiError {
    match e {
        IngestError::Event(EventError::Invalid(r)) => ApiError::InvalidRecord(r),
        IngestError::Event(EventError::UnknownStudent(s)) => ApiError::NotFound(format!(
            "no snapshot for student `{s}`; send a student.snapshot (or import) first"
        )),
        IngestError::Event(e @ EventError::IdReused { .. }) => ApiError::Conflict(e.to_string()),
        IngestError::Event(other) => ApiError::Unprocessable(other.to_string()),
        IngestError::Audit(AuditError::Closed) => ApiError::Unavailable(
            "the audit log is not taking entries (the server is stopping); the event was not applied, send it again"
                .into(),
        ),
        other => ApiError::internal(other),
    }
}

/// Largest webhook body parsed on the async worker itself.
const INLINE_PARSE_MAX_BYTES: usize = 16 * 1024;
