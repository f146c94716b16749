//! Families: what the school tells a student's family, in their language, strengths
//! first ([`summary`]), from the fixed words of each language ([`words`]) and the
//! rules' and interventions' own `family:` texts.

pub mod summary;
pub mod words;

pub use summary::{FamilySummary, PlanWords, Sources, build};
