//! Stopping the real binary: SIGTERM ends it within `shutdown_timeout_secs` (plus a
//! small margin) even while requests are stuck, it exits 0, and every decision it
//! acknowledged is in the log after a restart.

use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::helpers::{BinaryServer, client, decision_ids, fired, json_ok};
use crate::workers::{fast_record, slow_record, slow_rules_over};

/// The configured drain time.
const SHUTDOWN_TIMEOUT_SECS: u64 = 1;
/// What the server may take past it: the stop grace (2 s) and process exit.
const MARGIN: Duration = Duration::from_secs(5);

/// A request whose body never finishes: the head and a few bytes, then silence.
fn stalled_upload(address: &str) -> TcpStream {
    let host = address.trim_start_matches("http://");
    let mut s = TcpStream::connect(host).expect("connect");
    write!(
        s,
        "POST /v1/evaluate HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n{{\"student_id\": \"S-SLOW"
    )
    .expect("send the start of a request");
    s.flush().expect("flush");
    s
}

fn start(data: &Path, rules: &Path) -> BinaryServer {
    // `serve` reads `intervene.yaml` from its working directory, the data directory.
    std::fs::write(
        data.join("intervene.yaml"),
        format!("shutdown_timeout_secs: {SHUTDOWN_TIMEOUT_SECS}\n"),
    )
    .expect("write intervene.yaml");
    BinaryServer::start_with(data, rules, Duration::from_secs(30))
}

#[tokio::test]
async fn sigterm_with_stuck_requests_exits_within_the_shutdown_timeout_and_keeps_acknowledged_decisions()
 {
    // 200 rules × 50 ms: a 10 s evaluation, far past the timeout; fast to load
    // (the loader's sample record has GPA 2.1).
    let rules = slow_rules_over(200, "2.5");
    let data = tempfile::tempdir().expect("data dir");
    let mut server = start(data.path(), rules.path());
    let http = client();
    server.wait_healthy(&http).await;
    let url = |p: &str| format!("{}{p}", server.address);
    let mut acknowledged = Vec::new();
    for i in 0..5 {
        let d = json_ok(
            http.post(url("/v1/evaluate"))
                .json(&fast_record(&format!("S-ACK-{i}")))
                .send()
                .await
                .expect("evaluate"),
        )
        .await;
        assert!(fired(&d).is_empty(), "{d}");
        acknowledged.push(d["decision_id"].as_str().expect("id").to_string());
    }
    let slow = tokio::spawn(
        client()
            .post(url("/v1/evaluate"))
            .json(&slow_record("S-STUCK"))
            .send(),
    );
    let _upload = stalled_upload(&server.address);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let status = server.terminate(Duration::from_secs(SHUTDOWN_TIMEOUT_SECS) + MARGIN);
    assert_eq!(
        status.code(),
        Some(0),
        "exit status {status}; log:\n{}",
        server.log()
    );
    assert!(
        server.log().contains("abandon") || server.log().contains("stopped"),
        "the stop is logged:\n{}",
        server.log()
    );
    // The stuck evaluation was never answered (or, if it was, it is in the log).
    if let Ok(Ok(resp)) = slow.await
        && resp.status() == 200
        && let Ok(d) = resp.json::<Value>().await
    {
        acknowledged.push(d["decision_id"].as_str().expect("id").to_string());
    }
    drop(server);

    let mut again = start(data.path(), rules.path());
    again.wait_healthy(&http).await;
    let page = json_ok(
        http.get(format!(
            "{}/v1/audit?kind=decision&limit=500",
            again.address
        ))
        .send()
        .await
        .expect("audit"),
    )
    .await;
    let logged = decision_ids(page["entries"].as_array().expect("entries"));
    for id in &acknowledged {
        assert!(
            logged.contains(id),
            "acknowledged decision `{id}` is missing after restart: {logged:?}"
        );
    }
    let report = json_ok(
        http.get(format!("{}/v1/audit/verify", again.address))
            .send()
            .await
            .expect("verify"),
    )
    .await;
    assert_eq!(report["ok"], true, "{report}");
    assert!(again.terminate(Duration::from_secs(15)).success());
}
