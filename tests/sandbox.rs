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

/// A rule-set directory with the shipped catalogue, params, attendance and academic
/// packs and lib, plus `hostile.yaml` holding `rules` and any extra lib files.
fn rule_set_dir(hostile_rules: &str, lib: &[(&str, &str)]) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in [
        "interventions.yaml",
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

#[test]
fn deadline_stop_inside_a_closure_names_the_deadline() {
    for when in [FILTER_HOG, MILLION_CLOSURES] {
        assert_stopped(when, &[], &["stopped", "ran longer than 50 ms"]);
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
