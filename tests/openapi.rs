//! The OpenAPI document (`GET /openapi.json`) is generated from the code: every route
//! registered in `src/http/routes/mod.rs` must appear in it with its method, and the
//! main schemas must be there. Routes are read from the source at test time, so a new
//! route without a `#[utoipa::path]` (or missing from `openapi::ApiDoc`) fails here.

use std::collections::BTreeSet;

use serde_json::Value;

/// `(path, method)` of every `.route("PATH", web::METHOD()` in `routes/mod.rs`.
fn registered_routes() -> Vec<(String, String)> {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/src/http/routes/mod.rs");
    let text = std::fs::read_to_string(file).expect("read src/http/routes/mod.rs");
    // Drop line comments so a commented-out route is not counted.
    let code: String = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut routes = Vec::new();
    let mut rest = code.as_str();
    while let Some(i) = rest.find(".route(") {
        rest = &rest[i + ".route(".len()..];
        let r = rest
            .trim_start()
            .strip_prefix('"')
            .unwrap_or_else(|| panic!("a route path literal after `.route(`: {rest:.60}"));
        let end = r.find('"').expect("closing quote of the route path");
        let path = &r[..end];
        let r = r[end + 1..]
            .trim_start()
            .strip_prefix(',')
            .expect("`,` after the route path")
            .trim_start()
            .strip_prefix("web::")
            .unwrap_or_else(|| panic!("`web::METHOD()` after route `{path}`"));
        let method = &r[..r.find('(').expect("`(` after the method")];
        routes.push((openapi_path(path), method.to_ascii_lowercase()));
    }
    routes
}

/// actix `{name:regex}` → OpenAPI `{name}`.
fn openapi_path(actix: &str) -> String {
    let mut out = String::new();
    let mut in_regex = false;
    for c in actix.chars() {
        match c {
            ':' if out.rfind('{') > out.rfind('}') => in_regex = true,
            '}' => {
                in_regex = false;
                out.push(c);
            }
            _ if in_regex => {}
            _ => out.push(c),
        }
    }
    out
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
