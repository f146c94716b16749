//! `GET /v1/audit` (query), `/v1/audit/export` (NDJSON, streamed),
//! `/v1/audit/verify` (check the chain).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::students::parse_cursor;
use crate::audit::Query;
use crate::config::Role;
use crate::http::AppState;
use crate::http::auth::authorize;
use crate::http::error::ApiError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    pub student: Option<String>,
    pub rule: Option<String>,
    pub kind: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<usize>,
}

/// Normalise an RFC 3339 time to the stored form so string order is time order.
fn time(name: &str, v: &Option<String>) -> Result<Option<String>, ApiError> {
    v.as_deref()
        .map(|s| {
            chrono::DateTime::parse_from_rfc3339(s)
                .map(|t| {
                    t.with_timezone(&chrono::Utc)
                        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                })
                .map_err(|_| {
                    ApiError::BadRequest(format!(
                        "`{name}` must be an RFC 3339 time like 2026-11-20T00:00:00Z, got `{s}`"
                    ))
                })
        })
        .transpose()
}

pub async fn list(
    req: HttpRequest,
    q: web::Query<AuditQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state, &[Role::Auditor]).await?;
    let q = q.into_inner();
    let query = Query {
        from: time("from", &q.from)?,
        to: time("to", &q.to)?,
        before: parse_cursor(&q.cursor)?,
        student: q.student,
        rule: q.rule,
        kind: q.kind,
        limit: q.limit.unwrap_or(100),
    };
    let store = state.store.clone();
    let page = web::block(move || store.query(&query))
        .await
        .map_err(ApiError::internal)??;
    Ok(HttpResponse::Ok().json(page))
}

/// Entries read per step of the export stream.
const EXPORT_CHUNK: usize = 1000;

pub async fn export(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state, &[Role::Auditor]).await?;
    let store = state.store.clone();
    let stream = futures_util::stream::unfold(Some(0u64), move |after| {
        let store = store.clone();
        async move {
            let after = after?;
            let chunk = web::block(move || store.raw_after(after, EXPORT_CHUNK)).await;
            match chunk {
                Ok(Ok(rows)) if rows.is_empty() => None,
                Ok(Ok(rows)) => {
                    let last = rows.last().map(|(s, _)| *s);
                    let mut buf = Vec::new();
                    for (_, bytes) in rows {
                        buf.extend_from_slice(&bytes);
                        buf.push(b'\n');
                    }
                    Some((Ok::<_, actix_web::Error>(web::Bytes::from(buf)), last))
                }
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "audit export failed");
                    Some((
                        Ok(web::Bytes::from(format!(
                            "{{\"error\":\"export stopped: {e}\"}}\n"
                        ))),
                        None,
                    ))
                }
                Err(e) => Some((
                    Ok(web::Bytes::from(format!(
                        "{{\"error\":\"export stopped: {e}\"}}\n"
                    ))),
                    None,
                )),
            }
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("application/x-ndjson")
        .streaming(stream))
}

pub async fn verify(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state, &[Role::Auditor]).await?;
    let store = state.store.clone();
    let report = web::block(move || store.verify(&mut |_| {}))
        .await
        .map_err(ApiError::internal)??;
    Ok(HttpResponse::Ok().json(report))
}
