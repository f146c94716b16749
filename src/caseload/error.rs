//! The caseload's one error type: a store failure, an unreadable stored value or
//! an audit entry the caseload cannot read. Request validation has its own errors
//! ([`super::review::ReviewError`], [`super::query::ParamError`]) because they are
//! answered to a client, not logged as faults.

use crate::audit::AuditError;

/// Why the caseload index could not be read, written or rebuilt.
#[derive(Debug, thiserror::Error)]
pub enum CaseloadError {
    #[error("caseload index: {0}")]
    Store(#[from] sled::Error),
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// Writing a CSV failed (the client went away, typically).
    #[error("caseload CSV: {0}")]
    Io(#[from] std::io::Error),
    /// A stored caseload value does not decode (written by another version, or
    /// damaged): a rebuild from the audit log repairs it.
    #[error("caseload index: the value for `{key}` is unreadable: {source}")]
    Corrupt {
        key: String,
        #[source]
        source: serde_json::Error,
    },
    /// An audit entry of a kind the caseload follows has a payload it cannot read.
    #[error("audit entry {seq} (`{kind}`) is unreadable for the caseload: {source}")]
    Payload {
        seq: u64,
        kind: String,
        #[source]
        source: serde_json::Error,
    },
}
