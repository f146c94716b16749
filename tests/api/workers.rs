//! Slow work never takes the async workers: with two workers busy with slow
//! evaluations (or with compiling a stored rule set for a report), `/healthz` still
//! answers at once. The only timing assertions are generous bounds that a stuck
//! worker would blow by seconds.

use std::time::{Duration, Instant};

use serde_json::json;
use tempfile::TempDir;

use crate::helpers::{client, json_ok, spawn_app_with};

/// Rules in [`slow_rules`]: each runs out its 50 ms wall-clock bound, so a record
/// that reaches them takes about `SLOW_RULES × 50 ms` to evaluate (2.5 s).
pub const SLOW_RULES: usize = 50;

/// A record with a GPA over 2.0: it reaches the slow part of every slow rule.
pub fn slow_record(student: &str) -> serde_json::Value {
    json!({"student_id": student, "gpa": 3.0})
}

/// A record with a GPA under 2.0: evaluated at once under the slow rules.
pub fn fast_record(student: &str) -> serde_json::Value {
    json!({"student_id": student, "gpa": 1.0})
}

/// [`slow_rules_over`] 2.0: slow to evaluate on [`slow_record`], and slow to compile.
pub fn slow_rules(n: usize) -> TempDir {
    slow_rules_over(n, "2.0")
}

/// A rule set (the shipped catalogue and params) with `n` rules that each burn
/// their whole wall-clock bound on records with a GPA over `gpa` (upper-casing a
/// 16 KiB string in a loop: slow per operation, so the deadline, not the operation
/// counter, stops it). The loader's sample record has GPA 2.1: under a `gpa` of 2.0
/// compiling the set is slow too (each rule's probe is stopped by the deadline: a
/// warning, not an error). The set has no tests, so it passes the activation gate.
pub fn slow_rules_over(n: usize, gpa: &str) -> TempDir {
    let dir = tempfile::tempdir().expect("tempdir for rules");
    let shipped = crate::helpers::rules_dir();
    for f in ["interventions.yaml", "measures.yaml", "params.yaml"] {
        std::fs::copy(shipped.join(f), dir.path().join(f)).expect("copy a rule file");
    }
    let mut yaml = String::from("rules:\n");
    for i in 0..n {
        yaml.push_str(&format!(
            "  - id: slow-{i}\n    name: Slow {i}\n    domain: behavioral\n    tier: 1\n    when: |-\n      student.gpa > {gpa} && {{\n        let s = \"\";\n        s.pad(16000, \"y\");\n        let n = 0;\n        loop {{ n += s.to_upper().len(); }}\n        n > 0\n      }}\n    explain: \"slow\"\n"
        ));
    }
    std::fs::write(dir.path().join("slow.yaml"), yaml).expect("write slow.yaml");
    dir
}

/// `/healthz` answers 200 within `bound`, asked on a fresh connection; panics
/// (instead of hanging) when it does not.
async fn assert_healthz_within(address: &str, bound: Duration, what: &str) {
    let started = Instant::now();
    let resp = tokio::time::timeout(bound, client().get(format!("{address}/healthz")).send()).await;
    match resp {
        Ok(Ok(r)) => assert_eq!(r.status(), 200, "{what}: /healthz answered {}", r.status()),
        Ok(Err(e)) => panic!("{what}: /healthz failed: {e}"),
        Err(_) => panic!(
            "{what}: /healthz did not answer within {bound:?} (waited {:?}): the workers are busy",
            started.elapsed()
        ),
    }
}

/// Slow requests in flight at once: four per worker.
const IN_FLIGHT: usize = 8;
/// Far more than `/healthz` needs, less than a worker stuck behind one slow request
/// would take (an evaluation takes 2.5 s, a compilation 4 s; several queue on each
/// worker).
const HEALTHZ_BOUND: Duration = Duration::from_secs(2);

#[tokio::test]
async fn slow_evaluations_on_two_workers_do_not_stop_healthz() {
    let rules = slow_rules(SLOW_RULES);
    let app = spawn_app_with(vec![], |s| {
        s.rules = rules.path().to_path_buf();
        s.watch_rules = false;
        s.workers = Some(2);
    })
    .await;
    let mut slow = tokio::task::JoinSet::new();
    for i in 0..IN_FLIGHT {
        // Audited and dry-run evaluations both evaluate off the workers.
        let path = if i % 2 == 0 {
            "/v1/evaluate"
        } else {
            "/v1/evaluate?dry_run=true"
        };
        let (url, record) = (app.url(path), slow_record(&format!("S-SLOW-{i}")));
        slow.spawn(async move { client().post(url).json(&record).send().await });
    }
    // Let every slow request reach its worker.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_healthz_within(&app.address, HEALTHZ_BOUND, "during slow evaluations").await;
    while let Some(done) = slow.join_next().await {
        let d = json_ok(done.expect("task").expect("slow evaluate")).await;
        let errors = d["rule_errors"].as_array().expect("rule_errors");
        assert_eq!(errors.len(), SLOW_RULES, "every slow rule is stopped: {d}");
    }
    app.assert_healthy().await;
}

#[tokio::test]
async fn compiling_a_stored_rule_set_for_reports_does_not_stop_healthz() {
    // Compiling 80 slow rules takes about 4 s. The first report on each worker
    // compiles, the rest find the result cached: a stuck worker is stuck for 4 s.
    let rules = slow_rules(80);
    let app = spawn_app_with(vec![], |s| {
        s.rules = rules.path().to_path_buf();
        s.watch_rules = false;
        s.workers = Some(2);
    })
    .await;
    app.evaluate(&fast_record("S-REPORT")).await;
    // A new active version without the slow rules: reports on the old decision must
    // compile the old version (a cache miss).
    std::fs::remove_file(rules.path().join("slow.yaml")).expect("remove slow.yaml");
    json_ok(app.post_json("/v1/rules/reload", &json!({})).await).await;
    let mut slow = tokio::task::JoinSet::new();
    for _ in 0..IN_FLIGHT {
        let url = app.url("/v1/students/S-REPORT/report");
        slow.spawn(async move { client().get(url).send().await });
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_healthz_within(&app.address, HEALTHZ_BOUND, "during report compilation").await;
    while let Some(done) = slow.join_next().await {
        let resp = done.expect("task").expect("report");
        let status = resp.status();
        let text = resp.text().await.expect("report text");
        assert_eq!(status, 200, "{text}");
        assert!(text.contains("S-REPORT"), "{text}");
    }
}
