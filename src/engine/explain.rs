//! Explanations: the rendered `explain` text, the inputs a rule read, what would clear
//! a flag, and the readable report of `intervene eval --explain`.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::Decision;
use super::{Flag, Strength};
use crate::record::facts::Better;
use crate::record::{Facts, Value};
use crate::rules::expr::CmpOp;
use crate::rules::template::{Part, Source, Template, display_number, format_value};
use crate::rules::{Clearing, Rule, RuleSet};

pub(super) fn flag(rule: &Rule, rules: &RuleSet, facts: &Facts, values: &[Option<Value>]) -> Flag {
    Flag {
        rule_id: rule.id.clone(),
        domain: rule.domain,
        tier: rule.tier,
        explanation: render(&rule.explain, rules, facts),
        inputs: inputs(rule, rules, values),
        clears: clears(rule, facts),
    }
}

pub(super) fn strength(
    rule: &Rule,
    rules: &RuleSet,
    facts: &Facts,
    values: &[Option<Value>],
) -> Strength {
    Strength {
        rule_id: rule.id.clone(),
        domain: rule.domain,
        explanation: render(&rule.explain, rules, facts),
        inputs: inputs(rule, rules, values),
    }
}

/// The values a rule read (`student.…`) and the params it compares against.
fn inputs(
    rule: &Rule,
    rules: &RuleSet,
    values: &[Option<Value>],
) -> BTreeMap<String, serde_json::Value> {
    let mut inputs = BTreeMap::new();
    for (field, &slot) in rule.reads.iter().zip(&rule.read_slots) {
        let v = values[slot]
            .as_ref()
            .map_or(serde_json::Value::Null, Value::to_json);
        inputs.insert(field.full_path(), v);
    }
    for p in &rule.params_read {
        if let Some(param) = rules.params.get(p) {
            inputs.insert(
                format!("params.{p}"),
                serde_json::Value::Number(param.value.clone()),
            );
        }
    }
    inputs
}

/// A template (`explain`, or a `family` text) filled in from `facts` and the params.
pub fn render(template: &Template, rules: &RuleSet, facts: &Facts) -> String {
    let mut out = String::new();
    for part in &template.parts {
        match part {
            Part::Text(t) => out.push_str(t),
            Part::Value(Source::Student(f), fmt) => {
                out.push_str(&format_value(facts.get(f).as_ref(), *fmt))
            }
            Part::Value(Source::Param(p), fmt) => {
                let v = rules.params.get(p).map(|p| match p.value.as_i64() {
                    Some(i) => Value::Int(i),
                    None => Value::Num(p.as_f64()),
                });
                out.push_str(&format_value(v.as_ref(), *fmt));
            }
        }
    }
    out
}

/// "below 10% absence rate: 5 more days present in a row" and the like, for each
/// threshold comparison whose failing would be an improvement for the student.
fn clears(rule: &Rule, facts: &Facts) -> Option<String> {
    let parts: Vec<String> = rule
        .clearing
        .iter()
        .filter_map(|c| clearing_text(c, facts))
        .collect();
    (!parts.is_empty()).then(|| parts.join(", or "))
}

fn clearing_text(c: &Clearing, facts: &Facts) -> Option<String> {
    let spec = c.field.spec()?;
    let t = display_number(c.threshold, spec.percent);
    let phrase = match (spec.better, c.op) {
        (Better::Lower, CmpOp::Ge) => format!("{} below {t}", spec.label),
        (Better::Lower, CmpOp::Gt) => format!("{} at or below {t}", spec.label),
        (Better::Higher, CmpOp::Le) => format!("{} above {t}", spec.label),
        (Better::Higher, CmpOp::Lt) => format!("{} at {t} or more", spec.label),
        _ => return None,
    };
    if spec.path == "attendance.absence_rate"
        && let Some(days) = days_to_clear(facts, c)
    {
        return Some(format!(
            "{phrase}: {days} more day{} present in a row",
            if days == 1 { "" } else { "s" }
        ));
    }
    Some(phrase)
}

/// Most consecutive days present a "clears" text offers; past it the text only names
/// the threshold.
const MAX_DAYS_TO_CLEAR: f64 = 10_000.0;

/// Consecutive days present that bring the absence rate under the threshold, with
/// the days missed so far.
///
/// In closed form: with `a` days absent of `e` enrolled, `k` more days present give
/// the rate `a / (e + k)`, which clears a `>=` threshold `t` once `k > a/t - e` (a `>`
/// threshold once `k >= a/t - e`). Floating-point rounding can put the computed `k`
/// one off, so the answer is checked with the comparison itself: `k` must clear and
/// `k - 1` must not. A few steps either way settle it; nothing loops on the size of
/// the numbers (at 1e16 days, `k + 1.0 == k`).
fn days_to_clear(facts: &Facts, c: &Clearing) -> Option<u64> {
    let a = facts.record().attendance.as_ref()?;
    let absent = a.days_enrolled - a.days_present;
    let usable = c.threshold > 0.0 && absent > 0.0 && a.days_enrolled.is_finite();
    if !usable {
        return None;
    }
    let clears = |k: f64| {
        let rate = absent / (a.days_enrolled + k);
        if c.op == CmpOp::Ge {
            rate < c.threshold
        } else {
            rate <= c.threshold
        }
    };
    let estimate = absent / c.threshold - a.days_enrolled;
    if !estimate.is_finite() || estimate >= MAX_DAYS_TO_CLEAR + 2.0 {
        return None;
    }
    let mut k = estimate.floor().max(0.0);
    for _ in 0..4 {
        if clears(k) {
            break;
        }
        k += 1.0;
    }
    for _ in 0..4 {
        if k >= 1.0 && clears(k - 1.0) {
            k -= 1.0;
        }
    }
    let minimal = clears(k) && (k < 1.0 || !clears(k - 1.0));
    (minimal && (1.0..MAX_DAYS_TO_CLEAR).contains(&k)).then_some(k as u64)
}

/// The readable report of `intervene eval --explain`.
pub fn render_report(d: &Decision, rules: &RuleSet) -> String {
    let mut s = String::new();
    let n = d.flags.len();
    let _ = writeln!(
        s,
        "Student {} — {} flag{}",
        d.student_id,
        n,
        if n == 1 { "" } else { "s" }
    );
    let _ = writeln!(
        s,
        "  rule set {}  decision {}  at {}",
        short(&d.ruleset_version),
        d.decision_id,
        d.evaluated_at
    );
    let tiers: Vec<String> = d.tiers.iter().map(|(k, v)| format!("{k} {v}")).collect();
    let _ = writeln!(s, "  tiers: {}", tiers.join(", "));
    for f in &d.flags {
        let name = rules.rule(&f.rule_id).map_or("", |r| r.name.as_str());
        let _ = writeln!(
            s,
            "\n  [tier {}] {} — {} ({})",
            f.tier, f.rule_id, name, f.domain
        );
        let _ = writeln!(s, "    why: {}", f.explanation);
        if let Some(c) = &f.clears {
            let _ = writeln!(s, "    clears: {c}");
        }
        let inputs: Vec<String> = f.inputs.iter().map(|(k, v)| format!("{k} = {v}")).collect();
        let _ = writeln!(s, "    inputs: {}", inputs.join(", "));
        if let Some(refs) = rules
            .rule(&f.rule_id)
            .map(|r| &r.references)
            .filter(|r| !r.is_empty())
        {
            let _ = writeln!(s, "    source: {}", refs.join("; "));
        }
    }
    if !d.recommendations.is_empty() {
        let _ = writeln!(s, "\n  Recommended interventions:");
        for r in &d.recommendations {
            let name = rules
                .intervention(&r.intervention)
                .map_or("", |i| i.name.as_str());
            let _ = writeln!(
                s,
                "    - {} (tier {}): {} — because {}",
                r.intervention,
                r.tier,
                name,
                r.because.join(", ")
            );
        }
    }
    if !d.insufficient_data.is_empty() {
        let _ = writeln!(
            s,
            "\n  Not enough data for: {}",
            d.insufficient_data.join(", ")
        );
    }
    for e in &d.rule_errors {
        let _ = writeln!(s, "\n  Rule error in {}: {}", e.rule_id, e.error);
    }
    s
}

fn short(version: &str) -> &str {
    version.get(..19).unwrap_or(version)
}
