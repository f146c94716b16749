//! The rules directory and the names and versions clients send (issue 10): a
//! symbolic link out of the directory is refused by name on reload and is never
//! written through on publish or rollback; `/readyz` counts a failed reload's
//! problems without showing them; rule-file names the file system or the directory
//! cannot take are a 400; a version is accepted bare or quoted as the ETag wherever
//! it is compared; and a stalled rule store never freezes the async runtime.
//!
//! Every server here runs on a COPY of the repository's `rules/` in a temp dir.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};
use tempfile::TempDir;

use crate::helpers::{
    ADMIN_KEY, COUNSELOR_KEY, TestApp, all_keys, assert_problem, copy_dir, copy_rules, header,
    json_ok, rules_dir, spawn_app_with,
};

/// A line only the file outside the rules directory holds.
const SECRET: &str = "hunter2-outside-the-rules-dir";

/// The server with one key per role on a copy of the rules (no watcher: each test
/// reloads when it means to).
async fn spawn_on_copy() -> (TestApp, TempDir) {
    let rules = copy_rules();
    let path = rules.path().to_path_buf();
    let app = spawn_app_with(all_keys(), move |s| {
        s.rules = path;
        s.watch_rules = false;
    })
    .await;
    (app, rules)
}

/// A folder outside the rules directory holding a "rule pack" whose only line is a
/// secret (an unknown key, so a loader that reads it echoes the line).
fn outside_with_secret() -> TempDir {
    let dir = tempfile::tempdir().expect("tempdir outside the rules");
    std::fs::write(dir.path().join("secret.yaml"), format!("{SECRET}: 1\n")).expect("write");
    dir
}

fn symlink(target: &Path, link: &Path) {
    std::os::unix::fs::symlink(target, link)
        .unwrap_or_else(|e| panic!("symlink {} -> {}: {e}", link.display(), target.display()));
}

async fn active_version(app: &TestApp) -> String {
    json_ok(app.get_as("/v1/rules", Some(COUNSELOR_KEY)).await).await["version"]
        .as_str()
        .expect("version")
        .to_string()
}

async fn readyz(app: &TestApp) -> Value {
    json_ok(app.get_as("/readyz", None).await).await
}

/// A valid new rule pack that no rule test reaches.
const PILOT_PACK: &str = "description: Pilot rule for a grade-slipping watch list.
rules:
  - id: gpa-slipping
    name: GPA slipping
    domain: academic
    tier: 1
    when: student.gpa > 2.1 && student.gpa < 2.9
    explain: \"GPA is {student.gpa:.2} (watch list between 2.1 and 2.9)\"
    recommend: [core-instruction]
";

// ------------------------------------------------------------------- symbolic links

/// A rule file linked to a file outside the directory: the reload is refused with a
/// diagnostic naming the link, the target's lines appear nowhere (the answer, the
/// audit log, `/readyz`), and `/readyz` says only that the last reload failed and how
/// many problems it found.
#[tokio::test]
async fn a_symlink_out_of_the_rules_directory_is_refused_and_its_target_never_echoed() {
    let (app, rules) = spawn_on_copy().await;
    let outside = outside_with_secret();
    let v0 = active_version(&app).await;
    symlink(
        &outside.path().join("secret.yaml"),
        &rules.path().join("leak.yaml"),
    );

    let resp = app
        .post_raw_as("/v1/rules/reload", "", "", Some(COUNSELOR_KEY))
        .await;
    let text = resp.text().await.expect("body");
    assert!(
        !text.contains(SECRET),
        "the reload echoes the target: {text}"
    );
    let problem: Value = serde_json::from_str(&text).expect("problem json");
    assert_eq!(problem["status"], 422, "{problem}");
    let errors = problem["errors"].as_array().expect("errors");
    assert!(
        errors.iter().any(|d| d["file"] == "leak.yaml"
            && d["message"]
                .as_str()
                .is_some_and(|m| m.contains("symbolic link") && m.contains("outside"))),
        "no diagnostic names the link: {problem}"
    );

    let ready = readyz(&app).await;
    let last = &ready["last_reload"];
    assert_eq!(last["ok"], false, "{ready}");
    assert_eq!(last["message"], "last reload failed", "{ready}");
    assert_eq!(last["problems"], 1, "{ready}");
    assert_eq!(ready["ruleset_version"], v0.as_str(), "{ready}");
    assert!(!ready.to_string().contains("leak.yaml"), "{ready}");

    let log: Vec<String> = app.log_entries().iter().map(Value::to_string).collect();
    assert!(
        log.iter().any(|e| e.contains("ruleset.rejected")),
        "the refusal is audited"
    );
    assert!(
        !log.iter().any(|e| e.contains(SECRET)),
        "the audit log keeps the target's lines"
    );
}

/// `/readyz` needs no key: after a reload that fails on an ordinary broken file it
/// shows the count of problems, never the diagnostics (file, line, message, source).
#[tokio::test]
async fn readyz_counts_a_failed_reloads_problems_without_showing_them() {
    let (app, rules) = spawn_on_copy().await;
    std::fs::write(
        rules.path().join("pilot.yaml"),
        PILOT_PACK.replace("student.gpa > 2.1", "student.gpaa > 2.1 && student.gpb > 0"),
    )
    .expect("write a broken pack");
    let resp = app
        .post_raw_as("/v1/rules/reload", "", "", Some(COUNSELOR_KEY))
        .await;
    let problem = assert_problem(resp, 422, &["pilot.yaml"]).await;
    let errors = problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter(|d| d["severity"] == "error")
        .count();
    let ready = readyz(&app).await;
    assert_eq!(ready["last_reload"]["problems"], errors as u64, "{ready}");
    assert_eq!(ready["last_reload"]["message"], "last reload failed");
    for leak in ["pilot.yaml", "gpaa", "unknown record field"] {
        assert!(!ready.to_string().contains(leak), "`{leak}` in {ready}");
    }
}

/// A `lib` folder that is a link to a folder outside the directory: publishing a
/// `lib/` file is refused (409, audited) and nothing is written outside; a rule file
/// that is itself such a link is replaced by a real file, its target untouched.
#[tokio::test]
async fn a_publish_never_writes_through_a_symlink_out_of_the_directory() {
    let (app, rules) = spawn_on_copy().await;
    let v0 = active_version(&app).await;
    let outside = tempfile::tempdir().expect("outside");
    let lib_outside = outside.path().join("lib");
    copy_dir(&rules_dir().join("lib"), &lib_outside);
    std::fs::remove_dir_all(rules.path().join("lib")).expect("remove lib");
    symlink(&lib_outside, &rules.path().join("lib"));

    let resp = app
        .post_json_as(
            "/v1/rules/publish",
            &json!({"base_version": v0, "files": {"lib/extra.rhai": "fn extra(x) { x + 1 }\n"}}),
            Some(COUNSELOR_KEY),
        )
        .await;
    assert_problem(resp, 409, &["`lib`", "symbolic link"]).await;
    assert!(
        !lib_outside.join("extra.rhai").exists(),
        "the publish wrote through the link into {}",
        lib_outside.display()
    );
    assert_eq!(active_version(&app).await, v0);
    let rejected = app.kinds_in_log();
    assert_eq!(
        rejected.last().map(String::as_str),
        Some("ruleset.rejected")
    );

    // A rule file linked outside: the publish replaces the link, never its target.
    std::fs::remove_file(rules.path().join("lib")).expect("unlink lib");
    copy_dir(&rules_dir().join("lib"), &rules.path().join("lib"));
    let outside_params = outside.path().join("params.yaml");
    std::fs::copy(rules_dir().join("params.yaml"), &outside_params).expect("copy params");
    std::fs::remove_file(rules.path().join("params.yaml")).expect("remove params");
    symlink(&outside_params, &rules.path().join("params.yaml"));
    let resp = app
        .post_json_as(
            "/v1/rules/publish",
            &json!({"base_version": v0, "files": {"pilot.yaml": PILOT_PACK}}),
            Some(COUNSELOR_KEY),
        )
        .await;
    json_ok(resp).await;
    let meta = std::fs::symlink_metadata(rules.path().join("params.yaml")).expect("params");
    assert!(meta.is_file(), "params.yaml is still a link");
    assert_eq!(
        std::fs::read_to_string(&outside_params).expect("read"),
        std::fs::read_to_string(rules_dir().join("params.yaml")).expect("read"),
        "the file outside changed"
    );
}

/// A rollback when `tests` links outside the directory is refused before anything
/// is written or removed there.
#[tokio::test]
async fn a_rollback_never_writes_through_a_symlink_out_of_the_directory() {
    let (app, rules) = spawn_on_copy().await;
    let v0 = active_version(&app).await;
    let resp = app
        .post_json_as(
            "/v1/rules/publish",
            &json!({"base_version": v0, "files": {"pilot.yaml": PILOT_PACK}}),
            Some(COUNSELOR_KEY),
        )
        .await;
    json_ok(resp).await;
    let outside = tempfile::tempdir().expect("outside");
    let tests_outside = outside.path().join("tests");
    copy_dir(&rules.path().join("tests"), &tests_outside);
    std::fs::write(tests_outside.join("extra.yaml"), "cases: []\n").expect("write");
    std::fs::remove_dir_all(rules.path().join("tests")).expect("remove tests");
    symlink(&tests_outside, &rules.path().join("tests"));

    let resp = app
        .post_raw_as(&format!("/v1/rules/rollback/{v0}"), "", "", Some(ADMIN_KEY))
        .await;
    assert_problem(resp, 409, &["`tests`", "symbolic link"]).await;
    assert!(
        tests_outside.join("extra.yaml").exists(),
        "the rollback removed a file through the link"
    );
    assert!(rules.path().join("pilot.yaml").exists());
}

// ------------------------------------------------------------------------ file names

async fn put_file(app: &TestApp, name: &str, text: &str, if_match: &str) -> reqwest::Response {
    app.client
        .put(app.url(&format!("/v1/rules/files/{name}")))
        .header("content-type", "application/yaml")
        .header("if-match", if_match)
        .bearer_auth(COUNSELOR_KEY)
        .body(text.to_string())
        .send()
        .await
        .expect("PUT request")
}

/// A valid rule pack under a name longer than the file system takes was a 500 (the
/// temp file name was too long): it is a 400 naming the limit, through `PUT` and
/// through publish's `files`, and nothing is written.
#[tokio::test]
async fn a_rule_file_name_over_the_file_system_limit_is_a_400_not_a_500() {
    let (app, rules) = spawn_on_copy().await;
    let v0 = active_version(&app).await;
    let long = format!("{}.yaml", "a".repeat(250));
    let resp = put_file(&app, &long, PILOT_PACK, &format!("\"{v0}\"")).await;
    assert_problem(resp, 400, &["file name", "aaaa", "the limit is 100"]).await;
    let resp = app
        .post_json_as(
            "/v1/rules/publish",
            &json!({"base_version": v0, "files": {long.clone(): PILOT_PACK}}),
            Some(COUNSELOR_KEY),
        )
        .await;
    assert_problem(resp, 400, &["the limit is 100"]).await;
    assert_eq!(active_version(&app).await, v0);
    let names: Vec<String> = std::fs::read_dir(rules.path())
        .expect("read rules")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().all(|n| n.len() < 100),
        "a long name was written: {names:?}"
    );
    // The longest name allowed still publishes.
    let longest = format!("{}.yaml", "b".repeat(95));
    let resp = put_file(&app, &longest, PILOT_PACK, &format!("\"{v0}\"")).await;
    json_ok(resp).await;
    assert!(rules.path().join(&longest).is_file());
}

/// Other names the directory cannot take are each a 400 naming the problem, through
/// `PUT` and through a candidate's `files`.
#[tokio::test]
async fn bad_rule_file_names_are_a_400_naming_the_problem() {
    let (app, _rules) = spawn_on_copy().await;
    let v0 = active_version(&app).await;
    for (name, sent, needle) in [
        ("../x.yaml", "..%2Fx.yaml", "`..`"),
        ("lib/../x.rhai", "lib%2F..%2Fx.rhai", "`..`"),
        ("a\0b.yaml", "a%00b.yaml", "\\0"),
        ("a\\b.yaml", "a%5Cb.yaml", "holds"),
        (".hidden.yaml", ".hidden.yaml", "hidden"),
        ("tests/.x.yaml", "tests/.x.yaml", "hidden"),
        ("notes.txt", "notes.txt", "not a rule-set file name"),
        ("other/x.yaml", "other/x.yaml", "not a rule-set file name"),
    ] {
        // Through a path the name may arrive still percent-encoded (`%2F`): either
        // way a 400 about the file name.
        let resp = put_file(&app, sent, PILOT_PACK, &format!("\"{v0}\"")).await;
        assert_problem(resp, 400, &["file name"]).await;
        let resp = app
            .post_json_as(
                "/v1/rules/check",
                &json!({"base_version": v0, "files": {name: PILOT_PACK}}),
                Some(COUNSELOR_KEY),
            )
            .await;
        assert_problem(resp, 400, &[needle]).await;
    }
    assert_eq!(active_version(&app).await, v0);
}

// -------------------------------------------------------------------------- versions

/// `GET /v1/rules` gives the version quoted in its `ETag`; a client passing that ETag
/// as `base_version`, or the bare version in `If-Match` or a path, is understood the
/// same everywhere (it used to be a 412 for a quoted `base_version`). Weak tags, `*`
/// and anything else are a 400 naming the field.
#[tokio::test]
async fn the_etag_is_accepted_quoted_or_bare_wherever_a_version_is_compared() {
    let (app, _rules) = spawn_on_copy().await;
    let resp = app.get_as("/v1/rules", Some(COUNSELOR_KEY)).await;
    let etag = header(&resp, "etag");
    let v0 = json_ok(resp).await["version"]
        .as_str()
        .expect("version")
        .to_string();
    assert_eq!(etag, format!("\"{v0}\""));

    let check = |base: String| {
        let app = &app;
        async move {
            app.post_json_as(
                "/v1/rules/check",
                &json!({"base_version": base, "files": {"pilot.yaml": PILOT_PACK}}),
                Some(COUNSELOR_KEY),
            )
            .await
        }
    };
    json_ok(check(etag.clone()).await).await;
    json_ok(check(v0.clone()).await).await;

    // Publish with the ETag as base_version, then PUT with the bare version.
    let resp = app
        .post_json_as(
            "/v1/rules/publish",
            &json!({"base_version": etag, "files": {"pilot.yaml": PILOT_PACK}}),
            Some(COUNSELOR_KEY),
        )
        .await;
    let v1 = json_ok(resp).await["version"]
        .as_str()
        .expect("v1")
        .to_string();
    let resp = put_file(
        &app,
        "pilot2.yaml",
        &PILOT_PACK.replace("gpa-slipping", "gpa-slipping-2"),
        &v1,
    )
    .await;
    let v2 = json_ok(resp).await["version"]
        .as_str()
        .expect("v2")
        .to_string();

    // Paths: a stored version, quoted (percent-encoded quotes) or bare.
    let quoted = format!("%22{v1}%22");
    let stored = json_ok(app.get(&format!("/v1/rules/versions/{quoted}")).await).await;
    assert_eq!(stored["version"], v1.as_str());
    json_ok(app.get(&format!("/v1/rules/versions/{v1}")).await).await;
    let resp = app
        .post_raw_as(
            &format!("/v1/rules/rollback/{quoted}"),
            "",
            "",
            Some(ADMIN_KEY),
        )
        .await;
    assert_eq!(json_ok(resp).await["previous"], v2.as_str());
    assert_eq!(active_version(&app).await, v1);

    // Refused forms, each naming the field.
    for (bad, field) in [
        (format!("W/\"{v1}\""), "`base_version`"),
        ("*".to_string(), "`base_version`"),
        ("sha256:abc".to_string(), "`base_version`"),
    ] {
        assert_problem(check(bad).await, 400, &[field]).await;
    }
    let resp = put_file(&app, "pilot3.yaml", PILOT_PACK, &format!("W/\"{v1}\"")).await;
    assert_problem(resp, 400, &["`If-Match`", "weak"]).await;
    let resp = put_file(&app, "pilot3.yaml", PILOT_PACK, "*").await;
    assert_problem(resp, 400, &["`If-Match`"]).await;
    let resp = app.get("/v1/rules/versions/latest").await;
    assert_problem(resp, 400, &["version", "`latest`"]).await;
    // A well-formed version never active here is still a 404.
    let unknown = format!("sha256:{}", "0".repeat(64));
    let resp = app.get(&format!("/v1/rules/versions/{unknown}")).await;
    assert_problem(resp, 404, &["never active"]).await;
}

// ----------------------------------------------------------------- blocking work

/// Holds every sled operation of this process (a transaction takes sled's global
/// write lock) until released or `at_most` has passed, whichever comes first; says
/// whether `alive` arrived while it held.
struct Stall {
    release: mpsc::Sender<()>,
    held: std::thread::JoinHandle<bool>,
}

impl Stall {
    fn start(db: sled::Db, alive: mpsc::Receiver<()>, at_most: Duration) -> Stall {
        let (release, released) = mpsc::channel::<()>();
        let (started, is_started) = mpsc::channel::<()>();
        let held = std::thread::spawn(move || {
            let tree = db.open_tree("test-stall").expect("stall tree");
            tree.transaction(|_| {
                let _ = started.send(());
                let answered = alive.recv_timeout(at_most).is_ok();
                let _ = released.recv_timeout(Duration::from_millis(10));
                Ok::<_, sled::transaction::ConflictableTransactionError<()>>(answered)
            })
            .expect("the stall transaction")
        });
        is_started
            .recv_timeout(Duration::from_secs(10))
            .expect("the stall started");
        Stall { release, held }
    }

    /// Release the store; whether the runtime answered while it was held.
    fn finish(self) -> bool {
        let _ = self.release.send(());
        self.held.join().expect("the stall thread")
    }
}

/// A rollback and a publish each read and write the rule store (`lifecycle::swap`
/// among others). With the store stalled, the runtime that runs them must keep
/// running other tasks: the store work belongs on the blocking pool, not on an
/// async worker (one disk stall used to freeze the worker for its whole length).
#[tokio::test]
async fn a_stalled_rule_store_does_not_freeze_the_async_workers() {
    let (app, _rules) = spawn_on_copy().await;
    let v0 = active_version(&app).await;
    let registry = app.state.registry.clone();
    let resp = app
        .post_json_as(
            "/v1/rules/publish",
            &json!({"base_version": v0, "files": {"pilot.yaml": PILOT_PACK}}),
            Some(COUNSELOR_KEY),
        )
        .await;
    json_ok(resp).await;

    for what in ["rollback", "publish"] {
        let (alive_tx, alive_rx) = mpsc::channel::<()>();
        let stall = Stall::start(
            app.state.store.db().clone(),
            alive_rx,
            Duration::from_secs(5),
        );
        let reg = registry.clone();
        let v = v0.clone();
        // This test's runtime has one thread: if the task blocks it, the timer below
        // cannot fire until the stall gives up.
        let task = tokio::spawn(async move {
            match what {
                "rollback" => reg.rollback(&v, "test", "").await.map(|_| ()),
                _ => {
                    let active = reg.active().version.clone();
                    let changes = std::collections::BTreeMap::from([(
                        "pilot.yaml".to_string(),
                        Some(PILOT_PACK.to_string()),
                    )]);
                    reg.publish(&changes, &active, "test", "").await.map(|_| ())
                }
            }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        let _ = alive_tx.send(());
        let answered = stall.finish();
        let done = tokio::time::timeout(Duration::from_secs(60), task)
            .await
            .expect("the task finished once the store was released")
            .expect("the task did not panic");
        assert!(done.is_ok(), "{what}: {done:?}");
        assert!(
            answered,
            "{what}: the async runtime froze while the rule store was stalled"
        );
    }
}
