//! Rosters within a caseload filter: per intervention, the students who would meet
//! in one group — recommended it by their latest decision, or with an open plan of
//! it — counted, with the first few of each in student id order (the console shows
//! those and links to the filtered caseload for the rest).
//!
//! A student counts when the whole [`Filter`] covers them. Which of their
//! interventions count follows the filter too: with `intervention` (or `plan` naming
//! one) only that one; with `domain`, recommendations whose flag is in that domain
//! and plans whose intervention the catalogue puts there; with `rule`,
//! recommendations that rule made (a plan alone does not put a student in a roster
//! then: the filter is about flags).
//!
//! [`tally`] counts the rosters and, in the same pass, the summary of a wider scope
//! (the console's picture is of the school and grade only), so a page needs one
//! scan of the tree, not two.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;

use super::entry::{CaseEntry, Recommended};
use super::error::CaseloadError;
use super::plans::PlanMark;
use super::query::{Filter, PlanFilter};
use super::summary::{Member, Reference, Summary, member};
use crate::rules::Domain;

/// The domain of each intervention of the catalogue (a plan names its
/// intervention, not a domain).
pub type Catalogue = BTreeMap<String, Domain>;

/// A student of a roster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RosterMember {
    /// Id, school, grade, and the flags that recommend the intervention with their
    /// review state (none when only a plan puts the student here).
    #[serde(flatten)]
    pub member: Member,
    /// The student's open plan of the intervention.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<PlanMark>,
    /// The plan's review date has passed.
    pub plan_needs_review: bool,
}

/// One intervention's roster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Roster {
    pub intervention: String,
    /// The tier the decisions recommend it at (`None` when only plans name it).
    pub tier: Option<u8>,
    /// The domain of the recommending flag, else the catalogue's.
    pub domain: Option<Domain>,
    /// Students in the roster: recommended it or with an open plan of it.
    pub students: u64,
    /// Of them, recommended it by their latest decision.
    pub recommended: u64,
    /// Of them, with an open plan of it.
    pub with_plan: u64,
    /// The first students in student id order, at most the number asked for.
    pub members: Vec<RosterMember>,
}

/// Rosters being counted, one entry at a time.
pub struct Rosters<'c> {
    filter: Filter,
    shown: usize,
    catalogue: &'c Catalogue,
    by: BTreeMap<String, Roster>,
}

impl<'c> Rosters<'c> {
    /// Rosters of the students `filter` covers, with at most `shown` members each.
    pub fn new(filter: Filter, shown: usize, catalogue: &'c Catalogue) -> Rosters<'c> {
        Rosters {
            filter,
            shown,
            catalogue,
            by: BTreeMap::new(),
        }
    }

    /// Whether the filter keeps intervention `id` in a roster.
    fn keeps(&self, id: &str) -> bool {
        let f = &self.filter;
        f.intervention.as_deref().is_none_or(|i| i == id)
            && match &f.plan {
                Some(PlanFilter::Intervention(i)) => i == id,
                _ => true,
            }
    }

    fn keeps_recommendation(&self, r: &Recommended) -> bool {
        let f = &self.filter;
        self.keeps(&r.intervention)
            && f.domain.is_none_or(|d| r.domain == Some(d))
            && f.rule
                .as_deref()
                .is_none_or(|rule| r.because.iter().any(|b| b == rule))
    }

    fn keeps_plan(&self, p: &PlanMark) -> bool {
        let f = &self.filter;
        self.keeps(&p.intervention)
            && f.rule.is_none()
            && f.domain
                .is_none_or(|d| self.catalogue.get(&p.intervention) == Some(&d))
    }

    /// Count `e` (entries come in student id order, so the members kept are the
    /// first by id).
    pub fn add(&mut self, e: &CaseEntry, today: NaiveDate) {
        if !self.filter.matches(e, today) {
            return;
        }
        let mut mine: BTreeMap<&str, (Option<&Recommended>, Option<&PlanMark>)> = BTreeMap::new();
        for r in e
            .interventions
            .iter()
            .filter(|r| self.keeps_recommendation(r))
        {
            mine.entry(&r.intervention).or_default().0.get_or_insert(r);
        }
        for p in e.plans.iter().filter(|p| self.keeps_plan(p)) {
            mine.entry(&p.intervention).or_default().1.get_or_insert(p);
        }
        for (id, (rec, plan)) in mine {
            let roster = self.by.entry(id.to_string()).or_insert_with(|| Roster {
                intervention: id.to_string(),
                tier: None,
                domain: self.catalogue.get(id).copied(),
                students: 0,
                recommended: 0,
                with_plan: 0,
                members: Vec::new(),
            });
            roster.students += 1;
            if let Some(r) = rec {
                roster.recommended += 1;
                if roster.tier.is_none_or(|t| r.tier > t) {
                    roster.tier = Some(r.tier);
                    roster.domain = r.domain.or(roster.domain);
                }
            }
            if plan.is_some() {
                roster.with_plan += 1;
            }
            if roster.members.len() < self.shown {
                let because = rec.map(|r| r.because.as_slice()).unwrap_or_default();
                roster.members.push(RosterMember {
                    member: member(e, because, today),
                    plan: plan.cloned(),
                    plan_needs_review: plan.is_some_and(|p| p.needs_review(today)),
                });
            }
        }
    }

    /// The rosters, highest tier first (plan-only rosters last), then by
    /// intervention id.
    pub fn finish(self) -> Vec<Roster> {
        let mut out: Vec<Roster> = self.by.into_values().collect();
        out.sort_by(|a, b| {
            b.tier
                .cmp(&a.tier)
                .then_with(|| a.intervention.cmp(&b.intervention))
        });
        out
    }
}

/// The rosters of the students `filter` covers on `today`, at most `shown`
/// members each.
pub fn rosters(
    entries: impl Iterator<Item = Result<CaseEntry, CaseloadError>>,
    filter: &Filter,
    today: NaiveDate,
    shown: usize,
    catalogue: &Catalogue,
) -> Result<Vec<Roster>, CaseloadError> {
    let mut r = Rosters::new(filter.clone(), shown, catalogue);
    for e in entries {
        r.add(&e?, today);
    }
    Ok(r.finish())
}

/// In one pass: the summary of the students `summary` covers (with its reference)
/// when asked, and the rosters `rosters` counts when asked.
pub fn tally(
    entries: impl Iterator<Item = Result<CaseEntry, CaseloadError>>,
    summary: Option<(&Filter, Reference)>,
    mut rosters: Option<Rosters<'_>>,
    today: NaiveDate,
) -> Result<(Option<Summary>, Option<Vec<Roster>>), CaseloadError> {
    let mut counted = summary.map(|(f, reference)| (f, Summary::new(reference)));
    if counted.is_some() || rosters.is_some() {
        for e in entries {
            let e = e?;
            if let Some((f, s)) = counted.as_mut()
                && f.matches(&e, today)
            {
                s.add(&e);
            }
            if let Some(r) = rosters.as_mut() {
                r.add(&e, today);
            }
        }
    }
    Ok((
        counted.map(|(_, s)| s.finish()),
        rosters.map(Rosters::finish),
    ))
}

#[cfg(test)]
#[path = "rosters_tests.rs"]
mod tests;
