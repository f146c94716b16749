//! The audit log: append-only, hash-chained entries in sled.
//!
//! Every entry has a sequence number (its key, big-endian so keys sort in order),
//! `prev_hash` and `hash` = SHA-256 over the entry's canonical JSON without `hash`
//! (which includes `prev_hash`), so altering or removing any entry breaks the chain at
//! that point ([`Store::verify`]). Index trees by student and by rule point back to
//! sequence numbers.
//!
//! Durability: one writer thread owns appends. It takes every entry waiting, writes
//! them, flushes sled once and fsyncs its files, then answers all of them (group
//! commit): a caller is answered only once its entry is on disk, and concurrent
//! callers share one flush. sled 0.34's own `flush_async` hangs with many callers and
//! its `flush` is not an fsync on Linux, hence the dedicated thread and the explicit
//! `sync_all`.
//!
//! This is the only module that touches sled's audit trees.

mod decision;
mod query;
mod writer;

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use decision::{Source, decision_entry, record_hash};
pub use query::{Page, Query, VerifyReport};
pub use writer::FlushStats;

/// Tree names; part of the on-disk format.
pub const LOG_TREE: &str = "audit_log";
pub const BY_STUDENT_TREE: &str = "audit_by_student";
pub const BY_RULE_TREE: &str = "audit_by_rule";
const META_TREE: &str = "audit_meta";

/// The hash before the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One audit entry as stored and returned.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub seq: u64,
    pub kind: String,
    /// UTC, RFC 3339 with milliseconds.
    pub at: String,
    pub actor: String,
    pub request_id: String,
    /// The entry's content; its shape depends on `kind` (a `decision` entry holds
    /// `decision`, `source`, `record` as kept by the privacy policy, …).
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    pub prev_hash: String,
    pub hash: String,
}

/// The part of an entry its hash covers.
#[derive(Serialize)]
struct Body<'a> {
    seq: u64,
    kind: &'a str,
    at: &'a str,
    actor: &'a str,
    request_id: &'a str,
    payload: &'a serde_json::Value,
    prev_hash: &'a str,
}

impl Entry {
    /// SHA-256 over the canonical JSON of everything but `hash`.
    pub fn compute_hash(&self) -> String {
        let body = Body {
            seq: self.seq,
            kind: &self.kind,
            at: &self.at,
            actor: &self.actor,
            request_id: &self.request_id,
            payload: &self.payload,
            prev_hash: &self.prev_hash,
        };
        hex::encode(Sha256::digest(
            serde_json::to_vec(&body).unwrap_or_default(),
        ))
    }

    /// Student this entry concerns, if any (`payload.student_id`).
    pub fn student_id(&self) -> Option<&str> {
        self.payload.get("student_id").and_then(|v| v.as_str())
    }
}

/// An entry to append; the store assigns `seq`, `at` and the hashes.
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub kind: String,
    pub actor: String,
    pub request_id: String,
    /// Indexed by `payload.student_id` and each of `payload.rule_ids` when present.
    pub payload: serde_json::Value,
}

/// Audit store failures.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit store: {0}")]
    Store(#[from] sled::Error),
    #[error("audit store: {0}")]
    Io(#[from] std::io::Error),
    #[error("audit store is shut down")]
    Closed,
    #[error("audit entry {seq} is unreadable: {message}")]
    Corrupt { seq: u64, message: String },
}

/// Called after each group commit with its size and timing (for metrics).
pub type FlushObserver = Arc<dyn Fn(&FlushStats) + Send + Sync>;

/// The open audit store. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    db: sled::Db,
    log: sled::Tree,
    by_student: sled::Tree,
    by_rule: sled::Tree,
    meta: sled::Tree,
    writer: writer::Handle,
}

impl Store {
    /// Open (or create) the store in `dir`. Fails when another process has it open.
    pub fn open(dir: &Path, observer: Option<FlushObserver>) -> Result<Store, AuditError> {
        std::fs::create_dir_all(dir)?;
        let db = sled::Config::new().path(dir).open().map_err(|e| match e {
            sled::Error::Io(io) if io.kind() == std::io::ErrorKind::WouldBlock || io.to_string().contains("lock") => {
                AuditError::Io(std::io::Error::other(format!(
                    "data directory `{}` is in use by another intervene process (stop the server first)",
                    dir.display()
                )))
            }
            other => AuditError::Store(other),
        })?;
        Self::from_db(db, dir, observer)
    }

    /// Use an already-open sled database (shared with other modules' trees).
    pub fn from_db(
        db: sled::Db,
        dir: &Path,
        observer: Option<FlushObserver>,
    ) -> Result<Store, AuditError> {
        let log = db.open_tree(LOG_TREE)?;
        let by_student = db.open_tree(BY_STUDENT_TREE)?;
        let by_rule = db.open_tree(BY_RULE_TREE)?;
        let meta = db.open_tree(META_TREE)?;
        let head = writer::recover(&log, &by_student, &by_rule, &meta)?;
        let trees = writer::Trees {
            db: db.clone(),
            log: log.clone(),
            by_student: by_student.clone(),
            by_rule: by_rule.clone(),
            meta: meta.clone(),
            db_file: std::fs::File::open(dir.join("db")).ok(),
        };
        if let Ok(conf) = std::fs::File::open(dir.join("conf")) {
            conf.sync_all()?;
        }
        let writer = writer::Handle::start(trees, head, observer);
        Ok(Store {
            inner: Arc::new(Inner {
                db,
                log,
                by_student,
                by_rule,
                meta,
                writer,
            }),
        })
    }

    /// The sled database, for modules that keep their own trees beside the log.
    pub fn db(&self) -> &sled::Db {
        &self.inner.db
    }

    /// Append one entry; resolves once it is durable on disk.
    pub async fn append(&self, entry: NewEntry) -> Result<Entry, AuditError> {
        self.inner.writer.append(entry).await
    }

    /// Append from synchronous code (CLI, blocking threads).
    pub fn append_blocking(&self, entry: NewEntry) -> Result<Entry, AuditError> {
        self.inner.writer.append_blocking(entry)
    }

    /// Append several entries and wait for all of them (one flush when possible).
    pub async fn append_all(&self, entries: Vec<NewEntry>) -> Result<Vec<Entry>, AuditError> {
        let waits: Vec<_> = entries
            .into_iter()
            .map(|e| self.inner.writer.submit(e))
            .collect();
        let mut out = Vec::with_capacity(waits.len());
        for w in waits {
            out.push(w.await.map_err(|_| AuditError::Closed)??);
        }
        Ok(out)
    }

    /// Wait for pending appends and stop the writer; the last batch is flushed.
    pub fn shutdown(&self) {
        self.inner.writer.shutdown();
    }

    /// The entry with sequence number `seq`.
    pub fn get(&self, seq: u64) -> Result<Option<Entry>, AuditError> {
        match self.inner.log.get(seq.to_be_bytes())? {
            None => Ok(None),
            Some(bytes) => decode(seq, &bytes).map(Some),
        }
    }

    /// Number of the last entry (0 when empty).
    pub fn head_seq(&self) -> Result<u64, AuditError> {
        Ok(self
            .inner
            .log
            .last()?
            .map(|(k, _)| key_seq(&k))
            .unwrap_or(0))
    }

    /// Entries with `seq > after`, in order, at most `limit`, as stored bytes
    /// (for streaming export without re-serializing).
    pub fn raw_after(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, sled::IVec)>, AuditError> {
        let mut out = Vec::new();
        for item in self
            .inner
            .log
            .range((after + 1).to_be_bytes()..)
            .take(limit)
        {
            let (k, v) = item?;
            out.push((key_seq(&k), v));
        }
        Ok(out)
    }
}

pub(crate) fn key_seq(k: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = k.len().min(8);
    b[8 - n..].copy_from_slice(&k[k.len() - n..]);
    u64::from_be_bytes(b)
}

pub(crate) fn decode(seq: u64, bytes: &[u8]) -> Result<Entry, AuditError> {
    serde_json::from_slice(bytes).map_err(|e| AuditError::Corrupt {
        seq,
        message: e.to_string(),
    })
}

/// Index key: `<name> 0x00 <seq big-endian>`; names never contain NUL.
pub(crate) fn index_key(name: &str, seq: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(name.len() + 9);
    k.extend_from_slice(name.as_bytes());
    k.push(0);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// The current time as stored in entries.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(payload: serde_json::Value) -> NewEntry {
        NewEntry {
            kind: "test".into(),
            actor: "t".into(),
            request_id: "r".into(),
            payload,
        }
    }

    /// serde_json without `float_roundtrip` parses 0.23493975903614459 as a
    /// neighbouring float, so a stored decision no longer matched its hash.
    #[test]
    fn chain_verifies_with_floats_that_need_exact_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), None).unwrap();
        store
            .append_blocking(entry(
                serde_json::json!({"rate": 0.23493975903614459, "student_id": "S1"}),
            ))
            .unwrap();
        store
            .append_blocking(entry(
                serde_json::json!({"rate": 1.0e-7, "big": 12345678901234567u64}),
            ))
            .unwrap();
        let report = store.verify(&mut |_| {}).unwrap();
        assert!(report.ok, "{report:?}");
        assert_eq!(report.entries, 2);
    }

    #[test]
    fn entries_are_chained_and_indexed_by_student() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), None).unwrap();
        let a = store
            .append_blocking(entry(
                serde_json::json!({"student_id": "S1", "rule_ids": ["low-gpa"]}),
            ))
            .unwrap();
        let b = store
            .append_blocking(entry(serde_json::json!({"student_id": "S2"})))
            .unwrap();
        assert_eq!(a.prev_hash, GENESIS);
        assert_eq!(b.prev_hash, a.hash);
        let page = store
            .query(&Query {
                student: Some("S1".into()),
                limit: 10,
                ..Query::default()
            })
            .unwrap();
        assert_eq!(
            page.entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![1]
        );
        let page = store
            .query(&Query {
                rule: Some("low-gpa".into()),
                limit: 10,
                ..Query::default()
            })
            .unwrap();
        assert_eq!(page.entries.len(), 1);
    }

    #[test]
    fn reopening_continues_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path(), None).unwrap();
            store
                .append_blocking(entry(serde_json::json!({"n": 1})))
                .unwrap();
            store.shutdown();
        }
        let store = Store::open(dir.path(), None).unwrap();
        let e = store
            .append_blocking(entry(serde_json::json!({"n": 2})))
            .unwrap();
        assert_eq!(e.seq, 2);
        assert!(store.verify(&mut |_| {}).unwrap().ok);
    }
}
