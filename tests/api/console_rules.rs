//! The console's rules page: the active rules by domain with their conditions in
//! words, the thresholds, and the versions; for the roles of `GET /v1/rules` only.

use crate::console::{page, signed_in};
use crate::helpers::{AUDITOR_KEY, COUNSELOR_KEY, all_keys, spawn_app};

#[tokio::test]
async fn a_counselor_reads_the_rules_in_words_with_their_thresholds() {
    let app = spawn_app(all_keys()).await;
    let b = signed_in(&app, COUNSELOR_KEY).await;
    let (status, html) = page(&app, &b, "/rules").await;
    assert_eq!(status, 200, "{html}");
    let row = html
        .split("<tr id=\"rule-chronic-absence\">")
        .nth(1)
        .and_then(|r| r.split("</tr>").next())
        .unwrap_or_else(|| panic!("no chronic-absence row: {html}"));
    assert!(row.contains("absence rate ≥ 10% and &#60; 20%"), "{row}");
    assert!(row.contains("attendance-plan"), "{row}");
    assert!(
        html.contains("chronic_absence_rate"),
        "the thresholds: {html}"
    );
    assert!(
        html.contains("tier2-nonresponse"),
        "the decision rules: {html}"
    );
    assert!(html.contains("(active)"), "the versions: {html}");
    let auditor = signed_in(&app, AUDITOR_KEY).await;
    let (status, _) = page(&app, &auditor, "/rules").await;
    assert_eq!(status, 200);
}
