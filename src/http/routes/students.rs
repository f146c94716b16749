//! `GET /v1/students/{id}` (snapshot), `/decisions` (history, newest first),
//! `/report` (why, in plain text), and `POST /v1/students/import`.
//!
//! A student id in a path or query passes the same rule as a record's
//! (`record::student_id`) before anything reads, stores or logs it. The reads and
//! the import are [`crate::app`]'s use cases ([`crate::app::reads`],
//! [`crate::app::import`]), which record each read and keep blocking work off the
//! worker.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use crate::app::{self, AppError, reads};
use crate::http::auth::Actor;
use crate::http::error::ApiError;
use crate::http::openapi as doc;
use crate::http::{AppState, request_id};
use crate::ndjson::StreamLines;
use crate::record::StudentId;

#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// `next_cursor` of the previous page.
    #[param(pattern = "^[0-9]{1,19}$")]
    pub cursor: Option<String>,
    /// Decisions per page (default 50, at most 500).
    pub limit: Option<usize>,
}

/// A student id from a path or query, checked by the one student id rule; `what`
/// names where it came from. The error says what is wrong without echoing the id.
pub fn student_id(raw: &str, what: &str) -> Result<StudentId, ApiError> {
    StudentId::parse(raw).map_err(|problem| ApiError::BadRequest(format!("{what} {problem}")))
}

/// Where a path's student id came from, for errors.
pub const IN_PATH: &str = "the student id in the path";

pub fn parse_cursor(c: &Option<String>) -> Result<Option<u64>, ApiError> {
    c.as_deref()
        .map(|c| {
            c.parse::<u64>().map_err(|_| {
                ApiError::BadRequest(format!("cursor `{c}` is not one this server returned"))
            })
        })
        .transpose()
}

#[utoipa::path(
    get,
    path = "/v1/students/{id}/decisions",
    tag = "students",
    operation_id = "student_decisions",
    summary = "A student's decision history",
    description = "Audited decisions about the student, newest first, each with its \
explanations, where its record came from and who caused it. The read is itself audited \
(`student.accessed`) before the answer.",
    params(("id" = String, Path, description = "Student id"), PageQuery),
    responses(
        (status = 200, description = "Decisions, newest first", body = doc::DecisionHistory),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
    )
)]
pub async fn decisions(
    actor: Actor,
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = student_id(&id, IN_PATH)?;
    let q: PageQuery = crate::http::body::query(&req)?;
    let before = parse_cursor(&q.cursor)?;
    let rid = request_id(&req);
    let by = AppState::caller(&actor, &rid);
    let body = reads::decisions(&state, by, &id, before, q.limit.unwrap_or(50)).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(body))
}

#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    /// The decision's audit sequence number (default: the student's latest).
    pub seq: Option<u64>,
}

/// `GET /v1/students/{id}/report`: why the student was flagged, in plain text.
#[utoipa::path(
    get,
    path = "/v1/students/{id}/report",
    tag = "students",
    operation_id = "student_report",
    summary = "Why a student was flagged, in plain language",
    description = "The student's latest decision (or the one at `seq`) as a plain-text report for \
families and reviewers: each flag with its explanation, what would clear it, its inputs and \
sources, the recommended interventions, the rule-set version, and the audit entry that holds \
it with whether that entry matches its hash. Rule names and sources come from the version \
that made the decision. The read is itself audited (`student.accessed`).",
    params(("id" = String, Path, description = "Student id"), ReportQuery),
    responses(
        (status = 200, description = "The report", body = String, content_type = "text/plain"),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
    )
)]
pub async fn report(
    actor: Actor,
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = student_id(&id, IN_PATH)?;
    let q: ReportQuery = crate::http::body::query(&req)?;
    let rid = request_id(&req);
    let text = reads::report(&state, AppState::caller(&actor, &rid), &id, q.seq).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(text))
}

/// `GET /v1/students/{id}`: the snapshot and the latest decision.
#[utoipa::path(
    get,
    path = "/v1/students/{id}",
    tag = "students",
    operation_id = "student_snapshot",
    summary = "A student's latest snapshot and decision",
    description = "The read is itself audited (`student.accessed`) before the answer.",
    params(("id" = String, Path, description = "Student id")),
    responses(
        (status = 200, description = "The snapshot, the version of each part, the latest decision",
            body = doc::StudentView),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
    )
)]
pub async fn snapshot(
    actor: Actor,
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = student_id(&id, IN_PATH)?;
    let rid = request_id(&req);
    let view = reads::snapshot(&state, AppState::caller(&actor, &rid), id).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// `POST /v1/students/import`: NDJSON whole records → snapshots, evaluated; error
/// lines and a summary line are streamed back.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportQuery {
    /// `canonical` (default) or `edfi`.
    #[param(pattern = "^(canonical|edfi)$")]
    pub format: Option<String>,
}

#[utoipa::path(
    post,
    path = "/v1/students/import",
    tag = "students",
    operation_id = "student_import",
    summary = "Nightly import: NDJSON records to snapshots, evaluated",
    description = "Each line replaces that student's snapshot (parts newer in the store are \
kept), and each changed student is re-evaluated and the decision audited. With \
`format=edfi` each line is an Ed-Fi bundle for one student, mapped through the configured \
descriptor mapping. The answer streams an error line per refused input line, then one \
summary line.",
    params(ImportQuery),
    request_body(
        description = "NDJSON: one `Record` per line (`format=canonical`), or one Ed-Fi bundle \
per line (`format=edfi`)",
        content(
            (serde_json::Value = "application/x-ndjson"),
            (serde_json::Value = "application/jsonl"),
            (serde_json::Value = "application/json"),
        )
    ),
    responses(
        (status = 200, description = "NDJSON, streamed: error lines, then a summary line",
            body = doc::ImportLine, content_type = "application/x-ndjson"),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 503, response = doc::Unavailable),
    )
)]
pub async fn import(
    actor: Actor,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let q: ImportQuery = crate::http::body::query(&req)?;
    let format = app::import::format(q.format.as_deref(), &state.settings.edfi_descriptors).await?;
    crate::http::body::check_type(
        &req,
        &[
            "application/x-ndjson",
            "application/jsonl",
            "application/json",
        ],
    )?;
    let rid = request_id(&req);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<web::Bytes, actix_web::Error>>(4);
    actix_web::rt::spawn(async move {
        let send = async |text: String| tx.send(Ok(web::Bytes::from(text))).await.is_ok();
        let mut lines = StreamLines::new(payload, crate::record::MAX_RECORD_BYTES);
        let by = AppState::caller(&actor, &rid);
        let emit = async |p: app::import::Progress| {
            p.errors.is_empty() || send(p.errors.join("\n") + "\n").await
        };
        let last = match app::import::run(&state, &mut lines, &format, by, emit).await {
            Ok(total) => json!({"summary": total}),
            Err(AppError::Gone) => return,
            Err(e @ AppError::Read(_)) => json!({"error": ApiError::from(e).to_string()}),
            Err(e) => {
                tracing::error!(error = %e, "import failed");
                json!({"error": "import stopped; the cause is in the server log"})
            }
        };
        send(last.to_string() + "\n").await;
    });
    let body = crate::http::body::ndjson_stream(rx);
    Ok(HttpResponse::Ok()
        .content_type("application/x-ndjson")
        .streaming(body))
}
