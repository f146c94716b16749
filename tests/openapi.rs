//! The OpenAPI document (`GET /openapi.json`) is generated from the code: every route
//! of the route table (`src/http/routes/mod.rs`) must appear in it with its method, and
//! the main schemas must be there. So a new route without a `#[utoipa::path]` (or
//! missing from `document::ApiDoc`) fails here.

use std::collections::BTreeSet;

use serde_json::Value;

/// `(path, method)` of every route the server registers.
fn registered_routes() -> Vec<(String, String)> {
    intervene::http::document::served_routes()
        .into_iter()
        .map(|(method, path)| (path, method))
        .collect()
}

fn doc() -> Value {
    intervene::http::document::document()
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
         (add #[utoipa::path] to the handler and list it in document::ApiDoc): {missing:?}"
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

/// What schemathesis found (issue 10): the document must say what the server does.
/// `GET /v1/rules/versions` lists each version's files by name (an array, not the
/// name → text object of one stored version); the 415 and 428 answers are documented;
/// the name and version rules the server enforces are in the schema; integer
/// parameters read as `u64` state their exact range.
#[test]
fn the_document_states_the_shapes_and_refusals_the_server_gives() {
    let doc = doc();
    let schemas = &doc["components"]["schemas"];
    let item = &schemas["VersionList"]["properties"]["versions"]["items"]["$ref"];
    let item = item
        .as_str()
        .expect("a $ref")
        .rsplit('/')
        .next()
        .expect("name");
    assert_eq!(
        schemas[item]["properties"]["files"]["type"], "array",
        "{}",
        schemas[item]
    );

    let responses = |path: &str, method: &str| doc["paths"][path][method]["responses"].clone();
    for path in ["/v1/rules/check", "/v1/rules/preview", "/v1/rules/publish"] {
        assert!(
            responses(path, "post").get("415").is_some(),
            "415 on {path}"
        );
    }
    assert!(responses("/v1/rules/publish", "post").get("428").is_some());
    assert!(
        responses("/v1/rules/files/{name}", "put")
            .get("428")
            .is_some()
    );
    for (path, method) in [
        ("/v1/rules/rollback/{version}", "post"),
        ("/v1/rules/versions/{version}", "get"),
    ] {
        assert!(
            responses(path, method).get("400").is_some(),
            "400 on {path}"
        );
    }

    let param = |path: &str, method: &str, name: &str| -> Value {
        doc["paths"][path][method]["parameters"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == name))
            .map(|p| p["schema"].clone())
            .unwrap_or_else(|| panic!("no parameter `{name}` on {method} {path}"))
    };
    let name = param("/v1/rules/files/{name}", "put", "name");
    assert_eq!(name["pattern"], intervene::lifecycle::FILE_NAME_PATTERN);
    assert_eq!(name["maxLength"], intervene::lifecycle::MAX_FILE_NAME_LEN);
    let version = param("/v1/rules/versions/{version}", "get", "version");
    assert_eq!(version["pattern"], intervene::lifecycle::VERSION_PATTERN);
    let candidate = &schemas["Candidate"]["properties"];
    assert_eq!(
        candidate["files"]["propertyNames"]["pattern"],
        intervene::lifecycle::FILE_NAME_PATTERN
    );
    assert_eq!(
        schemas["PublishRequest"]["required"],
        serde_json::json!(["base_version", "files"])
    );
    for (path, name) in [
        ("/v1/rules/preview", "page_size"),
        ("/v1/audit/{seq}/replay", "seq"),
    ] {
        let method = if path.ends_with("preview") {
            "post"
        } else {
            "get"
        };
        let p = doc["paths"][path][method]["parameters"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == name).cloned())
            .expect("parameter");
        let s = &p["schema"];
        assert_eq!(s["maximum"], serde_json::json!(u64::MAX), "{p}");
        assert!(p["in"] != "path" || name == "seq", "{p}");
    }
}

/// Issue 11: a route's roles are written once, in the route table; the document's
/// security requirements (one per accepted role, admin always among them) and the
/// access note of every operation come from it. Public and signed routes ask for no
/// bearer key.
#[test]
fn every_route_has_the_tables_security() {
    use intervene::http::{Access, ROUTES};
    let doc = doc();
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    for route in ROUTES {
        let (method, path) = (route.method.to_ascii_lowercase(), route.openapi_path());
        let op = &doc["paths"][&path][&method];
        assert!(op.is_object(), "{} {path} is not documented", route.method);
        let description = op["description"].as_str().unwrap_or_default();
        match route.access {
            Access::Public | Access::Signed => {
                assert!(
                    op.get("security").is_none(),
                    "{} {path} needs no key: {}",
                    route.method,
                    op["security"]
                );
                assert!(description.contains("no bearer key") || description.contains("no key"));
            }
            Access::Roles(roles) => {
                let mut expected: Vec<Value> = roles
                    .iter()
                    .filter(|r| **r != intervene::config::Role::Admin)
                    .map(|r| serde_json::json!({"bearer": [r.as_str()]}))
                    .collect();
                expected.push(serde_json::json!({"bearer": ["admin"]}));
                assert_eq!(
                    op["security"],
                    Value::Array(expected),
                    "{} {path}",
                    route.method
                );
                for role in route.access.accepted_roles() {
                    assert!(
                        description.contains(&format!("`{}`", role.as_str())),
                        "{} {path}: the note names `{}`: {description}",
                        route.method,
                        role.as_str()
                    );
                }
            }
        }
    }
}
