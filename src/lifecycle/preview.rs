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
    /// With `?by=reporting.<label>`: each group's flag rate per rule under the active
    /// and the candidate set, with the relative risk against everyone else with a
    /// known label, before and after.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<GroupPreview>>,
    /// Each gap and overlap the candidate's band analysis warns of, with how many
    /// of the compared students have a value inside it.
    pub bands: Vec<BandCount>,
}

/// A gap or overlap of the candidate's bands and the stored students in it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct BandCount {
    /// The warning, as the check gives it.
    pub message: String,
    pub students: u64,
}

/// One group of a label in a preview.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct GroupPreview {
    pub group: String,
    pub suppressed: bool,
    /// Why the group's counts are hidden (as in the equity report).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub students: Option<u64>,
    pub rules: Vec<GroupRule>,
}

/// One rule's rate in a group, before and after.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct GroupRule {
    pub rule_id: String,
    pub active_rate: f64,
    pub candidate_rate: f64,
    pub active_relative_risk: Option<f64>,
    pub candidate_relative_risk: Option<f64>,
}

/// Which label a preview groups by, and the smallest group it shows.
#[derive(Debug, Clone)]
pub struct By {
    pub label: String,
    pub min_group_size: u64,
}

#[derive(Default)]
struct Tally {
    students: u64,
    changed: u64,
    /// (rule, tier) → (active ids, candidate ids)
    rules: BTreeMap<(String, u8), (Vec<String>, Vec<String>)>,
    tiers: BTreeMap<Domain, (u64, u64)>,
    candidate_errors: BTreeMap<String, u64>,
    /// Student id → group of the `by` label (students without it are left out).
    labels: BTreeMap<String, String>,
    /// Per candidate band finding: compared students with a value inside it.
    bands: Vec<u64>,
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
    preview_grouped(
        active,
        candidate,
        records,
        (ev, history),
        (page, page_size),
        deadline,
        None,
    )
}

/// [`preview_until`], grouping the rates by a reporting label when `by` is given.
pub fn preview_grouped(
    active: &RuleSet,
    candidate: &RuleSet,
    records: impl Iterator<Item = Record>,
    (ev, history): (&Evaluator, &dyn History),
    (page, page_size): (usize, usize),
    deadline: Instant,
    by: Option<&By>,
) -> PreviewReport {
    let mut tally = Tally {
        bands: vec![0; candidate.band_findings.len()],
        ..Tally::default()
    };
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
        for (r, pair) in chunk.iter().zip(&pairs) {
            match pair {
                Some((id, a, c)) => {
                    tally.add(id, a, c);
                    let facts = crate::record::facts::Facts::new(r);
                    for (n, f) in tally.bands.iter_mut().zip(&candidate.band_findings) {
                        let value = facts.get(&f.field).and_then(|v| v.as_f64());
                        if value.is_some_and(|x| f.contains(x)) {
                            *n += 1;
                        }
                    }
                    // Only a compared student counts in a group's size.
                    let label = by.and_then(|by| r.reporting.as_ref()?.get(&by.label));
                    if let Some(v) = label {
                        tally.labels.insert(id.clone(), v.group());
                    }
                }
                None => complete = false,
            }
        }
    }
    let mut report = report(active, candidate, &mut tally, complete, page, page_size);
    report.groups = by.map(|b| groups(&tally, b));
    report
}

/// Each group's rates per rule under both sets, from the tally's id lists.
fn groups(tally: &Tally, by: &By) -> Vec<GroupPreview> {
    use crate::caseload::equity::{relative_risk, suppressed};
    let mut sizes: BTreeMap<&str, u64> = BTreeMap::new();
    for g in tally.labels.values() {
        *sizes.entry(g).or_default() += 1;
    }
    let known: u64 = sizes.values().sum();
    let hidden = suppressed(&sizes, by.min_group_size);
    let mut per_rule: BTreeMap<&str, (Vec<&str>, Vec<&str>)> = BTreeMap::new();
    for ((rule, _), (a, c)) in &tally.rules {
        let e = per_rule.entry(rule.as_str()).or_default();
        e.0.extend(a.iter().map(String::as_str));
        e.1.extend(c.iter().map(String::as_str));
    }
    let in_group = |ids: &[&str], g: &str| {
        ids.iter()
            .filter(|id| tally.labels.get(**id).map(String::as_str) == Some(g))
            .count() as u64
    };
    let labelled = |ids: &[&str]| {
        ids.iter()
            .filter(|id| tally.labels.contains_key(**id))
            .count() as u64
    };
    sizes
        .iter()
        .map(|(g, n1)| {
            let n2 = known - n1;
            if let Some(reason) = hidden.get(*g) {
                return GroupPreview {
                    group: g.to_string(),
                    suppressed: true,
                    reason: Some(reason.clone()),
                    students: None,
                    rules: Vec::new(),
                };
            }
            let rules = per_rule
                .iter()
                .map(|(rule, (a, c))| {
                    let (a1, c1) = (in_group(a, g), in_group(c, g));
                    let (a2, c2) = (labelled(a) - a1, labelled(c) - c1);
                    GroupRule {
                        rule_id: rule.to_string(),
                        active_rate: a1 as f64 / *n1 as f64,
                        candidate_rate: c1 as f64 / *n1 as f64,
                        active_relative_risk: relative_risk(a1, *n1, a2, n2).map(|r| r.0),
                        candidate_relative_risk: relative_risk(c1, *n1, c2, n2).map(|r| r.0),
                    }
                })
                .collect();
            GroupPreview {
                group: g.to_string(),
                suppressed: false,
                reason: None,
                students: Some(*n1),
                rules,
            }
        })
        .collect()
}

fn report(
    active: &RuleSet,
    candidate: &RuleSet,
    tally: &mut Tally,
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
        .iter_mut()
        .map(|((rule_id, tier), (a, c))| {
            a.sort();
            c.sort();
            let (rule_id, tier) = (rule_id.clone(), *tier);
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
            .iter()
            .map(|(domain, (raised, lowered))| TierImpact {
                domain: *domain,
                raised: *raised,
                lowered: *lowered,
            })
            .collect(),
        candidate_rule_errors: tally.candidate_errors.clone(),
        complete,
        page,
        page_size,
        groups: None,
        bands: candidate
            .band_findings
            .iter()
            .zip(&tally.bands)
            .map(|(f, n)| BandCount {
                message: f.message.clone(),
                students: *n,
            })
            .collect(),
    }
}
