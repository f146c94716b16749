//! The caseload's plan filters: `plan=active|none|<intervention>` and
//! `needs_review=true|false`, each row showing its open plans, a closed plan leaving
//! `plan=active`, a plan opened before the student's first decision kept for it, and
//! a rebuild of the index from the log answering the same.

use serde_json::{Value, json};

use crate::helpers::{
    COUNSELOR_KEY, TestApp, all_keys, assert_problem, json_ok, low_gpa, spawn_app,
};

fn day(d: i64) -> String {
    (chrono::Utc::now().date_naive() + chrono::Duration::days(d)).to_string()
}

/// Open a plan of `intervention` for `student` started `start` days from today;
/// its id.
async fn open(
    app: &TestApp,
    student: &str,
    intervention: &str,
    start: i64,
    every: Option<u32>,
) -> String {
    let mut plan = json!({
        "intervention": intervention,
        "owner": "Ms. Lee",
        "goal": {"measure": "gpa", "baseline": 1.2, "target": 2.0, "by": day(56)},
        "start": day(start),
    });
    if let Some(e) = every {
        plan["review_every_days"] = json!(e);
    }
    let resp = app
        .post_json_as(
            &format!("/v1/students/{student}/plans"),
            &plan,
            Some(COUNSELOR_KEY),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let v: Value = resp.json().await.expect("json");
    v["plan_id"].as_str().expect("id").to_string()
}

async fn caseload(app: &TestApp, query: &str) -> Value {
    json_ok(
        app.get_as(&format!("/v1/caseload?{query}"), Some(COUNSELOR_KEY))
            .await,
    )
    .await
}

/// The students a filtered caseload page lists, in order.
async fn listed(app: &TestApp, query: &str) -> Vec<String> {
    caseload(app, query).await["students"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["student_id"].as_str().unwrap_or("").to_string())
        .collect()
}

/// Everything the plan filters answer (the rows with their plans), for comparing.
async fn answers(app: &TestApp) -> Vec<Value> {
    let mut out = Vec::new();
    for q in [
        "limit=500",
        "plan=active",
        "plan=none",
        "plan=tutoring",
        "plan=advisory",
        "needs_review=true",
        "needs_review=false",
    ] {
        out.push(caseload(app, q).await["students"].clone());
    }
    out
}

#[tokio::test]
async fn the_caseload_filters_by_open_plans_and_their_review_dates() {
    let app = spawn_app(all_keys()).await;
    for s in ["A", "B", "C", "D"] {
        app.evaluate(&low_gpa(s)).await;
    }
    // A: a review every 14 days from a start 28 days ago: due 14 days ago.
    open(&app, "A", "tutoring", -28, Some(14)).await;
    // B: started 3 days ago, due in 11 days.
    let b = open(&app, "B", "tutoring", -3, Some(14)).await;
    // C: no review schedule, so never due.
    open(&app, "C", "advisory", -40, None).await;

    assert_eq!(listed(&app, "plan=active").await, ["A", "B", "C"]);
    assert_eq!(listed(&app, "plan=none").await, ["D"]);
    assert_eq!(listed(&app, "plan=tutoring").await, ["A", "B"]);
    assert_eq!(listed(&app, "plan=advisory").await, ["C"]);
    assert_eq!(listed(&app, "needs_review=true").await, ["A"]);
    assert_eq!(listed(&app, "needs_review=false").await, ["B", "C", "D"]);
    assert_eq!(
        listed(&app, "plan=tutoring&needs_review=false").await,
        ["B"]
    );

    let rows = caseload(&app, "q=A").await;
    let plans = &rows["students"][0]["plans"];
    assert_eq!(plans.as_array().map(Vec::len), Some(1), "{rows}");
    assert_eq!(
        (
            &plans[0]["intervention"],
            &plans[0]["review_due"],
            &plans[0]["needs_review"]
        ),
        (&json!("tutoring"), &json!(day(-14)), &json!(true))
    );
    assert_eq!(
        caseload(&app, "q=D").await["students"][0]["plans"],
        json!([])
    );

    // Closing B's plan takes B out of `plan=active`.
    let closed = app
        .client
        .patch(app.url(&format!("/v1/plans/{b}")))
        .bearer_auth(COUNSELOR_KEY)
        .header("if-match", "\"1\"")
        .json(&json!({"status": "met", "exit_reason": "on track"}))
        .send()
        .await
        .expect("PATCH");
    assert_eq!(closed.status(), 200);
    assert_eq!(listed(&app, "plan=active").await, ["A", "C"]);
    assert_eq!(listed(&app, "plan=none").await, ["B", "D"]);
}

#[tokio::test]
async fn bad_plan_filters_name_the_parameter() {
    let app = spawn_app(all_keys()).await;
    for (query, needle) in [
        ("plan=Tutoring", "`plan`"),
        ("plan=", "`plan`"),
        (
            "needs_review=yes",
            "`needs_review` must be one of true, false",
        ),
        ("plan=active&plan=none", "`plan` is given twice"),
        ("needs_reveiw=true", "did you mean `needs_review`"),
    ] {
        let resp = app
            .get_as(&format!("/v1/caseload?{query}"), Some(COUNSELOR_KEY))
            .await;
        assert_problem(resp, 400, &[needle]).await;
    }
    let resp = app
        .get_as("/v1/caseload/summary?needs_review=1", Some(COUNSELOR_KEY))
        .await;
    assert_problem(resp, 400, &["needs_review"]).await;
}

#[tokio::test]
async fn a_plan_before_the_first_decision_is_kept_and_a_rebuild_answers_the_same() {
    let app = spawn_app(all_keys()).await;
    app.evaluate(&low_gpa("A")).await;
    open(&app, "A", "tutoring", -28, Some(14)).await;
    // E has a plan before any decision: it shows once E is in the caseload.
    open(&app, "E", "advisory", -10, Some(7)).await;
    assert_eq!(listed(&app, "plan=active").await, ["A"]);
    app.evaluate(&low_gpa("E")).await;
    assert_eq!(listed(&app, "plan=active").await, ["A", "E"]);
    assert_eq!(listed(&app, "needs_review=true").await, ["A", "E"]);
    // A new decision keeps the plans on the entry.
    app.evaluate(&low_gpa("A")).await;
    assert_eq!(listed(&app, "plan=tutoring").await, ["A"]);

    let before = answers(&app).await;
    let svc = &app.state.app;
    let rebuilt = intervene::caseload::rebuild(&svc.caseload, &svc.store).expect("rebuild");
    assert_eq!(rebuilt.students, 2);
    assert_eq!(
        answers(&app).await,
        before,
        "the rebuilt index answers alike"
    );
}
