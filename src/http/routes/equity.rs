//! `GET /v1/reports/equity`: flag rates per student group of a reporting label, in the
//! group and outside it, with the relative risk and its interval.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use crate::caseload::equity::EquityReport;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::openapi as doc;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EquityQuery {
    /// The label to group by: `reporting.<name>` (`reporting.ell`).
    #[param(pattern = "^reporting\\.[a-z][a-z0-9_]{0,31}$")]
    pub by: String,
    /// Only students of this school.
    pub school: Option<String>,
    /// Only students of this grade.
    #[param(minimum = -1, maximum = 13)]
    pub grade: Option<i64>,
}

#[utoipa::path(get, path = "/v1/reports/equity", tag = "caseload", operation_id = "equity_report",
    summary = "Flag rates by student group, with relative risk",
    description = "For the label `by` (from each student's stored snapshot; students without it \
are counted as `unknown` and left out of the comparisons): per rule, per domain and tier, and per \
review outcome, each group's rate against everyone else's with a known value, the relative risk \
with its 95% interval (log method; a zero cell gets the Haldane ½ correction and says \
`corrected`), and `alarm` when RR ≥ 2 and the interval's lower bound is above 1. Groups (or their \
complement) under `min_group_size` are suppressed: no counts. Counts only: not a read of any one \
student.",
    params(EquityQuery),
    responses(
        (status = 200, description = "The report", body = EquityReport),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
    ))]
pub async fn report(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let q: EquityQuery = crate::http::body::query(&req)?;
    if let Some(g) = q.grade
        && !(-1..=13).contains(&g)
    {
        return Err(ApiError::BadRequest(
            "`grade` must be between -1 (pre-K) and 13".into(),
        ));
    }
    let r = crate::app::caseload::equity(&state, &q.by, q.school, q.grade).await?;
    Ok(HttpResponse::Ok().json(r))
}
