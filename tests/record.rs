//! The record validator, as an SIS integrator meets it: every refused record names the
//! field (a path such as `attendance.days_present` or `assessments[1].percentile`) and
//! says what is wrong with it; good records, edge values included, are accepted.
//!
//! Sample records live in `fixtures/records/{valid,invalid}/`; every invalid fixture
//! has its expected field and problem in [`INVALID`] below.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use intervene::record::{
    MAX_JSON_DEPTH, MAX_RECORD_BYTES, MAX_STUDENT_ID_LEN, RecordError, parse_record,
};
use proptest::prelude::*;
use serde_json::{Value, json};

fn fixtures(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/records")
        .join(kind)
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

fn refused(json: &str) -> RecordError {
    match parse_record(json) {
        Ok(r) => panic!("record was accepted but should be refused: {r:?}\n{json}"),
        Err(e) => e,
    }
}

fn fields(e: &RecordError) -> Vec<&str> {
    e.problems.iter().map(|p| p.field.as_str()).collect()
}

/// Each invalid fixture: the field its first problem names (`None`: checked by the
/// test named in the comment), and words the problem must contain (case-insensitive).
const INVALID: &[(&str, Option<&str>, &[&str])] = &[
    // field: see `syntax_errors_name_no_bogus_field`
    ("bad_json.json", None, &["invalid json"]),
    ("gpa_5_1.json", Some("gpa"), &["between 0 and 5", "5.1"]),
    (
        "grade_pct_over_100.json",
        Some("courses[0].grade_pct"),
        &["between 0 and 100", "104.5"],
    ),
    (
        "invalid_assessment_date.json",
        Some("assessments[0].date"),
        &["date", "10/01/2026"],
    ),
    ("invalid_date.json", Some("as_of"), &["date", "2026-02-30"]),
    // field: see `missing_student_id_names_student_id`
    ("missing_student_id.json", None, &["missing", "student_id"]),
    (
        "negative_credits.json",
        Some("courses[0].credits"),
        &["zero or more", "-1"],
    ),
    (
        "negative_days_present.json",
        Some("attendance.days_present"),
        &["zero or more", "-1"],
    ),
    (
        "negative_office_referrals.json",
        Some("behavior.office_referrals"),
        &["-2"],
    ),
    (
        "negative_tardies.json",
        Some("attendance.tardies"),
        &["zero or more", "-3"],
    ),
    ("nested_too_deep.json", Some(""), &["nested deeper than 32"]),
    (
        "percentile_101.json",
        Some("assessments[0].percentile"),
        &["between 0 and 100", "101"],
    ),
    (
        "percentile_negative.json",
        Some("assessments[1].percentile"),
        &["between 0 and 100", "-1"],
    ),
    (
        "present_over_enrolled.json",
        Some("attendance.days_present"),
        &["65", "days_enrolled is 64", "cannot be present more days"],
    ),
    (
        "sel_t_score_out_of_range.json",
        Some("sel.t_score"),
        &["between 0 and 100", "120"],
    ),
    ("several_problems.json", Some("gpa"), &["between 0 and 5"]),
    (
        "student_id_65_chars.json",
        Some("student_id"),
        &["longer than 64"],
    ),
    (
        "student_id_empty.json",
        Some("student_id"),
        &["must not be empty"],
    ),
    (
        "unknown_key_in_section.json",
        Some("attendance.excused"),
        &["unknown field `excused`"],
    ),
    (
        "unknown_subject.json",
        Some("courses[0].subject"),
        &["unknown variant `history`", "math"],
    ),
    (
        "unknown_top_level_key.json",
        Some("ethnicity"),
        &["unknown field `ethnicity`", "extra"],
    ),
    (
        "wrong_type_days.json",
        Some("attendance.days_enrolled"),
        &["wrong type", "forty"],
    ),
    ("wrong_type_gpa.json", Some("gpa"), &["wrong type", "2.5"]),
];

#[test]
fn every_invalid_fixture_is_refused_naming_the_field_and_the_problem() {
    let dir = fixtures("invalid");
    let files = json_files(&dir);
    let names: BTreeSet<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let listed: BTreeSet<String> = INVALID.iter().map(|(f, ..)| f.to_string()).collect();
    assert_eq!(
        names,
        listed,
        "every fixture in {} needs an expectation in INVALID (and vice versa)",
        dir.display()
    );
    let mut failures = Vec::new();
    for (file, field, words) in INVALID {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let e = match parse_record(&text) {
            Ok(_) => {
                failures.push(format!("{file}: accepted"));
                continue;
            }
            Err(e) => e,
        };
        if let Some(field) = field
            && e.field() != *field
        {
            failures.push(format!(
                "{file}: field is `{}`, expected `{field}` ({e})",
                e.field()
            ));
        }
        let problem = e.problems[0].problem.to_lowercase();
        for w in *words {
            if !problem.contains(&w.to_lowercase()) {
                failures.push(format!(
                    "{file}: problem `{}` does not mention `{w}`",
                    e.problems[0].problem
                ));
            }
        }
        // The problem reads as a sentence about the field, not as a parser trace.
        assert!(!problem.contains("at line "), "{file}: {problem}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_valid_fixture_is_accepted() {
    let files = json_files(&fixtures("valid"));
    assert!(
        files.len() >= 8,
        "expected the valid sample records, found {files:?}"
    );
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        if let Err(e) = parse_record(&text) {
            panic!("{} was refused: {e}", path.display());
        }
    }
}

#[test]
fn several_problems_are_all_reported_at_once() {
    let text = std::fs::read_to_string(fixtures("invalid").join("several_problems.json")).unwrap();
    let e = refused(&text);
    assert_eq!(
        fields(&e),
        [
            "gpa",
            "attendance.days_present",
            "assessments[0].percentile",
            "sel.t_score"
        ],
        "{e}"
    );
    let shown = e.to_string();
    for part in [
        "`gpa`: must be between 0 and 5, got 5.5",
        "`attendance.days_present`",
        "`assessments[0].percentile`",
        "`sel.t_score`",
    ] {
        assert!(shown.contains(part), "`{shown}` lacks `{part}`");
    }
}

#[test]
fn error_display_names_field_in_backticks() {
    let e = refused(r#"{"student_id": "S1", "gpa": 5.1}"#);
    assert_eq!(e.to_string(), "`gpa`: must be between 0 and 5, got 5.1");
    assert_eq!(e.problems.len(), 1);
}

#[test]
fn edge_values_are_accepted() {
    for gpa in ["0", "0.0", "5", "5.0"] {
        let r = parse_record(&format!(r#"{{"student_id": "S1", "gpa": {gpa}}}"#))
            .unwrap_or_else(|e| panic!("gpa {gpa}: {e}"));
        assert!(r.gpa.is_some());
    }
    for p in ["0", "100", "0.0", "100.0", "99.9"] {
        let text = format!(
            r#"{{"student_id": "S1", "assessments": [{{"name": "MAP", "subject": "math", "percentile": {p}}}]}}"#
        );
        parse_record(&text).unwrap_or_else(|e| panic!("percentile {p}: {e}"));
    }
    let r = parse_record(
        r#"{"student_id": "S1", "attendance": {"days_enrolled": 45, "days_present": 40.5}}"#,
    )
    .unwrap();
    assert_eq!(r.attendance.unwrap().days_present, 40.5);
    let r = parse_record(
        r#"{"student_id": "S1", "attendance": {"days_enrolled": 0, "days_present": 0}}"#,
    )
    .unwrap();
    assert_eq!(r.attendance.unwrap().days_enrolled, 0.0);
    // Present on every enrolled day is allowed; one more is not.
    parse_record(
        r#"{"student_id": "S1", "attendance": {"days_enrolled": 40.5, "days_present": 40.5}}"#,
    )
    .unwrap();
    let e = refused(
        r#"{"student_id": "S1", "attendance": {"days_enrolled": 40.5, "days_present": 41}}"#,
    );
    assert_eq!(e.field(), "attendance.days_present");
}

#[test]
fn out_of_range_just_past_the_edges_is_refused() {
    for (gpa, shown) in [("-0.01", "-0.01"), ("5.01", "5.01")] {
        let e = refused(&format!(r#"{{"student_id": "S1", "gpa": {gpa}}}"#));
        assert_eq!(e.field(), "gpa");
        assert!(e.problems[0].problem.contains(shown), "{e}");
    }
    for p in ["-1", "101", "100.5", "-0.5"] {
        let e = refused(&format!(
            r#"{{"student_id": "S1", "assessments": [{{"name": "MAP", "subject": "reading", "percentile": {p}}}]}}"#
        ));
        assert_eq!(
            e.field(),
            "assessments[0].percentile",
            "percentile {p}: {e}"
        );
    }
}

#[test]
fn student_id_length_counts_characters_not_bytes() {
    let ok = "é".repeat(MAX_STUDENT_ID_LEN);
    parse_record(&json!({ "student_id": ok }).to_string())
        .expect("64 two-byte characters is 64 characters");
    let long = "é".repeat(MAX_STUDENT_ID_LEN + 1);
    assert_eq!(
        refused(&json!({ "student_id": long }).to_string()).field(),
        "student_id"
    );
    let blank = refused(r#"{"student_id": "   "}"#);
    assert_eq!(blank.field(), "student_id");
    assert!(blank.problems[0].problem.contains("empty"), "{blank}");
}

#[test]
fn null_sections_are_treated_as_absent() {
    let r = parse_record(r#"{"student_id": "S1", "gpa": null, "attendance": null, "sel": null}"#)
        .unwrap();
    assert!(r.gpa.is_none() && r.attendance.is_none() && r.sel.is_none());
}

#[test]
fn nesting_limit_counts_arrays_and_objects_but_not_brackets_in_text() {
    let at = |levels: usize| {
        // The record itself and `extra` are two levels.
        let inner = levels - 2;
        format!(
            r#"{{"student_id": "S1", "extra": {{"x": {}{}}}}}"#,
            "[".repeat(inner),
            "]".repeat(inner)
        )
    };
    parse_record(&at(MAX_JSON_DEPTH)).expect("exactly the limit is fine");
    let e = refused(&at(MAX_JSON_DEPTH + 1));
    assert!(e.to_string().contains("nested deeper than 32"), "{e}");
    let text = json!({"student_id": "S1", "extra": {"note": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[ \\\" {{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{"}})
        .to_string();
    parse_record(&text).expect("brackets inside strings are text");
}

#[test]
fn oversized_record_is_refused_before_parsing() {
    let big =
        json!({"student_id": "S1", "extra": {"blob": "x".repeat(MAX_RECORD_BYTES)}}).to_string();
    let e = refused(&big);
    assert_eq!(e.field(), "");
    assert!(e.to_string().contains("limit is 262144 bytes"), "{e}");
}

#[test]
fn trailing_garbage_after_the_record_is_refused() {
    let e = refused(r#"{"student_id": "S1"} {"student_id": "S2"}"#);
    assert!(e.to_string().contains("invalid JSON"), "{e}");
}

#[test]
fn missing_required_field_inside_a_section_names_the_section() {
    let e = refused(r#"{"student_id": "S1", "attendance": {"days_enrolled": 40}}"#);
    assert!(e.field().starts_with("attendance"), "{e}");
    assert!(e.to_string().contains("days_present"), "{e}");
}

#[test]
fn syntax_errors_name_no_bogus_field() {
    for text in [
        r#"{"student_id": "S1", "gpa": 2.5,"#,
        r#"{"student_id": "S1" "gpa": 1}"#,
        r#"{"student_id": "S1", "attendance": {"days_enrolled": 4"#,
    ] {
        let e = refused(text);
        assert!(
            !e.field().contains('?'),
            "{text}: field `{}` ({e})",
            e.field()
        );
        assert!(e.to_string().contains("invalid JSON"), "{e}");
    }
}

#[test]
fn a_json_array_is_not_a_record() {
    for text in [r#"["S1"]"#, r#"["S2", "2026-11-20", "HS", 9, [64, 50]]"#] {
        let e = refused(text);
        assert!(e.to_string().contains("object"), "{text}: {e}");
    }
}

#[test]
fn missing_student_id_names_student_id() {
    let e = refused(r#"{"gpa": 3.1}"#);
    assert_eq!(e.field(), "student_id", "{e}");
}

#[test]
fn type_errors_speak_json_not_rust() {
    for text in [
        r#"{"student_id": "S1", "gpa": "2.5"}"#,
        r#"{"student_id": "S1", "behavior": {"office_referrals": -2}}"#,
        r#"{"student_id": "S1", "behavior": {"office_referrals": 1.5}}"#,
        r#"{"student_id": "S1", "grade_level": 9.5}"#,
    ] {
        let e = refused(text);
        let msg = e.to_string();
        for rust in ["f64", "u32", "i64", "usize"] {
            assert!(!msg.contains(rust), "`{msg}` shows the Rust type `{rust}`");
        }
    }
}

// ---------------------------------------------------------------------------------
// Properties

/// 0, or a value from the smallest accepted non-zero one to `hi`.
fn score(hi: f64) -> impl Strategy<Value = f64> + Clone {
    prop_oneof![1 => Just(0.0), 9 => 0.001f64..=hi]
}

/// A valid record as JSON, built from the documented valid ranges.
fn valid_record() -> impl Strategy<Value = Value> {
    let id = "[A-Za-z0-9][A-Za-z0-9_é-]{0,31}( [A-Za-z0-9é]{1,30})?";
    let date =
        (2000u32..2031, 1u32..13, 1u32..29).prop_map(|(y, m, d)| format!("{y:04}-{m:02}-{d:02}"));
    let attendance = (0u32..=400, 0.0f64..=1.0, 0.0f64..=1.0, 0u32..50).prop_map(|(half_days, present_share, unexcused_share, tardies)| {
        let enrolled = f64::from(half_days) / 2.0;
        let present = (enrolled * present_share * 2.0).floor() / 2.0;
        let unexcused = ((enrolled - present) * unexcused_share * 2.0).floor() / 2.0;
        json!({"days_enrolled": enrolled, "days_present": present, "unexcused_absences": unexcused, "tardies": tardies})
    });
    let subject = prop::sample::select(vec![
        "math",
        "ela",
        "reading",
        "science",
        "social_studies",
        "other",
    ]);
    let course = ("[A-Z]{2,4}[0-9]", subject.clone(), score(100.0), prop::sample::select(vec!["A", "B+", "C-", "D", "F"]), score(2.0))
        .prop_map(|(id, subject, pct, letter, credits)| json!({"course_id": id, "subject": subject, "grade_pct": pct, "letter": letter, "credits": credits}));
    let assessment = ("[A-Za-z ]{1,20}", subject, score(100.0), date.clone())
        .prop_filter("name must not be blank", |(n, ..)| !n.trim().is_empty())
        .prop_map(|(name, subject, p, date)| json!({"name": name, "subject": subject, "percentile": p, "date": date}));
    let behavior = (0u32..20, 0u32..5, 0u32..5).prop_map(|(r, i, o)| json!({"office_referrals": r, "suspensions_in_school": i, "suspensions_out_of_school": o}));
    let sel = (score(100.0), date.clone())
        .prop_map(|(t, d)| json!({"screener": "DESSA-mini", "t_score": t, "date": d}));
    (
        id.prop_filter("id must not be blank", |s: &String| !s.trim().is_empty()),
        prop::option::of(date),
        prop::option::of(-1i64..=13),
        prop::option::of(score(5.0)),
        prop::option::of(attendance),
        prop::option::of(prop::collection::vec(course, 0..4)),
        prop::option::of(prop::collection::vec(assessment, 0..4)),
        prop::option::of(behavior),
        prop::option::of(sel),
    )
        .prop_map(
            |(id, as_of, grade, gpa, attendance, courses, assessments, behavior, sel)| {
                let mut r = json!({"student_id": id});
                let o = r.as_object_mut().unwrap();
                let mut put = |k: &str, v: Option<Value>| {
                    if let Some(v) = v {
                        o.insert(k.into(), v);
                    }
                };
                put("as_of", as_of.map(Value::from));
                put("grade_level", grade.map(Value::from));
                put("gpa", gpa.map(Value::from));
                put("attendance", attendance);
                put("courses", courses.map(Value::from));
                put("assessments", assessments.map(Value::from));
                put("behavior", behavior);
                put("sel", sel);
                r
            },
        )
}

/// One field of a valid record pushed out of its range: (mutation, expected field).
#[derive(Debug, Clone)]
enum Push {
    Gpa(f64),
    GradeLevel(i64),
    StudentId(String),
    AsOf(String),
    Present(f64),
    Tardies(f64),
    Percentile(f64),
    GradePct(f64),
    Credits(f64),
    TScore(f64),
}

fn push() -> impl Strategy<Value = Push> {
    let below = |lo: f64| (lo - 1e6..lo - 0.001).boxed();
    let above = |hi: f64| (hi + 0.001..hi + 1e6).boxed();
    prop_oneof![
        prop_oneof![below(0.0), above(5.0)].prop_map(Push::Gpa),
        prop_oneof![-1000i64..-1, 14i64..1000].prop_map(Push::GradeLevel),
        prop_oneof![
            Just(String::new()),
            Just("  ".to_string()),
            "[A-Z0-9]{65,100}"
        ]
        .prop_map(Push::StudentId),
        prop_oneof![
            Just("2026-13-01"),
            Just("2026-02-30"),
            Just("20261120"),
            Just("yesterday")
        ]
        .prop_map(|s| Push::AsOf(s.into())),
        (0.5f64..100.0).prop_map(Push::Present),
        below(0.0).prop_map(Push::Tardies),
        prop_oneof![below(0.0), above(100.0)].prop_map(Push::Percentile),
        prop_oneof![below(0.0), above(100.0)].prop_map(Push::GradePct),
        below(0.0).prop_map(Push::Credits),
        prop_oneof![below(0.0), above(100.0)].prop_map(Push::TScore),
    ]
}

/// Apply the push; returns the field that must be named.
fn apply(r: &mut Value, p: &Push) -> String {
    let o = r.as_object_mut().unwrap();
    let ensure = |o: &mut serde_json::Map<String, Value>, k: &str, v: Value| {
        if !o.contains_key(k) {
            o.insert(k.into(), v);
        }
    };
    match p {
        Push::Gpa(v) => {
            o.insert("gpa".into(), json!(v));
            "gpa".into()
        }
        Push::GradeLevel(v) => {
            o.insert("grade_level".into(), json!(v));
            "grade_level".into()
        }
        Push::StudentId(v) => {
            o.insert("student_id".into(), json!(v));
            "student_id".into()
        }
        Push::AsOf(v) => {
            o.insert("as_of".into(), json!(v));
            "as_of".into()
        }
        Push::Present(extra) => {
            ensure(
                o,
                "attendance",
                json!({"days_enrolled": 10, "days_present": 10}),
            );
            let a = o["attendance"].as_object_mut().unwrap();
            let enrolled = a["days_enrolled"].as_f64().unwrap();
            a.insert("days_present".into(), json!(enrolled + extra));
            "attendance.days_present".into()
        }
        Push::Tardies(v) => {
            ensure(
                o,
                "attendance",
                json!({"days_enrolled": 10, "days_present": 10}),
            );
            o["attendance"]
                .as_object_mut()
                .unwrap()
                .insert("tardies".into(), json!(v));
            "attendance.tardies".into()
        }
        Push::Percentile(v) => {
            ensure(o, "assessments", json!([]));
            let list = o["assessments"].as_array_mut().unwrap();
            list.push(json!({"name": "MAP", "subject": "math", "percentile": v}));
            format!("assessments[{}].percentile", list.len() - 1)
        }
        Push::GradePct(v) => {
            ensure(o, "courses", json!([]));
            let list = o["courses"].as_array_mut().unwrap();
            list.push(json!({"course_id": "X1", "grade_pct": v}));
            format!("courses[{}].grade_pct", list.len() - 1)
        }
        Push::Credits(v) => {
            ensure(o, "courses", json!([]));
            let list = o["courses"].as_array_mut().unwrap();
            list.push(json!({"course_id": "X1", "credits": v}));
            format!("courses[{}].credits", list.len() - 1)
        }
        Push::TScore(v) => {
            o.insert("sel".into(), json!({"t_score": v}));
            "sel.t_score".into()
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_record_within_the_valid_ranges_is_accepted(r in valid_record()) {
        let text = r.to_string();
        let parsed = parse_record(&text);
        prop_assert!(parsed.is_ok(), "refused: {}\n{}", parsed.unwrap_err(), text);
        // Pretty-printed is the same record.
        prop_assert_eq!(parse_record(&serde_json::to_string_pretty(&r).unwrap()).unwrap(), parsed.unwrap());
    }

    #[test]
    fn one_field_out_of_range_is_refused_naming_exactly_that_field(mut r in valid_record(), p in push()) {
        let field = apply(&mut r, &p);
        let text = r.to_string();
        let e = match parse_record(&text) {
            Ok(_) => return Err(TestCaseError::fail(format!("accepted with {p:?}: {text}"))),
            Err(e) => e,
        };
        prop_assert_eq!(fields(&e), vec![field.as_str()], "{} ({:?})", e, p);
        prop_assert!(!e.problems[0].problem.is_empty());
    }

    #[test]
    fn parse_never_panics_on_arbitrary_text(s in any::<String>()) {
        let _ = parse_record(&s);
    }

    #[test]
    fn parse_never_panics_on_json_like_text(s in r#"[\[\]{}":,0-9a-z_ .eE+\-\\]{0,300}"#) {
        let _ = parse_record(&s);
    }

    #[test]
    fn parse_never_panics_on_damaged_records(r in valid_record(), cut in any::<prop::sample::Index>(), junk in "[\\PC\u{0}-\u{1f}]{0,3}") {
        let text = r.to_string();
        let at = cut.index(text.len() + 1);
        let at = (0..=at).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
        let damaged = format!("{}{}{}", &text[..at], junk, &text[at..]);
        let truncated = &text[..at];
        for t in [damaged.as_str(), truncated] {
            if let Err(e) = parse_record(t) {
                prop_assert!(!e.problems.is_empty());
            }
        }
    }
}

// ---------------------------------------------------------------------------------
// reporting labels (issue 15)

#[test]
fn reporting_labels_take_yes_no_and_short_text_at_their_limits() {
    let name32 = "a".repeat(32);
    let text64: String = "é".repeat(64);
    let labels: String = (0..32)
        .map(|i| format!("\"l{i}\": true"))
        .collect::<Vec<_>>()
        .join(",");
    for ok in [
        r#"{"student_id":"R1","reporting":{"ell":true,"iep":false,"race_ethnicity":"hispanic","gender":"nonbinary"}}"#.to_string(),
        format!(r#"{{"student_id":"R1","reporting":{{"{name32}":"x"}}}}"#),
        format!(r#"{{"student_id":"R1","reporting":{{"home_language":"{text64}"}}}}"#),
        r#"{"student_id":"R1","reporting":{"tribe":"Diné 🪶"}}"#.to_string(),
        format!(r#"{{"student_id":"R1","reporting":{{{labels}}}}}"#),
        r#"{"student_id":"R1","reporting":{}}"#.to_string(),
    ] {
        let r = parse_record(&ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        assert!(r.reporting.is_some());
    }
}

#[test]
fn a_bad_reporting_label_names_the_field() {
    let cases = [
        (
            format!(
                r#"{{"student_id":"R1","reporting":{{"ell":"{}"}}}}"#,
                "x".repeat(65)
            ),
            "reporting.ell",
        ),
        (
            r#"{"student_id":"R1","reporting":{"ell":""}}"#.to_string(),
            "reporting.ell",
        ),
        (
            r#"{"student_id":"R1","reporting":{"gender":"a\u0007b"}}"#.to_string(),
            "reporting.gender",
        ),
        (
            r#"{"student_id":"R1","reporting":{"ELL":true}}"#.to_string(),
            "reporting (label 1)",
        ),
        (
            format!(
                r#"{{"student_id":"R1","reporting":{{"{}":true}}}}"#,
                "a".repeat(33)
            ),
            "reporting (label 1)",
        ),
        (
            r#"{"student_id":"R1","reporting":{"ok":true,"bad-name":true}}"#.to_string(),
            "reporting (label 1)",
        ),
    ];
    for (json, field) in cases {
        let e = refused(&json);
        assert_eq!(fields(&e), [field], "{json}: {e}");
    }
    let too_many: String = (0..33)
        .map(|i| format!("\"l{i}\": true"))
        .collect::<Vec<_>>()
        .join(",");
    let e = refused(&format!(
        r#"{{"student_id":"R1","reporting":{{{too_many}}}}}"#
    ));
    assert_eq!(fields(&e), ["reporting"]);
    // A number is neither yes/no nor text.
    let e = refused(r#"{"student_id":"R1","reporting":{"ell":1}}"#);
    assert!(fields(&e)[0].starts_with("reporting"), "{e}");
}
