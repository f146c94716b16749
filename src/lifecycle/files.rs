//! Writing a rule set into its directory: atomically, and never through a symbolic
//! link.
//!
//! Each file is written to a fresh temp file beside its target (created with
//! `O_EXCL`, so an existing name or link is never opened), fsynced and renamed over
//! the target (a rename replaces a link itself, it never writes into its target),
//! and the folder is fsynced. A `lib` or `tests` folder that is itself a symbolic
//! link is refused before anything is written: writing or removing through it could
//! change files outside the rules directory.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::error::LifecycleError;

/// The folder a rule-set file `name` lives in: the rules directory, or its `lib` or
/// `tests` folder when that is a real folder (created when missing).
fn folder(dir: &Path, name: &str) -> Result<PathBuf, LifecycleError> {
    if !crate::rules::is_rule_set_file(name) {
        return Err(LifecycleError::BadRequest(format!(
            "`{}` is not a rule-set file name",
            name.escape_debug()
        )));
    }
    let Some((sub, _)) = name.split_once('/') else {
        return Ok(dir.to_path_buf());
    };
    let path = dir.join(sub);
    match path.symlink_metadata() {
        Ok(m) if m.is_symlink() => Err(LifecycleError::UnsafeDirectory(format!(
            "the rules directory's `{sub}` is a symbolic link; the service never writes through one (make `{sub}` a folder inside the rules directory)"
        ))),
        Ok(m) if m.is_dir() => Ok(path),
        Ok(_) => Err(LifecycleError::UnsafeDirectory(format!(
            "the rules directory's `{sub}` is not a folder"
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir(&path)?;
            Ok(path)
        }
        Err(e) => Err(e.into()),
    }
}

/// Write one file so that a reader sees the old or the new content, never a part:
/// a temp file in the same folder, fsync, rename over, fsync the folder.
pub fn write_atomically(dir: &Path, name: &str, text: &str) -> Result<(), LifecycleError> {
    let parent = folder(dir, name)?;
    let file_name = name.rsplit('/').next().unwrap_or(name);
    // A short temp name (not derived from `name`): hidden, so the watcher and the
    // loader skip it, and never too long for the file system.
    let tmp = parent.join(format!(".intervene-{}.tmp", ulid::Ulid::generate()));
    let written = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, parent.join(file_name))
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e.into());
    }
    std::fs::File::open(&parent)?.sync_all()?;
    Ok(())
}

/// What is on disk under `name`, when it is a regular file (a link is never read).
fn on_disk(dir: &Path, name: &str) -> Option<String> {
    let path = dir.join(name);
    let meta = path.symlink_metadata().ok()?;
    let parent_is_link = name
        .split_once('/')
        .is_some_and(|(sub, _)| dir.join(sub).is_symlink());
    (meta.is_file() && !parent_is_link)
        .then(|| std::fs::read_to_string(&path).ok())
        .flatten()
}

/// Make the directory hold exactly `new`: write changed files, remove files that
/// `old` had and `new` has not. Every name is checked before anything is written,
/// so a refused folder leaves the directory as it was.
pub(super) fn write_all(
    dir: &Path,
    old: &BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
) -> Result<(), LifecycleError> {
    // Compare with what is on disk, not with the active set: a file broken on disk
    // (and refused by the watcher) must be rewritten even when the active set has it.
    let writes: Vec<(&String, &String)> = new
        .iter()
        .filter(|(name, text)| on_disk(dir, name).as_ref() != Some(*text))
        .collect();
    let listed = crate::rules::RuleSet::file_names(dir);
    let mut removals: Vec<&String> = old
        .keys()
        .chain(listed.iter())
        .filter(|n| !new.contains_key(*n))
        .collect();
    removals.sort();
    removals.dedup();
    for name in writes
        .iter()
        .map(|(n, _)| *n)
        .chain(removals.iter().copied())
    {
        folder(dir, name)?;
    }
    for (name, text) in writes {
        write_atomically(dir, name, text)?;
    }
    for name in removals {
        match std::fs::remove_file(dir.join(name)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
    }
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}
