//! The caseload: every student's latest decision summary and the review state of
//! each of its flags, kept in the `caseload` tree beside the audit log, and the
//! reads the team's loop needs (filtered pages, summary, rosters, review queue, CSV).
//!
//! | file | job |
//! |---|---|
//! | [`entry`] | one student's entry, built from a decision entry's payload |
//! | [`review`] | the review request, its validation, its log entry, applying it |
//! | [`carry`] | which reviews a new decision keeps |
//! | [`plans`] | a student's open plans as marks, from the plan entries |
//! | [`index`] | the tree: the change function, encoding, rebuild, staleness |
//! | [`params`] | query-string parameters: known names, errors naming the parameter |
//! | [`query`] | filters, sorts and cursor pages over the tree in one pass |
//! | [`queue`] | unreviewed flags, oldest first |
//! | [`summary`] | counts and shares per tier and domain; rosters by intervention or rule |
//! | [`rosters`] | the console's rosters: per intervention within a caseload filter, counted, the first students of each |
//! | [`csv`] | CSV of pages and rosters, safe to open in a spreadsheet |
//! | [`error`] | the error type |
//!
//! Arrows: `plans` and then `entry` are the bottom; `review` and `carry` use it; `index` uses those;
//! the readers use `entry` and `query`'s filter; `rosters` also uses `summary`'s
//! members and counts. The module sits on `audit` (it reads
//! entries and the store's database) and never on `http`.

pub mod carry;
pub mod csv;
pub mod entry;
pub mod equity;
pub mod error;
pub mod index;
pub mod params;
pub mod plans;
pub mod query;
pub mod queue;
pub mod review;
pub mod rosters;
pub mod summary;

pub use entry::{Action, CaseEntry, FlagEntry, FlagReview, Recommended, ReviewState};
pub use error::CaseloadError;
pub use index::{Change, Index, Rebuilt, Updated, apply, attach, ensure_current, rebuild};
pub use params::ParamError;
pub use plans::{PlanChange, PlanMark};
pub use query::{CaseloadQuery, Cursor, Filter, Page, Sort, page};
pub use queue::{QueueItem, QueuePage, QueueQuery, queue};
pub use review::{LoggedReview, ReviewError, ReviewPayload, ReviewRequest};
pub use rosters::{Roster, RosterMember, Rosters, rosters, tally};
pub use summary::{
    Group, GroupBy, GroupsQuery, Reference, Summary, groups, summarize, summarize_by_school,
};
