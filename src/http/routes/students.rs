//! `GET /v1/students/{id}/decisions`: a student's decision history, newest first.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use crate::audit::Query;
use crate::config::Role;
use crate::http::auth::authorize;
use crate::http::error::ApiError;
use crate::http::AppState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    pub cursor: Option<String>,
    pub limit: Option<usize>,
}

pub fn parse_cursor(c: &Option<String>) -> Result<Option<u64>, ApiError> {
    c.as_deref()
        .map(|c| c.parse::<u64>().map_err(|_| ApiError::BadRequest(format!("cursor `{c}` is not one this server returned"))))
        .transpose()
}

pub async fn decisions(req: HttpRequest, id: web::Path<String>, q: web::Query<PageQuery>, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state, &[Role::Counselor, Role::Auditor]).await?;
    let query = Query {
        student: Some(id.into_inner()),
        kind: Some("decision".into()),
        before: parse_cursor(&q.cursor)?,
        limit: q.limit.unwrap_or(50),
        ..Query::default()
    };
    let store = state.store.clone();
    let page = web::block(move || store.query(&query)).await.map_err(ApiError::internal)??;
    let decisions: Vec<_> = page
        .entries
        .iter()
        .map(|e| json!({"seq": e.seq, "at": e.at, "actor": e.actor, "source": e.payload.get("source"), "decision": e.payload.get("decision")}))
        .collect();
    Ok(HttpResponse::Ok().json(json!({"decisions": decisions, "next_cursor": page.next_cursor})))
}
