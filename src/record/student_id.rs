//! The one rule for a student id, used wherever an id enters the service: records,
//! SIS events, URL paths (`/v1/students/{id}`), legal holds, query filters.
//!
//! An id is 1 to [`MAX_STUDENT_ID_LEN`] characters, each a letter or digit (of any
//! script, so `Éloïse-7` is fine), visible ASCII punctuation, or a single space between
//! other characters (`S 10/B#2` is fine; URLs carry it percent-encoded). That refuses
//! what makes two ids look the same while they differ, or makes a log line lie:
//! leading, trailing or doubled spaces, other white space, control characters (ESC,
//! NUL), format characters (right-to-left override, zero-width space, byte-order
//! mark) and combining marks (an `é` written as `e` + U+0301 would differ from the
//! precomposed `é`). Letters that look alike across
//! scripts (Latin `a`, Cyrillic `а`) are not caught: that needs Unicode's confusables
//! table, and SIS ids are in practice ASCII.

use std::fmt;

use serde::Serialize;

/// Longest accepted `student_id`, in characters.
pub const MAX_STUDENT_ID_LEN: usize = 64;

/// A student id known to follow the rule above. [`StudentId::parse`] is the one
/// place the rule is checked.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct StudentId(String);

/// What is wrong with a student id, in words, without echoing the (possibly
/// hostile) text back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StudentIdError {
    #[error("must not be empty")]
    Empty,
    #[error("is longer than {MAX_STUDENT_ID_LEN} characters ({0})")]
    TooLong(usize),
    #[error("must not start or end with a space or hold two in a row")]
    Spaces,
    /// A character outside the rule, by position (counting from 1).
    #[error(
        "holds {what} at position {position}; a student id is letters, digits, ASCII punctuation and single spaces"
    )]
    Character { what: String, position: usize },
}

impl StudentId {
    /// Check `s` against the rule.
    pub fn parse(s: &str) -> Result<StudentId, StudentIdError> {
        check(s).map(|()| StudentId(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// The rule, without building a value: `Ok` or what is wrong.
fn check(s: &str) -> Result<(), StudentIdError> {
    if s.trim().is_empty() {
        return Err(StudentIdError::Empty);
    }
    let n = s.chars().count();
    if n > MAX_STUDENT_ID_LEN {
        return Err(StudentIdError::TooLong(n));
    }
    if s.starts_with(' ') || s.ends_with(' ') || s.contains("  ") {
        return Err(StudentIdError::Spaces);
    }
    match s
        .chars()
        .enumerate()
        .find(|(_, c)| !(c.is_alphanumeric() || c.is_ascii_graphic() || *c == ' '))
    {
        Some((i, c)) => Err(StudentIdError::Character {
            what: describe(c),
            position: i + 1,
        }),
        None => Ok(()),
    }
}

/// A refused character named by its kind and code point.
fn describe(c: char) -> String {
    if c.is_whitespace() {
        format!("the space character U+{:04X}", u32::from(c))
    } else if c.is_control() {
        "a control character".to_string()
    } else {
        format!("the character U+{:04X}", u32::from(c))
    }
}

impl fmt::Display for StudentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for StudentId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_ids_pass() {
        for id in [
            "S1042",
            "HS-01_7",
            "a.b:c@d+e",
            "Éloïse",
            "学生123",
            "S 10/B#2",
        ] {
            StudentId::parse(id).unwrap();
        }
    }

    #[test]
    fn invisible_and_control_characters_are_refused() {
        for id in [
            "S1042\u{202E}",
            "S10\u{200B}42",
            "\u{FEFF}S1042",
            "S1\u{1b}[31m",
            "S1\0",
            "S  1042",
            " S1042",
            "S1042 ",
            "S\u{a0}1042",
            "S1\t2",
            "e\u{301}",
            "",
        ] {
            assert!(StudentId::parse(id).is_err(), "{id:?} was accepted");
        }
    }

    #[test]
    fn length_counts_characters() {
        assert!(StudentId::parse(&"é".repeat(MAX_STUDENT_ID_LEN)).is_ok());
        let e = StudentId::parse(&"é".repeat(MAX_STUDENT_ID_LEN + 1))
            .unwrap_err()
            .to_string();
        assert!(e.contains("longer than 64"), "{e}");
    }
}
