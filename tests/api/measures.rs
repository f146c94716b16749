//! Manual progress measures (`measures.yaml`): a plan's goal may name one of the
//! active rule set's, its progress points are held to the measure's range, and the
//! catalogue's sessions per week fill in what a plan request leaves out.

use serde_json::{Value, json};

use crate::helpers::{COUNSELOR_KEY, all_keys, assert_problem, json_ok, spawn_app};

fn days_from_today(d: i64) -> String {
    (chrono::Utc::now().date_naive() + chrono::Duration::days(d)).to_string()
}

/// A small-group reading plan measured by oral reading fluency (no sessions per week).
fn reading_plan(measure: &str) -> Value {
    json!({
        "intervention": "small-group-reading",
        "owner": "Ms. Lee",
        "goal": {"measure": measure, "baseline": 42, "target": 70, "by": days_from_today(56)},
        "start": days_from_today(-7),
    })
}

fn fields(problem: &Value) -> Vec<&str> {
    problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect()
}

#[tokio::test]
async fn a_plan_on_oral_reading_fluency_holds_progress_to_its_range() {
    let app = spawn_app(all_keys()).await;
    let resp = app
        .post_json_as(
            "/v1/students/S/plans",
            &reading_plan("oral-reading-fluency"),
            Some(COUNSELOR_KEY),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let plan: Value = resp.json().await.expect("json");
    assert_eq!(plan["goal"]["measure"], "oral-reading-fluency");
    assert_eq!(
        plan["sessions_per_week"], 4.0,
        "omitted: the catalogue's sessions per week for small-group reading"
    );
    let id = plan["plan_id"].as_str().expect("id");
    let progress = format!("/v1/plans/{id}/progress");

    let too_high = json!({"date": days_from_today(0), "value": 251});
    let resp = app
        .post_json_as(&progress, &too_high, Some(COUNSELOR_KEY))
        .await;
    let body = assert_problem(
        resp,
        422,
        &["value", "from 0 to 250", "words correct per minute"],
    )
    .await;
    assert_eq!(fields(&body), ["value"]);

    let top = json!({"date": days_from_today(0), "value": 250});
    let resp = app.post_json_as(&progress, &top, Some(COUNSELOR_KEY)).await;
    assert_eq!(resp.status(), 201);
    let plan: Value = resp.json().await.expect("json");
    assert_eq!(plan["progress"].as_array().map(Vec::len), Some(1));
    assert_eq!(plan["progress"][0]["value"], 250.0);
}

#[tokio::test]
async fn an_unknown_measure_is_refused_naming_goal_measure_and_what_is_accepted() {
    let app = spawn_app(all_keys()).await;
    let resp = app
        .post_json_as(
            "/v1/students/S/plans",
            &reading_plan("oral-reading-fluensy"),
            Some(COUNSELOR_KEY),
        )
        .await;
    let body = assert_problem(
        resp,
        422,
        &[
            "did you mean `oral-reading-fluency`",
            "reading_percentile",
            "cico-daily-points",
        ],
    )
    .await;
    assert_eq!(fields(&body), ["goal.measure"]);
    assert!(app.kinds_in_log().iter().all(|k| k != "plan.opened"));

    // A plan on a record indicator may change its goal to a manual measure, not to
    // a name the rule set does not know.
    let mut plan = reading_plan("reading_percentile");
    plan["goal"]["baseline"] = json!(12);
    plan["goal"]["target"] = json!(30);
    plan["sessions_per_week"] = json!(5);
    let resp = app
        .post_json_as("/v1/students/S/plans", &plan, Some(COUNSELOR_KEY))
        .await;
    assert_eq!(resp.status(), 201);
    let opened: Value = resp.json().await.expect("json");
    assert_eq!(opened["sessions_per_week"], 5.0, "sent: kept");
    let id = opened["plan_id"].as_str().expect("id");
    let patch = |goal: Value| {
        app.client
            .patch(app.url(&format!("/v1/plans/{id}")))
            .header("authorization", format!("Bearer {COUNSELOR_KEY}"))
            .header("content-type", "application/json")
            .header("if-match", "\"1\"")
            .body(json!({ "goal": goal }).to_string())
            .send()
    };
    let mut goal = reading_plan("wcpm")["goal"].clone();
    let resp = patch(goal.clone()).await.expect("PATCH");
    let body = assert_problem(resp, 422, &["`wcpm` is not a measure"]).await;
    assert_eq!(fields(&body), ["goal.measure"]);
    goal["measure"] = json!("oral-reading-fluency");
    let resp = patch(goal).await.expect("PATCH");
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn the_active_rule_set_shows_its_measures_and_plan_defaults() {
    let app = spawn_app(all_keys()).await;
    let rs = json_ok(app.get("/v1/rules").await).await;
    let measures = rs["measures"].as_array().expect("measures");
    assert_eq!(measures.len(), 4);
    assert_eq!(
        measures[0],
        json!({
            "id": "oral-reading-fluency", "name": "Oral reading fluency",
            "unit": "words correct per minute", "min": 0.0, "max": 250.0, "better": "higher",
            "description": "A one-minute timed reading of a grade-level passage (ORF/CBM-R)."
        })
    );
    let cico = rs["interventions"]
        .as_array()
        .expect("interventions")
        .iter()
        .find(|i| i["id"] == "check-in-check-out")
        .expect("check-in-check-out");
    assert_eq!(cico["progress_measure"], "cico-daily-points");
    assert_eq!(cico["default_weeks"], 8);
    assert_eq!(cico["sessions_per_week"], 5.0);
}

#[tokio::test]
async fn publishing_measures_yaml_makes_a_new_version_whose_range_plans_use() {
    let rules = crate::helpers::copy_rules();
    let path = rules.path().to_path_buf();
    let app = crate::helpers::spawn_app_with(all_keys(), move |s| s.rules = path).await;
    let before = json_ok(app.get("/v1/rules").await).await;
    let v0 = before["version"].as_str().expect("version").to_string();
    let text = std::fs::read_to_string(rules.path().join("measures.yaml")).expect("read");

    // A range that is no range is refused where it is written; nothing changes.
    let broken = text.replacen("max: 250", "max: 0", 1);
    let body = json!({"base_version": v0, "files": {"measures.yaml": broken}});
    let resp = app
        .post_json_as("/v1/rules/publish", &body, Some(COUNSELOR_KEY))
        .await;
    let problem = assert_problem(resp, 422, &["nothing was changed"]).await;
    let e = &problem["errors"][0];
    assert_eq!(
        (e["file"].as_str(), e["line"].as_u64()),
        (Some("measures.yaml"), Some(10)),
        "{e}"
    );
    assert_eq!(e["message"], "`max` (0) must be greater than `min` (0)");
    let still = json_ok(app.get("/v1/rules").await).await;
    assert_eq!(still["version"], v0.as_str());

    let wider = text.replacen("max: 250", "max: 300", 1);
    let body = json!({"base_version": v0, "files": {"measures.yaml": wider}});
    let resp = app
        .post_json_as("/v1/rules/publish", &body, Some(COUNSELOR_KEY))
        .await;
    let published = json_ok(resp).await;
    assert_ne!(
        published["version"],
        v0.as_str(),
        "measures.yaml is in the version"
    );
    let on_disk = std::fs::read_to_string(rules.path().join("measures.yaml")).expect("read");
    assert_eq!(on_disk, wider);
    let after = json_ok(app.get("/v1/rules").await).await;
    assert_eq!(after["measures"][0]["max"], 300.0);

    let resp = app
        .post_json_as(
            "/v1/students/S/plans",
            &reading_plan("oral-reading-fluency"),
            Some(COUNSELOR_KEY),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let plan: Value = resp.json().await.expect("json");
    let id = plan["plan_id"].as_str().expect("id");
    let point = json!({"date": days_from_today(0), "value": 280});
    let resp = app
        .post_json_as(
            &format!("/v1/plans/{id}/progress"),
            &point,
            Some(COUNSELOR_KEY),
        )
        .await;
    assert_eq!(resp.status(), 201, "280 is inside the published range");
}
