//! The decision: plain data that the audit log and the HTTP layer use as is.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::rules::Domain;

/// The outcome of evaluating one record against one rule set.
#[derive(utoipa::ToSchema)]
#[schema(examples(json!({
    "decision_id": "01JDX2V4C1Q9Z8YH3K7M5N6P0R", "student_id": "S1042",
    "evaluated_at": "2026-11-29T16:00:00Z",
    "ruleset_version": "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "flags": [{
        "rule_id": "chronic-absence", "domain": "attendance", "tier": 2,
        "explanation": "Missed 15.6% of enrolled days (chronic from 10%)",
        "inputs": {"student.attendance.absence_rate": 0.156, "params.chronic_absence": 0.1,
                   "params.severe_absence": 0.2},
        "clears": "below 10% absence: 5 more days present of the enrolled days so far"
    }],
    "recommendations": [{"intervention": "attendance-mentor", "tier": 2, "because": ["chronic-absence"]}],
    "tiers": {"attendance": 2, "academic": 0, "behavioral": 0, "social_emotional": 0},
    "insufficient_data": ["sel-need-for-instruction"],
    "rule_errors": []
})))]
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
    /// What the student does well (rules of `kind: strength` that held), told first.
    /// Absent when none held, so decisions of rule sets without strengths keep their
    /// shape.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub strengths: Vec<Strength>,
}

/// A strength rule that held, with why. No tier, no recommendation.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Strength {
    pub rule_id: String,
    pub domain: Domain,
    pub explanation: String,
    /// The values the rule read (`student.…` and `params.…`).
    #[schema(value_type = BTreeMap<String, Value>)]
    pub inputs: BTreeMap<String, serde_json::Value>,
}

/// One rule that fired, with why.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flag {
    pub rule_id: String,
    pub domain: Domain,
    pub tier: u8,
    pub explanation: String,
    /// The values the rule read (`student.…` and `params.…`).
    #[schema(value_type = BTreeMap<String, Value>)]
    pub inputs: BTreeMap<String, serde_json::Value>,
    /// What would clear the flag, when the condition compares against thresholds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clears: Option<String>,
}

/// An intervention recommended by one or more flags.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    pub intervention: String,
    pub tier: u8,
    pub because: Vec<String>,
}

/// A rule that could not give an answer.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleError {
    pub rule_id: String,
    pub error: String,
}

impl Decision {
    /// Ids of the risk rules that fired, in rule order.
    pub fn fired(&self) -> impl Iterator<Item = &str> {
        self.flags.iter().map(|f| f.rule_id.as_str())
    }

    /// Ids of the strength rules that held, in rule order.
    pub fn noted(&self) -> impl Iterator<Item = &str> {
        self.strengths.iter().map(|s| s.rule_id.as_str())
    }
}
