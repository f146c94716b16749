//! Nightly imports: `POST /v1/students/import` (NDJSON in, error lines and a summary
//! streamed back) and `intervene import` on a stopped server's data directory.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{
    COUNSELOR_KEY, INGEST_KEY, TestApp, all_keys, assert_problem, fixtures_dir, header, json_ok,
    parse_ndjson, rules_dir, spawn_app, spawn_app_in,
};

const IMPORT: &str = "/v1/students/import";
const GOOD_LINES: usize = 50;

/// An NDJSON upload: the first 50 caseload records with three bad lines among them.
struct Upload {
    body: String,
    /// Student id → line number in `body`.
    good: BTreeMap<String, u64>,
    /// The 50 records as sent.
    records: BTreeMap<String, Value>,
    /// (line number, what the error must name: a field, or a word of the error).
    bad: Vec<(u64, &'static str)>,
}

fn upload() -> Upload {
    let text =
        std::fs::read_to_string(fixtures_dir().join("caseload.ndjson")).expect("caseload fixture");
    let lines: Vec<&str> = text.lines().take(GOOD_LINES).collect();
    assert_eq!(lines.len(), GOOD_LINES, "the fixture has 50 lines");
    let bad: [(usize, &str, &'static str); 3] = [
        (
            12,
            r#"{"student_id": "S-BAD-JSON", "gpa": "#,
            "invalid JSON",
        ),
        (25, r#"{"student_id":"S-BAD-GPA","gpa":9}"#, "gpa"),
        (
            38,
            r#"{"student_id":"S-BAD-KEY","favourite_color":"blue"}"#,
            "favourite_color",
        ),
    ];
    let mut body = String::new();
    let mut n = 0u64;
    let mut out = Upload {
        body: String::new(),
        good: BTreeMap::new(),
        records: BTreeMap::new(),
        bad: Vec::new(),
    };
    for (i, line) in lines.iter().enumerate() {
        if let Some((_, text, names)) = bad.iter().find(|(at, ..)| *at == i) {
            n += 1;
            body.push_str(text);
            body.push('\n');
            out.bad.push((n, *names));
        }
        n += 1;
        body.push_str(line);
        body.push('\n');
        let v: Value = serde_json::from_str(line).expect("fixture line is JSON");
        let id = v["student_id"].as_str().expect("student_id").to_string();
        out.good.insert(id.clone(), n);
        out.records.insert(id, v);
    }
    assert_eq!(out.good.len(), GOOD_LINES, "50 distinct students");
    out.body = body;
    out
}

/// Error lines and the summary of an import answer.
fn split_answer(lines: &[Value]) -> (Vec<Value>, Value) {
    let (last, rest) = lines
        .split_last()
        .expect("an import answers at least its summary");
    assert!(
        last["summary"].is_object(),
        "the last line is the summary: {last}"
    );
    for l in rest {
        assert!(
            l.get("error").is_some_and(|_| l.get("line").is_some()),
            "not an error line: {l}"
        );
        assert!(l.get("summary").is_none(), "a summary before the end: {l}");
    }
    (rest.to_vec(), last["summary"].clone())
}

/// The error lines name each bad line and its field.
fn assert_errors_name_lines(errors: &[Value], up: &Upload) {
    assert_eq!(
        errors.len(),
        up.bad.len(),
        "one error line per bad line: {errors:?}"
    );
    for (line, names) in &up.bad {
        let e = errors
            .iter()
            .find(|e| e["line"] == *line)
            .unwrap_or_else(|| panic!("no error for line {line}: {errors:?}"));
        let field = e["field"]
            .as_str()
            .unwrap_or_else(|| panic!("no field on {e}"));
        let text = e["error"].as_str().unwrap_or("");
        assert!(
            field == *names || text.contains(names),
            "line {line}: neither field nor error names `{names}`: {e}"
        );
    }
    let gpa = errors
        .iter()
        .find(|e| e["line"] == up.bad[1].0)
        .expect("gpa line");
    assert_eq!(
        gpa["field"], "gpa",
        "a field problem carries the field: {gpa}"
    );
}

async fn post_import(app: &TestApp, body: &str) -> Vec<Value> {
    let resp = app
        .post_raw_as(
            IMPORT,
            "application/x-ndjson",
            body.to_string(),
            Some(INGEST_KEY),
        )
        .await;
    assert_eq!(resp.status(), 200, "import answered {}", resp.status());
    let ct = header(&resp, "content-type");
    assert!(
        ct.starts_with("application/x-ndjson"),
        "content type `{ct}`"
    );
    parse_ndjson(&resp.text().await.expect("import body"))
}

/// Students whose latest decision flags something, checking along the way that every
/// imported student has a snapshot decided from its import line.
async fn flagged_and_check_snapshots(app: &TestApp, up: &Upload, actor: &str) -> u64 {
    let mut flagged = 0;
    for (id, line) in &up.good {
        let snap = json_ok(app.get(&format!("/v1/students/{id}")).await).await;
        let rec = &snap["record"];
        let sent = &up.records[id];
        assert_eq!(rec["student_id"], *id);
        assert_eq!(rec["gpa"].as_f64(), sent["gpa"].as_f64(), "{id}: gpa");
        assert_eq!(
            rec["attendance"]["days_present"].as_f64(),
            sent["attendance"]["days_present"].as_f64(),
            "{id}: attendance"
        );
        assert_eq!(
            rec["courses"].as_array().map(Vec::len),
            sent["courses"].as_array().map(Vec::len),
            "{id}: courses"
        );
        let latest = &snap["latest_decision"];
        assert_eq!(
            latest["source"],
            json!({"kind": "import", "line": line}),
            "{id}: {latest}"
        );
        let history = json_ok(app.get(&format!("/v1/students/{id}/decisions")).await).await;
        let decisions = history["decisions"].as_array().expect("decisions");
        assert_eq!(decisions.len(), 1, "{id}: decided once");
        assert_eq!(decisions[0]["actor"], actor);
        if latest["decision"]["flags"]
            .as_array()
            .is_some_and(|f| !f.is_empty())
        {
            flagged += 1;
        }
    }
    for id in ["S-BAD-JSON", "S-BAD-GPA", "S-BAD-KEY"] {
        let resp = app.get(&format!("/v1/students/{id}")).await;
        assert_problem(resp, 404, &[id]).await;
    }
    flagged
}

#[tokio::test]
async fn an_import_streams_errors_and_a_summary_and_a_repeat_changes_nothing() {
    let app = spawn_app(all_keys()).await;
    let up = upload();

    let lines = post_import(&app, &up.body).await;
    let (errors, summary) = split_answer(&lines);
    assert_errors_name_lines(&errors, &up);
    let flagged = flagged_and_check_snapshots(&app, &up, "sis").await;
    assert!(
        flagged > 0 && flagged < GOOD_LINES as u64,
        "the caseload has flagged and calm students: {flagged}"
    );
    assert_eq!(
        summary,
        json!({"imported": 50, "unchanged": 0, "rejected": 3, "flagged": flagged})
    );
    let decisions = app.decisions_in_log().await;
    assert_eq!(
        decisions.len(),
        GOOD_LINES,
        "one decision per imported student"
    );
    for d in &decisions {
        assert_eq!(d["payload"]["source"]["kind"], "import", "{d}");
        assert_eq!(d["actor"], "sis");
    }

    // The same file again: every student unchanged, no new decision.
    let lines = post_import(&app, &up.body).await;
    let (errors, summary) = split_answer(&lines);
    assert_errors_name_lines(&errors, &up);
    assert_eq!(
        summary,
        json!({"imported": 0, "unchanged": 50, "rejected": 3, "flagged": 0})
    );
    assert_eq!(
        app.decisions_in_log().await.len(),
        GOOD_LINES,
        "a repeat import decided again"
    );

    // One changed student is imported again, the rest unchanged.
    let first_id = up.good.keys().next().expect("a student").clone();
    let mut changed = up.records[&first_id].clone();
    changed["gpa"] = json!(0.5);
    let mut body = String::new();
    for (id, rec) in &up.records {
        body.push_str(&(if *id == first_id { &changed } else { rec }).to_string());
        body.push('\n');
    }
    let (errors, summary) = split_answer(&post_import(&app, &body).await);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(
        summary,
        json!({"imported": 1, "unchanged": 49, "rejected": 0, "flagged": 1})
    );
    let snap = json_ok(app.get(&format!("/v1/students/{first_id}")).await).await;
    assert_eq!(snap["record"]["gpa"], 0.5);
    assert_eq!(app.verify().await["ok"], true);
}

#[tokio::test]
async fn import_needs_the_ingest_role_and_ndjson() {
    let app = spawn_app(all_keys()).await;
    let up = upload();
    // One line is enough: a refusal may come before the body is read.
    let one = format!("{}\n", up.records.values().next().expect("a record"));
    let resp = app
        .post_raw_as(
            IMPORT,
            "application/x-ndjson",
            one.clone(),
            Some(COUNSELOR_KEY),
        )
        .await;
    assert_problem(resp, 403, &["ingest"]).await;
    let resp = app
        .post_raw_as(IMPORT, "application/x-ndjson", one.clone(), None)
        .await;
    assert_problem(resp, 401, &[]).await;
    let resp = app
        .post_raw_as(IMPORT, "text/csv", one, Some(INGEST_KEY))
        .await;
    assert_problem(resp, 415, &["application/x-ndjson"]).await;
    assert!(
        app.decisions_in_log().await.is_empty(),
        "a refused import decided something"
    );
    let resp = app
        .get(&format!(
            "/v1/students/{}",
            up.good.keys().next().expect("id")
        ))
        .await;
    assert_problem(resp, 404, &[]).await;
}

/// Run `intervene import` with stdout to a file; (exit code, stdout, stderr).
fn run_cli_import(data: &Path, input: &Path, out_dir: &Path, tag: &str) -> (i32, String, String) {
    let out_path = out_dir.join(format!("{tag}.stdout"));
    let err_path = out_dir.join(format!("{tag}.stderr"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_intervene"))
        .arg("import")
        .arg("--data")
        .arg(data)
        .arg("--rules")
        .arg(rules_dir())
        .arg(input)
        .current_dir(out_dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).expect("stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("stderr file"))
        .spawn()
        .expect("start intervene import");
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("intervene import did not finish in 120 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = std::fs::read_to_string(&out_path).expect("stdout");
    let stderr = std::fs::read_to_string(&err_path).expect("stderr");
    (status.code().unwrap_or(-1), stdout, stderr)
}

#[tokio::test]
async fn the_cli_imports_into_a_stopped_servers_data_directory() {
    let data = tempfile::tempdir().expect("data dir");
    let work = tempfile::tempdir().expect("work dir");
    let up = upload();
    let with_bad = work.path().join("nightly.ndjson");
    std::fs::write(&with_bad, &up.body).expect("write input");
    let mut clean = String::new();
    for rec in up.records.values() {
        clean.push_str(&rec.to_string());
        clean.push('\n');
    }
    let clean_path = work.path().join("clean.ndjson");
    std::fs::write(&clean_path, clean).expect("write input");

    let (code, stdout, stderr) = run_cli_import(data.path(), &with_bad, work.path(), "first");
    assert_eq!(
        code, 2,
        "a rejected line exits 2; stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let (errors, first) = split_answer(&parse_ndjson(&stdout));
    assert_errors_name_lines(&errors, &up);
    assert_eq!(first["imported"], 50, "{first}");
    assert_eq!(first["unchanged"], 0, "{first}");
    assert_eq!(first["rejected"], 3, "{first}");

    // The clean file: nothing rejected, so exit 0; every student unchanged.
    let (code, stdout, stderr) = run_cli_import(data.path(), &clean_path, work.path(), "second");
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    let (errors, second) = split_answer(&parse_ndjson(&stdout));
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(
        second,
        json!({"imported": 0, "unchanged": 50, "rejected": 0, "flagged": 0})
    );

    // A server started on that directory has the snapshots and their decisions.
    let app = spawn_app_in(data, all_keys(), |_| {}).await;
    let flagged = flagged_and_check_snapshots(&app, &up, "cli-import").await;
    assert_eq!(first["flagged"], flagged, "{first}");
    assert_eq!(app.verify().await["ok"], true);
}

/// A behavior count no school year reaches (here one a `u32` holds, but one more
/// incident would wrap) is a rejected line naming the count, not a stored snapshot.
#[tokio::test]
async fn an_imported_behavior_count_past_the_plausible_maximum_is_a_rejected_line() {
    let app = spawn_app(all_keys()).await;
    let body = [
        json!({"student_id": "S-IMP-OK", "behavior": {"office_referrals": 1000}}),
        json!({"student_id": "S-IMP-HUGE", "behavior": {"office_referrals": u32::MAX}}),
    ]
    .iter()
    .map(|r| r.to_string() + "\n")
    .collect::<String>();
    let lines = post_import(&app, &body).await;
    let (errors, summary) = split_answer(&lines);
    assert_eq!(summary["imported"], 1, "{summary}");
    assert_eq!(summary["rejected"], 1, "{summary}");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["line"], 2, "{errors:?}");
    assert_eq!(
        errors[0]["field"], "behavior.office_referrals",
        "{errors:?}"
    );
    assert!(
        errors[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("1000")),
        "{errors:?}"
    );
    let resp = app.get("/v1/students/S-IMP-HUGE").await;
    assert_eq!(resp.status(), 404, "the refused record was stored");
}

/// An import of an unchanged record moves the snapshot's part versions forward (so
/// an event from before it stays stale). That is durable when the summary says
/// `unchanged`: killed right after it, the restarted server still refuses to roll
/// the record back to the older event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unchanged_import_is_durable_before_its_summary() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let secret = "whsec-import-durable";
    let start = || {
        tokio::task::block_in_place(|| {
            crate::helpers::BinaryServer::start_env(
                &data,
                &rules_dir(),
                Duration::from_secs(15),
                &[("INTERVENE_WEBHOOK_SECRET", secret)],
            )
        })
    };
    let http = crate::helpers::client();
    let record = json!({"student_id": "S-IMP-DUR", "attendance": {"days_enrolled": 50.0, "days_present": 50.0}});
    let import = |address: String| {
        let (http, body) = (http.clone(), format!("{record}\n"));
        async move {
            let resp = http
                .post(format!("{address}{IMPORT}"))
                .header("content-type", "application/x-ndjson")
                .body(body)
                .send()
                .await
                .expect("POST import");
            assert_eq!(resp.status(), 200);
            let lines = parse_ndjson(&resp.text().await.expect("body"));
            lines.last().expect("summary")["summary"].clone()
        }
    };
    let mut server = start();
    server.wait_healthy(&http).await;
    assert_eq!(import(server.address.clone()).await["imported"], 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let between = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(import(server.address.clone()).await["unchanged"], 1);
    server.kill9();

    let server = start();
    server.wait_healthy(&http).await;
    let event =
        json!({"event_id": "evt-imp-dur", "type": "attendance.updated", "occurred_at": between,
        "student_id": "S-IMP-DUR", "data": {"days_enrolled": 50.0, "days_present": 10.0}})
        .to_string();
    let sig = intervene::http::signature::sign(
        secret.as_bytes(),
        chrono::Utc::now().timestamp(),
        event.as_bytes(),
    );
    let resp = http
        .post(format!("{}/v1/webhooks/sis", server.address))
        .header("content-type", "application/json")
        .header("x-intervene-signature", sig)
        .body(event)
        .send()
        .await
        .expect("POST webhook");
    let out = json_ok(resp).await;
    assert_eq!(
        out["status"], "stale",
        "an event from before the second import rolled the record back: {out}"
    );
}
