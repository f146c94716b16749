//! The accepted range of record values (issue 10): every number has a plausible
//! range and every refused value names its field; and every record validation
//! accepts, across the whole accepted range and not only typical values, evaluates
//! against the shipped rules to a decision and a readable report, in bounded time.
//!
//! The first hang (`days_to_clear` on 1e16 days) slipped through because the property
//! tests only generated typical values: here the generators reach the boundaries, the
//! smallest accepted steps, and odd Unicode.

use std::sync::mpsc;
use std::time::Duration;

use intervene::engine::{Decision, render_report};
use intervene::record::{Attendance, Behavior, Record, StudentId, parse_record, ranges};
use proptest::prelude::*;
use serde_json::{Value, json};

#[path = "support/shipped.rs"]
mod shipped;
use shipped::{evaluator, rules};

/// Evaluate and render on another thread; fail instead of hanging after 5 s.
fn evaluate_and_render(r: Record) -> (Decision, String) {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let d = evaluator().evaluate(rules(), &r);
        let report = render_report(&d, rules());
        let _ = tx.send((d, report));
    });
    rx.recv_timeout(Duration::from_secs(5))
        .expect("evaluating and rendering one record did not finish within 5 s")
}

/// The fields the refusal names, or the accepted record.
fn refused_fields(v: &Value) -> Result<Record, Vec<String>> {
    parse_record(&v.to_string()).map_err(|e| e.problems.iter().map(|p| p.field.clone()).collect())
}

fn assert_refused(v: Value, field: &str) {
    match refused_fields(&v) {
        Ok(_) => panic!("accepted: {v}"),
        Err(fields) => assert_eq!(fields, [field], "{v}"),
    }
}

fn with_attendance(enrolled: f64, present: f64) -> Value {
    json!({"student_id": "S1", "attendance": {"days_enrolled": enrolled, "days_present": present}})
}

// ---------------------------------------------------------------------------------
// Named regressions: each value was accepted before

#[test]
fn huge_day_counts_are_refused_naming_the_field() {
    for big in [1e16, 1e308, 400.01, 401.0] {
        assert_refused(with_attendance(big, 0.0), "attendance.days_enrolled");
    }
    let e = parse_record(&with_attendance(1e308, 0.0).to_string()).unwrap_err();
    assert!(e.to_string().contains("at most 400, got 1e308"), "{e}");
    assert_refused(
        json!({"student_id": "S1", "attendance": {"days_enrolled": 10, "days_present": 10, "tardies": 1e300}}),
        "attendance.tardies",
    );
    parse_record(&with_attendance(400.0, 399.99).to_string()).expect("400 days is a long year");
}

#[test]
fn tiny_and_subnormal_numbers_are_refused() {
    for tiny in [5e-324, 1e-300, 0.001, 0.125] {
        assert_refused(with_attendance(10.0, tiny), "attendance.days_present");
    }
    for (field, json) in [
        ("gpa", json!({"student_id": "S1", "gpa": 5e-324})),
        ("gpa", json!({"student_id": "S1", "gpa": 0.0009})),
        (
            "sel.t_score",
            json!({"student_id": "S1", "sel": {"t_score": 1e-200}}),
        ),
        (
            "courses[0].grade_pct",
            json!({"student_id": "S1", "courses": [{"course_id": "C", "grade_pct": 5e-324}]}),
        ),
    ] {
        assert_refused(json, field);
    }
    // Quarter and half days, and the smallest score, are fine.
    parse_record(&with_attendance(10.25, 9.5).to_string()).unwrap();
    parse_record(r#"{"student_id": "S1", "gpa": 0.001}"#).unwrap();
}

#[test]
fn negative_zero_is_refused() {
    assert_refused(with_attendance(-0.0, 0.0), "attendance.days_enrolled");
    assert_refused(json!({"student_id": "S1", "gpa": -0.0}), "gpa");
    assert_refused(
        json!({"student_id": "S1", "assessments": [{"name": "MAP", "subject": "math", "percentile": -0.0}]}),
        "assessments[0].percentile",
    );
    assert_refused(json!({"student_id": "S1", "extra": {"k": -0.0}}), "extra.k");
    let e = parse_record(r#"{"student_id": "S1", "gpa": -0.0}"#).unwrap_err();
    assert!(e.to_string().contains("must be 0, not -0"), "{e}");
    // JSON's `-0` reads as the same negative zero.
    assert_refused(json!({"student_id": "S1", "gpa": -0.0}), "gpa");
    let e = parse_record(r#"{"student_id": "S1", "gpa": -0}"#).unwrap_err();
    assert_eq!(e.field(), "gpa");
}

#[test]
fn dates_outside_1990_to_2100_are_refused() {
    for (d, ok) in [
        ("0000-01-01", false),
        ("1989-12-31", false),
        ("1990-01-01", true),
        ("2100-12-31", true),
        ("2101-01-01", false),
        ("9999-12-31", false),
    ] {
        for (field, v) in [
            ("as_of", json!({"student_id": "S1", "as_of": d})),
            (
                "sel.date",
                json!({"student_id": "S1", "sel": {"t_score": 50, "date": d}}),
            ),
            (
                "assessments[0].date",
                json!({"student_id": "S1", "assessments": [{"name": "MAP", "subject": "math", "date": d}]}),
            ),
        ] {
            match (refused_fields(&v), ok) {
                (Ok(_), true) => {}
                (Err(f), false) => assert_eq!(f, [field], "{d}"),
                (r, _) => panic!("{field} = {d}: {r:?}"),
            }
        }
    }
}

#[test]
fn behavior_counts_over_1000_are_refused() {
    for field in [
        "office_referrals",
        "suspensions_in_school",
        "suspensions_out_of_school",
    ] {
        for n in [1001u64, u64::from(u32::MAX)] {
            assert_refused(
                json!({"student_id": "S1", "behavior": {field: n}}),
                &format!("behavior.{field}"),
            );
        }
        parse_record(&json!({"student_id": "S1", "behavior": {field: 1000}}).to_string()).unwrap();
    }
}

/// Regression: `student.behavior.suspensions` added two `u32`s, which overflows (a
/// panic in debug builds, a wrap to a small number in release) for a snapshot that
/// never went through the new range check.
#[test]
fn suspensions_near_u32_max_do_not_overflow() {
    let mut r = Record::empty("S1");
    r.behavior = Some(Behavior {
        office_referrals: u32::MAX,
        suspensions_in_school: u32::MAX,
        suspensions_out_of_school: u32::MAX,
    });
    let (d, _) = evaluate_and_render(r);
    let f = d
        .flags
        .iter()
        .find(|f| f.inputs.contains_key("student.behavior.suspensions"))
        .expect("a suspension rule fires");
    assert_eq!(
        f.inputs["student.behavior.suspensions"],
        json!(2 * u64::from(u32::MAX))
    );
}

#[test]
fn credits_over_20_are_refused() {
    assert_refused(
        json!({"student_id": "S1", "courses": [{"course_id": "C", "credits": 21}]}),
        "courses[0].credits",
    );
    parse_record(r#"{"student_id": "S1", "courses": [{"course_id": "C", "credits": 0.333}]}"#)
        .unwrap();
}

#[test]
fn control_characters_in_extra_keys_are_refused() {
    for key in [
        "a\u{1b}[31m",
        "k\0",
        "\u{202E}key",
        "zero\u{200B}width",
        "",
        "   ",
    ] {
        let v = json!({"student_id": "S1", "extra": {key: 1}});
        let e = parse_record(&v.to_string()).expect_err(&format!("{key:?} accepted"));
        assert_eq!(e.field(), "extra (key 1)", "{key:?}");
        assert!(!e.to_string().contains('\u{1b}'), "the key is not echoed");
    }
    assert_refused(
        json!({"student_id": "S1", "extra": {"note": "x\u{1b}[2J"}}),
        "extra.note",
    );
    assert_refused(
        json!({"student_id": "S1", "extra": {"nested": {"list": ["ok", "bad\u{7}"]}}}),
        "extra.nested",
    );
    parse_record(
        &json!({"student_id": "S1", "extra": {"home language": "العربية", "note": "line one\nline two\ttab"}})
            .to_string(),
    )
    .unwrap();
}

#[test]
fn control_characters_in_course_titles_and_letters_are_refused() {
    assert_refused(
        json!({"student_id": "S1", "courses": [{"course_id": "C", "title": "Alg\u{1b}[31m"}]}),
        "courses[0].title",
    );
    assert_refused(
        json!({"student_id": "S1", "courses": [{"course_id": "C", "letter": "F\u{0}"}]}),
        "courses[0].letter",
    );
}

/// Hundredths compared as binary fractions: 0.3 - 0.1 is 0.19999999999999998, which
/// refused 0.2 unexcused absences of 0.2 days missed.
#[test]
fn unexcused_absences_equal_to_days_missed_are_accepted_in_hundredths() {
    parse_record(
        r#"{"student_id": "S1", "attendance": {"days_enrolled": 0.3, "days_present": 0.1, "unexcused_absences": 0.2}}"#,
    )
    .unwrap();
}

// ---------------------------------------------------------------------------------
// Properties over the whole accepted range

/// A day count in hundredths from 0 to `max_h`/100, boundaries often.
fn hundredths(max_h: u32) -> impl Strategy<Value = u32> {
    prop_oneof![
        1 => Just(0u32),
        1 => Just(1u32),
        1 => Just(max_h),
        6 => 0..=max_h,
    ]
}

/// 0, the smallest non-zero value, `hi`, or anything between.
fn score(hi: f64) -> impl Strategy<Value = f64> + Clone {
    prop_oneof![
        1 => Just(0.0),
        1 => Just(ranges::MIN_NONZERO),
        1 => Just(hi),
        6 => ranges::MIN_NONZERO..=hi,
    ]
}

fn date() -> impl Strategy<Value = String> {
    let (y0, y1) = (*ranges::YEARS.start(), *ranges::YEARS.end());
    prop_oneof![
        Just(format!("{y0}-01-01")),
        Just(format!("{y1}-12-31")),
        (y0..=y1, 1u32..=12, 1u32..=28).prop_map(|(y, m, d)| format!("{y:04}-{m:02}-{d:02}")),
    ]
}

/// Text of any visible characters (any script, emoji, combining marks, RTL marks).
fn text(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("\\PC{{1,{max}}}"))
        .unwrap()
        .prop_filter("not blank", |s| !s.trim().is_empty())
}

fn student_id() -> impl Strategy<Value = String> {
    "[\\p{L}\\p{N}][\\p{L}\\p{N}!-/:-@]{0,20}( [\\p{L}\\p{N}]{1,10})?"
        .prop_filter("a valid id", |s| StudentId::parse(s).is_ok())
}

fn attendance() -> impl Strategy<Value = Value> {
    let max = (ranges::MAX_DAYS * 100.0) as u32;
    let max_t = (ranges::MAX_TARDIES * 100.0) as u32;
    (hundredths(max), 0.0f64..=1.0, 0.0f64..=1.0, hundredths(max_t)).prop_map(
        move |(e, present_share, unexcused_share, t)| {
            let p = (f64::from(e) * present_share).floor() as u32;
            let u = (f64::from(e - p) * unexcused_share).floor() as u32;
            let h = |n: u32| f64::from(n) / 100.0;
            json!({"days_enrolled": h(e), "days_present": h(p), "unexcused_absences": h(u), "tardies": h(t)})
        },
    )
}

fn extra_value() -> impl Strategy<Value = Value> {
    let n = ranges::MAX_EXTRA_NUMBER;
    prop_oneof![
        text(30).prop_map(Value::from),
        prop_oneof![
            Just(0.0),
            Just(n),
            Just(-n),
            Just(ranges::MIN_EXTRA_NONZERO),
            -n..=n
        ]
        .prop_filter("plausible", |x: &f64| *x == 0.0
            || x.abs() >= ranges::MIN_EXTRA_NONZERO)
        .prop_map(|x| json!(x)),
        any::<bool>().prop_map(Value::from),
        Just(Value::Null),
    ]
}

fn accepted_record() -> impl Strategy<Value = Value> {
    let subject = prop::sample::select(vec![
        "math",
        "ela",
        "reading",
        "science",
        "social_studies",
        "other",
    ]);
    let course = (text(64), text(200), subject.clone(), score(100.0), text(3), score(ranges::MAX_CREDITS))
        .prop_map(|(id, title, subject, pct, letter, credits)| json!({"course_id": id, "title": title, "subject": subject, "grade_pct": pct, "letter": letter, "credits": credits}));
    let assessment = (text(100), subject, score(100.0), date())
        .prop_map(|(name, subject, p, date)| json!({"name": name, "subject": subject, "percentile": p, "date": date}));
    let b = ranges::MAX_BEHAVIOR_COUNT;
    let count = prop_oneof![Just(0u32), Just(b), 0..=b];
    let behavior = (count.clone(), count.clone(), count)
        .prop_map(|(r, i, o)| json!({"office_referrals": r, "suspensions_in_school": i, "suspensions_out_of_school": o}));
    let sel = (score(100.0), date(), text(100))
        .prop_map(|(t, d, s)| json!({"screener": s, "t_score": t, "date": d}));
    let extra = prop::collection::btree_map("[A-Za-z_][A-Za-z0-9_ ]{0,20}", extra_value(), 0..4);
    (
        (
            student_id(),
            prop::option::of(date()),
            prop::option::of(text(64)),
            prop::option::of(-1i64..=13),
            prop::option::of(score(ranges::MAX_GPA)),
        ),
        (
            prop::option::of(attendance()),
            prop::option::of(prop::collection::vec(course, 0..4)),
            prop::option::of(prop::collection::vec(assessment, 0..4)),
        ),
        (
            prop::option::of(behavior),
            prop::option::of(sel),
            prop::option::of(extra),
        ),
    )
        .prop_map(
            |(
                (id, as_of, school, grade, gpa),
                (att, courses, assessments),
                (behavior, sel, extra),
            )| {
                let mut r = json!({"student_id": id});
                let o = r.as_object_mut().unwrap();
                let mut put = |k: &str, v: Option<Value>| {
                    if let Some(v) = v {
                        o.insert(k.into(), v);
                    }
                };
                put("as_of", as_of.map(Value::from));
                put("school_id", school.map(Value::from));
                put("grade_level", grade.map(Value::from));
                put("gpa", gpa.map(Value::from));
                put("attendance", att);
                put("courses", courses.map(Value::from));
                put("assessments", assessments.map(Value::from));
                put("behavior", behavior);
                put("sel", sel);
                put("extra", extra.map(|m| json!(m)));
                r
            },
        )
}

/// A number no field accepts (`-0.0`, huge, tiny, past a boundary) for `hi`.
fn implausible(hi: f64) -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(-0.0),
        Just(5e-324),
        Just(1e308),
        Just(-1e308),
        Just(hi * (1.0 + 1e-9)),
        (1e-300f64..0.000_999),
        (hi + 0.01..1e300),
        (-1e300f64..-0.000_001),
    ]
}

/// (field path, JSON that puts `x` in that field).
fn put_number(field: usize, x: f64) -> (String, Value) {
    let r = |v: Value| {
        let mut base = json!({"student_id": "S1"});
        base.as_object_mut()
            .unwrap()
            .extend(v.as_object().unwrap().clone());
        base
    };
    match field {
        0 => ("gpa".into(), r(json!({"gpa": x}))),
        1 => (
            "attendance.days_enrolled".into(),
            r(json!({"attendance": {"days_enrolled": x, "days_present": 0}})),
        ),
        2 => (
            "attendance.days_present".into(),
            r(json!({"attendance": {"days_enrolled": 400, "days_present": x}})),
        ),
        3 => (
            "attendance.tardies".into(),
            r(json!({"attendance": {"days_enrolled": 1, "days_present": 1, "tardies": x}})),
        ),
        4 => (
            "courses[0].grade_pct".into(),
            r(json!({"courses": [{"course_id": "C", "grade_pct": x}]})),
        ),
        5 => (
            "courses[0].credits".into(),
            r(json!({"courses": [{"course_id": "C", "credits": x}]})),
        ),
        6 => (
            "assessments[0].percentile".into(),
            r(json!({"assessments": [{"name": "M", "subject": "math", "percentile": x}]})),
        ),
        _ => ("sel.t_score".into(), r(json!({"sel": {"t_score": x}}))),
    }
}

/// The upper bound of field `i` of [`put_number`].
fn upper(i: usize) -> f64 {
    [
        ranges::MAX_GPA,
        ranges::MAX_DAYS,
        ranges::MAX_DAYS,
        ranges::MAX_TARDIES,
        100.0,
        ranges::MAX_CREDITS,
        100.0,
        100.0,
    ][i.min(7)]
}

/// A label name: a lowercase letter, then lowercase letters, digits and `_`, up to the
/// longest accepted, often exactly the longest.
fn label_name() -> impl Strategy<Value = String> {
    let max = ranges::MAX_LABEL_NAME;
    prop_oneof![
        1 => Just("a".repeat(max)),
        1 => Just(format!("z{}", "_9".repeat((max - 1) / 2))),
        6 => proptest::string::string_regex(&format!("[a-z][a-z0-9_]{{0,{}}}", max - 1)).unwrap(),
    ]
}

/// A label value: yes/no, or visible text in any script up to the longest accepted,
/// often exactly the longest in multi-byte characters (counted as characters).
fn label_value() -> impl Strategy<Value = Value> {
    let max = ranges::MAX_LABEL_TEXT;
    prop_oneof![
        2 => any::<bool>().prop_map(Value::from),
        1 => Just(Value::from("é".repeat(max))),
        1 => Just(Value::from("🪶".repeat(max))),
        1 => Just(Value::from(format!("Dine\u{301}{}", "x".repeat(max - 5)))),
        5 => text(max).prop_map(Value::from),
    ]
}

/// A `reporting` section: empty up to the most labels accepted.
fn reporting() -> impl Strategy<Value = serde_json::Map<String, Value>> {
    prop::collection::btree_map(label_name(), label_value(), 0..=ranges::MAX_LABELS)
        .prop_map(|m| m.into_iter().collect())
}

/// A `reporting` section past one of its limits, and the field the refusal names.
fn bad_reporting() -> impl Strategy<Value = (Value, String)> {
    let (name_max, text_max) = (ranges::MAX_LABEL_NAME, ranges::MAX_LABEL_TEXT);
    prop_oneof![
        // A text one character too long, in any script.
        (
            label_name(),
            text(1).prop_map(move |c| c.chars().next().unwrap().to_string().repeat(text_max + 1))
        )
            .prop_map(|(n, t)| (json!({ n.clone(): t }), format!("reporting.{n}"))),
        // Blank, or holding a control character.
        (
            label_name(),
            prop_oneof![
                Just(String::new()),
                Just(" \u{3000} ".to_string()),
                text(20).prop_map(|t| format!("{t}\u{7}")),
                text(20).prop_map(|t| format!("\u{85}{t}"))
            ]
        )
            .prop_map(|(n, t)| (json!({ n.clone(): t }), format!("reporting.{n}"))),
        // A name too long, with a capital, a hyphen, a leading digit or underscore, or
        // non-ASCII letters.
        prop_oneof![
            Just("a".repeat(name_max + 1)),
            "[a-z]{0,5}[A-Z][a-z]{0,5}",
            "[a-z]{1,5}-[a-z]{1,5}",
            "[0-9_][a-z]{0,5}",
            "[a-z]{0,3}[é日ß][a-z]{0,3}",
            Just(String::new()),
        ]
        .prop_map(|n| (json!({ n: true }), "reporting (label 1)".to_string())),
        // One label too many.
        Just((
            Value::Object(
                (0..=ranges::MAX_LABELS)
                    .map(|i| (format!("l{i}"), json!(true)))
                    .collect()
            ),
            "reporting".to_string(),
        )),
        // A number or a list is not a label value.
        (
            label_name(),
            prop_oneof![
                Just(json!(1)),
                Just(json!(0.5)),
                Just(json!(["x"])),
                Just(json!(null))
            ]
        )
            .prop_map(|(n, v)| (json!({ n: v }), "reporting".to_string())),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Every `reporting` section within its limits is accepted and kept as sent, and
    /// the decision is the same with it as without: no rule reads a label.
    #[test]
    fn every_reporting_section_in_range_is_kept_and_changes_no_decision(
        v in accepted_record(), labels in reporting()
    ) {
        let plain = match parse_record(&v.to_string()) {
            Ok(r) => r,
            Err(e) => return Err(TestCaseError::fail(format!("refused: {e}\n{v}"))),
        };
        let mut with = v.clone();
        with["reporting"] = Value::Object(labels.clone());
        let labelled = match parse_record(&with.to_string()) {
            Ok(r) => r,
            Err(e) => return Err(TestCaseError::fail(format!("refused: {e}\n{with}"))),
        };
        let kept = serde_json::to_value(&labelled).unwrap();
        prop_assert_eq!(&kept["reporting"], &Value::Object(labels));
        let (a, _) = evaluate_and_render(plain);
        let (b, _) = evaluate_and_render(labelled);
        let shape = |d: &Decision| serde_json::to_value((&d.flags, &d.tiers, &d.recommendations, &d.strengths, &d.insufficient_data)).unwrap();
        prop_assert_eq!(shape(&a), shape(&b));
    }

    /// Every `reporting` section past a limit is refused, naming its field.
    #[test]
    fn every_reporting_section_past_a_limit_is_refused_naming_it((labels, field) in bad_reporting()) {
        let v = json!({"student_id": "S1", "reporting": labels});
        match refused_fields(&v) {
            Ok(_) => return Err(TestCaseError::fail(format!("accepted {v}"))),
            Err(fields) if field == "reporting" => prop_assert!(fields.len() == 1 && fields[0].starts_with("reporting"), "{:?} for {}", fields, v),
            Err(fields) => prop_assert_eq!(fields, vec![field]),
        }
    }

    /// Every record the generator builds is within the documented ranges; each is
    /// accepted, evaluates to a decision without rule errors, and renders; no
    /// explanation says NaN or inf.
    #[test]
    fn every_accepted_record_evaluates_and_renders(v in accepted_record()) {
        let r = match parse_record(&v.to_string()) {
            Ok(r) => r,
            Err(e) => return Err(TestCaseError::fail(format!("refused: {e}\n{v}"))),
        };
        let (d, report) = evaluate_and_render(r);
        prop_assert!(d.rule_errors.is_empty(), "{:?}", d.rule_errors);
        prop_assert!(report.contains(&d.decision_id));
        for f in &d.flags {
            for text in [Some(&f.explanation), f.clears.as_ref()].into_iter().flatten() {
                prop_assert!(!text.contains("NaN") && !text.contains("inf"), "{}: {}", f.rule_id, text);
            }
        }
    }

    /// Every implausible number is refused, naming exactly its field.
    #[test]
    fn every_implausible_number_is_refused_naming_its_field(i in 0usize..8, x in implausible(1.0)) {
        let hi = upper(i);
        // Scale the "just past the top" cases to the field's own bound.
        let x = if x > 1.0 && x < 1.0 + 1e-6 { hi * x } else { x };
        let (field, v) = put_number(i, x);
        match refused_fields(&v) {
            Ok(_) => return Err(TestCaseError::fail(format!("accepted {x:e} in {field}"))),
            Err(fields) => prop_assert_eq!(fields, vec![field]),
        }
    }

    /// The engine finishes on any numbers at all, even in a record that skipped
    /// validation (a snapshot stored by an older version): infinities, NaN, 1e308,
    /// subnormals, negative zero.
    #[test]
    fn engine_finishes_on_any_numbers_even_unvalidated(
        enrolled in any::<f64>(), present in any::<f64>(), gpa in any::<f64>(), s in any::<u32>()
    ) {
        let mut r = Record::empty("S1");
        r.attendance = Some(Attendance { days_enrolled: enrolled, days_present: present, unexcused_absences: None, tardies: None });
        r.gpa = Some(gpa);
        r.behavior = Some(Behavior { office_referrals: s, suspensions_in_school: s, suspensions_out_of_school: s });
        let (d, report) = evaluate_and_render(r);
        prop_assert!(report.contains(&d.decision_id));
    }
}
