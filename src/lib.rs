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
//! | [`source`] | located text: YAML nodes with line and column, diagnostics, did-you-mean |
//! | [`record`] | the student record model, validation, derived indicators, `privacy.yaml` |
//! | [`rules`] | rule-set files in stages: read → raw → check → compile; version hash |
//! | [`engine`] | the sandboxed evaluator: record × rule set → [`engine::Decision`] |
//! | [`ruletest`] | running a rule set's own tests (needs the engine, so it sits above it) |
//! | [`audit`] | the hash-chained audit log in sled: group commit, queries, verify, purge |
//! | [`caseload`] | every student's latest decision and its flags' reviews; pages, summary, CSV |
//! | [`students`] | latest snapshot per student from SIS events and imports |
//! | [`plans`] | intervention plans with measurable goals, progress points and sessions; the progress math |
//! | [`notices`] | the family notice outbox: tier changes and plans opened or closed, kept by the audit writer |
//! | [`families`] | what a family is told: the family summary in their language, strengths first |
//! | [`lifecycle`] | the active rule set: publish, reload, rollback, preview, replay, versions |
//! | [`ndjson`] | one bounded NDJSON line reader (files and request bodies) |
//! | [`blocking`] | the one way CPU and disk work leaves the async workers |
//! | [`config`] | settings: defaults, file, `INTERVENE_*` environment |
//! | [`app`] | the use cases, one function each, that HTTP and the CLI both call |
//! | [`http`] | the actix-web service: route table, auth, signatures, problem+json |
//! | [`cli`] | the command line's commands (`main.rs` is only flag parsing) |
//!
//! Arrows point down only (ARCHITECTURE.md draws them; `tests/architecture.rs` checks
//! that no two modules import each other): `cli` → `http` → `app` → `lifecycle`,
//! `students`, `caseload`, `plans` → `audit` → `engine` → `rules` → `record` → `source`;
//! `ruletest` sits on `engine`; `blocking` and `config` import nothing of the crate,
//! `ndjson` only `record` and `blocking`.

#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod app;
pub mod audit;
pub mod blocking;
pub mod caseload;
pub mod cli;
pub mod config;
pub mod engine;
pub mod families;
pub mod http;
pub mod lifecycle;
pub mod ndjson;
pub mod notices;
pub mod plans;
pub mod record;
pub mod rules;
pub mod ruletest;
pub mod source;
pub mod students;
