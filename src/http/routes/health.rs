//! Liveness, readiness, metrics, the OpenAPI document.

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::http::AppState;

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// Ready when the rules are loaded and the store answers.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let rules = state.rules.load();
    let store = state.store.clone();
    let head = web::block(move || store.head_seq()).await;
    match head {
        Ok(Ok(entries)) => HttpResponse::Ok().json(json!({
            "status": "ready",
            "ruleset_version": rules.version,
            "rules": rules.rules.len(),
            "store": "open",
            "audit_entries": entries,
        })),
        _ => HttpResponse::ServiceUnavailable()
            .content_type("application/problem+json")
            .body(json!({"title": "Service unavailable", "status": 503, "detail": "the audit store does not answer", "ruleset_version": rules.version}).to_string()),
    }
}

pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}

pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(crate::http::openapi::document())
}
