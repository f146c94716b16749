//! The schema types of the OpenAPI document ([`super::document`]): the types the API
//! reads and writes that are not library types, and the reusable error responses.
//!
//! A few handlers build their answer with `json!`; the types below named for those
//! answers ([`StudentView`], [`DecisionHistory`], [`ActiveRuleSet`], …) only describe
//! that shape for the document and are never constructed. So are [`Problem`] (the
//! body `ApiError` renders) and the reusable error responses.

use std::collections::BTreeMap;

use utoipa::{ToResponse, ToSchema};

use crate::engine::Decision;
use crate::ndjson::LineError;
use crate::record::{FieldProblem, Record};
use crate::rules::{Diagnostic, Domain, Intervention, Measure, Param};
use crate::students::{ImportSummary, Version};

// ---------------------------------------------------------------------------------
// Errors

/// An error, as `application/problem+json` (RFC 9457).
#[derive(ToSchema)]
#[schema(examples(json!({
    "type": "https://intervene.example/problems/invalid-record",
    "title": "Invalid student record",
    "status": 422,
    "detail": "attendance.days_present: 70 is more than days_enrolled (64)",
    "errors": [{"field": "attendance.days_present", "problem": "70 is more than days_enrolled (64)"}]
})))]
pub struct Problem {
    /// `https://intervene.example/problems/<slug>`, e.g. `invalid-record`,
    /// `invalid-rules`, `unauthorized`, `forbidden`, `not-found`, `too-large`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong, naming the field or the problem.
    pub detail: String,
    /// For `invalid-record`: every problem by field; for `invalid-rules`: the
    /// diagnostics with file, line, column and hint.
    pub errors: Option<Vec<ProblemError>>,
}

/// One item of a problem's `errors`.
#[derive(ToSchema)]
#[serde(untagged)]
pub enum ProblemError {
    Field(FieldProblem),
    Rule(Diagnostic),
}

/// The request is malformed (query string, path, cursor, body encoding).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct BadRequest(pub Problem);

/// No bearer key, an unknown key, or (webhooks) a bad signature. Audited.
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    headers(("WWW-Authenticate" = String, description = "`Bearer`"))
)]
pub struct Unauthorized(pub Problem);

/// The key's role is not allowed on this endpoint. Audited.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct Forbidden(pub Problem);

/// No such resource.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct NotFound(pub Problem);

/// The body is larger than `max_body_bytes` (refused from `Content-Length` before it is
/// read, or as soon as it grows past the limit).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct PayloadTooLarge(pub Problem);

/// The `Content-Type` is not one this endpoint accepts.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct UnsupportedMediaType(pub Problem);

/// The record is not valid; `errors` names each field and its problem.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct InvalidRecord(pub Problem);

/// The request is well-formed but cannot be processed (an invalid event envelope or
/// event data; `errors` lists record problems when the data is a record section).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct Unprocessable(pub Problem);

/// The service cannot answer this now (e.g. webhooks with no secret configured).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct Unavailable(pub Problem);

// ---------------------------------------------------------------------------------
// Health

/// `GET /healthz`.
#[derive(ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: String,
}

/// `GET /readyz` when ready.
#[derive(ToSchema)]
pub struct Ready {
    #[schema(example = "ready")]
    pub status: String,
    /// The active rule set's version (`sha256:…`).
    pub ruleset_version: String,
    /// Number of rules in the active set.
    pub rules: u64,
    #[schema(example = "open")]
    pub store: String,
    /// Sequence number of the last audit entry.
    pub audit_entries: u64,
    /// The last reload attempt (from the directory watcher or `POST /v1/rules/reload`).
    pub last_reload: Option<crate::lifecycle::ReloadStatus>,
}

/// `GET /readyz` when not ready (`application/problem+json`).
#[derive(ToSchema)]
pub struct NotReady {
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub ruleset_version: String,
}

// ---------------------------------------------------------------------------------
// Students

/// Where the record behind a decision came from.
#[derive(ToSchema)]
pub struct DecisionSource {
    pub kind: SourceKind,
    /// For `event`: the SIS event id.
    pub event_id: Option<String>,
    /// For `event`: the SIS event type.
    pub event_type: Option<String>,
    /// For `import`: the line of the import.
    pub line: Option<u64>,
}

/// `api` (`POST /v1/evaluate` or batch), `event` (SIS webhook) or `import`.
#[derive(ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    Api,
    Event,
    Import,
}

/// `GET /v1/students/{id}/decisions`: decisions, newest first.
#[derive(ToSchema)]
pub struct DecisionHistory {
    pub decisions: Vec<DecisionHistoryItem>,
    /// Pass as `cursor` for the next (older) page; null on the last page.
    pub next_cursor: Option<String>,
}

/// One audited decision.
#[derive(ToSchema)]
pub struct DecisionHistoryItem {
    /// The audit entry's sequence number.
    pub seq: u64,
    /// When it was audited (RFC 3339 UTC).
    pub at: String,
    /// Who caused it (key name, `sis-webhook`, …).
    pub actor: String,
    pub source: DecisionSource,
    /// The `as_of` date of the record decided on, when it had one.
    pub as_of: Option<String>,
    /// The record indicators the decision's record had (`attendance.absence_rate`,
    /// `gpa`, `behavior.office_referrals`, `reading_percentile`, `math_percentile`,
    /// `sel.t_score`, `failing_courses`): name → value. From the record the log
    /// keeps; where `privacy.yaml` masks or hashes part of it, from the inputs of
    /// the decision's flags.
    pub indicators: BTreeMap<String, f64>,
    pub decision: Decision,
    /// Rule id of each flag → its review by the school's team.
    pub reviews: BTreeMap<String, FlagReviewView>,
}

/// The latest audited decision of a student.
#[derive(ToSchema)]
pub struct LatestDecision {
    pub seq: u64,
    pub at: String,
    pub source: DecisionSource,
    pub decision: Decision,
    /// Rule id of each flag → its review by the school's team (carried forward
    /// from earlier decisions while the flag fires at the same tier).
    pub reviews: BTreeMap<String, FlagReviewView>,
}

/// A flag's review state today, and the review when there is one.
#[derive(ToSchema)]
pub struct FlagReviewView {
    /// `unreviewed`, `confirmed`, `dismissed` or `deferred` (a review whose `until`
    /// has passed reads `unreviewed`).
    pub state: String,
    /// Who reviewed it, when, the action, the reason, `until`, and the entries.
    #[schema(value_type = Option<Object>)]
    pub review: Option<serde_json::Value>,
}

/// `GET /v1/students/{id}`: the latest snapshot and decision.
#[derive(ToSchema)]
pub struct StudentView {
    pub student_id: String,
    /// The snapshot as assembled from SIS events and imports.
    pub record: Record,
    /// Part name (`profile`, `attendance`, `sel`, `behavior`, `course:<id>`,
    /// `assessment:<name>|<subject>|<date>`) → the event that last set it.
    pub versions: BTreeMap<String, Version>,
    /// The student's intervention plans, oldest first.
    pub plans: Vec<crate::plans::Plan>,
    pub latest_decision: Option<LatestDecision>,
}

// ---------------------------------------------------------------------------------
// Rules

/// One rule of the active set.
#[derive(ToSchema)]
pub struct RuleView {
    pub id: String,
    pub name: String,
    pub domain: Domain,
    pub tier: u8,
    /// The condition (Rhai) as written.
    pub when: String,
    /// The explanation template as written.
    pub explain: String,
    /// Intervention ids.
    pub recommend: Vec<String>,
    pub references: Vec<String>,
    pub enabled: bool,
    /// The file (relative to the rule-set directory) and line defining the rule.
    pub file: String,
    pub line: u64,
    /// Record fields the condition reads (`student.…`).
    pub reads: Vec<String>,
}

/// `GET /v1/rules`: the active rule set.
#[derive(ToSchema)]
pub struct ActiveRuleSet {
    /// `sha256:<hex>` over the set's files; also the `ETag`.
    pub version: String,
    pub rules: Vec<RuleView>,
    /// Named thresholds by name.
    pub params: BTreeMap<String, Param>,
    pub interventions: Vec<Intervention>,
    /// `measures.yaml`: manual progress measures a plan's goal may name.
    pub measures: Vec<Measure>,
    /// `privacy.yaml`: record field → what the audit log keeps of it (`keep`, `mask`
    /// or `hash`); fields not listed are kept.
    pub privacy: BTreeMap<String, crate::record::privacy::Action>,
    /// Warnings found when the set was loaded.
    pub warnings: Vec<Diagnostic>,
}

// ---------------------------------------------------------------------------------
// Streamed NDJSON lines

/// A line saying the stream stopped early (the cause is in the server log).
#[derive(ToSchema)]
pub struct StreamError {
    pub error: String,
}

/// One line of the `POST /v1/evaluate/batch` answer: the input line's decision, or why
/// the line was refused; a `StreamError` line ends the stream early.
#[derive(ToSchema)]
#[serde(untagged)]
pub enum BatchLine {
    Decision(Decision),
    Error(LineError<'static>),
    Stopped(StreamError),
}

/// The last line of a completed import.
#[derive(ToSchema)]
pub struct ImportSummaryLine {
    pub summary: ImportSummary,
}

/// One line of the `POST /v1/students/import` answer: an error line per refused input
/// line, then one summary line (or a `StreamError` line if the import stopped).
#[derive(ToSchema)]
#[serde(untagged)]
pub enum ImportLine {
    Error(LineError<'static>),
    Summary(ImportSummaryLine),
    Stopped(StreamError),
}

/// The version the request was based on is not the active one.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct PreconditionFailed(pub Problem);

/// The request must name the version it was based on (`If-Match`, `base_version`).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct PreconditionRequired(pub Problem);

/// The server's state does not allow the change (e.g. the rules directory holds a
/// symbolic link a write would go through). Nothing was changed.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct Conflict(pub Problem);

/// The candidate rule set has errors or failing tests; `errors` lists each diagnostic
/// with file, line, column, message and hint. Nothing was changed.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct RuleErrors(pub Problem);

/// The body of `POST /v1/rules/publish`: a candidate whose `base_version` is
/// required (428 without it).
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishRequest {
    /// The version the changes were made from; refused with 412 when another is active.
    pub base_version: String,
    /// File name (`params.yaml`, `lib/x.rhai`, `tests/y.yaml`) → whole new text (`null`
    /// removes the file).
    pub files: BTreeMap<String, Option<String>>,
}

/// `POST /v1/rules/check` on a clean candidate.
#[derive(ToSchema)]
pub struct CheckResult {
    pub ok: bool,
    /// The version the candidate would have.
    pub version: String,
    /// Load warnings, the band analysis's among them (gaps against the active
    /// version, overlaps, shadowed and unreachable rules).
    pub warnings: Vec<Diagnostic>,
    /// Ids of the rules whose conditions the band analysis cannot read.
    pub not_analysed: Vec<String>,
}

/// A rule set activated (publish, reload, rollback).
#[derive(ToSchema)]
pub struct Activated {
    pub version: String,
    pub previous: String,
}

/// `GET /v1/rules/versions`.
#[derive(ToSchema)]
pub struct VersionList {
    pub active: String,
    /// Most recently activated first.
    pub versions: Vec<VersionSummary>,
}

/// A stored version in the list: its files by name only (`GET
/// /v1/rules/versions/{version}` gives their text).
#[derive(ToSchema)]
pub struct VersionSummary {
    pub version: String,
    /// Each activation: when, who, how.
    pub activations: Vec<crate::lifecycle::Activation>,
    /// The names of the version's files.
    pub files: Vec<String>,
}
