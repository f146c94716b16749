//! The shipped rules in words, params at their values, and the conditions that have
//! no words.

use std::path::Path;

use super::*;
use crate::record::facts::{FIELDS, Facts, Value};
use crate::record::parse_record;

fn shipped() -> RuleSet {
    RuleSet::load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("rules")).unwrap()
}

fn words(rules: &RuleSet, id: &str) -> Option<String> {
    condition_words(rules.rule(id).unwrap(), rules)
}

#[test]
fn the_shipped_threshold_rules_read_in_words() {
    let rules = shipped();
    for (id, want) in [
        ("attendance-watch", "absence rate ≥ 5% and < 10%"),
        ("chronic-absence", "absence rate ≥ 10% and < 20%"),
        ("severe-chronic-absence", "absence rate ≥ 20%"),
        ("low-gpa", "GPA ≤ 2"),
        (
            "reading-below-benchmark",
            "reading percentile > 10 and < 25",
        ),
        ("reading-well-below-benchmark", "reading percentile ≤ 10"),
        ("repeated-referrals", "office referrals ≥ 2 and ≤ 5"),
        ("frequent-referrals", "office referrals ≥ 6"),
        ("multiple-core-failures", "failing core courses ≥ 2"),
        ("sel-need-for-instruction", "SEL T-score ≤ 40"),
        // `≥ 1 and < 2` suspensions: exactly one.
        ("suspension", "suspensions = 1"),
    ] {
        assert_eq!(words(&rules, id).as_deref(), Some(want), "{id}");
    }
}

#[test]
fn plan_rules_name_their_plan_once_and_read_fidelity_as_a_percentage() {
    let rules = shipped();
    assert_eq!(
        words(&rules, "tier2-nonresponse").as_deref(),
        Some(
            "academic plan: plan active and plan tier = 2 and weeks active ≥ 6 and \
             progress data points ≥ 4 and sessions delivered ≥ 80% and \
             points in a row off the aim line ≥ 4"
        )
    );
    assert_eq!(
        words(&rules, "low-fidelity-social-emotional").as_deref(),
        Some(
            "social emotional plan: plan active and weeks active ≥ 4 and sessions delivered < 80%"
        )
    );
}

/// Decided: a condition with `||` still reads in words when it is only comparisons;
/// the `||` group stands in parentheses, so the words mean what the rule does.
#[test]
fn an_or_group_reads_in_parentheses() {
    let rules = shipped();
    assert_eq!(
        words(&rules, "abc-off-track").as_deref(),
        Some(
            "absence rate ≥ 10% and failing core courses ≥ 1 and \
             (office referrals ≥ 2 or suspensions ≥ 1)"
        )
    );
    assert_eq!(
        words(&rules, "goal-met").as_deref(),
        Some("academic plan: plan active and (goal met or points in a row on track ≥ 4)")
    );
}

#[test]
fn params_read_at_their_current_values() {
    let mut rules = shipped();
    let p = rules.params.get_mut("chronic_absence_rate").unwrap();
    p.value = serde_json::Number::from_f64(0.125).unwrap();
    assert_eq!(
        words(&rules, "chronic-absence").as_deref(),
        Some("absence rate ≥ 12.5% and < 20%")
    );
    assert_eq!(
        words(&rules, "attendance-watch").as_deref(),
        Some("absence rate ≥ 5% and < 12.5%")
    );
    // A count's bound that is not whole rounds to what the comparison means:
    // `referrals < 5.5` holds for 5 and not for 6.
    let p = rules.params.get_mut("referrals_frequent").unwrap();
    p.value = serde_json::Number::from_f64(5.5).unwrap();
    assert_eq!(
        words(&rules, "repeated-referrals").as_deref(),
        Some("office referrals ≥ 2 and ≤ 5")
    );
    assert_eq!(
        words(&rules, "frequent-referrals").as_deref(),
        Some("office referrals ≥ 6")
    );
}

const EXTRA: &str = r#"
rules:
  - id: doubled-gpa
    name: Arithmetic
    domain: academic
    tier: 2
    when: student.gpa * 2 < 3
    explain: "x"
  - id: two-fields
    name: Two fields compared
    domain: academic
    tier: 2
    when: student.math_percentile < student.reading_percentile
    explain: "x"
  - id: written-backwards
    name: Threshold on the left, a yes/no tested for no
    domain: academic
    tier: 2
    when: >-
      0.3 <= student.attendance.absence_rate && student.programs.ell == false
      && 3 > student.behavior.suspensions
    explain: "x"
  - id: district-field
    name: A district field (its kind is not known, so it runs in Rhai)
    domain: academic
    tier: 2
    when: student.extra.mentor_visits > 2
    explain: "x"
  - id: mixed-plan-and-record
    name: A plan fact beside a record field
    domain: academic
    tier: 2
    when: student.plans.academic.weeks_active > 3 && student.gpa < 2.5
    explain: "x"
"#;

fn with_extra_rules() -> RuleSet {
    let mut files = shipped().files;
    files.insert("extra.yaml".into(), EXTRA.into());
    RuleSet::from_files(files).unwrap()
}

#[test]
fn conditions_that_are_not_thresholds_have_no_words() {
    let rules = with_extra_rules();
    assert!(!rules.rule("doubled-gpa").unwrap().is_native());
    assert_eq!(words(&rules, "doubled-gpa"), None, "arithmetic");
    assert_eq!(words(&rules, "two-fields"), None, "no threshold");
    assert_eq!(words(&rules, "district-field"), None, "not native");
}

#[test]
fn thresholds_on_the_left_flags_and_plans_beside_record_fields() {
    let rules = with_extra_rules();
    assert_eq!(
        words(&rules, "written-backwards").as_deref(),
        Some("absence rate ≥ 30% and English learner status: no and suspensions ≤ 2")
    );
    assert_eq!(
        words(&rules, "mixed-plan-and-record").as_deref(),
        Some("weeks active (academic plan) ≥ 4 and GPA < 2.5")
    );
}

/// What `is_whole_number` promises for the record: those fields only ever hold
/// integers, so `< 6` and `≤ 5` are the same condition.
#[test]
fn whole_number_fields_hold_integers() {
    let record = parse_record(
        r#"{"student_id": "S1", "grade_level": 9,
            "attendance": {"days_enrolled": 100, "days_present": 90},
            "courses": [{"course_id": "M1", "subject": "math", "grade_pct": 40}],
            "behavior": {"office_referrals": 3, "suspensions_in_school": 1,
                         "suspensions_out_of_school": 1}}"#,
    )
    .unwrap();
    let facts = Facts::new(&record);
    let whole: Vec<&str> = (0..FIELDS.len())
        .map(FieldRef::Known)
        .filter(FieldRef::is_whole_number)
        .map(|f| f.spec().unwrap().path)
        .collect();
    assert_eq!(whole.len(), 7, "{whole:?}");
    for path in whole {
        let f = FieldRef::resolve(path).unwrap();
        assert!(
            matches!(facts.get(&f), Some(Value::Int(_))),
            "{path}: {:?}",
            facts.get(&f)
        );
    }
    assert!(!FieldRef::resolve("gpa").unwrap().is_whole_number());
    assert!(
        FieldRef::resolve("plans.academic.weeks_active")
            .unwrap()
            .is_whole_number()
    );
}

#[test]
fn every_shipped_rule_reads_in_words_without_names_of_the_rule_language() {
    let rules = shipped();
    for r in &rules.rules {
        let text = condition_words(r, &rules).unwrap_or_else(|| panic!("{} has no words", r.id));
        for raw in ["params.", "student.", "&&", "||", "==", "_"] {
            assert!(!text.contains(raw), "{}: {text}", r.id);
        }
    }
}
