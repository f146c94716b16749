//! Reading an entry's NDJSON line: the members of a decision the export keeps, and
//! the range an `audit.purged` entry names.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::cli::CliError;

/// The members of an entry line the export reads.
#[derive(Deserialize)]
pub(super) struct LineIn<'a> {
    #[serde(borrow)]
    pub(super) kind: Cow<'a, str>,
    #[serde(borrow)]
    pub(super) at: Cow<'a, str>,
    #[serde(borrow)]
    pub(super) actor: Cow<'a, str>,
    #[serde(default)]
    pub(super) purged_by: Option<u64>,
    #[serde(borrow)]
    pub(super) hash: Cow<'a, str>,
    #[serde(borrow)]
    pub(super) payload: &'a RawValue,
}

/// A decision's payload, as `audit::decision` writes it.
#[derive(Deserialize)]
pub(super) struct DecisionIn {
    pub(super) student_id: String,
    #[serde(default)]
    pub(super) school_id: Option<String>,
    #[serde(default)]
    pub(super) grade_level: Option<i64>,
    pub(super) decision_id: String,
    pub(super) ruleset_version: String,
    pub(super) source: SourceIn,
    pub(super) record_sha256: String,
    pub(super) decision: EngineDecisionIn,
}

#[derive(Deserialize)]
pub(super) struct SourceIn {
    pub(super) kind: String,
    #[serde(default)]
    pub(super) event_id: Option<String>,
    #[serde(default)]
    pub(super) event_type: Option<String>,
    #[serde(default)]
    pub(super) line: Option<i64>,
}

/// The engine's decision (`engine::Decision`), the members exported.
#[derive(Deserialize)]
pub(super) struct EngineDecisionIn {
    pub(super) evaluated_at: String,
    #[serde(default)]
    pub(super) flags: Vec<FlagIn>,
    #[serde(default)]
    pub(super) tiers: BTreeMap<String, i64>,
    #[serde(default)]
    pub(super) strengths: Vec<StrengthIn>,
}

#[derive(Deserialize)]
pub(super) struct FlagIn {
    pub(super) rule_id: String,
    pub(super) domain: String,
    pub(super) tier: i64,
    #[serde(default)]
    pub(super) inputs: BTreeMap<String, serde_json::Value>,
}

#[derive(Deserialize)]
pub(super) struct StrengthIn {
    pub(super) rule_id: String,
}

/// An `audit.purged` entry's payload: the range of entries it removed.
#[derive(Deserialize)]
pub(super) struct PurgedPayload {
    pub(super) first_seq: u64,
    pub(super) last_seq: u64,
}

/// A `decision` entry: its envelope, and its content unless purged.
pub(super) struct DecisionEntry {
    pub(super) seq: u64,
    pub(super) month: String,
    pub(super) at_ms: i64,
    pub(super) actor: String,
    pub(super) hash: String,
    pub(super) purged_by: Option<u64>,
    pub(super) decision: Option<DecisionIn>,
}

pub(super) enum Parsed {
    Decision(Box<DecisionEntry>),
    Purge(PurgedPayload),
    Other,
}

fn bad(seq: u64, problem: impl std::fmt::Display) -> CliError {
    CliError::BadEntry {
        seq,
        problem: problem.to_string(),
    }
}

/// Read entry `seq`'s line.
pub(super) fn parse(seq: u64, line: &[u8]) -> Result<Parsed, CliError> {
    let e: LineIn = serde_json::from_slice(line).map_err(|err| bad(seq, err))?;
    match e.kind.as_ref() {
        "decision" => {}
        "audit.purged" if e.purged_by.is_none() => {
            return match serde_json::from_str::<PurgedPayload>(e.payload.get()) {
                Ok(p) => Ok(Parsed::Purge(p)),
                // A purge that removed nothing names no range.
                Err(_) => Ok(Parsed::Other),
            };
        }
        _ => return Ok(Parsed::Other),
    }
    let at = chrono::DateTime::parse_from_rfc3339(&e.at)
        .map_err(|err| bad(seq, format!("`at` {:?} is not RFC 3339: {err}", e.at)))?
        .with_timezone(&chrono::Utc);
    let decision = if e.payload.get() == "null" {
        if e.purged_by.is_none() {
            return Err(bad(seq, "a decision without payload that no purge names"));
        }
        None
    } else {
        Some(
            serde_json::from_str::<DecisionIn>(e.payload.get())
                .map_err(|err| bad(seq, format!("decision payload: {err}")))?,
        )
    };
    Ok(Parsed::Decision(Box::new(DecisionEntry {
        seq,
        month: at.format("%Y-%m").to_string(),
        at_ms: at.timestamp_millis(),
        actor: e.actor.into_owned(),
        hash: e.hash.into_owned(),
        purged_by: e.purged_by,
        decision,
    })))
}

/// Milliseconds since the epoch of an RFC 3339 time (`None` when it is not one).
pub(super) fn millis(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp_millis())
}

pub(super) fn as_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(super) fn as_i32(v: i64) -> i32 {
    i32::try_from(v).unwrap_or(if v < 0 { i32::MIN } else { i32::MAX })
}
