//! The rule-set lifecycle: which version is active, how a new one becomes active
//! (reload from the directory, publish through the API, rollback), and the record of
//! every version that was ever active.
//!
//! Every path to activation goes through one gate ([`Registry::activate`]): the
//! candidate must load without errors and pass its own tests; only then is it stored
//! by version, written to the directory (atomically: temp file, fsync, rename, fsync
//! the directory) when it came from the API, swapped in whole (an `ArcSwap`, so
//! readers never block and never see half a rule set), and audited. Activations are
//! serialised by one lock, so concurrent edits are checked against the version they
//! were based on and the loser gets a conflict rather than a silent overwrite.

mod error;
mod files;
mod history;
mod names;
mod preview;
mod replay;
mod watch;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use serde::Serialize;
use serde_json::json;

pub use error::LifecycleError;
pub use files::write_atomically;
pub use history::{Activation, How, StoredVersion, VERSIONS_TREE, last_active};
pub use names::{
    FILE_NAME_PATTERN, MAX_FILE_NAME_LEN, VERSION_PATTERN, check_file_name, parse_version,
};
pub use preview::{
    By, GroupPreview, GroupRule, PREVIEW_BOUND, PreviewReport, RuleImpact, TierImpact, preview,
    preview_grouped, preview_until,
};
pub use replay::{Difference, ReplayReport, replay};
pub use watch::watch;

use crate::audit::{EntryKind, NewEntry, Store};
use crate::engine::Evaluator;
use crate::rules::{Diagnostic, RuleSet};
use crate::ruletest;

/// The outcome of the last reload attempt (shown by `/readyz`, which needs no key:
/// so it says how many problems a failed reload found, never what they are; the
/// diagnostics are in the reload's answer, the server log and the audit log).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ReloadStatus {
    pub at: String,
    pub ok: bool,
    pub version: Option<String>,
    /// `activated`, `unchanged` or `last reload failed`.
    pub message: String,
    /// Errors and failing rule tests found by a failed reload; 0 after a good one.
    pub problems: usize,
}

impl ReloadStatus {
    fn succeeded(version: &str, message: &str) -> ReloadStatus {
        ReloadStatus {
            at: crate::audit::now(),
            ok: true,
            version: Some(version.to_string()),
            message: message.into(),
            problems: 0,
        }
    }

    fn failed(problems: usize) -> ReloadStatus {
        ReloadStatus {
            at: crate::audit::now(),
            ok: false,
            version: None,
            message: "last reload failed".into(),
            problems,
        }
    }
}

/// The active rule set and its history.
pub struct Registry {
    active: ArcSwap<RuleSet>,
    dir: PathBuf,
    versions: sled::Tree,
    audit: Store,
    evaluator: Arc<Evaluator>,
    /// Serialises activations.
    gate: tokio::sync::Mutex<()>,
    last_reload: Mutex<Option<ReloadStatus>>,
    /// Compiled past versions, for replay.
    compiled: Mutex<HashMap<String, Arc<RuleSet>>>,
}

/// Run blocking work (sled, files, loading and testing rules) on the blocking pool,
/// so a slow disk or a slow rule test never holds an async worker.
async fn blocking<T, F>(f: F) -> Result<T, LifecycleError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    Ok(crate::blocking::run(f).await?)
}

/// The errors among `diagnostics` (what a failed reload counts).
fn errors(diagnostics: &[Diagnostic]) -> usize {
    diagnostics.iter().filter(|d| d.is_error()).count()
}

/// `rs` if its own tests pass; otherwise the failures as diagnostics.
pub fn tested(rs: RuleSet, ev: &Evaluator) -> Result<RuleSet, crate::rules::LoadError> {
    gate(rs, ev).map_err(|e| match e {
        LifecycleError::Rejected { diagnostics, .. } => crate::rules::LoadError { diagnostics },
        other => crate::rules::LoadError {
            diagnostics: vec![Diagnostic::error("", 0, 0, other.to_string())],
        },
    })
}

impl Registry {
    /// Start with `initial` (already checked) as the active set and record it.
    pub fn start(
        initial: RuleSet,
        dir: &Path,
        audit: Store,
        evaluator: Arc<Evaluator>,
    ) -> Result<Registry, LifecycleError> {
        let reg = Self::open(initial, dir, audit, evaluator)?;
        history::remember_in(&reg.versions, &reg.active(), "system", How::Startup)?;
        Ok(reg)
    }

    /// `initial` as the active set without recording an activation (a one-off
    /// command such as `intervene import`, which activates nothing).
    pub fn open(
        initial: RuleSet,
        dir: &Path,
        audit: Store,
        evaluator: Arc<Evaluator>,
    ) -> Result<Registry, LifecycleError> {
        let versions = audit.db().open_tree(VERSIONS_TREE)?;
        let reg = Registry {
            active: ArcSwap::from_pointee(initial),
            dir: dir.to_path_buf(),
            versions,
            audit,
            evaluator,
            gate: tokio::sync::Mutex::new(()),
            last_reload: Mutex::new(None),
            compiled: Mutex::new(HashMap::new()),
        };
        Ok(reg)
    }

    /// The active rule set (a cheap pointer copy; never blocks).
    pub fn active(&self) -> Arc<RuleSet> {
        self.active.load_full()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn last_reload(&self) -> Option<ReloadStatus> {
        self.last_reload.lock().ok().and_then(|g| g.clone())
    }

    /// Record a failed load that happened outside [`Registry::reload`] (at startup).
    pub fn note_failed_reload(&self, error: &crate::rules::LoadError) {
        self.set_last_reload(ReloadStatus::failed(errors(&error.diagnostics)));
    }

    fn set_last_reload(&self, s: ReloadStatus) {
        if let Ok(mut g) = self.last_reload.lock() {
            *g = Some(s);
        }
    }

    /// A stored version (reads the store: call it off the async workers).
    pub fn stored(&self, version: &str) -> Result<Option<StoredVersion>, LifecycleError> {
        history::stored_in(&self.versions, version)
    }

    /// Every stored version, most recently activated first (reads the store: call it
    /// off the async workers).
    pub fn list(&self) -> Result<Vec<StoredVersion>, LifecycleError> {
        history::all_in(&self.versions)
    }

    /// A past version compiled (cached), for replay (may read the store and compile:
    /// call it off the async workers).
    pub fn compiled(&self, version: &str) -> Result<Arc<RuleSet>, LifecycleError> {
        let active = self.active();
        if active.version == version {
            return Ok(active);
        }
        if let Some(rs) = self
            .compiled
            .lock()
            .ok()
            .and_then(|c| c.get(version).cloned())
        {
            return Ok(rs);
        }
        let stored = self
            .stored(version)?
            .ok_or_else(|| LifecycleError::UnknownVersion(version.to_string()))?;
        let rs =
            Arc::new(
                RuleSet::from_files(stored.files).map_err(|e| LifecycleError::Rejected {
                    message: format!("stored version `{version}` no longer loads"),
                    diagnostics: e.diagnostics,
                })?,
            );
        if let Ok(mut c) = self.compiled.lock() {
            c.insert(version.to_string(), rs.clone());
        }
        Ok(rs)
    }

    /// The active files with `changes` applied (`None` removes a file).
    pub fn candidate_files(
        &self,
        changes: &BTreeMap<String, Option<String>>,
    ) -> Result<BTreeMap<String, String>, LifecycleError> {
        let mut files = self.active().files.clone();
        for (name, text) in changes {
            check_file_name(name)?;
            match text {
                Some(t) => files.insert(name.clone(), t.clone()),
                None => files.remove(name),
            };
        }
        Ok(files)
    }

    /// Load `files` and run their tests: the gate every activation passes.
    pub fn check(&self, files: BTreeMap<String, String>) -> Result<RuleSet, LifecycleError> {
        check_with(&self.evaluator, files)
    }

    /// Re-read the directory and activate it when it is clean and different.
    pub async fn reload(
        &self,
        actor: &str,
        request_id: &str,
    ) -> Result<Arc<RuleSet>, LifecycleError> {
        let _gate = self.gate.lock().await;
        let dir = self.dir.clone();
        let active_version = self.active().version.clone();
        let ev = self.evaluator.clone();
        // Load once and run the tests off the async workers; an unchanged directory
        // (the usual event after our own publish) is not tested again.
        let loaded = blocking(move || {
            crate::rules::RuleSet::load_dir(&dir)
                .map(|rs| (rs.version != active_version).then(|| gate(rs, &ev)))
        })
        .await?;
        let result = match loaded {
            Err(e) => Err(directory_rejected(e)),
            Ok(None) => {
                let version = self.active().version.clone();
                self.set_last_reload(ReloadStatus::succeeded(&version, "unchanged"));
                return Ok(self.active());
            }
            Ok(Some(gated)) => gated,
        };
        match result {
            Ok(rs) => {
                let diff = diff_files(&self.active().files, &rs.files);
                let rs = self
                    .swap(rs, actor, How::Reload, request_id, json!({"diff": diff}))
                    .await?;
                self.set_last_reload(ReloadStatus::succeeded(&rs.version, "activated"));
                Ok(rs)
            }
            Err(e) => {
                self.reject(&e, actor, request_id, How::Reload).await?;
                let problems = match &e {
                    LifecycleError::Rejected { diagnostics, .. } => errors(diagnostics),
                    _ => 1,
                };
                self.set_last_reload(ReloadStatus::failed(problems));
                Err(e)
            }
        }
    }

    /// Publish changed files (`None` removes one) made from `based_on`: checked and
    /// tested first, then written to the directory, activated and audited with a diff.
    pub async fn publish(
        &self,
        changes: &BTreeMap<String, Option<String>>,
        based_on: &str,
        actor: &str,
        request_id: &str,
    ) -> Result<Arc<RuleSet>, LifecycleError> {
        let _gate = self.gate.lock().await;
        let active = self.active();
        let files = self.candidate_files(changes)?;
        if based_on != active.version {
            return Err(LifecycleError::Stale {
                based_on: based_on.to_string(),
                active: active.version.clone(),
            });
        }
        let ev = self.evaluator.clone();
        let rs = match blocking(move || check_with(&ev, files)).await? {
            Ok(rs) => rs,
            Err(e) => {
                self.reject(&e, actor, request_id, How::Publish).await?;
                return Err(e);
            }
        };
        // Nothing to activate when the version is the active one, but the directory
        // must hold these files (it may hold a broken edit the watcher refused).
        let unchanged = rs.version == active.version;
        let old = if unchanged {
            rs.files.clone()
        } else {
            active.files.clone()
        };
        self.write(old, rs.files.clone(), actor, request_id, How::Publish)
            .await?;
        if unchanged {
            return Ok(active);
        }
        let diff = diff_files(&active.files, &rs.files);
        let names: Vec<&String> = changes.keys().collect();
        self.swap(
            rs,
            actor,
            How::Publish,
            request_id,
            json!({"files_changed": names, "based_on": based_on, "diff": diff}),
        )
        .await
    }

    /// Re-activate a stored version and write its files back to the directory.
    pub async fn rollback(
        &self,
        version: &str,
        actor: &str,
        request_id: &str,
    ) -> Result<Arc<RuleSet>, LifecycleError> {
        let _gate = self.gate.lock().await;
        let (tree, v) = (self.versions.clone(), version.to_string());
        let stored = blocking(move || history::stored_in(&tree, &v))
            .await??
            .ok_or_else(|| LifecycleError::UnknownVersion(version.to_string()))?;
        let active = self.active();
        let ev = self.evaluator.clone();
        let rs = blocking(move || check_with(&ev, stored.files)).await??;
        self.write(
            active.files.clone(),
            rs.files.clone(),
            actor,
            request_id,
            How::Rollback,
        )
        .await?;
        let diff = diff_files(&active.files, &rs.files);
        self.swap(
            rs,
            actor,
            How::Rollback,
            request_id,
            json!({"from": active.version, "diff": diff}),
        )
        .await
    }

    /// Make the directory hold `new` (off the async workers); a refused write (a
    /// symbolic link in the way) is audited as a rejection.
    async fn write(
        &self,
        old: BTreeMap<String, String>,
        new: BTreeMap<String, String>,
        actor: &str,
        request_id: &str,
        how: How,
    ) -> Result<(), LifecycleError> {
        let dir = self.dir.clone();
        let written = blocking(move || files::write_all(&dir, &old, &new)).await?;
        if let Err(e @ LifecycleError::UnsafeDirectory(_)) = &written {
            self.reject(e, actor, request_id, how).await?;
        }
        written
    }

    /// Store `rs` with one more activation, audit it, then swap it in: the store
    /// work runs off the async workers, and nobody sees the set before its entry is
    /// durable.
    async fn swap(
        &self,
        rs: RuleSet,
        actor: &str,
        how: How,
        request_id: &str,
        extra: serde_json::Value,
    ) -> Result<Arc<RuleSet>, LifecycleError> {
        let previous = self.active().version.clone();
        let (tree, who) = (self.versions.clone(), actor.to_string());
        let rs =
            blocking(move || history::remember_in(&tree, &rs, &who, how).map(|()| rs)).await??;
        let rs = Arc::new(rs);
        let mut payload = json!({"version": rs.version, "previous": previous, "how": how, "files": rs.files.keys().collect::<Vec<_>>()});
        if let (Some(p), serde_json::Value::Object(e)) = (payload.as_object_mut(), extra) {
            p.extend(e);
        }
        // Durable before anyone is told; then swapped in whole.
        self.audit
            .append(NewEntry::new(
                how.past(),
                actor.to_string(),
                request_id.to_string(),
                payload,
            ))
            .await?;
        self.active.store(rs.clone());
        tracing::info!(version = %rs.version, previous = %previous, how = how.as_str(), actor, "rule set activated");
        Ok(rs)
    }

    /// Audit a refused change (errors, failing tests, or a directory it may not be
    /// written to).
    async fn reject(
        &self,
        e: &LifecycleError,
        actor: &str,
        request_id: &str,
        how: How,
    ) -> Result<(), LifecycleError> {
        let (message, diagnostics) = match e {
            LifecycleError::Rejected {
                message,
                diagnostics,
            } => (message.clone(), diagnostics.as_slice()),
            LifecycleError::UnsafeDirectory(message) => (message.clone(), &[][..]),
            _ => return Ok(()),
        };
        tracing::warn!(
            how = how.as_str(),
            actor,
            errors = diagnostics.len(),
            "rule set change rejected: {message}"
        );
        self.audit
            .append(NewEntry::new(EntryKind::RulesetRejected, actor.to_string(), request_id.to_string(), json!({"how": how, "active": self.active().version, "message": message, "diagnostics": diagnostics})))
            .await?;
        Ok(())
    }
}

/// A rules directory that does not load, as a rejection naming its first error.
fn directory_rejected(e: crate::rules::LoadError) -> LifecycleError {
    let first = e
        .diagnostics
        .iter()
        .find(|d| d.is_error())
        .map(|d| {
            format!(
                " (first: {}:{}:{}: {})",
                d.file, d.line, d.column, d.message
            )
        })
        .unwrap_or_default();
    LifecycleError::Rejected {
        message: format!("the rules directory has errors; the active version keeps serving{first}"),
        diagnostics: e.diagnostics,
    }
}

fn check_with(ev: &Evaluator, files: BTreeMap<String, String>) -> Result<RuleSet, LifecycleError> {
    let rs = RuleSet::from_files(files).map_err(|e| LifecycleError::Rejected {
        message: "the rule set has errors; nothing was changed".into(),
        diagnostics: e.diagnostics,
    })?;
    gate(rs, ev)
}

/// Run the set's own tests; failures become diagnostics.
fn gate(rs: RuleSet, ev: &Evaluator) -> Result<RuleSet, LifecycleError> {
    let report = ruletest::run(&rs, ev);
    if report.ok() {
        return Ok(rs);
    }
    let mut diagnostics = report.diagnostics.clone();
    for f in &report.failures {
        let message = format!("rule test `{}` fails: {}", f.name, f.differences.join("; "));
        diagnostics.push(Diagnostic::error(&f.file, f.line, 1, message));
    }
    Err(LifecycleError::Rejected {
        message: format!("{} rule test(s) fail; nothing was changed", report.failed()),
        diagnostics,
    })
}

/// A unified diff of every changed file.
pub fn diff_files(old: &BTreeMap<String, String>, new: &BTreeMap<String, String>) -> String {
    let mut names: Vec<&String> = old.keys().chain(new.keys()).collect();
    names.sort();
    names.dedup();
    let mut out = String::new();
    for name in names {
        let (a, b) = (
            old.get(name).map_or("", String::as_str),
            new.get(name).map_or("", String::as_str),
        );
        if a != b {
            let diff = similar::TextDiff::from_lines(a, b);
            out.push_str(
                &diff
                    .unified_diff()
                    .context_radius(2)
                    .header(&format!("a/{name}"), &format!("b/{name}"))
                    .to_string(),
            );
        }
    }
    out
}
