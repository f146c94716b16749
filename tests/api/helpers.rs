//! Shared test harness: the real server on port 0 in-process ([`spawn_app`]), the
//! real binary as a child process ([`BinaryServer`]), keys, and assertions for
//! problem+json answers and the audit log.

#[path = "../support/binary_server.rs"]
mod binary_server;
pub use binary_server::BinaryServer;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use intervene::config::{ApiKey, Role, Settings};
use intervene::http::{AppState, Application};
use reqwest::{Client, Response};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tempfile::TempDir;

pub const INGEST_KEY: &str = "test-key-ingest-0001";
pub const COUNSELOR_KEY: &str = "test-key-counselor-0002";
pub const AUDITOR_KEY: &str = "test-key-auditor-0003";
pub const ADMIN_KEY: &str = "test-key-admin-0004";
pub const FAMILY_KEY: &str = "test-key-family-0005";

/// Hex SHA-256 of a key, as configured in `api_keys`.
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

pub fn key(name: &str, role: Role, raw: &str) -> ApiKey {
    ApiKey {
        name: name.into(),
        role,
        sha256: hash_key(raw),
    }
}

/// One key per role, named after the role.
pub fn all_keys() -> Vec<ApiKey> {
    vec![
        key("sis", Role::Ingest, INGEST_KEY),
        key("counselor", Role::Counselor, COUNSELOR_KEY),
        key("auditor", Role::Auditor, AUDITOR_KEY),
        key("admin", Role::Admin, ADMIN_KEY),
        key("liaison", Role::FamilyLiaison, FAMILY_KEY),
    ]
}

pub fn rules_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("rules")
}

/// A copy of the repository's `rules/` in a temp dir.
pub fn copy_rules() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir for rules");
    copy_dir(&rules_dir(), dir.path());
    dir
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create rules copy");
    for entry in std::fs::read_dir(from).expect("read rules dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy a rule file");
        }
    }
}

pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

pub fn client() -> Client {
    Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .connect_timeout(Duration::from_secs(5))
        .build()
        .expect("reqwest client")
}

/// A running in-process server.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`
    pub address: String,
    pub port: u16,
    pub client: Client,
    /// The data directory (sled); removed when the app is dropped.
    pub dir: TempDir,
    pub state: Arc<AppState>,
    /// The key helper calls use: the admin key when keys are configured.
    pub admin: Option<&'static str>,
}

pub async fn spawn_app(keys: Vec<ApiKey>) -> TestApp {
    spawn_app_with(keys, |_| {}).await
}

/// Start the server with default test settings changed by `configure`.
pub async fn spawn_app_with(keys: Vec<ApiKey>, configure: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = tempfile::tempdir().expect("tempdir");
    spawn_app_in(dir, keys, configure).await
}

/// Start the server on an existing data directory.
pub async fn spawn_app_in(
    dir: TempDir,
    keys: Vec<ApiKey>,
    configure: impl FnOnce(&mut Settings),
) -> TestApp {
    let admin = keys
        .iter()
        .any(|k| k.sha256 == hash_key(ADMIN_KEY))
        .then_some(ADMIN_KEY);
    let mut settings = Settings {
        bind: "127.0.0.1:0".into(),
        rules: rules_dir(),
        data: dir.path().to_path_buf(),
        api_keys: keys,
        ..Settings::default()
    };
    configure(&mut settings);
    let app = Application::build(settings)
        .await
        .expect("the application builds");
    let port = app.port();
    let state = app.state();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        client: client(),
        dir,
        state,
        admin,
    }
}

fn with_key(rb: reqwest::RequestBuilder, key: Option<&str>) -> reqwest::RequestBuilder {
    match key {
        Some(k) => rb.bearer_auth(k),
        None => rb,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// GET with the admin key (when keys are configured).
    pub async fn get(&self, path: &str) -> Response {
        self.get_as(path, self.admin).await
    }

    pub async fn get_as(&self, path: &str, key: Option<&str>) -> Response {
        with_key(self.client.get(self.url(path)), key)
            .send()
            .await
            .expect("GET request")
    }

    /// POST a JSON body with the admin key (when keys are configured).
    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.post_json_as(path, body, self.admin).await
    }

    pub async fn post_json_as(&self, path: &str, body: &Value, key: Option<&str>) -> Response {
        self.post_raw_as(path, "application/json", body.to_string().into_bytes(), key)
            .await
    }

    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> Response {
        self.post_raw_as(path, content_type, body, self.admin).await
    }

    pub async fn post_raw_as(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
        key: Option<&str>,
    ) -> Response {
        let mut rb = self.client.post(self.url(path)).body(body);
        if !content_type.is_empty() {
            rb = rb.header("content-type", content_type);
        }
        with_key(rb, key).send().await.expect("POST request")
    }

    /// Evaluate a record and return the decision (asserting a 200).
    pub async fn evaluate(&self, record: &Value) -> Value {
        let resp = self.post_json("/v1/evaluate", record).await;
        json_ok(resp).await
    }

    /// `GET /v1/audit/verify`.
    pub async fn verify(&self) -> Value {
        json_ok(self.get("/v1/audit/verify").await).await
    }

    /// Every entry of `/v1/audit?<query>`, following cursors; asserts each entry is
    /// returned once and newest first.
    pub async fn audit_all(&self, query: &str, limit: usize) -> Vec<Value> {
        collect_pages(self, "/v1/audit", query, limit, "entries").await
    }

    /// `GET /v1/audit/export`, one parsed value per line.
    /// `GET /v1/audit/export` as the bytes an auditor receives.
    pub async fn export_text(&self) -> String {
        let resp = self.get("/v1/audit/export").await;
        assert_eq!(resp.status(), 200);
        let ct = header(&resp, "content-type");
        assert!(
            ct.starts_with("application/x-ndjson"),
            "export content type is `{ct}`"
        );
        resp.text().await.expect("export body")
    }

    /// The last sequence number, read from the store itself (reading the log through
    /// the API is audited, so it would add entries).
    pub fn head_seq(&self) -> u64 {
        self.state.store.head_seq().expect("head seq")
    }

    /// Every entry, oldest first, read from the store itself.
    pub fn log_entries(&self) -> Vec<Value> {
        self.state
            .store
            .raw_after(0, usize::MAX)
            .expect("read the log")
            .iter()
            .map(|(_, bytes)| serde_json::from_slice(bytes).expect("an entry"))
            .collect()
    }

    /// The kind of every entry, oldest first, read from the store itself.
    pub fn kinds_in_log(&self) -> Vec<String> {
        self.log_entries()
            .iter()
            .map(|e| e["kind"].as_str().expect("kind").to_string())
            .collect()
    }

    /// Decision entries in the audit log.
    pub async fn decisions_in_log(&self) -> Vec<Value> {
        self.audit_all("kind=decision", 500).await
    }

    /// The server still answers `/healthz`.
    pub async fn assert_healthy(&self) {
        let resp = self.get_as("/healthz", None).await;
        assert_eq!(resp.status(), 200, "/healthz no longer answers 200");
    }
}

/// Follow `next_cursor` through every page of `path`; `field` is the list in each page.
pub async fn collect_pages(
    app: &TestApp,
    path: &str,
    query: &str,
    limit: usize,
    field: &str,
) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10_000 {
        let mut url = format!("{path}?limit={limit}");
        if !query.is_empty() {
            url.push('&');
            url.push_str(query);
        }
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page = json_ok(app.get(&url).await).await;
        let items = page[field]
            .as_array()
            .unwrap_or_else(|| panic!("`{field}` is not a list: {page}"));
        assert!(
            items.len() <= limit,
            "a page holds {} items, more than limit {limit}",
            items.len()
        );
        out.extend(items.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => {
                assert!(
                    page["next_cursor"].is_null(),
                    "next_cursor is neither a string nor null: {page}"
                );
                let seqs: Vec<u64> = out
                    .iter()
                    .map(|e| e["seq"].as_u64().expect("seq"))
                    .collect();
                assert!(
                    seqs.windows(2).all(|w| w[0] > w[1]),
                    "pages are not newest first without repeats: {seqs:?}"
                );
                return out;
            }
        }
    }
    panic!("pagination of {path}?{query} did not end");
}

pub fn parse_ndjson(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("line is not JSON ({e}): {l}")))
        .collect()
}

pub fn header(resp: &Response, name: &str) -> String {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// Assert a 200 JSON answer and return its body.
pub async fn json_ok(resp: Response) -> Value {
    let status = resp.status();
    let url = resp.url().to_string();
    assert!(
        !header(&resp, "x-request-id").is_empty(),
        "no x-request-id on {url}"
    );
    let text = resp.text().await.expect("body");
    assert_eq!(status, 200, "{url} answered {status}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url}: body is not JSON ({e}): {text}"))
}

/// Assert an RFC 9457 problem with `status` whose `detail` contains every one of
/// `needles` (case-insensitive); returns the body.
pub async fn assert_problem(resp: Response, status: u16, needles: &[&str]) -> Value {
    let got = resp.status().as_u16();
    let url = resp.url().to_string();
    let ct = header(&resp, "content-type");
    let rid = header(&resp, "x-request-id");
    let text = resp.text().await.expect("body");
    assert_eq!(got, status, "{url}: expected {status}, got {got}: {text}");
    assert_eq!(
        ct, "application/problem+json",
        "{url}: content type of a {status}: {text}"
    );
    assert!(!rid.is_empty(), "{url}: a {status} has no x-request-id");
    let body: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("problem is not JSON ({e}): {text}"));
    assert_eq!(body["status"], status, "problem `status` member: {body}");
    assert!(
        body["title"].as_str().is_some_and(|t| !t.is_empty()),
        "problem without a title: {body}"
    );
    let detail = body["detail"]
        .as_str()
        .unwrap_or_else(|| panic!("problem without a detail: {body}"))
        .to_lowercase();
    for n in needles {
        assert!(
            detail.contains(&n.to_lowercase()),
            "{url}: detail does not mention `{n}`: {body}"
        );
    }
    body
}

/// The field names of a problem's `errors`.
pub fn error_fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e["field"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The rule ids of a decision's flags, in the decision's order.
pub fn fired(decision: &Value) -> Vec<String> {
    decision["flags"]
        .as_array()
        .unwrap_or_else(|| panic!("no flags list: {decision}"))
        .iter()
        .map(|f| f["rule_id"].as_str().expect("rule_id").to_string())
        .collect()
}

/// A record that flags `low-gpa` (and nothing in attendance).
pub fn low_gpa(student: &str) -> Value {
    serde_json::json!({"student_id": student, "gpa": 1.5})
}

/// A record that flags `chronic-absence` (15% absent).
pub fn chronic_absence(student: &str) -> Value {
    serde_json::json!({"student_id": student, "attendance": {"days_enrolled": 100, "days_present": 85}})
}

/// The `decision_id`s of decision entries.
pub fn decision_ids(entries: &[Value]) -> Vec<String> {
    entries
        .iter()
        .filter(|e| e["kind"] == "decision")
        .map(|e| {
            e["payload"]["decision_id"]
                .as_str()
                .expect("decision_id")
                .to_string()
        })
        .collect()
}

/// Run `intervene audit verify --data DIR`: (exit code, stdout + stderr).
pub fn cli_verify(data: &Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_intervene"))
        .args(["audit", "verify", "--data"])
        .arg(data)
        .stdin(Stdio::null())
        .output()
        .expect("run intervene audit verify");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// An entry's hash as the README tells auditors to compute it, written here without
/// the library: SHA-256 (hex) of the stored JSON line with its final `,"hash":"…"`
/// member removed. Returns (computed, claimed).
pub fn documented_hash(line: &str) -> (String, String) {
    let cut = line
        .rfind(",\"hash\":\"")
        .unwrap_or_else(|| panic!("no hash member in {line}"));
    let claimed = line[cut + 9..].trim_end_matches("\"}").to_string();
    let body = format!("{}}}", &line[..cut]);
    (hex::encode(Sha256::digest(body.as_bytes())), claimed)
}

/// What a forger would do after editing an entry: recompute its own hash by the
/// documented rule so that only the next entry's link can give it away.
pub fn rehash(line: &str) -> String {
    let (computed, _) = documented_hash(line);
    let cut = line.rfind(",\"hash\":\"").expect("hash member");
    format!("{},\"hash\":\"{computed}\"}}", &line[..cut])
}
