//! Bearer keys and roles: 401 without a valid key, 403 for the wrong role, every
//! denial audited as `auth.denied`, and open local mode without keys.

use intervene::config::Role;
use reqwest::Response;
use serde_json::Value;

use crate::helpers::{
    ADMIN_KEY, AUDITOR_KEY, COUNSELOR_KEY, INGEST_KEY, TestApp, all_keys, assert_problem, header,
    json_ok, key, low_gpa, spawn_app,
};

/// Every protected endpoint and the roles (besides admin) allowed on it.
const ENDPOINTS: &[(&str, &str, &[&str])] = &[
    ("POST", "/v1/evaluate", &["ingest"]),
    ("POST", "/v1/evaluate/batch", &["ingest"]),
    (
        "GET",
        "/v1/students/S1/decisions",
        &["counselor", "auditor"],
    ),
    ("GET", "/v1/rules", &["counselor", "auditor"]),
    ("GET", "/v1/audit", &["auditor"]),
    ("GET", "/v1/audit/export", &["auditor"]),
    ("GET", "/v1/audit/verify", &["auditor"]),
];

const ROLES: &[(&str, &str)] = &[
    ("ingest", INGEST_KEY),
    ("counselor", COUNSELOR_KEY),
    ("auditor", AUDITOR_KEY),
    ("admin", ADMIN_KEY),
];

async fn call(app: &TestApp, method: &str, path: &str, auth: Option<&str>) -> Response {
    let mut rb = match method {
        "POST" if path.ends_with("/batch") => app
            .client
            .post(app.url(path))
            .header("content-type", "application/x-ndjson")
            .body(format!("{}\n", low_gpa("S-AUTH"))),
        "POST" => app
            .client
            .post(app.url(path))
            .header("content-type", "application/json")
            .body(low_gpa("S-AUTH").to_string()),
        _ => app.client.get(app.url(path)),
    };
    if let Some(a) = auth {
        rb = rb.header("authorization", a);
    }
    rb.send().await.expect("request")
}

async fn denials(app: &TestApp) -> Vec<Value> {
    app.audit_all("kind=auth.denied", 500).await
}

#[tokio::test]
async fn a_missing_key_is_401_and_audited() {
    let app = spawn_app(all_keys()).await;
    for (method, path, _) in ENDPOINTS {
        let resp = call(&app, method, path, None).await;
        assert_eq!(
            header(&resp, "www-authenticate"),
            "Bearer",
            "{method} {path}"
        );
        assert_problem(resp, 401, &["Authorization: Bearer"]).await;
    }
    let d = denials(&app).await;
    assert_eq!(
        d.len(),
        ENDPOINTS.len(),
        "one auth.denied entry per refusal: {d:?}"
    );
    for e in &d {
        assert_eq!(e["actor"], "anonymous");
        assert_eq!(e["payload"]["reason"], "missing bearer key");
        assert!(e["payload"]["key_name"].is_null());
        assert!(!e["request_id"].as_str().unwrap_or("").is_empty());
    }
    let paths: Vec<&str> = d
        .iter()
        .rev()
        .filter_map(|e| e["payload"]["path"].as_str())
        .collect();
    let expected: Vec<&str> = ENDPOINTS.iter().map(|(_, p, _)| *p).collect();
    assert_eq!(paths, expected);
    assert!(
        app.decisions_in_log().await.is_empty(),
        "no decision for a refused evaluate"
    );
}

#[tokio::test]
async fn a_wrong_key_is_401_and_the_key_is_never_logged() {
    let app = spawn_app(all_keys()).await;
    let wrong = "definitely-not-a-configured-key-9137";
    for auth in [
        format!("Bearer {wrong}"),
        format!("Basic {wrong}"),
        "Bearer ".to_string(),
        hex_of_admin_hash(),
    ] {
        let resp = call(&app, "POST", "/v1/evaluate", Some(&auth)).await;
        assert_problem(resp, 401, &[]).await;
    }
    let resp = call(
        &app,
        "POST",
        "/v1/evaluate",
        Some(&format!("Bearer {wrong}")),
    )
    .await;
    let p = assert_problem(resp, 401, &["not valid"]).await;
    assert!(!p.to_string().contains(wrong));

    let d = denials(&app).await;
    assert_eq!(d.len(), 5);
    assert!(d.iter().any(|e| e["payload"]["reason"] == "unknown key"));
    let resp = app.get("/v1/audit/export").await;
    let export = resp.text().await.expect("export");
    assert!(
        !export.contains(wrong),
        "a presented key reached the audit log"
    );
    assert!(app.decisions_in_log().await.is_empty());
}

/// The configured hash itself presented as a key is not the key.
fn hex_of_admin_hash() -> String {
    format!("Bearer {}", crate::helpers::hash_key(ADMIN_KEY))
}

#[tokio::test]
async fn each_role_reaches_exactly_its_endpoints() {
    let app = spawn_app(all_keys()).await;
    let mut forbidden = 0;
    for (method, path, allowed) in ENDPOINTS {
        for (role, raw) in ROLES {
            let resp = call(&app, method, path, Some(&format!("Bearer {raw}"))).await;
            if *role == "admin" || allowed.contains(role) {
                let status = resp.status();
                let body = resp.text().await.expect("body");
                assert_eq!(status, 200, "{role} on {method} {path}: {body}");
            } else {
                forbidden += 1;
                let name = if *role == "ingest" { "sis" } else { role };
                assert_problem(
                    resp,
                    403,
                    &[
                        &format!("key `{name}`"),
                        &format!("role `{role}`"),
                        allowed[0],
                    ],
                )
                .await;
            }
        }
    }
    // Every 403 is audited: the first ones one by one, the rest counted (all from
    // 127.0.0.1, past the per-address allowance).
    let d = denials(&app).await;
    let one_by_one = forbidden.min(intervene::http::denials::PER_PEER as usize);
    assert_eq!(d.len(), one_by_one, "{d:?}");
    app.state.record_suppressed_denials(true).await;
    let counted: u64 = app
        .audit_all("kind=auth.denied.suppressed", 10)
        .await
        .iter()
        .filter_map(|e| e["payload"]["denials"].as_u64())
        .sum();
    assert_eq!(
        one_by_one as u64 + counted,
        forbidden as u64,
        "every 403 is audited"
    );
    for e in &d {
        assert_eq!(e["payload"]["reason"], "role not allowed");
        assert!(
            e["actor"] != "anonymous" && e["actor"] == e["payload"]["key_name"],
            "{e}"
        );
    }
    // The ingest key's evaluate and batch, and the admin's, were audited under the key's name.
    let decisions = app.decisions_in_log().await;
    let mut actors: Vec<&str> = decisions
        .iter()
        .filter_map(|e| e["actor"].as_str())
        .collect();
    actors.sort();
    assert_eq!(actors, vec!["admin", "admin", "sis", "sis"]);
}

#[tokio::test]
async fn a_denial_shows_up_in_the_audit_query() {
    let app = spawn_app(all_keys()).await;
    let resp = app
        .post_json_as("/v1/evaluate", &low_gpa("S-DENY"), Some(COUNSELOR_KEY))
        .await;
    let rid = header(&resp, "x-request-id");
    assert_problem(resp, 403, &["ingest"]).await;
    let page = json_ok(
        app.get_as("/v1/audit?kind=auth.denied", Some(AUDITOR_KEY))
            .await,
    )
    .await;
    let entries = page["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 1, "{page}");
    let e = &entries[0];
    assert_eq!(e["kind"], "auth.denied");
    assert_eq!(e["actor"], "counselor");
    assert_eq!(e["request_id"], rid.as_str());
    assert_eq!(e["payload"]["method"], "POST");
    assert_eq!(e["payload"]["path"], "/v1/evaluate");
    assert_eq!(e["payload"]["peer"], "127.0.0.1");
    assert!(
        app.audit_all("student=S-DENY", 50).await.is_empty(),
        "no decision for the refused record"
    );
    assert_eq!(app.verify().await["ok"], true);
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive_and_whitespace_is_trimmed() {
    let app = spawn_app(all_keys()).await;
    for auth in [
        format!("Bearer {INGEST_KEY}"),
        format!("bearer {INGEST_KEY}"),
        format!("Bearer  {INGEST_KEY} "),
    ] {
        let resp = call(&app, "POST", "/v1/evaluate", Some(&auth)).await;
        json_ok(resp).await;
    }
}

#[tokio::test]
async fn open_local_mode_allows_everything_as_local() {
    let app = spawn_app(vec![]).await;
    for (method, path, _) in ENDPOINTS {
        let resp = call(&app, method, path, None).await;
        let status = resp.status();
        assert_eq!(
            status,
            200,
            "{method} {path} in open local mode: {}",
            resp.text().await.unwrap_or_default()
        );
    }
    // A key presented in open mode is ignored, not refused.
    let resp = call(&app, "GET", "/v1/audit", Some("Bearer whatever")).await;
    assert_eq!(resp.status(), 200);
    let decisions = app.decisions_in_log().await;
    assert_eq!(decisions.len(), 2);
    assert!(decisions.iter().all(|e| e["actor"] == "local"));
    assert!(app.audit_all("kind=auth.denied", 50).await.is_empty());
}

#[tokio::test]
async fn open_local_mode_refuses_a_public_bind() {
    let settings = intervene::config::Settings {
        bind: "0.0.0.0:0".into(),
        rules: crate::helpers::rules_dir(),
        data: tempfile::tempdir().expect("tempdir").keep(),
        ..Default::default()
    };
    let Err(err) = intervene::http::Application::build(settings.clone()).await else {
        panic!("the server bound 0.0.0.0 with no keys");
    };
    assert!(err.to_string().contains("open local mode"), "{err}");
    let _ = std::fs::remove_dir_all(&settings.data);
}

#[tokio::test]
async fn two_keys_with_the_same_role_are_told_apart() {
    let keys = vec![
        key("sis-a", Role::Ingest, "key-a-123"),
        key("sis-b", Role::Ingest, "key-b-456"),
        key("admin", Role::Admin, ADMIN_KEY),
    ];
    let app = spawn_app(keys).await;
    json_ok(
        app.post_json_as("/v1/evaluate", &low_gpa("S-A"), Some("key-a-123"))
            .await,
    )
    .await;
    json_ok(
        app.post_json_as("/v1/evaluate", &low_gpa("S-B"), Some("key-b-456"))
            .await,
    )
    .await;
    let a = app.audit_all("student=S-A", 10).await;
    let b = app.audit_all("student=S-B", 10).await;
    assert_eq!(a[0]["actor"], "sis-a");
    assert_eq!(b[0]["actor"], "sis-b");
}

#[tokio::test]
async fn the_key_is_checked_before_the_query_string() {
    let app = spawn_app(all_keys()).await;
    let resp = app.get_as("/v1/audit?bogus=1", None).await;
    assert_problem(resp, 401, &[]).await;
    let resp = app
        .post_json_as("/v1/evaluate?dry_run=maybe", &low_gpa("S-Q"), None)
        .await;
    assert_problem(resp, 401, &[]).await;
    assert_eq!(denials(&app).await.len(), 2, "both refusals are audited");
}

/// A flood of bad keys must not grow the audit log one durable entry per request:
/// the first refusals per address are audited one by one, the rest are counted and
/// recorded as one `auth.denied.suppressed` entry when the minute is over.
#[tokio::test]
async fn a_flood_of_bad_keys_is_audited_in_bounded_space() {
    use intervene::http::denials::PER_PEER;
    let app = spawn_app(all_keys()).await;
    let flood = 3 * PER_PEER as usize;
    for i in 0..flood {
        let resp = call(&app, "GET", "/v1/rules", Some(&format!("Bearer nope-{i}"))).await;
        assert_eq!(resp.status(), 401, "every refusal is still answered");
    }
    let d = denials(&app).await;
    assert_eq!(d.len(), PER_PEER as usize, "{d:?}");
    assert!(
        d.iter().all(|e| e["payload"]["peer"] == "127.0.0.1"),
        "{d:?}"
    );

    // What the minute's sweep (or shutdown) does.
    app.state.record_suppressed_denials(true).await;
    let s = app.audit_all("kind=auth.denied.suppressed", 10).await;
    assert_eq!(s.len(), 1, "{s:?}");
    assert_eq!(s[0]["payload"]["peer"], "127.0.0.1");
    assert_eq!(s[0]["payload"]["denials"], flood - PER_PEER as usize);
    assert_eq!(app.verify().await["ok"], true);
}
