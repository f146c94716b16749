//! Intervention plans: opened from a decision's flags, read with their revision as the
//! ETag, changed only from the current revision, with progress points and sessions
//! checked against the plan; every write an audit entry under the student. Also the
//! review of a decision's flags as shown beside the decision (history, report).

use serde_json::{Value, json};

use crate::helpers::{
    AUDITOR_KEY, COUNSELOR_KEY, INGEST_KEY, all_keys, assert_problem, json_ok, low_gpa, spawn_app,
};

fn today() -> String {
    chrono::Utc::now().date_naive().to_string()
}

fn days_from_today(d: i64) -> String {
    (chrono::Utc::now().date_naive() + chrono::Duration::days(d)).to_string()
}

/// A plan request for `S` answering its low-GPA decision `seq`.
fn plan_for(seq: u64) -> Value {
    json!({
        "intervention": "tutoring",
        "owner": "Ms. Lee",
        "goal": {"measure": "gpa", "baseline": 1.2, "target": 2.0, "by": days_from_today(56)},
        "start": days_from_today(-7),
        "review_every_days": 14,
        "sessions_per_week": 2,
        "minutes_per_session": 30,
        "opened_from": {"decision_seq": seq, "rule_ids": ["low-gpa"]},
    })
}

/// The body of a 201 answer.
async fn created(resp: reqwest::Response) -> Value {
    assert_eq!(resp.status(), 201, "{:?}", resp.url().path());
    resp.json().await.expect("json")
}

async fn decision_seq(app: &crate::helpers::TestApp, student: &str) -> u64 {
    let v = json_ok(app.get(&format!("/v1/students/{student}/decisions")).await).await;
    v["decisions"][0]["seq"].as_u64().expect("seq")
}

async fn patch(
    app: &crate::helpers::TestApp,
    id: &str,
    if_match: Option<&str>,
    body: &Value,
) -> reqwest::Response {
    let mut rb = app
        .client
        .patch(app.url(&format!("/v1/plans/{id}")))
        .header("authorization", format!("Bearer {COUNSELOR_KEY}"))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(m) = if_match {
        rb = rb.header("if-match", m);
    }
    rb.send().await.expect("PATCH")
}

#[tokio::test]
async fn a_plan_is_opened_read_changed_from_its_revision_and_closed() {
    let app = spawn_app(all_keys()).await;
    app.evaluate(&low_gpa("S")).await;
    let seq = decision_seq(&app, "S").await;

    let resp = app
        .post_json_as("/v1/students/S/plans", &plan_for(seq), Some(COUNSELOR_KEY))
        .await;
    assert_eq!(resp.status(), 201);
    assert_eq!(resp.headers()["etag"], "\"1\"");
    let plan: Value = resp.json().await.expect("json");
    let id = plan["plan_id"].as_str().expect("id").to_string();
    assert_eq!(plan["status"], "active");
    assert_eq!(
        (plan["domain"].as_str(), plan["tier"].as_u64()),
        (Some("academic"), Some(2))
    );

    let got = app
        .get_as(&format!("/v1/plans/{id}"), Some(AUDITOR_KEY))
        .await;
    assert_eq!(got.headers()["etag"], "\"1\"");
    let list = json_ok(app.get_as("/v1/students/S/plans", Some(AUDITOR_KEY)).await).await;
    assert_eq!(list["plans"].as_array().map(Vec::len), Some(1));

    let missing = patch(&app, &id, None, &json!({"owner": "Mr. Park"})).await;
    assert_problem(missing, 428, &["If-Match"]).await;
    let changed = patch(&app, &id, Some("\"1\""), &json!({"owner": "Mr. Park"})).await;
    assert_eq!(changed.status(), 200);
    assert_eq!(changed.headers()["etag"], "\"2\"");
    let stale = patch(&app, &id, Some("\"1\""), &json!({"owner": "Ms. Diaz"})).await;
    assert_problem(stale, 412, &["revision 2"]).await;
    let no_reason = patch(&app, &id, Some("\"2\""), &json!({"status": "met"})).await;
    assert_problem(no_reason, 422, &["exit_reason"]).await;
    let closed = patch(
        &app,
        &id,
        Some("\"2\""),
        &json!({"status": "met", "exit_reason": "GPA above 2.0 for a marking period"}),
    )
    .await;
    assert_eq!(closed.status(), 200);
    let after = patch(&app, &id, Some("\"3\""), &json!({"owner": "x"})).await;
    assert_problem(after, 422, &["closed"]).await;

    let kinds: Vec<String> = app
        .audit_all("student=S", 100)
        .await
        .iter()
        .map(|e| e["kind"].as_str().unwrap_or("").to_string())
        .collect();
    for k in [
        "plan.opened",
        "plan.updated",
        "plan.closed",
        "student.accessed",
    ] {
        assert!(
            kinds.iter().any(|x| x == k),
            "{k} under the student: {kinds:?}"
        );
    }
    assert_eq!(app.verify().await["ok"], true);
}

#[tokio::test]
async fn a_plan_request_with_problems_names_each_field() {
    let app = spawn_app(all_keys()).await;
    app.evaluate(&low_gpa("S")).await;
    let seq = decision_seq(&app, "S").await;
    app.evaluate(&low_gpa("OTHER")).await;
    let other = decision_seq(&app, "OTHER").await;

    let mut bad = plan_for(seq);
    bad["intervention"] = json!("tutorin");
    bad["goal"]["measure"] = json!("gpaa");
    bad["goal"]["target"] = json!(1.2);
    let resp = app
        .post_json_as("/v1/students/S/plans", &bad, Some(COUNSELOR_KEY))
        .await;
    let body = assert_problem(resp, 422, &["tutoring", "gpa"]).await;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert_eq!(fields, ["intervention", "goal.measure", "goal.target"]);

    let resp = app
        .post_json_as(
            "/v1/students/S/plans",
            &plan_for(other),
            Some(COUNSELOR_KEY),
        )
        .await;
    assert_problem(
        resp,
        422,
        &["opened_from.decision_seq", "not a decision of student `S`"],
    )
    .await;
    let mut not_a_flag = plan_for(seq);
    not_a_flag["opened_from"]["rule_ids"] = json!(["chronic-absence"]);
    let resp = app
        .post_json_as("/v1/students/S/plans", &not_a_flag, Some(COUNSELOR_KEY))
        .await;
    assert_problem(resp, 422, &["chronic-absence", "not a flag"]).await;
    let resp = app
        .post_json_as("/v1/students/S/plans", &plan_for(seq), Some(INGEST_KEY))
        .await;
    assert_eq!(resp.status(), 403, "opening a plan is the team's");
    assert!(app.kinds_in_log().iter().all(|k| k != "plan.opened"));
}

#[tokio::test]
async fn progress_and_sessions_are_checked_against_the_plan() {
    let app = spawn_app(all_keys()).await;
    app.evaluate(&low_gpa("S")).await;
    let seq = decision_seq(&app, "S").await;
    let plan = created(
        app.post_json_as("/v1/students/S/plans", &plan_for(seq), Some(COUNSELOR_KEY))
            .await,
    )
    .await;
    let id = plan["plan_id"].as_str().expect("id");
    let progress = format!("/v1/plans/{id}/progress");
    let sessions = format!("/v1/plans/{id}/sessions");

    for (body, needle) in [
        (json!({"date": today(), "value": 7.5}), "from 0 to 5"),
        (
            json!({"date": days_from_today(-30), "value": 1.5}),
            "before the plan's start",
        ),
        (json!({"date": days_from_today(9), "value": 1.5}), "future"),
    ] {
        let resp = app
            .post_json_as(&progress, &body, Some(COUNSELOR_KEY))
            .await;
        assert_problem(resp, 422, &[needle]).await;
    }
    let resp = app
        .post_json_as(
            &progress,
            &json!({"date": today(), "value": "x"}),
            Some(COUNSELOR_KEY),
        )
        .await;
    assert_eq!(resp.status(), 400);
    let resp = app
        .post_json_as(
            &progress,
            &json!({"date": today(), "value": 1.4, "note": "probe"}),
            Some(INGEST_KEY),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let resp = app
        .post_json_as(
            &sessions,
            &json!({"date": today(), "minutes": 30, "delivered": true}),
            Some(COUNSELOR_KEY),
        )
        .await;
    let plan: Value = created(resp).await;
    assert_eq!(plan["progress"][0]["source"], "sis");
    assert_eq!(plan["progress"][0]["value"], 1.4);
    assert_eq!(plan["sessions"][0]["delivered"], true);
    assert_eq!(plan["revision"], 3);
    let s = &plan["summary"];
    assert_eq!(s["data_points"], 1);
    assert_eq!(s["direction"], "increase");
    assert_eq!(s["weeks_active"], 1, "started 7 days ago");
    assert_eq!(s["slope_per_week"], Value::Null, "a trend needs 3 points");
    // The aim a week in: 1.2 + 0.8 × 7/63 ≈ 1.29, so 1.4 is on the right side of it.
    assert_eq!(
        (s["points_off_aim"].as_u64(), s["points_on_track"].as_u64()),
        (Some(0), Some(1))
    );
    assert_eq!(s["sessions_planned"], 2.0);
    let resp = app
        .post_json_as(
            &sessions,
            &json!({"date": today(), "minutes": 9999, "delivered": true}),
            Some(COUNSELOR_KEY),
        )
        .await;
    assert_problem(resp, 422, &["minutes"]).await;
    let resp = app
        .post_json_as(
            "/v1/plans/NOPE/progress",
            &json!({"date": today(), "value": 1.0}),
            Some(COUNSELOR_KEY),
        )
        .await;
    assert_eq!(resp.status(), 404);
    let kinds = app.kinds_in_log();
    assert_eq!(kinds.iter().filter(|k| *k == "plan.progress").count(), 1);
    assert_eq!(kinds.iter().filter(|k| *k == "plan.session").count(), 1);
    assert_eq!(app.verify().await["ok"], true);
}

/// A review shows beside the decision it was made on and is carried to the next
/// decision while the flag fires at the same tier: in the history (`reviews`, every
/// flag with its state) and in the plain-text report.
#[tokio::test]
async fn a_review_shows_in_the_history_and_the_report() {
    let app = spawn_app(all_keys()).await;
    app.evaluate(&low_gpa("S")).await;
    let seq = decision_seq(&app, "S").await;
    let review = json!({"decision_seq": seq, "flags": [
        {"rule_id": "low-gpa", "action": "confirm", "reason": "failing two classes"}
    ]});
    let resp = app
        .post_json_as("/v1/students/S/reviews", &review, Some(COUNSELOR_KEY))
        .await;
    assert_eq!(resp.status(), 201);
    app.evaluate(&low_gpa("S")).await;

    let history = json_ok(app.get("/v1/students/S/decisions").await).await;
    let decisions = history["decisions"].as_array().expect("decisions");
    assert_eq!(decisions.len(), 2);
    for d in decisions {
        let r = &d["reviews"]["low-gpa"];
        assert_eq!(r["state"], "confirmed", "{d}");
        assert_eq!(
            r["review"]["decision_seq"], seq,
            "made on the first decision"
        );
        let flags = d["decision"]["flags"].as_array().expect("flags");
        assert_eq!(
            d["reviews"].as_object().map(|m| m.len()),
            Some(flags.len()),
            "every flag has a state"
        );
    }
    let text = app
        .get("/v1/students/S/report")
        .await
        .text()
        .await
        .expect("text");
    assert!(
        text.contains("low-gpa: confirmed by") && text.contains("because failing two classes"),
        "{text}"
    );
}
