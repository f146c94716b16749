//! Retention and legal holds over plans: a closed plan whose last entry is past the
//! cutoff is purged with the decisions (its entries tombstoned like a decision's,
//! the plan gone from `GET /v1/plans/{id}`, which then answers 404), a held
//! student's plan and an open plan are kept, and the chain still verifies.

use serde_json::{Value, json};

use crate::helpers::{COUNSELOR_KEY, TestApp, all_keys, json_ok, low_gpa, spawn_app};

fn day(d: i64) -> String {
    (chrono::Utc::now().date_naive() + chrono::Duration::days(d)).to_string()
}

async fn open(app: &TestApp, student: &str) -> String {
    let plan = json!({
        "intervention": "tutoring",
        "owner": "Ms. Lee",
        "goal": {"measure": "gpa", "baseline": 1.2, "target": 2.0, "by": day(56)},
        "start": day(-14),
    });
    let resp = app
        .post_json_as(
            &format!("/v1/students/{student}/plans"),
            &plan,
            Some(COUNSELOR_KEY),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let v: Value = resp.json().await.expect("json");
    let id = v["plan_id"].as_str().expect("id").to_string();
    let point = json!({"date": day(-7), "value": 1.3});
    let resp = app
        .post_json_as(
            &format!("/v1/plans/{id}/progress"),
            &point,
            Some(COUNSELOR_KEY),
        )
        .await;
    assert_eq!(resp.status(), 201);
    id
}

async fn close(app: &TestApp, id: &str) {
    let resp = app
        .client
        .patch(app.url(&format!("/v1/plans/{id}")))
        .bearer_auth(COUNSELOR_KEY)
        .header("if-match", "\"2\"")
        .json(&json!({"status": "met", "exit_reason": "goal reached"}))
        .send()
        .await
        .expect("PATCH");
    assert_eq!(resp.status(), 200);
}

/// Purge everything dated before the year 9999 (every entry so far), as the
/// retention thread and `intervene audit purge` do.
async fn purge_all(app: &TestApp) -> u64 {
    let store = app.state.app.store.clone();
    tokio::task::spawn_blocking(move || store.purge_before("9999", "retention", ""))
        .await
        .expect("join")
        .expect("purge")
        .purged
}

async fn plan_status(app: &TestApp, id: &str) -> u16 {
    app.get_as(&format!("/v1/plans/{id}"), Some(COUNSELOR_KEY))
        .await
        .status()
        .as_u16()
}

/// Entries of `kind` in the export, split into (live, tombstoned).
async fn split(app: &TestApp, kind: &str) -> (usize, usize) {
    let export = app.export_text().await;
    let of: Vec<Value> = export
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["kind"] == kind)
        .collect();
    let gone = of.iter().filter(|e| e.get("purged_by").is_some()).count();
    (of.len() - gone, gone)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_plans_past_retention_are_purged_unless_held_and_open_ones_stay() {
    let app = spawn_app(all_keys()).await;
    for s in ["A", "H", "O"] {
        app.evaluate(&low_gpa(s)).await;
    }
    let (a, h, o) = (
        open(&app, "A").await,
        open(&app, "H").await,
        open(&app, "O").await,
    );
    close(&app, &a).await;
    close(&app, &h).await;
    let resp = app
        .client
        .put(app.url("/v1/audit/holds/H"))
        .bearer_auth(crate::helpers::ADMIN_KEY)
        .json(&json!({"reason": "records request 7"}))
        .send()
        .await
        .expect("PUT hold");
    assert!(resp.status().is_success(), "{}", resp.status());

    // A's decision, O's decision and A's three plan entries (opened, progress,
    // closed); H is held and O's plan is open.
    assert_eq!(purge_all(&app).await, 5);
    assert_eq!(plan_status(&app, &a).await, 404, "a purged plan is gone");
    let list = json_ok(
        app.get_as("/v1/students/A/plans", Some(COUNSELOR_KEY))
            .await,
    )
    .await;
    assert_eq!(list["plans"], json!([]));
    assert_eq!(plan_status(&app, &h).await, 200, "held");
    assert_eq!(plan_status(&app, &o).await, 200, "open");
    let opened = split(&app, "plan.opened").await;
    assert_eq!(opened, (2, 1), "H's and O's kept, A's a tombstone");
    assert_eq!(split(&app, "plan.closed").await, (1, 1));
    let export = app.export_text().await;
    assert!(
        !export.contains(&a),
        "the purged plan's id is gone from the log"
    );
    assert_eq!(app.verify().await["ok"], true);

    // Lifting the hold: H's closed plan goes with the next run.
    let resp = app
        .client
        .delete(app.url("/v1/audit/holds/H"))
        .bearer_auth(crate::helpers::ADMIN_KEY)
        .send()
        .await
        .expect("DELETE hold");
    assert!(resp.status().is_success());
    assert!(
        purge_all(&app).await >= 4,
        "H's decision and three plan entries"
    );
    assert_eq!(plan_status(&app, &h).await, 404);
    assert_eq!(plan_status(&app, &o).await, 200, "still open");
    assert_eq!(app.verify().await["ok"], true);
}
