//! Static analysis of a rule condition before Rhai sees it.
//!
//! A light tokenizer finds every `student.<path>` and `params.<name>` reference, so
//! the checker can reject misspelled fields with their exact column, the engine knows
//! which inputs a rule reads (for `inputs` and `insufficient_data`), and threshold
//! comparisons can be turned into "what would clear this flag".
//!
//! The condition is then rewritten for Rhai: each reference becomes a short variable
//! (`_s4`, `_p2`) padded with spaces to the same length, so every Rhai position still
//! points at the same line and column of the original text. Records are thus exposed
//! to scripts as precomputed variables: no map is built per record, and no property
//! lookup happens at run time.

use std::ops::Range;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tok {
    Ident,
    Number,
    Str,
    Punct,
}

#[derive(Debug, Clone)]
pub struct Token {
    pub kind: Tok,
    pub span: Range<usize>,
}

/// The root of a reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    Student,
    Params,
}

/// `student.a.b` or `params.x` as written in a condition.
#[derive(Debug, Clone)]
pub struct PathRef {
    pub root: Root,
    /// Segments after the root (`["attendance", "rate"]`).
    pub segments: Vec<String>,
    /// Byte span of each segment in the text.
    pub segment_spans: Vec<Range<usize>>,
    /// Byte span of the whole reference.
    pub span: Range<usize>,
    /// Token index range of the reference.
    pub tokens: Range<usize>,
}

impl PathRef {
    pub fn joined(&self) -> String {
        self.segments.join(".")
    }
}

/// A problem found while scanning, at a byte span of the condition.
#[derive(Debug, Clone)]
pub struct Problem {
    pub span: Range<usize>,
    pub message: String,
    pub hint: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    fn parse(s: &str) -> Option<CmpOp> {
        Some(match s {
            "<" => CmpOp::Lt,
            "<=" => CmpOp::Le,
            ">" => CmpOp::Gt,
            ">=" => CmpOp::Ge,
            _ => return None,
        })
    }

    fn flip(self) -> CmpOp {
        match self {
            CmpOp::Lt => CmpOp::Gt,
            CmpOp::Le => CmpOp::Ge,
            CmpOp::Gt => CmpOp::Lt,
            CmpOp::Ge => CmpOp::Le,
        }
    }
}

/// The other side of a threshold comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Threshold {
    Param(String),
    Literal(f64),
}

/// `student.<field> <op> <threshold>`, normalised with the field on the left; a
/// top-level conjunct of the condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Index into [`Analysis::paths`].
    pub path: usize,
    pub op: CmpOp,
    pub threshold: Threshold,
}

#[derive(Debug, Default)]
pub struct Analysis {
    pub tokens: Vec<Token>,
    pub paths: Vec<PathRef>,
    pub problems: Vec<Problem>,
    pub comparisons: Vec<Comparison>,
}

/// Names the rewrite uses; user code must not define them.
pub fn is_reserved(ident: &str) -> bool {
    let b = ident.as_bytes();
    b.len() >= 3
        && b[0] == b'_'
        && (b[1] == b's' || b[1] == b'p')
        && b[2..].iter().all(u8::is_ascii_digit)
}

pub fn analyze(text: &str) -> Analysis {
    let (tokens, mut problems) = tokenize(text);
    let mut a = Analysis {
        tokens,
        problems: Vec::new(),
        ..Default::default()
    };
    a.problems.append(&mut problems);
    find_paths(text, &mut a);
    find_comparisons(text, &mut a);
    a
}

fn tokenize(text: &str) -> (Vec<Token>, Vec<Problem>) {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut problems = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'/' && bytes.get(i + 1) == Some(&b'/') {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
        } else if c == b'/' && bytes.get(i + 1) == Some(&b'*') {
            i += 2;
            while i < bytes.len() && !(bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/')) {
                i += 1;
            }
            i = (i + 2).min(bytes.len());
        } else if c == b'"' || c == b'\'' || c == b'`' {
            i += 1;
            while i < bytes.len() && bytes[i] != c {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            i = (i + 1).min(bytes.len());
            tokens.push(Token {
                kind: Tok::Str,
                span: start..i,
            });
        } else if c.is_ascii_alphabetic() || c == b'_' {
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            let ident = &text[start..i];
            if is_reserved(ident) {
                problems.push(Problem {
                    span: start..i,
                    message: format!("`{ident}` is a name reserved by intervene"),
                    hint: Some("rename this variable".into()),
                });
            }
            tokens.push(Token {
                kind: Tok::Ident,
                span: start..i,
            });
        } else if c.is_ascii_digit() {
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric()
                    || bytes[i] == b'_'
                    || (bytes[i] == b'.' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)))
            {
                i += 1;
            }
            tokens.push(Token {
                kind: Tok::Number,
                span: start..i,
            });
        } else {
            let two = text.get(i..i + 2).unwrap_or("");
            let len = match two {
                "==" | "!=" | ">=" | "<=" | "&&" | "||" | "?." | "+=" | "-=" | "*=" | "/="
                | "=>" | "::" | "??" | ".." => 2,
                _ => text[i..].chars().next().map_or(1, char::len_utf8),
            };
            i += len;
            tokens.push(Token {
                kind: Tok::Punct,
                span: start..i,
            });
        }
    }
    (tokens, problems)
}

fn tok<'t>(text: &'t str, tokens: &[Token], i: usize) -> &'t str {
    tokens.get(i).map_or("", |t| &text[t.span.clone()])
}

fn find_paths(text: &str, a: &mut Analysis) {
    let toks = &a.tokens;
    let mut i = 0;
    while i < toks.len() {
        let word = tok(text, toks, i);
        let root = match (toks[i].kind, word) {
            (Tok::Ident, "student") => Root::Student,
            (Tok::Ident, "params") => Root::Params,
            _ => {
                i += 1;
                continue;
            }
        };
        // A property of something else (`x.student`) is not a reference.
        if i > 0 && matches!(tok(text, toks, i - 1), "." | "?.") {
            i += 1;
            continue;
        }
        let start = i;
        let mut segments = Vec::new();
        let mut spans = Vec::new();
        let mut j = i + 1;
        while tok(text, toks, j) == "."
            && toks.get(j + 1).is_some_and(|t| t.kind == Tok::Ident)
            && tok(text, toks, j + 2) != "("
        {
            let seg_start = toks[j + 1].span.clone();
            let mut seg_end = seg_start.end;
            j += 2;
            // `student.plans.<key>`: the key may be an intervention id, whose dashes
            // are part of the name when written without spaces.
            if root == Root::Student && segments == ["plans"] {
                while tok(text, toks, j) == "-"
                    && toks[j].span.start == seg_end
                    && toks.get(j + 1).is_some_and(|t| {
                        matches!(t.kind, Tok::Ident | Tok::Number)
                            && t.span.start == toks[j].span.end
                    })
                {
                    seg_end = toks[j + 1].span.end;
                    j += 2;
                }
            }
            segments.push(text[seg_start.start..seg_end].to_string());
            spans.push(seg_start.start..seg_end);
            if root == Root::Params {
                break;
            }
        }
        let span = toks[start].span.start..toks[j - 1].span.end;
        if segments.is_empty() {
            let (what, example) = match root {
                Root::Student => ("student", "student.gpa"),
                Root::Params => ("params", "params.low_gpa"),
            };
            a.problems.push(Problem {
                span: toks[start].span.clone(),
                message: format!("`{what}` must be followed by a field name"),
                hint: Some(format!("write a field such as `{example}`; `{what}` itself cannot be passed around or indexed")),
            });
        } else {
            let next = tok(text, toks, j);
            if matches!(next, "=" | "+=" | "-=" | "*=" | "/=") {
                a.problems.push(Problem {
                    span: toks[j].span.clone(),
                    message: "a rule cannot change the student record or the params".into(),
                    hint: Some("compare with `==`, or use a `let` variable".into()),
                });
            }
            a.paths.push(PathRef {
                root,
                segments,
                segment_spans: spans,
                span,
                tokens: start..j,
            });
        }
        i = j;
    }
}

/// Split the top level of the condition at `&&` and keep conjuncts of the form
/// `student.x OP threshold` (either way round).
fn find_comparisons(text: &str, a: &mut Analysis) {
    let n = a.tokens.len();
    let mut depth = 0i32;
    let mut parts = Vec::new();
    let mut start = 0;
    for i in 0..n {
        match tok(text, &a.tokens, i) {
            "(" | "[" | "{" => depth += 1,
            ")" | "]" | "}" => depth -= 1,
            "&&" if depth == 0 => {
                parts.push(start..i);
                start = i + 1;
            }
            "||" | ";" if depth == 0 => return,
            _ => {}
        }
    }
    parts.push(start..n);
    for part in parts {
        if let Some(c) = comparison(text, a, part) {
            a.comparisons.push(c);
        }
    }
}

fn comparison(text: &str, a: &Analysis, part: Range<usize>) -> Option<Comparison> {
    let toks = &a.tokens;
    let op_at = part
        .clone()
        .find(|&i| CmpOp::parse(tok(text, toks, i)).is_some())?;
    let op = CmpOp::parse(tok(text, toks, op_at))?;
    let left = part.start..op_at;
    let right = op_at + 1..part.end;
    let path_at = |r: &Range<usize>| a.paths.iter().position(|p| p.tokens == *r);
    let threshold = |r: &Range<usize>| -> Option<Threshold> {
        if let Some(p) = path_at(r) {
            let p = &a.paths[p];
            return (p.root == Root::Params).then(|| Threshold::Param(p.joined()));
        }
        let words: Vec<&str> = r.clone().map(|i| tok(text, toks, i)).collect();
        let num = match words.as_slice() {
            [n] => n.replace('_', "").parse::<f64>().ok()?,
            ["-", n] => -n.replace('_', "").parse::<f64>().ok()?,
            _ => return None,
        };
        Some(Threshold::Literal(num))
    };
    let student = |r: &Range<usize>| path_at(r).filter(|&p| a.paths[p].root == Root::Student);
    if let (Some(path), Some(threshold)) = (student(&left), threshold(&right)) {
        return Some(Comparison {
            path,
            op,
            threshold,
        });
    }
    if let (Some(threshold), Some(path)) = (threshold(&left), student(&right)) {
        return Some(Comparison {
            path,
            op: op.flip(),
            threshold,
        });
    }
    None
}

/// Rewrite every reference to its variable name, padded to keep positions.
pub fn rewrite(text: &str, paths: &[PathRef], name_of: impl Fn(usize) -> String) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (i, p) in paths.iter().enumerate() {
        out.push_str(&text[last..p.span.start]);
        let original = &text[p.span.clone()];
        let name = name_of(i);
        out.push_str(&name);
        let newlines = original.matches('\n').count();
        if newlines == 0 {
            let pad = original.chars().count().saturating_sub(name.len());
            out.extend(std::iter::repeat_n(' ', pad));
        } else {
            out.extend(std::iter::repeat_n('\n', newlines));
            let tail = original.rsplit('\n').next().unwrap_or("");
            out.extend(std::iter::repeat_n(' ', tail.chars().count()));
        }
        last = p.span.end;
    }
    out.push_str(&text[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_paths_and_comparisons() {
        let a = analyze(
            "student.attendance.absence_rate >= params.chronic && student.attendance.absence_rate < params.severe",
        );
        assert_eq!(a.paths.len(), 4);
        assert_eq!(a.paths[0].joined(), "attendance.absence_rate");
        assert_eq!(a.comparisons.len(), 2);
        assert_eq!(a.comparisons[0].op, CmpOp::Ge);
        assert_eq!(
            a.comparisons[1].threshold,
            Threshold::Param("severe".into())
        );
    }

    #[test]
    fn method_calls_end_a_path() {
        let a = analyze("student.courses.len() > 3");
        assert_eq!(a.paths[0].segments, vec!["courses"]);
    }

    #[test]
    fn strings_and_comments_are_not_paths() {
        let a = analyze("\"student.gpa\" == \"x\" // student.sel\n && true");
        assert!(a.paths.is_empty());
    }

    #[test]
    fn flipped_literal_comparison() {
        let a = analyze("2.0 >= student.gpa");
        assert_eq!(a.comparisons[0].op, CmpOp::Le);
        assert_eq!(a.comparisons[0].threshold, Threshold::Literal(2.0));
    }

    #[test]
    fn disjunction_has_no_clearing_comparisons() {
        assert!(
            analyze("student.gpa < 2 || student.gpa > 4")
                .comparisons
                .is_empty()
        );
    }

    #[test]
    fn rewrite_keeps_positions() {
        let text = "student.gpa <= params.low\n && student\n  .sel.t_score < 3";
        let a = analyze(text);
        let out = rewrite(text, &a.paths, |i| format!("_s{i}"));
        let (o, t): (Vec<&str>, Vec<&str>) = (out.lines().collect(), text.lines().collect());
        assert_eq!(o.len(), t.len());
        // A path on one line keeps the width of the line; after a path that spans
        // lines, what follows keeps its column.
        assert_eq!(o[0].len(), t[0].len(), "{out:?}");
        assert_eq!(o[2].find("< 3"), t[2].find("< 3"), "{out:?}");
    }

    #[test]
    fn a_plan_key_keeps_its_dashes() {
        let text = "student.plans.small-group-reading.points_off_aim >= 4 && student.gpa-1 > 0";
        let a = analyze(text);
        assert_eq!(
            a.paths[0].segments,
            vec!["plans", "small-group-reading", "points_off_aim"]
        );
        assert_eq!(
            &text[a.paths[0].segment_spans[1].clone()],
            "small-group-reading"
        );
        assert_eq!(a.comparisons[0].path, 0);
        // Elsewhere a dash is still a minus.
        assert_eq!(a.paths[1].segments, vec!["gpa"]);
        // With spaces it is a minus, after `plans.` too.
        let b = analyze("student.plans.academic - 1");
        assert_eq!(b.paths[0].segments, vec!["plans", "academic"]);
        let out = rewrite(text, &a.paths, |i| format!("_s{i}"));
        assert_eq!(out.len(), text.len());
        assert_eq!(out.find(">= 4"), text.find(">= 4"));
    }

    #[test]
    fn assignment_to_student_is_a_problem() {
        let a = analyze("student.gpa = 4.0");
        assert!(a.problems[0].message.contains("cannot change"));
    }
}
