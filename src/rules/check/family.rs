//! Checking `family:` texts: a mapping of language codes (`en`, `es`, `pt-BR`) to the
//! words a family reads, with the same placeholders as `explain`; and, for the
//! languages a district enables, the rules that would fire without any.

use super::catalogue::Catalogues;
use super::explain;
use crate::rules::RuleSet;
use crate::rules::raw::Text;
use crate::rules::template::Template;
use crate::source::Ctx;
use crate::source::diag::Diagnostic;
use crate::source::yaml::{Kind, Node};

pub use crate::config::is_language;

/// A rule's `family:` mapping, each text parsed as an explanation template; problems
/// are reported at their line and column.
pub fn check(ctx: &mut Ctx, node: &Node, cats: &Catalogues) -> Vec<(String, String, Template)> {
    let mut out = Vec::new();
    for (lang, text) in texts(ctx, node) {
        if let Some(t) = explain::check(ctx, &text, cats) {
            out.push((lang, text.value, t));
        }
    }
    out
}

/// An intervention's `family:` mapping (plain words, no placeholders).
pub fn plain(ctx: &mut Ctx, node: &Node) -> Vec<(String, String)> {
    texts(ctx, node)
        .into_iter()
        .filter_map(|(lang, text)| {
            if text.value.contains('{') {
                ctx.error_at(
                    &text.node,
                    "an intervention's family text has no placeholders",
                    Some("write the words a family reads; `{` starts a placeholder".into()),
                );
                return None;
            }
            Some((lang, text.value))
        })
        .collect()
}

/// The `language: text` entries of a `family:` mapping.
fn texts(ctx: &mut Ctx, node: &Node) -> Vec<(String, Text)> {
    let Kind::Map(entries) = &node.kind else {
        ctx.error_at(
            node,
            "`family` must map a language to its text, like `{en: \"...\", es: \"...\"}`",
            None,
        );
        return Vec::new();
    };
    let mut out: Vec<(String, Text)> = Vec::new();
    for (k, v) in entries {
        let lang = k.as_str().unwrap_or_default();
        if !is_language(lang) {
            ctx.error_at(
                k,
                format!("`{lang}` is not a language code"),
                Some("use a code such as `en`, `es` or `pt-BR`".into()),
            );
            continue;
        }
        let Some(value) = v.as_str().filter(|_| matches!(v.kind, Kind::Scalar(..))) else {
            ctx.error_at(v, format!("the `{lang}` family text must be text"), None);
            continue;
        };
        if value.trim().is_empty() {
            ctx.error_at(v, format!("the `{lang}` family text is empty"), None);
            continue;
        }
        out.push((
            lang.to_string(),
            Text {
                value: value.to_string(),
                node: v.clone(),
            },
        ));
    }
    out
}

/// A warning for every enabled rule without family text in one of `languages`, at the
/// rule's line: a family would be told nothing, or told in the wrong language.
pub fn missing(rules: &RuleSet, languages: &[String]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for r in rules.rules.iter().filter(|r| r.enabled) {
        let absent: Vec<&str> = languages
            .iter()
            .filter(|l| !r.family.contains_key(l.as_str()))
            .map(String::as_str)
            .collect();
        if absent.is_empty() {
            continue;
        }
        let source = rules.files.get(&r.file);
        // The rule's first key (`id`), after its `- `.
        let col = source
            .and_then(|t| t.lines().nth(r.line.saturating_sub(1)))
            .map_or(1, |l| {
                let lead = l.chars().take_while(|c| *c == ' ' || *c == '-').count();
                lead + 1
            });
        let mut d = Diagnostic::warning(
            &r.file,
            r.line,
            col,
            format!(
                "rule `{}` fires without family text in {}",
                r.id,
                absent
                    .iter()
                    .map(|l| format!("`{l}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
        .hint(format!(
            "add `family: {{{}}}` in the words a family reads (the district enables {})",
            absent
                .iter()
                .map(|l| format!("{l}: \"...\""))
                .collect::<Vec<_>>()
                .join(", "),
            languages.join(", ")
        ));
        if let Some(text) = source {
            d = d.with_source(text).width(2);
        }
        out.push(d);
    }
    out
}
