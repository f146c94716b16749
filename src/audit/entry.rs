//! An audit entry: as appended ([`NewEntry`]), as stored and read back ([`Entry`]),
//! and where it landed ([`Appended`]).

use serde::{Deserialize, Serialize};

use super::kind::EntryKind;

/// One audit entry as stored and returned.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub seq: u64,
    /// What the entry records; a name this version does not know reads back as
    /// `EntryKind::Other`, unchanged.
    #[schema(value_type = String)]
    pub kind: EntryKind,
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
/// (`Store::append_with`).
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
    /// When it was written (`Entry::at`).
    pub at: String,
    pub prev_hash: String,
    pub hash: String,
    /// A follower kept beside the log (the caseload) found the entry out of date:
    /// it is in the log and changed nothing there (a review of a decision that is
    /// no longer the student's latest). See `follow`.
    pub superseded: bool,
}

/// An entry to append; the store assigns `seq`, `at` and the hashes.
///
/// The payload is serialized by whoever builds the entry (on the request's own
/// thread), so the single writer thread only frames it, hashes it and stores it.
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub kind: EntryKind,
    pub actor: String,
    pub request_id: String,
    /// The payload's JSON text.
    pub(super) payload: String,
    /// Index keys: `payload.student_id` and each of `payload.rule_ids`.
    pub(super) student_id: Option<String>,
    pub(super) rule_ids: Vec<String>,
}

impl NewEntry {
    /// An entry with a JSON payload, indexed by `payload.student_id` and each of
    /// `payload.rule_ids` when present.
    pub fn new(
        kind: EntryKind,
        actor: impl Into<String>,
        request_id: impl Into<String>,
        payload: serde_json::Value,
    ) -> NewEntry {
        let (student, rules) = index_keys(&payload);
        let student_id = student.map(str::to_string);
        let rule_ids = rules.into_iter().map(str::to_string).collect();
        NewEntry {
            kind,
            actor: actor.into(),
            request_id: request_id.into(),
            payload: payload.to_string(),
            student_id,
            rule_ids,
        }
    }
}

/// The current time as stored in entries.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
