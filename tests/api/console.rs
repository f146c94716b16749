//! The console's sign-in, sessions, CSRF, security headers and caseload page against
//! the real server, driven like a browser with scripts off: reqwest with a cookie
//! store and no automatic redirects, so every 303 and cookie is seen.

use reqwest::redirect::Policy;
use reqwest::{Client, Response};
use serde_json::{Value, json};

use crate::helpers::{
    ADMIN_KEY, AUDITOR_KEY, COUNSELOR_KEY, INGEST_KEY, TestApp, all_keys, header, spawn_app,
};

const CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
const HOSTILE: &str = "<img src=x onerror=alert(1)>";

/// A browser: cookies kept, redirects not followed.
fn browser() -> Client {
    Client::builder()
        .no_proxy()
        .cookie_store(true)
        .redirect(Policy::none())
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("reqwest client")
}

/// The console's security headers are on `resp`.
fn assert_secure(resp: &Response) {
    let url = resp.url().to_string();
    assert_eq!(header(resp, "content-security-policy"), CSP, "CSP on {url}");
    assert_eq!(header(resp, "x-content-type-options"), "nosniff", "{url}");
    assert_eq!(header(resp, "referrer-policy"), "no-referrer", "{url}");
}

/// The value of the first hidden `csrf` field of a page.
pub(crate) fn csrf_of(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .unwrap_or_else(|| panic!("no csrf field in:\n{html}"));
    let rest = &html[at + "name=\"csrf\" value=\"".len()..];
    rest[..rest.find('"').expect("closing quote")].to_string()
}

pub(crate) async fn get(app: &TestApp, b: &Client, path: &str) -> Response {
    let resp = b.get(app.url(path)).send().await.expect("GET");
    assert_secure(&resp);
    resp
}

pub(crate) async fn post_form(
    app: &TestApp,
    b: &Client,
    path: &str,
    form: &[(&str, &str)],
) -> Response {
    let body = serde_urlencoded::to_string(form).expect("a form body");
    let resp = b
        .post(app.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("POST");
    assert_secure(&resp);
    resp
}

/// Open the sign-in page and send `key`; the answer to the POST.
async fn sign_in(app: &TestApp, b: &Client, key: &str) -> Response {
    let page = get(app, b, "/login").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("login page");
    assert!(
        html.contains(r#"type="password""#) && html.contains(r#"name="key""#),
        "{html}"
    );
    assert!(
        html.contains(">API key</label>") && html.contains(">Sign in</button>"),
        "{html}"
    );
    let csrf = csrf_of(&html);
    post_form(app, b, "/login", &[("csrf", &csrf), ("key", key)]).await
}

/// A browser signed in with `key`.
pub(crate) async fn signed_in(app: &TestApp, key: &str) -> Client {
    let b = browser();
    let resp = sign_in(app, &b, key).await;
    assert_eq!(resp.status(), 303, "{:?}", resp.text().await);
    b
}

pub(crate) fn location(resp: &Response) -> String {
    header(resp, "location")
}

/// The `Set-Cookie` of the session cookie, if the answer sets one.
fn session_cookie(resp: &Response) -> Option<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("intervene_session="))
        .map(str::to_string)
}

pub(crate) async fn page(app: &TestApp, b: &Client, path: &str) -> (u16, String) {
    let resp = get(app, b, path).await;
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("page body"))
}

/// A record at attendance tier `tier` (0 to 3) and nothing else flagged.
pub(crate) fn record(id: &str, tier: usize) -> Value {
    let present = [100.0, 93.0, 85.0, 75.0][tier];
    json!({
        "student_id": id,
        "school_id": "SCH-1",
        "grade_level": 7,
        "as_of": "2026-11-20",
        "attendance": {"days_enrolled": 100.0, "days_present": present},
        "courses": [
            {"course_id": "M1", "title": "math course", "subject": "math", "grade_pct": 85.0, "credits": 1.0},
            {"course_id": "E1", "title": "ela course", "subject": "ela", "grade_pct": 88.0, "credits": 1.0},
        ],
        "gpa": 3.0,
        "assessments": [],
        "behavior": {"office_referrals": 0, "suspensions_in_school": 0, "suspensions_out_of_school": 0},
    })
}

pub(crate) async fn evaluate(app: &TestApp, id: &str, tier: usize) {
    let d = app.evaluate(&record(id, tier)).await;
    assert_eq!(d["student_id"], id, "{d}");
}

#[tokio::test]
async fn a_counselor_signs_in_and_gets_a_strict_session_cookie() {
    let app = spawn_app(all_keys()).await;
    let b = browser();
    let resp = sign_in(&app, &b, COUNSELOR_KEY).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/");
    let cookie = session_cookie(&resp).expect("a session cookie");
    for part in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(
            cookie.split("; ").any(|p| p == part),
            "{part} missing: {cookie}"
        );
    }
    assert!(
        !cookie.contains("Secure"),
        "Secure is off by default: {cookie}"
    );
    let token = cookie["intervene_session=".len()..]
        .split(';')
        .next()
        .unwrap();
    assert!(token.len() >= 64, "a 32-byte token: {cookie}");
    assert!(!cookie.contains(COUNSELOR_KEY), "the key is not the cookie");

    let (status, html) = page(&app, &b, "/").await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("Signed in as <strong>counselor</strong>"),
        "{html}"
    );
    assert!(
        html.contains("<title>Caseload · intervene</title>"),
        "{html}"
    );
    // The counselor's navigation: what the route table lets her read.
    assert!(
        html.contains(r#"href="/rules""#) && !html.contains(r#"href="/audit""#),
        "{html}"
    );
    // No inline script or style anywhere.
    assert!(
        !html.contains("<script") && !html.contains("style="),
        "{html}"
    );
}

#[tokio::test]
async fn secure_cookies_are_marked_secure_when_configured() {
    let app = crate::helpers::spawn_app_with(all_keys(), |s| s.console.secure_cookies = true).await;
    let resp = sign_in(&app, &browser(), AUDITOR_KEY).await;
    assert_eq!(resp.status(), 303);
    let cookie = session_cookie(&resp).expect("a session cookie");
    assert!(cookie.split("; ").any(|p| p == "Secure"), "{cookie}");
}

#[tokio::test]
async fn without_a_session_every_page_sends_you_to_sign_in() {
    let app = spawn_app(all_keys()).await;
    let b = browser();
    for path in ["/", "/?tier=3", "/caseload.csv"] {
        let resp = get(&app, &b, path).await;
        assert_eq!(resp.status(), 303, "{path}");
        assert_eq!(location(&resp), "/login", "{path}");
    }
    // A made-up session token is no session.
    let forged = browser();
    let resp = forged
        .get(app.url("/"))
        .header("cookie", format!("intervene_session={}", "ab".repeat(32)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    // The bearer key of the API does not open the console.
    let resp = b
        .get(app.url("/"))
        .bearer_auth(COUNSELOR_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
}

#[tokio::test]
async fn a_wrong_key_shows_the_form_again_with_an_error_and_is_audited() {
    let app = spawn_app(all_keys()).await;
    let b = browser();
    let resp = sign_in(&app, &b, "not-a-key").await;
    assert_eq!(resp.status(), 401);
    assert!(
        session_cookie(&resp).is_none(),
        "no session for a wrong key"
    );
    let html = resp.text().await.unwrap();
    assert!(html.contains("That key is not valid"), "{html}");
    assert!(html.contains(r#"name="key""#), "the form again: {html}");
    let (status, _) = page(&app, &b, "/").await;
    assert_eq!(status, 303, "still signed out");
    let denied: Vec<Value> = app
        .log_entries()
        .into_iter()
        .filter(|e| e["kind"] == "auth.denied")
        .collect();
    assert_eq!(denied.len(), 1, "{denied:#?}");
    assert_eq!(denied[0]["payload"]["path"], "/login");
    assert!(
        !denied[0].to_string().contains("not-a-key"),
        "the key is never logged"
    );
}

#[tokio::test]
async fn the_ingest_key_is_refused_the_console() {
    let app = spawn_app(all_keys()).await;
    let b = browser();
    let resp = sign_in(&app, &b, INGEST_KEY).await;
    assert_eq!(resp.status(), 403);
    assert!(session_cookie(&resp).is_none());
    let html = resp.text().await.unwrap();
    assert!(
        html.contains("The ingest key is for the SIS, not for people"),
        "{html}"
    );
    let (status, _) = page(&app, &b, "/").await;
    assert_eq!(status, 303);
    assert!(app.kinds_in_log().iter().any(|k| k == "auth.denied"));
}

#[tokio::test]
async fn signing_in_needs_the_forms_own_token() {
    let app = spawn_app(all_keys()).await;
    // No visit to the form: no double-submit cookie.
    let b = browser();
    let resp = post_form(
        &app,
        &b,
        "/login",
        &[("csrf", "abc"), ("key", COUNSELOR_KEY)],
    )
    .await;
    assert_eq!(resp.status(), 403);
    assert!(session_cookie(&resp).is_none());
    // The form's cookie, but another token in the field.
    get(&app, &b, "/login").await;
    let resp = post_form(
        &app,
        &b,
        "/login",
        &[("csrf", "abc"), ("key", COUNSELOR_KEY)],
    )
    .await;
    assert_eq!(resp.status(), 403);
}

#[tokio::test]
async fn signing_out_needs_the_csrf_token_and_ends_the_session() {
    let app = spawn_app(all_keys()).await;
    let b = signed_in(&app, COUNSELOR_KEY).await;
    let (status, html) = page(&app, &b, "/").await;
    assert_eq!(status, 200);
    let csrf = csrf_of(&html);

    let resp = post_form(&app, &b, "/logout", &[]).await;
    assert_eq!(resp.status(), 403, "no token");
    let resp = post_form(&app, &b, "/logout", &[("csrf", "0".repeat(64).as_str())]).await;
    assert_eq!(resp.status(), 403, "a wrong token");
    let (status, _) = page(&app, &b, "/").await;
    assert_eq!(status, 200, "still signed in");

    let resp = post_form(&app, &b, "/logout", &[("csrf", &csrf)]).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/login");
    let (status, _) = page(&app, &b, "/").await;
    assert_eq!(status, 303, "the session is gone");
}

#[tokio::test]
async fn the_session_cookie_is_useless_after_sign_out_even_if_kept() {
    let app = spawn_app(all_keys()).await;
    let b = browser();
    let resp = sign_in(&app, &b, COUNSELOR_KEY).await;
    let cookie = session_cookie(&resp).unwrap();
    let pair = cookie.split(';').next().unwrap().to_string();
    let (_, html) = page(&app, &b, "/").await;
    post_form(&app, &b, "/logout", &[("csrf", &csrf_of(&html))]).await;
    let replay = browser()
        .get(app.url("/"))
        .header("cookie", pair)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 303);
}

#[tokio::test]
async fn every_console_answer_carries_the_security_headers() {
    let app = spawn_app(all_keys()).await;
    let b = signed_in(&app, AUDITOR_KEY).await;
    // `get` and `post_form` assert the headers on each answer.
    let (status, html) = page(&app, &b, "/").await;
    assert_eq!(status, 200);
    assert_eq!(
        header(&get(&app, &b, "/").await, "cache-control"),
        "no-store"
    );
    assert!(
        html.contains(r#"href="/audit""#),
        "the auditor sees the audit: {html}"
    );
    let css_href = {
        let at = html.find("/assets/console.css").expect("stylesheet link");
        html[at..html[at..].find('"').unwrap() + at].to_string()
    };
    let css = get(&app, &b, &css_href).await;
    assert_eq!(css.status(), 200);
    assert!(header(&css, "content-type").starts_with("text/css"));
    assert!(header(&css, "cache-control").contains("max-age=31536000"));
    assert!(css.text().await.unwrap().contains(":focus-visible"));
    assert_eq!(get(&app, &b, "/caseload.csv").await.status(), 200);
    assert_eq!(get(&app, &b, "/?tier=9").await.status(), 400);
    assert_eq!(post_form(&app, &b, "/logout", &[]).await.status(), 403);
    assert_eq!(post_form(&app, &b, "/", &[]).await.status(), 405);
    assert_eq!(get(&app, &browser(), "/").await.status(), 303);
    assert_eq!(get(&app, &browser(), "/login").await.status(), 200);
    // The JSON API is as it was.
    let api = app.get_as("/v1/caseload", Some(AUDITOR_KEY)).await;
    assert_eq!(api.status(), 200);
    assert!(header(&api, "content-type").starts_with("application/json"));
}

#[tokio::test]
async fn a_student_id_with_markup_renders_as_text() {
    let app = spawn_app(all_keys()).await;
    evaluate(&app, HOSTILE, 3).await;
    let b = signed_in(&app, COUNSELOR_KEY).await;
    let (status, html) = page(&app, &b, "/").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("&lt;img src=x onerror=alert(1)&gt;")
            || html.contains("&#60;img src=x onerror=alert(1)&#62;"),
        "{html}"
    );
    assert!(
        !html.contains("<img"),
        "markup from data reached the page: {html}"
    );
    assert!(
        html.contains(r#"href="/students/%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E""#),
        "{html}"
    );
    // Nor does it reach the title.
    let title = &html[html.find("<title>").unwrap()..html.find("</title>").unwrap()];
    assert!(!title.contains("img"), "{title}");
}

#[tokio::test]
async fn the_tier_filter_shows_only_those_students_and_the_read_is_audited() {
    let app = spawn_app(all_keys()).await;
    for (id, tier) in [
        ("T3-A", 3),
        ("T3-B", 3),
        ("T2-C", 2),
        ("T1-D", 1),
        ("T0-E", 0),
    ] {
        evaluate(&app, id, tier).await;
    }
    let b = signed_in(&app, COUNSELOR_KEY).await;
    let (status, html) = page(&app, &b, "/?tier=3&school=&rule=").await;
    assert_eq!(status, 200, "{html}");
    for id in ["T3-A", "T3-B"] {
        assert!(html.contains(&format!(">{id}</a>")), "{id} missing: {html}");
    }
    for id in ["T2-C", "T1-D", "T0-E"] {
        assert!(!html.contains(id), "{id} is not at tier 3: {html}");
    }
    // The picture counts everyone: 2 of 5 at tier 3, above the 5% reference.
    assert!(
        html.contains("40.0%") && html.contains("above 5.0%"),
        "{html}"
    );
    // The form keeps the filter.
    assert!(html.contains(r#"<option value="3" selected>"#), "{html}");

    // The table's read (the rosters' is `groups`: tests/api/console_caseload.rs).
    let reads: Vec<Value> = app
        .log_entries()
        .into_iter()
        .filter(|e| e["kind"] == "caseload.read" && e["payload"]["read"] == "caseload")
        .collect();
    assert_eq!(reads.len(), 1, "{reads:#?}");
    assert_eq!(reads[0]["actor"], "counselor");
    assert_eq!(reads[0]["payload"]["read"], "caseload");
    assert_eq!(reads[0]["payload"]["filter"], "tier=3");
    assert_eq!(reads[0]["payload"]["students"], json!(["T3-A", "T3-B"]));

    // The CSV of the same filter, read and audited the same way.
    let csv = get(&app, &b, "/caseload.csv?tier=3").await;
    assert_eq!(csv.status(), 200);
    assert!(header(&csv, "content-type").starts_with("text/csv"));
    assert!(header(&csv, "content-disposition").contains("attachment"));
    let text = csv.text().await.unwrap();
    assert!(
        text.contains("T3-A") && text.contains("T3-B") && !text.contains("T2-C"),
        "{text}"
    );
    let reads = app
        .kinds_in_log()
        .iter()
        .filter(|k| *k == "caseload.read")
        .count();
    assert_eq!(reads, 3, "the page's table and rosters, then the CSV");
}

#[tokio::test]
async fn paging_follows_the_cursor() {
    let app = spawn_app(all_keys()).await;
    for i in 0..3 {
        evaluate(&app, &format!("P-{i}"), 2).await;
    }
    let b = signed_in(&app, AUDITOR_KEY).await;
    let (_, first) = page(&app, &b, "/?limit=2").await;
    assert!(
        first.contains(">P-0</a>") && first.contains(">P-1</a>") && !first.contains(">P-2</a>")
    );
    let at = first.find(r#"rel="next""#).expect("a next link");
    let start = first[..at].rfind("href=\"").unwrap() + "href=\"".len();
    let href = first[start..]
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&")
        .replace("&#38;", "&");
    assert!(
        href.contains("limit=2") && href.contains("cursor="),
        "{href}"
    );
    let (status, second) = page(&app, &b, &href).await;
    assert_eq!(status, 200);
    assert!(
        second.contains(">P-2</a>") && !second.contains(">P-0</a>"),
        "{second}"
    );
    assert!(!second.contains(r#"rel="next""#));
}

#[tokio::test]
async fn a_bad_filter_is_a_message_beside_the_form() {
    let app = spawn_app(all_keys()).await;
    let b = signed_in(&app, COUNSELOR_KEY).await;
    let (status, html) = page(&app, &b, "/?tier=9").await;
    assert_eq!(status, 400, "{html}");
    assert!(html.contains(r#"id="filter-error""#), "{html}");
    assert!(html.contains("tier"), "{html}");
    assert!(
        html.contains(r#"<form method="get" action="/""#),
        "the form is still there"
    );
    let (status, html) = page(&app, &b, "/?colour=blue").await;
    assert_eq!(status, 400);
    assert!(
        html.contains("colour"),
        "the unknown parameter is named: {html}"
    );
    assert!(
        !app.kinds_in_log().iter().any(|k| k == "caseload.read"),
        "no read happened"
    );
}

#[tokio::test]
async fn open_local_mode_signs_everyone_in_as_local() {
    let app = spawn_app(Vec::new()).await;
    let b = browser();
    let resp = get(&app, &b, "/").await;
    assert_eq!(
        (resp.status().as_u16(), location(&resp)),
        (303, "/login".into())
    );
    let resp = get(&app, &b, "/login").await;
    assert_eq!((resp.status().as_u16(), location(&resp)), (303, "/".into()));
    assert!(session_cookie(&resp).is_some());
    let (status, html) = page(&app, &b, "/").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("Signed in as <strong>local</strong> (admin)"),
        "{html}"
    );
    assert!(html.contains(r#"href="/audit""#) && html.contains(r#"href="/rules""#));
}

#[tokio::test]
async fn an_admin_sees_every_page_in_the_navigation() {
    let app = spawn_app(all_keys()).await;
    let b = signed_in(&app, ADMIN_KEY).await;
    let (_, html) = page(&app, &b, "/").await;
    for href in ["/", "/rules", "/audit"] {
        assert!(
            html.contains(&format!("<a href=\"{href}\"")),
            "{href}: {html}"
        );
    }
    assert!(html.contains(r#"aria-current="page">Caseload"#), "{html}");
}
