//! The console's static files, compiled into the binary: `/assets/console.css` and
//! `/assets/console.js` (the rule editor's live check; no other page loads it).
//! Pages link it with a `?v=` of its content hash, so it is cached for a year and a
//! new build's stylesheet is fetched anew.

use std::sync::LazyLock;

use actix_web::HttpResponse;
use actix_web::http::header;
use sha2::{Digest, Sha256};

/// The stylesheet.
const CSS: &str = include_str!("console.css");

static CSS_HREF: LazyLock<String> = LazyLock::new(|| {
    let hash = hex::encode(Sha256::digest(CSS.as_bytes()));
    format!("/assets/console.css?v={}", &hash[..12])
});

/// The stylesheet's link, with its version.
pub fn css_href() -> &'static str {
    &CSS_HREF
}

/// `GET /assets/console.css`.
pub async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .body(CSS)
}

/// The rule editor's script.
const JS: &str = include_str!("console.js");

static JS_HREF: LazyLock<String> = LazyLock::new(|| {
    let hash = hex::encode(Sha256::digest(JS.as_bytes()));
    format!("/assets/console.js?v={}", &hash[..12])
});

/// The script's link, with its version.
pub fn js_href() -> &'static str {
    &JS_HREF
}

/// `GET /assets/console.js`.
pub async fn script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .body(JS)
}
