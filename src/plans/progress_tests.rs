//! Worked examples of the progress math, with the arithmetic written out, and a
//! property test over the whole accepted range.
//!
//! The reading goal used throughout: oral reading fluency from a baseline of 40 words
//! correct per minute on Monday 2026-01-05 to a target of 60 by 2026-03-16, 70 days
//! (10 weeks) later. The aim line rises 20 ÷ 10 = 2 words a week: the aim in week k
//! (day 7k) is 40 + 2k, so 42, 44, 46, 48, 50, 52 in weeks 1 to 6.

use super::*;
use proptest::prelude::*;

fn start() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, 5).unwrap()
}

/// The date `n` days after the start.
fn day(n: i64) -> NaiveDate {
    start() + chrono::Duration::days(n)
}

fn week(k: i64) -> NaiveDate {
    day(7 * k)
}

fn reading() -> Goal {
    Goal::new(40.0, 60.0, start(), day(70)).unwrap()
}

/// Absence rate in percent, from 20 to 5 over the same 10 weeks: the aim falls 1.5 a
/// week, so it is 18.5, 17, 15.5, 14, 12.5 in weeks 1 to 5.
fn absences() -> Goal {
    Goal::new(20.0, 5.0, start(), day(70)).unwrap()
}

/// One point a week: `values[0]` in week 1, `values[1]` in week 2, …
fn weekly(values: &[f64]) -> Vec<Point> {
    (1..)
        .zip(values)
        .map(|(k, &value)| Point {
            date: week(k),
            value,
        })
        .collect()
}

fn summary(goal: &Goal, points: &[Point], as_of: NaiveDate) -> Summary {
    summarize(goal, points, &[], &Schedule::default(), as_of)
}

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-9)
}

#[test]
fn the_aim_line_runs_from_baseline_to_target_and_holds_outside() {
    let g = reading();
    assert_eq!(g.direction(), Direction::Increase);
    assert_eq!(g.aim_at(start()), 40.0);
    assert_eq!(
        g.aim_at(day(-30)),
        40.0,
        "held at the baseline before start"
    );
    // Week 5 is day 35 of 70: 40 × 0.5 + 60 × 0.5 = 50.
    assert_eq!(g.aim_at(week(5)), 50.0);
    assert!((g.aim_at(week(1)) - 42.0).abs() < 1e-9);
    assert_eq!(g.aim_at(day(70)), 60.0);
    assert_eq!(g.aim_at(day(200)), 60.0, "held at the target after `by`");
    assert!(close(g.aim_per_week(), 2.0));
}

#[test]
fn the_trend_line_runs_through_the_mean_point_with_the_slope() {
    // 41, 45, 43, 47 in weeks 1 to 4: mean week 2.5 after week 1 = 1.5 weeks after
    // the first point, mean value 44. Slope: Σ(x−1.5)(y−44) = (−1.5)(−3) + (−0.5)(1)
    // + (0.5)(−1) + (1.5)(3) = 8, Σ(x−1.5)² = 5, so 1.6 a week. At week 1 the line
    // is 44 − 1.5 × 1.6 = 41.6; at week 4, 44 + 1.5 × 1.6 = 46.4.
    let series = Series::new(&weekly(&[41.0, 45.0, 43.0, 47.0]), week(4));
    let t = series.trend().unwrap();
    assert_eq!((t.first, t.mean_weeks, t.mean_value), (week(1), 1.5, 44.0));
    assert!((t.slope_per_week - 1.6).abs() < 1e-9);
    assert_eq!(series.slope_per_week(), Some(t.slope_per_week));
    assert!(close(t.value_at(week(1)), 41.6));
    assert!(close(t.value_at(week(4)), 46.4));
    assert_eq!(Series::new(&weekly(&[41.0, 45.0]), week(4)).trend(), None);
}

#[test]
fn each_point_has_a_side_of_the_aim_line() {
    // Aims 42, 44, 46 in weeks 1 to 3 (rising goal); 20 − 1.5k for absences.
    let g = reading();
    let at = |k, value| Point {
        date: week(k),
        value,
    };
    assert_eq!(g.side_of(&at(1, 41.0)), Side::Behind);
    assert_eq!(g.side_of(&at(2, 44.0)), Side::On);
    assert_eq!(g.side_of(&at(3, 47.0)), Side::Ahead);
    assert_eq!(
        absences().side_of(&at(2, 18.0)),
        Side::Behind,
        "17 is the aim"
    );
    assert_eq!(absences().side_of(&at(2, 16.0)), Side::Ahead);
}

#[test]
fn flat_scores_fall_further_behind_every_week() {
    // 40 every week. Trend 0. Aims 42 … 52, all above: 6 points off aim. Gap in
    // week 6: 40 − 52 = −12 (behind).
    let s = summary(&reading(), &weekly(&[40.0; 6]), week(6));
    assert_eq!(s.weeks_active, 6);
    assert_eq!(s.data_points, 6);
    assert_eq!(s.slope_per_week, Some(0.0));
    assert_eq!((s.points_off_aim, s.points_on_track), (6, 0));
    assert!(close(s.aim_gap, -12.0));
    assert!(close(s.aim_at_newest, 52.0));
    assert_eq!(s.goal_met, Some(false));
}

#[test]
fn improving_faster_than_the_aim_is_on_track() {
    // 43, 46, … 58: +3 a week against an aim of +2. Gaps +1 … +6, all ahead.
    let s = summary(
        &reading(),
        &weekly(&[43.0, 46.0, 49.0, 52.0, 55.0, 58.0]),
        week(6),
    );
    assert!(close(s.slope_per_week, 3.0));
    assert_eq!((s.points_off_aim, s.points_on_track), (0, 6));
    assert!(close(s.aim_gap, 6.0));
    assert_eq!(s.goal_met, Some(false), "58 is not yet 60");
}

#[test]
fn worsening_scores_have_a_negative_trend_and_a_growing_gap() {
    // 40, 39, … 35: −1 a week. Week 6: 35 − 52 = −17.
    let s = summary(
        &reading(),
        &weekly(&[40.0, 39.0, 38.0, 37.0, 36.0, 35.0]),
        week(6),
    );
    assert!(close(s.slope_per_week, -1.0));
    assert_eq!(s.points_off_aim, 6);
    assert!(close(s.aim_gap, -17.0));
}

#[test]
fn points_off_aim_count_only_the_newest_run() {
    // Aims 42 44 46 48 50 52; scores 41 45 45 47 49 51. Week 2 (45 > 44) is ahead,
    // so the run from the newest is weeks 3–6: four points off aim.
    let s = summary(
        &reading(),
        &weekly(&[41.0, 45.0, 45.0, 47.0, 49.0, 51.0]),
        week(6),
    );
    assert_eq!((s.points_off_aim, s.points_on_track), (4, 0));
    // A newest point back above the aim ends the run.
    let s = summary(&reading(), &weekly(&[41.0, 43.0, 45.0, 49.0]), week(4));
    assert_eq!((s.points_off_aim, s.points_on_track), (0, 1));
}

#[test]
fn too_few_points_give_no_trend_and_none_give_nothing() {
    // Two points: 41 < 42 and 43 < 44. Off aim 2, but a trend needs 3 points.
    let s = summary(&reading(), &weekly(&[41.0, 43.0]), week(2));
    assert_eq!(s.data_points, 2);
    assert_eq!(s.slope_per_week, None);
    assert_eq!(s.points_off_aim, 2);
    let s = summary(&reading(), &[], week(3));
    assert_eq!(s.data_points, 0);
    assert_eq!(
        (s.slope_per_week, s.aim_gap, s.goal_met),
        (None, None, None)
    );
    assert_eq!(
        (s.points_off_aim, s.points_on_track, s.newest),
        (0, 0, None)
    );
    // Day 21 of 70: 40 × 0.7 + 60 × 0.3 = 46.
    assert!((s.aim_now - 46.0).abs() < 1e-9);
}

#[test]
fn the_goal_is_met_early_when_the_newest_point_reaches_the_target() {
    // 45, 50, 56, 61 by week 4, six weeks before `by`: 61 ≥ 60.
    let s = summary(&reading(), &weekly(&[45.0, 50.0, 56.0, 61.0]), week(4));
    assert_eq!(s.goal_met, Some(true));
    assert_eq!(s.points_on_track, 4);
    // Exactly 60 counts; 59.9 does not.
    let s = summary(&reading(), &weekly(&[45.0, 50.0, 56.0, 60.0]), week(4));
    assert_eq!(s.goal_met, Some(true));
    let s = summary(&reading(), &weekly(&[45.0, 50.0, 56.0, 59.9]), week(4));
    assert_eq!(s.goal_met, Some(false));
}

/// Four planned a week; each week two delivered (Mon, Tue) and two missed (Wed, Thu).
fn half_delivered(weeks: i64) -> Vec<Session> {
    (0..weeks * 7)
        .filter(|d| d % 7 < 4)
        .map(|d| Session {
            date: day(d),
            minutes: 30,
            delivered: d % 7 < 2,
        })
        .collect()
}

#[test]
fn missed_sessions_halve_fidelity() {
    // As of day 30, 4 whole weeks: planned 4 × 4 = 16, delivered 2 × 4 = 8 → 0.5.
    // The delivered session on day 29 is in week 5, not yet complete: not counted.
    let mut sessions = half_delivered(4);
    sessions.push(Session {
        date: day(29),
        minutes: 30,
        delivered: true,
    });
    let four = Schedule::new(Some(4.0)).unwrap();
    let s = summarize(&reading(), &[], &sessions, &four, day(30));
    assert_eq!(s.weeks_active, 4);
    assert_eq!(s.sessions_planned, Some(16.0));
    assert_eq!(s.sessions_delivered, 8);
    assert_eq!(s.fidelity, Some(0.5));
}

#[test]
fn fidelity_waits_for_a_week_a_schedule_and_never_passes_one() {
    let one = Schedule::new(Some(1.0)).unwrap();
    let sessions = half_delivered(1);
    // Day 6: no week complete, nothing planned yet.
    let d = delivery(&one, &sessions, start(), day(6));
    assert_eq!((d.planned, d.fidelity), (None, None));
    // No schedule: nothing to compare with.
    let d = delivery(&Schedule::default(), &sessions, start(), day(7));
    assert_eq!((d.planned, d.delivered, d.fidelity), (None, 2, None));
    // One a week planned, two delivered in week 1: capped at 1.
    let d = delivery(&one, &sessions, start(), day(7));
    assert_eq!((d.planned, d.fidelity), (Some(1.0), Some(1.0)));
    // Half a session a week, one week: planned is at least 1.
    let half = Schedule::new(Some(0.5)).unwrap();
    assert_eq!(delivery(&half, &[], start(), day(7)).planned, Some(1.0));
    assert_eq!(delivery(&half, &[], start(), day(7)).fidelity, Some(0.0));
}

#[test]
fn a_decreasing_goal_is_behind_above_the_line() {
    // Absence rate 19, 18, 16, 15 against aims 18.5, 17, 15.5, 14: all above, off aim.
    // Gap = aim − value = 14 − 15 = −1 (behind). Trend: x = 0..3 (mean 1.5), y mean 17,
    // Sxy = −1.5·2 − 0.5·1 + 0.5·(−1) + 1.5·(−2) = −7, Sxx = 5 → −1.4 a week.
    let g = absences();
    assert_eq!(g.direction(), Direction::Decrease);
    assert!(close(g.aim_per_week(), -1.5));
    let s = summary(&g, &weekly(&[19.0, 18.0, 16.0, 15.0]), week(4));
    assert_eq!((s.points_off_aim, s.points_on_track), (4, 0));
    assert!(close(s.aim_gap, -1.0));
    assert!(close(s.slope_per_week, -1.4));
    // 18, 16, 15, 13 are all below the aim: on track, gap 14 − 13 = +1.
    let s = summary(&g, &weekly(&[18.0, 16.0, 15.0, 13.0]), week(4));
    assert_eq!((s.points_off_aim, s.points_on_track), (0, 4));
    assert!(close(s.aim_gap, 1.0));
    // Week 5 at 4.5, under the target of 5: met.
    let s = summary(&g, &weekly(&[18.0, 16.0, 15.0, 13.0, 4.5]), week(5));
    assert_eq!(s.goal_met, Some(true));
}

#[test]
fn a_point_exactly_on_the_aim_line_is_neither_off_aim_nor_on_track() {
    // 42, 44, 46, 48 are the aims themselves: gap 0, neither run counts them.
    let s = summary(&reading(), &weekly(&[42.0, 44.0, 46.0, 48.0]), week(4));
    assert_eq!((s.points_off_aim, s.points_on_track), (0, 0));
    assert_eq!(s.aim_gap, Some(0.0));
    // Absences in week 8: the aim 20 − 1.5 × 8 = 8 is computed as 7.999999999999999;
    // a point of 8 is still on the line, not above it.
    let mut points = weekly(&[18.5, 17.0, 15.5, 14.0, 12.5, 11.0, 9.5, 8.0]);
    points.drain(..4);
    let s = summary(&absences(), &points, week(8));
    assert_eq!((s.points_off_aim, s.points_on_track), (0, 0));
    assert_eq!(s.aim_gap, Some(0.0));
    // 41, 43 off aim; 46 on the line ends the run; 47 off aim again: a run of 1.
    let s = summary(&reading(), &weekly(&[41.0, 43.0, 46.0, 47.0]), week(4));
    assert_eq!(s.points_off_aim, 1);
}

#[test]
fn unsorted_and_repeated_points_give_the_same_summary() {
    let points = weekly(&[41.0, 45.0, 45.0, 47.0, 49.0, 51.0]);
    let sorted = summary(&reading(), &points, week(6));
    let mut shuffled = vec![points[3], points[0], points[5], points[1], points[4]];
    shuffled.extend([points[2], points[5], points[0]]);
    assert_eq!(summary(&reading(), &shuffled, week(6)), sorted);
    // A point dated after `as_of` is not known yet.
    let mut later = points.clone();
    later.push(Point {
        date: week(7),
        value: 90.0,
    });
    assert_eq!(summary(&reading(), &later, week(6)), sorted);
    // Three values on one date whose floating-point sum depends on the order they are
    // added in (1 + 10¹⁶ − 10¹⁶ is 0, 10¹⁶ − 10¹⁶ + 1 is 1): the same mean either way.
    let on_day = |vs: [f64; 3]| {
        vs.map(|value| Point {
            date: week(1),
            value,
        })
    };
    let a = summary(&reading(), &on_day([1.0, 1e16, -1e16]), week(1));
    let b = summary(&reading(), &on_day([1e16, -1e16, 1.0]), week(1));
    assert_eq!(a, b);
}

#[test]
fn several_points_on_one_date_count_once_at_their_mean() {
    // Week 6 measured twice, 50 and 52: one point, 51.
    let mut points = weekly(&[41.0, 45.0, 45.0, 47.0, 49.0]);
    points.extend([50.0, 52.0].map(|value| Point {
        date: week(6),
        value,
    }));
    let s = summary(&reading(), &points, week(6));
    assert_eq!(s.data_points, 6);
    assert_eq!(
        s.newest,
        Some(Point {
            date: week(6),
            value: 51.0
        })
    );
    // Three points on one date are one point: no trend, no division by zero.
    let same = [38.0, 40.0, 45.0].map(|value| Point {
        date: week(1),
        value,
    });
    let s = summary(&reading(), &same, week(1));
    assert_eq!((s.data_points, s.slope_per_week), (1, None));
}

#[test]
fn bad_goals_points_sessions_and_schedules_name_the_field() {
    let field = |r: Result<Goal, ProgressError>| r.unwrap_err().field().to_string();
    assert_eq!(
        field(Goal::new(f64::NAN, 60.0, start(), day(70))),
        "baseline"
    );
    assert_eq!(
        field(Goal::new(40.0, f64::INFINITY, start(), day(70))),
        "target"
    );
    assert_eq!(field(Goal::new(-0.0, 0.0, start(), day(70))), "target");
    let e = Goal::new(40.0, 60.0, start(), start()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "`by` (2026-01-05) must be after `start` (2026-01-05)"
    );
    let g = reading();
    let early = Point {
        date: day(-1),
        value: 40.0,
    };
    let e = validate_points(&g, &[weekly(&[40.0])[0], early]).unwrap_err();
    assert_eq!(e.field(), "points[1].date");
    let nan = Point {
        date: day(3),
        value: f64::NAN,
    };
    assert_eq!(
        validate_points(&g, &[nan]).unwrap_err().field(),
        "points[0].value"
    );
    assert_eq!(g.check_point(&nan).unwrap_err().field(), "value");
    assert!(validate_points(&g, &weekly(&[1.0, 2.0])).is_ok());
    let s = Session {
        date: day(-7),
        minutes: 20,
        delivered: true,
    };
    assert_eq!(
        validate_sessions(&g, &[s]).unwrap_err().field(),
        "sessions[0].date"
    );
    assert_eq!(g.check_session(&s).unwrap_err().field(), "date");
    for bad in [0.0, -1.0, f64::NAN] {
        let e = Schedule::new(Some(bad)).unwrap_err();
        assert_eq!(e.field(), "sessions_per_week");
    }
}

#[test]
fn the_summary_serializes_without_negative_zero() {
    let g = Goal::new(-0.0, 10.0, start(), day(70)).unwrap();
    let p = Point {
        date: start(),
        value: -0.0,
    };
    let json = serde_json::to_string(&summary(&g, &[p, p, p], start())).unwrap();
    assert!(json.contains(r#""direction":"increase""#), "{json}");
    assert!(json.contains(r#""aim_gap":0.0"#), "{json}");
    assert!(!json.contains(":-0"), "{json}");
}

#[test]
fn extreme_magnitudes_give_none_rather_than_infinity_or_nan() {
    let g = Goal::new(-f64::MAX, f64::MAX, start(), day(70)).unwrap();
    let points = weekly(&[f64::MAX, -f64::MAX, f64::MAX, -f64::MAX]);
    let s = summary(&g, &points, week(4));
    assert_eq!(s.aim_per_week, None, "the span overflows");
    assert!(s.aim_now.is_finite());
    assert!(s.slope_per_week.is_none_or(f64::is_finite));
    assert!(s.aim_gap.is_none_or(f64::is_finite));
}

fn finite_value() -> impl Strategy<Value = f64> {
    use proptest::num::f64 as f;
    prop_oneof![
        -1000.0..1000.0,
        f::POSITIVE | f::NEGATIVE | f::NORMAL | f::SUBNORMAL | f::ZERO,
    ]
}

fn points() -> impl Strategy<Value = Vec<Point>> {
    prop::collection::vec((-50i64..800, finite_value()), 0..12).prop_map(|v| {
        v.into_iter()
            .map(|(d, value)| Point {
                date: day(d),
                value,
            })
            .collect()
    })
}

fn sessions() -> impl Strategy<Value = Vec<Session>> {
    prop::collection::vec((-50i64..800, any::<bool>()), 0..30).prop_map(|v| {
        v.into_iter()
            .map(|(d, delivered)| Session {
                date: day(d),
                minutes: 30,
                delivered,
            })
            .collect()
    })
}

fn no_nan(x: Option<f64>) -> bool {
    x.is_none_or(f64::is_finite)
}

proptest! {
    #[test]
    fn any_accepted_input_summarizes_without_nan(
        baseline in finite_value(),
        target in finite_value(),
        length in 1i64..5000,
        points in points(),
        sessions in sessions(),
        per_week in prop::option::of(finite_value().prop_filter("positive", |n| *n > 0.0)),
        as_of in -100i64..6000,
    ) {
        prop_assume!(baseline != target);
        let goal = Goal::new(baseline, target, start(), day(length)).unwrap();
        prop_assert_eq!(goal.aim_at(start()), baseline);
        prop_assert_eq!(goal.aim_at(day(length)), target);
        let schedule = Schedule::new(per_week).unwrap();
        let s = summarize(&goal, &points, &sessions, &schedule, day(as_of));
        prop_assert!(s.aim_now.is_finite());
        for x in [s.aim_at_newest, s.aim_per_week, s.slope_per_week, s.aim_gap,
                  s.sessions_planned, s.fidelity] {
            prop_assert!(no_nan(x), "{:?}", s);
        }
        prop_assert!(s.newest.is_none_or(|p| p.value.is_finite()));
        prop_assert!(s.fidelity.is_none_or(|f| (0.0..=1.0).contains(&f)));
        prop_assert!(s.points_off_aim + s.points_on_track <= s.data_points);
        prop_assert!(s.points_off_aim == 0 || s.points_on_track == 0);
        prop_assert_eq!(s.goal_met.is_some(), s.data_points > 0);
        prop_assert!(serde_json::to_string(&s).is_ok());
        let reversed: Vec<Point> = points.iter().rev().copied().collect();
        prop_assert_eq!(summarize(&goal, &reversed, &sessions, &schedule, day(as_of)), s);
    }
}
