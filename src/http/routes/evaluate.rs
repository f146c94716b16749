//! `POST /v1/evaluate` (one record, audited unless `dry_run`) and
//! `POST /v1/evaluate/batch` (NDJSON in, NDJSON out, streamed).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use crate::app;
use crate::engine::Decision;
use crate::http::auth::Actor;
use crate::http::body;
use crate::http::error::ApiError;
use crate::http::openapi as doc;
use crate::http::{AppState, request_id};
use crate::ndjson::StreamLines;
use crate::record::{MAX_RECORD_BYTES, Record};

#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalQuery {
    /// Evaluate without writing the decision to the audit log.
    #[serde(default)]
    pub dry_run: bool,
}

#[utoipa::path(
    post,
    path = "/v1/evaluate",
    tag = "evaluate",
    operation_id = "evaluate",
    params(EvalQuery),
    summary = "Evaluate one student record",
    description = "Evaluates the record against the active rule set and answers with the decision: \
every flag with its plain-language explanation, the inputs it read and what would clear it, the \
recommended interventions and the tier per domain. The decision is durably in the audit log \
before the answer, unless `dry_run=true`.",
    request_body(content = Record, content_type = "application/json",
        description = "One student record; unknown keys are refused"),
    responses(
        (status = 200, description = "The decision", body = Decision),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 422, response = doc::InvalidRecord),
    )
)]
pub async fn evaluate(
    actor: Actor,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let q: EvalQuery = body::query(&req)?;
    body::check_type(&req, &["application/json"])?;
    let text = body::read_text(&req, payload, state.settings.max_body_bytes).await?;
    let rid = request_id(&req);
    let made = app::evaluate::one(&state, text, AppState::caller(&actor, &rid), q.dry_run).await?;
    let d = &made.decision;
    state.metrics.observe_decision(d);
    // Identifiers at info; whose decision it was only at debug (logs outlive purges).
    tracing::info!(decision_id = %d.decision_id, flags = d.flags.len(), dry_run = q.dry_run, "decision");
    tracing::debug!(decision_id = %d.decision_id, student_id = %d.student_id, "decision subject");
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(String::from(Box::<str>::from(made.json))))
}

#[utoipa::path(
    post,
    path = "/v1/evaluate/batch",
    tag = "evaluate",
    operation_id = "evaluate_batch",
    params(EvalQuery),
    summary = "Evaluate NDJSON records, streamed",
    description = "The body is NDJSON: one student record per line (each line at most 256 KiB; \
blank lines are skipped). The answer streams one NDJSON line per input line, in order: its \
decision, or an error naming the line and field. Decisions are audited in groups, each group \
durable before its lines are sent, unless `dry_run=true`. A final `{\"error\": …}` line means the \
stream stopped early.",
    request_body(
        description = "NDJSON: one `Record` per line. A line that is not a valid record is \
answered with an error line in the 200 stream, so the body as a whole has no schema.",
        content(
            (serde_json::Value = "application/x-ndjson"),
            (serde_json::Value = "application/jsonl"),
            (serde_json::Value = "application/json"),
        )
    ),
    responses(
        (status = 200, description = "NDJSON, streamed: one `BatchLine` per input line",
            body = doc::BatchLine, content_type = "application/x-ndjson"),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 415, response = doc::UnsupportedMediaType),
    )
)]
pub async fn batch(
    actor: Actor,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let q: EvalQuery = body::query(&req)?;
    body::check_type(
        &req,
        &[
            "application/x-ndjson",
            "application/jsonl",
            "application/json",
        ],
    )?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<web::Bytes, actix_web::Error>>(4);
    let rid = request_id(&req);
    let dry_run = q.dry_run;
    actix_web::rt::spawn(async move {
        let mut lines = StreamLines::new(payload, MAX_RECORD_BYTES);
        let by = AppState::caller(&actor, &rid);
        let observe = |d: &Decision| state.metrics.observe_decision(d);
        let send = async |out: String| tx.send(Ok(web::Bytes::from(out))).await.is_ok();
        let done = app::evaluate::batch(&state, &mut lines, by, dry_run, &observe, send).await;
        if let Err(e) = done {
            let e = ApiError::from(e);
            let line = serde_json::json!({"error": e.to_string()}).to_string() + "\n";
            let _ = tx.send(Ok(web::Bytes::from(line))).await;
        }
    });
    let body = crate::http::body::ndjson_stream(rx);
    Ok(HttpResponse::Ok()
        .content_type("application/x-ndjson")
        .streaming(body))
}
