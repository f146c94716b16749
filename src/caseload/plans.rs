//! The open plans of a student as the caseload keeps them ([`PlanMark`]): built from
//! the `plan.opened`, `plan.updated` and `plan.closed` audit entries alone, so the
//! live index and a rebuild from the log build the same marks.
//!
//! A plan's review date (`review_due`) is the day the team last looked at it — its
//! `start` when opened, the later of `start` and the day of its last `plan.updated`
//! entry — plus `review_every_days`; a plan without `review_every_days` has none.
//! It needs review once that day has passed (`review_due` before today). A closed
//! plan has no mark.
//!
//! Marks are kept twice: in the student's caseload entry (what filters and rows
//! read) and, by student, in a small tree of their own ([`TREE`]), so a plan opened
//! for a student with no caseload entry yet (no decision, or withdrawn, or their
//! latest decision purged) is not lost: their next decision's entry takes the marks
//! from that tree.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::error::CaseloadError;

/// The tree of marks by student id (a JSON list per student with open plans).
pub const TREE: &str = "caseload_plans";

/// One open plan of a student, as a caseload row shows it.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanMark {
    pub plan_id: String,
    pub intervention: String,
    /// `active` or `modified` (closed plans have no mark).
    pub status: String,
    /// The plan's review date (`None`: the plan sets no `review_every_days`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Date)]
    pub review_due: Option<NaiveDate>,
}

impl PlanMark {
    /// Whether the review date has passed on `today`.
    pub fn needs_review(&self, today: NaiveDate) -> bool {
        self.review_due.is_some_and(|d| d < today)
    }
}

/// What one plan entry does to its student's marks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanChange {
    pub student_id: String,
    pub plan_id: String,
    /// The plan's mark now; `None` once it is closed.
    pub mark: Option<PlanMark>,
}

/// What the caseload reads of a plan entry's payload.
#[derive(Deserialize)]
struct Payload {
    student_id: String,
    plan_id: String,
    intervention: String,
    plan: PlanPart,
}

#[derive(Deserialize)]
struct PlanPart {
    status: String,
    start: NaiveDate,
    #[serde(default)]
    review_every_days: Option<u32>,
}

/// Plan kinds the caseload follows (points and sessions change no mark).
pub const KINDS: [&str; 3] = ["plan.opened", "plan.updated", "plan.closed"];

impl PlanChange {
    /// The change of plan entry `seq` of `kind` written `at` with `payload` (JSON
    /// text); `None` for a kind that changes no mark.
    pub fn from_parts(
        seq: u64,
        kind: &str,
        at: &str,
        payload: &str,
    ) -> Result<Option<PlanChange>, CaseloadError> {
        if !KINDS.contains(&kind) {
            return Ok(None);
        }
        let p: Payload =
            serde_json::from_str(payload).map_err(|source| CaseloadError::Payload {
                seq,
                kind: kind.to_string(),
                source,
            })?;
        let open = matches!(p.plan.status.as_str(), "active" | "modified");
        let mark = (kind != "plan.closed" && open).then(|| {
            let day = chrono::DateTime::parse_from_rfc3339(at)
                .ok()
                .map(|t| t.with_timezone(&chrono::Utc).date_naive());
            let looked = match (kind, day) {
                ("plan.updated", Some(day)) => day.max(p.plan.start),
                _ => p.plan.start,
            };
            PlanMark {
                plan_id: p.plan_id.clone(),
                intervention: p.intervention,
                status: p.plan.status,
                review_due: p
                    .plan
                    .review_every_days
                    .and_then(|d| looked.checked_add_days(chrono::Days::new(d.into()))),
            }
        });
        Ok(Some(PlanChange {
            student_id: p.student_id,
            plan_id: p.plan_id,
            mark,
        }))
    }

    /// `marks` after this change: the plan's mark replaced, added or removed; kept in
    /// plan id order.
    pub fn apply_to(&self, marks: &mut Vec<PlanMark>) {
        marks.retain(|m| m.plan_id != self.plan_id);
        if let Some(m) = &self.mark {
            marks.push(m.clone());
            marks.sort_by(|a, b| a.plan_id.cmp(&b.plan_id));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(status: &str, every: Option<u32>) -> String {
        serde_json::json!({"student_id": "S", "plan_id": "P1", "intervention": "tutoring",
            "plan": {"status": status, "start": "2026-09-01", "review_every_days": every}})
        .to_string()
    }

    #[test]
    fn the_review_date_counts_from_the_start_then_from_the_last_update() {
        let at = "2026-10-10T09:00:00Z";
        let opened = PlanChange::from_parts(1, "plan.opened", at, &payload("active", Some(14)))
            .unwrap()
            .unwrap();
        let m = opened.mark.clone().unwrap();
        assert_eq!(m.review_due, NaiveDate::from_ymd_opt(2026, 9, 15));
        assert!(m.needs_review(NaiveDate::from_ymd_opt(2026, 9, 16).unwrap()));
        assert!(!m.needs_review(NaiveDate::from_ymd_opt(2026, 9, 15).unwrap()));
        let updated = PlanChange::from_parts(2, "plan.updated", at, &payload("modified", Some(14)))
            .unwrap()
            .unwrap();
        assert_eq!(
            updated.mark.unwrap().review_due,
            NaiveDate::from_ymd_opt(2026, 10, 24)
        );
        let none = PlanChange::from_parts(3, "plan.opened", at, &payload("active", None));
        assert_eq!(none.unwrap().unwrap().mark.unwrap().review_due, None);
    }

    #[test]
    fn closing_removes_the_mark_and_points_change_nothing() {
        let at = "2026-10-10T09:00:00Z";
        let mut marks = Vec::new();
        PlanChange::from_parts(1, "plan.opened", at, &payload("active", Some(14)))
            .unwrap()
            .unwrap()
            .apply_to(&mut marks);
        assert_eq!(marks.len(), 1);
        let p = PlanChange::from_parts(2, "plan.progress", at, "{}").unwrap();
        assert_eq!(p, None);
        PlanChange::from_parts(3, "plan.closed", at, &payload("met", Some(14)))
            .unwrap()
            .unwrap()
            .apply_to(&mut marks);
        assert!(marks.is_empty());
    }
}
