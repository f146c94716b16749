//! The `intervene` binary as a counselor or an SIS batch job runs it: `check`, `test`
//! and `eval`, their output and their exit codes.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

#[path = "support/run.rs"]
mod run;
use run::run_with_timeout;

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }

    /// Every stdout line as JSON.
    fn json_lines(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}"))
            })
            .collect()
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Run the binary with `args` and `stdin`; kill it if it runs longer than two minutes.
fn intervene(args: &[&str], stdin: &[u8]) -> Run {
    let out = run_with_timeout(
        Command::new(env!("CARGO_BIN_EXE_intervene"))
            .args(args)
            .current_dir(root()),
        Some(stdin),
        Duration::from_secs(120),
    );
    let run = Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(
        run.code.is_some(),
        "intervene {args:?} was killed (hung or crashed)\nstderr: {}",
        run.stderr
    );
    run
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn student(id: &str, extra: Value) -> String {
    let mut r = json!({ "student_id": id });
    if let (Some(r), Some(extra)) = (r.as_object_mut(), extra.as_object()) {
        r.extend(extra.clone());
    }
    r.to_string()
}

fn decision_ids(run: &Run) -> Vec<String> {
    run.json_lines()
        .iter()
        .map(|d| {
            d["student_id"]
                .as_str()
                .unwrap_or("<error line>")
                .to_string()
        })
        .collect()
}

// ---------------------------------------------------------------------------------
// check

#[test]
fn check_accepts_the_shipped_rules() {
    let r = intervene(&["check", "rules"], b"");
    assert_eq!(r.code, Some(0), "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("rule set rules is valid (sha256:"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("0 errors"), "{}", r.stdout);
}

#[test]
fn check_as_json_reports_ok_and_version() {
    let r = intervene(&["check", "rules", "--format", "json"], b"");
    assert_eq!(r.code, Some(0));
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["ok"], true);
    assert!(v["version"].as_str().unwrap().starts_with("sha256:"));
}

#[test]
fn check_refuses_a_broken_rule_with_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&root().join("rules"), dir.path());
    let path = dir.path().join("academic.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let broken = text.replacen(
        "student.gpa <= params.low_gpa",
        "student.gpa <= params.low_gap",
        1,
    );
    assert_ne!(text, broken);
    std::fs::write(&path, broken).unwrap();
    let r = intervene(&["check", dir.path().to_str().unwrap()], b"");
    assert_eq!(r.code, Some(1), "{}", r.stdout);
    assert!(
        r.stdout.contains("academic.yaml:") && r.stdout.contains("unknown param `low_gap`"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("low_gpa"),
        "the hint suggests the right name: {}",
        r.stdout
    );
}

// ---------------------------------------------------------------------------------
// test

#[test]
fn test_passes_on_the_shipped_rules() {
    let r = intervene(&["test", "rules"], b"");
    assert_eq!(r.code, Some(0), "{}", r.stdout);
    let last = r.lines().last().copied().unwrap_or_default();
    let (passed, rest) = last
        .split_once(" passed, ")
        .unwrap_or_else(|| panic!("last line `{last}`"));
    assert!(passed.parse::<u32>().unwrap() > 0, "{last}");
    assert_eq!(rest, "0 failed");
    assert!(!r.stdout.contains("FAIL"), "{}", r.stdout);
}

#[test]
fn test_reports_one_line_for_a_broken_expectation() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&root().join("rules"), dir.path());
    let path = dir.path().join("tests/attendance.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let case = "absence exactly at the chronic rate (10 percent) is chronic";
    let at = text
        .find(case)
        .expect("the shipped attendance tests have this case");
    let fired = at + text[at..].find("fired: [chronic-absence]").unwrap();
    let broken = format!(
        "{}fired: [severe-chronic-absence]{}",
        &text[..fired],
        &text[fired + "fired: [chronic-absence]".len()..]
    );
    std::fs::write(&path, broken).unwrap();

    let shipped = intervene(&["test", "rules"], b"");
    let total: u32 = shipped
        .lines()
        .last()
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();

    let r = intervene(&["test", dir.path().to_str().unwrap()], b"");
    assert_eq!(r.code, Some(1), "{}", r.stdout);
    let fails: Vec<&str> = r
        .lines()
        .into_iter()
        .filter(|l| l.starts_with("FAIL"))
        .collect();
    assert_eq!(fails.len(), 1, "{}", r.stdout);
    let line = fails[0];
    for part in [
        "tests/attendance.yaml:",
        case,
        "expected to fire but did not: severe-chronic-absence",
        "fired but not expected: chronic-absence",
    ] {
        assert!(line.contains(part), "`{line}` lacks `{part}`");
    }
    assert_eq!(
        r.lines().last().copied(),
        Some(format!("{} passed, 1 failed", total - 1).as_str())
    );
}

// ---------------------------------------------------------------------------------
// eval

#[test]
fn eval_one_pretty_printed_record() {
    let r = intervene(&["eval", "fixtures/records/valid/full_record.json"], b"");
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let lines = r.json_lines();
    assert_eq!(lines.len(), 1, "one decision on one line: {}", r.stdout);
    let d = &lines[0];
    assert_eq!(d["student_id"], "S1042");
    assert!(
        d["ruleset_version"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    let fired: Vec<&str> = d["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule_id"].as_str().unwrap())
        .collect();
    assert!(fired.contains(&"chronic-absence"), "{fired:?}");
}

#[test]
fn eval_a_json_array_gives_one_line_per_record_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("batch.json");
    let doc = format!(
        "[\n  {},\n  {},\n  {}\n]\n",
        student("A1", json!({"gpa": 1.5})),
        student("A2", json!({})),
        student(
            "A3",
            json!({"attendance": {"days_enrolled": 100, "days_present": 70}})
        )
    );
    std::fs::write(&path, doc).unwrap();
    let r = intervene(&["eval", path.to_str().unwrap()], b"");
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(decision_ids(&r), ["A1", "A2", "A3"]);
    let lines = r.json_lines();
    assert_eq!(lines[2]["tiers"]["attendance"], 3);
}

#[test]
fn eval_ndjson_from_stdin_gives_one_decision_per_line() {
    let input: String = (1..=5)
        .map(|i| student(&format!("N{i}"), json!({"gpa": i as f64 * 0.8})) + "\n")
        .collect();
    let r = intervene(&["eval", "-"], input.as_bytes());
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(decision_ids(&r), ["N1", "N2", "N3", "N4", "N5"]);
    for d in r.json_lines() {
        assert!(d["decision_id"].as_str().is_some_and(|s| s.len() == 26));
    }
}

#[test]
fn eval_accepts_crlf_line_endings() {
    let input = format!(
        "{}\r\n{}\r\n",
        student("W1", json!({})),
        student("W2", json!({"gpa": 1.0}))
    );
    let r = intervene(&["eval", "-"], input.as_bytes());
    assert_eq!(r.code, Some(0), "{}", r.stdout);
    assert_eq!(decision_ids(&r), ["W1", "W2"]);
}

#[test]
fn a_bad_ndjson_line_gets_an_error_line_and_the_rest_are_evaluated() {
    let input = [
        student("B1", json!({})),
        student("B2", json!({"gpa": 7})),
        String::new(),
        student("B4", json!({"gpa": 1.0})),
        r#"{"student_id": "B5", "attendance": {"days_enrolled": 10, "days_present": 11}}"#
            .to_string(),
        student("B6", json!({})),
    ]
    .join("\n")
        + "\n";
    let r = intervene(&["eval", "-"], input.as_bytes());
    assert_eq!(
        r.code,
        Some(2),
        "a rejected record makes the exit code 2\n{}",
        r.stdout
    );
    let lines = r.json_lines();
    assert_eq!(lines.len(), 5, "blank lines are skipped: {}", r.stdout);
    assert_eq!(lines[0]["student_id"], "B1");
    assert_eq!(lines[1]["line"], 2);
    assert_eq!(lines[1]["field"], "gpa");
    assert!(
        lines[1]["error"]
            .as_str()
            .unwrap()
            .contains("between 0 and 5"),
        "{}",
        lines[1]
    );
    assert_eq!(lines[2]["student_id"], "B4");
    assert_eq!(lines[3]["line"], 5, "line numbers count blank lines");
    assert_eq!(lines[3]["field"], "attendance.days_present");
    assert_eq!(lines[4]["student_id"], "B6");
}

#[test]
fn a_bad_first_ndjson_line_does_not_drop_the_rest() {
    let input = format!(
        "{}\n{}\n{}\n",
        r#"{"student_id": "F1", "gpa": }"#,
        student("F2", json!({"gpa": 1.0})),
        student("F3", json!({}))
    );
    let r = intervene(&["eval", "-"], input.as_bytes());
    assert_eq!(r.code, Some(2));
    let lines = r.json_lines();
    assert_eq!(lines.len(), 3, "{}", r.stdout);
    assert_eq!(lines[0]["line"], 1);
    assert_eq!(lines[1]["student_id"], "F2");
    assert_eq!(lines[2]["student_id"], "F3");
}

#[test]
fn a_line_over_256_kib_is_refused_and_the_next_line_is_evaluated() {
    let huge = student("H2", json!({"extra": {"blob": "x".repeat(300 * 1024)}}));
    let input = format!(
        "{}\n{huge}\n{}\n",
        student("H1", json!({})),
        student("H3", json!({"gpa": 1.0}))
    );
    let r = intervene(&["eval", "-"], input.as_bytes());
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    let lines = r.json_lines();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["student_id"], "H1");
    assert_eq!(lines[1]["line"], 2);
    let err = lines[1]["error"].as_str().unwrap();
    assert!(err.contains("262144"), "the error names the limit: {err}");
    assert!(
        r.stdout.len() < 10 * 1024,
        "the huge line is not echoed back"
    );
    assert_eq!(lines[2]["student_id"], "H3");
}

#[test]
fn nesting_limit_applies_to_json_documents_too() {
    let mut deep = json!(1);
    for _ in 0..40 {
        deep = json!([deep]);
    }
    let record = json!({"student_id": "D1", "extra": {"deep": deep}});
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deep.json");
    std::fs::write(&path, serde_json::to_string_pretty(&record).unwrap()).unwrap();
    let ndjson = intervene(&["eval", "-"], format!("{record}\n").as_bytes());
    assert!(
        ndjson.stdout.contains("nested deeper than 32"),
        "{}",
        ndjson.stdout
    );
    let doc = intervene(&["eval", path.to_str().unwrap()], b"");
    assert!(
        doc.stdout.contains("nested deeper than 32"),
        "the same record as a JSON file: {}",
        doc.stdout
    );
}

#[test]
fn eval_explain_prints_the_readable_report() {
    let r = intervene(
        &[
            "eval",
            "--explain",
            "fixtures/records/valid/full_record.json",
        ],
        b"",
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    for part in [
        "Student S1042 — 8 flags",
        "tiers: attendance 2, academic 3, behavioral 2, social_emotional 2",
        "[tier 2] chronic-absence — Chronically absent (attendance)",
        "why: Missed 15.6% of enrolled days (chronic from 10%)",
        "clears: absence rate below 10%",
        "Recommended interventions:",
        "tutoring (tier 2): Tutoring — because course-failure, low-gpa",
        "Not enough data for: math-below-benchmark, math-well-below-benchmark",
    ] {
        assert!(
            r.stdout.contains(part),
            "report lacks `{part}`:\n{}",
            r.stdout
        );
    }
    assert!(
        serde_json::from_str::<Value>(r.stdout.lines().next().unwrap()).is_err(),
        "a report, not JSON"
    );
}

#[test]
fn eval_explain_reports_bad_lines_readably() {
    let input = format!(
        "{}\n{}\n",
        student("E1", json!({})),
        student("E2", json!({"gpa": -1}))
    );
    let r = intervene(&["eval", "--explain", "-"], input.as_bytes());
    assert_eq!(r.code, Some(2));
    assert!(
        r.stdout
            .contains("line 2: error: `gpa`: must be between 0 and 5, got -1"),
        "{}",
        r.stdout
    );
}

#[test]
fn eval_with_a_missing_rules_dir_exits_1() {
    let r = intervene(
        &[
            "eval",
            "--rules",
            "no-such-rules-dir",
            "fixtures/records/valid/full_record.json",
        ],
        b"",
    );
    assert_eq!(r.code, Some(1));
    assert!(
        r.stdout.is_empty(),
        "no decisions without rules: {}",
        r.stdout
    );
    assert!(
        r.stderr.contains("no-such-rules-dir") && r.stderr.contains("not found"),
        "{}",
        r.stderr
    );
}

#[test]
fn eval_with_a_missing_input_file_exits_1() {
    let r = intervene(&["eval", "no-such-records.ndjson"], b"");
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.contains("cannot open `no-such-records.ndjson`"),
        "{}",
        r.stderr
    );
}

#[test]
fn every_caseload_line_yields_a_decision() {
    let path = root().join("fixtures/caseload.ndjson");
    let (arg, input, ids): (String, Vec<u8>, Vec<String>) = if path.exists() {
        let text = std::fs::read_to_string(&path).unwrap();
        let ids = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str::<Value>(l).unwrap()["student_id"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        ("fixtures/caseload.ndjson".into(), Vec::new(), ids)
    } else {
        let ids: Vec<String> = (0..50).map(|i| format!("G{i:03}")).collect();
        let text: String = ids
            .iter()
            .enumerate()
            .map(|(i, id)| student(id, json!({"gpa": (i % 6) as f64 * 0.8, "attendance": {"days_enrolled": 60, "days_present": 60 - (i % 20)}})) + "\n")
            .collect();
        ("-".into(), text.into_bytes(), ids)
    };
    let r = intervene(&["eval", &arg], &input);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let got = decision_ids(&r);
    assert_eq!(got.len(), ids.len());
    assert_eq!(got, ids, "one decision per line, in input order");
    for d in r.json_lines() {
        assert!(d["rule_errors"].as_array().unwrap().is_empty(), "{d}");
    }
}
