//! The design the project rejected, kept measurable: every record turned into a Rhai
//! object map, and the 16 default rules written as Rhai over that map.
//!
//! Each rule is its own compiled `AST` (as a rule set compiles one per rule), with the
//! thresholds of `rules/params.yaml` inlined as numbers, missing sections guarded with
//! `"attendance" in student`, and the derived indicators (absence rate, failing courses,
//! latest screener) computed in Rhai by shared helper functions instead of in Rust.
//!
//! The record becomes a `Dynamic` map through `rhai::serde::to_dynamic` over a parsed
//! `serde_json::Value` ([`student_map`]).

use rhai::{AST, Dynamic, Engine, Scope};
use serde_json::Value;

/// Helpers shared by the rules, called as methods so `this` is the student map, by
/// reference (a plain argument would copy the whole map on every call).
const HELPERS: &str = r#"
fn absence_rate() {
    if !("attendance" in this) { return (); }
    let enrolled = this.attendance.days_enrolled;
    let present = this.attendance.days_present;
    if enrolled == () || present == () || enrolled <= 0 { return (); }
    (enrolled.to_float() - present) / enrolled.to_float()
}

fn failing(core_only) {
    if !("courses" in this) { return (); }
    let n = 0;
    for c in this.courses {
        let failing = (c.grade_pct != () && c.grade_pct < 60) || c.letter == "F";
        if failing && (!core_only || c.subject == "math" || c.subject == "ela") { n += 1; }
    }
    n
}

fn latest_percentile(subject) {
    if !("assessments" in this) { return (); }
    let found = false;
    let date = "";
    let percentile = ();
    for a in this.assessments {
        if a.subject == subject && (!found || a.date >= date) {
            found = true;
            date = a.date;
            percentile = a.percentile;
        }
    }
    percentile
}

fn referrals() {
    if !("behavior" in this) { return (); }
    this.behavior.office_referrals
}

fn suspensions() {
    if !("behavior" in this) { return (); }
    let in_school = this.behavior.suspensions_in_school;
    let out_of_school = this.behavior.suspensions_out_of_school;
    if in_school == () && out_of_school == () { return (); }
    (if in_school == () { 0 } else { in_school }) + (if out_of_school == () { 0 } else { out_of_school })
}
"#;

/// The 16 default rules in file order, each a block so its `let`s do not outlive it.
const RULES: [(&str, &str); 16] = [
    (
        "attendance-watch",
        "{ let r = student.absence_rate(); r != () && r >= 0.05 && r < 0.10 }",
    ),
    (
        "chronic-absence",
        "{ let r = student.absence_rate(); r != () && r >= 0.10 && r < 0.20 }",
    ),
    (
        "severe-chronic-absence",
        "{ let r = student.absence_rate(); r != () && r >= 0.20 }",
    ),
    (
        "course-failure",
        "{ let n = student.failing(false); n != () && n >= 1 }",
    ),
    (
        "multiple-core-failures",
        "{ let n = student.failing(true); n != () && n >= 2 }",
    ),
    ("low-gpa", r#"{ "gpa" in student && student.gpa <= 2.0 }"#),
    (
        "reading-below-benchmark",
        r#"{ let p = student.latest_percentile("reading"); p != () && p > 10 && p < 25 }"#,
    ),
    (
        "reading-well-below-benchmark",
        r#"{ let p = student.latest_percentile("reading"); p != () && p <= 10 }"#,
    ),
    (
        "math-below-benchmark",
        r#"{ let p = student.latest_percentile("math"); p != () && p > 10 && p < 25 }"#,
    ),
    (
        "math-well-below-benchmark",
        r#"{ let p = student.latest_percentile("math"); p != () && p <= 10 }"#,
    ),
    (
        "abc-off-track",
        "{
            let r = student.absence_rate();
            let core = student.failing(true);
            let refs = student.referrals();
            let susp = student.suspensions();
            r != () && core != () && refs != () && susp != ()
                && r >= 0.10 && core >= 1 && (refs >= 2 || susp >= 1)
        }",
    ),
    (
        "repeated-referrals",
        "{ let n = student.referrals(); n != () && n >= 2 && n < 6 }",
    ),
    (
        "frequent-referrals",
        "{ let n = student.referrals(); n != () && n >= 6 }",
    ),
    (
        "suspension",
        "{ let n = student.suspensions(); n != () && n >= 1 && n < 2 }",
    ),
    (
        "repeated-suspensions",
        "{ let n = student.suspensions(); n != () && n >= 2 }",
    ),
    (
        "sel-need-for-instruction",
        r#"{ "sel" in student && student.sel.t_score != () && student.sel.t_score <= 40 }"#,
    ),
];

/// A compiled naive rule set: one engine, one `AST` per rule.
pub struct NaiveRules {
    engine: Engine,
    rules: Vec<(&'static str, AST)>,
}

impl NaiveRules {
    /// Compiles the 16 rules on an engine with the usual sandbox limits.
    pub fn new() -> Self {
        let mut engine = Engine::new();
        engine
            .set_max_operations(100_000)
            .set_max_call_levels(16)
            .set_max_expr_depths(64, 32)
            .set_max_string_size(10_000)
            .set_max_array_size(10_000)
            .set_max_map_size(10_000);
        let rules = RULES
            .iter()
            .map(|&(id, body)| {
                let ast = engine
                    .compile(format!("{HELPERS}\n{body}"))
                    .unwrap_or_else(|e| panic!("naive rule `{id}` does not compile: {e}"));
                (id, ast)
            })
            .collect();
        Self { engine, rules }
    }

    /// Ids of the rules that fire for `student` (a map from [`student_map`]), in file
    /// order. These rules are written never to error, so an error is a bug here: it panics.
    pub fn fired(&self, student: Dynamic) -> Vec<&'static str> {
        let mut scope = Scope::new();
        scope.push("student", student);
        self.rules
            .iter()
            .filter(|(id, ast)| {
                self.engine
                    .eval_ast_with_scope::<bool>(&mut scope, ast)
                    .unwrap_or_else(|e| panic!("naive rule `{id}` failed: {e}"))
            })
            .map(|&(id, _)| id)
            .collect()
    }
}

/// The record as a Rhai object map, the way the rejected design bound it per evaluation.
pub fn student_map(record: &Value) -> Dynamic {
    rhai::serde::to_dynamic(record).expect("a JSON value converts to a Rhai value")
}
