//! The review state of a decision's flags, for showing beside the decision (the
//! student view, the decision history and the plain-text report).
//!
//! For the student's latest decision the caseload's state is the truth: it holds the
//! reviews carried forward from earlier decisions. For an earlier decision, the last
//! review made on it, flag by flag. A review whose `until` has passed shows as
//! unreviewed, as the queue counts it.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde_json::{Value, json};

use super::AppError;
use crate::audit::{EntryKind, Query, Store};
use crate::caseload::{CaseEntry, FlagReview, Index, ReviewPayload};

/// Most review entries of one student read to answer (newest first).
const MAX_REVIEWS_READ: usize = 500;

/// One flag's review as shown: its state today and, when reviewed, by whom, when
/// and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Shown {
    pub state: &'static str,
    pub review: Option<FlagReview>,
}

impl Shown {
    pub fn json(&self) -> Value {
        let mut v = json!({"state": self.state});
        if let Some(r) = &self.review {
            v["review"] = serde_json::to_value(r).unwrap_or(Value::Null);
        }
        v
    }

    /// "confirmed by ms-lee on 2026-12-04 (until 2027-01-03), because …".
    pub fn sentence(&self) -> String {
        let Some(r) = &self.review else {
            return "not reviewed yet".into();
        };
        let mut s = format!(
            "{} by {} on {}",
            self.state,
            r.reviewer,
            r.at.get(..10).unwrap_or(&r.at)
        );
        if self.state == "unreviewed" {
            s = format!("unreviewed again: the review ({s}) has ended");
        } else if let Some(u) = r.until {
            s.push_str(&format!(" (holds until {u})"));
        }
        if let Some(reason) = &r.reason {
            s.push_str(&format!(", because {reason}"));
        }
        s
    }
}

/// The flags' reviews of each decision in `seqs` of `student` (rule id → shown).
/// Flags never reviewed are left out.
pub fn of_decisions(
    store: &Store,
    index: Option<&Index>,
    student: &str,
    seqs: &[u64],
    today: NaiveDate,
) -> Result<BTreeMap<u64, BTreeMap<String, Shown>>, AppError> {
    let latest: Option<CaseEntry> = match index {
        Some(i) => i.get(student)?,
        None => None,
    };
    let mut out: BTreeMap<u64, BTreeMap<String, Shown>> = BTreeMap::new();
    if let Some(e) = latest.as_ref().filter(|e| seqs.contains(&e.decision_seq)) {
        let flags = e
            .flags
            .iter()
            .filter(|f| f.review.is_some())
            .map(|f| {
                let shown = Shown {
                    state: f.state_on(today).as_str(),
                    review: f.review.clone(),
                };
                (f.rule_id.clone(), shown)
            })
            .collect();
        out.insert(e.decision_seq, flags);
    }
    let earlier: Vec<u64> = seqs
        .iter()
        .copied()
        .filter(|s| !out.contains_key(s))
        .collect();
    if earlier.is_empty() {
        return Ok(out);
    }
    let page = store.query(&Query {
        student: Some(student.to_string()),
        kind: Some(EntryKind::DecisionReviewed),
        limit: MAX_REVIEWS_READ,
        ..Query::default()
    })?;
    for entry in page.entries {
        let Ok(r) = ReviewPayload::from_payload(entry.seq, &entry.payload) else {
            continue;
        };
        if !earlier.contains(&r.decision_seq) {
            continue;
        }
        let flags = out.entry(r.decision_seq).or_default();
        for f in &r.flags {
            // Newest first: the first review seen of a flag is the one that stands.
            flags.entry(f.rule_id.clone()).or_insert_with(|| {
                let review = FlagReview {
                    action: f.action,
                    reviewer: r.reviewer.clone(),
                    at: entry.at.clone(),
                    reason: f.reason.clone(),
                    until: f.until,
                    review_seq: entry.seq,
                    decision_seq: r.decision_seq,
                    tier: f.tier,
                };
                Shown {
                    state: review.state_on(today).as_str(),
                    review: Some(review),
                }
            });
        }
    }
    Ok(out)
}

/// The "Reviews" lines of the plain-text report for one decision's flags.
pub fn report_lines(flags: &[String], shown: &BTreeMap<String, Shown>) -> String {
    let mut text = String::from("\n  Review by the school's team:\n");
    for rule in flags {
        let line = shown
            .get(rule)
            .map_or_else(|| "not reviewed yet".to_string(), Shown::sentence);
        text.push_str(&format!("    {rule}: {line}\n"));
    }
    text
}
