//! Rule sets: the files counselors edit, checked and compiled into one immutable value.
//!
//! A rule set is a directory (see the README for the format):
//!
//! ```text
//! interventions.yaml   catalogue of interventions rules may recommend
//! params.yaml          named thresholds
//! measures.yaml        optional: manual progress measures a plan's goal may name
//! *.yaml               rule packs (one domain per file by convention)
//! privacy.yaml         optional: what the audit log keeps of each record field
//! lib/*.rhai           helper functions callable from every condition
//! tests/*.yaml         rule tests (kept with the set; run by `intervene test`)
//! ```
//!
//! Loading runs in stages, each its own module producing its own type (see `load`):
//! `read` (the directory → file texts), `raw` (YAML → the rule set as written),
//! `check` (names, references, duplicates → checked rules), `compile` (slots, Rhai
//! ASTs, native comparisons, the probe → [`RuleSet`]); then `analysis` reads the
//! compiled bands of each domain for gaps, overlaps, shadowed and unreachable rules. Positions and diagnostics
//! come from [`crate::source`]; every problem becomes a [`Diagnostic`] on the way. Its version
//! is `sha256:` over the canonical content of all its files, so the same files always
//! give the same version and any change gives a new one.

pub mod analysis;
mod check;
pub use check::family;
mod compile;
pub mod expr;
mod load;
pub mod measure;
mod model;
pub mod native;
mod raw;
mod read;
pub mod sandbox;
pub mod template;

/// Diagnostics live in the bottom layer ([`crate::source`]); re-exported here, where
/// rule-set callers have always found them.
pub use crate::source::{diag, yaml};

pub use crate::source::diag::{Diagnostic, Severity};
pub use measure::{Better, GoalMeasure, Measure, RECORD_MEASURES, RecordMeasure, record_measure};
pub use model::{
    BandFinding, Clearing, Domain, Intervention, LoadError, Param, Rule, RuleKind, RuleSet,
    version_of,
};
pub use read::{MAX_FILE_BYTES, MAX_FILES, ReadError, is_rule_set_file};
