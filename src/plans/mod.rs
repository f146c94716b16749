//! Intervention plans and how a student responds to them: the plans themselves, their
//! progress points and sessions, kept beside the audit log, and the progress math.
//! The history-aware facts that rules read build on these (not yet written).
//!
//! | file | job |
//! |---|---|
//! | [`plan`] | the plan as requested, validated and stored |
//! | [`store`] | the plan trees; every write an audit entry with the plan beside it |
//! | [`progress`] | the progress math: aim line, trend, points off aim, fidelity, summary |
//! | [`error`] | the progress math's error type: what was refused, naming the field |

pub mod error;
pub mod plan;
pub mod progress;
pub mod store;

pub use error::ProgressError;
pub use plan::{
    Goal, OpenedFrom, Plan, PlanRequest, PlanUpdate, ProgressPoint, SessionRecord, Status,
};
pub use store::{Extra, PlanError, Plans, Write};
