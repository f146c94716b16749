//! What the real binary writes to its log at the default level: request and
//! decision ids, never student ids (logs outlive retention and purges), and never an
//! id the student id rule refuses.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{BinaryServer, client, json_ok};

/// An id that appears nowhere else in any log line.
const STUDENT: &str = "S-LOGPRIV-7c1e9a";

#[tokio::test]
async fn student_ids_are_not_logged_at_the_default_level() {
    let data = tempfile::tempdir().expect("data dir");
    let mut server = BinaryServer::start(data.path());
    let http = client();
    server.wait_healthy(&http).await;
    let url = |p: &str| format!("{}{p}", server.address);
    let record = json!({"student_id": STUDENT, "gpa": 1.5});
    let mut decision_ids = Vec::new();
    for path in ["/v1/evaluate", "/v1/evaluate?dry_run=true"] {
        let d = json_ok(
            http.post(url(path))
                .json(&record)
                .send()
                .await
                .expect("evaluate"),
        )
        .await;
        decision_ids.push(d["decision_id"].as_str().expect("decision_id").to_string());
    }
    for path in [
        format!("/v1/students/{STUDENT}"),
        format!("/v1/students/{STUDENT}/decisions"),
        format!("/v1/students/{STUDENT}/report"),
        format!("/v1/audit?student={STUDENT}"),
    ] {
        let status = http.get(url(&path)).send().await.expect("read").status();
        assert!(status == 200 || status == 404, "{path}: {status}");
    }
    let hold = url(&format!("/v1/audit/holds/{STUDENT}"));
    let placed = http
        .put(&hold)
        .json(&json!({"reason": "inspection request 42"}))
        .send()
        .await
        .expect("place hold");
    assert_eq!(placed.status(), 200);
    let lifted = http.delete(&hold).send().await.expect("lift hold");
    assert_eq!(lifted.status(), 204);
    // An id the rule refuses is neither served nor logged.
    let long = "Q".repeat(5000);
    let resp = http
        .get(url(&format!("/v1/students/{long}/decisions")))
        .send()
        .await
        .expect("long id");
    assert_eq!(resp.status(), 400);
    let status = server.terminate(Duration::from_secs(15));
    assert!(status.success(), "exit status {status}");
    let log = server.log();
    assert!(
        !log.contains(STUDENT),
        "the student id is in the default-level log:\n{}",
        lines_with(&log, STUDENT)
    );
    assert!(
        !log.contains(&"Q".repeat(64)),
        "the refused 5000-character id is in the log:\n{}",
        lines_with(&log, &"Q".repeat(64))
    );
    for id in &decision_ids {
        assert!(
            log.contains(id.as_str()),
            "decision `{id}` is not logged:\n{log}"
        );
    }
    assert!(
        log.contains("route=/v1/students/{id}/decisions")
            || log.contains("route=\"/v1/students/{id}/decisions\""),
        "requests are logged by route pattern:\n{log}"
    );
}

fn lines_with(log: &str, needle: &str) -> String {
    log.lines()
        .filter(|l| l.contains(needle))
        .map(|l| l.chars().take(300).collect::<String>())
        .collect::<Vec<_>>()
        .join("\n")
}
