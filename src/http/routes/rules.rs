//! `GET /v1/rules`: the active rule set (version also as the ETag).

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use crate::config::Role;
use crate::http::AppState;
use crate::http::auth::authorize;
use crate::http::error::ApiError;

pub async fn active(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state, &[Role::Counselor, Role::Auditor]).await?;
    let rs = state.rules.load_full();
    let rules: Vec<_> = rs
        .rules
        .iter()
        .map(|r| {
            json!({
                "id": r.id, "name": r.name, "domain": r.domain, "tier": r.tier,
                "when": r.when, "explain": r.explain_text, "recommend": r.recommend,
                "references": r.references, "enabled": r.enabled,
                "file": r.file, "line": r.line,
                "reads": r.reads.iter().map(|f| f.full_path()).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(HttpResponse::Ok()
        .insert_header(("ETag", format!("\"{}\"", rs.version)))
        .json(json!({
            "version": rs.version,
            "rules": rules,
            "params": rs.params,
            "interventions": rs.interventions,
            "warnings": rs.warnings,
        })))
}
