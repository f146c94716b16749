//! The team's loop after a flag: intervention plans with measurable goals, their
//! progress points and sessions, kept beside the audit log.
//!
//! | file | job |
//! |---|---|
//! | [`plan`] | the plan as requested, validated and stored |
//! | [`store`] | the plan trees; every write an audit entry with the plan beside it |

pub mod plan;
pub mod store;

pub use plan::{
    Goal, OpenedFrom, Plan, PlanRequest, PlanUpdate, ProgressPoint, SessionRecord, Status,
};
pub use store::{PlanError, Plans, Write};
