//! The caseload, its summary, rosters, the review queue and reviews (see
//! [`crate::app::caseload`]). Lists answer JSON, or CSV with `Accept: text/csv` or
//! `?format=csv`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use super::students::{IN_PATH, student_id};
use crate::app::caseload::{self as use_case, Format, List};
use crate::caseload::ReviewRequest;
use crate::http::auth::Actor;
use crate::http::error::ApiError;
use crate::http::openapi as doc;
use crate::http::{AppState, request_id};

/// Query pairs as sent, without `format`, and the format asked for (the `format`
/// parameter wins over `Accept`).
fn pairs_and_format(req: &HttpRequest) -> Result<(Vec<(String, String)>, Format), ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(req.query_string())
        .map_err(|e| ApiError::BadRequest(format!("query string: {e}")))?;
    let mut format = None;
    let mut rest = Vec::with_capacity(pairs.len());
    for (k, v) in pairs {
        if k == "format" {
            if format.is_some() {
                return Err(ApiError::BadRequest("`format` is given twice".into()));
            }
            format = Some(match v.as_str() {
                "json" => Format::Json,
                "csv" => Format::Csv,
                _ => {
                    return Err(ApiError::BadRequest(
                        "`format` must be one of json, csv".into(),
                    ));
                }
            });
        } else {
            rest.push((k, v));
        }
    }
    let accept_csv = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.split(',').any(|t| t.trim().starts_with("text/csv")));
    let format = format.unwrap_or(if accept_csv {
        Format::Csv
    } else {
        Format::Json
    });
    Ok((rest, format))
}

/// Answer one of the reads that name students, as JSON or CSV. A page with a next
/// one links to it (`Link: <…>; rel="next"`, RFC 8288), which is how a CSV page,
/// whose body has no room for `next_cursor`, says that more students follow.
async fn listing(
    actor: Actor,
    req: HttpRequest,
    state: web::Data<AppState>,
    list: List,
    file: &str,
) -> Result<HttpResponse, ApiError> {
    let (pairs, format) = pairs_and_format(&req)?;
    let rid = request_id(&req);
    let by = AppState::caller(&actor, &rid);
    let listing = use_case::list(&state, by, list, pairs, req.query_string(), format).await?;
    let mut answer = HttpResponse::Ok();
    if let Some(cursor) = &listing.next_cursor {
        answer.insert_header((header::LINK, next_link(&req, cursor)));
    }
    Ok(match format {
        Format::Json => answer.content_type("application/json").body(listing.body),
        Format::Csv => answer
            .content_type("text/csv; charset=utf-8")
            .insert_header((
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file}.csv\""),
            ))
            .body(listing.body),
    })
}

/// `<path?query>; rel="next"`: the request's query with `cursor` set to `cursor`.
fn next_link(req: &HttpRequest, cursor: &str) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form_urlencoded::parse(req.query_string().as_bytes()) {
        if k != "cursor" {
            query.append_pair(&k, &v);
        }
    }
    query.append_pair("cursor", cursor);
    format!("<{}?{}>; rel=\"next\"", req.path(), query.finish())
}

/// The names a list is answered in (documentation of `format`).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "snake_case")]
pub enum ListFormat {
    Json,
    Csv,
}

/// The orders of a caseload page (documentation of `sort`).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "snake_case")]
pub enum SortName {
    Student,
    Tier,
    EvaluatedAt,
}

/// Review states (documentation of `review`).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "snake_case")]
pub enum ReviewName {
    Unreviewed,
    Confirmed,
    Dismissed,
    Deferred,
}

/// `needs_review` values (documentation only).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "snake_case")]
pub enum NeedsReview {
    True,
    False,
}

/// Filters shared by the caseload, its summary and the queue (documentation only:
/// the handlers read the query string themselves, so an unknown parameter is an
/// error naming it). Text values are 1 to 128 characters without control characters.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct CaseloadParams {
    /// School id.
    #[param(min_length = 1, max_length = 128)]
    school: Option<String>,
    /// Grade level, -1 (pre-K) to 13.
    #[param(minimum = -1, maximum = 13)]
    grade: Option<i64>,
    /// Tier filters then read that domain's tier; alone it means "flagged in that
    /// domain".
    domain: Option<crate::rules::Domain>,
    /// Exactly this tier: the highest, or the domain's with `domain`.
    #[param(minimum = 0, maximum = 3)]
    tier: Option<u8>,
    /// This tier or higher.
    #[param(minimum = 0, maximum = 3)]
    min_tier: Option<u8>,
    /// Some flag of this rule id.
    #[param(min_length = 1, max_length = 128)]
    rule: Option<String>,
    /// A recommended intervention id.
    #[param(min_length = 1, max_length = 128)]
    intervention: Option<String>,
    /// Some flag in this review state today.
    review: Option<ReviewName>,
    /// Student id prefix.
    #[param(min_length = 1, max_length = 128)]
    q: Option<String>,
    /// `active` (some open plan), `none` (no open plan) or an intervention id (an
    /// open plan of it).
    #[param(max_length = 64, pattern = "^[a-z0-9]+(-[a-z0-9]+)*$")]
    plan: Option<String>,
    /// `true`: some open plan's review date (last review or start plus
    /// `review_every_days`) has passed; `false`: none has.
    needs_review: Option<NeedsReview>,
    /// `student` (default), `tier` (highest first), `evaluated_at` (oldest first).
    sort: Option<SortName>,
    /// The previous page's `next_cursor` (opaque; only for the same `sort`).
    cursor: Option<String>,
    /// Page size (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<usize>,
    /// `json` (default) or `csv`; `Accept: text/csv` also asks for CSV.
    format: Option<ListFormat>,
}

/// The summary's parameters: the caseload's filters (it answers JSON).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct SummaryParams {
    /// School id.
    #[param(min_length = 1, max_length = 128)]
    school: Option<String>,
    /// Grade level, -1 (pre-K) to 13.
    #[param(minimum = -1, maximum = 13)]
    grade: Option<i64>,
    /// Tier filters then read that domain's tier; alone it means "flagged in that
    /// domain".
    domain: Option<crate::rules::Domain>,
    /// Exactly this tier: the highest, or the domain's with `domain`.
    #[param(minimum = 0, maximum = 3)]
    tier: Option<u8>,
    /// This tier or higher.
    #[param(minimum = 0, maximum = 3)]
    min_tier: Option<u8>,
    /// Some flag of this rule id.
    #[param(min_length = 1, max_length = 128)]
    rule: Option<String>,
    /// A recommended intervention id.
    #[param(min_length = 1, max_length = 128)]
    intervention: Option<String>,
    /// Some flag in this review state today.
    review: Option<ReviewName>,
    /// Student id prefix.
    #[param(min_length = 1, max_length = 128)]
    q: Option<String>,
    /// `active` (some open plan), `none` (no open plan) or an intervention id (an
    /// open plan of it).
    #[param(max_length = 64, pattern = "^[a-z0-9]+(-[a-z0-9]+)*$")]
    plan: Option<String>,
    /// `true`: some open plan's review date (last review or start plus
    /// `review_every_days`) has passed; `false`: none has.
    needs_review: Option<NeedsReview>,
}

/// The queue's parameters: the caseload's filters but `review`, and paging.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct QueueParams {
    /// School id.
    #[param(min_length = 1, max_length = 128)]
    school: Option<String>,
    /// Grade level, -1 (pre-K) to 13.
    #[param(minimum = -1, maximum = 13)]
    grade: Option<i64>,
    /// Tier filters then read that domain's tier; alone it means "flagged in that
    /// domain".
    domain: Option<crate::rules::Domain>,
    /// Exactly this tier: the highest, or the domain's with `domain`.
    #[param(minimum = 0, maximum = 3)]
    tier: Option<u8>,
    /// This tier or higher.
    #[param(minimum = 0, maximum = 3)]
    min_tier: Option<u8>,
    /// Some flag of this rule id.
    #[param(min_length = 1, max_length = 128)]
    rule: Option<String>,
    /// A recommended intervention id.
    #[param(min_length = 1, max_length = 128)]
    intervention: Option<String>,
    /// Student id prefix.
    #[param(min_length = 1, max_length = 128)]
    q: Option<String>,
    /// `active` (some open plan), `none` (no open plan) or an intervention id (an
    /// open plan of it).
    #[param(max_length = 64, pattern = "^[a-z0-9]+(-[a-z0-9]+)*$")]
    plan: Option<String>,
    /// `true`: some open plan's review date (last review or start plus
    /// `review_every_days`) has passed; `false`: none has.
    needs_review: Option<NeedsReview>,
    /// The previous page's `next_cursor` (opaque; only for the same `sort`).
    cursor: Option<String>,
    /// Page size (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<usize>,
    /// `json` (default) or `csv`; `Accept: text/csv` also asks for CSV.
    format: Option<ListFormat>,
}

#[utoipa::path(
    get,
    path = "/v1/caseload",
    tag = "caseload",
    operation_id = "caseload",
    summary = "Students' latest decisions, filtered, sorted and paged",
    description = "Each student's latest decision: school, grade, tier per domain, highest \
tier, flags with their review state today, recommended interventions, decision `seq` and \
`evaluated_at`, and the student's open plans (`plan_id`, `intervention`, `status`, \
`review_due`, `needs_review`). `sort=student` pages return every student present from the first page to the \
last exactly once while decisions arrive; `sort=tier` and `sort=evaluated_at` return each at \
most once (a student whose decision changed mid-walk shows on the next walk). A page with a \
next one links to it (`Link: <…>; rel=\"next\"`; a CSV page has only that). As CSV, cells \
that a spreadsheet would read as a formula are quoted as text. The read is audited \
(`caseload.read`, with the filter and the students on the page).",
    params(CaseloadParams),
    responses(
        (status = 200, description = "One page (`next_cursor` is null on the last)", content(
            (Object = "application/json"),
            (String = "text/csv"),
        )),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 503, response = doc::Unavailable),
    )
)]
pub async fn caseload(
    actor: Actor,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    listing(actor, req, state, List::Caseload, "caseload").await
}

#[utoipa::path(
    get,
    path = "/v1/caseload/summary",
    tag = "caseload",
    operation_id = "caseload_summary",
    summary = "Students per tier per domain, against the MTSS reference shares",
    description = "Counts only (not a read of any one student, so not audited): students per \
tier overall and per domain, the share at tier 2 and tier 3 against the reference \
(`params.tier2_share`, `params.tier3_share`; defaults 0.15 and 0.05), and students per rule and \
per recommended intervention. Takes the caseload's filters (no `sort`, `cursor`, `limit`).",
    params(SummaryParams),
    responses(
        (status = 200, description = "The summary", body = Object),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 503, response = doc::Unavailable),
    )
)]
pub async fn summary(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (pairs, _) = pairs_and_format(&req)?;
    let s = use_case::summary(&state, pairs).await?;
    Ok(HttpResponse::Ok().json(s))
}

#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct GroupsParams {
    /// `intervention` (default) or `rule`.
    by: Option<GroupByName>,
    #[param(min_length = 1, max_length = 128)]
    school: Option<String>,
    #[param(minimum = -1, maximum = 13)]
    grade: Option<i64>,
    /// `json` (default) or `csv`.
    format: Option<ListFormat>,
}

/// What rosters group by (documentation of `by`).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "snake_case")]
pub enum GroupByName {
    Intervention,
    Rule,
}

#[utoipa::path(
    get,
    path = "/v1/groups",
    tag = "caseload",
    operation_id = "groups",
    summary = "Rosters for flexible grouping, by intervention or by rule",
    description = "Each group has its intervention (or rule), tier, domain, and its students with \
the flags that put them there, highest tier first. Audited as `caseload.read`.",
    params(GroupsParams),
    responses(
        (status = 200, description = "The groups", content(
            (Object = "application/json"),
            (String = "text/csv"),
        )),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 503, response = doc::Unavailable),
    )
)]
pub async fn groups(
    actor: Actor,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    listing(actor, req, state, List::Groups, "groups").await
}

#[utoipa::path(
    get,
    path = "/v1/reviews/queue",
    tag = "caseload",
    operation_id = "review_queue",
    summary = "Flags nobody has reviewed yet, oldest first",
    description = "Unreviewed flags (never reviewed, or their review's `until` has passed) at \
`min_tier` (default 2) and above, oldest first (by when the flag started firing), with the \
caseload's filters except `review` and `sort`. A page with a next one links to it \
(`Link: <…>; rel=\"next\"`). Audited as `caseload.read`.",
    params(QueueParams),
    responses(
        (status = 200, description = "One page of the queue", content(
            (Object = "application/json"),
            (String = "text/csv"),
        )),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 503, response = doc::Unavailable),
    )
)]
pub async fn queue(
    actor: Actor,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    listing(actor, req, state, List::Queue, "review-queue").await
}

/// Largest review body, in bytes (64 flags with reasons fit many times over).
const MAX_REVIEW_BYTES: usize = 256 * 1024;

#[utoipa::path(
    post,
    path = "/v1/students/{id}/reviews",
    tag = "caseload",
    operation_id = "review_flags",
    summary = "Confirm, dismiss or defer flags of a student's decision",
    description = "Appends one `decision.reviewed` audit entry naming the decision's `seq` and \
`hash`, the reviewer and each flag's action. A dismissal needs a `reason`; `until` \
(`YYYY-MM-DD`, default 30 days on for dismiss and defer) is when the review stops holding. \
The flags must be flags of that decision and the decision the student's (404 naming which is \
wrong; 422 for a wrong flag or a missing reason). A review of a decision that is no longer the \
student's latest is kept in the log and answered with `\"superseded\": true`; it does not \
change the caseload. A later decision keeps a flag's review while the flag fires at the same \
tier (or lower) and `until` has not passed.",
    params(("id" = String, Path, description = "Student id")),
    request_body(content = ReviewRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The review is in the log", body = Object),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 422, response = doc::Unprocessable),
        (status = 503, response = doc::Unavailable),
    )
)]
pub async fn review(
    actor: Actor,
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let student = student_id(&id, IN_PATH)?;
    let limit = MAX_REVIEW_BYTES.min(state.settings.max_body_bytes);
    let request: ReviewRequest = crate::http::body::json(&req, payload, limit, "review").await?;
    let rid = request_id(&req);
    let by = AppState::caller(&actor, &rid);
    let done = use_case::review(&state, by, &student, request).await?;
    for f in &done.review.flags {
        state.metrics.flag_reviewed(&f.rule_id, f.action.as_str());
    }
    Ok(HttpResponse::Created().json(done))
}
