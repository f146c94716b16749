//! Tests of review validation and application.

use super::*;
use crate::caseload::entry::ReviewState;
use crate::caseload::entry::tests::payload;
use serde_json::json;

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 12, 4).unwrap()
}

fn decision(student: &str) -> Entry {
    Entry {
        seq: 9,
        kind: "decision".into(),
        at: "2026-12-04T09:00:00.000Z".into(),
        actor: "sis".into(),
        request_id: String::new(),
        payload: payload(
            student,
            "2026-12-04T09:00:00.000Z",
            &[("absence", "attendance", 2), ("gpa", "academic", 3)],
        ),
        purged_by: None,
        prev_hash: "p".into(),
        hash: "h9".into(),
    }
}

fn request(flags: serde_json::Value) -> ReviewRequest {
    serde_json::from_value(json!({"decision_seq": 9, "flags": flags, "note": "team meeting"}))
        .unwrap()
}

fn problems(r: Result<ReviewPayload, ReviewError>) -> Vec<(String, String)> {
    match r {
        Err(ReviewError::Invalid(p)) => p.into_iter().map(|p| (p.field, p.problem)).collect(),
        other => panic!("expected invalid, got {other:?}"),
    }
}

#[test]
fn a_valid_review_is_logged_with_tiers_and_default_until() {
    let req = request(json!([
        {"rule_id": "absence", "action": "dismiss", "reason": "hospital stay"},
        {"rule_id": "gpa", "action": "confirm"}
    ]));
    let d = decision("S1");
    let r = req.validate("S1", Some(&d), "counselor", today()).unwrap();
    assert_eq!(r.decision_hash, "h9");
    assert_eq!(r.flags[0].until, NaiveDate::from_ymd_opt(2027, 1, 3));
    assert_eq!(
        (r.flags[0].domain, r.flags[0].tier),
        (Domain::Attendance, 2)
    );
    assert_eq!(
        r.flags[1].until, None,
        "a confirmation has no end unless given"
    );
    let e = r.entry("req-1");
    assert_eq!((e.kind.as_str(), e.actor.as_str()), (KIND, "counselor"));
}

#[test]
fn every_problem_is_named_by_its_field() {
    let req = request(json!([
        {"rule_id": "absence", "action": "dismiss", "reason": "  "},
        {"rule_id": "nope", "action": "approve"},
        {"rule_id": "gpa", "action": "defer", "until": "2026-12-03"},
        {"rule_id": "gpa", "action": "defer", "until": "12/31/2026"}
    ]));
    let got = problems(req.validate("S1", Some(&decision("S1")), "c", today()));
    let fields: Vec<&str> = got.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(
        fields,
        [
            "flags[0].reason",
            "flags[1].rule_id",
            "flags[1].action",
            "flags[2].until",
            "flags[3].rule_id",
            "flags[3].until"
        ]
    );
    assert_eq!(got[0].1, "a dismissal needs a reason");
    assert_eq!(
        got[1].1,
        "`nope` is not a flag of decision 9 (its flags: absence, gpa)"
    );
    assert_eq!(got[2].1, "must be one of confirm, dismiss, defer");
    assert_eq!(got[3].1, "2026-12-03 is in the past (today is 2026-12-04)");
    assert_eq!(got[4].1, "`gpa` is named twice");
}

#[test]
fn until_today_is_accepted_and_text_sizes_are_limited() {
    let long = "x".repeat(MAX_REASON_CHARS + 1);
    let req = request(
        json!([{"rule_id": "gpa", "action": "defer", "until": "2026-12-04", "reason": long}]),
    );
    let got = problems(req.validate("S1", Some(&decision("S1")), "c", today()));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, "flags[0].reason");
    let mut req = request(json!([{"rule_id": "gpa", "action": "defer", "until": "2026-12-04"}]));
    assert!(
        req.validate("S1", Some(&decision("S1")), "c", today())
            .is_ok()
    );
    req.note = Some("n".repeat(MAX_NOTE_CHARS + 1));
    assert_eq!(
        problems(req.validate("S1", Some(&decision("S1")), "c", today()))[0].0,
        "note"
    );
}

#[test]
fn a_wrong_student_or_missing_decision_is_not_found() {
    let req = request(json!([{"rule_id": "gpa", "action": "confirm"}]));
    let d = decision("S2");
    let err = req.validate("S1", Some(&d), "c", today()).unwrap_err();
    assert!(err.is_not_found());
    assert_eq!(
        err.to_string(),
        "decision 9 is not a decision of student `S1`"
    );
    let err = req.validate("S1", None, "c", today()).unwrap_err();
    assert_eq!(err.to_string(), "decision 9 not found");
    let mut purged = decision("S1");
    purged.purged_by = Some(12);
    assert!(
        req.validate("S1", Some(&purged), "c", today())
            .unwrap_err()
            .is_not_found()
    );
    let empty = request(json!([]));
    assert_eq!(
        problems(empty.validate("S1", Some(&decision("S1")), "c", today()))[0].0,
        "flags"
    );
}

#[test]
fn a_review_applies_to_its_decision_and_is_superseded_otherwise() {
    let d = decision("S1");
    let current = CaseEntry::from_decision(9, "h9", &d.payload).unwrap();
    let req = request(json!([{"rule_id": "gpa", "action": "confirm", "reason": "agreed"}]));
    let review = LoggedReview {
        seq: 10,
        at: "2026-12-04T10:00:00.000Z".into(),
        review: req.validate("S1", Some(&d), "c", today()).unwrap(),
    };
    let next = review.apply_to(&current).unwrap();
    assert_eq!(
        next.flag("gpa").unwrap().state_on(today()),
        ReviewState::Confirmed
    );
    assert_eq!(
        next.flag("absence").unwrap().state_on(today()),
        ReviewState::Unreviewed
    );
    assert_eq!(next.updated_seq, 10);
    let mut newer = current.clone();
    newer.decision_seq = 11;
    assert!(review.is_superseded(Some(&newer)));
    assert_eq!(review.apply_to(&newer), None);
    assert!(review.is_superseded(None));
    let back = ReviewPayload::from_payload(10, &serde_json::to_value(&review.review).unwrap());
    assert_eq!(back.unwrap(), review.review);
}
