//! `GET /v1/students/{id}` (snapshot), `/decisions` (history, newest first),
//! `/report` (why, in plain text), and `POST /v1/students/import`.
//!
//! A student id in a path or query passes the same rule as a record's
//! (`record::student_id`) before anything reads, stores or logs it. Store reads and
//! rule-set compilation run on the blocking pool.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use crate::audit::{EntryKind, Query};
use crate::http::auth::Actor;
use crate::http::error::ApiError;
use crate::http::openapi as doc;
use crate::http::{AppState, blocking};
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
    let query = Query {
        student: Some(id.to_string()),
        kind: Some(EntryKind::Decision),
        before: parse_cursor(&q.cursor)?,
        limit: q.limit.unwrap_or(50),
        ..Query::default()
    };
    let store = state.store.clone();
    // A page can hold 500 decisions with their inputs: read and serialize it off
    // the worker too.
    let (body, entries) = blocking(move || -> Result<_, ApiError> {
        let page = store.query(&query)?;
        let decisions: Vec<_> = page
            .entries
            .iter()
            .map(|e| json!({"seq": e.seq, "at": e.at, "actor": e.actor, "source": e.payload.get("source"), "decision": e.payload.get("decision")}))
            .collect();
        let body = json!({"decisions": decisions, "next_cursor": page.next_cursor}).to_string();
        Ok((body, decisions.len()))
    })
    .await??;
    state
        .record_access(
            &req,
            &actor,
            id.as_str(),
            "decisions",
            json!({"entries": entries}),
        )
        .await?;
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
    let st = state.clone();
    let student = id.clone();
    // Reading the entry and compiling the version that made it (a cache miss
    // compiles a whole stored rule set) are blocking work.
    let (text, seq) = blocking(move || report_text(&st, &student, q.seq)).await??;
    state
        .record_access(&req, &actor, id.as_str(), "report", json!({"seq": seq}))
        .await?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(text))
}

/// The report on `student`'s decision at `seq` (default: the latest), and its seq.
fn report_text(
    st: &AppState,
    student: &StudentId,
    seq: Option<u64>,
) -> Result<(String, u64), ApiError> {
    let (entry, intact) = decision_entry(st, student, seq)?;
    let decision: crate::engine::Decision =
        serde_json::from_value(entry.payload.get("decision").cloned().unwrap_or_default())
            .map_err(|e| {
                ApiError::internal(format!(
                    "audit entry {}: decision unreadable: {e}",
                    entry.seq
                ))
            })?;
    let rules = st.registry.compiled(&decision.ruleset_version)?;
    let mut text = crate::engine::render_report(&decision, &rules);
    let source = entry.payload["source"]["kind"]
        .as_str()
        .unwrap_or("unknown");
    text.push_str(&format!(
        "\n  Recorded in the audit log as entry {} at {} (from {source}, by {}); {}.\n",
        entry.seq,
        entry.at,
        entry.actor,
        if intact {
            "the entry matches its hash (GET /v1/audit/verify checks the whole chain)"
        } else {
            "the entry does NOT match its hash: report this to the district"
        }
    ));
    text.push_str(
        "  Tiers and interventions are recommendations: the school's team confirms each one.\n",
    );
    Ok((text, entry.seq))
}

/// The decision entry about `student` at `seq` (default: the latest), and whether it
/// matches its hash.
fn decision_entry(
    st: &AppState,
    student: &StudentId,
    seq: Option<u64>,
) -> Result<(crate::audit::Entry, bool), ApiError> {
    let at = match seq {
        Some(seq) => Some(seq),
        None => st
            .store
            .query(&Query {
                student: Some(student.to_string()),
                kind: Some(EntryKind::Decision),
                limit: 1,
                ..Query::default()
            })?
            .entries
            .first()
            .map(|e| e.seq),
    };
    let found = match at {
        Some(at) => st.store.get_checked(at)?,
        None => None,
    };
    if let Some((e, _)) = &found
        && e.kind == EntryKind::Decision
        && let Some(by) = e.purged_by
    {
        // Its payload (and so whose it was) is gone.
        return Err(ApiError::NotFound(format!(
            "decision {} was removed by the retention purge in audit entry {by}",
            e.seq
        )));
    }
    found
        .filter(|(e, _)| e.kind == EntryKind::Decision && e.student_id() == Some(student.as_str()))
        .ok_or_else(|| {
            ApiError::NotFound(match seq {
                Some(seq) => format!("audit entry {seq} is not a decision about `{student}`"),
                None => format!("no decision about `{student}` in the audit log"),
            })
        })
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
    let st = state.clone();
    let found = blocking(move || -> Result<_, ApiError> {
        let snap = st.students.get(id.as_str()).map_err(ApiError::internal)?;
        let latest = st.store.query(&Query {
            student: Some(id.to_string()),
            kind: Some(EntryKind::Decision),
            limit: 1,
            ..Query::default()
        })?;
        Ok((id, snap, latest.entries.into_iter().next()))
    })
    .await??;
    let (id, snap, latest) = found;
    let Some(snap) = snap else {
        return Err(ApiError::NotFound(format!(
            "no snapshot for student `{id}`"
        )));
    };
    state
        .record_access(&req, &actor, id.as_str(), "snapshot", json!({}))
        .await?;
    Ok(HttpResponse::Ok().json(json!({
        "student_id": id,
        "record": snap.record,
        "versions": snap.versions,
        "latest_decision": latest.map(|e| json!({"seq": e.seq, "at": e.at, "source": e.payload.get("source"), "decision": e.payload.get("decision")})),
    })))
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
    let format = match q.format.as_deref() {
        None | Some("canonical") => crate::students::Format::Canonical,
        Some("edfi") => {
            let path = state.settings.edfi_descriptors.clone();
            let d = web::block(move || crate::students::edfi::Descriptors::load(&path))
                .await
                .map_err(ApiError::internal)?
                .map_err(|e| ApiError::Unavailable(e.to_string()))?;
            crate::students::Format::EdFi(std::sync::Arc::new(d))
        }
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "unknown import format `{other}`; use `canonical` or `edfi`"
            )));
        }
    };
    crate::http::body::check_type(
        &req,
        &[
            "application/x-ndjson",
            "application/jsonl",
            "application/json",
        ],
    )?;
    let rid = crate::http::request_id(&req);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<web::Bytes, actix_web::Error>>(4);
    actix_web::rt::spawn(async move {
        let mut total = crate::students::ImportSummary::default();
        let mut lines = crate::http::body::Lines::new(payload, crate::record::MAX_RECORD_BYTES);
        loop {
            let chunk = match lines.next_chunk(512).await {
                Ok(c) if c.is_empty() => break,
                Ok(c) => c,
                Err(e) => {
                    let _ = tx
                        .send(Ok(web::Bytes::from(
                            json!({"error": e.to_string()}).to_string() + "\n",
                        )))
                        .await;
                    return;
                }
            };
            match state
                .students
                .import_chunk(
                    chunk,
                    &format,
                    state.registry.active(),
                    state.evaluator.clone(),
                    &actor.name,
                    &rid,
                )
                .await
            {
                Ok((s, errors)) => {
                    total.add(&s);
                    if !errors.is_empty()
                        && tx
                            .send(Ok(web::Bytes::from(errors.join("\n") + "\n")))
                            .await
                            .is_err()
                    {
                        return;
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "import failed");
                    let _ = tx
                        .send(Ok(web::Bytes::from(
                            json!({"error": "import stopped; the cause is in the server log"})
                                .to_string()
                                + "\n",
                        )))
                        .await;
                    return;
                }
            }
        }
        tracing::info!(
            imported = total.imported,
            unchanged = total.unchanged,
            rejected = total.rejected,
            flagged = total.flagged,
            "import done"
        );
        let _ = tx
            .send(Ok(web::Bytes::from(
                json!({"summary": total}).to_string() + "\n",
            )))
            .await;
    });
    let body = crate::http::body::ndjson_stream(rx);
    Ok(HttpResponse::Ok()
        .content_type("application/x-ndjson")
        .streaming(body))
}
