//! The caseload page's group rosters as the template shows them: per intervention
//! of the filter (see [`crate::caseload::rosters`]), its name and tier from the
//! active catalogue, how many students, the first of them (linked to their page,
//! with grade, school, the flags that recommend it and their review state, and the
//! open plan), and links to all of them in the filtered caseload and its CSV.

use crate::caseload::{Filter, Roster, RosterMember};
use crate::rules::RuleSet;

use super::{domain_label, grade_label, path_segment, query_string};

/// Students listed per roster (a small group fits; the rest are a link away).
pub const SHOWN: usize = 10;

/// Rows a roster's CSV link asks for (the caseload CSV's page size at most).
const CSV_LIMIT: u64 = 500;

/// One student of a roster.
pub struct RosterRow {
    pub id: String,
    pub href: String,
    pub grade: String,
    pub school: String,
    /// `(rule id, review state)` of each flag that recommends the intervention.
    pub flags: Vec<(String, &'static str)>,
    /// The open plan in words ("active, review overdue since 2026-11-30"), or empty.
    pub plan: String,
}

/// One roster.
pub struct RosterView {
    /// The `id` of its article (the summary table links to it).
    pub anchor: String,
    pub name: String,
    pub intervention: String,
    /// "tier 2", or "no current recommendation" when only plans name it.
    pub tier: String,
    /// The same for the summary table's Tier column: "2", "2 (plans only)".
    pub tier_cell: String,
    pub domain: String,
    pub students: u64,
    pub recommended: u64,
    pub with_plan: u64,
    pub members: Vec<RosterRow>,
    /// The filtered caseload of the students recommended it (`?intervention=`).
    pub all_recommended: Option<String>,
    /// The filtered caseload of the students with an open plan of it (`?plan=`).
    pub all_planned: Option<String>,
    /// The CSV of the students recommended it, and whether it holds them all.
    pub csv: Option<(String, bool)>,
}

/// The filter parameters of the page's query (no `sort`, `cursor` or `limit`).
pub fn filter_pairs(pairs: &[(String, String)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .filter(|(k, _)| Filter::NAMES.contains(&k.as_str()))
        .cloned()
        .collect()
}

/// `filter` with `name` set to `value` (replacing any value it had).
fn with(filter: &[(String, String)], name: &str, value: &str) -> String {
    let mut p: Vec<(String, String)> = filter.iter().filter(|(k, _)| k != name).cloned().collect();
    p.push((name.to_string(), value.to_string()));
    query_string(&p)
}

fn row(m: &RosterMember) -> RosterRow {
    let s = &m.member;
    let plan = match &m.plan {
        None => String::new(),
        Some(p) => match p.review_due {
            Some(d) if m.plan_needs_review => format!("{}, review overdue since {d}", p.status),
            Some(d) => format!("{}, review due {d}", p.status),
            None => p.status.clone(),
        },
    };
    RosterRow {
        href: format!("/students/{}", path_segment(&s.student_id)),
        id: s.student_id.clone(),
        grade: grade_label(s.grade),
        school: s.school.clone().unwrap_or_default(),
        flags: s
            .flags
            .iter()
            .map(|f| (f.rule_id.clone(), f.review.as_str()))
            .collect(),
        plan,
    }
}

/// An element id from an intervention id: letters, digits, `-` and `_` only, made
/// unique among `taken`.
fn anchor(id: &str, taken: &[RosterView]) -> String {
    let kept: String = id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(64)
        .collect();
    let base = format!("roster-{kept}");
    if taken.iter().any(|v| v.anchor == base) {
        format!("{base}-{}", taken.len() + 1)
    } else {
        base
    }
}

/// The views of `rosters`, counted for the page's `filter` pairs, named from
/// `rules` (the active set; an intervention it no longer has keeps its id).
pub fn views(rosters: &[Roster], filter: &[(String, String)], rules: &RuleSet) -> Vec<RosterView> {
    let mut out: Vec<RosterView> = Vec::with_capacity(rosters.len());
    for r in rosters {
        let id = r.intervention.as_str();
        let known = rules.intervention(id);
        let view = RosterView {
            anchor: anchor(id, &out),
            name: known.map_or_else(|| id.to_string(), |i| i.name.clone()),
            intervention: id.to_string(),
            tier: match r.tier.or(known.map(|i| i.tier)) {
                Some(t) if r.tier.is_some() => format!("tier {t}"),
                Some(t) => format!("tier {t}, no current recommendation"),
                None => "no current recommendation".into(),
            },
            tier_cell: match r.tier.or(known.map(|i| i.tier)) {
                Some(t) if r.tier.is_some() => t.to_string(),
                Some(t) => format!("{t} (plans only)"),
                None => "plans only".into(),
            },
            domain: r
                .domain
                .or(known.map(|i| i.domain))
                .map_or("", domain_label)
                .to_string(),
            students: r.students,
            recommended: r.recommended,
            with_plan: r.with_plan,
            members: r.members.iter().map(row).collect(),
            all_recommended: (r.recommended > 0)
                .then(|| format!("/?{}", with(filter, "intervention", id))),
            all_planned: (r.with_plan > 0).then(|| format!("/?{}", with(filter, "plan", id))),
            csv: (r.recommended > 0).then(|| {
                let mut p: Vec<(String, String)> = filter
                    .iter()
                    .filter(|(k, _)| k != "intervention")
                    .cloned()
                    .collect();
                p.push(("intervention".into(), id.to_string()));
                p.push(("limit".into(), CSV_LIMIT.to_string()));
                let whole = r.recommended <= CSV_LIMIT;
                (format!("/caseload.csv?{}", query_string(&p)), whole)
            }),
        };
        out.push(view);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caseload::PlanMark;
    use crate::caseload::summary::Member;

    fn shipped() -> RuleSet {
        RuleSet::load_dir(std::path::Path::new("rules")).unwrap()
    }

    fn roster(id: &str, tier: Option<u8>, recommended: u64, with_plan: u64) -> Roster {
        Roster {
            intervention: id.into(),
            tier,
            domain: None,
            students: recommended.max(with_plan),
            recommended,
            with_plan,
            members: vec![RosterMember {
                member: Member {
                    student_id: "a/b <c>".into(),
                    school: Some("SCH-1".into()),
                    grade: Some(0),
                    flags: Vec::new(),
                },
                plan: Some(PlanMark {
                    plan_id: "P1".into(),
                    intervention: id.into(),
                    status: "active".into(),
                    review_due: "2026-11-30".parse().ok(),
                }),
                plan_needs_review: true,
            }],
        }
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(k, x)| (k.to_string(), x.to_string()))
            .collect()
    }

    #[test]
    fn a_roster_links_to_its_students_in_the_filtered_caseload() {
        let filter = pairs(&[("school", "SCH-1"), ("intervention", "other")]);
        let v = views(
            &[roster("attendance-plan", Some(2), 3, 1)],
            &filter,
            &shipped(),
        );
        let v = &v[0];
        assert_eq!(v.name, "Student attendance plan");
        assert_eq!((v.tier.as_str(), v.tier_cell.as_str()), ("tier 2", "2"));
        assert_eq!(v.domain, "Attendance", "from the catalogue");
        assert_eq!(
            v.all_recommended.as_deref(),
            Some("/?school=SCH-1&intervention=attendance-plan"),
            "the roster's intervention replaces the filter's"
        );
        assert_eq!(
            v.all_planned.as_deref(),
            Some("/?school=SCH-1&intervention=other&plan=attendance-plan")
        );
        assert_eq!(
            v.csv,
            Some((
                "/caseload.csv?school=SCH-1&intervention=attendance-plan&limit=500".into(),
                true
            ))
        );
        let m = &v.members[0];
        assert_eq!(m.href, "/students/a%2Fb%20%3Cc%3E");
        assert_eq!((m.grade.as_str(), m.school.as_str()), ("K", "SCH-1"));
        assert_eq!(m.plan, "active, review overdue since 2026-11-30");
    }

    #[test]
    fn plans_alone_big_rosters_and_unknown_ids() {
        let rules = shipped();
        let v = views(
            &[
                roster("attendance-mentor", None, 0, 2),
                roster("not in catalogue!", Some(3), 501, 0),
                roster("not in catalogue?", Some(3), 1, 0),
            ],
            &[],
            &rules,
        );
        assert_eq!(v[0].tier, "tier 2, no current recommendation");
        assert_eq!(v[0].tier_cell, "2 (plans only)");
        assert_eq!(
            (v[0].all_recommended.as_ref(), v[0].csv.as_ref()),
            (None, None)
        );
        assert_eq!(
            v[0].all_planned.as_deref(),
            Some("/?plan=attendance-mentor")
        );
        assert_eq!(
            v[1].name, "not in catalogue!",
            "the id when the set lacks it"
        );
        assert_eq!(v[1].csv.as_ref().map(|c| c.1), Some(false), "501 > 500");
        assert_eq!(v[1].anchor, "roster-notincatalogue");
        assert_eq!(v[2].anchor, "roster-notincatalogue-3", "ids stay unique");
    }
}
