//! Retention: removing old decisions while the chain stays verifiable.
//!
//! A purge replaces each removed `decision` entry by a tombstone that keeps its
//! `seq`, `kind`, `at`, `actor`, `request_id`, `prev_hash` and `hash`, drops its
//! payload (`"payload":null`) and names the purge entry (`"purged_by":M`). The purge
//! entry `M` is an ordinary appended entry (`kind: "audit.purged"`) whose payload
//! holds how many entries it removed and a digest: SHA-256 over their hashes (64 hex
//! digits each, in `seq` order). So after a purge:
//!
//! - the chain still links through every tombstone (`prev_hash` → `hash`);
//! - a tombstone's hash can no longer be recomputed (its content is gone), but it is
//!   pinned twice: by the next entry's `prev_hash` and by the purge entry's digest,
//!   which is itself chained;
//! - an entry removed without a purge, or a tombstone forged for an entry a purge did
//!   not remove, breaks the digest of the purge it names.
//!
//! The purge runs in the writer thread, which owns the head: it knows `M` before it
//! writes the tombstones. It first records the plan in the meta tree, then writes
//! the tombstones, appends `M` and clears the plan, then flushes. A crash in between
//! leaves the plan, and [`resume`] finishes it when the store is next opened, before
//! anything else is appended.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::writer::{Head, Trees, write_one};
use super::{Appended, AuditError, NewEntry, decode, frame_head, index_key, json_str};

/// Most entries one purge entry removes; a larger purge is several purges, so the
/// writer (which waits for each) never pauses appends for long.
pub const MAX_PER_PURGE: usize = 10_000;

/// Meta key of an unfinished purge.
const PENDING: &str = "purge_pending";

/// Meta key of the purge watermark: every decision at or below it is purged or was
/// held when it was set (see [`super::PurgeReport::scanned`]).
pub(super) const WATERMARK: &str = "purge_watermark";

/// Meta key counting lifted holds: a purge that saw it change while running does not
/// keep its watermark.
pub(super) const HOLD_GENERATION: &str = "hold_generation";

/// Meta key prefix of a legal hold: `hold\0<student id>`.
const HOLD_PREFIX: &[u8] = b"hold\0";

pub(super) fn hold_key(student_id: &str) -> Vec<u8> {
    let mut k = HOLD_PREFIX.to_vec();
    k.extend_from_slice(student_id.as_bytes());
    k
}

/// A legal hold: the student's decisions are not purged while it stands (FERPA: no
/// deletion while an inspection request is pending).
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    pub student_id: String,
    /// Why (e.g. the inspection request's reference).
    pub reason: String,
    pub placed_by: String,
    /// UTC, RFC 3339.
    pub placed_at: String,
}

pub(super) fn holds(meta: &sled::Tree) -> Result<Vec<Hold>, AuditError> {
    let mut out = Vec::new();
    for item in meta.scan_prefix(HOLD_PREFIX) {
        let (_, v) = item?;
        let h: Hold = serde_json::from_slice(&v).map_err(|e| AuditError::Corrupt {
            seq: 0,
            message: format!("a legal hold record is unreadable: {e}"),
        })?;
        out.push(h);
    }
    Ok(out)
}

/// What to purge, as recorded before the first tombstone is written.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Plan {
    /// The purge entry's sequence number.
    pub purge_seq: u64,
    /// Entries to remove, ascending.
    pub seqs: Vec<u64>,
    /// The cutoff: entries at or after it are kept.
    pub before: String,
    pub actor: String,
    pub request_id: String,
}

/// Carry out `plan` (fresh or resumed): tombstones, then the purge entry.
pub(super) fn execute(trees: &Trees, head: &Head, plan: &Plan) -> Result<Appended, AuditError> {
    let plan_bytes = serde_json::to_vec(plan).map_err(|e| AuditError::Corrupt {
        seq: plan.purge_seq,
        message: e.to_string(),
    })?;
    trees.meta.insert(PENDING, plan_bytes)?;
    let mut digest = Sha256::new();
    let mut removed = Vec::with_capacity(plan.seqs.len());
    for &seq in &plan.seqs {
        // A hold placed after the candidates were chosen still wins.
        if let Some(hash) = tombstone(trees, seq, plan.purge_seq)? {
            digest.update(hash.as_bytes());
            removed.push(seq);
        }
    }
    let (first, last) = (removed.first(), removed.last());
    let entry = NewEntry::new(
        "audit.purged",
        plan.actor.clone(),
        plan.request_id.clone(),
        serde_json::json!({
            "before": plan.before,
            "purged": removed.len(),
            "first_seq": first,
            "last_seq": last,
            "digest": hex::encode(digest.finalize()),
        }),
    );
    let appended = write_one(trees, head, entry)?;
    trees.meta.remove(PENDING)?;
    Ok(appended)
}

/// Replace entry `seq` by its tombstone and drop its index keys; returns its hash,
/// or `None` when its student is under a legal hold (the entry is kept).
/// Idempotent: an entry already tombstoned by `purge_seq` is left as it is.
fn tombstone(trees: &Trees, seq: u64, purge_seq: u64) -> Result<Option<String>, AuditError> {
    let bytes = trees
        .log
        .get(seq.to_be_bytes())?
        .ok_or_else(|| AuditError::Corrupt {
            seq,
            message: "a purge names this entry, but it is missing".into(),
        })?;
    let e = decode(seq, &bytes)?;
    if let Some(by) = e.purged_by {
        if by == purge_seq {
            return Ok(Some(e.hash));
        }
        return Err(AuditError::Corrupt {
            seq,
            message: format!("already purged by entry {by}"),
        });
    }
    if let Some(s) = e.student_id() {
        if trees.meta.contains_key(hold_key(s))? {
            return Ok(None);
        }
        trees.by_student.remove(index_key(s, seq))?;
    }
    for r in e.rule_ids() {
        trees.by_rule.remove(index_key(r, seq))?;
    }
    let mut b = frame_head(seq, [&e.kind, &e.at, &e.actor, &e.request_id], b"null");
    b.extend_from_slice(format!(",\"purged_by\":{purge_seq}").as_bytes());
    b.extend_from_slice(b",\"prev_hash\":");
    json_str(&mut b, &e.prev_hash);
    b.extend_from_slice(b",\"hash\":");
    json_str(&mut b, &e.hash);
    b.push(b'}');
    trees.log.insert(seq.to_be_bytes(), b)?;
    Ok(Some(e.hash))
}

/// Finish a purge a crash interrupted. Runs before the writer starts; returns the
/// new head when it appended the purge entry.
pub(super) fn resume(trees: &Trees, head: &Head) -> Result<Option<Head>, AuditError> {
    let Some(bytes) = trees.meta.get(PENDING)? else {
        return Ok(None);
    };
    let plan: Plan = serde_json::from_slice(&bytes).map_err(|e| AuditError::Corrupt {
        seq: 0,
        message: format!("unfinished purge record: {e}"),
    })?;
    if head.0 >= plan.purge_seq {
        // The purge entry made it: only the plan was left behind.
        trees.meta.remove(PENDING)?;
        return Ok(None);
    }
    if head.0 + 1 != plan.purge_seq {
        return Err(AuditError::Corrupt {
            seq: plan.purge_seq,
            message: format!(
                "an unfinished purge expected to be entry {}, but the log ends at {}",
                plan.purge_seq, head.0
            ),
        });
    }
    tracing::warn!(
        purge_seq = plan.purge_seq,
        entries = plan.seqs.len(),
        "finishing a purge that was interrupted"
    );
    let appended = execute(trees, head, &plan)?;
    trees.meta.insert("indexed", &appended.seq.to_be_bytes())?;
    Ok(Some((appended.seq, appended.hash)))
}

/// How often the retention thread looks for decisions past retention.
const RETENTION_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// The cutoff for `days` of retention: entries dated before it are purged.
pub fn retention_cutoff(days: u32) -> String {
    (chrono::Utc::now() - chrono::Duration::days(i64::from(days)))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Enforces `audit.retention_days` in the background: at start, then every hour.
/// Dropping it stops the thread.
pub struct Retention {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Retention {
    pub fn start(store: super::Store, days: u32) -> std::io::Result<Retention> {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("audit-retention".into())
            .spawn(move || {
                loop {
                    let before = retention_cutoff(days);
                    match store.purge_before(&before, "retention", "") {
                        Ok(r) if r.purged > 0 => tracing::info!(
                            purged = r.purged,
                            before = %before,
                            purge_entries = ?r.purge_entries,
                            "audit retention: removed decisions past retention"
                        ),
                        Ok(_) => {}
                        Err(AuditError::Closed) => return,
                        Err(e) => tracing::error!(error = %e, "audit retention failed"),
                    }
                    match stopped.recv_timeout(RETENTION_EVERY) {
                        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                        _ => return,
                    }
                }
            })?;
        Ok(Retention {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Retention {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{Store, writer};

    fn decision(store: &Store, student: &str) -> u64 {
        store
            .append_blocking(NewEntry::new(
                "decision",
                "t",
                "",
                serde_json::json!({"student_id": student}),
            ))
            .unwrap()
            .seq
    }

    /// The hourly retention run reads only entries after the last purge's watermark,
    /// a decision too recent to purge holds the watermark back, and lifting a hold
    /// sends the next purge back to the start so the student's decisions go.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn retention_rereads_only_new_entries_until_a_hold_is_lifted() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), None).unwrap();
        let s = store.clone();
        let purge = move |before: &'static str| {
            let s = s.clone();
            async move {
                tokio::task::spawn_blocking(move || s.purge_before(before, "t", ""))
                    .await
                    .unwrap()
                    .unwrap()
            }
        };
        store.place_hold("H", "inspection", "t", "").await.unwrap();
        let st = store.clone();
        tokio::task::spawn_blocking(move || {
            for student in ["A", "H", "B", "C"] {
                decision(&st, student);
            }
        })
        .await
        .unwrap();
        // Entry 1 is the hold; decisions are 2 (A), 3 (H), 4 (B) and 5 (C).
        let first = purge("9999").await;
        assert_eq!(first.purged, 3, "A, B and C; H is held");
        assert_eq!(first.scanned, 5);
        // Nothing new: the next run starts after the purge entry it appended.
        let again = purge("9999").await;
        assert_eq!((again.purged, again.scanned), (0, 1), "{again:?}");

        // A decision too recent to purge holds the watermark back.
        let st = store.clone();
        let recent = tokio::task::spawn_blocking(move || decision(&st, "D"))
            .await
            .unwrap();
        let early = purge("2000-01-01T00:00:00.000Z").await;
        assert_eq!(early.purged, 0);
        let early2 = purge("2000-01-01T00:00:00.000Z").await;
        assert!(early2.scanned >= 1, "D is read again: {early2:?}");
        let late = purge("9999").await;
        assert_eq!(late.purged, 1);
        assert!(store.get(recent).unwrap().unwrap().purged_by.is_some());

        // Lifting the hold: the held decision, below the watermark, is purged next.
        assert!(store.lift_hold("H", "t", "").await.unwrap());
        let lifted = purge("9999").await;
        assert_eq!(lifted.purged, 1, "{lifted:?}");
        assert!(store.get(3).unwrap().unwrap().purged_by.is_some());
        let st = store.clone();
        let report = tokio::task::spawn_blocking(move || st.verify(&mut |_| {}))
            .await
            .unwrap()
            .unwrap();
        assert!(report.ok, "{report:?}");
    }

    /// A crash after some tombstones were written but before the purge entry:
    /// reopening the store finishes the purge, and the chain verifies.
    #[test]
    fn a_purge_interrupted_by_a_crash_is_finished_when_the_store_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), None).unwrap();
        for s in ["A", "B", "C"] {
            decision(&store, s);
        }
        store.shutdown();
        drop(store);

        // Replay the first half of `execute` by hand: plan, one tombstone, stop.
        {
            let db = crate::audit::open_db(dir.path()).unwrap();
            let trees = writer::Trees {
                db: db.clone(),
                log: db.open_tree(crate::audit::LOG_TREE).unwrap(),
                by_student: db.open_tree(crate::audit::BY_STUDENT_TREE).unwrap(),
                by_rule: db.open_tree(crate::audit::BY_RULE_TREE).unwrap(),
                meta: db.open_tree(crate::audit::META_TREE).unwrap(),
                db_file: None,
            };
            let plan = Plan {
                purge_seq: 4,
                seqs: vec![1, 2],
                before: "9999".into(),
                actor: "t".into(),
                request_id: String::new(),
            };
            trees
                .meta
                .insert(PENDING, serde_json::to_vec(&plan).unwrap())
                .unwrap();
            tombstone(&trees, 1, 4).unwrap();
            db.flush().unwrap();
        }

        let store = Store::open(dir.path(), None).unwrap();
        let purge = store.get(4).unwrap().expect("the purge entry was appended");
        assert_eq!(purge.kind, "audit.purged");
        assert_eq!(purge.payload["purged"], 2);
        assert_eq!(store.get(2).unwrap().unwrap().purged_by, Some(4));
        assert_eq!(store.get(3).unwrap().unwrap().purged_by, None);
        let report = store.verify(&mut |_| {}).unwrap();
        assert!(report.ok, "{report:?}");
        // The next append follows the purge entry.
        let next = store
            .append_blocking(NewEntry::new("x", "t", "", serde_json::json!({})))
            .unwrap();
        assert_eq!(next.seq, 5);
    }
}
