//! Located text: YAML parsed into nodes that remember their line and column, the
//! diagnostics that point back at them, and the "did you mean" that goes with them.
//!
//! This is the bottom layer every file decoder shares: the rule loader and the
//! `privacy.yaml` decoder both read their files through it, so neither has to import
//! the other. It imports nothing of the crate.
//!
//! | module | job |
//! |---|---|
//! | [`yaml`] | text → [`yaml::Node`] tree with positions |
//! | [`diag`] | [`diag::Diagnostic`]: file, line, column, underline, hint; rendering |
//! | [`map`] | [`map::SourceMap`]: a position inside a scalar → file line and column |
//! | [`ctx`] | [`ctx::Ctx`]: one file's diagnostics, and the shape checks on its nodes |

pub mod ctx;
pub mod diag;
pub mod map;
pub mod yaml;

pub use ctx::Ctx;
pub use diag::{Diagnostic, Severity};
