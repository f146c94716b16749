//! Tests of filters, parsing and cursor paging.

use super::*;
use crate::caseload::entry::tests::payload;
use crate::caseload::entry::{Action, FlagReview};
use crate::caseload::index::Change;
use proptest::prelude::*;
use std::collections::BTreeMap;

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 12, 4).unwrap()
}

/// Student `i`: school A or B by parity, a flag of `tier` in `domain` (none at 0),
/// evaluated on day `day` of November, decision `seq`.
fn student(i: usize, tier: u8, domain: &str, day: u32, seq: u64) -> CaseEntry {
    let at = format!("2026-11-{day:02}T08:00:00.000Z");
    let flags: Vec<(&str, &str, u8)> = if tier == 0 {
        vec![]
    } else {
        vec![("r1", domain, tier)]
    };
    let mut e =
        CaseEntry::from_decision(seq, "h", &payload(&format!("S{i:04}"), &at, &flags)).unwrap();
    e.school = Some(if i.is_multiple_of(2) { "A" } else { "B" }.into());
    e.grade = Some((i % 4) as i64 + 9);
    e
}

fn index_of(entries: &[CaseEntry], applied: u64) -> Index {
    let db = sled::Config::new().temporary(true).open().unwrap();
    let index = Index::open(&db).unwrap();
    for e in entries {
        index
            .update(&Change::Decision(Box::new(e.clone())))
            .unwrap();
    }
    index.mark_applied(applied).unwrap();
    index
}

fn query(pairs: &[(&str, &str)]) -> CaseloadQuery {
    CaseloadQuery::parse(pairs.iter().copied()).unwrap()
}

/// Every page of `q` from the start, and the number of pages.
fn walk(index: &Index, mut q: CaseloadQuery) -> (Vec<String>, usize) {
    let (mut ids, mut pages) = (Vec::new(), 0);
    loop {
        let p = page(index, &q, today()).unwrap();
        pages += 1;
        ids.extend(p.entries.iter().map(|e| e.student_id.clone()));
        match p.next_cursor {
            Some(c) => q.cursor = Some(Cursor::decode(&c).unwrap()),
            None => return (ids, pages),
        }
    }
}

#[test]
fn each_filter_matches_an_independent_count() {
    let entries: Vec<CaseEntry> = (0..40)
        .map(|i| {
            student(
                i,
                (i % 4) as u8,
                ["attendance", "academic"][i % 3 % 2],
                1 + (i % 28) as u32,
                i as u64 + 1,
            )
        })
        .collect();
    let index = index_of(&entries, 40);
    let count = |pairs: &[(&str, &str)], want: &dyn Fn(&CaseEntry) -> bool| {
        let mut q = query(pairs);
        q.limit = MAX_LIMIT;
        let got = page(&index, &q, today()).unwrap().entries.len();
        assert_eq!(got, entries.iter().filter(|e| want(e)).count(), "{pairs:?}");
    };
    count(&[("school", "A")], &|e| e.school.as_deref() == Some("A"));
    count(&[("grade", "10")], &|e| e.grade == Some(10));
    count(&[("tier", "2")], &|e| e.highest_tier == 2);
    count(&[("min_tier", "2")], &|e| e.highest_tier >= 2);
    count(&[("domain", "academic")], &|e| {
        e.tier_in(Domain::Academic) > 0
    });
    count(&[("domain", "academic"), ("tier", "3")], &|e| {
        e.tier_in(Domain::Academic) == 3
    });
    count(&[("rule", "r1")], &|e| !e.flags.is_empty());
    count(&[("intervention", "r1-help")], &|e| {
        !e.interventions.is_empty()
    });
    count(&[("review", "unreviewed")], &|e| !e.flags.is_empty());
    count(&[("review", "confirmed")], &|_| false);
    count(&[("q", "S001")], &|e| e.student_id.starts_with("S001"));
    count(&[("q", "S001"), ("min_tier", "1"), ("school", "B")], &|e| {
        e.student_id.starts_with("S001") && e.highest_tier >= 1 && e.school.as_deref() == Some("B")
    });
}

#[test]
fn a_review_filter_reads_the_state_on_the_day() {
    let mut e = student(1, 2, "academic", 1, 1);
    e.flags[0].review = Some(FlagReview {
        action: Action::Dismiss,
        reviewer: "c".into(),
        at: "2026-11-02T00:00:00Z".into(),
        reason: Some("x".into()),
        until: NaiveDate::from_ymd_opt(2026, 12, 3),
        review_seq: 2,
        decision_seq: 1,
        tier: 2,
    });
    let f = Filter {
        review: Some(ReviewState::Dismissed),
        ..Filter::default()
    };
    assert!(f.matches(&e, NaiveDate::from_ymd_opt(2026, 12, 3).unwrap()));
    assert!(!f.matches(&e, today()), "expired on the 4th");
    let f = Filter {
        review: Some(ReviewState::Unreviewed),
        ..Filter::default()
    };
    assert!(f.matches(&e, today()));
}

#[test]
fn sorts_order_as_documented() {
    let entries = vec![
        student(3, 1, "academic", 5, 1),
        student(1, 3, "academic", 9, 2),
        student(2, 3, "attendance", 2, 3),
    ];
    let index = index_of(&entries, 3);
    let ids = |s: &str| walk(&index, query(&[("sort", s), ("limit", "1")])).0;
    assert_eq!(ids("student"), ["S0001", "S0002", "S0003"]);
    assert_eq!(ids("tier"), ["S0001", "S0002", "S0003"]);
    assert_eq!(ids("evaluated_at"), ["S0002", "S0003", "S0001"]);
    let by_domain = walk(
        &index,
        query(&[
            ("sort", "tier"),
            ("domain", "attendance"),
            ("min_tier", "0"),
        ]),
    )
    .0;
    assert_eq!(by_domain, ["S0002", "S0001", "S0003"]);
}

#[test]
fn parsing_names_the_parameter() {
    let err = |pairs: &[(&str, &str)]| CaseloadQuery::parse(pairs.iter().copied()).unwrap_err();
    assert_eq!(err(&[("limit", "0")]).param, "limit");
    assert_eq!(err(&[("limit", "501")]).param, "limit");
    assert_eq!(err(&[("grade", "14")]).param, "grade");
    assert_eq!(
        err(&[("sort", "name")]).to_string(),
        "`sort` must be one of student, tier, evaluated_at"
    );
    assert_eq!(err(&[("review", "ok")]).param, "review");
    assert_eq!(err(&[("cursor", "zz")]).param, "cursor");
    let c = Cursor {
        sort: Sort::Tier,
        as_of: 1,
        key: (0, String::new(), "S".into()),
    }
    .encode();
    assert_eq!(
        err(&[("cursor", &c)]).to_string(),
        "`cursor` was handed out for another `sort`"
    );
    assert_eq!(query(&[("format", "csv")]).limit, DEFAULT_LIMIT);
}

fn arb_entries() -> impl Strategy<Value = Vec<(usize, u8, u32)>> {
    prop::collection::btree_map(0usize..300, (0u8..4, 1u32..29), 0..60).prop_map(
        |m: BTreeMap<usize, (u8, u32)>| m.into_iter().map(|(i, (t, d))| (i, t, d)).collect(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Any page size, any sort: every matching student exactly once, in order.
    #[test]
    fn paging_serves_every_entry_once(spec in arb_entries(), limit in 1usize..12, sort in 0usize..3) {
        let entries: Vec<CaseEntry> = spec.iter().enumerate()
            .map(|(n, (i, t, d))| student(*i, *t, "academic", *d, n as u64 + 1)).collect();
        let index = index_of(&entries, entries.len() as u64);
        let sort_name = Sort::NAMES[sort];
        let (ids, pages) = walk(&index, query(&[("sort", sort_name), ("limit", &limit.to_string()), ("min_tier", "1")]));
        let mut want: Vec<&CaseEntry> = entries.iter().filter(|e| e.highest_tier >= 1).collect();
        let f = Filter::default();
        want.sort_by_key(|e| key(Sort::parse(sort_name).unwrap(), &f, e));
        let want: Vec<String> = want.iter().map(|e| e.student_id.clone()).collect();
        prop_assert_eq!(&ids, &want);
        prop_assert_eq!(pages, want.len().div_ceil(limit).max(1));
    }

    /// Decisions arriving between pages: with `sort=student` a student present
    /// throughout is served exactly once; with `sort=tier` no student twice.
    #[test]
    fn paging_while_entries_change(spec in arb_entries(), changes in prop::collection::vec((0usize..300, 1u8..4), 1..30), limit in 1usize..8) {
        for sort in ["student", "tier"] {
            let entries: Vec<CaseEntry> = spec.iter().map(|(i, t, d)| student(*i, (*t).max(1), "academic", *d, 1)).collect();
            let index = index_of(&entries, 1);
            let mut q = query(&[("sort", sort), ("limit", &limit.to_string())]);
            let (mut ids, mut pending) = (Vec::new(), changes.clone().into_iter());
            let mut seq = 2;
            loop {
                let p = page(&index, &q, today()).unwrap();
                ids.extend(p.entries.iter().map(|e| e.student_id.clone()));
                if let Some((i, t)) = pending.next() {
                    index.update(&Change::Decision(Box::new(student(i, t, "academic", 28, seq)))).unwrap();
                    index.mark_applied(seq).unwrap();
                    seq += 1;
                }
                match p.next_cursor {
                    Some(c) => q.cursor = Some(Cursor::decode(&c).unwrap()),
                    None => break,
                }
            }
            let mut unique = ids.clone();
            unique.sort();
            unique.dedup();
            prop_assert_eq!(unique.len(), ids.len(), "no student twice ({})", sort);
            if sort == "student" {
                for e in &entries {
                    prop_assert!(ids.contains(&e.student_id), "{} missing", e.student_id);
                }
            }
        }
    }
}
