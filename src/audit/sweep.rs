//! Choosing what a purge removes: the scan for decisions past a cutoff, minus held
//! students, in steps of at most [`MAX_PER_PURGE`], each handed to the writer.
//! Closed plans go by the same rule: a `plan.closed` entry past the cutoff brings
//! every entry of its plan with it (see `plan_entries`); an open plan is never
//! chosen.
//!
//! A watermark in the meta tree makes the hourly run cheap: every decision at or
//! below it is purged or was held when it was set, so a run reads only what is new.
//! A decision or `plan.closed` entry too recent to purge stops the watermark there
//! (a plan's earlier entries are found from its closing entry, through the student
//! index, so they need not be above it); lifting a hold resets
//! it (the student's decisions below it are purgeable again).

use std::borrow::Cow;
use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::chain::{Trees, key_seq, meta_u64};
use super::entry::Appended;
use super::error::AuditError;
use super::holds;
use super::kind::EntryKind;
use super::plan_entries::{self, PlanRef};
use super::purge::{MAX_PER_PURGE, PurgeRequest};

/// Meta key of the purge watermark: every decision at or below it is purged or was
/// held when it was set (see [`PurgeReport::scanned`]).
const WATERMARK: &str = "purge_watermark";

/// Meta key counting lifted holds: a purge that saw it change while running does not
/// keep its watermark.
const HOLD_GENERATION: &str = "hold_generation";

/// What `Store::purge_before` did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PurgeReport {
    /// Entries removed (decisions, and every entry of each closed plan removed).
    pub purged: u64,
    /// The `audit.purged` entries appended (one per [`MAX_PER_PURGE`]).
    pub purge_entries: Vec<u64>,
    /// Entries read to find them. Earlier purges leave a watermark (every decision
    /// at or below it is purged or held), so an hourly run reads only what is new.
    pub scanned: u64,
}

/// What one scan step of a purge found.
struct Candidates {
    /// Entries to purge, ascending (at most [`MAX_PER_PURGE`], plus the rest of
    /// one plan's).
    seqs: Vec<u64>,
    /// The closed plans among them.
    plans: Vec<PlanRef>,
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
    kind: Cow<'a, str>,
    #[serde(borrow)]
    at: Cow<'a, str>,
    #[serde(default)]
    purged_by: Option<u64>,
    #[serde(default, borrow)]
    payload: Option<DatedPayload<'a>>,
}

#[derive(Deserialize)]
struct DatedPayload<'a> {
    #[serde(default, borrow)]
    student_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    plan_id: Option<Cow<'a, str>>,
}

/// Purge every unheld `decision` in `..=through` dated before `before`, handing
/// each step to `submit` (the writer); see `Store::purge_before`. Blocking.
pub(super) fn purge_before(
    trees: &Trees,
    through: u64,
    before: &str,
    actor: &str,
    request_id: &str,
    submit: &mut dyn FnMut(PurgeRequest) -> Result<Appended, AuditError>,
) -> Result<PurgeReport, AuditError> {
    let meta = &trees.meta;
    let generation = meta_u64(meta, HOLD_GENERATION)?;
    let start = meta_u64(meta, WATERMARK)?;
    let mut watermark = start;
    let mut blocked = false;
    let mut report = PurgeReport::default();
    let mut from = start + 1;
    loop {
        let step = candidates(trees, from, through, before)?;
        report.scanned += step.scanned;
        if !blocked {
            watermark = watermark.max(step.settled);
            blocked = step.blocked;
        }
        if !step.seqs.is_empty() {
            let n = step.seqs.len() as u64;
            let appended = submit(PurgeRequest {
                seqs: step.seqs,
                before: before.to_string(),
                actor: actor.to_string(),
                request_id: request_id.to_string(),
                plans: step.plans,
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
        meta.insert(WATERMARK, &watermark.to_be_bytes())?;
        // A hold lifted meanwhile may have freed entries below it: start over.
        if meta_u64(meta, HOLD_GENERATION)? != generation {
            meta.remove(WATERMARK)?;
        }
    }
    Ok(report)
}

/// Lift `student_id`'s hold; `false` when there was none. The student's decisions
/// below the watermark are purgeable again, so the next purge scans from the start.
pub(super) fn lift_hold(meta: &sled::Tree, student_id: &str) -> sled::Result<bool> {
    if !holds::remove(meta, student_id)? {
        return Ok(false);
    }
    meta.fetch_and_update(HOLD_GENERATION, |old| {
        let n = old.map_or(0, key_seq);
        Some((n + 1).to_be_bytes().to_vec())
    })?;
    meta.remove(WATERMARK)?;
    Ok(true)
}

/// Up to [`MAX_PER_PURGE`] unpurged decisions in `from..=through` dated before
/// `before`, and where to continue if there may be more.
fn candidates(
    trees: &Trees,
    from: u64,
    through: u64,
    before: &str,
) -> Result<Candidates, AuditError> {
    let held: HashSet<String> = holds::holds(&trees.meta)?
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
        plans: Vec::new(),
        next: None,
        settled: from.saturating_sub(1),
        blocked: false,
        scanned: 0,
    };
    for item in trees.log.range(from..=through) {
        let (seq, v) = item?;
        step.scanned += 1;
        let d: Dated = serde_json::from_slice(&v).map_err(|e| AuditError::unreadable(seq, e))?;
        if stop_after.as_deref().is_some_and(|stop| *d.at > *stop) {
            break;
        }
        let student = d.payload.as_ref().and_then(|p| p.student_id.as_deref());
        let closing = d.kind == EntryKind::PlanClosed.as_str();
        let live = (d.kind == EntryKind::Decision.as_str() || closing) && d.purged_by.is_none();
        let is_held = student.is_some_and(|s| held.contains(s));
        if live && *d.at >= *before && !is_held {
            step.blocked = true;
        }
        if !step.blocked {
            step.settled = seq;
        }
        if live && *d.at < *before && !is_held {
            let plan = d.payload.as_ref().and_then(|p| p.plan_id.as_deref());
            match (closing, student, plan) {
                (true, Some(s), Some(p)) => {
                    step.seqs.extend(plan_entries::entries_of(trees, s, p)?);
                    step.plans.push(PlanRef {
                        student_id: s.to_string(),
                        plan_id: p.to_string(),
                    });
                }
                (true, ..) => {}
                (false, ..) => step.seqs.push(seq),
            }
            if step.seqs.len() >= MAX_PER_PURGE {
                step.next = Some(seq + 1);
                break;
            }
        }
    }
    // A plan's entries are older than its closing entry: keep the list ascending.
    step.seqs.sort_unstable();
    step.seqs.dedup();
    Ok(step)
}

#[cfg(test)]
mod tests {
    use crate::audit::Store;

    use crate::audit::tests::decision;

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
}
