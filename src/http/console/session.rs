//! Signing in to the console: `GET/POST /login`, `POST /logout`, the server-side
//! session store ([`Sessions`]), the [`ConsoleUser`] extractor and the CSRF check
//! of every state change ([`Posted`]).
//!
//! A session is a random 32-byte token in the `intervene_session` cookie
//! (`HttpOnly; SameSite=Strict; Path=/`, plus `Secure` with `console.secure_cookies`);
//! the store keeps only its SHA-256, with the actor's name and role, a CSRF token,
//! and when it started and was last used. It ends after 30 minutes unused, 8 hours
//! after it started, or at sign-out. Keys are checked exactly as the API checks a
//! bearer key (`auth::find`); a refused sign-in is logged and audited like a refused
//! API request (`auth.denied`, through the same per-address accounting). In open
//! local mode (no keys) `/login` signs everyone in as `local` with role `admin`.
//!
//! The sign-in form itself carries a double-submit token: `GET /login` sets it in
//! the `intervene_login` cookie and in the form, `POST /login` needs both equal.

use std::collections::HashMap;
use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::dev::Payload;
use actix_web::http::{StatusCode, header};
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use askama::Template;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::ConsoleError;
use super::layout::{Layout, may};
use crate::app::Caller;
use crate::config::Role;
use crate::http::auth::{deny, find};
use crate::http::{AppState, request_id};

/// The session cookie.
pub const COOKIE: &str = "intervene_session";
/// The sign-in form's double-submit cookie.
const LOGIN_COOKIE: &str = "intervene_login";
/// A session unused this long has ended.
pub const IDLE: Duration = Duration::from_secs(30 * 60);
/// A session this old has ended, used or not.
pub const ABSOLUTE: Duration = Duration::from_secs(8 * 60 * 60);
/// Sessions kept at once; past it the least recently used one ends.
const MAX_SESSIONS: usize = 10_000;
/// Largest form body a console POST reads.
const MAX_FORM_BYTES: usize = 64 * 1024;

struct Session {
    name: String,
    role: Role,
    csrf: String,
    started: Instant,
    seen: Instant,
}

impl Session {
    fn live(&self, now: Instant) -> bool {
        now.duration_since(self.seen) < IDLE && now.duration_since(self.started) < ABSOLUTE
    }
}

/// The server's sessions, by the SHA-256 of their token.
#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<[u8; 32], Session>>,
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// 32 bytes from the operating system's CSPRNG, in hex.
fn random_token() -> Result<String, ConsoleError> {
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).map_err(|e| ConsoleError::internal(format!("random source: {e}")))?;
    Ok(hex::encode(raw))
}

impl Sessions {
    /// Start a session for `name` with `role`; its token (for the cookie).
    fn start(&self, name: &str, role: Role, now: Instant) -> Result<String, ConsoleError> {
        let token = random_token()?;
        let session = Session {
            name: name.to_string(),
            role,
            csrf: random_token()?,
            started: now,
            seen: now,
        };
        let mut map = self
            .map
            .lock()
            .map_err(|_| ConsoleError::internal("the session store is poisoned"))?;
        if map.len() >= MAX_SESSIONS {
            map.retain(|_, s| s.live(now));
        }
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map.iter().min_by_key(|(_, s)| s.seen).map(|(k, _)| *k)
        {
            map.remove(&oldest);
        }
        map.insert(digest(&token), session);
        Ok(token)
    }

    /// The signed-in user of `token`, when its session is live (which uses it).
    fn user(&self, token: &str, now: Instant) -> Option<ConsoleUser> {
        let key = digest(token);
        let mut map = self.map.lock().ok()?;
        let session = map.get_mut(&key)?;
        if !session.live(now) {
            map.remove(&key);
            return None;
        }
        session.seen = now;
        Some(ConsoleUser {
            name: session.name.clone(),
            role: session.role,
            csrf: session.csrf.clone(),
            session: key,
        })
    }

    fn end(&self, key: &[u8; 32]) {
        if let Ok(mut map) = self.map.lock() {
            map.remove(key);
        }
    }
}

/// The signed-in person a console handler acts for. Extracting it from a request
/// without a live session answers `303` to `/login`.
#[derive(Debug, Clone)]
pub struct ConsoleUser {
    pub name: String,
    pub role: Role,
    /// The session's CSRF token: every form's hidden `csrf` field.
    pub csrf: String,
    session: [u8; 32],
}

impl ConsoleUser {
    /// The page frame for this user, `current` its navigation link.
    pub fn layout(&self, current: &str) -> Layout {
        Layout::signed_in(&self.name, self.role, &self.csrf, current)
    }

    /// Refused (a 403 page) unless the user may call the API route `method path`:
    /// a page is allowed to whoever the API allows the read it shows.
    /// Whether this person may call the API route `method path` (what a page shows).
    pub fn may(&self, method: &str, path: &str) -> bool {
        may(self.role, method, path)
    }

    pub fn require(&self, method: &str, path: &str) -> Result<(), ConsoleError> {
        if may(self.role, method, path) {
            Ok(())
        } else {
            Err(ConsoleError::forbidden(format!(
                "Your role ({}) may not see this page.",
                self.role.as_str()
            )))
        }
    }

    /// Who causes the audit entries of a use case called for this user.
    pub fn caller<'a>(&'a self, request_id: &'a str) -> Caller<'a> {
        Caller {
            actor: &self.name,
            request_id,
        }
    }

    /// Whether `sent` is this session's CSRF token (constant time).
    pub(super) fn csrf_matches(&self, sent: &str) -> bool {
        !sent.is_empty() && bool::from(self.csrf.as_bytes().ct_eq(sent.as_bytes()))
    }
}

/// The value of cookie `name` in the request.
fn cookie(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

fn state_of(req: &HttpRequest) -> Result<web::Data<AppState>, ConsoleError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ConsoleError::internal("the application state is not configured"))
}

fn user_of(req: &HttpRequest) -> Result<ConsoleUser, ConsoleError> {
    let state = state_of(req)?;
    cookie(req, COOKIE)
        .and_then(|token| state.sessions.user(&token, Instant::now()))
        .ok_or(ConsoleError::SignIn)
}

impl FromRequest for ConsoleUser {
    type Error = ConsoleError;
    type Future = Ready<Result<ConsoleUser, ConsoleError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(user_of(req))
    }
}

/// A console POST: the signed-in user and the form `T`, read from an
/// `application/x-www-form-urlencoded` body whose `csrf` field is the session's
/// token (403 otherwise). `T` ignores the `csrf` field (do not deny unknown fields).
pub struct Posted<T> {
    pub user: ConsoleUser,
    pub form: T,
}

impl<T: DeserializeOwned + 'static> FromRequest for Posted<T> {
    type Error = ConsoleError;
    type Future = Pin<Box<dyn Future<Output = Result<Posted<T>, ConsoleError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let user = user_of(req);
        let body = form_body(req, payload);
        Box::pin(async move {
            let user = user?;
            let body = body.await?;
            if !user.csrf_matches(&field(&body, "csrf")) {
                return Err(ConsoleError::forbidden(
                    "This form is missing its security token or it is out of date. Reload the page and try again.",
                ));
            }
            let form = serde_urlencoded::from_bytes(&body).map_err(|e| {
                ConsoleError::bad_request(format!("The form could not be read: {e}"))
            })?;
            Ok(Posted { user, form })
        })
    }
}

/// The body of a form POST, at most [`MAX_FORM_BYTES`].
fn form_body(
    req: &HttpRequest,
    payload: &mut Payload,
) -> impl Future<Output = Result<web::Bytes, ConsoleError>> + 'static {
    let bytes = web::Bytes::from_request(req, payload);
    async move {
        let body = bytes
            .await
            .map_err(|e| ConsoleError::bad_request(format!("The form could not be read: {e}")))?;
        within_limit(body)
    }
}

fn within_limit(body: web::Bytes) -> Result<web::Bytes, ConsoleError> {
    if body.len() > MAX_FORM_BYTES {
        return Err(ConsoleError::Page {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            message: "The form is too large.".into(),
        });
    }
    Ok(body)
}

/// The value of form field `name` (empty when absent).
fn field(body: &[u8], name: &str) -> String {
    form_urlencoded::parse(body)
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// `Set-Cookie` for `name=value` (`max_age` 0 removes it).
fn set_cookie(state: &AppState, name: &str, value: &str, path: &str, max_age: Duration) -> String {
    let secure = if state.settings.console.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    format!(
        "{name}={value}; HttpOnly; SameSite=Strict; Path={path}; Max-Age={}{secure}",
        max_age.as_secs()
    )
}

/// `console/login.html`.
#[derive(Template)]
#[template(path = "console/login.html")]
struct LoginPage<'a> {
    layout: Layout,
    /// Why the last attempt failed.
    error: Option<&'a str>,
}

/// The sign-in form with a fresh double-submit token, answered with `status`.
fn login_form(
    state: &AppState,
    status: StatusCode,
    error: Option<&str>,
) -> Result<HttpResponse, ConsoleError> {
    let token = random_token()?;
    let mut layout = Layout::anonymous();
    layout.csrf = token.clone();
    let html = LoginPage { layout, error }.render()?;
    Ok(HttpResponse::build(status)
        .insert_header((
            header::SET_COOKIE,
            set_cookie(state, LOGIN_COOKIE, &token, "/login", IDLE),
        ))
        .content_type("text/html; charset=utf-8")
        .body(html))
}

/// Start a session and go to the caseload.
fn signed_in(state: &AppState, name: &str, role: Role) -> Result<HttpResponse, ConsoleError> {
    let token = state.sessions.start(name, role, Instant::now())?;
    tracing::info!(actor = %name, role = role.as_str(), "console sign-in");
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/"))
        .append_header((
            header::SET_COOKIE,
            set_cookie(state, COOKIE, &token, "/", ABSOLUTE),
        ))
        .append_header((
            header::SET_COOKIE,
            set_cookie(state, LOGIN_COOKIE, "", "/login", Duration::ZERO),
        ))
        .finish())
}

/// `GET /login`: the form; straight on to the caseload when already signed in, and
/// in open local mode (signed in as `local`, admin).
pub async fn form(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    if user_of(&req).is_ok() {
        return Ok(HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/"))
            .finish());
    }
    if state.keys.is_empty() {
        return signed_in(&state, "local", Role::Admin);
    }
    login_form(&state, StatusCode::OK, None)
}

/// `POST /login`: check the form's token and the key; start a session, or say why
/// not (an unknown key: the form again, 401; the ingest key: 403).
pub async fn login(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let body = within_limit(body)?;
    let sent = field(&body, "csrf");
    let expected = cookie(&req, LOGIN_COOKIE).unwrap_or_default();
    if sent.is_empty() || !bool::from(sent.as_bytes().ct_eq(expected.as_bytes())) {
        return Err(ConsoleError::forbidden(
            "The sign-in form expired or was not sent from this site. Open the sign-in page again.",
        ));
    }
    if state.keys.is_empty() {
        return signed_in(&state, "local", Role::Admin);
    }
    let key = field(&body, "key");
    match find(&state.keys, key.trim()) {
        Some((name, Role::Ingest)) => {
            deny(
                &req,
                &state,
                Some(name),
                "ingest key at the console sign-in",
            )
            .await;
            Err(ConsoleError::forbidden(
                "The ingest key is for the SIS, not for people. Sign in with your own key.",
            ))
        }
        Some((name, role)) => signed_in(&state, &name, role),
        None => {
            let reason = if key.trim().is_empty() {
                "missing key at the console sign-in"
            } else {
                "unknown key at the console sign-in"
            };
            deny(&req, &state, None, reason).await;
            login_form(
                &state,
                StatusCode::UNAUTHORIZED,
                Some("That key is not valid. Check it and try again."),
            )
        }
    }
}

/// Form fields of a POST that has nothing but its CSRF token.
#[derive(serde::Deserialize)]
pub struct NoFields {}

/// `POST /logout` (with the session's CSRF token): end the session.
pub async fn logout(
    req: HttpRequest,
    posted: Posted<NoFields>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let Posted {
        user,
        form: NoFields {},
    } = posted;
    state.sessions.end(&user.session);
    tracing::info!(actor = %user.name, request_id = %request_id(&req), "console sign-out");
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/login"))
        .insert_header((
            header::SET_COOKIE,
            set_cookie(&state, COOKIE, "", "/", Duration::ZERO),
        ))
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_ends_when_idle_and_when_old() {
        let s = Sessions::default();
        let t0 = Instant::now();
        let token = s.start("amy", Role::Counselor, t0).unwrap();
        let user = s.user(&token, t0 + IDLE / 2).unwrap();
        assert_eq!((user.name.as_str(), user.role), ("amy", Role::Counselor));
        // Used at IDLE/2, so alive until IDLE/2 + IDLE.
        assert!(s.user(&token, t0 + IDLE + IDLE / 4).is_some());
        assert!(s.user(&token, t0 + IDLE * 3).is_none());
        assert!(
            s.map.lock().unwrap().is_empty(),
            "an ended session is forgotten"
        );

        let token = s.start("amy", Role::Counselor, t0).unwrap();
        let mut t = t0;
        while t < t0 + ABSOLUTE - IDLE {
            t += IDLE / 2;
            assert!(s.user(&token, t).is_some());
        }
        assert!(s.user(&token, t0 + ABSOLUTE).is_none());
    }

    #[test]
    fn a_token_is_not_its_key_and_csrf_compares_exactly() {
        let s = Sessions::default();
        let t0 = Instant::now();
        let token = s.start("amy", Role::Counselor, t0).unwrap();
        assert!(s.user("not-the-token", t0).is_none());
        let user = s.user(&token, t0).unwrap();
        assert!(user.csrf_matches(&user.csrf.clone()));
        assert!(!user.csrf_matches(""));
        assert!(!user.csrf_matches(&user.csrf[..10]));
        s.end(&user.session);
        assert!(s.user(&token, t0).is_none());
    }
}
