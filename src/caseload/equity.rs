//! The equity report: for one reporting label (`reporting.ell`), per rule, per domain
//! and tier, and per review outcome, each group's rate against everyone else's with a
//! known value, the relative risk with its 95% interval, and small groups suppressed.
//!
//! **Relative risk** is the group's rate ÷ the rate outside it. Its 95% interval uses
//! the log method: exp(ln RR ± 1.96·√(1/a − 1/n₁ + 1/c − 1/n₂)), with a = flagged in
//! the group of n₁ and c = flagged outside of n₂. When a or c is 0 the Haldane
//! correction adds ½ to each of the four cells (and the answer says `corrected`).
//! **Alarm**: RR ≥ 2 (the usual disproportionality line, DOMAIN.md) and the interval's
//! lower bound above 1, so a small-sample ratio does not ring it.
//! **Suppression** ([`suppressed`]): a group of fewer than `min_group_size` students,
//! or whose complement is that small, shows no counts (they could identify students);
//! and while the suppressed groups are one group, or fewer than `min_group_size`
//! students together, the smallest shown group is suppressed with them, or the small
//! group's counts could be found by subtraction (a shown group's `outside` counts less
//! the other shown groups' counts).

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use serde::Serialize;

use super::entry::{CaseEntry, ReviewState};
use crate::rules::Domain;

/// One student as the report counts them: their label's value (`None`: unknown) and
/// their caseload entry.
pub struct Counted<'a> {
    pub group: Option<String>,
    pub entry: &'a CaseEntry,
}

/// A rate in and outside the group, and their ratio.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Comparison {
    /// What is counted: a rule id, `attendance tier 2`, or a review outcome.
    pub what: String,
    pub count: u64,
    pub of: u64,
    pub rate: f64,
    pub outside_count: u64,
    pub outside_of: u64,
    pub outside_rate: f64,
    /// `None` when a side has nobody to compare.
    pub relative_risk: Option<f64>,
    pub ci95: Option<[f64; 2]>,
    /// The Haldane ½ correction was applied (a zero cell).
    pub corrected: bool,
    pub alarm: bool,
}

/// One group of the label.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Group {
    pub group: String,
    pub suppressed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Counts are hidden (`None`) when suppressed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub students: Option<u64>,
    pub rules: Vec<Comparison>,
    pub tiers: Vec<Comparison>,
    /// Among the group's flags: how many were confirmed, dismissed, deferred, not yet
    /// reviewed, against the flags outside the group.
    pub reviews: Vec<Comparison>,
}

/// The report.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct EquityReport {
    pub by: String,
    pub min_group_size: u64,
    /// Students counted (in the filter), and of them those without the label.
    pub students: u64,
    pub unknown: u64,
    pub groups: Vec<Group>,
}

/// The relative risk of `a`/`n1` against `c`/`n2` with its interval, and whether the
/// correction was applied; `None` when either side is empty.
pub fn relative_risk(a: u64, n1: u64, c: u64, n2: u64) -> Option<(f64, [f64; 2], bool)> {
    if n1 == 0 || n2 == 0 || a > n1 || c > n2 {
        return None;
    }
    let corrected = a == 0 || c == 0;
    let (a, n1, c, n2) = if corrected {
        (
            a as f64 + 0.5,
            n1 as f64 + 1.0,
            c as f64 + 0.5,
            n2 as f64 + 1.0,
        )
    } else {
        (a as f64, n1 as f64, c as f64, n2 as f64)
    };
    let rr = (a / n1) / (c / n2);
    let se = (1.0 / a - 1.0 / n1 + 1.0 / c - 1.0 / n2).max(0.0).sqrt();
    let lo = (rr.ln() - 1.96 * se).exp();
    let hi = (rr.ln() + 1.96 * se).exp();
    (rr.is_finite() && lo.is_finite() && hi.is_finite()).then_some((rr, [lo, hi], corrected))
}

fn compare(what: String, (count, of): (u64, u64), (oc, oo): (u64, u64)) -> Comparison {
    let rate = |k: u64, n: u64| if n == 0 { 0.0 } else { k as f64 / n as f64 };
    let rr = relative_risk(count, of, oc, oo);
    Comparison {
        what,
        count,
        of,
        rate: rate(count, of),
        outside_count: oc,
        outside_of: oo,
        outside_rate: rate(oc, oo),
        relative_risk: rr.map(|r| r.0),
        ci95: rr.map(|r| r.1),
        corrected: rr.is_some_and(|r| r.2),
        alarm: rr.is_some_and(|(r, ci, _)| r >= 2.0 && ci[0] > 1.0),
    }
}

/// The groups (by their value) whose counts are not shown, each with the reason, from
/// the size of every group of known value; see the module doc.
pub fn suppressed(sizes: &BTreeMap<&str, u64>, min: u64) -> BTreeMap<String, String> {
    let known: u64 = sizes.values().sum();
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (g, n) in sizes {
        if *n < min {
            out.insert(
                g.to_string(),
                format!("fewer than {min} students in the group"),
            );
        } else if known - n < min {
            out.insert(
                g.to_string(),
                format!("fewer than {min} students outside the group"),
            );
        }
    }
    loop {
        let pooled: u64 = out.keys().filter_map(|g| sizes.get(g.as_str())).sum();
        if out.is_empty() || (out.len() >= 2 && pooled >= min) {
            break;
        }
        // The smallest group still shown (the first by value among equals).
        let Some((g, _)) = sizes
            .iter()
            .filter(|(g, _)| !out.contains_key(**g))
            .min_by_key(|(_, n)| **n)
        else {
            break;
        };
        out.insert(
            g.to_string(),
            format!(
                "suppressed with smaller groups (fewer than {min} students together), whose counts could otherwise be found by subtraction"
            ),
        );
    }
    out
}

/// What one student contributes.
struct Marks {
    rules: BTreeSet<String>,
    tiers: BTreeSet<(Domain, u8)>,
    /// Review state of each of their flags.
    reviews: Vec<ReviewState>,
}

fn marks(e: &CaseEntry, today: NaiveDate) -> Marks {
    Marks {
        rules: e.flags.iter().map(|f| f.rule_id.clone()).collect(),
        tiers: e
            .tiers
            .iter()
            .filter(|(_, t)| **t > 0)
            .map(|(d, t)| (*d, *t))
            .collect(),
        reviews: e.flags.iter().map(|f| f.state_on(today)).collect(),
    }
}

/// The report of `students` grouped by their label's value.
pub fn report(
    by: &str,
    students: &[Counted],
    min_group_size: u64,
    today: NaiveDate,
) -> EquityReport {
    let known: Vec<(&str, Marks)> = students
        .iter()
        .filter_map(|s| Some((s.group.as_deref()?, marks(s.entry, today))))
        .collect();
    let unknown = students.len() as u64 - known.len() as u64;
    let groups: BTreeSet<&str> = known.iter().map(|(g, _)| *g).collect();
    let rules: BTreeSet<String> = known
        .iter()
        .flat_map(|(_, m)| m.rules.iter().cloned())
        .collect();
    let tiers: BTreeSet<(Domain, u8)> = known
        .iter()
        .flat_map(|(_, m)| m.tiers.iter().copied())
        .collect();
    let outcomes = [
        ReviewState::Confirmed,
        ReviewState::Dismissed,
        ReviewState::Deferred,
        ReviewState::Unreviewed,
    ];
    let mut sizes: BTreeMap<&str, u64> = BTreeMap::new();
    for (g, _) in &known {
        *sizes.entry(*g).or_default() += 1;
    }
    let hidden = suppressed(&sizes, min_group_size);
    let mut out = Vec::new();
    for g in groups {
        if let Some(reason) = hidden.get(g) {
            out.push(Group {
                group: g.to_string(),
                suppressed: true,
                reason: Some(reason.clone()),
                students: None,
                rules: Vec::new(),
                tiers: Vec::new(),
                reviews: Vec::new(),
            });
            continue;
        }
        let (inside, outside): (Vec<&Marks>, Vec<&Marks>) = {
            let (a, b): (Vec<_>, Vec<_>) = known.iter().partition(|(x, _)| *x == g);
            (
                a.into_iter().map(|(_, m)| m).collect(),
                b.into_iter().map(|(_, m)| m).collect(),
            )
        };
        let (n1, n2) = (inside.len() as u64, outside.len() as u64);
        let count = |side: &[&Marks], f: &dyn Fn(&Marks) -> bool| {
            side.iter().filter(|m| f(m)).count() as u64
        };
        let rules = rules
            .iter()
            .map(|r| {
                let has = |m: &Marks| m.rules.contains(r);
                compare(
                    r.clone(),
                    (count(&inside, &has), n1),
                    (count(&outside, &has), n2),
                )
            })
            .collect();
        let tiers = tiers
            .iter()
            .map(|(d, t)| {
                let at = |m: &Marks| m.tiers.contains(&(*d, *t));
                compare(
                    format!("{d} tier {t}"),
                    (count(&inside, &at), n1),
                    (count(&outside, &at), n2),
                )
            })
            .collect();
        let flags = |side: &[&Marks], s: Option<ReviewState>| -> u64 {
            side.iter()
                .flat_map(|m| m.reviews.iter())
                .filter(|r| s.is_none_or(|s| **r == s))
                .count() as u64
        };
        let (f1, f2) = (flags(&inside, None), flags(&outside, None));
        let reviews = outcomes
            .iter()
            .map(|s| {
                compare(
                    s.as_str().to_string(),
                    (flags(&inside, Some(*s)), f1),
                    (flags(&outside, Some(*s)), f2),
                )
            })
            .collect();
        out.push(Group {
            group: g.to_string(),
            suppressed: false,
            reason: None,
            students: Some(n1),
            rules,
            tiers,
            reviews,
        });
    }
    EquityReport {
        by: by.to_string(),
        min_group_size,
        students: students.len() as u64,
        unknown,
        groups: out,
    }
}

/// Group students by a label: `reporting.<name>` → the name.
pub fn label_name(by: &str) -> Option<&str> {
    let name = by.strip_prefix("reporting.")?;
    (!name.is_empty()
        && name.len() <= crate::record::ranges::MAX_LABEL_NAME
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
    .then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_method_interval_matches_a_hand_computation() {
        // 12 of 40 against 6 of 60: RR 3, se² = 1/12 − 1/40 + 1/6 − 1/60.
        let (rr, ci, corrected) = relative_risk(12, 40, 6, 60).unwrap();
        assert!((rr - 3.0).abs() < 1e-12);
        let se = (1.0f64 / 12.0 - 1.0 / 40.0 + 1.0 / 6.0 - 1.0 / 60.0).sqrt();
        assert!((ci[0] - (3f64.ln() - 1.96 * se).exp()).abs() < 1e-12);
        assert!((ci[1] - (3f64.ln() + 1.96 * se).exp()).abs() < 1e-12);
        assert!(!corrected);
    }

    #[test]
    fn a_zero_cell_is_corrected_and_never_infinite() {
        let (rr, ci, corrected) = relative_risk(0, 20, 5, 50).unwrap();
        assert!(corrected);
        assert!((rr - (0.5 / 21.0) / (5.5 / 51.0)).abs() < 1e-12);
        assert!(ci.iter().all(|x| x.is_finite() && *x > 0.0));
        let (rr, ci, _) = relative_risk(0, 20, 0, 50).unwrap();
        assert!(rr.is_finite() && ci[0].is_finite());
        assert!(relative_risk(1, 0, 1, 10).is_none());
        assert!(relative_risk(1, 10, 1, 0).is_none());
    }

    fn hidden(sizes: &[(&'static str, u64)]) -> Vec<String> {
        let sizes: BTreeMap<&str, u64> = sizes.iter().copied().collect();
        suppressed(&sizes, 10).into_keys().collect()
    }

    #[test]
    fn a_lone_small_group_takes_the_next_smallest_with_it() {
        // 5 alone could be found as A's outside less B; with B hidden too only the
        // pool of 50 can.
        assert_eq!(hidden(&[("a", 50), ("b", 45), ("c", 5)]), ["b", "c"]);
        // Two small groups of 11 together: enough.
        assert_eq!(
            hidden(&[("a", 50), ("b", 45), ("c", 5), ("d", 6)]),
            ["c", "d"]
        );
        // Two small groups of 7 together: not enough.
        assert_eq!(
            hidden(&[("a", 50), ("b", 45), ("c", 3), ("d", 4)]),
            ["b", "c", "d"]
        );
        // A group and its complement of 9.
        assert_eq!(hidden(&[("false", 91), ("true", 9)]), ["false", "true"]);
        // Nothing small, nothing hidden; one group alone has no complement to show.
        assert!(hidden(&[("a", 10), ("b", 10)]).is_empty());
        assert_eq!(hidden(&[("a", 100)]), ["a"]);
        assert!(hidden(&[]).is_empty());
    }

    #[test]
    fn labels_are_named_like_record_labels() {
        assert_eq!(label_name("reporting.ell"), Some("ell"));
        assert_eq!(
            label_name("reporting.race_ethnicity"),
            Some("race_ethnicity")
        );
        for bad in [
            "ell",
            "reporting.",
            "reporting.ELL",
            "reporting.a-b",
            "attendance.rate",
        ] {
            assert_eq!(label_name(bad), None, "{bad}");
        }
    }
}
