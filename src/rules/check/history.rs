//! Checking a `student.plans.<key>.<fact>` or `student.history.<domain>.<fact>` path
//! (in a condition or an explanation): the key is a domain or an intervention of the
//! catalogue, the domain exists, the fact exists — each problem at its segment, with
//! a "did you mean" against what would be right there.

use super::catalogue::Catalogues;
use super::values::is_kebab;
use crate::record::facts::{DOMAINS, HISTORY_FACTS, PLAN_FACTS};
use crate::source::diag::suggest;

/// What is wrong with a plan or history path.
#[derive(Debug, PartialEq)]
pub struct PathProblem {
    /// The segment (after `student.`) at fault; `None` for the whole path.
    pub segment: Option<usize>,
    pub message: String,
    pub hint: String,
}

/// Whether `segments` (after `student.`) start with `plans` or `history`.
pub fn is_history_path(segments: &[&str]) -> bool {
    matches!(segments.first(), Some(&"plans" | &"history"))
}

/// The problem with a `plans.` or `history.` path, or `None` when it names a fact.
pub fn problem(segments: &[&str], cats: &Catalogues) -> Option<PathProblem> {
    let at = |segment: usize, message: String, hint: String| {
        Some(PathProblem {
            segment: Some(segment),
            message,
            hint,
        })
    };
    let whole = |message: String, hint: String| {
        Some(PathProblem {
            segment: None,
            message,
            hint,
        })
    };
    let (section, facts) = match segments.first() {
        Some(&"plans") => ("plans", PLAN_FACTS),
        Some(&"history") => ("history", HISTORY_FACTS),
        _ => return None,
    };
    let example = if section == "plans" {
        "student.plans.academic.active"
    } else {
        "student.history.academic.prev_tier"
    };
    let Some(&key) = segments.get(1) else {
        return whole(
            format!("`student.{section}` is a section, not a value"),
            format!("read one of its facts, e.g. `{example}`"),
        );
    };
    if section == "plans" {
        let known = DOMAINS.contains(&key)
            || if cats.interventions_known {
                cats.interventions.iter().any(|i| i.id == key)
            } else {
                is_kebab(key)
            };
        if !known {
            let names = DOMAINS
                .iter()
                .copied()
                .chain(cats.interventions.iter().map(|i| i.id.as_str()));
            return at(
                1,
                format!("unknown plan `{key}`"),
                format!(
                    "{} (a plan is named by its domain or by an intervention id of interventions.yaml)",
                    suggest(key, names)
                ),
            );
        }
    } else if !DOMAINS.contains(&key) {
        return at(
            1,
            format!("unknown domain `{key}` in `student.history`"),
            suggest(key, DOMAINS.iter().copied()),
        );
    }
    let Some(&fact) = segments.get(2) else {
        let what = if section == "plans" {
            "a plan"
        } else {
            "a domain's history"
        };
        return whole(
            format!("`student.{section}.{key}` is {what}, not a value"),
            format!(
                "read one of its facts, e.g. `student.{section}.{key}.{}`",
                facts[0].path
            ),
        );
    };
    if !facts.iter().any(|f| f.path == fact) {
        return at(
            2,
            format!("`{section}.{key}` has no fact `{fact}`"),
            suggest(fact, facts.iter().map(|f| f.path)),
        );
    }
    if let Some(&extra) = segments.get(3) {
        return at(
            3,
            format!("`{section}.{key}.{fact}` has no fields; `{extra}` cannot be read from it"),
            format!("a {section} fact is one value: write `student.{section}.{key}.{fact}`"),
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cats() -> Catalogues {
        Catalogues {
            interventions: Vec::new(),
            interventions_known: true,
            params: Default::default(),
            params_known: true,
            measures: Vec::new(),
        }
    }

    #[test]
    fn a_misspelled_fact_gets_a_did_you_mean() {
        let p = problem(&["plans", "academic", "aim_gp"], &cats()).unwrap();
        assert_eq!(p.segment, Some(2));
        assert_eq!(p.message, "`plans.academic` has no fact `aim_gp`");
        assert_eq!(p.hint, "did you mean `aim_gap`?");
    }

    #[test]
    fn known_paths_have_no_problem() {
        assert_eq!(
            problem(&["plans", "social_emotional", "goal_met"], &cats()),
            None
        );
        assert_eq!(
            problem(&["history", "behavioral", "weeks_at_tier"], &cats()),
            None
        );
    }

    #[test]
    fn an_unknown_plan_key_is_matched_against_domains_and_interventions() {
        let p = problem(&["plans", "acadmic", "tier"], &cats()).unwrap();
        assert_eq!(p.segment, Some(1));
        assert_eq!(p.message, "unknown plan `acadmic`");
        assert!(p.hint.starts_with("did you mean `academic`?"), "{}", p.hint);
        let p = problem(&["plans", "academic"], &cats()).unwrap();
        assert_eq!(p.segment, None);
        assert_eq!(p.message, "`student.plans.academic` is a plan, not a value");
    }

    #[test]
    fn an_unknown_history_domain_is_named() {
        let p = problem(&["history", "atendance", "prev_tier"], &cats()).unwrap();
        assert_eq!(p.segment, Some(1));
        assert_eq!(p.hint, "did you mean `attendance`?");
    }
}
