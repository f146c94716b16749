//! `GET /v1/rules`: the active rule set (version also as the ETag).

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::openapi as doc;

#[utoipa::path(
    get,
    path = "/v1/rules",
    tag = "rules",
    operation_id = "rules_active",
    summary = "The active rule set",
    description = "The active version, its rules (as written, with where they are defined and \
the record fields they read), params, interventions (with the progress measure, default weeks and \
sessions per week of a plan for each), manual progress measures (`measures.yaml`), privacy policy (what the audit log keeps of each record field; fields not \
listed are kept) and load warnings. The version is also \
the `ETag`.",
    responses(
        (status = 200, description = "The active rule set", body = doc::ActiveRuleSet,
            headers(("ETag" = String, description = "The active version, quoted"))),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
    )
)]
pub async fn active(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let rs = state.registry.active();
    let rules: Vec<_> = rs
        .rules
        .iter()
        .map(|r| {
            json!({
                "id": r.id, "name": r.name, "domain": r.domain, "kind": r.kind, "tier": r.tier,
                "when": r.when, "explain": r.explain_text, "family": r.family_text,
                "recommend": r.recommend,
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
            "measures": rs.measures,
            "privacy": rs.privacy,
            "warnings": rs.warnings.iter().cloned()
                .chain(crate::rules::family::missing(&rs, &state.settings.family_languages))
                .collect::<Vec<_>>(),
        })))
}
