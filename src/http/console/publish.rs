//! Changing the rules from the console: `POST /rules/preview` (what a candidate would
//! change over the stored caseload, with its rule tests and its diff, before anything
//! is published), `POST /rules/publish` (with the version the change was made from;
//! someone else's publish in between is shown as the difference), `GET
//! /rules/versions/{version}` (who activated it, when, how, and its diff) and `POST
//! /rules/rollback/{version}` (admins). The same use cases as `/v1/rules/*`, checked
//! by the same route table.

use std::collections::BTreeMap;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use super::candidate::{self, Candidate, FieldError};
use super::error::ConsoleError;
use super::layout::Layout;
use super::session::{ConsoleUser, Posted};
use crate::app::AppError;
use crate::app::publish;
use crate::http::{AppState, request_id};
use crate::lifecycle::{LifecycleError, PreviewReport, diff_files};
use crate::rules::Diagnostic;
use crate::ruletest::Report;

/// Student ids shown per rule and direction.
const IDS: usize = 50;

struct Impact {
    rule_id: String,
    tier: u8,
    newly: u64,
    cleared: u64,
    newly_ids: Vec<String>,
    cleared_ids: Vec<String>,
}

#[derive(Template)]
#[template(path = "console/rules_preview.html")]
struct PreviewPage {
    layout: Layout,
    /// `preview`, `stale`, `refused` or `invalid`.
    mode: &'static str,
    base_version: String,
    active_version: String,
    fields: Vec<(String, String)>,
    field_errors: Vec<(String, String)>,
    diagnostics: Vec<String>,
    students: u64,
    changed: u64,
    complete: bool,
    impacts: Vec<Impact>,
    tiers: Vec<(String, u64, u64)>,
    passed: usize,
    failures: Vec<String>,
    diff: String,
    can_publish: bool,
}

impl PreviewPage {
    fn new(user: &ConsoleUser, mode: &'static str, c: Option<&Candidate>, active: &str) -> Self {
        PreviewPage {
            layout: user.layout("/rules"),
            mode,
            base_version: c.map(|c| c.base_version.clone()).unwrap_or_default(),
            active_version: active.to_string(),
            fields: c.map(|c| c.fields.clone()).unwrap_or_default(),
            field_errors: Vec::new(),
            diagnostics: Vec::new(),
            students: 0,
            changed: 0,
            complete: true,
            impacts: Vec::new(),
            tiers: Vec::new(),
            passed: 0,
            failures: Vec::new(),
            diff: String::new(),
            can_publish: false,
        }
    }

    fn answer(self, status: StatusCode) -> Result<HttpResponse, ConsoleError> {
        Ok(HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .body(self.render()?))
    }
}

fn located(d: &Diagnostic) -> String {
    let mut s = format!("{}:{}:{}: {}", d.file, d.line, d.column, d.message);
    if let Some(h) = &d.hint {
        s.push_str(&format!(" ({h})"));
    }
    s
}

fn test_lines(r: &Report) -> Vec<String> {
    r.failures
        .iter()
        .map(|f| {
            format!(
                "{}:{} “{}”: {}",
                f.file,
                f.line,
                f.name,
                f.differences.join("; ")
            )
        })
        .chain(r.diagnostics.iter().filter(|d| d.is_error()).map(located))
        .collect()
}

/// The files of the active set with `changes` applied.
fn changed_files(
    active: &BTreeMap<String, String>,
    changes: &BTreeMap<String, Option<String>>,
) -> BTreeMap<String, String> {
    let mut files = active.clone();
    for (k, v) in changes {
        match v {
            Some(t) => files.insert(k.clone(), t.clone()),
            None => files.remove(k),
        };
    }
    files
}

/// The "someone else published" page when the form was made from a version that is
/// no longer active (checked before its values, which are compared with the active
/// set).
async fn stale(
    user: &ConsoleUser,
    form: &[(String, String)],
    state: &AppState,
) -> Option<Result<HttpResponse, ConsoleError>> {
    let raw = form.iter().find(|(k, _)| k == "base_version")?.1.as_str();
    let base = crate::lifecycle::parse_version("base_version", raw).ok()?;
    let active = state.registry.active().version.clone();
    if base == active {
        return None;
    }
    let mut page = PreviewPage::new(user, "stale", None, &active);
    page.base_version = base.clone();
    page.fields = form.iter().filter(|(k, _)| k != "csrf").cloned().collect();
    let e = AppError::Lifecycle(LifecycleError::Stale {
        based_on: base,
        active,
    });
    Some(failed(page, e, state).await)
}

/// The page that says what is wrong with a form.
fn invalid(
    user: &ConsoleUser,
    errors: Vec<FieldError>,
    state: &AppState,
) -> Result<HttpResponse, ConsoleError> {
    let mut page = PreviewPage::new(user, "invalid", None, &state.registry.active().version);
    page.field_errors = errors.into_iter().map(|e| (e.name, e.message)).collect();
    page.answer(StatusCode::UNPROCESSABLE_ENTITY)
}

/// `POST /rules/preview`.
pub async fn preview(
    posted: Posted<Vec<(String, String)>>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let Posted { user, form } = posted;
    user.require("POST", "/v1/rules/preview")?;
    if let Some(page) = stale(&user, &form, &state).await {
        return page;
    }
    let c = match candidate::read(&form, &state.registry.active()) {
        Ok(c) => c,
        Err(errors) => return invalid(&user, errors, &state),
    };
    let active = state.registry.active();
    let mut page = PreviewPage::new(&user, "preview", Some(&c), &active.version);
    page.diff = diff_files(&active.files, &changed_files(&active.files, &c.changes));
    let rs = match publish::candidate(&state, Some(&c.base_version), &c.changes, false).await {
        Ok(rs) => rs,
        Err(e) => return failed(page, e, &state).await,
    };
    let (report, tests): (PreviewReport, Report) = publish::preview(&state, rs, 0, IDS).await?;
    page.students = report.students;
    page.changed = report.students_changed;
    page.complete = report.complete;
    page.impacts = report
        .rules
        .into_iter()
        .filter(|r| r.newly_flagged > 0 || r.cleared > 0)
        .map(|r| Impact {
            rule_id: r.rule_id,
            tier: r.tier,
            newly: r.newly_flagged,
            cleared: r.cleared,
            newly_ids: r.newly_flagged_ids,
            cleared_ids: r.cleared_ids,
        })
        .collect();
    page.tiers = report
        .tiers
        .into_iter()
        .filter(|t| t.raised > 0 || t.lowered > 0)
        .map(|t| {
            (
                super::caseload::domain_label(t.domain).to_string(),
                t.raised,
                t.lowered,
            )
        })
        .collect();
    page.passed = tests.passed;
    page.failures = test_lines(&tests);
    page.diagnostics = report
        .candidate_rule_errors
        .iter()
        .map(|(rule, n)| format!("rule `{rule}` failed for {n} student(s)"))
        .collect();
    page.can_publish =
        tests.ok() && page.diagnostics.is_empty() && user.may("POST", "/v1/rules/publish");
    page.answer(StatusCode::OK)
}

/// The page for a candidate the lifecycle refused: stale base, errors, failing tests.
async fn failed(
    mut page: PreviewPage,
    e: AppError,
    state: &AppState,
) -> Result<HttpResponse, ConsoleError> {
    match e {
        AppError::Lifecycle(LifecycleError::Stale { based_on, active }) => {
            page.mode = "stale";
            let base = publish::version(state, based_on.clone()).await?;
            let now = publish::version(state, active.clone()).await?;
            page.diff = match (base, now) {
                (Some(b), Some(n)) => diff_files(&b.files, &n.files),
                _ => format!("(version {based_on} is not stored here)"),
            };
            page.active_version = active;
            page.answer(StatusCode::CONFLICT)
        }
        AppError::Lifecycle(LifecycleError::Rejected { diagnostics, .. }) => {
            page.mode = "refused";
            page.diagnostics = diagnostics
                .iter()
                .filter(|d| d.is_error())
                .map(located)
                .collect();
            page.answer(StatusCode::UNPROCESSABLE_ENTITY)
        }
        other => Err(other.into()),
    }
}

/// `POST /rules/publish`.
pub async fn publish_change(
    posted: Posted<Vec<(String, String)>>,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let Posted { user, form } = posted;
    user.require("POST", "/v1/rules/publish")?;
    if let Some(page) = stale(&user, &form, &state).await {
        return page;
    }
    let c = match candidate::read(&form, &state.registry.active()) {
        Ok(c) => c,
        Err(errors) => return invalid(&user, errors, &state),
    };
    let rid = request_id(&req);
    let active = state.registry.active();
    match publish::publish(&state, &c.changes, &c.base_version, user.caller(&rid)).await {
        Ok(done) => Ok(see_version(&done.version)),
        Err(e) => {
            let mut page = PreviewPage::new(&user, "refused", Some(&c), &active.version);
            page.diff = diff_files(&active.files, &changed_files(&active.files, &c.changes));
            failed(page, e, &state).await
        }
    }
}

fn see_version(version: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, format!("/rules/versions/{version}")))
        .finish()
}

#[derive(Template)]
#[template(path = "console/rules_version.html")]
struct VersionPage {
    layout: Layout,
    version: String,
    active: bool,
    activations: Vec<(String, String, String)>,
    previous: Option<String>,
    diff: String,
    can_rollback: bool,
}

/// `GET /rules/versions/{version}`.
pub async fn version(
    user: ConsoleUser,
    v: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    user.require("GET", "/v1/rules/versions/{version}")?;
    let all = publish::versions(&state).await?;
    let wanted = crate::lifecycle::parse_version("the version in the path", &v)
        .map_err(|e| ConsoleError::bad_request(e.to_string()))?;
    let Some(at) = all.iter().position(|s| s.version == wanted) else {
        return Err(ConsoleError::Page {
            status: StatusCode::NOT_FOUND,
            message: format!("Version {wanted} was never active here."),
        });
    };
    let this = &all[at];
    // The version activated before this one's first activation.
    let first = this
        .activations
        .first()
        .map(|a| a.at.clone())
        .unwrap_or_default();
    let previous = all
        .iter()
        .filter(|s| s.version != this.version)
        .filter_map(|s| {
            let before = s
                .activations
                .iter()
                .filter(|a| a.at < first)
                .map(|a| &a.at)
                .max()?;
            Some((before.clone(), s))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, s)| s);
    let diff = match previous {
        Some(p) => diff_files(&p.files, &this.files),
        None => String::new(),
    };
    let active = state.registry.active().version.clone();
    let html = VersionPage {
        layout: user.layout("/rules"),
        version: this.version.clone(),
        active: this.version == active,
        activations: this
            .activations
            .iter()
            .map(|a| {
                (
                    a.at.clone(),
                    a.actor.clone(),
                    format!("{:?}", a.how).to_lowercase(),
                )
            })
            .collect(),
        previous: previous.map(|p| p.version.clone()),
        diff,
        can_rollback: this.version != active && user.may("POST", "/v1/rules/rollback/{version}"),
    }
    .render()?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(html))
}

/// `POST /rules/rollback/{version}` (admins).
pub async fn rollback(
    posted: Posted<Vec<(String, String)>>,
    req: HttpRequest,
    v: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let Posted { user, .. } = posted;
    user.require("POST", "/v1/rules/rollback/{version}")?;
    let rid = request_id(&req);
    let done = publish::rollback(&state, &v, user.caller(&rid)).await?;
    Ok(see_version(&done.version))
}
