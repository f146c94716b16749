//! `GET /v1/students/{id}/family-summary`: what the school tells a student's family, in
//! their language, as text or as a printable HTML page. The page is one self-contained
//! file (its stylesheet inline, allowed by its hash in a strict CSP, no script), so a
//! liaison can print it, save it or attach it as it is.

use std::sync::LazyLock;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::students::{IN_PATH, student_id};
use crate::app;
use crate::families::summary::FamilySummary;
use crate::families::words::{self, LANGUAGES, Words};
use crate::http::auth::Actor;
use crate::http::error::ApiError;
use crate::http::{AppState, request_id};

/// The page's stylesheet: readable on a phone, and on paper without the screen's
/// extras (the print rules).
const CSS: &str = "body{font:17px/1.55 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1b1b1b;background:#fff;margin:0}\
main{max-width:42rem;margin:0 auto;padding:1.5rem 1rem}\
h1{font-size:1.6rem;margin:0 0 .25rem}h2{font-size:1.2rem;margin:1.5rem 0 .4rem;border-bottom:2px solid #2f5d8a;padding-bottom:.15rem}\
.about{color:#444;margin:0}.plan{border-left:4px solid #2f5d8a;padding:.1rem .8rem;margin:.6rem 0}.plan p{margin:.25rem 0}\
.footer{margin-top:2rem;color:#333;font-style:italic}\
@media print{body{font-size:12pt;color:#000}main{max-width:none;padding:0}h2{border-color:#000;break-after:avoid}.plan{border-color:#000;break-inside:avoid}li{break-inside:avoid}}";

static CSP: LazyLock<String> = LazyLock::new(|| {
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(CSS.as_bytes()));
    format!(
        "default-src 'none'; style-src 'sha256-{hash}'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )
});

#[derive(Template)]
#[template(path = "families/summary.html")]
struct Page<'a> {
    s: &'a FamilySummary,
    w: &'static Words,
    css: &'static str,
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FamilyQuery {
    /// The family's language: one of the district's `family_languages` (default `en`).
    #[param(pattern = "^(en|es)$")]
    pub lang: Option<String>,
    /// `text` (default) or `html` (printable); `Accept: text/html` also asks for HTML.
    #[param(pattern = "^(text|html)$")]
    pub format: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/students/{id}/family-summary",
    tag = "students",
    operation_id = "student_family_summary",
    summary = "What the school tells the family, in their language",
    description = "The student's latest decision told to a family: strengths first, then what \
the school noticed (flags the team dismissed are left out), what it will do, the goals of open \
plans and their progress in words, how the family can help, and whom to contact. Written from \
the rules' and interventions' `family:` texts in `lang`, with no rule ids, thresholds or tiers. \
As plain text, or as a printable HTML page. The read is itself audited (`student.accessed`, \
`read: family-summary`).",
    params(("id" = String, Path, description = "Student id"), FamilyQuery),
    responses(
        (status = 200, description = "The summary: plain text, or the printable page with `format=html`",
            content((String = "text/plain"), (String = "text/html"))),
        (status = 400, response = crate::http::openapi::BadRequest),
        (status = 401, response = crate::http::openapi::Unauthorized),
        (status = 403, response = crate::http::openapi::Forbidden),
        (status = 404, response = crate::http::openapi::NotFound),
    )
)]
pub async fn summary(
    actor: Actor,
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = student_id(&id, IN_PATH)?;
    let q: FamilyQuery = crate::http::body::query(&req)?;
    let lang = language(q.lang, &state.settings.family_languages).map_err(ApiError::BadRequest)?;
    let wants_html = match q.format.as_deref() {
        Some("html") => true,
        Some("text") => false,
        Some(_) => {
            return Err(ApiError::BadRequest(
                "`format` must be one of text, html".into(),
            ));
        }
        None => req
            .headers()
            .get(header::ACCEPT)
            .and_then(|a| a.to_str().ok())
            .is_some_and(|a| a.split(',').any(|t| t.trim().starts_with("text/html"))),
    };
    let rid = request_id(&req);
    let s =
        app::families::family_summary(&state, AppState::caller(&actor, &rid), &id, &lang).await?;
    if !wants_html {
        return Ok(HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .insert_header((header::CONTENT_LANGUAGE, lang))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(s.to_text()));
    }
    page(&s).map_err(|e| ApiError::Internal(format!("family summary page: {e}")))
}

/// The printable page of `s`, with its headers (the console's link answers it too).
pub fn page(s: &FamilySummary) -> Result<HttpResponse, askama::Error> {
    let html = Page {
        s,
        w: words::words(&s.lang),
        css: CSS,
    }
    .render()?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_LANGUAGE, s.lang.clone()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP.as_str()))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .body(html))
}

/// The language a summary may be written in, or the error naming the ones it may.
pub fn language(lang: Option<String>, enabled: &[String]) -> Result<String, String> {
    let lang = lang.unwrap_or_else(|| "en".into());
    if enabled.contains(&lang) && LANGUAGES.contains(&lang.as_str()) {
        return Ok(lang);
    }
    let offered: Vec<&str> = enabled
        .iter()
        .map(String::as_str)
        .filter(|l| LANGUAGES.contains(l))
        .collect();
    Err(format!(
        "`lang` must be one of {} (the district's family languages the summary is written in)",
        offered.join(", ")
    ))
}
