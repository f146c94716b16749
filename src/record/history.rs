//! What a rule may know about a student beyond the record: their intervention plans
//! and their tier history, as a flat map of facts (`plans.academic.points_off_aim`,
//! `history.attendance.prev_tier`).
//!
//! The facts are computed elsewhere (from the plan store and the caseload) and handed
//! to the engine beside the record; they are named in the fact catalogue
//! (`facts::PLAN_FACTS`, `facts::HISTORY_FACTS`). This module holds them
//! ([`HistoryFacts`]) and turns them to and from the JSON the audit log keeps, so a
//! decision made with them replays identically.

use std::collections::BTreeMap;

use super::value::Value;

/// One student's plan and history facts, keyed by the path after `student.`
/// (`plans.small-group-reading.points_off_aim`, `history.attendance.prev_tier`).
/// A path that is absent has no value: rules that read it land in
/// `insufficient_data`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HistoryFacts(BTreeMap<String, Value>);

/// No facts: what a student without plans or history has.
pub(crate) static EMPTY: HistoryFacts = HistoryFacts(BTreeMap::new());

impl HistoryFacts {
    pub fn new() -> Self {
        Self::default()
    }

    /// Set the fact at `path` (after `student.`), replacing any earlier value.
    pub fn insert(&mut self, path: impl Into<String>, value: Value) {
        self.0.insert(path.into(), value);
    }

    pub fn get(&self, path: &str) -> Option<&Value> {
        self.0.get(path)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Every fact, by path after `student.`.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The facts as JSON keyed by the full path (`student.plans.academic.tier`), as
    /// the audit log keeps them.
    pub fn to_json(&self) -> serde_json::Map<String, serde_json::Value> {
        self.0
            .iter()
            .map(|(k, v)| (format!("student.{k}"), v.to_json()))
            .collect()
    }

    /// The reverse of [`HistoryFacts::to_json`]: an object keyed by full paths.
    /// A `null` value is no value.
    pub fn from_json(json: &serde_json::Value) -> Result<HistoryFacts, String> {
        let serde_json::Value::Object(map) = json else {
            return Err("history must be an object of `student.<path>` keys".into());
        };
        let mut out = HistoryFacts::new();
        for (k, v) in map {
            let Some(path) = k.strip_prefix("student.") else {
                return Err(format!("history key `{k}` does not start with `student.`"));
            };
            let value = match v {
                serde_json::Value::Null => continue,
                serde_json::Value::Bool(b) => Value::Bool(*b),
                serde_json::Value::String(s) => Value::Text(s.clone()),
                serde_json::Value::Number(n) => match n.as_i64() {
                    Some(i) => Value::Int(i),
                    None => Value::Num(n.as_f64().ok_or_else(|| format!("`{k}`: {n}"))?),
                },
                other => return Err(format!("history value of `{k}` is not a scalar: {other}")),
            };
            out.insert(path, value);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_roundtrip_keeps_every_kind() {
        let mut h = HistoryFacts::new();
        h.insert("plans.academic.active", Value::Bool(true));
        h.insert("plans.academic.tier", Value::Int(2));
        h.insert(
            "plans.small-group-reading.intervention",
            Value::Text("small-group-reading".into()),
        );
        h.insert("plans.academic.aim_gap", Value::Num(-5.25));
        h.insert("history.attendance.prev_tier", Value::Int(1));
        let json = serde_json::Value::Object(h.to_json());
        assert_eq!(json["student.plans.academic.aim_gap"], -5.25);
        assert_eq!(json["student.history.attendance.prev_tier"], 1);
        let back = HistoryFacts::from_json(&json).unwrap();
        assert_eq!(back, h);
        // Through text, as the audit log stores it.
        let text = serde_json::to_string(&json).unwrap();
        let reread: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(HistoryFacts::from_json(&reread).unwrap(), h);
    }

    #[test]
    fn from_json_refuses_keys_without_the_student_prefix() {
        let err =
            HistoryFacts::from_json(&serde_json::json!({"plans.academic.tier": 2})).unwrap_err();
        assert!(err.contains("plans.academic.tier"), "{err}");
        assert!(HistoryFacts::from_json(&serde_json::json!([1])).is_err());
    }

    #[test]
    fn null_is_no_value() {
        let h = HistoryFacts::from_json(&serde_json::json!({"student.plans.academic.tier": null}))
            .unwrap();
        assert!(h.is_empty());
    }
}
