//! Loading a rule set: the stages in the order data flows, nothing else.
//!
//! ```text
//! directory ─read─► files ─decode─► RawRuleSet ─check─► CheckedRule ─compile─► RuleSet
//!                                   (as written)       (names, refs)   (slots, ASTs, probe)
//! ```
//!
//! Every stage reports into one list of located diagnostics and goes on, so one run
//! shows every problem; the rule set is built only when none is an error.

use std::collections::BTreeMap;
use std::path::Path;

use super::check::Catalogues;
use super::compile::{self, Compiler, Slots};
use super::model::{LoadError, Rule, RuleSet, version_of};
use super::sandbox::{self, Limits};
use super::template::{Part, Source};
use super::{analysis, check, raw, read};
use crate::record::facts::FieldRef;
use crate::record::privacy::{self, Policy};
use crate::source::Diagnostic;

impl RuleSet {
    /// Load and check the rule set in `dir`.
    pub fn load_dir(dir: &Path) -> Result<RuleSet, LoadError> {
        let files = read::read_dir(dir)?;
        Self::from_files(files)
    }

    /// Names of the rule-set files in `dir`, relative (`params.yaml`, `lib/x.rhai`).
    pub fn file_names(dir: &Path) -> Vec<String> {
        read::file_names(dir)
    }

    /// Check and compile a rule set from file texts keyed by relative path.
    pub fn from_files(files: BTreeMap<String, String>) -> Result<RuleSet, LoadError> {
        compile_files(files)
    }
}

/// Check and compile the rule set made of `files` (relative path → text).
fn compile_files(files: BTreeMap<String, String>) -> Result<RuleSet, LoadError> {
    let mut diags = Vec::new();
    let raw = raw::decode(&files, &mut diags);
    let catalogues = check::RawCatalogues {
        interventions: raw.interventions,
        params: raw.params,
        measures: raw.measures,
    };
    let cats = check::catalogues(catalogues, &files, &mut diags);
    for (name, text) in &raw.lib {
        check::lib_top_level(name, text, &mut diags);
    }
    let checked = check::rules(raw.rules, &cats, &mut diags);
    let engine = sandbox::engine(&Limits::default());
    let lib = compile::lib(&engine, &raw.lib, &mut diags);
    let slots = Slots::assign(&checked, &cats);
    let privacy = raw
        .privacy
        .map(|text| privacy::file::decode(text, &slots.fields, &mut diags))
        .unwrap_or_default();
    let compiler = Compiler {
        engine: &engine,
        lib: &lib,
        slots: &slots,
        cats: &cats,
    };
    let rules = compiler.rules(checked, &mut diags);
    let param_numbers: Vec<f64> = slots
        .params
        .iter()
        .map(|p| cats.params[p].as_f64())
        .collect();
    let bands = analysis::analyse(&analysis::Inputs {
        rules: &rules,
        slots: &slots.fields,
        params: &param_numbers,
        files: &files,
    });
    diags.extend(bands.warnings);
    diags.extend(bands.gaps.iter().cloned());
    diags.sort_by(|a, b| {
        (a.severity, &a.file, a.line, a.column).cmp(&(b.severity, &b.file, b.line, b.column))
    });
    if diags.iter().any(Diagnostic::is_error) {
        return Err(LoadError { diagnostics: diags });
    }
    let mut set = assemble(files, cats, rules, slots, privacy, diags);
    set.not_analysed = bands.not_analysed;
    set.neighbour_gaps = bands.gaps;
    set.band_findings = bands.findings;
    Ok(set)
}

/// The rule set from its compiled parts; `warnings` hold no error.
fn assemble(
    files: BTreeMap<String, String>,
    cats: Catalogues,
    rules: Vec<Rule>,
    slots: Slots,
    privacy: Policy,
    warnings: Vec<Diagnostic>,
) -> RuleSet {
    let param_values = slots
        .params
        .iter()
        .map(|p| sandbox::number_dynamic(&cats.params[p].value))
        .collect();
    let param_numbers = slots
        .params
        .iter()
        .map(|p| cats.params[p].as_f64())
        .collect();
    let history_paths = history_paths(&rules, &slots.fields);
    RuleSet {
        version: version_of(&files),
        rules,
        params: cats.params,
        interventions: cats.interventions,
        measures: cats.measures,
        privacy,
        files,
        warnings,
        not_analysed: Vec::new(),
        neighbour_gaps: Vec::new(),
        band_findings: Vec::new(),
        slot_names: (0..slots.fields.len())
            .map(|i| sandbox::var_name('s', i))
            .collect(),
        param_names: (0..slots.params.len())
            .map(|i| sandbox::var_name('p', i))
            .collect(),
        param_values,
        param_numbers,
        slot_paths: slots.fields.iter().map(FieldRef::history_path).collect(),
        first_history_slot: slots.first_history,
        slots: slots.fields,
        param_slots: slots.params,
        history_paths,
    }
}

/// The plan and history facts a condition or an explanation reads, as keys of
/// `HistoryFacts`, each once.
fn history_paths(rules: &[Rule], slots: &[FieldRef]) -> Vec<String> {
    let explained = rules
        .iter()
        .flat_map(|r| &r.explain.parts)
        .filter_map(|p| match p {
            Part::Value(Source::Student(f), _) => Some(f),
            _ => None,
        });
    let mut out: Vec<String> = Vec::new();
    for path in slots
        .iter()
        .chain(explained)
        .filter_map(FieldRef::history_path)
    {
        if !out.contains(&path) {
            out.push(path);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(pack: &str) -> BTreeMap<String, String> {
        let interventions = "interventions:\n  - id: check-in\n    name: Check-in\n    domain: academic\n    tier: 2\n";
        BTreeMap::from([
            ("interventions.yaml".to_string(), interventions.to_string()),
            ("pack.yaml".to_string(), pack.to_string()),
        ])
    }

    /// A rule with a condition but no `id` once ended the load with a panic (the
    /// duplicate check read the id's position unconditionally); it is an error.
    #[test]
    fn a_rule_without_an_id_is_reported_not_a_panic() {
        let pack = "rules:\n  - name: Low\n    domain: academic\n    tier: 1\n    when: student.gpa < 1.0\n    explain: low\n";
        let Err(e) = RuleSet::from_files(set(pack)) else {
            panic!("a rule without an id loaded");
        };
        let messages: Vec<_> = e.diagnostics.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(messages, ["a rule is missing `id`"]);
        assert_eq!((e.diagnostics[0].line, e.diagnostics[0].column), (2, 5));
    }

    /// A rule whose tier is wrong still has its condition checked and probed, and
    /// no rule is built from stand-in values.
    #[test]
    fn a_bad_tier_still_reports_the_condition() {
        let pack = "rules:\n  - id: low\n    name: Low\n    domain: academic\n    tier: 7\n    when: student.gpaa < 1.0\n    explain: low\n";
        let Err(e) = RuleSet::from_files(set(pack)) else {
            panic!("a bad tier loaded");
        };
        let messages: Vec<_> = e.diagnostics.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "`tier` must be 1, 2 or 3, found `7`",
                "unknown record field `gpaa`"
            ]
        );
    }
}
