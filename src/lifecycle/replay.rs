//! Replay: re-evaluate a logged decision under the rule version it names, from the
//! inputs the log kept, and say whether the result is identical.

use serde::Serialize;

use super::Registry;
use super::error::LifecycleError;
use crate::audit::{Entry, EntryKind};
use crate::engine::{Decision, Evaluator};
use crate::record::{HistoryFacts, record_from_value};

/// One part of the decision that differs.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Difference {
    pub field: String,
    #[schema(value_type = Object)]
    pub logged: serde_json::Value,
    #[schema(value_type = Object)]
    pub replayed: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ReplayReport {
    pub seq: u64,
    pub decision_id: String,
    pub ruleset_version: String,
    pub identical: bool,
    pub differences: Vec<Difference>,
    pub replayed: Decision,
}

pub fn replay(
    entry: &Entry,
    registry: &Registry,
    ev: &Evaluator,
) -> Result<ReplayReport, LifecycleError> {
    if entry.kind != EntryKind::Decision {
        return Err(LifecycleError::BadRequest(format!(
            "entry {} is a `{}` entry, not a decision",
            entry.seq, entry.kind
        )));
    }
    if let Some(by) = entry.purged_by {
        return Err(LifecycleError::BadRequest(format!(
            "entry {} was removed by the retention purge in entry {by}: its decision and inputs are no longer kept",
            entry.seq
        )));
    }
    let p = &entry.payload;
    let logged: Decision = serde_json::from_value(p.get("decision").cloned().unwrap_or_default())
        .map_err(|source| LifecycleError::LoggedDecision {
        seq: entry.seq,
        source,
    })?;
    let rules = registry.compiled(&logged.ruleset_version)?;
    let hidden = rules.privacy.hidden_inputs(rules.fields_read());
    if !hidden.is_empty() {
        return Err(LifecycleError::BadRequest(format!(
            "entry {} was logged under a privacy.yaml that masks or hashes {}: the log does not hold the values replay would need",
            entry.seq,
            hidden
                .iter()
                .map(|f| format!("`{f}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let record =
        record_from_value(p.get("record").cloned().unwrap_or_default()).map_err(|source| {
            LifecycleError::LoggedInputs {
                seq: entry.seq,
                source,
            }
        })?;
    // The plan and history facts the decision was made with (none: no key).
    let history = match p.get("history") {
        None => HistoryFacts::new(),
        Some(h) => HistoryFacts::from_json(h).map_err(|problem| {
            LifecycleError::BadRequest(format!(
                "entry {} holds history facts replay cannot read: {problem}",
                entry.seq
            ))
        })?,
    };
    let replayed = ev.evaluate_with_history(
        &rules,
        &record,
        &history,
        logged.decision_id.clone(),
        logged.evaluated_at.clone(),
    );
    let (a, b) = (
        serde_json::to_value(&logged).unwrap_or_default(),
        serde_json::to_value(&replayed).unwrap_or_default(),
    );
    let mut differences = Vec::new();
    if let (Some(a), Some(b)) = (a.as_object(), b.as_object()) {
        for (k, va) in a {
            let vb = b.get(k).cloned().unwrap_or_default();
            if *va != vb {
                differences.push(Difference {
                    field: k.clone(),
                    logged: va.clone(),
                    replayed: vb,
                });
            }
        }
    }
    Ok(ReplayReport {
        seq: entry.seq,
        decision_id: logged.decision_id.clone(),
        ruleset_version: logged.ruleset_version.clone(),
        identical: differences.is_empty(),
        differences,
        replayed,
    })
}
