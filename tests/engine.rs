//! The shipped rules (`rules/`) against records at the DOMAIN.md boundaries, and the
//! shape of the decision a counselor or auditor reads: explanations, inputs, what would
//! clear a flag, merged recommendations, tiers, and determinism.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use intervene::engine::{Decision, Evaluator, Flag};
use intervene::record::{Attendance, Record, parse_record};
use intervene::rules::{Domain, RuleSet};
use serde_json::{Value, json};

#[path = "support/shipped.rs"]
mod shipped;
use shipped::{evaluator, rules};

fn record(v: Value) -> Record {
    let text = v.to_string();
    parse_record(&text).unwrap_or_else(|e| panic!("test record refused: {e}\n{text}"))
}

fn eval(v: Value) -> Decision {
    let d = evaluator().evaluate(rules(), &record(v));
    assert!(
        d.rule_errors.is_empty(),
        "shipped rules must not err: {:?}",
        d.rule_errors
    );
    d
}

fn fired(d: &Decision) -> BTreeSet<&str> {
    d.fired().collect()
}

fn flag<'d>(d: &'d Decision, id: &str) -> &'d Flag {
    d.flags
        .iter()
        .find(|f| f.rule_id == id)
        .unwrap_or_else(|| panic!("`{id}` did not fire; fired: {:?}", fired(d)))
}

fn attendance(enrolled: f64, present: f64) -> Value {
    json!({"student_id": "S-ATT", "attendance": {"days_enrolled": enrolled, "days_present": present}})
}

fn attendance_flags(enrolled: f64, present: f64) -> BTreeSet<String> {
    let d = eval(attendance(enrolled, present));
    d.fired()
        .filter(|id| {
            rules()
                .rule(id)
                .is_some_and(|r| r.domain == Domain::Attendance)
        })
        .map(String::from)
        .collect()
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

#[test]
fn absence_rate_boundaries_follow_domain_md() {
    let cases: &[(f64, f64, &[&str])] = &[
        (100.0, 100.0, &[]),
        (400.0, 380.4, &[]),                        // 4.9%
        (100.0, 95.0, &["attendance-watch"]),       // 5%
        (400.0, 360.04, &["attendance-watch"]),     // 9.99%
        (100.0, 90.0, &["chronic-absence"]),        // 10%
        (45.0, 40.5, &["chronic-absence"]),         // 10% with a half day
        (64.0, 54.0, &["chronic-absence"]),         // 15.6%
        (400.0, 320.04, &["chronic-absence"]),      // 19.99%
        (100.0, 80.0, &["severe-chronic-absence"]), // 20%
        (10.0, 0.0, &["severe-chronic-absence"]),   // 100%
    ];
    for (enrolled, present, want) in cases {
        assert_eq!(
            attendance_flags(*enrolled, *present),
            set(want),
            "enrolled {enrolled}, present {present}"
        );
    }
    let d = eval(attendance(100.0, 90.0));
    assert_eq!(d.tiers[&Domain::Attendance], 2);
    assert_eq!(eval(attendance(100.0, 80.0)).tiers[&Domain::Attendance], 3);
    assert_eq!(eval(attendance(100.0, 95.0)).tiers[&Domain::Attendance], 1);
}

/// Bug: 45 − 40.95 is 4.0499999… in binary, so a student absent exactly 9% of 45 days
/// was judged below a 9% threshold. The rate is now rounded to 12 decimals.
#[test]
fn absence_rate_of_decimal_days_is_exact_at_the_threshold() {
    use intervene::record::facts::{FieldRef, Value as Fact};
    let field = FieldRef::resolve("attendance.absence_rate").expect("a record fact");
    for (enrolled, present, rate) in [(45.0, 40.95, 0.09), (10.0, 9.55, 0.045), (45.0, 40.5, 0.1)] {
        let r = record(attendance(enrolled, present));
        let got = intervene::record::Facts::new(&r).get(&field);
        assert_eq!(got, Some(Fact::Num(rate)), "{present} of {enrolled} days");
    }
    // And a rule at 9% fires for it.
    let mut files = rules().files.clone();
    let params = files.get_mut("params.yaml").expect("shipped params");
    *params = params.replace(
        "chronic_absence_rate:\n  value: 0.10",
        "chronic_absence_rate:\n  value: 0.09",
    );
    let rs = RuleSet::from_files(files).expect("loads");
    assert_eq!(rs.params["chronic_absence_rate"].as_f64(), 0.09);
    let d = evaluator().evaluate(&rs, &record(attendance(45.0, 40.95)));
    assert!(
        d.fired().any(|id| id == "chronic-absence"),
        "{:?}",
        fired(&d)
    );
}

#[test]
fn gpa_at_two_is_low_and_just_above_is_not() {
    let gpa = |g: f64| eval(json!({"student_id": "S-GPA", "gpa": g}));
    assert!(fired(&gpa(2.0)).contains("low-gpa"));
    assert!(fired(&gpa(0.0)).contains("low-gpa"));
    assert!(!fired(&gpa(2.01)).contains("low-gpa"));
    assert!(!fired(&gpa(5.0)).contains("low-gpa"));
}

#[test]
fn screener_percentile_boundaries() {
    let reading = |p: f64| {
        let d = eval(
            json!({"student_id": "S-READ", "assessments": [{"name": "MAP Growth Reading", "subject": "reading", "percentile": p, "date": "2026-10-01"}]}),
        );
        fired(&d)
            .into_iter()
            .filter(|id| id.starts_with("reading-"))
            .map(String::from)
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(
        reading(25.0),
        set(&[]),
        "25th percentile is not below benchmark"
    );
    assert_eq!(reading(24.9), set(&["reading-below-benchmark"]));
    assert_eq!(reading(11.0), set(&["reading-below-benchmark"]));
    assert_eq!(
        reading(10.0),
        set(&["reading-well-below-benchmark"]),
        "10th is well below, and not also below"
    );
    assert_eq!(reading(0.0), set(&["reading-well-below-benchmark"]));
    let math = |p: f64| {
        let d = eval(
            json!({"student_id": "S-MATH", "assessments": [{"name": "STAR Math", "subject": "math", "percentile": p}]}),
        );
        fired(&d)
            .into_iter()
            .filter(|id| id.starts_with("math-"))
            .map(String::from)
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(math(25.0), set(&[]));
    assert_eq!(math(10.0), set(&["math-well-below-benchmark"]));
    assert_eq!(math(10.5), set(&["math-below-benchmark"]));
}

#[test]
fn the_latest_screener_counts() {
    let d = eval(json!({"student_id": "S-LATEST", "assessments": [
        {"name": "MAP Growth Reading", "subject": "reading", "percentile": 45, "date": "2026-10-01"},
        {"name": "MAP Growth Reading", "subject": "reading", "percentile": 8, "date": "2026-01-15"}
    ]}));
    assert!(
        !fired(&d).iter().any(|id| id.starts_with("reading-")),
        "the older 8th percentile must not flag: {:?}",
        fired(&d)
    );
}

#[test]
fn referral_and_suspension_bands() {
    let behavior = |r: u32, i: u32, o: u32| {
        let d = eval(
            json!({"student_id": "S-BEH", "behavior": {"office_referrals": r, "suspensions_in_school": i, "suspensions_out_of_school": o}}),
        );
        fired(&d)
            .into_iter()
            .map(String::from)
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(behavior(1, 0, 0), set(&[]));
    assert_eq!(behavior(2, 0, 0), set(&["repeated-referrals"]));
    assert_eq!(behavior(5, 0, 0), set(&["repeated-referrals"]));
    assert_eq!(behavior(6, 0, 0), set(&["frequent-referrals"]));
    assert_eq!(behavior(0, 1, 0), set(&["suspension"]));
    assert_eq!(behavior(0, 0, 1), set(&["suspension"]));
    assert_eq!(
        behavior(0, 1, 1),
        set(&["repeated-suspensions"]),
        "in-school and out-of-school count together"
    );
}

#[test]
fn failing_courses_and_abc_off_track() {
    let d = eval(json!({
        "student_id": "S-ABC",
        "attendance": {"days_enrolled": 100, "days_present": 85},
        "courses": [
            {"course_id": "ALG1", "subject": "math", "grade_pct": 59.9},
            {"course_id": "ENG9", "subject": "ela", "letter": "F"},
            {"course_id": "BIO", "subject": "science", "grade_pct": 60}
        ],
        "behavior": {"office_referrals": 0, "suspensions_in_school": 0, "suspensions_out_of_school": 1}
    }));
    let f = fired(&d);
    for id in [
        "course-failure",
        "multiple-core-failures",
        "abc-off-track",
        "chronic-absence",
        "suspension",
    ] {
        assert!(f.contains(id), "`{id}` should fire: {f:?}");
    }
    assert_eq!(
        flag(&d, "course-failure").inputs["student.failing_courses"],
        json!(2),
        "60 is passing"
    );
    assert_eq!(d.tiers[&Domain::Academic], 3);
}

#[test]
fn missing_sections_are_insufficient_data_not_flags() {
    let d = eval(json!({"student_id": "S-EMPTY"}));
    assert!(d.flags.is_empty());
    let all: BTreeSet<&str> = rules()
        .rules
        .iter()
        .filter(|r| r.enabled)
        .map(|r| r.id.as_str())
        .collect();
    let listed: BTreeSet<&str> = d.insufficient_data.iter().map(String::as_str).collect();
    assert_eq!(listed, all, "with no data every rule is insufficient_data");
    assert!(d.tiers.values().all(|t| *t == 0));

    let d = eval(json!({"student_id": "S-NOSEL", "gpa": 3.5}));
    assert!(
        d.insufficient_data
            .iter()
            .any(|r| r == "sel-need-for-instruction")
    );
    assert!(!d.insufficient_data.iter().any(|r| r == "low-gpa"));
}

#[test]
fn nothing_enrolled_is_insufficient_data_never_a_division_error() {
    let d = eval(attendance(0.0, 0.0));
    assert!(d.flags.is_empty(), "{:?}", fired(&d));
    for id in [
        "attendance-watch",
        "chronic-absence",
        "severe-chronic-absence",
        "abc-off-track",
    ] {
        assert!(
            d.insufficient_data.iter().any(|r| r == id),
            "`{id}` not in {:?}",
            d.insufficient_data
        );
    }
    assert!(d.rule_errors.is_empty());
    let text = serde_json::to_string(&d).unwrap();
    assert!(!text.contains("NaN") && !text.contains("inf"), "{text}");
}

#[test]
fn missing_values_never_make_negated_conditions_fire() {
    // DESIGN.md: `() != x` is true in Rhai; a rule reading a missing value must not run.
    // Partial records: attendance present but no courses means abc-off-track cannot be
    // judged even though the student is chronically absent.
    let d = eval(
        json!({"student_id": "S-PART", "attendance": {"days_enrolled": 100, "days_present": 70}, "behavior": {"office_referrals": 9}}),
    );
    assert!(!fired(&d).contains("abc-off-track"));
    assert!(d.insufficient_data.iter().any(|r| r == "abc-off-track"));
}

#[test]
fn explanations_render_the_documented_text() {
    let d = eval(attendance(64.0, 54.0));
    let f = flag(&d, "chronic-absence");
    assert_eq!(
        f.explanation,
        "Missed 15.6% of enrolled days (chronic from 10%)"
    );
    assert_eq!(f.domain, Domain::Attendance);
    assert_eq!(f.tier, 2);

    let d = eval(json!({"student_id": "S-GPA", "gpa": 1.9}));
    assert_eq!(
        flag(&d, "low-gpa").explanation,
        "GPA is 1.90 (low at or below 2.0)"
    );

    let d = eval(attendance(100.0, 94.0));
    assert_eq!(
        flag(&d, "attendance-watch").explanation,
        "Missed 6% of enrolled days (watch from 5%, chronic from 10%)"
    );

    let d = eval(
        json!({"student_id": "S-SEL", "sel": {"screener": "DESSA-mini", "t_score": 38, "date": "2026-10-15"}}),
    );
    assert_eq!(
        flag(&d, "sel-need-for-instruction").explanation,
        "SEL screener T-score 38 (need for instruction at or below 40)"
    );
}

#[test]
fn inputs_hold_exactly_what_the_rule_read() {
    let d = eval(attendance(64.0, 54.0));
    let f = flag(&d, "chronic-absence");
    let keys: Vec<&str> = f.inputs.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "params.chronic_absence_rate",
            "params.severe_absence_rate",
            "student.attendance.absence_rate"
        ]
    );
    assert_eq!(f.inputs["student.attendance.absence_rate"], json!(0.15625));
    assert_eq!(f.inputs["params.chronic_absence_rate"], json!(0.1));
    assert_eq!(f.inputs["params.severe_absence_rate"], json!(0.2));

    let d = eval(json!({
        "student_id": "S-ABC",
        "gpa": 3.9,
        "attendance": {"days_enrolled": 100, "days_present": 85},
        "courses": [{"course_id": "ALG1", "subject": "math", "grade_pct": 40}],
        "behavior": {"office_referrals": 3},
        "sel": {"t_score": 70}
    }));
    let f = flag(&d, "abc-off-track");
    let keys: BTreeSet<&str> = f.inputs.keys().map(String::as_str).collect();
    let want: BTreeSet<&str> = [
        "student.attendance.absence_rate",
        "student.failing_core_courses",
        "student.behavior.office_referrals",
        "student.behavior.suspensions",
        "params.chronic_absence_rate",
        "params.course_failures_min",
        "params.referrals_repeated",
    ]
    .into();
    assert_eq!(keys, want, "no GPA, no SEL score, no unread params");
    assert_eq!(f.inputs["student.behavior.office_referrals"], json!(3));
}

#[test]
fn clears_says_what_would_clear_a_threshold_flag() {
    let d = eval(attendance(64.0, 54.0));
    let c = flag(&d, "chronic-absence")
        .clears
        .clone()
        .expect("chronic-absence compares against a threshold");
    assert!(c.contains("below 10%"), "{c}");
    // 10 days missed: the rate drops below 10% after 37 more days present (10/101).
    assert!(c.contains("37 more days present"), "{c}");

    let d = eval(json!({"student_id": "S-GPA", "gpa": 1.9}));
    let c = flag(&d, "low-gpa")
        .clears
        .clone()
        .expect("low-gpa compares against a threshold");
    assert!(c.contains("above 2"), "{c}");

    let d = eval(
        json!({"student_id": "S-READ", "assessments": [{"name": "MAP", "subject": "reading", "percentile": 18}]}),
    );
    let c = flag(&d, "reading-below-benchmark")
        .clears
        .clone()
        .expect("percentile compares against a threshold");
    assert!(c.contains("25 or more"), "{c}");
}

#[test]
fn recommendations_merge_per_intervention_with_every_reason() {
    // Frequent referrals and repeated suspensions both recommend an FBA and a behavior plan.
    let d = eval(
        json!({"student_id": "S-BEH", "behavior": {"office_referrals": 7, "suspensions_in_school": 1, "suspensions_out_of_school": 2}}),
    );
    let by: BTreeMap<&str, &Vec<String>> = d
        .recommendations
        .iter()
        .map(|r| (r.intervention.as_str(), &r.because))
        .collect();
    assert_eq!(
        d.recommendations.len(),
        by.len(),
        "one entry per intervention: {:?}",
        d.recommendations
    );
    assert_eq!(
        by["functional-behavior-assessment"],
        &vec![
            "frequent-referrals".to_string(),
            "repeated-suspensions".to_string()
        ]
    );
    assert_eq!(
        by["behavior-intervention-plan"],
        &vec![
            "frequent-referrals".to_string(),
            "repeated-suspensions".to_string()
        ]
    );
    let fba = d
        .recommendations
        .iter()
        .find(|r| r.intervention == "functional-behavior-assessment")
        .unwrap();
    assert_eq!(
        fba.tier, 3,
        "the intervention's tier from interventions.yaml"
    );

    // Failing a course with a low GPA: tutoring once, for both reasons.
    let d = eval(
        json!({"student_id": "S-ACA", "gpa": 1.5, "courses": [{"course_id": "BIO", "subject": "science", "letter": "F"}]}),
    );
    let tutoring: Vec<_> = d
        .recommendations
        .iter()
        .filter(|r| r.intervention == "tutoring")
        .collect();
    assert_eq!(tutoring.len(), 1);
    let because: BTreeSet<&str> = tutoring[0].because.iter().map(String::as_str).collect();
    assert_eq!(because, BTreeSet::from(["course-failure", "low-gpa"]));
    assert!(
        d.recommendations
            .iter()
            .any(|r| r.intervention == "advisory" && r.because == ["low-gpa"])
    );
}

#[test]
fn tiers_hold_the_highest_tier_per_domain() {
    let d = eval(json!({
        "student_id": "S-TIERS",
        "attendance": {"days_enrolled": 100, "days_present": 94},
        "courses": [
            {"course_id": "ALG1", "subject": "math", "grade_pct": 20},
            {"course_id": "ENG9", "subject": "ela", "grade_pct": 30}
        ],
        "gpa": 1.0,
        "behavior": {"office_referrals": 3},
        "sel": {"t_score": 60}
    }));
    let want: BTreeMap<Domain, u8> = [
        (Domain::Attendance, 1),
        (Domain::Academic, 3),
        (Domain::Behavioral, 2),
        (Domain::SocialEmotional, 0),
    ]
    .into();
    assert_eq!(d.tiers, want);
}

#[test]
fn same_inputs_give_byte_identical_decisions() {
    let r = record(
        serde_json::from_str(
            &std::fs::read_to_string(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("fixtures/records/valid/full_record.json"),
            )
            .unwrap(),
        )
        .unwrap(),
    );
    let at = "2026-11-29T16:00:00Z".to_string();
    let id = "01JDETERMINISTIC000000000".to_string();
    let a = serde_json::to_string(&evaluator().evaluate_with(rules(), &r, id.clone(), at.clone()))
        .unwrap();
    let b = serde_json::to_string(&evaluator().evaluate_with(rules(), &r, id.clone(), at.clone()))
        .unwrap();
    let c = serde_json::to_string(&Evaluator::new().evaluate_with(rules(), &r, id, at)).unwrap();
    assert_eq!(a, b);
    assert_eq!(a, c, "a fresh evaluator gives the same decision");
    let d: Value = serde_json::from_str(&a).unwrap();
    assert_eq!(d["decision_id"], "01JDETERMINISTIC000000000");
    assert_eq!(d["evaluated_at"], "2026-11-29T16:00:00Z");
    assert!(
        !d["flags"].as_array().unwrap().is_empty(),
        "the sample record is flagged"
    );
}

#[test]
fn evaluate_stamps_a_fresh_id_and_the_ruleset_version() {
    let r = record(json!({"student_id": "S-IDS"}));
    let a = evaluator().evaluate(rules(), &r);
    let b = evaluator().evaluate(rules(), &r);
    assert_ne!(a.decision_id, b.decision_id);
    assert_eq!(a.decision_id.len(), 26, "a ULID");
    assert_eq!(a.ruleset_version, rules().version);
    assert!(a.ruleset_version.starts_with("sha256:") && a.ruleset_version.len() == 7 + 64);
    assert!(
        chrono::DateTime::parse_from_rfc3339(&a.evaluated_at).is_ok(),
        "{}",
        a.evaluated_at
    );
}

#[test]
fn decision_json_has_exactly_the_design_keys() {
    let r = record(
        serde_json::from_str(
            &std::fs::read_to_string(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("fixtures/records/valid/full_record.json"),
            )
            .unwrap(),
        )
        .unwrap(),
    );
    let d = serde_json::to_value(evaluator().evaluate(rules(), &r)).unwrap();
    let keys = |v: &Value| {
        v.as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<BTreeSet<String>>()
    };
    assert_eq!(
        keys(&d),
        set(&[
            "decision_id",
            "student_id",
            "evaluated_at",
            "ruleset_version",
            "flags",
            "recommendations",
            "tiers",
            "insufficient_data",
            "rule_errors"
        ])
    );
    assert_eq!(
        keys(&d["tiers"]),
        set(&["attendance", "academic", "behavioral", "social_emotional"])
    );
    for f in d["flags"].as_array().unwrap() {
        let k = keys(f);
        let base = set(&["rule_id", "domain", "tier", "explanation", "inputs"]);
        assert!(
            k == base
                || k == set(&[
                    "rule_id",
                    "domain",
                    "tier",
                    "explanation",
                    "inputs",
                    "clears"
                ]),
            "{k:?}"
        );
    }
    for r in d["recommendations"].as_array().unwrap() {
        assert_eq!(keys(r), set(&["intervention", "tier", "because"]));
    }
    // Round trip: the decision is plain data.
    let back: Decision = serde_json::from_value(d.clone()).unwrap();
    assert_eq!(serde_json::to_value(back).unwrap(), d);
}

#[test]
fn rule_order_and_list_order_are_stable() {
    let d = eval(json!({
        "student_id": "S-ORDER",
        "attendance": {"days_enrolled": 100, "days_present": 70},
        "gpa": 1.0,
        "behavior": {"office_referrals": 8}
    }));
    let order: Vec<&str> = rules().rules.iter().map(|r| r.id.as_str()).collect();
    let pos = |id: &str| order.iter().position(|r| *r == id).unwrap();
    let fired: Vec<usize> = d.fired().map(pos).collect();
    assert!(
        fired.windows(2).all(|w| w[0] < w[1]),
        "flags follow rule order: {:?}",
        d.fired().collect::<Vec<_>>()
    );
}

#[test]
fn explanation_never_says_unknown_for_an_optional_field() {
    let d = eval(json!({"student_id": "S-SEL", "sel": {"t_score": 35}}));
    let e = &flag(&d, "sel-need-for-instruction").explanation;
    assert!(!e.contains("unknown"), "{e}");
}

// ---------------------------------------------------------------------------------
// Native threshold conditions give exactly what Rhai gives.

fn same_under_native_and_rhai(rules: &RuleSet, record: &intervene::record::Record) {
    let native = Evaluator::new().evaluate_with(rules, record, "d".into(), "t".into());
    let scripted = Evaluator::scripted_only().evaluate_with(rules, record, "d".into(), "t".into());
    assert_eq!(
        serde_json::to_value(&native).unwrap(),
        serde_json::to_value(&scripted).unwrap(),
        "native and Rhai disagree on {}",
        record.student_id
    );
}

#[test]
fn every_shipped_rule_runs_natively() {
    let scripted: Vec<&str> = rules()
        .rules
        .iter()
        .filter(|r| !r.is_native())
        .map(|r| r.id.as_str())
        .collect();
    assert!(
        scripted.is_empty(),
        "these rules fell back to Rhai: {scripted:?}"
    );
}

#[test]
fn native_and_rhai_agree_on_the_caseload() {
    let text = std::fs::read_to_string("fixtures/caseload.ndjson").unwrap();
    for line in text.lines() {
        same_under_native_and_rhai(rules(), &intervene::record::parse_record(line).unwrap());
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
    /// Values on and around every threshold of the shipped rules.
    #[test]
    fn native_and_rhai_agree_at_the_boundaries(
        enrolled in 0u32..60,
        absent_halves in 0u32..40,
        gpa in proptest::sample::select(vec![0.0, 1.99, 2.0, 2.01, 4.0]),
        grade in proptest::sample::select(vec![0.0, 59.9, 60.0, 60.1, 100.0]),
        pct in proptest::sample::select(vec![0.0, 9.0, 10.0, 11.0, 24.0, 25.0, 26.0, 100.0]),
        referrals in 0u32..8,
        ins in 0u32..3,
        oss in 0u32..3,
        t_score in proptest::sample::select(vec![39.0, 40.0, 40.5, 41.0]),
    ) {
        let enrolled = f64::from(enrolled);
        let absent = (f64::from(absent_halves) / 2.0).min(enrolled);
        let record = serde_json::json!({
            "student_id": "P1",
            "attendance": {"days_enrolled": enrolled, "days_present": enrolled - absent},
            "courses": [{"course_id": "M", "subject": "math", "grade_pct": grade}, {"course_id": "E", "subject": "ela", "grade_pct": grade}],
            "gpa": gpa,
            "assessments": [{"name": "R", "subject": "reading", "percentile": pct}, {"name": "M", "subject": "math", "percentile": pct}],
            "behavior": {"office_referrals": referrals, "suspensions_in_school": ins, "suspensions_out_of_school": oss},
            "sel": {"t_score": t_score}
        });
        same_under_native_and_rhai(rules(), &intervene::record::record_from_value(record).unwrap());
    }
}

/// The shipped caseload fixture is useful only if it exercises every rule on the
/// record (the rules on plans need plan facts: `tests/engine_history.rs`) and has
/// students nobody flags.
#[test]
fn the_fixture_caseload_covers_every_rule_and_the_no_flag_case() {
    let text = std::fs::read_to_string("fixtures/caseload.ndjson").unwrap();
    let mut fired = BTreeSet::new();
    let mut unflagged = 0;
    for line in text.lines() {
        let d = evaluator().evaluate(rules(), &parse_record(line).unwrap());
        unflagged += usize::from(d.flags.is_empty());
        fired.extend(d.flags.iter().map(|f| f.rule_id.clone()));
        fired.extend(d.strengths.iter().map(|s| s.rule_id.clone()));
    }
    let all: BTreeSet<String> = rules()
        .rules
        .iter()
        .filter(|r| !r.reads_history())
        .map(|r| r.id.clone())
        .collect();
    assert_eq!(
        fired,
        all,
        "rules (risks and strengths) the caseload never fires: {:?}",
        all.difference(&fired).collect::<Vec<_>>()
    );
    assert!(unflagged > 0, "no student without flags");
}

// ---------------------------------------------------------------------------------
// What would clear an absence flag (issue 10)

/// Run `f` on another thread; fail instead of hanging if it takes longer than 5 s.
fn within_bound<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(std::time::Duration::from_secs(5))
        .expect("the evaluation did not finish within 5 s")
}

/// Regression: `days_to_clear` stepped one day at a time from a float estimate; at
/// 1e16 enrolled days `k + 1.0 == k`, so it never returned and held a worker forever.
/// Validation now refuses such counts, but a record that never went through it (a
/// snapshot stored by an older version) must not hang the engine either.
#[test]
fn days_to_clear_returns_for_huge_day_counts() {
    for (enrolled, present) in [(1e16, 0.0), (1e300, 0.0), (f64::MAX, 1.0), (9e15, 1.0)] {
        let mut r = Record::empty("X1");
        r.attendance = Some(Attendance {
            days_enrolled: enrolled,
            days_present: present,
            unexcused_absences: None,
            tardies: None,
        });
        let d = within_bound(move || evaluator().evaluate(rules(), &r));
        let f = flag(&d, "severe-chronic-absence");
        let clears = f.clears.as_deref().unwrap_or_default();
        assert!(clears.contains("below 20%"), "{clears}");
        assert!(!clears.contains("more day"), "{enrolled}: {clears}");
    }
}

/// The smallest number of days present in a row that clears `rate >= t`, counted day
/// by day (the definition the closed form must agree with), if under 10,000.
fn days_to_clear_by_counting(enrolled: f64, present: f64, t: f64) -> Option<u64> {
    let absent = enrolled - present;
    (0..10_000u64).find(|&k| absent / (enrolled + k as f64) < t)
}

#[test]
fn days_to_clear_matches_a_day_by_day_count() {
    for half_enrolled in (1..=400u32).step_by(7) {
        let enrolled = f64::from(half_enrolled) / 2.0;
        for half_present in (0..=half_enrolled).step_by(3) {
            let present = f64::from(half_present) / 2.0;
            let d = eval(attendance(enrolled, present));
            let Some(f) = d
                .flags
                .iter()
                .find(|f| f.rule_id == "severe-chronic-absence")
            else {
                continue;
            };
            let clears = f.clears.as_deref().unwrap_or_default();
            match days_to_clear_by_counting(enrolled, present, 0.2) {
                Some(k) if k >= 1 => {
                    let want = format!(": {k} more day{} present", if k == 1 { "" } else { "s" });
                    assert!(
                        clears.contains(&want),
                        "{enrolled}/{present}: {clears} (want {k})"
                    );
                }
                _ => assert!(
                    !clears.contains("more day"),
                    "{enrolled}/{present}: {clears}"
                ),
            }
        }
    }
}

// ---------------------------------------------------------------------------------
// The impact preview is bounded (issue 10)

/// The shipped rules plus one rule that spins until the sandbox stops it (50 ms) on
/// every student with attendance: a candidate nobody should publish.
fn spinning_candidate() -> (tempfile::TempDir, RuleSet) {
    let dir = tempfile::tempdir().unwrap();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    for entry in std::fs::read_dir(&shipped).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "yaml") {
            std::fs::copy(&p, dir.path().join(p.file_name().unwrap())).unwrap();
        }
    }
    std::fs::create_dir(dir.path().join("lib")).unwrap();
    std::fs::copy(
        shipped.join("lib/helpers.rhai"),
        dir.path().join("lib/helpers.rhai"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("spin.yaml"),
        "rules:\n  - id: spin\n    name: Spin\n    domain: behavioral\n    tier: 1\n    when: |-\n      student.attendance.days_enrolled > 1000 || { let a = []; a.pad(1000, 1); a.filter(|x| { let n = 0; for i in 0..10000 { n += i; } n > x }).len() > 0 }\n    explain: \"spins\"\n",
    )
    .unwrap();
    let rules = RuleSet::load_dir(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    (dir, rules)
}

fn students(n: usize) -> Vec<Record> {
    (0..n)
        .map(|i| record(json!({"student_id": format!("S{i}"), "attendance": {"days_enrolled": 100, "days_present": 100 - (i % 30)}})))
        .collect()
}

/// Regression (issue 10): the preview ran the candidate over every stored student with
/// no overall bound, so a candidate whose rule runs to the sandbox's limit on each
/// student held a blocking thread for students × limit. It now stops at its deadline,
/// says it was cut short, and counts the candidate's rule errors.
#[test]
fn preview_with_a_spinning_candidate_is_cut_short_at_its_deadline() {
    let (_dir, candidate) = spinning_candidate();
    let report = within_bound(move || {
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(500);
        intervene::lifecycle::preview_until(
            rules(),
            &candidate,
            students(2000).into_iter(),
            (evaluator(), &intervene::engine::NoHistory),
            (0, 10),
            deadline,
        )
    });
    assert!(!report.complete, "2000 × 50 ms cannot finish in 500 ms");
    assert!(report.students < 2000, "{}", report.students);
    assert_eq!(
        report.candidate_rule_errors.get("spin").copied(),
        Some(report.students),
        "every compared student hit the spinning rule"
    );
}

/// Regression (issue 15): a preview grouped by a reporting label took every student of
/// a chunk into its group's size, even those the deadline left uncompared, so a cut
/// short preview's rates were divided by students it never looked at. Here the
/// students arrive after the deadline (the store is slow), so none is compared.
#[test]
fn preview_cut_short_counts_in_its_groups_only_the_students_it_compared() {
    let active = rules();
    let report = within_bound(move || {
        let slow_store = (0..20).map(|i| {
            if i == 1 {
                std::thread::sleep(std::time::Duration::from_millis(400));
            }
            record(json!({"student_id": format!("S{i}"), "attendance": {"days_enrolled": 100, "days_present": 80}, "reporting": {"ell": i % 2 == 0}}))
        });
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(200);
        let by = intervene::lifecycle::By {
            label: "ell".into(),
            min_group_size: 1,
        };
        intervene::lifecycle::preview_grouped(
            active,
            active,
            slow_store,
            (evaluator(), &intervene::engine::NoHistory),
            (0, 10),
            deadline,
            Some(&by),
        )
    });
    assert!(!report.complete);
    assert_eq!(report.students, 0, "every student came after the deadline");
    let groups = report.groups.expect("grouped");
    let in_groups: u64 = groups.iter().filter_map(|g| g.students).sum();
    assert_eq!(in_groups, report.students, "{groups:?}");
    assert!(groups.is_empty(), "{groups:?}");
}

#[test]
fn preview_within_its_bound_is_complete() {
    let report = within_bound(|| {
        intervene::lifecycle::preview(
            rules(),
            rules(),
            students(50).into_iter(),
            (evaluator(), &intervene::engine::NoHistory),
            0,
            10,
        )
    });
    assert!(report.complete);
    assert_eq!(report.students, 50);
    assert_eq!(report.students_changed, 0);
    assert!(report.candidate_rule_errors.is_empty());
}

// ---------------------------------------------------------------------------------
// rule tests that name a threshold

/// The shipped rule set with each `(name, value)` set in `params.yaml`.
fn with_params(moves: &[(&str, &str)]) -> RuleSet {
    let mut files = rules().files.clone();
    let params = files.get_mut("params.yaml").expect("shipped params");
    for (name, value) in moves {
        let at = params
            .find(&format!("\n{name}:\n  value: "))
            .unwrap_or_else(|| panic!("`{name}` in params.yaml"))
            + name.len()
            + "\n:\n  value: ".len();
        let end = at + params[at..].find('\n').expect("a line");
        params.replace_range(at..end, value);
    }
    RuleSet::from_files(files).unwrap_or_else(|e| panic!("{moves:?}: {e}"))
}

/// DESIGN (Console): a counselor who moves a threshold must not have to edit the rule
/// tests. Every threshold a single record value can sit at is moved a step down, then
/// a step up (all together, keeping each band's order), and the shipped tests still
/// pass, because their boundary cases name the param. The failing-course counts are
/// lists of courses and stay pinned; `suspensions_repeated` does not move down, since
/// a one-suspension band cannot shrink to nothing without changing what the rules mean;
/// the DESIGN example student (t-score 38, GPA 1.9) keeps her flags.
#[test]
fn shipped_rule_tests_move_with_every_threshold() {
    let down: &[(&str, &str)] = &[
        ("attendance_watch_rate", "0.04"),
        ("chronic_absence_rate", "0.09"),
        ("severe_absence_rate", "0.18"),
        ("low_gpa", "1.95"),
        ("benchmark_percentile", "20"),
        ("well_below_percentile", "8"),
        ("referrals_repeated", "1"),
        ("referrals_frequent", "5"),
        ("sel_need_t_score", "38"),
        ("on_track_percentile", "45"),
        ("sel_strength_t_score", "55"),
        ("nonresponse_weeks", "5"),
        ("min_points", "3"),
        ("points_in_a_row", "3"),
        ("fidelity_min", "0.7"),
        ("fidelity_check_weeks", "3"),
    ];
    let up: &[(&str, &str)] = &[
        ("attendance_watch_rate", "0.06"),
        ("chronic_absence_rate", "0.12"),
        ("severe_absence_rate", "0.25"),
        ("low_gpa", "2.5"),
        ("benchmark_percentile", "30"),
        ("well_below_percentile", "12"),
        ("referrals_repeated", "3"),
        ("referrals_frequent", "8"),
        ("suspensions_repeated", "3"),
        ("sel_need_t_score", "45"),
        ("on_track_percentile", "55"),
        ("sel_strength_t_score", "65"),
        ("nonresponse_weeks", "8"),
        ("min_points", "6"),
        ("points_in_a_row", "5"),
        ("fidelity_min", "0.9"),
        ("fidelity_check_weeks", "5"),
    ];
    let moved: BTreeSet<&str> = up.iter().map(|(n, _)| *n).collect();
    let pinned = ["course_failures_min", "core_failures_multiple"];
    for name in rules().params.keys() {
        assert!(
            moved.contains(name.as_str()) || pinned.contains(&name.as_str()),
            "new threshold `{name}`: add it to this test's moves"
        );
    }
    for moves in [down, up] {
        let rs = with_params(moves);
        let report = intervene::ruletest::run(&rs, evaluator());
        assert!(
            report.ok(),
            "{moves:?}: {:#?}\n{:#?}",
            report.failures,
            report.diagnostics
        );
        assert!(report.passed > 100, "{}", report.passed);
    }
    // And the test can fail: a case that pins a number breaks when its threshold moves.
    let mut files = with_params(&[("low_gpa", "2.5")]).files;
    let tests = files.get_mut("tests/academic.yaml").expect("shipped");
    *tests = tests.replacen("gpa: {param: low_gpa, plus: 0.01}", "gpa: 2.01", 1);
    let rs = RuleSet::from_files(files).expect("loads");
    assert_eq!(intervene::ruletest::run(&rs, evaluator()).failures.len(), 1);
}

/// A rule test file with one case whose record is `record` (YAML flow mapping).
fn run_case(record: &str) -> intervene::ruletest::Report {
    let mut files = rules().files.clone();
    files.retain(|name, _| !name.starts_with("tests/"));
    files.insert(
        "tests/one.yaml".into(),
        format!("cases:\n  - name: one\n    record: {record}\n    expect:\n      fired: []\n"),
    );
    let rs = RuleSet::from_files(files).expect("loads");
    intervene::ruletest::run(&rs, evaluator())
}

#[test]
fn a_param_value_is_the_threshold_and_plus_moves_it() {
    // At low_gpa the GPA is low; `plus: 0.01` is just above it.
    let at = run_case("{student_id: T1, gpa: {param: low_gpa}}");
    assert_eq!(at.failures.len(), 1, "{at:#?}");
    assert!(
        at.failures[0].differences[0].contains("fired but not expected: low-gpa"),
        "{at:#?}"
    );
    let above = run_case("{student_id: T1, gpa: {param: low_gpa, plus: 0.01}}");
    assert!(above.ok(), "{above:#?}");
}

#[test]
fn a_param_value_with_times_is_rounded_to_the_threshold() {
    // 100 − 100 × 0.1 is 90 exactly, so the absence rate is exactly chronic.
    let r = run_case(
        "{student_id: T1, attendance: {days_enrolled: 100, days_present: {param: chronic_absence_rate, times: -100, plus: 100}}}",
    );
    assert_eq!(r.failures.len(), 1, "{r:#?}");
    assert!(
        r.failures[0].differences[0].contains("fired but not expected: chronic-absence"),
        "{r:#?}"
    );
}

/// The diagnostic `run_case(record)` gives: (line, column, message, hint).
fn case_diagnostic(record: &str) -> (usize, usize, String, Option<String>) {
    let r = run_case(record);
    assert!(!r.ok());
    let d = r.diagnostics.first().unwrap_or_else(|| panic!("{r:#?}"));
    assert_eq!(d.file, "tests/one.yaml");
    (d.line, d.column, d.message.clone(), d.hint.clone())
}

#[test]
fn an_unknown_param_in_a_rule_test_is_located_with_a_suggestion() {
    let (line, col, msg, hint) = case_diagnostic("{student_id: T1, gpa: {param: low_gap}}");
    assert_eq!((line, col), (3, 43));
    assert_eq!(msg, "unknown param `low_gap`");
    assert_eq!(hint.as_deref(), Some("did you mean `low_gpa`?"));
}

#[test]
fn a_malformed_param_value_in_a_rule_test_is_located() {
    let (line, col, msg, _) =
        case_diagnostic("{student_id: T1, gpa: {param: low_gpa, plus: lots}}");
    assert_eq!(
        (line, col, msg.as_str()),
        (3, 58, "`plus` must be a number")
    );
    let (line, col, msg, hint) =
        case_diagnostic("{student_id: T1, gpa: {param: low_gpa, pluss: 1}}");
    assert_eq!(
        (line, col, msg.as_str()),
        (3, 52, "unknown key `pluss` in a param value")
    );
    assert_eq!(hint.as_deref(), Some("did you mean `plus`?"));
    let (_, _, msg, _) =
        case_diagnostic("{student_id: T1, gpa: {param: low_gpa, times: 1e308, plus: 1e308}}");
    assert!(msg.contains("not a finite number"), "{msg}");
}
