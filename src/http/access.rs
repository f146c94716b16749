//! Who may call a route: the vocabulary of the route table ([`Route`], [`Access`]) and
//! what it says to the OpenAPI document. The table itself is in `routes/mod.rs`; the
//! router, the bearer-key gate (`auth::gate`), the document's security requirements
//! and the role test all read it, so a route's roles are written once.

use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{OpenApi, PathItem};

use crate::config::Role;

/// The name of the bearer-key security scheme in the OpenAPI document.
pub const BEARER: &str = "bearer";

/// How a route is authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without a key (health, metrics, the OpenAPI document).
    Public,
    /// A signed SIS webhook: the handler checks the HMAC signature; bearer keys play
    /// no part.
    Signed,
    /// A bearer key with one of these roles; `admin` may call every route.
    Roles(&'static [Role]),
}

impl Access {
    /// The roles a bearer key may have to call the route, admin last (once): empty
    /// for a route without a bearer key.
    pub fn accepted_roles(self) -> Vec<Role> {
        let Access::Roles(roles) = self else {
            return Vec::new();
        };
        let mut all: Vec<Role> = roles
            .iter()
            .copied()
            .filter(|r| *r != Role::Admin)
            .collect();
        all.push(Role::Admin);
        all
    }

    /// The sentence the OpenAPI operation's description ends with.
    fn note(self) -> String {
        match self {
            Access::Public => "Access: public, no key.".into(),
            Access::Signed => "Access: signed with `X-Intervene-Signature`, no bearer key.".into(),
            Access::Roles(_) => {
                let roles: Vec<String> = self
                    .accepted_roles()
                    .iter()
                    .map(|r| format!("`{}`", r.as_str()))
                    .collect();
                format!("Access: a bearer key with role {}.", roles.join(" or "))
            }
        }
    }
}

/// One route of the table: method, path and who may call it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// The HTTP method, upper case (`GET`).
    pub method: &'static str,
    /// The path in actix's form: `{name}`, `{name:regex}`.
    pub path: &'static str,
    pub access: Access,
}

impl Route {
    /// The path as OpenAPI writes it (`{name:regex}` → `{name}`).
    pub fn openapi_path(&self) -> String {
        let mut out = String::new();
        let mut in_regex = false;
        for c in self.path.chars() {
            match c {
                ':' if out.rfind('{') > out.rfind('}') => in_regex = true,
                '}' => {
                    in_regex = false;
                    out.push(c);
                }
                _ if in_regex => {}
                _ => out.push(c),
            }
        }
        out
    }
}

/// A utoipa modifier that gives every operation of the document the security
/// requirements and the access note of its route in `table` (one requirement per
/// accepted role: any one of them will do).
pub struct TableSecurity(pub &'static [Route]);

impl utoipa::Modify for TableSecurity {
    fn modify(&self, openapi: &mut OpenApi) {
        for route in self.0 {
            let Some(item) = openapi.paths.paths.get_mut(&route.openapi_path()) else {
                continue;
            };
            let Some(op) = operation(item, route.method) else {
                continue;
            };
            let security: Vec<SecurityRequirement> = route
                .access
                .accepted_roles()
                .iter()
                .map(|r| SecurityRequirement::new(BEARER, [r.as_str()]))
                .collect();
            op.security = (!security.is_empty()).then_some(security);
            let note = route.access.note();
            op.description = Some(match op.description.take() {
                Some(d) if !d.is_empty() => format!("{d}\n\n{note}"),
                _ => note,
            });
        }
    }
}

/// The operation of `item` for `method` (upper case), if the document has it.
fn operation<'a>(
    item: &'a mut PathItem,
    method: &str,
) -> Option<&'a mut utoipa::openapi::path::Operation> {
    match method {
        "GET" => item.get.as_mut(),
        "POST" => item.post.as_mut(),
        "PUT" => item.put.as_mut(),
        "DELETE" => item.delete.as_mut(),
        "PATCH" => item.patch.as_mut(),
        "HEAD" => item.head.as_mut(),
        "OPTIONS" => item.options.as_mut(),
        "TRACE" => item.trace.as_mut(),
        _ => None,
    }
}
