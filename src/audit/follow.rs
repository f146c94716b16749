//! Followers: state kept beside the log (the caseload index) that the writer thread
//! updates inside the same durable write as each entry, so what a caller was
//! answered for is also in the follower, and a crash can leave the follower behind
//! the log but never ahead of it.
//!
//! The audit store knows nothing of what a follower keeps: it hands each entry's
//! parts to [`Follower::entry`], each decision a purge removed to
//! [`Follower::purged`], and the head after each group to [`Follower::applied`]
//! (which the follower records in the same flush, so on reopening it can tell
//! whether it is current). A follower is attached when the store opens, before the
//! writer starts ([`Options::follow`](super::Options)), so no entry can slip
//! between its catching up and its following. One that cannot catch up (a log
//! damaged where it must read) is left out rather than keeping the store from
//! opening, and reads as lagging ([`Store::follower_lagging`](super::Store)).

use super::codec::Log;
use super::error::AuditError;
use super::kind::EntryKind;

/// What a follower is told about one written entry.
pub struct Written<'a> {
    pub seq: u64,
    pub kind: &'a EntryKind,
    pub at: &'a str,
    pub hash: &'a str,
    /// The payload's JSON text.
    pub payload: &'a str,
}

/// State kept current by the writer thread. Errors are text: the writer logs them
/// and stops feeding the follower ([`Follower::applied`] is not called again), so
/// the follower reads as behind the log and catches up when the store next opens.
pub trait Follower: Send {
    /// An entry was written. `Ok(true)` means the follower found it out of date
    /// (it is in the log but changed nothing here): the append answers it as
    /// superseded.
    fn entry(&mut self, written: &Written<'_>) -> Result<bool, String>;
    /// A purge removed decision `seq` of `student_id`.
    fn purged(&mut self, student_id: &str, seq: u64) -> Result<(), String>;
    /// Everything up to `seq` is applied (written before the group's flush).
    fn applied(&mut self, seq: u64) -> Result<(), String>;
}

/// Attaches a follower when the store opens: given the log (to catch up from) and
/// its head, returns the follower. Runs before the writer thread starts.
pub type Attach =
    Box<dyn FnOnce(&LogView, u64) -> Result<Box<dyn Follower>, String> + Send + 'static>;

/// Reading the stored log in order, as a follower catching up does: from the
/// [`LogView`] it is attached with, or from an open [`Store`](super::Store) (the
/// command line's rebuild).
pub trait ReadLog {
    /// Entries with `seq > after`, in order, at most `limit`, as stored bytes.
    fn raw_after(&self, after: u64, limit: usize) -> Result<Vec<(u64, sled::IVec)>, AuditError>;
}

/// The store's database and log as a follower being attached sees them.
pub struct LogView {
    pub(super) db: sled::Db,
    pub(super) log: Log,
}

impl LogView {
    /// The database, for the follower's own trees (they share its flushes).
    pub fn db(&self) -> &sled::Db {
        &self.db
    }
}

impl ReadLog for LogView {
    fn raw_after(&self, after: u64, limit: usize) -> Result<Vec<(u64, sled::IVec)>, AuditError> {
        raw_after(&self.log, after, limit)
    }
}

/// Entries of `log` with `seq > after`, in order, at most `limit`.
pub(super) fn raw_after(
    log: &Log,
    after: u64,
    limit: usize,
) -> Result<Vec<(u64, sled::IVec)>, AuditError> {
    let mut out = Vec::new();
    for item in log.range(after + 1..).take(limit) {
        out.push(item?);
    }
    Ok(out)
}
