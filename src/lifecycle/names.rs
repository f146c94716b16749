//! Names clients send to the lifecycle: rule-set file names and version references.
//!
//! Both are checked once, here, before anything reads the store or touches the
//! directory, so every route gives the same answer for the same name: a 400 naming
//! the name and the rule it breaks.

use super::error::LifecycleError;

/// Longest rule-set file name through the API, its folder included
/// (`tests/boundaries.yaml`). Well under any file system's 255-byte limit.
pub const MAX_FILE_NAME_LEN: usize = 100;

/// The form of a rule-set file name through the API (also in the OpenAPI document):
/// `name.yaml` at the top, `lib/name.rhai`, `tests/name.yaml`; letters, digits, `_`,
/// `-` and `.`, not starting with `.`.
pub const FILE_NAME_PATTERN: &str =
    r"^(lib/[A-Za-z0-9_-][A-Za-z0-9_.-]*\.rhai|(tests/)?[A-Za-z0-9_-][A-Za-z0-9_.-]*\.ya?ml)$";

/// The form of a rule-set version as clients may send it (also in the OpenAPI
/// document): bare, or quoted as the `ETag` carries it.
pub const VERSION_PATTERN: &str = r#"^("sha256:[0-9a-f]{64}"|sha256:[0-9a-f]{64})$"#;

/// How a name is shown in an error: control characters escaped, at most 64
/// characters (a 5,000-character name is not echoed whole).
fn shown(name: &str) -> String {
    let mut out: String = name.chars().take(64).flat_map(char::escape_debug).collect();
    if name.chars().count() > 64 {
        out.push('…');
    }
    out
}

/// Check a rule-set file name sent through the API (a `PUT /v1/rules/files/{name}`
/// path, a key of a candidate's `files`).
pub fn check_file_name(name: &str) -> Result<(), LifecycleError> {
    let bad = |why: String| Err(LifecycleError::BadRequest(why));
    let len = name.chars().count();
    if len > MAX_FILE_NAME_LEN {
        return bad(format!(
            "file name `{}` is {len} characters long; the limit is {MAX_FILE_NAME_LEN}",
            shown(name)
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/')))
    {
        return bad(format!(
            "file name `{}` holds `{}`: use letters, digits, `_`, `-` and `.` (and `/` after `lib` or `tests`)",
            shown(name),
            c.escape_debug()
        ));
    }
    if name.split('/').any(|part| part == ".." || part == ".") {
        return bad(format!(
            "file name `{}` holds `..` or `.`: a rule-set file stays inside the rules directory",
            shown(name)
        ));
    }
    if name.rsplit('/').next().is_some_and(|f| f.starts_with('.')) {
        return bad(format!(
            "file name `{}` starts with `.`: hidden files are not part of a rule set",
            shown(name)
        ));
    }
    if !crate::rules::is_rule_set_file(name) {
        return bad(format!(
            "`{}` is not a rule-set file name (use `name.yaml`, `lib/name.rhai` or `tests/name.yaml`)",
            shown(name)
        ));
    }
    Ok(())
}

/// A rule-set version reference as a client sends it, in `field`: `sha256:<hex>` bare
/// (`base_version`, a path) or quoted as the `ETag` gives it (`If-Match`); either form
/// is accepted everywhere. Gives the bare version.
///
/// A weak tag (`W/"…"`) and `*` are refused: the service never sends weak tags,
/// `If-Match` compares strongly (RFC 9110), and `*` would publish over whatever is
/// active, which is the lost update `If-Match` is there to prevent.
pub fn parse_version(field: &str, raw: &str) -> Result<String, LifecycleError> {
    let s = raw.trim();
    let bare = s
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .unwrap_or(s);
    let is_version = bare.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    });
    if is_version {
        return Ok(bare.to_string());
    }
    let why = if s.starts_with("W/") {
        "is a weak entity tag; send the version as the ETag of `GET /v1/rules` gives it"
    } else if s == "*" {
        "matches any version; send the version the edit was made from"
    } else {
        "is not a rule-set version (`sha256:` and 64 lowercase hex digits, bare or quoted as the ETag)"
    };
    Err(LifecycleError::BadRequest(format!(
        "{field}: `{}` {why}",
        shown(raw)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    const V: &str = "sha256:3b1f0c6e29d4aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    #[test]
    fn a_version_is_accepted_bare_or_quoted() {
        assert_eq!(parse_version("x", V).ok().as_deref(), Some(V));
        assert_eq!(
            parse_version("x", &format!("\"{V}\"")).ok().as_deref(),
            Some(V)
        );
        assert_eq!(
            parse_version("x", &format!(" \"{V}\" ")).ok().as_deref(),
            Some(V)
        );
        for bad in [
            format!("W/\"{V}\""),
            "*".to_string(),
            format!("\"{V}"),
            V.to_uppercase(),
            format!("{V}0"),
            String::new(),
        ] {
            assert!(parse_version("x", &bad).is_err(), "accepted `{bad}`");
        }
    }

    #[test]
    fn file_names_name_the_problem() {
        for ok in ["params.yaml", "lib/helpers.rhai", "tests/a-b_c.yml"] {
            assert!(check_file_name(ok).is_ok(), "{ok}");
        }
        let long = format!("{}.yaml", "a".repeat(300));
        for (bad, needle) in [
            (long.as_str(), "the limit is 100"),
            ("../x.yaml", "`..`"),
            ("lib/../x.rhai", "`..`"),
            ("a\0.yaml", "\\0"),
            ("a\\b.yaml", "`\\\\`"),
            (".hidden.yaml", "hidden"),
            ("tests/.x.yaml", "hidden"),
            ("other/x.yaml", "not a rule-set file name"),
            ("lib/x.yaml", "not a rule-set file name"),
            ("x.txt", "not a rule-set file name"),
        ] {
            let msg = check_file_name(bad).err().map(|e| e.to_string());
            assert!(
                msg.as_deref().is_some_and(|m| m.contains(needle)),
                "`{}`: {msg:?} should mention {needle}",
                bad.escape_debug()
            );
        }
    }
}
