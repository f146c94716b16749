//! Why an SIS event or an import line is refused ([`EventError`]), and why ingesting
//! failed in the store or the audit log ([`IngestError`]).

use crate::audit::AuditError;
use crate::record::{FieldProblem, RecordError};

use super::event_type::EventType;

/// Why an event cannot be applied.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EventError {
    #[error("unknown event type `{0}`; expected one of {types}", types = EventType::names())]
    UnknownType(String),
    #[error("{0}")]
    Invalid(RecordError),
    #[error("`occurred_at`: must be an RFC 3339 time like 2026-11-20T15:04:05Z, got `{0}`")]
    BadTime(String),
    #[error("`event_id`: {0}")]
    BadId(String),
    #[error("no snapshot for student `{0}`; send a student.snapshot (or import) first")]
    UnknownStudent(String),
    #[error(
        "event id `{event_id}` was already used for student `{student_id}`; event ids must be unique"
    )]
    IdReused {
        event_id: String,
        student_id: String,
    },
    /// A plan event handed to the snapshot ingest (the caller writes it to the plan).
    #[error("`{0}` events are written to a plan, not to the student's snapshot")]
    PlanEvent(String),
    #[error("`data.student_id` is `{inner}` but the event is for `{outer}`")]
    StudentMismatch { outer: String, inner: String },
    #[error(
        "applying this event would make the student's {what} {bytes} bytes; the limit is {limit} bytes"
    )]
    TooLarge {
        what: &'static str,
        bytes: usize,
        limit: usize,
    },
}

/// One field's problem as an event error.
pub(crate) fn invalid(field: impl Into<String>, problem: impl Into<String>) -> EventError {
    EventError::Invalid(RecordError {
        problems: vec![FieldProblem {
            field: field.into(),
            problem: problem.into(),
        }],
    })
}

/// Why ingesting an event or an import line failed.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The event itself is refused; nothing was written.
    #[error(transparent)]
    Event(#[from] EventError),
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error("student store: {0}")]
    Store(#[from] sled::Error),
    /// A stored snapshot or outcome that does not decode.
    #[error("student store: unreadable entry: {0}")]
    Unreadable(#[source] serde_json::Error),
    /// An outcome that cannot be encoded for storing.
    #[error("student store: {0}")]
    Encode(#[source] serde_json::Error),
    /// The blocking task that did the work panicked or was cancelled.
    #[error("student store: {0}")]
    Interrupted(#[from] crate::blocking::Interrupted),
}

/// A stored value decoded, or why it cannot be.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, IngestError> {
    serde_json::from_slice(bytes).map_err(IngestError::Unreadable)
}
