//! The rule-file editor: `GET /rules/files/{name}` (a file of the active set in a
//! labelled textarea that works with scripts off), `POST /rules/check` (the same form
//! checked: its problems at their line and column, then its rule tests in words) and
//! `POST /rules/check.json` (the editor's script, as she types: the same check as
//! JSON, for the signed-in user with the page's CSRF token in `X-CSRF-Token`). The
//! JSON API itself never takes the session cookie; the script calls the console.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::{Deserialize, Serialize};

use super::candidate::Candidate;
use super::error::ConsoleError;
use super::layout::Layout;
use super::session::{ConsoleUser, Posted};
use crate::app::AppError;
use crate::app::publish;
use crate::http::AppState;
use crate::lifecycle::LifecycleError;
use crate::rules::Diagnostic;

/// One problem as the editor shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub severity: String,
    pub message: String,
    pub hint: Option<String>,
}

/// What a check found.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Checked {
    /// The candidate loads (its own problems may still be warnings).
    pub loads: bool,
    pub problems: Vec<Problem>,
    pub tests_passed: usize,
    /// Failing rule tests, in words.
    pub test_failures: Vec<String>,
}

fn problem(d: &Diagnostic) -> Problem {
    Problem {
        file: d.file.clone(),
        line: d.line,
        column: d.column,
        severity: if d.is_error() { "error" } else { "warning" }.into(),
        message: d.message.clone(),
        hint: d.hint.clone(),
    }
}

/// Check `file` with `text` against the active set made from `base`: its problems,
/// and when it loads, its rule tests.
async fn check(
    state: &AppState,
    base: &str,
    file: &str,
    text: &str,
) -> Result<Checked, ConsoleError> {
    let c = Candidate {
        base_version: base.to_string(),
        changes: [(file.to_string(), Some(text.replace("\r\n", "\n")))].into(),
        fields: Vec::new(),
    };
    match publish::candidate(state, Some(&c.base_version), &c.changes, false).await {
        Ok(rs) => {
            let mut out = Checked {
                loads: true,
                problems: rs.warnings.iter().map(problem).collect(),
                ..Checked::default()
            };
            let ev = state.evaluator.clone();
            let report = crate::blocking::run(move || crate::ruletest::run(&rs, &ev))
                .await
                .map_err(ConsoleError::internal)?;
            out.problems.extend(report.diagnostics.iter().map(problem));
            out.tests_passed = report.passed;
            out.test_failures = report
                .failures
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
                .collect();
            Ok(out)
        }
        Err(AppError::Lifecycle(LifecycleError::Rejected { diagnostics, .. })) => Ok(Checked {
            loads: false,
            problems: diagnostics.iter().map(problem).collect(),
            ..Checked::default()
        }),
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "console/rules_file.html")]
struct EditorPage {
    layout: Layout,
    file: String,
    text: String,
    version: String,
    js: &'static str,
    checked: Option<Checked>,
    can_check: bool,
}

/// `GET /rules/files/{name}`.
pub async fn page(
    user: ConsoleUser,
    name: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    user.require("GET", "/v1/rules")?;
    crate::lifecycle::check_file_name(&name)
        .map_err(|e| ConsoleError::bad_request(e.to_string()))?;
    let active = state.registry.active();
    let Some(text) = active.files.get(name.as_str()) else {
        return Err(ConsoleError::Page {
            status: StatusCode::NOT_FOUND,
            message: format!("The active rule set has no file `{name}`."),
        });
    };
    render(
        &user,
        name.to_string(),
        text.clone(),
        active.version.clone(),
        None,
        StatusCode::OK,
    )
}

fn render(
    user: &ConsoleUser,
    file: String,
    text: String,
    version: String,
    checked: Option<Checked>,
    status: StatusCode,
) -> Result<HttpResponse, ConsoleError> {
    let html = EditorPage {
        layout: user.layout("/rules"),
        file,
        text,
        version,
        js: super::assets::js_href(),
        checked,
        can_check: user.may("POST", "/v1/rules/check"),
    }
    .render()?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(html))
}

/// The editor's form.
#[derive(Deserialize)]
pub struct FileForm {
    base_version: String,
    file: String,
    text: String,
}

/// `POST /rules/check`: the editor page again, with what the check found.
pub async fn check_form(
    posted: Posted<FileForm>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let Posted { user, form } = posted;
    user.require("POST", "/v1/rules/check")?;
    crate::lifecycle::check_file_name(&form.file)
        .map_err(|e| ConsoleError::bad_request(e.to_string()))?;
    let checked = check(&state, &form.base_version, &form.file, &form.text).await?;
    let status = if checked.problems.iter().any(|p| p.severity == "error")
        || !checked.test_failures.is_empty()
    {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    render(
        &user,
        form.file,
        form.text,
        form.base_version,
        Some(checked),
        status,
    )
}

/// `POST /rules/check.json`: the script's check; the page's CSRF token in
/// `X-CSRF-Token` (a request from another site cannot read it).
pub async fn check_json(
    user: ConsoleUser,
    req: HttpRequest,
    body: web::Json<FileForm>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let sent = req
        .headers()
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !user.csrf_matches(sent) {
        return Err(ConsoleError::forbidden(
            "This check is missing the page's security token. Reload the page.",
        ));
    }
    user.require("POST", "/v1/rules/check")?;
    let form = body.into_inner();
    crate::lifecycle::check_file_name(&form.file)
        .map_err(|e| ConsoleError::bad_request(e.to_string()))?;
    let checked = check(&state, &form.base_version, &form.file, &form.text).await?;
    Ok(HttpResponse::Ok().json(checked))
}
