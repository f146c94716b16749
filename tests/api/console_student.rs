//! The console's student page against the real server: a counselor reads why a
//! student was flagged, confirms one flag and dismisses another with a reason (both
//! then in the audit log under her name), adds a progress point and a session to a
//! plan and sees the chart change; every read of the page is recorded.

use serde_json::{Value, json};

use crate::console::{csrf_of, evaluate, location, page, post_form, signed_in};
use crate::helpers::{AUDITOR_KEY, COUNSELOR_KEY, all_keys, spawn_app};

fn day(offset: i64) -> String {
    (chrono::Utc::now().date_naive() + chrono::Duration::days(offset)).to_string()
}

#[tokio::test]
async fn a_counselor_reads_the_flags_reviews_them_and_records_progress() {
    let app = spawn_app(all_keys()).await;
    // Chronic absence (tier 2) and a low GPA: two flags to review.
    let mut r = crate::console::record("ST-1", 2);
    r["gpa"] = json!(1.5);
    let d = app.evaluate(&r).await;
    assert_eq!(d["flags"].as_array().map(Vec::len), Some(2), "{d}");
    let b = signed_in(&app, COUNSELOR_KEY).await;

    let (status, html) = page(&app, &b, "/students/ST-1").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Missed 15% of enrolled days"), "{html}");
    assert!(html.contains("What would clear it:"), "{html}");
    assert!(html.contains("student.attendance.absence_rate"), "{html}");
    assert!(
        !html.contains("ST-1</title>"),
        "no student data in the title"
    );

    let csrf = csrf_of(&html);
    let seq = app.decisions_in_log().await[0]["seq"]
        .as_u64()
        .expect("seq")
        .to_string();
    let confirm = [
        ("csrf", csrf.as_str()),
        ("decision_seq", seq.as_str()),
        ("rule_id", "chronic-absence"),
        ("action", "confirm"),
    ];
    let resp = post_form(&app, &b, "/students/ST-1/reviews", &confirm).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/students/ST-1#flag-chronic-absence");
    let dismiss = [
        ("csrf", csrf.as_str()),
        ("decision_seq", seq.as_str()),
        ("rule_id", "low-gpa"),
        ("action", "dismiss"),
        ("reason", "GPA from a transfer school, not yet converted"),
    ];
    let resp = post_form(&app, &b, "/students/ST-1/reviews", &dismiss).await;
    assert_eq!(resp.status(), 303);
    // Without the token nothing is written.
    let forged = [
        ("decision_seq", seq.as_str()),
        ("rule_id", "low-gpa"),
        ("action", "confirm"),
    ];
    let resp = post_form(&app, &b, "/students/ST-1/reviews", &forged).await;
    assert_eq!(resp.status(), 403);

    let reviews: Vec<Value> = app
        .log_entries()
        .into_iter()
        .filter(|e| e["kind"] == "decision.reviewed")
        .collect();
    assert_eq!(reviews.len(), 2, "{reviews:?}");
    assert!(reviews.iter().all(|e| e["actor"] == "counselor"));
    assert_eq!(
        reviews[1]["payload"]["flags"][0]["reason"],
        "GPA from a transfer school, not yet converted"
    );
    let (_, html) = page(&app, &b, "/students/ST-1").await;
    assert!(html.contains("<strong>confirmed</strong>"), "{html}");
    assert!(
        html.contains("because GPA from a transfer school, not yet converted"),
        "{html}"
    );

    // A plan, then a point and a session through the page's forms.
    let plan = app
        .post_json_as(
            "/v1/students/ST-1/plans",
            &json!({
                "intervention": "attendance-mentor", "owner": "Mr. Park",
                "goal": {"measure": "attendance.absence_rate", "baseline": 0.15, "target": 0.05, "by": day(50)},
                "start": day(-14), "sessions_per_week": 1,
            }),
            Some(COUNSELOR_KEY),
        )
        .await;
    assert_eq!(plan.status(), 201);
    let plan: Value = plan.json().await.expect("plan");
    let id = plan["plan_id"].as_str().expect("id").to_string();
    let (_, html) = page(&app, &b, "/students/ST-1").await;
    assert!(html.contains("<svg"), "the chart is drawn: {html}");
    assert!(html.contains("No points yet"), "{html}");
    let today = day(-1);
    let point = [
        ("csrf", csrf.as_str()),
        ("date", today.as_str()),
        ("value", "0.12"),
        ("note", "after the family meeting"),
    ];
    let resp = post_form(&app, &b, &format!("/plans/{id}/progress"), &point).await;
    assert_eq!(resp.status(), 303, "{:?}", resp.text().await);
    let session = [
        ("csrf", csrf.as_str()),
        ("date", today.as_str()),
        ("minutes", "20"),
        ("delivered", "yes"),
    ];
    let resp = post_form(&app, &b, &format!("/plans/{id}/sessions"), &session).await;
    assert_eq!(resp.status(), 303);
    let (_, html) = page(&app, &b, "/students/ST-1").await;
    assert!(
        html.contains("1 point; newest 0.12"),
        "the chart shows the new point: {html}"
    );
    assert!(html.contains("after the family meeting"), "{html}");
    // A value outside the measure's range is refused with the API's words.
    let bad = [
        ("csrf", csrf.as_str()),
        ("date", today.as_str()),
        ("value", "7"),
    ];
    let resp = post_form(&app, &b, &format!("/plans/{id}/progress"), &bad).await;
    assert_eq!(resp.status(), 422);
    assert!(
        resp.text()
            .await
            .expect("page")
            .contains("must be from 0 to 1")
    );

    // Every page read is recorded under the counselor, as the API's reads are.
    let reads = app
        .log_entries()
        .into_iter()
        .filter(|e| e["kind"] == "student.accessed" && e["actor"] == "counselor")
        .count();
    assert!(reads >= 4, "{reads}");
}

#[tokio::test]
async fn an_auditor_sees_who_read_the_records_but_no_review_forms() {
    let app = spawn_app(all_keys()).await;
    evaluate(&app, "ST-2", 3).await;
    let counselor = signed_in(&app, COUNSELOR_KEY).await;
    let (status, _) = page(&app, &counselor, "/students/ST-2").await;
    assert_eq!(status, 200);
    let auditor = signed_in(&app, AUDITOR_KEY).await;
    let (status, html) = page(&app, &auditor, "/students/ST-2").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Who has read these records"), "{html}");
    assert!(html.contains("<td>counselor</td>"), "{html}");
    assert!(!html.contains(r#"value="confirm""#), "{html}");
}
