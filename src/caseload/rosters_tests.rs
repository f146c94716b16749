//! Tests of the console's rosters: who is in which, counts past the members shown,
//! plans alone, the filter's reach, and one pass giving the summary too.

use super::*;
use crate::caseload::entry::ReviewState;
use crate::caseload::entry::tests::payload;
use crate::caseload::summary::summarize;

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 12, 4).unwrap()
}

fn entry(id: &str, school: &str, flags: &[(&str, &str, u8)]) -> CaseEntry {
    let mut e =
        CaseEntry::from_decision(1, "h", &payload(id, "2026-12-01T08:00:00.000Z", flags)).unwrap();
    e.school = Some(school.into());
    e
}

fn plan(intervention: &str, review_due: Option<&str>) -> PlanMark {
    PlanMark {
        plan_id: format!("P-{intervention}"),
        intervention: intervention.into(),
        status: "active".into(),
        review_due: review_due.map(|d| d.parse().unwrap()),
    }
}

/// `absence-help` (attendance, tier 2) recommended to S02..S05 and S12; S06 has an
/// open plan of it without the recommendation (review overdue); `fail-help`
/// (academic, tier 3) to S00, S01; `gpa-help` (academic, tier 1) to S02; S07 has a
/// plan of `mentor` (behavioral) and no flag. School A is S00..S09.
fn caseload() -> Vec<CaseEntry> {
    (0..14)
        .map(|i| {
            let id = format!("S{i:02}");
            let school = if i < 10 { "A" } else { "B" };
            let mut e = match i {
                0 | 1 => entry(&id, school, &[("fail", "academic", 3)]),
                2 => entry(
                    &id,
                    school,
                    &[("absence", "attendance", 2), ("gpa", "academic", 1)],
                ),
                3..=5 | 12 => entry(&id, school, &[("absence", "attendance", 2)]),
                _ => entry(&id, school, &[]),
            };
            match i {
                3 => e.plans = vec![plan("absence-help", Some("2026-12-20"))],
                6 => e.plans = vec![plan("absence-help", Some("2026-11-30"))],
                7 => e.plans = vec![plan("mentor", None)],
                _ => {}
            }
            e
        })
        .collect()
}

fn catalogue() -> Catalogue {
    [
        ("absence-help", Domain::Attendance),
        ("fail-help", Domain::Academic),
        ("gpa-help", Domain::Academic),
        ("mentor", Domain::Behavioral),
    ]
    .into_iter()
    .map(|(k, d)| (k.to_string(), d))
    .collect()
}

fn count(pairs: &[(&str, &str)], shown: usize) -> Vec<Roster> {
    let filter = Filter::parse(pairs.iter().copied()).unwrap();
    rosters(
        caseload().into_iter().map(Ok),
        &filter,
        today(),
        shown,
        &catalogue(),
    )
    .unwrap()
}

/// `(intervention, tier, students, recommended, with_plan, member ids)`.
type Seen = (String, Option<u8>, u64, u64, u64, Vec<String>);

fn seen(rosters: &[Roster]) -> Vec<Seen> {
    rosters
        .iter()
        .map(|r| {
            (
                r.intervention.clone(),
                r.tier,
                r.students,
                r.recommended,
                r.with_plan,
                r.members
                    .iter()
                    .map(|m| m.member.student_id.clone())
                    .collect(),
            )
        })
        .collect()
}

fn s(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|i| i.to_string()).collect()
}

#[test]
fn a_roster_holds_the_recommended_and_the_planned_highest_tier_first() {
    let r = count(&[], 10);
    assert_eq!(
        seen(&r),
        [
            ("fail-help".into(), Some(3), 2, 2, 0, s(&["S00", "S01"])),
            (
                "absence-help".into(),
                Some(2),
                6,
                5,
                2,
                s(&["S02", "S03", "S04", "S05", "S06", "S12"])
            ),
            ("gpa-help".into(), Some(1), 1, 1, 0, s(&["S02"])),
            ("mentor".into(), None, 1, 0, 1, s(&["S07"])),
        ]
    );
    // A plan-only roster takes its domain from the catalogue.
    assert_eq!(r[3].domain, Some(Domain::Behavioral));
    assert_eq!(r[1].domain, Some(Domain::Attendance));
    // Each member's flags that recommend it, their review state, and the plan.
    let absence = &r[1].members;
    assert_eq!(absence[0].member.flags.len(), 1, "only the absence flag");
    assert_eq!(absence[0].member.flags[0].rule_id, "absence");
    assert_eq!(absence[0].member.flags[0].review, ReviewState::Unreviewed);
    assert_eq!(absence[0].plan, None);
    assert_eq!(
        absence[1].plan.as_ref().map(|p| p.plan_id.as_str()),
        Some("P-absence-help")
    );
    assert!(!absence[1].plan_needs_review, "due 2026-12-20");
    assert!(absence[4].member.flags.is_empty(), "S06: the plan alone");
    assert!(absence[4].plan_needs_review, "due 2026-11-30");
}

#[test]
fn counts_go_past_the_members_shown() {
    let r = count(&[("intervention", "absence-help")], 2);
    assert_eq!(
        seen(&r),
        [("absence-help".into(), Some(2), 5, 5, 1, s(&["S02", "S03"]))],
        "the intervention filter keeps students recommended it (S06's plan alone is not)"
    );
    assert!(count(&[], 0).iter().all(|r| r.members.is_empty()));
}

#[test]
fn the_filter_narrows_students_and_interventions() {
    let ids = |pairs: &[(&str, &str)]| -> Vec<(String, u64)> {
        count(pairs, 10)
            .into_iter()
            .map(|r| (r.intervention, r.students))
            .collect()
    };
    let pairs = |v: &[(&'static str, u64)]| -> Vec<(String, u64)> {
        v.iter().map(|(k, n)| (k.to_string(), *n)).collect()
    };
    assert_eq!(
        ids(&[("school", "B")]),
        pairs(&[("absence-help", 1)]),
        "school B: S12 alone"
    );
    assert_eq!(
        ids(&[("domain", "academic")]),
        pairs(&[("fail-help", 2), ("gpa-help", 1)]),
        "S02's absence recommendation is outside the domain"
    );
    assert_eq!(
        ids(&[("domain", "behavioral")]),
        Vec::<(String, u64)>::new(),
        "S07 has no behavioral flag, so `domain` alone does not cover them"
    );
    assert_eq!(
        ids(&[("plan", "mentor")]),
        pairs(&[("mentor", 1)]),
        "a plan filter naming one keeps that roster"
    );
    assert_eq!(
        ids(&[("plan", "active")]),
        pairs(&[("absence-help", 2), ("mentor", 1)]),
    );
    assert_eq!(
        ids(&[("rule", "absence")]),
        pairs(&[("absence-help", 5)]),
        "with a rule, rosters follow its recommendations only"
    );
    assert_eq!(
        ids(&[("tier", "3")]),
        pairs(&[("fail-help", 2)]),
        "student-level filters keep whole students"
    );
}

#[test]
fn one_pass_gives_the_scopes_summary_and_the_filters_rosters() {
    let v = caseload();
    let scope = Filter::parse([("school", "A")]).unwrap();
    let filter = Filter::parse([("school", "A"), ("min_tier", "2")]).unwrap();
    let cat = catalogue();
    let (summary, rosters) = tally(
        v.iter().cloned().map(Ok),
        Some((&scope, Reference::default())),
        Some(Rosters::new(filter.clone(), 3, &cat)),
        today(),
    )
    .unwrap();
    let alone = summarize(
        v.iter().cloned().map(Ok),
        &scope,
        today(),
        Reference::default(),
    );
    assert_eq!(summary, Some(alone.unwrap()));
    let expected = super::rosters(v.iter().cloned().map(Ok), &filter, today(), 3, &cat).unwrap();
    assert_eq!(rosters.as_deref(), Some(expected.as_slice()));
    assert_eq!(expected[1].students, 4, "S02..S05 (S06 is tier 0)");
    // Asked for neither: nothing is read.
    let failing = std::iter::once(Err(CaseloadError::Io(std::io::Error::other("x"))));
    assert_eq!(tally(failing, None, None, today()).unwrap(), (None, None));
}
