//! Entries kept compressed: read back byte for byte, lines of format 1 read beside
//! them, and damaged stored bytes reported at their entry.

use super::*;

const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];

/// A decision-like payload: what the dictionary was trained on.
fn decision(student: &str, rate: f64) -> NewEntry {
    NewEntry::new(
        EntryKind::Decision,
        "sis",
        "req-1",
        serde_json::json!({
            "student_id": student,
            "rule_ids": ["chronic-absence"],
            "decision": {
                "flags": [{
                    "rule_id": "chronic-absence",
                    "domain": "attendance",
                    "tier": 2,
                    "explanation": format!("Absent {:.1}% of enrolled days (chronic absence at or above 10%)", rate * 100.0),
                    "inputs": {"params.chronic_absence_rate": 0.1, "student.attendance.absence_rate": rate},
                }],
                "tiers": {"attendance": 2, "academic": 0, "behavioral": 0, "social_emotional": 0},
            },
        }),
    )
}

fn stored(store: &Store, seq: u64) -> sled::IVec {
    store
        .inner
        .trees
        .log
        .tree()
        .get(seq.to_be_bytes())
        .unwrap()
        .unwrap()
}

#[test]
fn entries_are_kept_compressed_and_read_back_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), None).unwrap();
    for i in 0..20 {
        store
            .append_blocking(decision(&format!("S{i}"), 0.1 + i as f64 / 1000.0))
            .unwrap();
    }
    let lines = store.raw_after(0, 100).unwrap();
    assert_eq!(lines.len(), 20);
    for (seq, line) in &lines {
        let kept = stored(&store, *seq);
        assert!(kept.starts_with(&ZSTD_MAGIC), "entry {seq} is compressed");
        assert!(
            kept.len() * 2 < line.len(),
            "entry {seq}: {} stored bytes for a {}-byte line",
            kept.len(),
            line.len()
        );
        // The line is what the hash covers: the stored bytes give it back exactly.
        let (computed, claimed) = chain::stored_hash(line).unwrap();
        assert_eq!(computed, claimed);
        assert_eq!(store.get(*seq).unwrap().unwrap().seq, *seq);
    }
    let report = store.verify(&mut |_| {}).unwrap();
    assert!(report.ok && report.entries == 20, "{report:?}");
}

#[test]
fn a_line_that_compresses_no_smaller_is_kept_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), None).unwrap();
    let log = &store.inner.trees.log;
    // A frame has a header of its own: a line this short is kept as it is...
    assert_eq!(log.encode(b"{}"), b"{}");
    assert_eq!(
        log.decode(1, sled::IVec::from(&b"{}"[..])).unwrap(),
        &b"{}"[..]
    );
    // ...and an entry's line, compressed, is read back as it was.
    let line = br#"{"seq":1,"kind":"t","payload":"no dictionary knows this: 7q#Kx!2v"}"#;
    let kept = log.encode(line);
    assert!(kept.starts_with(&ZSTD_MAGIC) || kept == line);
    assert_eq!(log.decode(1, sled::IVec::from(kept)).unwrap(), &line[..]);
}

#[test]
fn lines_of_format_1_are_read_beside_compressed_entries() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), None).unwrap();
    for i in 0..4 {
        store
            .append_blocking(decision(&format!("S{i}"), 0.2))
            .unwrap();
    }
    // Entry 2 as the previous format kept it: its line.
    let line = store.raw_after(1, 1).unwrap().remove(0).1;
    let log = store.inner.trees.log.tree();
    log.insert(2u64.to_be_bytes(), line.clone()).unwrap();
    assert_eq!(stored(&store, 2)[0], b'{');
    assert_eq!(store.raw_after(1, 1).unwrap()[0].1, line);
    let report = store.verify(&mut |_| {}).unwrap();
    assert!(report.ok && report.entries == 4, "{report:?}");
}

#[test]
fn damaged_stored_bytes_are_reported_at_their_entry() {
    for (what, damage, says) in [
        (
            "a flipped byte in the frame",
            (|b: &mut Vec<u8>| {
                let mid = b.len() / 2;
                b[mid] ^= 0x20;
            }) as fn(&mut Vec<u8>),
            "",
        ),
        (
            "a frame cut short",
            |b: &mut Vec<u8>| b.truncate(b.len() - 5),
            "compressed frame is damaged",
        ),
        (
            "bytes that are neither",
            |b: &mut Vec<u8>| b[0] = b'x',
            "neither a line nor a compressed line",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), None).unwrap();
        for i in 0..5 {
            store
                .append_blocking(decision(&format!("S{i}"), 0.3))
                .unwrap();
        }
        let mut bytes = stored(&store, 3).to_vec();
        damage(&mut bytes);
        store
            .inner
            .trees
            .log
            .tree()
            .insert(3u64.to_be_bytes(), bytes)
            .unwrap();
        let report = store.verify(&mut |_| {}).unwrap();
        assert!(!report.ok, "{what}: {report:?}");
        assert_eq!(report.first_bad_seq, Some(3), "{what}: {report:?}");
        assert_eq!(report.entries, 2, "{what}: entries good before it");
        let problem = report.problem.unwrap_or_default();
        assert!(problem.contains(says), "{what}: {problem}");
        assert!(
            store.get(3).is_err() || !store.get_checked(3).unwrap().unwrap().1,
            "{what}"
        );
    }
}

#[test]
fn a_store_of_a_newer_format_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    Store::open(dir.path(), None).unwrap().shutdown();
    {
        let db = chain::open_db(dir.path()).unwrap();
        let meta = db.open_tree(chain::META_TREE).unwrap();
        meta.insert("format", &(format::CURRENT + 1).to_be_bytes())
            .unwrap();
        for k in meta.iter().keys() {
            let k = k.unwrap();
            if k.starts_with(b"zdict:") {
                meta.remove(k).unwrap();
            }
        }
        db.flush().unwrap();
    }
    let err = Store::open(dir.path(), None).err().expect("refused");
    assert!(
        matches!(err, AuditError::NewerFormat { found, reads } if found == format::CURRENT + 1 && reads == format::CURRENT),
        "{err}"
    );
    let db = chain::open_db(dir.path()).unwrap();
    let meta = db.open_tree(chain::META_TREE).unwrap();
    assert!(
        meta.scan_prefix(b"zdict:").next().is_none(),
        "no dictionary was written into the newer store"
    );
}
