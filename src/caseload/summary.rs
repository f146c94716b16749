//! Counts over the caseload and the rosters for flexible grouping, each one pass
//! over the tree.
//!
//! - [`summarize`]: students per tier per domain (and by highest tier), the share
//!   at tier 2 and at tier 3 against the MTSS reference (`params.tier2_share`,
//!   `params.tier3_share` of the rule set, default 0.15 and 0.05: a share above the
//!   reference says tier 1 or the thresholds need attention), students per rule
//!   and per recommended intervention. Counts only: no student is named.
//!   [`summarize_by_school`] gives the same per school (for the metrics gauges).
//! - [`groups`]: rosters `by=intervention` (default) or `by=rule`, filtered by
//!   `school` and `grade`: each group is an intervention (or rule) at a tier in a
//!   domain, with its students and the flags that put them there.
//!
//! A share is students at exactly that tier over the students counted (0 when
//! none are).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;

use super::entry::{CaseEntry, ReviewState};
use super::error::CaseloadError;
use super::params::{ParamError, Params, parse_name};
use super::query::Filter;
use crate::rules::{Domain, RuleSet};

/// The MTSS reference shares.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Reference {
    pub tier2_share: f64,
    pub tier3_share: f64,
}

impl Default for Reference {
    fn default() -> Self {
        Reference {
            tier2_share: 0.15,
            tier3_share: 0.05,
        }
    }
}

impl Reference {
    /// The rule set's `params.tier2_share` / `params.tier3_share`, where present
    /// and a share (0 to 1); the defaults otherwise.
    pub fn from_rules(rules: &RuleSet) -> Reference {
        let d = Reference::default();
        let share = |name: &str, default: f64| {
            rules
                .params
                .get(name)
                .map(|p| p.as_f64())
                .filter(|v| (0.0..=1.0).contains(v))
                .unwrap_or(default)
        };
        Reference {
            tier2_share: share("tier2_share", d.tier2_share),
            tier3_share: share("tier3_share", d.tier3_share),
        }
    }
}

/// Students per tier in one domain (or by highest tier) and the shares.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TierCounts {
    /// Students at tier 0 (nothing fired), 1, 2 and 3.
    pub tiers: [u64; 4],
    pub tier2_share: f64,
    pub tier3_share: f64,
    pub tier2_above_reference: bool,
    pub tier3_above_reference: bool,
}

impl TierCounts {
    fn count(&mut self, tier: u8) {
        self.tiers[usize::from(tier.min(3))] += 1;
    }

    fn finish(&mut self, reference: &Reference) {
        let n: u64 = self.tiers.iter().sum();
        let share = |k: u64| if n == 0 { 0.0 } else { k as f64 / n as f64 };
        self.tier2_share = share(self.tiers[2]);
        self.tier3_share = share(self.tiers[3]);
        self.tier2_above_reference = self.tier2_share > reference.tier2_share;
        self.tier3_above_reference = self.tier3_share > reference.tier3_share;
    }
}

/// `GET /v1/caseload/summary`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    pub students: u64,
    /// By each student's highest tier.
    pub overall: TierCounts,
    pub by_domain: BTreeMap<Domain, TierCounts>,
    pub reference: Reference,
    /// Students flagged by each rule.
    pub by_rule: BTreeMap<String, u64>,
    /// Students recommended each intervention.
    pub by_intervention: BTreeMap<String, u64>,
}

impl Summary {
    pub(super) fn new(reference: Reference) -> Summary {
        Summary {
            by_domain: Domain::ALL
                .iter()
                .map(|d| (*d, TierCounts::default()))
                .collect(),
            reference,
            ..Summary::default()
        }
    }

    pub(super) fn add(&mut self, e: &CaseEntry) {
        self.students += 1;
        self.overall.count(e.highest_tier);
        for (d, c) in &mut self.by_domain {
            c.count(e.tier_in(*d));
        }
        for f in &e.flags {
            *self.by_rule.entry(f.rule_id.clone()).or_default() += 1;
        }
        for r in &e.interventions {
            *self
                .by_intervention
                .entry(r.intervention.clone())
                .or_default() += 1;
        }
    }

    pub(super) fn finish(mut self) -> Summary {
        let reference = self.reference;
        self.overall.finish(&reference);
        self.by_domain
            .values_mut()
            .for_each(|c| c.finish(&reference));
        self
    }
}

/// The summary of the students `filter` covers on `today`.
pub fn summarize(
    entries: impl Iterator<Item = Result<CaseEntry, CaseloadError>>,
    filter: &Filter,
    today: NaiveDate,
    reference: Reference,
) -> Result<Summary, CaseloadError> {
    let mut s = Summary::new(reference);
    for e in entries {
        let e = e?;
        if filter.matches(&e, today) {
            s.add(&e);
        }
    }
    Ok(s.finish())
}

/// One summary per school (students without a school are under `""`).
pub fn summarize_by_school(
    entries: impl Iterator<Item = Result<CaseEntry, CaseloadError>>,
    reference: Reference,
) -> Result<BTreeMap<String, Summary>, CaseloadError> {
    let mut out: BTreeMap<String, Summary> = BTreeMap::new();
    for e in entries {
        let e = e?;
        let school = e.school.clone().unwrap_or_default();
        out.entry(school)
            .or_insert_with(|| Summary::new(reference))
            .add(&e);
    }
    Ok(out.into_iter().map(|(k, s)| (k, s.finish())).collect())
}

/// What a roster groups by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    #[default]
    Intervention,
    Rule,
}

/// A parsed `GET /v1/groups`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupsQuery {
    pub by: GroupBy,
    pub school: Option<String>,
    pub grade: Option<i64>,
}

impl GroupsQuery {
    /// Parse `by`, `school`, `grade` (errors name the parameter).
    pub fn parse<K: AsRef<str>, V: AsRef<str>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<GroupsQuery, ParamError> {
        let mut q = GroupsQuery::default();
        let mut f = Filter::default();
        Params::new(&["by", "school", "grade"]).each(pairs, |name, value| {
            match name {
                "by" => {
                    q.by = match value {
                        "intervention" => GroupBy::Intervention,
                        "rule" => GroupBy::Rule,
                        _ => return Err(ParamError::one_of(name, &["intervention", "rule"])),
                    }
                }
                "school" => q.school = Some(parse_name(name, value)?),
                _ => {
                    f.set(name, value)?;
                }
            }
            Ok(())
        })?;
        q.grade = f.grade;
        Ok(q)
    }
}

/// A flag that put a student in a group, with its review state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberFlag {
    pub rule_id: String,
    pub tier: u8,
    pub review: ReviewState,
}

/// A student in a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Member {
    pub student_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub school: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grade: Option<i64>,
    pub flags: Vec<MemberFlag>,
}

/// One roster: an intervention (or rule) at a tier in a domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Group {
    pub by: GroupBy,
    /// The intervention (or rule) id.
    pub id: String,
    pub tier: u8,
    pub domain: Option<Domain>,
    /// The interventions of the group (itself for `by=intervention`; those the
    /// rule recommends for `by=rule`).
    pub interventions: Vec<String>,
    /// In student id order.
    pub students: Vec<Member>,
}

/// The rosters `query` asks for on `today`, highest tier first, then by id.
pub fn groups(
    entries: impl Iterator<Item = Result<CaseEntry, CaseloadError>>,
    query: &GroupsQuery,
    today: NaiveDate,
) -> Result<Vec<Group>, CaseloadError> {
    let mut by: BTreeMap<(u8, String, Option<Domain>), Group> = BTreeMap::new();
    for e in entries {
        let e = e?;
        if query
            .school
            .as_deref()
            .is_some_and(|s| e.school.as_deref() != Some(s))
            || query.grade.is_some_and(|g| e.grade != Some(g))
        {
            continue;
        }
        for (id, tier, domain, interventions, rules) in memberships(&e, query.by) {
            let g = by
                .entry((u8::MAX - tier, id.clone(), domain))
                .or_insert_with(|| Group {
                    by: query.by,
                    id,
                    tier,
                    domain,
                    interventions: Vec::new(),
                    students: Vec::new(),
                });
            for i in interventions {
                if !g.interventions.contains(&i) {
                    g.interventions.push(i);
                }
            }
            g.students.push(member(&e, &rules, today));
        }
    }
    Ok(by.into_values().collect())
}

type Membership = (String, u8, Option<Domain>, Vec<String>, Vec<String>);

/// The groups `e` belongs to: (id, tier, domain, interventions, rule ids).
fn memberships(e: &CaseEntry, by: GroupBy) -> Vec<Membership> {
    match by {
        GroupBy::Intervention => e
            .interventions
            .iter()
            .map(|r| {
                (
                    r.intervention.clone(),
                    r.tier,
                    r.domain,
                    vec![r.intervention.clone()],
                    r.because.clone(),
                )
            })
            .collect(),
        GroupBy::Rule => e
            .flags
            .iter()
            .map(|f| {
                let recommended = e
                    .interventions
                    .iter()
                    .filter(|r| r.because.contains(&f.rule_id));
                let ids = recommended.map(|r| r.intervention.clone()).collect();
                (
                    f.rule_id.clone(),
                    f.tier,
                    Some(f.domain),
                    ids,
                    vec![f.rule_id.clone()],
                )
            })
            .collect(),
    }
}

/// `e` as a member of a group, with the flags of `rules` and their review state.
pub(super) fn member(e: &CaseEntry, rules: &[String], today: NaiveDate) -> Member {
    Member {
        student_id: e.student_id.clone(),
        school: e.school.clone(),
        grade: e.grade,
        flags: rules
            .iter()
            .filter_map(|r| e.flag(r))
            .map(|f| MemberFlag {
                rule_id: f.rule_id.clone(),
                tier: f.tier,
                review: f.state_on(today),
            })
            .collect(),
    }
}

#[cfg(test)]
#[path = "summary_tests.rs"]
mod tests;
