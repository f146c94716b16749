//! The browser harness: finds Debian's `chromedriver` and `chromium`, starts them on a
//! free loopback port (killed when dropped), and the helpers every browser test uses:
//! [`sign_in`], [`run_axe`], [`screenshot`], [`dialog_text`], [`page_status`].

use std::future::Future;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::wd::TimeoutConfiguration;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde::Deserialize;
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::sync::{Mutex, MutexGuard};

/// The bound on every wait: a page load, a script, an element to appear.
pub const WAIT: Duration = Duration::from_secs(10);

/// The bound on one whole browser test.
pub const TEST_BUDGET: Duration = Duration::from_secs(120);

/// Desktop window size.
pub const DESKTOP: (u32, u32) = (1280, 900);

/// Phone window size (the console must work at 360 px wide).
pub const MOBILE: (u32, u32) = (360, 800);

/// The notice printed when Chromium is missing (and the test skips).
pub const INSTALL_HINT: &str = "apt-get install chromium chromium-driver";

/// The vendored axe-core (see `vendor/README.md`).
const AXE_SOURCE: &str = include_str!("vendor/axe.min.js");

/// One browser at a time: the machine has two cores, and each test starts its own
/// chromedriver and Chromium.
static ONE_BROWSER: Mutex<()> = Mutex::const_new(());

/// Run a browser test's body within [`TEST_BUDGET`].
pub async fn bounded<F: Future<Output = ()>>(name: &str, body: F) {
    if tokio::time::timeout(TEST_BUDGET, body).await.is_err() {
        panic!("browser test `{name}` did not finish within {TEST_BUDGET:?}");
    }
}

/// Where the two programs are.
#[derive(Debug, Clone)]
pub struct Tools {
    pub chromedriver: PathBuf,
    pub chromium: PathBuf,
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

fn first_found(names: &[&str], fixed: &[&str]) -> Option<PathBuf> {
    names
        .iter()
        .find_map(|n| on_path(n))
        .or_else(|| fixed.iter().map(PathBuf::from).find(|p| p.is_file()))
}

/// `chromedriver` and `chromium` from `PATH` or Debian's locations; `Err` names what
/// is missing.
pub fn find_tools() -> Result<Tools, String> {
    let chromedriver = first_found(
        &["chromedriver"],
        &["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"],
    )
    .ok_or("chromedriver not found")?;
    let chromium = first_found(
        &["chromium", "chromium-browser"],
        &["/usr/bin/chromium", "/usr/lib/chromium/chromium"],
    )
    .ok_or("chromium not found")?;
    Ok(Tools {
        chromedriver,
        chromium,
    })
}

/// Whether a missing browser fails the test (`INTERVENE_REQUIRE_BROWSER=1`, set by CI).
pub fn browser_required() -> bool {
    std::env::var("INTERVENE_REQUIRE_BROWSER").is_ok_and(|v| v == "1")
}

/// What a test does when `missing` (e.g. "chromedriver not found"): print the
/// notice and skip (`Ok(notice)`), or fail (`Err`) when the browser is `required`.
pub fn on_missing(missing: &str, required: bool) -> Result<String, String> {
    let notice = format!("browser tests SKIPPED: {missing} ({INSTALL_HINT})");
    if required {
        Err(format!(
            "{notice}; INTERVENE_REQUIRE_BROWSER=1 makes a missing browser a failure"
        ))
    } else {
        Ok(notice)
    }
}

/// A free loopback port: bind port 0, read it, let it go.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("local addr").port()
}

/// The chromedriver process, in its own process group so that Chromium (its child)
/// goes with it; the whole group is killed on drop.
pub struct Driver {
    child: Child,
    pub port: u16,
    pub log: PathBuf,
}

impl Driver {
    fn start(tools: &Tools, log_dir: &Path) -> Driver {
        use std::os::unix::process::CommandExt;
        let port = free_port();
        let log = log_dir.join("chromedriver.log");
        let child = Command::new(&tools.chromedriver)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", tools.chromedriver.display()));
        let driver = Driver { child, port, log };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + WAIT;
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen on {addr} within {WAIT:?}; its log:\n{}",
                driver.log_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        driver
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The last lines of chromedriver's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The group id is chromedriver's pid (`process_group(0)`): this ends it and
        // the Chromium it started, even when a test panicked before closing.
        let _ = Command::new("kill")
            .arg("-KILL")
            .arg("--")
            .arg(format!("-{}", self.child.id()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A WebDriver session on headless Chromium. Fields drop in order: the session's
/// profile directory outlives the driver that uses it.
pub struct Browser {
    pub client: Client,
    driver: Driver,
    _profile: TempDir,
    _one_at_a_time: MutexGuard<'static, ()>,
}

/// Start headless Chromium, or `None` (with the printed notice) when it is not
/// installed; a missing browser panics when [`browser_required`].
pub async fn browser() -> Option<Browser> {
    let tools = match find_tools() {
        Ok(t) => t,
        Err(missing) => match on_missing(&missing, browser_required()) {
            Ok(notice) => {
                eprintln!("{notice}");
                return None;
            }
            Err(failure) => panic!("{failure}"),
        },
    };
    let guard = ONE_BROWSER.lock().await;
    let profile = tempfile::tempdir().expect("tempdir for the Chromium profile");
    let driver = Driver::start(&tools, profile.path());
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("chrome"));
    // An alert stays open so a test can see it (the default dismisses it).
    caps.insert("unhandledPromptBehavior".into(), json!("ignore"));
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": tools.chromium,
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--disable-sync",
                "--disable-component-update",
                format!("--window-size={},{}", DESKTOP.0, DESKTOP.1),
                format!("--user-data-dir={}", profile.path().join("profile").display()),
            ],
        }),
    );
    let mut builder = ClientBuilder::new(HttpConnector::new());
    builder.capabilities(caps);
    let webdriver = driver.url();
    let client =
        match tokio::time::timeout(Duration::from_secs(30), builder.connect(&webdriver)).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => panic!(
                "no WebDriver session on {}: {e}; chromedriver's log:\n{}",
                tools.chromium.display(),
                driver.log_tail()
            ),
            Err(_) => panic!(
                "Chromium did not start within 30 s; chromedriver's log:\n{}",
                driver.log_tail()
            ),
        };
    client
        .update_timeouts(TimeoutConfiguration::new(
            Some(WAIT),
            Some(WAIT),
            Some(Duration::ZERO),
        ))
        .await
        .expect("set WebDriver timeouts");
    client
        .set_window_size(DESKTOP.0, DESKTOP.1)
        .await
        .expect("desktop window size");
    Some(Browser {
        client,
        driver,
        _profile: profile,
        _one_at_a_time: guard,
    })
}

impl Browser {
    /// End the session (Chromium quits); the driver is killed when `self` drops.
    pub async fn close(self) {
        let Browser { client, driver, .. } = self;
        let _ = tokio::time::timeout(WAIT, client.close()).await;
        drop(driver);
    }
}

/// Wait (at most [`WAIT`]) for an element matching `css`.
pub async fn wait_for(client: &Client, css: &str) -> Element {
    match client
        .wait()
        .at_most(WAIT)
        .every(Duration::from_millis(50))
        .for_element(Locator::Css(css))
        .await
    {
        Ok(e) => e,
        Err(e) => {
            let url = client.current_url().await.map(|u| u.to_string());
            panic!("no `{css}` within {WAIT:?} on {url:?}: {e}")
        }
    }
}

/// Navigate to `url` and assert it answered 200 (failing at once on a 404 rather
/// than waiting for elements that cannot come).
pub async fn goto_ok(client: &Client, url: &str) {
    client
        .goto(url)
        .await
        .unwrap_or_else(|e| panic!("open {url}: {e}"));
    let status = page_status(client).await;
    assert_eq!(status, Some(200), "GET {url} answered {status:?}");
}

/// Navigate to `base` + `path`, assert a 200 and wait for `<main id="main">`.
pub async fn open(client: &Client, base: &str, path: &str) -> Element {
    goto_ok(client, &format!("{base}{path}")).await;
    wait_for(client, "main#main").await
}

/// Mark the current document so that [`wait_for_new_document`] sees it replaced.
async fn mark_document(client: &Client) {
    client
        .execute(
            "document.documentElement.setAttribute('data-harness-old', '1'); return true;",
            vec![],
        )
        .await
        .expect("mark the document");
}

/// Wait (at most [`WAIT`]) until the marked document is replaced and fully loaded.
async fn wait_for_new_document(client: &Client) {
    let deadline = Instant::now() + WAIT;
    loop {
        let state = client
            .execute(
                "return document.documentElement.hasAttribute('data-harness-old') ? 'old' : document.readyState;",
                vec![],
            )
            .await;
        if let Ok(Value::String(s)) = &state
            && s == "complete"
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the form submission did not load a new page within {WAIT:?} (last state {state:?})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sign in through the form at `/login`: type `key` into `#key`, press the form's
/// submit button, and wait for the page that answers. Asserts nothing about that
/// page: see [`sign_in_as`] for a key that must reach the caseload.
pub async fn sign_in(client: &Client, base: &str, key: &str) {
    goto_ok(client, &format!("{base}/login")).await;
    let input = wait_for(client, "input#key[name='key'][type='password']").await;
    input.send_keys(key).await.expect("type the key");
    let form = client
        .find(Locator::XPath("//input[@id='key']/ancestor::form"))
        .await
        .expect("the key field is inside a form");
    let button = form
        .find(Locator::Css(
            "button[type='submit'], input[type='submit'], button:not([type])",
        ))
        .await
        .expect("the sign-in form has a submit button");
    mark_document(client).await;
    button.click().await.expect("press the sign-in button");
    wait_for_new_document(client).await;
}

/// Sign in with a key that may use the console and assert the landing: the
/// caseload at `/` with its `<main id="main">`, answered 200.
pub async fn sign_in_as(client: &Client, base: &str, key: &str) {
    sign_in(client, base, key).await;
    let url = client.current_url().await.expect("current url");
    assert_eq!(
        url.path(),
        "/",
        "signing in did not land on the caseload: {url}"
    );
    wait_for(client, "main#main").await;
    assert_eq!(page_status(client).await, Some(200), "status of {url}");
}

/// The HTTP status that answered the current document (Chromium's
/// `PerformanceNavigationTiming.responseStatus`), when the browser knows it.
pub async fn page_status(client: &Client) -> Option<u16> {
    let v = client
        .execute(
            "const n = performance.getEntriesByType('navigation')[0]; \
             return n && n.responseStatus ? n.responseStatus : null;",
            vec![],
        )
        .await
        .expect("read the navigation status");
    v.as_u64().and_then(|s| u16::try_from(s).ok())
}

/// The text of an open JavaScript dialog (`alert`, `confirm`, `prompt`), if one is.
pub async fn dialog_text(client: &Client) -> Option<String> {
    match client.get_alert_text().await {
        Ok(text) => Some(text),
        Err(e) if e.is_no_such_alert() => None,
        Err(e) => panic!("ask whether a dialog is open: {e}"),
    }
}

/// Assert no JavaScript dialog is open on the current page.
pub async fn assert_no_dialog(client: &Client, context: &str) {
    if let Some(text) = dialog_text(client).await {
        let _ = client.dismiss_alert().await;
        panic!("{context}: a JavaScript dialog opened with `{text}`");
    }
}

/// One axe-core rule that failed, with the nodes it failed on.
#[derive(Debug, Clone, Deserialize)]
pub struct Violation {
    pub id: String,
    pub impact: String,
    pub help: String,
    #[serde(rename = "helpUrl")]
    pub help_url: String,
    pub nodes: Vec<ViolationNode>,
}

/// One element a rule failed on: its CSS selector path and axe's summary.
#[derive(Debug, Clone, Deserialize)]
pub struct ViolationNode {
    pub target: Vec<Value>,
    #[serde(rename = "failureSummary", default)]
    pub failure_summary: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "[{}] {}: {} ({})",
            self.impact, self.id, self.help, self.help_url
        )?;
        for n in &self.nodes {
            let target: Vec<String> = n
                .target
                .iter()
                .map(|t| t.as_str().map_or_else(|| t.to_string(), String::from))
                .collect();
            writeln!(f, "    at {}", target.join(" >> "))?;
            for line in n.failure_summary.lines() {
                writeln!(f, "      {line}")?;
            }
        }
        Ok(())
    }
}

/// Run axe-core on the current page and return its `serious` and `critical`
/// violations. axe is injected with WebDriver's execute-script (Chromium runs it
/// through the DevTools protocol, which the page's Content-Security-Policy does not
/// govern), then `axe.run` is awaited with execute-async.
pub async fn run_axe(client: &Client) -> Vec<Violation> {
    let loaded = client
        .execute(
            &format!(
                "{AXE_SOURCE}\n;return typeof window.axe === 'object' ? window.axe.version : null;"
            ),
            vec![],
        )
        .await
        .expect("inject axe-core");
    assert!(
        loaded.is_string(),
        "axe-core did not load into the page: {loaded}"
    );
    let result = client
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
               window.axe.run(document, { resultTypes: ['violations'] })
                 .then(r => done({ ok: r.violations.map(v => ({
                     id: v.id, impact: v.impact || '', help: v.help, helpUrl: v.helpUrl,
                     nodes: v.nodes.map(n => ({ target: n.target, failureSummary: n.failureSummary || '' })),
                 })) }))
                 .catch(e => done({ error: String(e) }));"#,
            vec![],
        )
        .await
        .expect("run axe-core");
    if let Some(err) = result.get("error") {
        panic!("axe-core failed on the page: {err}");
    }
    let all: Vec<Violation> =
        serde_json::from_value(result["ok"].clone()).expect("axe-core's violations");
    all.into_iter()
        .filter(|v| v.impact == "serious" || v.impact == "critical")
        .collect()
}

/// Assert axe-core finds no serious or critical violation on the current page;
/// the failure lists each with its rule, help and elements.
pub async fn assert_accessible(client: &Client, page: &str) {
    let violations = run_axe(client).await;
    if !violations.is_empty() {
        let text: String = violations.iter().map(|v| v.to_string()).collect();
        panic!(
            "axe-core: {} serious/critical violation(s) on {page}:\n{text}",
            violations.len()
        );
    }
}

/// Save a PNG of the current viewport at `path` (directories created).
pub async fn screenshot(client: &Client, path: &Path) {
    let png = client.screenshot().await.expect("take a screenshot");
    assert!(png.starts_with(b"\x89PNG"), "the screenshot is not a PNG");
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("create the screenshot directory");
    }
    std::fs::write(path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Whether this run writes screenshots (`INTERVENE_SCREENSHOTS=1`).
pub fn screenshots_wanted() -> bool {
    std::env::var("INTERVENE_SCREENSHOTS").is_ok_and(|v| v == "1")
}

/// `docs/screenshots/` in the repository.
pub fn screenshot_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots")
}

/// When [`screenshots_wanted`], save the current page as `<name>-desktop.png`
/// (1280x900) and `<name>-360.png` (360x800) under `docs/screenshots/`, and leave
/// the window at desktop size.
pub async fn page_screenshots(client: &Client, name: &str) {
    if !screenshots_wanted() {
        return;
    }
    let dir = screenshot_dir();
    for ((w, h), suffix) in [(DESKTOP, "desktop"), (MOBILE, "360")] {
        client
            .set_window_size(w, h)
            .await
            .expect("resize the window");
        // Let the layout settle at the new width.
        tokio::time::sleep(Duration::from_millis(200)).await;
        screenshot(client, &dir.join(format!("{name}-{suffix}.png"))).await;
    }
    client
        .set_window_size(DESKTOP.0, DESKTOP.1)
        .await
        .expect("back to desktop size");
}

/// Percent-encode one URL path segment (everything but ASCII letters, digits and
/// `-._~`).
pub fn path_segment(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
