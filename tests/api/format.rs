//! The store's format version across an upgrade: a data directory written by the
//! previous format (entries kept as lines) is opened by this binary, migrated, and
//! reads every old entry byte for byte beside the new compressed ones; one written
//! by a newer format is refused before anything is read or changed.

use std::path::Path;

use crate::helpers::{cli_verify, copy_dir, fixtures_dir};
use crate::storage::{decide, intervene, serve_refuses};

/// zstd's frame magic: how a compressed entry's stored bytes begin.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];

/// (format recorded in the meta tree, first stored byte of each entry by seq).
fn stored_layout(data: &Path) -> (Option<u32>, Vec<(u64, Vec<u8>)>) {
    let db = intervene::audit::open_db(data).expect("open the stopped server's data");
    let format = db
        .open_tree("audit_meta")
        .expect("meta")
        .get("format")
        .expect("get")
        .map(|v| u32::from_be_bytes(v.as_ref().try_into().expect("4 bytes")));
    let log = db.open_tree(intervene::audit::LOG_TREE).expect("log");
    let heads = log
        .iter()
        .map(|kv| {
            let (k, v) = kv.expect("read");
            let seq = u64::from_be_bytes(k.as_ref().try_into().expect("8 bytes"));
            (seq, v[..4.min(v.len())].to_vec())
        })
        .collect();
    (format, heads)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_format_1_store_is_migrated_on_open_and_reads_its_old_entries_as_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    copy_dir(&fixtures_dir().join("stores/format-1"), &data);
    // What the previous binary exported from this store.
    let before = std::fs::read_to_string(fixtures_dir().join("stores/format-1.ndjson"))
        .expect("the previous binary's export");
    let old = before.lines().count() as u64;
    let (format, heads) = stored_layout(&data);
    assert_eq!(format, None, "format 1 records no version");
    assert!(
        heads.iter().all(|(_, h)| h[0] == b'{'),
        "format 1 keeps lines"
    );

    // Upgrade: the server opens it, takes decisions, stops.
    decide(&data, 3).await;

    let (code, out) = cli_verify(&data);
    assert_eq!(
        code, 0,
        "the migrated chain verifies across the upgrade: {out}"
    );
    assert!(out.contains(&format!("{} entries", old + 4)), "{out}"); // + load + 3
    let (code, export) = intervene(&["audit", "export"], &data);
    assert_eq!(code, 0, "{export}");
    let lines: Vec<&str> = export.lines().collect();
    assert_eq!(
        lines[..old as usize].join("\n"),
        before.trim_end(),
        "every old entry exports byte for byte as the previous binary exported it"
    );
    let (format, heads) = stored_layout(&data);
    assert_eq!(format, Some(2), "the store records its new format");
    for (seq, head) in &heads {
        if *seq <= old {
            assert_eq!(head[0], b'{', "old entry {seq} is left as it was written");
        } else {
            assert_eq!(head, &ZSTD_MAGIC, "new entry {seq} is kept compressed");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_of_a_newer_format_is_refused_and_left_as_it_was() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    copy_dir(&fixtures_dir().join("stores/format-1"), &data);
    decide(&data, 1).await;
    {
        let db = intervene::audit::open_db(&data).expect("open");
        db.open_tree("audit_meta")
            .expect("meta")
            .insert("format", &3u32.to_be_bytes())
            .expect("insert");
        db.flush().expect("flush");
    }
    let (_, before) = stored_layout(&data);

    let (code, log) = serve_refuses(&data);
    assert_eq!(code, 1, "{log}");
    assert!(
        log.contains("store format 3") && log.contains("reads formats up to 2"),
        "the refusal names both formats: {log}"
    );
    let (code, out) = cli_verify(&data);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("newer intervene"), "{out}");
    let (format, after) = stored_layout(&data);
    assert_eq!(format, Some(3), "the newer format is not overwritten");
    assert_eq!(before, after, "nothing was written");
}
