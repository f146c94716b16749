//! Bearer API keys with roles. Keys are configured as SHA-256 hashes; a presented key
//! is hashed and compared with every configured hash in constant time. The route
//! table puts [`gate`] in front of every route that names roles; a handler reads who
//! called it with the [`Actor`] extractor.

use std::future::{Ready, ready};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::denials::Verdict;
use super::error::ApiError;
use super::{AppState, request_id};
use crate::audit::{EntryKind, NewEntry};
use crate::config::Role;

/// Who made a request: what a handler behind [`gate`] takes to know it.
#[derive(Debug, Clone)]
pub struct Actor {
    /// Key name, or `local` in open local mode.
    pub name: String,
    pub role: Role,
}

impl FromRequest for Actor {
    type Error = ApiError;
    type Future = Ready<Result<Actor, ApiError>>;

    /// The actor [`gate`] admitted; none means the route table gives the handler's
    /// route no roles, a mistake in the table, answered 500.
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(req.extensions().get::<Actor>().cloned().ok_or_else(|| {
            ApiError::internal(format!(
                "route `{}` asks who called it but has no roles in the route table",
                req.match_pattern().unwrap_or_default()
            ))
        }))
    }
}

/// Route middleware: admit the request when its key has one of `roles` (or admin),
/// before the handler reads anything of the request, and hand the [`Actor`] on;
/// otherwise answer 401 or 403, as problem+json, the denial audited.
pub(super) async fn gate(
    roles: &'static [Role],
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        let e = ApiError::internal("the application state is not configured");
        return Ok(req.error_response(e).map_into_right_body());
    };
    match authorize(req.request(), &state, roles).await {
        Ok(actor) => {
            req.extensions_mut().insert(actor);
            Ok(next.call(req).await?.map_into_left_body())
        }
        Err(e) => Ok(req.error_response(e).map_into_right_body()),
    }
}

/// A configured key, decoded.
pub(super) struct Key {
    name: String,
    role: Role,
    hash: [u8; 32],
}

pub(super) fn decode_keys(keys: &[crate::config::ApiKey]) -> Vec<Key> {
    keys.iter()
        .filter_map(|k| {
            let bytes = hex::decode(&k.sha256).ok()?;
            let hash: [u8; 32] = bytes.try_into().ok()?;
            Some(Key {
                name: k.name.clone(),
                role: k.role,
                hash,
            })
        })
        .collect()
}

/// A new random key and its hash (for `intervene keys new`).
pub fn new_key() -> (String, String) {
    let mut raw = [0u8; 32];
    // The operating system's CSPRNG; without it there is no safe key to print.
    #[allow(clippy::expect_used)]
    getrandom::fill(&mut raw).expect("the operating system random source failed");
    let key = format!("ivk_{}", hex::encode(raw));
    let hash = hex::encode(Sha256::digest(key.as_bytes()));
    (key, hash)
}

pub(super) fn find(keys: &[Key], presented: &str) -> Option<(String, Role)> {
    let digest = Sha256::digest(presented.as_bytes());
    let mut found = None;
    for k in keys {
        // Compare against every key so timing does not depend on which matched.
        if bool::from(k.hash.ct_eq(digest.as_slice())) {
            found = Some((k.name.clone(), k.role));
        }
    }
    found
}

/// Check the request's key against the roles allowed for the endpoint (admin is
/// always allowed). Denials are logged and audited.
async fn authorize(
    req: &HttpRequest,
    state: &AppState,
    allowed: &[Role],
) -> Result<Actor, ApiError> {
    if state.keys.is_empty() {
        return Ok(Actor {
            name: "local".into(),
            role: Role::Admin,
        });
    }
    let header = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    let presented = header.and_then(|h| {
        h.strip_prefix("Bearer ")
            .or_else(|| h.strip_prefix("bearer "))
    });
    let (denial, status_err) = match presented.map(str::trim).and_then(|p| find(&state.keys, p)) {
        Some((name, role)) if role == Role::Admin || allowed.contains(&role) => {
            return Ok(Actor { name, role });
        }
        Some((name, role)) => {
            let need: Vec<&str> = allowed.iter().map(|r| r.as_str()).collect();
            let msg = format!(
                "key `{name}` has role `{}`; this endpoint needs {}",
                role.as_str(),
                need.join(" or ")
            );
            ((Some(name), "role not allowed"), ApiError::Forbidden(msg))
        }
        None if presented.is_none() => (
            (None, "missing bearer key"),
            ApiError::Unauthorized("send `Authorization: Bearer <key>`".into()),
        ),
        None => (
            (None, "unknown key"),
            ApiError::Unauthorized("the API key is not valid".into()),
        ),
    };
    deny(req, state, denial.0, denial.1).await;
    Err(status_err)
}

/// Log and audit a refused request (never the key itself).
pub(super) async fn deny(
    req: &HttpRequest,
    state: &AppState,
    key_name: Option<String>,
    reason: &str,
) {
    let rid = request_id(req);
    // The route pattern, not the path: a path can hold a student id (kept in the
    // audit entry below, logged at debug level only).
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".into());
    tracing::warn!(request_id = %rid, route = %route, key = key_name.as_deref().unwrap_or("-"), reason, "request denied");
    tracing::debug!(request_id = %rid, path = %req.path(), "denied path");
    let peer = req
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|| "unknown".into());
    let (verdict, ended) = state.denials.admit(&peer, std::time::Instant::now());
    if let Some(s) = ended {
        state.record_suppressed(s).await;
    }
    if verdict == Verdict::Suppress {
        return;
    }
    let entry = NewEntry::new(
        EntryKind::AuthDenied,
        key_name.clone().unwrap_or_else(|| "anonymous".into()),
        rid,
        serde_json::json!({
            "method": req.method().as_str(),
            "path": req.path(),
            "reason": reason,
            "key_name": key_name,
            "peer": peer,
        }),
    );
    if let Err(e) = state.store.append(entry).await {
        tracing::error!(error = %e, "could not audit a denial");
    }
}
