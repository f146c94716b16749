//! The store end to end: chaining, indexing, escaping, reopening.

use super::*;

/// Appends a decision entry for `student` and returns its seq (shared by the purge
/// and sweep tests).
pub(super) fn decision(store: &Store, student: &str) -> u64 {
    store
        .append_blocking(NewEntry::new(
            EntryKind::Decision,
            "t",
            "",
            serde_json::json!({"student_id": student}),
        ))
        .unwrap()
        .seq
}

fn entry(payload: serde_json::Value) -> NewEntry {
    NewEntry::new(EntryKind::from("test"), "t", "r", payload)
}

/// serde_json without `float_roundtrip` parses 0.23493975903614459 as a
/// neighbouring float, so a stored decision no longer matched its hash.
#[test]
fn chain_verifies_with_floats_that_need_exact_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), None).unwrap();
    store
        .append_blocking(entry(
            serde_json::json!({"rate": 0.23493975903614459, "student_id": "S1"}),
        ))
        .unwrap();
    store
        .append_blocking(entry(
            serde_json::json!({"rate": 1.0e-7, "big": 12345678901234567u64}),
        ))
        .unwrap();
    let report = store.verify(&mut |_| {}).unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.entries, 2);
}

#[test]
fn entries_are_chained_and_indexed_by_student() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), None).unwrap();
    let a = store
        .append_blocking(entry(
            serde_json::json!({"student_id": "S1", "rule_ids": ["low-gpa"]}),
        ))
        .unwrap();
    let b = store
        .append_blocking(entry(serde_json::json!({"student_id": "S2"})))
        .unwrap();
    assert_eq!(a.prev_hash, GENESIS);
    assert_eq!(b.prev_hash, a.hash);
    let page = store
        .query(&Query {
            student: Some("S1".into()),
            limit: 10,
            ..Query::default()
        })
        .unwrap();
    assert_eq!(
        page.entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![1]
    );
    let page = store
        .query(&Query {
            rule: Some("low-gpa".into()),
            limit: 10,
            ..Query::default()
        })
        .unwrap();
    assert_eq!(page.entries.len(), 1);
}

/// The writer frames entries by hand: names and ids with quotes, backslashes
/// and control characters must still make valid JSON that verifies.
#[test]
fn entries_with_characters_json_must_escape_verify() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), None).unwrap();
    let tricky = "a \"quoted\" \\ name\n\u{1}é";
    let e = store
        .append_blocking(NewEntry::new(
            EntryKind::from(tricky),
            tricky,
            tricky,
            serde_json::json!({"student_id": tricky}),
        ))
        .unwrap();
    let got = store.get(e.seq).unwrap().unwrap();
    assert_eq!((got.kind.as_str(), got.actor.as_str()), (tricky, tricky));
    assert_eq!(got.request_id, tricky);
    assert_eq!(got.hash, e.hash);
    assert!(store.verify(&mut |_| {}).unwrap().ok);
}

/// Seen in CI: a store closed a moment ago in the same process (here a raw
/// handle, as the tamper tests edit it) was still locked by sled's last
/// background write, and reopening it failed as "in use".
#[test]
fn a_store_reopened_right_after_closing_it_opens() {
    // Several at once, so sled's background threads are sometimes descheduled
    // between answering a flush and letting go of the store.
    let workers: Vec<_> = (0..6)
        .map(|_| {
            std::thread::spawn(|| {
                let dir = tempfile::tempdir().unwrap();
                for n in 1..=40u64 {
                    {
                        let db = open_db(dir.path()).unwrap();
                        db.open_tree("scratch")
                            .unwrap()
                            .insert(n.to_be_bytes(), vec![0u8; 4096])
                            .unwrap();
                        db.flush().unwrap();
                    }
                    let store = Store::open(dir.path(), None).unwrap();
                    let e = store
                        .append_blocking(entry(serde_json::json!({"n": n})))
                        .unwrap();
                    assert_eq!(e.seq, n);
                    store.shutdown();
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
}

#[test]
fn reopening_continues_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path(), None).unwrap();
        store
            .append_blocking(entry(serde_json::json!({"n": 1})))
            .unwrap();
        store.shutdown();
    }
    let store = Store::open(dir.path(), None).unwrap();
    let e = store
        .append_blocking(entry(serde_json::json!({"n": 2})))
        .unwrap();
    assert_eq!(e.seq, 2);
    assert!(store.verify(&mut |_| {}).unwrap().ok);
}

/// A time-range page used to read every entry newer than its end on the way down
/// (1–6 s on a 200,000-entry store); it now starts at the end found by binary
/// search, and answers exactly what a full scan would.
#[test]
fn a_time_range_page_found_by_binary_search_answers_what_a_scan_would() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), None).unwrap();
    for i in 0..60 {
        if i % 7 == 0 {
            std::thread::sleep(std::time::Duration::from_millis(3));
        }
        store
            .append_blocking(entry(serde_json::json!({"i": i})))
            .unwrap();
    }
    let all = store
        .query(&Query {
            limit: query::MAX_PAGE,
            ..Query::default()
        })
        .unwrap()
        .entries;
    assert_eq!(all.len(), 60);
    let mut ends: Vec<String> = all.iter().map(|e| e.at.clone()).collect();
    ends.extend(["0000".to_string(), "9999".to_string()]);
    ends.dedup();
    assert!(ends.len() > 5, "the entries span several milliseconds");
    for to in &ends {
        for before in [None, Some(30), Some(1)] {
            let page = store
                .query(&Query {
                    to: Some(to.clone()),
                    before,
                    limit: query::MAX_PAGE,
                    ..Query::default()
                })
                .unwrap();
            let want: Vec<u64> = all
                .iter()
                .filter(|e| e.at.as_str() < to.as_str() && before.is_none_or(|b| e.seq < b))
                .map(|e| e.seq)
                .collect();
            let got: Vec<u64> = page.entries.iter().map(|e| e.seq).collect();
            assert_eq!(got, want, "to {to}, before {before:?}");
        }
    }
}
