//! FERPA: every read of a student's records is itself audited (`student.accessed`,
//! under the student), and so are reads of the audit log (`audit.read`,
//! `audit.exported`), before the answer leaves.

use serde_json::{Value, json};

use crate::helpers::{
    AUDITOR_KEY, COUNSELOR_KEY, INGEST_KEY, TestApp, all_keys, header, json_ok, low_gpa, spawn_app,
};

/// Entries of one kind, oldest first, read from the store (not through the API).
fn entries_of(app: &TestApp, kind: &str) -> Vec<Value> {
    app.log_entries()
        .into_iter()
        .filter(|e| e["kind"] == kind)
        .collect()
}

async fn read_as(app: &TestApp, path: &str, key: &str) -> (u16, String) {
    let resp = app.get_as(path, Some(key)).await;
    let status = resp.status().as_u16();
    let rid = header(&resp, "x-request-id");
    let _ = resp.text().await;
    (status, rid)
}

#[tokio::test]
async fn each_read_of_a_students_records_names_who_read_what() {
    let app = spawn_app(all_keys()).await;
    let resp = app
        .post_raw_as(
            "/v1/students/import",
            "application/x-ndjson",
            format!("{}\n", low_gpa("R-1")),
            Some(INGEST_KEY),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let _ = resp.text().await;
    assert!(
        entries_of(&app, "student.accessed").is_empty(),
        "writes are not reads"
    );
    let seq = entries_of(&app, "decision")[0]["seq"]
        .as_u64()
        .expect("seq");

    let reads = [
        (
            "/v1/students/R-1".to_string(),
            COUNSELOR_KEY,
            "counselor",
            "snapshot",
        ),
        (
            "/v1/students/R-1/decisions".to_string(),
            COUNSELOR_KEY,
            "counselor",
            "decisions",
        ),
        (
            "/v1/audit?student=R-1".to_string(),
            AUDITOR_KEY,
            "auditor",
            "audit",
        ),
        (
            format!("/v1/audit/{seq}/replay"),
            AUDITOR_KEY,
            "auditor",
            "replay",
        ),
    ];
    let mut expected = Vec::new();
    for (path, key, who, what) in &reads {
        let (status, rid) = read_as(&app, path, key).await;
        assert_eq!(status, 200, "{path}");
        expected.push((who.to_string(), what.to_string(), rid));
    }
    // Nothing disclosed, nothing recorded: an unknown student, a refused role.
    assert_eq!(
        read_as(&app, "/v1/students/NOBODY", COUNSELOR_KEY).await.0,
        404
    );
    assert_eq!(read_as(&app, "/v1/students/R-1", INGEST_KEY).await.0, 403);

    let logged: Vec<(String, String, String)> = entries_of(&app, "student.accessed")
        .iter()
        .map(|e| {
            assert_eq!(e["payload"]["student_id"], "R-1", "{e}");
            (
                e["actor"].as_str().expect("actor").to_string(),
                e["payload"]["read"].as_str().expect("read").to_string(),
                e["request_id"].as_str().expect("request id").to_string(),
            )
        })
        .collect();
    assert_eq!(logged, expected);
    let replayed = &entries_of(&app, "student.accessed")[3];
    assert_eq!(replayed["payload"]["seq"], seq);

    // "Who looked at R-1?" is one query under the student, newest first.
    let page = json_ok(
        app.get_as(
            "/v1/audit?student=R-1&kind=student.accessed",
            Some(AUDITOR_KEY),
        )
        .await,
    )
    .await;
    let who: Vec<(&str, &str)> = page["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap_or_default(),
                e["payload"]["read"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        who,
        [
            ("auditor", "replay"),
            ("auditor", "audit"),
            ("counselor", "decisions"),
            ("counselor", "snapshot")
        ]
    );
    assert_eq!(app.verify().await["ok"], true);
}

#[tokio::test]
async fn reading_and_exporting_the_log_are_audited_with_what_was_read() {
    let app = spawn_app(all_keys()).await;
    app.evaluate(&low_gpa("L-1")).await;
    app.evaluate(&low_gpa("L-2")).await;
    let (status, rid) = read_as(&app, "/v1/audit?kind=decision", AUDITOR_KEY).await;
    assert_eq!(status, 200);
    let read = entries_of(&app, "audit.read");
    assert_eq!(read.len(), 1);
    assert_eq!(read[0]["actor"], "auditor");
    assert_eq!(read[0]["request_id"], rid.as_str());
    assert_eq!(read[0]["payload"]["entries"], 2);
    assert_eq!(read[0]["payload"]["students"], json!(["L-1", "L-2"]));
    assert_eq!(read[0]["payload"]["filter"]["kind"], "decision");

    let head = app.head_seq();
    let (status, _) = read_as(&app, "/v1/audit/export", AUDITOR_KEY).await;
    assert_eq!(status, 200);
    let exported = entries_of(&app, "audit.exported");
    assert_eq!(exported.len(), 1);
    assert_eq!(exported[0]["actor"], "auditor");
    assert_eq!(exported[0]["payload"]["through_seq"], head);
    // verify reads no student data and is not recorded.
    let before = app.head_seq();
    app.verify().await;
    assert_eq!(app.head_seq(), before);
}
