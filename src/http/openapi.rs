//! The OpenAPI document of the HTTP API.

pub fn document() -> serde_json::Value {
    serde_json::json!({"openapi": "3.1.0", "info": {"title": "intervene", "version": env!("CARGO_PKG_VERSION")}, "paths": {}})
}
