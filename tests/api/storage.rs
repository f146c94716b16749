//! Damaged or missing storage is never silent, and checkpoints kept outside the
//! server catch a log cut short or rewritten. Each test damages the real files of a
//! stopped (or running) `intervene serve` the way a disk, an operator or an
//! attacker would, and checks what the CLI and the server say.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::helpers::{BinaryServer, cli_verify, client, fixtures_dir, low_gpa};

#[path = "../support/run.rs"]
mod run;

/// Run `intervene ARGS` to completion (at most 60 s): (exit code, stdout + stderr).
pub(crate) fn intervene(args: &[&str], data: &Path) -> (i32, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_intervene"));
    cmd.args(args)
        .arg("--data")
        .arg(data)
        .env("RUST_LOG", "warn")
        .env_remove("INTERVENE_DATA");
    let out = run::run_with_timeout(&mut cmd, None, Duration::from_secs(60));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// `intervene serve` on `data` must refuse to start: (exit code, its output).
pub(crate) fn serve_refuses(data: &Path) -> (i32, String) {
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_intervene"));
    cmd.args(["serve", "--bind", "127.0.0.1:0", "--data"])
        .arg(data)
        .arg("--rules")
        .arg(rules)
        .current_dir(data)
        .env("RUST_LOG", "warn")
        .env("NO_COLOR", "1");
    let out = run::run_with_timeout(&mut cmd, None, Duration::from_secs(20));
    let text = String::from_utf8_lossy(&out.stderr).to_string();
    (out.status.code().unwrap_or(-1), text)
}

/// Start the real binary on `data`, make `n` decisions (returning their ids), stop
/// it with SIGTERM. Unlike `tamper::populate`, the store is not reopened after.
pub(crate) async fn decide(data: &Path, n: usize) -> Vec<String> {
    let mut server = BinaryServer::start(data);
    let mut ids = Vec::new();
    {
        let http = client();
        server.wait_healthy(&http).await;
        for i in 0..n {
            let d: Value = http
                .post(format!("{}/v1/evaluate", server.address))
                .header("content-type", "application/json")
                .body(low_gpa(&format!("T-{i}")).to_string())
                .send()
                .await
                .expect("evaluate")
                .json()
                .await
                .expect("decision");
            ids.push(d["decision_id"].as_str().expect("decision_id").to_string());
        }
    }
    let status = server.terminate(Duration::from_secs(15));
    assert!(status.success(), "clean stop; log:\n{}", server.log());
    ids
}

/// Sixteen bytes from the middle of entry `seq`'s stored (compressed) value, or of
/// the newest entry's when `seq` is `None`: what to look for in sled's `db` file.
/// Read from a copy: opening the store itself would move sled's snapshot past the
/// damage about to be made, and sled would then refuse the whole file instead of
/// reading the damage as a cut.
fn stored_needle(data: &Path, seq: Option<u64>) -> Vec<u8> {
    let copy = tempfile::tempdir().expect("tempdir");
    crate::helpers::copy_dir(data, copy.path());
    let db = intervene::audit::open_db(copy.path()).expect("open a copy of the data");
    let log = intervene::audit::open_log(&db).expect("log");
    let stored = match seq {
        Some(s) => log.tree().get(s.to_be_bytes()).expect("get"),
        None => log.tree().last().expect("last").map(|(_, v)| v),
    }
    .expect("the entry is stored");
    let mid = stored.len() / 2;
    stored[mid - 8..mid + 8].to_vec()
}

/// Flip one bit in every copy of `needle` in sled's `db` file; how many.
fn flip_in_db(data: &Path, needle: &[u8]) -> usize {
    let path = data.join("db");
    let mut bytes = std::fs::read(&path).expect("read db");
    let hits: Vec<usize> = bytes
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect();
    for &at in &hits {
        bytes[at + 3] ^= 1;
    }
    std::fs::write(&path, bytes).expect("write db");
    hits.len()
}

/// The issue: one flipped byte in the newest entry, and `audit verify` said
/// `ok: N-1 entries` while the server reused the lost entry's seq (sled drops a
/// damaged tail as a torn write, without an error).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_newest_entry_is_reported_and_its_seq_never_reused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_path_buf();
    let ids = decide(&data, 6).await; // entries: ruleset.loaded + 6 decisions
    assert!(ids.last().is_some(), "a decision");
    assert!(
        flip_in_db(&data, &stored_needle(&data, None)) > 0,
        "the newest decision is in `db`"
    );

    let (code, out) = cli_verify(&data);
    assert_eq!(code, 1, "verify must fail when entry 7 is gone: {out}");
    assert!(
        out.contains("entries 7 to 7 are missing") && out.contains("acknowledged"),
        "verify names the missing entry: {out}"
    );

    let (code, log) = serve_refuses(&data);
    assert_eq!(code, 1, "the server must not start and reuse seq 7: {log}");
    assert!(
        log.contains("entries 7 to 7 are lost") && log.contains("intervene audit record-gap"),
        "the refusal says what happened and what to do: {log}"
    );

    // The operator accepts the loss: it is recorded, and 7 is never used again.
    let (code, out) = intervene(&["audit", "record-gap"], &data);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("entries 7 to 7 were lost"), "{out}");
    let (code, out) = cli_verify(&data);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("note: entries 7 to 7 were lost"), "{out}");
    let more = decide(&data, 1).await;
    let (_, export) = intervene(&["audit", "export"], &data);
    let seqs: Vec<u64> = export
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|e| e["seq"].as_u64().expect("seq"))
        .collect();
    assert!(!seqs.contains(&7), "seq 7 was reused: {seqs:?}");
    assert!(
        export.contains(&more[0]),
        "the new decision is logged after the gap"
    );
}

/// The other truncation: the last MiB of `db` cut off. sled opens what is
/// left as if nothing happened (here: an empty log), and verify said `ok`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_cut_short_is_reported_not_served_as_an_empty_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_path_buf();
    batch(&data, 3).await;
    let db = std::fs::OpenOptions::new()
        .write(true)
        .open(data.join("db"))
        .expect("open db");
    let len = db.metadata().expect("metadata").len();
    db.set_len(len.saturating_sub(1 << 20)).expect("truncate");
    drop(db);

    let (code, out) = cli_verify(&data);
    assert_eq!(code, 1, "a cut store must not verify: {out}");
    assert!(out.contains("missing") || out.contains("damaged"), "{out}");
    let (code, log) = serve_refuses(&data);
    assert_eq!(code, 1, "the server must refuse a cut store: {log}");
    assert!(
        log.contains("lost") || log.contains("damaged"),
        "the refusal says why: {log}"
    );
    // A panic inside sled may still be printed by the panic hook; what matters is
    // that it is caught: exit 1 with the reason, never 101.
}

/// `n` batches of the 300-record caseload through the real binary, then stop it.
async fn batch(data: &Path, n: usize) {
    let body = std::fs::read(fixtures_dir().join("caseload.ndjson")).expect("caseload");
    let mut server = BinaryServer::start(data);
    {
        let http = client();
        server.wait_healthy(&http).await;
        for _ in 0..n {
            let resp = http
                .post(format!("{}/v1/evaluate/batch", server.address))
                .header("content-type", "application/x-ndjson")
                .body(body.clone())
                .send()
                .await
                .expect("batch");
            assert_eq!(resp.status(), 200);
            resp.bytes().await.expect("batch body");
        }
    }
    let status = server.terminate(Duration::from_secs(30));
    assert!(status.success(), "clean stop; log:\n{}", server.log());
}

/// sled panics on some damaged files (here: bits flipped at fixed places): both
/// `audit verify` and `serve` exited 101 with a panic inside sled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_sled_panics_on_is_a_clear_error_not_a_crash() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_path_buf();
    batch(&data, 3).await;
    let path = data.join("db");
    let mut bytes = std::fs::read(&path).expect("read db");
    let len = bytes.len();
    for k in 1..8 {
        bytes[len * k / 8] ^= 0x10;
    }
    std::fs::write(&path, bytes).expect("write db");

    let (code, out) = cli_verify(&data);
    assert_eq!(code, 1, "verify exits 1 (not a panic, 101): {out}");
    assert!(out.contains("damaged") || out.contains("missing"), "{out}");
    let (code, log) = serve_refuses(&data);
    assert_eq!(code, 1, "serve refuses to start (not a panic, 101): {log}");
    assert!(log.contains("damaged") || log.contains("lost"), "{log}");
}

/// The issue: with a page damaged that startup does not read, `serve` said
/// `ready`/`store: open`, kept acknowledging decisions, and `/v1/audit/verify`
/// answered a bare 500 while the CLI said "Read corrupted data".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_cannot_be_read_is_not_ready_and_takes_no_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_path_buf();
    batch(&data, 3).await;
    let (code, out) = cli_verify(&data); // reopened once: sled keeps a snapshot
    assert_eq!(code, 0, "{out}");
    let (_, export) = intervene(&["audit", "export"], &data);
    let first: Value = export
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|e| e["kind"] == "decision")
        .expect("a decision");
    let seq = first["seq"].as_u64().expect("seq");
    assert!(flip_in_db(&data, &stored_needle(&data, Some(seq))) > 0);

    // Where sled finds the damage depends on where the entry landed in its file:
    // in the part it replays when it opens, it refuses the whole store (learned on
    // a copy, as opening can change what sled makes of the damage). Then the server
    // must refuse too, saying what to do.
    let probe = tempfile::tempdir().expect("tempdir");
    crate::helpers::copy_dir(&data, probe.path());
    if cli_verify(probe.path()).1.contains("cannot be opened") {
        let (code, log) = serve_refuses(&data);
        assert_eq!(code, 1, "{log}");
        assert!(
            log.contains("Read corrupted data")
                && log.contains("restore the data directory from a backup"),
            "{log}"
        );
        return;
    }

    let server = BinaryServer::start(&data);
    let http = client();
    server.wait_healthy(&http).await;
    let url = |p: &str| format!("{}{p}", server.address);
    let verify = http
        .get(url("/v1/audit/verify"))
        .send()
        .await
        .expect("verify");
    let status = verify.status();
    let ct = verify
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body: Value = verify.json().await.expect("json");
    if status == 200 {
        // sled happened to read the damage as a cut: verify names it.
        assert_eq!(body["ok"], false, "{body}");
        return;
    }
    assert_eq!(status, 503, "{body}");
    assert_eq!(ct, "application/problem+json");
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("corrupted")),
        "verify says what is wrong: {body}"
    );

    let ready = http.get(url("/readyz")).send().await.expect("readyz");
    assert_eq!(ready.status(), 503);
    let ready: Value = ready.json().await.expect("json");
    assert_eq!(ready["store"], "damaged", "{ready}");

    let resp = http
        .post(url("/v1/evaluate"))
        .header("content-type", "application/json")
        .body(low_gpa("AFTER").to_string())
        .send()
        .await
        .expect("evaluate");
    assert_eq!(
        resp.status(),
        503,
        "nothing is acknowledged into a damaged store"
    );
    let problem: Value = resp.json().await.expect("json");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("damaged")),
        "{problem}"
    );
    assert!(
        server.log().contains("audit store is damaged"),
        "the log says why"
    );
}

/// The issue: deleting the data directory under a running server went unnoticed
/// (200s, ready, verify ok), and after a restart the log was empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_data_directory_under_a_running_server_is_noticed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let server = BinaryServer::start(&data);
    let http = client();
    server.wait_healthy(&http).await;
    let url = |p: &str| format!("{}{p}", server.address);
    let evaluate = || {
        http.post(url("/v1/evaluate"))
            .header("content-type", "application/json")
            .body(low_gpa("D-1").to_string())
            .send()
    };
    assert_eq!(evaluate().await.expect("evaluate").status(), 200);

    std::fs::remove_dir_all(&data).expect("delete the data directory");

    let resp = evaluate().await.expect("evaluate");
    assert_eq!(
        resp.status(),
        503,
        "a write into a deleted store is refused"
    );
    let problem: Value = resp.json().await.expect("json");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("deleted")),
        "{problem}"
    );
    let ready = http.get(url("/readyz")).send().await.expect("readyz");
    assert_eq!(ready.status(), 503);
    let ready: Value = ready.json().await.expect("json");
    assert_eq!(ready["store"], "damaged", "{ready}");
    assert!(
        server.log().contains("was deleted or replaced"),
        "the log says why:\n{}",
        server.log()
    );
}

/// A server with a checkpoint key outside its data directory, checkpointing every
/// 2 entries: (data dir, key file, public key).
fn keyed_server_dir(root: &Path) -> (PathBuf, PathBuf, String) {
    let key = root.join("checkpoint.key");
    let out = Command::new(env!("CARGO_BIN_EXE_intervene"))
        .args(["keys", "checkpoint", "--out"])
        .arg(&key)
        .output()
        .expect("keys checkpoint");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{text}");
    let public = text
        .lines()
        .find_map(|l| l.strip_prefix("public key (give it to auditors): "))
        .expect("the public key is printed")
        .to_string();
    let data = root.join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    std::fs::write(
        data.join("intervene.yaml"),
        format!(
            "audit:\n  checkpoint_key: {}\n  checkpoint_every_entries: 2\n",
            key.display()
        ),
    )
    .expect("config");
    (data, key, public)
}

/// Checkpoints are signed, served, logged, and `audit verify --checkpoint` fails on
/// a log cut back to before a kept checkpoint, even when whoever cut it also
/// removed the server's own records of its head.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_checkpoint_catches_a_log_cut_short_or_rewritten() {
    let root = tempfile::tempdir().expect("tempdir");
    let (data, _key, public) = keyed_server_dir(root.path());
    let mut server = BinaryServer::start(&data);
    let kept = {
        let http = client();
        server.wait_healthy(&http).await;
        for i in 0..5 {
            let resp = http
                .post(format!("{}/v1/evaluate", server.address))
                .header("content-type", "application/json")
                .body(low_gpa(&format!("C-{i}")).to_string())
                .send()
                .await
                .expect("evaluate");
            assert_eq!(resp.status(), 200);
        }
        let resp = http
            .get(format!("{}/v1/audit/checkpoint", server.address))
            .send()
            .await
            .expect("checkpoint");
        assert_eq!(resp.status(), 200);
        resp.json::<Value>().await.expect("json")
    };
    assert_eq!(kept["public_key"], public.as_str(), "{kept}");
    assert_eq!(kept["algorithm"], "ed25519", "{kept}");
    let seq = kept["seq"].as_u64().expect("seq");
    assert!(seq >= 4, "a checkpoint every 2 entries: {kept}");
    let status = server.terminate(Duration::from_secs(15));
    assert!(status.success());
    assert!(
        server.log().contains("audit checkpoint"),
        "checkpoints are logged"
    );

    let file = root.path().join("kept.json");
    std::fs::write(&file, kept.to_string()).expect("keep it");
    let file_arg = file.to_str().expect("path");
    let (code, out) = intervene(
        &[
            "audit",
            "verify",
            "--checkpoint",
            file_arg,
            "--public-key",
            &public,
        ],
        &data,
    );
    assert_eq!(code, 0, "the untouched log matches: {out}");
    assert!(out.contains("matches the checkpoints"), "{out}");

    // A forged checkpoint (another seq) does not pass the signature check.
    let mut forged = kept.clone();
    forged["seq"] = Value::from(seq - 1);
    let forged_file = root.path().join("forged.json");
    std::fs::write(&forged_file, forged.to_string()).expect("write");
    let (code, out) = intervene(
        &[
            "audit",
            "verify",
            "--checkpoint",
            forged_file.to_str().expect("path"),
            "--public-key",
            &public,
        ],
        &data,
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("signature does not match"), "{out}");

    // Cut the log back to before the checkpoint, and remove the server's own
    // records of its head: the chain alone still verifies...
    {
        let db = intervene::audit::open_db(&data).expect("open");
        let log = db.open_tree(intervene::audit::LOG_TREE).expect("log");
        let last = log.last().expect("last").map(|(k, _)| k).expect("an entry");
        let head = u64::from_be_bytes(last.as_ref().try_into().expect("8 bytes"));
        for s in (seq - 1)..=head {
            log.remove(s.to_be_bytes()).expect("remove");
        }
        db.open_tree("audit_meta")
            .expect("meta")
            .remove("indexed")
            .expect("remove");
        db.flush().expect("flush");
    }
    std::fs::remove_file(data.join("audit.head")).expect("rm");
    std::fs::remove_file(data.join("checkpoint.json")).expect("rm");
    let (code, out) = cli_verify(&data);
    assert_eq!(
        code, 0,
        "without the checkpoint the cut is invisible: {out}"
    );
    // ...but not against the checkpoint the auditor kept.
    let (code, out) = intervene(
        &[
            "audit",
            "verify",
            "--checkpoint",
            file_arg,
            "--public-key",
            &public,
        ],
        &data,
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("the log is shorter than the checkpoint"),
        "{out}"
    );
}

/// A checkpoint key inside the data directory defeats its purpose: refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_key_inside_the_data_directory_is_refused() {
    let root = tempfile::tempdir().expect("tempdir");
    let (data, key, _) = keyed_server_dir(root.path());
    let inside = data.join("checkpoint.key");
    std::fs::copy(&key, &inside).expect("copy the key");
    std::fs::write(
        data.join("intervene.yaml"),
        format!("audit:\n  checkpoint_key: {}\n", inside.display()),
    )
    .expect("config");
    let (code, log) = serve_refuses(&data);
    assert_eq!(code, 1, "{log}");
    assert!(log.contains("inside the data directory"), "{log}");
}
