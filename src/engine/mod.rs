//! Evaluation of a record against a compiled rule set, in the sandbox.
//!
//! One [`Evaluator`] (a Rhai engine with every limit set) is shared by all threads.
//! Per record, the values the rule set reads are computed once in Rust and pushed
//! into a Rhai scope as constants (`_s0`, `_s1`, …; see `rules::expr`); params are
//! pushed the same way. A rule whose inputs are missing is not run: it is listed
//! under `insufficient_data`, because Rhai turns `()` comparisons into surprising
//! truths (`() != 0.5` is true). A rule that errs or is stopped by a limit is listed
//! under `rule_errors`, and every other rule still runs.

mod decision;
mod explain;

use rhai::{Dynamic, EvalAltResult, Scope};

pub use decision::{Decision, Flag, Recommendation, RuleError, Strength};
pub use explain::{render, render_report};

/// Where the plan and history facts of a record come from when it is evaluated for
/// real (the service's plan and caseload stores); [`NoHistory`] where there is no
/// past to read (a file evaluated on the command line, a test).
pub trait History: Send + Sync {
    /// The facts `rules` read about `record`'s student (empty when it reads none).
    fn facts(&self, rules: &RuleSet, record: &Record) -> crate::record::HistoryFacts;
}

/// No past: every plan and history fact is missing.
pub struct NoHistory;

impl History for NoHistory {
    fn facts(&self, _: &RuleSet, _: &Record) -> crate::record::HistoryFacts {
        crate::record::HistoryFacts::default()
    }
}

use crate::record::{Facts, HistoryFacts, Record, Value};
use crate::rules::sandbox::{self, Limits, Stop, to_dynamic};
use crate::rules::{Domain, Rule, RuleKind, RuleSet};

/// The sandboxed evaluator. Cheap to share (`Send + Sync`).
pub struct Evaluator {
    engine: rhai::Engine,
    limits: Limits,
    /// Run threshold-only conditions natively (see `rules::native`); off only to
    /// compare with Rhai in tests and benchmarks.
    native: bool,
}

impl Default for Evaluator {
    fn default() -> Self {
        Self::new()
    }
}

impl Evaluator {
    pub fn new() -> Self {
        Self::with_limits(Limits::default())
    }

    pub fn with_limits(limits: Limits) -> Self {
        Evaluator {
            engine: sandbox::engine(&limits),
            limits,
            native: true,
        }
    }

    /// An evaluator that runs every condition in Rhai, even threshold-only ones.
    /// The answers are the same; this exists to show it, and to measure the difference.
    pub fn scripted_only() -> Self {
        Evaluator {
            native: false,
            ..Self::new()
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Evaluate with a fresh decision id and the current time.
    pub fn evaluate(&self, rules: &RuleSet, record: &Record) -> Decision {
        let id = ulid::Ulid::generate().to_string();
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        self.evaluate_with(rules, record, id, now)
    }

    /// [`Evaluator::evaluate`] with the student's plan and history facts.
    pub fn evaluate_in(
        &self,
        rules: &RuleSet,
        record: &Record,
        history: &HistoryFacts,
    ) -> Decision {
        let id = ulid::Ulid::generate().to_string();
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        self.evaluate_with_history(rules, record, history, id, now)
    }

    /// Evaluate with a given id and timestamp: the result depends on nothing else.
    /// Rules that read plan or history facts land in `insufficient_data`.
    pub fn evaluate_with(
        &self,
        rules: &RuleSet,
        record: &Record,
        decision_id: String,
        evaluated_at: String,
    ) -> Decision {
        self.evaluate_with_history(
            rules,
            record,
            &HistoryFacts::default(),
            decision_id,
            evaluated_at,
        )
    }

    /// Evaluate with a given id, timestamp and the student's plan and history facts:
    /// the result depends on nothing else.
    pub fn evaluate_with_history(
        &self,
        rules: &RuleSet,
        record: &Record,
        history: &HistoryFacts,
        decision_id: String,
        evaluated_at: String,
    ) -> Decision {
        let facts = Facts::with_history(record, history);
        // Plan and history facts come last among the slots: a student without any
        // (no plans, no earlier decision) computes only the record's, and a rule
        // reading a slot past the end is insufficient data like any missing value.
        let computed = if history.is_empty() {
            rules.first_history_slot
        } else {
            rules.slots.len()
        };
        let values: Vec<Option<Value>> = rules.slots[..computed]
            .iter()
            .zip(&rules.slot_paths)
            .map(|(f, path)| match path {
                Some(path) => facts.history_value(f, path),
                None => facts.get(f),
            })
            .collect();
        // The Rhai scope is built only when a rule needs the script engine.
        let mut scope: Option<Scope> = None;
        let mut d = Decision {
            decision_id,
            student_id: record.student_id.clone(),
            evaluated_at,
            ruleset_version: rules.version.clone(),
            flags: Vec::new(),
            recommendations: Vec::new(),
            tiers: Domain::ALL.iter().map(|d| (*d, 0)).collect(),
            insufficient_data: Vec::with_capacity(rules.rules.len()),
            rule_errors: Vec::new(),
            strengths: Vec::new(),
        };
        for rule in rules.rules.iter().filter(|r| r.enabled) {
            if rule
                .read_slots
                .iter()
                .any(|&s| values.get(s).is_none_or(Option::is_none))
            {
                d.insufficient_data.push(rule.id.clone());
                continue;
            }
            let outcome = match (&rule.native, self.native) {
                (Some(n), true) => {
                    let slot = |i: usize| values[i].as_ref().map_or(f64::NAN, native_number);
                    let param = |i: usize| rules.param_numbers[i];
                    Ok(n.eval(&slot, &param))
                }
                _ => {
                    let scope = scope.get_or_insert_with(|| scope_for(rules, &values));
                    let base = scope.len();
                    let outcome = self.run(rule, scope);
                    scope.rewind(base);
                    outcome
                }
            };
            match outcome {
                Ok(true) if rule.kind == RuleKind::Strength => d
                    .strengths
                    .push(explain::strength(rule, rules, &facts, &values)),
                Ok(true) => d.flags.push(explain::flag(rule, rules, &facts, &values)),
                Ok(false) => {}
                Err(error) => d.rule_errors.push(RuleError {
                    rule_id: rule.id.clone(),
                    error,
                }),
            }
        }
        finish(&mut d, rules);
        d
    }

    fn run(&self, rule: &Rule, scope: &mut Scope) -> Result<bool, String> {
        let result = sandbox::with_deadline(&self.limits, || {
            self.engine.eval_ast_with_scope::<Dynamic>(scope, &rule.ast)
        });
        match result {
            Ok(v) => v
                .as_bool()
                .map_err(|t| format!("condition gave {t} instead of true or false")),
            Err(e) => Err(self.describe(&e)),
        }
    }

    fn ran_too_long(&self, stop: Stop) -> String {
        match stop {
            Stop::Operations => format!(
                "stopped: ran more than {} operations (is there an endless loop?)",
                self.limits.max_operations
            ),
            Stop::Deadline => format!(
                "stopped: ran longer than {} ms",
                self.limits.deadline_micros / 1000
            ),
        }
    }

    /// A sandbox stop or script error in words a counselor can act on.
    fn describe(&self, e: &EvalAltResult) -> String {
        let l = &self.limits;
        // A stop inside a function or closure arrives wrapped in the call.
        let mut e = e;
        while let EvalAltResult::ErrorInFunctionCall(_, _, inner, _)
        | EvalAltResult::ErrorInModule(_, inner, _) = e
        {
            e = inner;
        }
        match e {
            EvalAltResult::ErrorTooManyOperations(_) => self.ran_too_long(Stop::Operations),
            EvalAltResult::ErrorTerminated(token, _) => {
                self.ran_too_long(Stop::of_token(token).unwrap_or(Stop::Deadline))
            }
            EvalAltResult::ErrorStackOverflow(_) => {
                format!(
                    "stopped: function calls nested deeper than {}",
                    l.max_call_levels
                )
            }
            EvalAltResult::ErrorDataTooLarge(what, _) => format!(
                "stopped: {what} too large (limits: strings {} bytes, arrays {} items, maps {} entries)",
                l.max_string_size, l.max_array_size, l.max_map_size
            ),
            other => format!("failed: {other}"),
        }
    }
}

/// A value as native conditions read it: numbers as they are, yes/no as 1 or 0.
fn native_number(v: &Value) -> f64 {
    match v {
        Value::Bool(b) => f64::from(u8::from(*b)),
        other => other.as_f64().unwrap_or(f64::NAN),
    }
}

/// The record's values and the params as Rhai constants (`_s0`…, `_p0`…).
fn scope_for(rules: &RuleSet, values: &[Option<Value>]) -> Scope<'static> {
    let mut scope = Scope::with_capacity(rules.slot_names.len() + rules.param_slots.len());
    for (i, name) in rules.slot_names.iter().enumerate() {
        let v = values.get(i).and_then(Option::as_ref);
        scope.push_constant_dynamic(*name, v.map_or(Dynamic::UNIT, to_dynamic));
    }
    for (name, v) in rules.param_names.iter().zip(&rules.param_values) {
        scope.push_constant_dynamic(*name, v.clone());
    }
    scope
}

/// Merge recommendations per intervention and compute the highest tier per domain.
fn finish(d: &mut Decision, rules: &RuleSet) {
    for flag in &d.flags {
        let tier = d.tiers.entry(flag.domain).or_insert(0);
        *tier = (*tier).max(flag.tier);
        let Some(rule) = rules.rule(&flag.rule_id) else {
            continue;
        };
        for id in &rule.recommend {
            match d.recommendations.iter_mut().find(|r| &r.intervention == id) {
                Some(r) => r.because.push(rule.id.clone()),
                None => d.recommendations.push(Recommendation {
                    intervention: id.clone(),
                    tier: rules.intervention(id).map_or(rule.tier, |i| i.tier),
                    because: vec![rule.id.clone()],
                }),
            }
        }
    }
}
