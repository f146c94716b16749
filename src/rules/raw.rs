//! Stage 3 of loading: the rule set as written, decoded from its YAML trees.
//!
//! Decoding checks only shape: each file is a mapping with the known keys, each key
//! holds text, a list or a mapping as the format says. Values are kept as written,
//! with their nodes (so later stages can point at them); what they mean (a domain, a
//! tier, a field a condition reads) is the checker's job ([`super::check`]). A value
//! that is absent or of the wrong shape is `None` here, never a stand-in.

use std::collections::BTreeMap;

use crate::source::ctx::{Ctx, parse_yaml};
use crate::source::yaml::{Kind, Node};
use crate::source::{Diagnostic, Severity};

/// A text value as written, with its node.
#[derive(Debug, Clone)]
pub struct Text {
    pub value: String,
    pub node: Node,
}

/// A catalogue file (`interventions.yaml`, `params.yaml`) as decoded.
#[derive(Debug)]
pub enum Catalogue<T> {
    /// The file is not in the set.
    Absent,
    /// The file could not be read as a catalogue; its own error explains.
    Unreadable,
    /// The entries that could be decoded (problems with the others are reported).
    Read(Vec<T>),
}

/// One entry of `interventions.yaml`, before its values are checked.
#[derive(Debug)]
pub struct RawIntervention {
    pub id: Option<Text>,
    pub name: Option<Text>,
    pub domain: Option<Node>,
    pub tier: Option<Node>,
    pub description: Option<Text>,
    pub monitoring: Option<Text>,
    pub progress_measure: Option<Text>,
    pub default_weeks: Option<Node>,
    pub sessions_per_week: Option<Node>,
    /// `family: {en: "...", es: "..."}`: what the intervention is, in a family's words.
    pub family: Option<Node>,
}

/// One entry of `measures.yaml`, before its values are checked.
#[derive(Debug)]
pub struct RawMeasure {
    pub id: Option<Text>,
    pub name: Option<Text>,
    pub unit: Option<Text>,
    pub min: Option<Node>,
    pub max: Option<Node>,
    pub better: Option<Node>,
    pub description: Option<Text>,
}

/// One line of `params.yaml`: a name and what it maps to (a number, or a mapping of
/// `value` and `description`).
#[derive(Debug)]
pub struct RawParam {
    pub name: Text,
    pub value: Node,
}

/// One rule of a pack, before its values are checked.
#[derive(Debug)]
pub struct RawRule<'f> {
    /// The pack file and its text.
    pub file: &'f str,
    pub text: &'f str,
    /// Where the rule starts.
    pub line: usize,
    pub id: Option<Text>,
    pub name: Option<Text>,
    pub domain: Option<Node>,
    pub tier: Option<Node>,
    pub when: Option<Text>,
    pub explain: Option<Text>,
    pub recommend: Vec<Text>,
    pub references: Vec<Text>,
    pub enabled: Option<Node>,
    /// `kind: risk` (the default) or `kind: strength`.
    pub kind: Option<Node>,
    /// `family: {en: "...", es: "..."}`: the explanation for families, per language.
    pub family: Option<Node>,
    /// `allow: {overlap: "why"}`: band-analysis warnings this rule silences.
    pub allow: Option<Node>,
}

/// A rule set as written.
#[derive(Debug)]
pub struct RawRuleSet<'f> {
    pub interventions: Catalogue<RawIntervention>,
    pub params: Catalogue<RawParam>,
    /// `measures.yaml` (optional).
    pub measures: Catalogue<RawMeasure>,
    /// The rules of every pack, in file order.
    pub rules: Vec<RawRule<'f>>,
    /// `lib/*.rhai`: name and text.
    pub lib: Vec<(&'f str, &'f str)>,
    /// The text of `privacy.yaml`, when the set has one.
    pub privacy: Option<&'f str>,
}

/// The keys a rule may have.
const RULE_KEYS: [&str; 12] = [
    "kind",
    "allow",
    "family",
    "id",
    "name",
    "domain",
    "tier",
    "when",
    "explain",
    "recommend",
    "references",
    "enabled",
];

/// Decode every file of the set, reporting every problem of shape.
pub fn decode<'f>(
    files: &'f BTreeMap<String, String>,
    diags: &mut Vec<Diagnostic>,
) -> RawRuleSet<'f> {
    let interventions = interventions(files.get("interventions.yaml"), diags);
    let params = params(files.get("params.yaml"), diags);
    let measures = measures(files.get("measures.yaml"), diags);
    let mut rules = Vec::new();
    for (name, text) in files {
        let is_pack = !name.contains('/')
            && !matches!(
                name.as_str(),
                "interventions.yaml" | "params.yaml" | "privacy.yaml" | "measures.yaml"
            );
        if is_pack {
            pack(name, text, &mut rules, diags);
        }
    }
    let lib = files
        .iter()
        .filter(|(k, _)| k.starts_with("lib/"))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    RawRuleSet {
        interventions,
        params,
        measures,
        rules,
        lib,
        privacy: files.get("privacy.yaml").map(String::as_str),
    }
}

fn interventions(text: Option<&String>, diags: &mut Vec<Diagnostic>) -> Catalogue<RawIntervention> {
    const FILE: &str = "interventions.yaml";
    let Some(text) = text else {
        diags.push(
            Diagnostic::error(FILE, 0, 0, "the rule set has no interventions.yaml")
                .hint("add the catalogue of interventions the rules recommend"),
        );
        return Catalogue::Absent;
    };
    let Some(root) = parse_yaml(FILE, text, diags) else {
        return Catalogue::Unreadable;
    };
    let mut ctx = Ctx::new(FILE, text, diags);
    let Some(top) = ctx.fields(&root, FILE, &["interventions"], &["interventions"]) else {
        return Catalogue::Read(Vec::new());
    };
    let Some(list) = top.get("interventions") else {
        return Catalogue::Read(Vec::new());
    };
    let Kind::Seq(items) = &list.kind else {
        ctx.error_at(
            list,
            "`interventions` must be a list of interventions",
            None,
        );
        return Catalogue::Read(Vec::new());
    };
    Catalogue::Read(
        items
            .iter()
            .filter_map(|i| intervention(&mut ctx, i))
            .collect(),
    )
}

fn intervention(ctx: &mut Ctx, item: &Node) -> Option<RawIntervention> {
    let keys = [
        "id",
        "name",
        "domain",
        "tier",
        "description",
        "monitoring",
        "progress_measure",
        "default_weeks",
        "sessions_per_week",
        "family",
    ];
    let f = ctx.fields(
        item,
        "an intervention",
        &keys,
        &["id", "name", "domain", "tier"],
    )?;
    let mut text = |k: &str| text_at(ctx, f.get(k).copied(), k);
    Some(RawIntervention {
        id: text("id"),
        name: text("name"),
        domain: f.get("domain").map(|n| (*n).clone()),
        tier: f.get("tier").map(|n| (*n).clone()),
        description: text("description"),
        monitoring: text("monitoring"),
        progress_measure: text("progress_measure"),
        default_weeks: f.get("default_weeks").map(|n| (*n).clone()),
        sessions_per_week: f.get("sessions_per_week").map(|n| (*n).clone()),
        family: f.get("family").map(|n| (*n).clone()),
    })
}

/// The keys a measure of `measures.yaml` may have.
const MEASURE_KEYS: [&str; 7] = ["id", "name", "unit", "min", "max", "better", "description"];

fn measures(text: Option<&String>, diags: &mut Vec<Diagnostic>) -> Catalogue<RawMeasure> {
    const FILE: &str = "measures.yaml";
    let Some(text) = text else {
        return Catalogue::Absent;
    };
    let Some(root) = parse_yaml(FILE, text, diags) else {
        return Catalogue::Unreadable;
    };
    if root.is_null() {
        return Catalogue::Read(Vec::new());
    }
    let mut ctx = Ctx::new(FILE, text, diags);
    let Some(top) = ctx.fields(&root, FILE, &["measures"], &["measures"]) else {
        return Catalogue::Unreadable;
    };
    let Some(list) = top.get("measures") else {
        return Catalogue::Unreadable;
    };
    let Kind::Seq(items) = &list.kind else {
        if !list.is_null() {
            ctx.error_at(
                list,
                "`measures` must be a list of measures",
                Some("start each measure with `- id: ...`".into()),
            );
            return Catalogue::Unreadable;
        }
        return Catalogue::Read(Vec::new());
    };
    Catalogue::Read(items.iter().filter_map(|i| measure(&mut ctx, i)).collect())
}

fn measure(ctx: &mut Ctx, item: &Node) -> Option<RawMeasure> {
    let required = ["id", "name", "unit", "min", "max", "better"];
    let f = ctx.fields(item, "a measure", &MEASURE_KEYS, &required)?;
    let node = |k: &str| f.get(k).map(|n| (*n).clone());
    let (min, max, better) = (node("min"), node("max"), node("better"));
    let mut text = |k: &str| text_at(ctx, f.get(k).copied(), k);
    Some(RawMeasure {
        id: text("id"),
        name: text("name"),
        unit: text("unit"),
        min,
        max,
        better,
        description: text("description"),
    })
}

/// The text at `node` (when present), reported when it is not text.
fn text_at(ctx: &mut Ctx, node: Option<&Node>, what: &str) -> Option<Text> {
    let node = node?;
    ctx.string(node, what).map(|value| Text {
        value,
        node: node.clone(),
    })
}

fn params(text: Option<&String>, diags: &mut Vec<Diagnostic>) -> Catalogue<RawParam> {
    const FILE: &str = "params.yaml";
    let Some(text) = text else {
        return Catalogue::Absent;
    };
    let Some(root) = parse_yaml(FILE, text, diags) else {
        return Catalogue::Unreadable;
    };
    if root.is_null() {
        return Catalogue::Read(Vec::new());
    }
    let Kind::Map(entries) = &root.kind else {
        Ctx::new(FILE, text, diags).error_at(
            &root,
            "params.yaml must map names to numbers, like `low_gpa: 2.0`",
            None,
        );
        return Catalogue::Unreadable;
    };
    let params = entries
        .iter()
        .filter_map(|(k, v)| {
            let value = k.as_str()?.to_string();
            Some(RawParam {
                name: Text {
                    value,
                    node: k.clone(),
                },
                value: v.clone(),
            })
        })
        .collect();
    Catalogue::Read(params)
}

/// Decode the rule pack `name` into `rules`.
fn pack<'f>(
    name: &'f str,
    text: &'f str,
    rules: &mut Vec<RawRule<'f>>,
    diags: &mut Vec<Diagnostic>,
) {
    let Some(root) = parse_yaml(name, text, diags) else {
        return;
    };
    let mut ctx = Ctx::new(name, text, diags);
    let Some(top) = ctx.fields(&root, "a rule pack", &["description", "rules"], &["rules"]) else {
        return;
    };
    if let Some(d) = top.get("description") {
        ctx.string(d, "description");
    }
    let Some(list) = top.get("rules") else { return };
    let Kind::Seq(items) = &list.kind else {
        ctx.error_at(
            list,
            "`rules` must be a list of rules",
            Some("start each rule with `- id: ...`".into()),
        );
        return;
    };
    rules.extend(
        items
            .iter()
            .filter_map(|item| rule(&mut ctx, name, text, item)),
    );
}

fn rule<'f>(ctx: &mut Ctx, file: &'f str, text: &'f str, item: &Node) -> Option<RawRule<'f>> {
    // A strength has no tier; every other rule needs one.
    let strength = matches!(&item.kind, Kind::Map(entries) if entries.iter().any(|(k, v)| {
        k.as_str() == Some("kind") && v.as_str() == Some("strength")
    }));
    let required: &[&str] = if strength {
        &["id", "name", "domain", "when", "explain"]
    } else {
        &["id", "name", "domain", "tier", "when", "explain"]
    };
    let f = ctx.fields(item, "a rule", &RULE_KEYS, required)?;
    let node = |k: &str| f.get(k).map(|n| (*n).clone());
    let mut list = |k: &str| {
        f.get(k).map_or_else(Vec::new, |n| {
            ctx.string_list(n, k)
                .into_iter()
                .map(|(value, node)| Text { value, node })
                .collect()
        })
    };
    let (recommend, references) = (list("recommend"), list("references"));
    let mut text_of = |k: &str| text_at(ctx, f.get(k).copied(), k);
    Some(RawRule {
        file,
        text,
        line: item.pos.line,
        id: text_of("id"),
        name: text_of("name"),
        when: text_of("when"),
        explain: text_of("explain"),
        domain: node("domain"),
        tier: node("tier"),
        recommend,
        references,
        enabled: node("enabled"),
        kind: node("kind"),
        family: node("family"),
        allow: node("allow"),
    })
}

/// Whether the diagnostics from index `from` on hold an error.
pub fn errors_since(diags: &[Diagnostic], from: usize) -> bool {
    diags[from..].iter().any(|d| d.severity == Severity::Error)
}
