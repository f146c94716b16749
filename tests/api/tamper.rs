//! Tampering with a stopped server's audit log is detected: by `Store::verify`, by
//! `intervene audit verify` (exit 1 naming the entry), and by `/v1/audit/verify`
//! after a restart.

use std::path::Path;
use std::time::Duration;

use intervene::audit::{Entry, Log, Store};
use serde_json::Value;

use crate::helpers::{BinaryServer, cli_verify, client, json_ok, low_gpa, rehash, spawn_app_in};

/// Run the real binary on `data`, make `n` audited decisions, stop it with SIGTERM.
/// Returns the number of entries in the log.
pub(crate) async fn populate(data: &Path, n: usize) -> u64 {
    let mut server = BinaryServer::start(data);
    {
        let http = client();
        server.wait_healthy(&http).await;
        for i in 0..n {
            let resp = http
                .post(format!("{}/v1/evaluate", server.address))
                .header("content-type", "application/json")
                .body(low_gpa(&format!("T-{i}")).to_string())
                .send()
                .await
                .expect("evaluate");
            assert_eq!(resp.status(), 200);
        }
        // Dropping the client closes its keep-alive connections, so the graceful
        // stop has nothing to wait for.
    }
    let status = server.terminate(Duration::from_secs(15));
    assert!(
        status.success(),
        "the server exits cleanly on SIGTERM: {status}; log:\n{}",
        server.log()
    );
    let (code, out) = cli_verify(data);
    assert_eq!(code, 0, "the untouched log verifies: {out}");
    assert!(out.contains("ok:"), "{out}");
    n as u64 + 1
}

/// Open the raw sled database and change the log tree with `edit`.
/// Edit the log of the stopped server in `data` as someone with the files would:
/// through the log's codec, so an edit is to an entry's line as export shows it
/// (`log.tree()` for the stored bytes themselves).
pub(crate) fn edit_log(data: &Path, edit: impl FnOnce(&Log)) {
    let db = intervene::audit::open_db(data).expect("open the stopped server's data");
    let log = intervene::audit::open_log(&db).expect("the audit log");
    edit(&log);
    db.flush().expect("flush");
}

fn verify_with_store(data: &Path) -> intervene::audit::VerifyReport {
    // To inspect: a store missing acknowledged entries refuses to open for writing.
    let store = Store::open_to_inspect(data).expect("Store::open_to_inspect");
    let report = store.verify(&mut |_| {}).expect("verify");
    store.shutdown();
    report
}

/// After a restart on the tampered data, `/v1/audit/verify` reports it too.
async fn http_verify(data: tempfile::TempDir) -> Value {
    let app = spawn_app_in(data, vec![], |_| {}).await;
    json_ok(app.get("/v1/audit/verify").await).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_one_byte_of_an_entry_is_detected_at_that_entry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_path_buf();
    let entries = populate(&data, 6).await;
    const N: u64 = 4;
    edit_log(&data, |log| {
        let mut bytes = log.get(N).expect("get").expect("entry N exists").to_vec();
        let e: Entry = serde_json::from_slice(&bytes).expect("entry N is JSON");
        assert_eq!(e.seq, N);
        // One byte of the student id: `T-2` becomes `T-3`; still valid JSON.
        let needle = b"\"student_id\":\"T-2\"";
        let at = bytes
            .windows(needle.len())
            .position(|w| w == needle)
            .expect("student id in entry N")
            + needle.len()
            - 2;
        bytes[at] = b'3';
        assert!(serde_json::from_slice::<Value>(&bytes).is_ok());
        log.insert(N, &bytes).expect("insert");
    });

    let report = verify_with_store(&data);
    assert!(!report.ok);
    assert_eq!(report.first_bad_seq, Some(N), "{report:?}");
    assert!(
        report
            .problem
            .as_deref()
            .is_some_and(|p| p.contains("altered")),
        "{report:?}"
    );
    assert_eq!(
        report.entries,
        N - 1,
        "entries checked good before the bad one"
    );

    let (code, out) = cli_verify(&data);
    assert_eq!(code, 1, "audit verify exits 1 on a broken chain: {out}");
    assert!(
        out.contains(&format!("entry {N}")),
        "the CLI names entry {N}: {out}"
    );

    let r = http_verify(dir).await;
    assert_eq!(r["ok"], false, "{r}");
    assert_eq!(r["first_bad_seq"], N, "{r}");
    assert!(entries > N);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_rewritten_with_a_fresh_hash_breaks_the_next_link() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_path_buf();
    populate(&data, 4).await;
    const N: u64 = 3;
    edit_log(&data, |log| {
        let mut e: Entry =
            serde_json::from_slice(&log.get(N).expect("get").expect("entry")).expect("json");
        e.actor = "someone-else".into();
        let forged = rehash(&serde_json::to_string(&e).expect("json"));
        log.insert(N, forged.as_bytes()).expect("insert");
    });
    let report = verify_with_store(&data);
    assert_eq!(report.first_bad_seq, Some(N + 1), "{report:?}");
    let (code, out) = cli_verify(&data);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("entry {}", N + 1)), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_an_entry_in_the_middle_is_detected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_path_buf();
    populate(&data, 5).await;
    const N: u64 = 3;
    edit_log(&data, |log| {
        log.tree()
            .remove(N.to_be_bytes())
            .expect("remove")
            .expect("entry N existed");
    });
    let report = verify_with_store(&data);
    assert!(!report.ok);
    assert_eq!(report.first_bad_seq, Some(N), "{report:?}");
    assert!(
        report
            .problem
            .as_deref()
            .is_some_and(|p| p.contains("missing")),
        "{report:?}"
    );

    let (code, out) = cli_verify(&data);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("entry {N}")), "{out}");

    let r = http_verify(dir).await;
    assert_eq!(r["ok"], false, "{r}");
    assert_eq!(r["first_bad_seq"], N, "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_and_renumbering_is_detected() {
    // Remove entry N and shift every later entry down one: sequence numbers stay
    // contiguous, but the stored `seq` and the chain no longer agree.
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_path_buf();
    let total = populate(&data, 5).await;
    const N: u64 = 2;
    edit_log(&data, |log| {
        for s in N..total {
            let next = log.get(s + 1).expect("get").expect("entry");
            log.insert(s, &next).expect("insert");
        }
        log.tree().remove(total.to_be_bytes()).expect("remove");
    });
    let report = verify_with_store(&data);
    assert_eq!(report.first_bad_seq, Some(N), "{report:?}");
    let (code, _) = cli_verify(&data);
    assert_eq!(code, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_newest_entry_is_detected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_path_buf();
    let total = populate(&data, 3).await;
    edit_log(&data, |log| {
        log.tree()
            .remove(total.to_be_bytes())
            .expect("remove")
            .expect("newest entry existed");
    });
    let report = verify_with_store(&data);
    assert!(
        !report.ok,
        "a log missing its newest entry verifies as intact: {report:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_verify_without_a_store_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, out) = cli_verify(&dir.path().join("nothing-here"));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("no audit store"), "{out}");
}

/// Entries are kept compressed: a byte changed in the stored bytes themselves (not
/// in the line they hold) is found at that entry too, by the CLI and the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_one_byte_of_an_entrys_compressed_bytes_is_detected_at_that_entry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_path_buf();
    populate(&data, 6).await;
    const N: u64 = 4;
    edit_log(&data, |log| {
        let key = N.to_be_bytes();
        let mut stored = log.tree().get(key).expect("get").expect("entry").to_vec();
        assert_eq!(stored[..4], [0x28, 0xB5, 0x2F, 0xFD], "kept compressed");
        let mid = stored.len() / 2;
        stored[mid] ^= 0x01;
        log.tree().insert(key, stored).expect("insert");
    });
    let report = verify_with_store(&data);
    assert!(!report.ok);
    assert_eq!(report.first_bad_seq, Some(N), "{report:?}");
    assert_eq!(report.entries, N - 1, "{report:?}");
    let (code, out) = cli_verify(&data);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("entry {N}")), "{out}");
    let r = http_verify(dir).await;
    assert_eq!(r["ok"], false, "{r}");
    assert_eq!(r["first_bad_seq"], N, "{r}");
}
