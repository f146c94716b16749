//! The audit page (`GET /audit`): the log newest first with the filters of
//! `GET /v1/audit` (parsed by the same `parse_query`), paged by the cursor; the
//! legal holds in force with, for admins, forms to place and lift one; and the
//! pages it links to: the chain's verification (`GET /audit/verify`), the replay
//! of one decision (`GET /audit/{seq}/replay`) and the NDJSON export
//! (`GET /audit/export.ndjson`).
//!
//! Every read goes through the use case the API's route calls (`audit_page`,
//! `verify`, `replay`, `holds`, `start_export`), so it is recorded for the
//! signed-in person as the API's is; holds are placed and lifted by the store calls
//! of `PUT`/`DELETE /v1/audit/holds/{student_id}`, which audit them.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use askama::Template;
use serde::Deserialize;
use serde_json::Value;

use super::caseload::path_segment;
use super::error::ConsoleError;
use super::layout::Layout;
use super::page;
use super::session::{ConsoleUser, Posted};
use crate::app::reads;
use crate::audit::{Entry, EntryKind};
use crate::http::error::ApiError;
use crate::http::routes::audit::{AuditQuery, export_stream, hold_reason, parse_query};
use crate::http::{AppState, request_id};
use crate::record::StudentId;

/// The API route whose roles may see the audit page.
const API: &str = "/v1/audit";
/// The API route whose roles may place and lift holds.
const HOLD_API: &str = "/v1/audit/holds/{student_id}";
/// Entries per page when the query does not say.
const PAGE: usize = 50;
/// Longest summary shown for an entry, in characters.
const SUMMARY: usize = 200;

/// The audit pages' routes (one line of `console::configure`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(page("/audit").route(web::get().to(list)))
        .service(page("/audit/verify").route(web::get().to(verify)))
        .service(page("/audit/export.ndjson").route(web::get().to(export)))
        .service(page("/audit/{seq}/replay").route(web::get().to(replay)))
        .service(page("/audit/holds").route(web::post().to(place_hold)))
        .service(page("/audit/holds/lift").route(web::post().to(lift_hold)));
}

/// An API error as a console page: a client error's message is shown, a server
/// fault is logged and shown without its detail.
fn from_api(e: ApiError) -> ConsoleError {
    let status = e.status_code();
    if status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE {
        return ConsoleError::internal(e);
    }
    ConsoleError::Page {
        status,
        message: e.to_string(),
    }
}

fn html(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body)
}

/// The query's pairs without empty values (a form sends its empty fields).
fn pairs(req: &HttpRequest) -> Result<Vec<(String, String)>, String> {
    let all: Vec<(String, String)> = serde_urlencoded::from_str(req.query_string())
        .map_err(|e| format!("The filter could not be read: {e}"))?;
    Ok(all.into_iter().filter(|(_, v)| !v.is_empty()).collect())
}

fn query_string(pairs: &[(String, String)]) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        q.append_pair(k, v);
    }
    q.finish()
}

/// The filter form as the request filled it.
struct FilterForm {
    student: String,
    rule: String,
    kind: String,
    from: String,
    to: String,
    /// `limit` as asked, kept as a hidden field.
    limit: Option<String>,
}

impl FilterForm {
    fn of(pairs: &[(String, String)]) -> FilterForm {
        let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        FilterForm {
            student: get("student").unwrap_or_default(),
            rule: get("rule").unwrap_or_default(),
            kind: get("kind").unwrap_or_default(),
            from: get("from").unwrap_or_default(),
            to: get("to").unwrap_or_default(),
            limit: get("limit"),
        }
    }
}

/// One entry of the log as the page shows it.
struct EntryView {
    seq: u64,
    at: String,
    kind: String,
    actor: String,
    student: Option<String>,
    /// The student page's link, when the reader may open it.
    student_href: Option<String>,
    summary: String,
    /// The replay page, for a decision that still holds its inputs.
    replay: bool,
}

/// A legal hold as the page shows it.
struct HoldView {
    student: String,
    reason: String,
    by: String,
    since: String,
}

#[derive(Template)]
#[template(path = "console/audit.html")]
struct AuditPage {
    layout: Layout,
    filter: FilterForm,
    kinds: Vec<&'static str>,
    /// Why the filter could not be used (the page is then a 400).
    error: Option<String>,
    entries: Vec<EntryView>,
    /// "Older entries": this filter from the next cursor.
    older: Option<String>,
    /// Whether this page is past the first (a link back to the newest).
    paged: bool,
    can_verify: bool,
    can_export: bool,
    holds: Option<Vec<HoldView>>,
    can_hold: bool,
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "none".into(),
        other => other.to_string(),
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().map(text).collect())
        .unwrap_or_default()
}

fn shorten(s: String) -> String {
    if s.chars().count() <= SUMMARY {
        return s;
    }
    let mut out: String = s.chars().take(SUMMARY).collect();
    out.push('…');
    out
}

/// A short account of what entry `e` records.
fn summary(e: &Entry) -> String {
    if let Some(by) = e.purged_by {
        return format!("removed by the retention purge in entry {by}");
    }
    let p = &e.payload;
    let s = match &e.kind {
        EntryKind::Decision => {
            let fired = e.rule_ids();
            if fired.is_empty() {
                "no rule fired".to_string()
            } else {
                format!("fired: {}", fired.join(", "))
            }
        }
        EntryKind::DecisionReviewed => {
            let actions: Vec<String> = p["flags"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|f| format!("{} {}", text(&f["action"]), text(&f["rule_id"])))
                .collect();
            format!(
                "{} (decision {})",
                actions.join(", "),
                text(&p["decision_seq"])
            )
        }
        EntryKind::StudentAccessed => match p["read"].as_str() {
            Some("audit") => "read the student's audit entries".to_string(),
            Some("replay") => format!("replayed decision {}", text(&p["seq"])),
            _ => format!("read the student's {}", text(&p["read"])),
        },
        EntryKind::AuditRead => format!("read {} entries of the log", text(&p["entries"])),
        EntryKind::AuditExported => {
            format!("exported the log through entry {}", text(&p["through_seq"]))
        }
        EntryKind::AuditHoldPlaced => format!("hold placed: {}", text(&p["reason"])),
        EntryKind::AuditHoldLifted => "hold lifted".to_string(),
        EntryKind::CaseloadRead => {
            format!(
                "read the caseload ({} students)",
                strings(&p["students"]).len()
            )
        }
        _ => match p {
            Value::Object(m) if m.is_empty() => String::new(),
            Value::Null => String::new(),
            other => other.to_string(),
        },
    };
    shorten(s)
}

fn entry_view(e: &Entry, student_link: bool) -> EntryView {
    let student = e.student_id().map(str::to_string);
    EntryView {
        seq: e.seq,
        at: e.at.clone(),
        kind: e.kind.to_string(),
        actor: e.actor.clone(),
        student_href: student
            .as_deref()
            .filter(|_| student_link)
            .map(|s| format!("/students/{}", path_segment(s))),
        student,
        summary: summary(e),
        replay: e.kind == EntryKind::Decision && e.purged_by.is_none(),
    }
}

/// A page of the log as `audit_page` answers it.
#[derive(Deserialize)]
struct LogPage {
    entries: Vec<Entry>,
    next_cursor: Option<String>,
}

/// `GET /audit`.
pub async fn list(
    user: ConsoleUser,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    user.require("GET", API)?;
    let rid = request_id(&req);
    let by = user.caller(&rid);
    let pairs = pairs(&req);
    let filter = FilterForm::of(pairs.as_deref().unwrap_or_default());
    let parsed = pairs.and_then(|p| {
        let q: AuditQuery = serde_urlencoded::from_str(&query_string(&p))
            .map_err(|e| format!("The filter could not be read: {e}"))?;
        let (mut query, student, filter) = parse_query(q).map_err(|e| e.to_string())?;
        if filter_limit_absent(&p) {
            query.limit = PAGE;
        }
        Ok((query, student, filter, p))
    });
    let student_link = user.may("GET", "/v1/students/{id}/decisions");
    let (status, error, entries, older, paged) = match parsed {
        Ok((query, student, audited, p)) => {
            let paged = query.before.is_some();
            let body = reads::audit_page(&state, by, query, student.as_ref(), audited).await?;
            let log: LogPage = serde_json::from_str(&body).map_err(ConsoleError::internal)?;
            let older = log.next_cursor.map(|c| {
                let mut next: Vec<(String, String)> =
                    p.into_iter().filter(|(k, _)| k != "cursor").collect();
                next.push(("cursor".into(), c));
                format!("/audit?{}", query_string(&next))
            });
            let entries = log
                .entries
                .iter()
                .map(|e| entry_view(e, student_link))
                .collect();
            (StatusCode::OK, None, entries, older, paged)
        }
        Err(message) => (
            StatusCode::BAD_REQUEST,
            Some(message),
            Vec::new(),
            None,
            false,
        ),
    };
    let holds = if user.may("GET", "/v1/audit/holds") {
        Some(
            reads::holds(&state.store)
                .await?
                .into_iter()
                .map(|h| HoldView {
                    student: h.student_id,
                    reason: h.reason,
                    by: h.placed_by,
                    since: h.placed_at,
                })
                .collect(),
        )
    } else {
        None
    };
    let body = AuditPage {
        layout: user.layout("/audit"),
        filter,
        kinds: EntryKind::known().iter().map(EntryKind::as_str).collect(),
        error,
        entries,
        older,
        paged,
        can_verify: user.may("GET", "/v1/audit/verify"),
        can_export: user.may("GET", "/v1/audit/export"),
        holds,
        can_hold: user.may("PUT", HOLD_API) && user.may("DELETE", HOLD_API),
    }
    .render()?;
    Ok(html(status, body))
}

/// Whether the query leaves the page size to the console.
fn filter_limit_absent(pairs: &[(String, String)]) -> bool {
    !pairs.iter().any(|(k, _)| k == "limit")
}

#[derive(Template)]
#[template(path = "console/audit_verify.html")]
struct VerifyPage {
    layout: Layout,
    ok: bool,
    entries: u64,
    head_hash: String,
    first_bad_seq: Option<u64>,
    problem: Option<String>,
    /// Entries known lost, each as "entries A to B (recorded in entry N)".
    gaps: Vec<String>,
}

/// `GET /audit/verify`: check the chain and say what was found.
pub async fn verify(
    user: ConsoleUser,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    user.require("GET", "/v1/audit/verify")?;
    let report = reads::verify(&state.store).await?;
    let gaps = report
        .recorded_gaps
        .iter()
        .map(|g| {
            format!(
                "entries {} to {}, recorded as lost in entry {}",
                g.from, g.through, g.recorded_at
            )
        })
        .collect();
    let body = VerifyPage {
        layout: user.layout("/audit"),
        ok: report.ok,
        entries: report.entries,
        head_hash: report.head_hash,
        first_bad_seq: report.first_bad_seq,
        problem: report.problem,
        gaps,
    }
    .render()?;
    Ok(html(StatusCode::OK, body))
}

/// One differing part of a replayed decision.
struct DifferenceView {
    field: String,
    logged: String,
    replayed: String,
}

#[derive(Template)]
#[template(path = "console/audit_replay.html")]
struct ReplayPage {
    layout: Layout,
    seq: u64,
    decision_id: String,
    ruleset_version: String,
    identical: bool,
    differences: Vec<DifferenceView>,
    student: String,
    student_href: Option<String>,
}

/// `GET /audit/{seq}/replay`: re-evaluate the decision and show what differs.
pub async fn replay(
    user: ConsoleUser,
    req: HttpRequest,
    seq: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    user.require("GET", "/v1/audit/{seq}/replay")?;
    let seq: u64 = seq
        .parse()
        .map_err(|_| ConsoleError::bad_request(format!("`{seq}` is not a sequence number.")))?;
    let rid = request_id(&req);
    let report = reads::replay(&state, user.caller(&rid), seq).await?;
    let student = report.replayed.student_id.clone();
    let body = ReplayPage {
        layout: user.layout("/audit"),
        seq: report.seq,
        decision_id: report.decision_id,
        ruleset_version: report.ruleset_version,
        identical: report.identical,
        differences: report
            .differences
            .into_iter()
            .map(|d| DifferenceView {
                field: d.field,
                logged: d.logged.to_string(),
                replayed: d.replayed.to_string(),
            })
            .collect(),
        student_href: user
            .may("GET", "/v1/students/{id}/decisions")
            .then(|| format!("/students/{}", path_segment(&student))),
        student,
    }
    .render()?;
    Ok(html(StatusCode::OK, body))
}

/// `GET /audit/export.ndjson`: the whole log, oldest first, streamed as the API's
/// export is (recorded as `audit.exported` before the first line).
pub async fn export(
    user: ConsoleUser,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    user.require("GET", "/v1/audit/export")?;
    let rid = request_id(&req);
    reads::start_export(&state, user.caller(&rid)).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/x-ndjson")
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"audit-log.ndjson\"",
        ))
        .streaming(export_stream(state.store.clone())))
}

/// The hold form's fields.
#[derive(Deserialize)]
pub struct HoldForm {
    student_id: String,
    #[serde(default)]
    reason: String,
}

fn student(raw: &str) -> Result<StudentId, ConsoleError> {
    StudentId::parse(raw.trim())
        .map_err(|e| ConsoleError::bad_request(format!("The student id {e}.")))
}

fn back_to_holds() -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/audit#holds-h"))
        .finish()
}

/// `POST /audit/holds`: place a legal hold, as `PUT /v1/audit/holds/{student_id}`.
pub async fn place_hold(
    posted: Posted<HoldForm>,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let Posted { user, form } = posted;
    user.require("PUT", HOLD_API)?;
    let student = student(&form.student_id)?;
    let reason = hold_reason(&form.reason).map_err(from_api)?;
    state
        .store
        .place_hold(student.as_str(), reason, &user.name, &request_id(&req))
        .await
        .map_err(|e| from_api(e.into()))?;
    tracing::info!(actor = %user.name, "legal hold placed");
    Ok(back_to_holds())
}

/// `POST /audit/holds/lift`: lift a legal hold, as `DELETE /v1/audit/holds/{student_id}`.
pub async fn lift_hold(
    posted: Posted<HoldForm>,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let Posted { user, form } = posted;
    user.require("DELETE", HOLD_API)?;
    let student = student(&form.student_id)?;
    let lifted = state
        .store
        .lift_hold(student.as_str(), &user.name, &request_id(&req))
        .await
        .map_err(|e| from_api(e.into()))?;
    if !lifted {
        return Err(ConsoleError::Page {
            status: StatusCode::NOT_FOUND,
            message: format!("There is no legal hold on student {student}."),
        });
    }
    tracing::info!(actor = %user.name, "legal hold lifted");
    Ok(back_to_holds())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(kind: &str, payload: Value) -> Entry {
        Entry {
            seq: 7,
            kind: EntryKind::parse(kind),
            at: "2026-11-20T00:00:00.000Z".into(),
            actor: "amy".into(),
            request_id: "r".into(),
            payload,
            purged_by: None,
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    #[test]
    fn a_summary_names_what_fired_what_was_reviewed_and_cuts_long_payloads() {
        let d = entry(
            "decision",
            json!({"student_id": "S1", "rule_ids": ["a", "b"]}),
        );
        assert_eq!(summary(&d), "fired: a, b");
        let none = entry("decision", json!({"student_id": "S1", "rule_ids": []}));
        assert_eq!(summary(&none), "no rule fired");
        let r = entry(
            "decision.reviewed",
            json!({"decision_seq": 3, "flags": [{"rule_id": "a", "action": "dismiss"}]}),
        );
        assert_eq!(summary(&r), "dismiss a (decision 3)");
        let long = entry("some.kind", json!({"x": "y".repeat(500)}));
        let s = summary(&long);
        assert_eq!(s.chars().count(), SUMMARY + 1);
        assert!(s.ends_with('…'));
        let mut purged = d.clone();
        purged.purged_by = Some(9);
        assert!(summary(&purged).contains("entry 9"));
        assert!(!entry_view(&purged, true).replay);
        assert!(entry_view(&d, true).replay);
        assert_eq!(
            entry_view(&d, true).student_href.as_deref(),
            Some("/students/S1")
        );
        assert_eq!(entry_view(&d, false).student_href, None);
    }
}
