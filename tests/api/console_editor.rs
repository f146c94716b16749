//! The rule-file editor: a file of the active set in a textarea (escaped), a check
//! that names each problem at its line and column and runs the rule tests, the same
//! check as JSON for the editor's script only with the page's CSRF token, and the
//! roles of the JSON API.

use serde_json::{Value, json};

use crate::console::{csrf_of, page, post_form, signed_in};
use crate::helpers::{AUDITOR_KEY, COUNSELOR_KEY, TestApp, all_keys, copy_rules, spawn_app_with};

async fn spawn() -> (TestApp, tempfile::TempDir) {
    let rules = copy_rules();
    let dir = rules.path().to_path_buf();
    (
        spawn_app_with(all_keys(), move |s| s.rules = dir).await,
        rules,
    )
}

fn version_of(html: &str) -> String {
    let at = html
        .find("name=\"base_version\" value=\"")
        .expect("base_version");
    let rest = &html[at + "name=\"base_version\" value=\"".len()..];
    rest[..rest.find('"').expect("quote")].to_string()
}

#[tokio::test]
async fn a_file_opens_escaped_and_a_typo_is_named_at_its_line_and_column() {
    let (app, rules) = spawn().await;
    // A description that would close the textarea if it were not escaped.
    let pack = rules.path().join("attendance.yaml");
    let text = std::fs::read_to_string(&pack).expect("pack");
    let hostile = text.replacen(
        "description: >-",
        "# </textarea><script>alert(1)</script>\ndescription: >-",
        1,
    );
    std::fs::write(&pack, &hostile).expect("write");
    let r = app.post_json("/v1/rules/reload", &json!({})).await;
    assert_eq!(r.status(), 200);

    let b = signed_in(&app, COUNSELOR_KEY).await;
    let (status, html) = page(&app, &b, "/rules/files/attendance.yaml").await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("&#60;/textarea&#62;&#60;script&#62;"),
        "{html}"
    );
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(html.contains(r#"<label for="file-text">Text of attendance.yaml</label>"#));
    assert!(
        html.contains("<script src=\"/assets/console.js?v="),
        "{html}"
    );
    let (csrf, base) = (csrf_of(&html), version_of(&html));

    // A tier the format does not have, on a known line.
    let typo = hostile.replacen("    tier: 2\n", "    tier: 5\n", 1);
    let line = typo
        .lines()
        .position(|l| l == "    tier: 5")
        .expect("the typo")
        + 1;
    let form = [
        ("csrf", csrf.as_str()),
        ("base_version", base.as_str()),
        ("file", "attendance.yaml"),
        ("text", typo.as_str()),
    ];
    let resp = post_form(&app, &b, "/rules/check", &form).await;
    assert_eq!(resp.status(), 422);
    let checked = resp.text().await.expect("page");
    assert!(
        checked.contains(&format!(
            "<code>attendance.yaml:{line}:11</code> error: `tier` must be 1, 2 or 3, found `5`"
        )),
        "{checked}"
    );
    assert!(checked.contains("its rule tests were not run"), "{checked}");

    // The clean file: no problems, the tests pass.
    let form = [
        ("csrf", csrf.as_str()),
        ("base_version", base.as_str()),
        ("file", "attendance.yaml"),
        ("text", hostile.as_str()),
    ];
    let resp = post_form(&app, &b, "/rules/check", &form).await;
    assert_eq!(resp.status(), 200);
    let ok = resp.text().await.expect("page");
    assert!(ok.contains("rule tests pass.</p>"), "{ok}");

    // Without the token the form is refused.
    let resp = post_form(&app, &b, "/rules/check", &form[1..]).await;
    assert_eq!(resp.status(), 403);
}

#[tokio::test]
async fn the_live_check_needs_the_pages_token_and_answers_json() {
    let (app, _rules) = spawn().await;
    let b = signed_in(&app, COUNSELOR_KEY).await;
    let (_, html) = page(&app, &b, "/rules/files/params.yaml").await;
    let (csrf, base) = (csrf_of(&html), version_of(&html));
    let text = std::fs::read_to_string(copy_rules().path().join("params.yaml")).expect("params");
    let broken = text.replacen("low_gpa:\n  value: 2.0", "low_gpa:\n  value: two", 1);
    let body = json!({"base_version": base, "file": "params.yaml", "text": broken});
    let post = |token: Option<&str>| {
        let mut rb = b
            .post(app.url("/rules/check.json"))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(t) = token {
            rb = rb.header("x-csrf-token", t);
        }
        rb.send()
    };
    assert_eq!(post(None).await.expect("POST").status(), 403);
    assert_eq!(
        post(Some("not-the-token")).await.expect("POST").status(),
        403
    );
    let resp = post(Some(&csrf)).await.expect("POST");
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.expect("json");
    assert_eq!(v["loads"], false, "{v}");
    let p = &v["problems"][0];
    assert_eq!(p["file"], "params.yaml", "{v}");
    assert!(p["line"].as_u64().is_some_and(|l| l > 0), "{v}");
    assert!(
        p["message"].as_str().is_some_and(|m| m.contains("low_gpa")),
        "{v}"
    );

    // An auditor reads files but does not check them.
    let auditor = signed_in(&app, AUDITOR_KEY).await;
    let (status, html) = page(&app, &auditor, "/rules/files/params.yaml").await;
    assert_eq!(status, 200);
    assert!(!html.contains("Check and run tests"), "{html}");
    let resp = auditor
        .post(app.url("/rules/check.json"))
        .header("content-type", "application/json")
        .header("x-csrf-token", csrf_of(&html))
        .body(body.to_string())
        .send()
        .await
        .expect("POST");
    assert_eq!(resp.status(), 403);
}

#[tokio::test]
async fn unknown_and_escaping_file_names_are_refused() {
    let (app, _rules) = spawn().await;
    let b = signed_in(&app, COUNSELOR_KEY).await;
    let (status, _) = page(&app, &b, "/rules/files/nothing.yaml").await;
    assert_eq!(status, 404);
    for bad in [
        "/rules/files/..%2F..%2Fetc%2Fpasswd",
        "/rules/files/%2Fetc%2Fpasswd",
    ] {
        let (status, _) = page(&app, &b, bad).await;
        assert!(status == 400 || status == 404, "{bad}: {status}");
    }
}

/// Issue 17: the editor's live check shows the band analysis's warnings at the
/// edited rule's condition, with the interval the active version covered and the
/// edit leaves to no band.
#[tokio::test]
async fn the_live_check_names_the_gap_an_edited_band_opens() {
    let (app, _rules) = spawn().await;
    let b = signed_in(&app, COUNSELOR_KEY).await;
    let (_, html) = page(&app, &b, "/rules/files/attendance.yaml").await;
    let (csrf, base) = (csrf_of(&html), version_of(&html));
    let text =
        std::fs::read_to_string(copy_rules().path().join("attendance.yaml")).expect("attendance");
    let edited = text.replacen(
        "student.attendance.absence_rate >= params.chronic_absence_rate\n      && student.attendance.absence_rate < params.severe_absence_rate",
        "student.attendance.absence_rate >= 0.12\n      && student.attendance.absence_rate < params.severe_absence_rate",
        1,
    );
    assert_ne!(
        edited, text,
        "the chronic band's condition is where this test expects"
    );
    let body = json!({"base_version": base, "file": "attendance.yaml", "text": edited});
    let resp = b
        .post(app.url("/rules/check.json"))
        .header("content-type", "application/json")
        .header("x-csrf-token", csrf)
        .body(body.to_string())
        .send()
        .await
        .expect("POST");
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.expect("json");
    assert_eq!(v["loads"], true, "{v}");
    let gap = v["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .find(|p| {
            p["message"]
                .as_str()
                .is_some_and(|m| m.contains("fires no attendance rule"))
        })
        .unwrap_or_else(|| panic!("no gap warning: {v}"));
    assert_eq!(
        gap["message"],
        "absence rate in [0.1, 0.12) now fires no attendance rule; it fired `chronic-absence` before",
        "{v}"
    );
    // Against the active version, the gap is said once, not also between neighbours.
    let gaps = v["problems"].as_array().map_or(0, |ps| {
        ps.iter()
            .filter(|p| {
                p["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("fires no"))
            })
            .count()
    });
    assert_eq!(gaps, 1, "{v}");
    assert_eq!(gap["file"], "attendance.yaml", "{v}");
    let when_line = edited
        .lines()
        .position(|l| l.contains(">= 0.12"))
        .expect("edited line");
    // A block condition is pointed at where its text starts (1-based lines).
    assert_eq!(gap["line"].as_u64(), Some(when_line as u64 + 1), "{v}");
    assert_eq!(gap["column"], 7, "{v}");
}
