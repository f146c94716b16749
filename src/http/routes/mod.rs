//! One module per resource.

pub(super) mod audit;
pub(super) mod evaluate;
pub(super) mod health;
pub(super) mod lifecycle;
pub(super) mod rules;
pub(super) mod students;
pub(super) mod webhooks;

use actix_web::web;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/metrics", web::get().to(health::metrics))
        .route("/openapi.json", web::get().to(health::openapi))
        .route("/v1/evaluate", web::post().to(evaluate::evaluate))
        .route("/v1/evaluate/batch", web::post().to(evaluate::batch))
        .route("/v1/webhooks/sis", web::post().to(webhooks::sis))
        .route("/v1/students/import", web::post().to(students::import))
        .route("/v1/students/{id}", web::get().to(students::snapshot))
        .route(
            "/v1/students/{id}/decisions",
            web::get().to(students::decisions),
        )
        .route("/v1/students/{id}/report", web::get().to(students::report))
        .route("/v1/rules", web::get().to(rules::active))
        .route("/v1/rules/check", web::post().to(lifecycle::check))
        .route("/v1/rules/preview", web::post().to(lifecycle::preview))
        .route("/v1/rules/reload", web::post().to(lifecycle::reload))
        .route("/v1/rules/publish", web::post().to(lifecycle::publish_many))
        .route(
            "/v1/rules/files/{name:.*}",
            web::put().to(lifecycle::publish),
        )
        .route(
            "/v1/rules/rollback/{version}",
            web::post().to(lifecycle::rollback),
        )
        .route("/v1/rules/versions", web::get().to(lifecycle::versions))
        .route(
            "/v1/rules/versions/{version}",
            web::get().to(lifecycle::version),
        )
        .route("/v1/audit/{seq}/replay", web::get().to(lifecycle::replay))
        .route("/v1/audit", web::get().to(audit::list))
        .route("/v1/audit/export", web::get().to(audit::export))
        .route("/v1/audit/verify", web::get().to(audit::verify))
        .route("/v1/audit/checkpoint", web::get().to(audit::checkpoint))
        .route("/v1/audit/holds", web::get().to(audit::holds))
        .route(
            "/v1/audit/holds/{student_id}",
            web::put().to(audit::place_hold),
        )
        .route(
            "/v1/audit/holds/{student_id}",
            web::delete().to(audit::lift_hold),
        );
}
