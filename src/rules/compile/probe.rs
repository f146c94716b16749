//! Running a compiled condition once on a sample record with every section present
//! (and a sample value for every plan and history fact the rules read),
//! to catch conditions that do not give true/false and operators used on wrong
//! types: problems only running shows.

use rhai::{AST, Dynamic, Scope};

use super::rhai_text::at_rhai;
use super::slots::Slots;
use crate::record::facts;
use crate::record::facts::{Facts, FieldKind, FieldRef};
use crate::record::history::HistoryFacts;
use crate::rules::check::Catalogues;
use crate::rules::check::Condition;
use crate::rules::sandbox::{self, Limits};
use crate::source::{Ctx, Severity};

/// Evaluate the condition `ast` of `c` on the sample record; report what fails.
pub(super) fn probe(
    engine: &rhai::Engine,
    slots: &Slots,
    cats: &Catalogues,
    ctx: &mut Ctx,
    c: &Condition,
    ast: &AST,
) {
    if c.reads.iter().any(|f| {
        matches!(f, FieldRef::Extra(_)) || f.spec().is_some_and(|s| s.kind == FieldKind::List)
    }) {
        return;
    }
    let mut scope = sample_scope(slots, cats);
    let (line, col) = (c.pos.line, c.pos.col);
    match sandbox::with_deadline(&Limits::default(), || {
        engine.eval_ast_with_scope::<Dynamic>(&mut scope, ast)
    }) {
        Ok(v) if v.is_bool() => {}
        Ok(v) => ctx.push(
            Severity::Error,
            line,
            col,
            1,
            format!("condition gives {} instead of true or false", v.type_name()),
            Some("compare the value, e.g. `student.gpa <= params.low_gpa`".into()),
        ),
        Err(e) => report_failure(ctx, c, &e),
    }
}

/// A scope holding the sample record's value of every slot, and every param.
fn sample_scope(slots: &Slots, cats: &Catalogues) -> Scope<'static> {
    let record = crate::record::probe_record();
    let mut history = HistoryFacts::new();
    for f in &slots.fields {
        if let (Some(path), Some(spec)) = (f.history_path(), f.spec()) {
            history.insert(path, facts::sample(spec));
        }
    }
    let facts = Facts::with_history(&record, &history);
    let mut scope = Scope::new();
    for (i, f) in slots.fields.iter().enumerate() {
        scope.push_constant_dynamic(
            sandbox::var_name('s', i),
            facts
                .get(f)
                .map_or(Dynamic::UNIT, |v| sandbox::to_dynamic(&v)),
        );
    }
    for (i, p) in slots.params.iter().enumerate() {
        scope.push_constant_dynamic(
            sandbox::var_name('p', i),
            cats.params
                .get(p)
                .map_or(Dynamic::UNIT, |v| sandbox::number_dynamic(&v.value)),
        );
    }
    scope
}

/// A wrong type is an error (the rule can never work); anything else, such as a
/// sandbox limit, a warning (records like the sample will list it under errors).
fn report_failure(ctx: &mut Ctx, c: &Condition, e: &rhai::EvalAltResult) {
    let (l, col) = at_rhai(&c.source, e.position());
    let l = if l == 0 { c.pos.line } else { l };
    let is_type = matches!(
        e,
        rhai::EvalAltResult::ErrorFunctionNotFound(..)
            | rhai::EvalAltResult::ErrorMismatchDataType(..)
            | rhai::EvalAltResult::ErrorMismatchOutputType(..)
    );
    let what = e.to_string();
    let what = what.split(" (line ").next().unwrap_or(&what);
    let (sev, msg, hint) = if is_type {
        (
            Severity::Error,
            format!("condition fails on a sample record: {what}"),
            "compare values of the same kind: numbers with numbers, text with text",
        )
    } else {
        (
            Severity::Warning,
            format!("condition stopped on a sample record: {what}"),
            "records like the sample will list this rule under rule_errors; the sandbox stops rules that loop or grow data without bound",
        )
    };
    ctx.push(sev, l, col.max(1), 1, msg, Some(hint.into()));
}
