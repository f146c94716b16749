//! The family summary (`GET /v1/students/{id}/family-summary`): strengths first, the
//! family's language, no jargon, printable HTML that escapes what it shows, flags the
//! team dismissed left out, the open plan's goal in words, and the read audited.

use reqwest::Response;
use serde_json::{Value, json};

use crate::helpers::{
    COUNSELOR_KEY, FAMILY_KEY, TestApp, all_keys, copy_rules, json_ok, spawn_app, spawn_app_with,
};

/// Chronic absence (15% of 100 days), reading at the 80th percentile, no referrals.
fn record(id: &str) -> Value {
    json!({
        "student_id": id,
        "as_of": "2026-11-20",
        "attendance": {"days_enrolled": 100, "days_present": 85},
        "assessments": [{"name": "MAP Growth Reading", "subject": "reading", "percentile": 80, "date": "2026-10-01"}],
        "behavior": {"office_referrals": 0, "suspensions_in_school": 0, "suspensions_out_of_school": 0},
    })
}

async fn summary(app: &TestApp, id: &str, query: &str, key: &str) -> Response {
    app.get_as(
        &format!("/v1/students/{id}/family-summary{query}"),
        Some(key),
    )
    .await
}

async fn text(resp: Response) -> String {
    let status = resp.status();
    let body = resp.text().await.expect("body");
    assert_eq!(status, 200, "{body}");
    body
}

/// The byte offset of `needle` in `hay`, which must hold it.
fn at(hay: &str, needle: &str) -> usize {
    hay.find(needle)
        .unwrap_or_else(|| panic!("`{needle}` not in:\n{hay}"))
}

/// Words a family must never be shown.
fn assert_no_jargon(body: &str) {
    for word in [
        "tier",
        "Tier",
        "chronic-absence",
        "reading-on-track",
        "params.",
        "sha256",
        "attendance-plan",
        "insufficient",
    ] {
        assert!(!body.contains(word), "`{word}` shown to a family:\n{body}");
    }
}

#[tokio::test]
async fn english_and_spanish_summaries_tell_strengths_first_without_jargon() {
    let app = spawn_app(all_keys()).await;
    app.evaluate(&record("FAM-1")).await;

    let en = text(summary(&app, "FAM-1", "?lang=en", FAMILY_KEY).await).await;
    assert_no_jargon(&en);
    let strengths = at(&en, "What your child does well");
    let noticed = at(&en, "What the school noticed");
    assert!(strengths < noticed, "strengths come first:\n{en}");
    // The strengths, in the rules' family words, with the record's values.
    let reading = at(&en, "latest reading check is at or above the middle");
    let referrals = at(&en, "no trips to the office");
    assert!(strengths < reading && reading < noticed, "{en}");
    assert!(strengths < referrals && referrals < noticed, "{en}");
    assert!(
        en.contains("Your child has missed 15% of school days this year"),
        "{en}"
    );
    // What the school will do, from the interventions' family words, and how to help.
    assert!(
        en.contains("A written plan, made with you and your child"),
        "{en}"
    );
    assert!(
        en.contains("Help your child get to school every day"),
        "{en}"
    );
    assert!(en.contains("Your child's school counselor"), "{en}");

    let es = text(summary(&app, "FAM-1", "?lang=es", FAMILY_KEY).await).await;
    assert_no_jargon(&es);
    assert!(
        at(&es, "Lo que su hijo o hija hace bien") < at(&es, "Lo que notó la escuela"),
        "{es}"
    );
    assert!(
        es.contains("Su hijo o hija ha faltado al 15% de los días de clase este año"),
        "{es}"
    );
    assert!(
        es.contains("Ayuden a que su hijo o hija llegue a la escuela"),
        "{es}"
    );
    assert!(!es.contains("What the school"), "no English left in:\n{es}");

    // A counselor may read it too; the default language is English.
    let default = text(summary(&app, "FAM-1", "", COUNSELOR_KEY).await).await;
    assert_eq!(default, en);
}

#[tokio::test]
async fn a_language_the_district_does_not_write_in_is_refused_by_name() {
    let app = spawn_app_with(all_keys(), |s| s.family_languages = vec!["en".into()]).await;
    app.evaluate(&record("FAM-2")).await;
    for q in ["?lang=es", "?lang=fr", "?lang=%3Cscript%3E"] {
        let resp = summary(&app, "FAM-2", q, FAMILY_KEY).await;
        assert_eq!(resp.status(), 400, "{q}");
        let body = resp.text().await.expect("body");
        assert!(body.contains("`lang` must be one of en"), "{q}: {body}");
        assert!(!body.contains("<script>"), "{body}");
    }
    let resp = summary(&app, "FAM-2", "?format=pdf", FAMILY_KEY).await;
    assert_eq!(resp.status(), 400);
    let missing = summary(&app, "NOBODY", "", FAMILY_KEY).await;
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn the_printable_page_escapes_a_hostile_family_text_under_a_strict_policy() {
    let rules = copy_rules();
    let pack = rules.path().join("attendance.yaml");
    let text_now = std::fs::read_to_string(&pack).expect("pack");
    let hostile = text_now.replacen(
        "en: \"Your child has missed {student.attendance.absence_rate:%} of school days this year, about one day in ten or more.",
        "en: \"<script>alert(1)</script><img src=x onerror=alert(2)> Your child has missed {student.attendance.absence_rate:%} of school days this year, about one day in ten or more.",
        1,
    );
    assert_ne!(
        hostile, text_now,
        "the chronic-absence family text is shipped"
    );
    std::fs::write(&pack, hostile).expect("write pack");
    let dir = rules.path().to_path_buf();
    let app = spawn_app_with(all_keys(), move |s| s.rules = dir).await;
    app.evaluate(&record("FAM-3")).await;

    let resp = summary(&app, "FAM-3", "?lang=en&format=html", FAMILY_KEY).await;
    let csp = resp
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        csp.starts_with("default-src 'none'; style-src 'sha256-"),
        "{csp}"
    );
    assert!(!csp.contains("script-src"), "{csp}");
    assert_eq!(
        resp.headers()
            .get("content-language")
            .and_then(|v| v.to_str().ok()),
        Some("en")
    );
    let html = text(resp).await;
    assert!(
        html.starts_with("<!doctype html>\n<html lang=\"en\">"),
        "{html}"
    );
    assert!(
        html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
        "the text shows, escaped: {html}"
    );
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("<img"), "{html}");
    assert!(html.contains("@media print"), "a print stylesheet");
    // Accept: text/html asks for the page too.
    let resp = app
        .client
        .get(app.url("/v1/students/FAM-3/family-summary?lang=en"))
        .header("authorization", format!("Bearer {FAMILY_KEY}"))
        .header("accept", "text/html")
        .send()
        .await
        .expect("GET");
    assert_eq!(text(resp).await, html);
}

#[tokio::test]
async fn a_dismissed_flag_is_not_told_and_an_open_plan_is_told_in_words() {
    let app = spawn_app(all_keys()).await;
    let d = app.evaluate(&record("FAM-4")).await;
    let seq = json_ok(app.get("/v1/students/FAM-4/decisions").await).await["decisions"][0]["seq"]
        .as_u64()
        .expect("seq");
    assert!(d["flags"].as_array().is_some_and(|f| !f.is_empty()));
    let before = text(summary(&app, "FAM-4", "?lang=en", FAMILY_KEY).await).await;
    assert!(before.contains("Your child has missed 15%"), "{before}");

    let resp = app
        .post_json_as(
            "/v1/students/FAM-4/reviews",
            &json!({"decision_seq": seq, "flags": [{"rule_id": "chronic-absence", "action": "dismiss", "reason": "documented hospital stay"}]}),
            Some(COUNSELOR_KEY),
        )
        .await;
    assert_eq!(
        resp.status(),
        201,
        "{}",
        resp.text().await.unwrap_or_default()
    );
    let after = text(summary(&app, "FAM-4", "?lang=en", FAMILY_KEY).await).await;
    assert!(!after.contains("Your child has missed"), "{after}");
    assert!(
        after.contains("Nothing in your child's recent school information calls for extra support"),
        "{after}"
    );
    assert!(
        !after.contains("hospital"),
        "the review's reason stays with staff"
    );

    let by = (chrono::Utc::now().date_naive() + chrono::Duration::days(56)).to_string();
    let start = (chrono::Utc::now().date_naive() - chrono::Duration::days(7)).to_string();
    let plan = json!({
        "intervention": "attendance-mentor",
        "owner": "Ms. Rivera",
        "goal": {"measure": "attendance.absence_rate", "baseline": 0.15, "target": 0.05, "by": by},
        "start": start,
    });
    let resp = app
        .post_json_as("/v1/students/FAM-4/plans", &plan, Some(COUNSELOR_KEY))
        .await;
    assert_eq!(
        resp.status(),
        201,
        "{}",
        resp.text().await.unwrap_or_default()
    );
    let with_plan = text(summary(&app, "FAM-4", "?lang=es", FAMILY_KEY).await).await;
    assert!(
        with_plan.contains("Las metas de su hijo o hija"),
        "{with_plan}"
    );
    assert!(
        with_plan.contains("La meta es llegar a 5% en el porcentaje de días de clase perdidos"),
        "{with_plan}"
    );
    assert!(with_plan.contains("(al empezar era 15%)"), "{with_plan}");
    assert!(
        with_plan.contains("Ms. Rivera"),
        "the plan's owner is the contact"
    );
}

#[tokio::test]
async fn reading_the_summary_is_audited_under_the_student() {
    let app = spawn_app(all_keys()).await;
    app.evaluate(&record("FAM-5")).await;
    text(summary(&app, "FAM-5", "?lang=es", FAMILY_KEY).await).await;
    let reads = app
        .audit_all("kind=student.accessed&student=FAM-5", 10)
        .await;
    let read: Vec<&Value> = reads
        .iter()
        .filter(|e| e["payload"]["read"] == "family-summary")
        .collect();
    assert_eq!(read.len(), 1, "{reads:?}");
    assert_eq!(read[0]["actor"], "liaison");
    assert_eq!(read[0]["payload"]["lang"], "es");
    assert!(read[0]["payload"]["seq"].as_u64().is_some());
}

#[tokio::test]
async fn the_console_links_the_summary_and_serves_the_printable_page_to_a_signed_in_liaison() {
    use crate::console::{page, signed_in};
    let app = spawn_app(all_keys()).await;
    app.evaluate(&record("FAM-6")).await;
    let counselor = signed_in(&app, COUNSELOR_KEY).await;
    let (status, html) = page(&app, &counselor, "/students/FAM-6").await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("href=\"/students/FAM-6/family-summary?lang=es\""),
        "{html}"
    );
    assert!(
        html.contains("<h2 id=\"strengths-h\">Strengths</h2>"),
        "{html}"
    );

    // A liaison reads the page the link opens (and nothing else of the console).
    let liaison = signed_in(&app, FAMILY_KEY).await;
    // (Not the console's `get`: this page has a stricter policy of its own.)
    let get = |path: &str| liaison.get(app.url(path)).send();
    let resp = get("/students/FAM-6/family-summary?lang=es")
        .await
        .expect("GET");
    assert_eq!(resp.status(), 200);
    let csp = resp
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        csp.contains("style-src 'sha256-"),
        "the page keeps its own policy: {csp}"
    );
    let body = resp.text().await.expect("body");
    assert!(body.contains("<html lang=\"es\">"), "{body}");
    assert!(body.contains("Lo que su hijo o hija hace bien"), "{body}");
    let (status, _) = page(&app, &liaison, "/students/FAM-6").await;
    assert_eq!(status, 403, "a liaison does not read the staff page");
    let resp = get("/students/FAM-6/family-summary?lang=fr")
        .await
        .expect("GET");
    assert_eq!(resp.status(), 400);
}
