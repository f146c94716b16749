//! Checking single values against what the format allows: kebab-case ids, domain
//! names, MTSS tiers, `true`/`false`, finite numbers.

use crate::rules::model::{Domain, RuleKind};
use crate::source::Ctx;
use crate::source::diag::suggest;
use crate::source::yaml::{Kind, Node};
use yaml_rust2::scanner::TScalarStyle;

/// Whether `id` is kebab-case (`chronic-absence`), at most 64 characters.
pub fn is_kebab(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id.split('-').all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

/// A domain by name; an unknown one is reported with the nearest.
pub fn domain(ctx: &mut Ctx, node: &Node) -> Option<Domain> {
    let s = node.as_str().unwrap_or_default();
    let d = Domain::parse(s);
    if d.is_none() {
        ctx.error_at(
            node,
            format!("unknown domain `{s}`"),
            Some(suggest(s, Domain::ALL.iter().map(|d| d.as_str()))),
        );
    }
    d
}

/// An MTSS tier: 1, 2 or 3.
pub fn tier(ctx: &mut Ctx, node: &Node) -> Option<u8> {
    match node.as_str().and_then(|s| s.parse::<u8>().ok()) {
        Some(t @ 1..=3) => Some(t),
        _ => {
            ctx.error_at(
                node,
                format!(
                    "`tier` must be 1, 2 or 3, found `{}`",
                    node.as_str().unwrap_or("?")
                ),
                Some("MTSS tiers: 1 universal, 2 targeted, 3 intensive".into()),
            );
            None
        }
    }
}

/// `kind: risk` or `kind: strength`.
pub fn kind(ctx: &mut Ctx, node: &Node) -> Option<RuleKind> {
    match node.as_str() {
        Some("risk") => Some(RuleKind::Risk),
        Some("strength") => Some(RuleKind::Strength),
        other => {
            let s = other.unwrap_or_default();
            ctx.error_at(
                node,
                format!("unknown kind `{s}`"),
                Some(suggest(s, ["risk", "strength"])),
            );
            None
        }
    }
}

/// `enabled: true` or `enabled: false`.
pub fn enabled(ctx: &mut Ctx, node: &Node) -> Option<bool> {
    match node.as_str() {
        Some("true") => Some(true),
        Some("false") => Some(false),
        _ => {
            ctx.error_at(node, "`enabled` must be true or false", None);
            None
        }
    }
}

/// A finite number (`min: 0`, `sessions_per_week: 2.5`); YAML's `.inf` and `.nan`, a
/// number too large for a float, or anything that is not a number is reported.
pub fn number(ctx: &mut Ctx, node: &Node, what: &str) -> Option<f64> {
    let plain = matches!(&node.kind, Kind::Scalar(_, TScalarStyle::Plain)) && !node.is_null();
    let text = node.as_str().filter(|_| plain).unwrap_or_default();
    let yaml_special = matches!(
        text.trim_start_matches(['+', '-'])
            .to_ascii_lowercase()
            .as_str(),
        ".inf" | ".nan"
    );
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() && !yaml_special => Some(v),
        Ok(_) => non_finite(ctx, node, what, text),
        Err(_) if yaml_special => non_finite(ctx, node, what, text),
        Err(_) => {
            let found = if plain {
                format!("`{text}`")
            } else {
                node.describe().to_string()
            };
            ctx.error_at(
                node,
                format!("`{what}` must be a number, found {found}"),
                None,
            );
            None
        }
    }
}

fn non_finite(ctx: &mut Ctx, node: &Node, what: &str, text: &str) -> Option<f64> {
    ctx.error_at(
        node,
        format!("`{what}` must be a finite number, found `{text}`"),
        Some("write an ordinary number such as `0` or `250`".into()),
    );
    None
}

/// `allow:` of a rule: each band-analysis warning kind it silences, with a reason
/// (`allow: {overlap: "the pilot keeps both on purpose"}`).
pub fn allow(ctx: &mut Ctx, node: &Node, kinds: &[&'static str]) -> Option<Vec<String>> {
    let hint = "write `allow: {overlap: \"why both may fire\"}`: each warning kind with the reason it is allowed";
    let Kind::Map(entries) = &node.kind else {
        ctx.error_at(
            node,
            "`allow` must map warning kinds to reasons",
            Some(hint.into()),
        );
        return None;
    };
    let mut out = Vec::new();
    let mut ok = true;
    for (k, v) in entries {
        let name = k.as_str().unwrap_or_default();
        if !kinds.contains(&name) {
            ctx.error_at(
                k,
                format!("unknown warning kind `{name}` in `allow`"),
                Some(suggest(name, kinds.iter().copied())),
            );
            ok = false;
            continue;
        }
        if v.as_str().is_none_or(|r| r.trim().is_empty()) {
            ctx.error_at(
                k,
                format!("`allow: {name}` needs a reason"),
                Some(hint.into()),
            );
            ok = false;
            continue;
        }
        out.push(name.to_string());
    }
    ok.then_some(out)
}
