//! The plan facts rules read: `student.plans.<key>.<fact>`, from a student's plans
//! and the progress math, as plain `(path, value)` pairs (paths after `student.`).
//!
//! A key is an intervention id or a domain name:
//!
//! - `plans.<intervention>.*` describe the student's plan of that intervention: the
//!   open one (the earliest started, if several), else the most recently started
//!   closed one (so `active` can say `false`);
//! - `plans.<domain>.*` describe the student's open plan in that domain with the
//!   highest tier, then the earliest start: the plan a domain's decision rules judge.
//!   A domain without an open plan has no facts.
//!
//! A fact the math cannot give yet (a trend before 3 points, an aim gap before the
//! first point, fidelity before a week has passed or without a schedule, whether the
//! goal is met before any point) is left out, so a rule reading it lands in
//! `insufficient_data` rather than deciding on a guess.

use chrono::NaiveDate;

use super::plan::Plan;
use crate::record::Value;

/// The facts of every plan key of `plans` as known on `as_of`.
pub fn plan_facts(plans: &[Plan], as_of: NaiveDate) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let mut keys: Vec<&str> = plans.iter().map(|p| p.intervention.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    for key in keys {
        if let Some(plan) = by_intervention(plans, key) {
            push_facts(&mut out, key, plan, as_of);
        }
    }
    let mut domains: Vec<_> = plans.iter().map(|p| p.domain).collect();
    domains.sort_unstable();
    domains.dedup();
    for domain in domains {
        if let Some(plan) = by_domain(plans, domain) {
            push_facts(&mut out, domain.as_str(), plan, as_of);
        }
    }
    out
}

/// The plan `plans.<intervention>` describes.
fn by_intervention<'p>(plans: &'p [Plan], intervention: &str) -> Option<&'p Plan> {
    let of = || plans.iter().filter(move |p| p.intervention == intervention);
    of().filter(|p| p.status.is_open())
        .min_by(|a, b| (a.start, &a.plan_id).cmp(&(b.start, &b.plan_id)))
        .or_else(|| of().max_by(|a, b| (a.start, &a.plan_id).cmp(&(b.start, &b.plan_id))))
}

/// The plan `plans.<domain>` describes.
fn by_domain(plans: &[Plan], domain: crate::rules::Domain) -> Option<&Plan> {
    plans
        .iter()
        .filter(|p| p.domain == domain && p.status.is_open())
        .min_by(|a, b| {
            (std::cmp::Reverse(a.tier), a.start, &a.plan_id).cmp(&(
                std::cmp::Reverse(b.tier),
                b.start,
                &b.plan_id,
            ))
        })
}

fn push_facts(out: &mut Vec<(String, Value)>, key: &str, plan: &Plan, as_of: NaiveDate) {
    let mut put = |fact: &str, v: Value| out.push((format!("plans.{key}.{fact}"), v));
    put("active", Value::Bool(plan.status.is_open()));
    put("tier", Value::Int(i64::from(plan.tier)));
    put("intervention", Value::Text(plan.intervention.clone()));
    let Some(s) = plan.summary(as_of) else {
        return;
    };
    put("weeks_active", Value::Int(i64::from(s.weeks_active)));
    put("data_points", Value::Int(s.data_points as i64));
    put("aim_now", Value::Num(s.aim_now));
    put("points_off_aim", Value::Int(s.points_off_aim as i64));
    put("points_on_track", Value::Int(s.points_on_track as i64));
    let mut maybe = |fact: &str, v: Option<Value>| {
        if let Some(v) = v {
            out.push((format!("plans.{key}.{fact}"), v));
        }
    };
    maybe("slope_per_week", s.slope_per_week.map(Value::Num));
    let toward = plan.goal.target - plan.goal.baseline;
    maybe(
        "improving",
        s.slope_per_week
            .map(|slope| Value::Bool(slope * toward > 0.0)),
    );
    maybe("aim_gap", s.aim_gap.map(Value::Num));
    maybe("behind_aim", s.aim_gap.map(|g| Value::Num((-g).max(0.0))));
    maybe("fidelity", s.fidelity.map(Value::Num));
    maybe("goal_met", s.goal_met.map(Value::Bool));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plans::plan::{Goal, ProgressPoint, SessionRecord, Status};
    use crate::rules::Domain;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 9, 1).unwrap() + chrono::Days::new(u64::from(d))
    }

    fn plan(id: &str, intervention: &str, tier: u8, start: u32, status: Status) -> Plan {
        Plan {
            plan_id: id.into(),
            student_id: "S1".into(),
            intervention: intervention.into(),
            domain: Domain::Academic,
            tier,
            owner: "Ms. Rivera".into(),
            goal: Goal {
                measure: "oral-reading-fluency".into(),
                baseline: 40.0,
                target: 82.0,
                by: day(start + 70),
            },
            start: day(start),
            review_every_days: None,
            sessions_per_week: Some(2.0),
            minutes_per_session: None,
            opened_from: None,
            status,
            exit_reason: None,
            revision: 1,
            progress: Vec::new(),
            sessions: Vec::new(),
        }
    }

    fn get<'a>(facts: &'a [(String, Value)], path: &str) -> Option<&'a Value> {
        facts.iter().find(|(p, _)| p == path).map(|(_, v)| v)
    }

    #[test]
    fn six_weekly_points_below_the_aim_with_every_session_delivered() {
        // Aim rises 4.2 a week from 40; the student stays at 40.
        let mut p = plan("P1", "small-group-reading", 2, 0, Status::Active);
        for w in 1..=6 {
            p.progress.push(ProgressPoint {
                date: day(w * 7),
                value: 40.0,
                source: "staff".into(),
                note: None,
            });
            for s in 0..2 {
                p.sessions.push(SessionRecord {
                    date: day(w * 7 - 3 - s),
                    minutes: 30,
                    delivered: true,
                });
            }
        }
        let facts = plan_facts(&[p], day(43));
        for key in ["small-group-reading", "academic"] {
            let f = |fact: &str| get(&facts, &format!("plans.{key}.{fact}")).cloned();
            assert_eq!(f("active"), Some(Value::Bool(true)));
            assert_eq!(f("weeks_active"), Some(Value::Int(6)));
            assert_eq!(f("data_points"), Some(Value::Int(6)));
            assert_eq!(f("points_off_aim"), Some(Value::Int(6)));
            assert_eq!(f("fidelity"), Some(Value::Num(1.0)));
            assert_eq!(f("goal_met"), Some(Value::Bool(false)));
            let gap = f("aim_gap").and_then(|v| v.as_f64()).unwrap();
            assert!((gap + 25.2).abs() < 1e-9, "6 weeks behind 4.2/week: {gap}");
            let behind = f("behind_aim").and_then(|v| v.as_f64()).unwrap();
            assert!((behind - 25.2).abs() < 1e-9, "{behind}");
        }
    }

    #[test]
    fn too_few_points_leave_the_trend_and_gap_out() {
        let facts = plan_facts(&[plan("P1", "tutoring", 2, 0, Status::Active)], day(10));
        assert_eq!(
            get(&facts, "plans.tutoring.data_points"),
            Some(&Value::Int(0))
        );
        for fact in ["slope_per_week", "aim_gap", "goal_met"] {
            assert_eq!(
                get(&facts, &format!("plans.tutoring.{fact}")),
                None,
                "{fact}"
            );
        }
    }

    #[test]
    fn a_closed_plan_is_inactive_and_not_its_domains_plan() {
        let facts = plan_facts(
            &[plan("P1", "tutoring", 2, 0, Status::Discontinued)],
            day(10),
        );
        assert_eq!(
            get(&facts, "plans.tutoring.active"),
            Some(&Value::Bool(false))
        );
        assert_eq!(get(&facts, "plans.academic.active"), None);
    }

    #[test]
    fn the_domain_key_is_the_open_plan_of_the_highest_tier_then_earliest_start() {
        let plans = [
            plan("P1", "tutoring", 2, 0, Status::Active),
            plan("P2", "intensive-small-group", 3, 20, Status::Active),
            plan("P3", "small-group-math", 3, 10, Status::Modified),
        ];
        let facts = plan_facts(&plans, day(30));
        assert_eq!(
            get(&facts, "plans.academic.intervention"),
            Some(&Value::Text("small-group-math".into()))
        );
    }
}
