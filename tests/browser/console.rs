//! The console's pages in the browser: signing in by role, the ingest key refused,
//! a student id made of markup shown as text with no dialog, every page with its
//! `<main id="main">` and nav, and no serious or critical axe-core violation.

use std::time::Duration;

use fantoccini::{Client, Locator};

use crate::harness::{
    assert_accessible, assert_no_dialog, bounded, browser, goto_ok, open, page_screenshots,
    page_status, path_segment, sign_in, sign_in_as, wait_for,
};
use crate::helpers::{
    ADMIN_KEY, AUDITOR_KEY, COUNSELOR_KEY, INGEST_KEY, TestApp, all_keys, chronic_absence,
    spawn_app,
};

/// A flagged student every test's caseload holds.
const SEEDED: &str = "S-BROWSER-1";

/// A student id that is also markup: it must render as text and open no dialog.
const MARKUP_ID: &str = "<img src=x onerror=alert(1)>";

/// The server with one key per role and one flagged student.
async fn app_with_student(id: &str) -> TestApp {
    let app = spawn_app(all_keys()).await;
    app.evaluate(&chronic_absence(id)).await;
    app
}

async fn main_text(client: &Client) -> String {
    wait_for(client, "main#main")
        .await
        .text()
        .await
        .expect("the text of <main>")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_sign_in_and_axe() {
    bounded("console_sign_in_and_axe", async {
        let Some(b) = browser().await else { return };
        let app = app_with_student(SEEDED).await;
        let c = &b.client;

        goto_ok(c, &app.url("/login")).await;
        wait_for(c, "input#key").await;
        assert_accessible(c, "/login").await;
        page_screenshots(c, "login").await;

        sign_in_as(c, &app.address, COUNSELOR_KEY).await;
        let caseload = main_text(c).await;
        assert!(
            caseload.contains(SEEDED),
            "the caseload does not list the flagged student {SEEDED}:\n{caseload}"
        );
        assert_accessible(c, "/ (caseload)").await;
        page_screenshots(c, "caseload").await;
        b.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_refuses_the_ingest_key() {
    bounded("console_refuses_the_ingest_key", async {
        let Some(b) = browser().await else { return };
        let app = app_with_student(SEEDED).await;
        let c = &b.client;

        sign_in(c, &app.address, INGEST_KEY).await;
        let url = c.current_url().await.expect("url");
        assert_eq!(page_status(c).await, Some(403), "the ingest key on {url}");
        let body = c
            .find(Locator::Css("body"))
            .await
            .expect("body")
            .text()
            .await
            .expect("body text");
        assert!(
            !body.contains(SEEDED),
            "the ingest key's refusal shows a student:\n{body}"
        );
        assert_accessible(c, "the ingest key's refusal").await;

        // No session came of it: the caseload still shows no student.
        c.goto(&app.url("/")).await.expect("open /");
        let after = c
            .find(Locator::Css("body"))
            .await
            .expect("body")
            .text()
            .await
            .expect("body text");
        assert!(
            !after.contains(SEEDED),
            "after the ingest key was refused, `/` shows the caseload:\n{after}"
        );
        b.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_shows_a_markup_student_id_as_text() {
    bounded("console_shows_a_markup_student_id_as_text", async {
        let Some(b) = browser().await else { return };
        let app = app_with_student(MARKUP_ID).await;
        let c = &b.client;

        sign_in_as(c, &app.address, COUNSELOR_KEY).await;
        let student = format!("/students/{}", path_segment(MARKUP_ID));
        for page in ["/", student.as_str()] {
            if page != "/" {
                open(c, &app.address, page).await;
            }
            assert_eq!(page_status(c).await, Some(200), "GET {page}");
            let text = main_text(c).await;
            assert!(
                text.contains(MARKUP_ID),
                "{page} does not show the id `{MARKUP_ID}` as text:\n{text}"
            );
            let injected = c
                .find_all(Locator::Css("img[src='x'], img[onerror]"))
                .await
                .expect("look for the injected image");
            assert!(
                injected.is_empty(),
                "{page} turned the student id into an <img> element"
            );
            // Give a failed image load time to fire its handler, had it been parsed.
            tokio::time::sleep(Duration::from_millis(500)).await;
            assert_no_dialog(c, page).await;
        }
        b.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_every_page_has_main_and_nav_and_passes_axe() {
    bounded(
        "console_every_page_has_main_and_nav_and_passes_axe",
        async {
            let Some(b) = browser().await else { return };
            let app = app_with_student(SEEDED).await;
            let c = &b.client;

            let student = format!("/students/{}", path_segment(SEEDED));
            for (key, role) in [(AUDITOR_KEY, "auditor"), (ADMIN_KEY, "admin")] {
                sign_in_as(c, &app.address, key).await;
                for (path, name) in [
                    ("/", "caseload"),
                    (student.as_str(), "student"),
                    ("/audit", "audit"),
                    ("/rules", "rules"),
                ] {
                    open(c, &app.address, path).await;
                    assert_eq!(page_status(c).await, Some(200), "GET {path} as {role}");
                    c.find(Locator::Css("nav"))
                        .await
                        .unwrap_or_else(|e| panic!("{path} as {role} has no <nav>: {e}"));
                    assert_accessible(c, &format!("{path} as {role}")).await;
                    if role == "admin" {
                        page_screenshots(c, name).await;
                    }
                }
                c.delete_all_cookies().await.expect("sign out by cookies");
            }
            b.close().await;
        },
    )
    .await;
}
