//! Bad input to `POST /v1/evaluate`: each refusal is a problem+json naming the
//! problem, no decision reaches the audit log, and the server stays healthy.

use serde_json::Value;

use crate::helpers::{
    INGEST_KEY, TestApp, all_keys, assert_problem, error_fields, fixtures_dir, spawn_app,
    spawn_app_with,
};

/// The log holds the same number of entries as before and no decision.
async fn assert_nothing_audited(app: &TestApp, entries_before: &Value) {
    app.assert_healthy().await;
    let v = app.verify().await;
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(
        &v["entries"], entries_before,
        "a refused request added to the audit log"
    );
    assert!(
        !app.kinds_in_log().iter().any(|k| k == "decision"),
        "a refused request left a decision"
    );
}

#[tokio::test]
async fn a_body_over_max_body_bytes_is_413() {
    let app = spawn_app_with(vec![], |s| s.max_body_bytes = 2048).await;
    let before = app.verify().await["entries"].clone();
    // A valid record padded past the limit, with Content-Length: refused before reading.
    let body = format!(
        "{{\"student_id\": \"S-BIG\", \"gpa\": 1.0{}}}",
        " ".repeat(4096)
    );
    let resp = app
        .post_raw("/v1/evaluate", "application/json", body.clone())
        .await;
    assert_problem(resp, 413, &["larger than 2048 bytes"]).await;
    assert_nothing_audited(&app, &before).await;

    // The same body chunked (no Content-Length): refused while reading.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = body
        .as_bytes()
        .chunks(512)
        .map(|c| Ok(c.to_vec()))
        .collect();
    let resp = app
        .post_raw(
            "/v1/evaluate",
            "application/json",
            reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)),
        )
        .await;
    assert_problem(resp, 413, &["2048"]).await;
    assert_nothing_audited(&app, &before).await;

    // Just under the limit is fine.
    let body = format!(
        "{{\"student_id\": \"S-BIG\", \"gpa\": 1.0{}}}",
        " ".repeat(1900)
    );
    assert!(body.len() <= 2048);
    let resp = app.post_raw("/v1/evaluate", "application/json", body).await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn the_default_limit_is_one_mebibyte() {
    let app = spawn_app(vec![]).await;
    let before = app.verify().await["entries"].clone();
    let body = format!("{{\"student_id\": \"S-BIG\"{}}}", " ".repeat(1024 * 1024));
    let resp = app.post_raw("/v1/evaluate", "application/json", body).await;
    assert_problem(resp, 413, &["1048576"]).await;
    assert_nothing_audited(&app, &before).await;
}

#[tokio::test]
async fn wrong_or_missing_content_type_is_415() {
    let app = spawn_app(vec![]).await;
    let before = app.verify().await["entries"].clone();
    let record = r#"{"student_id": "S-CT", "gpa": 1.0}"#;
    let resp = app.post_raw("/v1/evaluate", "text/plain", record).await;
    assert_problem(resp, 415, &["application/json", "text/plain"]).await;
    let resp = app
        .post_raw("/v1/evaluate", "application/x-www-form-urlencoded", record)
        .await;
    assert_problem(resp, 415, &["application/json"]).await;
    let resp = app.post_raw("/v1/evaluate", "", record).await;
    assert_problem(resp, 415, &["no Content-Type"]).await;
    assert_nothing_audited(&app, &before).await;
}

#[tokio::test]
async fn invalid_utf8_is_400() {
    let app = spawn_app(vec![]).await;
    let before = app.verify().await["entries"].clone();
    let body = b"{\"student_id\": \"S-\xc3\x28\"}".to_vec();
    let resp = app.post_raw("/v1/evaluate", "application/json", body).await;
    assert_problem(resp, 400, &["UTF-8", "byte 18"]).await;
    assert_nothing_audited(&app, &before).await;
}

#[tokio::test]
async fn invalid_json_is_422() {
    let app = spawn_app(vec![]).await;
    let before = app.verify().await["entries"].clone();
    for body in [
        r#"{"student_id": "S1016", "gpa": 2.5,"#,
        "",
        "not json",
        r#"{"student_id": "S1"} trailing"#,
        "[1, 2]",
    ] {
        let resp = app.post_raw("/v1/evaluate", "application/json", body).await;
        let status = resp.status().as_u16();
        let p = assert_problem(resp, 422, &[]).await;
        let detail = p["detail"].as_str().unwrap_or("");
        assert!(
            detail.contains("JSON") || detail.contains("wrong type"),
            "body `{body}` ({status}): detail does not say the JSON is wrong: {p}"
        );
        assert!(p["errors"].as_array().is_some_and(|e| !e.is_empty()), "{p}");
    }
    assert_nothing_audited(&app, &before).await;
}

#[tokio::test]
async fn json_nested_deeper_than_32_is_422() {
    let app = spawn_app(vec![]).await;
    let before = app.verify().await["entries"].clone();
    let text = std::fs::read_to_string(fixtures_dir().join("records/invalid/nested_too_deep.json"))
        .expect("fixture");
    let resp = app.post_raw("/v1/evaluate", "application/json", text).await;
    assert_problem(resp, 422, &["nested deeper than 32"]).await;
    // Far deeper than any parser's recursion limit: refused the same way, no crash.
    let deep = format!(
        "{{\"student_id\": \"S\", \"extra\": {{\"x\": {}{}}}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let resp = app.post_raw("/v1/evaluate", "application/json", deep).await;
    assert_problem(resp, 422, &["nested deeper than 32"]).await;
    assert_nothing_audited(&app, &before).await;
}

#[tokio::test]
async fn invalid_records_are_422_naming_the_field() {
    let app = spawn_app(vec![]).await;
    let before = app.verify().await["entries"].clone();
    // (fixture, what the problem must name: a field in `errors` or a word in `detail`)
    let cases: &[(&str, &[&str])] = &[
        ("gpa_5_1", &["gpa"]),
        ("grade_pct_over_100", &["courses[0].grade_pct"]),
        ("invalid_assessment_date", &["assessments[0].date"]),
        ("invalid_date", &["as_of"]),
        ("missing_student_id", &["student_id"]),
        ("negative_credits", &["courses[0].credits"]),
        ("negative_days_present", &["attendance.days_present"]),
        ("negative_office_referrals", &["behavior.office_referrals"]),
        ("negative_tardies", &["attendance.tardies"]),
        ("percentile_101", &["assessments[0].percentile"]),
        ("percentile_negative", &["assessments[1].percentile"]),
        ("present_over_enrolled", &["attendance.days_present"]),
        ("sel_t_score_out_of_range", &["sel.t_score"]),
        (
            "several_problems",
            &[
                "gpa",
                "attendance.days_present",
                "assessments[0].percentile",
                "sel.t_score",
            ],
        ),
        ("student_id_65_chars", &["student_id"]),
        ("student_id_empty", &["student_id"]),
        ("unknown_key_in_section", &["excused"]),
        ("unknown_subject", &["courses[0].subject"]),
        ("unknown_top_level_key", &["ethnicity"]),
        ("wrong_type_days", &["attendance.days_enrolled"]),
        ("wrong_type_gpa", &["gpa"]),
    ];
    for (name, names) in cases {
        let text =
            std::fs::read_to_string(fixtures_dir().join(format!("records/invalid/{name}.json")))
                .expect("fixture");
        let resp = app.post_raw("/v1/evaluate", "application/json", text).await;
        let p = assert_problem(resp, 422, &[]).await;
        let fields = error_fields(&p);
        let detail = p["detail"].as_str().unwrap_or("");
        assert!(
            p["errors"].as_array().is_some_and(|e| !e.is_empty()),
            "{name}: no `errors`: {p}"
        );
        for n in *names {
            assert!(
                fields.iter().any(|f| f == n) || detail.contains(n),
                "{name}: the problem does not name `{n}`: {p}"
            );
        }
    }
    // Field-level problems carry the field itself, not only prose.
    let resp = app
        .post_json("/v1/evaluate", &serde_json::json!({"student_id": "S-F", "attendance": {"days_enrolled": 10, "days_present": 11}}))
        .await;
    let p = assert_problem(resp, 422, &["attendance.days_present"]).await;
    assert_eq!(error_fields(&p), vec!["attendance.days_present"]);
    assert!(
        p["type"]
            .as_str()
            .is_some_and(|t| t.ends_with("invalid-record")),
        "{p}"
    );
    assert_nothing_audited(&app, &before).await;
}

#[tokio::test]
async fn every_invalid_fixture_is_refused_without_a_decision() {
    let app = spawn_app(vec![]).await;
    let before = app.verify().await["entries"].clone();
    for entry in std::fs::read_dir(fixtures_dir().join("records/invalid")).expect("fixtures") {
        let path = entry.expect("entry").path();
        let text = std::fs::read(&path).expect("read");
        let resp = app.post_raw("/v1/evaluate", "application/json", text).await;
        let status = resp.status().as_u16();
        assert!(
            status == 422 || status == 400,
            "{}: status {status}",
            path.display()
        );
        assert_problem(resp, status, &[]).await;
    }
    assert_nothing_audited(&app, &before).await;
}

#[tokio::test]
async fn bad_query_strings_are_400() {
    let app = spawn_app(vec![]).await;
    let before = app.verify().await["entries"].clone();
    let body = r#"{"student_id": "S-Q", "gpa": 1.0}"#;
    let resp = app
        .post_raw("/v1/evaluate?dry_run=perhaps", "application/json", body)
        .await;
    assert_problem(resp, 400, &["query parameter"]).await;
    let resp = app
        .post_raw("/v1/evaluate?explain=1", "application/json", body)
        .await;
    assert_problem(resp, 400, &["explain"]).await;
    assert_nothing_audited(&app, &before).await;
}

#[tokio::test]
async fn bad_input_with_a_valid_key_is_refused_the_same_way() {
    let app = spawn_app(all_keys()).await;
    let before = app.verify().await["entries"].clone();
    let resp = app
        .post_raw_as("/v1/evaluate", "application/json", "{", Some(INGEST_KEY))
        .await;
    assert_problem(resp, 422, &["JSON"]).await;
    let resp = app
        .post_raw_as("/v1/evaluate", "text/plain", "{}", Some(INGEST_KEY))
        .await;
    assert_problem(resp, 415, &[]).await;
    assert_nothing_audited(&app, &before).await;
}

#[tokio::test]
async fn many_bad_requests_in_parallel_leave_the_server_healthy() {
    let app = spawn_app(vec![]).await;
    let before = app.verify().await["entries"].clone();
    let mut tasks = Vec::new();
    for i in 0..40 {
        let client = app.client.clone();
        let url = app.url("/v1/evaluate");
        tasks.push(tokio::spawn(async move {
            let (ct, body): (&str, Vec<u8>) = match i % 4 {
                0 => ("application/json", b"{\"student_id\":".to_vec()),
                1 => ("application/json", b"\xff\xfe".to_vec()),
                2 => ("text/plain", b"{}".to_vec()),
                _ => (
                    "application/json",
                    format!("{}{}", "[".repeat(40), "]".repeat(40)).into_bytes(),
                ),
            };
            client
                .post(url)
                .header("content-type", ct)
                .body(body)
                .send()
                .await
                .map(|r| r.status().as_u16())
        }));
    }
    for t in tasks {
        let status = t.await.expect("task").expect("request");
        assert!([400, 415, 422].contains(&status), "status {status}");
    }
    assert_nothing_audited(&app, &before).await;
}

#[tokio::test]
async fn a_record_must_be_a_json_object() {
    let app = spawn_app(vec![]).await;
    let before = app.verify().await["entries"].clone();
    let resp = app
        .post_raw("/v1/evaluate", "application/json", r#"["S-ARRAY"]"#)
        .await;
    assert_problem(resp, 422, &[]).await;
    assert_nothing_audited(&app, &before).await;
}

#[tokio::test]
async fn a_malformed_query_value_names_the_parameter() {
    let app = spawn_app(vec![]).await;
    let resp = app
        .post_raw(
            "/v1/evaluate?dry_run=perhaps",
            "application/json",
            r#"{"student_id": "S-Q"}"#,
        )
        .await;
    assert_problem(resp, 400, &["dry_run"]).await;
    assert_problem(app.get("/v1/audit?limit=many").await, 400, &["limit"]).await;
    assert_problem(
        app.get("/v1/students/S1/decisions?limit=-1").await,
        400,
        &["limit"],
    )
    .await;
}

/// Ids other endpoints refuse, percent-encoded for a URL, and what the problem
/// must mention.
const REFUSED_IDS: [(&str, &str); 5] = [
    ("S1%1B%5B31m", "control character"),
    ("S1%00", "control character"),
    ("S1042%E2%80%AE", "U+202E"),
    ("S10%E2%80%8B42", "U+200B"),
    ("%20S1042", "space"),
];

#[tokio::test]
async fn hold_student_ids_with_esc_nul_or_rlo_are_refused_and_never_stored() {
    let app = spawn_app(vec![]).await;
    let before = app.verify().await["entries"].clone();
    for (id, problem) in REFUSED_IDS {
        let resp = app
            .client
            .put(app.url(&format!("/v1/audit/holds/{id}")))
            .json(&serde_json::json!({"reason": "inspection request"}))
            .send()
            .await
            .expect("PUT");
        assert_problem(resp, 400, &["student id", problem]).await;
        let resp = app
            .client
            .delete(app.url(&format!("/v1/audit/holds/{id}")))
            .send()
            .await
            .expect("DELETE");
        assert_problem(resp, 400, &["student id", problem]).await;
    }
    let holds = crate::helpers::json_ok(app.get("/v1/audit/holds").await).await;
    assert_eq!(
        holds["holds"],
        serde_json::json!([]),
        "a refused id was stored"
    );
    assert_eq!(
        app.verify().await["entries"],
        before,
        "a refused hold was audited"
    );
}

#[tokio::test]
async fn the_audit_student_filter_applies_the_student_id_rule() {
    let app = spawn_app(vec![]).await;
    let long = "Q".repeat(5000);
    let mut cases: Vec<(String, &str)> = REFUSED_IDS
        .iter()
        .map(|(id, problem)| (id.to_string(), *problem))
        .collect();
    cases.push((long, "longer than 64"));
    for (id, problem) in cases {
        let resp = app.get(&format!("/v1/audit?student={id}")).await;
        let body = assert_problem(resp, 400, &["`student`", problem]).await;
        assert!(
            !body["detail"].as_str().unwrap_or("").contains("QQQQ"),
            "the refused id is echoed: {body}"
        );
    }
    assert!(
        !app.kinds_in_log().iter().any(|k| k == "student.accessed"),
        "a refused filter was recorded as a read of a student"
    );
}
