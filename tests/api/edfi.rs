//! Ed-Fi samples end to end: bundles in through the import endpoint, the documented
//! flags out (fixtures/edfi/EXPECTED.md).

use std::collections::BTreeSet;

use crate::helpers::*;

async fn import_edfi(app: &TestApp, file: &str) -> Vec<serde_json::Value> {
    let body = std::fs::read_to_string(fixtures_dir().join("edfi").join(file)).expect("fixture");
    let resp = app
        .post_raw(
            "/v1/students/import?format=edfi",
            "application/x-ndjson",
            body.into_bytes(),
        )
        .await;
    assert_eq!(resp.status(), 200);
    parse_ndjson(&resp.text().await.expect("body"))
}

fn fired(decision: &serde_json::Value) -> BTreeSet<String> {
    crate::helpers::fired(decision).into_iter().collect()
}

async fn spawn() -> TestApp {
    let descriptors =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/edfi-descriptors.yaml");
    spawn_app_with(vec![], move |s| s.edfi_descriptors = descriptors).await
}

#[tokio::test]
async fn edfi_samples_produce_the_documented_flags() {
    let app = spawn().await;
    let lines = import_edfi(&app, "bundles.ndjson").await;
    assert_eq!(
        lines.last().expect("summary")["summary"]["imported"],
        3,
        "{lines:?}"
    );
    let expected: [(&str, &[&str]); 3] = [
        (
            "604822",
            &[
                "chronic-absence",
                "course-failure",
                "reading-below-benchmark",
                "repeated-referrals",
                "suspension",
                "sel-need-for-instruction",
                "abc-off-track",
            ],
        ),
        ("604823", &[]),
        (
            "604824",
            &[
                "attendance-watch",
                "repeated-suspensions",
                "math-well-below-benchmark",
            ],
        ),
    ];
    for (student, flags) in expected {
        let resp = app.get(&format!("/v1/students/{student}")).await;
        let view = json_ok(resp).await;
        let want: BTreeSet<String> = flags.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            fired(&view["latest_decision"]["decision"]),
            want,
            "{student}"
        );
    }
    // 10 days absent of 64: 5 unexcused, 4 excused, 2 half days; a repeated event counts once.
    let view = json_ok(app.get("/v1/students/604822").await).await;
    assert_eq!(view["record"]["attendance"]["days_present"], 54.0);
    assert_eq!(view["record"]["attendance"]["unexcused_absences"], 6.0);
    assert_eq!(view["record"]["behavior"]["suspensions_out_of_school"], 1);
    assert_eq!(view["record"]["extra"]["suspension_days"], 2.0);
    // The latest grading period's grade and the latest reading score win.
    assert_eq!(view["record"]["courses"][0]["grade_pct"], 55.0);
    assert_eq!(
        view["record"]["assessments"].as_array().map(Vec::len),
        Some(2)
    );
}

#[tokio::test]
async fn an_unknown_edfi_descriptor_is_refused_by_name() {
    let app = spawn().await;
    let lines = import_edfi(&app, "unknown-descriptor.ndjson").await;
    assert_eq!(lines[0]["line"], 1);
    assert_eq!(
        lines[0]["field"],
        "disciplineActions[0].disciplines[0].disciplineDescriptor"
    );
    let error = lines[0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("uri://district.example/DisciplineDescriptor#Saturday School"),
        "{error}"
    );
    assert_eq!(lines[1]["summary"]["rejected"], 1);
    assert_eq!(app.get("/v1/students/604825").await.status(), 404);
}

/// Discipline lengths are summed into `extra.suspension_days`: an absurd length
/// (two of `1e308` sum to infinity, stored as null) is refused naming it, and more
/// referrals than any school year holds are refused naming the count.
#[tokio::test]
async fn absurd_edfi_discipline_lengths_and_counts_are_refused_by_field() {
    let app = spawn().await;
    let oss = "uri://ed-fi.org/DisciplineDescriptor#Out of School Suspension";
    let referral = "uri://ed-fi.org/DisciplineDescriptor#Office Referral";
    let action = |uri: &str, days: f64| serde_json::json!({"disciplines": [{"disciplineDescriptor": uri}], "actualDisciplineActionLength": days});
    let long = serde_json::json!({"studentUniqueId": "604901", "disciplineActions": [action(oss, 1e308), action(oss, 1e308)]});
    let many: Vec<_> = (0..1001).map(|_| action(referral, 0.0)).collect();
    let many = serde_json::json!({"studentUniqueId": "604902", "disciplineActions": many});
    let body = format!("{long}\n{many}\n");
    let resp = app
        .post_raw(
            "/v1/students/import?format=edfi",
            "application/x-ndjson",
            body.into_bytes(),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let lines = parse_ndjson(&resp.text().await.expect("body"));
    let summary = &lines.last().expect("summary")["summary"];
    assert_eq!(summary["rejected"], 2, "{lines:?}");
    let fields: BTreeSet<String> = lines
        .iter()
        .filter_map(|l| l["field"].as_str().map(String::from))
        .collect();
    let want: BTreeSet<String> = [
        "disciplineActions[0].actualDisciplineActionLength",
        "behavior.office_referrals",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(fields, want, "{lines:?}");
    for s in ["604901", "604902"] {
        assert_eq!(app.get(&format!("/v1/students/{s}")).await.status(), 404);
    }
}
