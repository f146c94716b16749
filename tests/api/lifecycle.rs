//! The rule lifecycle end to end: a counselor checks, previews, publishes and rolls
//! back a threshold change; broken edits (through the API or straight into the rules
//! directory) never replace the working set; concurrent edits conflict instead of
//! overwriting; reloads under evaluation load never mix versions; previews and replays
//! agree with an independent evaluation through the library; a restart on a broken
//! directory serves the last active version; stored versions and who activated them.
//!
//! Every server here runs on a COPY of the repository's `rules/` in a temp dir, so no
//! test ever touches the repository's rule files.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use intervene::engine::Evaluator;
use intervene::record::parse_record;
use intervene::rules::RuleSet;
use reqwest::Response;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::helpers::{
    ADMIN_KEY, AUDITOR_KEY, BinaryServer, COUNSELOR_KEY, INGEST_KEY, TestApp, all_keys,
    assert_problem, chronic_absence, client, copy_dir, copy_rules, fired, fixtures_dir, header,
    json_ok, low_gpa, parse_ndjson, rules_dir, spawn_app_with,
};

/// How long a file-system change may take to show (debounce 300 ms, a reload with
/// every rule test in a debug build, on a busy 2-core machine).
const WATCH_WITHIN: Duration = Duration::from_secs(10);

// ------------------------------------------------------------------------ harness

/// The server with one key per role on a copy of the rules (returned, to be kept).
/// The copy's GPA boundary tests pin 2.0 as numbers (as a district's own tests may),
/// so a threshold change alone fails the publish gate: these tests need a change the
/// tests refuse. (The shipped tests name the param and move with it.)
async fn spawn_on_copy(watch: bool) -> (TestApp, TempDir) {
    let rules = copy_rules();
    std::fs::write(
        rules.path().join("tests/academic.yaml"),
        original("tests/academic.yaml"),
    )
    .expect("pin the GPA tests");
    let path = rules.path().to_path_buf();
    let app = spawn_app_with(all_keys(), move |s| {
        s.rules = path;
        s.watch_rules = watch;
    })
    .await;
    (app, rules)
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("read {name}: {e}"))
}

/// The text of one rule file as `spawn_on_copy` starts it: the repository's, with the
/// GPA boundary tests pinned to 2.0.
fn original(name: &str) -> String {
    let text = read(&rules_dir(), name);
    if name != "tests/academic.yaml" {
        return text;
    }
    let t = replace_once(
        &text,
        "  - name: gpa exactly at low_gpa (2.0) is low\n    record:\n      student_id: T-ACA-01\n      gpa: {param: low_gpa}\n",
        "  - name: gpa exactly 2.0 is low\n    record:\n      student_id: T-ACA-01\n      gpa: 2.0\n",
    );
    replace_once(
        &t,
        "  - name: gpa just above low_gpa (2.01) is not low\n    record:\n      student_id: T-ACA-02\n      gpa: {param: low_gpa, plus: 0.01}\n",
        "  - name: gpa 2.01 is not low\n    record:\n      student_id: T-ACA-02\n      gpa: 2.01\n",
    )
}

fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "expected exactly one `{from}` in the text"
    );
    text.replacen(from, to, 1)
}

/// `params.yaml` with the low-GPA threshold set to `value` (from 2.0).
fn params_low_gpa(value: &str) -> String {
    replace_once(
        &original("params.yaml"),
        "low_gpa:\n  value: 2.0\n",
        &format!("low_gpa:\n  value: {value}\n"),
    )
}

/// `tests/academic.yaml` with its two GPA boundary cases moved from 2.0 to 2.5.
fn academic_tests_at_2_5() -> String {
    let t = original("tests/academic.yaml");
    let t = replace_once(
        &t,
        "  - name: gpa exactly 2.0 is low\n    record:\n      student_id: T-ACA-01\n      gpa: 2.0\n",
        "  - name: gpa exactly 2.5 is low\n    record:\n      student_id: T-ACA-01\n      gpa: 2.5\n",
    );
    replace_once(
        &t,
        "  - name: gpa 2.01 is not low\n    record:\n      student_id: T-ACA-02\n      gpa: 2.01\n",
        "  - name: gpa 2.51 is not low\n    record:\n      student_id: T-ACA-02\n      gpa: 2.51\n",
    )
}

/// 1-based line of the first line of `text` containing `needle`.
fn line_of(text: &str, needle: &str) -> u64 {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("`{needle}` not found")) as u64
        + 1
}

/// A valid new rule pack (no test changes needed): a tier-1 watch list for GPAs
/// between 2.1 and 2.9, a band no rule test record falls into.
const PILOT_PACK: &str = "description: Pilot rule for a grade-slipping watch list.
rules:
  - id: gpa-slipping
    name: GPA slipping
    domain: academic
    tier: 1
    when: student.gpa > 2.1 && student.gpa < 2.9
    explain: \"GPA is {student.gpa:.2} (watch list between 2.1 and 2.9)\"
    recommend: [core-instruction]
";

/// The repository's files with `changes` applied (`None` removes one).
fn files_with(changes: &[(&str, Option<&str>)]) -> BTreeMap<String, String> {
    let mut files = RuleSet::load_dir(&rules_dir())
        .expect("the repository's rules load")
        .files;
    files.insert(
        "tests/academic.yaml".into(),
        original("tests/academic.yaml"),
    );
    for (name, text) in changes {
        match text {
            Some(t) => files.insert(name.to_string(), t.to_string()),
            None => files.remove(*name),
        };
    }
    files
}

fn version_of_files(files: &BTreeMap<String, String>) -> String {
    RuleSet::from_files(files.clone())
        .expect("the candidate loads")
        .version
}

async fn active_version(app: &TestApp) -> String {
    let resp = app.get_as("/v1/rules", Some(COUNSELOR_KEY)).await;
    let etag = header(&resp, "etag");
    let body = json_ok(resp).await;
    let v = body["version"].as_str().expect("version").to_string();
    assert_eq!(etag, format!("\"{v}\""), "the ETag is the active version");
    v
}

async fn readyz(app: &TestApp) -> Value {
    json_ok(app.get_as("/readyz", None).await).await
}

async fn put_file(
    app: &TestApp,
    name: &str,
    text: &str,
    if_match: Option<&str>,
    key: &str,
) -> Response {
    let mut rb = app
        .client
        .put(app.url(&format!("/v1/rules/files/{name}")))
        .header("content-type", "application/yaml")
        .bearer_auth(key)
        .body(text.to_string());
    if let Some(v) = if_match {
        rb = rb.header("if-match", format!("\"{v}\""));
    }
    rb.send().await.expect("PUT request")
}

async fn publish(app: &TestApp, base: &str, files: Value, key: &str) -> Response {
    app.post_json_as(
        "/v1/rules/publish",
        &json!({"base_version": base, "files": files}),
        Some(key),
    )
    .await
}

async fn rollback(app: &TestApp, version: &str, key: &str) -> Response {
    app.post_raw_as(&format!("/v1/rules/rollback/{version}"), "", "", Some(key))
        .await
}

/// Evaluate as the SIS (audited) and return the decision.
async fn evaluate(app: &TestApp, record: &Value) -> Value {
    json_ok(
        app.post_json_as("/v1/evaluate", record, Some(INGEST_KEY))
            .await,
    )
    .await
}

/// Audit entries of one kind, newest first.
async fn audit_kind(app: &TestApp, kind: &str) -> Vec<Value> {
    app.audit_all(&format!("kind={kind}"), 100).await
}

async fn assert_chain_ok(app: &TestApp) {
    let v = app.verify().await;
    assert_eq!(v["ok"], true, "the audit chain does not verify: {v}");
}

/// Poll `/readyz` until `done` holds (at most `within`); returns the last answer.
async fn wait_ready(
    app: &TestApp,
    within: Duration,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let r = readyz(app).await;
        if done(&r) {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not seen within {within:?}; /readyz: {r}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The rule ids that fire and the tiers, evaluated through the library.
struct Oracle {
    ev: Evaluator,
    sets: HashMap<String, RuleSet>,
}

impl Oracle {
    fn new() -> Oracle {
        Oracle {
            ev: Evaluator::new(),
            sets: HashMap::new(),
        }
    }

    fn add(&mut self, files: BTreeMap<String, String>) -> String {
        let rs = RuleSet::from_files(files).expect("a stored version loads");
        let v = rs.version.clone();
        self.sets.insert(v.clone(), rs);
        v
    }

    /// Load a version from `GET /v1/rules/versions/{v}` (the stored files).
    async fn add_stored(&mut self, app: &TestApp, version: &str) {
        let stored = json_ok(
            app.get_as(&format!("/v1/rules/versions/{version}"), Some(AUDITOR_KEY))
                .await,
        )
        .await;
        let files: BTreeMap<String, String> =
            serde_json::from_value(stored["files"].clone()).expect("files map");
        let v = self.add(files);
        assert_eq!(
            v, version,
            "the stored files hash to the version they are filed under"
        );
    }

    fn eval(&self, version: &str, record: &Value) -> (Vec<String>, Value) {
        let rs = self
            .sets
            .get(version)
            .unwrap_or_else(|| panic!("version {version} is not one that was active"));
        let rec = parse_record(&record.to_string()).expect("the record parses");
        let d = self.ev.evaluate(rs, &rec);
        (
            d.fired().map(String::from).collect(),
            serde_json::to_value(&d.tiers).expect("tiers"),
        )
    }
}

// ------------------------------------------------------------------------ 1

/// A counselor raises the low-GPA threshold from 2.0 to 2.5: the check names the
/// boundary test that pins 2.0, the preview shows who would be flagged, publishing the
/// threshold with its updated tests activates it (files on disk, the version, a GPA
/// 2.3 student now flagged), and a rollback brings back the old behavior and files.
/// Every step is in the audit log with its actor, and the chain verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_counselor_changes_a_threshold_end_to_end() {
    let (app, rules) = spawn_on_copy(true).await;
    let dir = rules.path();
    let v0 = active_version(&app).await;
    let body = json_ok(app.get_as("/v1/rules", Some(COUNSELOR_KEY)).await).await;
    assert_eq!(
        body["params"]["low_gpa"]["value"], 2.0,
        "{}",
        body["params"]
    );

    // A small caseload for the preview.
    let students = [
        json!({"student_id": "GPA-15", "gpa": 1.5}),
        json!({"student_id": "GPA-23", "gpa": 2.3}),
        json!({"student_id": "GPA-25", "gpa": 2.5}),
        json!({"student_id": "GPA-26", "gpa": 2.6}),
    ];
    let ndjson: String = students.iter().map(|s| format!("{s}\n")).collect();
    let lines = parse_ndjson(
        &app.post_raw_as(
            "/v1/students/import",
            "application/x-ndjson",
            ndjson,
            Some(INGEST_KEY),
        )
        .await
        .text()
        .await
        .expect("import answer"),
    );
    assert_eq!(
        lines.last().expect("summary")["summary"]["imported"],
        4,
        "{lines:?}"
    );

    let before = evaluate(&app, &json!({"student_id": "S-23", "gpa": 2.3})).await;
    assert_eq!(before["ruleset_version"], v0.as_str());
    assert!(!fired(&before).contains(&"low-gpa".to_string()), "{before}");

    // Check: the threshold alone breaks the boundary test that pins 2.0.
    let new_params = params_low_gpa("2.5");
    let candidate = json!({"base_version": v0, "files": {"params.yaml": new_params}});
    let resp = app
        .post_json_as("/v1/rules/check", &candidate, Some(COUNSELOR_KEY))
        .await;
    let problem = assert_problem(resp, 422, &["test"]).await;
    let errors = problem["errors"].as_array().expect("errors");
    let tests_text = original("tests/academic.yaml");
    let case_line = line_of(&tests_text, "name: gpa 2.01 is not low");
    assert_eq!(
        errors.len(),
        1,
        "only the 2.01 boundary case fails: {problem}"
    );
    let e = &errors[0];
    assert_eq!(e["file"], "tests/academic.yaml", "{e}");
    assert_eq!(
        e["line"], case_line,
        "the error points at the failing case: {e}"
    );
    let msg = e["message"].as_str().expect("message");
    assert!(
        msg.contains("gpa 2.01 is not low") && msg.contains("low-gpa"),
        "the message names the case and the rule: {msg}"
    );
    assert!(
        audit_kind(&app, "ruleset.rejected").await.is_empty(),
        "a check is not audited"
    );

    // Preview: not gated by the tests; the failing test is reported beside the impact.
    let resp = app
        .post_json_as(
            "/v1/rules/preview?page=0&page_size=100",
            &candidate,
            Some(COUNSELOR_KEY),
        )
        .await;
    let preview = json_ok(resp).await;
    assert_eq!(preview["active_version"], v0.as_str());
    assert_eq!(preview["students"], 4);
    assert_eq!(preview["students_changed"], 2, "{preview}");
    assert_eq!(preview["tests"]["failed"], 1, "{preview}");
    let failure = preview["tests"]["failures"][0].as_str().expect("failure");
    assert!(
        failure.contains(&format!("tests/academic.yaml:{case_line}"))
            && failure.contains("gpa 2.01 is not low"),
        "{failure}"
    );
    let low = preview["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .find(|r| r["rule_id"] == "low-gpa")
        .unwrap_or_else(|| panic!("low-gpa missing from the preview: {preview}"));
    assert_eq!(low["tier"], 2);
    assert_eq!(low["active_flagged"], 1, "{low}");
    assert_eq!(low["candidate_flagged"], 3, "{low}");
    assert_eq!(low["newly_flagged"], 2, "{low}");
    assert_eq!(low["cleared"], 0, "{low}");
    assert_eq!(low["newly_flagged_ids"], json!(["GPA-23", "GPA-25"]));
    let academic = preview["tiers"]
        .as_array()
        .expect("tiers")
        .iter()
        .find(|t| t["domain"] == "academic")
        .expect("academic tier impact");
    assert_eq!(
        (academic["raised"].clone(), academic["lowered"].clone()),
        (json!(2), json!(0))
    );

    // Publishing the threshold alone is refused, audited, and changes nothing.
    let resp = put_file(&app, "params.yaml", &new_params, Some(&v0), COUNSELOR_KEY).await;
    let problem = assert_problem(resp, 422, &[]).await;
    assert!(
        problem["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .any(|e| e["file"] == "tests/academic.yaml" && e["line"] == case_line),
        "{problem}"
    );
    assert_eq!(read(dir, "params.yaml"), original("params.yaml"));
    assert_eq!(active_version(&app).await, v0);
    let rejected = audit_kind(&app, "ruleset.rejected").await;
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(rejected[0]["actor"], "counselor");
    assert_eq!(rejected[0]["payload"]["how"], "publish");
    assert_eq!(rejected[0]["payload"]["active"], v0.as_str());

    // Publish the threshold with the tests that pin it.
    let new_tests = academic_tests_at_2_5();
    let expected_v1 = version_of_files(&files_with(&[
        ("params.yaml", Some(&new_params)),
        ("tests/academic.yaml", Some(&new_tests)),
    ]));
    let resp = publish(
        &app,
        &v0,
        json!({"params.yaml": new_params, "tests/academic.yaml": new_tests}),
        COUNSELOR_KEY,
    )
    .await;
    let etag = header(&resp, "etag");
    let published = json_ok(resp).await;
    assert_eq!(published["version"], expected_v1.as_str(), "{published}");
    assert_eq!(published["previous"], v0.as_str());
    assert_eq!(etag, format!("\"{expected_v1}\""));
    let v1 = expected_v1;
    assert_eq!(read(dir, "params.yaml"), new_params, "params.yaml on disk");
    assert_eq!(read(dir, "tests/academic.yaml"), new_tests, "tests on disk");
    assert_eq!(active_version(&app).await, v1);
    let body = json_ok(app.get_as("/v1/rules", Some(COUNSELOR_KEY)).await).await;
    assert_eq!(body["params"]["low_gpa"]["value"], 2.5);
    let after = evaluate(&app, &json!({"student_id": "S-23", "gpa": 2.3})).await;
    assert_eq!(after["ruleset_version"], v1.as_str());
    assert!(fired(&after).contains(&"low-gpa".to_string()), "{after}");
    let flag = after["flags"]
        .as_array()
        .expect("flags")
        .iter()
        .find(|f| f["rule_id"] == "low-gpa")
        .expect("low-gpa flag");
    assert!(
        flag["explanation"]
            .as_str()
            .is_some_and(|e| e.contains("2.5")),
        "the explanation names the new threshold: {flag}"
    );

    // Roll back (admin): old behavior, old files.
    let resp = rollback(&app, &v0, ADMIN_KEY).await;
    let rolled = json_ok(resp).await;
    assert_eq!(rolled["version"], v0.as_str());
    assert_eq!(rolled["previous"], v1.as_str());
    assert_eq!(read(dir, "params.yaml"), original("params.yaml"));
    assert_eq!(
        read(dir, "tests/academic.yaml"),
        original("tests/academic.yaml")
    );
    assert_eq!(active_version(&app).await, v0);
    let again = evaluate(&app, &json!({"student_id": "S-23", "gpa": 2.3})).await;
    assert_eq!(again["ruleset_version"], v0.as_str());
    assert!(!fired(&again).contains(&"low-gpa".to_string()), "{again}");

    // The audit log tells the story.
    let pubs = audit_kind(&app, "ruleset.published").await;
    assert_eq!(pubs.len(), 1, "{pubs:?}");
    let p = &pubs[0];
    assert_eq!(p["actor"], "counselor");
    assert_eq!(p["payload"]["version"], v1.as_str());
    assert_eq!(p["payload"]["previous"], v0.as_str());
    assert_eq!(p["payload"]["based_on"], v0.as_str());
    assert_eq!(
        p["payload"]["files_changed"],
        json!(["params.yaml", "tests/academic.yaml"])
    );
    let diff = p["payload"]["diff"].as_str().expect("diff");
    for needle in [
        "a/params.yaml",
        "b/params.yaml",
        "-  value: 2.0",
        "+  value: 2.5",
        "+  - name: gpa 2.51 is not low",
    ] {
        assert!(diff.contains(needle), "the diff lacks `{needle}`:\n{diff}");
    }
    let rbs = audit_kind(&app, "ruleset.rolled_back").await;
    assert_eq!(rbs.len(), 1, "{rbs:?}");
    assert_eq!(rbs[0]["actor"], "admin");
    assert_eq!(rbs[0]["payload"]["version"], v0.as_str());
    assert_eq!(rbs[0]["payload"]["from"], v1.as_str());
    let diff = rbs[0]["payload"]["diff"].as_str().expect("diff");
    assert!(
        diff.contains("-  value: 2.5") && diff.contains("+  value: 2.0"),
        "{diff}"
    );
    assert!(
        p["seq"].as_u64() > rejected[0]["seq"].as_u64()
            && rbs[0]["seq"].as_u64() > p["seq"].as_u64(),
        "rejected, then published, then rolled back"
    );
    assert_chain_ok(&app).await;
}

// ------------------------------------------------------------------------ 2

/// Broken edits through the API are refused with located diagnostics (422), a stale
/// or missing `If-Match` is refused (412 / 428), and the working set keeps serving.
#[tokio::test]
async fn broken_api_edits_never_replace_the_working_set() {
    let (app, rules) = spawn_on_copy(true).await;
    let dir = rules.path();
    let v0 = active_version(&app).await;

    // A YAML syntax error: the key `low_gpa` lost its colon.
    let broken = replace_once(
        &original("params.yaml"),
        "low_gpa:\n  value: 2.0\n",
        "low_gpa\n  value: 2.5\n",
    );
    let bad_line = line_of(&broken, "low_gpa");
    let resp = put_file(&app, "params.yaml", &broken, Some(&v0), COUNSELOR_KEY).await;
    let problem = assert_problem(resp, 422, &[]).await;
    let errors = problem["errors"].as_array().expect("errors");
    let e = errors
        .iter()
        .find(|e| e["file"] == "params.yaml")
        .unwrap_or_else(|| panic!("no error in params.yaml: {problem}"));
    assert_eq!(e["line"], bad_line, "{e}");
    assert!(e["column"].as_u64().is_some_and(|c| c >= 1), "{e}");
    assert!(
        e["message"].as_str().is_some_and(|m| m.contains("YAML")),
        "{e}"
    );
    assert!(
        e["hint"].as_str().is_some_and(|h| !h.is_empty()),
        "a hint: {e}"
    );

    // A harmless edit (a description), refused for its precondition only.
    let fine = replace_once(
        &original("params.yaml"),
        "GPA at or below which the GPA is low",
        "GPA at or below which the GPA is low (reviewed)",
    );
    let stale = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    let resp = put_file(&app, "params.yaml", &fine, Some(stale), COUNSELOR_KEY).await;
    assert_problem(resp, 412, &[v0.as_str()]).await;
    let resp = put_file(&app, "params.yaml", &fine, None, COUNSELOR_KEY).await;
    assert_problem(resp, 428, &["if-match"]).await;
    // The same for several files at once.
    let resp = publish(&app, stale, json!({"params.yaml": fine}), COUNSELOR_KEY).await;
    assert_problem(resp, 412, &[]).await;
    let resp = app
        .post_json_as(
            "/v1/rules/publish",
            &json!({"files": {"params.yaml": fine}}),
            Some(COUNSELOR_KEY),
        )
        .await;
    assert_problem(resp, 428, &["base_version"]).await;

    // Nothing changed: version, files on disk, behavior.
    assert_eq!(active_version(&app).await, v0);
    assert_eq!(read(dir, "params.yaml"), original("params.yaml"));
    let d = evaluate(&app, &low_gpa("S-1")).await;
    assert_eq!(d["ruleset_version"], v0.as_str());
    assert!(fired(&d).contains(&"low-gpa".to_string()));
    let rejected = audit_kind(&app, "ruleset.rejected").await;
    assert_eq!(
        rejected.len(),
        1,
        "only the broken file was a rejection: {rejected:?}"
    );
    assert_eq!(rejected[0]["actor"], "counselor");
    assert!(audit_kind(&app, "ruleset.published").await.is_empty());
    assert_chain_ok(&app).await;
}

/// A broken rule pack written straight into the rules directory: within seconds
/// `/readyz` shows the failed reload, the old version keeps serving and evaluating,
/// the rejection is audited as the file watcher's; fixing the file activates the new
/// version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_file_in_the_rules_directory_is_rejected_and_the_fix_activates() {
    let (app, rules) = spawn_on_copy(true).await;
    let dir = rules.path();
    let v0 = active_version(&app).await;

    // A typo in a field name.
    let typo = replace_once(
        &original("attendance.yaml"),
        "    when: student.attendance.absence_rate >= params.severe_absence_rate",
        "    when: student.atendance.absence_rate >= params.severe_absence_rate",
    );
    let typo_line = line_of(&typo, "student.atendance");
    std::fs::write(dir.join("attendance.yaml"), &typo).expect("write the broken pack");
    let r = wait_ready(&app, WATCH_WITHIN, "the failed reload", |r| {
        r["last_reload"]["ok"] == false
    })
    .await;
    assert_eq!(r["status"], "ready");
    assert_eq!(r["ruleset_version"], v0.as_str(), "{r}");
    assert_eq!(active_version(&app).await, v0);
    let d = evaluate(&app, &chronic_absence("S-CA")).await;
    assert_eq!(d["ruleset_version"], v0.as_str());
    assert_eq!(fired(&d), ["chronic-absence"], "{d}");

    let rejected = audit_kind(&app, "ruleset.rejected").await;
    let from_watcher: Vec<&Value> = rejected
        .iter()
        .filter(|e| e["actor"] == "file-watcher")
        .collect();
    assert!(!from_watcher.is_empty(), "{rejected:?}");
    let diags = from_watcher[0]["payload"]["diagnostics"]
        .as_array()
        .expect("diagnostics");
    assert!(
        diags.iter().any(|d| d["file"] == "attendance.yaml"
            && d["line"] == typo_line
            && d["message"]
                .as_str()
                .is_some_and(|m| m.contains("atendance"))),
        "the rejection names the file, line and field: {diags:?}"
    );
    assert_eq!(from_watcher[0]["payload"]["active"], v0.as_str());
    // A counselor asking for a reload gets the same diagnostics, and it is audited.
    let resp = app
        .post_raw_as("/v1/rules/reload", "", "", Some(COUNSELOR_KEY))
        .await;
    let problem = assert_problem(resp, 422, &["active version keeps serving"]).await;
    assert!(
        problem["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .any(|e| e["file"] == "attendance.yaml" && e["line"] == typo_line),
        "{problem}"
    );
    assert!(
        audit_kind(&app, "ruleset.rejected")
            .await
            .iter()
            .any(|e| e["actor"] == "counselor" && e["payload"]["how"] == "reload")
    );
    assert_eq!(active_version(&app).await, v0);

    // The fix (with a reviewer's note, so it is a new version).
    let fixed = format!(
        "{}# reviewed by the MTSS team\n",
        original("attendance.yaml")
    );
    std::fs::write(dir.join("attendance.yaml"), &fixed).expect("write the fix");
    let v1 = RuleSet::load_dir(dir).expect("the fixed dir loads").version;
    assert_ne!(v1, v0);
    let r = wait_ready(&app, WATCH_WITHIN, "the fixed version", |r| {
        r["ruleset_version"] == v1.as_str()
    })
    .await;
    assert_eq!(r["last_reload"]["ok"], true, "{r}");
    let d = evaluate(&app, &chronic_absence("S-CA")).await;
    assert_eq!(d["ruleset_version"], v1.as_str());
    let reloads = audit_kind(&app, "ruleset.reloaded").await;
    assert_eq!(reloads.len(), 1, "{reloads:?}");
    assert_eq!(reloads[0]["actor"], "file-watcher");
    assert_eq!(reloads[0]["payload"]["version"], v1.as_str());
    assert_eq!(reloads[0]["payload"]["previous"], v0.as_str());
    assert!(
        reloads[0]["payload"]["diff"]
            .as_str()
            .is_some_and(|d| d.contains("+# reviewed by the MTSS team")),
        "{}",
        reloads[0]
    );
    assert_chain_ok(&app).await;
}

/// Half of a valid file, then the rest (as a slow editor or a copy over the network
/// writes it): while evaluations run, no decision is ever made by a set other than
/// the old one or the complete new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partially_written_file_is_never_served() {
    let (app, rules) = spawn_on_copy(true).await;
    let dir = rules.path().to_path_buf();
    let v0 = active_version(&app).await;
    let app = Arc::new(app);

    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for t in 0..3 {
        let (app, stop) = (app.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let rec = json!({"student_id": format!("P-{t}-{i}"), "gpa": 1.5,
                    "attendance": {"days_enrolled": 100, "days_present": 85}});
                let resp = app
                    .post_json_as("/v1/evaluate", &rec, Some(INGEST_KEY))
                    .await;
                let status = resp.status().as_u16();
                let body: Value = resp.json().await.unwrap_or(Value::Null);
                seen.push((
                    status,
                    body["ruleset_version"].as_str().unwrap_or("").to_string(),
                    fired(&body),
                ));
                i += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            seen
        }));
    }

    let full = original("academic.yaml").replace(
        "Course performance and screening rules",
        "Course performance and screening rules, reviewed",
    );
    let mut files = RuleSet::load_dir(&dir).expect("loads").files;
    files.insert("academic.yaml".into(), full.clone());
    let v1 = version_of_files(&files);
    let half = full.len() / 2;
    let before = readyz(&app).await["last_reload"].clone();
    {
        let mut f = std::fs::File::create(dir.join("academic.yaml")).expect("open academic.yaml");
        f.write_all(&full.as_bytes()[..half]).expect("first half");
        f.sync_all().expect("sync");
    }
    // The watcher sees the half file (after its debounce) and refuses it.
    let r = wait_ready(&app, WATCH_WITHIN, "a reload of the half file", |r| {
        r["last_reload"] != before
    })
    .await;
    assert_eq!(
        r["last_reload"]["ok"], false,
        "the half file was not refused: {r}"
    );
    assert_eq!(r["ruleset_version"], v0.as_str());
    {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(dir.join("academic.yaml"))
            .expect("reopen");
        f.write_all(&full.as_bytes()[half..]).expect("the rest");
        f.sync_all().expect("sync");
    }
    wait_ready(&app, WATCH_WITHIN, "the complete file", |r| {
        r["ruleset_version"] == v1.as_str()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("evaluator task"));
    }
    assert!(
        all.len() > 10,
        "too few evaluations to judge: {}",
        all.len()
    );
    let want = vec!["chronic-absence".to_string(), "low-gpa".to_string()];
    for (status, version, flags) in &all {
        assert_eq!(*status, 200);
        assert!(
            *version == v0 || *version == v1,
            "a decision was made by {version}, neither the old nor the complete new set"
        );
        let mut flags = flags.clone();
        flags.sort();
        assert_eq!(flags, want, "under {version}");
    }
    for v in [&v0, &v1] {
        assert!(
            all.iter().any(|(_, seen, _)| seen == v),
            "no evaluation under {v}: the transition was not exercised"
        );
    }
    let reloads = audit_kind(&app, "ruleset.reloaded").await;
    let versions: Vec<&str> = reloads
        .iter()
        .filter_map(|e| e["payload"]["version"].as_str())
        .collect();
    assert_eq!(
        versions,
        [v1.as_str()],
        "only the complete file was activated"
    );
    assert_chain_ok(&app).await;
}

/// After a broken edit on disk, a counselor restores the file through the API with
/// the text the active version has: the answer is 200, so the file on disk must be
/// that text again and the failed reload must clear.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restoring_a_file_through_the_api_rewrites_it_on_disk() {
    let (app, rules) = spawn_on_copy(true).await;
    let dir = rules.path();
    let v0 = active_version(&app).await;
    let broken = "rules: [\n";
    std::fs::write(dir.join("behavioral.yaml"), broken).expect("break behavioral.yaml");
    wait_ready(&app, WATCH_WITHIN, "the failed reload", |r| {
        r["last_reload"]["ok"] == false
    })
    .await;
    let text = original("behavioral.yaml");
    let resp = put_file(&app, "behavioral.yaml", &text, Some(&v0), COUNSELOR_KEY).await;
    assert_eq!(json_ok(resp).await["version"], v0.as_str());
    assert_eq!(
        read(dir, "behavioral.yaml"),
        text,
        "the PUT answered 200 but the file on disk is still the broken one"
    );
    wait_ready(&app, WATCH_WITHIN, "the failed reload clearing", |r| {
        r["last_reload"]["ok"] == true
    })
    .await;
}

/// One missing colon in `params.yaml` is one error, not one per param reference.
#[tokio::test]
async fn a_params_syntax_error_is_one_error_not_forty() {
    let (app, _rules) = spawn_on_copy(false).await;
    let v0 = active_version(&app).await;
    let broken = replace_once(
        &original("params.yaml"),
        "low_gpa:\n  value: 2.0\n",
        "low_gpa\n  value: 2.5\n",
    );
    let resp = put_file(&app, "params.yaml", &broken, Some(&v0), COUNSELOR_KEY).await;
    let problem = assert_problem(resp, 422, &[]).await;
    let files: BTreeSet<&str> = problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["file"].as_str())
        .collect();
    assert_eq!(
        files,
        BTreeSet::from(["params.yaml"]),
        "{} errors for one missing colon: {problem}",
        problem["errors"].as_array().map_or(0, Vec::len)
    );
}

// ------------------------------------------------------------------------ 3

/// Two counselors save the same file from the same version at once: one wins, the
/// other gets 412 instead of silently overwriting; the winner's text is on disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_edits_from_the_same_version_conflict() {
    let (app, rules) = spawn_on_copy(true).await;
    let dir = rules.path();
    let mut base = active_version(&app).await;
    let mut published = Vec::new();
    for round in 0..3 {
        let a = replace_once(
            &read(dir, "params.yaml"),
            "GPA at or below which the GPA is low",
            &format!("GPA at or below which the GPA is low (A{round})"),
        );
        let b = replace_once(
            &read(dir, "params.yaml"),
            "GPA at or below which the GPA is low",
            &format!("GPA at or below which the GPA is low (B{round})"),
        );
        let (ra, rb) = if round == 2 {
            // One PUT and one multi-file publish.
            tokio::join!(
                put_file(&app, "params.yaml", &a, Some(&base), COUNSELOR_KEY),
                publish(&app, &base, json!({"params.yaml": b}), ADMIN_KEY)
            )
        } else {
            tokio::join!(
                put_file(&app, "params.yaml", &a, Some(&base), COUNSELOR_KEY),
                put_file(&app, "params.yaml", &b, Some(&base), ADMIN_KEY)
            )
        };
        let (sa, sb) = (ra.status().as_u16(), rb.status().as_u16());
        let mut statuses = [sa, sb];
        statuses.sort();
        assert_eq!(statuses, [200, 412], "round {round}: {sa} and {sb}");
        let (winner_text, win, lose) = if sa == 200 {
            (&a, ra, rb)
        } else {
            (&b, rb, ra)
        };
        let v = json_ok(win).await["version"]
            .as_str()
            .expect("version")
            .to_string();
        assert_problem(lose, 412, &[v.as_str()]).await;
        assert_eq!(&read(dir, "params.yaml"), winner_text, "round {round}");
        assert_eq!(active_version(&app).await, v);
        published.push(v.clone());
        base = v;
    }
    let pubs = audit_kind(&app, "ruleset.published").await;
    let mut logged: Vec<&str> = pubs
        .iter()
        .filter_map(|e| e["payload"]["version"].as_str())
        .collect();
    logged.reverse();
    assert_eq!(
        logged,
        published.iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert_chain_ok(&app).await;
}

// ------------------------------------------------------------------------ 4

/// Eight clients evaluate continuously while the rule set is published and rolled
/// back several times: every answer is 200, every decision names a version that was
/// active, and its flags and tiers are exactly what that version gives the record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloads_under_evaluation_load_never_mix_versions() {
    let (app, _rules) = spawn_on_copy(true).await;
    let v0 = active_version(&app).await;
    let app = Arc::new(app);
    let caseload =
        std::fs::read_to_string(fixtures_dir().join("caseload.ndjson")).expect("caseload");
    let mut records: Vec<Value> = caseload
        .lines()
        .take(40)
        .map(|l| serde_json::from_str(l).expect("caseload line"))
        .collect();
    records.push(json!({"student_id": "GPA-23", "gpa": 2.3}));
    records.push(json!({"student_id": "GPA-25", "gpa": 2.5}));
    records.push(low_gpa("GPA-15"));
    records.push(chronic_absence("CA-15"));
    let records = Arc::new(records);

    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for t in 0..8usize {
        let (app, stop, records) = (app.clone(), stop.clone(), records.clone());
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            let mut i = t;
            while !stop.load(Ordering::Relaxed) && out.len() < 3000 {
                let rec = records[i % records.len()].clone();
                i += 7;
                let resp = app
                    .post_json_as("/v1/evaluate", &rec, Some(INGEST_KEY))
                    .await;
                let status = resp.status().as_u16();
                let text = resp.text().await.unwrap_or_default();
                out.push((status, rec, text));
            }
            out
        }));
    }

    let new_params = params_low_gpa("2.5");
    let new_tests = academic_tests_at_2_5();
    let pause = Duration::from_millis(150);
    tokio::time::sleep(pause).await;
    let v1 = json_ok(
        publish(
            &app,
            &v0,
            json!({"params.yaml": new_params, "tests/academic.yaml": new_tests}),
            COUNSELOR_KEY,
        )
        .await,
    )
    .await["version"]
        .as_str()
        .expect("v1")
        .to_string();
    tokio::time::sleep(pause).await;
    json_ok(rollback(&app, &v0, ADMIN_KEY).await).await;
    tokio::time::sleep(pause).await;
    let v2 = json_ok(publish(&app, &v0, json!({"pilot.yaml": PILOT_PACK}), COUNSELOR_KEY).await)
        .await["version"]
        .as_str()
        .expect("v2")
        .to_string();
    let mut current = v2.clone();
    for target in [&v1, &v2, &v0, &v1, &v0, &v2] {
        tokio::time::sleep(pause).await;
        let r = json_ok(rollback(&app, target, ADMIN_KEY).await).await;
        assert_eq!(r["previous"], current.as_str());
        assert_eq!(r["version"], target.as_str());
        current = target.clone();
    }
    tokio::time::sleep(pause).await;
    stop.store(true, Ordering::Relaxed);
    let mut answers = Vec::new();
    for t in tasks {
        answers.extend(t.await.expect("evaluator task"));
    }

    let mut oracle = Oracle::new();
    for v in [&v0, &v1, &v2] {
        oracle.add_stored(&app, v).await;
    }
    let mut per_version: BTreeMap<String, usize> = BTreeMap::new();
    for (status, rec, text) in &answers {
        assert_eq!(*status, 200, "an evaluation during a reload failed: {text}");
        let d: Value = serde_json::from_str(text).expect("decision JSON");
        let version = d["ruleset_version"].as_str().expect("ruleset_version");
        let (want_fired, want_tiers) = oracle.eval(version, rec);
        assert_eq!(
            fired(&d),
            want_fired,
            "{} under {version}: flags are not that version's",
            rec["student_id"]
        );
        assert_eq!(
            d["tiers"], want_tiers,
            "{} under {version}",
            rec["student_id"]
        );
        *per_version.entry(version.to_string()).or_default() += 1;
    }
    for v in [&v0, &v1, &v2] {
        assert!(
            per_version.contains_key(v.as_str()),
            "no decision under {v}; seen: {per_version:?}"
        );
    }
    // The three versions really differ for a GPA 2.3 student.
    let rec = json!({"student_id": "GPA-23", "gpa": 2.3});
    assert_eq!(oracle.eval(&v0, &rec).0, Vec::<String>::new());
    assert_eq!(oracle.eval(&v1, &rec).0, ["low-gpa"]);
    assert_eq!(oracle.eval(&v2, &rec).0, ["gpa-slipping"]);

    // The log holds every acknowledged decision under the version it answered with.
    let logged = app.decisions_in_log().await;
    assert_eq!(logged.len(), answers.len());
    let mut logged_per_version: BTreeMap<String, usize> = BTreeMap::new();
    for e in &logged {
        *logged_per_version
            .entry(
                e["payload"]["ruleset_version"]
                    .as_str()
                    .expect("version")
                    .to_string(),
            )
            .or_default() += 1;
    }
    assert_eq!(logged_per_version, per_version);
    assert_chain_ok(&app).await;
}

// ------------------------------------------------------------------------ 5

/// The impact preview over the imported caseload agrees, rule by rule and tier by
/// tier, with evaluating every record under both sets through the library.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_counts_match_an_independent_evaluation() {
    let (app, _rules) = spawn_on_copy(false).await;
    let v0 = active_version(&app).await;
    let caseload =
        std::fs::read_to_string(fixtures_dir().join("caseload.ndjson")).expect("caseload");
    let resp = app
        .post_raw_as(
            "/v1/students/import",
            "application/x-ndjson",
            caseload.clone(),
            Some(INGEST_KEY),
        )
        .await;
    let lines = parse_ndjson(&resp.text().await.expect("import answer"));
    let summary = &lines.last().expect("summary")["summary"];
    let n = caseload.lines().filter(|l| !l.trim().is_empty()).count();
    assert_eq!(summary["imported"], n as u64, "{lines:?}");
    assert_eq!(summary["rejected"], 0);
    let decisions_before = app.decisions_in_log().await.len();

    // Raise the GPA line and lower the chronic-absence line together.
    let params = replace_once(
        &params_low_gpa("2.5"),
        "chronic_absence_rate:\n  value: 0.10\n",
        "chronic_absence_rate:\n  value: 0.08\n",
    );
    let candidate = json!({"base_version": v0, "files": {"params.yaml": params}});
    let report = json_ok(
        app.post_json_as(
            "/v1/rules/preview?page=0&page_size=10000",
            &candidate,
            Some(COUNSELOR_KEY),
        )
        .await,
    )
    .await;

    // The same through the library.
    let active = RuleSet::from_files(files_with(&[])).expect("active loads");
    assert_eq!(active.version, v0);
    let cand =
        RuleSet::from_files(files_with(&[("params.yaml", Some(&params))])).expect("candidate");
    assert_eq!(report["candidate_version"], cand.version.as_str());
    let ev = Evaluator::new();
    type Key = (String, u64);
    let mut a_ids: BTreeMap<Key, BTreeSet<String>> = BTreeMap::new();
    let mut c_ids: BTreeMap<Key, BTreeSet<String>> = BTreeMap::new();
    let mut tiers: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let mut changed = 0u64;
    for line in caseload.lines().filter(|l| !l.trim().is_empty()) {
        let rec = parse_record(line).expect("caseload record");
        let (a, c) = (ev.evaluate(&active, &rec), ev.evaluate(&cand, &rec));
        let keys = |d: &intervene::engine::Decision| -> BTreeSet<Key> {
            d.flags
                .iter()
                .map(|f| (f.rule_id.clone(), u64::from(f.tier)))
                .collect()
        };
        if keys(&a) != keys(&c) {
            changed += 1;
        }
        for k in keys(&a) {
            a_ids.entry(k).or_default().insert(rec.student_id.clone());
        }
        for k in keys(&c) {
            c_ids.entry(k).or_default().insert(rec.student_id.clone());
        }
        let (ta, tc) = (
            serde_json::to_value(&a.tiers).expect("tiers"),
            serde_json::to_value(&c.tiers).expect("tiers"),
        );
        for domain in ["attendance", "academic", "behavioral", "social_emotional"] {
            let (x, y) = (
                ta[domain].as_u64().unwrap_or(0),
                tc[domain].as_u64().unwrap_or(0),
            );
            let e = tiers.entry(domain.to_string()).or_default();
            e.0 += u64::from(y > x);
            e.1 += u64::from(y < x);
        }
    }
    assert_eq!(report["students"], n as u64);
    assert_eq!(
        report["students_changed"], changed,
        "students whose flags change"
    );
    let keys: BTreeSet<Key> = a_ids.keys().chain(c_ids.keys()).cloned().collect();
    let rules = report["rules"].as_array().expect("rules");
    let got_keys: BTreeSet<Key> = rules
        .iter()
        .map(|r| {
            (
                r["rule_id"].as_str().expect("rule_id").to_string(),
                r["tier"].as_u64().expect("tier"),
            )
        })
        .collect();
    assert_eq!(
        got_keys, keys,
        "the preview lists every rule that flags anyone"
    );
    let empty = BTreeSet::new();
    for r in rules {
        let k = (
            r["rule_id"].as_str().expect("rule_id").to_string(),
            r["tier"].as_u64().expect("tier"),
        );
        let (a, c) = (
            a_ids.get(&k).unwrap_or(&empty),
            c_ids.get(&k).unwrap_or(&empty),
        );
        let newly: Vec<&String> = c.difference(a).collect();
        let cleared: Vec<&String> = a.difference(c).collect();
        assert_eq!(r["active_flagged"], a.len() as u64, "{k:?}");
        assert_eq!(r["candidate_flagged"], c.len() as u64, "{k:?}");
        assert_eq!(r["newly_flagged"], newly.len() as u64, "{k:?}");
        assert_eq!(r["cleared"], cleared.len() as u64, "{k:?}");
        assert_eq!(r["newly_flagged_ids"], json!(newly), "{k:?}");
        assert_eq!(r["cleared_ids"], json!(cleared), "{k:?}");
    }
    for t in report["tiers"].as_array().expect("tiers") {
        let d = t["domain"].as_str().expect("domain");
        let (raised, lowered) = tiers[d];
        assert_eq!(
            (t["raised"].as_u64(), t["lowered"].as_u64()),
            (Some(raised), Some(lowered)),
            "{d}"
        );
    }
    // The change does something a counselor would see.
    let rule = |id: &str| {
        rules
            .iter()
            .find(|r| r["rule_id"] == id)
            .unwrap_or_else(|| panic!("{id} not in the preview"))
            .clone()
    };
    assert!(rule("low-gpa")["newly_flagged"].as_u64() > Some(0));
    assert!(rule("chronic-absence")["newly_flagged"].as_u64() > Some(0));
    assert!(rule("attendance-watch")["cleared"].as_u64() > Some(0));

    // Pages of ids: the counts stay whole, the lists are the requested slice.
    let page = json_ok(
        app.post_json_as(
            "/v1/rules/preview?page=1&page_size=3",
            &candidate,
            Some(COUNSELOR_KEY),
        )
        .await,
    )
    .await;
    let low_all: Vec<&String> = c_ids[&("low-gpa".to_string(), 2)]
        .difference(&a_ids[&("low-gpa".to_string(), 2)])
        .collect();
    let low_page = page["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .find(|r| r["rule_id"] == "low-gpa")
        .expect("low-gpa")
        .clone();
    assert_eq!(low_page["newly_flagged"], low_all.len() as u64);
    assert_eq!(
        low_page["newly_flagged_ids"],
        json!(low_all.iter().skip(3).take(3).collect::<Vec<_>>())
    );

    // A preview decides nothing and activates nothing; a stale base is refused.
    assert_eq!(app.decisions_in_log().await.len(), decisions_before);
    assert_eq!(active_version(&app).await, v0);
    let stale_version = format!("sha256:{}", "0".repeat(64));
    let stale = json!({"base_version": stale_version, "files": {"params.yaml": params}});
    let resp = app
        .post_json_as("/v1/rules/preview", &stale, Some(COUNSELOR_KEY))
        .await;
    assert_problem(resp, 412, &[]).await;
    // Something that is not a version at all is a 400 naming the field.
    let malformed = json!({"base_version": "sha256:00", "files": {"params.yaml": params}});
    let resp = app
        .post_json_as("/v1/rules/preview", &malformed, Some(COUNSELOR_KEY))
        .await;
    assert_problem(resp, 400, &["`base_version`"]).await;
}

// ------------------------------------------------------------------------ 6

/// Decisions made before and after a publish each replay identically under their own
/// version, even after the set is rolled back; a non-decision entry is a 400 and an
/// unknown sequence number a 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_replay_under_the_version_that_made_them() {
    let (app, _rules) = spawn_on_copy(false).await;
    let v0 = active_version(&app).await;
    let caseload =
        std::fs::read_to_string(fixtures_dir().join("caseload.ndjson")).expect("caseload");
    let mut records: Vec<Value> = caseload
        .lines()
        .take(5)
        .map(|l| serde_json::from_str(l).expect("line"))
        .collect();
    records.push(json!({"student_id": "GPA-23", "gpa": 2.3}));
    records.push(chronic_absence("CA-1"));
    for r in &records {
        evaluate(&app, r).await;
    }
    let v1 = json_ok(
        publish(
            &app,
            &v0,
            json!({"params.yaml": params_low_gpa("2.5"), "tests/academic.yaml": academic_tests_at_2_5()}),
            COUNSELOR_KEY,
        )
        .await,
    )
    .await["version"]
        .as_str()
        .expect("v1")
        .to_string();
    for r in &records {
        evaluate(&app, r).await;
    }
    // Back to v0: the v1 decisions now replay from the stored version.
    json_ok(rollback(&app, &v0, ADMIN_KEY).await).await;

    let entries = app.decisions_in_log().await;
    assert_eq!(entries.len(), 2 * records.len());
    let mut by_version: BTreeMap<String, usize> = BTreeMap::new();
    for e in &entries {
        let seq = e["seq"].as_u64().expect("seq");
        let rep = json_ok(
            app.get_as(&format!("/v1/audit/{seq}/replay"), Some(AUDITOR_KEY))
                .await,
        )
        .await;
        let logged_version = e["payload"]["ruleset_version"].as_str().expect("version");
        assert_eq!(rep["seq"], seq);
        assert_eq!(rep["ruleset_version"], logged_version);
        assert_eq!(rep["decision_id"], e["payload"]["decision_id"]);
        assert_eq!(rep["identical"], true, "entry {seq} does not replay: {rep}");
        assert_eq!(rep["differences"], json!([]));
        assert_eq!(rep["replayed"], e["payload"]["decision"], "entry {seq}");
        *by_version.entry(logged_version.to_string()).or_default() += 1;
    }
    assert_eq!(
        by_version,
        BTreeMap::from([(v0.clone(), records.len()), (v1.clone(), records.len())])
    );
    // The GPA 2.3 student: not flagged under v0, flagged under v1 — both replay as logged.
    let gpa23: Vec<&Value> = entries
        .iter()
        .filter(|e| e["payload"]["student_id"] == "GPA-23")
        .collect();
    assert_eq!(gpa23.len(), 2);
    for e in gpa23 {
        let rep = json_ok(
            app.get_as(&format!("/v1/audit/{}/replay", e["seq"]), Some(AUDITOR_KEY))
                .await,
        )
        .await;
        let low = fired(&rep["replayed"]).contains(&"low-gpa".to_string());
        assert_eq!(low, e["payload"]["ruleset_version"] == v1.as_str(), "{rep}");
    }

    // Not a decision, unknown, not a number, not an auditor.
    let published = audit_kind(&app, "ruleset.published").await;
    let seq = published[0]["seq"].as_u64().expect("seq");
    let resp = app
        .get_as(&format!("/v1/audit/{seq}/replay"), Some(AUDITOR_KEY))
        .await;
    assert_problem(resp, 400, &["ruleset.published", "not a decision"]).await;
    let head = app.verify().await["entries"].as_u64().expect("entries");
    let resp = app
        .get_as(
            &format!("/v1/audit/{}/replay", head + 1000),
            Some(AUDITOR_KEY),
        )
        .await;
    assert_problem(resp, 404, &[]).await;
    let resp = app.get_as("/v1/audit/abc/replay", Some(AUDITOR_KEY)).await;
    assert_problem(resp, 400, &["abc"]).await;
    let first = entries[0]["seq"].as_u64().expect("seq");
    let resp = app
        .get_as(&format!("/v1/audit/{first}/replay"), Some(COUNSELOR_KEY))
        .await;
    assert_problem(resp, 403, &[]).await;
    assert_chain_ok(&app).await;
}

// ------------------------------------------------------------------------ 7

/// The real `intervene serve` binary on a data and a rules directory of its own.
struct Served {
    server: BinaryServer,
    address: String,
}

impl Served {
    fn start(data: &Path, rules: &Path) -> Served {
        let server = BinaryServer::start_with(data, rules, Duration::from_secs(20));
        let address = server.address.clone();
        Served { server, address }
    }

    fn log(&self) -> String {
        self.server.log()
    }

    async fn get(&self, path: &str) -> Value {
        let http = client();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match http.get(format!("{}{path}", self.address)).send().await {
                Ok(r) if r.status() == 200 => return r.json().await.expect("JSON"),
                other => {
                    assert!(
                        Instant::now() < deadline,
                        "GET {path}: {other:?}; log:\n{}",
                        self.log()
                    );
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    async fn send(&self, rb: reqwest::RequestBuilder) -> Value {
        let resp = rb.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        assert_eq!(status, 200, "{text}\nlog:\n{}", self.log());
        serde_json::from_str(&text).expect("JSON")
    }

    async fn evaluate(&self, record: &Value) -> Value {
        self.send(
            client()
                .post(format!("{}/v1/evaluate", self.address))
                .json(record),
        )
        .await
    }

    /// SIGTERM this child (by its pid) and wait for a clean exit.
    fn terminate(&mut self) {
        let status = self.server.terminate(Duration::from_secs(30));
        assert!(status.success(), "exit {status}; log:\n{}", self.log());
    }
}

struct Dirs {
    _root: TempDir,
    data: PathBuf,
    rules: PathBuf,
}

fn dirs() -> Dirs {
    let root = tempfile::tempdir().expect("tempdir");
    let (data, rules) = (root.path().join("data"), root.path().join("rules"));
    std::fs::create_dir_all(&data).expect("data dir");
    copy_dir(&rules_dir(), &rules);
    std::fs::write(
        rules.join("tests/academic.yaml"),
        original("tests/academic.yaml"),
    )
    .expect("pin the GPA tests");
    Dirs {
        _root: root,
        data,
        rules,
    }
}

/// A restart on a rules directory that was broken while the service was down serves
/// the last active version (the one published through the API), says so on
/// `/readyz`, and picks the directory up again once it is fixed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_on_a_broken_directory_serves_the_last_active_version() {
    let d = dirs();
    let mut a = Served::start(&d.data, &d.rules);
    let r = a.get("/readyz").await;
    let v0 = r["ruleset_version"].as_str().expect("version").to_string();
    // Publish the 2.5 threshold through the API (open local mode: no key).
    let v1 = a
        .send(client().post(format!("{}/v1/rules/publish", a.address)).json(&json!({
            "base_version": v0,
            "files": {"params.yaml": params_low_gpa("2.5"), "tests/academic.yaml": academic_tests_at_2_5()},
        })))
        .await["version"]
        .as_str()
        .expect("v1")
        .to_string();
    let d1 = a.evaluate(&json!({"student_id": "S-23", "gpa": 2.3})).await;
    assert_eq!(fired(&d1), ["low-gpa"]);
    a.terminate();

    // While it is down, someone breaks a rule pack.
    let text = read(&d.rules, "academic.yaml");
    let broken = replace_once(
        &text,
        "    tier: 3\n    when: student.failing_core_courses",
        "      tier: 3\n    when: student.failing_core_courses",
    );
    std::fs::write(d.rules.join("academic.yaml"), &broken).expect("break academic.yaml");

    let b = Served::start(&d.data, &d.rules);
    let r = b.get("/readyz").await;
    assert_eq!(r["status"], "ready", "{r}");
    assert_eq!(r["ruleset_version"], v1.as_str(), "{r}");
    assert_eq!(r["last_reload"]["ok"], false, "{r}");
    // `/readyz` needs no key: it counts the problems and never shows them.
    assert_eq!(r["last_reload"]["message"], "last reload failed", "{r}");
    assert!(
        r["last_reload"]["problems"]
            .as_u64()
            .is_some_and(|n| n >= 1),
        "{r}"
    );
    assert!(!r.to_string().contains("academic.yaml"), "{r}");
    let d2 = b.evaluate(&json!({"student_id": "S-23", "gpa": 2.3})).await;
    assert_eq!(d2["ruleset_version"], v1.as_str());
    assert_eq!(
        fired(&d2),
        ["low-gpa"],
        "the published threshold still applies"
    );
    let versions = b.get("/v1/rules/versions").await;
    assert_eq!(versions["active"], v1.as_str());
    let latest = versions["versions"][0]["activations"]
        .as_array()
        .expect("activations")
        .last()
        .expect("one")
        .clone();
    assert_eq!(versions["versions"][0]["version"], v1.as_str());
    assert_eq!(latest["how"], "startup", "{versions}");

    // Fixed on disk: the watcher sees the directory is the active version again.
    std::fs::write(d.rules.join("academic.yaml"), &text).expect("fix academic.yaml");
    let deadline = Instant::now() + WATCH_WITHIN;
    loop {
        let r = b.get("/readyz").await;
        if r["last_reload"]["ok"] == true {
            assert_eq!(r["ruleset_version"], v1.as_str());
            break;
        }
        assert!(Instant::now() < deadline, "the fix was not picked up: {r}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let verify = b.get("/v1/audit/verify").await;
    assert_eq!(verify["ok"], true, "{verify}");
    drop(b);
}

/// While the service is down, `params.yaml` is edited without updating the rule
/// tests that pin the old threshold. Running, the watcher would refuse this set; a
/// restart must not activate it either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_does_not_activate_a_directory_whose_tests_fail() {
    let d = dirs();
    let mut a = Served::start(&d.data, &d.rules);
    let v0 = a.get("/readyz").await["ruleset_version"]
        .as_str()
        .expect("version")
        .to_string();
    a.terminate();
    std::fs::write(d.rules.join("params.yaml"), params_low_gpa("2.5")).expect("edit params");
    let b = Served::start(&d.data, &d.rules);
    let r = b.get("/readyz").await;
    let dec = b.evaluate(&json!({"student_id": "S-23", "gpa": 2.3})).await;
    assert_eq!(
        r["ruleset_version"],
        v0.as_str(),
        "a set with failing rule tests went live at startup; GPA 2.3 now gets {:?}",
        fired(&dec)
    );
    assert_eq!(r["last_reload"]["ok"], false, "{r}");
    assert!(fired(&dec).is_empty());
}

// ------------------------------------------------------------------------ 8

/// Every version that was active is listed with how and by whom it was activated
/// (startup, publish, reload, rollback; the key's name), and returns its files; an
/// unknown version is a 404; only an admin may roll back.
#[tokio::test]
async fn stored_versions_record_every_activation_and_who_made_it() {
    let (app, rules) = spawn_on_copy(false).await;
    let dir = rules.path();
    let v0 = active_version(&app).await;
    let original_files = files_with(&[]);

    // publish (counselor), reload from the directory (counselor), rollback (admin)
    let params = replace_once(
        &original("params.yaml"),
        "GPA at or below which the GPA is low",
        "GPA at or below which the GPA is low (district policy 2026)",
    );
    let v1 = json_ok(put_file(&app, "params.yaml", &params, Some(&v0), COUNSELOR_KEY).await).await
        ["version"]
        .as_str()
        .expect("v1")
        .to_string();
    std::fs::write(dir.join("pilot.yaml"), PILOT_PACK).expect("add a pack");
    let reloaded = json_ok(
        app.post_raw_as("/v1/rules/reload", "", "", Some(COUNSELOR_KEY))
            .await,
    )
    .await;
    let v2 = reloaded["version"].as_str().expect("v2").to_string();
    assert_eq!(reloaded["previous"], v1.as_str());

    // Roles: only an admin rolls back; the refusals change nothing and are audited.
    for (key, status) in [(COUNSELOR_KEY, 403), (AUDITOR_KEY, 403), (INGEST_KEY, 403)] {
        assert_problem(rollback(&app, &v0, key).await, status, &[]).await;
    }
    let resp = app
        .client
        .post(app.url(&format!("/v1/rules/rollback/{v0}")))
        .send()
        .await
        .expect("POST");
    assert_problem(resp, 401, &[]).await;
    assert_eq!(active_version(&app).await, v2);
    let denied = audit_kind(&app, "auth.denied").await;
    assert!(
        denied.iter().any(|e| e["actor"] == "counselor"
            && e["payload"]["path"] == format!("/v1/rules/rollback/{v0}")),
        "{denied:?}"
    );
    assert_problem(
        put_file(
            &app,
            "params.yaml",
            &original("params.yaml"),
            Some(&v2),
            AUDITOR_KEY,
        )
        .await,
        403,
        &[],
    )
    .await;
    assert_problem(
        app.get_as("/v1/rules/versions", Some(INGEST_KEY)).await,
        403,
        &[],
    )
    .await;
    let unknown = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    assert_problem(rollback(&app, unknown, ADMIN_KEY).await, 404, &[unknown]).await;

    json_ok(rollback(&app, &v0, ADMIN_KEY).await).await;
    assert!(
        !dir.join("pilot.yaml").exists(),
        "the rollback removed the pack it did not have"
    );

    let list = json_ok(app.get_as("/v1/rules/versions", Some(AUDITOR_KEY)).await).await;
    assert_eq!(list["active"], v0.as_str());
    let versions = list["versions"].as_array().expect("versions");
    let order: Vec<&str> = versions
        .iter()
        .filter_map(|v| v["version"].as_str())
        .collect();
    assert_eq!(
        order,
        [v0.as_str(), v2.as_str(), v1.as_str()],
        "most recently activated first"
    );
    let how = |v: &Value| -> Vec<(String, String)> {
        v["activations"]
            .as_array()
            .expect("activations")
            .iter()
            .map(|a| {
                assert!(a["at"].as_str().is_some_and(|t| t.ends_with('Z')), "{a}");
                (
                    a["how"].as_str().expect("how").to_string(),
                    a["actor"].as_str().expect("actor").to_string(),
                )
            })
            .collect()
    };
    let pair = |h: &str, a: &str| (h.to_string(), a.to_string());
    assert_eq!(
        how(&versions[0]),
        [pair("startup", "system"), pair("rollback", "admin")]
    );
    assert_eq!(how(&versions[1]), [pair("reload", "counselor")]);
    assert_eq!(how(&versions[2]), [pair("publish", "counselor")]);
    assert!(
        versions[1]["files"]
            .as_array()
            .expect("file names")
            .contains(&json!("pilot.yaml"))
    );

    // Each version's files, as they were.
    let stored = json_ok(
        app.get_as(&format!("/v1/rules/versions/{v0}"), Some(COUNSELOR_KEY))
            .await,
    )
    .await;
    assert_eq!(stored["version"], v0.as_str());
    assert_eq!(stored["files"], json!(original_files));
    let stored = json_ok(
        app.get_as(&format!("/v1/rules/versions/{v1}"), Some(AUDITOR_KEY))
            .await,
    )
    .await;
    assert_eq!(stored["files"]["params.yaml"], params.as_str());
    assert_eq!(
        stored["files"],
        json!(files_with(&[("params.yaml", Some(&params))]))
    );
    let stored = json_ok(
        app.get_as(&format!("/v1/rules/versions/{v2}"), Some(AUDITOR_KEY))
            .await,
    )
    .await;
    assert_eq!(stored["files"]["pilot.yaml"], PILOT_PACK);
    assert_problem(
        app.get_as(&format!("/v1/rules/versions/{unknown}"), Some(AUDITOR_KEY))
            .await,
        404,
        &[unknown],
    )
    .await;
    assert_problem(
        app.get_as("/v1/rules/versions/not-a-version", Some(AUDITOR_KEY))
            .await,
        400,
        &["`not-a-version` is not a rule-set version"],
    )
    .await;
    assert_chain_ok(&app).await;
}

/// Bug: `page * page_size` overflowed (a 500 in a debug build, a wrapped page in a
/// release build) for a page far past the end. Every accepted page is now an answer:
/// past the end, whole counts and empty id lists.
#[tokio::test]
async fn a_preview_page_far_past_the_end_is_empty_not_an_overflow() {
    let (app, _rules) = spawn_on_copy(false).await;
    let v0 = active_version(&app).await;
    app.evaluate(&low_gpa("S1")).await;
    let caseload =
        std::fs::read_to_string(fixtures_dir().join("caseload.ndjson")).expect("caseload");
    let first: String = caseload.lines().take(20).collect::<Vec<_>>().join("\n");
    app.post_raw_as(
        "/v1/students/import",
        "application/x-ndjson",
        first,
        Some(INGEST_KEY),
    )
    .await;
    let candidate = json!({"base_version": v0, "files": {"params.yaml": params_low_gpa("2.5")}});
    let path = format!("/v1/rules/preview?page={}&page_size=10000", u64::MAX);
    let report = json_ok(
        app.post_json_as(&path, &candidate, Some(COUNSELOR_KEY))
            .await,
    )
    .await;
    let rules = report["rules"].as_array().expect("rules");
    assert!(!rules.is_empty(), "the counts are still whole: {report}");
    for r in rules {
        assert_eq!(r["newly_flagged_ids"], json!([]), "{r}");
        assert_eq!(r["cleared_ids"], json!([]), "{r}");
    }
}

/// Issue 17: a preview names the gap an edit opens (against the active version) and
/// how many stored students sit in it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preview_counts_the_students_in_a_gap_the_edit_opens() {
    let (app, _rules) = spawn_on_copy(false).await;
    let v0 = active_version(&app).await;
    // Absence rates 0.05, 0.10, 0.11 and 0.15.
    let students: String = [("AB-05", 95), ("AB-10", 90), ("AB-11", 89), ("AB-15", 85)]
        .iter()
        .map(|(id, present)| {
            format!(
                "{}\n",
                json!({"student_id": id, "attendance": {"days_enrolled": 100, "days_present": present}})
            )
        })
        .collect();
    let resp = app
        .post_raw_as(
            "/v1/students/import",
            "application/x-ndjson",
            students,
            Some(INGEST_KEY),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let pack = replace_once(
        &original("attendance.yaml"),
        "student.attendance.absence_rate >= params.chronic_absence_rate\n      &&",
        "student.attendance.absence_rate >= 0.12\n      &&",
    );
    let candidate = json!({"base_version": v0, "files": {"attendance.yaml": pack}});
    let gap = "absence rate in [0.1, 0.12) now fires no attendance rule; it fired `chronic-absence` before";
    let preview = json_ok(
        app.post_json_as(
            "/v1/rules/preview?page=0&page_size=100",
            &candidate,
            Some(COUNSELOR_KEY),
        )
        .await,
    )
    .await;
    assert_eq!(
        preview["bands"],
        json!([{"message": gap, "students": 2}]),
        "{preview}"
    );
}
