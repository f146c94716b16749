//! Why a use case failed, with its source kept: the HTTP layer maps each to a
//! status, the command line prints it.

use crate::audit::AuditError;
use crate::blocking::Interrupted;
use crate::lifecycle::LifecycleError;
use crate::ndjson::ReadError;
use crate::record::RecordError;
use crate::students::IngestError;

/// Why a use case failed.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The input is not a valid record (or envelope too deep to read).
    #[error("{0}")]
    InvalidRecord(RecordError),
    /// A request other than a record with problems, each naming its field.
    #[error("{0}")]
    InvalidInput(RecordError),
    /// The change was made from a revision that is no longer the current one.
    #[error("{0}")]
    Stale(String),
    /// The input is well formed but cannot be used (an envelope that does not parse).
    #[error("{0}")]
    Unprocessable(String),
    /// The caller asked for something that does not exist.
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    /// Something the use case needs is not there (the Ed-Fi mapping).
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error(transparent)]
    Ingest(#[from] IngestError),
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
    /// The caseload index could not be read or written.
    #[error(transparent)]
    Caseload(crate::caseload::CaseloadError),
    #[error(transparent)]
    Read(#[from] ReadError),
    /// Writing an answer (the command line's output) failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
    /// A stored decision could not be read back.
    #[error("audit entry {seq}: decision unreadable: {source}")]
    Unreadable {
        seq: u64,
        #[source]
        source: serde_json::Error,
    },
    /// An answer could not be serialized.
    #[error(transparent)]
    Encode(#[from] serde_json::Error),
    /// Whoever was being answered stopped listening.
    #[error("client went away")]
    Gone,
}
