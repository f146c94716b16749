//! The audit page in the browser, as an auditor uses it: verify the chain and
//! replay a decision, by following the page's own links.

use fantoccini::Locator;

use crate::harness::{assert_accessible, bounded, browser, open, sign_in_as, wait_for};
use crate::helpers::{AUDITOR_KEY, all_keys, chronic_absence, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auditor_verifies_the_chain_and_replays_a_decision() {
    bounded(
        "an_auditor_verifies_the_chain_and_replays_a_decision",
        async {
            let Some(b) = browser().await else { return };
            let app = spawn_app(all_keys()).await;
            app.evaluate(&chronic_absence("S-AUDIT-1")).await;
            let c = &b.client;
            sign_in_as(c, &app.address, AUDITOR_KEY).await;

            open(c, &app.address, "/audit").await;
            c.find(Locator::LinkText("Verify the hash chain"))
                .await
                .expect("the verify link")
                .follow()
                .await
                .expect("follow it");
            let text = wait_for(c, "main#main").await.text().await.expect("text");
            assert!(text.contains("The hash chain is intact"), "{text}");
            assert_accessible(c, "/audit/verify").await;

            open(c, &app.address, "/audit?kind=decision").await;
            c.find(Locator::Css("a[aria-label^='Replay decision']"))
                .await
                .expect("a replay link")
                .follow()
                .await
                .expect("follow it");
            let text = wait_for(c, "main#main").await.text().await.expect("text");
            assert!(text.contains("Identical"), "{text}");
            assert_accessible(c, "/audit/{seq}/replay").await;
            b.close().await;
        },
    )
    .await;
}
