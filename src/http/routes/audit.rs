//! `GET /v1/audit` (query), `/v1/audit/export` (NDJSON, streamed),
//! `/v1/audit/verify` (check the chain), `/v1/audit/checkpoint` (the signed head).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::students::{IN_PATH, parse_cursor, student_id};
use crate::app::reads;
use crate::audit::{EntryKind, Query};
use crate::http::AppState;
use crate::http::auth::Actor;
use crate::http::error::ApiError;
use crate::http::openapi as doc;
use crate::record::StudentId;

#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only entries about this student id (the student id rule: 1 to 64 characters).
    #[param(min_length = 1)]
    pub student: Option<String>,
    /// Only decisions in which this rule id fired.
    pub rule: Option<String>,
    /// Only entries of this kind (`decision`, `ruleset.loaded`, `auth.denied`, …).
    pub kind: Option<String>,
    /// Only entries at or after this time (RFC 3339).
    #[param(format = DateTime)]
    pub from: Option<String>,
    /// Only entries before this time (RFC 3339).
    #[param(format = DateTime)]
    pub to: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(pattern = "^[0-9]{1,19}$")]
    pub cursor: Option<String>,
    /// Entries per page (default 100, at most 500).
    pub limit: Option<usize>,
}

/// Normalise an RFC 3339 time to the stored form so string order is time order.
fn time(name: &str, v: &Option<String>) -> Result<Option<String>, ApiError> {
    v.as_deref()
        .map(|s| {
            chrono::DateTime::parse_from_rfc3339(s)
                .map(|t| {
                    t.with_timezone(&chrono::Utc)
                        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                })
                .map_err(|_| {
                    ApiError::BadRequest(format!(
                        "`{name}` must be an RFC 3339 time like 2026-11-20T00:00:00Z, got `{s}`"
                    ))
                })
        })
        .transpose()
}

#[utoipa::path(
    get,
    path = "/v1/audit",
    tag = "audit",
    operation_id = "audit_query",
    params(AuditQuery),
    summary = "Query the audit log",
    description = "Entries newest first, filtered by student, rule, kind and time range, with \
cursor pagination. The read is itself audited before the answer: `student.accessed` under the \
student when filtered by one, else `audit.read` naming the students on the page.",
    responses(
        (status = 200, description = "A page of entries", body = crate::audit::Page),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
    )
)]
pub async fn list(
    actor: Actor,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let q: AuditQuery = crate::http::body::query(&req)?;
    let (query, student, filter) = parse_query(q)?;
    let rid = crate::http::request_id(&req);
    let by = AppState::caller(&actor, &rid);
    let body = reads::audit_page(&state, by, query, student.as_ref(), filter).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(body))
}

/// The store's query, the student filtered by (checked) and the filter as audited,
/// of an audit query (the console's audit page parses its form with this too).
pub(crate) fn parse_query(
    q: AuditQuery,
) -> Result<(Query, Option<StudentId>, serde_json::Value), ApiError> {
    let student = q
        .student
        .as_deref()
        .map(|s| student_id(s, "query parameter `student`"))
        .transpose()?;
    let filter = json!({"rule": q.rule, "kind": q.kind, "from": q.from, "to": q.to});
    let query = Query {
        from: time("from", &q.from)?,
        to: time("to", &q.to)?,
        before: parse_cursor(&q.cursor)?,
        student: student.as_ref().map(|s| s.to_string()),
        rule: q.rule,
        kind: q.kind.as_deref().map(EntryKind::parse),
        limit: q.limit.unwrap_or(100),
    };
    Ok((query, student, filter))
}

/// Entries read per step of the export stream.
const EXPORT_CHUNK: usize = 1000;

#[utoipa::path(
    get,
    path = "/v1/audit/export",
    tag = "audit",
    operation_id = "audit_export",
    summary = "Export the whole audit log as NDJSON",
    description = "Every entry, oldest first, one JSON object per line, streamed. A line \
`{\"error\": …}` means the export stopped early. The export is audited (`audit.exported`, \
with the last sequence number at its start) before its first line, so it includes that entry.",
    responses(
        (status = 200, description = "NDJSON, streamed: one `Entry` per line", body = crate::audit::Entry,
            content_type = "application/x-ndjson"),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
    )
)]
pub async fn export(
    actor: Actor,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let rid = crate::http::request_id(&req);
    reads::start_export(&state, AppState::caller(&actor, &rid)).await?;
    let stream = export_stream(state.store.clone());
    Ok(HttpResponse::Ok()
        .content_type("application/x-ndjson")
        .streaming(stream))
}

/// Every entry of `store`, oldest first, as NDJSON chunks; a line `{"error": …}`
/// ends it early when the store cannot be read (the console's export streams this too).
pub(crate) fn export_stream(
    store: crate::audit::Store,
) -> impl futures_util::Stream<Item = Result<web::Bytes, actix_web::Error>> + 'static {
    futures_util::stream::unfold(Some(0u64), move |after| {
        let store = store.clone();
        async move {
            let after = after?;
            match reads::raw_after(&store, after, EXPORT_CHUNK).await {
                Ok(rows) if rows.is_empty() => None,
                Ok(rows) => {
                    let last = rows.last().map(|(s, _)| *s);
                    let mut buf = Vec::new();
                    for (_, bytes) in rows {
                        buf.extend_from_slice(&bytes);
                        buf.push(b'\n');
                    }
                    Some((Ok::<_, actix_web::Error>(web::Bytes::from(buf)), last))
                }
                Err(e) => {
                    tracing::error!(error = %e, "audit export failed");
                    let line = format!("{{\"error\":\"export stopped: {e}\"}}\n");
                    Some((Ok(web::Bytes::from(line)), None))
                }
            }
        }
    })
}

#[utoipa::path(
    get,
    path = "/v1/audit/verify",
    tag = "audit",
    operation_id = "audit_verify",
    summary = "Verify the audit log's hash chain",
    description = "Recomputes every entry's hash and link, and checks that the log reaches the \
last head the server acknowledged (recorded outside the store); reports the first altered or \
missing entry. A store that cannot be read answers 503 saying why.",
    responses(
        (status = 200, description = "The verification report (`ok: false` names the first bad entry)",
            body = crate::audit::VerifyReport),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 503, response = doc::Unavailable),
    )
)]
pub async fn verify(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let report = reads::verify(&state.store).await?;
    Ok(HttpResponse::Ok().json(report))
}

/// The latest checkpoint, and how to check it.
#[derive(utoipa::ToSchema, serde::Serialize)]
pub struct CheckpointView {
    #[serde(flatten)]
    pub checkpoint: crate::audit::Checkpoint,
    /// The exact text signed.
    pub message: String,
    /// `ed25519`, or `none` when the server has no checkpoint key.
    pub algorithm: &'static str,
    pub how_to_verify: &'static str,
}

#[utoipa::path(
    get,
    path = "/v1/audit/checkpoint",
    tag = "audit",
    operation_id = "audit_checkpoint",
    summary = "The latest signed checkpoint of the log's head",
    description = "The head (seq, hash, time) as signed by the server's checkpoint key (made at \
startup, every `audit.checkpoint_every_entries` entries or `audit.checkpoint_every_secs` seconds, \
and at shutdown). Keep it outside the server: `intervene audit verify --checkpoint FILE` later \
fails if the log is shorter or differs at that entry.",
    responses(
        (status = 200, description = "The checkpoint", body = CheckpointView),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 503, response = doc::Unavailable),
    )
)]
pub async fn checkpoint(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let Some(checkpoint) = state.store.latest_checkpoint() else {
        return Err(ApiError::Unavailable(
            "no checkpoint has been made yet".into(),
        ));
    };
    Ok(HttpResponse::Ok().json(CheckpointView {
        message: checkpoint.message(),
        algorithm: if checkpoint.signature.is_some() {
            "ed25519"
        } else {
            "none"
        },
        how_to_verify: crate::audit::checkpoint::HOW_TO_VERIFY,
        checkpoint,
    }))
}

/// The body of `PUT /v1/audit/holds/{student_id}`.
#[derive(utoipa::ToSchema, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoldRequest {
    /// Why: the inspection request's reference, for example.
    #[schema(min_length = 1, max_length = 1000, pattern = "\\S")]
    pub reason: String,
}

/// Every legal hold.
#[derive(utoipa::ToSchema, serde::Serialize)]
pub struct HoldList {
    pub holds: Vec<crate::audit::Hold>,
}

/// Longest hold reason kept.
const MAX_REASON: usize = 1_000;

/// A hold's reason, trimmed, when it says why in 1 to [`MAX_REASON`] characters.
pub(crate) fn hold_reason(raw: &str) -> Result<&str, ApiError> {
    let reason = raw.trim();
    if reason.is_empty() || reason.len() > MAX_REASON {
        return Err(ApiError::BadRequest(format!(
            "`reason` must say why, in 1 to {MAX_REASON} characters"
        )));
    }
    Ok(reason)
}

#[utoipa::path(
    put,
    path = "/v1/audit/holds/{student_id}",
    tag = "audit",
    operation_id = "audit_hold_place",
    params(("student_id" = String, Path, min_length = 1,
        description = "The student whose decisions must be kept")),
    request_body(content = HoldRequest, content_type = "application/json"),
    summary = "Place a legal hold",
    description = "While a hold stands, retention does not purge the student's decisions \
(FERPA: no deletion while an inspection request is pending). Placing it is audited; once \
this answers, no purge removes them.",
    responses(
        (status = 200, description = "The hold", body = crate::audit::Hold),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 415, response = doc::UnsupportedMediaType),
    )
)]
pub async fn place_hold(
    actor: Actor,
    req: HttpRequest,
    student_id_path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let student = student_id(&student_id_path, IN_PATH)?;
    crate::http::body::check_type(&req, &["application/json"])?;
    let text = crate::http::body::read_text(&req, payload, state.settings.max_body_bytes).await?;
    let body: HoldRequest = serde_json::from_str(&text).map_err(|e| {
        ApiError::BadRequest(format!(
            "hold: {} (send {{\"reason\": \"…\"}})",
            crate::record::without_position(&e.to_string())
        ))
    })?;
    let reason = hold_reason(&body.reason)?;
    let hold = state
        .store
        .place_hold(
            student.as_str(),
            reason,
            &actor.name,
            &crate::http::request_id(&req),
        )
        .await?;
    tracing::info!(actor = %actor.name, "legal hold placed");
    tracing::debug!(student_id = %student, "legal hold placed on");
    Ok(HttpResponse::Ok().json(hold))
}

#[utoipa::path(
    delete,
    path = "/v1/audit/holds/{student_id}",
    tag = "audit",
    operation_id = "audit_hold_lift",
    params(("student_id" = String, Path, min_length = 1, description = "The student")),
    summary = "Lift a legal hold",
    description = "Audited. The student's old decisions are purged by the next retention run.",
    responses(
        (status = 204, description = "Lifted"),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
    )
)]
pub async fn lift_hold(
    actor: Actor,
    req: HttpRequest,
    student_id_path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let student = student_id(&student_id_path, IN_PATH)?;
    if state
        .store
        .lift_hold(
            student.as_str(),
            &actor.name,
            &crate::http::request_id(&req),
        )
        .await?
    {
        tracing::info!(actor = %actor.name, "legal hold lifted");
        tracing::debug!(student_id = %student, "legal hold lifted from");
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::NotFound(format!(
            "there is no legal hold on student `{student}`"
        )))
    }
}

#[utoipa::path(
    get,
    path = "/v1/audit/holds",
    tag = "audit",
    operation_id = "audit_holds",
    summary = "Every legal hold",
    responses(
        (status = 200, description = "The holds", body = HoldList),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
    )
)]
pub async fn holds(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let holds = reads::holds(&state.store).await?;
    Ok(HttpResponse::Ok().json(HoldList { holds }))
}
