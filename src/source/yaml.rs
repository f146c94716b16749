//! YAML parsed into a tree that remembers where every node starts, so diagnostics can
//! point at the line and column of the offending key or value.
//!
//! serde_yaml reports the first problem of a file and has no positions for values it
//! accepted; rule-set checking must report every problem at once and map Rhai errors
//! inside a `when:` back into the file, so rule-set files are read with yaml-rust2's
//! event parser (which carries a marker per event) into [`Node`]s.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Where a node starts: 1-based line and column (characters), byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
    pub offset: usize,
}

impl Pos {
    fn from_marker(m: Marker, text: &str) -> Self {
        // The marker's index counts characters; convert to a byte offset.
        let offset = text
            .char_indices()
            .nth(m.index())
            .map(|(b, _)| b)
            .unwrap_or(text.len());
        Pos {
            line: m.line(),
            col: m.col() + 1,
            offset,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Scalar(String, TScalarStyle),
    Seq(Vec<Node>),
    /// Entries in file order.
    Map(Vec<(Node, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: Kind,
    pub pos: Pos,
}

impl Node {
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar(s, _) => Some(s),
            _ => None,
        }
    }

    /// A plain scalar that YAML would read as null (`~`, `null`, empty).
    pub fn is_null(&self) -> bool {
        matches!(&self.kind, Kind::Scalar(s, TScalarStyle::Plain) if s.is_empty() || s == "~" || s == "null" || s == "Null" || s == "NULL")
    }

    pub fn describe(&self) -> &'static str {
        match &self.kind {
            Kind::Scalar(..) if self.is_null() => "nothing",
            Kind::Scalar(..) => "a single value",
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a mapping",
        }
    }
}

/// A YAML problem located in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub line: usize,
    pub col: usize,
    pub message: String,
    pub hint: Option<String>,
}

enum Frame {
    Seq(Vec<Node>, Pos, usize),
    Map(Vec<(Node, Node)>, Option<Node>, Pos, usize),
}

struct Builder<'t> {
    text: &'t str,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
    errors: Vec<YamlError>,
    documents: usize,
}

impl Builder<'_> {
    fn push_node(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq(items, ..)) => items.push(node),
            Some(Frame::Map(entries, pending, ..)) => match pending.take() {
                None => *pending = Some(node),
                Some(key) => {
                    if let Some(k) = key.as_str()
                        && let Some((first, _)) =
                            entries.iter().find(|(e, _)| e.as_str() == Some(k))
                    {
                        self.errors.push(YamlError {
                            line: key.pos.line,
                            col: key.pos.col,
                            message: format!("duplicate key `{k}`"),
                            hint: Some(format!(
                                "`{k}` is already set on line {}; keep one of them",
                                first.pos.line
                            )),
                        });
                    }
                    entries.push((key, node));
                }
            },
        }
    }
}

impl MarkedEventReceiver for Builder<'_> {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let pos = Pos::from_marker(mark, self.text);
        match ev {
            Event::DocumentStart => {
                self.documents += 1;
                if self.documents > 1 {
                    self.errors.push(YamlError {
                        line: pos.line,
                        col: pos.col,
                        message: "a rule-set file holds one YAML document".into(),
                        hint: Some(
                            "remove the second `---` and what follows, or move it to its own file"
                                .into(),
                        ),
                    });
                }
            }
            Event::Scalar(value, style, anchor, _) => self.push_node(
                Node {
                    kind: Kind::Scalar(value, style),
                    pos,
                },
                anchor,
            ),
            Event::Alias(id) => {
                let node = self.anchors.get(&id).cloned().unwrap_or(Node {
                    kind: Kind::Scalar(String::new(), TScalarStyle::Plain),
                    pos,
                });
                self.push_node(node, 0);
            }
            Event::SequenceStart(anchor, _) => self.stack.push(Frame::Seq(Vec::new(), pos, anchor)),
            Event::MappingStart(anchor, _) => {
                self.stack.push(Frame::Map(Vec::new(), None, pos, anchor))
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match self.stack.pop() {
                    Some(Frame::Seq(items, pos, a)) => (
                        Node {
                            kind: Kind::Seq(items),
                            pos,
                        },
                        a,
                    ),
                    Some(Frame::Map(entries, _, pos, a)) => (
                        Node {
                            kind: Kind::Map(entries),
                            pos,
                        },
                        a,
                    ),
                    None => return,
                };
                self.push_node(node, anchor);
            }
            _ => {}
        }
    }
}

/// Most nodes a rule-set file may hold; a billion-laughs alias bomb stops here.
const MAX_NODES: usize = 200_000;

/// Parse one YAML document. An empty file gives `Ok(None)`.
pub fn parse(text: &str) -> Result<Option<Node>, Vec<YamlError>> {
    let mut b = Builder {
        text,
        stack: Vec::new(),
        anchors: HashMap::new(),
        root: None,
        errors: Vec::new(),
        documents: 0,
    };
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut b, false) {
        let m = e.marker();
        let (mut line, mut col) = (m.line(), m.col() + 1);
        let mut hint =
            "check the indentation and that every `key: value` has a space after the colon"
                .to_string();
        // The scanner notices a key without `:` only at the next key; point at the
        // line that lacks it.
        if e.info().contains("expect ':'") {
            let lines: Vec<&str> = text.lines().collect();
            if let Some((i, l)) = lines
                .iter()
                .enumerate()
                .take(line.saturating_sub(1))
                .rev()
                .find(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
            {
                line = i + 1;
                col = l.len() - l.trim_start().len() + 1;
                hint = "this line has no `:` after its key (write `key: value`)".into();
            }
        }
        return Err(vec![YamlError {
            line,
            col,
            message: format!("YAML syntax: {}", e.info()),
            hint: Some(hint),
        }]);
    }
    if let Some(root) = &b.root
        && count(root) > MAX_NODES
    {
        return Err(vec![YamlError {
            line: 1,
            col: 1,
            message: format!("file expands to more than {MAX_NODES} values"),
            hint: Some("aliases (`*name`) are expanded; use fewer of them".into()),
        }]);
    }
    if b.errors.is_empty() {
        Ok(b.root)
    } else {
        Err(b.errors)
    }
}

fn count(node: &Node) -> usize {
    match &node.kind {
        Kind::Scalar(..) => 1,
        Kind::Seq(items) => 1 + items.iter().map(count).sum::<usize>(),
        Kind::Map(entries) => {
            1 + entries
                .iter()
                .map(|(k, v)| count(k) + count(v))
                .sum::<usize>()
        }
    }
}

/// Convert a node into a JSON value (YAML scalars typed the way YAML 1.2 core does),
/// for data such as records embedded in rule tests.
pub fn to_json(node: &Node) -> serde_json::Value {
    use serde_json::Value as J;
    match &node.kind {
        Kind::Scalar(s, style) => {
            if *style != TScalarStyle::Plain {
                return J::String(s.clone());
            }
            if node.is_null() {
                return J::Null;
            }
            match s.as_str() {
                "true" | "True" | "TRUE" => return J::Bool(true),
                "false" | "False" | "FALSE" => return J::Bool(false),
                _ => {}
            }
            if let Ok(i) = s.parse::<i64>() {
                return J::from(i);
            }
            match s.parse::<f64>() {
                Ok(f) if f.is_finite() && !s.starts_with(['+', '.']) => J::from(f),
                _ => J::String(s.clone()),
            }
        }
        Kind::Seq(items) => J::Array(items.iter().map(to_json).collect()),
        Kind::Map(entries) => J::Object(
            entries
                .iter()
                .map(|(k, v)| (k.as_str().unwrap_or_default().to_string(), to_json(v)))
                .collect(),
        ),
    }
}
