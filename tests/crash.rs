//! Nothing acknowledged is lost: the real binary is killed with SIGKILL while 16
//! clients post evaluations; after a restart on the same data directory every
//! decision that got a 200 is in the audit log and the chain verifies.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const CLIENTS: usize = 16;
/// Most requests one client sends.
const PER_CLIENT: usize = 400;
/// Kill once 500 to 1,500 decisions (varies per run) were acknowledged, or after
/// `KILL_AFTER`.
fn kill_at_acks() -> usize {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    500 + (nanos as usize % 1_000)
}
const KILL_AFTER: Duration = Duration::from_secs(5);

#[path = "support/binary_server.rs"]
mod binary_server;
use binary_server::BinaryServer;

/// `intervene serve` on `data` with the shipped rules, healthy.
async fn start(data: &Path, http: &reqwest::Client) -> BinaryServer {
    let server = tokio::task::block_in_place(|| BinaryServer::start(data));
    server.wait_healthy(http).await;
    server
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(2))
        .build()
        .expect("client")
}

fn record(client: usize, i: usize) -> Value {
    // Vary the records so different rules fire.
    let present = 100 - (i % 25);
    json!({
        "student_id": format!("K{client:02}-{i:04}"),
        "gpa": 1.0 + (i % 30) as f64 / 10.0,
        "attendance": {"days_enrolled": 100, "days_present": present},
        "behavior": {"office_referrals": i % 8}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_decisions_survive_kill_9() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().expect("tempdir");
    let data: PathBuf = tmp.path().join("data");
    let http = client();
    let mut server = start(&data, &http).await;

    let acked: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let acks = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let (http, url) = (http.clone(), format!("{}/v1/evaluate", server.address));
        let (acked, acks, failed, stop) =
            (acked.clone(), acks.clone(), failed.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..PER_CLIENT {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let sent = http
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(record(c, i).to_string())
                    .send()
                    .await;
                let body = match sent {
                    Ok(r) if r.status() == 200 => r.json::<Value>().await,
                    Ok(r) => panic!("evaluate answered {} before the kill", r.status()),
                    Err(_) => {
                        // The server is gone (killed mid-request): this one was never acknowledged.
                        failed.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                };
                match body {
                    Ok(d) => {
                        let id = d["decision_id"].as_str().expect("decision_id").to_string();
                        acked.lock().expect("lock").push(id);
                        acks.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(_) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                }
            }
        }));
    }

    // Kill mid-stream: clients are still sending when SIGKILL arrives.
    let kill_at = kill_at_acks();
    let kill_deadline = Instant::now() + KILL_AFTER;
    while acks.load(Ordering::Relaxed) < kill_at && Instant::now() < kill_deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let acked_before_kill = acks.load(Ordering::Relaxed);
    server.kill9();
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(15), t)
            .await
            .expect("a client did not stop within 15 s")
            .expect("client task");
    }
    let acked: Vec<String> = acked.lock().expect("lock").clone();
    assert!(
        acked.len() >= 50,
        "too few acknowledged decisions to test anything: {}",
        acked.len()
    );
    let unique: HashSet<&String> = acked.iter().collect();
    assert_eq!(unique.len(), acked.len(), "decision ids are unique");

    // Restart on the same data.
    let server = start(&data, &http).await;
    let resp = http
        .get(format!("{}/v1/audit/export", server.address))
        .send()
        .await
        .expect("export");
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.expect("export body");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("export line ({e}): {l}")))
        .collect();
    let logged: HashSet<&str> = lines
        .iter()
        .filter(|e| e["kind"] == "decision")
        .filter_map(|e| e["payload"]["decision_id"].as_str())
        .collect();
    let lost: Vec<&String> = acked
        .iter()
        .filter(|id| !logged.contains(id.as_str()))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged decisions are not in the audit log after kill -9, e.g. {:?}",
        lost.len(),
        acked.len(),
        &lost[..lost.len().min(5)]
    );

    let verify: Value = http
        .get(format!("{}/v1/audit/verify", server.address))
        .send()
        .await
        .expect("verify")
        .json()
        .await
        .expect("json");
    assert_eq!(
        verify["ok"], true,
        "the chain verifies after kill -9: {verify}"
    );
    assert_eq!(
        verify["entries"].as_u64(),
        Some(lines.len() as u64),
        "export and verify agree"
    );
    let loads = lines
        .iter()
        .filter(|e| e["kind"] == "ruleset.loaded")
        .count();
    assert_eq!(loads, 2, "one rule-set load per start");

    // The restarted server keeps appending to the same chain.
    let resp = http
        .post(format!("{}/v1/evaluate", server.address))
        .header("content-type", "application/json")
        .body(record(99, 0).to_string())
        .send()
        .await
        .expect("evaluate after restart");
    assert_eq!(resp.status(), 200);
    let verify: Value = http
        .get(format!("{}/v1/audit/verify", server.address))
        .send()
        .await
        .expect("verify")
        .json()
        .await
        .expect("json");
    assert_eq!(verify["ok"], true, "{verify}");
    assert_eq!(verify["entries"].as_u64(), Some(lines.len() as u64 + 1));

    eprintln!(
        "crash test: {} acknowledged ({} when SIGKILL was sent), {} requests cut off, {} decisions in the log, {:.1} s",
        acked.len(),
        acked_before_kill,
        failed.load(Ordering::Relaxed),
        logged.len(),
        started.elapsed().as_secs_f64()
    );
    drop(server);
}
