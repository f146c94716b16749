//! The console: the service's own web pages for counselors and auditors, served by
//! the same actix app as `/v1` (server-rendered HTML from the askama templates in
//! `templates/console/`, compiled into the binary; no script is needed to use it).
//!
//! Pages call the same [`crate::app`] use cases as the JSON routes, with a `Caller`
//! naming the signed-in person, so every read is audited exactly as the API's. A
//! page is shown to the roles that may call the API route it reads
//! ([`layout::may`] reads the route table).
//!
//! A new page: a handler taking [`session::ConsoleUser`] (or [`session::Posted`] for
//! a form POST, which checks the CSRF token), calling `user.require("GET",
//! "/v1/...")?`, the use case with `user.caller(&request_id(&req))`, and rendering a
//! template struct whose `layout` field is `user.layout("/...")`; one line in
//! [`configure`] with [`page`].

mod assets;
mod audit;
mod candidate;
mod caseload;
pub mod chart;
mod editor;
mod error;
mod layout;
mod publish;
mod rules;
mod session;
mod student;
pub mod words;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::{Next, from_fn};
use actix_web::{Error, HttpRequest, Resource, web};

pub use caseload::Pictures;
pub use error::ConsoleError;
pub use session::Sessions;

/// The Content-Security-Policy of every console answer: nothing inline, nothing
/// from elsewhere, no framing.
pub const CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Add the console's routes (before the JSON default service).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(page("/").route(web::get().to(caseload::page)))
        .service(page("/caseload.csv").route(web::get().to(caseload::csv)))
        .service(
            page("/login")
                .route(web::get().to(session::form))
                .route(web::post().to(session::login)),
        )
        .service(page("/logout").route(web::post().to(session::logout)))
        .configure(audit::configure)
        .service(page("/rules").route(web::get().to(rules::page)))
        .service(page("/rules/preview").route(web::post().to(publish::preview)))
        .service(page("/rules/files/{name:.*}").route(web::get().to(editor::page)))
        .service(page("/rules/check").route(web::post().to(editor::check_form)))
        .service(
            page("/rules/check.json")
                .app_data(web::JsonConfig::default().limit(1 << 20))
                .route(web::post().to(editor::check_json)),
        )
        .service(page("/rules/publish").route(web::post().to(publish::publish_change)))
        .service(page("/rules/versions/{version}").route(web::get().to(publish::version)))
        .service(page("/rules/rollback/{version}").route(web::post().to(publish::rollback)))
        .service(page("/students/{id}").route(web::get().to(student::page)))
        .service(page("/students/{id}/reviews").route(web::post().to(student::review)))
        .service(
            page("/students/{id}/family-summary").route(web::get().to(student::family_summary)),
        )
        .service(page("/plans/{id}/progress").route(web::post().to(student::progress)))
        .service(page("/plans/{id}/sessions").route(web::post().to(student::session)))
        .service(page("/assets/console.css").route(web::get().to(assets::stylesheet)))
        .service(page("/assets/console.js").route(web::get().to(assets::script)));
}

/// A console resource at `path`: its answers carry the security headers, and a
/// method it does not serve is a 405 page.
pub fn page(
    path: &str,
) -> Resource<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = Error,
        InitError = (),
    >,
> {
    web::resource(path)
        .wrap(from_fn(security_headers))
        .default_service(web::to(not_allowed))
}

async fn not_allowed(req: HttpRequest) -> Result<actix_web::HttpResponse, ConsoleError> {
    Err(ConsoleError::Page {
        status: actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
        message: format!("This page does not take {} requests.", req.method()),
    })
}

/// The security headers of every console answer; pages (anything without its own
/// `Cache-Control`) are not stored by caches.
async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let mut res = next.call(req).await?;
    let h = res.headers_mut();
    // A page that sets a stricter policy of its own keeps it (the family summary:
    // no script at all, its one inline stylesheet allowed by hash).
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(res)
}
