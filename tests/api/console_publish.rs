//! Changing thresholds from the console: the form's preview names the students a
//! change would flag, publish makes a version whose page shows who, when and the diff,
//! a stale base is shown as someone else's publish with its difference, a bad number is
//! an error beside its field, and only admins roll back.

use serde_json::json;

use crate::console::{csrf_of, location, page, post_form, signed_in};
use crate::helpers::{
    ADMIN_KEY, AUDITOR_KEY, COUNSELOR_KEY, INGEST_KEY, TestApp, all_keys, copy_rules, json_ok,
    spawn_app_with,
};

/// The server on a copy of the shipped rules (a publish writes the files back); the
/// copy is kept with the server.
async fn spawn_app(keys: Vec<intervene::config::ApiKey>) -> (TestApp, tempfile::TempDir) {
    let rules = copy_rules();
    let dir = rules.path().to_path_buf();
    (spawn_app_with(keys, move |s| s.rules = dir).await, rules)
}

/// The active version, from the API.
async fn active(app: &TestApp) -> String {
    json_ok(app.get_as("/v1/rules", Some(COUNSELOR_KEY)).await).await["version"]
        .as_str()
        .expect("version")
        .to_string()
}

#[tokio::test]
async fn a_counselor_previews_publishes_and_an_admin_rolls_back_a_threshold() {
    let (app, _rules) = spawn_app(all_keys()).await;
    // Stored students (the preview judges the stored snapshots).
    let ndjson = format!(
        "{}\n{}\n",
        json!({"student_id": "GPA-23", "gpa": 2.3}),
        json!({"student_id": "GPA-31", "gpa": 3.1})
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
    resp.text().await.expect("import summary");
    let v0 = active(&app).await;
    let b = signed_in(&app, COUNSELOR_KEY).await;
    let (status, html) = page(&app, &b, "/rules").await;
    assert_eq!(status, 200);
    assert!(
        html.contains(r#"<input type="number" step="any" inputmode="decimal" id="param-low_gpa" name="param.low_gpa" value="2.0">"#),
        "{html}"
    );
    assert!(
        html.contains(r#"<label for="param-low_gpa">"#),
        "labelled: {html}"
    );
    let csrf = csrf_of(&html);

    // Preview: 2.3 would now be low; the tests move with the threshold and pass.
    let form = [
        ("csrf", csrf.as_str()),
        ("base_version", v0.as_str()),
        ("param.low_gpa", "2.5"),
        ("param.chronic_absence_rate", "0.10"),
    ];
    let resp = post_form(&app, &b, "/rules/preview", &form).await;
    assert_eq!(resp.status(), 200);
    let preview = resp.text().await.expect("page");
    assert!(
        preview.contains("<h1>Preview of the change</h1>"),
        "{preview}"
    );
    assert!(
        preview.contains(r#"<a href="/students/GPA-23">GPA-23</a>"#),
        "{preview}"
    );
    assert!(!preview.contains("GPA-31"), "{preview}");
    assert!(
        preview.contains("Newly flagged: <strong>1</strong>"),
        "{preview}"
    );
    assert!(
        preview.contains("rule tests pass with this change"),
        "{preview}"
    );
    assert!(
        preview.contains("-  value: 2.0\n+  value: 2.5"),
        "the diff: {preview}"
    );
    assert!(
        preview.contains(">Publish this change</button>"),
        "{preview}"
    );
    assert_eq!(active(&app).await, v0, "a preview publishes nothing");

    // Without the token the form is refused.
    let resp = post_form(&app, &b, "/rules/publish", &form[1..]).await;
    assert_eq!(resp.status(), 403);

    // Publish: the new version's page, with who and the diff.
    let resp = post_form(&app, &b, "/rules/publish", &form).await;
    assert_eq!(resp.status(), 303);
    let to = location(&resp);
    let v1 = active(&app).await;
    assert_ne!(v1, v0);
    assert_eq!(to, format!("/rules/versions/{v1}"));
    let (status, version) = page(&app, &b, &to).await;
    assert_eq!(status, 200, "{version}");
    assert!(
        version.contains("<td>counselor</td><td>publish</td>"),
        "{version}"
    );
    assert!(version.contains("+  value: 2.5"), "{version}");
    assert!(
        !version.contains("Roll back"),
        "a counselor may not roll back"
    );
    let resp = post_form(
        &app,
        &b,
        &format!("/rules/rollback/{v0}"),
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(resp.status(), 403);
    assert_eq!(active(&app).await, v1);

    // The same form again, made from v0: someone else published in between.
    let resp = post_form(&app, &b, "/rules/publish", &form).await;
    assert_eq!(resp.status(), 409);
    let stale = resp.text().await.expect("page");
    assert!(stale.contains("Someone else published version"), "{stale}");
    assert!(stale.contains("+  value: 2.5"), "the difference: {stale}");
    assert!(
        stale.contains("Preview my change on the active version"),
        "{stale}"
    );

    // An admin rolls back from the old version's page.
    let admin = signed_in(&app, ADMIN_KEY).await;
    let (_, old) = page(&app, &admin, &format!("/rules/versions/{v0}")).await;
    assert!(old.contains(">Roll back to this version</button>"), "{old}");
    let resp = post_form(
        &app,
        &admin,
        &format!("/rules/rollback/{v0}"),
        &[("csrf", &csrf_of(&old))],
    )
    .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(active(&app).await, v0);
    assert_eq!(
        app.audit_all("kind=ruleset.rolled_back", 10).await[0]["actor"],
        "admin"
    );
}

#[tokio::test]
async fn a_threshold_that_is_not_a_number_is_named_beside_its_field() {
    let (app, _rules) = spawn_app(all_keys()).await;
    let v0 = active(&app).await;
    let b = signed_in(&app, COUNSELOR_KEY).await;
    let (_, html) = page(&app, &b, "/rules").await;
    let csrf = csrf_of(&html);
    for (value, shown) in [
        ("two", "“two” is not a number"),
        ("NaN", "“NaN” is not a number"),
        ("1e999", "“1e999” is not a number"),
    ] {
        let resp = post_form(
            &app,
            &b,
            "/rules/preview",
            &[
                ("csrf", &csrf),
                ("base_version", &v0),
                ("param.low_gpa", value),
            ],
        )
        .await;
        assert_eq!(resp.status(), 422, "{value}");
        let body = resp.text().await.expect("page");
        assert!(body.contains("<code>low_gpa</code>: "), "{body}");
        assert!(body.contains(shown), "{value}: {body}");
    }
    let resp = post_form(
        &app,
        &b,
        "/rules/preview",
        &[
            ("csrf", &csrf),
            ("base_version", &v0),
            ("param.<script>", "1"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 422);
    let body = resp.text().await.expect("page");
    assert!(
        body.contains("there is no threshold `&#60;script&#62;`"),
        "{body}"
    );
    assert!(!body.contains("<script>"), "{body}");
    // An auditor sees the values but no form, and may not preview.
    let auditor = signed_in(&app, AUDITOR_KEY).await;
    let (_, html) = page(&app, &auditor, "/rules").await;
    assert!(!html.contains("name=\"param.low_gpa\""), "{html}");
    let resp = post_form(
        &app,
        &auditor,
        "/rules/preview",
        &[
            ("csrf", &csrf_of(&html)),
            ("base_version", &v0),
            ("param.low_gpa", "2.5"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 403);
}

#[tokio::test]
async fn a_change_the_rule_tests_refuse_is_shown_in_words_and_not_published() {
    let (app, _rules) = spawn_app(all_keys()).await;
    let v0 = active(&app).await;
    let b = signed_in(&app, COUNSELOR_KEY).await;
    let (_, html) = page(&app, &b, "/rules").await;
    let csrf = csrf_of(&html);
    // Failing courses are counted over lists, which the tests pin: 2 breaks them.
    let form = [
        ("csrf", csrf.as_str()),
        ("base_version", v0.as_str()),
        ("param.course_failures_min", "2"),
    ];
    let resp = post_form(&app, &b, "/rules/preview", &form).await;
    let preview = resp.text().await.expect("page");
    assert!(
        preview.contains("rule test(s) fail with this change"),
        "{preview}"
    );
    assert!(
        preview.contains("“one failing core course is course failure only”"),
        "{preview}"
    );
    assert!(!preview.contains("Publish this change"), "{preview}");
    let resp = post_form(&app, &b, "/rules/publish", &form).await;
    assert_eq!(resp.status(), 422);
    let refused = resp.text().await.expect("page");
    assert!(
        refused.contains("The change cannot be published"),
        "{refused}"
    );
    assert!(refused.contains("tests/academic.yaml:"), "{refused}");
    assert_eq!(active(&app).await, v0);
}
