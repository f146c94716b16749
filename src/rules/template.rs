//! Explanation templates: plain text with `{student.<field>}` and `{params.<name>}`
//! placeholders, optionally formatted: `{…:%}` as a percentage, `{…:.2}` with two
//! decimals. `{{` and `}}` are literal braces.

use std::ops::Range;

use crate::record::facts::{FieldRef, Value, human_number};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Numbers without trailing zeros; text as is.
    Plain,
    /// A fraction shown as a percentage with at most one decimal.
    Percent,
    /// Fixed decimals.
    Decimals(usize),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Student(FieldRef),
    Param(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Text(String),
    Value(Source, Format),
}

/// A parsed explanation template.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Template {
    pub parts: Vec<Part>,
}

/// A placeholder problem at a byte span of the template text.
#[derive(Debug, Clone)]
pub struct TemplateError {
    pub span: Range<usize>,
    pub message: String,
    pub hint: Option<String>,
}

/// A placeholder as written, before its name is resolved.
pub struct Placeholder<'t> {
    pub name: &'t str,
    pub name_span: Range<usize>,
    pub format: Format,
}

/// Parse the template; `resolve` turns a placeholder name into a source or explains
/// why it cannot.
pub fn parse(
    text: &str,
    mut resolve: impl FnMut(&Placeholder) -> Result<Source, TemplateError>,
) -> Result<Template, Vec<TemplateError>> {
    let mut parts = Vec::new();
    let mut errors = Vec::new();
    let mut literal = String::new();
    let mut rest = text.char_indices().peekable();
    while let Some((i, c)) = rest.next() {
        match c {
            '{' if rest.peek().map(|p| p.1) == Some('{') => {
                rest.next();
                literal.push('{');
            }
            '}' if rest.peek().map(|p| p.1) == Some('}') => {
                rest.next();
                literal.push('}');
            }
            '{' => {
                let Some(end) = text[i..].find('}').map(|e| i + e) else {
                    errors.push(TemplateError {
                        span: i..text.len(),
                        message: "`{` is never closed".into(),
                        hint: Some(
                            "close the placeholder with `}`, or write `{{` for a literal brace"
                                .into(),
                        ),
                    });
                    break;
                };
                while rest.peek().is_some_and(|p| p.0 <= end) {
                    rest.next();
                }
                match placeholder(text, i + 1..end).and_then(|p| resolve(&p).map(|s| (s, p.format)))
                {
                    Ok((source, format)) => {
                        if !literal.is_empty() {
                            parts.push(Part::Text(std::mem::take(&mut literal)));
                        }
                        parts.push(Part::Value(source, format));
                    }
                    Err(e) => errors.push(e),
                }
            }
            '}' => errors.push(TemplateError {
                span: i..i + 1,
                message: "`}` without a matching `{`".into(),
                hint: Some("write `}}` for a literal brace".into()),
            }),
            c => literal.push(c),
        }
    }
    if !literal.is_empty() {
        parts.push(Part::Text(literal));
    }
    if errors.is_empty() {
        Ok(Template { parts })
    } else {
        Err(errors)
    }
}

fn placeholder(text: &str, inner: Range<usize>) -> Result<Placeholder<'_>, TemplateError> {
    let body = &text[inner.clone()];
    let (name, fmt) = match body.split_once(':') {
        Some((n, f)) => (n, Some(f)),
        None => (body, None),
    };
    let lead = name.len() - name.trim_start().len();
    let name_span = inner.start + lead..inner.start + lead + name.trim().len();
    let format =
        match fmt.map(str::trim) {
            None => Format::Plain,
            Some("%") => Format::Percent,
            Some(f) => match f.strip_prefix('.').and_then(|d| d.parse::<usize>().ok()) {
                Some(d) if d <= 6 => Format::Decimals(d),
                _ => return Err(TemplateError {
                    span: inner,
                    message: format!("unknown format `{f}`"),
                    hint: Some(
                        "use `%` for a percentage or `.N` for N decimals, e.g. `{student.gpa:.2}`"
                            .into(),
                    ),
                }),
            },
        };
    Ok(Placeholder {
        name: name.trim(),
        name_span,
        format,
    })
}

/// Format one value for an explanation.
pub fn format_value(value: Option<&Value>, format: Format) -> String {
    let Some(v) = value else {
        return "unknown".to_string();
    };
    match (format, v.as_f64()) {
        (Format::Percent, Some(n)) => format!("{}%", percent(n)),
        (Format::Decimals(d), Some(n)) => format!("{n:.d$}"),
        _ => v.to_string(),
    }
}

/// A fraction as a percentage number with at most one decimal (0.156 → "15.6").
pub fn percent(n: f64) -> String {
    let s = format!("{:.1}", n * 100.0);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.to_string() }
}

/// Like [`human_number`] but honouring a field's percent display.
pub fn display_number(n: f64, as_percent: bool) -> String {
    if as_percent {
        format!("{}%", percent(n))
    } else {
        human_number(n)
    }
}
