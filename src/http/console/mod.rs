//! The counselor and auditor console: the service's own web pages.
//! (Placeholder in this branch: only the pure building blocks below.)

pub mod chart;
pub mod words;
