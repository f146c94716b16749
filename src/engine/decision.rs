//! The decision: plain data that the audit log and the HTTP layer use as is.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::rules::Domain;

/// The outcome of evaluating one record against one rule set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub decision_id: String,
    pub student_id: String,
    pub evaluated_at: String,
    pub ruleset_version: String,
    pub flags: Vec<Flag>,
    pub recommendations: Vec<Recommendation>,
    /// Highest tier flagged per domain; 0 when nothing in that domain fired.
    pub tiers: BTreeMap<Domain, u8>,
    /// Rules that could not be evaluated because data they read is missing.
    pub insufficient_data: Vec<String>,
    /// Rules that failed or were stopped by the sandbox.
    pub rule_errors: Vec<RuleError>,
}

/// One rule that fired, with why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flag {
    pub rule_id: String,
    pub domain: Domain,
    pub tier: u8,
    pub explanation: String,
    /// The values the rule read (`student.…` and `params.…`).
    pub inputs: BTreeMap<String, serde_json::Value>,
    /// What would clear the flag, when the condition compares against thresholds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clears: Option<String>,
}

/// An intervention recommended by one or more flags.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    pub intervention: String,
    pub tier: u8,
    pub because: Vec<String>,
}

/// A rule that could not give an answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleError {
    pub rule_id: String,
    pub error: String,
}

impl Decision {
    /// Ids of the rules that fired, in rule order.
    pub fn fired(&self) -> impl Iterator<Item = &str> {
        self.flags.iter().map(|f| f.rule_id.as_str())
    }
}
