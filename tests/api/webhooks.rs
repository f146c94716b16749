//! `POST /v1/webhooks/sis` against the real server: signatures and their audit,
//! idempotency, out-of-order and concurrent events, what each event type does to the
//! snapshot and the decision, bad events, and the equivalence of a clean stream with
//! the same stream shuffled and duplicated.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::future::join_all;
use intervene::config::{ApiKey, Webhook};
use intervene::http::signature::sign;
use reqwest::Response;
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, all_keys, assert_problem, collect_pages, error_fields, json_ok, spawn_app_with,
};

const HOOK: &str = "/v1/webhooks/sis";

static NEXT_APP: AtomicUsize = AtomicUsize::new(0);

/// A running server with a webhook secret of its own.
struct Hook {
    app: TestApp,
    secret: Vec<u8>,
}

/// Start a server whose webhook secret lives in a variable no other app reads.
async fn spawn_hooked(keys: Vec<ApiKey>, max_body_bytes: Option<usize>) -> Hook {
    let n = NEXT_APP.fetch_add(1, Ordering::SeqCst);
    let pid = std::process::id();
    let var = format!("TEST_SECRET_WEBHOOKS_{pid}_{n}");
    let secret = format!("whsec-test-{pid}-{n}");
    // SAFETY: the variable name is unique to this app (process id and a counter), so
    // no other test reads or writes it; std's own environment lock serialises this
    // write with the std readers in other test threads, and nothing in this process
    // reads the environment through libc directly.
    unsafe { std::env::set_var(&var, &secret) };
    let app = spawn_app_with(keys, |s| {
        s.webhook = Webhook {
            secret_env: var,
            replay_window_secs: 300,
        };
        if let Some(m) = max_body_bytes {
            s.max_body_bytes = m;
        }
        // Tests here check each refusal's own audit entry.
        s.audit.denials_per_minute = 1_000;
    })
    .await;
    Hook {
        app,
        secret: secret.into_bytes(),
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// `2026-11-20T08:00:00Z` plus `secs` seconds, as RFC 3339.
fn at(secs: i64) -> String {
    let base = chrono::DateTime::parse_from_rfc3339("2026-11-20T08:00:00Z").expect("base time");
    (base + chrono::TimeDelta::seconds(secs))
        .to_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The instant a stored version time (`Version.at`) names, whatever its precision.
fn instant(stored: &Value) -> chrono::DateTime<chrono::Utc> {
    let text = stored
        .as_str()
        .unwrap_or_else(|| panic!("not a time: {stored}"));
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("`{text}` is not RFC 3339: {e}"))
        .to_utc()
}

/// One event envelope; `data` is left out when null (`student.withdrawn`).
fn ev(id: &str, kind: &str, secs: i64, student: &str, data: Value) -> Value {
    let mut e =
        json!({"event_id": id, "type": kind, "occurred_at": at(secs), "student_id": student});
    if !data.is_null() {
        e["data"] = data;
    }
    e
}

/// A whole record that flags nothing. Numbers the server holds as floats are written
/// as floats so the stored record compares equal to it.
fn calm_record(student: &str) -> Value {
    json!({
        "student_id": student,
        "as_of": "2026-11-01",
        "school_id": "SCH-1",
        "grade_level": 9,
        "attendance": {"days_enrolled": 50.0, "days_present": 50.0},
        "courses": [{"course_id": "ALG1", "title": "Algebra I", "subject": "math", "grade_pct": 85.0}],
        "gpa": 3.2,
        "assessments": [{"name": "Screener", "subject": "reading", "percentile": 55.0, "date": "2026-09-15"}],
        "behavior": {"office_referrals": 0, "suspensions_in_school": 0, "suspensions_out_of_school": 0},
        "sel": {"screener": "DESSA-mini", "t_score": 52.0, "date": "2026-10-01"}
    })
}

/// Rule ids that fired in a decision.
fn fired(decision: &Value) -> Vec<String> {
    let mut ids = crate::helpers::fired(decision);
    ids.sort();
    ids
}

impl Hook {
    /// POST `body` with `header` as `X-Intervene-Signature` (none when `None`).
    async fn post_with(&self, body: &str, header: Option<&str>, content_type: &str) -> Response {
        let mut rb = self
            .app
            .client
            .post(self.app.url(HOOK))
            .header("content-type", content_type)
            .body(body.to_string());
        if let Some(h) = header {
            rb = rb.header("x-intervene-signature", h);
        }
        rb.send().await.expect("POST webhook")
    }

    /// POST `body` signed now with the app's secret.
    async fn post_signed(&self, body: &str) -> Response {
        let header = sign(&self.secret, now(), body.as_bytes());
        self.post_with(body, Some(&header), "application/json")
            .await
    }

    /// Send an event and return the outcome, asserting a 200.
    async fn send(&self, event: &Value) -> Value {
        let resp = self.post_signed(&event.to_string()).await;
        json_ok(resp).await
    }

    /// Send an event that must be applied; returns its decision.
    async fn apply(&self, event: &Value) -> Value {
        let out = self.send(event).await;
        assert_eq!(out["status"], "applied", "not applied: {event} → {out}");
        assert_eq!(out["duplicate"], false, "{out}");
        assert!(
            out["decision"].is_object(),
            "an applied event has a decision: {out}"
        );
        out["decision"].clone()
    }

    /// `GET /v1/students/{id}`; `None` on 404.
    async fn student(&self, id: &str) -> Option<Value> {
        let resp = self.app.get(&format!("/v1/students/{id}")).await;
        if resp.status() == 404 {
            assert_problem(resp, 404, &[id]).await;
            return None;
        }
        Some(json_ok(resp).await)
    }

    async fn record(&self, id: &str) -> Value {
        self.student(id)
            .await
            .unwrap_or_else(|| panic!("no snapshot for {id}"))["record"]
            .clone()
    }

    /// The student's whole decision history, newest first.
    async fn decisions(&self, id: &str) -> Vec<Value> {
        collect_pages(
            &self.app,
            &format!("/v1/students/{id}/decisions"),
            "",
            200,
            "decisions",
        )
        .await
    }

    async fn audit_kind(&self, kind: &str) -> Vec<Value> {
        self.app.audit_all(&format!("kind={kind}"), 500).await
    }
}

// ---------------------------------------------------------------------------
// Signatures
// ---------------------------------------------------------------------------

#[tokio::test]
async fn only_a_good_signature_is_accepted_and_each_refusal_is_audited() {
    // Keys configured: the webhook needs no bearer key, only its signature.
    let h = spawn_hooked(all_keys(), None).await;
    h.apply(&ev(
        "evt-sig-0",
        "student.snapshot",
        0,
        "S-SIG",
        calm_record("S-SIG"),
    ))
    .await;
    let before = h.record("S-SIG").await;

    let event = ev(
        "evt-sig-1",
        "attendance.updated",
        60,
        "S-SIG",
        json!({"days_enrolled": 50.0, "days_present": 30.0}),
    );
    let body = event.to_string();
    let t = now();
    let good = sign(&h.secret, t, body.as_bytes());
    let hex_sig = good.split_once("v1=").expect("v1").1.to_string();
    let tampered = body.replace("\"days_present\":30.0", "\"days_present\":31.0");
    assert_ne!(tampered, body, "the tampering changed the body");

    // (case, header, body, audited reason, words the problem's detail must hold)
    let cases: Vec<(&str, Option<String>, String, &str, &str)> = vec![
        (
            "wrong secret",
            Some(sign(b"not-the-secret", t, body.as_bytes())),
            body.clone(),
            "signature mismatch",
            "does not match",
        ),
        (
            "tampered body",
            Some(good.clone()),
            tampered,
            "signature mismatch",
            "does not match",
        ),
        (
            "stale",
            Some(sign(&h.secret, t - 400, body.as_bytes())),
            body.clone(),
            "signature outside the replay window",
            "replay window",
        ),
        (
            "future",
            Some(sign(&h.secret, t + 400, body.as_bytes())),
            body.clone(),
            "signature outside the replay window",
            "replay window",
        ),
        (
            "missing header",
            None,
            body.clone(),
            "missing signature",
            "missing",
        ),
        (
            "malformed: no key=value",
            Some("garbage".into()),
            body.clone(),
            "malformed signature",
            "malformed",
        ),
        (
            "malformed: t not a number",
            Some(format!("t=soon,v1={hex_sig}")),
            body.clone(),
            "malformed signature",
            "malformed",
        ),
        (
            "malformed: v1 not hex",
            Some(format!("t={t},v1=zz")),
            body.clone(),
            "malformed signature",
            "malformed",
        ),
        (
            "malformed: no v1",
            Some(format!("t={t}")),
            body.clone(),
            "malformed signature",
            "malformed",
        ),
        (
            "malformed: no t",
            Some(format!("v1={hex_sig}")),
            body.clone(),
            "malformed signature",
            "malformed",
        ),
        (
            "malformed: empty",
            Some(String::new()),
            body.clone(),
            "malformed signature",
            "malformed",
        ),
    ];
    let mut denied_count = h.audit_kind("auth.denied").await.len();
    for (name, header, body, reason, needle) in &cases {
        let resp = h
            .post_with(body, header.as_deref(), "application/json")
            .await;
        let p = assert_problem(resp, 401, &[*needle]).await;
        assert!(
            p["type"]
                .as_str()
                .is_some_and(|t| t.ends_with("unauthorized")),
            "{name}: {p}"
        );
        let denied = h.audit_kind("auth.denied").await;
        assert_eq!(
            denied.len(),
            denied_count + 1,
            "{name}: exactly one auth.denied entry"
        );
        denied_count += 1;
        let newest = &denied[0];
        assert_eq!(newest["payload"]["reason"], *reason, "{name}: {newest}");
        assert_eq!(newest["payload"]["path"], HOOK, "{name}: {newest}");
        assert_eq!(newest["payload"]["method"], "POST", "{name}: {newest}");
        assert_eq!(newest["actor"], "sis-webhook", "{name}: {newest}");
        assert!(
            !newest
                .to_string()
                .contains(std::str::from_utf8(&h.secret).expect("utf8")),
            "{name}: the secret is in the audit log"
        );
    }

    // Nothing was applied, decided, marked stale or remembered.
    assert_eq!(
        h.record("S-SIG").await,
        before,
        "a refused event changed the snapshot"
    );
    assert_eq!(
        h.decisions("S-SIG").await.len(),
        1,
        "a refused event made a decision"
    );
    assert!(h.audit_kind("event.stale").await.is_empty());
    // The event id was not recorded: the same event, signed properly, now applies.
    let resp = h.post_with(&body, Some(&good), "application/json").await;
    let out = json_ok(resp).await;
    assert_eq!(out["status"], "applied", "{out}");
    assert_eq!(out["duplicate"], false, "{out}");
    assert_eq!(h.record("S-SIG").await["attendance"]["days_present"], 30.0);
    assert_eq!(h.decisions("S-SIG").await.len(), 2);
    // A good signature is not audited as a denial.
    assert_eq!(h.audit_kind("auth.denied").await.len(), denied_count);
}

#[tokio::test]
async fn a_signature_inside_the_window_either_way_is_accepted() {
    let h = spawn_hooked(vec![], None).await;
    for (i, skew) in [-290i64, 290].into_iter().enumerate() {
        let student = format!("S-WIN-{i}");
        let body = ev(
            &format!("evt-win-{i}"),
            "student.snapshot",
            0,
            &student,
            calm_record(&student),
        )
        .to_string();
        let header = sign(&h.secret, now() + skew, body.as_bytes());
        let out = json_ok(h.post_with(&body, Some(&header), "application/json").await).await;
        assert_eq!(out["status"], "applied", "skew {skew}: {out}");
    }
    // Secret rotation: several v1 values, one of them right.
    let body = ev(
        "evt-win-rot",
        "student.snapshot",
        0,
        "S-WIN-R",
        calm_record("S-WIN-R"),
    )
    .to_string();
    let t = now();
    let right = sign(&h.secret, t, body.as_bytes());
    let wrong = sign(b"old-secret", t, body.as_bytes());
    let header = format!("{},{}", wrong, right.split_once(',').expect("two parts").1);
    let out = json_ok(h.post_with(&body, Some(&header), "application/json").await).await;
    assert_eq!(out["status"], "applied", "{out}");
    assert!(h.audit_kind("auth.denied").await.is_empty());
}

#[tokio::test]
async fn an_absurd_signature_timestamp_is_a_401_not_a_crash() {
    let h = spawn_hooked(vec![], None).await;
    let body = ev(
        "evt-abs",
        "student.snapshot",
        0,
        "S-ABS",
        calm_record("S-ABS"),
    )
    .to_string();
    let zeros = "00".repeat(32);
    for t in [
        "-9223372036854775808",
        "-9223372036854775000",
        "9223372036854775807",
    ] {
        let header = format!("t={t},v1={zeros}");
        let resp = h
            .app
            .client
            .post(h.app.url(HOOK))
            .header("content-type", "application/json")
            .header("x-intervene-signature", &header)
            .body(body.clone())
            .send()
            .await
            .unwrap_or_else(|e| panic!("t={t}: no answer from the server: {e}"));
        assert_problem(resp, 401, &["replay window"]).await;
    }
    h.app.assert_healthy().await;
    assert!(h.student("S-ABS").await.is_none());
}

// ---------------------------------------------------------------------------
// Idempotency, order, concurrency
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_repeated_event_answers_with_the_first_result_and_decides_once() {
    let h = spawn_hooked(vec![], None).await;
    h.apply(&ev(
        "evt-dup-0",
        "student.snapshot",
        0,
        "S-DUP",
        calm_record("S-DUP"),
    ))
    .await;
    let e1 = ev(
        "evt-dup-1",
        "attendance.updated",
        60,
        "S-DUP",
        json!({"days_enrolled": 50.0, "days_present": 44.0}),
    );
    let first = h.send(&e1).await;
    assert_eq!(first["status"], "applied");
    assert_eq!(first["duplicate"], false);
    let second = h.send(&e1).await;
    assert_eq!(second["duplicate"], true, "{second}");
    assert_eq!(second["status"], first["status"]);
    assert_eq!(second["event_id"], "evt-dup-1");
    assert_eq!(
        second["decision"]["decision_id"],
        first["decision"]["decision_id"]
    );
    assert_eq!(
        second["decision"], first["decision"],
        "the duplicate answers with the first result"
    );

    // The same id with different data is still the first event: nothing changes.
    let changed = ev(
        "evt-dup-1",
        "attendance.updated",
        90,
        "S-DUP",
        json!({"days_enrolled": 50.0, "days_present": 10.0}),
    );
    let third = h.send(&changed).await;
    assert_eq!(third["duplicate"], true, "{third}");
    assert_eq!(
        third["decision"]["decision_id"],
        first["decision"]["decision_id"]
    );
    assert_eq!(h.record("S-DUP").await["attendance"]["days_present"], 44.0);

    let history = h.decisions("S-DUP").await;
    assert_eq!(
        history.len(),
        2,
        "snapshot + one attendance decision: {history:?}"
    );
    let from_e1: Vec<&Value> = history
        .iter()
        .filter(|d| d["source"]["event_id"] == "evt-dup-1")
        .collect();
    assert_eq!(from_e1.len(), 1);
    assert_eq!(
        from_e1[0]["decision"]["decision_id"],
        first["decision"]["decision_id"]
    );

    // Ten copies of one event at once: one is applied, nine answer with its result.
    let e2 = ev(
        "evt-dup-2",
        "sel.screened",
        120,
        "S-DUP",
        json!({"screener": "DESSA-mini", "t_score": 45.0}),
    );
    let answers: Vec<Value> = join_all((0..10).map(|_| h.send(&e2))).await;
    let originals = answers.iter().filter(|a| a["duplicate"] == false).count();
    assert_eq!(originals, 1, "exactly one copy is applied: {answers:?}");
    let ids: Vec<&Value> = answers
        .iter()
        .map(|a| &a["decision"]["decision_id"])
        .collect();
    assert!(
        ids.iter().all(|id| *id == ids[0] && id.is_string()),
        "one decision id: {ids:?}"
    );
    let history = h.decisions("S-DUP").await;
    assert_eq!(history.len(), 3, "{history:?}");
    assert_eq!(
        history
            .iter()
            .filter(|d| d["source"]["event_id"] == "evt-dup-2")
            .count(),
        1
    );
}

#[tokio::test]
async fn an_older_section_update_is_stale_and_does_not_roll_back() {
    let h = spawn_hooked(vec![], None).await;
    let s = "S-OOO";
    h.apply(&ev("evt-ooo-0", "student.snapshot", 0, s, calm_record(s)))
        .await;

    // (section name in the record, newer event at T2, older event at T1 < T2, check)
    let t2_att = json!({"days_enrolled": 60.0, "days_present": 48.0});
    let t1_att = json!({"days_enrolled": 55.0, "days_present": 54.0});
    let newer = h
        .apply(&ev(
            "evt-ooo-att-2",
            "attendance.updated",
            200,
            s,
            t2_att.clone(),
        ))
        .await;
    assert!(fired(&newer).contains(&"severe-chronic-absence".to_string()));
    let stale = h
        .send(&ev("evt-ooo-att-1", "attendance.updated", 100, s, t1_att))
        .await;
    assert_eq!(stale["status"], "stale", "{stale}");
    assert_eq!(stale["duplicate"], false);
    assert!(
        stale.get("decision").is_none_or(Value::is_null),
        "a stale event decides nothing: {stale}"
    );
    let snap = h.student(s).await.expect("snapshot");
    assert_eq!(
        snap["record"]["attendance"], t2_att,
        "T2's attendance is kept"
    );
    assert_eq!(snap["versions"]["attendance"]["event_id"], "evt-ooo-att-2");
    assert_eq!(
        instant(&snap["versions"]["attendance"]["at"]),
        instant(&json!(at(200))),
        "the attendance part is at T2"
    );
    assert_eq!(
        snap["latest_decision"]["decision"]["decision_id"], newer["decision_id"],
        "the latest decision is still T2's"
    );
    let stale_entries = h.audit_kind("event.stale").await;
    assert_eq!(stale_entries.len(), 1, "{stale_entries:?}");
    assert_eq!(
        stale_entries[0]["payload"]["event"]["event_id"],
        "evt-ooo-att-1"
    );
    assert_eq!(stale_entries[0]["payload"]["student_id"], s);
    // Stale is remembered like any result: a repeat is a duplicate of "stale".
    let again = h
        .send(&ev(
            "evt-ooo-att-1",
            "attendance.updated",
            100,
            s,
            json!({"days_enrolled": 55.0, "days_present": 54.0}),
        ))
        .await;
    assert_eq!(again["status"], "stale");
    assert_eq!(again["duplicate"], true);
    assert_eq!(
        h.audit_kind("event.stale").await.len(),
        1,
        "a duplicate is not audited again"
    );

    // The same for the other replaceable sections.
    h.apply(&ev(
        "evt-ooo-sel-2",
        "sel.screened",
        300,
        s,
        json!({"t_score": 60.0}),
    ))
    .await;
    let st = h
        .send(&ev(
            "evt-ooo-sel-1",
            "sel.screened",
            250,
            s,
            json!({"t_score": 30.0}),
        ))
        .await;
    assert_eq!(st["status"], "stale");
    h.apply(&ev(
        "evt-ooo-crs-2",
        "course_grade.posted",
        300,
        s,
        json!({"course_id": "ALG1", "subject": "math", "grade_pct": 91.0}),
    ))
    .await;
    let st = h
        .send(&ev(
            "evt-ooo-crs-1",
            "course_grade.posted",
            250,
            s,
            json!({"course_id": "ALG1", "subject": "math", "grade_pct": 20.0}),
        ))
        .await;
    assert_eq!(st["status"], "stale");
    h.apply(&ev(
        "evt-ooo-asm-2",
        "assessment.scored",
        300,
        s,
        json!({"name": "Screener", "subject": "reading", "percentile": 70.0, "date": "2026-09-15"}),
    ))
    .await;
    let st = h.send(&ev("evt-ooo-asm-1", "assessment.scored", 250, s, json!({"name": "Screener", "subject": "reading", "percentile": 3.0, "date": "2026-09-15"}))).await;
    assert_eq!(st["status"], "stale");
    let rec = h.record(s).await;
    assert_eq!(rec["sel"]["t_score"], 60.0);
    assert_eq!(rec["courses"][0]["grade_pct"], 91.0);
    assert_eq!(rec["assessments"][0]["percentile"], 70.0);
    assert_eq!(h.audit_kind("event.stale").await.len(), 4);

    // A late whole snapshot takes only the parts it is newer for.
    let mut late = calm_record(s);
    late["gpa"] = json!(1.5);
    late["attendance"] = json!({"days_enrolled": 10.0, "days_present": 10.0});
    h.apply(&ev("evt-ooo-snap-late", "student.snapshot", 150, s, late))
        .await;
    let rec = h.record(s).await;
    assert_eq!(
        rec["gpa"], 1.5,
        "the profile was set at T=0, so the T=150 snapshot replaces it"
    );
    assert_eq!(
        rec["attendance"], t2_att,
        "attendance from T=200 is not rolled back by a T=150 snapshot"
    );
    assert_eq!(rec["sel"]["t_score"], 60.0, "SEL from T=300 stays");
    assert_eq!(
        rec["courses"][0]["grade_pct"], 91.0,
        "ALG1 from T=300 stays"
    );
    assert_eq!(
        rec["assessments"][0]["percentile"], 70.0,
        "the T=300 result stays"
    );
}

#[tokio::test]
async fn concurrent_incidents_for_one_student_all_count() {
    let h = spawn_hooked(vec![], None).await;
    let s = "S-CONC";
    let mut rec = calm_record(s);
    rec["behavior"] =
        json!({"office_referrals": 3, "suspensions_in_school": 1, "suspensions_out_of_school": 0});
    h.apply(&ev("evt-conc-snap", "student.snapshot", 0, s, rec))
        .await;
    let events: Vec<Value> = (0..100)
        .map(|i| {
            let suspension = if i % 10 == 0 { "in_school" } else { "none" };
            ev(
                &format!("evt-conc-{i:03}"),
                "behavior.incident",
                60 + i,
                s,
                json!({"date": "2026-11-20", "type": "disruption", "referral": true, "suspension": suspension}),
            )
        })
        .collect();
    let answers = join_all(events.iter().map(|e| h.send(e))).await;
    for a in &answers {
        assert_eq!(a["status"], "applied", "{a}");
        assert_eq!(a["duplicate"], false, "{a}");
    }
    let behavior = h.record(s).await["behavior"].clone();
    assert_eq!(
        behavior["office_referrals"], 103,
        "no lost update: {behavior}"
    );
    assert_eq!(behavior["suspensions_in_school"], 11, "{behavior}");
    assert_eq!(behavior["suspensions_out_of_school"], 0, "{behavior}");
    assert_eq!(h.decisions(s).await.len(), 101);
    // The latest decision saw every incident.
    let latest = h.student(s).await.expect("snapshot")["latest_decision"]["decision"].clone();
    assert!(
        fired(&latest).contains(&"frequent-referrals".to_string()),
        "{latest}"
    );
    // Serialised: each event was decided on its own count, 4 to 103, each once.
    let mut counts: Vec<f64> = answers
        .iter()
        .map(|a| {
            a["decision"]["flags"]
                .as_array()
                .and_then(|flags| {
                    flags
                        .iter()
                        .find_map(|f| f["inputs"]["student.behavior.office_referrals"].as_f64())
                })
                .unwrap_or_else(|| panic!("no referral count in the decision: {a}"))
        })
        .collect();
    counts.sort_by(f64::total_cmp);
    let expected: Vec<f64> = (4..=103).map(f64::from).collect();
    assert_eq!(counts, expected, "each event saw a distinct count");
    assert_eq!(h.app.verify().await["ok"], true);
}

// ---------------------------------------------------------------------------
// Each event type
// ---------------------------------------------------------------------------

/// Snapshot a calm student and return the hook.
async fn with_calm_student(s: &str) -> Hook {
    let h = spawn_hooked(vec![], None).await;
    let d = h
        .apply(&ev(
            &format!("{s}-snap"),
            "student.snapshot",
            0,
            s,
            calm_record(s),
        ))
        .await;
    assert!(fired(&d).is_empty(), "the calm record flags nothing: {d}");
    h
}

/// The latest decision on `GET /v1/students/{id}` is `decision`.
async fn assert_latest(h: &Hook, s: &str, decision: &Value) {
    let snap = h.student(s).await.expect("snapshot");
    assert_eq!(
        snap["latest_decision"]["decision"]["decision_id"], decision["decision_id"],
        "{snap}"
    );
    assert_eq!(fired(&snap["latest_decision"]["decision"]), fired(decision));
}

#[tokio::test]
async fn student_snapshot_replaces_the_record() {
    let s = "S-SNAP";
    let h = with_calm_student(s).await;
    let mut next = calm_record(s);
    next["gpa"] = json!(1.5);
    next["grade_level"] = json!(10);
    next["courses"] = json!([{"course_id": "ENG1", "subject": "ela", "grade_pct": 88.0}]);
    next["assessments"] = json!([]);
    next["sel"] = json!({"t_score": 55.0});
    let d = h
        .apply(&ev("evt-snap-2", "student.snapshot", 100, s, next.clone()))
        .await;
    assert_eq!(
        h.record(s).await,
        next,
        "the snapshot replaces the whole record"
    );
    assert_eq!(fired(&d), vec!["low-gpa"]);
    assert_latest(&h, s, &d).await;
    // A section the new snapshot leaves out is gone.
    let bare = json!({"student_id": s, "gpa": 3.0});
    let d = h
        .apply(&ev("evt-snap-3", "student.snapshot", 200, s, bare.clone()))
        .await;
    assert_eq!(
        h.record(s).await,
        bare,
        "sections the snapshot leaves out are gone"
    );
    assert!(fired(&d).is_empty());
}

#[tokio::test]
async fn attendance_updated_replaces_the_attendance_section() {
    let s = "S-ATT";
    let h = with_calm_student(s).await;
    let before = h.record(s).await;
    let att = json!({"days_enrolled": 60.0, "days_present": 48.0, "tardies": 3.0});
    let d = h
        .apply(&ev("evt-att-1", "attendance.updated", 100, s, att.clone()))
        .await;
    let rec = h.record(s).await;
    assert_eq!(
        rec["attendance"], att,
        "the section is replaced, not merged"
    );
    let mut expected = before.clone();
    expected["attendance"] = att;
    assert_eq!(rec, expected, "nothing else changed");
    assert_eq!(fired(&d), vec!["severe-chronic-absence"], "20% absent");
    assert_latest(&h, s, &d).await;
    // Back to 6% absent: watch only.
    let d = h
        .apply(&ev(
            "evt-att-2",
            "attendance.updated",
            200,
            s,
            json!({"days_enrolled": 50.0, "days_present": 47.0}),
        ))
        .await;
    assert_eq!(fired(&d), vec!["attendance-watch"]);
    assert!(
        h.record(s).await["attendance"].get("tardies").is_none(),
        "the old tardies went with the old section"
    );
}

#[tokio::test]
async fn course_grade_posted_upserts_by_course_id() {
    let s = "S-CRS";
    let h = with_calm_student(s).await;
    let d = h
        .apply(&ev("evt-crs-1", "course_grade.posted", 100, s, json!({"course_id": "ALG1", "title": "Algebra I", "subject": "math", "grade_pct": 45.0})))
        .await;
    assert_eq!(fired(&d), vec!["course-failure"], "failing math");
    let courses = h.record(s).await["courses"].clone();
    assert_eq!(
        courses.as_array().map(Vec::len),
        Some(1),
        "ALG1 was replaced, not added: {courses}"
    );
    assert_eq!(courses[0]["grade_pct"], 45.0);
    assert_latest(&h, s, &d).await;
    // A new course is added.
    let d = h
        .apply(&ev(
            "evt-crs-2",
            "course_grade.posted",
            200,
            s,
            json!({"course_id": "BIO1", "subject": "science", "grade_pct": 90.0}),
        ))
        .await;
    assert_eq!(fired(&d), vec!["course-failure"]);
    let courses = h.record(s).await["courses"].clone();
    let ids: Vec<&str> = courses
        .as_array()
        .expect("courses")
        .iter()
        .map(|c| c["course_id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, vec!["ALG1", "BIO1"]);
    // A passing grade for ALG1 clears the flag.
    let d = h
        .apply(&ev(
            "evt-crs-3",
            "course_grade.posted",
            300,
            s,
            json!({"course_id": "ALG1", "subject": "math", "grade_pct": 72.0}),
        ))
        .await;
    assert!(fired(&d).is_empty(), "{d}");
    let courses = h.record(s).await["courses"].clone();
    assert_eq!(courses.as_array().map(Vec::len), Some(2));
    assert_eq!(
        courses[0],
        json!({"course_id": "ALG1", "subject": "math", "grade_pct": 72.0}),
        "the whole course is replaced"
    );
}

#[tokio::test]
async fn assessment_scored_upserts_by_name_and_date() {
    let s = "S-ASM";
    let h = with_calm_student(s).await;
    let newer =
        json!({"name": "Screener", "subject": "reading", "percentile": 8.0, "date": "2026-11-10"});
    let d = h
        .apply(&ev("evt-asm-1", "assessment.scored", 100, s, newer.clone()))
        .await;
    assert_eq!(
        fired(&d),
        vec!["reading-well-below-benchmark"],
        "percentile 8"
    );
    let asm = h.record(s).await["assessments"].clone();
    assert_eq!(
        asm.as_array().map(Vec::len),
        Some(2),
        "a new date is a new result: {asm}"
    );
    assert_eq!(asm[1], newer);
    assert_latest(&h, s, &d).await;
    // The same name and date again: replaced, not added.
    let d = h
        .apply(&ev("evt-asm-2", "assessment.scored", 200, s, json!({"name": "Screener", "subject": "reading", "percentile": 30.0, "date": "2026-11-10"})))
        .await;
    assert!(fired(&d).is_empty(), "{d}");
    let asm = h.record(s).await["assessments"].clone();
    assert_eq!(asm.as_array().map(Vec::len), Some(2), "{asm}");
    assert_eq!(asm[1]["percentile"], 30.0);
    assert_eq!(
        asm[0]["percentile"], 55.0,
        "the September result is untouched"
    );
    // Another name on the same date is a different result.
    let d = h
        .apply(&ev("evt-asm-3", "assessment.scored", 300, s, json!({"name": "Quick Math", "subject": "math", "percentile": 15.0, "date": "2026-11-10"})))
        .await;
    assert_eq!(fired(&d), vec!["math-below-benchmark"]);
    assert_eq!(
        h.record(s).await["assessments"].as_array().map(Vec::len),
        Some(3)
    );
}

#[tokio::test]
async fn behavior_incident_adds_to_the_counts() {
    let s = "S-BEH";
    let h = with_calm_student(s).await;
    let d = h
        .apply(&ev("evt-beh-1", "behavior.incident", 100, s, json!({"date": "2026-11-20", "type": "fight", "referral": true, "suspension": "out_of_school"})))
        .await;
    assert_eq!(fired(&d), vec!["suspension"]);
    let b = h.record(s).await["behavior"].clone();
    assert_eq!(
        b,
        json!({"office_referrals": 1, "suspensions_in_school": 0, "suspensions_out_of_school": 1})
    );
    assert_latest(&h, s, &d).await;
    // Defaults: no referral, no suspension.
    let d = h
        .apply(&ev(
            "evt-beh-2",
            "behavior.incident",
            200,
            s,
            json!({"date": "2026-11-21", "type": "tardy"}),
        ))
        .await;
    assert_eq!(fired(&d), vec!["suspension"]);
    assert_eq!(
        h.record(s).await["behavior"],
        b,
        "an incident without referral or suspension adds nothing"
    );
    let d = h
        .apply(&ev("evt-beh-3", "behavior.incident", 300, s, json!({"date": "2026-11-22", "type": "defiance", "referral": true, "suspension": "in_school"})))
        .await;
    assert_eq!(
        fired(&d),
        vec!["repeated-referrals", "repeated-suspensions"]
    );
    assert_eq!(
        h.record(s).await["behavior"],
        json!({"office_referrals": 2, "suspensions_in_school": 1, "suspensions_out_of_school": 1})
    );
    // A newer snapshot resets the baseline: incidents before it are in its counts.
    let mut rec = calm_record(s);
    rec["behavior"] =
        json!({"office_referrals": 5, "suspensions_in_school": 0, "suspensions_out_of_school": 0});
    h.apply(&ev("evt-beh-snap", "student.snapshot", 400, s, rec))
        .await;
    assert_eq!(h.record(s).await["behavior"]["office_referrals"], 5);
    // A late incident from before that snapshot does not count twice.
    let late = h
        .send(&ev(
            "evt-beh-late",
            "behavior.incident",
            350,
            s,
            json!({"date": "2026-11-22", "type": "fight", "referral": true}),
        ))
        .await;
    assert!(
        ["applied", "stale"].contains(&late["status"].as_str().unwrap_or("")),
        "{late}"
    );
    assert_eq!(
        h.record(s).await["behavior"]["office_referrals"],
        5,
        "{late}"
    );
    let d = h
        .apply(&ev(
            "evt-beh-4",
            "behavior.incident",
            500,
            s,
            json!({"date": "2026-11-23", "type": "fight", "referral": true}),
        ))
        .await;
    assert_eq!(h.record(s).await["behavior"]["office_referrals"], 6);
    assert_eq!(fired(&d), vec!["frequent-referrals"]);
}

#[tokio::test]
async fn sel_screened_replaces_the_sel_section() {
    let s = "S-SEL";
    let h = with_calm_student(s).await;
    let sel = json!({"screener": "DESSA-mini", "t_score": 38.0, "date": "2026-11-15"});
    let d = h
        .apply(&ev("evt-sel-1", "sel.screened", 100, s, sel.clone()))
        .await;
    assert_eq!(fired(&d), vec!["sel-need-for-instruction"]);
    assert_eq!(h.record(s).await["sel"], sel);
    assert_latest(&h, s, &d).await;
    let d = h
        .apply(&ev(
            "evt-sel-2",
            "sel.screened",
            200,
            s,
            json!({"t_score": 41.0}),
        ))
        .await;
    assert!(fired(&d).is_empty());
    assert_eq!(
        h.record(s).await["sel"],
        json!({"t_score": 41.0}),
        "replaced whole"
    );
}

#[tokio::test]
async fn student_withdrawn_removes_the_snapshot_but_keeps_the_history() {
    let s = "S-WDR";
    let h = with_calm_student(s).await;
    h.apply(&ev(
        "evt-wdr-1",
        "sel.screened",
        100,
        s,
        json!({"t_score": 30.0}),
    ))
    .await;
    let out = h
        .send(&ev("evt-wdr-2", "student.withdrawn", 200, s, Value::Null))
        .await;
    assert_eq!(out["status"], "withdrawn", "{out}");
    assert_eq!(out["duplicate"], false);
    assert!(
        h.student(s).await.is_none(),
        "GET /v1/students/{s} is 404 after withdrawal"
    );
    let history = h.decisions(s).await;
    assert_eq!(history.len(), 2, "the history stays: {history:?}");
    let audited = h.audit_kind("student.withdrawn").await;
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0]["payload"]["event"]["event_id"], "evt-wdr-2");
    // Repeated: the first answer.
    let again = h
        .send(&ev("evt-wdr-2", "student.withdrawn", 200, s, Value::Null))
        .await;
    assert_eq!(again["status"], "withdrawn");
    assert_eq!(again["duplicate"], true);
    // A late event from before the withdrawal is stale and brings nothing back.
    let late = h
        .send(&ev(
            "evt-wdr-late",
            "attendance.updated",
            150,
            s,
            json!({"days_enrolled": 10.0, "days_present": 10.0}),
        ))
        .await;
    assert_eq!(late["status"], "stale", "{late}");
    assert!(h.student(s).await.is_none());
    // An incident after it has no student to count against.
    let resp = h
        .post_signed(
            &ev(
                "evt-wdr-inc",
                "behavior.incident",
                300,
                s,
                json!({"date": "2026-11-20", "type": "fight", "referral": true}),
            )
            .to_string(),
        )
        .await;
    assert_problem(resp, 404, &[s]).await;
    // A newer snapshot re-enrols the student from scratch.
    let fresh = json!({"student_id": s, "gpa": 3.5});
    let d = h
        .apply(&ev(
            "evt-wdr-back",
            "student.snapshot",
            400,
            s,
            fresh.clone(),
        ))
        .await;
    assert_eq!(
        h.record(s).await,
        fresh,
        "nothing from before the withdrawal comes back"
    );
    assert!(fired(&d).is_empty());
    assert_eq!(h.decisions(s).await.len(), 3);
}

#[tokio::test]
async fn every_decision_from_an_event_names_the_event() {
    let h = spawn_hooked(vec![], None).await;
    let s = "S-SRC";
    let events = [
        ev("evt-src-1", "student.snapshot", 0, s, calm_record(s)),
        ev(
            "evt-src-2",
            "attendance.updated",
            10,
            s,
            json!({"days_enrolled": 50.0, "days_present": 44.0}),
        ),
        ev(
            "evt-src-3",
            "course_grade.posted",
            20,
            s,
            json!({"course_id": "ALG1", "subject": "math", "grade_pct": 50.0}),
        ),
        ev(
            "evt-src-4",
            "assessment.scored",
            30,
            s,
            json!({"name": "Screener", "subject": "math", "percentile": 5.0, "date": "2026-11-01"}),
        ),
        ev(
            "evt-src-5",
            "behavior.incident",
            40,
            s,
            json!({"date": "2026-11-20", "type": "fight", "referral": true}),
        ),
        ev("evt-src-6", "sel.screened", 50, s, json!({"t_score": 35.0})),
    ];
    let mut by_event = BTreeMap::new();
    for e in &events {
        let d = h.apply(e).await;
        by_event.insert(
            e["event_id"].as_str().expect("id").to_string(),
            (e["type"].clone(), d["decision_id"].clone()),
        );
    }
    // One stale event: no decision.
    let st = h
        .send(&ev(
            "evt-src-old",
            "sel.screened",
            45,
            s,
            json!({"t_score": 80.0}),
        ))
        .await;
    assert_eq!(st["status"], "stale");

    let entries = h
        .app
        .audit_all(&format!("kind=decision&student={s}"), 100)
        .await;
    assert_eq!(
        entries.len(),
        events.len(),
        "one decision per applied event: {entries:?}"
    );
    for e in &entries {
        let src = &e["payload"]["source"];
        assert_eq!(src["kind"], "event", "{e}");
        let id = src["event_id"]
            .as_str()
            .unwrap_or_else(|| panic!("no event_id in the source: {e}"));
        let (kind, decision_id) = by_event
            .get(id)
            .unwrap_or_else(|| panic!("unknown event id {id}"));
        assert_eq!(&src["event_type"], kind, "{e}");
        assert_eq!(&e["payload"]["decision_id"], decision_id, "{e}");
        assert_eq!(e["actor"], "sis-webhook", "{e}");
    }
    // The student's history carries the same source.
    for d in h.decisions(s).await {
        assert_eq!(d["source"]["kind"], "event");
        assert!(by_event.contains_key(d["source"]["event_id"].as_str().expect("event_id")));
    }
}

// ---------------------------------------------------------------------------
// Bad events
// ---------------------------------------------------------------------------

#[tokio::test]
async fn bad_events_are_refused_naming_the_problem_and_change_nothing() {
    let h = spawn_hooked(vec![], Some(4096)).await;
    let s = "S-BAD";
    h.apply(&ev(
        "evt-bad-snap",
        "student.snapshot",
        0,
        s,
        calm_record(s),
    ))
    .await;
    let before = h.student(s).await.expect("snapshot");
    let entries_before = h.app.verify().await["entries"].as_u64().expect("entries");

    // (case, body, status, words in detail, field in `errors` when it is a record problem)
    let att = |data: Value| ev("evt-bad-x", "attendance.updated", 100, s, data).to_string();
    let mut envelope_extra = ev(
        "evt-bad-x",
        "sel.screened",
        100,
        s,
        json!({"t_score": 30.0}),
    );
    envelope_extra["priority"] = json!("high");
    let mut no_id = ev(
        "evt-bad-x",
        "sel.screened",
        100,
        s,
        json!({"t_score": 30.0}),
    );
    no_id.as_object_mut().expect("object").remove("event_id");
    let mut bad_time = ev(
        "evt-bad-x",
        "sel.screened",
        100,
        s,
        json!({"t_score": 30.0}),
    );
    bad_time["occurred_at"] = json!("last tuesday");
    let mut mismatch = calm_record("S-OTHER");
    mismatch["gpa"] = json!(1.0);
    #[allow(clippy::type_complexity)]
    let cases: Vec<(&str, String, u16, Vec<&str>, Option<&str>)> = vec![
        (
            "unknown type",
            ev("evt-bad-x", "attendance.corrected", 100, s, json!({})).to_string(),
            422,
            vec!["attendance.corrected"],
            None,
        ),
        (
            "days_present a string",
            att(json!({"days_enrolled": 50.0, "days_present": "forty"})),
            422,
            vec!["data.days_present"],
            Some("data.days_present"),
        ),
        (
            "days_present missing",
            att(json!({"days_enrolled": 50.0})),
            422,
            vec!["days_present"],
            None,
        ),
        (
            "present over enrolled",
            att(json!({"days_enrolled": 50.0, "days_present": 60.0})),
            422,
            vec!["data.days_present"],
            Some("data.days_present"),
        ),
        (
            "unknown key in data",
            att(json!({"days_enrolled": 50.0, "days_present": 40.0, "excused": 2})),
            422,
            vec!["data", "excused"],
            None,
        ),
        (
            "grade over 100",
            ev(
                "evt-bad-x",
                "course_grade.posted",
                100,
                s,
                json!({"course_id": "ALG1", "grade_pct": 120.0}),
            )
            .to_string(),
            422,
            vec!["data.grade_pct"],
            Some("data.grade_pct"),
        ),
        (
            "percentile 101",
            ev(
                "evt-bad-x",
                "assessment.scored",
                100,
                s,
                json!({"name": "Screener", "subject": "reading", "percentile": 101.0}),
            )
            .to_string(),
            422,
            vec!["data.percentile"],
            Some("data.percentile"),
        ),
        (
            "unknown subject",
            ev(
                "evt-bad-x",
                "assessment.scored",
                100,
                s,
                json!({"name": "Screener", "subject": "art", "percentile": 50.0}),
            )
            .to_string(),
            422,
            vec!["data.subject"],
            Some("data.subject"),
        ),
        (
            "t_score out of range",
            ev(
                "evt-bad-x",
                "sel.screened",
                100,
                s,
                json!({"t_score": 180.0}),
            )
            .to_string(),
            422,
            vec!["data.t_score"],
            Some("data.t_score"),
        ),
        (
            "incident date",
            ev(
                "evt-bad-x",
                "behavior.incident",
                100,
                s,
                json!({"date": "yesterday", "type": "fight"}),
            )
            .to_string(),
            422,
            vec!["data.date"],
            Some("data.date"),
        ),
        (
            "incident suspension",
            ev(
                "evt-bad-x",
                "behavior.incident",
                100,
                s,
                json!({"date": "2026-11-20", "type": "fight", "suspension": "expelled"}),
            )
            .to_string(),
            422,
            vec!["data.suspension"],
            Some("data.suspension"),
        ),
        (
            "snapshot for another student",
            ev("evt-bad-x", "student.snapshot", 100, s, mismatch).to_string(),
            422,
            vec!["S-OTHER", s],
            None,
        ),
        (
            "snapshot with gpa 9",
            ev(
                "evt-bad-x",
                "student.snapshot",
                100,
                s,
                json!({"student_id": s, "gpa": 9.0}),
            )
            .to_string(),
            422,
            vec!["data.gpa"],
            Some("data.gpa"),
        ),
        (
            "bad occurred_at",
            bad_time.to_string(),
            422,
            vec!["occurred_at"],
            None,
        ),
        (
            "missing event_id",
            no_id.to_string(),
            422,
            vec!["event_id"],
            None,
        ),
        (
            "unknown envelope key",
            envelope_extra.to_string(),
            422,
            vec!["priority"],
            None,
        ),
        (
            "not JSON",
            "{\"event_id\": \"evt-bad-x\", ".to_string(),
            422,
            vec!["event envelope"],
            None,
        ),
        (
            "incident for an unknown student",
            ev(
                "evt-bad-x",
                "behavior.incident",
                100,
                "S-NOBODY",
                json!({"date": "2026-11-20", "type": "fight", "referral": true}),
            )
            .to_string(),
            404,
            vec!["S-NOBODY"],
            None,
        ),
        (
            "withdrawal of an unknown student",
            ev(
                "evt-bad-x",
                "student.withdrawn",
                100,
                "S-NOBODY",
                Value::Null,
            )
            .to_string(),
            404,
            vec!["S-NOBODY"],
            None,
        ),
        (
            "oversized",
            ev(
                "evt-bad-x",
                "student.snapshot",
                100,
                s,
                json!({"student_id": s, "extra": {"note": "x".repeat(5000)}}),
            )
            .to_string(),
            413,
            vec!["4096"],
            None,
        ),
    ];
    for (name, body, status, needles, field) in &cases {
        let resp = h.post_signed(body).await;
        let p = assert_problem(resp, *status, needles).await;
        if let Some(f) = field {
            assert!(
                error_fields(&p).iter().any(|x| x == f),
                "{name}: `errors` does not name `{f}`: {p}"
            );
        }
        if *name == "unknown key in data" {
            let fields = error_fields(&p);
            assert!(
                fields.iter().all(|f| f.starts_with("data")),
                "{name}: fields are inside `data`: {p}"
            );
        }
        let now_entries = h.app.verify().await["entries"].as_u64().expect("entries");
        assert_eq!(
            now_entries, entries_before,
            "{name}: a refused event wrote to the audit log"
        );
    }
    // Wrong content type with a good signature.
    let body = ev(
        "evt-bad-x",
        "sel.screened",
        100,
        s,
        json!({"t_score": 30.0}),
    )
    .to_string();
    let header = sign(&h.secret, now(), body.as_bytes());
    assert_problem(
        h.post_with(&body, Some(&header), "text/plain").await,
        415,
        &["application/json"],
    )
    .await;

    assert_eq!(
        h.student(s).await.expect("snapshot"),
        before,
        "a bad event changed the snapshot"
    );
    assert_eq!(h.decisions(s).await.len(), 1);
    assert!(h.student("S-NOBODY").await.is_none());
    assert!(h.student("S-OTHER").await.is_none());
    assert!(h.decisions("S-NOBODY").await.is_empty());
    assert!(h.audit_kind("event.stale").await.is_empty());
    // No refused event was remembered: its id is free for a good event.
    let out = h
        .send(&ev(
            "evt-bad-x",
            "sel.screened",
            100,
            s,
            json!({"t_score": 30.0}),
        ))
        .await;
    assert_eq!(out["status"], "applied", "{out}");
    assert_eq!(out["duplicate"], false, "{out}");
    h.app.assert_healthy().await;
}

#[tokio::test]
async fn webhooks_are_off_without_a_secret() {
    let var = format!("TEST_SECRET_WEBHOOKS_UNSET_{}", std::process::id());
    let app = spawn_app_with(vec![], |s| {
        s.webhook = Webhook {
            secret_env: var,
            replay_window_secs: 300,
        }
    })
    .await;
    let body = ev(
        "evt-off",
        "student.snapshot",
        0,
        "S-OFF",
        calm_record("S-OFF"),
    )
    .to_string();
    let resp = app
        .client
        .post(app.url(HOOK))
        .header("content-type", "application/json")
        .header("x-intervene-signature", sign(b"", now(), body.as_bytes()))
        .body(body)
        .send()
        .await
        .expect("POST");
    assert_problem(resp, 503, &["TEST_SECRET_WEBHOOKS_UNSET"]).await;
}

// ---------------------------------------------------------------------------
// Order-independence
// ---------------------------------------------------------------------------

/// A small deterministic generator (xorshift64*), so a failure replays exactly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, self.below(i + 1));
        }
    }
}

/// A recorded SIS stream: one snapshot per student, then mixed events with strictly
/// increasing `occurred_at`. The last student is withdrawn by its last event.
fn recorded_stream(students: &[String], mixed: usize, rng: &mut Rng) -> Vec<Value> {
    let mut out = Vec::new();
    let mut t = 0i64;
    for s in students {
        t += 30;
        out.push(ev(
            &format!("evt-eq-{s}-snap"),
            "student.snapshot",
            t,
            s,
            calm_record(s),
        ));
    }
    let withdrawn = students.last().expect("students").clone();
    for i in 0..mixed {
        t += 60;
        // The withdrawn student gets no events after its withdrawal (the last event).
        let s = &students[rng.below(students.len())];
        let id = format!("evt-eq-{i:03}");
        let e = match rng.below(6) {
            0 => {
                let enrolled = 40.0 + (i as f64);
                let present = enrolled - (rng.below(12) as f64);
                ev(
                    &id,
                    "attendance.updated",
                    t,
                    s,
                    json!({"days_enrolled": enrolled, "days_present": present, "tardies": rng.below(5) as f64}),
                )
            }
            1 => {
                let course = ["ALG1", "ENG1", "BIO1"][rng.below(3)];
                let subject = match course {
                    "ALG1" => "math",
                    "ENG1" => "ela",
                    _ => "science",
                };
                ev(
                    &id,
                    "course_grade.posted",
                    t,
                    s,
                    json!({"course_id": course, "subject": subject, "grade_pct": (35 + rng.below(60)) as f64}),
                )
            }
            2 => {
                let subject = ["reading", "math"][rng.below(2)];
                let date = ["2026-09-15", "2026-10-15", "2026-11-15"][rng.below(3)];
                ev(
                    &id,
                    "assessment.scored",
                    t,
                    s,
                    json!({"name": "Screener", "subject": subject, "percentile": rng.below(100) as f64, "date": date}),
                )
            }
            3 | 4 => {
                let suspension = ["none", "none", "in_school", "out_of_school"][rng.below(4)];
                ev(
                    &id,
                    "behavior.incident",
                    t,
                    s,
                    json!({"date": "2026-11-20", "type": "disruption", "referral": rng.chance(60), "suspension": suspension}),
                )
            }
            _ => ev(
                &id,
                "sel.screened",
                t,
                s,
                json!({"screener": "DESSA-mini", "t_score": (25 + rng.below(50)) as f64}),
            ),
        };
        out.push(e);
    }
    t += 60;
    out.push(ev(
        "evt-eq-withdrawn",
        "student.withdrawn",
        t,
        &withdrawn,
        Value::Null,
    ));
    out
}

/// The same events shuffled (each student's snapshot still before its other events),
/// with about a fifth of them sent again later.
fn shuffled_with_duplicates(stream: &[Value], rng: &mut Rng) -> Vec<Value> {
    let (snaps, mut rest): (Vec<Value>, Vec<Value>) = stream
        .iter()
        .cloned()
        .partition(|e| e["type"] == "student.snapshot");
    rng.shuffle(&mut rest);
    for snap in snaps {
        let first = rest
            .iter()
            .position(|e| e["student_id"] == snap["student_id"])
            .unwrap_or(rest.len());
        rest.insert(rng.below(first + 1), snap);
    }
    let mut out = rest.clone();
    for e in &rest {
        if rng.chance(20) {
            let pos = out.iter().position(|x| x == e).expect("present");
            let at = pos + 1 + rng.below(out.len() - pos);
            out.insert(at, e.clone());
        }
    }
    out
}

#[tokio::test]
async fn a_shuffled_stream_with_duplicates_ends_where_the_clean_stream_ends() {
    let students: Vec<String> = (0..5).map(|i| format!("S-EQ-{i}")).collect();
    let mut rng = Rng(0x5EED_1234_ABCD_0042);
    let stream = recorded_stream(&students, 55, &mut rng);
    let shuffled = shuffled_with_duplicates(&stream, &mut rng);
    assert!(stream.len() >= 60, "{}", stream.len());
    let dups = shuffled.len() - stream.len();
    assert!(
        dups >= stream.len() / 10,
        "about a fifth duplicated, got {dups}"
    );
    assert_ne!(
        shuffled
            .iter()
            .map(|e| e["event_id"].clone())
            .collect::<Vec<_>>(),
        stream
            .iter()
            .map(|e| e["event_id"].clone())
            .collect::<Vec<_>>()
    );

    let a = spawn_hooked(vec![], None).await;
    let b = spawn_hooked(vec![], None).await;
    for e in &stream {
        let out = a.send(e).await;
        let expected = if e["type"] == "student.withdrawn" {
            "withdrawn"
        } else {
            "applied"
        };
        assert_eq!(
            out["status"], expected,
            "in order, every event applies: {e} → {out}"
        );
    }
    let mut seen = std::collections::HashSet::new();
    for e in &shuffled {
        let out = b.send(e).await;
        let id = e["event_id"].as_str().expect("id").to_string();
        let repeat = !seen.insert(id);
        assert_eq!(out["duplicate"], repeat, "{e} → {out}");
        assert!(
            ["applied", "stale", "withdrawn"].contains(&out["status"].as_str().unwrap_or("")),
            "{out}"
        );
    }

    for s in &students {
        let sa = a.student(s).await;
        let sb = b.student(s).await;
        match (&sa, &sb) {
            (None, None) => {
                assert_eq!(
                    s,
                    students.last().expect("last"),
                    "only the withdrawn student is gone"
                );
                continue;
            }
            (Some(_), Some(_)) => {}
            _ => panic!("{s}: present in one app only: clean {sa:?}, shuffled {sb:?}"),
        }
        let (sa, sb) = (sa.expect("a"), sb.expect("b"));
        assert_eq!(
            sa["record"], sb["record"],
            "{s}: the shuffled stream ended in another record"
        );
        assert_eq!(sa["versions"], sb["versions"], "{s}: part versions differ");
        let fa = fired(&sa["latest_decision"]["decision"]);
        let fb = fired(&sb["latest_decision"]["decision"]);
        assert_eq!(fa, fb, "{s}: the latest decisions differ");
        // Each event of this student made at most one decision in B.
        let hist = b.decisions(s).await;
        let mut ids: Vec<&str> = hist
            .iter()
            .map(|d| d["source"]["event_id"].as_str().expect("event id"))
            .collect();
        let n = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), n, "{s}: an event decided twice");
    }
    assert_eq!(b.app.verify().await["ok"], true);
}

#[tokio::test]
async fn a_later_snapshot_without_a_course_wins_in_any_order() {
    let s = "S-ORD";
    let snap0 = ev("evt-ord-0", "student.snapshot", 0, s, calm_record(s));
    let bio = ev(
        "evt-ord-1",
        "course_grade.posted",
        100,
        s,
        json!({"course_id": "BIO1", "subject": "science", "grade_pct": 40.0}),
    );
    let snap2 = ev("evt-ord-2", "student.snapshot", 200, s, calm_record(s));
    let a = spawn_hooked(vec![], None).await;
    for e in [&snap0, &bio, &snap2] {
        a.send(e).await;
    }
    let b = spawn_hooked(vec![], None).await;
    for e in [&snap0, &snap2, &bio] {
        b.send(e).await;
    }
    let ra = a.record(s).await;
    let rb = b.record(s).await;
    assert_eq!(
        ra["courses"],
        calm_record(s)["courses"],
        "in order, the T=200 snapshot drops BIO1"
    );
    assert_eq!(
        ra, rb,
        "the T=100 course arriving after the T=200 snapshot came back"
    );
}

#[tokio::test]
async fn sub_millisecond_order_is_kept() {
    let h = spawn_hooked(vec![], None).await;
    let s = "S-MS";
    h.apply(&ev("evt-ms-0", "student.snapshot", 0, s, calm_record(s)))
        .await;
    let mut newer = ev(
        "evt-ms-b",
        "attendance.updated",
        0,
        s,
        json!({"days_enrolled": 50.0, "days_present": 49.0}),
    );
    newer["occurred_at"] = json!("2026-11-20T09:00:00.0002Z");
    let mut older = ev(
        "evt-ms-c",
        "attendance.updated",
        0,
        s,
        json!({"days_enrolled": 50.0, "days_present": 20.0}),
    );
    older["occurred_at"] = json!("2026-11-20T09:00:00.0001Z");
    h.apply(&newer).await;
    let out = h.send(&older).await;
    assert_eq!(
        out["status"], "stale",
        "an older update replaced a newer one: {out}"
    );
    assert_eq!(h.record(s).await["attendance"]["days_present"], 49.0);
}

/// A stream where students get whole snapshots again mid-stream (dropping and adding
/// courses and assessments, resetting the behavior baseline) among the other events.
fn stream_with_resnapshots(students: &[String], mixed: usize, rng: &mut Rng) -> Vec<Value> {
    let mut out = Vec::new();
    let mut t = 0i64;
    for s in students {
        t += 30;
        out.push(ev(
            &format!("evt-rs-{s}-snap"),
            "student.snapshot",
            t,
            s,
            calm_record(s),
        ));
    }
    let courses = [
        ("ALG1", "math"),
        ("ENG1", "ela"),
        ("BIO1", "science"),
        ("HIS1", "social_studies"),
    ];
    let dates = ["2026-09-15", "2026-10-15", "2026-11-15"];
    for i in 0..mixed {
        t += 60;
        let s = &students[rng.below(students.len())];
        let id = format!("evt-rs-{i:03}");
        let e = match rng.below(7) {
            0 | 1 => {
                let mut rec = json!({"student_id": s, "gpa": (10 + rng.below(30)) as f64 / 10.0});
                let mut list = Vec::new();
                for (c, subj) in courses {
                    if rng.chance(50) {
                        let grade = (35 + rng.below(60)) as f64;
                        list.push(json!({"course_id": c, "subject": subj, "grade_pct": grade}));
                    }
                }
                if rng.chance(80) {
                    rec["courses"] = json!(list);
                }
                let mut asm = Vec::new();
                for d in dates {
                    if rng.chance(40) {
                        let p = rng.below(100) as f64;
                        asm.push(json!({"name": "Screener", "subject": "reading", "percentile": p, "date": d}));
                    }
                }
                if rng.chance(80) {
                    rec["assessments"] = json!(asm);
                }
                if rng.chance(70) {
                    rec["behavior"] = json!({"office_referrals": rng.below(4), "suspensions_in_school": rng.below(2), "suspensions_out_of_school": 0});
                }
                if rng.chance(70) {
                    rec["attendance"] =
                        json!({"days_enrolled": 60.0, "days_present": (45 + rng.below(16)) as f64});
                }
                if rng.chance(50) {
                    rec["sel"] = json!({"t_score": (30 + rng.below(40)) as f64});
                }
                ev(&id, "student.snapshot", t, s, rec)
            }
            2 => {
                let (c, subj) = courses[rng.below(courses.len())];
                ev(
                    &id,
                    "course_grade.posted",
                    t,
                    s,
                    json!({"course_id": c, "subject": subj, "grade_pct": (35 + rng.below(60)) as f64}),
                )
            }
            3 => {
                let d = dates[rng.below(dates.len())];
                ev(
                    &id,
                    "assessment.scored",
                    t,
                    s,
                    json!({"name": "Screener", "subject": "reading", "percentile": rng.below(100) as f64, "date": d}),
                )
            }
            4 | 5 => {
                let suspension = ["none", "in_school", "out_of_school"][rng.below(3)];
                ev(
                    &id,
                    "behavior.incident",
                    t,
                    s,
                    json!({"date": "2026-11-20", "type": "disruption", "referral": rng.chance(60), "suspension": suspension}),
                )
            }
            _ => ev(
                &id,
                "attendance.updated",
                t,
                s,
                json!({"days_enrolled": 60.0, "days_present": (40 + rng.below(21)) as f64}),
            ),
        };
        out.push(e);
    }
    out
}

#[tokio::test]
async fn mid_stream_snapshots_end_the_same_in_any_order() {
    let students: Vec<String> = (0..4).map(|i| format!("S-RS-{i}")).collect();
    for seed in [0xA11C_E5ED_0000_0001u64, 0x0BAD_C0DE_1234_5678] {
        let mut rng = Rng(seed);
        let stream = stream_with_resnapshots(&students, 60, &mut rng);
        let shuffled = shuffled_with_duplicates(&stream, &mut rng);
        let a = spawn_hooked(vec![], None).await;
        let b = spawn_hooked(vec![], None).await;
        for e in &stream {
            let out = a.send(e).await;
            assert_eq!(
                out["status"], "applied",
                "in order, every event applies: {e} → {out}"
            );
        }
        for e in &shuffled {
            b.send(e).await;
        }
        for s in &students {
            let sa = a.student(s).await.expect("a snapshot in A");
            let sb = b.student(s).await.expect("a snapshot in B");
            assert_eq!(
                sa["record"], sb["record"],
                "seed {seed:#x}, {s}: the order changed the record"
            );
            assert_eq!(
                fired(&sa["latest_decision"]["decision"]),
                fired(&sb["latest_decision"]["decision"]),
                "seed {seed:#x}, {s}: the latest decisions differ"
            );
        }
    }
}

#[tokio::test]
async fn a_withdrawal_and_a_later_update_end_the_same_in_either_order() {
    let s = "S-WO";
    let snap = ev("evt-wo-0", "student.snapshot", 0, s, calm_record(s));
    let withdraw = ev("evt-wo-1", "student.withdrawn", 200, s, Value::Null);
    let late = ev(
        "evt-wo-2",
        "attendance.updated",
        300,
        s,
        json!({"days_enrolled": 60.0, "days_present": 59.0}),
    );
    let a = spawn_hooked(vec![], None).await;
    for e in [&snap, &withdraw, &late] {
        a.send(e).await;
    }
    let b = spawn_hooked(vec![], None).await;
    for e in [&snap, &late, &withdraw] {
        b.send(e).await;
    }
    let ra = a.student(s).await.map(|v| v["record"].clone());
    let rb = b.student(s).await.map(|v| v["record"].clone());
    assert_eq!(
        ra, rb,
        "in time order the student is withdrawn and then re-created from the T=300 attendance \
         alone; delivered the other way round the withdrawal is stale and the whole old record stays"
    );
}

/// Import one record through `POST /v1/students/import` (open local mode).
async fn import_record(h: &Hook, record: &Value) -> Value {
    let resp = h
        .app
        .post_raw(
            "/v1/students/import",
            "application/x-ndjson",
            format!("{record}\n"),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let lines = crate::helpers::parse_ndjson(&resp.text().await.expect("body"));
    lines.last().expect("summary")["summary"].clone()
}

#[tokio::test]
async fn a_late_event_does_not_roll_back_an_unchanged_import() {
    let h = spawn_hooked(vec![], None).await;
    let s = "S-IMP-LATE";
    let rec = calm_record(s);
    assert_eq!(import_record(&h, &rec).await["imported"], 1);
    let first_at = h.student(s).await.expect("snapshot")["versions"]["attendance"]["at"].clone();
    // An SIS event that happened after the first import ...
    let between = instant(&first_at) + chrono::TimeDelta::milliseconds(1);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    // ... and before the second, identical import (which says "still 50 of 50").
    assert_eq!(import_record(&h, &rec).await["unchanged"], 1);
    let mut late = ev(
        "evt-imp-late",
        "attendance.updated",
        0,
        s,
        json!({"days_enrolled": 50.0, "days_present": 30.0}),
    );
    late["occurred_at"] = json!(between.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    let out = h.send(&late).await;
    assert_eq!(
        h.record(s).await["attendance"],
        rec["attendance"],
        "the event is older than the second import and must not replace it: {out}"
    );
    assert_eq!(out["status"], "stale", "{out}");
}

#[tokio::test]
async fn an_event_just_after_an_import_applies() {
    let h = spawn_hooked(vec![], None).await;
    let s = "S-IMP-MS";
    assert_eq!(import_record(&h, &calm_record(s)).await["imported"], 1);
    let imported_at = h.student(s).await.expect("snapshot")["versions"]["attendance"]["at"].clone();
    // Half a millisecond after the import.
    let after = instant(&imported_at) + chrono::TimeDelta::microseconds(500);
    let mut e = ev(
        "evt-imp-ms",
        "attendance.updated",
        0,
        s,
        json!({"days_enrolled": 50.0, "days_present": 30.0}),
    );
    e["occurred_at"] = json!(after.to_rfc3339_opts(chrono::SecondsFormat::Micros, true));
    let out = h.send(&e).await;
    assert_eq!(
        out["status"], "applied",
        "an event after the import is newer: {out}"
    );
    assert_eq!(h.record(s).await["attendance"]["days_present"], 30.0);
}

/// Event ids are global: reusing one for another student is a conflict, not the
/// first student's answer.
#[tokio::test]
async fn an_event_id_reused_for_another_student_is_a_conflict() {
    let h = spawn_hooked(vec![], None).await;
    let first = h
        .send(&ev(
            "evt-reuse-1",
            "student.snapshot",
            100,
            "S-REUSE-A",
            calm_record("S-REUSE-A"),
        ))
        .await;
    assert_eq!(first["status"], "applied", "{first}");
    let again = ev(
        "evt-reuse-1",
        "student.snapshot",
        100,
        "S-REUSE-B",
        calm_record("S-REUSE-B"),
    );
    let resp = h.post_signed(&again.to_string()).await;
    assert_problem(resp, 409, &["evt-reuse-1", "S-REUSE-A"]).await;
}

// ---------------------------------------------------------------------------
// Hardening (issue 10): races, order of writes, bounds, ids, logs
// ---------------------------------------------------------------------------

/// An RFC 3339 time `secs` seconds from the server's clock now.
fn from_now(secs: i64) -> String {
    (chrono::Utc::now() + chrono::TimeDelta::seconds(secs))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// One event id sent for two new students at the same moment, 40 times over: each
/// time exactly one is applied and the other is the 409 a sequential resend gets;
/// the loser has no snapshot and the log holds one decision for the id.
#[tokio::test]
async fn same_event_id_for_two_students_at_once_is_applied_to_one_only() {
    let h = spawn_hooked(vec![], None).await;
    for t in 0..40 {
        let id = format!("evt-race-{t:02}");
        let students = [format!("S-RACE-{t:02}-A"), format!("S-RACE-{t:02}-B")];
        let bodies: Vec<String> = students
            .iter()
            .map(|s| ev(&id, "student.snapshot", 0, s, calm_record(s)).to_string())
            .collect();
        let (a, b) = tokio::join!(h.post_signed(&bodies[0]), h.post_signed(&bodies[1]));
        let statuses = [a.status().as_u16(), b.status().as_u16()];
        let mut answers = vec![a.text().await.expect("body"), b.text().await.expect("body")];
        let winner = match statuses {
            [200, 409] => 0,
            [409, 200] => 1,
            other => panic!("trial {t}: expected one 200 and one 409, got {other:?}: {answers:?}"),
        };
        let loser = 1 - winner;
        let won: Value = serde_json::from_str(&answers.remove(winner)).expect("outcome");
        assert_eq!(won["status"], "applied", "trial {t}: {won}");
        assert_eq!(won["student_id"], students[winner].as_str(), "{won}");
        assert!(
            h.student(&students[loser]).await.is_none(),
            "trial {t}: the refused student has a snapshot"
        );
        let logged: Vec<Value> = h
            .audit_kind("decision")
            .await
            .into_iter()
            .filter(|e| e["payload"]["source"]["event_id"] == id.as_str())
            .collect();
        assert_eq!(
            logged.len(),
            1,
            "trial {t}: decisions for `{id}`: {logged:?}"
        );
    }
    assert_eq!(h.app.verify().await["ok"], true);
}

/// An event whose audit entry could not be written (the audit writer has stopped,
/// as it does when the server shuts down under a request) leaves nothing behind:
/// a resend is not answered as a duplicate with a decision that was never logged,
/// and neither the snapshot nor the event's outcome was stored.
#[tokio::test]
async fn an_event_the_audit_log_refused_is_not_answered_later_as_a_duplicate() {
    let h = spawn_hooked(vec![], None).await;
    let s = "S-UNLOGGED";
    let event = ev("evt-unlogged", "student.snapshot", 0, s, calm_record(s)).to_string();
    let seq_before = h.app.head_seq();
    h.app.state.store.shutdown();
    let mut answers = Vec::new();
    for _ in ["first", "resend"] {
        let resp = h.post_signed(&event).await;
        let status = resp.status().as_u16();
        answers.push((status, resp.text().await.expect("body")));
    }
    let (status, text) = &answers[1];
    assert_ne!(
        *status, 200,
        "the resend answered 200 although its decision was never logged: {text}"
    );
    for (status, text) in &answers {
        assert_eq!(*status, 503, "{text}");
        assert!(text.contains("audit log"), "{text}");
    }
    let db = h.app.state.store.db();
    let events = db
        .open_tree(intervene::students::EVENT_TREE)
        .expect("events tree");
    assert!(
        events.get("evt-unlogged").expect("read").is_none(),
        "the outcome of an unlogged event was stored"
    );
    let snapshots = db
        .open_tree(intervene::students::SNAPSHOT_TREE)
        .expect("snapshot tree");
    assert!(
        snapshots.get(s).expect("read").is_none(),
        "the snapshot of an unlogged event was stored"
    );
    assert_eq!(h.app.head_seq(), seq_before, "nothing was logged");
}

/// Event ids named by an audit entry (`payload.source.event_id` of a decision,
/// `payload.event.event_id` of a stale or withdrawn entry).
fn logged_event_ids(log: &intervene::audit::Log) -> std::collections::HashSet<String> {
    log.range(..)
        .map(|item| {
            serde_json::from_slice::<Value>(&item.expect("read entry").1).expect("entry JSON")
        })
        .filter_map(|e| {
            let p = &e["payload"];
            p["source"]["event_id"]
                .as_str()
                .or(p["event"]["event_id"].as_str())
                .map(String::from)
        })
        .collect()
}

/// Events for one student (`cycle`, `client`): a snapshot, then attendance, courses
/// and incidents.
fn crash_stream(cycle: usize, client: usize, n: usize) -> Vec<Value> {
    let s = format!("S-KILL-{cycle}-{client:02}");
    let mut out = vec![ev(
        &format!("k{cycle}-{client:02}-0000"),
        "student.snapshot",
        0,
        &s,
        calm_record(&s),
    )];
    for i in 1..n {
        let id = format!("k{cycle}-{client:02}-{i:04}");
        let secs = i as i64;
        out.push(match i % 3 {
            0 => ev(
                &id,
                "attendance.updated",
                secs,
                &s,
                json!({"days_enrolled": 50.0 + secs as f64, "days_present": 45.0}),
            ),
            1 => ev(
                &id,
                "course_grade.posted",
                secs,
                &s,
                json!({"course_id": format!("C{}", i % 7), "subject": "math", "grade_pct": (i % 100) as f64}),
            ),
            _ => ev(
                &id,
                "behavior.incident",
                secs,
                &s,
                json!({"date": "2026-11-20", "type": "disruption", "referral": i % 6 == 2}),
            ),
        });
    }
    out
}

const KILL_SECRET: &str = "whsec-kill-test";

/// Start the binary on `data`, let 16 SIS clients post events, and SIGKILL it after
/// a few hundred acknowledgements; returns the acknowledged event ids.
async fn post_until_killed(data: &std::path::Path, cycle: usize) -> Vec<String> {
    use std::sync::{Arc, Mutex};
    let mut server = tokio::task::block_in_place(|| {
        crate::helpers::BinaryServer::start_env(
            data,
            &crate::helpers::rules_dir(),
            std::time::Duration::from_secs(15),
            &[("INTERVENE_WEBHOOK_SECRET", KILL_SECRET)],
        )
    });
    let http = crate::helpers::client();
    server.wait_healthy(&http).await;
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut tasks = Vec::new();
    for c in 0..16 {
        let (http, url, acked) = (
            http.clone(),
            format!("{}{HOOK}", server.address),
            acked.clone(),
        );
        tasks.push(tokio::spawn(async move {
            for e in crash_stream(cycle, c, 200) {
                let body = e.to_string();
                let sig = sign(KILL_SECRET.as_bytes(), now(), body.as_bytes());
                let sent = http
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("x-intervene-signature", sig)
                    .body(body)
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status() == 200 => {
                        let id = e["event_id"].as_str().expect("id").to_string();
                        acked.lock().expect("acks").push(id);
                    }
                    Ok(r) => panic!("event {e} answered {}", r.status()),
                    Err(_) => return, // the server is gone
                }
            }
        }));
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let kill_at = 200 + (chrono::Utc::now().timestamp_subsec_micros() as usize % 300);
    while acked.lock().expect("acks").len() < kill_at && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    server.kill9();
    for t in tasks {
        t.await.expect("a client task");
    }
    let acked = acked.lock().expect("acks").clone();
    assert!(
        acked.len() >= 100,
        "too few events before the kill: {}",
        acked.len()
    );
    acked
}

/// What a killed server left in `data`: every stored outcome and every part of every
/// snapshot has the audit entry of the event that set it; every acknowledged event
/// has its outcome and its entry.
fn check_killed_store(data: &std::path::Path, acked: &[String]) {
    let db = intervene::audit::open_db(data).expect("reopen the killed server's store");
    let logged = logged_event_ids(&intervene::audit::open_log(&db).expect("log"));
    let outcomes = db
        .open_tree(intervene::students::EVENT_TREE)
        .expect("events");
    for item in outcomes.iter() {
        let (k, _) = item.expect("read outcome");
        let id = String::from_utf8(k.to_vec()).expect("utf-8 id");
        assert!(
            logged.contains(&id),
            "event `{id}` has a stored outcome but no audit entry"
        );
    }
    let snapshots = db
        .open_tree(intervene::students::SNAPSHOT_TREE)
        .expect("snapshots");
    for item in snapshots.iter() {
        let (_, v) = item.expect("read snapshot");
        let snap: Value = serde_json::from_slice(&v).expect("snapshot JSON");
        let parts = snap["versions"].as_object().expect("versions");
        let incidents = snap["incidents"].as_object().expect("incidents");
        for id in parts
            .values()
            .map(|p| p["event_id"].as_str().expect("event id"))
            .chain(incidents.keys().map(String::as_str))
        {
            assert!(
                logged.contains(id),
                "a snapshot holds event `{id}`, which has no audit entry"
            );
        }
    }
    for id in acked {
        assert!(
            logged.contains(id),
            "acknowledged event `{id}` has no audit entry"
        );
        assert!(
            outcomes.get(id).expect("read").is_some(),
            "acknowledged event `{id}` has no outcome"
        );
    }
}

/// The real binary is killed (SIGKILL) while 16 SIS clients post events, three times
/// on the same data directory. Whatever it left on disk each time, no outcome and no
/// snapshot part exists without its audit entry, and every acknowledged event is
/// there with its entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_event_outcome_survives_a_kill_9_without_its_audit_entry() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let mut acked = Vec::new();
    for cycle in 0..3 {
        acked.extend(post_until_killed(&data, cycle).await);
        tokio::task::block_in_place(|| check_killed_store(&data, &acked));
    }
}

/// `occurred_at` in the far future (or before 1990) is refused naming the field, so
/// it cannot pin a section against every later event; within the replay window
/// ahead of the clock it is fine.
#[tokio::test]
async fn a_far_future_occurred_at_is_refused_and_cannot_pin_a_section() {
    let s = "S-FUTURE";
    let h = with_calm_student(s).await;
    let att = |id: &str, at: &str, present: f64| {
        let mut e = ev(
            id,
            "attendance.updated",
            0,
            s,
            json!({"days_enrolled": 60.0, "days_present": present}),
        );
        e["occurred_at"] = json!(at);
        e.to_string()
    };
    for (id, at) in [
        ("evt-future-9999", "9999-12-31T23:59:59Z".to_string()),
        ("evt-future-10min", from_now(600)),
        ("evt-past-1989", "1989-12-31T23:59:59Z".to_string()),
        ("evt-past-0001", "0001-01-01T00:00:00Z".to_string()),
    ] {
        let resp = h.post_signed(&att(id, &at, 30.0)).await;
        let body = assert_problem(resp, 422, &["occurred_at"]).await;
        assert_eq!(error_fields(&body), vec!["occurred_at"], "{at}: {body}");
    }
    // Nothing was pinned: an event from now applies, and so does one a minute ahead
    // (a sender's clock may run ahead by up to the replay window).
    let now_event = att("evt-future-now", &from_now(0), 55.0);
    let out = json_ok(h.post_signed(&now_event).await).await;
    assert_eq!(out["status"], "applied", "{out}");
    let ahead = att("evt-future-1min", &from_now(60), 54.0);
    let out = json_ok(h.post_signed(&ahead).await).await;
    assert_eq!(out["status"], "applied", "{out}");
    assert_eq!(h.record(s).await["attendance"]["days_present"], 54.0);
}

/// A record over 256 KiB (in `extra`) is refused as `student.snapshot` data just as
/// `POST /v1/evaluate` refuses it, and so is a section over the limit.
#[tokio::test]
async fn a_webhook_snapshot_over_the_record_limit_is_refused_like_evaluate() {
    let h = spawn_hooked(vec![], Some(2 * 1024 * 1024)).await;
    let s = "S-HUGE";
    let mut rec = calm_record(s);
    rec["extra"] = json!({"notes": "x".repeat(300 * 1024)});
    let resp = h
        .post_signed(&ev("evt-huge", "student.snapshot", 0, s, rec.clone()).to_string())
        .await;
    assert_problem(resp, 422, &["data", "262144"]).await;
    assert!(h.student(s).await.is_none(), "the huge snapshot was stored");
    // The evaluate endpoint refuses the same record.
    let resp = h.app.post_json("/v1/evaluate?dry_run=true", &rec).await;
    assert!(
        [413, 422].contains(&resp.status().as_u16()),
        "evaluate took a record over the limit: {}",
        resp.status()
    );
    // A single course that large is refused too.
    h.apply(&ev(
        "evt-huge-snap",
        "student.snapshot",
        0,
        s,
        calm_record(s),
    ))
    .await;
    let course = json!({"course_id": "BIG", "title": "y".repeat(300 * 1024)});
    let resp = h
        .post_signed(&ev("evt-huge-course", "course_grade.posted", 10, s, course).to_string())
        .await;
    assert_problem(resp, 422, &["data", "262144"]).await;
}

/// Course upserts cannot grow a snapshot past the record limit: the event that
/// would is refused (naming the limit) and the snapshot stays as it was.
#[tokio::test]
async fn course_upserts_cannot_grow_a_snapshot_past_the_record_limit() {
    let h = spawn_hooked(vec![], None).await;
    let s = "S-GROW";
    let mut rec = calm_record(s);
    // Just under the limit with the extra text; a few courses push it over.
    let base = serde_json::to_vec(&rec).expect("json").len();
    rec["extra"] = json!({"notes": "x".repeat(256 * 1024 - base - 200)});
    h.apply(&ev("evt-grow-snap", "student.snapshot", 0, s, rec))
        .await;
    let mut refused = None;
    for i in 0..20 {
        let course = json!({"course_id": format!("COURSE-{i:02}-{}", "c".repeat(40)), "subject": "science", "grade_pct": 80.0});
        let resp = h
            .post_signed(
                &ev(
                    &format!("evt-grow-{i:02}"),
                    "course_grade.posted",
                    10 + i,
                    s,
                    course,
                )
                .to_string(),
            )
            .await;
        if resp.status() != 200 {
            refused = Some((i, assert_problem(resp, 422, &["record", "262144"]).await));
            break;
        }
    }
    let (i, problem) = refused.expect("20 courses on a full record were all taken");
    assert!(i >= 1, "the first course already failed: {problem}");
    let courses = h.record(s).await["courses"]
        .as_array()
        .expect("courses")
        .len();
    assert_eq!(courses, 1 + i as usize, "the refused course was kept");
    assert_eq!(h.app.verify().await["ok"], true);
}

/// Behavior counts never wrap: a snapshot past the plausible maximum is refused
/// naming the count, and an incident that would pass it is refused; the snapshot
/// keeps its count.
#[tokio::test]
async fn incident_counts_are_refused_past_the_maximum_instead_of_wrapping() {
    let h = spawn_hooked(vec![], None).await;
    let s = "S-WRAP";
    let mut rec = calm_record(s);
    rec["behavior"] = json!({"office_referrals": u32::MAX, "suspensions_in_school": 0, "suspensions_out_of_school": 0});
    let resp = h
        .post_signed(&ev("evt-wrap-max", "student.snapshot", 0, s, rec.clone()).to_string())
        .await;
    let body = assert_problem(resp, 422, &["office_referrals", "1000"]).await;
    assert_eq!(
        error_fields(&body),
        vec!["data.behavior.office_referrals"],
        "{body}"
    );

    rec["behavior"]["office_referrals"] = json!(1000);
    h.apply(&ev("evt-wrap-snap", "student.snapshot", 0, s, rec))
        .await;
    let incident = ev(
        "evt-wrap-one-more",
        "behavior.incident",
        10,
        s,
        json!({"date": "2026-11-20", "type": "disruption", "referral": true}),
    );
    let resp = h.post_signed(&incident.to_string()).await;
    let body = assert_problem(resp, 422, &["office_referrals", "1000"]).await;
    assert_eq!(
        error_fields(&body),
        vec!["behavior.office_referrals"],
        "{body}"
    );
    assert_eq!(h.record(s).await["behavior"]["office_referrals"], 1000);
}

/// The envelope's `student_id` follows the one student id rule for every event
/// type, refused naming `student_id` (never a 404 that echoes it, or a field inside
/// `data`).
#[tokio::test]
async fn an_envelope_student_id_breaking_the_id_rule_is_refused_naming_student_id() {
    let h = spawn_hooked(vec![], None).await;
    let long = "S".repeat(65);
    for bad in [
        "S\u{1b}[2J1",
        "S\u{202e}1",
        "S\u{200b}1",
        " S1",
        long.as_str(),
    ] {
        for (kind, data) in [
            ("student.snapshot", calm_record(bad)),
            (
                "attendance.updated",
                json!({"days_enrolled": 10.0, "days_present": 9.0}),
            ),
            (
                "behavior.incident",
                json!({"date": "2026-11-20", "type": "disruption"}),
            ),
            ("student.withdrawn", Value::Null),
        ] {
            let resp = h
                .post_signed(&ev("evt-bad-student", kind, 0, bad, data).to_string())
                .await;
            let body = assert_problem(resp, 422, &["student_id"]).await;
            assert_eq!(
                error_fields(&body),
                vec!["student_id"],
                "{kind} {bad:?}: {body}"
            );
        }
    }
}

/// At info level the server logs each event's id and decision id, never the
/// student's id (which the log would keep past retention and purge).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sis_events_log_event_ids_at_info_and_student_ids_never() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let secret = "whsec-log-test";
    let mut server = tokio::task::block_in_place(|| {
        crate::helpers::BinaryServer::start_env(
            &tmp.path().join("data"),
            &crate::helpers::rules_dir(),
            std::time::Duration::from_secs(15),
            &[("INTERVENE_WEBHOOK_SECRET", secret), ("RUST_LOG", "info")],
        )
    });
    let http = crate::helpers::client();
    server.wait_healthy(&http).await;
    let s = "S-PRIVATE-4711";
    let body = ev("evt-logged-1", "student.snapshot", 0, s, calm_record(s)).to_string();
    let sig = sign(secret.as_bytes(), now(), body.as_bytes());
    let resp = http
        .post(format!("{}{HOOK}", server.address))
        .header("content-type", "application/json")
        .header("x-intervene-signature", sig)
        .body(body)
        .send()
        .await
        .expect("POST webhook");
    let out = json_ok(resp).await;
    let decision_id = out["decision"]["decision_id"]
        .as_str()
        .expect("decision id")
        .to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !server.log().contains("evt-logged-1") && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let _ = server.terminate(std::time::Duration::from_secs(15));
    let log = server.log();
    assert!(!log.contains(s), "the student id is logged at info:\n{log}");
    assert!(
        log.contains("evt-logged-1"),
        "the event id is not logged:\n{log}"
    );
    assert!(
        log.contains(&decision_id),
        "the decision id is not logged:\n{log}"
    );
}
