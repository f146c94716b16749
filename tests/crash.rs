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

// ---------------------------------------------------------------------------------
// family notices

/// What the notice receiver saw: each delivery's notice (its signature checked), in
/// arrival order.
#[derive(Default)]
struct Inbox {
    bodies: Mutex<Vec<Value>>,
    bad_signatures: AtomicUsize,
}

const NOTICE_SECRET: &str = "test-notice-secret-0123456789";

async fn inbox(
    req: actix_web::HttpRequest,
    body: actix_web::web::Bytes,
    seen: actix_web::web::Data<Arc<Inbox>>,
) -> actix_web::HttpResponse {
    // Slow enough that a kill lands between a delivery and its mark.
    tokio::time::sleep(Duration::from_millis(30)).await;
    let header = req
        .headers()
        .get("x-intervene-signature")
        .and_then(|h| h.to_str().ok());
    let now = chrono::Utc::now().timestamp();
    if intervene::http::signature::verify(NOTICE_SECRET.as_bytes(), header, &body, now, 300)
        .is_err()
    {
        seen.bad_signatures.fetch_add(1, Ordering::SeqCst);
        return actix_web::HttpResponse::Unauthorized().finish();
    }
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    seen.bodies.lock().expect("lock").push(v);
    actix_web::HttpResponse::Ok().finish()
}

/// The binary is killed with SIGKILL while it makes and delivers notices; after a
/// restart every notice of an acknowledged tier change reaches the receiver, signed,
/// and each student's arrive in the order they were made (a redelivery of the last
/// one before the kill is allowed: delivery is at least once).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn notices_survive_kill_9_in_order_and_none_is_lost() {
    let seen = Arc::new(Inbox::default());
    let data = actix_web::web::Data::new(seen.clone());
    let server = actix_web::HttpServer::new(move || {
        actix_web::App::new()
            .app_data(data.clone())
            .route("/notices", actix_web::web::post().to(inbox))
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .expect("bind the receiver");
    let url = format!("http://{}/notices", server.addrs()[0]);
    tokio::spawn(server.run());

    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().join("data");
    std::fs::create_dir_all(&data_dir).expect("data dir");
    std::fs::write(
        data_dir.join("intervene.yaml"),
        format!("notices:\n  url: {url}\n  secret_env: TEST_NOTICE_SECRET\n  first_retry_ms: 50\n  max_retry_secs: 1\n"),
    )
    .expect("config");
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let http = client();
    let start = |data: PathBuf| {
        let rules = rules.clone();
        tokio::task::block_in_place(move || {
            BinaryServer::start_env(
                &data,
                &rules,
                Duration::from_secs(15),
                &[("TEST_NOTICE_SECRET", NOTICE_SECRET)],
            )
        })
    };
    let mut a = start(data_dir.clone());
    a.wait_healthy(&http).await;
    // Each student goes 0 → 2 → 3 → 1 → 0 in attendance: four notices each.
    const STUDENTS: usize = 6;
    let absent = [15, 25, 7, 0];
    let mut expected = 0;
    for (day, a_) in absent.iter().enumerate() {
        for s in 0..STUDENTS {
            let rec = json!({"student_id": format!("K9-{s}"), "as_of": format!("2026-11-{:02}", day + 1),
                             "attendance": {"days_enrolled": 100, "days_present": 100 - a_}});
            let resp = http
                .post(format!("{}/v1/evaluate", a.address))
                .json(&rec)
                .send()
                .await
                .expect("evaluate");
            assert_eq!(resp.status(), 200);
            expected += 1;
        }
    }
    assert_eq!(expected, STUDENTS * 4);
    // Kill while deliveries are under way (some acknowledged, some not yet).
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.bodies.lock().expect("lock").len() < 3 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    a.kill9();
    let before_restart = seen.bodies.lock().expect("lock").len();
    assert!(
        before_restart < STUDENTS * 4,
        "the kill came before every delivery"
    );

    let b = start(data_dir.clone());
    b.wait_healthy(&http).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let unique = loop {
        let bodies = seen.bodies.lock().expect("lock").clone();
        let ids: HashSet<String> = bodies
            .iter()
            .map(|b| b["notice_id"].as_str().unwrap_or_default().to_string())
            .collect();
        if ids.len() >= STUDENTS * 4 {
            break bodies;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} notices after the restart",
            ids.len(),
            STUDENTS * 4
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(seen.bad_signatures.load(Ordering::SeqCst), 0);
    // Per student: first arrivals in the order the changes were made.
    for s in 0..STUDENTS {
        let student = format!("K9-{s}");
        let mut firsts: Vec<(u64, u64)> = Vec::new();
        let mut ids = HashSet::new();
        for b in unique
            .iter()
            .filter(|b| b["student_id"] == student.as_str())
        {
            if ids.insert(b["notice_id"].as_str().unwrap_or_default().to_string()) {
                firsts.push((
                    b["from_tier"].as_u64().unwrap_or(9),
                    b["to_tier"].as_u64().unwrap_or(9),
                ));
            }
        }
        assert_eq!(firsts, [(0, 2), (2, 3), (3, 1), (1, 0)], "{student}");
    }
    drop(b);
}
