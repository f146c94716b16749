//! `GET /v1/students/{id}/decisions`: one student's history, newest first, paged.

use crate::helpers::{
    COUNSELOR_KEY, all_keys, assert_problem, collect_pages, json_ok, low_gpa, spawn_app,
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
