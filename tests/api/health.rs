//! `/healthz`, `/readyz`, `/metrics`, `/openapi.json`, request ids, unknown paths.

use serde_json::Value;

use crate::helpers::{all_keys, assert_problem, header, json_ok, low_gpa, spawn_app};

#[tokio::test]
async fn healthz_answers_ok() {
    let app = spawn_app(vec![]).await;
    let resp = app.get("/healthz").await;
    assert!(header(&resp, "content-type").starts_with("application/json"));
    let body = json_ok(resp).await;
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn readyz_reports_rule_set_and_store() {
    let app = spawn_app(vec![]).await;
    let body = json_ok(app.get("/readyz").await).await;
    assert_eq!(body["status"], "ready", "{body}");
    assert_eq!(body["store"], "open", "{body}");
    let version = body["ruleset_version"].as_str().expect("ruleset_version");
    assert!(
        version.starts_with("sha256:") && version.len() == "sha256:".len() + 64,
        "version `{version}`"
    );
    assert!(body["rules"].as_u64().is_some_and(|n| n > 0), "{body}");
    // Startup audits the loaded rule set: the log is not empty.
    assert!(
        body["audit_entries"].as_u64().is_some_and(|n| n >= 1),
        "{body}"
    );
    assert_eq!(version, app.state.registry.active().version);
    assert!(app.address.ends_with(&format!(":{}", app.port)));
    assert!(
        app.dir.path().join("db").exists(),
        "the store lives in the configured data directory"
    );
}

#[tokio::test]
async fn health_endpoints_need_no_key_when_keys_are_configured() {
    let app = spawn_app(all_keys()).await;
    for path in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
        let resp = app.get_as(path, None).await;
        assert_eq!(resp.status(), 200, "{path} without a key");
    }
}

#[tokio::test]
async fn metrics_are_prometheus_text_and_count_requests_and_decisions() {
    let app = spawn_app(vec![]).await;
    app.evaluate(&low_gpa("S-MET")).await;
    let resp = app.get("/metrics").await;
    assert_eq!(resp.status(), 200);
    let ct = header(&resp, "content-type");
    assert!(ct.starts_with("text/plain"), "content type `{ct}`");
    let text = resp.text().await.expect("body");
    for name in [
        "intervene_http_requests_total",
        "intervene_http_request_duration_seconds",
        "intervene_audit_flush_seconds",
        "intervene_flags_total",
    ] {
        assert!(
            text.contains(&format!("# TYPE {name} ")),
            "metric `{name}` missing:\n{text}"
        );
    }
    assert!(
        text.lines().any(|l| l == "intervene_decisions_total 1"),
        "one decision counted:\n{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("intervene_http_requests_total{")
                && l.contains("route=\"/v1/evaluate\"")
                && l.contains("status=\"200\"")),
        "the evaluate request is counted by route and status:\n{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("intervene_flags_total{") && l.contains("rule=\"low-gpa\"")),
        "{text}"
    );
}

#[tokio::test]
async fn openapi_document_is_served() {
    let app = spawn_app(vec![]).await;
    let body = json_ok(app.get("/openapi.json").await).await;
    let v = body["openapi"].as_str().expect("openapi member");
    assert!(v.starts_with("3."), "openapi version `{v}`");
    assert_eq!(body["info"]["title"], "intervene");
    assert!(body["paths"].is_object(), "{body}");
}

#[tokio::test]
async fn openapi_document_describes_every_endpoint() {
    let app = spawn_app(vec![]).await;
    let body = json_ok(app.get("/openapi.json").await).await;
    let paths = body["paths"].as_object().cloned().unwrap_or_default();
    for p in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/v1/evaluate",
        "/v1/evaluate/batch",
        "/v1/students/{id}/decisions",
        "/v1/rules",
        "/v1/audit",
        "/v1/audit/export",
        "/v1/audit/verify",
    ] {
        assert!(
            paths.contains_key(p),
            "`{p}` is not in the OpenAPI document: {body}"
        );
    }
    let schemas = &body["components"]["schemas"];
    assert!(
        schemas
            .get("Record")
            .or_else(|| schemas.get("StudentRecord"))
            .is_some(),
        "the student record schema is missing: {body}"
    );
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = spawn_app(all_keys()).await;
    let mut seen = Vec::new();
    // Successes, problems from handlers, from extractors, from auth, and unknown paths.
    let responses = vec![
        app.get_as("/healthz", None).await,
        app.get_as("/v1/audit", None).await,
        app.get("/v1/audit?bogus=1").await,
        app.get("/no/such/path").await,
        app.post_raw("/v1/evaluate", "text/plain", "x").await,
        app.post_json("/v1/evaluate", &low_gpa("S-RID")).await,
    ];
    for r in responses {
        let id = header(&r, "x-request-id");
        assert!(
            !id.is_empty(),
            "{} {} has no x-request-id",
            r.status(),
            r.url()
        );
        seen.push(id);
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 6, "request ids are unique per request");
}

#[tokio::test]
async fn a_clean_client_request_id_is_echoed_and_a_bad_one_replaced() {
    let app = spawn_app(vec![]).await;
    let resp = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "sis-batch_42-a")
        .send()
        .await
        .expect("request");
    assert_eq!(header(&resp, "x-request-id"), "sis-batch_42-a");

    for bad in ["has space", "semi;colon", &"x".repeat(65)] {
        let resp = app
            .client
            .get(app.url("/healthz"))
            .header("x-request-id", bad)
            .send()
            .await
            .expect("request");
        let id = header(&resp, "x-request-id");
        assert!(
            !id.is_empty() && id != bad,
            "bad client id `{bad}` was echoed: `{id}`"
        );
    }
}

#[tokio::test]
async fn the_request_id_reaches_the_audit_entry() {
    let app = spawn_app(vec![]).await;
    let resp = app
        .client
        .post(app.url("/v1/evaluate"))
        .header("content-type", "application/json")
        .header("x-request-id", "trace-0001")
        .body(low_gpa("S-TRACE").to_string())
        .send()
        .await
        .expect("request");
    assert_eq!(header(&resp, "x-request-id"), "trace-0001");
    let d = json_ok(resp).await;
    let entries = app.audit_all("student=S-TRACE", 50).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["request_id"], "trace-0001");
    assert_eq!(entries[0]["payload"]["decision_id"], d["decision_id"]);
}

#[tokio::test]
async fn unknown_paths_are_problem_json_404s() {
    let app = spawn_app(vec![]).await;
    let body: Value = assert_problem(
        app.get("/v1/nothing-here").await,
        404,
        &["/v1/nothing-here"],
    )
    .await;
    assert!(body["type"].as_str().is_some());
}

/// `/metrics` series of `name`.
fn series<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .collect()
}

#[tokio::test]
async fn invented_http_methods_do_not_each_create_a_metrics_series() {
    let app = spawn_app(vec![]).await;
    for i in 0..50 {
        let method = reqwest::Method::from_bytes(format!("INVENTED{i}").as_bytes()).unwrap();
        for path in ["/healthz", "/no/such/path"] {
            let resp = app
                .client
                .request(method.clone(), app.url(path))
                .send()
                .await
                .expect("request");
            assert!(
                resp.status().is_client_error(),
                "{method} {path}: {}",
                resp.status()
            );
        }
    }
    let text = app.get("/metrics").await.text().await.expect("metrics");
    let requests = series(&text, "intervene_http_requests_total");
    assert!(
        requests.iter().all(|l| !l.contains("INVENTED")),
        "a raw method became a label:\n{}",
        requests.join("\n")
    );
    assert!(
        requests
            .iter()
            .any(|l| l.contains("method=\"other\"") && l.contains("route=\"unmatched\"")),
        "invented methods are counted as `other`:\n{}",
        requests.join("\n")
    );
    // /healthz and the unmatched path, each with one status, plus /metrics itself.
    assert!(
        requests.len() <= 4,
        "{} request series after 100 requests with 50 invented methods:\n{}",
        requests.len(),
        requests.join("\n")
    );
    let latency = series(&text, "intervene_http_request_duration_seconds_count");
    assert!(latency.len() <= 3, "{}", latency.join("\n"));
}

#[tokio::test]
async fn paths_with_ids_are_counted_under_their_route_pattern() {
    let app = spawn_app(vec![]).await;
    for i in 0..20 {
        app.get(&format!("/v1/students/S-MET-{i}/decisions")).await;
        app.get(&format!("/v1/no-such-{i}")).await;
    }
    let text = app.get("/metrics").await.text().await.expect("metrics");
    let requests = series(&text, "intervene_http_requests_total");
    assert!(
        requests
            .iter()
            .all(|l| !l.contains("S-MET") && !l.contains("no-such")),
        "a raw path became a label:\n{}",
        requests.join("\n")
    );
    assert!(
        requests
            .iter()
            .any(|l| l.contains("route=\"/v1/students/{id}/decisions\"")),
        "{}",
        requests.join("\n")
    );
}
