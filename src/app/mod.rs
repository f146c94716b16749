//! The application layer: every use case of the service as one library function
//! that the HTTP handlers and the command line both call. A handler parses,
//! authorizes, calls one of these and renders; `main.rs` parses flags and calls
//! [`crate::cli`], which calls these.
//!
//! | use case | file |
//! |---|---|
//! | evaluate one record, or NDJSON records in groups | [`evaluate`] |
//! | evaluate a file of records without auditing (`intervene eval`) | [`batch`] |
//! | ingest one signed SIS event | [`ingest`] |
//! | import NDJSON records as snapshots (route and `intervene import`) | [`import`] |
//! | check, preview, publish, reload, roll back a rule set | [`publish`] |
//! | read a student's records or the log, with the entry recording the read | [`reads`] |
//! | read the caseload, its summary, rosters and review queue; review a flag | [`caseload`] |
//! | the review state of a decision's flags, shown beside the decision | [`reviews`] |
//! | open, read and change intervention plans; record progress and sessions | [`plans`] |
//! | the plan and history facts of an evaluation; progress points from decisions | [`history`] |
//!
//! [`ndjson::drive`] is the one loop over NDJSON input, read by
//! [`crate::ndjson`]'s bounded line reader. CPU work (evaluation, compiling a rule
//! set) and sled or file IO run here on the blocking pool ([`crate::blocking`]),
//! never on the caller's async worker, except the two measured fast paths: a small
//! record under a native-only rule set ([`evaluate::one`]) and a small webhook
//! envelope ([`ingest::event`]).

pub mod batch;
pub mod caseload;
mod error;
pub mod evaluate;
pub mod families;
pub mod follow;
pub mod history;
pub mod import;
pub mod ingest;
pub mod ndjson;
pub mod plans;
pub mod publish;
pub mod reads;
pub mod reviews;

use std::sync::Arc;

pub use error::AppError;

use crate::audit::{FlushObserver, Store};
use crate::config::{ConfigError, Settings};
use crate::engine::Evaluator;
use crate::lifecycle::Registry;
use crate::students::Students;

/// What every use case works on: the active rule set, the evaluator, the audit log,
/// the student snapshots and the settings they were opened with.
pub struct Service {
    /// The active rule set and its lifecycle.
    pub registry: Arc<Registry>,
    pub evaluator: Arc<Evaluator>,
    pub store: Store,
    pub students: Students,
    /// Every student's latest decision and its flags' reviews (kept by the audit
    /// writer: see [`crate::caseload::attach`]).
    pub caseload: crate::caseload::Index,
    /// Intervention plans, their progress points and sessions.
    pub plans: crate::plans::Plans,
    pub settings: Settings,
}

/// Today (UTC): the day reviews' `until`, the review queue and plans count from.
pub fn today() -> chrono::NaiveDate {
    chrono::Utc::now().date_naive()
}

/// Who causes an entry: the actor's name and the request id (empty from the CLI).
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    pub actor: &'a str,
    pub request_id: &'a str,
}

/// Open the audit store as `settings` configure it (checkpoint key and intervals):
/// the same for `serve` and `import`.
pub fn open_store(
    settings: &Settings,
    observer: Option<FlushObserver>,
) -> Result<Store, OpenError> {
    let a = &settings.audit;
    let checkpoints = crate::audit::checkpoint::Policy::load(
        a.checkpoint_key.as_deref(),
        &settings.data,
        a.checkpoint_every_entries,
        a.checkpoint_every_secs,
    )
    .map_err(|e| ConfigError::Invalid(format!("audit.checkpoint_key: {e}")))?;
    if checkpoints.key.is_none() {
        tracing::warn!(
            "no audit.checkpoint_key: checkpoints are kept unsigned (see `intervene keys checkpoint`)"
        );
    }
    Ok(Store::open_with(
        &settings.data,
        crate::audit::Options {
            observer,
            checkpoints,
            mode: crate::audit::OpenMode::Serve,
            follow: Some(follow::attach(settings.family_languages.clone())),
        },
    )?)
}

/// Why the store could not be opened as configured.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
}
