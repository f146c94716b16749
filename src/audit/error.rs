//! What can go wrong in the audit store, with the cause kept as the error's source.

/// Audit store failures.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit store: {0}")]
    Store(#[from] sled::Error),
    #[error("audit store: {0}")]
    Io(#[from] std::io::Error),
    #[error("audit store is shut down")]
    Closed,
    /// Stored bytes that do not parse: an entry (`seq`), or with `what` saying which
    /// record beside the log (seq 0).
    #[error("audit entry {seq} is unreadable: {what}{source}")]
    Unreadable {
        seq: u64,
        /// Which record, when it is not the entry itself (`""` for an entry).
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// The log does not hold what it must (a purge naming a missing entry, …).
    #[error("audit entry {seq} is unreadable: {message}")]
    Corrupt { seq: u64, message: String },
    #[error("audit store is damaged: {0}")]
    Damaged(String),
    /// The log ends before entries that were acknowledged (see `Store::open`).
    #[error(
        "the audit log in `{dir}` ends at entry {have}, but entries up to {promised} were acknowledged (recorded in `{file}`): entries {from} to {promised} are lost or damaged. \
The server does not start on it, so their numbers are never reused. Restore the data directory from a backup; or, to accept the loss, \
run `intervene audit record-gap --data {dir}`, which records it in the log as an `audit.gap` entry",
        from = have + 1
    )]
    Lost {
        dir: String,
        have: u64,
        promised: u64,
        file: &'static str,
    },
    /// The store was written by a newer intervene.
    #[error(
        "the data directory holds store format {found}, written by a newer intervene; this binary reads formats up to {reads}. \
Run the newer binary, or restore a backup taken with this version (nothing was read or changed)"
    )]
    NewerFormat { found: u32, reads: u32 },
    /// The entry at the recorded head is not the one acknowledged.
    #[error(
        "the audit log in `{dir}` holds another entry {seq} than the one acknowledged (recorded in `{file}`): the log was altered or replaced; restore the data directory from a backup"
    )]
    Diverged {
        dir: String,
        seq: u64,
        file: &'static str,
    },
}

impl AuditError {
    /// The store cannot take entries (damaged, lost entries, shut down): the client
    /// should be told "unavailable", not "internal error".
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            AuditError::Store(_)
                | AuditError::Damaged(_)
                | AuditError::Closed
                | AuditError::Lost { .. }
                | AuditError::Diverged { .. }
                | AuditError::NewerFormat { .. }
        )
    }

    /// Entry `seq`'s stored bytes do not parse.
    pub(crate) fn unreadable(seq: u64, source: serde_json::Error) -> AuditError {
        AuditError::Unreadable {
            seq,
            what: "",
            source,
        }
    }
}
