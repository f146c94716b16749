//! The error of the plans module: a goal, point, session or schedule refused, naming
//! the field at fault.

use chrono::NaiveDate;
use thiserror::Error;

/// A goal, point, session or schedule that the math cannot accept; names the field.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ProgressError {
    #[error("`{field}` must be a finite number")]
    NotFinite { field: String },
    #[error("`target` equals `baseline`, so the goal has no direction")]
    NoDirection,
    #[error("`by` ({by}) must be after `start` ({start})")]
    ByNotAfterStart { start: NaiveDate, by: NaiveDate },
    #[error("`{field}` ({date}) is before the plan's start ({start})")]
    BeforeStart {
        field: String,
        date: NaiveDate,
        start: NaiveDate,
    },
    #[error("`{field}` must be more than 0")]
    NotPositive { field: String },
}

impl ProgressError {
    /// The field at fault, as the request names it (`by`, `points[2].value`).
    pub fn field(&self) -> &str {
        match self {
            ProgressError::NotFinite { field }
            | ProgressError::BeforeStart { field, .. }
            | ProgressError::NotPositive { field } => field,
            ProgressError::NoDirection => "target",
            ProgressError::ByNotAfterStart { .. } => "by",
        }
    }
}
