//! Retention: `audit.retention_days` and `intervene audit purge` remove old
//! decisions' content while the chain keeps verifying, and a forged removal is caught.

use std::time::{Duration, Instant};

use intervene::audit::{Entry, EntryKind, NewEntry, Store};
use serde_json::{Value, json};

use crate::helpers::{cli_verify, json_ok, spawn_app_in};
use crate::tamper::{edit_log, populate};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_removes_old_decisions_and_the_chain_still_verifies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_path_buf();
    populate(&data, 4).await; // seq 1 rule set, 2..=5 decisions for T-0..T-3
    let app = spawn_app_in(dir, vec![], |s| s.audit.retention_days = Some(0)).await;

    // The retention thread runs once at startup.
    let started = Instant::now();
    let purges = loop {
        let purges = app.audit_all("kind=audit.purged", 10).await;
        if !purges.is_empty() || started.elapsed() > Duration::from_secs(10) {
            break purges;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(purges.len(), 1, "one purge entry: {purges:?}");
    let p = &purges[0];
    assert_eq!(p["actor"], "retention");
    assert_eq!(p["payload"]["purged"], 4, "{p}");
    assert_eq!(
        (&p["payload"]["first_seq"], &p["payload"]["last_seq"]),
        (&json!(2), &json!(5))
    );

    let report = app.verify().await;
    assert_eq!(
        report["ok"], true,
        "the chain verifies after a purge: {report}"
    );

    // The content is gone: no student id, no record, no decision.
    let export = app.export_text().await;
    assert!(
        !export.contains("T-0"),
        "a purged student still appears:\n{export}"
    );
    let tombstones: Vec<Value> = export
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON line"))
        .filter(|e| e.get("purged_by").is_some())
        .collect();
    assert_eq!(tombstones.len(), 4);
    for t in &tombstones {
        assert_eq!(t["payload"], Value::Null, "{t}");
        assert_eq!(t["purged_by"], p["seq"], "{t}");
        assert_eq!(t["kind"], "decision");
    }

    // Nothing points at the removed decisions any more.
    let history = json_ok(app.get("/v1/students/T-0/decisions").await).await;
    assert_eq!(history["decisions"], json!([]), "{history}");
    let by_rule = app.audit_all("rule=low-gpa", 50).await;
    assert!(
        by_rule.is_empty(),
        "rule index still lists purged entries: {by_rule:?}"
    );

    // Replaying a purged decision says why it cannot.
    let resp = app.get("/v1/audit/2/replay").await;
    assert_eq!(resp.status(), 400);
    let problem: Value = resp.json().await.expect("problem JSON");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("retention purge")),
        "{problem}"
    );

    // So does its plain-language report; without `seq` there is nothing left to report.
    crate::helpers::assert_problem(
        app.get("/v1/students/T-0/report?seq=2").await,
        404,
        &["decision 2 was removed by the retention purge in audit entry"],
    )
    .await;
    crate::helpers::assert_problem(
        app.get("/v1/students/T-0/report").await,
        404,
        &["no decision about `T-0`"],
    )
    .await;

    // New decisions are kept and chained after the purge entry.
    app.evaluate(&crate::helpers::low_gpa("T-new")).await;
    assert_eq!(app.verify().await["ok"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_purge_on_the_command_line_keeps_the_chain_verifiable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_path_buf();
    populate(&data, 3).await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_intervene"))
        .args(["audit", "purge", "--older-than-days", "0", "--data"])
        .arg(&data)
        .output()
        .expect("run intervene audit purge");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("purged 3 decisions"), "{stdout}");
    let (code, verify) = cli_verify(&data);
    assert_eq!(code, 0, "{verify}");
    assert!(verify.contains("ok: 5 entries"), "{verify}");
}

/// Entries appended straight to a store, 2 ms apart so their `at` differ.
fn decisions(store: &Store, students: &[&str]) -> Vec<Entry> {
    students
        .iter()
        .map(|s| {
            std::thread::sleep(Duration::from_millis(2));
            let a = store
                .append_blocking(NewEntry::new(
                    EntryKind::Decision,
                    "test",
                    "",
                    json!({"student_id": s, "rule_ids": ["low-gpa"], "decision": {"flags": 1}}),
                ))
                .expect("append");
            store.get(a.seq).expect("get").expect("entry")
        })
        .collect()
}

#[test]
fn an_entry_disguised_as_purged_is_caught_by_the_purge_digest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), None).expect("open");
    let old = decisions(&store, &["A", "B", "C"]);
    std::thread::sleep(Duration::from_millis(2));
    let cutoff = intervene::audit::now();
    let kept = decisions(&store, &["D", "E"]);
    let report = store.purge_before(&cutoff, "test", "").expect("purge");
    assert_eq!(report.purged, 3);
    let m = report.purge_entries[0];
    assert_eq!(m, kept[1].seq + 1);
    assert!(store.verify(&mut |_| {}).expect("verify").ok);
    // Only the old ones are gone.
    assert!(store.get(old[0].seq).unwrap().unwrap().purged_by.is_some());
    assert_eq!(store.get(kept[0].seq).unwrap().unwrap().purged_by, None);
    store.shutdown();
    drop(store);

    // Someone removes D's content and makes it look like purge M removed it,
    // keeping its hash so the chain still links.
    let d = kept[0].clone();
    edit_log(dir.path(), |log| {
        let forged = format!(
            r#"{{"seq":{},"kind":"decision","at":"{}","actor":"test","request_id":"","payload":null,"purged_by":{m},"prev_hash":"{}","hash":"{}"}}"#,
            d.seq, d.at, d.prev_hash, d.hash
        );
        log.insert(d.seq, forged.as_bytes()).expect("insert");
    });
    let store = Store::open(dir.path(), None).expect("reopen");
    let report = store.verify(&mut |_| {}).expect("verify");
    assert!(!report.ok);
    assert_eq!(report.first_bad_seq, Some(m), "{report:?}");
    assert!(
        report
            .problem
            .as_deref()
            .is_some_and(|p| p.contains("removed 3 entries, but 4")),
        "{report:?}"
    );
}

/// Purge everything dated before now, as the retention thread would, off the
/// async runtime.
async fn purge_now(app: &crate::helpers::TestApp) -> intervene::audit::PurgeReport {
    let store = app.state.store.clone();
    tokio::task::spawn_blocking(move || {
        std::thread::sleep(Duration::from_millis(2));
        store.purge_before(&intervene::audit::now(), "test", "")
    })
    .await
    .expect("join")
    .expect("purge")
}

async fn put_hold(app: &crate::helpers::TestApp, student: &str, body: &str) -> reqwest::Response {
    app.client
        .put(app.url(&format!("/v1/audit/holds/{student}")))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("PUT hold")
}

async fn delete_hold(app: &crate::helpers::TestApp, student: &str) -> reqwest::Response {
    app.client
        .delete(app.url(&format!("/v1/audit/holds/{student}")))
        .send()
        .await
        .expect("DELETE hold")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legal_hold_keeps_a_students_decisions_through_retention() {
    let dir = tempfile::tempdir().expect("tempdir");
    populate(dir.path(), 4).await; // T-0..T-3
    let app = spawn_app_in(dir, vec![], |_| {}).await;

    let resp = put_hold(&app, "T-1", r#"{"reason": "records request 2026-113"}"#).await;
    let hold = json_ok(resp).await;
    assert_eq!(hold["student_id"], "T-1");
    assert_eq!(hold["reason"], "records request 2026-113");
    let holds = json_ok(app.get("/v1/audit/holds").await).await;
    assert_eq!(holds["holds"].as_array().map(Vec::len), Some(1), "{holds}");
    let placed = app
        .audit_all("kind=audit.hold.placed&student=T-1", 10)
        .await;
    assert_eq!(
        placed.len(),
        1,
        "placing a hold is audited under the student"
    );

    let report = purge_now(&app).await;
    assert_eq!(report.purged, 3, "T-0, T-2 and T-3 only: {report:?}");
    let kept = json_ok(app.get("/v1/students/T-1/decisions").await).await;
    assert_eq!(
        kept["decisions"].as_array().map(Vec::len),
        Some(1),
        "{kept}"
    );
    let gone = json_ok(app.get("/v1/students/T-2/decisions").await).await;
    assert_eq!(gone["decisions"], json!([]));
    assert_eq!(app.verify().await["ok"], true);

    // Lifted: the next purge takes it; lifting again is a 404.
    let resp = delete_hold(&app, "T-1").await;
    assert_eq!(resp.status(), 204);
    assert_eq!(app.audit_all("kind=audit.hold.lifted", 10).await.len(), 1);
    assert_eq!(purge_now(&app).await.purged, 1);
    let resp = delete_hold(&app, "T-1").await;
    crate::helpers::assert_problem(resp, 404, &["no legal hold", "T-1"]).await;
    assert_eq!(app.verify().await["ok"], true);
}

#[tokio::test]
async fn a_hold_needs_a_reason_and_the_admin_role() {
    use crate::helpers::{ADMIN_KEY, COUNSELOR_KEY, all_keys, assert_problem, spawn_app};
    let app = spawn_app(all_keys()).await;
    let put = |key: &'static str, body: &'static str| {
        app.client
            .put(app.url("/v1/audit/holds/S1"))
            .bearer_auth(key)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let resp = put(COUNSELOR_KEY, r#"{"reason": "x"}"#).await.expect("PUT");
    assert_problem(resp, 403, &["admin"]).await;
    let resp = put(ADMIN_KEY, r#"{"reason": "  "}"#).await.expect("PUT");
    assert_problem(resp, 400, &["reason"]).await;
    let resp = put(ADMIN_KEY, r#"{"why": "x"}"#).await.expect("PUT");
    assert_problem(resp, 400, &["why"]).await;
    let resp = put(ADMIN_KEY, "not json").await.expect("PUT");
    assert_problem(resp, 400, &["hold"]).await;
    let holds = json_ok(app.get("/v1/audit/holds").await).await;
    assert_eq!(holds["holds"], json!([]), "no bad request placed a hold");
}
