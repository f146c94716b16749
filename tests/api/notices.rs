//! Family notices: a tier change per domain or a plan opened or closed goes into the
//! durable outbox and is delivered to the family-messaging webhook (a receiver on
//! loopback in the test), retried through failures, in order per student, audited as
//! `notice.sent` on acknowledgement, and marked failed after the configured attempts.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

use crate::helpers::{COUNSELOR_KEY, TestApp, all_keys, json_ok, spawn_app_with};

/// What the receiver saw: every request's body, in arrival order.
#[derive(Default)]
pub(crate) struct Seen {
    pub bodies: Mutex<Vec<Value>>,
    /// Answer 503 to this many requests first, then 200 (`usize::MAX`: always 500).
    pub fail_first: AtomicUsize,
    pub requests: AtomicUsize,
}

impl Seen {
    /// The notices acknowledged (2xx), first delivery of each id, in arrival order.
    pub fn delivered(&self) -> Vec<Value> {
        let mut ids = BTreeSet::new();
        self.bodies
            .lock()
            .expect("lock")
            .iter()
            .filter(|b| ids.insert(b["notice_id"].as_str().unwrap_or_default().to_string()))
            .cloned()
            .collect()
    }
}

async fn receive(req: HttpRequest, body: web::Bytes, seen: web::Data<Arc<Seen>>) -> HttpResponse {
    let n = seen.requests.fetch_add(1, Ordering::SeqCst);
    let fail = seen.fail_first.load(Ordering::SeqCst);
    if fail == usize::MAX {
        return HttpResponse::InternalServerError().finish();
    }
    if n < fail {
        return HttpResponse::ServiceUnavailable().finish();
    }
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    assert_eq!(
        req.headers()
            .get("x-intervene-notice")
            .and_then(|h| h.to_str().ok()),
        v["notice_id"].as_str(),
        "the id header names the notice"
    );
    seen.bodies.lock().expect("lock").push(v);
    HttpResponse::Ok().finish()
}

/// A receiver on loopback; its URL and what it sees.
pub(crate) fn receiver(fail_first: usize) -> (String, Arc<Seen>) {
    let seen = Arc::new(Seen {
        fail_first: AtomicUsize::new(fail_first),
        ..Seen::default()
    });
    let data = web::Data::new(seen.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/notices", web::post().to(receive))
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .expect("bind the receiver");
    let addr = server.addrs()[0];
    tokio::spawn(server.run());
    (format!("http://{addr}/notices"), seen)
}

async fn spawn_with_receiver(url: Option<String>, max_attempts: u32) -> TestApp {
    spawn_app_with(all_keys(), move |s| {
        s.notices.url = url;
        s.notices.first_retry_ms = 50;
        s.notices.max_retry_secs = 1;
        s.notices.max_attempts = max_attempts;
    })
    .await
}

/// A record with only attendance: `absent` of 100 days, on day `day` of November.
fn attendance(id: &str, absent: u32, day: u32) -> Value {
    json!({"student_id": id, "as_of": format!("2026-11-{day:02}"),
           "attendance": {"days_enrolled": 100, "days_present": 100 - absent}})
}

/// Wait (at most 20 s) until `seen` has `n` notices delivered.
async fn delivered(seen: &Seen, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = seen.delivered();
        if got.len() >= n {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {n} delivered: {got:?}",
            got.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn summary(n: &Value) -> (String, String, String, u64, u64) {
    let s = |k: &str| n[k].as_str().unwrap_or_default().to_string();
    (
        s("student_id"),
        s("what"),
        s("domain"),
        n["from_tier"].as_u64().unwrap_or(99),
        n["to_tier"].as_u64().unwrap_or(99),
    )
}

#[tokio::test]
async fn tier_changes_are_delivered_in_order_per_student_through_failures() {
    let (url, seen) = receiver(3);
    let app = spawn_with_receiver(Some(url), 10).await;
    app.evaluate(&attendance("NOT-A", 15, 1)).await; // attendance 0 → 2
    app.evaluate(&attendance("NOT-B", 15, 1)).await; // 0 → 2
    app.evaluate(&attendance("NOT-A", 15, 2)).await; // no change: no notice
    app.evaluate(&attendance("NOT-A", 25, 3)).await; // 2 → 3
    app.evaluate(&attendance("NOT-A", 0, 4)).await; // 3 → 0
    let got = delivered(&seen, 4).await;
    let of = |student: &str| -> Vec<(String, String, String, u64, u64)> {
        got.iter().map(summary).filter(|s| s.0 == student).collect()
    };
    let t = |s: &str, w: &str, from, to| {
        (
            s.to_string(),
            w.to_string(),
            "attendance".to_string(),
            from,
            to,
        )
    };
    assert_eq!(
        of("NOT-A"),
        [
            t("NOT-A", "support_raised", 0, 2),
            t("NOT-A", "support_raised", 2, 3),
            t("NOT-A", "support_lowered", 3, 0)
        ]
    );
    assert_eq!(of("NOT-B"), [t("NOT-B", "support_raised", 0, 2)]);
    assert!(
        seen.requests.load(Ordering::SeqCst) >= 7,
        "three refusals were retried"
    );
    // The messages are in the district's languages, in plain words.
    let first = &got[0];
    assert!(
        first["message"]["en"]
            .as_str()
            .is_some_and(|m| m.contains("increasing the support"))
    );
    assert!(
        first["message"]["es"]
            .as_str()
            .is_some_and(|m| m.contains("aumentando el apoyo"))
    );
    assert!(
        !first["message"]["en"]
            .as_str()
            .unwrap_or_default()
            .contains("tier")
    );

    // Each acknowledgement is audited under the student; the outbox shows them sent.
    let deadline = Instant::now() + Duration::from_secs(10);
    let page = loop {
        let page = json_ok(app.get_as("/v1/notices", Some(COUNSELOR_KEY)).await).await;
        if page["sent"] == 4 || Instant::now() > deadline {
            break page;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        (page["pending"].clone(), page["sent"].clone()),
        (json!(0), json!(4)),
        "{page}"
    );
    let sent = app.audit_all("kind=notice.sent", 100).await;
    assert_eq!(sent.len(), 4, "{sent:?}");
    let students: BTreeMap<String, usize> = sent.iter().fold(BTreeMap::new(), |mut m, e| {
        *m.entry(
            e["payload"]["student_id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        )
        .or_default() += 1;
        m
    });
    assert_eq!(
        students,
        BTreeMap::from([("NOT-A".into(), 3), ("NOT-B".into(), 1)])
    );
    assert_eq!(app.verify().await["ok"], true);
}

#[tokio::test]
async fn a_notice_is_marked_failed_after_the_configured_attempts() {
    let (url, seen) = receiver(usize::MAX);
    let app = spawn_with_receiver(Some(url), 2).await;
    app.evaluate(&attendance("NOT-F", 15, 1)).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    let failed = loop {
        let page = json_ok(
            app.get_as("/v1/notices?status=failed", Some(COUNSELOR_KEY))
                .await,
        )
        .await;
        if page["failed"] == 1 {
            break page;
        }
        assert!(Instant::now() < deadline, "never marked failed: {page}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let n = &failed["notices"][0];
    assert_eq!(n["student_id"], "NOT-F");
    assert_eq!(n["attempts"], 2);
    assert_eq!(n["last_error"], "answered 500");
    // And it is not tried again.
    let tried = seen.requests.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(seen.requests.load(Ordering::SeqCst), tried);
    assert!(app.audit_all("kind=notice.sent", 10).await.is_empty());
}

#[tokio::test]
async fn without_a_webhook_notices_wait_in_the_outbox_and_plans_make_notices_too() {
    let app = spawn_with_receiver(None, 10).await;
    app.evaluate(&attendance("NOT-P", 15, 1)).await;
    let by = (chrono::Utc::now().date_naive() + chrono::Duration::days(56)).to_string();
    let plan = json!({
        "intervention": "attendance-mentor", "owner": "Ms. Rivera",
        "goal": {"measure": "attendance.absence_rate", "baseline": 0.15, "target": 0.05, "by": by},
        "start": chrono::Utc::now().date_naive().to_string(),
    });
    let resp = app
        .post_json_as("/v1/students/NOT-P/plans", &plan, Some(COUNSELOR_KEY))
        .await;
    assert_eq!(
        resp.status(),
        201,
        "{}",
        resp.text().await.unwrap_or_default()
    );
    let page = json_ok(
        app.get_as("/v1/notices?status=pending", Some(COUNSELOR_KEY))
            .await,
    )
    .await;
    let whats: Vec<&str> = page["notices"]
        .as_array()
        .expect("notices")
        .iter()
        .map(|n| n["what"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(whats, ["support_raised", "plan_opened"], "{page}");
    assert_eq!(page["notices"][1]["intervention"], "attendance-mentor");
    let bad = app
        .get_as("/v1/notices?status=lost", Some(COUNSELOR_KEY))
        .await;
    assert_eq!(bad.status(), 400);
}
