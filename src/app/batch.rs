//! Many records at once without auditing (`intervene eval`): NDJSON (one record per
//! line) or one JSON document (a record or an array of records) in, one decision
//! per record out, in input order.
//!
//! NDJSON goes through the one line reader and driver ([`super::ndjson::drive`]):
//! each chunk is parsed, evaluated and serialized on every core (rayon) on the
//! blocking pool, then written in order. A bad line becomes an error line naming its
//! line number and field; the other lines go on. Lines longer than
//! [`MAX_RECORD_BYTES`] are skipped without being buffered whole.

use std::io::{self, BufRead, Read, Write};
use std::sync::Arc;

use rayon::prelude::*;
use serde::Serialize;

use super::AppError;
use crate::engine::{Decision, Evaluator, render_report};
use crate::ndjson::{LineError, ReadLines};
use crate::record::{MAX_RECORD_BYTES, Record, RecordError, parse_record, record_from_value};
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

/// One record's output line, whether it was flagged, whether it was a record.
type Answer = (String, bool, bool);

/// The rule set and evaluator a run shares with its chunks on other threads.
#[derive(Clone)]
pub struct Rules {
    pub rules: Arc<RuleSet>,
    pub evaluator: Arc<Evaluator>,
    pub output: Output,
}

impl Rules {
    /// Evaluate one input item; a bad record gives its error line.
    fn answer(&self, line: u64, parsed: Result<Record, RecordError>) -> Answer {
        match parsed {
            Ok(record) => {
                let d = self.evaluator.evaluate(&self.rules, &record);
                (self.render(&d), !d.flags.is_empty(), true)
            }
            Err(e) => (error_line(line, &e, self.output), false, false),
        }
    }

    fn render(&self, d: &Decision) -> String {
        match self.output {
            Output::Json => serde_json::to_string(d).unwrap_or_default(),
            Output::Explain => render_report(d, &self.rules),
        }
    }
}

fn error_line(line: u64, e: &RecordError, out: Output) -> String {
    match out {
        Output::Json => LineError::json(line, e),
        Output::Explain => format!("line {line}: error: {e}\n"),
    }
}

/// Evaluate everything `input` holds and write one line per record to `output`.
/// `progress` is called with the count of records done after each chunk.
pub async fn run<R: BufRead + Send + 'static>(
    input: R,
    output: impl Write,
    rules: &Rules,
    progress: &mut dyn FnMut(u64),
) -> Result<Summary, AppError> {
    let mut lines = ReadLines::new(input, MAX_RECORD_BYTES);
    let Some(first) = lines.next_chunk_now(1)?.pop() else {
        return Ok(Summary::default());
    };
    // A first line that is not a whole JSON value may start a multi-line document;
    // if the whole input is not one JSON document either, it is NDJSON whose first
    // line is bad, and every line is evaluated on its own.
    if let (1, Ok(text)) = (first.0, &first.1) {
        let trimmed = text.trim();
        if serde_json::from_str::<serde::de::IgnoredAny>(trimmed).is_err() {
            let mut doc = text.clone();
            doc.push('\n');
            // Only `None` while a read runs on the blocking pool, which none does here.
            let Some(mut rest) = lines.into_inner() else {
                return Ok(Summary::default());
            };
            (&mut rest)
                .take(MAX_DOCUMENT_BYTES as u64)
                .read_to_string(&mut doc)?;
            if serde_json::from_str::<serde::de::IgnoredAny>(&doc).is_ok() {
                return document(doc, output, rules).await;
            }
            let all = io::BufReader::new(io::Cursor::new(doc.into_bytes()).chain(rest));
            let lines = ReadLines::new(all, MAX_RECORD_BYTES);
            return each_line(lines, output, rules, progress).await;
        }
        if trimmed.starts_with('[') {
            return document(trimmed.to_string(), output, rules).await;
        }
    }
    lines.unread(first);
    each_line(lines, output, rules, progress).await
}

/// NDJSON: one record per line, in parallel chunks, answers in input order.
async fn each_line<R: BufRead + Send + 'static>(
    mut lines: ReadLines<R>,
    mut output: impl Write,
    rules: &Rules,
    progress: &mut dyn FnMut(u64),
) -> Result<Summary, AppError> {
    let mut summary = Summary::default();
    super::ndjson::drive(&mut lines, CHUNK, async |chunk| {
        let r = rules.clone();
        let answers: Vec<Answer> = crate::blocking::run(move || {
            chunk
                .into_par_iter()
                .map(|(n, text)| r.answer(n, text.and_then(|t| parse_record(&t))))
                .collect()
        })
        .await?;
        write_answers(&mut output, &answers, &mut summary)?;
        progress(summary.records);
        Ok(())
    })
    .await?;
    output.flush()?;
    Ok(summary)
}

fn write_answers(
    output: &mut impl Write,
    answers: &[Answer],
    summary: &mut Summary,
) -> Result<(), AppError> {
    let write = |output: &mut dyn Write, text: &str| -> io::Result<()> {
        output.write_all(text.as_bytes())?;
        if !text.ends_with('\n') {
            output.write_all(b"\n")?;
        }
        Ok(())
    };
    for (text, flagged, ok) in answers {
        write(output, text)?;
        summary.records += 1;
        summary.flagged += u64::from(*flagged);
        summary.rejected += u64::from(!*ok);
    }
    Ok(())
}

/// One JSON document: a record, or an array of records (numbered from 1).
async fn document(doc: String, mut output: impl Write, rules: &Rules) -> Result<Summary, AppError> {
    let r = rules.clone();
    let answers = crate::blocking::run(move || document_answers(&doc, &r)).await?;
    let mut summary = Summary::default();
    write_answers(&mut output, &answers, &mut summary)?;
    output.flush()?;
    Ok(summary)
}

fn document_answers(doc: &str, rules: &Rules) -> Vec<Answer> {
    // Each record may nest MAX_JSON_DEPTH levels; an array adds one.
    if let Err(e) = crate::record::check_depth_limit(doc, crate::record::MAX_JSON_DEPTH + 1) {
        return vec![(error_line(1, &e, rules.output), false, false)];
    }
    let items: Vec<serde_json::Value> = match serde_json::from_str::<serde_json::Value>(doc) {
        Ok(serde_json::Value::Array(items)) => items,
        Ok(v) => vec![v],
        Err(e) => {
            let err = RecordError::message(format!("invalid JSON: {e}"));
            return vec![(
                error_line(e.line() as u64, &err, rules.output),
                false,
                false,
            )];
        }
    };
    items
        .into_par_iter()
        .enumerate()
        .map(|(i, v)| rules.answer(i as u64 + 1, record_from_value(v)))
        .collect()
}
