//! The record of every rule-set version that was ever active: its files and each
//! activation (when, by whom, how), kept by version in the versions tree.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::audit::{EntryKind, Store};
use crate::rules::RuleSet;

use super::error::LifecycleError;

/// The tree holding each stored version, by version.
pub const VERSIONS_TREE: &str = "ruleset_versions";

/// How a rule set became active.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = ActivationHow)]
pub enum How {
    /// Loaded when the server started.
    Startup,
    /// Re-read from the rules directory (`POST /v1/rules/reload` or the file watcher).
    Reload,
    /// Published through the API.
    Publish,
    /// A stored version made active again.
    Rollback,
}

impl How {
    /// The name in stored activations and audit payloads.
    pub fn as_str(self) -> &'static str {
        match self {
            How::Startup => "startup",
            How::Reload => "reload",
            How::Publish => "publish",
            How::Rollback => "rollback",
        }
    }

    /// The past tense that names the audit entry of an activation
    /// (`ruleset.<past>`).
    pub fn past(self) -> EntryKind {
        match self {
            How::Publish => EntryKind::RulesetPublished,
            How::Rollback => EntryKind::RulesetRolledBack,
            How::Startup | How::Reload => EntryKind::RulesetReloaded,
        }
    }
}

impl std::fmt::Display for How {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored version: its files and when it was activated, by whom.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StoredVersion {
    pub version: String,
    /// Each activation of this version: (when, who, how).
    pub activations: Vec<Activation>,
    pub files: BTreeMap<String, String>,
}

/// One activation of a stored version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Activation {
    pub at: String,
    pub actor: String,
    pub how: How,
}

/// Most recently activated first.
fn by_last_activation(all: &mut [StoredVersion]) {
    all.sort_by(|a, b| {
        b.activations
            .last()
            .map(|x| &x.at)
            .cmp(&a.activations.last().map(|x| &x.at))
    });
}

/// The most recently activated stored version that still loads, for starting when
/// the rules directory is broken.
pub fn last_active(store: &Store) -> Option<RuleSet> {
    let tree = store.db().open_tree(VERSIONS_TREE).ok()?;
    let mut all: Vec<StoredVersion> = tree
        .iter()
        .values()
        .filter_map(|v| v.ok())
        .filter_map(|b| serde_json::from_slice(&b).ok())
        .collect();
    by_last_activation(&mut all);
    all.into_iter()
        .find_map(|v| RuleSet::from_files(v.files).ok())
}

/// Every stored version of the versions tree, most recently activated first.
pub(super) fn all_in(tree: &sled::Tree) -> Result<Vec<StoredVersion>, LifecycleError> {
    let mut all = Vec::new();
    for item in tree.iter().values() {
        all.push(serde_json::from_slice::<StoredVersion>(&item?)?);
    }
    by_last_activation(&mut all);
    Ok(all)
}

/// A stored version of the versions tree.
pub(super) fn stored_in(
    tree: &sled::Tree,
    version: &str,
) -> Result<Option<StoredVersion>, LifecycleError> {
    match tree.get(version.as_bytes())? {
        None => Ok(None),
        Some(b) => Ok(Some(serde_json::from_slice(&b)?)),
    }
}

/// Store `rs` by version in the versions tree with one more activation.
pub(super) fn remember_in(
    tree: &sled::Tree,
    rs: &RuleSet,
    actor: &str,
    how: How,
) -> Result<(), LifecycleError> {
    let mut stored = stored_in(tree, &rs.version)?.unwrap_or_else(|| StoredVersion {
        version: rs.version.clone(),
        activations: Vec::new(),
        files: rs.files.clone(),
    });
    stored.activations.push(Activation {
        at: crate::audit::now(),
        actor: actor.to_string(),
        how,
    });
    tree.insert(rs.version.as_bytes(), serde_json::to_vec(&stored)?)?;
    Ok(())
}
