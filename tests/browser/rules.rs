//! Changing the rules in the browser: a counselor changes a threshold in the form,
//! sees its effect on the caseload in the preview, publishes it and lands on the new
//! version; in the file editor a typo's problem appears at its line as she types and
//! goes when it is fixed; an admin rolls the change back. axe on every page.

use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};
use serde_json::json;

use crate::harness::{
    assert_accessible, bounded, browser, open, page_screenshots, sign_in_as, wait_for,
};
use crate::helpers::{
    ADMIN_KEY, COUNSELOR_KEY, INGEST_KEY, TestApp, all_keys, copy_rules, json_ok, spawn_app_with,
};

async fn seeded() -> (TestApp, tempfile::TempDir) {
    let rules = copy_rules();
    let dir = rules.path().to_path_buf();
    let app = spawn_app_with(all_keys(), move |s| s.rules = dir).await;
    let ndjson = format!(
        "{}\n{}\n",
        json!({"student_id": "S-GPA-23", "gpa": 2.3}),
        json!({"student_id": "S-GPA-35", "gpa": 3.5})
    );
    let resp = app
        .post_raw_as(
            "/v1/students/import",
            "application/x-ndjson",
            ndjson,
            Some(INGEST_KEY),
        )
        .await;
    assert_eq!(resp.status(), 200);
    resp.text().await.expect("import");
    (app, rules)
}

async fn active(app: &TestApp) -> String {
    json_ok(app.get_as("/v1/rules", Some(COUNSELOR_KEY)).await).await["version"]
        .as_str()
        .expect("version")
        .to_string()
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no `{css}`: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("cannot click `{css}`: {e}"));
}

/// Wait (10 s at most) until `<main>`'s text holds `needle`; that text.
async fn wait_text(c: &Client, needle: &str) -> String {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let text = match c.find(Locator::Css("main#main")).await {
            Ok(m) => m.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if text.contains(needle) {
            return text;
        }
        assert!(Instant::now() < until, "never showed `{needle}`:\n{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_counselor_changes_a_threshold_previews_publishes_and_an_admin_rolls_back() {
    bounded(
        "a_counselor_changes_a_threshold_previews_publishes_and_an_admin_rolls_back",
        async {
            let Some(b) = browser().await else { return };
            let (app, _rules) = seeded().await;
            let v0 = active(&app).await;
            let c = &b.client;
            sign_in_as(c, &app.address, COUNSELOR_KEY).await;
            open(c, &app.address, "/rules").await;
            assert_accessible(c, "/rules").await;
            page_screenshots(c, "rules").await;

            // The threshold, typed into its labelled field.
            let field = wait_for(c, "#param-low_gpa").await;
            field.clear().await.expect("clear");
            field.send_keys("2.5").await.expect("type");
            click(c, "form.thresholds button[type=submit]").await;
            let preview = wait_text(c, "Preview of the change").await;
            assert!(preview.contains("S-GPA-23"), "{preview}");
            assert!(!preview.contains("S-GPA-35"), "{preview}");
            assert!(preview.contains("rule tests pass with this change"), "{preview}");
            assert_accessible(c, "/rules/preview").await;
            page_screenshots(c, "rules-preview").await;

            click(c, "form.publish button[type=submit]").await;
            let version = wait_text(c, "Activations").await;
            assert!(version.contains("counselor"), "{version}");
            assert!(version.contains("+  value: 2.5"), "{version}");
            let v1 = active(&app).await;
            assert_ne!(v1, v0);
            assert_accessible(c, "/rules/versions/{version}").await;
            page_screenshots(c, "rules-version").await;

            // The file editor: a typo shows at its line as she types, and goes.
            open(c, &app.address, "/rules/files/params.yaml").await;
            wait_for(c, "#editor.enhanced").await;
            let area = wait_for(c, "#file-text").await;
            let text = area.prop("value").await.expect("value").unwrap_or_default();
            let line = text
                .lines()
                .position(|l| l.starts_with("low_gpa:"))
                .expect("low_gpa")
                + 1;
            // Put the caret at the start and break the key's colon.
            c.execute(
                "const a = document.getElementById('file-text'); const i = a.value.indexOf('low_gpa:') + 7; a.focus(); a.setSelectionRange(i, i + 1); return true;",
                vec![],
            )
            .await
            .expect("select the colon");
            area.send_keys(" ").await.expect("type over the colon");
            let status = wait_text(c, "problem").await;
            assert!(status.contains("1 problem") || status.contains("problems"), "{status}");
            let listed = wait_for(c, "#problems button.problem").await.text().await.expect("text");
            assert!(listed.starts_with(&format!("{line}:")), "at line {line}: {listed}");
            assert_accessible(c, "/rules/files/{name}").await;
            page_screenshots(c, "rules-editor").await;
            // Fixed: the colon back.
            c.execute(
                "const a = document.getElementById('file-text'); const i = a.value.indexOf('low_gpa ') + 7; a.focus(); a.setSelectionRange(i, i + 1); return true;",
                vec![],
            )
            .await
            .expect("select the space");
            area.send_keys(":").await.expect("type the colon");
            wait_text(c, "No problems").await;

            // An admin (signed in on the same browser) rolls back from the old
            // version's page.
            c.delete_all_cookies().await.expect("sign out");
            sign_in_as(c, &app.address, ADMIN_KEY).await;
            open(c, &app.address, &format!("/rules/versions/{v0}")).await;
            click(c, "form[action^='/rules/rollback/'] button[type=submit]").await;
            wait_text(c, "(active)").await;
            assert_eq!(active(&app).await, v0);
            b.close().await;
        },
    )
    .await;
}
