//! Positions inside a YAML scalar mapped back into the file.
//!
//! A `when:` condition or an `explain:` template is checked as the scalar's value,
//! with YAML's indentation, folding and escapes resolved; a [`SourceMap`] turns a
//! position in that value back into the file's line and column, so the diagnostic
//! underlines what the author wrote.

use yaml_rust2::scanner::TScalarStyle;

use super::yaml::{Kind, Node};

/// A scalar's text with its line structure kept, and where each of its lines starts
/// in the file.
#[derive(Debug, Clone)]
pub struct SourceMap {
    /// The scalar's text, one line per source line.
    pub text: String,
    /// (file line, file column of the first character) per line of `text`.
    lines: Vec<(usize, usize)>,
}

impl SourceMap {
    /// File position of character `char_col` on line `line_idx` (0-based) of `text`.
    pub fn locate(&self, line_idx: usize, char_col: usize) -> (usize, usize) {
        let (l, c) = self
            .lines
            .get(line_idx)
            .or(self.lines.last())
            .copied()
            .unwrap_or((0, 0));
        (l, c + char_col)
    }

    /// File position of a byte offset in `text`.
    pub fn at_byte(&self, offset: usize) -> (usize, usize) {
        let before = &self.text[..offset.min(self.text.len())];
        let line_idx = before.matches('\n').count();
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        self.locate(line_idx, before[line_start..].chars().count())
    }
}

/// `s` with every run of whitespace made one space (how YAML folds plain scalars).
fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Recover the source lines of a scalar so that positions inside it map exactly into
/// the file; fall back to the value with every position at the scalar's start.
pub fn scalar_source(file_text: &str, node: &Node) -> SourceMap {
    let Kind::Scalar(value, style) = &node.kind else {
        return SourceMap {
            text: String::new(),
            lines: vec![(node.pos.line, node.pos.col)],
        };
    };
    let fallback = SourceMap {
        text: value.clone(),
        lines: vec![(node.pos.line, node.pos.col); value.lines().count().max(1)],
    };
    let file_lines: Vec<&str> = file_text.lines().collect();
    let Some(first) = file_lines.get(node.pos.line.saturating_sub(1)) else {
        return fallback;
    };
    let quoted = matches!(
        style,
        TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted
    );
    let block = matches!(style, TScalarStyle::Literal | TScalarStyle::Folded);
    let start_col = node.pos.col - 1 + usize::from(quoted);
    let rest: String = first.chars().skip(start_col).collect();
    if !value.contains('\n') && rest.starts_with(value.as_str()) && !block {
        return SourceMap {
            text: value.clone(),
            lines: vec![(node.pos.line, start_col + 1)],
        };
    }
    if quoted {
        return fallback;
    }
    follow_lines(&file_lines, node, value, block, &rest, start_col).unwrap_or(fallback)
}

/// Collect file lines from the scalar's start until, whitespace folded, they spell
/// `value`; `None` when they never do.
fn follow_lines(
    file_lines: &[&str],
    node: &Node,
    value: &str,
    block: bool,
    rest: &str,
    start_col: usize,
) -> Option<SourceMap> {
    let first_idx = node.pos.line.saturating_sub(1);
    let target = squash(value);
    let mut text_lines: Vec<String> = Vec::new();
    let mut lines = Vec::new();
    // yaml-rust2 marks a block scalar at its indicator (`|`, `>`) or at its first
    // content line, depending on the layout; start after the indicator if present.
    let on_indicator = rest.trim_start().starts_with(['|', '>']);
    let mut idx = if block && on_indicator {
        first_idx + 1
    } else {
        first_idx
    };
    if !block {
        text_lines.push(rest.to_string());
        lines.push((node.pos.line, start_col + 1));
        idx += 1;
    }
    loop {
        let joined = squash(&text_lines.join("\n"));
        if joined == target {
            return Some(SourceMap {
                text: text_lines.join("\n"),
                lines,
            });
        }
        if joined.len() > target.len() || !target.starts_with(&joined) {
            return None;
        }
        let line = file_lines.get(idx)?;
        let lead = line.chars().take_while(|c| c.is_whitespace()).count();
        text_lines.push(line.trim_start().to_string());
        lines.push((idx + 1, lead + 1));
        idx += 1;
    }
}

/// A single-line quoted scalar as written between its quotes (escapes kept).
pub fn quoted_raw(file_text: &str, node: &Node) -> Option<SourceMap> {
    let Kind::Scalar(_, style) = &node.kind else {
        return None;
    };
    let quote = match style {
        TScalarStyle::DoubleQuoted => '"',
        TScalarStyle::SingleQuoted => '\'',
        _ => return None,
    };
    let line = file_text.lines().nth(node.pos.line.checked_sub(1)?)?;
    let rest: Vec<char> = line.chars().skip(node.pos.col).collect();
    let mut i = 0;
    while i < rest.len() {
        match rest[i] {
            '\\' if quote == '"' => i += 2,
            '\'' if quote == '\'' && rest.get(i + 1) == Some(&'\'') => i += 2,
            c if c == quote => {
                return Some(SourceMap {
                    text: rest[..i].iter().collect(),
                    lines: vec![(node.pos.line, node.pos.col + 1)],
                });
            }
            _ => i += 1,
        }
    }
    None
}
