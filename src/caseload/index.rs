//! The `caseload` tree: one value per student (their [`CaseEntry`] as JSON, keyed
//! by student id), the one function that changes an entry, and the rebuild from
//! the audit log.
//!
//! **Changes.** Every change is a [`Change`] made by one audit entry (a decision, a
//! review, a withdrawal) or by a purge of one decision, and [`apply`] is the whole
//! read-modify-write: pure, so the audit writer can run it for each entry it writes
//! and the index lands in the same durable write, and a rebuild runs the very same
//! function over the log. [`Index::update`] does it against the tree.
//!
//! **Plans.** `plan.opened`, `plan.updated` and `plan.closed` entries keep the
//! student's open plans ([`super::plans`]) on their entry and, by student, in the
//! [`plans::TREE`] tree, so a plan of a student not (yet) in the caseload is kept
//! for their next decision; a rebuild clears and refills both. Only closed plans are
//! purged, and a closed plan has no mark, so a plan purge changes nothing here.
//!
//! **Purges.** A purged decision never comes back: purging a student's latest
//! decision removes the student; purging an older one ends the reviews made on it
//! (their flags go back to unreviewed). A rebuild cannot see purged content (a
//! tombstone has no student id) and needs no more: a purge removes every decision
//! of a student before its cutoff unless the student is on hold, so what is purged
//! of one student is always their oldest decisions, the rebuild skips them, and a
//! review made on a purged decision finds no entry built from that decision to
//! change. So the live index and a rebuild agree.
//!
//! **Staleness.** The tree also holds, under keys starting with NUL (which no
//! student id holds), the last audit `seq` it reflects and its format. It is stale
//! when either is missing, the format is another, or the `seq` is behind the log's
//! head; [`ensure_current`] rebuilds it then. The writer records the `seq` with
//! [`Index::mark_applied`] after each group of entries.
//!
//! **Encoding.** serde_json: a 100,000-entry scan decodes in well under a second,
//! the values stay readable with sled's tools, and a new field with a default is a
//! compatible change; a format change bumps [`FORMAT`] and the next start rebuilds.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::carry::carry_forward;
use super::entry::CaseEntry;
use super::error::CaseloadError;
use super::plans::{self, PlanChange, PlanMark};
use super::review::{self, LoggedReview, ReviewPayload};
use crate::audit::follow::{Attach, Follower, LogView, ReadLog, Written};
use crate::audit::{Entry, Store};

/// The tree's name; part of the on-disk format.
pub const TREE: &str = "caseload";
/// The value encoding's version; another one makes the index stale.
/// 2: entries carry their student's open plans (a start after the upgrade rebuilds,
/// taking the plans from the log).
/// 3: entries kept compressed ([`crate::audit::pack`]): a decision rewrites its
/// student's entry, and sled keeps the old copy until it cleans the segment, so the
/// entry's size is paid again with every decision.
pub const FORMAT: u64 = 3;
const META_APPLIED: &[u8] = b"\0applied_seq";
const META_FORMAT: &[u8] = b"\0format";
/// The first key that can be a student's (ids never hold NUL).
const FIRST_STUDENT_KEY: &[u8] = b"\x01";
/// Entries read from the log at a time while rebuilding.
const REBUILD_BATCH: usize = 4096;

/// One thing that changes a student's caseload entry.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// A new decision (its entry, every flag unreviewed until carried).
    Decision(Box<CaseEntry>),
    /// A `decision.reviewed` entry.
    Review(LoggedReview),
    /// A `student.withdrawn` entry: the student leaves the caseload.
    Withdrawal { student_id: String },
    /// A purge removed decision `decision_seq` of the student.
    Purge {
        student_id: String,
        decision_seq: u64,
    },
    /// A plan was opened, changed or closed.
    Plan(PlanChange),
}

impl Change {
    /// The student whose entry changes.
    pub fn student_id(&self) -> &str {
        match self {
            Change::Decision(e) => &e.student_id,
            Change::Review(r) => &r.review.student_id,
            Change::Withdrawal { student_id } | Change::Purge { student_id, .. } => student_id,
            Change::Plan(p) => &p.student_id,
        }
    }

    /// The change an audit entry makes, from its parts as the writer has them
    /// (`payload` is the payload's JSON text); `None` for the kinds the caseload
    /// does not follow.
    pub fn from_parts(
        seq: u64,
        kind: &str,
        at: &str,
        hash: &str,
        payload: &str,
    ) -> Result<Option<Change>, CaseloadError> {
        let unreadable = |source| CaseloadError::Payload {
            seq,
            kind: kind.to_string(),
            source,
        };
        Ok(Some(match kind {
            "decision" => {
                Change::Decision(Box::new(CaseEntry::from_decision_json(seq, hash, payload)?))
            }
            review::KIND => Change::Review(LoggedReview {
                seq,
                at: at.to_string(),
                review: serde_json::from_str::<ReviewPayload>(payload).map_err(unreadable)?,
            }),
            "student.withdrawn" => {
                let w: Withdrawn = serde_json::from_str(payload).map_err(unreadable)?;
                Change::Withdrawal {
                    student_id: w.student_id,
                }
            }
            _ => return Ok(PlanChange::from_parts(seq, kind, at, payload)?.map(Change::Plan)),
        }))
    }

    /// The change `entry` makes; `None` for a purged entry or a kind the caseload
    /// does not follow.
    pub fn from_entry(entry: &Entry) -> Result<Option<Change>, CaseloadError> {
        if entry.purged_by.is_some() {
            return Ok(None);
        }
        let payload = entry.payload.to_string();
        Self::from_parts(
            entry.seq,
            entry.kind.as_str(),
            &entry.at,
            &entry.hash,
            &payload,
        )
    }
}

#[derive(Deserialize)]
struct Withdrawn {
    student_id: String,
}

/// The student's entry after `change`, given their entry before it (`None`: not in
/// the caseload, before or after).
pub fn apply(prev: Option<CaseEntry>, change: &Change) -> Option<CaseEntry> {
    match change {
        Change::Decision(new) => Some(match prev {
            Some(p) => {
                let mut next = carry_forward(&p, (**new).clone());
                next.plans = p.plans;
                next
            }
            None => (**new).clone(),
        }),
        Change::Plan(c) => prev.map(|mut p| {
            c.apply_to(&mut p.plans);
            p
        }),
        Change::Review(r) => prev.map(|p| r.apply_to(&p).unwrap_or(p)),
        Change::Withdrawal { .. } => None,
        Change::Purge { decision_seq, .. } => {
            let mut p = prev?;
            if p.decision_seq == *decision_seq {
                return None;
            }
            for f in &mut p.flags {
                if f.review
                    .as_ref()
                    .is_some_and(|r| r.decision_seq == *decision_seq)
                {
                    f.review = None;
                }
            }
            Some(p)
        }
    }
}

/// What [`Index::update`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct Updated {
    /// The student's entry now (`None`: not in the caseload).
    pub entry: Option<CaseEntry>,
    /// A review that left the caseload as it was, because its decision is not the
    /// student's latest (answered `"superseded": true`).
    pub superseded: bool,
}

/// The open `caseload` tree. Cheap to clone.
#[derive(Clone)]
pub struct Index {
    tree: sled::Tree,
    /// Open plans by student ([`plans::TREE`]).
    plans: sled::Tree,
}

impl Index {
    /// Open (or create) the tree in the audit store's database ([`Store::db`]).
    pub fn open(db: &sled::Db) -> Result<Index, CaseloadError> {
        Ok(Index {
            tree: db.open_tree(TREE)?,
            plans: db.open_tree(plans::TREE)?,
        })
    }

    /// The student's entry.
    pub fn get(&self, student_id: &str) -> Result<Option<CaseEntry>, CaseloadError> {
        self.tree
            .get(student_id.as_bytes())?
            .map(|v| decode(student_id.as_bytes(), &v))
            .transpose()
    }

    /// Apply `change` to its student's entry in the tree. Not atomic with other
    /// writers of the same student: run by the single audit writer (or a rebuild).
    pub fn update(&self, change: &Change) -> Result<Updated, CaseloadError> {
        let id = change.student_id();
        let prev = self.get(id)?;
        let superseded = match change {
            Change::Review(r) => r.is_superseded(prev.as_ref()),
            _ => false,
        };
        let new_student = prev.is_none();
        if let Change::Plan(c) = change {
            let mut marks = self.plans_of(id)?;
            c.apply_to(&mut marks);
            match marks.is_empty() {
                true => self.plans.remove(id.as_bytes())?,
                false => self.plans.insert(id.as_bytes(), encode_marks(&marks))?,
            };
        }
        let mut next = apply(prev, change);
        if let (Some(e), Change::Decision(_), true) = (&mut next, change, new_student) {
            e.plans = self.plans_of(id)?;
        }
        match &next {
            Some(e) => self.tree.insert(id.as_bytes(), encode(e))?,
            None => self.tree.remove(id.as_bytes())?,
        };
        Ok(Updated {
            entry: next,
            superseded,
        })
    }

    /// The open plans of `student_id`, whether or not they are in the caseload.
    pub fn plans_of(&self, student_id: &str) -> Result<Vec<PlanMark>, CaseloadError> {
        self.plans
            .get(student_id.as_bytes())?
            .map(|v| {
                serde_json::from_slice(&v).map_err(|source| CaseloadError::Corrupt {
                    key: format!("{}/{student_id}", plans::TREE),
                    source,
                })
            })
            .transpose()
            .map(Option::unwrap_or_default)
    }

    /// Record that the index reflects the log up to `seq` (in this format).
    pub fn mark_applied(&self, seq: u64) -> Result<(), CaseloadError> {
        self.tree
            .insert(META_FORMAT, FORMAT.to_be_bytes().to_vec())?;
        self.tree.insert(META_APPLIED, seq.to_be_bytes().to_vec())?;
        Ok(())
    }

    /// The last audit `seq` the index reflects; `None` when it never finished a
    /// rebuild or was written in another format.
    pub fn applied_seq(&self) -> Result<Option<u64>, CaseloadError> {
        let num = |v: Option<sled::IVec>| {
            v.and_then(|b| <[u8; 8]>::try_from(b.as_ref()).ok())
                .map(u64::from_be_bytes)
        };
        if num(self.tree.get(META_FORMAT)?) != Some(FORMAT) {
            return Ok(None);
        }
        Ok(num(self.tree.get(META_APPLIED)?))
    }

    /// Whether the index must be rebuilt before it is read, given the log's head.
    pub fn is_stale(&self, head_seq: u64) -> Result<bool, CaseloadError> {
        Ok(self.applied_seq()?.is_none_or(|s| s < head_seq))
    }

    /// Every entry in student id order, one pass over the tree.
    pub fn entries(&self) -> impl Iterator<Item = Result<CaseEntry, CaseloadError>> + '_ {
        self.entries_after(None)
    }

    /// Entries of students whose id sorts after `after` (all when `None`), in
    /// student id order.
    pub fn entries_after(
        &self,
        after: Option<&str>,
    ) -> impl Iterator<Item = Result<CaseEntry, CaseloadError>> + '_ {
        let start = match after {
            Some(a) => {
                let mut k = a.as_bytes().to_vec();
                k.push(0);
                k
            }
            None => FIRST_STUDENT_KEY.to_vec(),
        };
        self.scan(start)
    }

    /// Entries of students whose id is `start` or sorts after it.
    pub fn entries_from(
        &self,
        start: &str,
    ) -> impl Iterator<Item = Result<CaseEntry, CaseloadError>> + '_ {
        self.scan(start.as_bytes().max(FIRST_STUDENT_KEY).to_vec())
    }

    fn scan(&self, start: Vec<u8>) -> impl Iterator<Item = Result<CaseEntry, CaseloadError>> + '_ {
        self.tree.range(start..).map(|item| {
            let (k, v) = item?;
            decode(&k, &v)
        })
    }

    /// Students in the caseload.
    pub fn len(&self) -> usize {
        self.tree.range(FIRST_STUDENT_KEY..).count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Make the tree durable (the audit writer's flush covers it when the tree
    /// is written there; a rebuild calls this).
    pub fn flush(&self) -> Result<(), CaseloadError> {
        self.tree.flush()?;
        self.plans.flush()?;
        Ok(())
    }
}

/// A value as stored.
pub fn encode(entry: &CaseEntry) -> Vec<u8> {
    // Strings, numbers and maps with string keys always serialize.
    crate::audit::pack(&serde_json::to_vec(entry).unwrap_or_default())
}

fn encode_marks(marks: &[PlanMark]) -> Vec<u8> {
    serde_json::to_vec(marks).unwrap_or_default()
}

/// A stored value, or why it is unreadable.
pub fn decode(key: &[u8], value: &[u8]) -> Result<CaseEntry, CaseloadError> {
    let corrupt = |source| CaseloadError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        source,
    };
    let json = crate::audit::unpack(value)
        .map_err(|why| corrupt(<serde_json::Error as serde::de::Error>::custom(why)))?;
    serde_json::from_slice(&json).map_err(corrupt)
}

/// What [`rebuild`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rebuilt {
    /// Audit entries read.
    pub entries_read: u64,
    /// Students in the caseload afterwards.
    pub students: usize,
    /// The last `seq` it reflects.
    pub applied_seq: u64,
}

/// What a rebuild reads of a stored audit entry: the payload stays text until its
/// kind is one the caseload follows.
#[derive(Deserialize)]
struct LogLine<'a> {
    kind: String,
    at: String,
    hash: String,
    #[serde(borrow)]
    payload: &'a RawValue,
    #[serde(default)]
    purged_by: Option<u64>,
}

/// Rebuild the tree from scratch from the whole audit log, in `seq` order. Run it
/// when nothing else writes the index (at startup before serving, or from the CLI
/// with the server stopped); the index reads as stale until it finishes.
pub fn rebuild(index: &Index, store: &impl ReadLog) -> Result<Rebuilt, CaseloadError> {
    index.tree.remove(META_APPLIED)?;
    index.tree.clear()?;
    index.plans.clear()?;
    let (mut after, mut read) = (0u64, 0u64);
    loop {
        let batch = store.raw_after(after, REBUILD_BATCH)?;
        let Some((last, _)) = batch.last() else { break };
        let (last, n) = (*last, batch.len() as u64);
        for (seq, bytes) in batch {
            let line: LogLine =
                serde_json::from_slice(&bytes).map_err(|source| CaseloadError::Payload {
                    seq,
                    kind: "audit entry".into(),
                    source,
                })?;
            if line.purged_by.is_none() {
                let payload = line.payload.get();
                if let Some(c) = Change::from_parts(seq, &line.kind, &line.at, &line.hash, payload)?
                {
                    index.update(&c)?;
                }
            }
        }
        read += n;
        after = last;
    }
    index.mark_applied(after)?;
    index.flush()?;
    Ok(Rebuilt {
        entries_read: read,
        students: index.len(),
        applied_seq: after,
    })
}

/// Rebuild the index when it is stale (missing, another format, or behind the
/// log's head); `None` when it was current.
pub fn ensure_current(index: &Index, store: &Store) -> Result<Option<Rebuilt>, CaseloadError> {
    ensure_current_at(index, store, store.head_seq()?)
}

/// [`ensure_current`] against a log whose head is `head_seq`.
fn ensure_current_at(
    index: &Index,
    log: &impl ReadLog,
    head_seq: u64,
) -> Result<Option<Rebuilt>, CaseloadError> {
    if index.is_stale(head_seq)? {
        return rebuild(index, log).map(Some);
    }
    Ok(None)
}

/// The caseload as a follower of the audit log (`audit::follow`): attached when
/// the store opens, it first rebuilds the index if it is stale (after a crash, an
/// upgrade, a deleted tree), then the writer thread applies every entry to it in
/// the same durable write as the entry.
pub fn attach() -> Attach {
    Box::new(|log: &LogView, head: u64| {
        let failed = |e: CaseloadError| format!("cannot bring the caseload index up to date: {e}");
        let index = Index::open(log.db()).map_err(failed)?;
        if let Some(r) = ensure_current_at(&index, log, head).map_err(failed)? {
            tracing::info!(
                entries_read = r.entries_read,
                students = r.students,
                applied_seq = r.applied_seq,
                "caseload index rebuilt from the audit log"
            );
        }
        Ok(Box::new(Following { index }) as Box<dyn Follower>)
    })
}

/// The index as the writer thread keeps it.
struct Following {
    index: Index,
}

impl Follower for Following {
    fn entry(&mut self, w: &Written<'_>) -> Result<bool, String> {
        let change = Change::from_parts(w.seq, w.kind.as_str(), w.at, w.hash, w.payload)
            .map_err(|e| e.to_string())?;
        match change {
            Some(c) => Ok(self.index.update(&c).map_err(|e| e.to_string())?.superseded),
            None => Ok(false),
        }
    }

    fn purged(&mut self, student_id: &str, seq: u64) -> Result<(), String> {
        let change = Change::Purge {
            student_id: student_id.to_string(),
            decision_seq: seq,
        };
        self.index.update(&change).map_err(|e| e.to_string())?;
        Ok(())
    }

    fn applied(&mut self, seq: u64) -> Result<(), String> {
        self.index.mark_applied(seq).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
#[path = "index_tests.rs"]
mod tests;
