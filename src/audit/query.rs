//! Reading the log: filtered pages newest first, and chain verification.
//!
//! Functions over the chain's trees; `Store` wraps them (panics and sled errors
//! mark the store damaged there).

use std::collections::HashMap;
use std::path::Path;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::chain::{
    Framed, GENESIS, Gap, INDEXED, Trees, decode, gap_range, hash_at, index_key, key_seq,
    stored_hash,
};
use super::checkpoint::{self, Checkpoint};
use super::entry::Entry;
use super::error::AuditError;
use super::kind::EntryKind;

/// Most entries one page returns.
pub const MAX_PAGE: usize = 500;
/// Most entries one query examines before returning a partial page with a cursor.
const MAX_SCAN: usize = 50_000;

/// A filter over the log. Times are RFC 3339 UTC as stored (`at`).
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub student: Option<String>,
    pub rule: Option<String>,
    pub kind: Option<EntryKind>,
    /// Inclusive lower bound on `at`.
    pub from: Option<String>,
    /// Exclusive upper bound on `at`.
    pub to: Option<String>,
    /// Cursor: only entries with `seq < before`.
    pub before: Option<u64>,
    pub limit: usize,
}

/// A page of entries, newest first, and the cursor for the next page.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
pub struct Page {
    pub entries: Vec<Entry>,
    pub next_cursor: Option<String>,
}

/// The result of checking the whole chain.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize, PartialEq, Eq)]
pub struct VerifyReport {
    pub ok: bool,
    pub entries: u64,
    pub head_hash: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_bad_seq: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// Entries known lost, each recorded by an `audit.gap` entry (`intervene audit
    /// record-gap`); the chain is otherwise intact.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub recorded_gaps: Vec<Gap>,
}

/// Entries matching `q`, newest first.
pub(super) fn query(trees: &Trees, q: &Query) -> Result<Page, AuditError> {
    let limit = q.limit.clamp(1, MAX_PAGE);
    let mut upper = q.before.unwrap_or(u64::MAX);
    if let (None, None, Some(to)) = (&q.student, &q.rule, &q.to) {
        // The log is in time order: start below the first entry at or after `to`
        // instead of reading every newer entry on the way down to it.
        upper = upper.min(first_at_or_after(trees, to, upper)?);
    }
    let seqs: Box<dyn Iterator<Item = Result<u64, AuditError>>> = match (&q.student, &q.rule) {
        (Some(s), _) => Box::new(index_seqs(&trees.by_student, s, upper)),
        (None, Some(r)) => Box::new(index_seqs(&trees.by_rule, r, upper)),
        (None, None) => Box::new(
            trees
                .log
                .tree()
                .range(..upper.to_be_bytes())
                .keys()
                .rev()
                .map(|k| k.map(|k| key_seq(&k)).map_err(AuditError::from)),
        ),
    };
    let mut entries = Vec::new();
    let mut last_seen = None;
    for (scanned, seq) in seqs.enumerate() {
        let seq = seq?;
        last_seen = Some(seq);
        if scanned >= MAX_SCAN {
            // `seq` itself was not examined and the cursor is exclusive.
            return Ok(Page {
                entries,
                next_cursor: Some((seq + 1).to_string()),
            });
        }
        let Some(e) = get(trees, seq)? else { continue };
        if let Some(from) = &q.from
            && e.at.as_str() < from.as_str()
        {
            if q.student.is_none() && q.rule.is_none() {
                break; // the log is in time order: nothing older matches
            }
            continue;
        }
        if q.to.as_ref().is_some_and(|to| e.at.as_str() >= to.as_str()) {
            continue;
        }
        if q.kind.as_ref().is_some_and(|k| *k != e.kind) {
            continue;
        }
        if q.rule
            .as_deref()
            .is_some_and(|r| !e.rule_ids().contains(&r))
        {
            continue;
        }
        entries.push(e);
        if entries.len() == limit {
            let more = seq > 1;
            return Ok(Page {
                entries,
                next_cursor: more.then(|| seq.to_string()),
            });
        }
    }
    let _ = last_seen;
    Ok(Page {
        entries,
        next_cursor: None,
    })
}

/// The number of the first entry below `upper` whose `at` is at or after `t` (`upper`
/// when there is none), by binary search: entries are written in time order.
fn first_at_or_after(trees: &Trees, t: &str, upper: u64) -> Result<u64, AuditError> {
    let (mut lo, mut hi) = (1u64, upper);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        // The first stored entry at or after `mid` (a recorded gap leaves numbers out).
        let found = match trees.log.range(mid..).next() {
            None => None,
            Some(item) => {
                let (seq, v) = item?;
                (seq < hi)
                    .then(|| decode(seq, &v).map(|e| (seq, e.at)))
                    .transpose()?
            }
        };
        match found {
            Some((seq, at)) if at.as_str() < t => lo = seq + 1,
            _ => hi = mid,
        }
    }
    Ok(lo)
}

/// The entry with sequence number `seq`.
pub(super) fn get(trees: &Trees, seq: u64) -> Result<Option<Entry>, AuditError> {
    match trees.log.get(seq)? {
        None => Ok(None),
        Some(bytes) => decode(seq, &bytes).map(Some),
    }
}

fn index_seqs<'a>(
    tree: &'a sled::Tree,
    name: &str,
    upper: u64,
) -> impl Iterator<Item = Result<u64, AuditError>> + 'a {
    let lo = index_key(name, 0);
    let hi = index_key(name, upper);
    tree.range(lo..hi)
        .keys()
        .rev()
        .map(|k| k.map(|k| key_seq(&k)).map_err(AuditError::from))
}

/// Check the whole chain: contiguous sequence numbers from 1, each `prev_hash`
/// equal to the previous `hash`, each `hash` equal to the recomputed one; then
/// against the head recorded outside sled in `dir` (`audit.head`,
/// `checkpoint.json`): sled drops a damaged tail without a word, and this is where
/// that shows. Read first, so entries appended meanwhile cannot confuse it.
/// `progress` is called every 10,000 entries.
pub(super) fn verify(
    trees: &Trees,
    dir: &Path,
    progress: &mut dyn FnMut(u64),
) -> Result<VerifyReport, AuditError> {
    let promised = checkpoint::promised(dir);
    let mut report = verify_links(trees, progress)?;
    if !report.ok {
        return Ok(report);
    }
    let bad = |seq: u64, problem: String| VerifyReport {
        ok: false,
        first_bad_seq: Some(seq),
        problem: Some(problem),
        ..report.clone()
    };
    match promised {
        Err(e) => Ok(bad(report.entries + 1, e.to_string())),
        Ok(Some(p)) if p.seq > report.entries => Ok(bad(
            report.entries + 1,
            format!(
                "entries {} to {} are missing: the log ends at entry {}, but entry {} was acknowledged (recorded in `{}`)",
                report.entries + 1,
                p.seq,
                report.entries,
                p.seq,
                p.file
            ),
        )),
        Ok(Some(p)) if p.seq > 0 && hash_at(&trees.log, p.seq)?.is_none_or(|h| h != p.hash) => {
            Ok(bad(
                p.seq,
                format!(
                    "entry {} is not the one acknowledged (recorded in `{}`): the log was altered or replaced",
                    p.seq, p.file
                ),
            ))
        }
        _ => {
            report.ok = true;
            Ok(report)
        }
    }
}

/// Does a log ending at `head`, holding `hash` at `c.seq`, hold checkpoint `c`?
/// The signature is checked apart ([`Checkpoint::check_signature`]).
pub(super) fn check_checkpoint(
    c: &Checkpoint,
    head: u64,
    hash: Option<String>,
) -> Result<(), String> {
    if c.seq == 0 {
        return Ok(());
    }
    if head < c.seq {
        return Err(format!(
            "the log is shorter than the checkpoint: it ends at entry {head}, the checkpoint holds entry {}",
            c.seq
        ));
    }
    match hash {
        None => Err(format!(
            "entry {}, which the checkpoint holds, is not in the log",
            c.seq
        )),
        Some(h) if h != c.hash => Err(format!(
            "entry {} differs from the checkpoint: its hash is {h}, the checkpoint says {}",
            c.seq, c.hash
        )),
        Some(_) => Ok(()),
    }
}

/// Entries decompressed and hashed together by `verify`.
const VERIFY_BATCH: usize = 4_096;

fn verify_links(trees: &Trees, progress: &mut dyn FnMut(u64)) -> Result<VerifyReport, AuditError> {
    let mut gaps = Vec::new();
    let mut expected_seq = 1u64;
    let mut prev = GENESIS.to_string();
    let bad = |seq: u64, n: u64, prev: &str, problem: String| VerifyReport {
        ok: false,
        entries: n,
        head_hash: prev.to_string(),
        first_bad_seq: Some(seq),
        problem: Some(problem),
        recorded_gaps: Vec::new(),
    };
    // Purge entry seq -> (first tombstone naming it, tombstones, digest so far).
    let mut purges: HashMap<u64, (u64, u64, Sha256)> = HashMap::new();
    // Entries are read in batches; each batch is decompressed and hashed on every
    // core, then its links are checked in order.
    let mut stored = trees.log.tree().iter();
    loop {
        let batch = stored
            .by_ref()
            .take(VERIFY_BATCH)
            .map(|item| item.map(|(k, v)| (key_seq(&k), v)))
            .collect::<Result<Vec<_>, sled::Error>>()?;
        if batch.is_empty() {
            break;
        }
        let prepared: Vec<_> = batch
            .into_par_iter()
            .map(|(seq, v)| {
                let line = trees.log.decode(seq, v).map(|v| {
                    // Whether the content matches the hash it ends with, and that hash.
                    let hashed =
                        stored_hash(&v).map(|(c, claimed)| (c == claimed, claimed.to_string()));
                    (v, hashed)
                });
                (seq, line)
            })
            .collect();
        for (seq, line) in prepared {
            let n = expected_seq - 1;
            let (v, hashed) = match line {
                Ok(line) => line,
                Err(err) => return Ok(bad(seq, n, &prev, err.to_string())),
            };
            let gap = gap_range(&v)
                .filter(|r| *r == (expected_seq, seq.saturating_sub(1)) && seq > expected_seq);
            if let Some((from, through)) = gap {
                // A loss recorded by `audit.gap`: the entry links to the last hash that
                // was acknowledged, which is gone with the lost entries.
                gaps.push(Gap {
                    from,
                    through,
                    recorded_at: seq,
                });
                expected_seq = seq;
            }
            if seq != expected_seq {
                return Ok(bad(
                    expected_seq,
                    n,
                    &prev,
                    format!("entry {expected_seq} is missing (next entry is {seq})"),
                ));
            }
            let e: Framed = match serde_json::from_slice(&v) {
                Ok(e) => e,
                Err(err) => {
                    let err = AuditError::unreadable(seq, err);
                    return Ok(bad(seq, n, &prev, err.to_string()));
                }
            };
            if e.seq != seq {
                return Ok(bad(
                    seq,
                    n,
                    &prev,
                    format!("entry stored at {seq} says it is {}", e.seq),
                ));
            }
            if e.prev_hash != prev && gap.is_none() {
                return Ok(bad(
                    seq,
                    n,
                    &prev,
                    "prev_hash does not match the previous entry's hash".into(),
                ));
            }
            if let Some(m) = e.purged_by {
                // A tombstone: its content is gone, so its hash is checked against
                // the digest of the purge entry it names (and by the next link).
                if m <= seq {
                    return Ok(bad(
                        seq,
                        n,
                        &prev,
                        format!("entry {seq} says entry {m}, which comes before it, purged it"),
                    ));
                }
                let p = purges.entry(m).or_insert_with(|| (seq, 0, Sha256::new()));
                p.1 += 1;
                p.2.update(e.hash.as_bytes());
            } else {
                match hashed {
                    Some((true, claimed)) if claimed == e.hash => {}
                    Some(_) => {
                        return Ok(bad(
                            seq,
                            n,
                            &prev,
                            "content does not match its hash (the entry was altered)".into(),
                        ));
                    }
                    None => {
                        return Ok(bad(
                            seq,
                            n,
                            &prev,
                            "the entry does not end with its hash (the entry was altered)".into(),
                        ));
                    }
                }
                if e.kind == EntryKind::AuditPurged.as_str()
                    && let Some(problem) = check_purge(seq, &v, purges.remove(&seq))
                {
                    return Ok(bad(seq, n, &prev, problem));
                }
            }
            prev = e.hash.into_owned();
            expected_seq += 1;
            if seq.is_multiple_of(10_000) {
                progress(seq);
            }
        }
    }
    let entries = expected_seq - 1;
    if let Some((m, (first, _, _))) = purges.iter().min_by_key(|(_, p)| p.0) {
        let problem =
            format!("entry {first} says entry {m} purged it, but entry {m} is not a purge");
        return Ok(bad(*first, entries, &prev, problem));
    }
    // The writer records the head with every flush: fewer entries than that
    // means entries were cut from the end.
    let recorded = trees.meta.get(INDEXED)?.map(|v| key_seq(&v)).unwrap_or(0);
    if recorded > entries {
        let problem = format!(
            "entries {} to {recorded} are missing (the log ends at {entries})",
            entries + 1
        );
        return Ok(bad(entries + 1, entries, &prev, problem));
    }
    Ok(VerifyReport {
        ok: true,
        entries,
        head_hash: prev,
        first_bad_seq: None,
        problem: None,
        recorded_gaps: gaps,
    })
}

/// Does purge entry `seq` match the tombstones that name it? `None` when it does.
fn check_purge(seq: u64, bytes: &[u8], seen: Option<(u64, u64, Sha256)>) -> Option<String> {
    #[derive(Deserialize)]
    struct Purged {
        purged: u64,
        digest: String,
    }
    #[derive(Deserialize)]
    struct PurgeEntry {
        payload: Purged,
    }
    let p = match serde_json::from_slice::<PurgeEntry>(bytes) {
        Ok(p) => p.payload,
        Err(e) => return Some(format!("purge entry {seq} is unreadable: {e}")),
    };
    let (count, digest) = seen
        .map(|(_, c, d)| (c, hex::encode(d.finalize())))
        .unwrap_or((0, hex::encode(Sha256::digest(b""))));
    if count != p.purged {
        return Some(format!(
            "purge entry {seq} removed {} entries, but {count} removed entries name it",
            p.purged
        ));
    }
    if digest != p.digest {
        return Some(format!(
            "the entries purge {seq} removed do not match its digest (a removed entry was replaced)"
        ));
    }
    None
}
