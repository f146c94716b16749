//! Plans under retention: which entries make up one plan, and the plan's companion
//! trees (written with each of its entries, see `crate::plans::store`), which a
//! purge empties of the plan in the same durable write as its tombstones.
//!
//! A plan's entries (`plan.opened`, `plan.updated`, `plan.progress`,
//! `plan.session`, `plan.closed`) are purged together, by the same rule as a
//! decision: once the plan is closed (`plan.closed` is final: a closed plan takes no
//! more writes, so that entry is the plan's last) and that entry is dated before the
//! cutoff, and never while a legal hold is on the student. An open plan is never
//! purged. Each removed entry becomes a tombstone exactly as a decision does (see
//! `purge`): payload dropped, `hash` kept, named in the purge entry's digest.

use serde::{Deserialize, Serialize};

use super::chain::{Trees, decode, index_key, key_seq};
use super::error::AuditError;

/// The tree of plans by id (the plan store's; named here so a purge can empty it).
pub const PLANS_TREE: &str = "plans";
/// The tree of `student_id NUL plan_id` keys: a student's plans.
pub const PLANS_BY_STUDENT_TREE: &str = "plans_by_student";

/// A plan a purge removes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct PlanRef {
    pub student_id: String,
    pub plan_id: String,
}

/// Whether `kind` is the entry kind of a plan write.
pub(super) fn is_plan_kind(kind: &str) -> bool {
    kind.starts_with("plan.")
}

/// The live (not yet purged) entries of plan `plan_id` of `student_id`, ascending,
/// found through the student index.
pub(super) fn entries_of(
    trees: &Trees,
    student_id: &str,
    plan_id: &str,
) -> Result<Vec<u64>, AuditError> {
    let prefix = index_key(student_id, 0);
    let prefix = &prefix[..prefix.len() - 8];
    let mut out = Vec::new();
    for item in trees.by_student.scan_prefix(prefix) {
        let (k, _) = item?;
        let seq = key_seq(&k[prefix.len()..]);
        let Some(bytes) = trees.log.get(seq)? else {
            continue;
        };
        let e = decode(seq, &bytes)?;
        if e.purged_by.is_none()
            && is_plan_kind(e.kind.as_str())
            && e.payload.get("plan_id").and_then(|p| p.as_str()) == Some(plan_id)
        {
            out.push(seq);
        }
    }
    Ok(out)
}

/// Empty the plan trees of `plan` (not flushed: the purge's group flush covers it).
pub(super) fn remove(trees: &Trees, plan: &PlanRef) -> Result<(), AuditError> {
    trees
        .db
        .open_tree(PLANS_TREE)?
        .remove(plan.plan_id.as_bytes())?;
    let mut k = plan.student_id.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(plan.plan_id.as_bytes());
    trees.db.open_tree(PLANS_BY_STUDENT_TREE)?.remove(k)?;
    Ok(())
}
