//! `GET /v1/students/{id}/decisions`: one student's history, newest first, paged; and
//! `GET /v1/students/{id}/report`: why the student was flagged, in plain text.

use crate::helpers::{
    AUDITOR_KEY, COUNSELOR_KEY, INGEST_KEY, all_keys, assert_problem, collect_pages, header,
    json_ok, low_gpa, spawn_app,
};

#[tokio::test]
async fn history_is_newest_first_and_pages_return_each_decision_once() {
    let app = spawn_app(all_keys()).await;
    let mut posted = Vec::new();
    for i in 0..7 {
        let d = app
            .evaluate(&serde_json::json!({"student_id": "S7", "gpa": 1.0 + f64::from(i) * 0.1}))
            .await;
        posted.push(d["decision_id"].as_str().expect("id").to_string());
        // Students whose ids share a prefix with S7 must not leak into its history.
        app.evaluate(&low_gpa(if i % 2 == 0 { "S70" } else { "S" }))
            .await;
    }
    for limit in [1, 3, 7, 50] {
        let got = collect_pages(&app, "/v1/students/S7/decisions", "", limit, "decisions").await;
        let ids: Vec<String> = got
            .iter()
            .map(|d| {
                d["decision"]["decision_id"]
                    .as_str()
                    .expect("id")
                    .to_string()
            })
            .collect();
        let mut expected = posted.clone();
        expected.reverse();
        assert_eq!(ids, expected, "limit {limit}: newest first, each once");
        for d in &got {
            assert_eq!(d["decision"]["student_id"], "S7");
            assert!(
                d["decision"]["flags"]
                    .as_array()
                    .is_some_and(|f| !f.is_empty()),
                "explanations are included: {d}"
            );
            assert!(d["at"].is_string() && d["seq"].is_u64());
            assert_eq!(d["actor"], "admin");
            assert_eq!(d["source"]["kind"], "api");
        }
    }
    // The counselor key reads it too.
    let page = json_ok(
        app.get_as("/v1/students/S7/decisions?limit=2", Some(COUNSELOR_KEY))
            .await,
    )
    .await;
    assert_eq!(page["decisions"].as_array().map(Vec::len), Some(2));
    assert!(page["next_cursor"].is_string());
}

#[tokio::test]
async fn an_unknown_student_has_no_history() {
    let app = spawn_app(vec![]).await;
    app.evaluate(&low_gpa("S-KNOWN")).await;
    let page = json_ok(app.get("/v1/students/S-UNKNOWN/decisions").await).await;
    assert_eq!(page["decisions"], serde_json::json!([]));
    assert!(page["next_cursor"].is_null());
}

#[tokio::test]
async fn an_id_with_reserved_characters_round_trips() {
    let app = spawn_app(vec![]).await;
    app.evaluate(&low_gpa("S 10/B#2")).await;
    let page = json_ok(app.get("/v1/students/S%2010%2FB%232/decisions").await).await;
    let list = page["decisions"].as_array().expect("decisions");
    assert_eq!(list.len(), 1, "{page}");
    assert_eq!(list[0]["decision"]["student_id"], "S 10/B#2");
}

#[tokio::test]
async fn a_bad_cursor_or_parameter_is_400() {
    let app = spawn_app(vec![]).await;
    assert_problem(
        app.get("/v1/students/S1/decisions?cursor=abc").await,
        400,
        &["cursor"],
    )
    .await;
    assert_problem(
        app.get("/v1/students/S1/decisions?limit=-1").await,
        400,
        &["query parameter"],
    )
    .await;
    assert_problem(
        app.get("/v1/students/S1/decisions?sort=asc").await,
        400,
        &["sort"],
    )
    .await;
}

/// `GET /v1/students/{id}/report`: the plain-language answer to "why was my child
/// flagged", from the audit log, for the latest decision or a given one.
#[tokio::test]
async fn the_report_explains_a_logged_decision_in_plain_text() {
    let app = spawn_app(all_keys()).await;
    let first = app.evaluate(&low_gpa("W-1")).await;
    let latest = app
        .evaluate(&serde_json::json!({"student_id": "W-1", "gpa": 1.2,
            "attendance": {"days_enrolled": 100, "days_present": 85}}))
        .await;
    let other = app.evaluate(&low_gpa("W-2")).await;
    let seq_of = |d: &serde_json::Value| {
        app.log_entries()
            .iter()
            .find(|e| e["payload"]["decision_id"] == d["decision_id"])
            .and_then(|e| e["seq"].as_u64())
            .expect("logged")
    };

    let resp = app
        .get_as("/v1/students/W-1/report", Some(COUNSELOR_KEY))
        .await;
    assert_eq!(resp.status(), 200);
    assert!(header(&resp, "content-type").starts_with("text/plain"));
    let text = resp.text().await.expect("report");
    let id = latest["decision_id"].as_str().expect("id");
    for needle in [
        "Student W-1 — 2 flags",
        id,
        "chronic-absence — Chronically absent (attendance)",
        "why: Missed 15% of enrolled days",
        "low-gpa",
        "Recommended interventions:",
        &format!("Recorded in the audit log as entry {}", seq_of(&latest)),
        "by admin",
        "the entry matches its hash",
        "the school's team confirms each one",
    ] {
        assert!(text.contains(needle), "report lacks {needle:?}:\n{text}");
    }

    // An earlier decision by its sequence number; someone else's is not W-1's.
    let text = app
        .get_as(
            &format!("/v1/students/W-1/report?seq={}", seq_of(&first)),
            Some(AUDITOR_KEY),
        )
        .await
        .text()
        .await
        .expect("report");
    assert!(text.contains("Student W-1 — 1 flag\n"), "{text}");
    assert_problem(
        app.get_as(
            &format!("/v1/students/W-1/report?seq={}", seq_of(&other)),
            Some(COUNSELOR_KEY),
        )
        .await,
        404,
        &["is not a decision about `W-1`"],
    )
    .await;
    assert_problem(
        app.get_as("/v1/students/NOBODY/report", Some(COUNSELOR_KEY))
            .await,
        404,
        &["no decision about `NOBODY`"],
    )
    .await;
    assert_problem(
        app.get_as("/v1/students/W-1/report?seq=x", Some(COUNSELOR_KEY))
            .await,
        400,
        &["seq"],
    )
    .await;
    assert_problem(
        app.get_as("/v1/students/W-1/report", Some(INGEST_KEY))
            .await,
        403,
        &[],
    )
    .await;
    // Both reports were recorded as reads of W-1's records.
    let reads: Vec<serde_json::Value> = app
        .log_entries()
        .into_iter()
        .filter(|e| e["kind"] == "student.accessed" && e["payload"]["read"] == "report")
        .collect();
    assert_eq!(reads.len(), 2);
    assert_eq!(reads[1]["payload"]["seq"], seq_of(&first));
}

#[tokio::test]
async fn a_5000_character_student_id_in_the_path_is_a_400_naming_the_problem() {
    let app = spawn_app(vec![]).await;
    let long = "Q".repeat(5000);
    for path in [
        format!("/v1/students/{long}"),
        format!("/v1/students/{long}/decisions"),
        format!("/v1/students/{long}/report"),
    ] {
        let body = assert_problem(
            app.get(&path).await,
            400,
            &["student id in the path", "longer than 64 characters"],
        )
        .await;
        assert!(
            !body["detail"].as_str().unwrap_or("").contains("QQQQ"),
            "the id is echoed back: {body}"
        );
    }
    for (id, problem) in [
        ("S1%1B%5B31m", "control character"),
        ("S1042%E2%80%AE", "U+202E"),
        ("S%20%201042", "two in a row"),
    ] {
        for tail in ["", "/decisions", "/report"] {
            let path = format!("/v1/students/{id}{tail}");
            assert_problem(
                app.get(&path).await,
                400,
                &["student id in the path", problem],
            )
            .await;
        }
    }
    assert!(
        !app.kinds_in_log().iter().any(|k| k == "student.accessed"),
        "a refused id was recorded as a read"
    );
}
