//! One module per resource, and the route table: every route's method, path, access
//! (public, signed, or the roles a bearer key needs) and handler written once, read by
//! the router and its bearer-key gate, by the `405` answer's `Allow` header, by the
//! OpenAPI document's security requirements and by the role test.

pub(super) mod audit;
pub mod caseload;
pub(crate) mod equity;
pub(super) mod evaluate;
pub(crate) mod family;
pub(super) mod health;
pub(super) mod lifecycle;
pub(crate) mod notices;
pub mod plans;
pub(super) mod rules;
pub(crate) mod students;
pub(super) mod webhooks;

use actix_web::http::Method;
use actix_web::middleware::from_fn;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::config::Role;
use crate::http::access::{Access, Route};
use crate::http::auth::gate;
use crate::http::error::ApiError;

/// The access of a table row: `public`, `signed` or `[Role, ...]`.
macro_rules! access {
    (public) => {
        Access::Public
    };
    (signed) => {
        Access::Signed
    };
    ([$($role:ident),+]) => {
        Access::Roles(&[$(Role::$role),+])
    };
}

/// The route table: `METHOD "path" access => handler`, in matching order. Expands to
/// [`ROUTES`] (method, path, access) and `register`, which adds each route to the app
/// (behind the bearer-key gate when the route names roles).
macro_rules! route_table {
    ($($method:ident $path:literal $access:tt => $handler:path,)*) => {
        /// Every route the server registers, in matching order.
        pub const ROUTES: &[Route] = &[$(Route {
            method: stringify!($method),
            path: $path,
            access: access!($access),
        },)*];

        fn register(cfg: &mut web::ServiceConfig) {
            $(mount(cfg, Method::$method, $path, access!($access), web::route().to($handler));)*
        }
    };
}

route_table! {
    GET "/healthz" public => health::healthz,
    GET "/readyz" public => health::readyz,
    GET "/metrics" public => health::metrics,
    GET "/openapi.json" public => health::openapi,
    POST "/v1/evaluate" [Ingest] => evaluate::evaluate,
    POST "/v1/evaluate/batch" [Ingest] => evaluate::batch,
    POST "/v1/webhooks/sis" signed => webhooks::sis,
    POST "/v1/students/import" [Ingest] => students::import,
    GET "/v1/students/{id}" [Counselor] => students::snapshot,
    GET "/v1/students/{id}/decisions" [Counselor, Auditor] => students::decisions,
    GET "/v1/students/{id}/report" [Counselor, Auditor] => students::report,
    GET "/v1/students/{id}/family-summary" [Counselor, FamilyLiaison] => family::summary,
    GET "/v1/notices" [Counselor, Auditor, FamilyLiaison] => notices::list,
    GET "/v1/reports/equity" [Counselor, Auditor] => equity::report,
    POST "/v1/students/{id}/reviews" [Counselor] => caseload::review,
    POST "/v1/students/{id}/plans" [Counselor] => plans::open,
    GET "/v1/students/{id}/plans" [Counselor, Auditor] => plans::of_student,
    GET "/v1/plans/{id}" [Counselor, Auditor] => plans::get,
    PATCH "/v1/plans/{id}" [Counselor] => plans::update,
    POST "/v1/plans/{id}/progress" [Counselor, Ingest] => plans::progress,
    POST "/v1/plans/{id}/sessions" [Counselor, Ingest] => plans::session,
    GET "/v1/caseload" [Counselor, Auditor] => caseload::caseload,
    GET "/v1/caseload/summary" [Counselor, Auditor] => caseload::summary,
    GET "/v1/groups" [Counselor] => caseload::groups,
    GET "/v1/reviews/queue" [Counselor] => caseload::queue,
    GET "/v1/rules" [Counselor, Auditor] => rules::active,
    POST "/v1/rules/check" [Counselor] => lifecycle::check,
    POST "/v1/rules/preview" [Counselor] => lifecycle::preview,
    POST "/v1/rules/reload" [Counselor] => lifecycle::reload,
    POST "/v1/rules/publish" [Counselor] => lifecycle::publish_many,
    PUT "/v1/rules/files/{name:.*}" [Counselor] => lifecycle::publish,
    POST "/v1/rules/rollback/{version}" [Admin] => lifecycle::rollback,
    GET "/v1/rules/versions" [Counselor, Auditor] => lifecycle::versions,
    GET "/v1/rules/versions/{version}" [Counselor, Auditor] => lifecycle::version,
    GET "/v1/audit/{seq}/replay" [Auditor] => lifecycle::replay,
    GET "/v1/audit" [Auditor] => audit::list,
    GET "/v1/audit/export" [Auditor] => audit::export,
    GET "/v1/audit/verify" [Auditor] => audit::verify,
    GET "/v1/audit/checkpoint" [Auditor] => audit::checkpoint,
    GET "/v1/audit/holds" [Auditor] => audit::holds,
    PUT "/v1/audit/holds/{student_id}" [Admin] => audit::place_hold,
    DELETE "/v1/audit/holds/{student_id}" [Admin] => audit::lift_hold,
}

/// Add one route: `handler` for `method` on `path`, behind the gate that checks the
/// bearer key's role when `access` names roles.
fn mount(
    cfg: &mut web::ServiceConfig,
    method: Method,
    path: &str,
    access: Access,
    handler: actix_web::Route,
) {
    let route = handler.method(method);
    let route = match access {
        Access::Roles(roles) => route.wrap(from_fn(move |req, next| gate(roles, req, next))),
        Access::Public | Access::Signed => route,
    };
    cfg.route(path, route);
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    register(cfg);
    // After every route: a path that is served, asked with another method, is a 405
    // naming the methods it has (RFC 9110), not a 404.
    let mut paths: Vec<&str> = Vec::new();
    for route in ROUTES {
        if !paths.contains(&route.path) {
            paths.push(route.path);
        }
    }
    for path in paths {
        cfg.service(web::resource(path).default_service(web::to(method_not_allowed)));
    }
}

/// The methods of the route-table path `pattern`, as `Allow` lists them.
fn allowed(pattern: &str) -> String {
    let methods: Vec<&str> = ROUTES
        .iter()
        .filter(|r| r.path == pattern)
        .map(|r| r.method)
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
