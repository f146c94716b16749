//! Checking `measures.yaml`: each manual measure's id (kebab-case, unique, not a
//! record indicator's name), its range (finite, `min` below `max`) and direction.

use super::values::{is_kebab, number};
use crate::rules::measure::{Better, Measure, RECORD_MEASURES, record_measure};
use crate::rules::raw::{RawMeasure, Text};
use crate::source::Ctx;
use crate::source::diag::suggest;

/// The measures that are sound; every problem of the others is reported.
pub fn check(ctx: &mut Ctx, raw: Vec<RawMeasure>) -> Vec<Measure> {
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
    out
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
