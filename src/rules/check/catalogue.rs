//! Checking the catalogues: interventions (ids, domains, tiers) and params (names,
//! numbers), into the values the rules are checked against.

use std::collections::BTreeMap;

use super::values::{domain, is_kebab, tier};
use crate::rules::model::{Intervention, Param};
use crate::rules::raw::{Catalogue, RawIntervention, RawParam, Text};
use crate::source::diag::Diagnostic;
use crate::source::yaml::{self, Kind, Node};
use crate::source::{Ctx, Severity};

/// The catalogues a rule is checked against.
#[derive(Debug)]
pub struct Catalogues {
    pub interventions: Vec<Intervention>,
    /// False when interventions.yaml is missing or unreadable: its own error
    /// explains, and `recommend` lists are not checked against it.
    pub interventions_known: bool,
    pub params: BTreeMap<String, Param>,
    /// False when params.yaml exists but cannot be read: its own error explains, and
    /// `params.` references are not checked against it.
    pub params_known: bool,
}

/// Check both catalogues of `files`.
pub fn check(
    interventions: Catalogue<RawIntervention>,
    params: Catalogue<RawParam>,
    files: &BTreeMap<String, String>,
    diags: &mut Vec<Diagnostic>,
) -> Catalogues {
    let text = |name: &str| files.get(name).map_or("", String::as_str);
    let (interventions, interventions_known) = match interventions {
        Catalogue::Read(raw) => {
            let text = text("interventions.yaml");
            let mut ctx = Ctx::new("interventions.yaml", text, diags);
            (check_interventions(&mut ctx, raw), true)
        }
        Catalogue::Absent | Catalogue::Unreadable => (Vec::new(), false),
    };
    let (params, params_known) = match params {
        Catalogue::Absent => (BTreeMap::new(), true),
        Catalogue::Unreadable => (BTreeMap::new(), false),
        Catalogue::Read(raw) => {
            let before = diags.len();
            let mut ctx = Ctx::new("params.yaml", text("params.yaml"), diags);
            let params = check_params(&mut ctx, raw);
            let known = !diags[before..]
                .iter()
                .any(|d| d.severity == Severity::Error);
            (params, known)
        }
    };
    Catalogues {
        interventions,
        interventions_known,
        params,
        params_known,
    }
}

fn check_interventions(ctx: &mut Ctx, raw: Vec<RawIntervention>) -> Vec<Intervention> {
    let mut out: Vec<Intervention> = Vec::new();
    for item in raw {
        let domain = item.domain.as_ref().and_then(|n| domain(ctx, n));
        let tier = item.tier.as_ref().and_then(|n| tier(ctx, n));
        let (Some(id), Some(name), Some(domain), Some(tier)) = (item.id, item.name, domain, tier)
        else {
            continue;
        };
        if !is_kebab(&id.value) {
            ctx.error_at(
                &id.node,
                format!("intervention id `{}` must be kebab-case", id.value),
                Some("use lowercase letters, digits and dashes, e.g. `check-in-check-out`".into()),
            );
        } else if out.iter().any(|i| i.id == id.value) {
            ctx.error_at(
                &id.node,
                format!("duplicate intervention id `{}`", id.value),
                None,
            );
        }
        let text = |t: Option<Text>| t.map(|t| t.value).unwrap_or_default();
        out.push(Intervention {
            id: id.value,
            name: name.value,
            domain,
            tier,
            description: text(item.description),
            monitoring: text(item.monitoring),
        });
    }
    out
}

fn is_param_name(name: &str) -> bool {
    let mut b = name.bytes();
    b.next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == b'_')
        && b.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
}

fn check_params(ctx: &mut Ctx, raw: Vec<RawParam>) -> BTreeMap<String, Param> {
    let mut out = BTreeMap::new();
    for RawParam { name, value } in raw {
        if !is_param_name(&name.value) {
            ctx.error_at(
                &name.node,
                format!("param name `{}` must be snake_case", name.value),
                Some("use lowercase letters, digits and `_`, e.g. `low_gpa`".into()),
            );
            continue;
        }
        if let Some(param) = param(ctx, &name.value, &value) {
            out.insert(name.value, param);
        }
    }
    out
}

/// One param's value: a number, or a mapping of `value` and `description`.
fn param(ctx: &mut Ctx, name: &str, v: &Node) -> Option<Param> {
    let (value_node, description) = match &v.kind {
        Kind::Map(_) => {
            let f = ctx.fields(
                v,
                &format!("param `{name}`"),
                &["value", "description"],
                &["value"],
            )?;
            let desc = f
                .get("description")
                .and_then(|n| ctx.string(n, "description"))
                .unwrap_or_default();
            (*f.get("value")?, desc)
        }
        _ => (v, String::new()),
    };
    match yaml::to_json(value_node) {
        serde_json::Value::Number(value) => Some(Param { value, description }),
        _ => {
            ctx.error_at(
                value_node,
                format!("param `{name}` must be a number"),
                Some("params hold thresholds such as `0.10` or `2`; conditions belong in the rule files".into()),
            );
            None
        }
    }
}
