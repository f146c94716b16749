//! The rule lifecycle over HTTP: check and preview a candidate, publish one file,
//! reload from the directory, roll back, list stored versions, replay a decision.

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use crate::app;
use crate::http::auth::Actor;
use crate::http::error::ApiError;
use crate::http::openapi as doc;
use crate::http::{AppState, body, request_id};
use crate::lifecycle::{self, PreviewReport, ReplayReport, StoredVersion};
use crate::rules::MAX_FILE_BYTES;

/// A candidate rule set: the files changed from `base_version` (`null` removes one).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Candidate {
    /// The version the changes were made from; refused with 412 when another is active.
    pub base_version: Option<String>,
    /// File name (`params.yaml`, `lib/x.rhai`, `tests/y.yaml`) → whole new text.
    pub files: BTreeMap<String, Option<String>>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PreviewQuery {
    /// Page of student ids in each list (from 0).
    pub page: Option<usize>,
    /// Student ids per list (default 100, at most 10,000).
    pub page_size: Option<usize>,
    /// Compare each group of this reporting label (`reporting.ell`) before and after.
    #[param(pattern = "^reporting\\.[a-z][a-z0-9_]{0,31}$")]
    pub by: Option<String>,
}

/// The candidate JSON of a check, preview or publish request.
async fn read_candidate(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> Result<Candidate, ApiError> {
    body::check_type(req, &["application/json"])?;
    let text = body::read_text(
        req,
        payload,
        state.settings.max_body_bytes.max(MAX_FILE_BYTES),
    )
    .await?;
    serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_str(&text)).map_err(|e| {
        let msg = e.inner().to_string();
        ApiError::BadRequest(format!(
            "candidate `{}`: {}",
            e.path(),
            crate::record::without_position(&msg)
        ))
    })
}

/// A publish's answer, with the new version as its ETag.
fn activated(done: app::publish::Activated) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("ETag", format!("\"{}\"", done.version)))
        .json(done)
}

/// Read the candidate and build it (see [`app::publish::candidate`]).
async fn candidate(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    run_tests: bool,
) -> Result<crate::rules::RuleSet, ApiError> {
    let c = read_candidate(req, payload, state).await?;
    let base = c.base_version.as_deref();
    Ok(app::publish::candidate(state, base, &c.files, run_tests).await?)
}

#[utoipa::path(post, path = "/v1/rules/check", tag = "rules", operation_id = "rules_check",
    summary = "Validate a candidate rule set",
    description = "Applies the changed files to the active set, checks it and runs its rule tests. \
Nothing is activated or audited.",
    request_body(content = Candidate, content_type = "application/json"),
    responses(
        (status = 200, description = "The candidate is clean", body = doc::CheckResult),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 412, response = doc::PreconditionFailed),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 422, response = doc::RuleErrors),
    ))]
pub async fn check(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let rs = candidate(&req, payload, &state, true).await?;
    let mut warnings = rs.warnings.clone();
    warnings.extend(crate::rules::family::missing(
        &rs,
        &state.settings.family_languages,
    ));
    Ok(HttpResponse::Ok().json(json!({"ok": true, "version": rs.version, "warnings": warnings, "not_analysed": rs.not_analysed})))
}

#[utoipa::path(post, path = "/v1/rules/preview", tag = "rules", operation_id = "rules_preview",
    summary = "Impact of a candidate on the stored caseload",
    description = "Evaluates the candidate beside the active set for every stored student \
snapshot and reports, per rule and tier, how many students would be newly flagged or cleared, \
with a page of their ids. Nothing is audited as a decision.",
    params(PreviewQuery),
    request_body(content = Candidate, content_type = "application/json"),
    responses(
        (status = 200, description = "The impact", body = PreviewReport),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 412, response = doc::PreconditionFailed),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 422, response = doc::RuleErrors),
    ))]
pub async fn preview(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let q: PreviewQuery = body::query(&req)?;
    if let Some(by) = &q.by
        && crate::caseload::equity::label_name(by).is_none()
    {
        return Err(ApiError::BadRequest(
            "`by` must name a reporting label, like `reporting.ell`".into(),
        ));
    }
    let rs = candidate(&req, payload, &state, false).await?;
    let (page, size) = (
        q.page.unwrap_or(0),
        q.page_size.unwrap_or(100).clamp(1, 10_000),
    );
    let (report, tests) = app::publish::preview_by(&state, rs, page, size, q.by.as_deref()).await?;
    let failures: Vec<String> = tests
        .failures
        .iter()
        .map(|f| {
            format!(
                "{}:{}: {}: {}",
                f.file,
                f.line,
                f.name,
                f.differences.join("; ")
            )
        })
        .collect();
    let mut body = serde_json::to_value(&report).map_err(ApiError::internal)?;
    body["tests"] = json!({"passed": tests.passed, "failed": tests.failed(), "failures": failures});
    Ok(HttpResponse::Ok().json(body))
}

#[utoipa::path(put, path = "/v1/rules/files/{name}", tag = "rules", operation_id = "rules_publish_file",
    summary = "Publish one changed rule-set file",
    description = "The body is the file's whole new text; `If-Match` names the version it was \
edited from. The candidate is checked and its tests run; only then is the file written \
atomically, the set activated and the change audited with the actor and a unified diff.",
    params(("name" = String, Path, description = "`params.yaml`, `attendance.yaml`, `lib/x.rhai`, `tests/y.yaml`"),
        ("If-Match" = String, Header, description = "The version the edit was made from: the ETag of \
`GET /v1/rules`, quoted as given or bare")),
    request_body(description = "The file's whole new text (YAML, or Rhai for `lib/` files), \
taken as it is: any text is a file, and what it holds is checked by the rule-set gate (422)",
        content((serde_json::Value = "application/yaml"), (serde_json::Value = "text/plain"))),
    responses(
        (status = 200, description = "Published and active", body = doc::Activated),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 409, response = doc::Conflict),
        (status = 412, response = doc::PreconditionFailed),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 422, response = doc::RuleErrors),
        (status = 428, response = doc::PreconditionRequired),
    ))]
pub async fn publish(
    actor: Actor,
    req: HttpRequest,
    name: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let name = name.into_inner();
    lifecycle::check_file_name(&name)?;
    let Some(if_match) = req.headers().get("if-match") else {
        return Err(ApiError::PreconditionRequired("send `If-Match: \"<version>\"` with the version the file was edited from (GET /v1/rules gives it as the ETag)".into()));
    };
    let if_match = if_match
        .to_str()
        .map_err(|_| ApiError::BadRequest("`If-Match` is not visible ASCII".into()))?;
    let based_on = lifecycle::parse_version("`If-Match`", if_match)?;
    let text = body::read_text(&req, payload, MAX_FILE_BYTES).await?;
    let changes = BTreeMap::from([(name, Some(text))]);
    let rid = request_id(&req);
    let by = AppState::caller(&actor, &rid);
    let done = app::publish::publish(&state, &changes, &based_on, by).await?;
    Ok(activated(done))
}

#[utoipa::path(post, path = "/v1/rules/publish", tag = "rules", operation_id = "rules_publish",
    summary = "Publish several changed files together",
    description = "Like `PUT /v1/rules/files/{name}` for a candidate of several files (a threshold \
in `params.yaml` and the rule tests that pin it, say), published as one change. `base_version` \
is required (428 without it).",
    request_body(content = doc::PublishRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Published and active", body = doc::Activated),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 409, response = doc::Conflict),
        (status = 412, response = doc::PreconditionFailed),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 422, response = doc::RuleErrors),
        (status = 428, response = doc::PreconditionRequired),
    ))]
pub async fn publish_many(
    actor: Actor,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let c = read_candidate(&req, payload, &state).await?;
    app::publish::check_names(&c.files)?;
    let Some(base) = c.base_version else {
        return Err(ApiError::PreconditionRequired(
            "`base_version` is required: the version the files were edited from".into(),
        ));
    };
    let base = lifecycle::parse_version("`base_version`", &base)?;
    let rid = request_id(&req);
    let by = AppState::caller(&actor, &rid);
    let done = app::publish::publish(&state, &c.files, &base, by).await?;
    Ok(activated(done))
}

#[utoipa::path(post, path = "/v1/rules/reload", tag = "rules", operation_id = "rules_reload",
    summary = "Reload the rule set from its directory",
    description = "Checks the directory and runs its tests; a clean set is activated, a broken one \
leaves the active version serving and is returned as diagnostics (and audited).",
    responses(
        (status = 200, description = "The active version after the reload", body = doc::Activated),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 422, response = doc::RuleErrors),
    ))]
pub async fn reload(
    actor: Actor,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let rid = request_id(&req);
    let done = app::publish::reload(&state, AppState::caller(&actor, &rid)).await?;
    Ok(HttpResponse::Ok().json(done))
}

#[utoipa::path(post, path = "/v1/rules/rollback/{version}", tag = "rules", operation_id = "rules_rollback",
    summary = "Re-activate a stored version",
    description = "Writes the version's files back to the directory, activates it and audits it.",
    params(("version" = String, Path, description = "`sha256:…`, bare or quoted as the ETag")),
    responses(
        (status = 200, description = "Rolled back", body = doc::Activated),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 409, response = doc::Conflict),
        (status = 422, response = doc::RuleErrors),
    ))]
pub async fn rollback(
    actor: Actor,
    req: HttpRequest,
    version: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let version = lifecycle::parse_version("version", &version)?;
    let rid = request_id(&req);
    let by = AppState::caller(&actor, &rid);
    let done = app::publish::rollback(&state, &version, by).await?;
    Ok(HttpResponse::Ok().json(done))
}

#[utoipa::path(get, path = "/v1/rules/versions", tag = "rules", operation_id = "rules_versions",
    summary = "Every version that was ever active",
    description = "Most recently activated first, with who activated each and when (files left out).",
    responses(
        (status = 200, description = "The versions", body = doc::VersionList),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
    ))]
pub async fn versions(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let list = app::publish::versions(&state).await?;
    let items: Vec<_> = list.iter().map(|v| json!({"version": v.version, "activations": v.activations, "files": v.files.keys().collect::<Vec<_>>()})).collect();
    Ok(HttpResponse::Ok()
        .json(json!({"active": state.registry.active().version, "versions": items})))
}

#[utoipa::path(get, path = "/v1/rules/versions/{version}", tag = "rules", operation_id = "rules_version",
    summary = "One stored version with its files",
    params(("version" = String, Path, description = "`sha256:…`, bare or quoted as the ETag")),
    responses(
        (status = 200, description = "The version", body = StoredVersion),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
    ))]
pub async fn version(
    version: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let v = lifecycle::parse_version("version", &version)?;
    match app::publish::version(&state, v.clone()).await? {
        Some(s) => Ok(HttpResponse::Ok().json(s)),
        None => Err(ApiError::NotFound(format!(
            "version `{v}` was never active here"
        ))),
    }
}

#[utoipa::path(get, path = "/v1/audit/{seq}/replay", tag = "audit", operation_id = "audit_replay",
    summary = "Re-evaluate a logged decision",
    description = "Re-evaluates the decision under the rule version it names, from the inputs \
the log kept, and reports whether the result is identical (or the differences). The read is \
itself audited (`student.accessed`).",
    params(("seq" = u64, Path, description = "The decision's sequence number")),
    responses(
        (status = 200, description = "The replay", body = ReplayReport),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
    ))]
pub async fn replay(
    actor: Actor,
    req: HttpRequest,
    seq: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let seq: u64 = seq
        .parse()
        .map_err(|_| ApiError::BadRequest(format!("`{seq}` is not a sequence number")))?;
    let rid = request_id(&req);
    let report = app::reads::replay(&state, AppState::caller(&actor, &rid), seq).await?;
    Ok(HttpResponse::Ok().json(report))
}
