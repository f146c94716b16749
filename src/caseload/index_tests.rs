//! Tests of the change function and of the rebuild against real decision entries.

use super::*;
use crate::audit::{NewEntry, Source, decision_entry};
use crate::caseload::entry::tests::payload;
use crate::caseload::entry::{Action, FlagReview, ReviewState};
use crate::engine::Evaluator;
use crate::record::parse_record;
use crate::rules::RuleSet;
use chrono::NaiveDate;
use serde_json::json;

fn entry(seq: u64, student: &str, flags: &[(&str, &str, u8)]) -> CaseEntry {
    CaseEntry::from_decision(
        seq,
        "h",
        &payload(student, "2026-12-04T09:00:00.000Z", flags),
    )
    .unwrap()
}

fn reviewed(mut e: CaseEntry, rule: &str, review_seq: u64) -> CaseEntry {
    let decision_seq = e.decision_seq;
    let f = e.flags.iter_mut().find(|f| f.rule_id == rule).unwrap();
    f.review = Some(FlagReview {
        action: Action::Confirm,
        reviewer: "c".into(),
        at: "2026-12-04T10:00:00.000Z".into(),
        reason: None,
        until: None,
        review_seq,
        decision_seq,
        tier: f.tier,
    });
    e
}

#[test]
fn a_decision_adds_the_student_and_carries_reviews() {
    let first = apply(
        None,
        &Change::Decision(Box::new(entry(1, "S", &[("a", "academic", 2)]))),
    );
    let first = reviewed(first.unwrap(), "a", 2);
    let next = apply(
        Some(first),
        &Change::Decision(Box::new(entry(3, "S", &[("a", "academic", 2)]))),
    )
    .unwrap();
    assert_eq!(next.decision_seq, 3);
    let day = NaiveDate::from_ymd_opt(2026, 12, 4).unwrap();
    assert_eq!(next.flags[0].state_on(day), ReviewState::Confirmed);
}

#[test]
fn a_withdrawal_removes_and_a_purge_removes_only_its_decision() {
    let e = reviewed(entry(5, "S", &[("a", "academic", 2)]), "a", 6);
    let gone = apply(
        Some(e.clone()),
        &Change::Withdrawal {
            student_id: "S".into(),
        },
    );
    assert_eq!(gone, None);
    let purge = |seq| Change::Purge {
        student_id: "S".into(),
        decision_seq: seq,
    };
    assert_eq!(
        apply(Some(e.clone()), &purge(5)),
        None,
        "the latest decision purged"
    );
    assert_eq!(apply(None, &purge(5)), None, "never resurrects");
    let mut carried = e.clone();
    carried.decision_seq = 9;
    let kept = apply(Some(carried.clone()), &purge(4)).unwrap();
    assert!(
        kept.flags[0].review.is_some(),
        "a review made on decision 5 stays"
    );
    let ended = apply(Some(carried), &purge(5)).unwrap();
    assert_eq!(
        ended.flags[0].review, None,
        "the review of the purged decision ends"
    );
}

#[test]
fn the_tree_encodes_reads_in_student_order_and_tracks_staleness() {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::Config::new().path(dir.path()).open().unwrap();
    let index = Index::open(&db).unwrap();
    assert!(index.is_stale(0).unwrap(), "never rebuilt");
    for s in ["S2", "S10", "S1"] {
        index
            .update(&Change::Decision(Box::new(entry(1, s, &[]))))
            .unwrap();
    }
    index.mark_applied(3).unwrap();
    assert!(!index.is_stale(3).unwrap());
    assert!(index.is_stale(4).unwrap());
    let ids: Vec<String> = index.entries().map(|e| e.unwrap().student_id).collect();
    assert_eq!(ids, ["S1", "S10", "S2"]);
    let after: Vec<String> = index
        .entries_after(Some("S1"))
        .map(|e| e.unwrap().student_id)
        .collect();
    assert_eq!(after, ["S10", "S2"]);
    assert_eq!(index.len(), 3);
    db.open_tree(TREE)
        .unwrap()
        .insert(META_FORMAT, FORMAT.wrapping_add(1).to_be_bytes().to_vec())
        .unwrap();
    assert!(index.is_stale(0).unwrap(), "another format is stale");
}

#[test]
fn a_superseded_review_leaves_the_entry_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::Config::new().path(dir.path()).open().unwrap();
    let index = Index::open(&db).unwrap();
    index
        .update(&Change::Decision(Box::new(entry(
            4,
            "S",
            &[("a", "academic", 2)],
        ))))
        .unwrap();
    let review = |decision_seq| {
        Change::from_parts(
            7,
            review::KIND,
            "2026-12-04T10:00:00.000Z",
            "h7",
            &json!({"student_id": "S", "decision_seq": decision_seq, "decision_hash": "h",
                    "reviewer": "c", "flags": [{"rule_id": "a", "domain": "academic", "tier": 2, "action": "confirm"}]})
            .to_string(),
        )
        .unwrap()
        .unwrap()
    };
    let old = index.update(&review(3)).unwrap();
    assert!(old.superseded);
    assert_eq!(old.entry.unwrap().flags[0].review, None);
    let current = index.update(&review(4)).unwrap();
    assert!(!current.superseded);
    assert_eq!(current.entry.unwrap().updated_seq, 7);
}

/// The shipped rules and the fixture caseload's first `n` flagged students.
fn flagged(
    n: usize,
) -> (
    RuleSet,
    Vec<(crate::record::Record, crate::engine::Decision)>,
) {
    let rules = RuleSet::load_dir(std::path::Path::new("rules")).unwrap();
    let ev = Evaluator::new();
    let text = std::fs::read_to_string("fixtures/caseload.ndjson").unwrap();
    let picked = text
        .lines()
        .map(|l| parse_record(l).unwrap())
        .map(|r| {
            let d = ev.evaluate(&rules, &r);
            (r, d)
        })
        .filter(|(_, d)| !d.flags.is_empty())
        .take(n)
        .collect();
    (rules, picked)
}

fn append(store: &Store, e: NewEntry) -> Entry {
    let seq = store.append_blocking(e).unwrap().seq;
    store.get(seq).unwrap().unwrap()
}

fn snapshot(index: &Index) -> Vec<CaseEntry> {
    index.entries().map(Result::unwrap).collect()
}

/// The live index (each change applied as its entry is written, a purge's changes
/// as it runs) and a rebuild from the log agree after decisions, reviews carried
/// forward, a withdrawal and a purge; nothing purged comes back.
#[test]
fn a_rebuild_gives_the_caseload_the_live_index_kept() {
    let (rules, picked) = flagged(3);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), None).unwrap();
    let live = Index::open(store.db()).unwrap();
    let write = |e: NewEntry| {
        let entry = append(&store, e);
        if let Some(c) = Change::from_entry(&entry).unwrap() {
            live.update(&c).unwrap();
        }
        live.mark_applied(entry.seq).unwrap();
        entry
    };
    let decide =
        |i: usize| decision_entry(&picked[i].1, &picked[i].0, &rules, Source::Api, "t", "");
    let today = chrono::Utc::now().date_naive();
    let review_of = |d: &Entry, action: &str| {
        let rule = d.payload["rule_ids"][0].as_str().unwrap();
        let req: review::ReviewRequest = serde_json::from_value(json!({
            "decision_seq": d.seq, "flags": [{"rule_id": rule, "action": action, "reason": "seen"}]
        }))
        .unwrap();
        req.validate(d.student_id().unwrap(), Some(d), "counselor", today)
            .unwrap()
            .entry("")
    };
    let d_a = write(decide(0));
    write(decide(1));
    let d_c = write(decide(2));
    write(review_of(&d_a, "confirm"));
    std::thread::sleep(std::time::Duration::from_millis(5));
    let cutoff = crate::audit::now();
    std::thread::sleep(std::time::Duration::from_millis(5));
    let d_a2 = write(decide(0));
    assert_eq!(
        live.get(&picked[0].0.student_id).unwrap().unwrap().flags[0].state_on(today),
        ReviewState::Confirmed,
        "carried to the new decision"
    );
    let b = &picked[1].0.student_id;
    write(NewEntry::new(
        crate::audit::EntryKind::StudentWithdrawn,
        "sis",
        "",
        json!({"student_id": b}),
    ));
    write(review_of(&d_a2, "dismiss"));
    let report = store.purge_before(&cutoff, "retention", "").unwrap();
    assert_eq!(report.purged, 3);
    for (d, i) in [(&d_a, 0), (&d_c, 2)] {
        let c = Change::Purge {
            student_id: picked[i].0.student_id.clone(),
            decision_seq: d.seq,
        };
        live.update(&c).unwrap();
    }
    live.mark_applied(store.head_seq().unwrap()).unwrap();
    let kept = snapshot(&live);
    let ids: Vec<&str> = kept.iter().map(|e| e.student_id.as_str()).collect();
    assert_eq!(
        ids,
        [picked[0].0.student_id.as_str()],
        "withdrawn and purged students left"
    );
    assert_eq!(kept[0].flags[0].state_on(today), ReviewState::Dismissed);
    assert_eq!(kept[0].decision_hash, d_a2.hash);

    store.db().open_tree(TREE).unwrap().clear().unwrap();
    assert!(live.is_stale(store.head_seq().unwrap()).unwrap());
    let r = ensure_current(&live, &store).unwrap().unwrap();
    assert_eq!((r.students, r.applied_seq), (1, store.head_seq().unwrap()));
    assert_eq!(snapshot(&live), kept);
    assert_eq!(
        ensure_current(&live, &store).unwrap(),
        None,
        "current: no rebuild"
    );
    store.shutdown();
}

fn open_following(dir: &std::path::Path) -> Store {
    let options = crate::audit::Options {
        follow: Some(attach()),
        ..Default::default()
    };
    Store::open_with(dir, options).unwrap()
}

/// The index as the audit writer keeps it (attached at open): decisions, a review
/// carried forward, a superseded review, a withdrawal and a purge land with their
/// entries; reopening with the tree cleared rebuilds the same caseload before the
/// store takes its first entry.
#[test]
fn the_writer_keeps_the_index_and_reopening_rebuilds_it() {
    let (rules, picked) = flagged(2);
    let dir = tempfile::tempdir().unwrap();
    let store = open_following(dir.path());
    let index = Index::open(store.db()).unwrap();
    let today = chrono::Utc::now().date_naive();
    let decide =
        |i: usize| decision_entry(&picked[i].1, &picked[i].0, &rules, Source::Api, "t", "");
    let review_of = |d: &Entry| {
        let rule = d.payload["rule_ids"][0].as_str().unwrap();
        let req: review::ReviewRequest = serde_json::from_value(json!({
            "decision_seq": d.seq, "flags": [{"rule_id": rule, "action": "confirm"}]
        }))
        .unwrap();
        req.validate(d.student_id().unwrap(), Some(d), "counselor", today)
            .unwrap()
            .entry("")
    };
    let (a, b) = (&picked[0].0.student_id, &picked[1].0.student_id);
    let d_a = append(&store, decide(0));
    append(&store, decide(1));
    let first = store.append_blocking(review_of(&d_a)).unwrap();
    assert!(!first.superseded);
    std::thread::sleep(std::time::Duration::from_millis(5));
    let cutoff = crate::audit::now();
    std::thread::sleep(std::time::Duration::from_millis(5));
    let d_a2 = append(&store, decide(0));
    let late = store.append_blocking(review_of(&d_a)).unwrap();
    assert!(
        late.superseded,
        "a review of an older decision is superseded"
    );
    let now_a = index.get(a).unwrap().unwrap();
    assert_eq!(now_a.decision_seq, d_a2.seq);
    assert_eq!(
        now_a.flags[0].state_on(today),
        ReviewState::Confirmed,
        "carried"
    );
    assert_eq!(index.applied_seq().unwrap(), Some(late.seq));

    let report = store.purge_before(&cutoff, "retention", "").unwrap();
    assert_eq!(report.purged, 2, "d_a and b's only decision");
    assert!(index.get(b).unwrap().is_none(), "purged: b leaves");
    let kept = snapshot(&index);
    assert_eq!(kept.len(), 1);
    assert_eq!(
        kept[0].flags[0].state_on(today),
        ReviewState::Unreviewed,
        "the review made on a purged decision ends"
    );
    assert_eq!(
        index.applied_seq().unwrap(),
        Some(store.head_seq().unwrap())
    );
    store.shutdown();
    drop((store, index));

    let db = crate::audit::open_db(dir.path()).unwrap();
    db.open_tree(TREE).unwrap().clear().unwrap();
    db.flush().unwrap();
    drop(db);
    let store = open_following(dir.path());
    let index = Index::open(store.db()).unwrap();
    assert_eq!(snapshot(&index), kept, "rebuilt at open");
    store.shutdown();
}
