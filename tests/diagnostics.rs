//! Located diagnostics of rule-set checking.
//!
//! Every directory under `fixtures/broken-rules/` is a complete small rule set with one
//! kind of problem, and an `EXPECTED` file holding its first diagnostic as
//! `intervene check` prints it (`FILE:LINE:COL: error: message`, then ` = hint: ...`),
//! with lines and columns counted by hand. Where the tool gets a location wrong the
//! `EXPECTED` file holds the right one and a `# bug:` note, and the test below that
//! reproduces it is `#[ignore]`d until the checker is fixed.
//!
//! The tests load each fixture through the library and assert file, line, column,
//! message, hint and the text the `^^^` underline covers; a few run the real binary.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use intervene::rules::{Diagnostic, RuleSet, Severity, diag};

const HINT_YAML: &str =
    "check the indentation and that every `key: value` has a space after the colon";
const HINT_RHAI: &str = "conditions are Rhai expressions such as `student.gpa <= params.low_gpa && student.failing_courses > 0`";
const HINT_TIER: &str = "MTSS tiers: 1 universal, 2 targeted, 3 intensive";
const HINT_LIB: &str =
    "move this statement into a function (`fn name(x) { ... }`) or into a rule's `when`";
const HINT_STATUS: &str = "flags should come from attendance, behavior, course performance and screeners; see the fairness notes in the README";

/// Every fixture directory; a new one must be added here (and tested below).
const CASES: &[&str] = &[
    "assignment",
    "bad-domain",
    "bad-tier",
    "bad-tier-hides-condition",
    "band-allow-unknown-kind",
    "band-gap",
    "band-not-analysed",
    "band-out-of-range",
    "band-overlap",
    "band-shadowed",
    "band-unreachable",
    "duplicate-id",
    "duplicate-yaml-key",
    "explain-bad-format",
    "explain-block",
    "explain-escaped",
    "explain-unknown-field",
    "explain-unknown-param",
    "explain-unknown-plan-fact",
    "family-bad-language",
    "family-unknown-placeholder",
    "lib-syntax",
    "lib-top-level-statement",
    "many-problems",
    "measure-duplicate-id",
    "measure-min-not-below-max",
    "measure-non-finite",
    "measure-record-indicator-id",
    "measure-unknown-key",
    "missing-interventions",
    "missing-key",
    "non-boolean",
    "privacy-policy",
    "privacy-warnings",
    "program-status",
    "reporting-in-condition",
    "rhai-syntax-block",
    "rhai-syntax-inline",
    "strength-with-tier",
    "type-mismatch",
    "type-mismatch-arithmetic",
    "unknown-field",
    "unknown-history-domain",
    "unknown-intervention",
    "unknown-key",
    "unknown-param",
    "unknown-plan-fact",
    "unknown-plan-key",
    "unknown-progress-measure",
    "unknown-subfield",
    "yaml-missing-colon",
    "yaml-syntax",
];

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(case: &str) -> PathBuf {
    manifest_dir().join("fixtures/broken-rules").join(case)
}

/// Every diagnostic of a fixture that must fail to load.
fn diagnostics(case: &str) -> Vec<Diagnostic> {
    match RuleSet::load_dir(&fixture(case)) {
        Ok(rs) => panic!(
            "{case}: loaded as {} but should fail; warnings:\n{}",
            rs.version,
            diag::render(&rs.warnings)
        ),
        Err(e) => e.diagnostics,
    }
}

/// The one diagnostic of a fixture with exactly one problem.
fn only(case: &str) -> Diagnostic {
    let mut diags = diagnostics(case);
    assert_eq!(
        diags.len(),
        1,
        "{case}: expected one diagnostic, got:\n{}",
        diag::render(&diags)
    );
    diags.remove(0)
}

/// What one diagnostic must say.
#[derive(Clone, Copy)]
struct Want<'a> {
    severity: Severity,
    file: &'a str,
    line: usize,
    column: usize,
    message: &'a str,
    /// `message` is a prefix (for text that ends in a Rhai-internal detail).
    prefix: bool,
    hint: Option<&'a str>,
    /// The text the `^^^` underline covers, when it names a token.
    underlined: Option<&'a str>,
}

fn error<'a>(file: &'a str, line: usize, column: usize, message: &'a str) -> Want<'a> {
    Want {
        severity: Severity::Error,
        file,
        line,
        column,
        message,
        prefix: false,
        hint: None,
        underlined: None,
    }
}

fn warning<'a>(file: &'a str, line: usize, column: usize, message: &'a str) -> Want<'a> {
    Want {
        severity: Severity::Warning,
        ..error(file, line, column, message)
    }
}

impl<'a> Want<'a> {
    fn hint(self, hint: &'a str) -> Self {
        Want {
            hint: Some(hint),
            ..self
        }
    }

    fn under(self, text: &'a str) -> Self {
        Want {
            underlined: Some(text),
            ..self
        }
    }

    fn prefix(self) -> Self {
        Want {
            prefix: true,
            ..self
        }
    }

    #[track_caller]
    fn check(&self, case: &str, d: &Diagnostic) {
        let shown = format!("{case}: got\n{d}");
        assert_eq!(d.severity, self.severity, "severity; {shown}");
        assert_eq!(
            (d.file.as_str(), d.line, d.column),
            (self.file, self.line, self.column),
            "location; {shown}"
        );
        if self.prefix {
            assert!(
                d.message.starts_with(self.message),
                "message should start with {:?}; {shown}",
                self.message
            );
        } else {
            assert_eq!(d.message, self.message, "message; {shown}");
        }
        assert_eq!(d.hint.as_deref(), self.hint, "hint; {shown}");
        // The quoted source line is the file's own line.
        let expected_source = if d.line == 0 {
            None
        } else {
            let text = fs::read_to_string(fixture(case).join(&d.file)).expect("read fixture file");
            text.lines().nth(d.line - 1).map(str::to_string)
        };
        assert_eq!(d.source_line, expected_source, "source line; {shown}");
        if let Some(under) = self.underlined {
            let src = d.source_line.as_deref().unwrap_or_default();
            let covered: String = src.chars().skip(d.column - 1).take(d.width).collect();
            assert_eq!(covered, under, "underlined text; {shown}");
        }
    }
}

/// The first diagnostic of a fixture as `intervene check` prints it: the location line
/// and, if any, the hint line.
fn first_rendered(case: &str) -> Vec<String> {
    let diags = match RuleSet::load_dir(&fixture(case)) {
        Ok(rs) => rs.warnings,
        Err(e) => e.diagnostics,
    };
    // A rule set without any (its `EXPECTED` holds only comments) matches nothing.
    let Some(first) = diags.first() else {
        return Vec::new();
    };
    let text = first.to_string();
    let mut lines = vec![text.lines().next().unwrap_or_default().to_string()];
    lines.extend(
        text.lines()
            .filter(|l| l.starts_with(" = hint: "))
            .map(str::to_string),
    );
    lines
}

// ---------------------------------------------------------------- EXPECTED files

#[test]
fn every_fixture_is_listed_and_has_an_expected_file() {
    let mut dirs: Vec<String> = fs::read_dir(manifest_dir().join("fixtures/broken-rules"))
        .expect("fixtures/broken-rules")
        .map(|e| e.expect("dir entry"))
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    assert_eq!(dirs, CASES, "fixture directories and CASES differ");
    for case in CASES {
        let dir = fixture(case);
        assert!(dir.join("EXPECTED").is_file(), "{case}: no EXPECTED file");
        assert!(
            dir.join("params.yaml").is_file(),
            "{case}: not a complete rule set"
        );
        if *case != "missing-interventions" {
            assert!(
                dir.join("interventions.yaml").is_file(),
                "{case}: not a complete rule set"
            );
        }
    }
}

/// Each `EXPECTED` file (except those documenting a bug) matches the first diagnostic.
#[test]
fn expected_files_match_the_first_diagnostic() {
    for case in CASES {
        let expected = fs::read_to_string(fixture(case).join("EXPECTED")).expect("EXPECTED");
        if expected.lines().any(|l| l.starts_with("# bug")) {
            continue;
        }
        let want: Vec<String> = expected
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(str::to_string)
            .collect();
        assert_eq!(first_rendered(case), want, "{case}: EXPECTED differs");
    }
}

// ---------------------------------------------------------------- YAML

#[test]
fn yaml_syntax_bad_indentation() {
    error(
        "academic.yaml",
        6,
        11,
        "YAML syntax: mapping values are not allowed in this context",
    )
    .hint(HINT_YAML)
    .under(":")
    .check("yaml-syntax", &only("yaml-syntax"));
}

#[test]
fn yaml_missing_colon_points_at_the_key_without_colon() {
    error("academic.yaml", 12, 5, "YAML syntax: simple key expect ':'")
        .hint("this line has no `:` after its key (write `key: value`)")
        .check("yaml-missing-colon", &only("yaml-missing-colon"));
}

#[test]
fn unknown_keys_in_a_rule_and_at_top_level() {
    let case = "unknown-key";
    let diags = diagnostics(case);
    assert_eq!(diags.len(), 3, "{}", diag::render(&diags));
    // The misspelt `when` also leaves the rule without one (its column: see missing-key).
    assert_eq!(
        (
            diags[0].file.as_str(),
            diags[0].line,
            diags[0].message.as_str()
        ),
        ("academic.yaml", 3, "a rule is missing `when`")
    );
    error("academic.yaml", 7, 5, "unknown key `whn` in a rule")
        .hint("did you mean `when`?")
        .under("whn")
        .check(case, &diags[1]);
    error(
        "attendance.yaml",
        1,
        1,
        "unknown key `descripton` in a rule pack",
    )
    .hint("did you mean `description`?")
    .under("descripton")
    .check(case, &diags[2]);
}

#[test]
fn missing_key_points_at_the_rule() {
    error("academic.yaml", 3, 5, "a rule is missing `name`")
        .check("missing-key", &only("missing-key"));
}

#[test]
fn missing_key_is_reported_on_the_rule_line() {
    let d = only("missing-key");
    assert_eq!(
        (d.file.as_str(), d.line, d.message.as_str()),
        ("academic.yaml", 3, "a rule is missing `name`")
    );
}

#[test]
fn duplicate_rule_id_across_files() {
    error("attendance.yaml", 3, 9, "duplicate rule id `low-gpa`")
        .hint("`low-gpa` is already defined at academic.yaml:3; rule ids must be unique across the rule set")
        .under("low-gpa")
        .check("duplicate-id", &only("duplicate-id"));
}

#[test]
fn duplicate_yaml_key_in_a_rule() {
    error("academic.yaml", 16, 5, "duplicate key `tier`")
        .hint("`tier` is already set on line 14; keep one of them")
        .check("duplicate-yaml-key", &only("duplicate-yaml-key"));
}

// ---------------------------------------------------------------- rule fields

#[test]
fn bad_tier() {
    error(
        "academic.yaml",
        14,
        11,
        "`tier` must be 1, 2 or 3, found `4`",
    )
    .hint(HINT_TIER)
    .under("4")
    .check("bad-tier", &only("bad-tier"));
}

#[test]
fn bad_domain() {
    error("attendance.yaml", 5, 13, "unknown domain `attendence`")
        .hint("did you mean `attendance`?")
        .under("attendence")
        .check("bad-domain", &only("bad-domain"));
}

#[test]
fn unknown_intervention() {
    error("academic.yaml", 9, 27, "unknown intervention `advisery`")
        .hint("did you mean `advisory`? (interventions are listed in interventions.yaml)")
        .under("advisery")
        .check("unknown-intervention", &only("unknown-intervention"));
}

// ---------------------------------------------------------------- measures.yaml

#[test]
fn measure_duplicate_id_names_the_first_line() {
    error(
        "measures.yaml",
        8,
        9,
        "duplicate measure id `oral-reading-fluency`",
    )
    .hint("`oral-reading-fluency` is already defined on line 2; measure ids must be unique")
    .under("oral-reading-fluency")
    .check("measure-duplicate-id", &only("measure-duplicate-id"));
}

#[test]
fn measure_min_must_be_below_max() {
    error(
        "measures.yaml",
        6,
        10,
        "`max` (0) must be greater than `min` (100)",
    )
    .hint("`min` and `max` are the least and greatest value a progress point may take")
    .under("0")
    .check(
        "measure-min-not-below-max",
        &only("measure-min-not-below-max"),
    );
}

#[test]
fn measure_range_must_be_finite() {
    error(
        "measures.yaml",
        6,
        10,
        "`max` must be a finite number, found `.inf`",
    )
    .hint("write an ordinary number such as `0` or `250`")
    .under(".inf")
    .check("measure-non-finite", &only("measure-non-finite"));
}

#[test]
fn measure_unknown_key_with_did_you_mean() {
    let case = "measure-unknown-key";
    let diags = diagnostics(case);
    assert_eq!(diags.len(), 2, "{}", diag::render(&diags));
    // The misspelt `better` also leaves the measure without one.
    error("measures.yaml", 2, 5, "a measure is missing `better`").check(case, &diags[0]);
    error("measures.yaml", 7, 5, "unknown key `beter` in a measure")
        .hint("did you mean `better`?")
        .under("beter")
        .check(case, &diags[1]);
}

#[test]
fn measure_id_may_not_be_a_record_indicator() {
    error(
        "measures.yaml",
        8,
        9,
        "measure id `gpa` is the name of a record indicator",
    )
    .hint("record indicators (attendance.absence_rate, reading_percentile, math_percentile, sel.t_score, behavior.office_referrals, gpa, failing_courses) are taken from each decision; give the manual measure another id, e.g. `gpa-manual`")
    .under("gpa")
    .check("measure-record-indicator-id", &only("measure-record-indicator-id"));
}

#[test]
fn unknown_progress_measure_in_the_catalogue() {
    error(
        "interventions.yaml",
        73,
        23,
        "unknown progress measure `oral-reading-fluensy`",
    )
    .hint(
        "did you mean `oral-reading-fluency`? (a record indicator, or a measure of measures.yaml)",
    )
    .under("oral-reading-fluensy")
    .check(
        "unknown-progress-measure",
        &only("unknown-progress-measure"),
    );
}

#[test]
fn bad_tier_does_not_hide_condition_errors() {
    let case = "bad-tier-hides-condition";
    let diags = diagnostics(case);
    assert_eq!(diags.len(), 2, "{}", diag::render(&diags));
    error(
        "academic.yaml",
        6,
        11,
        "`tier` must be 1, 2 or 3, found `4`",
    )
    .hint(HINT_TIER)
    .check(case, &diags[0]);
    error("academic.yaml", 7, 19, "unknown record field `gpaa`")
        .hint("did you mean `gpa`?")
        .under("gpaa")
        .check(case, &diags[1]);
}

// ---------------------------------------------------------------- conditions

#[test]
fn rhai_syntax_error_on_the_second_line_of_a_folded_block() {
    error("attendance.yaml", 9, 44, "Rhai syntax: Unexpected '<'")
        .hint(HINT_RHAI)
        .under("<")
        .check("rhai-syntax-block", &only("rhai-syntax-block"));
}

#[test]
fn rhai_syntax_error_inline() {
    // `and` is not Rhai; column 65 is its `a`.
    error(
        "academic.yaml",
        15,
        65,
        "Rhai syntax: Expecting ';' to terminate this statement",
    )
    .hint(HINT_RHAI)
    .check("rhai-syntax-inline", &only("rhai-syntax-inline"));
}

#[test]
fn unknown_record_field() {
    error("academic.yaml", 7, 19, "unknown record field `atendance`")
        .hint("did you mean `attendance`?")
        .under("atendance")
        .check("unknown-field", &only("unknown-field"));
}

#[test]
fn unknown_record_subfield() {
    error("attendance.yaml", 9, 29, "`attendance` has no field `rat`")
        .hint("did you mean `rate`?")
        .under("rat")
        .check("unknown-subfield", &only("unknown-subfield"));
}

#[test]
fn unknown_plan_fact_on_the_second_line_of_a_folded_condition() {
    error("plans.yaml", 9, 33, "`plans.academic` has no fact `aim_gp`")
        .hint("did you mean `aim_gap`?")
        .under("aim_gp")
        .check("unknown-plan-fact", &only("unknown-plan-fact"));
}

#[test]
fn unknown_plan_key_is_matched_against_the_catalogue_and_the_domains() {
    error("plans.yaml", 7, 25, "unknown plan `small-group-readng`")
        .hint("did you mean `small-group-reading`? (a plan is named by its domain or by an intervention id of interventions.yaml)")
        .under("small-group-readng")
        .check("unknown-plan-key", &only("unknown-plan-key"));
}

#[test]
fn unknown_history_domain() {
    error(
        "plans.yaml",
        7,
        27,
        "unknown domain `atendance` in `student.history`",
    )
    .hint("did you mean `attendance`?")
    .under("atendance")
    .check("unknown-history-domain", &only("unknown-history-domain"));
}

#[test]
fn explain_unknown_plan_fact_points_inside_the_placeholder() {
    error(
        "plans.yaml",
        8,
        101,
        "explanation names an unknown fact: `plans.academic` has no fact `intervnetion`",
    )
    .hint("did you mean `intervention`?")
    .under("intervnetion")
    .check(
        "explain-unknown-plan-fact",
        &only("explain-unknown-plan-fact"),
    );
}

#[test]
fn unknown_param() {
    error("academic.yaml", 7, 33, "unknown param `low_gap`")
        .hint("did you mean `low_gpa`? (params are defined in params.yaml)")
        .under("low_gap")
        .check("unknown-param", &only("unknown-param"));
}

#[test]
fn non_boolean_condition() {
    error(
        "academic.yaml",
        7,
        11,
        "condition gives f64 instead of true or false",
    )
    .hint("compare the value, e.g. `student.gpa <= params.low_gpa`")
    .check("non-boolean", &only("non-boolean"));
}

#[test]
fn type_mismatch_in_arithmetic() {
    error(
        "academic.yaml",
        7,
        23,
        "condition fails on a sample record: Function not found: - (f64, ",
    )
    .prefix()
    .hint("compare values of the same kind: numbers with numbers, text with text")
    .under("-")
    .check(
        "type-mismatch-arithmetic",
        &only("type-mismatch-arithmetic"),
    );
}

#[test]
fn type_mismatch_in_comparison_is_an_error() {
    let diags = match RuleSet::load_dir(&fixture("type-mismatch")) {
        Ok(rs) => panic!(
            "type-mismatch: loaded; warnings:\n{}",
            diag::render(&rs.warnings)
        ),
        Err(e) => e.diagnostics,
    };
    assert!(
        diags
            .iter()
            .any(|d| d.is_error() && d.file == "academic.yaml" && d.line == 7),
        "{}",
        diag::render(&diags)
    );
}

#[test]
fn assignment_to_the_record() {
    error(
        "academic.yaml",
        7,
        23,
        "a rule cannot change the student record or the params",
    )
    .hint("compare with `==`, or use a `let` variable")
    .under("=")
    .check("assignment", &only("assignment"));
}

#[test]
fn program_status_is_a_warning_only() {
    let case = "program-status";
    let rs = RuleSet::load_dir(&fixture(case)).expect("loads despite the warning");
    assert_eq!(rs.warnings.len(), 1, "{}", diag::render(&rs.warnings));
    warning(
        "academic.yaml",
        23,
        11,
        "`student.programs.iep` is a program status, not a changeable indicator",
    )
    .hint(HINT_STATUS)
    .under("student.programs.iep")
    .check(case, &rs.warnings[0]);
    assert!(rs.rule("iep-low-gpa").is_some());
}

// ---------------------------------------------------------------- privacy.yaml

#[test]
fn privacy_policy_problems_are_each_located_on_their_line() {
    let case = "privacy-policy";
    let diags = diagnostics(case);
    assert_eq!(diags.len(), 7, "{}", diag::render(&diags));
    let f = "privacy.yaml";
    let wants = [
        error(f, 5, 3, "unknown record field `sel.scor`")
            .hint("did you mean `sel.t_score`?")
            .under("sel.scor"),
        error(
            f,
            6,
            3,
            "`student_id` is always kept: the audit log finds a student's decisions by it",
        )
        .under("student_id"),
        error(
            f,
            7,
            8,
            "`gpa` must be `keep`, `mask` or `hash`, found `hide`",
        )
        .hint("keep stores the value, mask stores `[masked]`, hash stores the value's SHA-256")
        .under("hide"),
        error(
            f,
            9,
            3,
            "`attendance.tardies` is inside `attendance`, which line 8 has masked as a whole",
        )
        .hint("keep either the line for `attendance` or the one for `attendance.tardies`")
        .under("attendance.tardies"),
        error(f, 10, 3, "`courses.title` is set twice (first on line 4)")
            .hint("keep one of the two lines")
            .under("student.courses.title"),
        // Issue 15: labels are never logged, so a line for one is a mistake.
        error(
            f,
            11,
            3,
            "reporting labels never reach the audit log: no rule may read them, so there is nothing to keep, mask or hash",
        )
        .hint("remove this line; the labels stay in the student's snapshot for equity reports")
        .under("reporting.ell"),
        // Errors first, then warnings.
        warning(
            f,
            8,
            3,
            "a rule reads `student.attendance.absence_rate`, so its flags show that value as an input whatever this line says",
        )
        .hint("the decision is kept whole so that every flag can be explained; this line hides the value only in the kept record")
        .under("attendance"),
    ];
    for (want, d) in wants.iter().zip(&diags) {
        want.check(case, d);
    }
}

#[test]
fn privacy_hashes_that_hide_nothing_and_lines_without_effect_are_warnings() {
    let case = "privacy-warnings";
    let rs = RuleSet::load_dir(&fixture(case)).expect("loads despite the warnings");
    assert_eq!(rs.warnings.len(), 3, "{}", diag::render(&rs.warnings));
    warning(
        "privacy.yaml",
        4,
        3,
        "a rule reads `student.gpa`, so its flags show that value as an input whatever this line says",
    )
    .hint("the decision is kept whole so that every flag can be explained; this line hides the value only in the kept record")
    .under("gpa")
    .check(case, &rs.warnings[0]);
    warning(
        "privacy.yaml",
        5,
        28,
        "hashing `attendance.days_present` does not hide it: it is a number with few likely values: trying them all reverses the hash",
    )
    .hint("use `attendance.days_present: mask`")
    .under("hash")
    .check(case, &rs.warnings[1]);
    warning(
        "privacy.yaml",
        6,
        3,
        "no rule reads `sel`, so the audit log does not keep `sel.screener` anyway",
    )
    .hint("the log keeps only the record sections the rules read; this line takes effect once a rule reads it")
    .under("sel.screener")
    .check(case, &rs.warnings[2]);
    // Courses titles hashed (text: no warning), gpa masked: the policy as loaded.
    let policy = serde_json::to_value(&rs.privacy).unwrap();
    assert_eq!(
        policy,
        serde_json::json!({"courses.title": "hash", "gpa": "mask",
            "attendance.days_present": "hash", "sel.screener": "mask"})
    );
}

// ---------------------------------------------------------------- band analysis

/// The one warning of a band fixture that loads (issue 17).
fn only_warning(case: &str) -> (RuleSet, Diagnostic) {
    let rs = RuleSet::load_dir(&fixture(case)).expect("band warnings do not stop a load");
    assert_eq!(
        rs.warnings.len(),
        1,
        "{case}:\n{}",
        diag::render(&rs.warnings)
    );
    let d = rs.warnings[0].clone();
    (rs, d)
}

const WATCH: &str = "student.attendance.absence_rate >= params.attendance_watch_rate && student.attendance.absence_rate <= 0.12";

#[test]
fn chronic_band_moved_up_opens_a_gap_named_by_its_interval() {
    let case = "band-gap";
    let (_, d) = only_warning(case);
    warning(
        "attendance.yaml",
        15,
        11,
        "absence rate in [0.1, 0.12) fires no attendance rule: it lies between `attendance-watch` and `chronic-absence`",
    )
    .hint("start this band where the one below it ends")
    .under("student.attendance.absence_rate >= 0.12 && student.attendance.absence_rate < params.severe_absence_rate")
    .check(case, &d);
}

#[test]
fn watch_band_closed_at_its_top_overlaps_the_chronic_band() {
    let case = "band-overlap";
    let (_, d) = only_warning(case);
    warning(
        "attendance.yaml",
        7,
        11,
        "`attendance-watch` and `chronic-absence` both fire for absence rate in [0.1, 0.12]",
    )
    .hint("make one band end where the next begins (`<` on one side, `>=` on the other)")
    .under(WATCH)
    .check(case, &d);
}

#[test]
fn a_band_inside_a_higher_tier_band_is_shadowed_not_an_overlap() {
    let case = "band-shadowed";
    let (_, d) = only_warning(case);
    warning(
        "attendance.yaml",
        15,
        11,
        "`chronic-absence` is shadowed: it can only fire when `severe-chronic-absence` also fires, so it never decides the attendance tier",
    )
    .hint("move its band so that it starts where the higher tier ends")
    .under("student.attendance.absence_rate >= 0.25")
    .check(case, &d);
}

#[test]
fn a_band_with_its_edges_reversed_is_unreachable() {
    let case = "band-unreachable";
    let (_, d) = only_warning(case);
    warning(
        "attendance.yaml",
        23,
        11,
        "`severe-chronic-absence` can never fire: no absence rate is in [0.2, 0.1)",
    )
    .hint("a band's lower edge must be below its upper edge")
    .check(case, &d);
}

#[test]
fn a_rate_threshold_written_as_a_percentage_is_unreachable() {
    let case = "band-out-of-range";
    let (_, d) = only_warning(case);
    warning(
        "attendance.yaml",
        23,
        11,
        "`severe-chronic-absence` can never fire: absence rate in [20, ∞) is outside its valid range [0, 1]",
    )
    .hint("check the threshold's scale (rates are fractions, 0.10 = 10%)")
    .under("student.attendance.absence_rate >= 20")
    .check(case, &d);
}

#[test]
fn a_condition_the_analysis_cannot_read_is_listed_not_guessed_about() {
    let rs = RuleSet::load_dir(&fixture("band-not-analysed")).expect("loads");
    assert!(rs.warnings.is_empty(), "{}", diag::render(&rs.warnings));
    assert_eq!(rs.not_analysed, ["severe-chronic-absence"]);
    let out = intervene(&[
        "check",
        "--family-languages",
        "",
        path_arg(&fixture("band-not-analysed")),
    ]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(
        out.stdout.contains("note: not analysed for band gaps and overlaps (not threshold comparisons of one number): `severe-chronic-absence`"),
        "{}",
        out.stdout
    );
}

#[test]
fn allow_with_a_misspelt_kind_is_an_error_with_a_suggestion() {
    let case = "band-allow-unknown-kind";
    let d = only(case);
    error(
        "attendance.yaml",
        11,
        7,
        "unknown warning kind `overlapp` in `allow`",
    )
    .hint("did you mean `overlap`?")
    .under("overlapp")
    .check(case, &d);
}

/// The overlap fixture's files, with `allow` under the watch band set to `allow`.
fn overlap_with_allow(allow: &str) -> std::collections::BTreeMap<String, String> {
    let dir = fixture("band-overlap");
    let mut files = std::collections::BTreeMap::new();
    for name in RuleSet::file_names(&dir) {
        let text = fs::read_to_string(dir.join(&name)).expect("read fixture");
        files.insert(name, text);
    }
    let pack = files["attendance.yaml"].replacen(
        "    recommend: [attendance-plan]\n",
        &format!("    recommend: [attendance-plan]\n    allow:\n{allow}"),
        1,
    );
    files.insert("attendance.yaml".into(), pack);
    files
}

#[test]
fn an_allowed_overlap_is_silenced_and_kept_in_the_version() {
    let files = overlap_with_allow("      overlap: \"the pilot keeps both up to 12%\"\n");
    let rs = RuleSet::from_files(files).expect("loads");
    assert!(rs.warnings.is_empty(), "{}", diag::render(&rs.warnings));
    assert!(rs.files["attendance.yaml"].contains("overlap: \"the pilot keeps both up to 12%\""));
    // Allowing another kind leaves the overlap reported.
    let files = overlap_with_allow("      gap: \"watch ends early on purpose\"\n");
    let rs = RuleSet::from_files(files).expect("loads");
    assert_eq!(rs.warnings.len(), 1, "{}", diag::render(&rs.warnings));
    assert!(rs.warnings[0].message.contains("both fire"));
}

#[test]
fn allow_without_a_reason_is_an_error_at_the_kind() {
    for allow in ["      overlap: \"\"\n", "      overlap:\n"] {
        let Err(e) = RuleSet::from_files(overlap_with_allow(allow)) else {
            panic!("an allow without a reason loaded");
        };
        let d = &e.diagnostics[0];
        assert_eq!(d.message, "`allow: overlap` needs a reason", "{d}");
        assert_eq!((d.line, d.column), (11, 7), "{d}");
    }
    let Err(e) = RuleSet::from_files(overlap_with_allow("      - overlap\n")) else {
        panic!("a list allow loaded");
    };
    assert_eq!(
        e.diagnostics[0].message,
        "`allow` must map warning kinds to reasons"
    );
}

#[test]
fn the_shipped_rules_give_no_band_warning() {
    let rs = RuleSet::load_dir(&manifest_dir().join("rules")).expect("shipped rules load");
    assert!(rs.warnings.is_empty(), "{}", diag::render(&rs.warnings));
    // Every attendance band is analysed.
    for id in [
        "attendance-watch",
        "chronic-absence",
        "severe-chronic-absence",
        "repeated-referrals",
        "low-gpa",
    ] {
        assert!(
            !rs.not_analysed.iter().any(|n| n == id),
            "{id} not analysed"
        );
    }
}

// ---------------------------------------------------------------- explanations

/// Issue 15: group labels are for equity reports; a rule that reads one is an error
/// at the reference, never a warning.
#[test]
fn a_rule_reading_a_reporting_label_is_an_error_at_the_reference() {
    error(
        "academic.yaml",
        7,
        52,
        "a rule may not read reporting labels",
    )
    .hint("`student.reporting` holds student group labels (ELL, IEP, race and ethnicity…) for equity reports only: flags come from attendance, behavior, courses and screeners")
    .under("reporting")
    .check("reporting-in-condition", &only("reporting-in-condition"));
}

#[test]
fn strength_with_a_tier() {
    error("academic.yaml", 15, 11, "a strength has no tier")
        .hint("strengths are what a student does well; remove `tier`")
        .under("1")
        .check("strength-with-tier", &only("strength-with-tier"));
}

#[test]
fn family_text_with_an_unknown_placeholder() {
    error(
        "academic.yaml",
        18,
        39,
        "explanation names unknown record field `failing_course`",
    )
    .hint("did you mean `failing_courses`?")
    .under("student.failing_course")
    .check(
        "family-unknown-placeholder",
        &only("family-unknown-placeholder"),
    );
}

#[test]
fn family_text_under_a_name_that_is_not_a_language() {
    error("academic.yaml", 18, 7, "`english` is not a language code")
        .hint("use a code such as `en`, `es` or `pt-BR`")
        .under("english")
        .check("family-bad-language", &only("family-bad-language"));
}

#[test]
fn explain_unknown_field() {
    error(
        "academic.yaml",
        16,
        24,
        "explanation names unknown record field `failing_course`",
    )
    .hint("did you mean `failing_courses`?")
    .under("student.failing_course")
    .check("explain-unknown-field", &only("explain-unknown-field"));
}

#[test]
fn explain_unknown_param() {
    error(
        "academic.yaml",
        8,
        57,
        "explanation names unknown param `lowgpa`",
    )
    .hint("did you mean `low_gpa`?")
    .under("params.lowgpa")
    .check("explain-unknown-param", &only("explain-unknown-param"));
}

#[test]
fn explain_bad_format() {
    error("academic.yaml", 8, 23, "unknown format `x`")
        .hint("use `%` for a percentage or `.N` for N decimals, e.g. `{student.gpa:.2}`")
        .under("student.gpa:x")
        .check("explain-bad-format", &only("explain-bad-format"));
}

#[test]
fn explain_error_in_a_folded_block_is_located() {
    error(
        "attendance.yaml",
        12,
        22,
        "explanation names unknown param `chronic_absence`",
    )
    .hint("did you mean `chronic_absence_rate`?")
    .under("params.chronic_absence")
    .check("explain-block", &only("explain-block"));
}

#[test]
fn explain_error_after_escapes_is_located() {
    error(
        "academic.yaml",
        16,
        28,
        "explanation names unknown record field `failing_course`",
    )
    .hint("did you mean `failing_courses`?")
    .under("student.failing_course")
    .check("explain-escaped", &only("explain-escaped"));
}

// ---------------------------------------------------------------- lib/*.rhai

#[test]
fn lib_syntax_error() {
    error(
        "lib/helpers.rhai",
        4,
        23,
        "Rhai syntax: Expecting ',' to separate the parameters of function 'in_band'",
    )
    .check("lib-syntax", &only("lib-syntax"));
}

#[test]
fn lib_top_level_statement() {
    error(
        "lib/helpers.rhai",
        8,
        1,
        "lib files may only define functions",
    )
    .hint(HINT_LIB)
    .under("l")
    .check("lib-top-level-statement", &only("lib-top-level-statement"));
}

#[test]
fn lib_top_level_column_counts_characters() {
    let shipped = |f: &str| fs::read_to_string(manifest_dir().join("rules").join(f)).expect("read");
    let files = [
        (
            "interventions.yaml".to_string(),
            shipped("interventions.yaml"),
        ),
        ("measures.yaml".to_string(), shipped("measures.yaml")),
        ("lib/h.rhai".to_string(), "/* é */ let y = 1;\n".to_string()),
    ]
    .into_iter()
    .collect();
    let diags = RuleSet::from_files(files)
        .expect_err("top-level statement")
        .diagnostics;
    assert_eq!(diags.len(), 1, "{}", diag::render(&diags));
    assert_eq!((diags[0].line, diags[0].column), (1, 9), "{}", diags[0]);
}

// ---------------------------------------------------------------- catalogue

#[test]
fn missing_interventions_catalogue() {
    let diags = diagnostics("missing-interventions");
    let d = diags
        .iter()
        .find(|d| d.file == "interventions.yaml")
        .unwrap_or_else(|| {
            panic!(
                "no interventions.yaml diagnostic:\n{}",
                diag::render(&diags)
            )
        });
    assert_eq!(d.severity, Severity::Error);
    assert_eq!((d.line, d.column), (0, 0), "the whole file: {d}");
    assert_eq!(d.message, "the rule set has no interventions.yaml");
    assert_eq!(
        d.hint.as_deref(),
        Some("add the catalogue of interventions the rules recommend")
    );
    assert_eq!(d.source_line, None);
}

#[test]
fn missing_interventions_reports_the_root_cause_first_without_empty_hints() {
    let diags = diagnostics("missing-interventions");
    assert_eq!(
        diags[0].message,
        "the rule set has no interventions.yaml",
        "{}",
        diag::render(&diags)
    );
    for d in &diags {
        let hint = d.hint.as_deref().unwrap_or_default();
        assert!(
            !hint.contains("expected one of:  ") && !hint.trim_end().ends_with("expected one of:"),
            "empty list of candidates: {d}"
        );
    }
}

// ---------------------------------------------------------------- everything at once

#[test]
fn several_problems_in_several_files_are_all_reported() {
    let case = "many-problems";
    let diags = diagnostics(case);
    assert_eq!(diags.len(), 7, "{}", diag::render(&diags));
    assert_eq!(diags.iter().filter(|d| d.is_error()).count(), 6);
    let wants = [
        error("academic.yaml", 7, 33, "unknown param `low_gap`")
            .hint("did you mean `low_gpa`? (params are defined in params.yaml)")
            .under("low_gap"),
        error("academic.yaml", 17, 17, "unknown intervention `tutorin`")
            .hint("did you mean `tutoring`? (interventions are listed in interventions.yaml)")
            .under("tutorin"),
        error(
            "attendance.yaml",
            6,
            11,
            "`tier` must be 1, 2 or 3, found `5`",
        )
        .hint(HINT_TIER)
        .under("5"),
        error(
            "attendance.yaml",
            17,
            19,
            "unknown record field `atendance`",
        )
        .hint("did you mean `attendance`?")
        .under("atendance"),
        error("behavioral.yaml", 6, 5, "duplicate key `tier`")
            .hint("`tier` is already set on line 5; keep one of them"),
        error(
            "lib/helpers.rhai",
            8,
            1,
            "lib files may only define functions",
        )
        .hint(HINT_LIB),
        // Warnings come after every error.
        warning(
            "academic.yaml",
            23,
            11,
            "`student.programs.iep` is a program status, not a changeable indicator",
        )
        .hint(HINT_STATUS)
        .under("student.programs.iep"),
    ];
    for (want, d) in wants.iter().zip(&diags) {
        want.check(case, d);
    }
}

// ---------------------------------------------------------------- the binary

struct Run {
    code: i32,
    stdout: String,
}

fn intervene(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_intervene"))
        .args(args)
        .current_dir(manifest_dir())
        .output()
        .expect("run intervene");
    Run {
        code: out.status.code().expect("exit code"),
        stdout: String::from_utf8(out.stdout).expect("UTF-8 stdout"),
    }
}

fn path_arg(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

#[test]
fn check_prints_location_source_underline_and_hint() {
    let dir = fixture("unknown-field");
    let run = intervene(&["check", path_arg(&dir)]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    // `    when: student.atendance.rate < 0.9`: `atendance` is columns 19-27.
    let underline = format!("   | {}{}", " ".repeat(18), "^".repeat(9));
    let expected = [
        "academic.yaml:7:19: error: unknown record field `atendance`",
        " 7 |     when: student.atendance.rate < 0.9",
        &underline,
        " = hint: did you mean `attendance`?",
        "",
        "1 error, 0 warnings",
        "",
    ]
    .join("\n");
    assert_eq!(run.stdout, expected);
    // The carets sit under the misspelt name.
    let lines: Vec<&str> = run.stdout.lines().collect();
    let caret = lines[2].find('^').expect("underline");
    assert_eq!(&lines[1][caret..caret + 9], "atendance");
}

#[test]
fn check_json_lists_the_diagnostics() {
    let dir = fixture("unknown-field");
    let run = intervene(&["check", path_arg(&dir), "--format", "json"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON output");
    assert_eq!(v["ok"], false);
    assert!(v["version"].is_null(), "{v}");
    let diags = v["diagnostics"].as_array().expect("diagnostics array");
    assert_eq!(diags.len(), 1, "{v}");
    let d = &diags[0];
    assert_eq!(d["severity"], "error");
    assert_eq!(d["file"], "academic.yaml");
    assert_eq!(d["line"], 7);
    assert_eq!(d["column"], 19);
    assert_eq!(d["message"], "unknown record field `atendance`");
    assert_eq!(d["hint"], "did you mean `attendance`?");
    assert_eq!(d["source_line"], "    when: student.atendance.rate < 0.9");
}

#[test]
fn check_json_of_a_valid_set_with_a_warning() {
    let dir = fixture("program-status");
    let run = intervene(&[
        "check",
        path_arg(&dir),
        "--format",
        "json",
        "--family-languages",
        "",
    ]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON output");
    assert_eq!(v["ok"], true);
    assert!(
        v["version"]
            .as_str()
            .is_some_and(|s| s.starts_with("sha256:")),
        "{v}"
    );
    let diags = v["diagnostics"].as_array().expect("diagnostics array");
    assert_eq!(diags.len(), 1, "{v}");
    assert_eq!(diags[0]["severity"], "warning");
    assert_eq!(
        (diags[0]["line"].as_u64(), diags[0]["column"].as_u64()),
        (Some(23), Some(11))
    );
}

#[test]
fn check_warning_only_exits_zero() {
    let dir = fixture("program-status");
    let run = intervene(&["check", path_arg(&dir), "--family-languages", ""]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stdout.starts_with(
            "academic.yaml:23:11: warning: `student.programs.iep` is a program status, not a changeable indicator\n"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("\n0 errors, 1 warning\n"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains(" is valid (sha256:"), "{}", run.stdout);
}

/// Issue 15: a district that writes to families in English and Spanish is told, at
/// the rule, which rules would fire with nothing to tell a family.
#[test]
fn check_warns_about_a_rule_without_family_text_in_an_enabled_language() {
    let dir = fixture("program-status");
    let run = intervene(&["check", path_arg(&dir), "--family-languages", "en,es"]);
    assert_eq!(run.code, 0, "warnings only: {}", run.stdout);
    assert!(
        run.stdout.contains(
            "academic.yaml:3:5: warning: rule `low-gpa` fires without family text in `en`, `es`\n"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(
            " = hint: add `family: {en: \"...\", es: \"...\"}` in the words a family reads (the district enables en, es)"
        ),
        "{}",
        run.stdout
    );
    let only_es = intervene(&["check", path_arg(&dir), "--family-languages", "es"]);
    assert!(
        only_es
            .stdout
            .contains("rule `low-gpa` fires without family text in `es`\n"),
        "{}",
        only_es.stdout
    );
    // The shipped rules have both languages for every rule.
    let shipped = intervene(&["check", "rules"]);
    assert!(
        shipped.stdout.contains("\n0 errors, 0 warnings\n")
            || shipped.stdout.starts_with("0 errors, 0 warnings\n"),
        "{}",
        shipped.stdout
    );
}

#[test]
fn check_counts_every_problem() {
    let dir = fixture("many-problems");
    let run = intervene(&["check", path_arg(&dir)]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(
        run.stdout.lines().last(),
        Some("6 errors, 1 warning"),
        "{}",
        run.stdout
    );
    for loc in [
        "academic.yaml:7:33: error:",
        "academic.yaml:17:17: error:",
        "attendance.yaml:6:11: error:",
        "attendance.yaml:17:19: error:",
        "behavioral.yaml:6:5: error:",
        "lib/helpers.rhai:8:1: error:",
        "academic.yaml:23:11: warning:",
    ] {
        assert_eq!(
            run.stdout.lines().filter(|l| l.starts_with(loc)).count(),
            1,
            "{loc} in\n{}",
            run.stdout
        );
    }
}

#[test]
fn check_shipped_rules_exits_zero() {
    let dir = manifest_dir().join("rules");
    let run = intervene(&["check", path_arg(&dir)]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stdout.lines().any(|l| l.starts_with("0 errors, ")),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains(" is valid (sha256:"), "{}", run.stdout);
}

// ---------------------------------------------------------------- version

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("create dir");
    for entry in fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

fn version(dir: &Path) -> String {
    RuleSet::load_dir(dir)
        .unwrap_or_else(|e| panic!("{} does not load:\n{e}", dir.display()))
        .version
}

/// `params.yaml` with the value of `name` (written `name:\n  value: N`) replaced.
fn set_param(text: &str, name: &str, value: &str) -> String {
    let mut out = Vec::new();
    let mut in_param = false;
    let mut done = false;
    for line in text.lines() {
        if line.starts_with(&format!("{name}:")) {
            in_param = true;
        } else if in_param && !done && line.trim_start().starts_with("value:") {
            let indent = &line[..line.len() - line.trim_start().len()];
            out.push(format!("{indent}value: {value}"));
            done = true;
            continue;
        }
        out.push(line.to_string());
    }
    assert!(
        done,
        "param `{name}` with a `value:` line not found in params.yaml"
    );
    out.join("\n") + "\n"
}

#[test]
fn version_is_stable_and_changes_with_a_param_value() {
    let shipped = manifest_dir().join("rules");
    let first = version(&shipped);
    assert_eq!(
        version(&shipped),
        first,
        "loading twice gives the same version"
    );
    let hex = first
        .strip_prefix("sha256:")
        .expect("version starts with sha256:");
    assert_eq!(hex.len(), 64, "{first}");
    assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()), "{first}");

    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("rules");
    copy_dir(&shipped, &dir);
    assert_eq!(
        version(&dir),
        first,
        "the version covers content, not location"
    );

    let params = dir.join("params.yaml");
    let original = fs::read_to_string(&params).expect("read params.yaml");
    let edited = set_param(&original, "low_gpa", "1.75");
    assert_ne!(edited, original);
    fs::write(&params, &edited).expect("write params.yaml");
    let rs = RuleSet::load_dir(&dir).expect("edited rules load");
    assert_eq!(rs.params["low_gpa"].as_f64(), 1.75);
    assert_ne!(
        rs.version, first,
        "a changed param value gives a new version"
    );
    assert!(rs.version.starts_with("sha256:"));
    assert_eq!(version(&dir), rs.version, "and that version is stable too");

    fs::write(&params, &original).expect("restore params.yaml");
    assert_eq!(
        version(&dir),
        first,
        "restoring the value restores the version"
    );

    // Line endings are normalised: the same content with CRLF is the same version.
    fs::write(&params, original.replace('\n', "\r\n")).expect("write CRLF");
    assert_eq!(
        version(&dir),
        first,
        "CRLF line endings do not change the version"
    );
}

// ---------------------------------------------------------------- symbolic links

/// A line only the file outside the rule set holds.
const OUTSIDE_SECRET: &str = "hunter2-outside-the-rule-set";

/// A copy of the shipped rules and, beside it, a folder the copy must not reach.
fn rules_and_outside() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let root = tempfile::tempdir().expect("tempdir");
    let rules = root.path().join("rules");
    let outside = root.path().join("outside");
    copy_dir(&manifest_dir().join("rules"), &rules);
    fs::create_dir_all(&outside).expect("outside");
    fs::write(
        outside.join("secret.yaml"),
        format!("{OUTSIDE_SECRET}: 1\n"),
    )
    .expect("write");
    (root, rules, outside)
}

/// A rule file that links out of the directory is refused by the link's name, as an
/// error whose text holds none of the target's content; `intervene check` says the
/// same and exits 1.
#[test]
fn a_rule_file_linked_out_of_the_directory_is_refused_by_name() {
    let (_root, rules, outside) = rules_and_outside();
    std::os::unix::fs::symlink(outside.join("secret.yaml"), rules.join("leak.yaml"))
        .expect("symlink");
    let diags = match RuleSet::load_dir(&rules) {
        Ok(rs) => panic!("loaded through a link out of the directory: {}", rs.version),
        Err(e) => e.diagnostics,
    };
    assert_eq!(diags.len(), 1, "{}", diag::render(&diags));
    let d = &diags[0];
    assert_eq!(d.severity, Severity::Error);
    assert_eq!((d.file.as_str(), d.line, d.column), ("leak.yaml", 0, 0));
    assert_eq!(
        d.message,
        "`leak.yaml` is a symbolic link to a place outside the rules directory; it is not read"
    );
    assert!(d.source_line.is_none(), "{d}");
    let rendered = diag::render(&diags);
    assert!(!rendered.contains(OUTSIDE_SECRET), "{rendered}");
    assert!(
        !rendered.contains("outside/"),
        "the target's path is shown: {rendered}"
    );

    let run = intervene(&["check", path_arg(&rules)]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stdout.contains("leak.yaml"), "{}", run.stdout);
    assert!(!run.stdout.contains(OUTSIDE_SECRET), "{}", run.stdout);
}

/// A `lib` or `tests` folder linked out of the directory is refused the same way (by
/// the folder's name; nothing in it is read), and so is a link that leads nowhere.
#[test]
fn a_folder_linked_out_of_the_directory_and_a_dangling_link_are_refused() {
    let (_root, rules, outside) = rules_and_outside();
    fs::rename(rules.join("tests"), outside.join("tests")).expect("move tests out");
    fs::write(
        outside.join("tests").join("leak.yaml"),
        format!("{OUTSIDE_SECRET}: 1\n"),
    )
    .expect("write");
    std::os::unix::fs::symlink(outside.join("tests"), rules.join("tests")).expect("symlink");
    std::os::unix::fs::symlink(outside.join("missing.yaml"), rules.join("gone.yaml"))
        .expect("dangling symlink");
    let diags = match RuleSet::load_dir(&rules) {
        Ok(rs) => panic!("loaded through a link out of the directory: {}", rs.version),
        Err(e) => e.diagnostics,
    };
    let got: Vec<(&str, &str)> = diags
        .iter()
        .map(|d| (d.file.as_str(), d.message.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (
                "gone.yaml",
                "`gone.yaml` is a symbolic link whose target does not exist; it is not read"
            ),
            (
                "tests",
                "`tests` is a symbolic link to a place outside the rules directory; it is not read"
            ),
        ],
        "{}",
        diag::render(&diags)
    );
    assert!(!diag::render(&diags).contains(OUTSIDE_SECRET));
}

/// Links that stay inside the directory are followed: `params.yaml` linked to a
/// file in a folder of the directory the loader does not read loads like the file.
#[test]
fn a_link_inside_the_rules_directory_is_followed() {
    let (_root, rules, _outside) = rules_and_outside();
    let before = RuleSet::load_dir(&rules).expect("the copy loads");
    fs::create_dir_all(rules.join("shared")).expect("shared folder");
    fs::rename(rules.join("params.yaml"), rules.join("shared/params.yaml")).expect("move");
    std::os::unix::fs::symlink("shared/params.yaml", rules.join("params.yaml"))
        .expect("symlink inside");
    let after = RuleSet::load_dir(&rules).expect("a link inside the directory loads");
    assert_eq!(after.version, before.version);
}
