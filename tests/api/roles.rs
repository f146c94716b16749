//! Every route of the route table (`intervene::http::ROUTES`), with the roles the table
//! gives it: no key is a 401 and each role not allowed a 403 on a route that names
//! roles, an allowed role (and admin) gets past the gate, and a public or signed route
//! never asks for a bearer key. The table is the list: a new route is covered here
//! without being added.

use intervene::config::Role;
use intervene::http::{Access, ROUTES, Route};
use reqwest::{Method, Response};

use crate::helpers::{
    ADMIN_KEY, AUDITOR_KEY, COUNSELOR_KEY, FAMILY_KEY, INGEST_KEY, TestApp, all_keys,
    assert_problem, spawn_app,
};

/// Each role, its key and the key's name in `all_keys`.
const KEYS: &[(Role, &str, &str)] = &[
    (Role::Ingest, INGEST_KEY, "sis"),
    (Role::Counselor, COUNSELOR_KEY, "counselor"),
    (Role::Auditor, AUDITOR_KEY, "auditor"),
    (Role::Admin, ADMIN_KEY, "admin"),
    (Role::FamilyLiaison, FAMILY_KEY, "liaison"),
];

/// The route's path with a valid placeholder for each parameter.
fn concrete(route: &Route) -> String {
    let segments: Vec<String> = route
        .openapi_path()
        .split('/')
        .map(|segment| match segment {
            "{id}" | "{student_id}" => "S-ROLES".to_string(),
            "{name}" => "params.yaml".to_string(),
            "{seq}" => "1".to_string(),
            "{version}" => format!("sha256:{}", "0".repeat(64)),
            s if s.starts_with('{') => panic!("no placeholder for {s} in {}", route.path),
            s => s.to_string(),
        })
        .collect();
    segments.join("/")
}

/// The route asked with an empty body, with `key` as the bearer key.
async fn call(app: &TestApp, route: &Route, key: Option<&str>) -> Response {
    let method = Method::from_bytes(route.method.as_bytes()).expect("method");
    let mut rb = app.client.request(method, app.url(&concrete(route)));
    if let Some(k) = key {
        rb = rb.header("authorization", format!("Bearer {k}"));
    }
    rb.send().await.expect("request")
}

#[tokio::test]
async fn every_route_answers_each_role_as_the_table_says() {
    let app = spawn_app(all_keys()).await;
    let guarded = ROUTES
        .iter()
        .filter(|r| matches!(r.access, Access::Roles(_)))
        .count();
    assert!(
        guarded >= 20 && ROUTES.len() >= 28,
        "the table has {} routes, {guarded} with roles",
        ROUTES.len()
    );
    let mut refused = 0;
    for route in ROUTES {
        let what = format!("{} {}", route.method, route.path);
        match route.access {
            Access::Roles(_) => refused += check_roles(&app, route, &what).await,
            Access::Public => {
                let resp = call(&app, route, None).await;
                assert!(resp.status().is_success(), "{what}: {}", resp.status());
            }
            Access::Signed => {
                let without = call(&app, route, None).await.status();
                let admin = call(&app, route, Some(ADMIN_KEY)).await.status();
                assert_eq!(without, admin, "{what}: a bearer key changes nothing");
                assert!(!without.is_success() && without != 403, "{what}: {without}");
            }
        }
    }
    // Every refusal was audited: the first ones one by one, the rest counted.
    app.state.record_suppressed_denials(true).await;
    let one_by_one = app.audit_all("kind=auth.denied", 1000).await.len() as u64;
    let counted: u64 = app
        .audit_all("kind=auth.denied.suppressed", 10)
        .await
        .iter()
        .filter_map(|e| e["payload"]["denials"].as_u64())
        .sum();
    assert_eq!(one_by_one + counted, refused, "every refusal is audited");
}

/// 401 without a key, 403 for each role not accepted, past the gate otherwise; how
/// many requests were refused.
async fn check_roles(app: &TestApp, route: &Route, what: &str) -> u64 {
    let resp = call(app, route, None).await;
    assert_problem(resp, 401, &["Authorization: Bearer"]).await;
    let mut refused = 1;
    let accepted = route.access.accepted_roles();
    for (role, key, name) in KEYS {
        let resp = call(app, route, Some(key)).await;
        let status = resp.status().as_u16();
        if accepted.contains(role) {
            let body = resp.text().await.unwrap_or_default();
            assert!(
                status != 401 && status != 403,
                "{} on {what}: {status} {body}",
                role.as_str()
            );
        } else {
            assert_problem(
                resp,
                403,
                &[
                    &format!("key `{name}`"),
                    &format!("role `{}`", role.as_str()),
                    accepted[0].as_str(),
                ],
            )
            .await;
            refused += 1;
        }
    }
    refused
}
