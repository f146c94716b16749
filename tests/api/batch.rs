//! `POST /v1/evaluate/batch`: NDJSON in, NDJSON out; a bad line is an error line and
//! the rest go on.

use serde_json::Value;

use crate::helpers::{
    TestApp, assert_problem, decision_ids, fixtures_dir, header, low_gpa, parse_ndjson, spawn_app,
};

async fn batch(app: &TestApp, path: &str, body: impl Into<reqwest::Body>) -> Vec<Value> {
    let resp = app.post_raw(path, "application/x-ndjson", body).await;
    let status = resp.status();
    let ct = header(&resp, "content-type");
    assert!(!header(&resp, "x-request-id").is_empty());
    let text = resp.text().await.expect("body");
    assert_eq!(status, 200, "{text}");
    assert!(
        ct.starts_with("application/x-ndjson"),
        "content type `{ct}`"
    );
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "every output line ends with a newline"
    );
    parse_ndjson(&text)
}

#[tokio::test]
async fn bad_lines_become_error_lines_and_the_rest_go_on() {
    let app = spawn_app(vec![]).await;
    let mut body = Vec::new();
    body.extend_from_slice(format!("{}\n", low_gpa("B-1")).as_bytes());
    body.extend_from_slice(b"{\"student_id\": \"B-2\", \"gpa\": \n"); // invalid JSON
    body.extend_from_slice(b"\n"); // blank lines are skipped but counted
    body.extend_from_slice(format!("{}\n", low_gpa("B-4")).as_bytes());
    body.extend_from_slice(b"{\"student_id\": \"B-5\", \"gpa\": 7.5}\n"); // invalid record
    body.extend_from_slice(b"{\"student_id\": \"B-6\", \"note\": \"\xff\xfe\"}\n"); // not UTF-8
    body.extend_from_slice(b"{\"student_id\": \"B-7\", \"extra\": {\"d\": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}\n");
    body.extend_from_slice(low_gpa("B-8").to_string().as_bytes()); // last line without newline
    let out = batch(&app, "/v1/evaluate/batch", body).await;
    assert_eq!(
        out.len(),
        7,
        "one output line per non-blank input line: {out:?}"
    );

    let ok: Vec<&str> = out
        .iter()
        .filter_map(|l| l["student_id"].as_str())
        .collect();
    assert_eq!(ok, vec!["B-1", "B-4", "B-8"], "decisions in input order");
    let errors: Vec<&Value> = out.iter().filter(|l| l.get("error").is_some()).collect();
    let lines: Vec<u64> = errors
        .iter()
        .map(|e| e["line"].as_u64().expect("line"))
        .collect();
    assert_eq!(
        lines,
        vec![2, 5, 6, 7],
        "error lines name the input line: {errors:?}"
    );
    assert!(
        errors[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("invalid JSON")),
        "{}",
        errors[0]
    );
    assert_eq!(errors[1]["field"], "gpa", "{}", errors[1]);
    assert!(
        errors[2]["error"]
            .as_str()
            .is_some_and(|e| e.contains("UTF-8")),
        "{}",
        errors[2]
    );
    assert!(
        errors[3]["error"]
            .as_str()
            .is_some_and(|e| e.contains("nested deeper than 32")),
        "{}",
        errors[3]
    );

    let logged = decision_ids(&app.decisions_in_log().await);
    let mut answered: Vec<String> = out
        .iter()
        .filter_map(|l| l["decision_id"].as_str().map(String::from))
        .collect();
    let mut logged_sorted = logged.clone();
    answered.sort();
    logged_sorted.sort();
    assert_eq!(
        logged_sorted, answered,
        "exactly the answered decisions are audited"
    );
    app.assert_healthy().await;
    assert_eq!(app.verify().await["ok"], true);
}

#[tokio::test]
async fn a_caseload_streams_back_in_order_across_groups() {
    let app = spawn_app(vec![]).await;
    let text = std::fs::read_to_string(fixtures_dir().join("caseload.ndjson")).expect("fixture");
    let input: Vec<Value> = parse_ndjson(&text);
    assert!(input.len() > 256, "the caseload spans more than one group");
    let out = batch(&app, "/v1/evaluate/batch", text.clone()).await;
    assert_eq!(out.len(), input.len());
    for (i, (inp, outp)) in input.iter().zip(&out).enumerate() {
        assert_eq!(
            inp["student_id"],
            outp["student_id"],
            "line {}: {outp}",
            i + 1
        );
        assert!(outp["decision_id"].is_string(), "line {}: {outp}", i + 1);
    }
    assert_eq!(app.decisions_in_log().await.len(), input.len());
}

#[tokio::test]
async fn batch_dry_run_is_not_audited() {
    let app = spawn_app(vec![]).await;
    let before = app.verify().await["entries"].clone();
    let body = format!("{}\n{}\n", low_gpa("BD-1"), low_gpa("BD-2"));
    let out = batch(&app, "/v1/evaluate/batch?dry_run=true", body).await;
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|l| l["decision_id"].is_string()));
    assert_eq!(app.verify().await["entries"], before);
    assert!(app.decisions_in_log().await.is_empty());
}

#[tokio::test]
async fn a_streamed_body_in_small_chunks_is_split_into_lines() {
    let app = spawn_app(vec![]).await;
    let text = format!(
        "{}\n{}\n{}\n",
        low_gpa("BS-1"),
        low_gpa("BS-2"),
        low_gpa("BS-3")
    );
    // Chunks of 7 bytes: records straddle chunk boundaries.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        text.as_bytes().chunks(7).map(|c| Ok(c.to_vec())).collect();
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let out = batch(&app, "/v1/evaluate/batch", body).await;
    let ids: Vec<&str> = out
        .iter()
        .filter_map(|l| l["student_id"].as_str())
        .collect();
    assert_eq!(ids, vec!["BS-1", "BS-2", "BS-3"], "{out:?}");
}

#[tokio::test]
async fn an_empty_batch_answers_nothing() {
    let app = spawn_app(vec![]).await;
    let out = batch(&app, "/v1/evaluate/batch", "").await;
    assert!(out.is_empty());
}

#[tokio::test]
async fn batch_refuses_other_content_types() {
    let app = spawn_app(vec![]).await;
    let resp = app
        .post_raw("/v1/evaluate/batch", "text/csv", "student_id\nS1\n")
        .await;
    assert_problem(resp, 415, &["application/x-ndjson", "text/csv"]).await;
    assert!(app.decisions_in_log().await.is_empty());
}

#[tokio::test]
async fn an_over_long_line_is_an_error_line_and_the_rest_go_on() {
    let app = spawn_app(vec![]).await;
    let long = format!(
        "{{\"student_id\": \"BL-2\", \"extra\": {{\"blob\": \"{}\"}}}}",
        "x".repeat(300 * 1024)
    );
    let body = format!("{}\n{long}\n{}\n", low_gpa("BL-1"), low_gpa("BL-3"));
    let out = batch(&app, "/v1/evaluate/batch", body).await;
    assert_eq!(
        out.len(),
        3,
        "{:?}",
        out.iter()
            .map(|l| l.to_string().chars().take(200).collect::<String>())
            .collect::<Vec<_>>()
    );
    assert_eq!(out[0]["student_id"], "BL-1");
    assert_eq!(out[1]["line"], 2);
    assert!(
        out[1]["error"]
            .as_str()
            .is_some_and(|e| e.contains("longer than")),
        "{}",
        out[1]
    );
    assert_eq!(out[2]["student_id"], "BL-3");
    assert_eq!(app.decisions_in_log().await.len(), 2);
}
