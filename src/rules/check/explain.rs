//! Checking an `explain:` template: every placeholder names a record field or a
//! param that exists, and each problem points at the file's columns.

use super::catalogue::Catalogues;
use super::history;
use crate::record::facts::{self, FieldRef};
use crate::rules::raw::Text;
use crate::rules::template::{self, Placeholder, Source, Template, TemplateError};
use crate::source::map::{quoted_raw, scalar_source};
use crate::source::{Ctx, Severity};

/// The parsed template of `explain`, or `None` with its problems reported.
pub fn check(ctx: &mut Ctx, explain: &Text, cats: &Catalogues) -> Option<Template> {
    match template::parse(&explain.value, |p| resolve_name(p, cats)) {
        Ok(t) => Some(t),
        Err(errors) => {
            report(ctx, explain, cats, errors);
            None
        }
    }
}

fn report(ctx: &mut Ctx, explain: &Text, cats: &Catalogues, errors: Vec<TemplateError>) {
    let node = &explain.node;
    // The value has YAML's escapes and line folding resolved; parse the template
    // again as it stands in the file so each error points at the file's columns.
    let source = quoted_raw(ctx.text, node).unwrap_or_else(|| scalar_source(ctx.text, node));
    let located = match template::parse(&source.text, |p| resolve_name(p, cats)) {
        Err(errs) if errs.len() == errors.len() && source.text != explain.value => errs,
        _ => errors,
    };
    for e in located {
        let (line, col) = source.at_byte(e.span.start);
        ctx.push(Severity::Error, line, col, e.span.len(), e.message, e.hint);
    }
}

/// What a placeholder names: `student.<field>` or `params.<name>`.
fn resolve_name(p: &Placeholder, cats: &Catalogues) -> Result<Source, TemplateError> {
    let err = |message: String, hint: Option<String>| TemplateError {
        span: p.name_span.clone(),
        message,
        hint,
    };
    if let Some(path) = p.name.strip_prefix("student.") {
        let segments: Vec<&str> = path.split('.').collect();
        if history::is_history_path(&segments)
            && let Some(problem) = history::problem(&segments, cats)
        {
            // The segment's place inside the name: `student.` and the segments and
            // dots before it.
            let span = match problem.segment {
                Some(k) => {
                    let start = p.name_span.start
                        + "student.".len()
                        + segments[..k].iter().map(|s| s.len() + 1).sum::<usize>();
                    start..start + segments[k].len()
                }
                None => p.name_span.clone(),
            };
            return Err(TemplateError {
                span,
                message: format!("explanation names an unknown fact: {}", problem.message),
                hint: Some(problem.hint),
            });
        }
        if path == "reporting" || path.starts_with("reporting.") {
            return Err(err(
                "a rule may not read reporting labels".into(),
                Some(
                    "`student.reporting` holds student group labels for equity reports only".into(),
                ),
            ));
        }
        return FieldRef::resolve(path).map(Source::Student).ok_or_else(|| {
            let hint = crate::source::diag::suggest(path, facts::FIELDS.iter().map(|f| f.path));
            err(
                format!("explanation names unknown record field `{path}`"),
                Some(hint),
            )
        });
    }
    if let Some(name) = p.name.strip_prefix("params.") {
        return if cats.params.contains_key(name) || !cats.params_known {
            Ok(Source::Param(name.to_string()))
        } else {
            Err(err(
                format!("explanation names unknown param `{name}`"),
                Some(crate::source::diag::suggest(
                    name,
                    cats.params.keys().map(String::as_str),
                )),
            ))
        };
    }
    Err(err(
        format!("explanation names unknown value `{}`", p.name),
        Some("placeholders name `student.<field>` or `params.<name>`; write `{{` for a literal brace".into()),
    ))
}
