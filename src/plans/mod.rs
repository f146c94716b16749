//! Intervention plans and how a student responds to them: the plans themselves, their
//! progress points and sessions, kept beside the audit log, and the progress math.
//! The plan facts that rules read (`student.plans.<key>.<fact>`) are built from them.
//!
//! | file | job |
//! |---|---|
//! | [`plan`] | the plan as requested, validated and stored |
//! | [`store`] | the plan trees; every write an audit entry with the plan beside it |
//! | [`progress`] | the progress math: aim line, trend, points off aim, fidelity, summary |
//! | [`report`] | plans as people read them: with their summary, and the report's lines |
//! | [`facts`] | the plan facts rules read, as `(path, value)` pairs |
//! | [`error`] | the progress math's error type: what was refused, naming the field |

pub mod error;
pub mod facts;
pub mod plan;
pub mod progress;
pub mod report;
pub mod store;

pub use error::ProgressError;
pub use plan::{
    Goal, OpenedFrom, Plan, PlanRequest, PlanUpdate, ProgressPoint, SessionRecord, Status,
};
pub use store::{Extra, PlanError, Plans, Write};
