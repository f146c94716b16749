//! The console's audit page against the real server: an auditor filters and pages
//! the log, verifies the chain, replays a decision and downloads the export (each
//! read recorded under her name, as the API's are); an admin places and lifts a
//! legal hold through the page's forms; a counselor may not open it; a bad filter
//! is a message beside the form; whatever a student id or payload holds is shown as
//! text.

use serde_json::Value;

use crate::console::{csrf_of, evaluate, location, page, post_form, signed_in};
use crate::helpers::{
    ADMIN_KEY, AUDITOR_KEY, COUNSELOR_KEY, TestApp, all_keys, header, spawn_app, spawn_app_in,
};
use crate::tamper::{edit_log, populate};

/// The entries of the log of `kind`, read from the store (not audited).
fn entries_of(app: &TestApp, kind: &str) -> Vec<Value> {
    app.log_entries()
        .into_iter()
        .filter(|e| e["kind"] == kind)
        .collect()
}

/// The `href` of the first link whose text is `text`.
fn href_of(html: &str, text: &str) -> String {
    let end = html
        .find(&format!(">{text}</a>"))
        .unwrap_or_else(|| panic!("no link `{text}` in:\n{html}"));
    let start = html[..end].rfind("<a href=\"").expect("a link") + "<a href=\"".len();
    let href = &html[start..];
    href[..href.find('"').expect("closing quote")]
        .replace("&#38;", "&")
        .replace("&amp;", "&")
}

#[tokio::test]
async fn an_auditor_filters_pages_verifies_and_replays() {
    let app = spawn_app(all_keys()).await;
    evaluate(&app, "S-1", 2).await;
    evaluate(&app, "S-2", 3).await;
    evaluate(&app, "S-1", 0).await;
    let b = signed_in(&app, AUDITOR_KEY).await;

    let (status, html) = page(&app, &b, "/audit").await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains(r#"href="/audit" aria-current="page""#),
        "{html}"
    );
    assert!(html.contains("S-1") && html.contains("S-2"), "{html}");
    assert!(
        !html.contains("Place a legal hold"),
        "only admins place holds"
    );
    assert!(html.contains("No legal hold is in force."), "{html}");

    // Filtered by student and kind: S-1's two decisions, newest first, and only them.
    let (status, html) = page(&app, &b, "/audit?student=S-1&kind=decision&rule=").await;
    assert_eq!(status, 200, "{html}");
    assert!(!html.contains("S-2"), "{html}");
    let decisions = entries_of(&app, "decision");
    let seqs: Vec<u64> = decisions
        .iter()
        .filter(|d| d["payload"]["student_id"] == "S-1")
        .map(|d| d["seq"].as_u64().expect("seq"))
        .collect();
    assert_eq!(seqs.len(), 2);
    let newer = html
        .find(&format!("/audit/{}/replay", seqs[1]))
        .expect("newest decision");
    let older = html
        .find(&format!("/audit/{}/replay", seqs[0]))
        .expect("older decision");
    assert!(newer < older, "newest first");
    assert!(html.contains("fired: chronic-absence"), "{html}");
    assert!(html.contains("no rule fired"), "{html}");
    assert!(!html.contains("student.accessed</td>"), "{html}");
    // The read is recorded under the student, for the auditor, as the API's is.
    let reads = entries_of(&app, "student.accessed");
    let last = reads.last().expect("the read is audited");
    assert_eq!(last["actor"], "auditor");
    assert_eq!(last["payload"]["student_id"], "S-1");
    assert_eq!(last["payload"]["read"], "audit");

    // One entry a page: "Older entries" follows the cursor with the filter kept.
    let (_, first) = page(&app, &b, "/audit?kind=decision&limit=1").await;
    let next = href_of(&first, "Older entries");
    assert!(
        next.contains("kind=decision") && next.contains("cursor="),
        "{next}"
    );
    let (status, second) = page(&app, &b, &next).await;
    assert_eq!(status, 200, "{second}");
    let last_seq = decisions.last().expect("a decision")["seq"].to_string();
    let prev_seq = decisions[decisions.len() - 2]["seq"].to_string();
    assert!(
        first.contains(&format!("/audit/{last_seq}/replay")),
        "{first}"
    );
    assert!(
        second.contains(&format!("/audit/{prev_seq}/replay"))
            && !second.contains(&format!("/audit/{last_seq}/replay")),
        "{second}"
    );

    // Verify: intact, in words, with the count and the head hash.
    let (status, html) = page(&app, &b, "/audit/verify").await;
    assert_eq!(status, 200, "{html}");
    let report = app.verify().await;
    assert!(html.contains("The hash chain is intact"), "{html}");
    assert!(
        html.contains(report["head_hash"].as_str().expect("head hash")),
        "{html}"
    );

    // Replay of a decision: identical, with a link to the student.
    let (status, html) = page(&app, &b, &format!("/audit/{}/replay", seqs[0])).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Identical"), "{html}");
    assert!(html.contains(r#"href="/students/S-1""#), "{html}");
    let last = entries_of(&app, "student.accessed");
    let last = last.last().expect("the replay is audited");
    assert_eq!(
        (&last["actor"], &last["payload"]["read"]),
        (&"auditor".into(), &"replay".into())
    );
    // Replay of what is not a decision, or not a number: a page saying so.
    let (status, html) = page(&app, &b, "/audit/1/replay").await;
    assert_eq!(status, 400, "{html}");
    assert!(html.contains("not a decision"), "{html}");
    let (status, _) = page(&app, &b, "/audit/x/replay").await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn the_export_downloads_the_whole_log_and_is_recorded() {
    let app = spawn_app(all_keys()).await;
    evaluate(&app, "S-1", 2).await;
    let b = signed_in(&app, AUDITOR_KEY).await;
    let (_, html) = page(&app, &b, "/audit").await;
    assert!(html.contains(r#"href="/audit/export.ndjson""#), "{html}");

    let resp = b
        .get(app.url("/audit/export.ndjson"))
        .send()
        .await
        .expect("export");
    assert_eq!(resp.status(), 200);
    assert!(header(&resp, "content-type").starts_with("application/x-ndjson"));
    assert!(header(&resp, "content-disposition").starts_with("attachment"));
    let text = resp.text().await.expect("export body");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let log = app.log_entries();
    assert_eq!(lines.len(), log.len(), "one line per entry");
    assert_eq!(lines, log);
    let exported = lines.last().expect("a line");
    assert_eq!(exported["kind"], "audit.exported");
    assert_eq!(exported["actor"], "auditor");
}

#[tokio::test]
async fn an_admin_places_and_lifts_a_hold_through_the_page() {
    let app = spawn_app(all_keys()).await;
    evaluate(&app, "S-9", 1).await;
    let b = signed_in(&app, ADMIN_KEY).await;
    let (status, html) = page(&app, &b, "/audit").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Place a legal hold"), "{html}");
    let csrf = csrf_of(&html);

    let form = [
        ("csrf", csrf.as_str()),
        ("student_id", "S-9"),
        ("reason", "Inspection request IR-42"),
    ];
    let resp = post_form(&app, &b, "/audit/holds", &form).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/audit#holds-h");
    let placed = entries_of(&app, "audit.hold.placed");
    assert_eq!(placed.len(), 1);
    assert_eq!(placed[0]["actor"], "admin");
    assert_eq!(placed[0]["payload"]["student_id"], "S-9");

    let (_, html) = page(&app, &b, "/audit").await;
    assert!(html.contains("Inspection request IR-42"), "{html}");
    assert!(html.contains("Lift the hold on S-9"), "{html}");
    let holds = crate::helpers::json_ok(app.get("/v1/audit/holds").await).await;
    assert_eq!(holds["holds"][0]["placed_by"], "admin", "{holds}");

    // A hold without a reason, or without the token, is refused and changes nothing.
    let (status, html) = {
        let r = post_form(
            &app,
            &b,
            "/audit/holds",
            &[("csrf", &csrf), ("student_id", "S-8"), ("reason", " ")],
        )
        .await;
        (r.status().as_u16(), r.text().await.expect("body"))
    };
    assert_eq!(status, 400, "{html}");
    assert!(html.contains("reason"), "{html}");
    let forged = post_form(&app, &b, "/audit/holds/lift", &[("student_id", "S-9")]).await;
    assert_eq!(forged.status(), 403);
    assert!(entries_of(&app, "audit.hold.lifted").is_empty());

    let lift = [("csrf", csrf.as_str()), ("student_id", "S-9")];
    let resp = post_form(&app, &b, "/audit/holds/lift", &lift).await;
    assert_eq!(resp.status(), 303);
    let lifted = entries_of(&app, "audit.hold.lifted");
    assert_eq!(lifted.len(), 1);
    assert_eq!(lifted[0]["actor"], "admin");
    let (_, html) = page(&app, &b, "/audit").await;
    assert!(html.contains("No legal hold is in force."), "{html}");
    let again = post_form(&app, &b, "/audit/holds/lift", &lift).await;
    assert_eq!(again.status(), 404);

    // An auditor sees holds but may not place one, even by posting the form.
    let auditor = signed_in(&app, AUDITOR_KEY).await;
    let (_, html) = page(&app, &auditor, "/audit").await;
    let token = csrf_of(&html);
    let resp = post_form(
        &app,
        &auditor,
        "/audit/holds",
        &[("csrf", &token), ("student_id", "S-9"), ("reason", "x")],
    )
    .await;
    assert_eq!(resp.status(), 403);
    assert_eq!(entries_of(&app, "audit.hold.placed").len(), 1);
}

#[tokio::test]
async fn a_counselor_may_not_open_the_audit_pages() {
    let app = spawn_app(all_keys()).await;
    evaluate(&app, "S-1", 2).await;
    let b = signed_in(&app, COUNSELOR_KEY).await;
    let before = app.head_seq();
    for path in [
        "/audit",
        "/audit/verify",
        "/audit/export.ndjson",
        "/audit/1/replay",
    ] {
        let (status, html) = page(&app, &b, path).await;
        assert_eq!(status, 403, "{path}: {html}");
    }
    assert_eq!(app.head_seq(), before, "a refused page reads nothing");
    let (_, home) = page(&app, &b, "/").await;
    assert!(!home.contains(r#"href="/audit""#), "no Audit link: {home}");
}

#[tokio::test]
async fn a_bad_filter_is_a_message_beside_the_form() {
    let app = spawn_app(all_keys()).await;
    let b = signed_in(&app, AUDITOR_KEY).await;
    let (status, html) = page(&app, &b, "/audit?from=notadate&kind=decision").await;
    assert_eq!(status, 400, "{html}");
    assert!(html.contains(r#"id="filter-error""#), "{html}");
    assert!(html.contains("must be an RFC 3339 time"), "{html}");
    assert!(
        html.contains(r#"value="notadate""#),
        "the form keeps it: {html}"
    );
    assert!(html.contains(r#"value="decision""#), "{html}");
    for bad in ["/audit?cursor=nope", "/audit?colour=red", "/audit?limit=x"] {
        let (status, html) = page(&app, &b, bad).await;
        assert_eq!(status, 400, "{bad}: {html}");
        assert!(html.contains(r#"id="filter-error""#), "{bad}: {html}");
    }
}

#[tokio::test]
async fn what_an_entry_holds_is_shown_as_text() {
    let app = spawn_app(all_keys()).await;
    let id = "<script>alert(1)</script>";
    evaluate(&app, id, 2).await;
    let b = signed_in(&app, ADMIN_KEY).await;
    let (_, html) = page(&app, &b, "/audit").await;
    let csrf = csrf_of(&html);
    let form = [
        ("csrf", csrf.as_str()),
        ("student_id", "S-1"),
        ("reason", "<script>alert(2)</script>"),
    ];
    assert_eq!(
        post_form(&app, &b, "/audit/holds", &form).await.status(),
        303
    );
    let (status, html) = page(&app, &b, "/audit").await;
    assert_eq!(status, 200, "{html}");
    assert!(!html.contains("<script>"), "{html}");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;")
            || html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
        "{html}"
    );
    assert!(
        html.contains("alert(2)"),
        "the hold's reason is shown: {html}"
    );
    assert!(
        html.contains("/students/%3Cscript%3Ealert%281%29%3C%2Fscript%3E"),
        "{html}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_names_the_first_altered_entry_in_words() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_path_buf();
    populate(&data, 4).await;
    const N: u64 = 3;
    edit_log(&data, |log| {
        let bytes = log.get(N).expect("get").expect("entry N exists").to_vec();
        let text = String::from_utf8(bytes).expect("UTF-8");
        assert!(text.contains("\"student_id\":\"T-1\""), "{text}");
        let altered = text.replace("\"student_id\":\"T-1\"", "\"student_id\":\"T-9\"");
        log.insert(N, altered.as_bytes()).expect("insert");
    });
    let app = spawn_app_in(dir, all_keys(), |_| {}).await;
    let b = signed_in(&app, AUDITOR_KEY).await;
    let (status, html) = page(&app, &b, "/audit/verify").await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains(&format!("The hash chain is broken at entry {N}")),
        "{html}"
    );
    assert!(html.contains("altered"), "{html}");
    assert!(!html.contains("intact"), "{html}");
}
