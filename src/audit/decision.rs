//! The audit entry for a decision: the decision, the rule-set version, where the
//! record came from, and only the record sections the rules read plus a hash of the
//! whole record — never the whole record.

use serde_json::json;
use sha2::{Digest, Sha256};

use super::NewEntry;
use crate::engine::Decision;
use crate::record::Record;
use crate::rules::RuleSet;

/// Where the record of a decision came from.
#[derive(Debug, Clone)]
pub enum Source {
    /// `POST /v1/evaluate` or the batch endpoint.
    Api,
    /// A signed SIS event.
    Event {
        event_id: String,
        event_type: String,
    },
    /// A nightly import.
    Import { line: u64 },
}

impl Source {
    fn to_json(&self) -> serde_json::Value {
        match self {
            Source::Api => json!({"kind": "api"}),
            Source::Event {
                event_id,
                event_type,
            } => json!({"kind": "event", "event_id": event_id, "event_type": event_type}),
            Source::Import { line } => json!({"kind": "import", "line": line}),
        }
    }
}

/// SHA-256 of the record's canonical JSON.
pub fn record_hash(record: &Record) -> String {
    hex::encode(Sha256::digest(
        serde_json::to_vec(record).unwrap_or_default(),
    ))
}

/// Build the `decision` entry.
pub fn decision_entry(
    d: &Decision,
    record: &Record,
    rules: &RuleSet,
    source: Source,
    actor: &str,
    request_id: &str,
) -> NewEntry {
    let kept = record.project(rules.fields_read());
    NewEntry {
        kind: "decision".into(),
        actor: actor.to_string(),
        request_id: request_id.to_string(),
        payload: json!({
            "student_id": d.student_id,
            "decision_id": d.decision_id,
            "ruleset_version": d.ruleset_version,
            "rule_ids": d.flags.iter().map(|f| f.rule_id.as_str()).collect::<Vec<_>>(),
            "source": source.to_json(),
            "record_sha256": record_hash(record),
            "record": kept,
            "decision": d,
        }),
    }
}
