//! `POST /v1/evaluate`: the decision, its audit entry, and `?dry_run=true`.

use serde_json::json;

use crate::helpers::{chronic_absence, decision_ids, header, json_ok, low_gpa, spawn_app};

#[tokio::test]
async fn a_record_gets_a_decision_that_is_audited() {
    let app = spawn_app(vec![]).await;
    let record = json!({
        "student_id": "S1042",
        "as_of": "2026-11-20",
        "gpa": 1.5,
        "attendance": {"days_enrolled": 100, "days_present": 85},
        "programs": {"ell": true, "iep": false, "section_504": false},
        "extra": {"home_language": "private note"}
    });
    let resp = app.post_json("/v1/evaluate", &record).await;
    assert!(header(&resp, "content-type").starts_with("application/json"));
    let d = json_ok(resp).await;
    assert_eq!(d["student_id"], "S1042");
    let id = d["decision_id"].as_str().expect("decision_id");
    assert!(!id.is_empty());
    assert_eq!(
        d["ruleset_version"].as_str(),
        Some(app.state.registry.active().version.as_str())
    );
    let fired = crate::helpers::fired(&d);
    assert!(
        fired.iter().any(|r| r == "low-gpa") && fired.iter().any(|r| r == "chronic-absence"),
        "fired: {fired:?}"
    );
    let chronic = d["flags"]
        .as_array()
        .and_then(|a| a.iter().find(|f| f["rule_id"] == "chronic-absence"))
        .expect("chronic flag");
    assert!(
        chronic["explanation"]
            .as_str()
            .is_some_and(|e| !e.is_empty())
    );
    assert!(
        chronic["inputs"]["student.attendance.absence_rate"].is_number(),
        "{chronic}"
    );
    assert_eq!(d["tiers"]["attendance"], 2, "{d}");

    let entries = app.decisions_in_log().await;
    assert_eq!(entries.len(), 1, "one decision entry: {entries:?}");
    let e = &entries[0];
    assert_eq!(e["kind"], "decision");
    assert_eq!(e["actor"], "local", "open local mode acts as `local`");
    assert_eq!(e["payload"]["decision_id"], id);
    assert_eq!(e["payload"]["student_id"], "S1042");
    assert_eq!(
        e["payload"]["decision"], d,
        "the audited decision is the one answered"
    );
    assert_eq!(e["payload"]["source"]["kind"], "api");
    assert!(
        e["payload"]["record_sha256"]
            .as_str()
            .is_some_and(|h| h.len() == 64)
    );
    let kept = &e["payload"]["record"];
    assert_eq!(kept["student_id"], "S1042");
    assert!(
        kept.get("extra").is_none(),
        "data no rule reads is not copied into the log: {kept}"
    );
    assert!(
        kept.get("programs").is_none(),
        "data no rule reads is not copied into the log: {kept}"
    );
    let rule_ids: Vec<&str> = e["payload"]["rule_ids"]
        .as_array()
        .expect("rule_ids")
        .iter()
        .filter_map(|r| r.as_str())
        .collect();
    assert_eq!(rule_ids, fired);
    assert!(e["hash"].as_str().is_some_and(|h| h.len() == 64));
    assert!(app.verify().await["ok"].as_bool().expect("ok"));
}

#[tokio::test]
async fn dry_run_answers_but_is_not_audited() {
    let app = spawn_app(vec![]).await;
    let before = app.verify().await["entries"].as_u64().expect("entries");
    let resp = app
        .post_json("/v1/evaluate?dry_run=true", &low_gpa("S-DRY"))
        .await;
    let d = json_ok(resp).await;
    assert_eq!(d["student_id"], "S-DRY");
    assert!(d["flags"].as_array().is_some_and(|f| !f.is_empty()));
    let after = app.verify().await;
    assert_eq!(
        after["entries"].as_u64(),
        Some(before),
        "a dry run adds nothing to the log"
    );
    assert!(app.decisions_in_log().await.is_empty());
    assert!(app.audit_all("student=S-DRY", 50).await.is_empty());

    // `dry_run=false` is an ordinary, audited evaluation.
    let d = json_ok(
        app.post_json("/v1/evaluate?dry_run=false", &low_gpa("S-DRY"))
            .await,
    )
    .await;
    let ids = decision_ids(&app.decisions_in_log().await);
    assert_eq!(
        ids,
        vec![d["decision_id"].as_str().expect("id").to_string()]
    );
}

#[tokio::test]
async fn each_evaluation_is_a_new_decision() {
    let app = spawn_app(vec![]).await;
    let a = app.evaluate(&chronic_absence("S-TWICE")).await;
    let b = app.evaluate(&chronic_absence("S-TWICE")).await;
    assert_ne!(a["decision_id"], b["decision_id"]);
    assert_eq!(
        a["flags"], b["flags"],
        "same record, same rules, same flags"
    );
    assert_eq!(app.decisions_in_log().await.len(), 2);
}

#[tokio::test]
async fn a_content_type_with_parameters_is_accepted() {
    let app = spawn_app(vec![]).await;
    let resp = app
        .post_raw(
            "/v1/evaluate",
            "application/json; charset=utf-8",
            low_gpa("S-CS").to_string(),
        )
        .await;
    json_ok(resp).await;
}

#[tokio::test]
async fn a_record_at_the_nesting_limit_is_accepted() {
    let app = spawn_app(vec![]).await;
    let text = std::fs::read_to_string(
        crate::helpers::fixtures_dir().join("records/valid/nested_32_levels.json"),
    )
    .expect("fixture");
    let resp = app.post_raw("/v1/evaluate", "application/json", text).await;
    json_ok(resp).await;
}

#[tokio::test]
async fn every_valid_fixture_is_evaluated() {
    let app = spawn_app(vec![]).await;
    let dir = crate::helpers::fixtures_dir().join("records/valid");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("fixtures") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("read");
        let resp = app.post_raw("/v1/evaluate", "application/json", text).await;
        let status = resp.status();
        let body = resp.text().await.expect("body");
        assert_eq!(status, 200, "{}: {body}", path.display());
        n += 1;
    }
    assert_eq!(app.decisions_in_log().await.len(), n);
}
