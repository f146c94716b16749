//! Hostile rules: rule scripts are untrusted, so a runaway or greedy condition must be
//! stopped, reported under `rule_errors` with the limit it hit, and must not stop the
//! other rules of the set from firing.
//!
//! The loader tries each condition once on a sample record (GPA 2.1), so every hostile
//! rule here hides behind `student.gpa < 0.5`: it loads cleanly and only turns hostile
//! on the test record (GPA 0.2). The only timing assertion is a generous bound on the
//! whole evaluation, so that a hang fails the test instead of hanging CI.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use intervene::engine::{Decision, Evaluator};
use intervene::record::{Record, parse_record};
use intervene::rules::RuleSet;
use intervene::rules::sandbox::Limits;
use tempfile::TempDir;

#[path = "support/run.rs"]
mod run;
use run::run_with_timeout;

/// A hostile evaluation must finish well within this.
const BOUND: Duration = Duration::from_secs(5);

fn shipped() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("rules")
}

/// A rule-set directory with the shipped catalogue, measures, params, attendance and academic
/// packs and lib, plus `hostile.yaml` holding `rules` and any extra lib files.
fn rule_set_dir(hostile_rules: &str, lib: &[(&str, &str)]) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in [
        "interventions.yaml",
        "measures.yaml",
        "params.yaml",
        "attendance.yaml",
        "academic.yaml",
    ] {
        std::fs::copy(shipped().join(f), dir.path().join(f)).unwrap();
    }
    std::fs::create_dir(dir.path().join("lib")).unwrap();
    std::fs::copy(
        shipped().join("lib/helpers.rhai"),
        dir.path().join("lib/helpers.rhai"),
    )
    .unwrap();
    for (name, text) in lib {
        std::fs::write(dir.path().join("lib").join(name), text).unwrap();
    }
    std::fs::write(
        dir.path().join("hostile.yaml"),
        format!("rules:\n{hostile_rules}"),
    )
    .unwrap();
    dir
}

/// One rule in YAML; `when` is written as a literal block so any script fits.
fn rule(id: &str, when: &str) -> String {
    let body: String = when.lines().map(|l| format!("      {l}\n")).collect();
    format!(
        "  - id: {id}\n    name: Hostile {id}\n    domain: behavioral\n    tier: 1\n    when: |-\n{body}    explain: \"hostile\"\n"
    )
}

fn load(dir: &TempDir) -> RuleSet {
    RuleSet::load_dir(dir.path()).unwrap_or_else(|e| {
        panic!("hostile rule set should load (the probe does not reach the hostile part):\n{e}")
    })
}

/// Low GPA and chronically absent: `low-gpa`, `course-failure` and `chronic-absence`
/// fire, and the hostile guard `student.gpa < 0.5` is true.
fn victim() -> Record {
    parse_record(
        r#"{"student_id": "S-VICTIM", "gpa": 0.2,
            "attendance": {"days_enrolled": 64, "days_present": 54},
            "courses": [{"course_id": "ALG1", "subject": "math", "grade_pct": 41}]}"#,
    )
    .unwrap()
}

/// Evaluate on another thread; fail (rather than hang) if it takes longer than BOUND.
fn evaluate_bounded(rules: RuleSet, record: Record) -> (Decision, Duration) {
    evaluate_bounded_with(Limits::default(), rules, record)
}

fn evaluate_bounded_with(limits: Limits, rules: RuleSet, record: Record) -> (Decision, Duration) {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let start = Instant::now();
        let d = Evaluator::with_limits(limits).evaluate(&rules, &record);
        let _ = tx.send((d, start.elapsed()));
    });
    rx.recv_timeout(BOUND).unwrap_or_else(|_| {
        panic!("evaluation did not finish within {BOUND:?}: the sandbox let a rule run away")
    })
}

/// Load `hostile` (rule id `hostile`), evaluate the victim, and check the rule was
/// stopped with a reason containing every word of `reason`, while the normal rules
/// still fired.
fn assert_stopped(hostile_when: &str, lib: &[(&str, &str)], reason: &[&str]) -> Decision {
    assert_stopped_with(Limits::default(), hostile_when, lib, reason)
}

fn assert_stopped_with(
    limits: Limits,
    hostile_when: &str,
    lib: &[(&str, &str)],
    reason: &[&str],
) -> Decision {
    let dir = rule_set_dir(&rule("hostile", hostile_when), lib);
    let rules = load(&dir);
    let (d, took) = evaluate_bounded_with(limits, rules, victim());
    let err = d
        .rule_errors
        .iter()
        .find(|e| e.rule_id == "hostile")
        .unwrap_or_else(|| {
            panic!(
                "`hostile` is not in rule_errors (took {took:?}): {:?}; fired {:?}",
                d.rule_errors,
                d.fired().collect::<Vec<_>>()
            )
        });
    for word in reason {
        assert!(
            err.error.contains(word),
            "reason `{}` does not mention `{word}`",
            err.error
        );
    }
    assert_eq!(
        d.rule_errors.len(),
        1,
        "only the hostile rule errs: {:?}",
        d.rule_errors
    );
    let fired: Vec<&str> = d.fired().collect();
    for normal in ["low-gpa", "course-failure", "chronic-absence"] {
        assert!(
            fired.contains(&normal),
            "`{normal}` must still fire next to a hostile rule; fired {fired:?}"
        );
    }
    assert!(!fired.contains(&"hostile"));
    d
}

/// Limits with a deadline long enough that a size limit is reached first even in a
/// debug build (Rhai re-measures a growing array or map on every push, so 10,000
/// pushes take longer than the default 50 ms there).
fn patient() -> Limits {
    Limits {
        deadline_micros: 4_000_000,
        max_operations: 10_000_000,
        ..Limits::default()
    }
}

/// Default limits but a long deadline, so the operation limit is what stops a loop even
/// on a busy machine.
fn counted() -> Limits {
    Limits {
        deadline_micros: 4_000_000,
        ..Limits::default()
    }
}

/// With the default limits a growing collection is stopped by its size limit or, when
/// growing it is slow, by the deadline; either way the reason names the limit.
fn size_or_deadline(d: &Decision, size_words: &str) {
    let err = &d.rule_errors[0].error;
    assert!(
        err.contains(size_words) || err.contains("ran longer than 50 ms"),
        "{err}"
    );
}

#[test]
fn endless_loop_is_stopped_by_the_operation_limit() {
    let when = "student.gpa < 0.5 && { loop {} ; true }";
    assert_stopped_with(
        counted(),
        when,
        &[],
        &["stopped", "ran more than 100000 operations"],
    );
    assert_stopped(when, &[], &["stopped"]);
}

#[test]
fn endless_while_loop_with_arithmetic_is_stopped() {
    let when = "student.gpa < 0.5 && { let i = 0; while i >= 0 { i += 1; } ; true }";
    assert_stopped_with(
        counted(),
        when,
        &[],
        &["stopped", "ran more than 100000 operations"],
    );
    assert_stopped(when, &[], &["stopped"]);
}

#[test]
fn string_doubling_is_stopped_by_the_string_limit() {
    assert_stopped(
        r#"student.gpa < 0.5 && { let s = "ab"; loop { s += s; } ; true }"#,
        &[],
        &["stopped", "too large", "strings 16384 bytes"],
    );
}

#[test]
fn string_padding_in_one_call_is_stopped() {
    assert_stopped(
        r#"student.gpa < 0.5 && { let s = "x"; s.pad(100000000, "y"); s.len() > 0 }"#,
        &[],
        &["too large"],
    );
}

#[test]
fn deep_recursion_in_a_lib_function_is_stopped() {
    let lib = [(
        "dive.rhai",
        "// recurses without end\nfn dive(n) {\n    dive(n + 1) + 1\n}\n",
    )];
    assert_stopped(
        "student.gpa < 0.5 && dive(0) > 0",
        &lib,
        &["stopped", "nested deeper than 16"],
    );
}

#[test]
fn endless_loop_inside_a_lib_function_is_stopped() {
    let lib = [("spin.rhai", "fn spin() {\n    loop { }\n}\n")];
    assert_stopped_with(
        counted(),
        "student.gpa < 0.5 && spin()",
        &lib,
        &["stopped", "operations"],
    );
}

#[test]
fn huge_array_by_repeated_push_is_stopped() {
    let when =
        "student.gpa < 0.5 && { let a = []; for i in 0..1000000 { a.push(i); } ; a.len() > 0 }";
    assert_stopped_with(
        patient(),
        when,
        &[],
        &["stopped", "too large", "arrays 10000 items"],
    );
    size_or_deadline(
        &assert_stopped(when, &[], &["stopped"]),
        "arrays 10000 items",
    );
}

#[test]
fn huge_array_in_one_call_is_stopped() {
    assert_stopped(
        "student.gpa < 0.5 && { let a = []; a.pad(1000000, 0); a.len() > 0 }",
        &[],
        &["stopped", "too large", "arrays 10000 items"],
    );
}

#[test]
fn map_with_many_keys_is_stopped() {
    let when = r#"student.gpa < 0.5 && { let m = #{}; let i = 0; loop { m["k" + i] = i; i += 1; if m.len() < 0 { break; } } ; true }"#;
    assert_stopped_with(
        patient(),
        when,
        &[],
        &["stopped", "too large", "maps 1000 entries"],
    );
    size_or_deadline(
        &assert_stopped(when, &[], &["stopped"]),
        "maps 1000 entries",
    );
}

/// Rhai 1.27 checks the map size limit when a map is read, not on `m[key] = value`,
/// so a bounded loop can build a map past the limit (a known limitation, stated in
/// the README). An endless one is still stopped, by the wall-clock deadline.
#[test]
fn endless_map_growth_by_index_assignment_is_stopped() {
    let when = r#"student.gpa < 0.5 && { let m = #{}; let i = 0; loop { m["k" + i] = i; i += 1; } ; true }"#;
    assert_stopped(when, &[], &["stopped"]);
}

/// 10,000 elements, each running a 1,000-step loop in the closure: ~30M operations that
/// Rhai's operation counter does not see (closures run by `filter` count from a copy
/// of the counter), so only the wall-clock deadline stops it.
const FILTER_HOG: &str = "student.gpa < 0.5 && {\n  let a = [];\n  a.pad(10000, 0);\n  a.filter(|x| { let n = 0; for i in 0..1000 { n += i; } n > x }).len() > 0\n}";

/// 1,000 × 1,000 = 1M closure calls through nested filters.
const MILLION_CLOSURES: &str = "student.gpa < 0.5 && {\n  let a = [];\n  a.pad(1000, 1);\n  a.filter(|x| { let b = []; b.pad(1000, x); b.filter(|y| y == x).len() > 0 }).len() > 0\n}";

#[test]
fn long_filter_closure_is_stopped_by_the_wall_clock_deadline() {
    assert_stopped(FILTER_HOG, &[], &[]);
}

#[test]
fn a_million_filter_closure_calls_are_stopped() {
    assert_stopped(MILLION_CLOSURES, &[], &[]);
}

/// Limits where only the deadline can stop a rule.
fn clocked() -> Limits {
    Limits {
        max_operations: 0,
        ..Limits::default()
    }
}

#[test]
fn deadline_stop_inside_a_closure_names_the_deadline() {
    for when in [FILTER_HOG, MILLION_CLOSURES] {
        assert_stopped_with(clocked(), when, &[], &["stopped", "ran longer than 50 ms"]);
    }
}

/// Regression (issue 10): Rhai counted a closure's operations from a copy of its
/// caller's counter, so 10,000 closure calls of 3,000 operations each never reached
/// the 100,000-operation limit; only the clock could stop them.
#[test]
fn closure_work_counts_against_the_operation_limit() {
    for when in [FILTER_HOG, MILLION_CLOSURES] {
        assert_stopped_with(
            counted(),
            when,
            &[],
            &["stopped", "ran more than 100000 operations"],
        );
    }
}

#[test]
fn many_hostile_rules_in_one_set_are_each_reported() {
    let pack = [
        rule("spin", "student.gpa < 0.5 && { loop {} ; true }"),
        rule("grow-string", r#"student.gpa < 0.5 && { let s = "ab"; loop { s += s; } ; true }"#),
        rule("grow-array", "student.gpa < 0.5 && { let a = []; loop { a.push(1); } ; true }"),
        rule("grow-map", r#"student.gpa < 0.5 && { let m = #{}; let i = 0; loop { m["k" + i] = i; i += 1; } ; true }"#),
    ]
    .concat();
    let dir = rule_set_dir(&pack, &[]);
    let (d, _) = evaluate_bounded(load(&dir), victim());
    let errs: Vec<&str> = d.rule_errors.iter().map(|e| e.rule_id.as_str()).collect();
    assert_eq!(errs, ["spin", "grow-string", "grow-array", "grow-map"]);
    assert!(d.fired().any(|id| id == "chronic-absence"));
    assert_eq!(
        d.tiers[&intervene::rules::Domain::Behavioral],
        0,
        "an erring rule never raises a tier"
    );
}

#[test]
fn hostile_rule_does_not_affect_records_it_does_not_reach() {
    let dir = rule_set_dir(
        &rule("hostile", "student.gpa < 0.5 && { loop {} ; true }"),
        &[],
    );
    let rules = load(&dir);
    let fine = parse_record(r#"{"student_id": "S-FINE", "gpa": 3.2}"#).unwrap();
    let (d, _) = evaluate_bounded(rules, fine);
    assert!(d.rule_errors.is_empty(), "{:?}", d.rule_errors);
}

#[test]
fn eval_is_refused_at_load() {
    let dir = rule_set_dir(
        &rule("uses-eval", r#"student.gpa < 0.5 && eval("1 + 1 == 2")"#),
        &[],
    );
    let e = RuleSet::load_dir(dir.path()).expect_err("a condition calling eval must not load");
    let text = e.to_string();
    assert!(
        text.contains("hostile.yaml"),
        "the diagnostic names the file: {text}"
    );
    assert!(text.contains("eval"), "the diagnostic names eval: {text}");
}

#[test]
fn eval_through_a_function_pointer_is_refused() {
    let dir = rule_set_dir(
        &rule(
            "eval-ptr",
            r#"student.gpa < 0.5 && Fn("eval").call("1 + 1 == 2")"#,
        ),
        &[],
    );
    // Either the loader refuses it, or running it is a rule error; it never fires.
    if let Ok(rules) = RuleSet::load_dir(dir.path()) {
        let (d, _) = evaluate_bounded(rules, victim());
        assert!(!d.fired().any(|id| id == "eval-ptr"));
        assert!(
            d.rule_errors.iter().any(|e| e.rule_id == "eval-ptr"),
            "{:?}",
            d.rule_errors
        );
    }
}

#[test]
fn import_is_refused_at_load_in_conditions_and_lib() {
    let dir = rule_set_dir(
        &rule(
            "imports",
            "{ import \"../../etc/passwd\" as x; student.gpa < 0.5 }",
        ),
        &[],
    );
    let text = RuleSet::load_dir(dir.path())
        .expect_err("import in a condition must not load")
        .to_string();
    assert!(text.contains("hostile.yaml"), "{text}");

    let lib = [(
        "sneaky.rhai",
        "fn sneaky() {\n    import \"helpers\" as h;\n    true\n}\n",
    )];
    let dir = rule_set_dir(&rule("calls-sneaky", "student.gpa < 0.5 && sneaky()"), &lib);
    let text = RuleSet::load_dir(dir.path())
        .expect_err("import in a lib function must not load")
        .to_string();
    assert!(text.contains("lib/sneaky.rhai"), "{text}");

    let lib = [("top.rhai", "import \"helpers\" as h;\nfn f() { true }\n")];
    let dir = rule_set_dir(&rule("calls-f", "student.gpa < 0.5 && f()"), &lib);
    let text = RuleSet::load_dir(dir.path())
        .expect_err("a top-level import in lib must not load")
        .to_string();
    assert!(text.contains("lib/top.rhai"), "{text}");
}

#[test]
fn print_and_debug_produce_nothing() {
    let when =
        r#"student.gpa < 0.5 && { print("LEAKED-BY-PRINT"); debug("LEAKED-BY-DEBUG"); true }"#;
    let dir = rule_set_dir(&rule("chatty", when), &[]);
    // In the library: the rule simply fires.
    let (d, _) = evaluate_bounded(load(&dir), victim());
    assert!(d.fired().any(|id| id == "chatty"), "{:?}", d.rule_errors);
    // Through the binary: stdout holds exactly one JSON decision, nothing else anywhere.
    let input = serde_json::to_string(&victim()).unwrap();
    let out = run_with_timeout(
        Command::new(env!("CARGO_BIN_EXE_intervene"))
            .args(["eval", "--rules"])
            .arg(dir.path())
            .arg("-"),
        Some(input.as_bytes()),
        Duration::from_secs(60),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stdout.contains("LEAKED") && !stderr.contains("LEAKED"),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let d: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(d["student_id"], "S-VICTIM");
}

#[test]
fn a_rule_cannot_change_the_record_for_the_rules_after_it() {
    // The first rule empties the course list it read; the rule after it must still
    // see the student's course.
    let pack = [
        rule(
            "tamper",
            "student.gpa < 0.5 && { student.courses.clear(); student.courses.len() == 0 }",
        ),
        rule("after", "student.gpa < 0.5 && student.courses.len() > 0"),
    ]
    .concat();
    let dir = rule_set_dir(&pack, &[]);
    let (d, _) = evaluate_bounded(load(&dir), victim());
    let fired: Vec<&str> = d.fired().collect();
    assert!(
        fired.contains(&"after") && fired.contains(&"low-gpa"),
        "{fired:?} {:?}",
        d.rule_errors
    );
}

#[test]
fn deeply_nested_expression_is_refused_at_load_without_crashing() {
    let depth = 5000;
    let when = format!(
        "student.gpa < 0.5 && {}true{}",
        "(".repeat(depth),
        ")".repeat(depth)
    );
    let dir = rule_set_dir(&rule("nested", &when), &[]);
    let out = run_with_timeout(
        Command::new(env!("CARGO_BIN_EXE_intervene"))
            .arg("check")
            .arg(dir.path()),
        None,
        Duration::from_secs(60),
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "check must refuse it with exit 1, not crash: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("hostile.yaml"));
}

#[test]
fn check_is_not_hung_by_a_condition_that_runs_away_on_the_sample_record() {
    // No guard: the probe record reaches the closure loop. Each closure call stays under
    // the operation limit (~60k), but 10,000 of them are ~600M operations: minutes.
    let when = "student.gpa > 0.0 && {\n  let a = [];\n  a.pad(10000, 0);\n  a.filter(|x| { let n = 0; for i in 0..20000 { n += i; } n > x }).len() > 0\n}";
    let dir = rule_set_dir(&rule("probe-hog", when), &[]);
    let start = Instant::now();
    let out = run_with_timeout(
        Command::new(env!("CARGO_BIN_EXE_intervene"))
            .arg("check")
            .arg(dir.path()),
        None,
        Duration::from_secs(20),
    );
    assert!(
        out.status.code().is_some(),
        "check was killed after {:?}: it hung on the probe",
        start.elapsed()
    );
}

// ---------------------------------------------------------------------------------
// Every function that runs a closure or grows with the data (issue 10; the table in
// `src/rules/sandbox.rs` lists them and what is done with each)

/// About 3,000 operations, the body of a greedy closure.
const SPIN: &str = "{ let n = 0; for i in 0..1000 { n += i; } n }";

/// Each function that runs a closure, called with a greedy one over 10,000 elements
/// (1,000 map entries): (name, script after `let a = [..10,000..]; let m = #{..1,000..};`).
fn greedy_calls() -> Vec<(&'static str, String)> {
    let s = SPIN;
    vec![
        ("for_each", format!("a.for_each(|x| {s});")),
        ("map", format!("a.map(|x| {s});")),
        ("filter", format!("a.filter(|x| ({s}) > 0);")),
        ("index_of", format!("a.index_of(|x| ({s}) < 0);")),
        ("index_of-start", format!("a.index_of(|x| ({s}) < 0, 0);")),
        ("find", format!("a.find(|x| ({s}) < 0);")),
        ("find-start", format!("a.find(|x| ({s}) < 0, 0);")),
        ("find_map", format!("a.find_map(|x| {{ {s}; () }});")),
        (
            "find_map-start",
            format!("a.find_map(|x| {{ {s}; () }}, 0);"),
        ),
        ("some", format!("a.some(|x| ({s}) < 0);")),
        ("all", format!("a.all(|x| ({s}) > 0);")),
        ("dedup", format!("a.dedup(|x, y| ({s}) < 0);")),
        ("reduce", format!("a.reduce(|r, x| {s});")),
        ("reduce-initial", format!("a.reduce(|r, x| {s}, 0);")),
        ("reduce_rev", format!("a.reduce_rev(|r, x| {s});")),
        (
            "reduce_rev-initial",
            format!("a.reduce_rev(|r, x| {s}, 0);"),
        ),
        ("zip", format!("a.zip(a, |x, y| {s});")),
        ("drain", format!("a.drain(|x| ({s}) < 0);")),
        ("retain", format!("a.retain(|x| ({s}) > 0);")),
        ("sort", format!("a.sort(|x, y| {{ {s}; 0 }});")),
        ("sort_by", format!("a.sort_by(|x, y| {{ {s}; 0 }});")),
        ("order", format!("a.order(|x, y| {{ {s}; 0 }});")),
        ("order_by", format!("a.order_by(|x, y| {{ {s}; 0 }});")),
        ("map-of-map", format!("m.map(|k, v| {s});")),
        ("filter-of-map", format!("m.filter(|k, v| ({s}) > 0);")),
        ("drain-of-map", format!("m.drain(|k, v| ({s}) < 0);")),
        ("retain-of-map", format!("m.retain(|k, v| ({s}) > 0);")),
    ]
}

/// `let a = [10,000 ones]; let m = #{1,000 entries};` then `call`, guarded.
fn with_data(call: &str) -> String {
    let entries: Vec<String> = (0..1000).map(|i| format!("k{i}: \"k\"")).collect();
    format!(
        "student.gpa < 0.5 && {{\n  let a = [];\n  a.pad(10000, 1);\n  let m = #{{{}}};\n  {call}\n  true\n}}",
        entries.join(", ")
    )
}

/// Regression (issue 10): every closure-running function is stopped by the operation
/// budget, with the default limits and a long deadline, and reported as such.
#[test]
fn every_closure_function_is_stopped_by_the_operation_budget() {
    for (name, call) in greedy_calls() {
        let when = with_data(&call);
        let d = assert_stopped_with(counted(), &when, &[], &["stopped"]);
        let err = &d.rule_errors[0].error;
        assert!(
            err.contains("ran more than 100000 operations"),
            "{name}: {err}"
        );
    }
}

/// With the default limits (50 ms) too, each is stopped, whichever limit comes first.
#[test]
fn every_closure_function_is_stopped_with_the_default_limits() {
    for (name, call) in greedy_calls() {
        let d = assert_stopped(&with_data(&call), &[], &["stopped"]);
        assert!(d.rule_errors[0].error.contains("stopped"), "{name}");
    }
}

/// The same functions given a native function pointer, whose calls Rhai never counts
/// as operations: each call made through a sandbox wrapper counts, so 10,000 calls
/// exceed a budget of 500. (This also shows that every one of these signatures is
/// served by the wrapper, not by Rhai's own function of the same name.)
#[test]
fn every_closure_function_is_the_sandbox_wrapper() {
    let calls = [
        ("for_each", r#"a.for_each(Fn("abs"));"#),
        ("map", r#"a.map(Fn("abs"));"#),
        ("filter", r#"a.filter(Fn("is_odd"));"#),
        ("index_of", r#"a.index_of(Fn("is_even"));"#),
        ("index_of-start", r#"a.index_of(Fn("is_even"), 0);"#),
        ("find", r#"a.find(Fn("is_even"));"#),
        ("find-start", r#"a.find(Fn("is_even"), 0);"#),
        (
            "find_map",
            r#"let e = []; e.pad(5000, []); e.find_map(Fn("clear"));"#,
        ),
        (
            "find_map-start",
            r#"let e = []; e.pad(5000, []); e.find_map(Fn("clear"), 0);"#,
        ),
        ("some", r#"a.some(Fn("is_even"));"#),
        ("all", r#"a.all(Fn("is_odd"));"#),
        (
            "dedup",
            r#"let t = []; t.pad(10000, "a"); t.dedup(Fn("starts_with"));"#,
        ),
        ("reduce-initial", r#"a.reduce(Fn("max"), 0);"#),
        ("reduce_rev-initial", r#"a.reduce_rev(Fn("max"), 0);"#),
        ("zip", r#"a.zip(a, Fn("max"));"#),
        ("drain", r#"a.drain(Fn("is_even"));"#),
        ("retain", r#"a.retain(Fn("is_odd"));"#),
        ("sort", r#"a.sort(Fn("max"));"#),
        ("sort_by", r#"a.sort_by(Fn("max"));"#),
        ("order", r#"a.order(Fn("max"));"#),
        ("order_by", r#"a.order_by(Fn("max"));"#),
        ("map-of-map", r#"m.map(Fn("contains"));"#),
        ("filter-of-map", r#"m.filter(Fn("contains"));"#),
        ("drain-of-map", r#"m.drain(Fn("contains"));"#),
        ("retain-of-map", r#"m.retain(Fn("contains"));"#),
    ];
    let tight = Limits {
        max_operations: 500,
        deadline_micros: 4_000_000,
        ..Limits::default()
    };
    for (name, call) in calls {
        let d = assert_stopped_with(tight, &with_data(call), &[], &["stopped"]);
        let err = &d.rule_errors[0].error;
        assert!(
            err.contains("ran more than 500 operations"),
            "{name}: {err}"
        );
    }
}

/// Regression (issue 10): the issue's rule. Rhai's `sort` ignored its comparator's
/// errors, including the stop itself, and sorted on for tens of seconds; the rule then
/// fired with no rule error.
#[test]
fn repeated_closure_sort_is_stopped() {
    let when = "student.gpa < 0.5 && {\n  let a = [];\n  for i in 0..5000 { a.push(i) }\n  for j in 0..100 { a.sort(|x, y| y - x) }\n  true\n}";
    assert_stopped(when, &[], &["stopped"]);
}

/// Regression (issue 10): a sort whose comparator calls run past every limit went on
/// to the end (the stop was one more ignored comparator error), and unless the clock
/// happened to be read in the one operation left after it, the rule fired with no
/// rule error.
#[test]
fn closure_sort_past_the_limits_is_a_rule_error_not_a_flag() {
    let when = "student.gpa < 0.5 && {\n  let a = [];\n  a.pad(10000, 1);\n  a.sort(|x, y| y - x);\n  true\n}";
    assert_stopped(when, &[], &["stopped"]);
}

/// Regression (issue 10): an error raised in a comparator is the rule's error.
#[test]
fn sort_comparator_error_is_a_rule_error() {
    for call in [
        r#"a.sort(|x, y| throw "bad comparator")"#,
        r#"a.sort_by(|x, y| throw "bad comparator")"#,
        r#"a.order(|x, y| throw "bad comparator")"#,
        r#"a.dedup(|x, y| throw "bad comparator")"#,
    ] {
        let when = format!("student.gpa < 0.5 && {{ let a = [3, 1, 2, 2]; {call}; true }}");
        assert_stopped(&when, &[], &["bad comparator"]);
    }
    // A comparator that answers neither a number nor true/false is an error too.
    assert_stopped(
        r#"student.gpa < 0.5 && { let a = [3, 1, 2]; a.sort(|x, y| "later"); true }"#,
        &[],
        &["sort comparator gave"],
    );
}

/// A comparator that contradicts itself still gives an answer, and no panic.
#[test]
fn inconsistent_comparator_neither_panics_nor_hangs() {
    let dir = rule_set_dir(
        &rule(
            "liar",
            "student.gpa < 0.5 && {\n  let a = [];\n  for i in 0..300 { a.push((i * 7919) % 1000) }\n  let n = 0;\n  a.sort(|x, y| { n += 1; if n % 3 == 0 { 1 } else { -1 } });\n  a.len() == 300\n}",
        ),
        &[],
    );
    let (d, _) = evaluate_bounded_with(counted(), load(&dir), victim());
    assert!(d.fired().any(|id| id == "liar"), "{:?}", d.rule_errors);
}

/// Regression (issue 10): `sleep` blocked the thread without a single operation tick,
/// beyond every limit; the time functions made decisions depend on the clock.
#[test]
fn sleep_and_clock_functions_are_not_available() {
    for call in [
        "sleep(30)",
        "sleep(30.0)",
        "timestamp()",
        "blob(10)",
        "exit(true)",
    ] {
        let when = format!("student.gpa < 0.5 && {{ {call}; true }}");
        assert_stopped(&when, &[], &["failed", "not found"]);
    }
}

/// A replacement that would build a 256 MiB string is refused before it is built.
#[test]
fn string_replace_blowup_is_stopped() {
    let when = r#"student.gpa < 0.5 && { let s = ""; s.pad(16000, "a"); let r = ""; r.pad(16000, "b"); s.replace("a", r); true }"#;
    assert_stopped(when, &[], &["stopped", "too large"]);
    let when = r#"student.gpa < 0.5 && { let s = ""; s.pad(16000, "a"); let r = ""; r.pad(16000, "b"); s.replace('a', r); true }"#;
    assert_stopped(when, &[], &["stopped", "too large"]);
}

/// Sorting floats with `NaN` uses a total order (NaN last) instead of Rhai's, which
/// treated NaN as equal to everything and could leave the array unsorted (or make
/// the standard sort panic).
#[test]
fn float_sort_with_nan_is_total() {
    let pack = rule(
        "nan-sort",
        "student.gpa < 0.5 && {\n  let nan = 0.0 / 0.0;\n  let a = [2.0, nan, 1.0];\n  a.sort();\n  let d = [2.0, nan, 1.0].order_desc();\n  a[0] == 1.0 && a[1] == 2.0 && d[1] == 2.0 && d[2] == 1.0 && [2.0, 1.0].order() == [1.0, 2.0]\n}",
    );
    let dir = rule_set_dir(&pack, &[]);
    let (d, _) = evaluate_bounded(load(&dir), victim());
    assert!(d.fired().any(|id| id == "nan-sort"), "{:?}", d.rule_errors);
}

/// Ordinary uses of the wrapped functions keep their documented meaning, on the
/// record's lists (constants) and on local values.
#[test]
fn ordinary_closure_uses_keep_working() {
    let conditions = [
        r#"student.courses.filter(|c| c.subject == "math").len() == 1"#,
        r#"student.courses.map(|c| c.grade_pct).reduce(|s, g| s + g, 0.0) < 60.0"#,
        "student.courses.some(|c| c.grade_pct < 60.0) && student.courses.all(|c| c.grade_pct < 60.0)",
        r#"student.courses.find(|c| c.subject == "math").course_id == "ALG1""#,
        "student.courses.index_of(|c, i| i == 0) == 0 && student.courses.find_map(|c| c.grade_pct) == 41",
        "[3, 1, 2].order() == [1, 2, 3] && [3, 1, 2].order_desc() == [3, 2, 1]",
        "{ let a = [3, 1, 2]; a.sort(|x, y| x - y); a == [1, 2, 3] }",
        "{ let a = [3, 1, 2]; a.sort(|x, y| x > y); a == [3, 2, 1] }",
        r#"{ let a = [#{n: 2, s: "b"}, #{n: 1, s: "a"}, #{n: 2, s: "a"}]; a.sort(|x, y| x.n - y.n); a.map(|x| x.s) == ["a", "b", "a"] }"#,
        "{ let a = [1, 1, 2, 2, 3]; a.dedup(|x, y| x == y); a == [1, 2, 3] }",
        "{ let a = [1, 2, 3, 4]; let d = a.drain(|x| x % 2 == 0); a == [1, 3] && d == [2, 4] }",
        "{ let a = [1, 2, 3, 4]; let r = a.retain(|x, i| i < 1); a == [1] && r == [2, 3, 4] }",
        "[1, 2, 3].reduce_rev(|s, x| s * 10 + x, 0) == 321 && [1, 2].zip([3, 4], |x, y| x * y) == [3, 8]",
        "[1, 2, 3].index_of(|x| x > 1, -1) == 2 && [1, 2, 3].find(|x| x > 5, 1) == ()",
        "{ let n = 0; [1, 2, 3].for_each(|x| n += x); n == 6 }",
        "#{a: 1, b: 2}.filter(|k, v| v > 1).keys() == [\"b\"] && #{a: 1}.map(|k, v| k + v).a == \"a1\"",
        r#"{ let m = #{a: 1, b: 2}; let d = m.drain(|k, v| k == "a"); m.keys() == ["b"] && d.keys() == ["a"] }"#,
        r#"{ let s = "aXbX"; s.replace("X", "yy"); s == "ayybyy" }"#,
    ];
    let pack: String = conditions
        .iter()
        .enumerate()
        .map(|(i, c)| {
            rule(
                &format!("ordinary-{i}"),
                &format!("student.gpa < 0.5 && ({c})"),
            )
        })
        .collect();
    let dir = rule_set_dir(&pack, &[]);
    let (d, _) = evaluate_bounded(load(&dir), victim());
    assert!(d.rule_errors.is_empty(), "{:#?}", d.rule_errors);
    let fired: Vec<&str> = d.fired().collect();
    for (i, condition) in conditions.iter().enumerate() {
        let id = format!("ordinary-{i}");
        assert!(
            fired.contains(&id.as_str()),
            "`{condition}` did not fire; fired {fired:?}"
        );
    }
}
