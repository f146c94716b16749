//! The student page in the browser, as a counselor uses it: filter the caseload to
//! tier 3, open a student, read a flag's explanation, confirm one flag and dismiss
//! another with a reason (both then in the audit log), add a progress point and see
//! the chart change. Keyboard-free clicks through real forms, CSRF tokens included.

use fantoccini::{Client, Locator};
use serde_json::json;

use crate::harness::{assert_accessible, bounded, browser, open, sign_in_as, wait_for};
use crate::helpers::{COUNSELOR_KEY, TestApp, all_keys, spawn_app};

/// Tier 3 attendance (25% absent) and a low GPA: two flags to review.
const STUDENT: &str = "S-BROWSER-T3";

async fn seeded() -> TestApp {
    let app = spawn_app(all_keys()).await;
    app.evaluate(&json!({
        "student_id": STUDENT, "gpa": 1.5,
        "attendance": {"days_enrolled": 100, "days_present": 75}
    }))
    .await;
    // A tier 2 student the tier 3 filter must leave out.
    app.evaluate(&json!({"student_id": "S-BROWSER-T2", "attendance": {"days_enrolled": 100, "days_present": 85}}))
        .await;
    app
}

async fn main_text(c: &Client) -> String {
    wait_for(c, "main#main")
        .await
        .text()
        .await
        .expect("the text of <main>")
}

/// Click the button `button` of the form inside `#scope`.
async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no `{css}`: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("cannot click `{css}`: {e}"));
}

/// Wait (up to 10 s) until the page's source holds `needle`: a form's answer is a
/// redirect to a new page, and the old one is read until it arrives.
async fn wait_source(c: &Client, needle: &str) -> String {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let src = c.source().await.unwrap_or_default();
        if src.contains(needle) || std::time::Instant::now() > until {
            return src;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Wait (up to 10 s) until the address holds `needle`, then for `<main>`.
async fn wait_url(c: &Client, needle: &str) {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !c
        .current_url()
        .await
        .is_ok_and(|u| u.as_str().contains(needle))
    {
        assert!(
            std::time::Instant::now() < until,
            "never reached `{needle}`"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    wait_for(c, "main#main").await;
}

async fn fill(c: &Client, css: &str, text: &str) {
    let field = c
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no `{css}`: {e}"));
    field.clear().await.expect("clear the field");
    field.send_keys(text).await.expect("type into the field");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_counselor_reviews_flags_and_records_progress_in_the_browser() {
    bounded(
        "a_counselor_reviews_flags_and_records_progress_in_the_browser",
        async {
            let Some(b) = browser().await else { return };
            let app = seeded().await;
            let c = &b.client;
            sign_in_as(c, &app.address, COUNSELOR_KEY).await;

            // The caseload filtered to tier 3 through its form.
            c.find(Locator::Css("#f-tier"))
                .await
                .expect("the tier filter")
                .select_by_value("3")
                .await
                .expect("choose tier 3");
            click(c, "form.filters button[type=submit]").await;
            wait_url(c, "tier=3").await;
            let list = main_text(c).await;
            assert!(list.contains(STUDENT), "{list}");
            assert!(!list.contains("S-BROWSER-T2"), "tier 2 is filtered out: {list}");

            // The student, the explanation of a flag.
            click(c, &format!("a[href='/students/{STUDENT}']")).await;
            wait_url(c, "/students/").await;
            let page = main_text(c).await;
            assert!(page.contains("Missed 25% of enrolled days"), "{page}");
            assert_accessible(c, "/students/{id}").await;

            // Confirm one flag, dismiss the other with a reason.
            click(c, "#flag-severe-chronic-absence button[value=confirm]").await;
            let page = wait_source(c, "<strong>confirmed</strong>").await;
            assert!(page.contains("<strong>confirmed</strong>"), "{page}");
            fill(c, "#r-low-gpa-reason", "GPA from a transfer school").await;
            click(c, "#flag-low-gpa button[value=dismiss]").await;
            let page = wait_source(c, "because GPA from a transfer school").await;
            assert!(page.contains("because GPA from a transfer school"), "{page}");
            let reviewed: Vec<_> = app
                .log_entries()
                .into_iter()
                .filter(|e| e["kind"] == "decision.reviewed" && e["actor"] == "counselor")
                .collect();
            assert_eq!(reviewed.len(), 2, "{reviewed:?}");

            // A plan (through the API), then a point through the page; the chart shows it.
            let start = (chrono::Utc::now().date_naive() - chrono::Duration::days(14)).to_string();
            let by = (chrono::Utc::now().date_naive() + chrono::Duration::days(60)).to_string();
            let resp = app
                .post_json_as(
                    &format!("/v1/students/{STUDENT}/plans"),
                    &json!({"intervention": "case-management", "owner": "Ms. Diaz",
                            "goal": {"measure": "attendance.absence_rate", "baseline": 0.25, "target": 0.1, "by": by},
                            "start": start, "sessions_per_week": 1}),
                    Some(COUNSELOR_KEY),
                )
                .await;
            assert_eq!(resp.status(), 201);
            open(c, &app.address, &format!("/students/{STUDENT}")).await;
            assert!(main_text(c).await.contains("No points yet"));
            let plan_form = "form.point";
            fill(c, &format!("{plan_form} input[name=value]"), "0.2").await;
            click(c, &format!("{plan_form} button[type=submit]")).await;
            let page = wait_source(c, "1 point; newest 0.2").await;
            assert!(page.contains("1 point; newest 0.2"), "the chart shows the point: {page}");
            b.close().await;
        },
    )
    .await;
}
