//! Carrying out a purge: tombstones and the purge entry, in the writer thread.
//!
//! What to purge is chosen apart (`sweep`); this module only removes what it is
//! given, so the writer that runs it needs nothing of the scan.
//!
//! A purge replaces each removed entry (a `decision`, or every entry of a closed
//! plan: see `plan_entries`) by a tombstone that keeps its
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

use super::chain::{self, Head, INDEXED, Trees, decode, write_one};
use super::entry::{Appended, NewEntry};
use super::error::AuditError;
use super::holds;
use super::kind::EntryKind;
use super::plan_entries::{self, PlanRef};

/// Most entries one purge entry removes; a larger purge is several purges, so the
/// writer (which waits for each) never pauses appends for long.
pub const MAX_PER_PURGE: usize = 10_000;

/// Meta key of an unfinished purge.
const PENDING: &str = "purge_pending";

/// A purge as asked for; the writer gives it its sequence number.
pub(super) struct PurgeRequest {
    /// Entries to remove, ascending (at most [`MAX_PER_PURGE`]).
    pub seqs: Vec<u64>,
    /// The cutoff: entries at or after it are kept.
    pub before: String,
    pub actor: String,
    pub request_id: String,
    /// Closed plans whose entries are among `seqs`: emptied from the plan trees.
    pub plans: Vec<PlanRef>,
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
    /// Closed plans whose entries are among `seqs` (see `plan_entries`).
    #[serde(default)]
    pub plans: Vec<PlanRef>,
}

impl Plan {
    /// The plan for `request`, whose purge entry follows `head`.
    pub(super) fn new(request: PurgeRequest, head: &Head) -> Plan {
        Plan {
            purge_seq: head.0 + 1,
            seqs: request.seqs,
            before: request.before,
            actor: request.actor,
            request_id: request.request_id,
            plans: request.plans,
        }
    }
}

/// Carry out `plan` (fresh or resumed): tombstones, then the purge entry.
pub(super) fn execute(trees: &Trees, head: &Head, plan: &Plan) -> Result<Executed, AuditError> {
    let plan_bytes =
        serde_json::to_vec(plan).map_err(|e| AuditError::unreadable(plan.purge_seq, e))?;
    trees.meta.insert(PENDING, plan_bytes)?;
    let mut digest = Sha256::new();
    let mut removed = Vec::with_capacity(plan.seqs.len());
    let mut decisions = Vec::new();
    for &seq in &plan.seqs {
        // A hold placed after the candidates were chosen still wins.
        if let Some(gone) = tombstone(trees, seq, plan.purge_seq)? {
            digest.update(gone.hash.as_bytes());
            removed.push(seq);
            if let Some(student) = gone.decision_of {
                decisions.push((student, seq));
            }
        }
    }
    // A plan leaves its trees with its entries: unless its student is held, when
    // its entries were kept above too.
    for p in &plan.plans {
        if !holds::is_held(&trees.meta, &p.student_id)? {
            plan_entries::remove(trees, p)?;
        }
    }
    let (first, last) = (removed.first(), removed.last());
    let entry = NewEntry::new(
        EntryKind::AuditPurged,
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
    let appended = write_one(trees, head, &entry)?;
    trees.meta.remove(PENDING)?;
    Ok(Executed {
        appended,
        decisions,
    })
}

/// What a purge did: its own entry, and the decisions it removed (student, seq),
/// for the followers kept beside the log.
pub(super) struct Executed {
    pub appended: Appended,
    pub decisions: Vec<(String, u64)>,
}

/// An entry a purge tombstoned.
struct Gone {
    hash: String,
    /// The student, when the entry was a decision.
    decision_of: Option<String>,
}

/// Replace entry `seq` by its tombstone and drop its index keys; returns its hash
/// (and its student when it was a decision), or `None` when its student is under a
/// legal hold (the entry is kept). Idempotent: an entry already tombstoned by
/// `purge_seq` is left as it is (its student is no longer known).
fn tombstone(trees: &Trees, seq: u64, purge_seq: u64) -> Result<Option<Gone>, AuditError> {
    let bytes = trees.log.get(seq)?.ok_or_else(|| AuditError::Corrupt {
        seq,
        message: "a purge names this entry, but it is missing".into(),
    })?;
    let e = decode(seq, &bytes)?;
    if let Some(by) = e.purged_by {
        if by == purge_seq {
            return Ok(Some(Gone {
                hash: e.hash,
                decision_of: None,
            }));
        }
        return Err(AuditError::Corrupt {
            seq,
            message: format!("already purged by entry {by}"),
        });
    }
    if let Some(s) = e.student_id()
        && holds::is_held(&trees.meta, s)?
    {
        return Ok(None);
    }
    chain::unindex(trees, &e)?;
    trees
        .log
        .insert(seq, &chain::encode_tombstone(&e, purge_seq))?;
    let decision_of = (e.kind == EntryKind::Decision)
        .then(|| e.student_id().map(str::to_string))
        .flatten();
    Ok(Some(Gone {
        hash: e.hash,
        decision_of,
    }))
}

/// Finish a purge a crash interrupted. Runs before the writer starts; returns the
/// new head when it appended the purge entry.
pub(super) fn resume(trees: &Trees, head: &Head) -> Result<Option<Head>, AuditError> {
    let Some(bytes) = trees.meta.get(PENDING)? else {
        return Ok(None);
    };
    let plan: Plan = serde_json::from_slice(&bytes).map_err(|source| AuditError::Unreadable {
        seq: 0,
        what: "unfinished purge record: ",
        source,
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
    let appended = execute(trees, head, &plan)?.appended;
    trees.meta.insert(INDEXED, &appended.seq.to_be_bytes())?;
    Ok(Some((appended.seq, appended.hash)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Store;
    use crate::audit::chain::{self, Trees};

    use crate::audit::tests::decision;

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
            let db = chain::open_db(dir.path()).unwrap();
            let trees = Trees::open(&db).unwrap();
            let plan = Plan {
                purge_seq: 4,
                seqs: vec![1, 2],
                before: "9999".into(),
                actor: "t".into(),
                request_id: String::new(),
                plans: Vec::new(),
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
        assert_eq!(purge.kind, EntryKind::AuditPurged);
        assert_eq!(purge.payload["purged"], 2);
        assert_eq!(store.get(2).unwrap().unwrap().purged_by, Some(4));
        assert_eq!(store.get(3).unwrap().unwrap().purged_by, None);
        let report = store.verify(&mut |_| {}).unwrap();
        assert!(report.ok, "{report:?}");
        // The next append follows the purge entry.
        let next = store
            .append_blocking(NewEntry::new(
                EntryKind::from("x"),
                "t",
                "",
                serde_json::json!({}),
            ))
            .unwrap();
        assert_eq!(next.seq, 5);
    }
}
