//! SIS events written to plans (`progress.recorded`, `intervention.session`): signed
//! like every event, idempotent by event id (a repeat adds no second point), any
//! order of the same events ending in the same plan, and refusals naming the field
//! inside `data`.

use std::sync::atomic::{AtomicUsize, Ordering};

use intervene::config::Webhook;
use intervene::http::signature::sign;
use reqwest::Response;
use serde_json::{Value, json};

use crate::helpers::{
    COUNSELOR_KEY, TestApp, all_keys, assert_problem, error_fields, json_ok, low_gpa,
    spawn_app_with,
};

const HOOK: &str = "/v1/webhooks/sis";
static NEXT_APP: AtomicUsize = AtomicUsize::new(0);

/// A running server with its own webhook secret, and a plan for student `S`.
struct Hooked {
    app: TestApp,
    secret: Vec<u8>,
    plan_id: String,
}

fn day(d: i64) -> String {
    (chrono::Utc::now().date_naive() + chrono::Duration::days(d)).to_string()
}

/// Start a server whose webhook secret lives in a variable no other app reads, and
/// open a GPA tutoring plan for `S` that started four weeks ago.
async fn hooked() -> Hooked {
    let n = NEXT_APP.fetch_add(1, Ordering::SeqCst);
    let pid = std::process::id();
    let var = format!("TEST_SECRET_PLAN_EVENTS_{pid}_{n}");
    let secret = format!("whsec-plan-{pid}-{n}");
    // SAFETY: the variable name is unique to this app (process id and a counter), so
    // no other test reads or writes it; std's environment lock serialises the write.
    unsafe { std::env::set_var(&var, &secret) };
    let app = spawn_app_with(all_keys(), |s| {
        s.webhook = Webhook {
            secret_env: var,
            replay_window_secs: 300,
        };
    })
    .await;
    app.evaluate(&low_gpa("S")).await;
    let plan = json!({
        "intervention": "tutoring",
        "owner": "Ms. Lee",
        "goal": {"measure": "gpa", "baseline": 1.2, "target": 2.0, "by": day(56)},
        "start": day(-28),
        "sessions_per_week": 2,
        "minutes_per_session": 30,
    });
    let resp = app
        .post_json_as("/v1/students/S/plans", &plan, Some(COUNSELOR_KEY))
        .await;
    assert_eq!(resp.status(), 201);
    let plan: Value = resp.json().await.expect("json");
    Hooked {
        plan_id: plan["plan_id"].as_str().expect("id").to_string(),
        app,
        secret: secret.into_bytes(),
    }
}

fn occurred() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn point(id: &str, student: &str, plan: &str, date: &str, value: f64) -> Value {
    json!({"event_id": id, "type": "progress.recorded", "occurred_at": occurred(),
        "student_id": student, "data": {"plan_id": plan, "date": date, "value": value}})
}

fn session(id: &str, plan: &str, date: &str, delivered: bool) -> Value {
    json!({"event_id": id, "type": "intervention.session", "occurred_at": occurred(),
        "student_id": "S", "data": {"plan_id": plan, "date": date, "minutes": 30, "delivered": delivered}})
}

impl Hooked {
    async fn post(&self, event: &Value) -> Response {
        let body = event.to_string();
        let header = sign(
            &self.secret,
            chrono::Utc::now().timestamp(),
            body.as_bytes(),
        );
        self.app
            .client
            .post(self.app.url(HOOK))
            .header("content-type", "application/json")
            .header("x-intervene-signature", header)
            .body(body)
            .send()
            .await
            .expect("POST webhook")
    }

    async fn plan(&self) -> Value {
        json_ok(self.app.get(&format!("/v1/plans/{}", self.plan_id)).await).await
    }

    /// The events of a stream for this app's plan.
    fn stream(&self) -> Vec<Value> {
        let p = &self.plan_id;
        vec![
            point("e-p1", "S", p, &day(-21), 1.3),
            point("e-p2", "S", p, &day(-14), 1.35),
            point("e-p3a", "S", p, &day(-7), 1.5),
            point("e-p3b", "S", p, &day(-7), 1.4),
            point("e-p4", "S", p, &day(0), 1.6),
            session("e-s1", p, &day(-21), true),
            session("e-s2", p, &day(-14), false),
            session("e-s3", p, &day(-7), true),
        ]
    }
}

#[tokio::test]
async fn signed_events_add_a_point_and_a_session_once_each() {
    let h = hooked().await;
    let p = point("evt-1", "S", &h.plan_id, &day(-7), 1.4);
    let first = json_ok(h.post(&p).await).await;
    assert_eq!(
        (&first["status"], &first["duplicate"], &first["plan_id"]),
        (&json!("applied"), &json!(false), &json!(h.plan_id))
    );
    let again = json_ok(h.post(&p).await).await;
    assert_eq!(again["duplicate"], true, "{again}");
    let s = session("evt-2", &h.plan_id, &day(-7), true);
    json_ok(h.post(&s).await).await;

    let plan = h.plan().await;
    let progress = plan["progress"].as_array().expect("progress");
    assert_eq!(progress.len(), 1, "the repeated event adds nothing: {plan}");
    assert_eq!(
        (&progress[0]["value"], &progress[0]["source"]),
        (&json!(1.4), &json!("sis"))
    );
    assert_eq!(plan["sessions"][0]["delivered"], true);
    assert_eq!(plan["sessions"].as_array().map(Vec::len), Some(1));
    assert_eq!(plan["revision"], 3, "opened, one point, one session");
    let kinds = h.app.kinds_in_log();
    assert_eq!(kinds.iter().filter(|k| *k == "plan.progress").count(), 1);
    let entries = h.app.audit_all("kind=plan.progress", 10).await;
    assert_eq!(entries[0]["payload"]["event"]["event_id"], "evt-1");
    assert_eq!(h.app.verify().await["ok"], true);
}

#[tokio::test]
async fn events_in_reverse_order_end_in_the_same_plan() {
    let (forward, backward) = (hooked().await, hooked().await);
    for e in forward.stream() {
        json_ok(forward.post(&e).await).await;
    }
    let mut reversed = backward.stream();
    reversed.reverse();
    for e in &reversed {
        json_ok(backward.post(e).await).await;
    }
    // And every event once more: duplicates change nothing.
    for e in &reversed {
        assert_eq!(json_ok(backward.post(e).await).await["duplicate"], true);
    }
    let (a, b) = (forward.plan().await, backward.plan().await);
    for field in ["progress", "sessions", "summary", "revision"] {
        assert_eq!(a[field], b[field], "{field}");
    }
    assert_eq!(a["progress"].as_array().map(Vec::len), Some(5));
    assert_eq!(
        a["summary"]["data_points"], 4,
        "two points on one date count once"
    );
}

#[tokio::test]
async fn a_bad_signature_is_refused_and_writes_nothing() {
    let h = hooked().await;
    let body = point("evt-bad", "S", &h.plan_id, &day(0), 1.5).to_string();
    let header = sign(
        b"not the secret",
        chrono::Utc::now().timestamp(),
        body.as_bytes(),
    );
    let resp = h
        .app
        .client
        .post(h.app.url(HOOK))
        .header("content-type", "application/json")
        .header("x-intervene-signature", header)
        .body(body)
        .send()
        .await
        .expect("POST");
    assert_problem(resp, 401, &["signature"]).await;
    assert_eq!(h.plan().await["progress"], json!([]));
}

#[tokio::test]
async fn refused_plan_events_name_the_field() {
    let h = hooked().await;
    let resp = h.post(&point("r1", "S", &h.plan_id, &day(0), 7.5)).await;
    let body = assert_problem(resp, 422, &["from 0 to 5"]).await;
    assert_eq!(error_fields(&body), ["data.value"]);

    let resp = h.post(&point("r2", "S", "PNOPE", &day(0), 1.5)).await;
    assert_problem(resp, 404, &["data.plan_id", "PNOPE"]).await;

    h.app.evaluate(&low_gpa("OTHER")).await;
    let resp = h
        .post(&point("r3", "OTHER", &h.plan_id, &day(0), 1.5))
        .await;
    let body = assert_problem(resp, 422, &["not a plan of student `OTHER`"]).await;
    assert_eq!(error_fields(&body), ["data.plan_id"]);

    let mut bad = point("r4", "S", &h.plan_id, &day(0), 1.5);
    bad["data"]["minutes"] = json!(3);
    let body = assert_problem(h.post(&bad).await, 422, &["minutes"]).await;
    assert!(error_fields(&body)[0].starts_with("data"), "{body}");

    // A refused event claims nothing: the same id, corrected, is applied.
    let ok = json_ok(h.post(&point("r1", "S", &h.plan_id, &day(0), 1.5)).await).await;
    assert_eq!(ok["duplicate"], false);

    let closed = h
        .app
        .client
        .patch(h.app.url(&format!("/v1/plans/{}", h.plan_id)))
        .bearer_auth(COUNSELOR_KEY)
        .header("if-match", "\"2\"")
        .json(&json!({"status": "discontinued", "exit_reason": "moved school"}))
        .send()
        .await
        .expect("PATCH");
    assert_eq!(closed.status(), 200);
    let resp = h.post(&point("r5", "S", &h.plan_id, &day(0), 1.5)).await;
    let body = assert_problem(resp, 422, &["closed"]).await;
    assert_eq!(error_fields(&body), ["data.plan_id"]);
    assert_eq!(h.plan().await["progress"].as_array().map(Vec::len), Some(1));
}
