//! The chart and its table on worked examples (coordinates written out), text from
//! data escaped, and a property test over plans of any shape and magnitude.
//!
//! The worked plan: oral reading fluency from 40 on 2026-09-01 to 82 by 2026-11-10
//! (70 days: the aim rises 4.2 a week). The plot spans 2026-09-01 to 2026-11-10, x
//! from 92 to 624 (7.6 per day). Values 40 to 82 get a margin of 2.1 on each side:
//! 37.9 to 84.1 map to y 244 to 44, so 40 is at 244 − 2.1 / 46.2 × 200 = 234.9 and 82
//! at 244 − 44.1 / 46.2 × 200 = 53.1.

use chrono::Days;
use proptest::prelude::*;

use super::*;
use crate::plans::{Goal as PlanGoal, ProgressPoint, Status};
use crate::rules::Domain;

fn day(n: u64) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 9, 1).unwrap() + Days::new(n)
}

fn point(date: NaiveDate, value: f64) -> ProgressPoint {
    ProgressPoint {
        date,
        value,
        source: "staff".into(),
        note: None,
    }
}

fn plan(baseline: f64, target: f64, by: NaiveDate, progress: Vec<ProgressPoint>) -> Plan {
    Plan {
        plan_id: "P-1".into(),
        student_id: "S1".into(),
        intervention: "small-group-reading".into(),
        domain: Domain::Academic,
        tier: 2,
        owner: "Ms. Rivera".into(),
        goal: PlanGoal {
            measure: "oral-reading-fluency".into(),
            baseline,
            target,
            by,
        },
        start: day(0),
        review_every_days: None,
        sessions_per_week: None,
        minutes_per_session: None,
        opened_from: None,
        status: Status::Active,
        exit_reason: None,
        revision: 1,
        progress,
        sessions: Vec::new(),
    }
}

/// 40 every week for 6 weeks: flat while the aim climbs to 65.2 by week 6.
fn flat() -> Plan {
    let points = (1..=6).map(|w| point(day(7 * w), 40.0)).collect();
    plan(40.0, 82.0, day(70), points)
}

#[test]
fn escape_makes_markup_text() {
    assert_eq!(
        escape(r#"<script>alert("x&y's")</script>"#),
        "&lt;script&gt;alert(&quot;x&amp;y&#39;s&quot;)&lt;/script&gt;"
    );
    assert_eq!(
        escape("words correct per minute"),
        "words correct per minute"
    );
}

#[test]
fn the_chart_says_in_words_what_it_shows() {
    let svg = svg(&flat(), day(42));
    assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>"));
    assert!(svg.contains(r#"viewBox="0 0 640 320" width="100%" role="img""#));
    assert!(svg.contains(
        r#"<title id="plan-chart-P-1-title">Progress on oral-reading-fluency: aim from 40 to 82 by 2026-11-10</title>"#
    ));
    assert!(svg.contains(
        "<desc id=\"plan-chart-P-1-desc\">6 points; newest 40 on 2026-10-13, 25.2 behind the aim; \
         trend 0 per week. Aim line from 40 on 2026-09-01 to 82 by 2026-11-10.</desc>"
    ));
    assert!(svg.contains(r#"aria-labelledby="plan-chart-P-1-title plan-chart-P-1-desc""#));
}

#[test]
fn points_aim_line_and_trend_sit_where_the_numbers_put_them() {
    let svg = svg(&flat(), day(42));
    // The aim line from (start, 40) to (by, 82).
    assert!(
        svg.contains(r##"<polyline points="92.0,234.9 624.0,53.1" fill="none" stroke="#1d4f91""##),
        "{svg}"
    );
    // Week 1 is x = 92 + 7 × 7.6 = 145.2; week 6 is 92 + 42 × 7.6 = 411.2. The trend
    // (0 a week through the mean point, 40) is flat at 40 over the points' dates.
    assert!(
        svg.contains(r##"<line x1="145.2" y1="234.9" x2="411.2" y2="234.9" stroke="#a34700""##)
    );
    // Six points plus the legend's dot; the first at week 1, off aim.
    assert_eq!(svg.matches("<circle").count(), 7);
    assert!(svg.contains(
        r##"<circle cx="145.2" cy="234.9" r="6" fill="#111111" stroke="#ffffff" stroke-width="1.5"><title>2026-09-08: 40, off aim (behind)</title>"##
    ));
    // `as_of` as a dashed line at week 6.
    assert!(svg.contains(r##"<line x1="411.2" y1="44.0" x2="411.2" y2="244.0" stroke="#595959""##));
    for label in ["aim line", "trend", "points", "as of"] {
        assert!(svg.contains(&format!(">{label}</text>")), "legend {label}");
    }
    for date in ["2026-09-01", "2026-11-10", "2026-10-13"] {
        assert!(svg.contains(&format!(">{date}</text>")), "date tick {date}");
    }
    // Value ticks at a round step in the measure's units: 40, 50, … 80.
    for v in ["40", "50", "60", "70", "80"] {
        assert!(
            svg.contains(&format!(r#"text-anchor="end">{v}</text>"#)),
            "tick {v}"
        );
    }
}

#[test]
fn a_rising_trend_runs_through_the_mean_point() {
    // 41, 45, 43, 47 in weeks 1 to 4: 1.6 a week through (week 2.5, 44), so 41.6 at
    // week 1 and 46.4 at week 4 (the math's own worked example). The aim at week 4
    // is 40 + 4 × 4.2 = 56.8.
    let points = [41.0, 45.0, 43.0, 47.0]
        .iter()
        .zip(1..)
        .map(|(v, w)| point(day(7 * w), *v))
        .collect();
    let p = plan(40.0, 82.0, day(70), points);
    let svg = svg(&p, day(28));
    assert!(
        svg.contains("4 points; newest 47 on 2026-09-29, 9.8 behind the aim; trend +1.6 per week.")
    );
    // y(41.6) = 244 − 3.7 / 46.2 × 200 = 228.0; y(46.4) = 244 − 8.5 / 46.2 × 200 = 207.2; week 4 is x = 92 + 28 × 7.6 = 304.8.
    assert!(
        svg.contains(r##"<line x1="145.2" y1="228.0" x2="304.8" y2="207.2" stroke="#a34700""##),
        "{svg}"
    );
}

#[test]
fn the_table_is_the_text_alternative() {
    let mut p = flat();
    p.progress[5].note = Some(r#"absent <script>alert(1)</script> & "tired""#.into());
    // A second reading on the newest date: the math reads their mean.
    p.progress.push(point(day(42), 44.0));
    let t = table_html(&p, day(42));
    assert!(t.starts_with("<table><caption>Progress points of oral-reading-fluency as of 2026-10-13: 6 points; newest 42 on 2026-10-13, 23.2 behind the aim;"));
    assert!(t.contains(r#"<th scope="col">Aim that day</th>"#));
    assert!(t.contains(
        r#"<tr><th scope="row">2026-09-08</th><td>40</td><td>44.2</td><td>off aim (behind)</td><td></td></tr>"#
    ));
    assert!(t.contains(
        "<tr><th scope=\"row\">2026-10-13</th><td>42 (mean of 2)</td><td>65.2</td><td>off aim (behind)</td>\
         <td>absent &lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;tired&quot;</td></tr>"
    ));
    assert_eq!(t.matches("<tr><th scope=\"row\">").count(), 6);
    assert!(t.ends_with("</tbody></table>"));
}

#[test]
fn points_on_track_and_on_the_line_say_so() {
    // Week 5 aim 61, week 6 aim 65.2.
    let p = plan(
        40.0,
        82.0,
        day(70),
        vec![point(day(35), 61.0), point(day(42), 70.0)],
    );
    let t = table_html(&p, day(42));
    assert!(
        t.contains("<td>61</td><td>61</td><td>on the aim line</td>"),
        "{t}"
    );
    assert!(
        t.contains("<td>70</td><td>65.2</td><td>on track (ahead)</td>"),
        "{t}"
    );
    let svg = svg(&p, day(42));
    assert!(svg.contains(
        "2 points; newest 70 on 2026-10-13, 4.8 ahead of the aim; a trend needs 3 points"
    ));
    assert!(
        !svg.contains("#a34700"),
        "no trend line or legend entry under 3 points"
    );
}

#[test]
fn text_from_data_is_escaped_everywhere() {
    let mut p = flat();
    p.goal.measure = r#"<script>alert("m")</script>"#.into();
    p.plan_id = r#""><img src=x onerror=alert(1)>"#.into();
    for out in [svg(&p, day(42)), table_html(&p, day(42))] {
        assert!(!out.contains("<script") && !out.contains("<img"), "{out}");
        assert!(out.contains("&lt;script&gt;alert(&quot;m&quot;)&lt;/script&gt;"));
    }
    assert!(svg(&p, day(42)).contains(r#"<title id="plan-chart-imgsrcxonerroralert1-title">"#));
}

#[test]
fn no_points_one_point_and_a_goal_the_math_refuses_still_draw() {
    let empty = plan(40.0, 82.0, day(70), Vec::new());
    let svg0 = svg(&empty, day(42));
    assert!(svg0.contains("<desc id=\"plan-chart-P-1-desc\">No points yet. Aim line from 40"));
    assert_eq!(svg0.matches("<circle").count(), 0);
    assert!(table_html(&empty, day(42)).contains(r#"<td colspan="5">No progress points yet</td>"#));

    let one = plan(40.0, 82.0, day(70), vec![point(day(7), 43.0)]);
    assert!(svg(&one, day(42)).contains("1 point; newest 43 on 2026-09-08, 1.2 behind the aim"));

    // Baseline equal to the target has no direction: no aim line, points still drawn.
    let flat_goal = plan(40.0, 40.0, day(70), vec![point(day(7), 43.0)]);
    let s = svg(&flat_goal, day(42));
    assert!(!s.contains("<polyline") && s.contains("<circle"));
    assert!(s.contains("The goal (40 to 40 by 2026-11-10) cannot be charted: check its numbers."));
    assert!(table_html(&flat_goal, day(42)).contains("<td>43</td><td>—</td><td>—</td>"));
}

#[test]
fn later_points_wait_and_the_aim_holds_after_by() {
    let mut p = flat();
    p.progress.push(point(day(200), 99.0));
    // Seen on day 42, the day-200 point is not known yet.
    let now = svg(&p, day(42));
    assert!(!now.contains(": 99") && now.contains("<desc id=\"plan-chart-P-1-desc\">6 points;"));
    // Seen on day 140 (past `by`), the plot runs to day 140 and the aim holds at 82:
    // x(by) = 92 + 70/140 × 532 = 358.0.
    let late = svg(&p, day(140));
    assert!(late.contains(r#"<polyline points="92.0,"#));
    assert!(late.contains(" 358.0,"), "{late}");
    assert!(
        late.contains(" 624.0,"),
        "the aim continues to the right edge"
    );
    assert!(late.contains(">2026-09-01</text>") && late.contains(">2027-01-19</text>"));
}

#[test]
fn date_labels_that_would_overlap_are_left_out() {
    let svg = svg(&flat(), day(0));
    assert_eq!(
        svg.matches(">2026-09-01</text>").count(),
        1,
        "start and as_of"
    );
    assert!(svg.contains(">2026-11-10</text>"));
}

#[test]
fn huge_values_and_negative_zero_draw_in_range() {
    let points = vec![
        point(day(7), -1e300),
        point(day(14), 1e300),
        point(day(21), -0.0),
    ];
    let s = svg(&plan(-0.0, f64::MAX, day(70), points), day(30));
    assert!(s.contains("e300") || s.contains("e308"), "{s}");
    for bad in ["NaN", "inf", "-0.0\"", ">-0<"] {
        assert!(!s.contains(bad), "{bad} in {s}");
    }
}

#[test]
fn round_steps_and_labels() {
    assert_eq!(round_step(12.0), Some((10.0, 1)));
    assert_eq!(round_step(0.03), Some((0.02, -2)));
    assert_eq!(round_step(8.0), Some((10.0, 1)));
    assert_eq!(round_step(0.0), None);
    assert_eq!(round_step(f64::INFINITY), None);
    // A rate from 4% to 16%: about a quarter of the range is 0.03, rounded to 0.02.
    let labels: Vec<String> = ticks(0.04, 0.16).into_iter().map(|t| t.1).collect();
    assert_eq!(
        labels,
        ["0.04", "0.06", "0.08", "0.10", "0.12", "0.14", "0.16"]
    );
    assert_eq!(sci(1.5e300), "1.5e300");
    assert_eq!(fixed(-0.004, 2), "0");
    assert_eq!(c(-0.04), "0.0");
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
        prop::sample::select(vec![f64::NAN, f64::INFINITY]),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn any_plan_draws_without_nan_or_inf(
        baseline in value(),
        target in value(),
        by in 0u64..400,
        as_of in 0u64..600,
        points in prop::collection::vec((0u64..600, value()), 0..10),
        // Letters that cannot spell `inf` or `NaN`, and markup.
        measure in "[a-c<>&\"' -]{0,12}",
    ) {
        let progress = points.into_iter().map(|(d, v)| point(day(d), v)).collect();
        let mut p = plan(baseline, target, day(by), progress);
        p.goal.measure = measure;
        let s = svg(&p, day(as_of));
        let t = table_html(&p, day(as_of));
        prop_assert!(s.starts_with("<svg ") && s.ends_with("</svg>"));
        prop_assert!(t.starts_with("<table>") && t.ends_with("</table>"));
        for out in [&s, &t] {
            prop_assert!(!out.contains("NaN") && !out.contains("inf"), "{}", out);
            prop_assert!(!out.contains("<script") && !out.contains("style="));
        }
        prop_assert_eq!(s.matches('<').count(), s.matches('>').count());
    }
}
