//! Carrying reviews forward from a student's previous caseload entry to their new
//! decision.
//!
//! A flag of the new decision keeps the review it had on the previous entry when
//! all of these hold:
//!
//! - the same rule fired on the previous decision (a flag that cleared and comes
//!   back is news: it starts unreviewed);
//! - it fires at a tier no higher than the tier the review covers (a flag that rises
//!   a tier is never hidden by a review of the lower tier);
//! - the review's `until` is the new decision's day or later (`until` is the last
//!   day it holds). Dismissals and deferrals always have one: the request's, or
//!   [`DEFAULT_HOLD_DAYS`] after the review. A confirmation has none unless the
//!   reviewer gives one: the team agreed the flag is right, so it stays confirmed
//!   for as long as the flag fires at that tier, and asking again at every nightly
//!   import would bury the queue.
//!
//! **A lower tier** keeps the review, because the team looked at a more serious
//! form of the same concern; but the review then covers only the lower tier, so if
//! the flag rises again — even back to the tier first reviewed — it goes back to
//! unreviewed. So between any two consecutive decisions a rise is always shown.
//!
//! A flag that fired on the previous decision keeps its `since` (when the run of
//! decisions flagging it began), whatever happens to its review. Likewise a domain
//! whose tier did not change keeps its `tier_since`.
//!
//! "Today" is the new decision's day (`evaluated_at`), never the wall clock, so a
//! rebuild from the log carries exactly what the live index carried. Reviews that
//! expire between decisions are handled when reading ([`FlagEntry::state_on`]).
//!
//! [`FlagEntry::state_on`]: super::entry::FlagEntry::state_on

use super::entry::{CaseEntry, FlagReview};

/// Days a dismissal or deferral holds when the reviewer gives no `until`.
pub const DEFAULT_HOLD_DAYS: i64 = 30;

/// `next` (a fresh entry of the student's new decision) with the reviews of `prev`
/// that still apply, per the rules above.
pub fn carry_forward(prev: &CaseEntry, mut next: CaseEntry) -> CaseEntry {
    for (domain, since) in &mut next.tier_since {
        if prev.tier_in(*domain) == next.tiers.get(domain).copied().unwrap_or(0)
            && let Some(p) = prev.tier_since.get(domain)
        {
            since.clone_from(p);
        }
    }
    let Some(day) = next.evaluated_on() else {
        // No readable day to compare `until` with: carry nothing (the safe side).
        return next;
    };
    for flag in &mut next.flags {
        let before = prev.flag(&flag.rule_id);
        if let Some(p) = before {
            flag.since.clone_from(&p.since);
        }
        let kept = before
            .and_then(|p| p.review.as_ref())
            .filter(|r| flag.tier <= r.tier && r.in_force_on(day));
        flag.review = kept.map(|r| FlagReview {
            tier: flag.tier,
            ..r.clone()
        });
    }
    next
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caseload::entry::tests::payload;
    use crate::caseload::entry::{Action, ReviewState};
    use chrono::NaiveDate;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, d).unwrap()
    }

    fn entry(seq: u64, on: u32, flags: &[(&str, &str, u8)]) -> CaseEntry {
        let at = format!("2026-12-{on:02}T09:00:00.000Z");
        CaseEntry::from_decision(seq, "h", &payload("S1", &at, flags)).unwrap()
    }

    /// The previous entry: `absence` at tier 2, reviewed with `action` until `until`.
    fn reviewed(action: Action, until: Option<NaiveDate>) -> CaseEntry {
        let mut e = entry(
            1,
            1,
            &[("absence", "attendance", 2), ("gpa", "academic", 2)],
        );
        e.flags[0].review = Some(FlagReview {
            action,
            reviewer: "counselor".into(),
            at: "2026-12-01T10:00:00.000Z".into(),
            reason: Some("hospital stay".into()),
            until,
            review_seq: 2,
            decision_seq: 1,
            tier: 2,
        });
        e
    }

    fn state(e: &CaseEntry, rule: &str) -> ReviewState {
        e.flag(rule).unwrap().state_on(e.evaluated_on().unwrap())
    }

    #[test]
    fn tier_since_is_kept_while_the_tier_holds_and_restarts_when_it_changes() {
        let first = entry(1, 1, &[("absence", "attendance", 2)]);
        let same = carry_forward(&first, entry(2, 8, &[("absence", "attendance", 2)]));
        let since = |e: &CaseEntry, d| e.tier_since.get(&d).cloned().unwrap_or_default();
        use crate::rules::Domain;
        assert_eq!(since(&same, Domain::Attendance), "2026-12-01T09:00:00.000Z");
        let up = carry_forward(&same, entry(3, 15, &[("absence", "attendance", 3)]));
        assert_eq!(since(&up, Domain::Attendance), "2026-12-15T09:00:00.000Z");
        assert_eq!(
            since(&up, Domain::Academic),
            "2026-12-01T09:00:00.000Z",
            "academic stayed at tier 0 the whole time"
        );
        let facts = up.history_facts(day(29));
        let get = |p: &str| facts.iter().find(|(k, _)| k == p).map(|(_, v)| v.clone());
        use crate::record::Value;
        assert_eq!(get("history.attendance.prev_tier"), Some(Value::Int(3)));
        assert_eq!(get("history.attendance.weeks_at_tier"), Some(Value::Int(2)));
        assert_eq!(get("history.academic.weeks_at_tier"), Some(Value::Int(4)));
        let before = up.history_facts(day(1));
        assert!(before.contains(&("history.attendance.weeks_at_tier".into(), Value::Int(0))));
    }

    #[test]
    fn same_tier_keeps_the_review() {
        let prev = reviewed(Action::Dismiss, Some(day(31)));
        let next = carry_forward(&prev, entry(3, 10, &[("absence", "attendance", 2)]));
        assert_eq!(state(&next, "absence"), ReviewState::Dismissed);
        let r = next.flags[0].review.as_ref().unwrap();
        assert_eq!(
            (r.review_seq, r.decision_seq),
            (2, 1),
            "the review is the one made"
        );
    }

    #[test]
    fn a_higher_tier_goes_back_to_unreviewed() {
        let prev = reviewed(Action::Confirm, None);
        let next = carry_forward(&prev, entry(3, 10, &[("absence", "attendance", 3)]));
        assert_eq!(next.flags[0].review, None);
    }

    #[test]
    fn a_lower_tier_keeps_it_but_a_rise_back_does_not() {
        let prev = reviewed(Action::Dismiss, Some(day(31)));
        let lower = carry_forward(&prev, entry(3, 10, &[("absence", "attendance", 1)]));
        assert_eq!(state(&lower, "absence"), ReviewState::Dismissed);
        assert_eq!(lower.flags[0].review.as_ref().unwrap().tier, 1);
        let back = carry_forward(&lower, entry(4, 11, &[("absence", "attendance", 2)]));
        assert_eq!(back.flags[0].review, None, "the rise back to 2 is shown");
    }

    #[test]
    fn cleared_and_back_starts_unreviewed() {
        let prev = reviewed(Action::Confirm, None);
        let cleared = carry_forward(&prev, entry(3, 10, &[("gpa", "academic", 2)]));
        assert!(cleared.flag("absence").is_none());
        let back = carry_forward(&cleared, entry(4, 11, &[("absence", "attendance", 2)]));
        assert_eq!(back.flags[0].review, None);
    }

    #[test]
    fn until_today_holds_and_a_passed_until_does_not() {
        let prev = reviewed(Action::Defer, Some(day(10)));
        let on_the_day = carry_forward(&prev, entry(3, 10, &[("absence", "attendance", 2)]));
        assert_eq!(state(&on_the_day, "absence"), ReviewState::Deferred);
        let day_after = carry_forward(&prev, entry(3, 11, &[("absence", "attendance", 2)]));
        assert_eq!(day_after.flags[0].review, None);
    }

    #[test]
    fn a_confirmation_without_until_carries_while_the_flag_fires() {
        let mut e = reviewed(Action::Confirm, None);
        for (seq, on) in [(3, 10), (4, 20), (5, 31)] {
            e = carry_forward(&e, entry(seq, on, &[("absence", "attendance", 2)]));
        }
        assert_eq!(state(&e, "absence"), ReviewState::Confirmed);
    }

    #[test]
    fn since_runs_while_the_flag_fires_and_restarts_after_it_clears() {
        let prev = reviewed(Action::Confirm, None);
        let next = carry_forward(&prev, entry(3, 10, &[("absence", "attendance", 3)]));
        assert_eq!(next.flags[0].since, "2026-12-01T09:00:00.000Z");
        let cleared = carry_forward(&next, entry(4, 11, &[]));
        let back = carry_forward(&cleared, entry(5, 12, &[("absence", "attendance", 2)]));
        assert_eq!(back.flags[0].since, "2026-12-12T09:00:00.000Z");
    }

    #[test]
    fn unreviewed_flags_stay_unreviewed() {
        let prev = reviewed(Action::Confirm, None);
        let next = carry_forward(
            &prev,
            entry(
                3,
                10,
                &[("absence", "attendance", 2), ("gpa", "academic", 2)],
            ),
        );
        assert_eq!(state(&next, "gpa"), ReviewState::Unreviewed);
    }
}
