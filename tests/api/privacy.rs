//! `privacy.yaml`: what the audit log keeps of the record fields the rules read.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{
    AUDITOR_KEY, TestApp, all_keys, assert_problem, copy_rules, fired, json_ok, parse_ndjson,
    spawn_app_with,
};

/// The server on a copy of the shipped rules with `policy` as its privacy.yaml.
async fn spawn_with_policy(policy: &str) -> (TestApp, tempfile::TempDir) {
    let rules = copy_rules();
    std::fs::write(rules.path().join("privacy.yaml"), policy).expect("write privacy.yaml");
    let path = rules.path().to_path_buf();
    let app = spawn_app_with(all_keys(), move |s| s.rules = path).await;
    (app, rules)
}

/// Low GPA and a low SEL score, with a course title, a screener name and programs.
fn record(student: &str) -> Value {
    json!({
        "student_id": student,
        "gpa": 1.5,
        "courses": [{"course_id": "ALG1", "title": "Algebra I", "subject": "math", "grade_pct": 55}],
        "sel": {"screener": "DESSA-mini", "t_score": 35},
        "programs": {"ell": true, "iep": false, "section_504": false}
    })
}

/// The one decision entry in the export.
async fn logged_decision(app: &TestApp) -> Value {
    let entries = parse_ndjson(&app.export_text().await);
    let mut decisions: Vec<Value> = entries
        .into_iter()
        .filter(|e| e["kind"] == "decision")
        .collect();
    assert_eq!(decisions.len(), 1);
    decisions.remove(0)
}

#[tokio::test]
async fn masked_and_hashed_fields_reach_the_log_as_the_policy_says_and_the_decision_is_whole() {
    let (app, _rules) = spawn_with_policy(
        "fields:\n  sel.screener: mask\n  courses.title: hash\n  programs: mask\n",
    )
    .await;
    let rules = json_ok(app.get("/v1/rules").await).await;
    assert_eq!(
        rules["privacy"],
        json!({"sel.screener": "mask", "courses.title": "hash", "programs": "mask"})
    );
    // No shipped rule reads `programs`: that line is a warning, not an error.
    let warnings = rules["warnings"].to_string();
    assert!(
        warnings.contains("no rule reads `programs`"),
        "warnings: {warnings}"
    );

    let answered = app.evaluate(&record("P1")).await;
    let entry = logged_decision(&app).await;
    let kept = &entry["payload"]["record"];
    assert_eq!(kept["sel"]["screener"], "[masked]");
    assert_eq!(kept["sel"]["t_score"], 35.0);
    let title_hash = format!("sha256:{}", hex::encode(Sha256::digest(br#""Algebra I""#)));
    assert_eq!(kept["courses"][0]["title"], title_hash.as_str());
    assert_eq!(kept["courses"][0]["grade_pct"], 55.0);
    assert!(
        kept.get("programs").is_none(),
        "not read, so not kept: {kept}"
    );
    assert!(
        !entry.to_string().contains("DESSA-mini") && !entry.to_string().contains("Algebra I"),
        "the log holds a hidden value: {entry}"
    );
    // The decision (its explanations and inputs) is logged whole, as answered.
    assert_eq!(entry["payload"]["decision"], answered);
    let rule_ids = fired(&answered);
    assert!(
        rule_ids.iter().any(|r| r == "sel-need-for-instruction"),
        "{rule_ids:?}"
    );
    assert_eq!(app.verify().await["ok"], true);

    // The screener is something rules may read: replay cannot re-check this decision.
    let seq = entry["seq"].as_u64().expect("seq");
    assert_problem(
        app.get_as(&format!("/v1/audit/{seq}/replay"), Some(AUDITOR_KEY))
            .await,
        400,
        &["privacy.yaml", "`sel.screener`", "replay"],
    )
    .await;
}

#[tokio::test]
async fn hashing_only_fields_no_rule_computes_from_leaves_replay_working() {
    let (app, _rules) = spawn_with_policy("fields:\n  courses.title: hash\n").await;
    app.evaluate(&record("P2")).await;
    let entry = logged_decision(&app).await;
    let seq = entry["seq"].as_u64().expect("seq");
    let rep = json_ok(
        app.get_as(&format!("/v1/audit/{seq}/replay"), Some(AUDITOR_KEY))
            .await,
    )
    .await;
    assert_eq!(rep["identical"], true, "{rep}");
}

#[tokio::test]
async fn a_broken_privacy_policy_keeps_the_server_from_starting_with_its_location() {
    let rules = copy_rules();
    std::fs::write(
        rules.path().join("privacy.yaml"),
        "fields:\n  sel.screener: hide\n",
    )
    .expect("write privacy.yaml");
    let settings = intervene::config::Settings {
        bind: "127.0.0.1:0".into(),
        rules: rules.path().to_path_buf(),
        data: tempfile::tempdir().expect("data").path().to_path_buf(),
        ..intervene::config::Settings::default()
    };
    let err = match intervene::http::Application::build(settings).await {
        Ok(_) => panic!("a rule set with a broken privacy.yaml must not be served"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        err.contains("privacy.yaml:2:17") && err.contains("found `hide`"),
        "error: {err}"
    );
}
