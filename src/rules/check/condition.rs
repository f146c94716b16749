//! Checking a `when:` condition: its syntax as far as the analyser sees it, every
//! `student.` and `params.` reference resolved, and comparisons of a number with
//! text (which Rhai answers with `false`, so the rule could never fire).

use super::catalogue::Catalogues;
use super::history;
use crate::record::facts::{self, FieldKind, FieldRef};
use crate::rules::expr::{self, Analysis, PathRef, Root};
use crate::rules::raw::{Text, errors_since};
use crate::source::diag::suggest;
use crate::source::map::{SourceMap, scalar_source};
use crate::source::yaml::Pos;
use crate::source::{Ctx, Severity};

/// What a reference of a condition reads.
#[derive(Debug, Clone, PartialEq)]
pub enum Ref {
    Student(FieldRef),
    Param(String),
}

/// A checked condition.
#[derive(Debug)]
pub struct Condition {
    /// The condition as written.
    pub when: String,
    /// Where its value starts in the file.
    pub pos: Pos,
    /// Its text as in the file, for positions inside it.
    pub source: SourceMap,
    pub analysis: Analysis,
    /// Student fields it reads, in order of first use (also when `refs` is `None`:
    /// what the rules read decides what `privacy.yaml` lines take effect).
    pub reads: Vec<FieldRef>,
    /// Params it reads, in order of first use.
    pub params_read: Vec<String>,
    /// What each of `analysis.paths` reads; `None` when a problem was reported, and
    /// the condition is not compiled.
    pub refs: Option<Vec<Ref>>,
}

/// Check `when` against the record's fields and the params.
pub fn check(ctx: &mut Ctx, when: Text, cats: &Catalogues) -> Condition {
    let before = ctx.diags.len();
    let source = scalar_source(ctx.text, &when.node);
    let analysis = expr::analyze(&source.text);
    for p in &analysis.problems {
        let (line, col) = source.at_byte(p.span.start);
        let width = source.text[p.span.clone()].chars().count();
        let (msg, hint) = (p.message.clone(), p.hint.clone());
        ctx.push(Severity::Error, line, col, width, msg, hint);
    }
    let mut c = Condition {
        when: when.value,
        pos: when.node.pos,
        source,
        analysis,
        reads: Vec::new(),
        params_read: Vec::new(),
        refs: None,
    };
    let refs: Vec<Option<Ref>> = (0..c.analysis.paths.len())
        .map(|i| resolve(ctx, &mut c, i, cats))
        .collect();
    mixed_comparisons(ctx, &c);
    if !errors_since(ctx.diags, before) {
        c.refs = refs.into_iter().collect();
    }
    c
}

/// Resolve path `i` of `c` and record it as read.
fn resolve(ctx: &mut Ctx, c: &mut Condition, i: usize, cats: &Catalogues) -> Option<Ref> {
    let p = &c.analysis.paths[i];
    let joined = p.joined();
    match p.root {
        // With params.yaml unreadable, its own error explains; do not flood the
        // output with an unknown-param error per reference.
        Root::Params if !cats.params_known => None,
        Root::Params if !cats.params.contains_key(&joined) => {
            let (line, col) = c.source.at_byte(p.segment_spans[0].start);
            let hint = suggest(&joined, cats.params.keys().map(String::as_str));
            ctx.push(
                Severity::Error,
                line,
                col,
                joined.chars().count(),
                format!("unknown param `{joined}`"),
                Some(format!("{hint} (params are defined in params.yaml)")),
            );
            None
        }
        Root::Params => {
            if !c.params_read.contains(&joined) {
                c.params_read.push(joined.clone());
            }
            Some(Ref::Param(joined))
        }
        Root::Student => {
            let field = student(ctx, &c.source, p, cats)?;
            if !c.reads.contains(&field) {
                c.reads.push(field.clone());
            }
            Some(Ref::Student(field))
        }
    }
}

/// The record field a `student.` path reads; a program status is warned about.
fn student(ctx: &mut Ctx, src: &SourceMap, p: &PathRef, cats: &Catalogues) -> Option<FieldRef> {
    let segments: Vec<&str> = p.segments.iter().map(String::as_str).collect();
    if history::is_history_path(&segments)
        && let Some(problem) = history::problem(&segments, cats)
    {
        let span = problem
            .segment
            .map_or(p.span.clone(), |k| p.segment_spans[k].clone());
        let (line, col) = src.at_byte(span.start);
        let width = src.text[span].chars().count();
        ctx.push(
            Severity::Error,
            line,
            col,
            width,
            problem.message,
            Some(problem.hint),
        );
        return None;
    }
    let Some(field) = FieldRef::resolve(&p.joined()) else {
        unknown_field(ctx, src, p);
        return None;
    };
    if field.spec().is_some_and(|s| s.status) {
        let (line, col) = src.at_byte(p.span.start);
        let width = src.text[p.span.clone()].chars().count();
        ctx.push(Severity::Warning, line, col, width, format!("`{}` is a program status, not a changeable indicator", field.full_path()), Some("flags should come from attendance, behavior, course performance and screeners; see the fairness notes in the README".into()));
    }
    Some(field)
}

/// Rhai answers `false` when a number is compared with text, so such a rule could
/// never fire: report `student.gpa > "two"` and `student.sel.screener > 3`.
fn mixed_comparisons(ctx: &mut Ctx, c: &Condition) {
    let a = &c.analysis;
    let src = &c.source;
    let text = &src.text;
    for (i, t) in a.tokens.iter().enumerate() {
        if !matches!(&text[t.span.clone()], "==" | "!=" | "<" | "<=" | ">" | ">=") {
            continue;
        }
        let sides = [
            (
                a.paths.iter().find(|p| p.tokens.end == i),
                a.tokens.get(i + 1),
            ),
            (
                a.paths.iter().find(|p| p.tokens.start == i + 1),
                i.checked_sub(1).and_then(|j| a.tokens.get(j)),
            ),
        ];
        for (path, other) in sides {
            let (Some(path), Some(other)) = (path, other) else {
                continue;
            };
            if path.root != Root::Student {
                continue;
            }
            let Some(spec) = FieldRef::resolve(&path.joined()).and_then(|f| f.spec()) else {
                continue;
            };
            let clash = match (spec.kind, other.kind) {
                (FieldKind::Number, expr::Tok::Str) => {
                    Some(("a number", "text", "write the number without quotes"))
                }
                (FieldKind::Text, expr::Tok::Number) => {
                    Some(("text", "a number", "put the value in quotes"))
                }
                _ => None,
            };
            if let Some((is, with, hint)) = clash {
                let (line, col) = src.at_byte(other.span.start);
                let shown = &text[other.span.clone()];
                ctx.push(Severity::Error, line, col, shown.chars().count(), format!("`student.{}` is {is} but is compared with {with} `{shown}`; the comparison is never true", path.joined()), Some(hint.into()));
            }
        }
    }
}

/// Report the first segment of `student.<path>` that does not exist.
fn unknown_field(ctx: &mut Ctx, src: &SourceMap, p: &PathRef) {
    let mut prefix = String::new();
    for (k, seg) in p.segments.iter().enumerate() {
        let candidates = children(&prefix);
        let full = if prefix.is_empty() {
            seg.clone()
        } else {
            format!("{prefix}.{seg}")
        };
        if candidates.contains(&seg.as_str())
            && facts::FIELDS
                .iter()
                .any(|f| f.path == full || f.path.starts_with(&format!("{full}.")))
        {
            prefix = full;
            continue;
        }
        let (line, col) = src.at_byte(p.segment_spans[k].start);
        let (msg, hint) = no_such_segment(&prefix, seg, candidates);
        let width = seg.chars().count();
        ctx.push(Severity::Error, line, col, width, msg, Some(hint));
        return;
    }
    let (line, col) = src.at_byte(p.span.start);
    let what = p.joined();
    ctx.push(
        Severity::Error,
        line,
        col,
        src.text[p.span.clone()].chars().count(),
        format!("`student.{what}` is a section, not a value"),
        Some(format!(
            "read one of its fields, e.g. `student.{what}.{}`",
            first_child(&what)
        )),
    );
}

/// The names one level below `prefix` (the record's top level when empty).
fn children(prefix: &str) -> Vec<&'static str> {
    facts::FIELDS
        .iter()
        .filter_map(|f| {
            let rest = if prefix.is_empty() {
                Some(f.path)
            } else {
                f.path
                    .strip_prefix(prefix)
                    .and_then(|r| r.strip_prefix('.'))
            }?;
            Some(rest.split('.').next().unwrap_or(rest))
        })
        .chain(
            prefix
                .is_empty()
                .then_some(["extra", "plans", "history"])
                .into_iter()
                .flatten(),
        )
        .collect()
}

/// The message and hint for `seg`, which `prefix` does not have.
fn no_such_segment(prefix: &str, seg: &str, mut candidates: Vec<&str>) -> (String, String) {
    candidates.dedup();
    if prefix.is_empty() && seg == "reporting" {
        return (
            "a rule may not read reporting labels".to_string(),
            "`student.reporting` holds student group labels (ELL, IEP, race and ethnicity…) for equity reports only: flags come from attendance, behavior, courses and screeners".to_string(),
        );
    }
    let msg = if prefix.is_empty() {
        format!("unknown record field `{seg}`")
    } else if facts::FIELDS.iter().any(|f| f.path == prefix) {
        format!("`{prefix}` has no fields; `{seg}` cannot be read from it")
    } else {
        format!("`{prefix}` has no field `{seg}`")
    };
    let hint = if candidates.is_empty() {
        "see the record schema in the README".to_string()
    } else {
        suggest(seg, candidates.iter().copied())
    };
    (msg, hint)
}

/// A field of `section`, for the hint.
fn first_child(section: &str) -> &'static str {
    facts::FIELDS
        .iter()
        .find_map(|f| {
            f.path
                .strip_prefix(section)
                .and_then(|r| r.strip_prefix('.'))
        })
        .unwrap_or("field")
}
