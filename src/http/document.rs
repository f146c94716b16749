//! The OpenAPI 3.1 document of the HTTP API (`GET /openapi.json`), assembled by
//! utoipa from the handlers' `#[utoipa::path]` attributes, the schema types in
//! [`super::openapi`], the route table's access (security requirements) and the
//! server's own constants (name, version and id bounds).
//!
//! It sits above `routes` (it lists the handlers); `routes` never calls it: the
//! document is built once at startup and served from the application state.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::access::{BEARER, TableSecurity};
use super::openapi::*;
use super::routes;
use crate::audit::{Entry, Page, VerifyReport};
use crate::engine::{Decision, Flag, Recommendation, RuleError, Strength};
use crate::ndjson::LineError;
use crate::record::{
    Assessment, Attendance, Behavior, Course, FieldProblem, Programs, Record, Sel, Subject,
};
use crate::rules::{Better, Diagnostic, Domain, Intervention, Measure, Param, Severity};
use crate::students::{Envelope, ImportSummary, Outcome, Version};

/// The API as an OpenAPI 3.1 document (see [`document`] for the constraints added from
/// the server's own constants).
#[derive(OpenApi)]
#[openapi(
    info(
        title = "intervene",
        description = "Rules-based intervention recommendations for schools: evaluate student \
records against editable rule sets, keep the latest snapshot of each student from SIS events, \
and keep every decision in a tamper-evident audit log.\n\n\
Errors are `application/problem+json` (RFC 9457). Endpoints with a role need \
`Authorization: Bearer <key>` whose key has that role (or `admin`); a server started with no \
keys configured runs in open local mode (loopback only) and asks for none."
    ),
    paths(
        routes::health::healthz,
        routes::health::readyz,
        routes::health::metrics,
        routes::health::openapi,
        routes::evaluate::evaluate,
        routes::evaluate::batch,
        routes::webhooks::sis,
        routes::students::import,
        routes::students::snapshot,
        routes::students::decisions,
        routes::students::report,
        routes::family::summary,
        routes::notices::list,
        routes::equity::report,
        routes::rules::active,
        routes::lifecycle::check,
        routes::lifecycle::preview,
        routes::lifecycle::publish,
        routes::lifecycle::publish_many,
        routes::lifecycle::reload,
        routes::lifecycle::rollback,
        routes::lifecycle::versions,
        routes::lifecycle::version,
        routes::lifecycle::replay,
        routes::audit::list,
        routes::audit::export,
        routes::audit::verify,
        routes::audit::checkpoint,
        routes::audit::holds,
        routes::audit::place_hold,
        routes::audit::lift_hold,
        routes::caseload::caseload,
        routes::caseload::summary,
        routes::caseload::groups,
        routes::caseload::queue,
        routes::caseload::review,
        routes::plans::open,
        routes::plans::of_student,
        routes::plans::get,
        routes::plans::update,
        routes::plans::progress,
        routes::plans::session,
    ),
    components(
        schemas(
            crate::caseload::ReviewRequest,
            crate::plans::Plan,
            crate::plans::PlanRequest,
            crate::plans::PlanUpdate,
            crate::http::routes::plans::PlanList,
            crate::http::routes::caseload::ListFormat,
            crate::http::routes::caseload::SortName,
            crate::http::routes::caseload::ReviewName,
            crate::http::routes::caseload::NeedsReview,
            crate::http::routes::caseload::GroupByName,
            crate::plans::Goal,
            crate::plans::OpenedFrom,
            crate::plans::Status,
            crate::plans::ProgressPoint,
            crate::plans::SessionRecord,
            crate::app::plans::ProgressRequest,
            crate::app::plans::SessionRequest,
            crate::caseload::review::FlagRequest,
            Record,
            Attendance,
            Course,
            Subject,
            Assessment,
            Behavior,
            Sel,
            Programs,
            FieldProblem,
            Decision,
            Flag,
            Strength,
            Recommendation,
            RuleError,
            Domain,
            Entry,
            Page,
            VerifyReport,
            crate::audit::Gap,
            crate::audit::Checkpoint,
            crate::http::routes::audit::CheckpointView,
            Envelope,
            Outcome,
            Version,
            ImportSummary,
            LineError,
            Diagnostic,
            Severity,
            Intervention,
            Measure,
            Better,
            Param,
            Problem,
            ProblemError,
            Health,
            Ready,
            NotReady,
            DecisionSource,
            SourceKind,
            DecisionHistory,
            DecisionHistoryItem,
            LatestDecision,
            FlagReviewView,
            StudentView,
            RuleView,
            ActiveRuleSet,
            BatchLine,
            ImportLine,
            ImportSummaryLine,
            StreamError,
            crate::http::routes::lifecycle::Candidate,
            PublishRequest,
            crate::lifecycle::PreviewReport,
            crate::lifecycle::RuleImpact,
            crate::lifecycle::TierImpact,
            crate::lifecycle::ReplayReport,
            crate::lifecycle::Difference,
            crate::lifecycle::StoredVersion,
            crate::lifecycle::Activation,
            crate::lifecycle::ReloadStatus,
            CheckResult,
            Activated,
            VersionList,
            VersionSummary,
        ),
        responses(
            BadRequest,
            Unauthorized,
            Forbidden,
            NotFound,
            PayloadTooLarge,
            UnsupportedMediaType,
            InvalidRecord,
            Unprocessable,
            Unavailable,
            PreconditionFailed,
            PreconditionRequired,
            Conflict,
            RuleErrors,
        )
    ),
    modifiers(&SecuritySchemes, &TABLE_SECURITY),
    tags(
        (name = "health", description = "Liveness, readiness, metrics and this document (no auth)"),
        (name = "evaluate", description = "Evaluate student records against the active rule set (role `ingest`)"),
        (name = "webhooks", description = "Signed SIS events (HMAC-SHA256, no bearer key)"),
        (name = "students", description = "Student snapshots, nightly imports and decision history"),
        (name = "rules", description = "The active rule set and its lifecycle: check, preview, publish, reload, roll back, versions (roles `counselor`, `auditor`, `admin`)"),
        (name = "audit", description = "The hash-chained audit log: query, export, verify (role `auditor`)"),
        (name = "plans", description = "Intervention plans with measurable goals, progress points and sessions (roles `counselor`, `auditor`; `ingest` may record progress and sessions)"),
        (name = "caseload", description = "Every student's latest decision, its summary against the MTSS reference, rosters, the review queue, and a person's review of each flag (roles `counselor`, `auditor`)"),
    )
)]
pub struct ApiDoc;

/// The document as JSON (served at `GET /openapi.json`), with the constraints the
/// server enforces on rule-set names and versions taken from the constants it
/// enforces them with (so the two cannot drift).
pub fn document() -> serde_json::Value {
    match serde_json::to_value(ApiDoc::openapi()) {
        Ok(mut doc) => {
            constrain(&mut doc);
            doc
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot serialize the OpenAPI document");
            serde_json::json!({
                "openapi": "3.1.0",
                "info": {"title": "intervene", "version": env!("CARGO_PKG_VERSION")},
                "paths": {}
            })
        }
    }
}

/// A version reference, bare or quoted (`lifecycle::parse_version`).
fn version_schema() -> serde_json::Value {
    serde_json::json!({"type": "string", "pattern": crate::lifecycle::VERSION_PATTERN})
}

/// A rule-set file name (`lifecycle::check_file_name`).
fn file_name_schema() -> serde_json::Value {
    serde_json::json!({
        "type": "string",
        "pattern": crate::lifecycle::FILE_NAME_PATTERN,
        "maxLength": crate::lifecycle::MAX_FILE_NAME_LEN,
    })
}

/// The schema of parameter `name` of `method path`, when the document has it.
fn param_schema<'a>(
    doc: &'a mut serde_json::Value,
    path: &str,
    method: &str,
    name: &str,
) -> Option<&'a mut serde_json::Value> {
    doc.get_mut("paths")?
        .get_mut(path)?
        .get_mut(method)?
        .get_mut("parameters")?
        .as_array_mut()?
        .iter_mut()
        .find(|p| p["name"] == name)
        .map(|p| &mut p["schema"])
}

/// Set the rule-set name and version constraints (see [`document`]).
fn constrain(doc: &mut serde_json::Value) {
    for (path, method) in [
        ("/v1/rules/rollback/{version}", "post"),
        ("/v1/rules/versions/{version}", "get"),
    ] {
        if let Some(s) = param_schema(doc, path, method, "version") {
            *s = version_schema();
        }
    }
    if let Some(s) = param_schema(doc, "/v1/rules/files/{name}", "put", "name") {
        *s = file_name_schema();
    }
    if let Some(s) = param_schema(doc, "/v1/rules/files/{name}", "put", "If-Match") {
        *s = version_schema();
    }
    for (schema, base) in [
        (
            "Candidate",
            serde_json::json!({"oneOf": [version_schema(), {"type": "null"}]}),
        ),
        ("PublishRequest", version_schema()),
    ] {
        let pointer = format!("/components/schemas/{schema}/properties");
        if let Some(props) = doc.pointer_mut(&pointer) {
            props["base_version"] = base;
            props["files"]["propertyNames"] = file_name_schema();
        }
    }
    bound_unsigned_parameters(doc);
    bound_student_id_parameters(doc);
}

/// The student id's length bound on every `student` or `student_id` parameter, from
/// the one constant the rule uses (`record::MAX_STUDENT_ID_LEN`).
fn bound_student_id_parameters(doc: &mut serde_json::Value) {
    let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) else {
        return;
    };
    let ops = paths
        .values_mut()
        .filter_map(|p| p.as_object_mut())
        .flat_map(|p| p.values_mut());
    for params in ops.filter_map(|o| o.get_mut("parameters").and_then(|p| p.as_array_mut())) {
        for p in params
            .iter_mut()
            .filter(|p| p["name"] == "student" || p["name"] == "student_id")
        {
            p["schema"]["maxLength"] = serde_json::json!(crate::record::MAX_STUDENT_ID_LEN);
        }
    }
}

/// A query or path parameter read as an unsigned integer (`usize`, `u64`) takes
/// exactly 0 to 2^64 - 1: say so (utoipa writes `int64`, which stops at 2^63 - 1,
/// or no bound at all), so clients and contract tests know where refusal starts.
fn bound_unsigned_parameters(doc: &mut serde_json::Value) {
    let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) else {
        return;
    };
    for op in paths.values_mut().filter_map(|p| p.as_object_mut()) {
        let params = op
            .values_mut()
            .filter_map(|o| o.get_mut("parameters").and_then(|p| p.as_array_mut()));
        for params in params {
            for schema in params.iter_mut().map(|p| &mut p["schema"]) {
                let integer = schema["type"] == "integer"
                    || schema["type"]
                        .as_array()
                        .is_some_and(|t| t.iter().any(|x| x == "integer"));
                if integer && schema["minimum"] == 0 && schema.get("maximum").is_none() {
                    schema["maximum"] = serde_json::json!(u64::MAX);
                    if let Some(s) = schema.as_object_mut() {
                        s.remove("format");
                    }
                }
            }
        }
    }
}

/// Every route the server registers, as `(method, OpenAPI path)`, from the route
/// table: what the document must describe, method by method.
pub fn served_routes() -> Vec<(String, String)> {
    routes::ROUTES
        .iter()
        .map(|r| (r.method.to_ascii_lowercase(), r.openapi_path()))
        .collect()
}

/// Each operation's security requirements and access note, from the route table.
const TABLE_SECURITY: TableSecurity = TableSecurity(routes::ROUTES);

/// Adds the security schemes (derive(OpenApi) has no attribute for them; which
/// operation needs which role comes from the route table, [`TableSecurity`]) and drops
/// the license utoipa fills from Cargo.toml, which names none (an empty `name` would
/// claim a license without one).
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if openapi
            .info
            .license
            .as_ref()
            .is_some_and(|l| l.name.is_empty())
        {
            openapi.info.license = None;
        }
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "`Authorization: Bearer <key>`. Keys are configured as SHA-256 hashes, \
each with a role: `ingest`, `counselor`, `auditor` or `admin` (admin may call every endpoint). \
The role names in an operation's security requirements are the roles it accepts (any one of \
them). With no keys configured (open local mode) no header is needed.",
                    ))
                    .build(),
            ),
        );
    }
}
