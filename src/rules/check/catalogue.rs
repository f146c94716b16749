//! Checking the catalogues: measures (see [`super::measures`]), interventions (ids,
//! domains, tiers, progress measures, default weeks and sessions) and params (names,
//! numbers), into the values the rules are checked against.

use std::collections::BTreeMap;

use super::values::{domain, is_kebab, number, tier};
use crate::rules::measure::{Measure, RECORD_MEASURES, record_measure};
use crate::rules::model::{Intervention, Param};
use crate::rules::raw::{Catalogue, RawIntervention, RawMeasure, RawParam, Text};
use crate::source::diag::Diagnostic;
use crate::source::diag::suggest;
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
    /// The manual measures of `measures.yaml` (empty without one).
    pub measures: Vec<Measure>,
}

/// The raw catalogue files of a set.
pub struct RawCatalogues {
    pub interventions: Catalogue<RawIntervention>,
    pub params: Catalogue<RawParam>,
    pub measures: Catalogue<RawMeasure>,
}

/// Check the catalogues of `files`.
pub fn check(
    raw: RawCatalogues,
    files: &BTreeMap<String, String>,
    diags: &mut Vec<Diagnostic>,
) -> Catalogues {
    let RawCatalogues {
        interventions,
        params,
        measures,
    } = raw;
    let text = |name: &str| files.get(name).map_or("", String::as_str);
    let (measures, declared) = match measures {
        Catalogue::Read(raw) => {
            let mut ctx = Ctx::new("measures.yaml", text("measures.yaml"), diags);
            let (measures, declared) = super::measures::check(&mut ctx, raw);
            (measures, Some(declared))
        }
        Catalogue::Absent => (Vec::new(), Some(Vec::new())),
        Catalogue::Unreadable => (Vec::new(), None),
    };
    let (interventions, interventions_known) = match interventions {
        Catalogue::Read(raw) => {
            let text = text("interventions.yaml");
            let mut ctx = Ctx::new("interventions.yaml", text, diags);
            (
                check_interventions(&mut ctx, raw, declared.as_deref()),
                true,
            )
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
        measures,
    }
}

/// An intervention's `progress_measure`: a record indicator or a measure id declared
/// in `measures.yaml` (`None`: the file is unreadable and its own error explains).
fn progress_measure(ctx: &mut Ctx, t: &Text, declared: Option<&[String]>) {
    let Some(declared) = declared else { return };
    let v = t.value.as_str();
    if record_measure(v).is_some() || declared.iter().any(|m| m == v) {
        return;
    }
    let names = RECORD_MEASURES
        .iter()
        .map(|m| m.name)
        .chain(declared.iter().map(String::as_str));
    ctx.error_at(
        &t.node,
        format!("unknown progress measure `{v}`"),
        Some(format!(
            "{} (a record indicator, or a measure of measures.yaml)",
            suggest(v, names)
        )),
    );
}

/// `default_weeks`: a whole number of weeks, 1 to 52.
fn default_weeks(ctx: &mut Ctx, node: &Node) -> Option<u8> {
    match node.as_str().and_then(|s| s.parse::<u8>().ok()) {
        Some(w @ 1..=52) => Some(w),
        _ => {
            ctx.error_at(
                node,
                format!(
                    "`default_weeks` must be a whole number from 1 to 52, found `{}`",
                    node.as_str().unwrap_or("?")
                ),
                Some("tier 2 plans commonly run 6 to 8 weeks".into()),
            );
            None
        }
    }
}

/// `sessions_per_week`: more than 0, at most 14.
fn sessions_per_week(ctx: &mut Ctx, node: &Node) -> Option<f64> {
    let n = number(ctx, node, "sessions_per_week")?;
    if n > 0.0 && n <= 14.0 {
        return Some(n);
    }
    ctx.error_at(
        node,
        format!("`sessions_per_week` must be more than 0 and at most 14, found `{n}`"),
        Some(
            "e.g. `5` for daily on school days, `1` for weekly, `0.5` for every other week".into(),
        ),
    );
    None
}

fn check_interventions(
    ctx: &mut Ctx,
    raw: Vec<RawIntervention>,
    declared: Option<&[String]>,
) -> Vec<Intervention> {
    let mut out: Vec<Intervention> = Vec::new();
    for item in raw {
        let domain = item.domain.as_ref().and_then(|n| domain(ctx, n));
        let tier = item.tier.as_ref().and_then(|n| tier(ctx, n));
        if let Some(t) = &item.progress_measure {
            progress_measure(ctx, t, declared);
        }
        let weeks = item
            .default_weeks
            .as_ref()
            .and_then(|n| default_weeks(ctx, n));
        let sessions = item
            .sessions_per_week
            .as_ref()
            .and_then(|n| sessions_per_week(ctx, n));
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
            progress_measure: item.progress_measure.map(|t| t.value),
            default_weeks: weeks,
            sessions_per_week: sessions,
            family: item
                .family
                .as_ref()
                .map(|n| super::family::plain(ctx, n).into_iter().collect())
                .unwrap_or_default(),
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
