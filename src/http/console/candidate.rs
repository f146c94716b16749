//! A candidate rule-set change as the console's forms send it: the version it was
//! made from (`base_version`) and either thresholds (`param.<name>` fields, written
//! into the active `params.yaml` by changing only the numbers) or one file's whole
//! text (`file` and `text`, from the file editor). The preview, check and publish
//! pages all read it here, and carry it on as hidden fields.

use std::collections::BTreeMap;

use crate::rules::RuleSet;
use crate::rules::yaml::{self, Kind, Node};

/// The file the thresholds live in.
pub const PARAMS: &str = "params.yaml";

/// What a form asks to change.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub base_version: String,
    pub changes: BTreeMap<String, Option<String>>,
    /// The form's own fields (not `csrf`), to send on as hidden inputs.
    pub fields: Vec<(String, String)>,
}

/// A threshold the form could not take: the param's name and why, shown beside it.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub name: String,
    pub message: String,
}

/// Read a candidate from the form's fields against the active set.
pub fn read(form: &[(String, String)], active: &RuleSet) -> Result<Candidate, Vec<FieldError>> {
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let fields: Vec<(String, String)> = form.iter().filter(|(k, _)| k != "csrf").cloned().collect();
    let base_version = get("base_version").unwrap_or_default().to_string();
    let mut errors = Vec::new();
    if base_version.is_empty() {
        errors.push(FieldError {
            name: "base_version".into(),
            message: "the form does not say which version it was made from; reload the page".into(),
        });
    }
    let mut changes = BTreeMap::new();
    if let (Some(file), Some(text)) = (get("file"), get("text")) {
        changes.insert(file.to_string(), Some(text.replace("\r\n", "\n")));
    } else {
        let mut values = BTreeMap::new();
        for (k, v) in form {
            let Some(name) = k.strip_prefix("param.") else {
                continue;
            };
            let Some(param) = active.params.get(name) else {
                errors.push(FieldError {
                    name: name.to_string(),
                    message: format!("there is no threshold `{name}`"),
                });
                continue;
            };
            match number(v) {
                Some(n) => {
                    if n != param.as_f64() {
                        values.insert(name.to_string(), v.trim().to_string());
                    }
                }
                None => errors.push(FieldError {
                    name: name.to_string(),
                    message: format!(
                        "“{}” is not a number: write it like 0.1 or 25",
                        v.chars().take(40).collect::<String>()
                    ),
                }),
            }
        }
        if errors.is_empty() {
            if values.is_empty() {
                errors.push(FieldError {
                    name: String::new(),
                    message: "no threshold was changed".into(),
                });
            } else {
                let text = active.files.get(PARAMS).cloned().unwrap_or_default();
                match rewrite(&text, &values) {
                    Ok(new) => {
                        changes.insert(PARAMS.to_string(), Some(new));
                    }
                    Err(e) => errors.push(e),
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Candidate {
        base_version,
        changes,
        fields,
    })
}

/// A finite number as a form sends it (`0.1`, `25`, `1e3`, `-0`).
fn number(v: &str) -> Option<f64> {
    let t = v.trim();
    if t.is_empty() || t.len() > 32 {
        return None;
    }
    t.parse::<f64>().ok().filter(|n| n.is_finite())
}

/// `text` (a `params.yaml`) with each named param's number replaced by the given
/// text, everything else kept byte for byte.
pub fn rewrite(text: &str, values: &BTreeMap<String, String>) -> Result<String, FieldError> {
    let unreadable = |m: String| FieldError {
        name: String::new(),
        message: m,
    };
    let root = match yaml::parse(text) {
        Ok(Some(root)) => root,
        _ => {
            return Err(unreadable(
                "params.yaml cannot be read; fix it in the file editor".into(),
            ));
        }
    };
    let Kind::Map(entries) = &root.kind else {
        return Err(unreadable("params.yaml is not a mapping".into()));
    };
    // (line, column, old length, new text) of each number to replace.
    let mut edits: Vec<(usize, usize, usize, &str)> = Vec::new();
    for (k, v) in entries {
        let Some(new) = k.as_str().and_then(|name| values.get(name)) else {
            continue;
        };
        let scalar: &Node = match &v.kind {
            Kind::Scalar(..) => v,
            Kind::Map(fields) => match fields.iter().find(|(fk, _)| fk.as_str() == Some("value")) {
                Some((_, value)) => value,
                None => continue,
            },
            Kind::Seq(_) => continue,
        };
        let old = scalar.as_str().unwrap_or_default();
        edits.push((scalar.pos.line, scalar.pos.col, old.chars().count(), new));
    }
    if edits.len() != values.len() {
        return Err(unreadable(
            "a threshold's value is not a plain number in params.yaml; change it in the file editor"
                .into(),
        ));
    }
    let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
    for (line, col, len, new) in edits {
        let Some(l) = lines.get_mut(line.saturating_sub(1)) else {
            continue;
        };
        let chars: Vec<char> = l.chars().collect();
        let start = col.saturating_sub(1).min(chars.len());
        let end = (start + len).min(chars.len());
        *l = chars[..start]
            .iter()
            .chain(new.chars().collect::<Vec<_>>().iter())
            .chain(chars[end..].iter())
            .collect();
    }
    Ok(lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARAMS_TEXT: &str = "# Thresholds (ñ, 中文 kept)\nlow_gpa:\n  value: 2.0\n  description: GPA at or below which the GPA is low # café\nplain: 5\nchronic_absence_rate:\n  value: 0.10  # ten percent\n  description: Absence rate\n";

    fn set(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn only_the_numbers_change_and_comments_stay() {
        let out = rewrite(
            PARAMS_TEXT,
            &set(&[
                ("low_gpa", "2.5"),
                ("chronic_absence_rate", "0.12"),
                ("plain", "1e3"),
            ]),
        )
        .unwrap();
        assert_eq!(
            out,
            "# Thresholds (ñ, 中文 kept)\nlow_gpa:\n  value: 2.5\n  description: GPA at or below which the GPA is low # café\nplain: 1e3\nchronic_absence_rate:\n  value: 0.12  # ten percent\n  description: Absence rate\n"
        );
    }

    #[test]
    fn an_unchanged_file_is_the_same_bytes() {
        assert_eq!(
            rewrite(PARAMS_TEXT, &set(&[("low_gpa", "2.0")])).unwrap(),
            PARAMS_TEXT
        );
    }

    #[test]
    fn numbers_are_finite_and_short() {
        for ok in ["0", "-0", "0.1", " 25 ", "1e3", "-2.5"] {
            assert!(number(ok).is_some(), "{ok}");
        }
        for bad in [
            "",
            "NaN",
            "inf",
            "-inf",
            "1e999",
            "two",
            "0x10",
            &"1".repeat(40),
        ] {
            assert!(number(bad).is_none(), "{bad}");
        }
    }
}
