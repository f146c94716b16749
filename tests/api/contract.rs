//! The HTTP contract beyond single resources: methods a path does not serve.

use crate::helpers::{assert_problem, header, spawn_app};

/// TRACE, PATCH, OPTIONS and other methods a served path does not have used to be a
/// 404 (no route matched): they are a 405 naming the path's methods in `Allow`, and a
/// path that is not served at all is still a 404.
#[tokio::test]
async fn an_unrouted_method_on_a_served_path_is_405_with_allow() {
    let app = spawn_app(vec![]).await;
    for (method, path, allow) in [
        ("TRACE", "/v1/rules", "GET"),
        ("DELETE", "/v1/rules", "GET"),
        ("PATCH", "/v1/audit/holds/S-1", "PUT, DELETE"),
        ("OPTIONS", "/v1/evaluate", "POST"),
        ("GET", "/v1/rules/files/params.yaml", "PUT"),
        ("POST", "/v1/students/S-1/report", "GET"),
        ("BREW", "/healthz", "GET"),
    ] {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let resp = app
            .client
            .request(m, app.url(path))
            .send()
            .await
            .expect("request");
        assert_eq!(header(&resp, "allow"), allow, "{method} {path}");
        assert_problem(resp, 405, &[path]).await;
    }
    // Methods a path has still reach it; unknown paths are still 404.
    app.assert_healthy().await;
    let resp = app
        .client
        .get(app.url("/v1/nothing-here"))
        .send()
        .await
        .expect("GET");
    assert_problem(resp, 404, &["no endpoint"]).await;
    let resp = app
        .client
        .request(reqwest::Method::TRACE, app.url("/v1/nothing-here"))
        .send()
        .await
        .expect("TRACE");
    assert_eq!(resp.status(), 404);
}
