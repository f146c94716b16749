//! Stage 4 of loading: checking what the raw rule set says against what exists.
//!
//! Names (kebab-case ids, snake_case params), values (domains, tiers, `enabled`),
//! references (interventions a rule recommends, fields and params its condition and
//! explanation name), duplicates, and lib files that hold only functions. Every
//! problem is reported, with a "did you mean" where a near name exists. Produces
//! [`Catalogues`] and [`CheckedRule`]s: what compiling needs, nothing to distrust.

mod catalogue;
mod condition;
mod explain;
pub mod family;
mod history;
mod measures;
mod values;

use std::collections::HashMap;

pub use catalogue::{Catalogues, RawCatalogues, check as catalogues};
pub use condition::{Condition, Ref};

use super::expr;
use super::model::{Domain, RuleKind};
use super::raw::{RawRule, Text, errors_since};
use super::template::Template;
use crate::source::Ctx;
use crate::source::diag::{Diagnostic, suggest};
use values::{allow, domain, enabled, is_kebab, kind, tier};

/// Everything about a rule except its condition, every value checked.
#[derive(Debug)]
pub struct Head {
    pub id: String,
    pub name: String,
    pub domain: Domain,
    pub kind: RuleKind,
    /// 0 for a strength.
    pub tier: u8,
    /// The explanation as written, and parsed.
    pub explain_text: String,
    pub explain: Template,
    /// The explanation for families per language: as written, and parsed.
    pub family: Vec<(String, String, Template)>,
    pub recommend: Vec<String>,
    pub references: Vec<String>,
    pub enabled: bool,
    /// Band-analysis warning kinds the rule silences (`allow:`).
    pub allow: Vec<String>,
    /// Where the rule starts.
    pub line: usize,
}

/// A rule whose condition was checked.
#[derive(Debug)]
pub struct CheckedRule<'f> {
    /// The pack file and its text.
    pub file: &'f str,
    pub text: &'f str,
    /// Where the rule starts.
    pub line: usize,
    /// The id as written (checked for duplicates even when it is not kebab-case).
    pub id: Option<Text>,
    /// `None` when a field other than the condition was reported wrong: the
    /// condition is still compiled and probed, so every problem shows in one run,
    /// but no rule is built.
    pub head: Option<Head>,
    pub condition: Condition,
}

/// Check every rule. A rule without a textual `when` is reported and goes no further.
pub fn rules<'f>(
    raw: Vec<RawRule<'f>>,
    cats: &Catalogues,
    diags: &mut Vec<Diagnostic>,
) -> Vec<CheckedRule<'f>> {
    let out: Vec<CheckedRule> = raw
        .into_iter()
        .filter_map(|rule| check_rule(rule, cats, diags))
        .collect();
    duplicates(&out, diags);
    out
}

fn check_rule<'f>(
    raw: RawRule<'f>,
    cats: &Catalogues,
    diags: &mut Vec<Diagnostic>,
) -> Option<CheckedRule<'f>> {
    let before = diags.len();
    let mut ctx = Ctx::new(raw.file, raw.text, diags);
    let values = Values::check(&mut ctx, &raw, cats);
    // Check the condition and explanation even when other fields are wrong, so
    // every problem of the rule is reported in one run.
    let when = raw.when.clone()?;
    let explain = raw
        .explain
        .as_ref()
        .and_then(|t| explain::check(&mut ctx, t, cats));
    let family = raw
        .family
        .as_ref()
        .map(|n| family::check(&mut ctx, n, cats))
        .unwrap_or_default();
    let sound = !errors_since(ctx.diags, before);
    let condition = condition::check(&mut ctx, when, cats);
    let head = if sound {
        head(&raw, values, explain, family)
    } else {
        None
    };
    Some(CheckedRule {
        file: raw.file,
        text: raw.text,
        line: raw.line,
        id: raw.id,
        head,
        condition,
    })
}

/// A rule's values other than its texts, checked.
struct Values {
    domain: Option<Domain>,
    kind: Option<RuleKind>,
    tier: Option<u8>,
    recommend: Vec<String>,
    enabled: Option<bool>,
    allow: Option<Vec<String>>,
}

impl Values {
    fn check(ctx: &mut Ctx, raw: &RawRule, cats: &Catalogues) -> Values {
        if let Some(id) = &raw.id
            && !is_kebab(&id.value)
        {
            ctx.error_at(
                &id.node,
                format!("rule id `{}` must be kebab-case", id.value),
                Some("use lowercase letters, digits and dashes, e.g. `chronic-absence`".into()),
            );
        }
        let kind = raw
            .kind
            .as_ref()
            .map_or(Some(RuleKind::Risk), |n| kind(ctx, n));
        let tier = match (kind, &raw.tier) {
            (Some(RuleKind::Strength), Some(n)) => {
                ctx.error_at(
                    n,
                    "a strength has no tier",
                    Some("strengths are what a student does well; remove `tier`".into()),
                );
                None
            }
            (Some(RuleKind::Strength), None) => Some(0),
            (_, t) => t.as_ref().and_then(|n| tier(ctx, n)),
        };
        if kind == Some(RuleKind::Strength)
            && let Some(first) = raw.recommend.first()
        {
            ctx.error_at(
                &first.node,
                "a strength recommends no intervention",
                Some("remove `recommend`; interventions answer risks".into()),
            );
        }
        Values {
            domain: raw.domain.as_ref().and_then(|n| domain(ctx, n)),
            kind,
            tier,
            recommend: recommend(ctx, &raw.recommend, cats),
            enabled: raw.enabled.as_ref().map_or(Some(true), |n| enabled(ctx, n)),
            allow: raw.allow.as_ref().map_or(Some(Vec::new()), |n| {
                allow(ctx, n, &crate::rules::analysis::KINDS)
            }),
        }
    }
}

/// The head of a rule whose every field is present and sound.
fn head(
    raw: &RawRule,
    values: Values,
    explain: Option<Template>,
    family: Vec<(String, String, Template)>,
) -> Option<Head> {
    Some(Head {
        id: raw.id.as_ref()?.value.clone(),
        name: raw.name.as_ref()?.value.clone(),
        domain: values.domain?,
        kind: values.kind?,
        tier: values.tier?,
        explain_text: raw.explain.as_ref()?.value.clone(),
        explain: explain?,
        family,
        recommend: values.recommend,
        references: raw.references.iter().map(|t| t.value.clone()).collect(),
        enabled: values.enabled?,
        allow: values.allow?,
        line: raw.line,
    })
}

/// Report a rule id defined twice, pointing at the second and naming the first.
fn duplicates(rules: &[CheckedRule], diags: &mut Vec<Diagnostic>) {
    let mut seen: HashMap<&str, &CheckedRule> = HashMap::new();
    for rule in rules {
        let Some(id) = rule.id.as_ref().filter(|t| !t.value.is_empty()) else {
            continue;
        };
        let Some(first) = seen.get(id.value.as_str()) else {
            seen.insert(&id.value, rule);
            continue;
        };
        let pos = id.node.pos;
        diags.push(
            Diagnostic::error(
                rule.file,
                pos.line,
                pos.col,
                format!("duplicate rule id `{}`", id.value),
            )
            .width(id.value.chars().count())
            .hint(format!(
                "`{}` is already defined at {}:{}; rule ids must be unique across the rule set",
                id.value, first.file, first.line
            ))
            .with_source(rule.text),
        );
    }
}

/// The interventions a rule recommends, each checked against the catalogue.
fn recommend(ctx: &mut Ctx, ids: &[Text], cats: &Catalogues) -> Vec<String> {
    for rid in ids {
        if cats.interventions_known && !cats.interventions.iter().any(|i| i.id == rid.value) {
            let hint = suggest(&rid.value, cats.interventions.iter().map(|i| i.id.as_str()));
            ctx.error_at(
                &rid.node,
                format!("unknown intervention `{}`", rid.value),
                Some(format!(
                    "{hint} (interventions are listed in interventions.yaml)"
                )),
            );
        }
    }
    ids.iter().map(|t| t.value.clone()).collect()
}

/// A lib file defines functions only; statements outside them would never run.
pub fn lib_top_level(name: &str, text: &str, diags: &mut Vec<Diagnostic>) {
    let a = expr::analyze(text);
    let mut depth = 0i32;
    let mut in_fn_header = false;
    for t in &a.tokens {
        let word = &text[t.span.clone()];
        match word {
            "{" => {
                depth += 1;
                in_fn_header = false;
            }
            "}" => depth -= 1,
            "fn" | "private" if depth == 0 => in_fn_header = true,
            _ if depth == 0 && !in_fn_header && word != ";" => {
                let before = &text[..t.span.start];
                let line = before.matches('\n').count() + 1;
                let col = before[before.rfind('\n').map_or(0, |i| i + 1)..]
                    .chars()
                    .count()
                    + 1;
                diags.push(Diagnostic::error(name, line, col, "lib files may only define functions").hint("move this statement into a function (`fn name(x) { ... }`) or into a rule's `when`").with_source(text));
                return;
            }
            _ => {}
        }
    }
}
