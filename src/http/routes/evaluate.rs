//! `POST /v1/evaluate` (one record, audited unless `dry_run`) and
//! `POST /v1/evaluate/batch` (NDJSON in, NDJSON out, streamed).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use crate::audit::{NewEntry, Source, decision_entry_with_json, decision_json};
use crate::batch::LineError;
use crate::engine::Decision;
use crate::http::auth::Actor;
use crate::http::body;
use crate::http::error::ApiError;
use crate::http::openapi as doc;
use crate::http::{AppState, request_id};
use crate::record::{MAX_RECORD_BYTES, Record, RecordError, parse_record};

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
    let (d, json, entry) = evaluate_off_worker(&state, text, &actor, &req, q.dry_run).await??;
    state.metrics.observe_decision(&d);
    if let Some(entry) = entry {
        state.store.append(entry).await?;
    }
    // Identifiers at info; whose decision it was only at debug (logs outlive purges).
    tracing::info!(decision_id = %d.decision_id, flags = d.flags.len(), dry_run = q.dry_run, "decision");
    tracing::debug!(decision_id = %d.decision_id, student_id = %d.student_id, "decision subject");
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(String::from(Box::<str>::from(json))))
}

/// A decision, the JSON it is answered with (the same the audit entry holds), and
/// its audit entry (none in a dry run).
type Made = (Decision, Box<serde_json::value::RawValue>, Option<NewEntry>);

/// Parse, evaluate, serialize and hash on the blocking pool: a slow rule set holds a
/// blocking thread, never an async worker.
async fn evaluate_off_worker(
    state: &web::Data<AppState>,
    text: String,
    actor: &Actor,
    req: &HttpRequest,
    dry_run: bool,
) -> Result<Result<Made, ApiError>, ApiError> {
    let st = state.clone();
    let rules = state.registry.active();
    let (name, rid) = (actor.name.clone(), request_id(req));
    // A small record under a rule set of native comparisons is bounded, microseconds
    // of work: the hop to the blocking pool would cost more than it (measured: a
    // third of the dry run's throughput). Anything else goes off the worker.
    let inline = text.len() <= INLINE_MAX_BYTES && rules.is_native_only();
    let work = move || {
        let record = parse_record(&text).map_err(ApiError::InvalidRecord)?;
        let d = st.evaluator.evaluate(&rules, &record);
        let json = decision_json(&d);
        let entry = (!dry_run).then(|| {
            decision_entry_with_json(&d, &json, &record, &rules, Source::Api, &name, &rid)
        });
        Ok((d, json, entry))
    };
    if inline {
        Ok(work())
    } else {
        crate::http::blocking(work).await
    }
}

/// Largest body evaluated on the async worker itself (when every rule is native):
/// parsing and evaluating it takes tens of microseconds.
const INLINE_MAX_BYTES: usize = 16 * 1024;

/// Lines evaluated and audited together (one flush for the group).
const GROUP: usize = 256;

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
        if let Err(e) = stream_batch(payload, &state, &actor, &rid, dry_run, &tx).await {
            let line = serde_json::json!({"error": e.to_string()}).to_string() + "\n";
            let _ = tx.send(Ok(web::Bytes::from(line))).await;
        }
    });
    let body = crate::http::body::ndjson_stream(rx);
    Ok(HttpResponse::Ok()
        .content_type("application/x-ndjson")
        .streaming(body))
}

/// A line's number and its record with its decision, or why it was refused.
/// A line's decision, the JSON it is answered with, and its audit entry (none in a
/// dry run); or why the line was refused.
type Evaluated = (
    u64,
    Result<(Decision, Box<serde_json::value::RawValue>, Option<NewEntry>), RecordError>,
);

type Tx = tokio::sync::mpsc::Sender<Result<web::Bytes, actix_web::Error>>;

/// Read the body as lines (each at most one record long), evaluate groups of lines
/// off the async workers, audit them, and send the answers on.
async fn stream_batch(
    payload: web::Payload,
    state: &web::Data<AppState>,
    actor: &Actor,
    rid: &str,
    dry_run: bool,
    tx: &Tx,
) -> Result<(), ApiError> {
    let mut lines = body::Lines::new(payload, MAX_RECORD_BYTES);
    loop {
        let group = lines.next_chunk(GROUP).await?;
        if group.is_empty() {
            return Ok(());
        }
        flush_group(state, actor, rid, dry_run, group, tx).await?;
    }
}

async fn flush_group(
    state: &web::Data<AppState>,
    actor: &Actor,
    rid: &str,
    dry_run: bool,
    group: Vec<(u64, Result<String, RecordError>)>,
    tx: &Tx,
) -> Result<(), ApiError> {
    if group.is_empty() {
        return Ok(());
    }
    let st = state.clone();
    let rules = state.registry.active();
    let (name, rid) = (actor.name.clone(), rid.to_string());
    // Evaluating, hashing and serializing the group is CPU work: off the async worker.
    let mut evaluated: Vec<Evaluated> = crate::http::blocking(move || {
        group
            .into_iter()
            .map(|(n, text)| {
                let r = text.and_then(|t| parse_record(&t)).map(|rec| {
                    let d = st.evaluator.evaluate(&rules, &rec);
                    let json = decision_json(&d);
                    let entry = (!dry_run).then(|| {
                        decision_entry_with_json(&d, &json, &rec, &rules, Source::Api, &name, &rid)
                    });
                    (d, json, entry)
                });
                (n, r)
            })
            .collect()
    })
    .await?;
    let mut entries = Vec::new();
    for (_, r) in &mut evaluated {
        if let Ok((d, _, entry)) = r {
            state.metrics.observe_decision(d);
            entries.extend(entry.take());
        }
    }
    state.store.append_all(entries).await?;
    let mut out = String::new();
    for (n, r) in evaluated {
        match r {
            // The line is answered with the JSON its audit entry holds.
            Ok((_, json, _)) => out.push_str(json.get()),
            Err(e) => out.push_str(
                &serde_json::to_string(&LineError {
                    line: n,
                    field: e.field(),
                    error: e.to_string(),
                })
                .unwrap_or_default(),
            ),
        }
        out.push('\n');
    }
    tx.send(Ok(web::Bytes::from(out)))
        .await
        .map_err(|_| ApiError::BadRequest("client went away".into()))
}
