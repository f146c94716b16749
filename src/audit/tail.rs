//! Opening for writing: does the log still reach what it acknowledged?
//!
//! sled treats a damaged or cut-off tail as a torn write and drops it without an
//! error, so a store can open "fine" without its newest entries. Before the writer
//! starts, [`settle`] compares the log's head with the newer of `audit.head` and
//! `checkpoint.json` (kept outside sled's files): entries missing from the end refuse
//! the open (or, asked for, are recorded as an `audit.gap` entry), another hash at
//! the recorded seq refuses it, and the chain since the last checkpoint is checked
//! (a break marks the store damaged: it starts, not ready, so what is left can still
//! be read and exported).

use std::path::Path;

use super::chain::{Framed, Gap, Head, INDEXED, Trees, gap_range, stored_hash, write_one};
use super::checkpoint::{self, Promised};
use super::codec::Log;
use super::entry::NewEntry;
use super::error::AuditError;
use super::health::Health;
use super::kind::EntryKind;
use super::purge;

/// Most entries checked at startup when there is no checkpoint to start from.
const MAX_TAIL: u64 = 20_000;

/// Check the head against what was acknowledged, finish an interrupted purge,
/// check the chain's tail. Returns the head to continue from and the gap recorded.
/// With `record_gap_as`, entries lost from the end are recorded (by that actor) in
/// an `audit.gap` entry instead of refusing the open.
pub(super) fn settle(
    trees: &Trees,
    dir: &Path,
    mut head: Head,
    record_gap_as: Option<&str>,
    health: &Health,
) -> Result<(Head, Option<Gap>), AuditError> {
    let shown = dir.display().to_string();
    let promised = checkpoint::promised(dir).map_err(|e| {
        AuditError::Damaged(format!(
            "{e}; it records the last acknowledged entry, so the log cannot be checked against it (restore it from a backup, or remove it to trust the log as it is)"
        ))
    })?;
    let mut gap = None;
    if let Some(p) = promised {
        if p.seq > head.0 {
            match record_gap_as {
                Some(actor) => {
                    let (new_head, g) = record_gap(trees, &head, &p, actor)?;
                    head = new_head;
                    gap = Some(g);
                }
                None => {
                    return Err(AuditError::Lost {
                        dir: shown,
                        have: head.0,
                        promised: p.seq,
                        file: p.file,
                    });
                }
            }
        } else if p.seq > 0 && !holds(trees, &p)? {
            return Err(AuditError::Diverged {
                dir: shown,
                seq: p.seq,
                file: p.file,
            });
        }
    }
    if let Some(resumed) = purge::resume(trees, &head)? {
        head = resumed;
        trees.db.flush()?;
    }
    let from = checkpoint::read_latest(dir)
        .ok()
        .flatten()
        .map_or(1, |c| c.seq.max(1))
        .max(head.0.saturating_sub(MAX_TAIL));
    if let Err(problem) = check_chain(&trees.log, from, head.0) {
        health.mark(format!("checked at startup: {problem}"));
    }
    Ok((head, gap))
}

/// Does the log hold the promised entry, with the promised hash?
fn holds(trees: &Trees, p: &Promised) -> Result<bool, AuditError> {
    let Some(bytes) = trees.log.get(p.seq)? else {
        return Ok(false);
    };
    Ok(serde_json::from_slice::<Framed>(&bytes).is_ok_and(|e| e.hash == p.hash))
}

/// Append the `audit.gap` entry after the promised head: its `prev_hash` is the
/// last acknowledged hash, so the chain stays pinned to what was promised.
fn record_gap(
    trees: &Trees,
    head: &Head,
    p: &Promised,
    actor: &str,
) -> Result<(Head, Gap), AuditError> {
    let gap = Gap {
        from: head.0 + 1,
        through: p.seq,
        recorded_at: p.seq + 1,
    };
    let entry = NewEntry::new(
        EntryKind::AuditGap,
        actor,
        String::new(),
        serde_json::json!({
            "missing_from": gap.from,
            "missing_through": gap.through,
            "log_ended_at": head.0,
            "log_ended_with_hash": head.1,
            "acknowledged_hash": p.hash,
            "recorded_in": p.file,
            "why": "the store lost entries it had acknowledged (damaged or cut off); the loss was accepted and recorded",
        }),
    );
    let appended = write_one(trees, &(p.seq, p.hash.clone()), &entry)?;
    trees.meta.insert(INDEXED, &appended.seq.to_be_bytes())?;
    trees.db.flush()?;
    tracing::warn!(
        from = gap.from,
        through = gap.through,
        seq = appended.seq,
        "audit.gap recorded: acknowledged entries were lost"
    );
    Ok(((appended.seq, appended.hash), gap))
}

/// Check links and hashes of entries `from..=to` (tombstones by link only; a
/// recorded gap by its own range).
fn check_chain(log: &Log, from: u64, to: u64) -> Result<(), String> {
    if to == 0 || from > to {
        return Ok(());
    }
    let mut prev: Option<String> = None;
    let mut expected = from;
    for item in log.range(from..=to) {
        let (seq, v) = item.map_err(|e| format!("the log cannot be read: {e}"))?;
        let e: Framed = serde_json::from_slice(&v)
            .map_err(|err| format!("entry {seq} is unreadable: {err}"))?;
        let gap = seq > expected && gap_range(&v) == Some((expected, seq - 1));
        if seq != expected && !gap {
            return Err(format!("entry {expected} is missing (next entry is {seq})"));
        }
        if let Some(p) = &prev
            && *p != e.prev_hash
            && !gap
        {
            return Err(format!("entry {seq} does not link to entry {}", seq - 1));
        }
        if e.purged_by.is_none()
            && !stored_hash(&v).is_some_and(|(c, claimed)| c == claimed && claimed == e.hash)
        {
            return Err(format!(
                "entry {seq} does not match its hash (it was altered or damaged)"
            ));
        }
        prev = Some(e.hash.into_owned());
        expected = seq + 1;
    }
    if to > 0 && expected <= to {
        return Err(format!("entries {expected} to {to} are missing"));
    }
    Ok(())
}
