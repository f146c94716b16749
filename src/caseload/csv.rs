//! CSV of the caseload, the rosters and the review queue, safe to open in a
//! spreadsheet.
//!
//! The format is RFC 4180: comma-separated, CRLF line ends, a header row, and
//! UTF-8 with a byte-order mark first (without it Excel reads UTF-8 as the local
//! code page and mangles `Éloïse`; other readers skip it: Python's `utf-8-sig`,
//! LibreOffice, Google Sheets).
//!
//! **Formula injection** (OWASP, "CSV Injection"): a text cell whose first
//! character — after any leading spaces, which some spreadsheets skip — is `=`,
//! `+`, `-`, `@`, a tab or a carriage return is written with a `'` in front, so the
//! spreadsheet shows it as text and never runs it; every text cell is quoted and
//! its `"` doubled, so a `,` or a line break inside a value cannot start a new
//! cell or row. Numbers the service itself computes (tiers, grade, seq) are
//! written bare, so `-1` (pre-K) stays a number. The `'` is visible in the cell:
//! the price OWASP accepts for text that can never become a formula.

use std::io::{self, Write};

use chrono::NaiveDate;

use super::entry::CaseEntry;
use super::error::CaseloadError;
use super::queue::QueueItem;
use super::summary::{Group, GroupBy};
use crate::rules::Domain;

/// The byte-order mark written first.
pub const BOM: &[u8] = b"\xEF\xBB\xBF";
/// The media type to answer with.
pub const CONTENT_TYPE: &str = "text/csv; charset=utf-8";

/// One cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cell<'a> {
    /// Text from data: quoted, and neutralized when it could be a formula.
    Text(&'a str),
    /// A number the service computed.
    Num(i64),
    /// Nothing (an absent value).
    Empty,
}

/// Writes rows to `out`, the byte-order mark first.
pub struct CsvWriter<W: Write> {
    out: W,
}

impl<W: Write> CsvWriter<W> {
    /// Start a CSV on `out` with its header row.
    pub fn new(mut out: W, header: &[&str]) -> io::Result<CsvWriter<W>> {
        out.write_all(BOM)?;
        let mut w = CsvWriter { out };
        let cells: Vec<Cell> = header.iter().map(|h| Cell::Text(h)).collect();
        w.row(&cells)?;
        Ok(w)
    }

    /// Write one row.
    pub fn row(&mut self, cells: &[Cell]) -> io::Result<()> {
        for (i, c) in cells.iter().enumerate() {
            if i > 0 {
                self.out.write_all(b",")?;
            }
            match c {
                Cell::Text(t) => self.out.write_all(text_cell(t).as_bytes())?,
                Cell::Num(n) => write!(self.out, "{n}")?,
                Cell::Empty => {}
            }
        }
        self.out.write_all(b"\r\n")
    }

    /// The writer, once every row is written.
    pub fn into_inner(self) -> W {
        self.out
    }
}

/// A text cell as written: quoted, `"` doubled, `'` in front of a possible formula.
pub fn text_cell(t: &str) -> String {
    let first = t.trim_start_matches(' ').chars().next();
    let risky = matches!(first, Some('=' | '+' | '-' | '@' | '\t' | '\r'));
    let mut out = String::with_capacity(t.len() + 3);
    out.push('"');
    if risky {
        out.push('\'');
    }
    out.push_str(&t.replace('"', "\"\""));
    out.push('"');
    out
}

/// The caseload's columns.
pub const CASELOAD_HEADER: [&str; 13] = [
    "student_id",
    "school",
    "grade",
    "highest_tier",
    "attendance_tier",
    "academic_tier",
    "behavioral_tier",
    "social_emotional_tier",
    "flags",
    "unreviewed_flags",
    "interventions",
    "evaluated_at",
    "decision_seq",
];

/// The caseload, one row per student; flags read `rule (tier N, state)` on `today`.
pub fn write_caseload<W: Write>(
    out: W,
    entries: impl Iterator<Item = Result<CaseEntry, CaseloadError>>,
    today: NaiveDate,
) -> Result<W, CaseloadError> {
    let mut w = CsvWriter::new(out, &CASELOAD_HEADER)?;
    for e in entries {
        let e = e?;
        let flags = flag_list(&e, e.flags.iter().map(|f| f.rule_id.as_str()), today);
        let unreviewed = e
            .flags
            .iter()
            .filter(|f| f.state_on(today) == super::entry::ReviewState::Unreviewed)
            .count();
        let interventions: Vec<&str> = e
            .interventions
            .iter()
            .map(|r| r.intervention.as_str())
            .collect();
        let interventions = interventions.join("; ");
        let tier = |d: Domain| Cell::Num(i64::from(e.tier_in(d)));
        w.row(&[
            Cell::Text(&e.student_id),
            opt_text(e.school.as_deref()),
            e.grade.map_or(Cell::Empty, Cell::Num),
            Cell::Num(i64::from(e.highest_tier)),
            tier(Domain::Attendance),
            tier(Domain::Academic),
            tier(Domain::Behavioral),
            tier(Domain::SocialEmotional),
            Cell::Text(&flags),
            Cell::Num(unreviewed as i64),
            Cell::Text(&interventions),
            Cell::Text(&e.evaluated_at),
            Cell::Num(seq(e.decision_seq)),
        ])?;
    }
    Ok(w.into_inner())
}

/// The rosters' columns.
pub const GROUPS_HEADER: [&str; 9] = [
    "group_by",
    "group",
    "tier",
    "domain",
    "interventions",
    "student_id",
    "school",
    "grade",
    "flags",
];

/// The rosters, one row per student per group.
pub fn write_groups<W: Write>(out: W, groups: &[Group]) -> Result<W, CaseloadError> {
    let mut w = CsvWriter::new(out, &GROUPS_HEADER)?;
    for g in groups {
        let by = match g.by {
            GroupBy::Intervention => "intervention",
            GroupBy::Rule => "rule",
        };
        let interventions = g.interventions.join("; ");
        for m in &g.students {
            let flags: Vec<String> = m
                .flags
                .iter()
                .map(|f| format!("{} (tier {}, {})", f.rule_id, f.tier, f.review.as_str()))
                .collect();
            let flags = flags.join("; ");
            w.row(&[
                Cell::Text(by),
                Cell::Text(&g.id),
                Cell::Num(i64::from(g.tier)),
                opt_text(g.domain.map(Domain::as_str)),
                Cell::Text(&interventions),
                Cell::Text(&m.student_id),
                opt_text(m.school.as_deref()),
                m.grade.map_or(Cell::Empty, Cell::Num),
                Cell::Text(&flags),
            ])?;
        }
    }
    Ok(w.into_inner())
}

/// The queue's columns.
pub const QUEUE_HEADER: [&str; 9] = [
    "student_id",
    "school",
    "grade",
    "rule_id",
    "domain",
    "tier",
    "since",
    "evaluated_at",
    "decision_seq",
];

/// Review queue items, one row each.
pub fn write_queue<W: Write>(out: W, items: &[QueueItem]) -> Result<W, CaseloadError> {
    let mut w = CsvWriter::new(out, &QUEUE_HEADER)?;
    for i in items {
        w.row(&[
            Cell::Text(&i.student_id),
            opt_text(i.school.as_deref()),
            i.grade.map_or(Cell::Empty, Cell::Num),
            Cell::Text(&i.rule_id),
            Cell::Text(i.domain.as_str()),
            Cell::Num(i64::from(i.tier)),
            Cell::Text(&i.since),
            Cell::Text(&i.evaluated_at),
            Cell::Num(seq(i.decision_seq)),
        ])?;
    }
    Ok(w.into_inner())
}

fn opt_text(t: Option<&str>) -> Cell<'_> {
    t.map_or(Cell::Empty, Cell::Text)
}

/// A sequence number as a cell (a log never reaches `i64::MAX` entries).
fn seq(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn flag_list<'a>(e: &CaseEntry, rules: impl Iterator<Item = &'a str>, today: NaiveDate) -> String {
    let parts: Vec<String> = rules
        .filter_map(|r| e.flag(r))
        .map(|f| {
            format!(
                "{} (tier {}, {})",
                f.rule_id,
                f.tier,
                f.state_on(today).as_str()
            )
        })
        .collect();
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caseload::entry::tests::payload;
    use crate::caseload::summary::{GroupsQuery, groups};

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 4).unwrap()
    }

    #[test]
    fn formula_cells_become_text_and_quotes_are_doubled() {
        assert_eq!(text_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        for risky in ["+1", "-2+3", "@SUM(A1)", "\tx", "\rx", "  =1"] {
            assert!(text_cell(risky).starts_with("\"'"), "{risky:?}");
        }
        assert_eq!(text_cell("S-1"), "\"S-1\"");
        assert_eq!(text_cell("a,b\r\nc"), "\"a,b\r\nc\"");
        assert_eq!(text_cell(""), "\"\"");
    }

    #[test]
    fn the_caseload_csv_has_a_bom_a_header_and_safe_rows() {
        let mut e = CaseEntry::from_decision(
            42,
            "h",
            &payload(
                "=cmd|' /C calc'!A0",
                "2026-12-01T08:00:00.000Z",
                &[("absence", "attendance", 2)],
            ),
        )
        .unwrap();
        e.school = Some("@School, \"North\"".into());
        e.grade = Some(-1);
        let bytes = write_caseload(Vec::new(), std::iter::once(Ok(e.clone())), today()).unwrap();
        assert!(bytes.starts_with(BOM));
        let text = String::from_utf8(bytes[BOM.len()..].to_vec()).unwrap();
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert_eq!(
            lines[0],
            CASELOAD_HEADER.map(|h| format!("\"{h}\"")).join(",")
        );
        assert_eq!(
            lines[1],
            "\"'=cmd|' /C calc'!A0\",\"'@School, \"\"North\"\"\",-1,2,2,0,0,0,\
             \"absence (tier 2, unreviewed)\",1,\"absence-help\",\"2026-12-01T08:00:00.000Z\",42"
        );
        assert_eq!(lines[2], "", "the last row ends with CRLF");

        let q = GroupsQuery::default();
        let g = groups(std::iter::once(Ok(e)), &q, today()).unwrap();
        let bytes = write_groups(Vec::new(), &g).unwrap();
        let text = String::from_utf8(bytes[BOM.len()..].to_vec()).unwrap();
        assert!(text.contains(
            "\"intervention\",\"absence-help\",2,\"attendance\",\"absence-help\",\"'=cmd"
        ));
    }
}
