//! Tests of the summary and the rosters.

use super::*;
use crate::caseload::entry::tests::payload;

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 12, 4).unwrap()
}

fn entry(id: &str, school: &str, flags: &[(&str, &str, u8)]) -> CaseEntry {
    let mut e =
        CaseEntry::from_decision(1, "h", &payload(id, "2026-12-01T08:00:00.000Z", flags)).unwrap();
    e.school = Some(school.into());
    e
}

/// 20 students: 2 at tier 3 in academic, 4 at tier 2 in attendance (one of them
/// also tier 1 academic), the rest nothing.
fn caseload() -> Vec<CaseEntry> {
    (0..20)
        .map(|i| {
            let id = format!("S{i:02}");
            let school = if i < 10 { "A" } else { "B" };
            match i {
                0 | 1 => entry(&id, school, &[("fail", "academic", 3)]),
                2 => entry(
                    &id,
                    school,
                    &[("absence", "attendance", 2), ("gpa", "academic", 1)],
                ),
                3..=5 => entry(&id, school, &[("absence", "attendance", 2)]),
                _ => entry(&id, school, &[]),
            }
        })
        .collect()
}

fn ok(v: &[CaseEntry]) -> impl Iterator<Item = Result<CaseEntry, CaseloadError>> + '_ {
    v.iter().cloned().map(Ok)
}

#[test]
fn the_summary_counts_tiers_and_compares_shares() {
    let v = caseload();
    let s = summarize(ok(&v), &Filter::default(), today(), Reference::default()).unwrap();
    assert_eq!(s.students, 20);
    assert_eq!(s.overall.tiers, [14, 0, 4, 2]);
    assert_eq!((s.overall.tier2_share, s.overall.tier3_share), (0.2, 0.1));
    assert!(s.overall.tier2_above_reference && s.overall.tier3_above_reference);
    assert_eq!(s.by_domain[&Domain::Academic].tiers, [17, 1, 0, 2]);
    assert_eq!(s.by_domain[&Domain::Attendance].tiers, [16, 0, 4, 0]);
    assert_eq!(s.by_domain[&Domain::Behavioral].tier2_share, 0.0);
    assert!(!s.by_domain[&Domain::Behavioral].tier2_above_reference);
    assert_eq!(s.by_rule["absence"], 4);
    assert_eq!(s.by_intervention["fail-help"], 2);
    let school_b = Filter {
        school: Some("B".into()),
        ..Filter::default()
    };
    let s = summarize(ok(&v), &school_b, today(), Reference::default()).unwrap();
    assert_eq!((s.students, s.overall.tier2_share), (10, 0.0));
    let empty = summarize(ok(&[]), &Filter::default(), today(), Reference::default()).unwrap();
    assert_eq!(
        empty.overall.tier3_share, 0.0,
        "no NaN for an empty caseload"
    );
}

#[test]
fn per_school_summaries_split_the_counts() {
    let by = summarize_by_school(ok(&caseload()), Reference::default()).unwrap();
    assert_eq!(by.keys().collect::<Vec<_>>(), ["A", "B"]);
    assert_eq!(by["A"].overall.tiers, [4, 0, 4, 2]);
    assert_eq!(by["A"].overall.tier2_share, 0.4);
}

#[test]
fn the_reference_comes_from_the_rule_set_when_it_is_a_share() {
    let mut rules = RuleSet::load_dir(std::path::Path::new("rules")).unwrap();
    rules.params.remove("tier2_share");
    assert_eq!(Reference::from_rules(&rules).tier2_share, 0.15);
    let param = |v: f64| crate::rules::Param {
        value: serde_json::Number::from_f64(v).unwrap(),
        description: String::new(),
    };
    rules.params.insert("tier2_share".into(), param(0.2));
    rules.params.insert("tier3_share".into(), param(7.0));
    let r = Reference::from_rules(&rules);
    assert_eq!((r.tier2_share, r.tier3_share), (0.2, 0.05));
}

#[test]
fn rosters_by_intervention_and_by_rule() {
    let v = caseload();
    let q = GroupsQuery::parse([("school", "A")]).unwrap();
    let g = groups(ok(&v), &q, today()).unwrap();
    let ids: Vec<(&str, u8, usize)> = g
        .iter()
        .map(|g| (g.id.as_str(), g.tier, g.students.len()))
        .collect();
    assert_eq!(
        ids,
        [
            ("fail-help", 3, 2),
            ("absence-help", 2, 4),
            ("gpa-help", 1, 1)
        ]
    );
    assert_eq!(g[1].domain, Some(Domain::Attendance));
    assert_eq!(g[1].students[0].flags[0].rule_id, "absence");
    assert_eq!(g[1].students[0].flags[0].review, ReviewState::Unreviewed);
    let q = GroupsQuery::parse([("by", "rule")]).unwrap();
    let g = groups(ok(&v), &q, today()).unwrap();
    assert_eq!(g[1].id, "absence");
    assert_eq!(g[1].interventions, ["absence-help"]);
    assert_eq!(
        GroupsQuery::parse([("by", "tier")]).unwrap_err().param,
        "by"
    );
    assert_eq!(
        GroupsQuery::parse([("grade", "x")]).unwrap_err().param,
        "grade"
    );
}
