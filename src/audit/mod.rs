//! The audit log: append-only, hash-chained entries in sled.
//!
//! Every entry has a sequence number (its key, big-endian so keys sort in order),
//! `prev_hash` and `hash` = SHA-256 over the entry's stored JSON without its final
//! `hash` member (so it covers `prev_hash`; see [`encode`]), so altering or removing
//! any entry breaks the chain at that point ([`Store::verify`]). Index trees by student and by rule point back to
//! sequence numbers.
//!
//! Durability: one writer thread owns appends. It takes every entry waiting, writes
//! them, flushes sled once and fsyncs its files, then answers all of them (group
//! commit): a caller is answered only once its entry is on disk, and concurrent
//! callers share one flush. sled 0.34's own `flush_async` hangs with many callers and
//! its `flush` is not an fsync on Linux, hence the dedicated thread and the explicit
//! `sync_all`.
//!
//! Retention removes old decisions' content without breaking the chain: see
//! [`purge`].
//!
//! Damage is never silent: the head is recorded outside sled after every group
//! commit and in signed checkpoints ([`checkpoint`]), so a log that lost its newest
//! entries refuses to open for writing ([`Store::open`]); a sled error or panic on
//! any read or write marks the store damaged (readiness fails, appends are refused);
//! so does the data directory disappearing under the server.
//!
//! This is the only module that touches sled's audit trees.

pub mod checkpoint;
mod decision;
mod health;
mod purge;
mod query;
mod tail;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use checkpoint::Checkpoint;
pub use decision::{Source, decision_entry, decision_entry_with_json, decision_json, record_hash};
pub use purge::{Hold, MAX_PER_PURGE, Retention, retention_cutoff};
pub use query::{Gap, Page, Query, VerifyReport};
pub use writer::FlushStats;

/// Tree names; part of the on-disk format.
pub const LOG_TREE: &str = "audit_log";
pub const BY_STUDENT_TREE: &str = "audit_by_student";
pub const BY_RULE_TREE: &str = "audit_by_rule";
pub(crate) const META_TREE: &str = "audit_meta";

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
    /// Set on an entry a retention purge removed: its payload is gone (null) and
    /// this names the `audit.purged` entry that removed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purged_by: Option<u64>,
    pub prev_hash: String,
    pub hash: String,
}

impl Entry {
    /// Student this entry concerns, if any (`payload.student_id`).
    pub fn student_id(&self) -> Option<&str> {
        index_keys(&self.payload).0
    }

    /// Rules that fired, for a decision (`payload.rule_ids`).
    pub fn rule_ids(&self) -> Vec<&str> {
        index_keys(&self.payload).1
    }
}

/// What a payload is indexed by: `payload.student_id` and each of `payload.rule_ids`.
fn index_keys(payload: &serde_json::Value) -> (Option<&str>, Vec<&str>) {
    let student = payload.get("student_id").and_then(|v| v.as_str());
    let rules = payload
        .get("rule_ids")
        .and_then(|v| v.as_array())
        .map(|a| a.iter().filter_map(|r| r.as_str()).collect())
        .unwrap_or_default();
    (student, rules)
}

/// A write to another tree of the audit store's database that lands with an entry
/// ([`Store::append_with`]).
#[derive(Debug, Clone)]
pub struct Companion {
    pub tree: sled::Tree,
    pub key: Vec<u8>,
    pub value: Vec<u8>,
}

/// What an append returns: where the entry landed in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    pub seq: u64,
    pub prev_hash: String,
    pub hash: String,
}

/// An entry to append; the store assigns `seq`, `at` and the hashes.
///
/// The payload is serialized by whoever builds the entry (on the request's own
/// thread), so the single writer thread only frames it, hashes it and stores it.
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub kind: String,
    pub actor: String,
    pub request_id: String,
    /// The payload's JSON text.
    payload: String,
    /// Index keys: `payload.student_id` and each of `payload.rule_ids`.
    student_id: Option<String>,
    rule_ids: Vec<String>,
}

impl NewEntry {
    /// An entry with a JSON payload, indexed by `payload.student_id` and each of
    /// `payload.rule_ids` when present.
    pub fn new(
        kind: impl Into<String>,
        actor: impl Into<String>,
        request_id: impl Into<String>,
        payload: serde_json::Value,
    ) -> NewEntry {
        let (student, rules) = index_keys(&payload);
        let student_id = student.map(str::to_string);
        let rule_ids = rules.into_iter().map(str::to_string).collect();
        NewEntry {
            kind: kind.into(),
            actor: actor.into(),
            request_id: request_id.into(),
            payload: payload.to_string(),
            student_id,
            rule_ids,
        }
    }
}

/// What [`Store::purge_before`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PurgeReport {
    /// Decision entries removed.
    pub purged: u64,
    /// The `audit.purged` entries appended (one per [`purge::MAX_PER_PURGE`]).
    pub purge_entries: Vec<u64>,
    /// Entries read to find them. Earlier purges leave a watermark (every decision
    /// at or below it is purged or held), so an hourly run reads only what is new.
    pub scanned: u64,
}

/// What one scan step of a purge found.
struct Candidates {
    /// Decisions to purge, ascending (at most [`purge::MAX_PER_PURGE`]).
    seqs: Vec<u64>,
    /// Where to continue, if there may be more.
    next: Option<u64>,
    /// Every decision from the step's start through `settled` is purged, about to be,
    /// or held; `blocked` once a kept decision was seen (the watermark stops there).
    settled: u64,
    blocked: bool,
    scanned: u64,
}

/// The fields a purge looks at.
#[derive(Deserialize)]
struct Dated<'a> {
    #[serde(borrow)]
    kind: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    at: std::borrow::Cow<'a, str>,
    #[serde(default)]
    purged_by: Option<u64>,
    #[serde(default, borrow)]
    payload: Option<DatedPayload<'a>>,
}

#[derive(Deserialize)]
struct DatedPayload<'a> {
    #[serde(default, borrow)]
    student_id: Option<std::borrow::Cow<'a, str>>,
}

impl Store {
    /// Remove the content of every `decision` entry whose `at` is before `before`
    /// (RFC 3339 UTC, as stored), keeping the chain verifiable: see [`purge`].
    /// Entries appended while it runs are not considered. Blocking.
    pub fn purge_before(
        &self,
        before: &str,
        actor: &str,
        request_id: &str,
    ) -> Result<PurgeReport, AuditError> {
        let through = self.head_seq()?;
        let meta = &self.inner.meta;
        let generation = meta_u64(meta, purge::HOLD_GENERATION)?;
        let start = meta_u64(meta, purge::WATERMARK)?;
        let mut watermark = start;
        let mut blocked = false;
        let mut report = PurgeReport::default();
        let mut from = start + 1;
        loop {
            let step = self.purge_candidates(from, through, before)?;
            report.scanned += step.scanned;
            if !blocked {
                watermark = watermark.max(step.settled);
                blocked = step.blocked;
            }
            if !step.seqs.is_empty() {
                let n = step.seqs.len() as u64;
                let appended = self.inner.writer.purge_blocking(writer::PurgeRequest {
                    seqs: step.seqs,
                    before: before.to_string(),
                    actor: actor.to_string(),
                    request_id: request_id.to_string(),
                })?;
                report.purged += n;
                report.purge_entries.push(appended.seq);
            }
            match step.next {
                Some(next) => from = next,
                None => break,
            }
        }
        if watermark > start {
            meta.insert(purge::WATERMARK, &watermark.to_be_bytes())?;
            // A hold lifted meanwhile may have freed entries below it: start over.
            if meta_u64(meta, purge::HOLD_GENERATION)? != generation {
                meta.remove(purge::WATERMARK)?;
            }
        }
        Ok(report)
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
        let bytes = serde_json::to_vec(&hold).map_err(|e| AuditError::Io(e.into()))?;
        let key = purge::hold_key(student_id);
        self.off_thread(move |meta| meta.insert(key, bytes).map(|_| ()))
            .await?;
        // The writer runs purges; once this entry is through it, no purge that could
        // have missed the hold is still running.
        self.append(NewEntry::new(
            "audit.hold.placed",
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
        let key = purge::hold_key(student_id);
        let removed = self
            .off_thread(move |meta| {
                if meta.remove(key)?.is_none() {
                    return Ok(false);
                }
                // The student's decisions below the purge watermark are purgeable
                // again: the next purge scans from the start.
                meta.fetch_and_update(purge::HOLD_GENERATION, |old| {
                    let n = old.map_or(0, key_seq);
                    Some((n + 1).to_be_bytes().to_vec())
                })?;
                meta.remove(purge::WATERMARK)?;
                Ok(true)
            })
            .await?;
        if !removed {
            return Ok(false);
        }
        self.append(NewEntry::new(
            "audit.hold.lifted",
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
        f: impl FnOnce(&sled::Tree) -> sled::Result<T> + Send + 'static,
    ) -> Result<T, AuditError> {
        let meta = self.inner.meta.clone();
        tokio::task::spawn_blocking(move || f(&meta))
            .await
            .map_err(|e| AuditError::Io(std::io::Error::other(e.to_string())))?
            .map_err(AuditError::from)
    }

    /// Every legal hold, by student id.
    pub fn holds(&self) -> Result<Vec<Hold>, AuditError> {
        self.reading(|| purge::holds(&self.inner.meta))
    }

    /// Up to [`purge::MAX_PER_PURGE`] unpurged decisions in `from..=through` dated
    /// before `before`, and where to continue if there may be more.
    fn purge_candidates(
        &self,
        from: u64,
        through: u64,
        before: &str,
    ) -> Result<Candidates, AuditError> {
        let held: std::collections::HashSet<String> = purge::holds(&self.inner.meta)?
            .into_iter()
            .map(|h| h.student_id)
            .collect();
        // Entries are appended in time order, so the scan can stop once it is a day
        // past the cutoff (the day allows for the clock being set back meanwhile).
        let stop_after = chrono::DateTime::parse_from_rfc3339(before)
            .map(|t| {
                (t.with_timezone(&chrono::Utc) + chrono::Duration::days(1))
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            })
            .ok();
        let mut step = Candidates {
            seqs: Vec::new(),
            next: None,
            settled: from.saturating_sub(1),
            blocked: false,
            scanned: 0,
        };
        for item in self
            .inner
            .log
            .range(from.to_be_bytes()..=through.to_be_bytes())
        {
            let (k, v) = item?;
            let seq = key_seq(&k);
            step.scanned += 1;
            let d: Dated = serde_json::from_slice(&v).map_err(|e| AuditError::Corrupt {
                seq,
                message: e.to_string(),
            })?;
            if stop_after.as_deref().is_some_and(|stop| *d.at > *stop) {
                break;
            }
            let student = d.payload.as_ref().and_then(|p| p.student_id.as_deref());
            let live = d.kind == "decision" && d.purged_by.is_none();
            let is_held = student.is_some_and(|s| held.contains(s));
            if live && *d.at >= *before && !is_held {
                step.blocked = true;
            }
            if !step.blocked {
                step.settled = seq;
            }
            if live && *d.at < *before && !is_held {
                step.seqs.push(seq);
                if step.seqs.len() == purge::MAX_PER_PURGE {
                    step.next = Some(seq + 1);
                    return Ok(step);
                }
            }
        }
        Ok(step)
    }
}

/// A big-endian `u64` kept in the meta tree (0 when absent).
fn meta_u64(meta: &sled::Tree, key: &str) -> Result<u64, AuditError> {
    Ok(meta.get(key)?.map_or(0, |v| key_seq(&v)))
}

/// `,"hash":"` + 64 hex digits + `"}`: how every stored entry ends.
const HASH_SUFFIX_LEN: usize = 9 + 64 + 2;

/// The stored bytes of an entry, and its hash.
///
/// An entry is stored as the JSON object `{"seq":…,"kind":…,"at":…,"actor":…,
/// "request_id":…,"payload":…,"prev_hash":…,"hash":…}`. Its `hash` is the SHA-256
/// (lowercase hex) of exactly those bytes with the trailing `,"hash":"…"` member
/// removed, that is of the object ending `…"prev_hash":"…"}`. Hashing the stored
/// bytes themselves, not a re-serialization, means anyone can check an exported
/// entry without reproducing our JSON writer.
fn encode(seq: u64, at: &str, new: &NewEntry, prev_hash: &str) -> (Vec<u8>, String) {
    let mut b = frame_head(
        seq,
        [&new.kind, at, &new.actor, &new.request_id],
        new.payload.as_bytes(),
    );
    b.extend_from_slice(b",\"prev_hash\":");
    json_str(&mut b, prev_hash);
    b.push(b'}');
    let hash = hex::encode(Sha256::digest(&b));
    b.pop();
    b.extend_from_slice(b",\"hash\":\"");
    b.extend_from_slice(hash.as_bytes());
    b.extend_from_slice(b"\"}");
    (b, hash)
}

/// The start every stored entry shares, up to and including its payload:
/// `{"seq":…,"kind":…,"at":…,"actor":…,"request_id":…,"payload":…`.
/// `names` are kind, at, actor and request_id, in that order.
fn frame_head(seq: u64, names: [&str; 4], payload: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(payload.len() + 256);
    b.extend_from_slice(b"{\"seq\":");
    b.extend_from_slice(seq.to_string().as_bytes());
    for (name, value) in ["kind", "at", "actor", "request_id"].iter().zip(names) {
        b.extend_from_slice(b",\"");
        b.extend_from_slice(name.as_bytes());
        b.extend_from_slice(b"\":");
        json_str(&mut b, value);
    }
    b.extend_from_slice(b",\"payload\":");
    b.extend_from_slice(payload);
    b
}

fn json_str(out: &mut Vec<u8>, s: &str) {
    // Writing a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// Recompute the hash of stored entry bytes; `None` when they do not end with a
/// `hash` member in the stored form.
pub(crate) fn stored_hash(bytes: &[u8]) -> Option<(String, &str)> {
    let cut = bytes.len().checked_sub(HASH_SUFFIX_LEN)?;
    let suffix = &bytes[cut..];
    if !suffix.starts_with(b",\"hash\":\"") || !suffix.ends_with(b"\"}") {
        return None;
    }
    let claimed = std::str::from_utf8(&suffix[9..9 + 64]).ok()?;
    let mut h = Sha256::new();
    h.update(&bytes[..cut]);
    h.update(b"}");
    Some((hex::encode(h.finalize()), claimed))
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
    #[error("audit store is damaged: {0}")]
    Damaged(String),
    /// The log ends before entries that were acknowledged (see [`Store::open`]).
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
        )
    }
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
    dir: PathBuf,
    health: Arc<health::Health>,
    /// The data directory as opened (`None` for a store opened to inspect).
    identity: Option<health::Identity>,
    latest: Arc<Mutex<Option<Checkpoint>>>,
    /// The gap recorded when opened with [`OpenMode::RecordGap`].
    recorded_gap: Mutex<Option<Gap>>,
}

/// How a store is opened.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum OpenMode {
    /// To take entries: refuses a log that lost acknowledged entries.
    #[default]
    Serve,
    /// To read and verify only (the CLI's `verify`, `export`, `show`): opens whatever
    /// is there, writes nothing, and lets [`Store::verify`] report what is wrong.
    Inspect,
    /// Like `Serve`, but a log that lost its newest entries gets an `audit.gap`
    /// entry recording the loss (by `actor`), and goes on after it.
    RecordGap { actor: String },
}

/// Everything [`Store::open_with`] takes.
#[derive(Default)]
pub struct Options {
    pub observer: Option<FlushObserver>,
    pub checkpoints: checkpoint::Policy,
    pub mode: OpenMode,
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
        let damaged = |e: String| AuditError::Damaged(e);
        let (trees, head) = health::no_panic("reading the audit log", || open_trees(&db, dir))
            .map_err(damaged)??;
        let health = Arc::new(health::Health::default());
        let latest = Arc::new(Mutex::new(None));
        if options.mode == OpenMode::Inspect {
            return Ok(Store::assemble(
                trees,
                dir,
                writer::Handle::closed(),
                health,
                None,
                latest,
            ));
        }
        let (head, gap) = health::no_panic("reading the audit log", || {
            tail::settle(&trees, dir, head, &options.mode, &health)
        })
        .map_err(damaged)??;
        let identity = health::Identity::take(dir, std::fs::File::open(dir.join("db")).ok())?;
        let mut guards = writer::Guards {
            health: health.clone(),
            identity: health::Identity::take(dir, std::fs::File::open(dir.join("db")).ok()).ok(),
            files: Some(checkpoint::Files::open(dir)?),
            policy: options.checkpoints,
            latest: latest.clone(),
            last: (0, std::time::Instant::now()),
        };
        if health.problem().is_none() {
            // The startup checkpoint (also brings `audit.head` up to date).
            guards.checkpoint(&head).map_err(AuditError::Damaged)?;
        }
        let writer = writer::Handle::start(trees.clone(), head, options.observer, guards);
        let store = Store::assemble(trees, dir, writer, health, Some(identity), latest);
        if let Ok(mut g) = store.inner.recorded_gap.lock() {
            *g = gap;
        }
        Ok(store)
    }

    fn assemble(
        trees: writer::Trees,
        dir: &Path,
        writer: writer::Handle,
        health: Arc<health::Health>,
        identity: Option<health::Identity>,
        latest: Arc<Mutex<Option<Checkpoint>>>,
    ) -> Store {
        Store {
            inner: Arc::new(Inner {
                db: trees.db,
                log: trees.log,
                by_student: trees.by_student,
                by_rule: trees.by_rule,
                meta: trees.meta,
                writer,
                dir: dir.to_path_buf(),
                health,
                identity,
                latest,
                recorded_gap: Mutex::new(None),
            }),
        }
    }

    /// The gap recorded when the store was opened with [`OpenMode::RecordGap`]
    /// (`None`: nothing was lost).
    pub fn recorded_gap(&self) -> Option<Gap> {
        self.inner.recorded_gap.lock().ok().and_then(|g| g.clone())
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
        &self.inner.db
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
        self.reading(|| match self.inner.log.get(seq.to_be_bytes())? {
            None => Ok(None),
            Some(bytes) => decode(seq, &bytes).map(Some),
        })
    }

    /// [`Store::get`], and whether the entry's stored bytes still match its `hash`
    /// (one entry's share of what [`Store::verify`] checks for the whole chain). Kept
    /// apart from `get`, which queries call per entry and which need no hashing.
    pub fn get_checked(&self, seq: u64) -> Result<Option<(Entry, bool)>, AuditError> {
        self.reading(|| match self.inner.log.get(seq.to_be_bytes())? {
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
                .log
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
        self.reading(|| {
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
        })
    }
}

/// Open (or create) the sled database in `dir`. Fails when another process has it
/// open. A database closed a moment ago in this same process can still be locked
/// while sled's last background write lets go of it: that is waited out (2 s at
/// most).
pub fn open_db(dir: &Path) -> Result<sled::Db, AuditError> {
    std::fs::create_dir_all(dir)?;
    let locked = |e: &sled::Error| matches!(e, sled::Error::Io(io) if io.kind() == std::io::ErrorKind::WouldBlock || io.to_string().contains("lock"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        let opened = health::no_panic("opening the store", || sled::Config::new().path(dir).open())
            .map_err(|e| {
                AuditError::Damaged(format!(
                    "`{}`: {e}; restore the data directory from a backup",
                    dir.display()
                ))
            })?;
        match opened {
            Ok(db) => return Ok(db),
            Err(e) if locked(&e) && std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) if locked(&e) => {
                return Err(AuditError::Io(std::io::Error::other(format!(
                    "data directory `{}` is in use by another intervene process (stop the server first)",
                    dir.display()
                ))));
            }
            Err(e) => {
                return Err(AuditError::Damaged(format!(
                    "`{}` cannot be opened: {e}; restore the data directory from a backup",
                    dir.display()
                )));
            }
        }
    }
}

/// Open the audit trees and find the head (indexing entries the indexes missed).
fn open_trees(db: &sled::Db, dir: &Path) -> Result<(writer::Trees, writer::Head), AuditError> {
    let log = db.open_tree(LOG_TREE)?;
    let by_student = db.open_tree(BY_STUDENT_TREE)?;
    let by_rule = db.open_tree(BY_RULE_TREE)?;
    let meta = db.open_tree(META_TREE)?;
    let head = writer::recover(&log, &by_student, &by_rule, &meta)?;
    if let Ok(conf) = std::fs::File::open(dir.join("conf")) {
        conf.sync_all()?;
    }
    let trees = writer::Trees {
        db: db.clone(),
        log,
        by_student,
        by_rule,
        meta,
        db_file: std::fs::File::open(dir.join("db")).ok().map(Arc::new),
    };
    Ok((trees, head))
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
        NewEntry::new("test", "t", "r", payload)
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

    /// The writer frames entries by hand: names and ids with quotes, backslashes
    /// and control characters must still make valid JSON that verifies.
    #[test]
    fn entries_with_characters_json_must_escape_verify() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), None).unwrap();
        let tricky = "a \"quoted\" \\ name\n\u{1}é";
        let e = store
            .append_blocking(NewEntry::new(
                tricky,
                tricky,
                tricky,
                serde_json::json!({"student_id": tricky}),
            ))
            .unwrap();
        let got = store.get(e.seq).unwrap().unwrap();
        assert_eq!((got.kind.as_str(), got.actor.as_str()), (tricky, tricky));
        assert_eq!(got.request_id, tricky);
        assert_eq!(got.hash, e.hash);
        assert!(store.verify(&mut |_| {}).unwrap().ok);
    }

    /// Seen in CI: a store closed a moment ago in the same process (here a raw
    /// handle, as the tamper tests edit it) was still locked by sled's last
    /// background write, and reopening it failed as "in use".
    #[test]
    fn a_store_reopened_right_after_closing_it_opens() {
        // Several at once, so sled's background threads are sometimes descheduled
        // between answering a flush and letting go of the store.
        let workers: Vec<_> = (0..6)
            .map(|_| {
                std::thread::spawn(|| {
                    let dir = tempfile::tempdir().unwrap();
                    for n in 1..=40u64 {
                        {
                            let db = open_db(dir.path()).unwrap();
                            db.open_tree("scratch")
                                .unwrap()
                                .insert(n.to_be_bytes(), vec![0u8; 4096])
                                .unwrap();
                            db.flush().unwrap();
                        }
                        let store = Store::open(dir.path(), None).unwrap();
                        let e = store
                            .append_blocking(entry(serde_json::json!({"n": n})))
                            .unwrap();
                        assert_eq!(e.seq, n);
                        store.shutdown();
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
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
