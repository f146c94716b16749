//! The console's group rosters on the caseload page and the key indicators charted
//! on the student page, against the real server: who is in each roster, the school
//! filter, markup in an id shown as text, the reads recorded; the indicator charts
//! and tables with the values of two decisions, read through the one audited read.

use serde_json::{Value, json};

use crate::console::{evaluate, page, record, signed_in};
use crate::helpers::{AUDITOR_KEY, COUNSELOR_KEY, TestApp, all_keys, spawn_app};

/// `&` as the page writes it in an attribute, back to `&`.
fn unescaped(html: &str) -> String {
    html.replace("&amp;", "&").replace("&#38;", "&")
}

/// The roster article of intervention `id` on a caseload page.
fn roster<'h>(html: &'h str, id: &str) -> &'h str {
    let open = format!(r#"<article class="roster" id="roster-{id}""#);
    let at = html
        .find(&open)
        .unwrap_or_else(|| panic!("no roster of {id} in:\n{html}"));
    let end = html[at..].find("</article>").expect("the article ends") + at;
    &html[at..end]
}

/// The `href` of the link whose text starts with `text`.
fn link<'h>(html: &'h str, text: &str) -> &'h str {
    let at = html
        .find(&format!(">{text}"))
        .unwrap_or_else(|| panic!("no link `{text}` in:\n{html}"));
    let tag = html[..at].rfind("<a ").expect("a link");
    let start = html[tag..at].find("href=\"").expect("an href") + tag + "href=\"".len();
    let end = html[start..].find('"').expect("the closing quote") + start;
    &html[start..end]
}

fn reads_of(app: &TestApp, read: &str) -> Vec<Value> {
    app.log_entries()
        .into_iter()
        .filter(|e| e["kind"] == "caseload.read" && e["payload"]["read"] == read)
        .collect()
}

async fn evaluate_at(app: &TestApp, id: &str, tier: usize, school: &str) {
    let mut r = record(id, tier);
    r["school_id"] = json!(school);
    let d = app.evaluate(&r).await;
    assert_eq!(d["student_id"], id, "{d}");
}

#[tokio::test]
async fn rosters_list_each_interventions_students_and_follow_the_school_filter() {
    let app = spawn_app(all_keys()).await;
    // Chronic absence (tier 2) recommends attendance-plan, family-conference and
    // attendance-mentor; severe (tier 3) intensive-outreach and case-management.
    evaluate_at(&app, "A-1", 2, "SCH-1").await;
    evaluate_at(&app, "A-2", 2, "SCH-1").await;
    evaluate_at(&app, "B-1", 2, "SCH-2").await;
    evaluate_at(&app, "A-3", 3, "SCH-1").await;
    evaluate_at(&app, "Z-0", 0, "SCH-1").await;
    // Z-0 is recommended nothing but has an open plan of attendance-mentor.
    let today = chrono::Utc::now().date_naive();
    let by = (today + chrono::Duration::days(60)).to_string();
    let plan = app
        .post_json_as(
            "/v1/students/Z-0/plans",
            &json!({
                "intervention": "attendance-mentor", "owner": "Mr. Park",
                "goal": {"measure": "attendance.absence_rate", "baseline": 0.08, "target": 0.04, "by": by},
                "start": today.to_string(),
            }),
            Some(COUNSELOR_KEY),
        )
        .await;
    assert_eq!(plan.status(), 201, "{:?}", plan.text().await);

    let b = signed_in(&app, COUNSELOR_KEY).await;
    let (status, html) = page(&app, &b, "/").await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains(r#"<h2 id="rosters-h">Group rosters</h2>"#),
        "{html}"
    );
    assert!(
        html.contains("<caption>Rosters by intervention, highest tier first</caption>"),
        "{html}"
    );
    let plan_roster = roster(&html, "attendance-plan");
    assert!(
        plan_roster
            .contains("Student attendance plan <span class=\"tag\">tier 2, Attendance</span>"),
        "{plan_roster}"
    );
    assert!(
        plan_roster.contains("3 students: 3 recommended it, 0 with an open plan of it."),
        "{plan_roster}"
    );
    assert!(
        plan_roster.contains("<caption>The 3 students of Student attendance plan</caption>"),
        "{plan_roster}"
    );
    for id in ["A-1", "A-2", "B-1"] {
        assert!(
            plan_roster.contains(&format!(r#"<a href="/students/{id}">{id}</a>"#)),
            "{id}: {plan_roster}"
        );
    }
    assert!(plan_roster.contains("chronic-absence <span class=\"meta\">unreviewed</span>"));
    for id in ["A-3", "Z-0"] {
        assert!(!plan_roster.contains(id), "{id}: {plan_roster}");
    }
    let outreach = roster(&html, "intensive-outreach");
    assert!(
        outreach.contains(">A-3</a>") && !outreach.contains(">A-1</a>"),
        "{outreach}"
    );
    // The plan puts Z-0 in the mentor's roster without a recommendation.
    let mentor = roster(&html, "attendance-mentor");
    assert!(
        mentor.contains("4 students: 3 recommended it, 1 with an open plan of it."),
        "{mentor}"
    );
    assert!(
        mentor.contains(">Z-0</a>") && mentor.contains("none (plan only)"),
        "{mentor}"
    );
    assert!(mentor.contains("<td>active"), "the plan's status: {mentor}");
    // Highest tier first: the tier 3 rosters before the tier 2 ones.
    assert!(
        html.find("roster-intensive-outreach\"").unwrap()
            < html.find("roster-attendance-plan\"").unwrap()
    );

    // One school: B-1 leaves every roster.
    let (status, html) = page(&app, &b, "/?school=SCH-1").await;
    assert_eq!(status, 200);
    let plan_roster = roster(&html, "attendance-plan");
    assert!(
        plan_roster.contains(">A-1</a>")
            && plan_roster.contains(">A-2</a>")
            && !plan_roster.contains("B-1"),
        "{plan_roster}"
    );
    let all = unescaped(link(plan_roster, "Show the 2 recommended it"));
    assert_eq!(all, "/?school=SCH-1&intervention=attendance-plan");
    let (status, listed) = page(&app, &b, &all).await;
    assert_eq!(status, 200);
    let table = &listed[listed.find("<h2 id=\"students-h\">").unwrap()..];
    assert!(
        table.contains(">A-1</a>") && table.contains(">A-2</a>") && !table.contains(">B-1</a>")
    );
    // The roster's CSV: the same students, from the caseload's CSV.
    let csv = unescaped(link(plan_roster, "Download the recommended as CSV"));
    assert_eq!(
        csv,
        "/caseload.csv?school=SCH-1&intervention=attendance-plan&limit=500"
    );
    let text = crate::console::get(&app, &b, &csv)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("A-1") && text.contains("A-2") && !text.contains("B-1"),
        "{text}"
    );

    // Each view of the rosters is a read of the students it showed.
    let reads = reads_of(&app, "groups");
    assert_eq!(reads.len(), 3, "{reads:#?}");
    assert_eq!(reads[0]["actor"], "counselor");
    assert_eq!(reads[0]["payload"]["filter"], "");
    assert_eq!(
        reads[0]["payload"]["students"],
        json!(["A-1", "A-2", "A-3", "B-1", "Z-0"])
    );
    assert_eq!(reads[1]["payload"]["filter"], "school=SCH-1");
    assert_eq!(
        reads[1]["payload"]["students"],
        json!(["A-1", "A-2", "A-3", "Z-0"])
    );
    assert_eq!(
        reads[2]["payload"]["filter"],
        "school=SCH-1&intervention=attendance-plan"
    );
    assert_eq!(reads[2]["payload"]["students"], json!(["A-1", "A-2"]));

    // The auditor may read the caseload but not the rosters (as `GET /v1/groups`).
    let b = signed_in(&app, AUDITOR_KEY).await;
    let (status, html) = page(&app, &b, "/").await;
    assert_eq!(status, 200);
    assert!(
        html.contains(">A-1</a>") && !html.contains("Group rosters"),
        "{html}"
    );
    assert_eq!(reads_of(&app, "groups").len(), 3);
}

#[tokio::test]
async fn a_later_page_links_back_to_the_rosters() {
    let app = spawn_app(all_keys()).await;
    for id in ["P-1", "P-2", "P-3"] {
        evaluate(&app, id, 2).await;
    }
    let b = signed_in(&app, COUNSELOR_KEY).await;
    let (_, first) = page(&app, &b, "/?limit=2").await;
    assert!(first.contains("roster-attendance-plan"), "{first}");
    let next = unescaped(link(&first, "Next page"));
    let (status, second) = page(&app, &b, &next).await;
    assert_eq!(status, 200);
    assert!(!second.contains("<article class=\"roster\""), "{second}");
    assert!(
        second.contains("The rosters of this filter are on"),
        "{second}"
    );
    assert_eq!(unescaped(link(&second, "its first page")), "/?limit=2");
    assert_eq!(
        reads_of(&app, "groups").len(),
        1,
        "the later page shows none"
    );
}

#[tokio::test]
async fn a_student_id_with_markup_in_a_roster_renders_as_text() {
    let app = spawn_app(all_keys()).await;
    let hostile = "<script>alert(1)</script>";
    evaluate(&app, hostile, 2).await;
    let b = signed_in(&app, COUNSELOR_KEY).await;
    let (status, html) = page(&app, &b, "/").await;
    assert_eq!(status, 200);
    let plan_roster = roster(&html, "attendance-plan");
    assert!(
        plan_roster.contains("&lt;script&gt;alert(1)&lt;/script&gt;")
            || plan_roster.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
        "{plan_roster}"
    );
    assert!(
        plan_roster.contains(r#"href="/students/%3Cscript%3Ealert%281%29%3C%2Fscript%3E""#),
        "{plan_roster}"
    );
    assert!(
        !html.contains("<script"),
        "markup from data reached the page: {html}"
    );
}

#[tokio::test]
async fn the_student_page_charts_the_key_indicators_of_two_decisions_in_one_audited_read() {
    let app = spawn_app(all_keys()).await;
    // Absence 15% and GPA 3 on 2026-10-01; absence 7% and GPA 2.5 on 2026-11-20.
    let mut r = record("ST-9", 2);
    r["as_of"] = json!("2026-10-01");
    app.evaluate(&r).await;
    let mut r = record("ST-9", 1);
    r["gpa"] = json!(2.5);
    app.evaluate(&r).await;

    // The decision history answers each decision's day and indicators.
    let api = app
        .get_as("/v1/students/ST-9/decisions", Some(COUNSELOR_KEY))
        .await;
    let api: Value = api.json().await.unwrap();
    assert_eq!(api["decisions"][0]["as_of"], "2026-11-20");
    assert_eq!(
        api["decisions"][0]["indicators"],
        json!({"attendance.absence_rate": 0.07, "gpa": 2.5, "behavior.office_referrals": 0.0, "failing_courses": 0.0}),
    );
    assert_eq!(
        api["decisions"][1]["indicators"]["attendance.absence_rate"],
        0.15
    );

    let b = signed_in(&app, COUNSELOR_KEY).await;
    let accessed = |app: &TestApp| -> Vec<String> {
        app.log_entries()
            .into_iter()
            .filter(|e| e["kind"] == "student.accessed" && e["actor"] == "counselor")
            .map(|e| e["payload"]["read"].as_str().unwrap_or("").to_string())
            .collect()
    };
    let before = accessed(&app).len();
    let (status, html) = page(&app, &b, "/students/ST-9").await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains(r#"<h2 id="indicators-h">Key indicators over time</h2>"#),
        "{html}"
    );
    assert!(
        html.contains(r#"<title id="indicator-attendance-absence-rate-title">Absence rate at each decision</title>"#),
        "{html}"
    );
    assert!(
        html.contains("2 decisions from 2026-10-01 to 2026-11-20; newest 7% on 2026-11-20; lowest 7%, highest 15%. Thresholds: attendance_watch_rate 5%, chronic_absence_rate 10%, severe_absence_rate 20%."),
        "{html}"
    );
    assert!(html.contains(">chronic_absence_rate 10%</text>"), "{html}");
    assert!(
        html.contains(r#"stroke-dasharray="8 6""#),
        "a dashed threshold: {html}"
    );
    // The tables, oldest first, with the decisions' entries.
    let mut seqs: Vec<u64> = app
        .decisions_in_log()
        .await
        .iter()
        .map(|d| d["seq"].as_u64().unwrap())
        .collect();
    seqs.sort();
    assert_eq!(seqs.len(), 2);
    assert!(html.contains(&format!(
        r#"<tr><th scope="row">2026-10-01</th><td>15%</td><td>{}</td></tr><tr><th scope="row">2026-11-20</th><td>7%</td><td>{}</td></tr>"#,
        seqs[0], seqs[1]
    )), "{html}");
    assert!(
        html.contains("<caption>GPA at each decision: 2 decisions"),
        "{html}"
    );
    assert!(
        html.contains(r#"<th scope="row">2026-10-01</th><td>3</td>"#),
        "{html}"
    );
    assert!(
        html.contains(r#"<th scope="row">2026-11-20</th><td>2.5</td>"#),
        "{html}"
    );
    assert!(html.contains(">low_gpa 2</text>"), "{html}");
    // Indicators no record had are not charted.
    assert!(
        !html.contains("Reading percentile at each decision"),
        "{html}"
    );

    // The page read the decisions once, through the API's audited read: the charts
    // add no read of their own.
    let new: Vec<String> = accessed(&app)[before..].to_vec();
    assert_eq!(
        new.iter().filter(|r| *r == "decisions").count(),
        1,
        "{new:?}"
    );
    let mut kinds = new.clone();
    kinds.sort();
    kinds.dedup();
    assert_eq!(kinds.len(), new.len(), "each read recorded once: {new:?}");

    // One decision: a point; none: "not enough history".
    evaluate(&app, "ONE", 2).await;
    let (_, html) = page(&app, &b, "/students/ONE").await;
    assert!(
        html.contains("one decision so far, not enough history for a line"),
        "{html}"
    );
    let (status, html) = page(&app, &b, "/students/NOBODY").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Not enough history to chart"), "{html}");
    assert!(!html.contains("<svg"), "{html}");
}
