//! `GET /v1/notices`: the family notice outbox (what was, is to be, or could not be
//! told to families about changes in support).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::openapi as doc;
use crate::notices::{Notice, Outbox, Status};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct NoticesQuery {
    /// `pending`, `sent` or `failed` (default: all).
    #[param(pattern = "^(pending|sent|failed)$")]
    pub status: Option<String>,
    /// At most this many, oldest first (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct NoticesPage {
    pub pending: usize,
    pub sent: usize,
    pub failed: usize,
    pub notices: Vec<Notice>,
}

#[utoipa::path(get, path = "/v1/notices", tag = "families", operation_id = "notices",
    summary = "The family notice outbox",
    description = "Notices made when a student's highest tier in a domain rose or fell, or a plan \
was opened or closed, oldest first, with each one's delivery: attempts, the next attempt, the \
last error. Delivered to `notices.url` at least once, in order per student.",
    params(NoticesQuery),
    responses(
        (status = 200, description = "Counts per status and the notices", body = NoticesPage),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
    ))]
pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let q: NoticesQuery = crate::http::body::query(&req)?;
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(Status::parse(s).ok_or_else(|| {
            ApiError::BadRequest("`status` must be one of pending, sent, failed".into())
        })?),
    };
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest(
            "`limit` must be between 1 and 1000".into(),
        ));
    }
    let store = state.store.clone();
    let page = crate::blocking::run(move || -> Result<_, crate::notices::NoticeError> {
        let outbox = Outbox::open(store.db())?;
        let (pending, sent, failed) = outbox.counts()?;
        Ok(NoticesPage {
            pending,
            sent,
            failed,
            notices: outbox.list(status, limit)?,
        })
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(HttpResponse::Ok().json(page))
}
