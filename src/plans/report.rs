//! A student's plans as people read them: the plan answered with its `summary`
//! (the progress math on a day), and the plain-text lines of the student report.

use chrono::NaiveDate;

use super::plan::Plan;
use super::progress::Summary;
use crate::record::facts::human_number;

/// The plan as answered by the API: the stored plan and `summary` (the progress
/// math on `as_of`; `null` when the stored goal is not one the math accepts).
pub fn with_summary(plan: &Plan, as_of: NaiveDate) -> serde_json::Value {
    let mut v = serde_json::to_value(plan).unwrap_or_default();
    v["summary"] = serde_json::to_value(plan.summary(as_of)).unwrap_or_default();
    v
}

/// The report's section on the student's open plans as they stand on `as_of`
/// (empty when there is none).
pub fn report_lines(plans: &[Plan], as_of: NaiveDate) -> String {
    let open: Vec<&Plan> = plans.iter().filter(|p| p.status.is_open()).collect();
    if open.is_empty() {
        return String::new();
    }
    let mut out = format!("\n  Plans in place (as of {as_of}):\n");
    for p in open {
        out.push_str(&plan_lines(p, as_of));
    }
    out
}

fn plan_lines(p: &Plan, as_of: NaiveDate) -> String {
    let g = &p.goal;
    let mut out = format!(
        "  - {} ({}, tier {}), owner {}, started {}\n    goal: {} from {} to {} by {}\n",
        p.intervention,
        p.domain.as_str().replace('_', "-"),
        p.tier,
        p.owner,
        p.start,
        g.measure,
        human_number(g.baseline),
        human_number(g.target),
        g.by,
    );
    match p.summary(as_of) {
        Some(s) => out.push_str(&summary_lines(&s)),
        None => out.push_str("    progress: the goal cannot be charted (check its numbers)\n"),
    }
    out
}

fn summary_lines(s: &Summary) -> String {
    let mut out = format!(
        "    {} week(s) in; aim today {}\n",
        s.weeks_active,
        human_number(s.aim_now)
    );
    out.push_str(&match (&s.newest, s.aim_gap) {
        (Some(n), Some(gap)) => format!(
            "    progress: {} point(s), newest {} on {} ({})\n",
            s.data_points,
            human_number(n.value),
            n.date,
            gap_words(gap, human_number)
        ),
        _ => "    progress: no points yet\n".to_string(),
    });
    out.push_str(&match s.slope_per_week {
        Some(t) => format!("    trend: {} per week\n", signed(t, human_number)),
        None => "    trend: needs 3 points\n".to_string(),
    });
    if s.points_off_aim > 0 {
        out.push_str(&format!(
            "    the last {} point(s) in a row are on the wrong side of the aim line\n",
            s.points_off_aim
        ));
    } else if s.points_on_track > 0 {
        out.push_str(&format!(
            "    the last {} point(s) in a row are on or ahead of the aim line\n",
            s.points_on_track
        ));
    }
    if s.goal_met == Some(true) {
        out.push_str("    the goal's target has been reached\n");
    }
    out.push_str(&match delivery_words(s) {
        Some(d) => format!("    sessions: {d}\n"),
        None => "    sessions: no schedule to judge delivery against yet\n".to_string(),
    });
    out
}

/// "12 of 14 planned delivered (86%)"; `None` while there is no fidelity to give
/// (no schedule, or not a week yet). The report and the console say it alike.
pub fn delivery_words(s: &Summary) -> Option<String> {
    let (f, planned) = (s.fidelity?, s.sessions_planned?);
    Some(format!(
        "{} of {} planned delivered ({}%)",
        s.sessions_delivered,
        human_number(planned),
        human_number((f * 100.0).round())
    ))
}

/// "25.2 behind the aim", "3 ahead of the aim" or "on the aim" (an aim gap is
/// negative when behind), with numbers written by `num`.
pub fn gap_words(gap: f64, num: fn(f64) -> String) -> String {
    if gap < 0.0 {
        format!("{} behind the aim", num(-gap))
    } else if gap > 0.0 {
        format!("{} ahead of the aim", num(gap))
    } else {
        "on the aim".to_string()
    }
}

/// A trend with its sign: "+1.6", "-0.4", "0".
pub fn signed(x: f64, num: fn(f64) -> String) -> String {
    if x > 0.0 {
        format!("+{}", num(x))
    } else {
        num(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plans::plan::{Goal, ProgressPoint, Status};
    use crate::rules::Domain;

    fn d(n: u64) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 9, 1).unwrap() + chrono::Days::new(n)
    }

    fn plan(status: Status) -> Plan {
        Plan {
            plan_id: "P1".into(),
            student_id: "S1".into(),
            intervention: "small-group-reading".into(),
            domain: Domain::Academic,
            tier: 2,
            owner: "Ms. Rivera".into(),
            goal: Goal {
                measure: "oral-reading-fluency".into(),
                baseline: 40.0,
                target: 82.0,
                by: d(70),
            },
            start: d(0),
            review_every_days: None,
            sessions_per_week: None,
            minutes_per_session: None,
            opened_from: None,
            status,
            exit_reason: None,
            revision: 1,
            progress: (1..=4)
                .map(|w| ProgressPoint {
                    date: d(w * 7),
                    value: 40.0,
                    source: "staff".into(),
                    note: None,
                })
                .collect(),
            sessions: Vec::new(),
        }
    }

    #[test]
    fn an_open_plan_reads_goal_aim_trend_points_off_aim_and_delivery() {
        let text = report_lines(&[plan(Status::Active)], d(28));
        for want in [
            "small-group-reading (academic, tier 2), owner Ms. Rivera, started 2026-09-01",
            "goal: oral-reading-fluency from 40 to 82 by 2026-11-10",
            "4 week(s) in; aim today 56.8",
            "progress: 4 point(s), newest 40 on 2026-09-29 (16.8 behind the aim)",
            "trend: 0 per week",
            "the last 4 point(s) in a row are on the wrong side of the aim line",
            "sessions: no schedule",
        ] {
            assert!(text.contains(want), "missing {want:?} in:\n{text}");
        }
    }

    #[test]
    fn closed_plans_are_not_listed() {
        assert_eq!(report_lines(&[plan(Status::Met)], d(28)), "");
    }
}
