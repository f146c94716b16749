//! Intervention plans and how a student responds to them: the plans themselves, their
//! progress points and sessions, the progress math, and the history-aware facts that
//! rules read. Today it holds the math alone; the rest builds on it.
//!
//! | file | job |
//! |---|---|
//! | [`progress`] | the progress math: aim line, trend, points off aim, fidelity, summary |
//! | [`error`] | the error type: what was refused, naming the field |

pub mod error;
pub mod progress;

pub use error::ProgressError;
