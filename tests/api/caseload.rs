//! The caseload, its summary, rosters, review queue and reviews against the real
//! server: every filter and sort checked against counts the test makes from the
//! records it sent (never from the server's own answers), CSV a spreadsheet cannot
//! run, cursor walks while decisions arrive, review validation and carrying a
//! review forward, the index rebuilt after it is deleted, purges and withdrawals,
//! and the audit trail of every read and review.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::{Value, json};

use crate::helpers::{
    COUNSELOR_KEY, INGEST_KEY, TestApp, all_keys, assert_problem, header, json_ok, parse_ndjson,
    rules_dir, spawn_app,
};

const DOMAINS: [&str; 4] = ["attendance", "academic", "behavioral", "social_emotional"];

// ---------------------------------------------------------------------------
// What the records say, worked out by the test
// ---------------------------------------------------------------------------

/// A rule of the shipped rule set, as its YAML file says.
struct RuleInfo {
    domain: String,
    tier: u8,
    recommend: Vec<String>,
}

/// The shipped rules and interventions, read from `rules/` (not from the server).
struct Catalogue {
    rules: BTreeMap<String, RuleInfo>,
    /// Intervention id → its tier.
    interventions: BTreeMap<String, u8>,
}

fn yaml(dir: &Path, name: &str) -> serde_yaml::Value {
    let text = std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn catalogue() -> Catalogue {
    let dir = rules_dir();
    let mut rules = BTreeMap::new();
    for file in DOMAINS.map(|d| format!("{d}.yaml")) {
        let doc = yaml(&dir, &file);
        for r in doc["rules"].as_sequence().expect("rules list") {
            // Strengths flag nothing: no tier, no recommendation, not on the caseload.
            if r["kind"].as_str() == Some("strength") {
                continue;
            }
            let text = |k: &str| r[k].as_str().expect("text").to_string();
            rules.insert(
                text("id"),
                RuleInfo {
                    domain: text("domain"),
                    tier: r["tier"].as_u64().expect("tier") as u8,
                    recommend: r["recommend"]
                        .as_sequence()
                        .map(|s| {
                            s.iter()
                                .map(|i| i.as_str().expect("id").to_string())
                                .collect()
                        })
                        .unwrap_or_default(),
                },
            );
        }
    }
    let doc = yaml(&dir, "interventions.yaml");
    let interventions = doc["interventions"]
        .as_sequence()
        .expect("interventions list")
        .iter()
        .map(|i| {
            (
                i["id"].as_str().expect("id").to_string(),
                i["tier"].as_u64().expect("tier") as u8,
            )
        })
        .collect();
    Catalogue {
        rules,
        interventions,
    }
}

/// One student as sent, and what their record must come to.
#[derive(Clone, Debug)]
struct Kid {
    id: String,
    school: Option<String>,
    grade: i64,
    /// Which import (0, 1, 2) sent the record; each ran in its own second.
    batch: usize,
    record: Value,
    /// The rules the record fires, by the thresholds in DOMAIN.md.
    rules: BTreeSet<String>,
    /// Highest tier per domain.
    tiers: BTreeMap<String, u8>,
    highest: u8,
    /// Intervention → the fired rules recommending it.
    interventions: BTreeMap<String, BTreeSet<String>>,
}

impl Kid {
    fn tier_in(&self, domain: &str) -> u8 {
        self.tiers[domain]
    }

    /// Work out tiers and interventions from `rules`.
    fn finish(mut self, cat: &Catalogue) -> Kid {
        self.tiers = DOMAINS.iter().map(|d| (d.to_string(), 0)).collect();
        for r in &self.rules {
            let info = &cat.rules[r];
            let t = self.tiers.get_mut(&info.domain).expect("known domain");
            *t = (*t).max(info.tier);
            for i in &info.recommend {
                self.interventions
                    .entry(i.clone())
                    .or_default()
                    .insert(r.clone());
            }
        }
        self.highest = self.tiers.values().copied().max().unwrap_or(0);
        self
    }
}

fn course(id: &str, subject: &str, pct: f64) -> Value {
    json!({"course_id": id, "title": format!("{subject} course"), "subject": subject, "grade_pct": pct, "credits": 1.0})
}

fn screener(subject: &str, percentile: f64) -> Value {
    json!({"name": "Screener", "subject": subject, "percentile": percentile, "date": "2026-09-20"})
}

/// Student `i` of the cohort: attendance, courses, behavior and SEL levels chosen
/// so that every tier and most rules occur, with the rules each level fires by
/// the thresholds of DOMAIN.md (absence 5/10/20%, failing under 60, core = math and
/// ELA, GPA ≤ 2.0, percentiles 10/25, referrals 2/6, suspensions 1/2, T ≤ 40).
fn kid(i: usize, cat: &Catalogue) -> Kid {
    let a = [0, 0, 0, 0, 1, 1, 2, 3][(i * 3) % 8];
    let c = [0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6][(i * 5 + 1) % 11];
    let b = [0, 0, 0, 0, 0, 1, 2, 3, 4][(i * 7 + 2) % 9];
    let e = [0, 1, 1, 1, 1, 2, 2][(i * 5) % 7];
    let school = (i % 50 != 49).then(|| format!("SCH-{}", (i * 7 + 3) % 6));
    let grade = ((i as i64) * 11) % 15 - 1;
    kid_with(
        &format!("CL-{i:04}"),
        school,
        grade,
        (a, c, b, e),
        i / 100,
        cat,
    )
}

/// A student at the given (attendance, course, behavior, SEL) levels (see [`kid`]).
fn kid_with(
    id: &str,
    school: Option<String>,
    grade: i64,
    (a, c, b, e): (usize, usize, usize, usize),
    batch: usize,
    cat: &Catalogue,
) -> Kid {
    let mut rules: Vec<&str> = Vec::new();
    let present = [100.0, 93.0, 85.0, 75.0][a];
    rules.extend(match a {
        1 => &["attendance-watch"][..],
        2 => &["chronic-absence"],
        3 => &["severe-chronic-absence"],
        _ => &[],
    });
    let passing = vec![course("M1", "math", 85.0), course("E1", "ela", 88.0)];
    let (courses, gpa, assessments, academic): (Vec<Value>, f64, Vec<Value>, &[&str]) = match c {
        1 => (passing, 1.8, vec![], &["low-gpa"]),
        2 => {
            let mut cs = passing;
            cs.push(course("H1", "social_studies", 50.0));
            (cs, 3.0, vec![], &["course-failure"])
        }
        3 => (
            vec![course("M1", "math", 40.0), course("E1", "ela", 45.0)],
            3.0,
            vec![],
            &["course-failure", "multiple-core-failures"],
        ),
        4 => (
            passing,
            3.0,
            vec![screener("reading", 20.0)],
            &["reading-below-benchmark"],
        ),
        5 => (
            passing,
            3.0,
            vec![screener("reading", 5.0), screener("math", 15.0)],
            &["reading-well-below-benchmark", "math-below-benchmark"],
        ),
        6 => (
            vec![course("M1", "math", 50.0), course("E1", "ela", 88.0)],
            3.0,
            vec![],
            &["course-failure"],
        ),
        _ => (passing, 3.0, vec![], &[]),
    };
    rules.extend(academic);
    let (referrals, in_school, out_of_school) =
        [(0, 0, 0), (3, 0, 0), (7, 0, 0), (0, 0, 1), (1, 1, 1)][b];
    rules.extend(match b {
        1 => &["repeated-referrals"][..],
        2 => &["frequent-referrals"],
        3 => &["suspension"],
        4 => &["repeated-suspensions"],
        _ => &[],
    });
    if a >= 2 && (c == 3 || c == 6) && b >= 1 {
        rules.push("abc-off-track");
    }
    let mut record = json!({
        "student_id": id,
        "grade_level": grade,
        "as_of": "2026-11-20",
        "attendance": {"days_enrolled": 100.0, "days_present": present},
        "courses": courses,
        "gpa": gpa,
        "assessments": assessments,
        "behavior": {"office_referrals": referrals, "suspensions_in_school": in_school, "suspensions_out_of_school": out_of_school},
    });
    if let Some(s) = &school {
        record["school_id"] = json!(s);
    }
    match e {
        1 => {
            record["sel"] = json!({"screener": "DESSA-mini", "t_score": 55.0, "date": "2026-10-01"})
        }
        2 => {
            record["sel"] =
                json!({"screener": "DESSA-mini", "t_score": 35.0, "date": "2026-10-01"});
            rules.push("sel-need-for-instruction");
        }
        _ => {}
    }
    Kid {
        id: id.to_string(),
        school,
        grade,
        batch,
        record,
        rules: rules.into_iter().map(String::from).collect(),
        tiers: BTreeMap::new(),
        highest: 0,
        interventions: BTreeMap::new(),
    }
    .finish(cat)
}

/// The 300-student cohort, checked to hold every tier and most rules, so no
/// filter below can pass by matching nothing.
fn cohort(cat: &Catalogue) -> Vec<Kid> {
    let kids: Vec<Kid> = (0..300).map(|i| kid(i, cat)).collect();
    for t in 0..=3u8 {
        let n = kids.iter().filter(|k| k.highest == t).count();
        assert!(n >= 5, "the cohort has only {n} students at tier {t}");
    }
    let fired: BTreeSet<&String> = kids.iter().flat_map(|k| &k.rules).collect();
    assert!(
        fired.len() >= 14,
        "only {} rules fire: {fired:?}",
        fired.len()
    );
    assert!(kids.iter().any(|k| k.school.is_none()));
    kids
}

// ---------------------------------------------------------------------------
// Talking to the server
// ---------------------------------------------------------------------------

/// `a=b&c=d`, percent-encoded.
fn qs(pairs: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

fn with_query(path: &str, query: &str) -> String {
    if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{query}")
    }
}

async fn get_ok(app: &TestApp, path: &str, key: &str) -> Value {
    json_ok(app.get_as(path, Some(key)).await).await
}

/// POST an NDJSON import as the SIS; asserts every line was taken.
async fn import(app: &TestApp, records: &[&Value]) -> Value {
    let body: String = records.iter().map(|r| format!("{r}\n")).collect();
    let resp = app
        .post_raw_as(
            "/v1/students/import",
            "application/x-ndjson",
            body,
            Some(INGEST_KEY),
        )
        .await;
    let status = resp.status();
    let text = resp.text().await.expect("import answer");
    assert_eq!(status, 200, "import: {text}");
    let lines = parse_ndjson(&text);
    let (last, errors) = lines.split_last().expect("a summary line");
    assert!(errors.is_empty(), "import refused lines: {errors:?}");
    let summary = last["summary"].clone();
    assert_eq!(summary["rejected"], 0, "import rejected records: {summary}");
    summary
}

/// Evaluate a record as the SIS (a new decision for its student).
async fn evaluate(app: &TestApp, record: &Value) -> Value {
    json_ok(
        app.post_json_as("/v1/evaluate", record, Some(INGEST_KEY))
            .await,
    )
    .await
}

/// Import the cohort in its three batches, each in a later wall-clock second than
/// the one before (decision times have whole seconds), so `sort=evaluated_at` has
/// an order the test knows.
async fn import_cohort(app: &TestApp, kids: &[Kid]) {
    for batch in 0..3 {
        if batch > 0 {
            next_second().await;
        }
        let records: Vec<&Value> = kids
            .iter()
            .filter(|k| k.batch == batch)
            .map(|k| &k.record)
            .collect();
        let summary = import(app, &records).await;
        assert_eq!(summary["imported"], records.len(), "{summary}");
    }
}

/// Wait until the wall clock is in the next whole second.
async fn next_second() {
    let now = chrono::Utc::now();
    let next = now.timestamp() + 1;
    let wait = 1_000_000_000i64 - i64::from(now.timestamp_subsec_nanos()) + 5_000_000;
    tokio::time::sleep(std::time::Duration::from_nanos(wait as u64)).await;
    assert!(chrono::Utc::now().timestamp() >= next);
}

/// Every entry of `/v1/caseload?<query>` as the counselor, following `next_cursor` with
/// pages of `limit`; asserts no page is longer than `limit`.
async fn walk(app: &TestApp, query: &str, limit: usize) -> Vec<Value> {
    walk_list(app, "/v1/caseload", "students", query, limit).await
}

async fn walk_list(
    app: &TestApp,
    path: &str,
    field: &str,
    query: &str,
    limit: usize,
) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..2_000 {
        let mut q = format!("limit={limit}");
        if !query.is_empty() {
            q = format!("{query}&{q}");
        }
        if let Some(c) = &cursor {
            q.push_str(&format!("&cursor={c}"));
        }
        let page = get_ok(app, &with_query(path, &q), COUNSELOR_KEY).await;
        let items = page[field]
            .as_array()
            .unwrap_or_else(|| panic!("no `{field}` list: {page}"));
        assert!(
            items.len() <= limit,
            "{} items > limit {limit}",
            items.len()
        );
        out.extend(items.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return out,
        }
    }
    panic!("the walk of {path}?{query} did not end");
}

fn ids(entries: &[Value]) -> Vec<String> {
    entries
        .iter()
        .map(|e| e["student_id"].as_str().expect("student_id").to_string())
        .collect()
}

fn sorted_ids<'a>(kids: impl Iterator<Item = &'a Kid>) -> Vec<String> {
    let mut v: Vec<String> = kids.map(|k| k.id.clone()).collect();
    v.sort();
    v
}

/// The caseload entry of one student (`None` when not in the caseload).
async fn entry_of(app: &TestApp, id: &str) -> Option<Value> {
    let page = get_ok(
        app,
        &format!("/v1/caseload?{}", qs(&[("q", id), ("limit", "500")])),
        COUNSELOR_KEY,
    )
    .await;
    page["students"]
        .as_array()
        .expect("students")
        .iter()
        .find(|e| e["student_id"] == id)
        .cloned()
}

async fn must_entry(app: &TestApp, id: &str) -> Value {
    entry_of(app, id)
        .await
        .unwrap_or_else(|| panic!("{id} is not in the caseload"))
}

/// The flag of `rule` in a caseload entry.
fn flag<'a>(entry: &'a Value, rule: &str) -> &'a Value {
    entry["flags"]
        .as_array()
        .expect("flags")
        .iter()
        .find(|f| f["rule_id"] == rule)
        .unwrap_or_else(|| panic!("no flag `{rule}` in {entry}"))
}

fn state(entry: &Value, rule: &str) -> String {
    flag(entry, rule)["review_state"]
        .as_str()
        .expect("review_state")
        .to_string()
}

fn seq_of(entry: &Value) -> u64 {
    entry["decision_seq"].as_u64().expect("decision_seq")
}

/// POST a review as the counselor.
async fn review(app: &TestApp, student: &str, body: &Value) -> reqwest::Response {
    app.post_json_as(
        &format!("/v1/students/{}/reviews", enc(student)),
        body,
        Some(COUNSELOR_KEY),
    )
    .await
}

/// A review that must be taken: its 201 body.
async fn review_ok(app: &TestApp, student: &str, body: &Value) -> Value {
    let resp = review(app, student, body).await;
    let status = resp.status();
    let text = resp.text().await.expect("body");
    assert_eq!(status, 201, "review of {student}: {text}");
    serde_json::from_str(&text).expect("JSON")
}

/// A path segment, percent-encoded.
fn enc(segment: &str) -> String {
    form_urlencoded::byte_serialize(segment.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

fn today() -> chrono::NaiveDate {
    chrono::Utc::now().date_naive()
}

// ---------------------------------------------------------------------------
// 1. A 300-student import: contents, filters, sorts
// ---------------------------------------------------------------------------

/// An entry says what the record says: school, grade, tiers, flags, interventions.
fn assert_entry_is(e: &Value, k: &Kid, cat: &Catalogue) {
    let id = &k.id;
    assert_eq!(
        e["school"].as_str(),
        k.school.as_deref(),
        "{id} school: {e}"
    );
    assert_eq!(e["grade"], k.grade, "{id} grade: {e}");
    for d in DOMAINS {
        assert_eq!(e["tiers"][d], k.tier_in(d), "{id} {d} tier: {e}");
    }
    assert_eq!(e["highest_tier"], k.highest, "{id} highest tier: {e}");
    let flags: BTreeSet<String> = e["flags"]
        .as_array()
        .expect("flags")
        .iter()
        .map(|f| {
            let r = f["rule_id"].as_str().expect("rule_id");
            let info = &cat.rules[r];
            assert_eq!(f["tier"], info.tier, "{id} {r}: {f}");
            assert_eq!(f["domain"], info.domain.as_str(), "{id} {r}: {f}");
            assert_eq!(f["review_state"], "unreviewed", "{id} {r}: {f}");
            r.to_string()
        })
        .collect();
    assert_eq!(flags, k.rules, "{id} flags");
    let recs: BTreeMap<String, BTreeSet<String>> = e["interventions"]
        .as_array()
        .expect("interventions")
        .iter()
        .map(|r| {
            let i = r["intervention"].as_str().expect("intervention");
            assert_eq!(r["tier"], cat.interventions[i], "{id} {i} tier: {r}");
            let because = r["because"]
                .as_array()
                .expect("because")
                .iter()
                .map(|b| b.as_str().expect("rule").to_string())
                .collect();
            (i.to_string(), because)
        })
        .collect();
    assert_eq!(recs, k.interventions, "{id} interventions");
}

type Pred = Box<dyn Fn(&Kid) -> bool>;

/// Each filter (alone and combined) and what it must select.
fn filter_cases() -> Vec<(String, Pred)> {
    let has = |r: &'static str| move |k: &Kid| k.rules.contains(r);
    let rec = |i: &'static str| move |k: &Kid| k.interventions.contains_key(i);
    let mut cases: Vec<(String, Pred)> = vec![
        (
            qs(&[("school", "SCH-2")]),
            Box::new(|k| k.school.as_deref() == Some("SCH-2")),
        ),
        (qs(&[("grade", "9")]), Box::new(|k| k.grade == 9)),
        (qs(&[("grade", "-1")]), Box::new(|k| k.grade == -1)),
        (
            qs(&[("domain", "attendance")]),
            Box::new(|k| k.tier_in("attendance") > 0),
        ),
        (
            qs(&[("domain", "behavioral"), ("tier", "3")]),
            Box::new(|k| k.tier_in("behavioral") == 3),
        ),
        (
            qs(&[("domain", "academic"), ("min_tier", "2")]),
            Box::new(|k| k.tier_in("academic") >= 2),
        ),
        (
            qs(&[("domain", "social_emotional"), ("tier", "0")]),
            Box::new(|k| k.tier_in("social_emotional") == 0),
        ),
        (qs(&[("min_tier", "2")]), Box::new(|k| k.highest >= 2)),
        (
            qs(&[("rule", "abc-off-track")]),
            Box::new(has("abc-off-track")),
        ),
        (
            qs(&[("rule", "attendance-watch")]),
            Box::new(has("attendance-watch")),
        ),
        (
            qs(&[("rule", "course-failure"), ("domain", "academic")]),
            Box::new(has("course-failure")),
        ),
        // A rule of another domain matches nothing.
        (
            qs(&[("rule", "course-failure"), ("domain", "attendance")]),
            Box::new(|_| false),
        ),
        (
            qs(&[("intervention", "tutoring")]),
            Box::new(rec("tutoring")),
        ),
        (
            qs(&[("intervention", "check-in-check-out")]),
            Box::new(rec("check-in-check-out")),
        ),
        (
            qs(&[("intervention", "small-group-sel")]),
            Box::new(rec("small-group-sel")),
        ),
        (
            qs(&[("q", "CL-01")]),
            Box::new(|k| k.id.starts_with("CL-01")),
        ),
        (
            qs(&[("q", "CL-002")]),
            Box::new(|k| k.id.starts_with("CL-002")),
        ),
        (
            qs(&[
                ("school", "SCH-1"),
                ("domain", "attendance"),
                ("min_tier", "3"),
            ]),
            Box::new(|k| k.school.as_deref() == Some("SCH-1") && k.tier_in("attendance") >= 3),
        ),
        (
            qs(&[("q", "CL-02"), ("rule", "low-gpa")]),
            Box::new(|k| k.id.starts_with("CL-02") && k.rules.contains("low-gpa")),
        ),
        (qs(&[("school", "NO-SUCH-SCHOOL")]), Box::new(|_| false)),
    ];
    for t in 0..=3u8 {
        cases.push((
            qs(&[("tier", &t.to_string())]),
            Box::new(move |k| k.highest == t),
        ));
    }
    cases
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_filter_and_sort_of_a_300_student_import_matches_the_records_sent() {
    let cat = catalogue();
    let kids = cohort(&cat);
    let by_id: BTreeMap<&str, &Kid> = kids.iter().map(|k| (k.id.as_str(), k)).collect();
    let app = spawn_app(all_keys()).await;
    import_cohort(&app, &kids).await;

    // Everyone, each entry as the record says.
    let all = walk(&app, "", 500).await;
    assert_eq!(ids(&all), sorted_ids(kids.iter()), "the whole caseload");
    for e in &all {
        let id = e["student_id"].as_str().expect("id");
        assert_entry_is(e, by_id[id], &cat);
    }

    // Every filter against the count made here.
    for (query, pred) in filter_cases() {
        let want = sorted_ids(kids.iter().filter(|k| pred(k)));
        let got = ids(&walk(&app, &query, 500).await);
        assert_eq!(
            got,
            want,
            "?{query}: {} served, {} expected",
            got.len(),
            want.len()
        );
        // The same in small pages (cursors combined with the filter).
        let paged = ids(&walk(&app, &query, 7).await);
        assert_eq!(paged, want, "?{query} in pages of 7");
    }

    // Sorts.
    let student = ids(&walk(&app, "sort=student", 37).await);
    assert_eq!(student, sorted_ids(kids.iter()), "sort=student");

    let mut by_tier: Vec<&Kid> = kids.iter().collect();
    by_tier.sort_by(|a, b| b.highest.cmp(&a.highest).then(a.id.cmp(&b.id)));
    let want: Vec<String> = by_tier.iter().map(|k| k.id.clone()).collect();
    assert_eq!(ids(&walk(&app, "sort=tier", 37).await), want, "sort=tier");

    let mut att: Vec<&Kid> = kids
        .iter()
        .filter(|k| k.tier_in("attendance") > 0)
        .collect();
    att.sort_by(|a, b| {
        b.tier_in("attendance")
            .cmp(&a.tier_in("attendance"))
            .then(a.id.cmp(&b.id))
    });
    let want: Vec<String> = att.iter().map(|k| k.id.clone()).collect();
    assert_eq!(
        ids(&walk(&app, "sort=tier&domain=attendance", 20).await),
        want,
        "sort=tier by the attendance tier"
    );

    let mut sch: Vec<&Kid> = kids
        .iter()
        .filter(|k| k.school.as_deref() == Some("SCH-0") && k.highest >= 2)
        .collect();
    sch.sort_by(|a, b| b.highest.cmp(&a.highest).then(a.id.cmp(&b.id)));
    let want: Vec<String> = sch.iter().map(|k| k.id.clone()).collect();
    assert_eq!(
        ids(&walk(&app, "sort=tier&school=SCH-0&min_tier=2", 5).await),
        want,
        "sort=tier with filters"
    );

    // Oldest decision first: the three imports in the order they were sent.
    let oldest = walk(&app, "sort=evaluated_at", 37).await;
    let got = ids(&oldest);
    let mut set = got.clone();
    set.sort();
    assert_eq!(
        set,
        sorted_ids(kids.iter()),
        "sort=evaluated_at serves everyone once"
    );
    let batches: Vec<usize> = got.iter().map(|id| by_id[id.as_str()].batch).collect();
    assert!(
        batches.windows(2).all(|w| w[0] <= w[1]),
        "sort=evaluated_at is not oldest import first: {batches:?}"
    );
    for w in oldest.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        let (ta, tb) = (a["evaluated_at"].as_str(), b["evaluated_at"].as_str());
        assert!(
            ta < tb || (ta == tb && a["student_id"].as_str() < b["student_id"].as_str()),
            "out of order: {a} then {b}"
        );
    }

    // Bad parameters name themselves.
    let bad: [(&str, &[&str]); 8] = [
        ("shcool=SCH-1", &["shcool", "did you mean `school`"]),
        ("tier=4", &["tier"]),
        ("review=maybe", &["review", "unreviewed"]),
        ("sort=name", &["sort", "evaluated_at"]),
        ("limit=0", &["limit"]),
        ("limit=501", &["limit", "500"]),
        ("cursor=zz", &["cursor"]),
        ("format=xml", &["format"]),
    ];
    for (query, needles) in bad {
        let resp = app
            .get_as(&format!("/v1/caseload?{query}"), Some(COUNSELOR_KEY))
            .await;
        assert_problem(resp, 400, needles).await;
    }
    let page = get_ok(&app, "/v1/caseload?sort=student&limit=5", COUNSELOR_KEY).await;
    let cursor = page["next_cursor"].as_str().expect("a next page");
    let resp = app
        .get_as(
            &format!("/v1/caseload?sort=tier&cursor={cursor}"),
            Some(COUNSELOR_KEY),
        )
        .await;
    assert_problem(resp, 400, &["cursor", "sort"]).await;
}

// ---------------------------------------------------------------------------
// 1b. Summary, groups and the queue of the same import; the review filter
// ---------------------------------------------------------------------------

fn assert_close(got: &Value, want: f64, what: &str) {
    let g = got
        .as_f64()
        .unwrap_or_else(|| panic!("{what} is not a number: {got}"));
    assert!((g - want).abs() < 1e-9, "{what}: {g}, expected {want}");
}

/// The summary the records call for, over `kids`.
fn assert_summary(s: &Value, kids: &[&Kid], what: &str) {
    let n = kids.len();
    assert_eq!(s["students"], n, "{what}: students");
    assert_eq!(
        s["reference"],
        json!({"tier2_share": 0.15, "tier3_share": 0.05}),
        "{what}: the MTSS reference of DOMAIN.md"
    );
    let check = |counts: &Value, tier_of: &dyn Fn(&Kid) -> u8, label: &str| {
        let mut want = [0u64; 4];
        for k in kids {
            want[usize::from(tier_of(k))] += 1;
        }
        assert_eq!(counts["tiers"], json!(want), "{what} {label}: {counts}");
        let share = |t: usize| {
            if n == 0 {
                0.0
            } else {
                want[t] as f64 / n as f64
            }
        };
        assert_close(
            &counts["tier2_share"],
            share(2),
            &format!("{what} {label} tier 2 share"),
        );
        assert_close(
            &counts["tier3_share"],
            share(3),
            &format!("{what} {label} tier 3 share"),
        );
        assert_eq!(
            counts["tier2_above_reference"],
            share(2) > 0.15,
            "{what} {label}"
        );
        assert_eq!(
            counts["tier3_above_reference"],
            share(3) > 0.05,
            "{what} {label}"
        );
    };
    check(&s["overall"], &|k| k.highest, "overall");
    for d in DOMAINS {
        check(&s["by_domain"][d], &|k| k.tier_in(d), d);
    }
    let mut rules: BTreeMap<String, u64> = BTreeMap::new();
    let mut interventions: BTreeMap<String, u64> = BTreeMap::new();
    for k in kids {
        for r in &k.rules {
            *rules.entry(r.clone()).or_default() += 1;
        }
        for i in k.interventions.keys() {
            *interventions.entry(i.clone()).or_default() += 1;
        }
    }
    assert_eq!(s["by_rule"], json!(rules), "{what}: students per rule");
    assert_eq!(
        s["by_intervention"],
        json!(interventions),
        "{what}: students per intervention"
    );
}

/// What one roster must be: its id, tier, domain, interventions, and each student
/// with the rules that put them there.
struct WantGroup {
    id: String,
    tier: u8,
    domain: String,
    interventions: BTreeSet<String>,
    students: BTreeMap<String, BTreeSet<String>>,
}

fn want_groups(kids: &[&Kid], cat: &Catalogue, by_rule: bool) -> Vec<WantGroup> {
    let mut groups: BTreeMap<(std::cmp::Reverse<u8>, String), WantGroup> = BTreeMap::new();
    for k in kids {
        let memberships: Vec<(String, BTreeSet<String>)> = if by_rule {
            k.rules
                .iter()
                .map(|r| (r.clone(), BTreeSet::from([r.clone()])))
                .collect()
        } else {
            k.interventions
                .iter()
                .map(|(i, because)| (i.clone(), because.clone()))
                .collect()
        };
        for (id, rules) in memberships {
            let (tier, domain, interventions) = if by_rule {
                let info = &cat.rules[&id];
                (
                    info.tier,
                    info.domain.clone(),
                    info.recommend.iter().cloned().collect(),
                )
            } else {
                let domains: BTreeSet<&String> =
                    rules.iter().map(|r| &cat.rules[r].domain).collect();
                assert_eq!(domains.len(), 1, "{id} is recommended from one domain here");
                let domain = domains.into_iter().next().expect("a domain").clone();
                (cat.interventions[&id], domain, BTreeSet::from([id.clone()]))
            };
            groups
                .entry((std::cmp::Reverse(tier), id.clone()))
                .or_insert_with(|| WantGroup {
                    id,
                    tier,
                    domain,
                    interventions,
                    students: BTreeMap::new(),
                })
                .students
                .insert(k.id.clone(), rules);
        }
    }
    groups.into_values().collect()
}

fn assert_groups(got: &Value, want: &[WantGroup], by: &str, what: &str) {
    let got = got["groups"].as_array().expect("groups");
    let got_ids: Vec<(u64, &str)> = got
        .iter()
        .map(|g| {
            (
                g["tier"].as_u64().expect("tier"),
                g["id"].as_str().expect("id"),
            )
        })
        .collect();
    let want_ids: Vec<(u64, &str)> = want
        .iter()
        .map(|g| (u64::from(g.tier), g.id.as_str()))
        .collect();
    assert_eq!(got_ids, want_ids, "{what}: groups, highest tier first");
    for (g, w) in got.iter().zip(want) {
        let id = &w.id;
        assert_eq!(g["by"], by, "{what} {id}");
        assert_eq!(g["domain"], w.domain.as_str(), "{what} {id}: domain");
        let interventions: BTreeSet<String> = g["interventions"]
            .as_array()
            .expect("interventions")
            .iter()
            .map(|i| i.as_str().expect("id").to_string())
            .collect();
        assert_eq!(interventions, w.interventions, "{what} {id}: interventions");
        let members: Vec<&str> = g["students"]
            .as_array()
            .expect("students")
            .iter()
            .map(|m| m["student_id"].as_str().expect("id"))
            .collect();
        let want_members: Vec<&str> = w.students.keys().map(String::as_str).collect();
        assert_eq!(members, want_members, "{what} {id}: students in id order");
        for m in g["students"].as_array().expect("students") {
            let sid = m["student_id"].as_str().expect("id");
            let flags: BTreeSet<String> = m["flags"]
                .as_array()
                .expect("flags")
                .iter()
                .map(|f| f["rule_id"].as_str().expect("rule").to_string())
                .collect();
            assert_eq!(&flags, &w.students[sid], "{what} {id}: flags of {sid}");
        }
    }
}

/// Every (student, rule) the queue must hold: unreviewed flags at `min_tier` and up.
fn want_queue(
    kids: &[&Kid],
    cat: &Catalogue,
    min_tier: u8,
    reviewed: &BTreeMap<(String, String), &str>,
) -> BTreeSet<(String, String)> {
    kids.iter()
        .flat_map(|k| k.rules.iter().map(move |r| (k.id.clone(), r.clone())))
        .filter(|(_, r)| cat.rules[r].tier >= min_tier)
        .filter(|key| !reviewed.contains_key(key))
        .collect()
}

async fn queue_items(app: &TestApp, query: &str, limit: usize) -> Vec<Value> {
    walk_list(app, "/v1/reviews/queue", "items", query, limit).await
}

fn pairs(items: &[Value]) -> BTreeSet<(String, String)> {
    let set: BTreeSet<(String, String)> = items
        .iter()
        .map(|i| {
            (
                i["student_id"].as_str().expect("id").to_string(),
                i["rule_id"].as_str().expect("rule").to_string(),
            )
        })
        .collect();
    assert_eq!(set.len(), items.len(), "an item is served twice");
    set
}

/// The samples of one metric in `/metrics`: (labels, value).
async fn samples(app: &TestApp, name: &str) -> Vec<(BTreeMap<String, String>, f64)> {
    let resp = app.get_as("/metrics", None).await;
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.expect("metrics");
    text.lines()
        .filter_map(|l| l.strip_prefix(name)?.strip_prefix('{'))
        .map(|rest| {
            let (labels, value) = rest.rsplit_once("} ").expect("a sample");
            let labels = labels
                .split("\",")
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once("=\"").expect("label");
                    (k.to_string(), v.trim_end_matches('"').to_string())
                })
                .collect();
            (labels, value.trim().parse().expect("a number"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summary_groups_queue_and_review_filters_match_the_records_sent() {
    let cat = catalogue();
    let kids = cohort(&cat);
    let by_id: BTreeMap<&str, &Kid> = kids.iter().map(|k| (k.id.as_str(), k)).collect();
    let app = spawn_app(all_keys()).await;
    import_cohort(&app, &kids).await;
    let everyone: Vec<&Kid> = kids.iter().collect();

    // The summary, whole and filtered; an empty selection has shares of 0.
    let whole = get_ok(&app, "/v1/caseload/summary", COUNSELOR_KEY).await;
    assert_summary(&whole, &everyone, "summary");
    for (query, pred) in filter_cases() {
        let s = get_ok(
            &app,
            &format!("/v1/caseload/summary?{query}"),
            COUNSELOR_KEY,
        )
        .await;
        let chosen: Vec<&Kid> = kids.iter().filter(|k| pred(k)).collect();
        assert_summary(&s, &chosen, &format!("summary?{query}"));
    }
    let resp = app
        .get_as("/v1/caseload/summary?sort=tier", Some(COUNSELOR_KEY))
        .await;
    assert_problem(resp, 400, &["sort"]).await;

    // The share gauges per school, as the summary of that school.
    let gauges = samples(&app, "intervene_caseload_tier_share").await;
    for school in (0..6).map(|n| format!("SCH-{n}")) {
        let of: Vec<&Kid> = kids
            .iter()
            .filter(|k| k.school.as_ref() == Some(&school))
            .collect();
        for (domain, tier) in [
            ("all", 2u8),
            ("all", 3),
            ("attendance", 3),
            ("social_emotional", 2),
        ] {
            let at = |k: &&&Kid| {
                if domain == "all" {
                    k.highest == tier
                } else {
                    k.tier_in(domain) == tier
                }
            };
            let want = of.iter().filter(at).count() as f64 / of.len() as f64;
            let got = gauges
                .iter()
                .find(|(l, _)| {
                    l["school"] == school && l["domain"] == domain && l["tier"] == tier.to_string()
                })
                .unwrap_or_else(|| panic!("no gauge for {school} {domain} {tier}: {gauges:?}"))
                .1;
            assert!(
                (got - want).abs() < 1e-9,
                "{school} {domain} tier {tier}: {got} != {want}"
            );
        }
    }

    // Rosters by intervention (the default) and by rule, whole and filtered.
    let g = get_ok(&app, "/v1/groups", COUNSELOR_KEY).await;
    assert_groups(
        &g,
        &want_groups(&everyone, &cat, false),
        "intervention",
        "groups",
    );
    let g = get_ok(&app, "/v1/groups?by=rule", COUNSELOR_KEY).await;
    assert_groups(
        &g,
        &want_groups(&everyone, &cat, true),
        "rule",
        "groups?by=rule",
    );
    let pivot = &kids[10];
    let (school, grade) = (pivot.school.clone().expect("a school"), pivot.grade);
    let in_school: Vec<&Kid> = kids
        .iter()
        .filter(|k| k.school.as_ref() == Some(&school) && k.grade == grade)
        .collect();
    assert!(in_school.len() > 3, "{in_school:?}");
    for by in ["intervention", "rule"] {
        let g = get_ok(
            &app,
            &format!("/v1/groups?by={by}&school={school}&grade={grade}"),
            COUNSELOR_KEY,
        )
        .await;
        let what = format!("{school} grade {grade}");
        assert_groups(&g, &want_groups(&in_school, &cat, by == "rule"), by, &what);
    }
    let resp = app.get_as("/v1/groups?by=tier", Some(COUNSELOR_KEY)).await;
    assert_problem(resp, 400, &["by", "intervention", "rule"]).await;

    // The queue: every unreviewed flag at tier 2 and up, oldest first.
    let none = BTreeMap::new();
    let items = queue_items(&app, "", 50).await;
    assert_eq!(
        pairs(&items),
        want_queue(&everyone, &cat, 2, &none),
        "the queue"
    );
    let batches: Vec<usize> = items
        .iter()
        .map(|i| by_id[i["student_id"].as_str().expect("id")].batch)
        .collect();
    assert!(
        batches.windows(2).all(|w| w[0] <= w[1]),
        "the queue is not oldest first: {batches:?}"
    );
    for w in items.windows(2) {
        let key = |i: &Value| {
            (
                i["since"].as_str().expect("since").to_string(),
                i["student_id"].as_str().expect("id").to_string(),
                i["rule_id"].as_str().expect("rule").to_string(),
            )
        };
        assert!(
            key(&w[0]) < key(&w[1]),
            "queue order: {} then {}",
            w[0],
            w[1]
        );
    }
    let tier3_sch1: Vec<&Kid> = kids
        .iter()
        .filter(|k| k.school.as_deref() == Some("SCH-1"))
        .collect();
    let got = pairs(&queue_items(&app, "min_tier=3&school=SCH-1", 10).await);
    assert_eq!(
        got,
        want_queue(&tier3_sch1, &cat, 3, &none),
        "queue?min_tier=3&school=SCH-1"
    );
    let got = pairs(&queue_items(&app, "domain=behavioral", 500).await);
    let want: BTreeSet<(String, String)> = want_queue(&everyone, &cat, 2, &none)
        .into_iter()
        .filter(|(_, r)| cat.rules[r].domain == "behavioral")
        .collect();
    assert_eq!(got, want, "queue?domain=behavioral");
    let resp = app
        .get_as("/v1/reviews/queue?review=unreviewed", Some(COUNSELOR_KEY))
        .await;
    assert_problem(resp, 400, &["review"]).await;

    // Reviews: A confirms one flag, B dismisses all of theirs, C defers one.
    let two_or_more = |k: &&Kid| k.rules.iter().filter(|r| cat.rules[*r].tier >= 2).count() >= 2;
    let mut pick = kids.iter().filter(two_or_more);
    let a = pick.next().expect("a student with two flags");
    let c = pick.next().expect("another student with two flags");
    let b = kids
        .iter()
        .find(|k| !k.rules.is_empty() && k.id != a.id && k.id != c.id)
        .expect("a flagged student");
    let ra = a
        .rules
        .iter()
        .find(|r| cat.rules[*r].tier >= 2)
        .expect("a tier 2 flag")
        .clone();
    let rc = c
        .rules
        .iter()
        .find(|r| cat.rules[*r].tier >= 2)
        .expect("a tier 2 flag")
        .clone();
    let until = (today() + chrono::Duration::days(7)).to_string();
    let mut reviewed: BTreeMap<(String, String), &str> = BTreeMap::new();
    let e = must_entry(&app, &a.id).await;
    review_ok(
        &app,
        &a.id,
        &json!({"decision_seq": seq_of(&e), "flags": [{"rule_id": ra, "action": "confirm"}]}),
    )
    .await;
    reviewed.insert((a.id.clone(), ra.clone()), "confirmed");
    let e = must_entry(&app, &b.id).await;
    let flags: Vec<Value> = b
        .rules
        .iter()
        .map(|r| json!({"rule_id": r, "action": "dismiss", "reason": "documented hospital stay"}))
        .collect();
    review_ok(
        &app,
        &b.id,
        &json!({"decision_seq": seq_of(&e), "flags": flags}),
    )
    .await;
    for r in &b.rules {
        reviewed.insert((b.id.clone(), r.clone()), "dismissed");
    }
    let e = must_entry(&app, &c.id).await;
    review_ok(
        &app,
        &c.id,
        &json!({"decision_seq": seq_of(&e), "flags": [{"rule_id": rc, "action": "defer", "until": until}], "note": "after the parent meeting"}),
    )
    .await;
    reviewed.insert((c.id.clone(), rc.clone()), "deferred");

    let state_of = |k: &Kid, r: &str| {
        reviewed
            .get(&(k.id.clone(), r.to_string()))
            .copied()
            .unwrap_or("unreviewed")
    };
    for (filter, rule) in [
        ("confirmed", None),
        ("dismissed", None),
        ("deferred", None),
        ("unreviewed", None),
        ("unreviewed", Some(ra.as_str())),
        ("confirmed", Some(ra.as_str())),
        ("dismissed", Some(ra.as_str())),
    ] {
        let want = sorted_ids(kids.iter().filter(|k| {
            k.rules
                .iter()
                .any(|r| rule.is_none_or(|x| x == r) && state_of(k, r) == filter)
        }));
        let mut pairs_q = vec![("review", filter)];
        if let Some(r) = rule {
            pairs_q.push(("rule", r));
        }
        let query = qs(&pairs_q);
        assert_eq!(ids(&walk(&app, &query, 500).await), want, "?{query}");
    }
    // Every flag shows its state.
    for e in walk(&app, "", 500).await {
        let k = by_id[e["student_id"].as_str().expect("id")];
        for r in &k.rules {
            assert_eq!(state(&e, r), state_of(k, r), "{} {r}", k.id);
        }
    }
    // The queue lost exactly the reviewed flags; the summary did not change.
    let got = pairs(&queue_items(&app, "", 100).await);
    assert_eq!(
        got,
        want_queue(&everyone, &cat, 2, &reviewed),
        "the queue after reviews"
    );
    let after = get_ok(&app, "/v1/caseload/summary", COUNSELOR_KEY).await;
    assert_eq!(after, whole, "reviews change no count");
    // The rosters show each review beside its flag.
    let g = get_ok(&app, "/v1/groups?by=rule", COUNSELOR_KEY).await;
    for ((student, rule), want) in &reviewed {
        let member = g["groups"]
            .as_array()
            .expect("groups")
            .iter()
            .filter(|g| g["id"] == rule.as_str())
            .flat_map(|g| g["students"].as_array().expect("students"))
            .find(|m| m["student_id"] == student.as_str())
            .unwrap_or_else(|| panic!("{student} is not in the {rule} roster"));
        assert_eq!(member["flags"][0]["review"], *want, "{member}");
    }
}

// ---------------------------------------------------------------------------
// 2. CSV a spreadsheet opens without running anything
// ---------------------------------------------------------------------------

/// Rows of RFC 4180 text (CRLF line ends, `"` doubled inside quotes), after the
/// byte-order mark the answer starts with.
fn parse_csv(bytes: &[u8]) -> Vec<Vec<String>> {
    let text = std::str::from_utf8(bytes).expect("CSV is UTF-8");
    let text = text
        .strip_prefix('\u{feff}')
        .unwrap_or_else(|| panic!("no byte-order mark first: {text:?}"));
    let (mut rows, mut row, mut cell) = (Vec::new(), Vec::new(), String::new());
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(ch) = chars.next() {
        if quoted {
            match ch {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    cell.push('"');
                }
                '"' => quoted = false,
                _ => cell.push(ch),
            }
            continue;
        }
        match ch {
            '"' => {
                assert!(cell.is_empty(), "a quote inside an unquoted cell: {text:?}");
                quoted = true;
            }
            ',' => row.push(std::mem::take(&mut cell)),
            '\r' => {
                assert_eq!(chars.next(), Some('\n'), "a CR without LF: {text:?}");
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            '\n' => panic!("a bare LF ends a row: {text:?}"),
            _ => cell.push(ch),
        }
    }
    assert!(!quoted, "an unterminated quote: {text:?}");
    assert!(
        cell.is_empty() && row.is_empty(),
        "the last row has no CRLF: {text:?}"
    );
    rows
}

/// Whether a spreadsheet would read the cell as a formula: it starts (after
/// spaces) with `=`, `+`, `-`, `@`, a tab or a CR, and is not a plain number.
fn runs_as_formula(cell: &str) -> bool {
    let t = cell.trim_start_matches(' ');
    matches!(t.chars().next(), Some('=' | '+' | '-' | '@' | '\t' | '\r'))
        && t.parse::<f64>().is_err()
}

/// GET `path` as the counselor with `accept`; asserts a CSV answer and returns
/// its rows, header first, and the raw text.
async fn csv(app: &TestApp, path: &str, accept: Option<&str>) -> (Vec<Vec<String>>, String) {
    let mut rb = app.client.get(app.url(path)).bearer_auth(COUNSELOR_KEY);
    if let Some(a) = accept {
        rb = rb.header("accept", a);
    }
    let resp = rb.send().await.expect("GET");
    assert_eq!(resp.status(), 200, "{path}");
    assert_eq!(
        header(&resp, "content-type"),
        "text/csv; charset=utf-8",
        "{path}"
    );
    let disposition = header(&resp, "content-disposition");
    assert!(
        disposition.starts_with("attachment; filename=\"") && disposition.ends_with(".csv\""),
        "{path}: {disposition}"
    );
    let bytes = resp.bytes().await.expect("body");
    let rows = parse_csv(&bytes);
    for row in &rows {
        assert_eq!(
            row.len(),
            rows[0].len(),
            "{path}: a row of another width: {row:?}"
        );
        for cell in row {
            assert!(
                !runs_as_formula(cell),
                "{path}: a formula cell `{cell}` in {row:?}"
            );
        }
    }
    (rows, String::from_utf8(bytes.to_vec()).expect("UTF-8"))
}

/// The row whose `column` holds `value` (as the spreadsheet shows it).
fn row_where<'a>(rows: &'a [Vec<String>], column: &str, value: &str) -> &'a [String] {
    let at = rows[0]
        .iter()
        .position(|h| h == column)
        .unwrap_or_else(|| panic!("no column {column}: {:?}", rows[0]));
    rows.iter()
        .skip(1)
        .find(|r| r[at] == value)
        .unwrap_or_else(|| panic!("no row with {column} = {value}: {rows:?}"))
}

fn cell<'a>(rows: &'a [Vec<String>], row: &'a [String], column: &str) -> &'a str {
    let at = rows[0].iter().position(|h| h == column).expect("column");
    &row[at]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_quotes_hostile_cells_as_text() {
    const LINK: &str = r#"=HYPERLINK("http://evil.example/","click")"#;
    let app = spawn_app(all_keys()).await;
    // (student id, school, grade): ids and schools a spreadsheet would run.
    let students: [(&str, &str, i64); 6] = [
        ("CSV-1", LINK, 9),
        ("=1+2", "SCH-1", 9),
        ("-2+3", "SCH-1", 10),
        ("+CMD", "SCH-1", 11),
        ("@SUM(A1)", "  =1+1", 12),
        ("CSV-3", r#"Lincoln, "North""#, -1),
    ];
    let records: Vec<Value> = students
        .iter()
        .map(|(id, school, grade)| {
            json!({"student_id": id, "school_id": school, "grade_level": grade, "gpa": 1.5})
        })
        .collect();
    let summary = import(&app, &records.iter().collect::<Vec<_>>()).await;
    assert_eq!(
        summary["imported"], 6,
        "the record validator takes them: {summary}"
    );

    let (rows, raw) = csv(&app, "/v1/caseload?format=csv&limit=500", None).await;
    assert_eq!(
        rows[0],
        [
            "student_id",
            "school",
            "grade",
            "highest_tier",
            "attendance_tier",
            "academic_tier",
            "behavioral_tier",
            "social_emotional_tier",
            "flags",
            "unreviewed_flags",
            "interventions",
            "evaluated_at",
            "decision_seq",
        ]
    );
    assert_eq!(rows.len(), 7, "a header and one row per student: {rows:?}");
    let link = row_where(&rows, "student_id", "CSV-1");
    assert_eq!(
        cell(&rows, link, "school"),
        format!("'{LINK}"),
        "the link shows as text"
    );
    assert!(
        raw.contains(r#""'=HYPERLINK(""http://evil.example/"",""click"")""#),
        "the cell is quoted with its quotes doubled: {raw}"
    );
    assert_eq!(cell(&rows, link, "flags"), "low-gpa (tier 2, unreviewed)");
    assert_eq!(cell(&rows, link, "unreviewed_flags"), "1");
    assert_eq!(cell(&rows, link, "highest_tier"), "2");
    assert_eq!(cell(&rows, link, "interventions"), "tutoring; advisory");
    for id in ["=1+2", "-2+3", "+CMD", "@SUM(A1)"] {
        row_where(&rows, "student_id", &format!("'{id}"));
    }
    let spaced = row_where(&rows, "student_id", "'@SUM(A1)");
    assert_eq!(
        cell(&rows, spaced, "school"),
        "'  =1+1",
        "leading spaces do not hide a formula"
    );
    let comma = row_where(&rows, "student_id", "CSV-3");
    assert_eq!(cell(&rows, comma, "school"), r#"Lincoln, "North""#);
    assert_eq!(cell(&rows, comma, "grade"), "-1", "pre-K stays a number");
    assert!(
        raw.contains(",-1,"),
        "a computed number is written bare: {raw}"
    );

    // `Accept: text/csv` gives the same bytes; `format` wins over `Accept`.
    let (_, by_accept) = csv(&app, "/v1/caseload?limit=500", Some("text/csv")).await;
    assert_eq!(by_accept, raw, "Accept: text/csv and ?format=csv differ");
    let (_, by_list) = csv(
        &app,
        "/v1/caseload?limit=500",
        Some("application/json;q=0.5, text/csv"),
    )
    .await;
    assert_eq!(by_list, raw);
    let resp = app
        .client
        .get(app.url("/v1/caseload?format=json&limit=500"))
        .bearer_auth(COUNSELOR_KEY)
        .header("accept", "text/csv")
        .send()
        .await
        .expect("GET");
    let page = json_ok(resp).await;
    assert_eq!(page["students"].as_array().map(Vec::len), Some(6));

    // A filter on a hostile school finds it.
    let (rows, _) = csv(
        &app,
        &format!(
            "/v1/caseload?{}",
            qs(&[("school", LINK), ("format", "csv")])
        ),
        None,
    )
    .await;
    assert_eq!(rows.len(), 2, "{rows:?}");

    // Rosters and the queue are as safe.
    let (rows, _) = csv(&app, "/v1/groups?format=csv", None).await;
    assert_eq!(
        rows[0][..6],
        [
            "group_by",
            "group",
            "tier",
            "domain",
            "interventions",
            "student_id"
        ]
    );
    // Each student is in both of low-gpa's rosters (tutoring and advisory).
    assert_eq!(rows.len(), 1 + 2 * 6, "{rows:?}");
    row_where(&rows, "student_id", "'=1+2");
    let (rows, _) = csv(&app, "/v1/groups?by=rule", Some("text/csv")).await;
    assert_eq!(rows.len(), 1 + 6, "{rows:?}");
    let r = row_where(&rows, "student_id", "CSV-1");
    assert_eq!(cell(&rows, r, "school"), format!("'{LINK}"));
    assert_eq!(cell(&rows, r, "flags"), "low-gpa (tier 2, unreviewed)");
    let (rows, _) = csv(&app, "/v1/reviews/queue", Some("text/csv")).await;
    assert_eq!(rows.len(), 1 + 6, "{rows:?}");
    let r = row_where(&rows, "student_id", "'-2+3");
    assert_eq!(cell(&rows, r, "rule_id"), "low-gpa");
}

// ---------------------------------------------------------------------------
// 3. Cursor walks while decisions arrive
// ---------------------------------------------------------------------------

/// A task sending decisions for existing students (evaluations, and imports that
/// also add new students whose ids sort between theirs) until told to stop.
struct Mutator {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Decisions the server has answered for.
    posted: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// Students given a decision (recorded before it is sent).
    touched: std::sync::Arc<std::sync::Mutex<BTreeSet<String>>>,
    /// New students imported.
    created: std::sync::Arc<std::sync::Mutex<BTreeSet<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Mutator {
    fn start(app: &TestApp, kids: &[Kid], round: usize) -> Mutator {
        use std::sync::atomic::Ordering::SeqCst;
        let m = Mutator {
            stop: Default::default(),
            posted: Default::default(),
            touched: Default::default(),
            created: Default::default(),
            task: tokio::spawn(async {}),
        };
        let (stop, posted, touched, created) = (
            m.stop.clone(),
            m.posted.clone(),
            m.touched.clone(),
            m.created.clone(),
        );
        let (client, base) = (app.client.clone(), app.address.clone());
        let records: Vec<Value> = kids.iter().map(|k| k.record.clone()).collect();
        let task = tokio::spawn(async move {
            for k in 0..5_000usize {
                if stop.load(SeqCst) {
                    return;
                }
                let i = (k * 37 + 11 + round * 101) % records.len();
                let mut rec = records[i].clone();
                let id = rec["student_id"].as_str().expect("id").to_string();
                rec["attendance"]["days_present"] = json!([100.0, 93.0, 85.0, 75.0][k % 4]);
                let resp = if k % 5 == 4 {
                    let new_id = format!("{id}-new-{round}-{k}");
                    let mut fresh = rec.clone();
                    fresh["student_id"] = json!(new_id);
                    touched.lock().expect("lock").insert(id.clone());
                    created.lock().expect("lock").insert(new_id);
                    client
                        .post(format!("{base}/v1/students/import"))
                        .bearer_auth(INGEST_KEY)
                        .header("content-type", "application/x-ndjson")
                        .body(format!("{rec}\n{fresh}\n"))
                        .send()
                        .await
                } else {
                    touched.lock().expect("lock").insert(id.clone());
                    client
                        .post(format!("{base}/v1/evaluate"))
                        .bearer_auth(INGEST_KEY)
                        .json(&rec)
                        .send()
                        .await
                };
                let resp = resp.expect("a decision is sent");
                assert_eq!(
                    resp.status(),
                    200,
                    "{}",
                    resp.text().await.unwrap_or_default()
                );
                // An import answers once its lines are durable.
                let _ = resp.bytes().await;
                posted.fetch_add(1, SeqCst);
            }
        });
        Mutator { task, ..m }
    }

    fn posted(&self) -> usize {
        self.posted.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Wait (at most 5 s) until a decision arrives after the `seen`-th.
    async fn next_after(&self, seen: usize) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while self.posted() <= seen {
            assert!(
                std::time::Instant::now() < deadline,
                "no decision arrived in 5 s"
            );
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
    }

    /// Stop; the students touched and created.
    async fn finish(self) -> (BTreeSet<String>, BTreeSet<String>) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        self.task.await.expect("the decision task");
        let touched = self.touched.lock().expect("lock").clone();
        let created = self.created.lock().expect("lock").clone();
        (touched, created)
    }
}

/// Walk `/v1/caseload?<query>` in pages of `limit` with at least one new decision
/// landing between any two pages; the ids served, and the students touched and
/// created during the walk.
async fn walk_while_deciding(
    app: &TestApp,
    kids: &[Kid],
    round: usize,
    query: &str,
    limit: usize,
) -> (Vec<String>, BTreeSet<String>, BTreeSet<String>, usize) {
    let m = Mutator::start(app, kids, round);
    m.next_after(0).await;
    let mut served = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let seen = m.posted();
        let mut q = format!("{query}&limit={limit}");
        if let Some(c) = &cursor {
            q.push_str(&format!("&cursor={c}"));
        }
        let page = get_ok(app, &format!("/v1/caseload?{q}"), COUNSELOR_KEY).await;
        pages += 1;
        served.extend(ids(page["students"].as_array().expect("students")));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
        assert!(pages < 1_000, "the walk does not end");
        m.next_after(seen).await;
    }
    let (touched, created) = m.finish().await;
    (served, touched, created, pages)
}

fn twice(ids: &[String]) -> Vec<&String> {
    let mut seen = BTreeSet::new();
    ids.iter().filter(|i| !seen.insert(*i)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursor_walks_serve_each_student_once_while_decisions_arrive() {
    let cat = catalogue();
    let kids = cohort(&cat);
    let app = spawn_app(all_keys()).await;
    let records: Vec<&Value> = kids.iter().map(|k| &k.record).collect();
    import(&app, &records).await;
    let mut known: BTreeSet<String> = kids.iter().map(|k| k.id.clone()).collect();

    // By student: everyone present from the first page to the last, exactly once.
    let (served, touched, created, pages) =
        walk_while_deciding(&app, &kids, 0, "sort=student", 7).await;
    assert!(pages >= 40, "{pages} pages");
    assert!(
        touched.len() >= 20,
        "only {} students got decisions mid-walk",
        touched.len()
    );
    assert!(!created.is_empty());
    assert!(
        twice(&served).is_empty(),
        "served twice: {:?}",
        twice(&served)
    );
    let got: BTreeSet<String> = served.iter().cloned().collect();
    let missing: Vec<&String> = known.difference(&got).collect();
    assert!(missing.is_empty(), "never served: {missing:?}");
    let extra: Vec<&String> = got
        .difference(&known)
        .filter(|i| !created.contains(*i))
        .collect();
    assert!(extra.is_empty(), "served students nobody sent: {extra:?}");
    let mut in_order = served.clone();
    in_order.sort();
    assert_eq!(served, in_order, "sort=student is in id order");
    known.extend(created);

    // By tier and by time: each at most once; those whose decision did not change
    // during the walk exactly once.
    for (round, query, limit) in [(1, "sort=tier", 11), (2, "sort=evaluated_at", 13)] {
        let (served, touched, created, _) =
            walk_while_deciding(&app, &kids, round, query, limit).await;
        assert!(
            twice(&served).is_empty(),
            "{query}: served twice: {:?}",
            twice(&served)
        );
        let got: BTreeSet<String> = served.iter().cloned().collect();
        let missing: Vec<&String> = known
            .iter()
            .filter(|i| !touched.contains(*i) && !got.contains(*i))
            .collect();
        assert!(missing.is_empty(), "{query}: never served: {missing:?}");
        let extra: Vec<&String> = got
            .iter()
            .filter(|i| !known.contains(*i) && !created.contains(*i))
            .collect();
        assert!(
            extra.is_empty(),
            "{query}: served students nobody sent: {extra:?}"
        );
        known.extend(created);
    }
}

// ---------------------------------------------------------------------------
// 4. Review validation, the review entry, superseded reviews
// ---------------------------------------------------------------------------

/// 15% absent and a GPA of 1.5: `chronic-absence` (attendance, tier 2) and
/// `low-gpa` (academic, tier 2).
fn absent_and_low_gpa(id: &str, present: f64) -> Value {
    json!({"student_id": id, "school_id": "SCH-R", "grade_level": 7,
           "attendance": {"days_enrolled": 100.0, "days_present": present}, "gpa": 1.5})
}

fn day(offset: i64) -> String {
    (today() + chrono::Duration::days(offset)).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reviews_are_checked_against_the_decision_they_name() {
    let app = spawn_app(all_keys()).await;
    evaluate(&app, &absent_and_low_gpa("R-1", 85.0)).await;
    evaluate(&app, &crate::helpers::low_gpa("R-2")).await;
    let r1 = must_entry(&app, "R-1").await;
    let s1 = seq_of(&r1);
    let confirm = |rule: &str| json!({"rule_id": rule, "action": "confirm"});
    let body = |flags: Value| json!({"decision_seq": s1, "flags": flags});

    // Not found: another student's decision, an unknown student, no such entry,
    // an entry that is not a decision.
    let one = body(json!([confirm("low-gpa")]));
    assert_problem(
        review(&app, "R-2", &one).await,
        404,
        &[&format!("decision {s1}"), "R-2"],
    )
    .await;
    assert_problem(review(&app, "R-404", &one).await, 404, &["R-404"]).await;
    let missing = json!({"decision_seq": 999_999, "flags": [confirm("low-gpa")]});
    assert_problem(
        review(&app, "R-1", &missing).await,
        404,
        &["decision 999999 not found"],
    )
    .await;
    let kinds = app.kinds_in_log();
    let other = kinds
        .iter()
        .position(|k| k != "decision")
        .expect("a non-decision entry")
        + 1;
    let not_decision = json!({"decision_seq": other, "flags": [confirm("low-gpa")]});
    assert_problem(
        review(&app, "R-1", &not_decision).await,
        404,
        &["not found"],
    )
    .await;

    // Unprocessable: each problem names its field.
    let cases: Vec<(Value, Vec<String>)> = vec![
        (
            body(json!([confirm("severe-chronic-absence")])),
            vec![
                "flags[0].rule_id".into(),
                "`severe-chronic-absence` is not a flag of decision".into(),
                "its flags: ".into(),
                "low-gpa".into(),
            ],
        ),
        (
            body(json!([{"rule_id": "low-gpa", "action": "dismiss"}])),
            vec![
                "flags[0].reason".into(),
                "a dismissal needs a reason".into(),
            ],
        ),
        (
            body(json!([{"rule_id": "low-gpa", "action": "dismiss", "reason": "   "}])),
            vec!["flags[0].reason".into()],
        ),
        (
            body(json!([{"rule_id": "low-gpa", "action": "defer", "until": "2026-13-01"}])),
            vec!["flags[0].until".into(), "YYYY-MM-DD".into()],
        ),
        (
            body(json!([{"rule_id": "low-gpa", "action": "defer", "until": day(-1)}])),
            vec!["flags[0].until".into(), "in the past".into()],
        ),
        (
            body(json!([{"rule_id": "low-gpa", "action": "defer", "until": day(366)}])),
            vec!["flags[0].until".into(), "365 days".into()],
        ),
        (
            body(json!([{"rule_id": "low-gpa", "action": "approve"}])),
            vec!["flags[0].action".into(), "confirm, dismiss, defer".into()],
        ),
        (body(json!([])), vec!["flags".into(), "at least one".into()]),
        (
            body(json!([confirm("low-gpa"), confirm("low-gpa")])),
            vec!["flags[1].rule_id".into(), "named twice".into()],
        ),
        (
            body(json!([{"rule_id": "low-gpa", "action": "dismiss"}, confirm("no-such-rule")])),
            vec![
                "flags[0].reason".into(),
                "flags[1].rule_id".into(),
                "no-such-rule".into(),
            ],
        ),
        (
            json!({"decision_seq": s1, "flags": [confirm("low-gpa")], "note": "a\u{1b}[2Jb"}),
            vec!["note".into(), "control".into()],
        ),
    ];
    for (b, needles) in &cases {
        let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
        assert_problem(review(&app, "R-1", b).await, 422, &needles).await;
    }
    // Bad requests: an unknown member, not JSON, not JSON's media type.
    let extra =
        json!({"decision_seq": s1, "flags": [confirm("low-gpa")], "reviewer": "someone else"});
    assert_problem(review(&app, "R-1", &extra).await, 400, &["reviewer"]).await;
    let resp = app
        .post_raw_as(
            "/v1/students/R-1/reviews",
            "application/json",
            "{",
            Some(COUNSELOR_KEY),
        )
        .await;
    assert_problem(resp, 400, &["review"]).await;
    let resp = app
        .post_raw_as(
            "/v1/students/R-1/reviews",
            "text/plain",
            one.to_string(),
            Some(COUNSELOR_KEY),
        )
        .await;
    assert_eq!(resp.status(), 415);
    // Only a counselor reviews.
    for key in [INGEST_KEY, crate::helpers::AUDITOR_KEY] {
        let resp = app
            .post_json_as("/v1/students/R-1/reviews", &one, Some(key))
            .await;
        assert_eq!(resp.status(), 403);
    }
    // Nothing refused reached the log or the caseload.
    assert!(
        !app.kinds_in_log().iter().any(|k| k == "decision.reviewed"),
        "a refused review was logged"
    );
    assert_eq!(
        must_entry(&app, "R-1").await,
        r1,
        "a refused review changed the caseload"
    );

    // A valid review: 201 with the entry's seq and hash, naming the decision.
    let done = review_ok(
        &app,
        "R-1",
        &json!({"decision_seq": s1, "note": "met with the family",
                "flags": [confirm("chronic-absence"),
                          {"rule_id": "low-gpa", "action": "dismiss", "reason": "grades entered late"}]}),
    )
    .await;
    let seq = done["seq"].as_u64().expect("seq");
    let hash = done["hash"].as_str().expect("hash");
    assert!(
        hash.len() == 64 && hash.chars().all(|c| c.is_ascii_hexdigit()),
        "{done}"
    );
    assert_eq!(done["superseded"], false, "{done}");
    let rv = &done["review"];
    assert_eq!(rv["decision_seq"], s1);
    assert_eq!(rv["decision_hash"], r1["decision_hash"]);
    assert_eq!(rv["reviewer"], "counselor");
    assert_eq!(
        rv["flags"][0]["until"],
        Value::Null,
        "a confirmation has no end: {rv}"
    );
    assert_eq!(
        rv["flags"][1]["until"],
        day(30),
        "a dismissal holds 30 days: {rv}"
    );
    assert_eq!(rv["flags"][1]["tier"], 2);
    assert_eq!(rv["flags"][1]["domain"], "academic");
    let logged = app.audit_all("kind=decision.reviewed", 50).await;
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert_eq!(
        (logged[0]["seq"].as_u64(), logged[0]["hash"].as_str()),
        (Some(seq), Some(hash))
    );
    assert_eq!(logged[0]["actor"], "counselor");
    assert_eq!(logged[0]["payload"]["decision_hash"], r1["decision_hash"]);
    assert_eq!(logged[0]["payload"]["note"], "met with the family");
    let now = must_entry(&app, "R-1").await;
    assert_eq!(state(&now, "chronic-absence"), "confirmed");
    assert_eq!(state(&now, "low-gpa"), "dismissed");
    let f = flag(&now, "low-gpa");
    assert_eq!(f["review"]["reason"], "grades entered late");
    assert_eq!(f["review"]["reviewer"], "counselor");
    assert_eq!(f["review"]["review_seq"], seq);
    assert_eq!(f["review"]["until"], day(30));

    // A newer decision: a review of the old one is kept in the log, answered as
    // superseded, and changes nothing.
    evaluate(&app, &absent_and_low_gpa("R-1", 84.0)).await;
    let newer = must_entry(&app, "R-1").await;
    assert!(seq_of(&newer) > s1);
    let late = review_ok(
        &app,
        "R-1",
        &json!({"decision_seq": s1, "flags": [{"rule_id": "low-gpa", "action": "defer"}]}),
    )
    .await;
    assert_eq!(late["superseded"], true, "{late}");
    assert_eq!(
        must_entry(&app, "R-1").await,
        newer,
        "a superseded review changed the caseload"
    );
    assert_eq!(app.audit_all("kind=decision.reviewed", 50).await.len(), 2);
    // On the latest decision it is not superseded.
    let current = review_ok(
        &app,
        "R-1",
        &json!({"decision_seq": seq_of(&newer), "flags": [{"rule_id": "low-gpa", "action": "defer"}]}),
    )
    .await;
    assert_eq!(current["superseded"], false, "{current}");
    assert_eq!(state(&must_entry(&app, "R-1").await, "low-gpa"), "deferred");
    assert_eq!(app.verify().await["ok"], true);
}

// ---------------------------------------------------------------------------
// 5. Carrying a review forward, at each boundary
// ---------------------------------------------------------------------------

/// Publish `attendance.yaml` with `chronic-absence` at `tier` (the same rule
/// rising or falling a tier, as a district's edit of the rule set does).
async fn set_chronic_tier(app: &TestApp, rules: &Path, tier: u8) {
    const AT: &str = "name: Chronically absent\n    domain: attendance\n    tier: ";
    let text = std::fs::read_to_string(rules.join("attendance.yaml")).expect("attendance.yaml");
    let at = text.find(AT).expect("chronic-absence's tier") + AT.len();
    let edited = format!("{}{tier}{}", &text[..at], &text[at + 1..]);
    let etag = header(&app.get_as("/v1/rules", Some(COUNSELOR_KEY)).await, "etag");
    let resp = app
        .client
        .put(app.url("/v1/rules/files/attendance.yaml"))
        .bearer_auth(COUNSELOR_KEY)
        .header("content-type", "application/yaml")
        .header("if-match", etag)
        .body(edited)
        .send()
        .await
        .expect("PUT");
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    assert_eq!(
        status, 200,
        "publishing chronic-absence at tier {tier}: {body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_review_carries_forward_until_the_flag_changes() {
    // A copy of the rules without their tests, so the same rule can change tier.
    let rules = crate::helpers::copy_rules();
    std::fs::remove_dir_all(rules.path().join("tests")).expect("remove the rule tests");
    let path = rules.path().to_path_buf();
    let app = crate::helpers::spawn_app_with(all_keys(), move |s| s.rules = path).await;
    let confirm_chronic = async |id: &str| {
        let e = must_entry(&app, id).await;
        review_ok(
            &app,
            id,
            &json!({"decision_seq": seq_of(&e), "flags": [{"rule_id": "chronic-absence", "action": "confirm"}]}),
        )
        .await
    };
    for id in [
        "C-SAME", "C-UNTIL", "C-RISE", "C-BACK", "C-TIER", "C-TIER2", "C-PAST",
    ] {
        evaluate(&app, &absent_and_low_gpa(id, 85.0)).await;
    }

    // Same tier: a new decision keeps both reviews, and they are the ones made.
    let done = confirm_chronic("C-SAME").await;
    let e = must_entry(&app, "C-SAME").await;
    let dismissed = review_ok(
        &app,
        "C-SAME",
        &json!({"decision_seq": seq_of(&e), "flags": [{"rule_id": "low-gpa", "action": "dismiss", "reason": "transfer grades pending"}]}),
    )
    .await;
    evaluate(&app, &absent_and_low_gpa("C-SAME", 84.0)).await;
    let next = must_entry(&app, "C-SAME").await;
    assert!(seq_of(&next) > seq_of(&e), "a new decision");
    assert_eq!(state(&next, "chronic-absence"), "confirmed", "{next}");
    assert_eq!(state(&next, "low-gpa"), "dismissed", "{next}");
    assert_eq!(
        flag(&next, "chronic-absence")["review"]["review_seq"],
        done["seq"]
    );
    assert_eq!(
        flag(&next, "low-gpa")["review"]["review_seq"],
        dismissed["seq"]
    );
    assert_eq!(
        flag(&next, "low-gpa")["since"],
        flag(&e, "low-gpa")["since"],
        "still the same run"
    );
    let queued = pairs(&queue_items(&app, "q=C-SAME", 50).await);
    assert!(
        queued.is_empty(),
        "reviewed flags are queued again: {queued:?}"
    );

    // `until` today still holds on a decision made today.
    let e = must_entry(&app, "C-UNTIL").await;
    review_ok(
        &app,
        "C-UNTIL",
        &json!({"decision_seq": seq_of(&e), "flags": [{"rule_id": "low-gpa", "action": "defer", "until": day(0)}]}),
    )
    .await;
    evaluate(&app, &absent_and_low_gpa("C-UNTIL", 84.0)).await;
    let next = must_entry(&app, "C-UNTIL").await;
    assert_eq!(
        state(&next, "low-gpa"),
        "deferred",
        "until = today holds today: {next}"
    );

    // Attendance rising from chronic to severe: the tier 3 flag is news.
    confirm_chronic("C-RISE").await;
    evaluate(&app, &absent_and_low_gpa("C-RISE", 75.0)).await;
    let next = must_entry(&app, "C-RISE").await;
    assert_eq!(next["tiers"]["attendance"], 3);
    assert_eq!(state(&next, "severe-chronic-absence"), "unreviewed");
    assert!(ids(&walk(&app, "review=confirmed&q=C-RISE", 10).await).is_empty());
    let queued = pairs(&queue_items(&app, "q=C-RISE", 50).await);
    assert!(
        queued.contains(&("C-RISE".into(), "severe-chronic-absence".into())),
        "{queued:?}"
    );

    // Cleared and back: unreviewed, and its wait starts again.
    confirm_chronic("C-BACK").await;
    evaluate(&app, &absent_and_low_gpa("C-BACK", 100.0)).await;
    let cleared = must_entry(&app, "C-BACK").await;
    assert_eq!(cleared["tiers"]["attendance"], 0, "{cleared}");
    next_second().await;
    evaluate(&app, &absent_and_low_gpa("C-BACK", 85.0)).await;
    let back = must_entry(&app, "C-BACK").await;
    assert_eq!(state(&back, "chronic-absence"), "unreviewed", "{back}");
    assert_eq!(
        flag(&back, "chronic-absence")["since"],
        back["evaluated_at"],
        "{back}"
    );
    assert_ne!(
        flag(&back, "low-gpa")["since"],
        back["evaluated_at"],
        "low-gpa kept firing"
    );

    // The same rule at another tier (the district edits the rule set): lower
    // keeps the review; rising back to the reviewed tier, or above it, does not.
    confirm_chronic("C-TIER").await;
    confirm_chronic("C-TIER2").await;
    set_chronic_tier(&app, rules.path(), 1).await;
    evaluate(&app, &absent_and_low_gpa("C-TIER", 85.0)).await;
    let lower = must_entry(&app, "C-TIER").await;
    assert_eq!(flag(&lower, "chronic-absence")["tier"], 1);
    assert_eq!(
        state(&lower, "chronic-absence"),
        "confirmed",
        "a lower tier keeps it: {lower}"
    );
    set_chronic_tier(&app, rules.path(), 2).await;
    evaluate(&app, &absent_and_low_gpa("C-TIER", 85.0)).await;
    let again = must_entry(&app, "C-TIER").await;
    assert_eq!(flag(&again, "chronic-absence")["tier"], 2);
    assert_eq!(
        state(&again, "chronic-absence"),
        "unreviewed",
        "the rise back is shown: {again}"
    );
    set_chronic_tier(&app, rules.path(), 3).await;
    evaluate(&app, &absent_and_low_gpa("C-TIER2", 85.0)).await;
    let higher = must_entry(&app, "C-TIER2").await;
    assert_eq!(flag(&higher, "chronic-absence")["tier"], 3);
    assert_eq!(
        state(&higher, "chronic-absence"),
        "unreviewed",
        "a rise is shown: {higher}"
    );

    // `until` passed. The clock cannot be moved and a review cannot be made with an
    // `until` in the past, so the log gets the entry a deferral made yesterday
    // until yesterday would have left (the shape the server itself writes).
    let e = must_entry(&app, "C-PAST").await;
    let f = flag(&e, "low-gpa");
    let payload = json!({
        "student_id": "C-PAST", "decision_seq": seq_of(&e), "decision_hash": e["decision_hash"],
        "reviewer": "counselor",
        "flags": [{"rule_id": "low-gpa", "domain": f["domain"], "tier": f["tier"], "action": "defer", "until": day(-1)}]
    });
    app.state
        .store
        .append(intervene::audit::NewEntry::new(
            intervene::audit::EntryKind::DecisionReviewed,
            "counselor",
            "",
            payload,
        ))
        .await
        .expect("append the review");
    let past = must_entry(&app, "C-PAST").await;
    assert_eq!(flag(&past, "low-gpa")["review"]["until"], day(-1), "{past}");
    assert_eq!(
        state(&past, "low-gpa"),
        "unreviewed",
        "an expired deferral: {past}"
    );
    assert!(ids(&walk(&app, "review=deferred&q=C-PAST", 10).await).is_empty());
    let queued = pairs(&queue_items(&app, "q=C-PAST", 50).await);
    assert!(
        queued.contains(&("C-PAST".into(), "low-gpa".into())),
        "{queued:?}"
    );
    evaluate(&app, &absent_and_low_gpa("C-PAST", 84.0)).await;
    let next = must_entry(&app, "C-PAST").await;
    assert_eq!(
        flag(&next, "low-gpa")["review"],
        Value::Null,
        "not carried: {next}"
    );
    assert_eq!(app.verify().await["ok"], true);
}

// ---------------------------------------------------------------------------
// 6. The index deleted and rebuilt (the real binary, stopped and started)
// ---------------------------------------------------------------------------

const REBUILD_SECRET: &str = "whsec-caseload-rebuild-test";

/// The real binary on `data`, with a webhook secret, healthy.
async fn start_binary(data: &Path) -> crate::helpers::BinaryServer {
    let server = crate::helpers::BinaryServer::start_env(
        data,
        &rules_dir(),
        std::time::Duration::from_secs(20),
        &[("INTERVENE_WEBHOOK_SECRET", REBUILD_SECRET)],
    );
    server.wait_healthy(&crate::helpers::client()).await;
    server
}

fn stop_binary(server: &mut crate::helpers::BinaryServer) {
    let status = server.terminate(std::time::Duration::from_secs(20));
    assert!(status.success(), "clean stop; log:\n{}", server.log());
}

async fn bin_get(http: &reqwest::Client, url: String) -> Value {
    let resp = http.get(&url).send().await.expect("GET");
    let status = resp.status();
    let text = resp.text().await.expect("body");
    assert_eq!(status, 200, "{url}: {text}");
    serde_json::from_str(&text).expect("JSON")
}

async fn bin_post(http: &reqwest::Client, url: String, ct: &str, body: String) -> Value {
    let resp = http
        .post(&url)
        .header("content-type", ct)
        .body(body)
        .send()
        .await
        .expect("POST");
    let status = resp.status();
    let text = resp.text().await.expect("body");
    assert!(status.is_success(), "{url}: {status} {text}");
    parse_ndjson(&text).pop().unwrap_or(Value::Null)
}

/// Everything the caseload answers: every page, the summary, the queue, rosters.
async fn everything(http: &reqwest::Client, base: &str) -> Value {
    let page = bin_get(http, format!("{base}/v1/caseload?limit=500")).await;
    assert_eq!(
        page["next_cursor"],
        Value::Null,
        "one page holds the caseload"
    );
    let queue = bin_get(http, format!("{base}/v1/reviews/queue?limit=500")).await;
    assert_eq!(queue["next_cursor"], Value::Null);
    json!({
        "caseload": page["students"],
        "summary": bin_get(http, format!("{base}/v1/caseload/summary")).await,
        "queue": queue["items"],
        "groups": bin_get(http, format!("{base}/v1/groups")).await,
        "by_rule": bin_get(http, format!("{base}/v1/groups?by=rule")).await,
    })
}

fn run_cli(args: &[&str], data: &Path) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_intervene"))
        .args(args)
        .arg("--data")
        .arg(data)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run intervene");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "intervene {args:?}: {text}");
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_caseload_rebuilt_after_its_index_is_deleted_is_the_same() {
    let cat = catalogue();
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path();
    let kids: Vec<Kid> = (0..60).map(|i| kid(i, &cat)).collect();

    // Students decided and reviewed, then purged on the command line.
    let mut server = start_binary(data).await;
    {
        let http = crate::helpers::client();
        let base = &server.address;
        let old: String = kids[..5]
            .iter()
            .map(|k| {
                let mut r = k.record.clone();
                r["student_id"] = json!(format!("OLD-{}", k.id));
                format!("{r}\n")
            })
            .collect();
        bin_post(
            &http,
            format!("{base}/v1/students/import"),
            "application/x-ndjson",
            old,
        )
        .await;
        let page = bin_get(&http, format!("{base}/v1/caseload?q=OLD-&limit=500")).await;
        let first = page["students"]
            .as_array()
            .expect("students")
            .iter()
            .find(|e| e["flags"][0].is_object())
            .expect("a flagged student")
            .clone();
        let rule = first["flags"][0]["rule_id"].clone();
        let body = json!({"decision_seq": first["decision_seq"], "flags": [{"rule_id": rule, "action": "confirm"}]});
        let url = format!(
            "{base}/v1/students/{}/reviews",
            first["student_id"].as_str().expect("id")
        );
        bin_post(&http, url, "application/json", body.to_string()).await;
    }
    stop_binary(&mut server);
    let purged = run_cli(&["audit", "purge", "--older-than-days", "0"], data);
    assert!(purged.contains("purged 5 decisions"), "{purged}");

    // The cohort: imported, reviewed, one re-decided, one withdrawn.
    let mut server = start_binary(data).await;
    let before = {
        let http = crate::helpers::client();
        let base = server.address.clone();
        let gone = bin_get(&http, format!("{base}/v1/caseload?q=OLD-")).await;
        assert_eq!(
            gone["students"],
            json!([]),
            "purged students left the caseload"
        );
        let body: String = kids.iter().map(|k| format!("{}\n", k.record)).collect();
        bin_post(
            &http,
            format!("{base}/v1/students/import"),
            "application/x-ndjson",
            body,
        )
        .await;
        let flagged: Vec<&Kid> = kids.iter().filter(|k| k.rules.len() >= 2).take(4).collect();
        for (k, action) in flagged
            .iter()
            .zip(["confirm", "dismiss", "defer", "confirm"])
        {
            let page = bin_get(&http, format!("{base}/v1/caseload?q={}", k.id)).await;
            let e = &page["students"][0];
            let rule = k.rules.iter().next().expect("a rule");
            let body = json!({"decision_seq": e["decision_seq"], "note": "team meeting",
                              "flags": [{"rule_id": rule, "action": action, "reason": "seen by the team"}]});
            let url = format!("{base}/v1/students/{}/reviews", k.id);
            bin_post(&http, url.clone(), "application/json", body.to_string()).await;
            if action == "dismiss" {
                // A new decision carries the review; a late review of the old one
                // is superseded.
                let mut r = k.record.clone();
                r["gpa"] = json!(r["gpa"].as_f64().unwrap_or(3.0) - 0.01);
                bin_post(
                    &http,
                    format!("{base}/v1/evaluate"),
                    "application/json",
                    r.to_string(),
                )
                .await;
                let late = bin_post(&http, url, "application/json", body.to_string()).await;
                assert_eq!(late["superseded"], true, "{late}");
            }
        }
        let withdrawn = &kids[7].id;
        let event = json!({"event_id": "evt-rebuild-1", "type": "student.withdrawn",
                           "occurred_at": (chrono::Utc::now() + chrono::Duration::seconds(60)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                           "student_id": withdrawn})
        .to_string();
        let sig = intervene::http::signature::sign(
            REBUILD_SECRET.as_bytes(),
            chrono::Utc::now().timestamp(),
            event.as_bytes(),
        );
        let resp = http
            .post(format!("{base}/v1/webhooks/sis"))
            .header("content-type", "application/json")
            .header("x-intervene-signature", sig)
            .body(event)
            .send()
            .await
            .expect("webhook");
        assert_eq!(
            resp.status(),
            200,
            "{}",
            resp.text().await.unwrap_or_default()
        );
        let all = everything(&http, &base).await;
        let listed = ids(all["caseload"].as_array().expect("caseload"));
        let want: Vec<String> = sorted_ids(kids.iter().filter(|k| &k.id != withdrawn));
        assert_eq!(listed, want, "the cohort less the withdrawn student");
        let text = all.to_string();
        for s in ["confirmed", "dismissed", "deferred"] {
            assert!(
                text.contains(&format!("\"review_state\":\"{s}\"")),
                "no {s} flag"
            );
        }
        all
    };
    stop_binary(&mut server);

    // Delete the index (the `caseload` tree) and start again: rebuilt at startup.
    {
        let db = intervene::audit::open_db(data).expect("open the stopped server's data");
        assert!(
            db.tree_names().iter().any(|n| n.as_ref() == b"caseload"),
            "the index is the `caseload` tree"
        );
        assert!(db.drop_tree("caseload").expect("drop the tree"));
        db.flush().expect("flush");
    }
    let mut server = start_binary(data).await;
    {
        let http = crate::helpers::client();
        let after = everything(&http, &server.address).await;
        assert_eq!(after, before, "the caseload rebuilt at startup differs");
    }
    assert!(
        server
            .log()
            .contains("caseload index rebuilt from the audit log"),
        "no rebuild was logged:\n{}",
        server.log()
    );
    stop_binary(&mut server);

    // By hand, on the stopped server: the same again, and the next start finds
    // the index current.
    let out = run_cli(&["caseload", "rebuild"], data);
    assert!(
        out.contains(&format!("caseload rebuilt: {} students", kids.len() - 1)),
        "{out}"
    );
    let mut server = start_binary(data).await;
    {
        let http = crate::helpers::client();
        let after = everything(&http, &server.address).await;
        assert_eq!(after, before, "the caseload rebuilt by hand differs");
        let v = bin_get(&http, format!("{}/v1/audit/verify", server.address)).await;
        assert_eq!(v["ok"], true, "{v}");
    }
    assert!(
        !server.log().contains("caseload index rebuilt"),
        "a current index was rebuilt again:\n{}",
        server.log()
    );
    stop_binary(&mut server);
}

// ---------------------------------------------------------------------------
// 7. Purges and withdrawals remove students
// ---------------------------------------------------------------------------

/// A server with one key per role and a webhook secret of its own.
async fn spawn_with_webhook() -> (TestApp, String) {
    let var = format!("TEST_SECRET_CASELOAD_{}", std::process::id());
    let secret = format!("whsec-caseload-{}", std::process::id());
    // SAFETY: the variable name is unique to this test (the process id and a prefix
    // no other test uses), so no other thread reads or writes it; std's environment
    // lock serialises this write with std readers elsewhere.
    unsafe { std::env::set_var(&var, &secret) };
    let app = crate::helpers::spawn_app_with(all_keys(), move |s| {
        s.webhook = intervene::config::Webhook {
            secret_env: var,
            replay_window_secs: 300,
        };
    })
    .await;
    (app, secret)
}

/// Send a signed SIS event; its outcome.
async fn send_event(app: &TestApp, secret: &str, event: &Value) -> Value {
    let body = event.to_string();
    let sig = intervene::http::signature::sign(
        secret.as_bytes(),
        chrono::Utc::now().timestamp(),
        body.as_bytes(),
    );
    let resp = app
        .client
        .post(app.url("/v1/webhooks/sis"))
        .header("content-type", "application/json")
        .header("x-intervene-signature", sig)
        .body(body)
        .send()
        .await
        .expect("webhook");
    json_ok(resp).await
}

fn soon(secs: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(secs))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Every student named anywhere in the caseload's reads.
async fn named_anywhere(app: &TestApp) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = ids(&walk(app, "", 500).await).into_iter().collect();
    for i in queue_items(app, "min_tier=0", 500).await {
        out.insert(i["student_id"].as_str().expect("id").to_string());
    }
    for by in ["intervention", "rule"] {
        let g = get_ok(app, &format!("/v1/groups?by={by}"), COUNSELOR_KEY).await;
        for group in g["groups"].as_array().expect("groups") {
            for m in group["students"].as_array().expect("students") {
                out.insert(m["student_id"].as_str().expect("id").to_string());
            }
        }
    }
    out
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_and_a_withdrawal_remove_students_from_the_caseload() {
    let (app, secret) = spawn_with_webhook().await;
    let low = |id: &str, gpa: f64| json!({"student_id": id, "school_id": "SCH-P", "gpa": gpa});

    // P-1 reviewed on a decision the purge will take, then decided again after the
    // cutoff; P-2 decided only before it.
    evaluate(&app, &low("P-1", 1.5)).await;
    evaluate(&app, &absent_and_low_gpa("P-2", 85.0)).await;
    let old = must_entry(&app, "P-1").await;
    let old_p2 = must_entry(&app, "P-2").await;
    review_ok(
        &app,
        "P-1",
        &json!({"decision_seq": seq_of(&old), "flags": [{"rule_id": "low-gpa", "action": "confirm"}]}),
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let cutoff = intervene::audit::now();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    evaluate(&app, &low("P-1", 1.4)).await;
    evaluate(&app, &low("K-1", 1.5)).await;
    let carried = must_entry(&app, "P-1").await;
    assert_eq!(
        state(&carried, "low-gpa"),
        "confirmed",
        "carried before the purge"
    );
    assert_eq!(named_anywhere(&app).await, set(&["K-1", "P-1", "P-2"]));

    let store = app.state.store.clone();
    let report = tokio::task::spawn_blocking(move || store.purge_before(&cutoff, "test", ""))
        .await
        .expect("join")
        .expect("purge");
    assert_eq!(
        report.purged, 2,
        "P-1's first and P-2's decisions: {report:?}"
    );

    assert_eq!(
        named_anywhere(&app).await,
        set(&["K-1", "P-1"]),
        "P-2's only decision was purged"
    );
    let summary = get_ok(&app, "/v1/caseload/summary", COUNSELOR_KEY).await;
    assert_eq!(summary["students"], 2, "{summary}");
    let p1 = must_entry(&app, "P-1").await;
    assert!(seq_of(&p1) > seq_of(&old), "P-1 keeps its newer decision");
    assert_eq!(
        state(&p1, "low-gpa"),
        "unreviewed",
        "a review of a purged decision ends: {p1}"
    );
    // The purged decision cannot be reviewed.
    let body = json!({"decision_seq": seq_of(&old_p2), "flags": [{"rule_id": "low-gpa", "action": "confirm"}]});
    assert_problem(review(&app, "P-2", &body).await, 404, &["not found"]).await;

    // A withdrawal: the student leaves every read; the others stay.
    let recs = [low("W-1", 1.5), absent_and_low_gpa("W-2", 85.0)];
    import(&app, &recs.iter().collect::<Vec<_>>()).await;
    let w1 = must_entry(&app, "W-1").await;
    let out = send_event(
        &app,
        &secret,
        &json!({"event_id": "evt-cl-w1", "type": "student.withdrawn", "occurred_at": soon(30), "student_id": "W-1"}),
    )
    .await;
    assert_eq!(out["status"], "withdrawn", "{out}");
    assert_eq!(named_anywhere(&app).await, set(&["K-1", "P-1", "W-2"]));
    let summary = get_ok(&app, "/v1/caseload/summary", COUNSELOR_KEY).await;
    assert_eq!(summary["students"], 3, "{summary}");
    // A review of the withdrawn student's last decision is kept in the log as
    // superseded and brings nothing back.
    let body = json!({"decision_seq": seq_of(&w1), "flags": [{"rule_id": "low-gpa", "action": "confirm"}]});
    let late = review_ok(&app, "W-1", &body).await;
    assert_eq!(late["superseded"], true, "{late}");
    assert_eq!(
        entry_of(&app, "W-1").await,
        None,
        "the review brought W-1 back"
    );

    // A newer snapshot re-enrols the student, unreviewed.
    let out = send_event(
        &app,
        &secret,
        &json!({"event_id": "evt-cl-w1-back", "type": "student.snapshot", "occurred_at": soon(60),
                "student_id": "W-1", "data": low("W-1", 1.6)}),
    )
    .await;
    assert_eq!(out["status"], "applied", "{out}");
    let back = must_entry(&app, "W-1").await;
    assert_eq!(state(&back, "low-gpa"), "unreviewed");
    assert_eq!(app.verify().await["ok"], true);
}

// ---------------------------------------------------------------------------
// 8. Every read and review in the audit log
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_read_and_review_is_in_the_audit_log_and_the_chain_verifies() {
    let app = spawn_app(all_keys()).await;
    let recs: Vec<Value> = (0..5)
        .map(|i| absent_and_low_gpa(&format!("A-{i}"), 85.0 + f64::from(i)))
        .collect();
    import(&app, &recs.iter().collect::<Vec<_>>()).await;
    let reads_before = app
        .kinds_in_log()
        .iter()
        .filter(|k| *k == "caseload.read")
        .count();
    assert_eq!(reads_before, 0);

    // (path, query, key, what the read answered with), in order.
    let mut done: Vec<(&str, String, &str, Vec<String>)> = Vec::new();
    let q = "school=SCH-R&limit=2";
    let page = get_ok(&app, &format!("/v1/caseload?{q}"), COUNSELOR_KEY).await;
    done.push((
        "caseload",
        q.into(),
        "counselor",
        ids(page["students"].as_array().expect("page")),
    ));
    let cursor = page["next_cursor"].as_str().expect("a second page");
    let q2 = format!("school=SCH-R&limit=2&cursor={cursor}");
    let page = get_ok(
        &app,
        &format!("/v1/caseload?{q2}"),
        crate::helpers::AUDITOR_KEY,
    )
    .await;
    done.push((
        "caseload",
        q2,
        "auditor",
        ids(page["students"].as_array().expect("page")),
    ));
    let (rows, _) = csv(&app, "/v1/caseload?format=csv&q=A-1", None).await;
    assert_eq!(rows.len(), 2);
    done.push((
        "caseload",
        "format=csv&q=A-1".into(),
        "counselor",
        vec!["A-1".into()],
    ));
    let g = get_ok(&app, "/v1/groups?by=rule", COUNSELOR_KEY).await;
    assert!(!g["groups"].as_array().expect("groups").is_empty());
    done.push((
        "groups",
        "by=rule".into(),
        "counselor",
        (0..5).map(|i| format!("A-{i}")).collect(),
    ));
    let items = get_ok(&app, "/v1/reviews/queue?q=A-2", COUNSELOR_KEY).await;
    assert_eq!(items["items"].as_array().map(Vec::len), Some(2), "{items}");
    done.push(("queue", "q=A-2".into(), "counselor", vec!["A-2".into()]));
    // Counts only, and refused reads, are not reads of anyone.
    get_ok(&app, "/v1/caseload/summary?school=SCH-R", COUNSELOR_KEY).await;
    let resp = app.get_as("/v1/caseload?tier=9", Some(COUNSELOR_KEY)).await;
    assert_problem(resp, 400, &["tier"]).await;
    let resp = app.get_as("/v1/groups", Some(INGEST_KEY)).await;
    assert_eq!(resp.status(), 403);

    // One review taken, one refused (finding the decision is a read too).
    let e = must_entry(&app, "A-3").await;
    done.push((
        "caseload",
        "q=A-3&limit=500".into(),
        "counselor",
        vec!["A-3".into()],
    ));
    let taken = review_ok(
        &app,
        "A-3",
        &json!({"decision_seq": seq_of(&e), "flags": [{"rule_id": "chronic-absence", "action": "defer", "until": day(14)}]}),
    )
    .await;
    let resp = review(
        &app,
        "A-3",
        &json!({"decision_seq": seq_of(&e), "flags": [{"rule_id": "low-gpa", "action": "dismiss"}]}),
    )
    .await;
    assert_problem(resp, 422, &["reason"]).await;

    let mut logged = app.audit_all("kind=caseload.read", 2).await;
    logged.reverse();
    assert_eq!(logged.len(), done.len(), "one entry per read: {logged:#?}");
    for (entry, (read, filter, actor, students)) in logged.iter().zip(&done) {
        assert_eq!(entry["actor"], *actor, "{entry}");
        assert_eq!(entry["payload"]["read"], *read, "{entry}");
        assert_eq!(entry["payload"]["filter"], filter.as_str(), "{entry}");
        assert_eq!(entry["payload"]["students"], json!(students), "{entry}");
        assert!(
            !entry["request_id"].as_str().unwrap_or("").is_empty(),
            "{entry}"
        );
    }
    let reviews = app.audit_all("kind=decision.reviewed", 10).await;
    assert_eq!(reviews.len(), 1, "only the taken review: {reviews:?}");
    let counted = samples(&app, "intervene_flag_reviews_total").await;
    let count = |rule: &str, action: &str| {
        counted
            .iter()
            .find(|(l, _)| l["rule"] == rule && l["action"] == action)
            .map(|(_, v)| *v)
    };
    assert_eq!(count("chronic-absence", "defer"), Some(1.0), "{counted:?}");
    assert_eq!(
        count("low-gpa", "dismiss"),
        None,
        "a refused review is counted: {counted:?}"
    );
    let r = &reviews[0];
    assert_eq!((&r["seq"], &r["hash"]), (&taken["seq"], &taken["hash"]));
    assert_eq!(r["actor"], "counselor");
    assert_eq!(r["payload"]["student_id"], "A-3");
    assert_eq!(r["payload"]["decision_seq"], seq_of(&e));
    assert_eq!(r["payload"]["decision_hash"], e["decision_hash"]);
    assert_eq!(r["payload"]["flags"][0]["action"], "defer");
    assert_eq!(r["payload"]["flags"][0]["until"], day(14));
    // The review is found under the student too.
    let mine = app
        .audit_all("student=A-3&kind=decision.reviewed", 10)
        .await;
    assert_eq!(mine.len(), 1, "{mine:?}");
    let v = app.verify().await;
    assert_eq!(v["ok"], true, "{v}");
}

// ---------------------------------------------------------------------------
// Bugs found here
// ---------------------------------------------------------------------------

/// The `rel="next"` target of a `Link` header, if any.
fn next_link(resp: &reqwest::Response) -> Option<String> {
    let link = header(resp, "link");
    let (target, params) = link.split_once(';')?;
    params.contains("rel=\"next\"").then(|| {
        target
            .trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .to_string()
    })
}

/// A CSV page held no `next_cursor` and nothing else said that more students
/// followed: a counselor exporting the caseload got the first 50 students and no
/// sign of the rest. Every page with a next one now links to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csv_page_links_to_the_next_page() {
    let app = spawn_app(all_keys()).await;
    let recs: Vec<Value> = (0..7)
        .map(|i| json!({"student_id": format!("N-{i}"), "school_id": "=SUM(1)", "gpa": 1.5}))
        .collect();
    import(&app, &recs.iter().collect::<Vec<_>>()).await;
    for (start, per_page) in [
        ("/v1/caseload?format=csv&school=%3DSUM%281%29&limit=3", 3),
        ("/v1/reviews/queue?limit=2&format=csv", 2),
    ] {
        let mut url = start.to_string();
        let mut served: Vec<String> = Vec::new();
        for pages in 1.. {
            let resp = app.get_as(&url, Some(COUNSELOR_KEY)).await;
            assert_eq!(resp.status(), 200, "{url}");
            let next = next_link(&resp);
            let rows = parse_csv(&resp.bytes().await.expect("body"));
            assert!(rows.len() - 1 <= per_page, "{url}: {rows:?}");
            served.extend(rows.into_iter().skip(1).map(|r| r[0].clone()));
            match next {
                Some(n) => {
                    assert!(n.starts_with(start.split('?').next().expect("path")), "{n}");
                    assert!(n.contains("cursor="), "{n}");
                    url = n;
                }
                None => break,
            }
            assert!(pages < 10, "the links do not end");
        }
        let want: Vec<String> = (0..7).map(|i| format!("N-{i}")).collect();
        assert_eq!(
            served, want,
            "{start}: every student once, following the links"
        );
    }
    // JSON pages say the same.
    let resp = app
        .get_as("/v1/caseload?limit=3", Some(COUNSELOR_KEY))
        .await;
    let link = next_link(&resp).expect("a link to the next page");
    let page = json_ok(resp).await;
    let cursor = page["next_cursor"].as_str().expect("next_cursor");
    assert!(link.ends_with(&format!("cursor={cursor}")), "{link}");
    let resp = app
        .get_as("/v1/caseload?limit=50", Some(COUNSELOR_KEY))
        .await;
    assert_eq!(next_link(&resp), None, "the last page links nowhere");
}

/// A review body of the wrong shape was refused as "review: invalid type: null,
/// expected a string", naming no field; it now names the member.
#[tokio::test]
async fn a_review_of_the_wrong_shape_names_the_member() {
    let app = spawn_app(all_keys()).await;
    evaluate(&app, &crate::helpers::low_gpa("T-1")).await;
    let s = seq_of(&must_entry(&app, "T-1").await);
    let cases = [
        (
            json!({"decision_seq": s, "flags": [{"rule_id": null, "action": "confirm"}]}),
            "flags[0].rule_id",
        ),
        (
            json!({"decision_seq": s, "flags": [{"rule_id": "low-gpa", "action": "confirm"}, {"rule_id": "x", "action": 3}]}),
            "flags[1].action",
        ),
        (json!({"decision_seq": "7", "flags": []}), "decision_seq"),
    ];
    for (body, member) in cases {
        assert_problem(review(&app, "T-1", &body).await, 400, &[member]).await;
    }
}
