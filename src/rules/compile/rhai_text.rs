//! Rhai's parse errors and positions in the words and places of the diagnostics.

use crate::source::map::SourceMap;

/// A Rhai parse error in the words of the rest of the diagnostics.
pub fn rhai_parse_message(e: &rhai::ParseError) -> String {
    let msg = e.0.to_string();
    let msg = msg
        .replace("Variable not found: ", "unknown name `")
        .replace("Unknown variable: ", "unknown name `");
    if msg.starts_with("unknown name `") {
        format!("{msg}`")
    } else {
        format!("Rhai syntax: {msg}")
    }
}

/// File position of a Rhai position inside a condition.
pub fn at_rhai(src: &SourceMap, pos: rhai::Position) -> (usize, usize) {
    match (pos.line(), pos.position()) {
        (Some(l), Some(c)) => src.locate(l.saturating_sub(1), c.saturating_sub(1)),
        (Some(l), None) => src.locate(l.saturating_sub(1), 0),
        _ => src.locate(0, 0),
    }
}
