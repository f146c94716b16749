//! intervene: a rules-based early-warning and intervention recommendation engine for
//! schools.
//!
//! Data flows one way:
//!
//! ```text
//! record ──► engine ──► decision
//!              ▲
//!          rule set (checked, compiled, versioned)
//! ```
//!
//! | module | owns |
//! |---|---|
//! | [`record`] | the student record model, validation, derived indicators |
//! | [`rules`] | rule-set files: YAML + Rhai, located diagnostics, version hash |
//! | [`engine`] | the sandboxed evaluator: record × rule set → [`engine::Decision`] |
//! | [`ruletest`] | running a rule set's own tests (needs the engine, so it sits above it) |
//! | [`batch`] | JSON / NDJSON records in, decisions out, on every core |
//! | [`audit`] | the hash-chained audit log in sled: group commit, queries, verify |
//! | [`students`] | latest snapshot per student from SIS events and imports |
//! | [`http`] | the actix-web service: routes, auth, signatures, problem+json |
//! | [`config`] | settings: defaults, file, `INTERVENE_*` environment |
//!
//! Arrows point down only: `http` → `students` → `audit` → `engine` → `rules` →
//! `record`; `batch` and `ruletest` sit on `engine`.

#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod app;
pub mod audit;
pub mod blocking;
pub mod caseload;
pub mod cli;
pub mod config;
pub mod engine;
pub mod http;
pub mod lifecycle;
pub mod ndjson;
pub mod record;
pub mod rules;
pub mod ruletest;
pub mod source;
pub mod students;
