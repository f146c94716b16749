//! The audit entry for a decision: the decision, the rule-set version, where the
//! record came from, and only the record sections the rules read plus a hash of the
//! whole record — never the whole record — and the plan and history facts the rules
//! read, when the student had any.

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::entry::NewEntry;
use super::kind::EntryKind;
use crate::engine::Decision;
use crate::record::{HistoryFacts, Record};
use crate::rules::RuleSet;

/// Where the record of a decision came from (`payload.source`, tagged by `kind`).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
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

/// SHA-256 of the record's canonical JSON.
pub fn record_hash(record: &Record) -> String {
    let mut h = HashWriter(Sha256::new());
    // Writing into a hasher cannot fail; a record always serializes.
    let _ = serde_json::to_writer(&mut h, record);
    hex::encode(h.0.finalize())
}

/// Feeds serialized bytes straight into the hash, without a buffer.
struct HashWriter(Sha256);

impl std::io::Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The payload of a `decision` entry.
#[derive(Serialize)]
struct DecisionPayload<'a> {
    student_id: &'a str,
    /// Where the student is placed, for the caseload's school and grade filters:
    /// kept unless the privacy policy masks or hashes the field.
    #[serde(skip_serializing_if = "Option::is_none")]
    school_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    grade_level: Option<i64>,
    decision_id: &'a str,
    ruleset_version: &'a str,
    rule_ids: &'a [String],
    source: &'a Source,
    record_sha256: String,
    /// Only the sections the rules read, as the privacy policy keeps them.
    record: KeptRecord,
    /// The plan and history facts the rules read that had a value, by full path
    /// (`student.plans.academic.tier`); absent when there were none.
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    history: serde_json::Map<String, serde_json::Value>,
    decision: &'a serde_json::value::RawValue,
}

/// The record as the log keeps it: typed when the privacy policy keeps every field
/// (the common case, serialized without an intermediate value), else reshaped.
// Lives only while its entry is serialized; boxing the common variant would add an
// allocation to every decision.
#[allow(clippy::large_enum_variant)]
#[derive(Serialize)]
#[serde(untagged)]
enum KeptRecord {
    AsSent(Record),
    Reshaped(serde_json::Value),
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
    decision_entry_in(d, record, None, rules, source, actor, request_id)
}

/// [`decision_entry`] for a decision made with the student's plan and history facts
/// (`Evaluator::evaluate_with_history`): the entry keeps the ones the rules read, so
/// replay gives the same decision.
pub fn decision_entry_in(
    d: &Decision,
    record: &Record,
    history: Option<&HistoryFacts>,
    rules: &RuleSet,
    source: Source,
    actor: &str,
    request_id: &str,
) -> NewEntry {
    let json = decision_json(d);
    decision_entry_with_json(d, &json, record, history, rules, source, actor, request_id)
}

/// The facts of `history` the rules read, by full path; empty without any.
fn kept_history(
    history: Option<&HistoryFacts>,
    rules: &RuleSet,
) -> serde_json::Map<String, serde_json::Value> {
    let mut out = serde_json::Map::new();
    let Some(history) = history.filter(|h| !h.is_empty()) else {
        return out;
    };
    for path in rules.history_paths() {
        if let Some(v) = history.get(path) {
            out.insert(format!("student.{path}"), v.to_json());
        }
    }
    out
}

/// A decision as JSON text (serializing a decision cannot fail: its maps have
/// string keys and its numbers are finite or null).
pub fn decision_json(d: &Decision) -> Box<serde_json::value::RawValue> {
    serde_json::value::to_raw_value(d)
        .unwrap_or_else(|_| serde_json::value::RawValue::NULL.to_owned())
}

/// [`decision_entry_in`] for a caller that already has the decision's JSON (the
/// evaluate endpoint answers with the same bytes it logs).
#[allow(clippy::too_many_arguments)]
pub fn decision_entry_with_json(
    d: &Decision,
    decision_json: &serde_json::value::RawValue,
    record: &Record,
    history: Option<&HistoryFacts>,
    rules: &RuleSet,
    source: Source,
    actor: &str,
    request_id: &str,
) -> NewEntry {
    let rule_ids: Vec<String> = d.flags.iter().map(|f| f.rule_id.clone()).collect();
    let kept = |field: &str| {
        rules
            .privacy
            .fields()
            .get(field)
            .is_none_or(|a| *a == crate::record::privacy::Action::Keep)
    };
    let payload = DecisionPayload {
        student_id: &d.student_id,
        school_id: record.school_id.as_deref().filter(|_| kept("school_id")),
        grade_level: record.grade_level.filter(|_| kept("grade_level")),
        decision_id: &d.decision_id,
        ruleset_version: &d.ruleset_version,
        rule_ids: &rule_ids,
        source: &source,
        record_sha256: record_hash(record),
        record: {
            let projected = record.project(rules.fields_read());
            if rules.privacy.keeps_everything() {
                KeptRecord::AsSent(projected)
            } else {
                KeptRecord::Reshaped(rules.privacy.apply(&projected))
            }
        },
        history: kept_history(history, rules),
        decision: decision_json,
    };
    // A struct of strings, numbers and string-keyed maps always serializes.
    let payload = serde_json::to_string(&payload).unwrap_or_else(|_| "null".into());
    NewEntry {
        kind: EntryKind::Decision,
        actor: actor.to_string(),
        request_id: request_id.to_string(),
        payload,
        student_id: Some(d.student_id.clone()),
        rule_ids,
    }
}
