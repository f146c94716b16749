//! Liveness, readiness, metrics, the OpenAPI document.

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::http::AppState;
use crate::http::openapi as doc;

#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    operation_id = "healthz",
    summary = "Liveness",
    responses((status = 200, description = "The process is up", body = doc::Health))
)]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// Ready when the rules are loaded and the store answers.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    operation_id = "readyz",
    summary = "Readiness: rules loaded, audit store answering",
    responses(
        (status = 200, description = "Ready", body = doc::Ready),
        (status = 503, description = "The audit store does not answer or is damaged (`store: damaged`)", body = doc::NotReady,
            content_type = "application/problem+json"),
    )
)]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let rules = state.registry.active();
    let store = state.store.clone();
    let head = crate::blocking::run(move || (store.head_seq(), store.problem())).await;
    match head {
        Ok((_, Some(problem))) => HttpResponse::ServiceUnavailable()
            .content_type("application/problem+json")
            .body(json!({"title": "Service unavailable", "status": 503, "detail": format!("audit store is damaged: {problem}"), "store": "damaged", "ruleset_version": rules.version}).to_string()),
        Ok((Ok(entries), None)) => HttpResponse::Ok().json(json!({
            "status": "ready",
            "ruleset_version": rules.version,
            "rules": rules.rules.len(),
            "store": "open",
            "audit_entries": entries,
            "last_reload": state.registry.last_reload(),
        })),
        _ => HttpResponse::ServiceUnavailable()
            .content_type("application/problem+json")
            .body(json!({"title": "Service unavailable", "status": 503, "detail": "the audit store does not answer", "ruleset_version": rules.version}).to_string()),
    }
}

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "health",
    operation_id = "metrics",
    summary = "Prometheus metrics",
    responses((status = 200, description = "Prometheus text exposition format", body = String,
        content_type = "text/plain; version=0.0.4"))
)]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    // The share gauges scan the caseload: at most once a minute.
    if state.metrics.shares_due() {
        match crate::app::caseload::summary_by_school(&state).await {
            Ok(by_school) => state.metrics.set_shares(&by_school),
            Err(e) => tracing::warn!(error = %e, "cannot compute the caseload share gauges"),
        }
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}

#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "health",
    operation_id = "openapi",
    summary = "This OpenAPI 3.1 document",
    responses((status = 200, description = "The API's OpenAPI document", body = Object,
        content_type = "application/json"))
)]
pub async fn openapi(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(&state.openapi)
}
