//! The review queue: flags nobody has reviewed (or whose review has expired), at
//! `min_tier` (default 2) and above, the longest-waiting first.
//!
//! "Waiting" is the flag's `since` (when the run of decisions flagging it began),
//! then student id and rule id. The caseload's filters apply, read per flag where a
//! flag has the property: `rule`, `domain`, `tier` and `min_tier` are the flag's;
//! `school`, `grade`, `q` and `intervention` are the student's. `review` is not a
//! parameter here (the queue is the unreviewed flags). Paging and cursors behave
//! as `sort=tier` does on the caseload ([`super::query`]): one pass over the tree,
//! and an item whose student had a new decision after the walk began is left out
//! of later pages, so no flag is served twice.

use chrono::NaiveDate;
use serde::Serialize;

use super::entry::{CaseEntry, FlagEntry, ReviewState};
use super::error::CaseloadError;
use super::index::Index;
use super::params::{ParamError, Params};
use super::query::{Best, Cursor, DEFAULT_LIMIT, Filter, Key, Sort, parse_limit};
use crate::rules::Domain;

/// The flag tier the queue starts at unless `min_tier` says otherwise.
pub const DEFAULT_MIN_TIER: u8 = 2;

/// One unreviewed flag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueItem {
    pub student_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub school: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grade: Option<i64>,
    pub rule_id: String,
    pub domain: Domain,
    pub tier: u8,
    /// When the flag began firing.
    pub since: String,
    pub evaluated_at: String,
    pub decision_seq: u64,
    pub decision_hash: String,
}

/// A parsed `GET /v1/reviews/queue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueQuery {
    /// `min_tier` is always set (default [`DEFAULT_MIN_TIER`]); `review` never is.
    pub filter: Filter,
    pub cursor: Option<Cursor>,
    pub limit: usize,
}

impl QueueQuery {
    /// Parse query-string pairs (errors name the parameter; `format` is left to
    /// the caller).
    pub fn parse<K: AsRef<str>, V: AsRef<str>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<QueueQuery, ParamError> {
        let mut names: Vec<&str> = Filter::NAMES
            .iter()
            .copied()
            .filter(|n| *n != "review")
            .collect();
        names.extend(["cursor", "limit"]);
        let mut q = QueueQuery {
            filter: Filter::default(),
            cursor: None,
            limit: DEFAULT_LIMIT,
        };
        Params::new(&names).each(pairs, |name, value| {
            match name {
                "cursor" => q.cursor = Some(Cursor::decode(value)?),
                "limit" => q.limit = parse_limit(value)?,
                _ => {
                    q.filter.set(name, value)?;
                }
            }
            Ok(())
        })?;
        q.filter.min_tier.get_or_insert(DEFAULT_MIN_TIER);
        if q.cursor
            .as_ref()
            .is_some_and(|c| c.sort != Sort::EvaluatedAt)
        {
            return Err(ParamError::new("cursor", "was handed out by another read"));
        }
        Ok(q)
    }

    /// Whether the student's side of the filter holds.
    fn student_matches(&self, e: &CaseEntry) -> bool {
        let f = &self.filter;
        f.school
            .as_deref()
            .is_none_or(|s| e.school.as_deref() == Some(s))
            && f.grade.is_none_or(|g| e.grade == Some(g))
            && f.q.as_deref().is_none_or(|q| e.student_id.starts_with(q))
            && f.intervention
                .as_deref()
                .is_none_or(|i| e.interventions.iter().any(|r| r.intervention == i))
    }

    /// Whether flag `fl` is in the queue on `today`.
    fn flag_matches(&self, fl: &FlagEntry, today: NaiveDate) -> bool {
        let f = &self.filter;
        fl.state_on(today) == ReviewState::Unreviewed
            && f.rule.as_deref().is_none_or(|r| fl.rule_id == r)
            && f.domain.is_none_or(|d| fl.domain == d)
            && f.tier.is_none_or(|t| fl.tier == t)
            && f.min_tier.is_none_or(|t| fl.tier >= t)
    }
}

/// One page of the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuePage {
    pub items: Vec<QueueItem>,
    pub next_cursor: Option<String>,
}

/// The page `query` asks for, on `today`.
pub fn queue(
    index: &Index,
    query: &QueueQuery,
    today: NaiveDate,
) -> Result<QueuePage, CaseloadError> {
    let as_of = match &query.cursor {
        Some(c) => c.as_of,
        None => index.applied_seq()?.unwrap_or(u64::MAX),
    };
    queue_of(index.entries(), query, as_of, today)
}

/// [`queue`] over any entries.
pub fn queue_of(
    entries: impl Iterator<Item = Result<CaseEntry, CaseloadError>>,
    query: &QueueQuery,
    as_of: u64,
    today: NaiveDate,
) -> Result<QueuePage, CaseloadError> {
    let after = query.cursor.as_ref().map(|c| &c.key);
    let mut best = Best::new(query.limit);
    for e in entries {
        let e = e?;
        if (query.cursor.is_some() && e.decision_seq > as_of) || !query.student_matches(&e) {
            continue;
        }
        for fl in e.flags.iter().filter(|fl| query.flag_matches(fl, today)) {
            let k = item_key(&e.student_id, fl);
            if after.is_none_or(|a| &k > a) {
                best.offer(k, item(&e, fl));
            }
        }
    }
    let (items, more) = best.into_sorted();
    let next_cursor = items.last().filter(|_| more).map(|last| {
        Cursor {
            sort: Sort::EvaluatedAt,
            as_of,
            key: (
                0,
                last.since.clone(),
                format!("{}\0{}", last.student_id, last.rule_id),
            ),
        }
        .encode()
    });
    Ok(QueuePage { items, next_cursor })
}

fn item_key(student_id: &str, fl: &FlagEntry) -> Key {
    (0, fl.since.clone(), format!("{student_id}\0{}", fl.rule_id))
}

fn item(e: &CaseEntry, fl: &FlagEntry) -> QueueItem {
    QueueItem {
        student_id: e.student_id.clone(),
        school: e.school.clone(),
        grade: e.grade,
        rule_id: fl.rule_id.clone(),
        domain: fl.domain,
        tier: fl.tier,
        since: fl.since.clone(),
        evaluated_at: e.evaluated_at.clone(),
        decision_seq: e.decision_seq,
        decision_hash: e.decision_hash.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caseload::entry::tests::payload;
    use crate::caseload::entry::{Action, FlagReview};

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 4).unwrap()
    }

    fn entry(id: &str, day: u32, flags: &[(&str, &str, u8)]) -> CaseEntry {
        let at = format!("2026-11-{day:02}T08:00:00.000Z");
        CaseEntry::from_decision(1, "h", &payload(id, &at, flags)).unwrap()
    }

    fn run(entries: &[CaseEntry], pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut q = QueueQuery::parse(pairs.iter().copied()).unwrap();
        let mut out = Vec::new();
        loop {
            let p = queue_of(entries.iter().cloned().map(Ok), &q, 1, today()).unwrap();
            out.extend(p.items.into_iter().map(|i| (i.student_id, i.rule_id)));
            match p.next_cursor {
                Some(c) => q.cursor = Some(Cursor::decode(&c).unwrap()),
                None => return out,
            }
        }
    }

    #[test]
    fn unreviewed_flags_at_tier_2_and_up_oldest_first() {
        let mut reviewed = entry("S3", 1, &[("b", "academic", 3)]);
        reviewed.flags[0].review = Some(FlagReview {
            action: Action::Defer,
            reviewer: "c".into(),
            at: "2026-11-02T00:00:00Z".into(),
            reason: None,
            until: NaiveDate::from_ymd_opt(2026, 12, 31),
            review_seq: 2,
            decision_seq: 1,
            tier: 3,
        });
        let entries = vec![
            entry("S1", 9, &[("a", "attendance", 2), ("c", "academic", 1)]),
            entry("S2", 3, &[("b", "academic", 3), ("a", "attendance", 2)]),
            reviewed,
        ];
        let pair = |s: &str, r: &str| (s.to_string(), r.to_string());
        let want = vec![pair("S2", "a"), pair("S2", "b"), pair("S1", "a")];
        assert_eq!(run(&entries, &[]), want);
        assert_eq!(
            run(&entries, &[("limit", "1")]),
            want,
            "paged one at a time"
        );
        assert_eq!(
            run(&entries, &[("domain", "academic")]),
            vec![pair("S2", "b")]
        );
        assert_eq!(
            run(&entries, &[("min_tier", "1"), ("q", "S1")]),
            vec![pair("S1", "a"), pair("S1", "c")]
        );
        let err = QueueQuery::parse([("review", "confirmed")]).unwrap_err();
        assert_eq!(err.param, "review");
    }
}
