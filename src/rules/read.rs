//! Stage 1 of loading: reading a rule-set directory into file texts.
//!
//! Lists the rule-set files, refuses symbolic links that leave the directory, and
//! bounds the number and size of the files. Produces the files keyed by relative
//! path, which is what the version covers and what every later stage reads.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::model::LoadError;
use crate::source::Diagnostic;

/// Most files a rule set may hold.
pub const MAX_FILES: usize = 500;
/// Largest file in a rule set, in bytes.
pub const MAX_FILE_BYTES: usize = 1024 * 1024;

/// Whether `rel` (relative to a rule-set directory) names a rule-set file:
/// top-level `*.yaml`/`*.yml`, `lib/*.rhai`, `tests/*.yaml`/`*.yml`; hidden files
/// (editor temp files, `._x.yaml`) are not part of a set.
pub fn is_rule_set_file(rel: &str) -> bool {
    let (dir, file) = match rel.split_once('/') {
        Some((d, f)) => (Some(d), f),
        None => (None, rel),
    };
    let yaml = file.ends_with(".yaml") || file.ends_with(".yml");
    !file.is_empty()
        && !file.starts_with('.')
        && !file.contains('/')
        && match dir {
            None | Some("tests") => yaml,
            Some("lib") => file.ends_with(".rhai"),
            Some(_) => false,
        }
}

/// Why one file of a rule set could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read: {0}")]
    Io(#[from] std::io::Error),
    #[error("file is {len} bytes; the limit is {MAX_FILE_BYTES}")]
    TooBig { len: u64 },
    #[error("file is not valid UTF-8 (byte {})", .0.utf8_error().valid_up_to())]
    NotUtf8(#[from] std::string::FromUtf8Error),
}

/// What the hint of a refused symbolic link says.
const LINK_HINT: &str = "copy the file into the rules directory instead of linking to it";

/// The rule-set files of a directory: what to read, and the entries refused.
struct Listing {
    /// Relative name and the path to read (inside the directory), sorted by name.
    files: Vec<(String, PathBuf)>,
    /// One error per symbolic link that leaves the directory or leads nowhere,
    /// naming the link (its target is never read).
    refused: Vec<Diagnostic>,
}

/// Where a symbolic link at `path` leads, when that is inside `root` (canonical).
fn inside(root: &Path, path: &Path) -> Result<PathBuf, &'static str> {
    match path.canonicalize() {
        Ok(target) if target.starts_with(root) => Ok(target),
        Ok(_) => Err("is a symbolic link to a place outside the rules directory; it is not read"),
        Err(_) => Err("is a symbolic link whose target does not exist; it is not read"),
    }
}

/// The error refusing the link `rel` for reason `why`.
fn refuse(rel: &str, why: &str) -> Diagnostic {
    Diagnostic::error(rel, 0, 0, format!("`{rel}` {why}")).hint(LINK_HINT)
}

/// The rule-set files in `dir`, sorted by name. Symbolic links are followed only when
/// they stay inside the directory: a link to `/etc/passwd` named `x.yaml` (or a `lib`
/// linked to another folder) is refused by name, so its content can never reach a
/// diagnostic, `/readyz` or the audit log.
fn list(dir: &Path) -> Listing {
    let mut out = Listing {
        files: Vec::new(),
        refused: Vec::new(),
    };
    let Ok(root) = dir.canonicalize() else {
        return out;
    };
    for sub in ["", "lib", "tests"] {
        let mut folder = root.join(sub);
        if !sub.is_empty() && folder.symlink_metadata().is_ok_and(|m| m.is_symlink()) {
            match inside(&root, &folder) {
                Ok(target) => folder = target,
                Err(why) => {
                    out.refused.push(refuse(sub, why));
                    continue;
                }
            }
        }
        list_folder(&root, &folder, sub, &mut out);
    }
    out.files.sort();
    out.refused.sort_by(|a, b| a.file.cmp(&b.file));
    out
}

/// Add the rule-set files of `folder` (the set's `sub` folder) to `out`.
fn list_folder(root: &Path, folder: &Path, sub: &str, out: &mut Listing) {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return;
    };
    for entry in entries.filter_map(|e| e.ok()) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = if sub.is_empty() {
            name
        } else {
            format!("{sub}/{name}")
        };
        if !is_rule_set_file(&rel) {
            continue;
        }
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_symlink() {
            match inside(root, &path) {
                Ok(target) if target.is_file() => out.files.push((rel, target)),
                Ok(_) => {}
                Err(why) => out.refused.push(refuse(&rel, why)),
            }
        } else if kind.is_file() {
            out.files.push((rel, path));
        }
    }
}

/// Relative names of the rule-set files in `dir`, refused links included (what
/// [`read_dir`] would read or refuse).
pub fn file_names(dir: &Path) -> Vec<String> {
    let Listing { files, refused } = list(dir);
    let mut names: Vec<String> = files.into_iter().map(|(rel, _)| rel).collect();
    // A refused file link is listed (so a publish can replace it); a refused folder
    // link is not (nothing is ever removed through it).
    names.extend(
        refused
            .into_iter()
            .map(|d| d.file)
            .filter(|f| is_rule_set_file(f)),
    );
    names.sort();
    names.dedup();
    names
}

/// Read the rule-set files of `dir`: top-level `*.yaml`, `lib/*.rhai`, `tests/*.yaml`.
pub fn read_dir(dir: &Path) -> Result<BTreeMap<String, String>, LoadError> {
    let fail = |msg: String| LoadError {
        diagnostics: vec![Diagnostic::error(&dir.display().to_string(), 0, 0, msg)],
    };
    if !dir.is_dir() {
        return Err(fail("rule-set directory not found".into()));
    }
    let Listing {
        files: paths,
        refused: mut diags,
    } = list(dir);
    let mut files = BTreeMap::new();
    for (rel, path) in paths {
        if files.len() >= MAX_FILES {
            return Err(fail(format!("more than {MAX_FILES} files in the rule set")));
        }
        match read_file(&path) {
            Ok(text) => {
                files.insert(rel, text);
            }
            Err(e) => diags.push(Diagnostic::error(&rel, 0, 0, e.to_string())),
        }
    }
    if diags.is_empty() {
        Ok(files)
    } else {
        Err(LoadError { diagnostics: diags })
    }
}

/// The text of one file, at most [`MAX_FILE_BYTES`] (the size is checked on the open
/// file, so a file growing after the check is still bounded).
fn read_file(path: &Path) -> Result<String, ReadError> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    if len > MAX_FILE_BYTES as u64 {
        return Err(ReadError::TooBig { len });
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(MAX_FILE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() > MAX_FILE_BYTES {
        return Err(ReadError::TooBig {
            len: bytes.len() as u64,
        });
    }
    Ok(String::from_utf8(bytes)?)
}
