//! The OpenAPI document (`GET /openapi.json`) is generated from the code: every route
//! of the route table (`src/http/routes/mod.rs`) must appear in it with its method, and
//! the main schemas must be there. So a new route without a `#[utoipa::path]` (or
//! missing from `openapi::ApiDoc`) fails here.

use std::collections::BTreeSet;

use serde_json::Value;

/// `(path, method)` of every route the server registers.
fn registered_routes() -> Vec<(String, String)> {
    intervene::http::openapi::served_routes()
        .into_iter()
        .map(|(method, path)| (path, method))
        .collect()
}

fn doc() -> Value {
    intervene::http::openapi::document()
}

#[test]
fn every_registered_route_is_documented_with_its_method() {
    let routes = registered_routes();
    assert!(
        routes.len() >= 14,
        "found only {} routes in routes/mod.rs: {routes:?}",
        routes.len()
    );
    let doc = doc();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().expect("`paths` is an object");
    let missing: Vec<String> = routes
        .iter()
        .filter(|(path, method)| paths.get(path).and_then(|p| p.get(method)).is_none())
        .map(|(path, method)| format!("{} {path}", method.to_uppercase()))
        .collect();
    assert!(
        missing.is_empty(),
        "routes registered in src/http/routes/mod.rs but not in the OpenAPI document \
         (add #[utoipa::path] to the handler and list it in openapi::ApiDoc): {missing:?}"
    );
    // And nothing documented that is not served.
    let registered: BTreeSet<(String, String)> = routes.into_iter().collect();
    for (path, item) in paths {
        for method in item.as_object().expect("path item").keys() {
            if ["get", "post", "put", "delete", "patch", "head"].contains(&method.as_str()) {
                assert!(
                    registered.contains(&(path.clone(), method.clone())),
                    "{} {path} is documented but not registered",
                    method.to_uppercase()
                );
            }
        }
    }
}

#[test]
fn main_schemas_are_components_and_record_requires_student_id() {
    let doc = doc();
    let schemas = &doc["components"]["schemas"];
    for name in ["Record", "Decision", "Entry"] {
        assert!(
            schemas.get(name).is_some(),
            "components.schemas.{name} is missing"
        );
    }
    let required = schemas["Record"]["required"]
        .as_array()
        .expect("Record has a `required` list");
    assert!(
        required.iter().any(|r| r == "student_id"),
        "Record must require student_id, got {required:?}"
    );
}

#[test]
fn every_reference_resolves() {
    fn walk(v: &Value, doc: &Value, bad: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    let target = r
                        .strip_prefix("#/")
                        .map(|p| p.split('/').fold(doc, |node, key| &node[key]));
                    if target.is_none_or(Value::is_null) {
                        bad.push(r.clone());
                    }
                }
                m.values().for_each(|x| walk(x, doc, bad));
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, doc, bad)),
            _ => {}
        }
    }
    let doc = doc();
    let mut bad = Vec::new();
    walk(&doc, &doc, &mut bad);
    assert!(bad.is_empty(), "unresolved $refs: {bad:?}");
}
