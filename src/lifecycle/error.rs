//! Why a rule-set change was not activated, or why the rule store failed.

use crate::audit::AuditError;
use crate::record::RecordError;
use crate::rules::Diagnostic;

/// Why a change was not activated.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    /// The candidate has errors or failing tests; the active set is unchanged.
    #[error("{message}")]
    Rejected {
        message: String,
        diagnostics: Vec<Diagnostic>,
    },
    #[error(
        "the change was made from version `{based_on}` but `{active}` is active now; reload and edit again"
    )]
    Stale { based_on: String, active: String },
    #[error("{0}")]
    BadRequest(String),
    #[error("version `{0}` was never active here")]
    UnknownVersion(String),
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// The rules directory holds a symbolic link a write would go through.
    #[error("{0}")]
    UnsafeDirectory(String),
    #[error("rule store: {0}")]
    Store(#[from] sled::Error),
    /// Reading or writing the rules directory failed.
    #[error("rule store: {0}")]
    Io(#[from] std::io::Error),
    /// A stored version that does not decode, or cannot be encoded.
    #[error("rule store: {0}")]
    Json(#[from] serde_json::Error),
    /// A logged decision (for replay) that does not decode.
    #[error("rule store: entry {seq}: decision unreadable: {source}")]
    LoggedDecision {
        seq: u64,
        #[source]
        source: serde_json::Error,
    },
    /// A logged decision's inputs (for replay) that do not make a record.
    #[error("rule store: entry {seq}: stored inputs unreadable: {source}")]
    LoggedInputs {
        seq: u64,
        #[source]
        source: RecordError,
    },
    /// The blocking task that did the work panicked or was cancelled.
    #[error("rule store: {0}")]
    Interrupted(#[from] crate::blocking::Interrupted),
}
