//! `GET /v1/audit` (filters, cursor pagination), `/v1/audit/export` (NDJSON) and
//! `/v1/audit/verify`.

use std::collections::BTreeSet;
use std::time::Duration;

use intervene::audit::{Entry, EntryKind, GENESIS, NewEntry, Query, Store};
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, assert_problem, chronic_absence, decision_ids, documented_hash, json_ok, low_gpa,
    parse_ndjson, spawn_app,
};

fn seqs(entries: &[Value]) -> Vec<u64> {
    entries
        .iter()
        .map(|e| e["seq"].as_u64().expect("seq"))
        .collect()
}

fn students(entries: &[Value]) -> BTreeSet<String> {
    entries
        .iter()
        .filter_map(|e| e["payload"]["student_id"].as_str().map(String::from))
        .collect()
}

/// A UTC instant between two groups of requests, in the stored form.
async fn instant_between() -> String {
    tokio::time::sleep(Duration::from_millis(15)).await;
    let t = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    tokio::time::sleep(Duration::from_millis(15)).await;
    t
}

#[tokio::test]
async fn pages_return_every_entry_exactly_once_newest_first() {
    let app = spawn_app(vec![]).await;
    for i in 0..23 {
        app.evaluate(&low_gpa(&format!("P-{i}"))).await;
    }
    let total = app.verify().await["entries"].as_u64().expect("entries");
    assert_eq!(total, 24, "23 decisions and the rule-set load");
    for limit in [1, 4, 5, 23, 24, 100] {
        // Each page read is itself audited, after its page was taken: a walk returns
        // exactly the entries there were when it began.
        let total = app.head_seq();
        let all = app.audit_all("", limit).await;
        let expected: Vec<u64> = (1..=total).rev().collect();
        assert_eq!(seqs(&all), expected, "limit {limit}");
    }
    // Filtered pages: the same property.
    let decisions = app.audit_all("kind=decision", 4).await;
    assert_eq!(decisions.len(), 23);
    assert_eq!(students(&decisions).len(), 23);
}

#[tokio::test]
async fn a_page_is_at_most_the_limit_and_the_limit_is_capped() {
    let app = spawn_app(vec![]).await;
    let body: String = (0..520)
        .map(|i| format!("{}\n", low_gpa(&format!("L-{i}"))))
        .collect();
    let resp = app
        .post_raw("/v1/evaluate/batch", "application/x-ndjson", body)
        .await;
    assert_eq!(resp.status(), 200);
    let _ = resp.text().await;
    let page = json_ok(app.get("/v1/audit?limit=100000").await).await;
    let n = page["entries"].as_array().map(Vec::len).unwrap_or(0);
    assert!(n > 0 && n <= 500, "a page of {n} entries");
    assert!(page["next_cursor"].is_string());
    let page = json_ok(app.get("/v1/audit?limit=0").await).await;
    assert!(page["entries"].as_array().is_some_and(|e| e.len() <= 1));
    // 520 decisions, the rule-set load and the two reads above.
    assert_eq!(app.head_seq(), 523);
    assert_eq!(app.audit_all("", 500).await.len(), 523);
}

#[tokio::test]
async fn filters_by_student_rule_kind_and_time() {
    let app = spawn_app(vec![]).await;
    // Before `t`: A and B; after: A and C.
    let a1 = app.evaluate(&low_gpa("F-A")).await;
    app.evaluate(&chronic_absence("F-B")).await;
    let t = instant_between().await;
    let a2 = app.evaluate(&chronic_absence("F-A")).await;
    app.evaluate(&low_gpa("F-C")).await;

    let by_student = app.audit_all("student=F-A", 1).await;
    assert_eq!(
        decision_ids(&by_student),
        vec![
            a2["decision_id"].as_str().expect("id"),
            a1["decision_id"].as_str().expect("id")
        ]
    );
    assert_eq!(students(&by_student), BTreeSet::from(["F-A".to_string()]));

    let by_rule = app.audit_all("rule=low-gpa", 1).await;
    assert_eq!(
        students(&by_rule),
        BTreeSet::from(["F-A".to_string(), "F-C".to_string()])
    );
    assert!(by_rule.iter().all(|e| {
        e["payload"]["rule_ids"]
            .as_array()
            .is_some_and(|r| r.contains(&json!("low-gpa")))
    }));
    let by_rule = app.audit_all("rule=chronic-absence", 10).await;
    assert_eq!(by_rule.len(), 2);
    assert_eq!(
        students(&by_rule),
        BTreeSet::from(["F-A".to_string(), "F-B".to_string()])
    );

    let both = app.audit_all("student=F-A&rule=low-gpa", 10).await;
    assert_eq!(
        decision_ids(&both),
        vec![a1["decision_id"].as_str().expect("id")]
    );

    let from = app.audit_all(&format!("from={t}&kind=decision"), 1).await;
    assert_eq!(
        from.len(),
        2,
        "from is inclusive of later entries only: {from:?}"
    );
    assert_eq!(
        students(&from),
        BTreeSet::from(["F-A".to_string(), "F-C".to_string()])
    );
    let to = app.audit_all(&format!("to={t}&kind=decision"), 1).await;
    assert_eq!(
        students(&to),
        BTreeSet::from(["F-A".to_string(), "F-B".to_string()])
    );
    assert_eq!(to.len(), 2);
    let window = app.audit_all(&format!("student=F-A&from={t}"), 10).await;
    assert_eq!(
        decision_ids(&window),
        vec![a2["decision_id"].as_str().expect("id")]
    );
    let window = app.audit_all(&format!("rule=low-gpa&to={t}"), 10).await;
    assert_eq!(
        decision_ids(&window),
        vec![a1["decision_id"].as_str().expect("id")]
    );

    // A time with an offset means the same instant.
    let t_utc = chrono::DateTime::parse_from_rfc3339(&t).expect("t");
    let t_plus2 = t_utc
        .with_timezone(&chrono::FixedOffset::east_opt(2 * 3600).expect("offset"))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, false);
    let same = app
        .audit_all(
            &format!("from={}&kind=decision", t_plus2.replace('+', "%2B")),
            10,
        )
        .await;
    assert_eq!(seqs(&same), seqs(&from));

    // Nothing matches: an empty list, no cursor.
    let page = json_ok(app.get("/v1/audit?student=F-NOBODY").await).await;
    assert_eq!(page["entries"], json!([]));
    assert!(page["next_cursor"].is_null());
    let page = json_ok(app.get("/v1/audit?kind=rules.published").await).await;
    assert_eq!(page["entries"], json!([]));
}

#[tokio::test]
async fn bad_audit_parameters_are_400_naming_them() {
    let app = spawn_app(vec![]).await;
    assert_problem(
        app.get("/v1/audit?from=yesterday").await,
        400,
        &["`from`", "RFC 3339", "yesterday"],
    )
    .await;
    assert_problem(
        app.get("/v1/audit?to=2026-13-01T00:00:00Z").await,
        400,
        &["`to`"],
    )
    .await;
    assert_problem(app.get("/v1/audit?cursor=-5").await, 400, &["cursor"]).await;
    assert_problem(app.get("/v1/audit?studnet=S1").await, 400, &["studnet"]).await;
    assert_problem(
        app.get("/v1/audit?limit=many").await,
        400,
        &["query parameter"],
    )
    .await;
}

#[tokio::test]
async fn export_has_one_line_per_entry_and_matches_verify() {
    let app = spawn_app(vec![]).await;
    // More than one export chunk (1,000 entries).
    let body: String = (0..1_150)
        .map(|i| {
            format!(
                "{}\n",
                if i % 2 == 0 {
                    low_gpa(&format!("E-{i}"))
                } else {
                    chronic_absence(&format!("E-{i}"))
                }
            )
        })
        .collect();
    let resp = app
        .post_raw("/v1/evaluate/batch", "application/x-ndjson", body)
        .await;
    assert_eq!(resp.status(), 200);
    let _ = resp.text().await;
    app.evaluate(&low_gpa("E-last")).await;

    let text = app.export_text().await;
    let lines = parse_ndjson(&text);
    let report = app.verify().await;
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(
        Some(lines.len() as u64),
        report["entries"].as_u64(),
        "export line count equals verify's `entries`"
    );
    // The rule-set load, the decisions, and the export itself (audited before the
    // first line is sent, so it is in the export).
    assert_eq!(lines.len(), 1 + 1_150 + 1 + 1);
    let last = lines.last().expect("a line");
    assert_eq!(last["kind"], "audit.exported");
    assert_eq!(last["payload"]["through_seq"], 1 + 1_150 + 1);

    // The export is the chain itself: in order, linked, each hash recomputable by
    // the rule the README gives auditors.
    let mut prev = GENESIS.to_string();
    for (i, (line, raw)) in lines.iter().zip(text.lines()).enumerate() {
        let e: Entry = serde_json::from_value(line.clone())
            .unwrap_or_else(|err| panic!("line {} is not an entry ({err}): {line}", i + 1));
        assert_eq!(e.seq, i as u64 + 1);
        assert_eq!(
            e.prev_hash, prev,
            "entry {} does not link to the one before",
            e.seq
        );
        let (computed, claimed) = documented_hash(raw);
        assert_eq!(
            claimed, e.hash,
            "entry {}: the hash is the last member",
            e.seq
        );
        assert_eq!(computed, e.hash, "entry {} hash", e.seq);
        prev = e.hash;
    }
    assert_eq!(report["head_hash"], prev.as_str());
    assert!(report.get("first_bad_seq").is_none());
}

#[tokio::test]
async fn verify_reports_an_intact_chain() {
    let app = spawn_app(vec![]).await;
    let r = app.verify().await;
    assert_eq!(
        r,
        json!({"ok": true, "entries": 1, "head_hash": r["head_hash"].clone()})
    );
    app.evaluate(&low_gpa("V-1")).await;
    let r2 = app.verify().await;
    assert_eq!(r2["entries"], 2);
    assert_ne!(r2["head_hash"], r["head_hash"]);
}

/// Append entries straight to a store (no server).
async fn fill(store: &Store, kind: &str, n: usize) {
    let entries = (0..n)
        .map(|i| {
            NewEntry::new(
                EntryKind::from(kind),
                "test",
                String::new(),
                json!({"i": i}),
            )
        })
        .collect();
    store.append_all(entries).await.expect("append");
}

#[tokio::test]
async fn a_query_past_the_scan_limit_still_returns_every_match() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), None).expect("open");
    // seq 1 is the only match; 50,000 newer entries do not match.
    fill(&store, "needle", 1).await;
    fill(&store, "hay", 50_000).await;
    let mut found = Vec::new();
    let mut before = None;
    for _ in 0..100 {
        let page = store
            .query(&Query {
                kind: Some("needle".into()),
                before,
                limit: 100,
                ..Query::default()
            })
            .expect("query");
        found.extend(page.entries.iter().map(|e| e.seq));
        match page.next_cursor {
            Some(c) => before = Some(c.parse().expect("cursor")),
            None => break,
        }
    }
    assert_eq!(
        found,
        vec![1],
        "the only matching entry is found by following cursors"
    );
    store.shutdown();
}

#[tokio::test]
async fn audit_query_over_http_and_the_library_agree() {
    let app: TestApp = spawn_app(vec![]).await;
    for i in 0..5 {
        app.evaluate(&low_gpa(&format!("Q-{i}"))).await;
    }
    let over_http = app.audit_all("rule=low-gpa", 2).await;
    let page = app
        .state
        .store
        .query(&Query {
            rule: Some("low-gpa".into()),
            limit: 100,
            ..Query::default()
        })
        .expect("query");
    let direct: Vec<Value> = page
        .entries
        .iter()
        .map(|e| serde_json::to_value(e).expect("entry"))
        .collect();
    assert_eq!(over_http, direct);
}
