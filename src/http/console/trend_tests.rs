//! The indicator charts on worked examples (coordinates written out), the shipped
//! rules' thresholds, one reading and none, and a property test over readings of
//! any magnitude (never `NaN` or `inf` in the output).
//!
//! The worked chart: absence rate 15% on 2026-09-01 and 5% on 2026-11-20 (80 days),
//! with the thresholds 5%, 10% and 20%. Points sit 16 inside the plot: x from 108 to
//! 608. Values 0.05 to 0.20 get a margin of 0.0075 each side: 0.0425 to 0.2075 map
//! to y 244 to 44, so 0.05 is at 244 − 0.0075 / 0.165 × 200 = 234.9 and 0.15 at
//! 244 − 0.1075 / 0.165 × 200 = 113.7.

use chrono::Days;
use proptest::prelude::*;

use super::*;

fn day(n: u64) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 9, 1).unwrap() + Days::new(n)
}

fn reading(d: u64, seq: u64, value: f64) -> Reading {
    Reading {
        date: day(d),
        seq,
        value,
    }
}

fn threshold(name: &str, value: f64) -> Threshold {
    Threshold {
        name: name.into(),
        value,
    }
}

fn shipped() -> RuleSet {
    RuleSet::load_dir(std::path::Path::new("rules")).unwrap()
}

fn absence(readings: Vec<Reading>) -> Indicator {
    let rules = shipped();
    Indicator::new(
        "attendance.absence_rate",
        readings,
        thresholds(&rules, "attendance.absence_rate"),
    )
}

#[test]
fn the_thresholds_are_the_params_the_rules_compare_the_indicator_against() {
    let rules = shipped();
    let named = |path: &str| -> Vec<(String, f64)> {
        thresholds(&rules, path)
            .into_iter()
            .map(|t| (t.name, t.value))
            .collect()
    };
    let pairs = |v: &[(&str, f64)]| -> Vec<(String, f64)> {
        v.iter().map(|(n, x)| (n.to_string(), *x)).collect()
    };
    assert_eq!(
        named("attendance.absence_rate"),
        pairs(&[
            ("attendance_watch_rate", 0.05),
            ("chronic_absence_rate", 0.1),
            ("severe_absence_rate", 0.2)
        ])
    );
    assert_eq!(named("gpa"), pairs(&[("low_gpa", 2.0)]));
    assert_eq!(
        named("behavior.office_referrals"),
        pairs(&[("referrals_repeated", 2.0), ("referrals_frequent", 6.0)])
    );
    assert_eq!(
        named("reading_percentile"),
        pairs(&[
            ("well_below_percentile", 10.0),
            ("benchmark_percentile", 25.0),
            ("on_track_percentile", 50.0)
        ])
    );
    assert!(
        named("attendance.days_enrolled").is_empty(),
        "no rule reads it"
    );
    assert!(named("not.a.field").is_empty());
}

#[test]
fn two_decisions_draw_a_line_with_the_thresholds_named() {
    let ind = absence(vec![reading(80, 9, 0.05), reading(0, 3, 0.15)]);
    let s = ind.svg();
    assert!(s.starts_with("<svg ") && s.ends_with("</svg>"));
    assert!(
        s.contains(r#"role="img" aria-labelledby="indicator-attendance-absence-rate-title indicator-attendance-absence-rate-desc""#),
        "{s}"
    );
    assert!(
        s.contains(r#"<title id="indicator-attendance-absence-rate-title">Absence rate at each decision</title>"#),
        "{s}"
    );
    assert!(s.contains(
        "2 decisions from 2026-09-01 to 2026-11-20; newest 5% on 2026-11-20; lowest 5%, highest 15%. \
         Thresholds: attendance_watch_rate 5%, chronic_absence_rate 10%, severe_absence_rate 20%."
    ), "{s}");
    // Oldest first, whatever order the decisions came in.
    assert!(
        s.contains(r#"<polyline points="108.0,113.7 608.0,234.9""#),
        "{s}"
    );
    assert!(s.contains("<title>2026-09-01: 15%</title>"), "{s}");
    // Each threshold a dashed line; 10% at 244 − 0.0575 / 0.165 × 200 = 174.3.
    assert_eq!(
        s.matches(r#"stroke-dasharray="8 6""#).count(),
        4,
        "3 and the legend"
    );
    assert!(
        s.contains(r##"y1="174.3" x2="624.0" y2="174.3" stroke="#8a1c1c""##),
        "{s}"
    );
    assert!(s.contains(">chronic_absence_rate 10%</text>"), "{s}");
    // Ticks at round percentages.
    assert!(
        s.contains(">10%</text>") && s.contains(">20%</text>"),
        "{s}"
    );

    let t = ind.table_html();
    assert!(
        t.contains("<caption>Absence rate at each decision: 2 decisions"),
        "{t}"
    );
    assert!(t.contains(
        r#"<tr><th scope="row">2026-09-01</th><td>15%</td><td>3</td></tr><tr><th scope="row">2026-11-20</th><td>5%</td><td>9</td></tr>"#
    ), "{t}");
}

#[test]
fn one_reading_is_a_point_and_none_draws_nothing() {
    let one = absence(vec![reading(10, 1, 0.12)]);
    let s = one.svg();
    assert_eq!(s.matches("<circle").count(), 1);
    assert!(!s.contains("<polyline"), "no line through one point");
    assert!(s.contains(r#"<circle cx="358.0""#), "centred: {s}");
    assert!(s.contains("1 decision, 12% on 2026-09-11: not enough history for a line"));

    let none = absence(Vec::new());
    assert_eq!(none.svg(), "");
    assert!(none.table_html().contains("Not enough history"));
    assert!(none.words().starts_with("Not enough history"));
}

#[test]
fn equal_values_and_values_on_one_day_draw_in_range() {
    let gpa = Indicator::new(
        "gpa",
        vec![reading(0, 1, 3.0), reading(0, 2, 3.0), reading(0, 3, 3.0)],
        Vec::new(),
    );
    let s = gpa.svg();
    // 3 ± 0.3: the points in the middle, all at the centre line's x.
    assert_eq!(
        s.matches(r#"<circle cx="358.0" cy="144.0""#).count(),
        3,
        "{s}"
    );
    assert!(
        !s.contains("threshold of a rule"),
        "no threshold, no legend item"
    );
    assert!(gpa.words().contains("lowest 3, highest 3"));
}

#[test]
fn values_that_are_not_finite_never_reach_the_output() {
    let ind = Indicator::new(
        "behavior.office_referrals",
        vec![
            reading(0, 1, f64::NAN),
            reading(5, 2, f64::INFINITY),
            reading(9, 3, -0.0),
            reading(12, 4, f64::MAX),
        ],
        vec![threshold("huge", f64::NEG_INFINITY), threshold("ok", 2.0)],
    );
    assert_eq!(ind.readings().len(), 2);
    let (s, t) = (ind.svg(), ind.table_html());
    for out in [&s, &t] {
        for bad in ["NaN", "inf", "-0.0\"", ">-0<", "huge"] {
            assert!(!out.contains(bad), "{bad} in {out}");
        }
    }
    assert!(t.contains("<td>0</td>"), "negative zero reads 0: {t}");
    assert!(s.contains("e308"), "{s}");
}

/// Values of any magnitude, with the edges of `f64` and negative zero.
fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        -200.0..200.0f64,
        -1e300..1e300f64,
        prop::sample::select(vec![
            0.0,
            -0.0,
            f64::MAX,
            f64::MIN,
            f64::MIN_POSITIVE,
            5e-324,
            1e15
        ]),
        prop::sample::select(vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY]),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn any_readings_draw_without_nan_or_inf(
        path in prop::sample::select(INDICATORS.to_vec()),
        readings in prop::collection::vec((0u64..900, value()), 0..12),
        levels in prop::collection::vec(value(), 0..4),
    ) {
        let readings = readings
            .into_iter()
            .enumerate()
            .map(|(i, (d, v))| reading(d, i as u64, v))
            .collect();
        let named = levels
            .into_iter()
            .enumerate()
            .map(|(i, v)| threshold(&format!("level_{i}"), v))
            .collect();
        let ind = Indicator::new(path, readings, named);
        let (s, t) = (ind.svg(), ind.table_html());
        prop_assert!(s.is_empty() || (s.starts_with("<svg ") && s.ends_with("</svg>")));
        prop_assert!(s.is_empty() == ind.readings().is_empty());
        prop_assert!(t.starts_with("<table") && t.ends_with("</table>"));
        for out in [&s, &t] {
            prop_assert!(!out.contains("NaN") && !out.contains("inf"), "{}", out);
            prop_assert!(!out.contains("style="));
        }
        prop_assert_eq!(s.matches('<').count(), s.matches('>').count());
        prop_assert_eq!(t.matches("<tr><th scope=\"row\">").count(), ind.readings().len());
    }
}
