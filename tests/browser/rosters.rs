//! The caseload's group rosters and the student's key indicators over time in the
//! browser: both shown, no serious or critical axe-core violation, and at 360 px
//! wide the page itself does not scroll sideways (wide tables scroll in their own
//! region).

use fantoccini::Client;
use serde_json::json;

use crate::harness::{
    DESKTOP, MOBILE, assert_accessible, bounded, browser, open, screenshot, screenshot_dir,
    screenshots_wanted, sign_in_as,
};
use crate::helpers::{COUNSELOR_KEY, TestApp, all_keys, spawn_app};

/// A student with two decisions (absence 15% then 7%, GPA 3 then 2.5).
const CHARTED: &str = "S-TREND-1";

async fn seeded() -> TestApp {
    let app = spawn_app(all_keys()).await;
    let record = |id: &str, as_of: &str, present: f64, gpa: f64, school: &str| {
        json!({
            "student_id": id, "school_id": school, "grade_level": 8, "as_of": as_of,
            "attendance": {"days_enrolled": 100, "days_present": present}, "gpa": gpa,
            "behavior": {"office_referrals": 1, "suspensions_in_school": 0, "suspensions_out_of_school": 0},
        })
    };
    app.evaluate(&record(CHARTED, "2026-10-01", 85.0, 3.0, "SCH-1"))
        .await;
    app.evaluate(&record(CHARTED, "2026-11-20", 93.0, 2.5, "SCH-1"))
        .await;
    for (id, present, school) in [
        ("S-ROSTER-1", 85.0, "SCH-1"),
        ("S-ROSTER-2", 80.0, "SCH-2"),
        ("S-ROSTER-3", 70.0, "SCH-1"),
    ] {
        app.evaluate(&record(id, "2026-11-20", present, 3.2, school))
            .await;
    }
    app
}

async fn main_text(c: &Client) -> String {
    crate::harness::wait_for(c, "main#main")
        .await
        .text()
        .await
        .expect("the text of <main>")
}

/// At 360 px wide, how far the page is wider than the window (0: it fits).
async fn overflow_at_360(c: &Client) -> i64 {
    c.set_window_size(MOBILE.0, MOBILE.1)
        .await
        .expect("resize the window");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let v = c
        .execute(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
            vec![],
        )
        .await
        .expect("measure the page");
    c.set_window_size(DESKTOP.0, DESKTOP.1)
        .await
        .expect("back to desktop");
    v.as_i64().unwrap_or(i64::MAX)
}

/// When screenshots are wanted, `<name>-desktop.png` and `<name>-360.png` of the
/// page scrolled to the element `id`.
async fn shots_at(c: &Client, name: &str, id: &str) {
    if !screenshots_wanted() {
        return;
    }
    for ((w, h), suffix) in [(DESKTOP, "desktop"), (MOBILE, "360")] {
        c.set_window_size(w, h).await.expect("resize the window");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        c.execute(
            "document.getElementById(arguments[0]).scrollIntoView(); return true;",
            vec![json!(id)],
        )
        .await
        .expect("scroll");
        let path = screenshot_dir().join(format!("{name}-{suffix}.png"));
        screenshot(c, &path).await;
    }
    c.set_window_size(DESKTOP.0, DESKTOP.1)
        .await
        .expect("back to desktop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rosters_and_indicator_charts_are_accessible() {
    bounded("rosters_and_indicator_charts_are_accessible", async {
        let Some(b) = browser().await else { return };
        let app = seeded().await;
        let c = &b.client;
        sign_in_as(c, &app.address, COUNSELOR_KEY).await;

        open(c, &app.address, "/?school=SCH-1").await;
        let text = main_text(c).await;
        assert!(text.contains("Group rosters"), "{text}");
        assert!(text.contains("Student attendance plan"), "{text}");
        assert!(
            text.contains("S-ROSTER-1") && !text.contains("S-ROSTER-2"),
            "{text}"
        );
        assert_accessible(c, "/ (caseload with rosters)").await;
        assert_eq!(overflow_at_360(c).await, 0, "the caseload at 360 px");
        shots_at(c, "rosters", "rosters-h").await;

        open(c, &app.address, &format!("/students/{CHARTED}")).await;
        let text = main_text(c).await;
        assert!(text.contains("Key indicators over time"), "{text}");
        let charts = c
            .find_all(fantoccini::Locator::Css(
                "figure.chart svg[role=img][aria-labelledby]",
            ))
            .await
            .expect("the charts");
        assert!(
            charts.len() >= 3,
            "absence rate, GPA, referrals: {}",
            charts.len()
        );
        assert_accessible(c, "/students/{id} (indicator charts)").await;
        assert_eq!(overflow_at_360(c).await, 0, "the student page at 360 px");
        shots_at(c, "student-indicators", "indicators-h").await;
        b.close().await;
    })
    .await;
}
