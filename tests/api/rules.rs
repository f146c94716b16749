//! `GET /v1/rules`: the active rule set, its version in the body and as the ETag.

use crate::helpers::{AUDITOR_KEY, COUNSELOR_KEY, all_keys, header, json_ok, spawn_app};

#[tokio::test]
async fn the_active_rule_set_and_its_version_as_etag() {
    let app = spawn_app(all_keys()).await;
    let resp = app.get_as("/v1/rules", Some(COUNSELOR_KEY)).await;
    let etag = header(&resp, "etag");
    let body = json_ok(resp).await;
    let version = body["version"].as_str().expect("version");
    assert!(version.starts_with("sha256:"), "{version}");
    assert_eq!(
        etag,
        format!("\"{version}\""),
        "the ETag is the quoted version"
    );
    let ready = json_ok(app.get("/readyz").await).await;
    assert_eq!(ready["ruleset_version"], version);

    let rules = body["rules"].as_array().expect("rules");
    assert_eq!(Some(rules.len() as u64), ready["rules"].as_u64());
    let ids: Vec<&str> = rules.iter().filter_map(|r| r["id"].as_str()).collect();
    for id in ["chronic-absence", "low-gpa", "course-failure"] {
        assert!(ids.contains(&id), "`{id}` missing from {ids:?}");
    }
    let chronic = rules
        .iter()
        .find(|r| r["id"] == "chronic-absence")
        .expect("chronic-absence");
    for k in [
        "name",
        "domain",
        "tier",
        "when",
        "explain",
        "recommend",
        "file",
        "line",
        "reads",
    ] {
        assert!(
            chronic.get(k).is_some_and(|v| !v.is_null()),
            "rule member `{k}` missing: {chronic}"
        );
    }
    assert!(
        body["params"].get("chronic_absence_rate").is_some(),
        "params: {}",
        body["params"]
    );
    assert!(!body["interventions"].is_null());

    // Same answer, same ETag, for the auditor.
    let again = app.get_as("/v1/rules", Some(AUDITOR_KEY)).await;
    assert_eq!(header(&again, "etag"), etag);
}

#[tokio::test]
async fn decisions_name_the_version_the_etag_carries() {
    let app = spawn_app(vec![]).await;
    let etag = header(&app.get("/v1/rules").await, "etag");
    let d = app.evaluate(&crate::helpers::low_gpa("S-V")).await;
    assert_eq!(
        format!("\"{}\"", d["ruleset_version"].as_str().expect("version")),
        etag
    );
    // The load of this version is itself in the audit log.
    let loads = app.audit_all("kind=ruleset.loaded", 10).await;
    assert_eq!(loads.len(), 1);
    assert_eq!(loads[0]["payload"]["version"], d["ruleset_version"]);
}
