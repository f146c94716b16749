//! One file's diagnostics, and the shape checks every YAML decoder needs: a mapping
//! with known keys, a text value, a list of texts.

use std::collections::HashMap;

use super::diag::{Diagnostic, Severity, suggest};
use super::yaml::{self, Kind, Node, Pos};

/// Collects the located diagnostics of one file.
pub struct Ctx<'a> {
    /// The file's path relative to its directory, as diagnostics name it.
    pub file: &'a str,
    /// The file's text, for the source line under each diagnostic.
    pub text: &'a str,
    /// Where the diagnostics go.
    pub diags: &'a mut Vec<Diagnostic>,
}

impl<'a> Ctx<'a> {
    /// A context for `file`, whose text is `text`, pushing onto `diags`.
    pub fn new(file: &'a str, text: &'a str, diags: &'a mut Vec<Diagnostic>) -> Self {
        Ctx { file, text, diags }
    }

    /// A diagnostic at `line`:`col`, underlining `width` characters.
    pub fn push(
        &mut self,
        sev: Severity,
        line: usize,
        col: usize,
        width: usize,
        msg: String,
        hint: Option<String>,
    ) {
        let d = Diagnostic::error(self.file, line, col, msg).width(width);
        let mut d = Diagnostic { severity: sev, ..d }.with_source(self.text);
        d.hint = hint;
        self.diags.push(d);
    }

    /// An error at `pos`, underlining one character.
    pub fn error(&mut self, pos: Pos, msg: impl Into<String>, hint: Option<String>) {
        self.push(Severity::Error, pos.line, pos.col, 1, msg.into(), hint);
    }

    /// An error underlining `node`.
    pub fn error_at(&mut self, node: &Node, msg: impl Into<String>, hint: Option<String>) {
        self.at(Severity::Error, node, msg.into(), hint);
    }

    /// A warning underlining `node`.
    pub fn warn_at(&mut self, node: &Node, msg: impl Into<String>, hint: Option<String>) {
        self.at(Severity::Warning, node, msg.into(), hint);
    }

    /// A diagnostic underlining `node` (a scalar's text, at most 60 characters).
    fn at(&mut self, sev: Severity, node: &Node, msg: String, hint: Option<String>) {
        let width = node.as_str().map_or(1, |s| s.chars().count().clamp(1, 60));
        self.push(sev, node.pos.line, node.pos.col, width, msg, hint);
    }

    /// A mapping with only `allowed` keys and every `required` key.
    pub fn fields<'n>(
        &mut self,
        node: &'n Node,
        what: &str,
        allowed: &[&str],
        required: &[&str],
    ) -> Option<HashMap<&'n str, &'n Node>> {
        let Kind::Map(entries) = &node.kind else {
            self.error_at(
                node,
                format!(
                    "{what} must be a mapping of `key: value`, found {}",
                    node.describe()
                ),
                None,
            );
            return None;
        };
        let mut out = HashMap::new();
        for (k, v) in entries {
            let Some(key) = k.as_str() else {
                self.error_at(k, "keys must be plain names", None);
                continue;
            };
            if allowed.contains(&key) {
                out.insert(key, v);
            } else {
                self.error_at(
                    k,
                    format!("unknown key `{key}` in {what}"),
                    Some(suggest(key, allowed.iter().copied())),
                );
            }
        }
        // yaml-rust2 marks a block mapping at its first `:`; point at its first key.
        let at = entries.first().map_or(node.pos, |(k, _)| k.pos);
        for r in required {
            if !out.contains_key(r) {
                self.error(at, format!("{what} is missing `{r}`"), None);
            }
        }
        Some(out)
    }

    /// The text of a non-null scalar; anything else is reported.
    pub fn string(&mut self, node: &Node, what: &str) -> Option<String> {
        match &node.kind {
            Kind::Scalar(s, _) if !node.is_null() => Some(s.clone()),
            _ => {
                self.error_at(
                    node,
                    format!("`{what}` must be text, found {}", node.describe()),
                    None,
                );
                None
            }
        }
    }

    /// The texts of a list (null: empty), each with its node; other items reported.
    pub fn string_list(&mut self, node: &Node, what: &str) -> Vec<(String, Node)> {
        match &node.kind {
            Kind::Seq(items) => items
                .iter()
                .filter_map(|i| self.string(i, what).map(|s| (s, i.clone())))
                .collect(),
            _ if node.is_null() => Vec::new(),
            _ => {
                self.error_at(
                    node,
                    format!("`{what}` must be a list, like `[a, b]`"),
                    None,
                );
                Vec::new()
            }
        }
    }
}

/// Parse `text` (the file `name`) into a located tree, reporting every YAML error.
/// `None` when the file could not be parsed or holds no document.
pub fn parse_yaml(name: &str, text: &str, diags: &mut Vec<Diagnostic>) -> Option<Node> {
    match yaml::parse(text) {
        Ok(node) => node,
        Err(errors) => {
            for e in errors {
                let mut d = Diagnostic::error(name, e.line, e.col, e.message).with_source(text);
                d.hint = e.hint;
                diags.push(d);
            }
            None
        }
    }
}
