//! A person's review of a decision's flags: the request, its validation against
//! the decision it names, the `decision.reviewed` entry it becomes, and what it
//! does to the student's caseload entry.
//!
//! Validation reports every problem at once, each naming its field
//! (`flags[1].reason`). The decision must exist, be a live (not purged) decision and
//! be the student's: otherwise "not found", so another student's decision numbers
//! reveal nothing. The logged review is explicit: each flag's tier and domain as
//! reviewed, and the `until` in force (the default filled in), so a rebuild of the
//! caseload never depends on the day it runs.
//!
//! A review of a decision that is no longer the student's latest is still logged,
//! but is *superseded*: it leaves the caseload as it is.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::carry::DEFAULT_HOLD_DAYS;
use super::entry::{Action, CaseEntry, FlagReview};
use super::error::CaseloadError;
use crate::audit::{Entry, NewEntry};
use crate::record::FieldProblem;
use crate::rules::Domain;

/// The audit entry kind of a review.
pub const KIND: &str = "decision.reviewed";
/// Most flags one review may name.
pub const MAX_FLAGS: usize = 64;
/// Longest `reason` of a flag, in characters.
pub const MAX_REASON_CHARS: usize = 500;
/// Longest `note`, in characters.
pub const MAX_NOTE_CHARS: usize = 2000;
/// Longest `rule_id` echoed back or compared.
pub const MAX_RULE_ID_CHARS: usize = 128;
/// Furthest an `until` may be (a review is a look at today's data, not a waiver).
pub const MAX_UNTIL_DAYS: i64 = 365;

/// `POST /v1/students/{id}/reviews` as sent.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewRequest {
    /// The `seq` of the decision reviewed.
    pub decision_seq: u64,
    pub flags: Vec<FlagRequest>,
    #[serde(default)]
    pub note: Option<String>,
}

/// One flag's action as sent.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlagRequest {
    pub rule_id: String,
    /// `confirm`, `dismiss` or `defer`.
    #[schema(pattern = "^(confirm|dismiss|defer)$")]
    pub action: String,
    /// Required to dismiss.
    #[serde(default)]
    pub reason: Option<String>,
    /// `YYYY-MM-DD`, today or later; default 30 days on for dismiss and defer.
    #[serde(default)]
    #[schema(format = Date)]
    pub until: Option<String>,
}

/// One flag's action as logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlagAction {
    pub rule_id: String,
    pub domain: Domain,
    /// The flag's tier on the decision reviewed.
    pub tier: u8,
    pub action: Action,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<NaiveDate>,
}

/// The payload of a `decision.reviewed` entry: a checked review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewPayload {
    pub student_id: String,
    pub decision_seq: u64,
    pub decision_hash: String,
    pub reviewer: String,
    pub flags: Vec<FlagAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A review as it stands in the log: its payload, `seq` and `at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedReview {
    pub seq: u64,
    pub at: String,
    pub review: ReviewPayload,
}

/// Why a review was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// No live decision has that `seq` (never written, not a decision, or purged).
    #[error("decision {seq} not found")]
    DecisionNotFound { seq: u64 },
    /// The decision is another student's.
    #[error("decision {seq} is not a decision of student `{student_id}`")]
    NotTheStudents { seq: u64, student_id: String },
    /// The request is wrong: every problem, each naming its field.
    #[error("the review is not valid: {}", .0.iter().map(|p| format!("{}: {}", p.field, p.problem)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldProblem>),
    /// The decision entry could not be read.
    #[error(transparent)]
    Unreadable(#[from] CaseloadError),
}

impl ReviewError {
    /// Answered as "not found" (404) rather than "unprocessable" (422).
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            ReviewError::DecisionNotFound { .. } | ReviewError::NotTheStudents { .. }
        )
    }
}

impl ReviewRequest {
    /// Check the request against `decision` (the audit entry at `decision_seq`, if
    /// any) for `student_id`, on `today`; the checked review, by `reviewer`.
    pub fn validate(
        &self,
        student_id: &str,
        decision: Option<&Entry>,
        reviewer: &str,
        today: NaiveDate,
    ) -> Result<ReviewPayload, ReviewError> {
        let seq = self.decision_seq;
        let entry = decision
            .filter(|e| {
                e.seq == seq && e.kind == crate::audit::EntryKind::Decision && e.purged_by.is_none()
            })
            .ok_or(ReviewError::DecisionNotFound { seq })?;
        if entry.student_id() != Some(student_id) {
            return Err(ReviewError::NotTheStudents {
                seq,
                student_id: student_id.to_string(),
            });
        }
        let decided = CaseEntry::from_decision(seq, &entry.hash, &entry.payload)?;
        let mut problems = Vec::new();
        let flags = self.check_flags(&decided, today, &mut problems);
        if let Some(note) = &self.note {
            check_text("note", note, MAX_NOTE_CHARS, &mut problems);
        }
        if !problems.is_empty() {
            return Err(ReviewError::Invalid(problems));
        }
        Ok(ReviewPayload {
            student_id: student_id.to_string(),
            decision_seq: seq,
            decision_hash: entry.hash.clone(),
            reviewer: reviewer.to_string(),
            flags,
            note: self.note.clone().filter(|n| !n.trim().is_empty()),
        })
    }

    fn check_flags(
        &self,
        decided: &CaseEntry,
        today: NaiveDate,
        problems: &mut Vec<FieldProblem>,
    ) -> Vec<FlagAction> {
        if self.flags.is_empty() {
            push(problems, "flags", "must name at least one flag");
        }
        if self.flags.len() > MAX_FLAGS {
            push(
                problems,
                "flags",
                format!("names more than {MAX_FLAGS} flags"),
            );
        }
        let mut out = Vec::new();
        for (i, f) in self.flags.iter().enumerate() {
            let dup = self.flags[..i].iter().any(|g| g.rule_id == f.rule_id);
            if let Some(a) = f.check(i, dup, decided, today, problems) {
                out.push(a);
            }
        }
        out
    }
}

impl FlagRequest {
    /// Check one flag's action (index `i`); the action as logged when it is valid.
    fn check(
        &self,
        i: usize,
        duplicate: bool,
        decided: &CaseEntry,
        today: NaiveDate,
        problems: &mut Vec<FieldProblem>,
    ) -> Option<FlagAction> {
        let field = |name: &str| format!("flags[{i}].{name}");
        let before = problems.len();
        let flag = self.check_rule(&field("rule_id"), duplicate, decided, problems);
        let action = Action::parse(&self.action);
        if action.is_none() {
            let names = Action::NAMES.join(", ");
            push(problems, field("action"), format!("must be one of {names}"));
        }
        let reason = self
            .reason
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty());
        if let Some(r) = reason {
            check_text(&field("reason"), r, MAX_REASON_CHARS, problems);
        } else if action == Some(Action::Dismiss) {
            push(problems, field("reason"), "a dismissal needs a reason");
        }
        let until = self.until_in_force(action, today, &field("until"), problems);
        let (flag, action) = (flag?, action?);
        (problems.len() == before).then(|| FlagAction {
            rule_id: flag.rule_id.clone(),
            domain: flag.domain,
            tier: flag.tier,
            action,
            reason: reason.map(str::to_string),
            until,
        })
    }

    fn check_rule<'d>(
        &self,
        field: &str,
        duplicate: bool,
        decided: &'d CaseEntry,
        problems: &mut Vec<FieldProblem>,
    ) -> Option<&'d super::entry::FlagEntry> {
        if self.rule_id.chars().count() > MAX_RULE_ID_CHARS {
            push(
                problems,
                field,
                format!("is longer than {MAX_RULE_ID_CHARS} characters"),
            );
            return None;
        }
        if duplicate {
            push(
                problems,
                field,
                format!("`{}` is named twice", self.rule_id),
            );
            return None;
        }
        let flag = decided.flag(&self.rule_id);
        if flag.is_none() {
            let fired: Vec<&str> = decided.flags.iter().map(|f| f.rule_id.as_str()).collect();
            let fired = if fired.is_empty() {
                "none".to_string()
            } else {
                fired.join(", ")
            };
            let seq = decided.decision_seq;
            push(
                problems,
                field,
                format!(
                    "`{}` is not a flag of decision {seq} (its flags: {fired})",
                    self.rule_id
                ),
            );
        }
        flag
    }

    /// The `until` that will be logged: the one sent (checked), or the default.
    fn until_in_force(
        &self,
        action: Option<Action>,
        today: NaiveDate,
        field: &str,
        problems: &mut Vec<FieldProblem>,
    ) -> Option<NaiveDate> {
        let Some(text) = &self.until else {
            return match action {
                Some(Action::Dismiss | Action::Defer) => {
                    Some(today + chrono::Duration::days(DEFAULT_HOLD_DAYS))
                }
                _ => None,
            };
        };
        let Ok(until) = NaiveDate::parse_from_str(text, "%Y-%m-%d") else {
            push(problems, field, "must be a date written YYYY-MM-DD");
            return None;
        };
        if until < today {
            push(
                problems,
                field,
                format!("{until} is in the past (today is {today})"),
            );
        } else if until > today + chrono::Duration::days(MAX_UNTIL_DAYS) {
            push(
                problems,
                field,
                format!("must be within {MAX_UNTIL_DAYS} days of today"),
            );
        }
        Some(until)
    }
}

fn push(problems: &mut Vec<FieldProblem>, field: impl Into<String>, problem: impl Into<String>) {
    problems.push(FieldProblem {
        field: field.into(),
        problem: problem.into(),
    });
}

/// Free text: at most `max` characters, no control characters but line breaks and tabs.
fn check_text(field: &str, text: &str, max: usize, problems: &mut Vec<FieldProblem>) {
    let n = text.chars().count();
    if n > max {
        push(
            problems,
            field,
            format!("is longer than {max} characters ({n})"),
        );
    }
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\t'))
    {
        push(problems, field, "must not hold control characters");
    }
}

impl ReviewPayload {
    /// The `decision.reviewed` entry to append (indexed by the student).
    pub fn entry(&self, request_id: &str) -> NewEntry {
        // A struct of strings, numbers and dates always serializes.
        let payload = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        NewEntry::new(
            crate::audit::EntryKind::DecisionReviewed,
            self.reviewer.clone(),
            request_id,
            payload,
        )
    }

    /// Read the payload of the `decision.reviewed` entry `seq`.
    pub fn from_payload(seq: u64, payload: &serde_json::Value) -> Result<Self, CaseloadError> {
        ReviewPayload::deserialize(payload).map_err(|source| CaseloadError::Payload {
            seq,
            kind: KIND.into(),
            source,
        })
    }
}

impl LoggedReview {
    /// Whether this review leaves the caseload as it is, because `current` (the
    /// student's entry) is not built from the decision it names.
    pub fn is_superseded(&self, current: Option<&CaseEntry>) -> bool {
        current.is_none_or(|e| e.decision_seq != self.review.decision_seq)
    }

    /// `current` with this review on its flags; `None` when superseded.
    pub fn apply_to(&self, current: &CaseEntry) -> Option<CaseEntry> {
        if self.is_superseded(Some(current)) {
            return None;
        }
        let mut next = current.clone();
        for a in &self.review.flags {
            if let Some(flag) = next.flags.iter_mut().find(|f| f.rule_id == a.rule_id) {
                flag.review = Some(FlagReview {
                    action: a.action,
                    reviewer: self.review.reviewer.clone(),
                    at: self.at.clone(),
                    reason: a.reason.clone(),
                    until: a.until,
                    review_seq: self.seq,
                    decision_seq: self.review.decision_seq,
                    tier: flag.tier,
                });
            }
        }
        next.updated_seq = self.seq;
        Some(next)
    }
}

#[cfg(test)]
#[path = "review_tests.rs"]
mod tests;
