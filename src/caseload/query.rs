//! Reading the caseload: filters, sorts and cursor pages, each one pass over the
//! tree with no audit-log read.
//!
//! **Filters** (all optional, all must hold): `school`, `grade`, `q` (student id
//! prefix), `intervention` (recommended), and the tier filters `tier` / `min_tier`,
//! which read the student's highest tier, or with `domain` that domain's tier;
//! `domain` alone means "flagged in that domain". `rule` and `review` look at
//! flags: some flag must be of that rule (and domain, when given) and in that
//! review state on the day of the query — an expired review counts as unreviewed.
//! `plan` looks at the student's open plans: `active` (some), `none` (none) or an
//! intervention id (an open plan of it); `needs_review=true` keeps students with an
//! open plan whose review date has passed, `false` the others (see
//! [`super::plans`]).
//!
//! **Sorts**: `student` (id order, the default), `tier` (highest first — the
//! domain's tier with `domain` — then id), `evaluated_at` (oldest decision first,
//! then id).
//!
//! **Cursors** are opaque (hex of a small JSON) and hold the sort key of the last
//! entry served. While entries change between pages:
//! - `sort=student`: keys never move, so a student is served at most once, and a
//!   student present (and matching) from the first page to the last exactly once.
//!   The walk reads only from the cursor on and stops after a page.
//! - `sort=tier` / `evaluated_at`: a new decision can move a student past the
//!   cursor. The cursor records the last `seq` the index reflected when the first
//!   page was read ([`Index::applied_seq`]); later pages leave out students whose
//!   decision came after it. So each student is served at most once, and one whose
//!   decision changed mid-walk shows up on the next walk. These sorts scan every
//!   entry (keeping the best `limit` in a heap): one pass, no audit-log read.

use std::collections::BinaryHeap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::entry::{CaseEntry, FlagEntry, ReviewState};
use super::error::CaseloadError;
use super::index::Index;
use super::params::{ParamError, Params, parse_domain, parse_name, parse_tier};
use crate::rules::Domain;

/// Entries per page unless `limit` says otherwise.
pub const DEFAULT_LIMIT: usize = 50;
/// Most entries per page.
pub const MAX_LIMIT: usize = 500;

/// Which students a read covers (see the module doc).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub school: Option<String>,
    pub grade: Option<i64>,
    pub domain: Option<Domain>,
    pub tier: Option<u8>,
    pub min_tier: Option<u8>,
    pub rule: Option<String>,
    pub intervention: Option<String>,
    pub review: Option<ReviewState>,
    /// Student id prefix.
    pub q: Option<String>,
    pub plan: Option<PlanFilter>,
    pub needs_review: Option<bool>,
}

/// The `plan` filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanFilter {
    /// Some open plan.
    Active,
    /// No open plan.
    None,
    /// An open plan of this intervention.
    Intervention(String),
}

impl PlanFilter {
    /// `active`, `none` or an intervention id (kebab-case, as the catalogue's).
    pub fn parse(param: &str, value: &str) -> Result<PlanFilter, ParamError> {
        Ok(match value {
            "active" => PlanFilter::Active,
            "none" => PlanFilter::None,
            v if is_intervention_id(v) => PlanFilter::Intervention(v.to_string()),
            _ => {
                return Err(ParamError::new(
                    param,
                    "must be `active`, `none` or an intervention id (kebab-case, at most 64 characters)",
                ));
            }
        })
    }

    fn matches(&self, e: &CaseEntry) -> bool {
        match self {
            PlanFilter::Active => !e.plans.is_empty(),
            PlanFilter::None => e.plans.is_empty(),
            PlanFilter::Intervention(i) => e.plans.iter().any(|p| &p.intervention == i),
        }
    }
}

fn is_intervention_id(v: &str) -> bool {
    v.len() <= 64
        && v.split('-').all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

impl Filter {
    /// The filter parameter names.
    pub const NAMES: [&'static str; 11] = [
        "school",
        "grade",
        "domain",
        "tier",
        "min_tier",
        "rule",
        "intervention",
        "review",
        "q",
        "plan",
        "needs_review",
    ];

    /// Take the parameter `name` when it is a filter's; `Ok(false)` when it is not.
    pub fn set(&mut self, name: &str, value: &str) -> Result<bool, ParamError> {
        match name {
            "school" => self.school = Some(parse_name(name, value)?),
            "grade" => self.grade = Some(parse_grade(value)?),
            "domain" => self.domain = Some(parse_domain(name, value)?),
            "tier" => self.tier = Some(parse_tier(name, value)?),
            "min_tier" => self.min_tier = Some(parse_tier(name, value)?),
            "rule" => self.rule = Some(parse_name(name, value)?),
            "intervention" => self.intervention = Some(parse_name(name, value)?),
            "review" => {
                self.review = Some(ReviewState::parse(value).ok_or_else(|| {
                    ParamError::new(
                        name,
                        format!("must be one of {}", ReviewState::NAMES.join(", ")),
                    )
                })?)
            }
            "q" => self.q = Some(parse_name(name, value)?),
            "plan" => self.plan = Some(PlanFilter::parse(name, value)?),
            "needs_review" => {
                self.needs_review = Some(match value {
                    "true" => true,
                    "false" => false,
                    _ => return Err(ParamError::one_of(name, &["true", "false"])),
                })
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Parse a filter alone (the summary's parameters).
    pub fn parse<K: AsRef<str>, V: AsRef<str>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Filter, ParamError> {
        let mut f = Filter::default();
        Params::new(&Filter::NAMES).each(pairs, |n, v| f.set(n, v).map(|_| ()))?;
        Ok(f)
    }

    /// The tier the tier filters and `sort=tier` read.
    pub fn tier_of(&self, e: &CaseEntry) -> u8 {
        self.domain.map_or(e.highest_tier, |d| e.tier_in(d))
    }

    /// Whether `e` is covered, on `today`.
    pub fn matches(&self, e: &CaseEntry, today: NaiveDate) -> bool {
        let tier = self.tier_of(e);
        let same = |want: &Option<String>, have: Option<&str>| {
            want.as_deref().is_none_or(|w| have == Some(w))
        };
        same(&self.school, e.school.as_deref())
            && self.grade.is_none_or(|g| e.grade == Some(g))
            && self
                .q
                .as_deref()
                .is_none_or(|q| e.student_id.starts_with(q))
            && self.tier.is_none_or(|t| tier == t)
            && self.min_tier.is_none_or(|t| tier >= t)
            && (self.domain.is_none() || self.tier.is_some() || self.min_tier.is_some() || tier > 0)
            && self
                .intervention
                .as_deref()
                .is_none_or(|i| e.interventions.iter().any(|r| r.intervention == i))
            && ((self.rule.is_none() && self.review.is_none())
                || e.flags.iter().any(|f| self.flag_matches(f, today)))
            && self.plan.as_ref().is_none_or(|p| p.matches(e))
            && self
                .needs_review
                .is_none_or(|want| e.plans.iter().any(|p| p.needs_review(today)) == want)
    }

    /// Whether flag `f` is of the filter's rule, domain and review state.
    pub fn flag_matches(&self, f: &FlagEntry, today: NaiveDate) -> bool {
        self.rule.as_deref().is_none_or(|r| f.rule_id == r)
            && self.domain.is_none_or(|d| f.domain == d)
            && self.review.is_none_or(|s| f.state_on(today) == s)
    }
}

fn parse_grade(value: &str) -> Result<i64, ParamError> {
    value
        .parse::<i64>()
        .ok()
        .filter(|g| (-1..=13).contains(g))
        .ok_or_else(|| ParamError::new("grade", "must be a whole number from -1 (pre-K) to 13"))
}

/// The order of a page.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    #[default]
    Student,
    Tier,
    EvaluatedAt,
}

impl Sort {
    pub const NAMES: [&'static str; 3] = ["student", "tier", "evaluated_at"];

    pub fn parse(s: &str) -> Option<Sort> {
        [Sort::Student, Sort::Tier, Sort::EvaluatedAt]
            .into_iter()
            .zip(Sort::NAMES)
            .find_map(|(sort, n)| (n == s).then_some(sort))
    }
}

/// Where a walk through pages stands (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    #[serde(rename = "s")]
    pub sort: Sort,
    /// The index's applied `seq` when the walk began.
    #[serde(rename = "a")]
    pub as_of: u64,
    /// The sort key of the last entry served.
    #[serde(rename = "k")]
    pub key: Key,
}

/// A sort key: smaller comes first.
pub type Key = (u8, String, String);

impl Cursor {
    /// The opaque text handed to clients.
    pub fn encode(&self) -> String {
        hex::encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Read a cursor handed out by [`Cursor::encode`].
    pub fn decode(text: &str) -> Result<Cursor, ParamError> {
        let bad = || ParamError::new("cursor", "is not a cursor this server handed out");
        if text.len() > 2048 {
            return Err(bad());
        }
        let bytes = hex::decode(text).map_err(|_| bad())?;
        serde_json::from_slice(&bytes).map_err(|_| bad())
    }
}

/// A parsed `GET /v1/caseload`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseloadQuery {
    pub filter: Filter,
    pub sort: Sort,
    pub cursor: Option<Cursor>,
    pub limit: usize,
}

impl CaseloadQuery {
    /// Parse query-string pairs; `format` is left to the caller; an unknown or
    /// repeated parameter, a bad value or a cursor of another sort is an error
    /// naming the parameter.
    pub fn parse<K: AsRef<str>, V: AsRef<str>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<CaseloadQuery, ParamError> {
        let mut names = Filter::NAMES.to_vec();
        names.extend(["sort", "cursor", "limit"]);
        let mut q = CaseloadQuery {
            filter: Filter::default(),
            sort: Sort::default(),
            cursor: None,
            limit: DEFAULT_LIMIT,
        };
        Params::new(&names).each(pairs, |name, value| {
            if q.filter.set(name, value)? {
                return Ok(());
            }
            match name {
                "sort" => {
                    q.sort =
                        Sort::parse(value).ok_or_else(|| ParamError::one_of(name, &Sort::NAMES))?
                }
                "cursor" => q.cursor = Some(Cursor::decode(value)?),
                _ => q.limit = parse_limit(value)?,
            }
            Ok(())
        })?;
        if q.cursor.as_ref().is_some_and(|c| c.sort != q.sort) {
            return Err(ParamError::new(
                "cursor",
                "was handed out for another `sort`",
            ));
        }
        Ok(q)
    }
}

/// `limit`: 1 to [`MAX_LIMIT`].
pub fn parse_limit(value: &str) -> Result<usize, ParamError> {
    value
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=MAX_LIMIT).contains(n))
        .ok_or_else(|| {
            ParamError::new(
                "limit",
                format!("must be a whole number from 1 to {MAX_LIMIT}"),
            )
        })
}

/// One page of the caseload.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub entries: Vec<CaseEntry>,
    /// The cursor of the next page; `None` on the last.
    pub next_cursor: Option<String>,
}

/// The page `query` asks for, on `today`.
pub fn page(index: &Index, query: &CaseloadQuery, today: NaiveDate) -> Result<Page, CaseloadError> {
    let as_of = match &query.cursor {
        Some(c) => c.as_of,
        None => index.applied_seq()?.unwrap_or(u64::MAX),
    };
    match query.sort {
        Sort::Student => {
            let after = query.cursor.as_ref().map(|c| c.key.2.as_str());
            type Entries<'i> = Box<dyn Iterator<Item = Result<CaseEntry, CaseloadError>> + 'i>;
            let from: Entries = match (&query.filter.q, after) {
                (Some(q), Some(a)) if q.as_str() > a => Box::new(index.entries_from(q)),
                (Some(q), None) => Box::new(index.entries_from(q)),
                _ => Box::new(index.entries_after(after)),
            };
            let q = query.filter.q.clone().unwrap_or_default();
            let within =
                from.take_while(|e| e.as_ref().map_or(true, |e| e.student_id.starts_with(&q)));
            page_by_student(within, query, as_of, today)
        }
        _ => page_by_scan(index.entries(), query, as_of, today),
    }
}

/// The sort key of `e` under `sort`.
pub fn key(sort: Sort, filter: &Filter, e: &CaseEntry) -> Key {
    let id = e.student_id.clone();
    match sort {
        Sort::Student => (0, String::new(), id),
        Sort::Tier => (u8::MAX - filter.tier_of(e), String::new(), id),
        Sort::EvaluatedAt => (0, e.evaluated_at.clone(), id),
    }
}

/// `sort=student` over entries already in id order from the cursor on: stops
/// after one entry past the page.
pub fn page_by_student(
    entries: impl Iterator<Item = Result<CaseEntry, CaseloadError>>,
    query: &CaseloadQuery,
    as_of: u64,
    today: NaiveDate,
) -> Result<Page, CaseloadError> {
    let mut out = Vec::new();
    for e in entries {
        let e = e?;
        if !query.filter.matches(&e, today) {
            continue;
        }
        if out.len() == query.limit {
            return Ok(finish(out, query, as_of, true));
        }
        out.push(e);
    }
    Ok(finish(out, query, as_of, false))
}

/// Any sort over all entries in any order: the best `limit` after the cursor.
pub fn page_by_scan(
    entries: impl Iterator<Item = Result<CaseEntry, CaseloadError>>,
    query: &CaseloadQuery,
    as_of: u64,
    today: NaiveDate,
) -> Result<Page, CaseloadError> {
    let after = query.cursor.as_ref().map(|c| &c.key);
    let moved = |e: &CaseEntry| query.cursor.is_some() && e.decision_seq > as_of;
    let mut best = Best::new(query.limit);
    for e in entries {
        let e = e?;
        let k = key(query.sort, &query.filter, &e);
        if after.is_some_and(|a| &k <= a) || moved(&e) || !query.filter.matches(&e, today) {
            continue;
        }
        best.offer(k, e);
    }
    let (entries, more) = best.into_sorted();
    Ok(finish(entries, query, as_of, more))
}

/// The `limit` smallest keys offered, and whether there were more (keeps
/// `limit + 1` in a heap, so a scan of any size holds one page in memory).
pub struct Best<T> {
    heap: BinaryHeap<(Key, Unordered<T>)>,
    limit: usize,
}

impl<T> Best<T> {
    pub fn new(limit: usize) -> Best<T> {
        Best {
            heap: BinaryHeap::with_capacity(limit + 2),
            limit,
        }
    }

    pub fn offer(&mut self, key: Key, item: T) {
        if self.heap.len() > self.limit && self.heap.peek().is_some_and(|(k, _)| &key >= k) {
            return;
        }
        self.heap.push((key, Unordered(item)));
        if self.heap.len() > self.limit + 1 {
            self.heap.pop();
        }
    }

    /// The items in key order, at most `limit`, and whether more were offered.
    pub fn into_sorted(self) -> (Vec<T>, bool) {
        let mut items: Vec<T> = self
            .heap
            .into_sorted_vec()
            .into_iter()
            .map(|(_, u)| u.0)
            .collect();
        let more = items.len() > self.limit;
        items.truncate(self.limit);
        (items, more)
    }
}

/// An item ordered by its key alone (keys are unique: they end with the student
/// id), so items need no order of their own.
pub struct Unordered<T>(T);

impl<T> PartialEq for Unordered<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl<T> Eq for Unordered<T> {}
impl<T> PartialOrd for Unordered<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Unordered<T> {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

fn finish(entries: Vec<CaseEntry>, query: &CaseloadQuery, as_of: u64, more: bool) -> Page {
    let next_cursor = entries.last().filter(|_| more).map(|last| {
        Cursor {
            sort: query.sort,
            as_of,
            key: key(query.sort, &query.filter, last),
        }
        .encode()
    });
    Page {
        entries,
        next_cursor,
    }
}

/// The students on a page, in page order (for the `caseload.read` audit entry).
pub fn students_on(page: &Page) -> Vec<&str> {
    page.entries.iter().map(|e| e.student_id.as_str()).collect()
}

#[cfg(test)]
#[path = "query_tests.rs"]
mod tests;
