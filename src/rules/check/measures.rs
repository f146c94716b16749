//! Checking `measures.yaml`: each manual measure's id (kebab-case, unique, not a
//! record indicator's name), its range (finite, `min` below `max`) and direction.

use super::values::{is_kebab, number};
use crate::rules::measure::{Better, Measure, RECORD_MEASURES, record_measure};
use crate::rules::raw::{RawMeasure, Text};
use crate::source::Ctx;
use crate::source::diag::suggest;

/// The measures that are sound, and every id declared (a measure with a wrong value
/// is still a name the catalogue may use: its own error explains); every problem is
/// reported.
pub fn check(ctx: &mut Ctx, raw: Vec<RawMeasure>) -> (Vec<Measure>, Vec<String>) {
    let mut out: Vec<Measure> = Vec::new();
    let mut lines: Vec<(String, usize)> = Vec::new();
    for item in raw {
        let id_ok = item.id.as_ref().is_some_and(|id| check_id(ctx, id, &lines));
        if let Some(id) = &item.id {
            lines.push((id.value.clone(), id.node.pos.line));
        }
        let min = item.min.as_ref().and_then(|n| number(ctx, n, "min"));
        let max = item.max.as_ref().and_then(|n| number(ctx, n, "max"));
        if let (Some(lo), Some(hi), Some(node)) = (min, max, &item.max)
            && lo >= hi
        {
            ctx.error_at(
                node,
                format!("`max` ({hi}) must be greater than `min` ({lo})"),
                Some(
                    "`min` and `max` are the least and greatest value a progress point may take"
                        .into(),
                ),
            );
        }
        let better = item.better.as_ref().and_then(|n| {
            let s = n.as_str().unwrap_or_default();
            let b = Better::parse(s);
            if b.is_none() {
                ctx.error_at(
                    n,
                    format!("`better` must be `higher` or `lower`, found `{s}`"),
                    Some(suggest(s, Better::NAMES)),
                );
            }
            b
        });
        let (Some(id), Some(name), Some(unit), Some(min), Some(max), Some(better)) =
            (item.id, item.name, item.unit, min, max, better)
        else {
            continue;
        };
        if id_ok && min < max {
            out.push(Measure {
                id: id.value,
                name: name.value,
                unit: unit.value,
                min,
                max,
                better,
                description: item.description.map(|t| t.value).unwrap_or_default(),
            });
        }
    }
    (out, lines.into_iter().map(|(id, _)| id).collect())
}

/// Whether `id` may name a manual measure, reporting why not; `seen` holds the ids
/// before it with their lines.
fn check_id(ctx: &mut Ctx, id: &Text, seen: &[(String, usize)]) -> bool {
    if record_measure(&id.value).is_some() {
        let names: Vec<_> = RECORD_MEASURES.iter().map(|m| m.name).collect();
        ctx.error_at(
            &id.node,
            format!("measure id `{}` is the name of a record indicator", id.value),
            Some(format!(
                "record indicators ({}) are taken from each decision; give the manual measure another id, e.g. `{}-manual`",
                names.join(", "),
                id.value.replace(['.', '_'], "-")
            )),
        );
        return false;
    }
    if !is_kebab(&id.value) {
        ctx.error_at(
            &id.node,
            format!("measure id `{}` must be kebab-case", id.value),
            Some("use lowercase letters, digits and dashes, e.g. `oral-reading-fluency`".into()),
        );
        return false;
    }
    if let Some((_, line)) = seen.iter().find(|(s, _)| *s == id.value) {
        ctx.error_at(
            &id.node,
            format!("duplicate measure id `{}`", id.value),
            Some(format!(
                "`{}` is already defined on line {line}; measure ids must be unique",
                id.value
            )),
        );
        return false;
    }
    true
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use crate::rules::{Better, RuleSet};

    fn shipped_dir() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("rules")
    }

    fn shipped_files() -> BTreeMap<String, String> {
        ["interventions.yaml", "measures.yaml", "params.yaml"]
            .into_iter()
            .map(|f| {
                let text = std::fs::read_to_string(shipped_dir().join(f)).unwrap();
                (f.to_string(), text)
            })
            .collect()
    }

    fn messages(files: BTreeMap<String, String>) -> Vec<String> {
        match RuleSet::from_files(files) {
            Ok(_) => Vec::new(),
            Err(e) => e.diagnostics.into_iter().map(|d| d.message).collect(),
        }
    }

    #[test]
    fn the_shipped_rules_have_four_measures_and_every_tier_2_and_3_plan_default() {
        let rs = RuleSet::load_dir(&shipped_dir()).unwrap();
        let ids: Vec<_> = rs.measures.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "oral-reading-fluency",
                "math-cbm",
                "cico-daily-points",
                "sel-mini-screener"
            ]
        );
        let orf = rs.measure("oral-reading-fluency").unwrap();
        assert_eq!((orf.min, orf.max, orf.better), (0.0, 250.0, Better::Higher));
        assert_eq!(orf.unit, "words correct per minute");
        let sel = rs.measure("sel-mini-screener").unwrap();
        assert_eq!((sel.min, sel.max), (20.0, 80.0));
        let mut checked = 0;
        for i in rs.interventions.iter().filter(|i| i.tier >= 2) {
            let m = i.progress_measure.as_deref();
            assert!(
                m.is_some_and(|m| rs.goal_measure(m).is_some()),
                "{}: progress_measure {m:?}",
                i.id
            );
            assert!(
                i.default_weeks.is_some_and(|w| (1..=52).contains(&w)),
                "{}",
                i.id
            );
            assert!(
                i.sessions_per_week.is_some_and(|s| s > 0.0 && s <= 14.0),
                "{}",
                i.id
            );
            checked += 1;
        }
        assert!(checked >= 15, "only {checked} tier 2/3 interventions");
        let reading = rs.intervention("small-group-reading").unwrap();
        assert_eq!(
            reading.progress_measure.as_deref(),
            Some("oral-reading-fluency")
        );
        let cico = rs.intervention("check-in-check-out").unwrap();
        assert_eq!(cico.progress_measure.as_deref(), Some("cico-daily-points"));
        assert_eq!(cico.sessions_per_week, Some(5.0));
    }

    #[test]
    fn a_goal_measure_is_a_record_indicator_or_a_manual_measure() {
        let rs = RuleSet::from_files(shipped_files()).unwrap();
        let gpa = rs.goal_measure("gpa").unwrap();
        assert_eq!((gpa.min, gpa.max), (0.0, 5.0));
        let orf = rs.goal_measure("oral-reading-fluency").unwrap();
        assert_eq!(
            (orf.min, orf.max, orf.unit),
            (0.0, 250.0, "words correct per minute")
        );
        assert!(rs.goal_measure("oral-reading").is_none());
        assert!(
            rs.measure("gpa").is_none(),
            "a record indicator is not a manual measure"
        );
        assert_eq!(rs.goal_measure_names().count(), 7 + 4);
    }

    #[test]
    fn editing_measures_yaml_changes_the_version() {
        let files = shipped_files();
        let before = RuleSet::from_files(files.clone()).unwrap().version;
        let mut edited = files;
        let m = edited.get_mut("measures.yaml").unwrap();
        *m = m.replace("max: 250", "max: 240");
        let after = RuleSet::from_files(edited).unwrap();
        assert_ne!(before, after.version);
        assert_eq!(after.measure("oral-reading-fluency").unwrap().max, 240.0);
    }

    #[test]
    fn without_measures_yaml_a_manual_progress_measure_is_unknown() {
        let mut files = shipped_files();
        files.remove("measures.yaml");
        let got = messages(files);
        assert!(
            got.contains(&"unknown progress measure `oral-reading-fluency`".to_string()),
            "{got:?}"
        );
    }

    #[test]
    fn an_unreadable_measures_yaml_is_reported_once_not_at_every_use() {
        let mut files = shipped_files();
        files.insert("measures.yaml".into(), "measures: [a: b: c\n".into());
        let got = messages(files);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].starts_with("YAML syntax"), "{got:?}");
    }

    #[test]
    fn weeks_sessions_and_direction_out_of_bounds_are_errors() {
        let mut files = shipped_files();
        let i = files.get_mut("interventions.yaml").unwrap();
        *i = i
            .replacen("default_weeks: 8", "default_weeks: 53", 1)
            .replacen("sessions_per_week: 5", "sessions_per_week: 15", 1)
            .replacen("sessions_per_week: 1", "sessions_per_week: 0", 1);
        let m = files.get_mut("measures.yaml").unwrap();
        *m = m
            .replacen("better: higher", "better: up", 1)
            .replacen("min: 20", "min: lots", 1);
        let got = messages(files);
        let want = [
            "`better` must be `higher` or `lower`, found `up`",
            "`min` must be a number, found `lots`",
            "`default_weeks` must be a whole number from 1 to 52, found `53`",
            "`sessions_per_week` must be more than 0 and at most 14, found `15`",
            "`sessions_per_week` must be more than 0 and at most 14, found `0`",
        ];
        for w in want {
            assert!(got.contains(&w.to_string()), "missing {w:?} in {got:?}");
        }
        assert_eq!(got.len(), want.len(), "{got:?}");
    }
}
