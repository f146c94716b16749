//! Is the store fit to take entries? Never silent about the answer.
//!
//! Once anything shows the store is damaged (a sled error on a read or a write, a
//! panic inside sled, a broken link found at startup, the data directory deleted or
//! replaced under the running server), [`Health`] remembers why: readiness reports
//! it, the writer refuses every later append (nothing is acknowledged into a store
//! known bad) and the reason is logged once. It does not heal by itself: the operator
//! restarts the server after repairing or restoring the data directory.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// The store's fitness, shared by the writer, the readers and readiness.
#[derive(Debug, Default)]
pub(super) struct Health {
    damaged: AtomicBool,
    reason: Mutex<Option<String>>,
    /// Why the follower kept beside the log (the caseload) stopped following it.
    lagging: Mutex<Option<String>>,
}

impl Health {
    /// Record that the store is damaged (the first reason is kept and logged).
    pub(super) fn mark(&self, reason: impl Into<String>) {
        let reason = reason.into();
        if let Ok(mut r) = self.reason.lock()
            && r.is_none()
        {
            tracing::error!(problem = %reason, "audit store is damaged; appends are refused and readiness fails until it is repaired and the server restarted");
            *r = Some(reason);
        }
        self.damaged.store(true, Ordering::Release);
    }

    /// Record that the follower stopped following the log (the first reason is kept).
    pub(super) fn mark_lagging(&self, reason: String) {
        if let Ok(mut r) = self.lagging.lock()
            && r.is_none()
        {
            *r = Some(reason);
        }
    }

    /// Why the follower is behind the log, if it is.
    pub(super) fn lagging(&self) -> Option<String> {
        self.lagging.lock().ok().and_then(|r| r.clone())
    }

    /// Why the store is damaged, if it is.
    pub(super) fn problem(&self) -> Option<String> {
        if !self.damaged.load(Ordering::Acquire) {
            return None;
        }
        let reason = self.reason.lock().ok().and_then(|r| r.clone());
        Some(reason.unwrap_or_else(|| "the audit store is damaged".into()))
    }
}

/// The data directory and sled's `db` file as they were when the store was opened:
/// a directory deleted, moved away or replaced under the running server no longer
/// matches, so writes into it stop being acknowledged.
#[derive(Debug)]
pub(super) struct Identity {
    dir: PathBuf,
    dir_id: (u64, u64),
    db_id: (u64, u64),
    /// sled's `db` file, held open: a link count of 0 means it was deleted.
    db_file: Option<std::fs::File>,
}

impl Identity {
    pub(super) fn take(dir: &Path, db_file: Option<std::fs::File>) -> std::io::Result<Identity> {
        let id = |m: std::fs::Metadata| (m.dev(), m.ino());
        Ok(Identity {
            dir: dir.to_path_buf(),
            dir_id: id(std::fs::metadata(dir)?),
            db_id: id(std::fs::metadata(dir.join("db"))?),
            db_file,
        })
    }

    /// `None` while the directory and `db` file are the ones opened; else what changed.
    pub(super) fn check(&self) -> Option<String> {
        let shown = self.dir.display();
        let same = |p: &Path, want: (u64, u64)| {
            std::fs::metadata(p).is_ok_and(|m| (m.dev(), m.ino()) == want)
        };
        if !same(&self.dir, self.dir_id) {
            return Some(format!(
                "the data directory `{shown}` was deleted or replaced while the server ran"
            ));
        }
        let unlinked = self
            .db_file
            .as_ref()
            .is_some_and(|f| f.metadata().is_ok_and(|m| m.nlink() == 0));
        if unlinked || !same(&self.dir.join("db"), self.db_id) {
            return Some(format!(
                "the audit store file `{shown}/db` was deleted or replaced while the server ran"
            ));
        }
        None
    }
}

/// The message of a caught panic.
pub(super) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// Run `f`, turning a panic inside it (sled panics on some damaged files) into an
/// error with the panic's message.
pub(super) fn no_panic<T>(what: &str, f: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .map_err(|p| format!("sled failed while {what}: {}", panic_message(p.as_ref())))
}
