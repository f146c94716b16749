//! The rule set's types as the rest of the crate sees them: domains, interventions,
//! params, compiled rules, the [`RuleSet`] and why one could not be loaded.
//!
//! The bottom of `rules`: the loading stages build these and the engine reads them;
//! this module imports none of the stages.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::expr::CmpOp;
use super::measure::{GoalMeasure, Measure, RECORD_MEASURES, record_measure};
use super::native;
use super::template::Template;
use crate::record::facts::FieldRef;
use crate::source::diag::{self, Diagnostic};

/// The four early-warning domains.
#[derive(
    utoipa::ToSchema,
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Domain {
    Attendance,
    Academic,
    Behavioral,
    SocialEmotional,
}

impl Domain {
    pub const ALL: [Domain; 4] = [
        Domain::Attendance,
        Domain::Academic,
        Domain::Behavioral,
        Domain::SocialEmotional,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Domain::Attendance => "attendance",
            Domain::Academic => "academic",
            Domain::Behavioral => "behavioral",
            Domain::SocialEmotional => "social_emotional",
        }
    }

    pub fn parse(s: &str) -> Option<Domain> {
        Domain::ALL.into_iter().find(|d| d.as_str() == s)
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of the intervention catalogue.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize)]
pub struct Intervention {
    pub id: String,
    pub name: String,
    pub domain: Domain,
    pub tier: u8,
    pub description: String,
    pub monitoring: String,
    /// What a plan for it usually measures: a record indicator or a measure id of
    /// `measures.yaml`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress_measure: Option<String>,
    /// How many weeks a plan for it usually runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 52)]
    pub default_weeks: Option<u8>,
    /// Sessions a week when a plan does not say (more than 0, at most 14).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(exclusive_minimum = 0, maximum = 14)]
    pub sessions_per_week: Option<f64>,
    /// What it is, in a family's words, per language (`en`, `es`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub family: BTreeMap<String, String>,
}

/// A named threshold.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize)]
pub struct Param {
    #[schema(value_type = f64)]
    pub value: serde_json::Number,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
}

impl Param {
    pub fn as_f64(&self) -> f64 {
        self.value.as_f64().unwrap_or(f64::NAN)
    }
}

/// What a rule reports when its condition holds.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    /// A flag with a tier and recommendations.
    #[default]
    Risk,
    /// Something the student does well: noted first for the team and the family; no
    /// tier, no recommendation.
    Strength,
}

impl RuleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::Risk => "risk",
            RuleKind::Strength => "strength",
        }
    }
}

/// A threshold comparison of a rule, used to say what would clear its flag.
#[derive(Debug, Clone, PartialEq)]
pub struct Clearing {
    pub field: FieldRef,
    /// The comparison as written with the field on the left, e.g. `>=`.
    pub op: CmpOp,
    pub threshold: f64,
}

/// A gap or an overlap the band analysis warned of: its indicator and interval,
/// for counting the students in it.
#[derive(Debug, Clone, PartialEq)]
pub struct BandFinding {
    pub field: FieldRef,
    /// Lower and upper end, each with whether it is included.
    pub bounds: ((f64, bool), (f64, bool)),
    /// The warning's message.
    pub message: String,
}

impl BandFinding {
    /// Whether `x` lies in the interval.
    pub fn contains(&self, x: f64) -> bool {
        let ((lo, lo_in), (hi, hi_in)) = self.bounds;
        (x > lo || (lo_in && x == lo)) && (x < hi || (hi_in && x == hi))
    }
}

/// A checked, compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub id: String,
    pub name: String,
    pub domain: Domain,
    /// A risk (flags, tiers, recommendations) or a strength (noted, nothing more).
    pub kind: RuleKind,
    /// The MTSS tier of a risk; 0 for a strength.
    pub tier: u8,
    /// The condition as written.
    pub when: String,
    /// Line and column where the condition starts in `file`.
    pub when_at: (usize, usize),
    /// The explanation template as written.
    pub explain_text: String,
    pub explain: Template,
    /// The explanation for families, per language (`en`, `es`): as written, and parsed.
    pub family_text: BTreeMap<String, String>,
    pub family: BTreeMap<String, Template>,
    pub recommend: Vec<String>,
    pub references: Vec<String>,
    pub enabled: bool,
    /// Band-analysis warning kinds it silences (`allow:`, each with a reason).
    pub allow: Vec<String>,
    /// Where the rule is defined.
    pub file: String,
    pub line: usize,
    /// Student fields the condition reads, in order of first use.
    pub reads: Vec<FieldRef>,
    /// Params the condition reads, in order of first use.
    pub params_read: Vec<String>,
    pub clearing: Vec<Clearing>,
    /// Compiled condition (lib functions merged in).
    pub(crate) ast: rhai::AST,
    /// Scope slots (see [`RuleSet::slots`]) of `reads`.
    pub(crate) read_slots: Vec<usize>,
    /// The condition as native comparisons, when it is only that (see [`native`]).
    pub(crate) native: Option<native::Native>,
}

impl Rule {
    /// Whether the condition runs as native comparisons rather than in Rhai.
    pub fn is_native(&self) -> bool {
        self.native.is_some()
    }

    /// The condition as native comparisons, when it compiled to them: its
    /// [`native::Operand::Slot`] and `Flag` index [`RuleSet::fields_read`], its
    /// `Param` index [`RuleSet::param_slot`].
    pub fn native(&self) -> Option<&native::Native> {
        self.native.as_ref()
    }

    /// Whether the condition reads a plan or history fact (without them, the rule
    /// is always `insufficient_data`).
    pub fn reads_history(&self) -> bool {
        self.reads.iter().any(|f| f.history_path().is_some())
    }
}

/// A loaded rule set: immutable, shared by every evaluation that uses it.
#[derive(Debug, Clone)]
pub struct RuleSet {
    /// `sha256:<hex>` over the canonical content of the files.
    pub version: String,
    pub rules: Vec<Rule>,
    pub params: BTreeMap<String, Param>,
    pub interventions: Vec<Intervention>,
    /// The manual progress measures of `measures.yaml` (empty without one).
    pub measures: Vec<Measure>,
    /// What the audit log keeps of each record field (`privacy.yaml`; empty: all).
    pub privacy: crate::record::privacy::Policy,
    /// Every file of the set, by relative path (what the version covers).
    pub files: BTreeMap<String, String>,
    /// Warnings found while loading (errors prevent loading).
    pub warnings: Vec<Diagnostic>,
    /// Ids of the rules whose conditions the band analysis cannot read (anything
    /// but comparisons of one number with params or numbers joined by `&&`); they
    /// are neither warned about nor counted in another rule's band.
    pub not_analysed: Vec<String>,
    /// The gap warnings between neighbouring bands (also in `warnings`).
    pub(crate) neighbour_gaps: Vec<Diagnostic>,
    /// The gaps and overlaps warned of, with indicator and interval (the preview
    /// counts the stored students in each).
    pub band_findings: Vec<BandFinding>,
    /// Student fields the rules read, in scope order: slot `i` is variable `_s{i}`.
    pub(crate) slots: Vec<FieldRef>,
    /// Params in scope order: slot `i` is variable `_p{i}`.
    pub(crate) param_slots: Vec<String>,
    /// Scope variable names of `slots` and `param_slots`, and the param values.
    pub(crate) slot_names: Vec<&'static str>,
    pub(crate) param_names: Vec<&'static str>,
    pub(crate) param_values: Vec<rhai::Dynamic>,
    /// Param values as numbers, for native conditions.
    pub(crate) param_numbers: Vec<f64>,
    /// The plan and history facts conditions and explanations read (see
    /// [`RuleSet::history_paths`]).
    pub(crate) history_paths: Vec<String>,
    /// The history-facts key of each of `slots` that is a plan or history fact.
    pub(crate) slot_paths: Vec<Option<String>>,
    /// The first of `slots` that is a plan or history fact (record fields come
    /// first): without history, only the slots before it are computed.
    pub(crate) first_history_slot: usize,
}

/// Why a rule set could not be loaded: every problem found, errors and warnings.
#[derive(Debug, Clone)]
pub struct LoadError {
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(diag::render(&self.diagnostics).trim_end())
    }
}

impl std::error::Error for LoadError {}

impl RuleSet {
    /// Every student field any rule of the set reads.
    pub fn fields_read(&self) -> &[FieldRef] {
        &self.slots
    }

    /// The name of the param a native condition's [`native::Operand::Param`]`(i)`
    /// reads.
    pub fn param_slot(&self, i: usize) -> Option<&str> {
        self.param_slots.get(i).map(String::as_str)
    }

    /// The plan and history facts the rules read (in conditions or explanations),
    /// as keys of [`crate::record::HistoryFacts`] (`plans.academic.points_off_aim`):
    /// what a caller needs to compute, and what the audit log keeps of them. Empty
    /// when no rule reads any, so callers can skip computing them.
    pub fn history_paths(&self) -> &[String] {
        &self.history_paths
    }

    /// Whether any rule reads a plan or history fact.
    pub fn reads_history(&self) -> bool {
        !self.history_paths.is_empty()
    }

    /// Every enabled rule runs as native comparisons (see `native`): evaluating a
    /// record costs a few microseconds and never enters the script engine, so it
    /// cannot run long whatever the record holds.
    pub fn is_native_only(&self) -> bool {
        self.rules.iter().all(|r| !r.enabled || r.native.is_some())
    }

    pub fn rule(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }

    pub fn intervention(&self, id: &str) -> Option<&Intervention> {
        self.interventions.iter().find(|i| i.id == id)
    }

    /// The manual measure `id` of `measures.yaml`.
    pub fn measure(&self, id: &str) -> Option<&Measure> {
        self.measures.iter().find(|m| m.id == id)
    }

    /// What a goal measuring `name` may record: a record indicator or a manual
    /// measure of this set; `None` for any other name.
    pub fn goal_measure(&self, name: &str) -> Option<GoalMeasure<'_>> {
        record_measure(name)
            .map(GoalMeasure::from)
            .or_else(|| self.measure(name).map(GoalMeasure::from))
    }

    /// Every name a goal may measure: the record indicators, then this set's measures.
    pub fn goal_measure_names(&self) -> impl Iterator<Item = &str> + Clone {
        RECORD_MEASURES
            .iter()
            .map(|m| m.name)
            .chain(self.measures.iter().map(|m| m.id.as_str()))
    }

    /// Rule test files (`tests/*.yaml`) with their text.
    pub fn test_files(&self) -> impl Iterator<Item = (&str, &str)> {
        self.files
            .iter()
            .filter(|(k, _)| k.starts_with("tests/"))
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// The version of a set of files: SHA-256 over each relative path and its content
/// (line endings normalised to `\n`), in path order.
pub fn version_of(files: &BTreeMap<String, String>) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for (path, text) in files {
        let canon = text.replace("\r\n", "\n");
        h.update((path.len() as u64).to_be_bytes());
        h.update(path.as_bytes());
        h.update((canon.len() as u64).to_be_bytes());
        h.update(canon.as_bytes());
    }
    format!("sha256:{}", hex::encode(h.finalize()))
}
