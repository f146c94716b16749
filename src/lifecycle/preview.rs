//! Impact preview: a candidate rule set beside the active one over every stored
//! student snapshot — per rule and tier, who would be newly flagged and who cleared.
//! Nothing is audited as a decision.
//!
//! The preview is bounded like an evaluation: each rule of each evaluation runs in the
//! sandbox's limits, and the whole preview has a deadline ([`PREVIEW_BOUND`] by
//! default); past it, the students not yet compared are left out and the report says
//! the preview was cut short. It is CPU work: call it off the async workers
//! (`crate::blocking::run`), as the application layer does.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rayon::prelude::*;
use serde::Serialize;

use crate::engine::{Decision, Evaluator, History};
use crate::record::Record;
use crate::rules::{Domain, RuleSet};

/// Students decoded and evaluated per parallel step.
const CHUNK: usize = 4096;

/// How long [`preview`] may run before it stops and reports what it compared.
pub const PREVIEW_BOUND: Duration = Duration::from_secs(30);

/// One rule (at one tier) and the students whose flag would change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RuleImpact {
    pub rule_id: String,
    pub tier: u8,
    /// Students flagged by this rule under the active and the candidate set.
    pub active_flagged: u64,
    pub candidate_flagged: u64,
    pub newly_flagged: u64,
    pub cleared: u64,
    /// A page of the student ids (sorted).
    pub newly_flagged_ids: Vec<String>,
    pub cleared_ids: Vec<String>,
}

/// Students whose highest tier in a domain would go up or down.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TierImpact {
    pub domain: Domain,
    pub raised: u64,
    pub lowered: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PreviewReport {
    pub active_version: String,
    pub candidate_version: String,
    pub students: u64,
    /// Students whose set of flags would change.
    pub students_changed: u64,
    pub rules: Vec<RuleImpact>,
    pub tiers: Vec<TierImpact>,
    /// Per candidate rule that failed or was stopped by the sandbox: for how many
    /// students. A rule listed here is not ready to publish.
    pub candidate_rule_errors: BTreeMap<String, u64>,
    /// False when the preview reached its time bound before comparing every stored
    /// student; `students` then counts the ones compared.
    pub complete: bool,
    pub page: usize,
    pub page_size: usize,
}

#[derive(Default)]
struct Tally {
    students: u64,
    changed: u64,
    /// (rule, tier) → (active ids, candidate ids)
    rules: BTreeMap<(String, u8), (Vec<String>, Vec<String>)>,
    tiers: BTreeMap<Domain, (u64, u64)>,
    candidate_errors: BTreeMap<String, u64>,
}

impl Tally {
    fn add(&mut self, id: &str, a: &Decision, c: &Decision) {
        self.students += 1;
        for e in &c.rule_errors {
            *self.candidate_errors.entry(e.rule_id.clone()).or_default() += 1;
        }
        let key = |d: &Decision| -> Vec<(String, u8)> {
            d.flags
                .iter()
                .map(|f| (f.rule_id.clone(), f.tier))
                .collect()
        };
        let (ka, kc) = (key(a), key(c));
        if ka != kc {
            self.changed += 1;
        }
        for k in ka {
            self.rules.entry(k).or_default().0.push(id.to_string());
        }
        for k in kc {
            self.rules.entry(k).or_default().1.push(id.to_string());
        }
        for d in Domain::ALL {
            let (ta, tc) = (
                a.tiers.get(&d).copied().unwrap_or(0),
                c.tiers.get(&d).copied().unwrap_or(0),
            );
            let e = self.tiers.entry(d).or_default();
            e.0 += u64::from(tc > ta);
            e.1 += u64::from(tc < ta);
        }
    }
}

/// Evaluate `records` (snapshots, in chunks) under both sets, each with the plan and
/// history facts it reads from `history`, and compare, within [`PREVIEW_BOUND`].
pub fn preview(
    active: &RuleSet,
    candidate: &RuleSet,
    records: impl Iterator<Item = Record>,
    (ev, history): (&Evaluator, &dyn History),
    page: usize,
    page_size: usize,
) -> PreviewReport {
    let deadline = Instant::now() + PREVIEW_BOUND;
    let pages = (page, page_size);
    preview_until(active, candidate, records, (ev, history), pages, deadline)
}

/// [`preview`] with its own deadline: no student is started after it.
pub fn preview_until(
    active: &RuleSet,
    candidate: &RuleSet,
    records: impl Iterator<Item = Record>,
    (ev, history): (&Evaluator, &dyn History),
    (page, page_size): (usize, usize),
    deadline: Instant,
) -> PreviewReport {
    let mut tally = Tally::default();
    let mut records = records.peekable();
    let mut complete = true;
    while records.peek().is_some() {
        if Instant::now() > deadline {
            complete = false;
            break;
        }
        let chunk: Vec<Record> = records.by_ref().take(CHUNK).collect();
        let pairs: Vec<Option<(String, Decision, Decision)>> = chunk
            .par_iter()
            .map(|r| {
                (Instant::now() <= deadline).then(|| {
                    let (ha, hc) = (history.facts(active, r), history.facts(candidate, r));
                    let (id, at) = (String::new, String::new);
                    let a = ev.evaluate_with_history(active, r, &ha, id(), at());
                    let c = ev.evaluate_with_history(candidate, r, &hc, id(), at());
                    (r.student_id.clone(), a, c)
                })
            })
            .collect();
        for pair in &pairs {
            match pair {
                Some((id, a, c)) => tally.add(id, a, c),
                None => complete = false,
            }
        }
    }
    report(active, candidate, tally, complete, page, page_size)
}

fn report(
    active: &RuleSet,
    candidate: &RuleSet,
    tally: Tally,
    complete: bool,
    page: usize,
    page_size: usize,
) -> PreviewReport {
    let page_of = |mut ids: Vec<String>| -> Vec<String> {
        ids.sort();
        ids.into_iter()
            .skip(page.saturating_mul(page_size))
            .take(page_size)
            .collect()
    };
    let rules = tally
        .rules
        .into_iter()
        .map(|((rule_id, tier), (mut a, mut c))| {
            a.sort();
            c.sort();
            let newly: Vec<String> = c
                .iter()
                .filter(|id| a.binary_search(id).is_err())
                .cloned()
                .collect();
            let cleared: Vec<String> = a
                .iter()
                .filter(|id| c.binary_search(id).is_err())
                .cloned()
                .collect();
            RuleImpact {
                rule_id,
                tier,
                active_flagged: a.len() as u64,
                candidate_flagged: c.len() as u64,
                newly_flagged: newly.len() as u64,
                cleared: cleared.len() as u64,
                newly_flagged_ids: page_of(newly),
                cleared_ids: page_of(cleared),
            }
        })
        .collect();
    PreviewReport {
        active_version: active.version.clone(),
        candidate_version: candidate.version.clone(),
        students: tally.students,
        students_changed: tally.changed,
        rules,
        tiers: tally
            .tiers
            .into_iter()
            .map(|(domain, (raised, lowered))| TierImpact {
                domain,
                raised,
                lowered,
            })
            .collect(),
        candidate_rule_errors: tally.candidate_errors,
        complete,
        page,
        page_size,
    }
}
