//! One module per resource, and the route table: every route's method, path and
//! handler written once, read by the router, by the `405` answer's `Allow` header and
//! by the OpenAPI test.

pub(super) mod audit;
pub(super) mod evaluate;
pub(super) mod health;
pub(super) mod lifecycle;
pub(super) mod rules;
pub(super) mod students;
pub(super) mod webhooks;

use actix_web::{HttpRequest, HttpResponse, web};

use crate::http::error::ApiError;

/// The route table: `METHOD "path" => handler`, in matching order. Expands to
/// [`ROUTES`] (method, path) and `register`, which adds each route to the app.
macro_rules! route_table {
    ($($method:ident $path:literal => $handler:path,)*) => {
        /// `(method, path)` of every route, in matching order (paths in actix's form:
        /// `{name}`, `{name:regex}`).
        pub const ROUTES: &[(&str, &str)] = &[$((stringify!($method), $path),)*];

        fn register(cfg: &mut web::ServiceConfig) {
            $(cfg.route($path, web::$method().to($handler));)*
        }
    };
}

route_table! {
    get "/healthz" => health::healthz,
    get "/readyz" => health::readyz,
    get "/metrics" => health::metrics,
    get "/openapi.json" => health::openapi,
    post "/v1/evaluate" => evaluate::evaluate,
    post "/v1/evaluate/batch" => evaluate::batch,
    post "/v1/webhooks/sis" => webhooks::sis,
    post "/v1/students/import" => students::import,
    get "/v1/students/{id}" => students::snapshot,
    get "/v1/students/{id}/decisions" => students::decisions,
    get "/v1/students/{id}/report" => students::report,
    get "/v1/rules" => rules::active,
    post "/v1/rules/check" => lifecycle::check,
    post "/v1/rules/preview" => lifecycle::preview,
    post "/v1/rules/reload" => lifecycle::reload,
    post "/v1/rules/publish" => lifecycle::publish_many,
    put "/v1/rules/files/{name:.*}" => lifecycle::publish,
    post "/v1/rules/rollback/{version}" => lifecycle::rollback,
    get "/v1/rules/versions" => lifecycle::versions,
    get "/v1/rules/versions/{version}" => lifecycle::version,
    get "/v1/audit/{seq}/replay" => lifecycle::replay,
    get "/v1/audit" => audit::list,
    get "/v1/audit/export" => audit::export,
    get "/v1/audit/verify" => audit::verify,
    get "/v1/audit/checkpoint" => audit::checkpoint,
    get "/v1/audit/holds" => audit::holds,
    put "/v1/audit/holds/{student_id}" => audit::place_hold,
    delete "/v1/audit/holds/{student_id}" => audit::lift_hold,
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    register(cfg);
    // After every route: a path that is served, asked with another method, is a 405
    // naming the methods it has (RFC 9110), not a 404.
    let mut paths: Vec<&str> = Vec::new();
    for (_, path) in ROUTES {
        if !paths.contains(path) {
            paths.push(path);
        }
    }
    for path in paths {
        cfg.service(web::resource(path).default_service(web::to(method_not_allowed)));
    }
}

/// The methods of the route-table path `pattern`, as `Allow` lists them.
fn allowed(pattern: &str) -> String {
    let methods: Vec<String> = ROUTES
        .iter()
        .filter(|(_, p)| *p == pattern)
        .map(|(m, _)| m.to_ascii_uppercase())
        .collect();
    methods.join(", ")
}

/// `405 Method Not Allowed` with `Allow`, as problem+json.
async fn method_not_allowed(req: HttpRequest) -> HttpResponse {
    // The resource that matched is the table path (its guard-less twin above).
    let allow = allowed(&req.match_pattern().unwrap_or_default());
    let detail = format!(
        "`{}` is served with {allow} only",
        req.path().escape_debug()
    );
    let mut res = actix_web::ResponseError::error_response(&ApiError::MethodNotAllowed(detail));
    if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&allow) {
        res.headers_mut().insert(actix_web::http::header::ALLOW, v);
    }
    res
}
