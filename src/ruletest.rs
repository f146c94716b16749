//! Rule tests: `tests/*.yaml` in a rule set, each case a record (with, optionally, the
//! student's `plans:` and `history:` facts) and the flags it must (and must not)
//! produce. Run by `intervene test`, and before a rule set is published.
//!
//! A number in a case's record, `plans:` or `history:` may name a threshold instead:
//! `gpa: {param: low_gpa}` is the value of `params.low_gpa`, and `gpa: {param: low_gpa,
//! plus: 0.01}` just above it; `times:` scales it first (`days_present: {param:
//! chronic_absence_rate, times: -100, plus: 100}`). The result is rounded to 12
//! significant digits, so `0.1 × 100` is exactly 10. A boundary test written this way
//! moves with its threshold, and a counselor who changes a threshold does not have to
//! edit the tests.

use std::collections::BTreeSet;

use crate::engine::{Decision, Evaluator};
use crate::record::facts::{DOMAINS, HISTORY_FACTS, PLAN_FACTS};
use crate::record::{FieldKind, FieldSpec, HistoryFacts, Value, record_from_value};
use crate::rules::diag::suggest;
use crate::rules::yaml::{self, Kind, Node};
use crate::rules::{Diagnostic, Domain, RuleSet};

/// What one case expects.
#[derive(Debug, Clone, Default)]
struct Expect {
    fired: Option<BTreeSet<String>>,
    /// Exactly these strengths hold, when given.
    strengths: Option<BTreeSet<String>>,
    not_fired: BTreeSet<String>,
    tiers: Vec<(Domain, u8)>,
    recommend: BTreeSet<String>,
    insufficient_data: BTreeSet<String>,
}

/// One failing case: where it is and what differed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub file: String,
    pub line: usize,
    pub name: String,
    pub differences: Vec<String>,
}

/// The outcome of a rule set's tests.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub passed: usize,
    pub failures: Vec<Failure>,
    /// Problems in the test files themselves (they count as failures).
    pub diagnostics: Vec<Diagnostic>,
    /// Enabled rules that no case sees fire, or no case sees stay quiet.
    pub uncovered: Vec<String>,
}

impl Report {
    pub fn failed(&self) -> usize {
        self.failures.len() + self.diagnostics.iter().filter(|d| d.is_error()).count()
    }

    pub fn ok(&self) -> bool {
        self.failed() == 0
    }
}

const CASE_KEYS: [&str; 5] = ["name", "record", "plans", "history", "expect"];
const EXPECT_KEYS: [&str; 6] = [
    "fired",
    "strengths",
    "not_fired",
    "tiers",
    "recommend",
    "insufficient_data",
];

/// Run every case of every test file of `rules`.
pub fn run(rules: &RuleSet, evaluator: &Evaluator) -> Report {
    let mut report = Report::default();
    let mut fired_somewhere = BTreeSet::new();
    let mut quiet_somewhere = BTreeSet::new();
    for (file, text) in rules.test_files() {
        let root = match yaml::parse(text) {
            Ok(Some(root)) => root,
            Ok(None) => continue,
            Err(errors) => {
                for e in errors {
                    report
                        .diagnostics
                        .push(Diagnostic::error(file, e.line, e.col, e.message).with_source(text));
                }
                continue;
            }
        };
        let mut ctx = Ctx {
            file,
            text,
            rules,
            diags: &mut report.diagnostics,
        };
        for Case {
            line,
            name,
            record,
            history,
            expect,
        } in ctx.cases(&root)
        {
            let record = match record_from_value(record) {
                Ok(r) => r,
                Err(e) => {
                    ctx.diags.push(
                        Diagnostic::error(
                            file,
                            line,
                            1,
                            format!("case `{name}`: invalid record: {e}"),
                        )
                        .with_source(text),
                    );
                    continue;
                }
            };
            let d = evaluator.evaluate_with_history(
                rules,
                &record,
                &history,
                "test".into(),
                "test".into(),
            );
            for r in rules.rules.iter().filter(|r| r.enabled) {
                if d.fired().chain(d.noted()).any(|id| id == r.id) {
                    fired_somewhere.insert(r.id.clone());
                } else if !d.insufficient_data.contains(&r.id) {
                    quiet_somewhere.insert(r.id.clone());
                }
            }
            let differences = compare(&d, &expect);
            if differences.is_empty() {
                report.passed += 1;
            } else {
                report.failures.push(Failure {
                    file: file.to_string(),
                    line,
                    name,
                    differences,
                });
            }
        }
    }
    for r in rules.rules.iter().filter(|r| r.enabled) {
        if !fired_somewhere.contains(&r.id) || !quiet_somewhere.contains(&r.id) {
            report.uncovered.push(r.id.clone());
        }
    }
    report
}

fn compare(d: &Decision, e: &Expect) -> Vec<String> {
    let mut out = Vec::new();
    let fired: BTreeSet<String> = d.fired().map(str::to_string).collect();
    if let Some(want) = &e.fired {
        let missing: Vec<_> = want.difference(&fired).cloned().collect();
        let extra: Vec<_> = fired.difference(want).cloned().collect();
        if !missing.is_empty() {
            out.push(format!(
                "expected to fire but did not: {}",
                missing.join(", ")
            ));
        }
        if !extra.is_empty() {
            out.push(format!("fired but not expected: {}", extra.join(", ")));
        }
    }
    if let Some(want) = &e.strengths {
        let noted: BTreeSet<String> = d.noted().map(str::to_string).collect();
        let missing: Vec<_> = want.difference(&noted).cloned().collect();
        let extra: Vec<_> = noted.difference(want).cloned().collect();
        if !missing.is_empty() {
            out.push(format!(
                "expected as a strength but not noted: {}",
                missing.join(", ")
            ));
        }
        if !extra.is_empty() {
            out.push(format!(
                "noted as a strength but not expected: {}",
                extra.join(", ")
            ));
        }
    }
    let fired: BTreeSet<String> = fired
        .into_iter()
        .chain(d.noted().map(str::to_string))
        .collect();
    let wrongly: Vec<_> = e.not_fired.intersection(&fired).cloned().collect();
    if !wrongly.is_empty() {
        out.push(format!("fired but expected not to: {}", wrongly.join(", ")));
    }
    for (domain, tier) in &e.tiers {
        let got = d.tiers.get(domain).copied().unwrap_or(0);
        if got != *tier {
            out.push(format!("tier for {domain}: expected {tier}, got {got}"));
        }
    }
    let recommended: BTreeSet<&str> = d
        .recommendations
        .iter()
        .map(|r| r.intervention.as_str())
        .collect();
    let missing: Vec<_> = e
        .recommend
        .iter()
        .filter(|r| !recommended.contains(r.as_str()))
        .cloned()
        .collect();
    if !missing.is_empty() {
        out.push(format!("not recommended: {}", missing.join(", ")));
    }
    let missing: Vec<_> = e
        .insufficient_data
        .iter()
        .filter(|r| !d.insufficient_data.contains(r))
        .cloned()
        .collect();
    if !missing.is_empty() {
        out.push(format!(
            "not listed as insufficient_data: {}",
            missing.join(", ")
        ));
    }
    for err in &d.rule_errors {
        out.push(format!("rule error in {}: {}", err.rule_id, err.error));
    }
    out
}

/// One case as read from its file.
struct Case {
    line: usize,
    name: String,
    record: serde_json::Value,
    history: HistoryFacts,
    expect: Expect,
}

struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
    rules: &'a RuleSet,
    diags: &'a mut Vec<Diagnostic>,
}

impl Ctx<'_> {
    fn error(&mut self, node: &Node, msg: String, hint: Option<String>) {
        let mut d =
            Diagnostic::error(self.file, node.pos.line, node.pos.col, msg).with_source(self.text);
        d.hint = hint;
        self.diags.push(d);
    }

    fn map<'n>(
        &mut self,
        node: &'n Node,
        allowed: &[&str],
        what: &str,
    ) -> Vec<(&'n str, &'n Node)> {
        let Kind::Map(entries) = &node.kind else {
            self.error(node, format!("{what} must be a mapping"), None);
            return Vec::new();
        };
        let mut out = Vec::new();
        for (k, v) in entries {
            let key = k.as_str().unwrap_or_default();
            if allowed.contains(&key) {
                out.push((key, v));
            } else {
                self.error(
                    k,
                    format!("unknown key `{key}` in {what}"),
                    Some(suggest(key, allowed.iter().copied())),
                );
            }
        }
        out
    }

    fn cases(&mut self, root: &Node) -> Vec<Case> {
        let mut out = Vec::new();
        let top = self.map(root, &["cases"], "a rule test file");
        let Some((_, list)) = top.into_iter().find(|(k, _)| *k == "cases") else {
            return out;
        };
        let Kind::Seq(items) = &list.kind else {
            self.error(list, "`cases` must be a list".into(), None);
            return out;
        };
        for item in items {
            let fields = self.map(item, &CASE_KEYS, "a test case");
            let get = |k: &str| fields.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
            let name = get("name")
                .and_then(Node::as_str)
                .unwrap_or("unnamed case")
                .to_string();
            let (Some(record), Some(expect)) = (get("record"), get("expect")) else {
                self.error(
                    item,
                    format!("case `{name}` needs `record` and `expect`"),
                    None,
                );
                continue;
            };
            let before = self.diags.len();
            let mut history = HistoryFacts::new();
            if let Some(plans) = get("plans") {
                self.facts(plans, "plans", &mut history);
            }
            if let Some(h) = get("history") {
                self.facts(h, "history", &mut history);
            }
            let facts_ok = self.diags.len() == before;
            if let Some(expect) = self.expect(expect)
                && facts_ok
            {
                let Some(record) = self.resolve(record) else {
                    continue;
                };
                out.push(Case {
                    line: item.pos.line,
                    name,
                    record,
                    history,
                    expect,
                });
            }
        }
        out
    }

    /// A case's `plans:` (plan key → facts) or `history:` (domain → facts) block,
    /// into `out` as `plans.<key>.<fact>` / `history.<domain>.<fact>`.
    fn facts(&mut self, node: &Node, section: &str, out: &mut HistoryFacts) {
        let (what, table) = if section == "plans" {
            ("`plans`", PLAN_FACTS)
        } else {
            ("`history`", HISTORY_FACTS)
        };
        let Kind::Map(keys) = &node.kind else {
            self.error(
                node,
                format!("{what} must map a domain to its facts, like `academic: {{tier: 2}}`"),
                None,
            );
            return;
        };
        for (k, facts) in keys {
            let key = k.as_str().unwrap_or_default();
            let known = DOMAINS.contains(&key)
                || (section == "plans" && self.rules.intervention(key).is_some());
            if !known {
                let names = DOMAINS.iter().copied().chain(
                    self.rules
                        .interventions
                        .iter()
                        .filter(|_| section == "plans")
                        .map(|i| i.id.as_str()),
                );
                self.error(
                    k,
                    format!(
                        "unknown {} `{key}` in {what}",
                        if section == "plans" { "plan" } else { "domain" }
                    ),
                    Some(suggest(key, names)),
                );
                continue;
            }
            let allowed: Vec<&str> = table.iter().map(|f| f.path).collect();
            for (name, v) in self.map(facts, &allowed, &format!("{what} of `{key}`")) {
                let Some(spec) = table.iter().find(|f| f.path == name) else {
                    continue;
                };
                let Some(json) = self.resolve(v) else {
                    continue;
                };
                match fact_value(spec, &json) {
                    Some(value) => out.insert(format!("{section}.{key}.{name}"), value),
                    None => self.error(v, format!("`{name}` must be {}", kind_words(spec)), None),
                }
            }
        }
    }

    /// `node` as JSON, with every `{param: NAME, times: T, plus: P}` mapping replaced by
    /// `params.NAME × T + P`; `None` (with a diagnostic) when one names no param or is
    /// malformed.
    fn resolve(&mut self, node: &Node) -> Option<serde_json::Value> {
        use serde_json::Value as J;
        match &node.kind {
            Kind::Map(entries) if entries.iter().any(|(k, _)| k.as_str() == Some("param")) => {
                self.param_value(node, entries)
            }
            Kind::Map(entries) => {
                let mut out = serde_json::Map::new();
                let mut ok = true;
                for (k, v) in entries {
                    match self.resolve(v) {
                        Some(j) => {
                            out.insert(k.as_str().unwrap_or_default().to_string(), j);
                        }
                        None => ok = false,
                    }
                }
                ok.then_some(J::Object(out))
            }
            Kind::Seq(items) => {
                let resolved: Vec<Option<J>> = items.iter().map(|i| self.resolve(i)).collect();
                resolved
                    .into_iter()
                    .collect::<Option<Vec<J>>>()
                    .map(J::Array)
            }
            Kind::Scalar(..) => Some(yaml::to_json(node)),
        }
    }

    fn param_value(&mut self, node: &Node, entries: &[(Node, Node)]) -> Option<serde_json::Value> {
        const KEYS: [&str; 3] = ["param", "times", "plus"];
        let (mut value, mut times, mut plus) = (None, 1.0, 0.0);
        let mut ok = true;
        for (k, v) in entries {
            let key = k.as_str().unwrap_or_default();
            match key {
                "param" => {
                    let name = v.as_str().unwrap_or_default();
                    match self.rules.params.get(name) {
                        Some(p) => value = Some(p.as_f64()),
                        None => {
                            self.error(
                                v,
                                format!("unknown param `{name}`"),
                                Some(suggest(name, self.rules.params.keys().map(String::as_str))),
                            );
                            ok = false;
                        }
                    }
                }
                "times" | "plus" => match yaml::to_json(v).as_f64() {
                    Some(n) if key == "times" => times = n,
                    Some(n) => plus = n,
                    None => {
                        self.error(v, format!("`{key}` must be a number"), None);
                        ok = false;
                    }
                },
                _ => {
                    self.error(
                        k,
                        format!("unknown key `{key}` in a param value"),
                        Some(suggest(key, KEYS)),
                    );
                    ok = false;
                }
            }
        }
        let x = value.filter(|_| ok)? * times + plus;
        match param_number(x) {
            Some(j) => Some(j),
            None => {
                self.error(
                    node,
                    format!("this param value is {x}, not a finite number"),
                    None,
                );
                None
            }
        }
    }

    fn ids(&mut self, node: &Node, rules_only: bool) -> BTreeSet<String> {
        let Kind::Seq(items) = &node.kind else {
            self.error(
                node,
                "expected a list of ids, like `[chronic-absence]`".into(),
                None,
            );
            return BTreeSet::new();
        };
        let mut out = BTreeSet::new();
        for i in items {
            let id = i.as_str().unwrap_or_default().to_string();
            let known = if rules_only {
                self.rules.rule(&id).is_some()
            } else {
                self.rules.intervention(&id).is_some()
            };
            if !known {
                let hint = if rules_only {
                    suggest(&id, self.rules.rules.iter().map(|r| r.id.as_str()))
                } else {
                    suggest(&id, self.rules.interventions.iter().map(|r| r.id.as_str()))
                };
                let what = if rules_only { "rule" } else { "intervention" };
                self.error(i, format!("unknown {what} `{id}`"), Some(hint));
            }
            out.insert(id);
        }
        out
    }

    fn expect(&mut self, node: &Node) -> Option<Expect> {
        let mut e = Expect::default();
        let before = self.diags.len();
        for (k, v) in self.map(node, &EXPECT_KEYS, "`expect`") {
            match k {
                "fired" => e.fired = Some(self.ids(v, true)),
                "strengths" => e.strengths = Some(self.ids(v, true)),
                "not_fired" => e.not_fired = self.ids(v, true),
                "insufficient_data" => e.insufficient_data = self.ids(v, true),
                "recommend" => e.recommend = self.ids(v, false),
                _ => {
                    let Kind::Map(entries) = &v.kind else {
                        self.error(
                            v,
                            "`tiers` must map domains to tiers, like `{attendance: 2}`".into(),
                            None,
                        );
                        continue;
                    };
                    for (dk, dv) in entries {
                        let name = dk.as_str().unwrap_or_default();
                        let tier = dv
                            .as_str()
                            .and_then(|s| s.parse::<u8>().ok())
                            .filter(|t| *t <= 3);
                        match (Domain::parse(name), tier) {
                            (Some(d), Some(t)) => e.tiers.push((d, t)),
                            (None, _) => self.error(
                                dk,
                                format!("unknown domain `{name}`"),
                                Some(suggest(name, Domain::ALL.iter().map(|d| d.as_str()))),
                            ),
                            (_, None) => self.error(dv, "tier must be 0, 1, 2 or 3".into(), None),
                        }
                    }
                }
            }
        }
        (self.diags.len() == before).then_some(e)
    }
}

/// `x` rounded to 12 significant digits (so float noise of `times` does not move a
/// boundary), as an integer when it is one, or `None` when it is not finite.
fn param_number(x: f64) -> Option<serde_json::Value> {
    if !x.is_finite() {
        return None;
    }
    let rounded: f64 = format!("{x:.11e}").parse().ok()?;
    let rounded = if rounded == 0.0 { 0.0 } else { rounded };
    if rounded.fract() == 0.0 && rounded.abs() < 9.0e15 {
        Some(serde_json::Value::from(rounded as i64))
    } else {
        serde_json::Number::from_f64(rounded).map(serde_json::Value::Number)
    }
}

/// A fact's value from its YAML, when it is of the fact's kind.
fn fact_value(spec: &FieldSpec, v: &serde_json::Value) -> Option<Value> {
    match (spec.kind, v) {
        (FieldKind::Flag, serde_json::Value::Bool(b)) => Some(Value::Bool(*b)),
        (FieldKind::Text, serde_json::Value::String(s)) => Some(Value::Text(s.clone())),
        (FieldKind::Number, serde_json::Value::Number(n)) => match n.as_i64() {
            Some(i) => Some(Value::Int(i)),
            None => n.as_f64().map(Value::Num),
        },
        _ => None,
    }
}

fn kind_words(spec: &FieldSpec) -> &'static str {
    match spec.kind {
        FieldKind::Flag => "true or false",
        FieldKind::Text => "text",
        _ => "a number",
    }
}
