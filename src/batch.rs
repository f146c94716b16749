//! Many records at once: NDJSON (one record per line) or one JSON document (a record
//! or an array of records) in, one decision per record out, in input order.
//!
//! Lines are read in chunks and each chunk is parsed, evaluated and serialized on
//! every core (rayon), then written in order. A bad line becomes an error line
//! naming its line number and field; the other lines go on. Lines longer than
//! [`MAX_RECORD_BYTES`] are skipped without being buffered whole.

use std::io::{self, BufRead, Read, Write};

use rayon::prelude::*;
use serde::Serialize;

use crate::engine::{Decision, Evaluator, render_report};
use crate::record::{MAX_RECORD_BYTES, RecordError, parse_record, record_from_value};
use crate::rules::RuleSet;

/// Records handled per parallel chunk.
const CHUNK: usize = 4096;
/// Largest single JSON document (not NDJSON) accepted.
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024 * 1024;

/// What a run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub records: u64,
    pub rejected: u64,
    pub flagged: u64,
}

/// How decisions are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// One decision (or error) per line as JSON.
    Json,
    /// The readable report of each decision.
    Explain,
}

/// The error line for a record that could not be evaluated.
#[derive(utoipa::ToSchema, Debug, Serialize)]
pub struct LineError<'a> {
    pub line: u64,
    pub field: &'a str,
    pub error: String,
}

/// One line as read: its text, or how long it was when over the limit.
pub enum LineRead {
    Line(String),
    TooLong(usize),
    Invalid,
}

/// Read one line of at most `cap` bytes. Longer lines are consumed and reported
/// without being kept in memory. `Ok(None)` at end of input.
pub fn read_line_bounded(r: &mut impl BufRead, cap: usize) -> io::Result<Option<LineRead>> {
    let mut buf = Vec::new();
    let mut len = 0usize;
    let mut any = false;
    loop {
        let chunk = r.fill_buf()?;
        if chunk.is_empty() {
            break;
        }
        any = true;
        let (part, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (&chunk[..i], Some(i + 1)),
            None => (chunk, None),
        };
        len += part.len();
        if len <= cap {
            buf.extend_from_slice(part);
        }
        let used = done.unwrap_or(chunk.len());
        r.consume(used);
        if done.is_some() {
            break;
        }
    }
    if !any {
        return Ok(None);
    }
    if len > cap {
        return Ok(Some(LineRead::TooLong(len)));
    }
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    Ok(Some(
        String::from_utf8(buf).map_or(LineRead::Invalid, LineRead::Line),
    ))
}

/// Evaluate one input item; `Err` carries the output line for a bad record.
fn one(
    rules: &RuleSet,
    ev: &Evaluator,
    line: u64,
    parsed: Result<crate::record::Record, RecordError>,
    out: Output,
) -> (String, bool, bool) {
    match parsed {
        Ok(record) => {
            let d = ev.evaluate(rules, &record);
            (render(&d, rules, out), !d.flags.is_empty(), true)
        }
        Err(e) => (error_line(line, &e, out), false, false),
    }
}

fn render(d: &Decision, rules: &RuleSet, out: Output) -> String {
    match out {
        Output::Json => serde_json::to_string(d).unwrap_or_default(),
        Output::Explain => render_report(d, rules),
    }
}

fn error_line(line: u64, e: &RecordError, out: Output) -> String {
    match out {
        Output::Json => serde_json::to_string(&LineError {
            line,
            field: e.field(),
            error: e.to_string(),
        })
        .unwrap_or_default(),
        Output::Explain => format!("line {line}: error: {e}\n"),
    }
}

enum Item {
    Text(u64, LineRead),
}

/// Evaluate everything `input` holds and write one line per record to `output`.
/// `progress` is called with the count of records done after each chunk.
pub fn run(
    mut input: impl BufRead,
    output: impl Write,
    rules: &RuleSet,
    ev: &Evaluator,
    out: Output,
    progress: &mut dyn FnMut(u64),
) -> io::Result<Summary> {
    let Some(first) = read_line_bounded(&mut input, MAX_RECORD_BYTES)? else {
        return Ok(Summary::default());
    };
    // A first line that is not a whole JSON value may start a multi-line document;
    // if the whole input is not one JSON document either, it is NDJSON whose first
    // line is bad, and every line is evaluated on its own.
    if let LineRead::Line(text) = &first {
        let trimmed = text.trim();
        if !trimmed.is_empty() && serde_json::from_str::<serde::de::IgnoredAny>(trimmed).is_err() {
            let mut doc = text.clone();
            doc.push('\n');
            (&mut input)
                .take(MAX_DOCUMENT_BYTES as u64)
                .read_to_string(&mut doc)?;
            if serde_json::from_str::<serde::de::IgnoredAny>(&doc).is_ok() {
                return document(&doc, output, rules, ev, out);
            }
            let rest = io::Cursor::new(doc.into_bytes()).chain(input);
            return lines(
                io::BufReader::new(rest),
                None,
                output,
                rules,
                ev,
                out,
                progress,
            );
        }
        if trimmed.starts_with('[') {
            return document(trimmed, output, rules, ev, out);
        }
    }
    lines(input, Some(first), output, rules, ev, out, progress)
}

/// NDJSON: one record per line, in parallel chunks, answers in input order.
#[allow(clippy::too_many_arguments)]
fn lines(
    mut input: impl BufRead,
    first: Option<LineRead>,
    mut output: impl Write,
    rules: &RuleSet,
    ev: &Evaluator,
    out: Output,
    progress: &mut dyn FnMut(u64),
) -> io::Result<Summary> {
    let mut summary = Summary::default();
    let mut pending = first;
    let mut line_no = 0u64;
    loop {
        let mut chunk = Vec::with_capacity(CHUNK);
        while chunk.len() < CHUNK {
            let next = match pending.take() {
                Some(p) => Some(p),
                None => read_line_bounded(&mut input, MAX_RECORD_BYTES)?,
            };
            let Some(read) = next else { break };
            line_no += 1;
            if matches!(&read, LineRead::Line(t) if t.trim().is_empty()) {
                continue;
            }
            chunk.push(Item::Text(line_no, read));
        }
        if chunk.is_empty() {
            break;
        }
        let results: Vec<(String, bool, bool)> = chunk
            .into_par_iter()
            .map(|Item::Text(n, read)| {
                let parsed = match read {
                    LineRead::Line(t) => parse_record(&t),
                    LineRead::TooLong(len) => Err(too_long(len)),
                    LineRead::Invalid => Err(not_utf8()),
                };
                one(rules, ev, n, parsed, out)
            })
            .collect();
        write_results(&mut output, &results, &mut summary)?;
        progress(summary.records);
    }
    output.flush()?;
    Ok(summary)
}

fn write_results(
    output: &mut impl Write,
    results: &[(String, bool, bool)],
    summary: &mut Summary,
) -> io::Result<()> {
    for (text, flagged, ok) in results {
        output.write_all(text.as_bytes())?;
        if !text.ends_with('\n') {
            output.write_all(b"\n")?;
        }
        summary.records += 1;
        summary.flagged += u64::from(*flagged);
        summary.rejected += u64::from(!*ok);
    }
    Ok(())
}

fn too_long(len: usize) -> RecordError {
    RecordError::message(format!(
        "line is {len} bytes; the limit is {MAX_RECORD_BYTES} bytes"
    ))
}

fn not_utf8() -> RecordError {
    RecordError::message("line is not valid UTF-8".into())
}

/// One JSON document: a record, or an array of records (numbered from 1).
fn document(
    doc: &str,
    mut output: impl Write,
    rules: &RuleSet,
    ev: &Evaluator,
    out: Output,
) -> io::Result<Summary> {
    let mut summary = Summary::default();
    // Each record may nest MAX_JSON_DEPTH levels; an array adds one.
    if let Err(e) = crate::record::check_depth_limit(doc, crate::record::MAX_JSON_DEPTH + 1) {
        write_results(
            &mut output,
            &[(error_line(1, &e, out), false, false)],
            &mut summary,
        )?;
        return Ok(summary);
    }
    let items: Vec<serde_json::Value> = match serde_json::from_str::<serde_json::Value>(doc) {
        Ok(serde_json::Value::Array(items)) => items,
        Ok(v) => vec![v],
        Err(e) => {
            let err = RecordError::message(format!("invalid JSON: {e}"));
            write_results(
                &mut output,
                &[(error_line(e.line() as u64, &err, out), false, false)],
                &mut summary,
            )?;
            return Ok(summary);
        }
    };
    let results: Vec<(String, bool, bool)> = items
        .into_par_iter()
        .enumerate()
        .map(|(i, v)| one(rules, ev, i as u64 + 1, record_from_value(v), out))
        .collect();
    write_results(&mut output, &results, &mut summary)?;
    output.flush()?;
    Ok(summary)
}
