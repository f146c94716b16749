//! The HTTP service (actix-web). The only module that touches actix-web; handlers
//! extract, call the library, and map errors to problem+json.
//!
//! Startup lives here so tests run the real server on port 0:
//! [`Application::build`], [`Application::port`], [`Application::run_until_stopped`].
//!
//! Handlers parse, authorize, call one use case of [`crate::app`] and render. The
//! async workers (`workers` in the settings) only parse, route and wait: the
//! application layer runs every evaluation, rule-set compilation and store read on
//! the blocking pool, and audit appends are awaited, never blocked on, so one slow
//! rule or a disk stall cannot take a worker. A stop drains requests in flight for at most
//! `shutdown_timeout_secs`, abandons the rest, and then closes the audit log, so
//! everything acknowledged is on disk (see [`Application::run_until`]).

pub mod access;
mod auth;
mod body;
pub mod console;
pub mod denials;
pub mod document;
mod error;
pub mod metrics;
pub mod openapi;
mod outbound;
mod routes;
pub mod signature;

use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::middleware::{Next, from_fn};
use actix_web::{App, HttpMessage, HttpRequest, HttpServer, web};
use tracing::Instrument;

pub use access::{Access, Route};
pub use auth::{Actor, new_key};
pub use error::ApiError;
pub use routes::ROUTES;

use crate::app::{Caller, OpenError, Service};
use crate::audit::{EntryKind, NewEntry};
use crate::config::Settings;
use crate::engine::Evaluator;
use crate::lifecycle::Registry;
use crate::rules::RuleSet;
use crate::students::Students;

/// Shared by every request: the application [`Service`] the handlers call (reached
/// through `Deref`, so `state.store` is the service's store) and what only the
/// HTTP layer needs.
pub struct AppState {
    pub app: Service,
    /// The webhook HMAC secret, read once at startup from the configured variable.
    webhook_secret: Option<Vec<u8>>,
    pub metrics: metrics::Metrics,
    keys: Vec<auth::Key>,
    /// Keeps the rules-directory watcher alive (dropping it stops the watch).
    _watcher: std::sync::Mutex<Option<notify::RecommendedWatcher>>,
    /// Which refusals are audited one by one.
    pub denials: denials::Denials,
    /// The retention thread, when `audit.retention_days` is set.
    _retention: std::sync::Mutex<Option<crate::audit::Retention>>,
    /// The OpenAPI document, built once at startup ([`document::document`]).
    pub openapi: serde_json::Value,
    /// The console's signed-in sessions.
    sessions: console::Sessions,
    /// The console's lately counted caseload pictures.
    pictures: console::Pictures,
}

impl std::ops::Deref for AppState {
    type Target = Service;

    fn deref(&self) -> &Service {
        &self.app
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error("rule set `{dir}` has errors:\n{error}")]
    Rules {
        dir: String,
        error: crate::rules::LoadError,
    },
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
    #[error(transparent)]
    Ingest(#[from] crate::students::IngestError),
    #[error(transparent)]
    Lifecycle(#[from] crate::lifecycle::LifecycleError),
    #[error("cannot bind `{addr}`: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
}

/// A built server, listening, not yet running.
pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
    /// Records the counts of refusals not audited one by one, every minute.
    sweeper: tokio::task::JoinHandle<()>,
}

impl AppState {
    /// Record refusals counted but not audited one by one, for each address whose
    /// minute is over (every address when `all`).
    pub async fn record_suppressed_denials(&self, all: bool) {
        for s in self.denials.sweep(std::time::Instant::now(), all) {
            self.record_suppressed(s).await;
        }
    }

    /// Who a request acts as, for the entries it causes.
    pub(crate) fn caller<'a>(actor: &'a auth::Actor, request_id: &'a str) -> Caller<'a> {
        Caller {
            actor: &actor.name,
            request_id,
        }
    }

    async fn record_suppressed(&self, s: denials::Suppressed) {
        tracing::warn!(peer = %s.peer, denials = s.count, since = %s.since, "refused requests counted but not audited one by one");
        let entry = NewEntry::new(
            EntryKind::AuthDeniedSuppressed,
            "anonymous",
            String::new(),
            serde_json::json!({
                "peer": s.peer,
                "denials": s.count,
                "since": s.since,
                "until": crate::audit::now(),
                "why": format!("past {} refusals a minute from one address, refusals are counted, not audited one by one", self.denials.per_peer()),
            }),
        );
        if let Err(e) = self.store.append(entry).await {
            tracing::error!(error = %e, "could not audit suppressed denials");
        }
    }
}

/// The request id of a request (set by the middleware).
#[derive(Clone)]
pub(crate) struct RequestId(pub String);

pub(crate) fn request_id(req: &HttpRequest) -> String {
    req.extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default()
}

/// How long past `shutdown_timeout_secs` a stop waits for workers that do not answer
/// (a worker thread stuck in synchronous code) before it closes the log without them.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// Resolves on the first SIGTERM or SIGINT (Ctrl-C).
pub async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM received"),
                    _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
                }
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only SIGINT stops the server")
            }
        }
    }
    if let Err(e) = tokio::signal::ctrl_c().await {
        tracing::error!(error = %e, "cannot listen for SIGINT either; the server runs until killed");
        std::future::pending::<()>().await;
    }
}

impl Application {
    /// Load the rules, open the store, bind the listener.
    pub async fn build(settings: Settings) -> Result<Application, StartError> {
        let addr = settings.validate()?;
        let metrics = metrics::Metrics::new();
        let store = crate::app::open_store(&settings, Some(metrics.flush_observer()))?;
        // The directory passes the same gate as any publish (loads, its tests pass);
        // when it does not, the version last active here serves, and says so.
        let candidate = RuleSet::load_dir(&settings.rules)
            .and_then(|rs| crate::lifecycle::tested(rs, &Evaluator::new()));
        let (rules, startup_problem) = match candidate {
            Ok(rules) => (rules, None),
            Err(error) => match crate::lifecycle::last_active(&store) {
                Some(rules) => {
                    tracing::error!(version = %rules.version, "the rules directory cannot be activated; serving the last active version:\n{error}");
                    (rules, Some(error))
                }
                None => {
                    return Err(StartError::Rules {
                        dir: settings.rules.display().to_string(),
                        error,
                    });
                }
            },
        };
        let listener = TcpListener::bind(addr).map_err(|source| StartError::Bind {
            addr: settings.bind.clone(),
            source,
        })?;
        let port = listener
            .local_addr()
            .map_err(|source| StartError::Bind {
                addr: settings.bind.clone(),
                source,
            })?
            .port();
        if settings.api_keys.is_empty() {
            tracing::warn!(
                "OPEN LOCAL MODE: no API keys configured; every request is allowed, and the server binds to loopback only"
            );
        }
        store
            .append(NewEntry::new(
                EntryKind::RulesetLoaded,
                "system",
                String::new(),
                serde_json::json!({
                    "version": rules.version,
                    "files": rules.files.keys().collect::<Vec<_>>(),
                    "rules": rules.rules.len(),
                    "source": settings.rules.display().to_string(),
                }),
            ))
            .await?;
        tracing::info!(version = %rules.version, rules = rules.rules.len(), "rule set loaded");
        let webhook_secret = std::env::var(&settings.webhook.secret_env)
            .ok()
            .filter(|s| !s.is_empty())
            .map(String::into_bytes);
        if webhook_secret.is_none() {
            tracing::warn!(variable = %settings.webhook.secret_env, "no webhook secret set; POST /v1/webhooks/sis answers 503 until it is");
        }
        let caseload = crate::caseload::Index::open(store.db()).map_err(|e| {
            crate::audit::AuditError::Damaged(format!("cannot open the caseload index: {e}"))
        })?;
        let plans = crate::plans::Plans::open(store.db()).map_err(|e| {
            crate::audit::AuditError::Damaged(format!("cannot open the plan trees: {e}"))
        })?;
        let students =
            Students::open(&store)?.with_history(Arc::new(crate::app::history::Provider {
                plans: plans.clone(),
                caseload: caseload.clone(),
            }));
        let evaluator = Arc::new(Evaluator::new());
        let registry = Arc::new(Registry::start(
            rules,
            &settings.rules,
            store.clone(),
            evaluator.clone(),
        )?);
        if let Some(problem) = startup_problem {
            registry.note_failed_reload(&problem);
        }
        let watcher = if settings.watch_rules {
            match crate::lifecycle::watch(registry.clone()) {
                Ok(w) => Some(w),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot watch the rules directory; use POST /v1/rules/reload");
                    None
                }
            }
        } else {
            None
        };
        let retention = match settings.audit.retention_days {
            Some(days) => {
                tracing::info!(
                    days,
                    "audit retention: decisions older than this are purged hourly"
                );
                Some(
                    crate::audit::Retention::start(store.clone(), days)
                        .map_err(crate::audit::AuditError::from)?,
                )
            }
            None => None,
        };
        let state = web::Data::new(AppState {
            denials: denials::Denials::new(settings.audit.denials_per_minute),
            _retention: std::sync::Mutex::new(retention),
            openapi: document::document(),
            sessions: console::Sessions::default(),
            pictures: console::Pictures::default(),
            _watcher: std::sync::Mutex::new(watcher),
            webhook_secret,
            keys: auth::decode_keys(&settings.api_keys),
            app: Service {
                registry,
                evaluator,
                store,
                students,
                caseload,
                plans,
                settings,
            },
            metrics,
        });
        let server = serve(listener, state.clone()).map_err(|source| StartError::Bind {
            addr: state.settings.bind.clone(),
            source,
        })?;
        let notice_secret = std::env::var(&state.settings.notices.secret_env)
            .ok()
            .filter(|s| !s.is_empty())
            .map(String::into_bytes);
        outbound::start(
            state.store.clone(),
            state.settings.notices.clone(),
            notice_secret,
        );
        let sweeper = {
            let state = state.clone();
            tokio::spawn(async move {
                let mut every = tokio::time::interval(denials::WINDOW);
                loop {
                    every.tick().await;
                    state.record_suppressed_denials(false).await;
                }
            })
        };
        Ok(Application {
            port,
            server,
            state,
            sweeper,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serve until SIGINT/SIGTERM, then stop as [`Application::run_until`] does.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(stop_signal()).await
    }

    /// Serve until `stop` resolves. Then: accept nothing new, let requests in flight
    /// finish for at most `shutdown_timeout_secs` (workers drop the rest), wait at most
    /// [`STOP_GRACE`] more for workers that do not answer, and close the audit log
    /// whatever is still running. Whatever was acknowledged is durable (an answer is
    /// only sent once its entries are); an abandoned request was never answered.
    pub async fn run_until(self, stop: impl Future<Output = ()>) -> std::io::Result<()> {
        let Application {
            mut server,
            state,
            sweeper,
            ..
        } = self;
        let handle = server.handle();
        let timeout = Duration::from_secs(state.settings.shutdown_timeout_secs);
        let result = tokio::select! {
            result = &mut server => result,
            () = stop => {
                tracing::info!(timeout_secs = timeout.as_secs(), "stopping: finishing requests in flight");
                // Sends the command now; `server` carries it out while polled below.
                drop(handle.stop(true));
                match tokio::time::timeout(timeout + STOP_GRACE, server).await {
                    Ok(result) => result,
                    Err(_) => {
                        tracing::error!(timeout_secs = timeout.as_secs(), "requests still running past the shutdown timeout were abandoned (none was acknowledged)");
                        Ok(())
                    }
                }
            }
        };
        sweeper.abort();
        close(state).await;
        result
    }

    /// The shared state (for tests that inspect it).
    pub fn state(&self) -> Arc<AppState> {
        self.state.clone().into_inner()
    }
}

/// Record the last denial counts, stop retention (a running purge finishes first),
/// and close the audit log: the writer flushes everything queued, then stops.
async fn close(state: web::Data<AppState>) {
    state.record_suppressed_denials(true).await;
    let _ = crate::blocking::run(move || {
        if let Ok(mut r) = state._retention.lock() {
            r.take();
        }
        state.store.shutdown()
    })
    .await;
}

fn serve(listener: TcpListener, state: web::Data<AppState>) -> std::io::Result<Server> {
    let workers = state.settings.workers;
    let shutdown_timeout = state.settings.shutdown_timeout_secs;
    let server =
        HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(
                    web::PathConfig::default()
                        .error_handler(|e, _| ApiError::BadRequest(e.to_string()).into()),
                )
                .app_data(web::QueryConfig::default().error_handler(|e, _| {
                    ApiError::BadRequest(format!("query string: {e}")).into()
                }))
                .wrap(from_fn(observe))
                .configure(routes::configure)
                .configure(console::configure)
                .default_service(web::to(|req: HttpRequest| async move {
                    Err::<actix_web::HttpResponse, _>(ApiError::NotFound(format!(
                        "no endpoint `{} {}`",
                        req.method(),
                        req.path()
                    )))
                }))
        })
        // Signals are handled by `Application::run_until`, which bounds the stop.
        .disable_signals()
        .shutdown_timeout(shutdown_timeout);
    let server = match workers {
        Some(n) => server.workers(n),
        None => server,
    };
    Ok(server.listen(listener)?.run())
}

/// Request id, tracing span, access log line and metrics for every request. The span
/// and the metrics name the route pattern (`/v1/students/{id}`), never the path: a
/// path can hold a student id, which is logged at debug level only, and every label
/// takes a bounded set of values (see [`metrics::method_label`]).
async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = client_request_id(&req).unwrap_or_else(|| ulid::Ulid::generate().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = metrics::method_label(req.method());
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".into());
    let span = tracing::info_span!("request", request_id = %id, method, route = %route);
    span.in_scope(|| tracing::debug!(path = %req.path(), "request path"));
    let started = std::time::Instant::now();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let mut res = next.call(req).instrument(span.clone()).await?;
    let status = res.status().as_u16();
    let elapsed = started.elapsed().as_secs_f64();
    if let Some(state) = state {
        state
            .metrics
            .observe_request(method, &route, status, elapsed);
    }
    if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&id) {
        res.headers_mut().insert(
            actix_web::http::header::HeaderName::from_static("x-request-id"),
            v,
        );
    }
    span.in_scope(|| tracing::info!(status, ms = elapsed * 1000.0, "request"));
    Ok(res)
}

/// The client's `x-request-id` when it is 1 to 64 of `[A-Za-z0-9_-]`.
fn client_request_id(req: &ServiceRequest) -> Option<String> {
    req.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(str::to_string)
}
