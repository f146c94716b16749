//! Rules that read the student's plan and history facts (`student.plans.<key>.<fact>`,
//! `student.history.<domain>.<fact>`): when they fire, when they cannot be judged,
//! what their flags show, that native conditions and Rhai agree on them, and that a
//! decision made with them replays identically from the audit log.

use std::collections::BTreeSet;
use std::sync::Arc;

use intervene::audit::{Source, Store, decision_entry, decision_entry_in};
use intervene::engine::{Decision, Evaluator};
use intervene::lifecycle::{Registry, replay};
use intervene::record::{HistoryFacts, Record, Value};
use intervene::rules::RuleSet;

#[path = "support/shipped.rs"]
mod shipped;
use shipped::{evaluator, rules};

const PACK: &str = r#"description: Rules on plan facts, for the engine tests.
rules:
  - id: off-aim
    name: Off the aim line
    domain: academic
    tier: 2
    when: student.plans.academic.points_off_aim >= 4
    explain: "{student.plans.academic.points_off_aim} points off the aim of {student.plans.academic.intervention}, aim now {student.plans.academic.aim_now:.1}"
    recommend: [intensive-small-group]
  - id: reading-off-aim
    name: Off the aim line in small-group reading, after tier 1
    domain: academic
    tier: 2
    when: student.plans.small-group-reading.points_off_aim>=3 && student.history.academic.prev_tier == 1
    explain: "{student.plans.small-group-reading.points_off_aim} reading points off the aim after {student.history.academic.weeks_at_tier} weeks"
  - id: goal-reached
    name: Goal reached
    domain: academic
    tier: 1
    when: student.plans.academic.goal_met
    explain: "goal met"
  - id: short-of-goal-and-delivery
    name: Goal not met and delivery short
    domain: academic
    tier: 2
    when: student.plans.academic.goal_met == false && student.plans.academic.fidelity < 0.8
    explain: "{student.plans.academic.fidelity:%} delivered"
"#;

/// The shipped rule set with [`PACK`] added.
fn with_pack() -> RuleSet {
    let mut files = rules().files.clone();
    files.insert("history_rules.yaml".into(), PACK.into());
    RuleSet::from_files(files).unwrap_or_else(|e| panic!("the test pack does not load:\n{e}"))
}

fn student() -> Record {
    Record::empty("S-PLAN")
}

/// An academic tier 2 plan in small-group reading that the student does not respond
/// to, delivered in full, after 6 weeks.
fn nonresponding() -> HistoryFacts {
    let mut h = HistoryFacts::new();
    for (k, v) in [
        ("active", Value::Bool(true)),
        ("tier", Value::Int(2)),
        ("intervention", Value::Text("small-group-reading".into())),
        ("weeks_active", Value::Int(6)),
        ("data_points", Value::Int(6)),
        ("slope_per_week", Value::Num(0.4)),
        ("aim_gap", Value::Num(-5.0)),
        ("behind_aim", Value::Num(5.0)),
        ("aim_now", Value::Num(61.5)),
        ("points_off_aim", Value::Int(4)),
        ("points_on_track", Value::Int(0)),
        ("fidelity", Value::Num(1.0)),
        ("goal_met", Value::Bool(false)),
    ] {
        h.insert(format!("plans.academic.{k}"), v.clone());
        h.insert(format!("plans.small-group-reading.{k}"), v);
    }
    h.insert("history.academic.prev_tier", Value::Int(1));
    h.insert("history.academic.weeks_at_tier", Value::Int(7));
    h
}

fn eval(rules: &RuleSet, h: &HistoryFacts) -> Decision {
    let d = evaluator().evaluate_with_history(rules, &student(), h, "d".into(), "t".into());
    assert!(d.rule_errors.is_empty(), "{:?}", d.rule_errors);
    d
}

fn fired(d: &Decision) -> BTreeSet<&str> {
    d.fired().collect()
}

#[test]
fn a_rule_on_points_off_aim_fires_from_its_threshold() {
    let rs = with_pack();
    let d = eval(&rs, &nonresponding());
    assert!(fired(&d).contains("off-aim"), "{:?}", fired(&d));
    let f = d.flags.iter().find(|f| f.rule_id == "off-aim").unwrap();
    assert_eq!(
        f.explanation,
        "4 points off the aim of small-group-reading, aim now 61.5"
    );
    assert_eq!(f.inputs["student.plans.academic.points_off_aim"], 4);
    assert_eq!(f.inputs.len(), 1, "{:?}", f.inputs);
    assert_eq!(
        f.clears.as_deref(),
        Some("points in a row off the aim line below 4")
    );

    let mut three = nonresponding();
    three.insert("plans.academic.points_off_aim", Value::Int(3));
    let d = eval(&rs, &three);
    assert!(!fired(&d).contains("off-aim"));
    assert!(!d.insufficient_data.contains(&"off-aim".to_string()));
}

#[test]
fn without_the_fact_the_rule_is_insufficient_data() {
    let rs = with_pack();
    let d = eval(&rs, &HistoryFacts::new());
    for id in [
        "off-aim",
        "reading-off-aim",
        "goal-reached",
        "short-of-goal-and-delivery",
    ] {
        assert!(
            d.insufficient_data.contains(&id.to_string()),
            "{id}: {:?}",
            d.insufficient_data
        );
    }
    assert!(d.flags.is_empty());
    // The same without history support at all.
    let plain = evaluator().evaluate_with(&rs, &student(), "d".into(), "t".into());
    assert_eq!(plain, d);

    // A fact of the wrong kind is no value either.
    let mut wrong = nonresponding();
    wrong.insert("plans.academic.points_off_aim", Value::Text("four".into()));
    let d = eval(&rs, &wrong);
    assert!(d.insufficient_data.contains(&"off-aim".to_string()));
}

#[test]
fn a_plan_named_by_its_intervention_and_the_tier_history_are_read() {
    let rs = with_pack();
    let d = eval(&rs, &nonresponding());
    let f = d
        .flags
        .iter()
        .find(|f| f.rule_id == "reading-off-aim")
        .unwrap_or_else(|| panic!("reading-off-aim did not fire: {:?}", fired(&d)));
    assert_eq!(f.explanation, "4 reading points off the aim after 7 weeks");
    assert_eq!(
        f.inputs.keys().collect::<Vec<_>>(),
        [
            "student.history.academic.prev_tier",
            "student.plans.small-group-reading.points_off_aim"
        ]
    );
    let mut tier2 = nonresponding();
    tier2.insert("history.academic.prev_tier", Value::Int(2));
    assert!(!fired(&eval(&rs, &tier2)).contains("reading-off-aim"));
}

#[test]
fn yes_no_facts_bare_or_compared() {
    let rs = with_pack();
    let d = eval(&rs, &nonresponding());
    assert!(!fired(&d).contains("goal-reached"));
    assert!(!fired(&d).contains("short-of-goal-and-delivery"));
    let mut h = nonresponding();
    h.insert("plans.academic.goal_met", Value::Bool(true));
    assert!(fired(&eval(&rs, &h)).contains("goal-reached"));
    let mut h = nonresponding();
    h.insert("plans.academic.fidelity", Value::Num(0.79));
    let d = eval(&rs, &h);
    let f = d
        .flags
        .iter()
        .find(|f| f.rule_id == "short-of-goal-and-delivery")
        .unwrap();
    assert_eq!(f.explanation, "79% delivered");
    assert_eq!(f.inputs["student.plans.academic.goal_met"], false);
}

#[test]
fn rules_on_plan_facts_run_natively_and_agree_with_rhai() {
    let rs = with_pack();
    let scripted: Vec<&str> = rs
        .rules
        .iter()
        .filter(|r| r.reads_history() && !r.is_native())
        .map(|r| r.id.as_str())
        .collect();
    assert!(scripted.is_empty(), "fell back to Rhai: {scripted:?}");
    let rhai = Evaluator::scripted_only();
    for off in 2..6 {
        for fidelity in [0.5, 0.79, 0.8, 1.0] {
            for goal in [false, true] {
                for tier in [1, 2, 3] {
                    let mut h = nonresponding();
                    h.insert("plans.academic.points_off_aim", Value::Int(off));
                    h.insert("plans.academic.fidelity", Value::Num(fidelity));
                    h.insert("plans.academic.goal_met", Value::Bool(goal));
                    h.insert("plans.academic.tier", Value::Int(tier));
                    h.insert("history.academic.prev_tier", Value::Int(tier));
                    let native = eval(&rs, &h);
                    let scripted =
                        rhai.evaluate_with_history(&rs, &student(), &h, "d".into(), "t".into());
                    assert_eq!(native, scripted, "{off} {fidelity} {goal} {tier}");
                }
            }
        }
    }
}

#[test]
fn the_shipped_nonresponse_rule_explains_itself() {
    let d = eval(rules(), &nonresponding());
    let f = d
        .flags
        .iter()
        .find(|f| f.rule_id == "tier2-nonresponse")
        .unwrap_or_else(|| panic!("tier2-nonresponse did not fire: {:?}", fired(&d)));
    assert_eq!(
        f.explanation,
        "small-group-reading: 4 progress points in a row on the wrong side of the aim line; the newest is 5 behind the aim (aim now 61.5) after 6 weeks with 100% of sessions delivered"
    );
    assert_eq!(f.tier, 3);
    assert_eq!(d.recommendations[0].intervention, "intensive-academic-plan");
    assert!(rules().reads_history());
    assert!(
        rules()
            .history_paths()
            .contains(&"plans.academic.aim_now".to_string()),
        "facts only the explanation names are read too"
    );
}

#[test]
fn a_decision_made_with_history_replays_identically_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("audit"), None).unwrap();
    let ev = Arc::new(Evaluator::new());
    let registry = Registry::open(rules().clone(), dir.path(), store.clone(), ev.clone()).unwrap();

    let mut h = nonresponding();
    // Facts no rule reads are not kept.
    h.insert("plans.tutoring.weeks_active", Value::Int(3));
    let record = student();
    let d = ev.evaluate_with_history(
        rules(),
        &record,
        &h,
        "D1".into(),
        "2026-11-20T00:00:00Z".into(),
    );
    assert!(fired(&d).contains("tier2-nonresponse"));
    let entry = decision_entry_in(&d, &record, Some(&h), rules(), Source::Api, "t", "r");
    let seq = store.append_blocking(entry).unwrap().seq;
    let logged = store.get(seq).unwrap().unwrap();
    let kept = logged.payload["history"].as_object().unwrap();
    assert_eq!(kept["student.plans.academic.points_off_aim"], 4);
    assert_eq!(
        kept["student.plans.academic.intervention"],
        "small-group-reading"
    );
    assert!(!kept.contains_key("student.plans.tutoring.weeks_active"));
    assert!(kept.keys().all(|k| {
        rules()
            .history_paths()
            .iter()
            .any(|p| k == &format!("student.{p}"))
    }));

    let report = replay(&logged, &registry, &ev).unwrap();
    assert!(report.identical, "{:?}", report.differences);
    assert_eq!(report.replayed, d);
    // Without the kept facts the decision would differ: replay used them.
    let bare = ev.evaluate_with(rules(), &record, "D1".into(), "2026-11-20T00:00:00Z".into());
    assert_ne!(bare, d);

    // A student without plans: no `history` key, and still identical.
    let d2 = ev.evaluate_with(rules(), &record, "D2".into(), "2026-11-20T00:00:00Z".into());
    let seq2 = store
        .append_blocking(decision_entry(&d2, &record, rules(), Source::Api, "t", "r"))
        .unwrap()
        .seq;
    let logged2 = store.get(seq2).unwrap().unwrap();
    assert!(
        logged2.payload.get("history").is_none(),
        "{}",
        logged2.payload
    );
    assert!(replay(&logged2, &registry, &ev).unwrap().identical);
    store.shutdown();
}
