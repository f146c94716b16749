//! The audit log: append-only, hash-chained entries in sled.
//!
//! Every entry has a sequence number (its key, big-endian so keys sort in order),
//! `prev_hash` and `hash` = SHA-256 over the entry's stored JSON without its final
//! `hash` member (so it covers `prev_hash`; see `chain`), so altering or removing
//! any entry breaks the chain at that point ([`Store::verify`]). Index trees by
//! student and by rule point back to sequence numbers.
//!
//! Durability: one writer thread owns appends. It takes every entry waiting, writes
//! them, flushes sled once and fsyncs its files, then answers all of them (group
//! commit): a caller is answered only once its entry is on disk, and concurrent
//! callers share one flush. sled 0.34's own `flush_async` hangs with many callers and
//! its `flush` is not an fsync on Linux, hence the dedicated thread and the explicit
//! `sync_all`.
//!
//! Retention removes old decisions' content, and closed plans', without breaking
//! the chain: see `purge` and `plan_entries`.
//!
//! Damage is never silent: the head is recorded outside sled after every group
//! commit and in signed checkpoints ([`checkpoint`]), so a log that lost its newest
//! entries refuses to open for writing ([`Store::open`]); a sled error or panic on
//! any read or write marks the store damaged (readiness fails, appends are refused);
//! so does the data directory disappearing under the server.
//!
//! This is the only module that touches sled's audit trees.
//!
//! The modules, each building only on those listed before it:
//!
//! - `kind`: the entry kinds ([`EntryKind`]); `error`: [`AuditError`];
//!   `health`: is the store fit to take entries; `entry`: [`NewEntry`], [`Entry`].
//! - `chain`: the trees, the head, framing, hashing, writing and indexing one entry.
//! - [`checkpoint`]: signed heads kept outside sled; `holds`: legal holds.
//! - `plan_entries`: a plan's entries and its trees, for a purge.
//! - `purge`: tombstones and the purge entry (run by the writer).
//! - `writer`: the group-commit thread; `sweep`: choosing what a purge removes.
//! - `query`: pages and verification; `tail`: the startup check; `open`: opening.
//! - `retention`: the hourly retention thread; `decision`: a decision's entry.
//! - this file: the [`Store`] facade over all of them.

mod chain;
pub mod checkpoint;
mod codec;
#[cfg(test)]
mod codec_tests;
mod decision;
mod entry;
mod error;
pub mod follow;
pub mod format;
mod health;
mod holds;
mod kind;
mod open;
mod plan_entries;
mod purge;
mod query;
mod retention;
mod sweep;
mod tail;
#[cfg(test)]
mod tests;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub use chain::{BY_RULE_TREE, BY_STUDENT_TREE, GENESIS, Gap, LOG_TREE, open_db, open_log};
pub(crate) use chain::{decode, key_seq, stored_hash};
pub use checkpoint::Checkpoint;
pub use codec::{Log, pack, unpack};
pub use decision::{
    Source, decision_entry, decision_entry_in, decision_entry_with_json, decision_json, record_hash,
};
pub use entry::{Appended, Companion, Entry, NewEntry, now};
pub use error::AuditError;
pub use holds::Hold;
pub use kind::{EntryKind, OtherKind};
pub use open::{OpenMode, Options};
pub use plan_entries::{PLANS_BY_STUDENT_TREE, PLANS_TREE};
pub use purge::MAX_PER_PURGE;
pub use query::{Page, Query, VerifyReport};
pub use retention::{Purge, Retention, retention_cutoff};
pub use sweep::PurgeReport;
pub use writer::{FlushObserver, FlushStats};

/// The open audit store. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    trees: chain::Trees,
    writer: writer::Handle,
    dir: PathBuf,
    health: Arc<health::Health>,
    /// The data directory as opened (`None` for a store opened to inspect).
    identity: Option<health::Identity>,
    latest: Arc<Mutex<Option<Checkpoint>>>,
    /// The gap recorded when opened with [`OpenMode::RecordGap`].
    recorded_gap: Option<Gap>,
}

impl Store {
    /// Open (or create) the store in `dir` to take entries, with unsigned
    /// checkpoints at the default interval. Fails when another process has it open,
    /// when sled cannot read it, or when the log lost entries it acknowledged.
    pub fn open(dir: &Path, observer: Option<FlushObserver>) -> Result<Store, AuditError> {
        Self::open_with(
            dir,
            Options {
                observer,
                ..Options::default()
            },
        )
    }

    /// Open the store in `dir` to read and verify it, whatever state it is in.
    pub fn open_to_inspect(dir: &Path) -> Result<Store, AuditError> {
        Self::open_with(
            dir,
            Options {
                mode: OpenMode::Inspect,
                ..Options::default()
            },
        )
    }

    /// Open (or create) the store in `dir` as `options` say.
    pub fn open_with(dir: &Path, options: Options) -> Result<Store, AuditError> {
        let db = open_db(dir)?;
        Self::from_db_with(db, dir, options)
    }

    /// Use an already-open sled database (shared with other modules' trees).
    pub fn from_db(
        db: sled::Db,
        dir: &Path,
        observer: Option<FlushObserver>,
    ) -> Result<Store, AuditError> {
        Self::from_db_with(
            db,
            dir,
            Options {
                observer,
                ..Options::default()
            },
        )
    }

    /// [`Store::from_db`] with [`Options`].
    pub fn from_db_with(db: sled::Db, dir: &Path, options: Options) -> Result<Store, AuditError> {
        let o = open::open(db, dir, options)?;
        Ok(Store {
            inner: Arc::new(Inner {
                trees: o.trees,
                writer: o.writer,
                dir: dir.to_path_buf(),
                health: o.health,
                identity: o.identity,
                latest: o.latest,
                recorded_gap: o.gap,
            }),
        })
    }

    /// The gap recorded when the store was opened with [`OpenMode::RecordGap`]
    /// (`None`: nothing was lost).
    pub fn recorded_gap(&self) -> Option<Gap> {
        self.inner.recorded_gap.clone()
    }
    /// Why the store cannot take entries, if it cannot: damaged (a sled error or
    /// panic, a broken chain found at startup) or its data directory gone. Cheap
    /// (a few `stat`s): readiness calls it.
    pub fn problem(&self) -> Option<String> {
        if let Some(p) = self
            .inner
            .identity
            .as_ref()
            .and_then(health::Identity::check)
        {
            self.inner.health.mark(p);
        }
        self.inner.health.problem()
    }

    /// Why the state kept beside the log (the caseload index) stopped following it,
    /// if it did: it is then behind the log until the server restarts and rebuilds it.
    pub fn follower_lagging(&self) -> Option<String> {
        self.inner.health.lagging()
    }

    /// Record that the store is damaged (for modules that keep their own trees in
    /// the same sled database and see a sled error there).
    pub fn report_damage(&self, problem: impl Into<String>) {
        self.inner.health.mark(problem);
    }

    /// The latest checkpoint (made at startup, every N entries or seconds, and at
    /// shutdown); `None` for a store opened to inspect.
    pub fn latest_checkpoint(&self) -> Option<Checkpoint> {
        self.inner.latest.lock().ok().and_then(|c| c.clone())
    }

    /// Run a read, turning a panic inside sled into an error, and marking the store
    /// damaged on any sled error.
    fn reading<T>(&self, f: impl FnOnce() -> Result<T, AuditError>) -> Result<T, AuditError> {
        let result = health::no_panic("reading the audit log", f)
            .map_err(AuditError::Damaged)
            .and_then(|r| r);
        match &result {
            Err(AuditError::Store(e)) => self.inner.health.mark(format!("sled: {e}")),
            Err(AuditError::Damaged(m)) => self.inner.health.mark(m.clone()),
            _ => {}
        }
        result
    }

    /// The sled database, for modules that keep their own trees beside the log.
    pub fn db(&self) -> &sled::Db {
        &self.inner.trees.db
    }

    /// Append one entry; resolves once it is durable on disk.
    pub async fn append(&self, entry: NewEntry) -> Result<Appended, AuditError> {
        self.inner.writer.append(entry).await
    }

    /// Append one entry together with `companions`: writes to other trees of this
    /// database that must land only with the entry (a student's snapshot and the
    /// outcome of the event that changed it). The writer thread stores them right
    /// after the entry and before the same flush, so they are never visible before
    /// the entry, never kept when the entry could not be written, and never survive
    /// a crash without it. Resolves once all of it is durable.
    pub async fn append_with(
        &self,
        entry: NewEntry,
        companions: Vec<Companion>,
    ) -> Result<Appended, AuditError> {
        self.inner
            .writer
            .submit_with(entry, companions)
            .await
            .map_err(|_| AuditError::Closed)?
    }

    /// Append from synchronous code (CLI, blocking threads).
    pub fn append_blocking(&self, entry: NewEntry) -> Result<Appended, AuditError> {
        self.inner.writer.append_blocking(entry)
    }

    /// Append several entries and wait for all of them (one flush when possible).
    pub async fn append_all(&self, entries: Vec<NewEntry>) -> Result<Vec<Appended>, AuditError> {
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
        self.reading(|| query::get(&self.inner.trees, seq))
    }

    /// [`Store::get`], and whether the entry's stored bytes still match its `hash`
    /// (one entry's share of what [`Store::verify`] checks for the whole chain). Kept
    /// apart from `get`, which queries call per entry and which need no hashing.
    pub fn get_checked(&self, seq: u64) -> Result<Option<(Entry, bool)>, AuditError> {
        self.reading(|| match self.inner.trees.log.get(seq)? {
            None => Ok(None),
            Some(bytes) => {
                let intact = stored_hash(&bytes).is_some_and(|(c, claimed)| c == claimed);
                decode(seq, &bytes).map(|e| Some((e, intact)))
            }
        })
    }

    /// Number of the last entry (0 when empty).
    pub fn head_seq(&self) -> Result<u64, AuditError> {
        self.reading(|| {
            Ok(self
                .inner
                .trees
                .log
                .tree()
                .last()?
                .map(|(k, _)| key_seq(&k))
                .unwrap_or(0))
        })
    }

    /// Entries with `seq > after`, in order, at most `limit`, as stored bytes
    /// (for streaming export without re-serializing).
    pub fn raw_after(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, sled::IVec)>, AuditError> {
        self.reading(|| follow::raw_after(&self.inner.trees.log, after, limit))
    }

    /// Entries matching `q`, newest first.
    pub fn query(&self, q: &Query) -> Result<Page, AuditError> {
        self.reading(|| query::query(&self.inner.trees, q))
    }

    /// Check the whole chain: contiguous sequence numbers from 1, each `prev_hash`
    /// equal to the previous `hash`, each `hash` equal to the recomputed one, and the
    /// head recorded outside sled reached. `progress` is called every 10,000 entries.
    pub fn verify(&self, progress: &mut dyn FnMut(u64)) -> Result<VerifyReport, AuditError> {
        self.reading(|| query::verify(&self.inner.trees, &self.inner.dir, progress))
    }

    /// Does the log hold checkpoint `c` (an entry at `c.seq` with `c.hash`)? The
    /// signature is checked apart ([`Checkpoint::check_signature`]).
    pub fn check_checkpoint(&self, c: &Checkpoint) -> Result<(), String> {
        if c.seq == 0 {
            return Ok(());
        }
        let head = self.head_seq().map_err(|e| e.to_string())?;
        let hash = self
            .reading(|| chain::hash_at(&self.inner.trees.log, c.seq))
            .map_err(|e| e.to_string())?;
        query::check_checkpoint(c, head, hash)
    }

    /// Remove the content of every `decision` entry whose `at` is before `before`
    /// (RFC 3339 UTC, as stored), keeping the chain verifiable: see `purge`.
    /// Entries appended while it runs are not considered. Blocking.
    pub fn purge_before(
        &self,
        before: &str,
        actor: &str,
        request_id: &str,
    ) -> Result<PurgeReport, AuditError> {
        let through = self.head_seq()?;
        let writer = &self.inner.writer;
        sweep::purge_before(
            &self.inner.trees,
            through,
            before,
            actor,
            request_id,
            &mut |request| writer.purge_blocking(request),
        )
    }

    /// Every legal hold, by student id.
    pub fn holds(&self) -> Result<Vec<Hold>, AuditError> {
        self.reading(|| holds::holds(&self.inner.trees.meta))
    }

    /// Place a legal hold on `student_id`'s decisions (replacing any reason given
    /// before). Once this returns, no purge removes them until the hold is lifted.
    pub async fn place_hold(
        &self,
        student_id: &str,
        reason: &str,
        actor: &str,
        request_id: &str,
    ) -> Result<Hold, AuditError> {
        let hold = Hold {
            student_id: student_id.to_string(),
            reason: reason.to_string(),
            placed_by: actor.to_string(),
            placed_at: now(),
        };
        let kept = hold.clone();
        self.off_thread(move |meta| holds::place(meta, &kept))
            .await?;
        // The writer runs purges; once this entry is through it, no purge that could
        // have missed the hold is still running.
        self.append(NewEntry::new(
            EntryKind::AuditHoldPlaced,
            actor,
            request_id,
            serde_json::json!({"student_id": student_id, "reason": reason}),
        ))
        .await?;
        Ok(hold)
    }

    /// Lift a legal hold; `false` when there was none.
    pub async fn lift_hold(
        &self,
        student_id: &str,
        actor: &str,
        request_id: &str,
    ) -> Result<bool, AuditError> {
        let student = student_id.to_string();
        let removed = self
            .off_thread(move |meta| Ok(sweep::lift_hold(meta, &student)?))
            .await?;
        if !removed {
            return Ok(false);
        }
        self.append(NewEntry::new(
            EntryKind::AuditHoldLifted,
            actor,
            request_id,
            serde_json::json!({"student_id": student_id}),
        ))
        .await?;
        Ok(true)
    }

    /// Run `f` on the meta tree on a blocking thread (never on an async worker).
    async fn off_thread<T: Send + 'static>(
        &self,
        f: impl FnOnce(&sled::Tree) -> Result<T, AuditError> + Send + 'static,
    ) -> Result<T, AuditError> {
        let meta = self.inner.trees.meta.clone();
        crate::blocking::run(move || f(&meta))
            .await
            .map_err(|e| AuditError::Io(std::io::Error::other(e)))?
    }
}

impl follow::ReadLog for Store {
    fn raw_after(&self, after: u64, limit: usize) -> Result<Vec<(u64, sled::IVec)>, AuditError> {
        Store::raw_after(self, after, limit)
    }
}

impl Purge for Store {
    fn purge_before(
        &self,
        before: &str,
        actor: &str,
        request_id: &str,
    ) -> Result<PurgeReport, AuditError> {
        Store::purge_before(self, before, actor, request_id)
    }
}
