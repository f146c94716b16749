//! Notices to families: when a student's highest tier in a domain rises or falls, or a
//! plan is opened or closed, a [`Notice`] goes into a durable outbox (the `notices`
//! tree), written by the audit writer in the same durable write as the entry that
//! caused it ([`follow`]). A delivery loop (in `http`) sends each one to the district's
//! family-messaging webhook, at least once, in order per student, and marks it sent
//! (with a `notice.sent` audit entry) or, after the configured attempts, failed.
//!
//! Keys are the notice number, big-endian, so the tree's order is the order notices
//! were made; a student's notices are delivered in that order (a later one waits while
//! an earlier one of the same student is still pending).

pub mod follow;
pub mod words;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::rules::Domain;

/// The outbox tree; part of the on-disk format.
pub const TREE: &str = "notices";
/// Each student's latest tiers, to see a change (`student id → tiers JSON`).
pub const TIERS_TREE: &str = "notices.tiers";
/// The last audit seq the outbox reflects.
const META_APPLIED: &[u8] = b"applied_seq";

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = NoticeWhat)]
#[serde(rename_all = "snake_case")]
pub enum What {
    SupportRaised,
    SupportLowered,
    PlanOpened,
    PlanClosed,
}

/// Where a notice is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = NoticeStatus)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pending,
    Sent,
    Failed,
}

impl Status {
    pub fn parse(s: &str) -> Option<Status> {
        match s {
            "pending" => Some(Status::Pending),
            "sent" => Some(Status::Sent),
            "failed" => Some(Status::Failed),
            _ => None,
        }
    }
}

/// One notice, as kept and as sent (the receiver gets the same JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Notice {
    /// `N-` and the notice number; the receiver deduplicates by it (delivery is at
    /// least once).
    pub notice_id: String,
    /// The audit entry that caused it.
    pub seq: u64,
    pub student_id: String,
    pub what: What,
    pub domain: Domain,
    /// The highest tier in the domain before and after (0: none); a plan's tier for
    /// plan notices.
    pub from_tier: u8,
    pub to_tier: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intervention: Option<String>,
    /// What to tell the family, per language of `family_languages` (plain words).
    pub message: std::collections::BTreeMap<String, String>,
    pub created_at: String,
    pub status: Status,
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<String>,
}

impl Notice {
    fn number(&self) -> Option<u64> {
        self.notice_id.strip_prefix("N-")?.parse().ok()
    }
}

/// Why the outbox could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum NoticeError {
    #[error("notice outbox: {0}")]
    Store(#[from] sled::Error),
    #[error("notice outbox: a stored notice does not decode: {0}")]
    Json(#[from] serde_json::Error),
}

/// The outbox and the tiers it compares against.
#[derive(Clone)]
pub struct Outbox {
    tree: sled::Tree,
    tiers: sled::Tree,
    meta: sled::Tree,
}

fn key(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

impl Outbox {
    pub fn open(db: &sled::Db) -> Result<Outbox, NoticeError> {
        Ok(Outbox {
            tree: db.open_tree(TREE)?,
            tiers: db.open_tree(TIERS_TREE)?,
            meta: db.open_tree("notices.meta")?,
        })
    }

    /// The last audit seq applied, if the outbox was ever attached.
    pub fn applied_seq(&self) -> Result<Option<u64>, NoticeError> {
        Ok(self
            .meta
            .get(META_APPLIED)?
            .and_then(|b| <[u8; 8]>::try_from(b.as_ref()).ok())
            .map(u64::from_be_bytes))
    }

    pub fn mark_applied(&self, seq: u64) -> Result<(), NoticeError> {
        self.meta.insert(META_APPLIED, &key(seq))?;
        Ok(())
    }

    /// Add a pending notice (its id is the next number); returns it.
    pub fn push(&self, mut n: Notice) -> Result<Notice, NoticeError> {
        let next = match self.tree.last()? {
            Some((k, _)) => {
                <[u8; 8]>::try_from(k.as_ref()).map_or(1, |b| u64::from_be_bytes(b) + 1)
            }
            None => 1,
        };
        n.notice_id = format!("N-{next:012}");
        self.tree.insert(key(next), serde_json::to_vec(&n)?)?;
        Ok(n)
    }

    /// A student's tiers as last seen (empty: never seen).
    pub fn tiers_of(
        &self,
        student: &str,
    ) -> Result<std::collections::BTreeMap<Domain, u8>, NoticeError> {
        Ok(match self.tiers.get(student.as_bytes())? {
            Some(b) => serde_json::from_slice(&b)?,
            None => Default::default(),
        })
    }

    pub fn set_tiers(
        &self,
        student: &str,
        tiers: &std::collections::BTreeMap<Domain, u8>,
    ) -> Result<(), NoticeError> {
        self.tiers
            .insert(student.as_bytes(), serde_json::to_vec(tiers)?)?;
        Ok(())
    }

    /// Notices with `status` (all when `None`), oldest first, at most `limit`.
    pub fn list(&self, status: Option<Status>, limit: usize) -> Result<Vec<Notice>, NoticeError> {
        let mut out = Vec::new();
        for kv in self.tree.iter() {
            let (_, v) = kv?;
            let n: Notice = serde_json::from_slice(&v)?;
            if status.is_none_or(|s| n.status == s) {
                out.push(n);
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// The pending notices that may be sent at `now`, oldest first: due, and with no
    /// earlier pending notice of the same student (order per student).
    pub fn due(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Notice>, NoticeError> {
        let mut waiting = std::collections::BTreeSet::new();
        let mut out = Vec::new();
        for kv in self.tree.iter() {
            let (_, v) = kv?;
            let n: Notice = serde_json::from_slice(&v)?;
            if n.status != Status::Pending {
                continue;
            }
            let is_due = n
                .next_attempt_at
                .as_deref()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .is_none_or(|t| t <= now);
            if is_due && !waiting.contains(&n.student_id) {
                out.push(n.clone());
                if out.len() >= limit {
                    break;
                }
            }
            waiting.insert(n.student_id);
        }
        Ok(out)
    }

    /// Store `n` as it now is (after an attempt), durably.
    pub fn save(&self, n: &Notice) -> Result<(), NoticeError> {
        if let Some(num) = n.number() {
            self.tree.insert(key(num), serde_json::to_vec(n)?)?;
            self.tree.flush()?;
        }
        Ok(())
    }

    /// Counts per status (pending, sent, failed).
    pub fn counts(&self) -> Result<(usize, usize, usize), NoticeError> {
        let (mut p, mut s, mut f) = (0, 0, 0);
        for kv in self.tree.iter() {
            let (_, v) = kv?;
            match serde_json::from_slice::<Notice>(&v)?.status {
                Status::Pending => p += 1,
                Status::Sent => s += 1,
                Status::Failed => f += 1,
            }
        }
        Ok((p, s, f))
    }
}
