//! The harness checked on pages of its own (a stub server, not the console): axe-core
//! loads under the console's Content-Security-Policy and finds real faults, finds
//! none on a clean page, a dialog is seen, and screenshots have the asked width.

use std::time::{Duration, Instant};

use crate::harness::{
    self, MOBILE, WAIT, assert_accessible, bounded, browser, dialog_text, page_status, run_axe,
    screenshot,
};
use crate::stub::Stub;

const FAULTY: &str = r#"<!doctype html>
<html><head><script>document.title = 'inline script ran';</script></head>
<body><img src="/pixel.png"><input type="text" id="q"></body></html>"#;

const CLEAN: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Clean</title></head>
<body><header><nav aria-label="Main"><a href="/clean">Home</a></nav></header>
<main id="main"><h1>Caseload</h1><label for="q">Search</label><input id="q" type="text"></main>
</body></html>"#;

const DIALOG: &str = r#"<!doctype html>
<html lang="en"><head><title>Dialog</title></head>
<body><main id="main"><img src=x onerror=alert(1)></main></body></html>"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axe_runs_under_the_consoles_csp_and_reports_serious_faults() {
    bounded("axe_runs_under_the_consoles_csp", async {
        let Some(b) = browser().await else { return };
        let stub = Stub::start(vec![("/faulty", true, FAULTY)]);
        b.client
            .goto(&format!("{}/faulty", stub.base))
            .await
            .expect("open the faulty page");
        let title = b.client.title().await.expect("title");
        assert_ne!(
            title, "inline script ran",
            "the stub's CSP did not apply, so this test proves nothing about CSP"
        );
        let violations = run_axe(&b.client).await;
        let ids: Vec<&str> = violations.iter().map(|v| v.id.as_str()).collect();
        for expected in ["image-alt", "label"] {
            assert!(
                ids.contains(&expected),
                "axe-core missed `{expected}` on a page that has it; found {ids:?}"
            );
        }
        let img = violations
            .iter()
            .find(|v| v.id == "image-alt")
            .expect("image-alt");
        assert_eq!(img.impact, "critical");
        assert!(
            img.to_string().contains("img"),
            "the violation does not name its element:\n{img}"
        );
        assert!(
            violations
                .iter()
                .all(|v| v.impact == "serious" || v.impact == "critical"),
            "run_axe returned a minor or moderate violation: {ids:?}"
        );
        b.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axe_finds_nothing_on_a_clean_page() {
    bounded("axe_finds_nothing_on_a_clean_page", async {
        let Some(b) = browser().await else { return };
        let stub = Stub::start(vec![("/clean", true, CLEAN)]);
        harness::open(&b.client, &stub.base, "/clean").await;
        assert_accessible(&b.client, "the clean stub page").await;
        b.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_dialog_is_seen() {
    bounded("an_open_dialog_is_seen", async {
        let Some(b) = browser().await else { return };
        // No CSP here: the inline handler runs, as it would on an unescaped page.
        let stub = Stub::start(vec![("/dialog", false, DIALOG)]);
        b.client
            .goto(&format!("{}/dialog", stub.base))
            .await
            .expect("open the dialog page");
        let deadline = Instant::now() + WAIT;
        let text = loop {
            if let Some(t) = dialog_text(&b.client).await {
                break t;
            }
            assert!(
                Instant::now() < deadline,
                "the alert(1) of an unescaped <img onerror> was not seen within {WAIT:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(text, "1");
        b.client.dismiss_alert().await.expect("dismiss");
        assert_eq!(dialog_text(&b.client).await, None);
        b.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_screenshot_is_a_png_360_px_wide() {
    bounded("a_phone_screenshot_is_360_px_wide", async {
        let Some(b) = browser().await else { return };
        let stub = Stub::start(vec![("/clean", true, CLEAN)]);
        harness::open(&b.client, &stub.base, "/clean").await;
        b.client
            .set_window_size(MOBILE.0, MOBILE.1)
            .await
            .expect("resize");
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("shots/clean-360.png");
        screenshot(&b.client, &path).await;
        let png = std::fs::read(&path).expect("the screenshot file");
        // IHDR: width and height are the big-endian u32s at bytes 16..24.
        let width = u32::from_be_bytes(png[16..20].try_into().expect("4 bytes"));
        assert_eq!(
            width, MOBILE.0,
            "a 360 px window gave a {width} px screenshot"
        );
        b.close().await;
    })
    .await;
}

const LOGIN: &str = r#"<!doctype html>
<html lang="en"><head><title>Sign in</title></head>
<body><main id="main"><form method="post" action="/signin">
<label for="key">API key</label><input type="password" name="key" id="key">
<button type="submit">Sign in</button></form></main></body></html>"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_submits_the_form_and_follows_the_redirect() {
    bounded("sign_in_follows_the_redirect", async {
        let Some(b) = browser().await else { return };
        let stub = Stub::start(vec![
            ("/login", true, LOGIN),
            ("/signin", true, "303 /"),
            ("/", true, CLEAN),
        ]);
        harness::sign_in_as(&b.client, &stub.base, "some-key").await;
        let heading = harness::wait_for(&b.client, "main#main h1").await;
        assert_eq!(heading.text().await.expect("h1"), "Caseload");
        b.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_status_is_the_servers() {
    bounded("the_page_status_is_the_servers", async {
        let Some(b) = browser().await else { return };
        let stub = Stub::start(vec![("/clean", true, CLEAN)]);
        b.client
            .goto(&format!("{}/clean", stub.base))
            .await
            .expect("open");
        assert_eq!(page_status(&b.client).await, Some(200));
        b.client
            .goto(&format!("{}/missing", stub.base))
            .await
            .expect("open");
        assert_eq!(page_status(&b.client).await, Some(404));
        b.close().await;
    })
    .await;
}

#[test]
fn a_missing_browser_skips_with_a_notice_unless_required() {
    let notice = harness::on_missing("chromedriver not found", false).expect("a skip");
    assert_eq!(
        notice,
        "browser tests SKIPPED: chromedriver not found (apt-get install chromium chromium-driver)"
    );
    let failure = harness::on_missing("chromedriver not found", true).expect_err("a failure");
    assert!(failure.starts_with(&notice), "{failure}");
    assert!(failure.contains("INTERVENE_REQUIRE_BROWSER=1"), "{failure}");
}

#[test]
fn percent_encoding_keeps_a_markup_id_in_one_path_segment() {
    assert_eq!(
        harness::path_segment("<img src=x onerror=alert(1)>"),
        "%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E"
    );
}
