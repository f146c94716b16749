//! `intervene audit export --format parquet`: the audit log's decisions as Parquet
//! files for a state or district warehouse (DuckDB, Spark, Trino).
//!
//! Reads the log only through [`Source`] (for a store: `Store::head_seq` and
//! `Store::raw_after`, whose bytes are each entry's NDJSON line), so it does not
//! depend on how the store lays entries out on disk. Two datasets, hive-partitioned
//! by the month of the entry's `at` (UTC; always present, tombstones included, and
//! rising with `seq`, so a nightly run appends to the newest month):
//!
//! - `decisions/month=YYYY-MM/part-<first seq>-<last seq>.parquet`: one row per
//!   `decision` entry; a purged one is a tombstone row (its `seq`, `entry_at`,
//!   `hash` and `purged_by`; the decision's columns null).
//! - `flags/month=YYYY-MM/part-<first seq>-<last seq>.parquet`: one row per flag
//!   of each decision still holding its content.
//!
//! Other entries (reviews, loads, plans, purges, …) are not exported to Parquet.
//!
//! `--since SEQ` exports only entries after `SEQ`, into new files (an existing file
//! is never replaced). A decision exported earlier and purged since is told by a
//! late tombstone: each `audit.purged` entry in the window brings a tombstone row
//! for every decision it removed at or before `SEQ`, written to
//! `decisions/month=…/part-<first>-<last>-purged-by-<purge seq>.parquet`.
//!
//! Rows go out in batches of [`ROW_GROUP`] (one row group each) and a file is closed
//! as soon as its month ends, so memory stays flat however long the log is. Each
//! file is written under a hidden temporary name in its own directory, synced, and
//! only then linked to its final name (which fails rather than replace a file), so a
//! crash never leaves a partial file that looks like a part.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{
    ArrayBuilder, Float64Builder, Int32Builder, Int64Builder, ListBuilder, MapBuilder,
    MapFieldNames, StringBuilder, TimestampMillisecondBuilder,
};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::CliError;
use crate::audit::Store;

/// Rows per row group (and per batch handed to the writer).
pub const ROW_GROUP: usize = 65_536;

/// Entries read from the log at a time.
const READ_BATCH: usize = 1_000;

/// The tier domains, one `tier_<domain>` column each in `decisions`.
const DOMAINS: [&str; 4] = ["attendance", "academic", "behavioral", "social_emotional"];

/// Where the export reads the log: the last entry's number, and the entries after a
/// number as their NDJSON lines, in order.
pub trait Source {
    /// Number of the last entry (0 when empty).
    fn head(&self) -> Result<u64, CliError>;
    /// Entries with `seq > after`, in order, at most `limit`, as NDJSON lines.
    fn lines_after(&self, after: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>, CliError>;
}

impl Source for Store {
    fn head(&self) -> Result<u64, CliError> {
        Ok(self.head_seq()?)
    }

    fn lines_after(&self, after: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>, CliError> {
        Ok(self
            .raw_after(after, limit)?
            .into_iter()
            .map(|(seq, bytes)| (seq, bytes.to_vec()))
            .collect())
    }
}

/// One file written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// Relative to the output directory, e.g. `flags/month=2026-09/part-1-4100.parquet`.
    pub path: PathBuf,
    pub rows: u64,
}

/// What an export did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// The files written, in the order they were completed.
    pub files: Vec<Written>,
    /// The window exported: entries after `since` through `through` (the head when
    /// the export started: the `--since` of the next run).
    pub since: u64,
    pub through: u64,
    /// Decision rows with their content, and tombstone rows, in the window.
    pub decisions: u64,
    pub tombstones: u64,
    /// Tombstones for decisions at or before `since` that a purge in the window
    /// removed.
    pub late_tombstones: u64,
    pub flags: u64,
    /// Entries in the window that are not decisions (not exported).
    pub other_entries: u64,
}

/// Export the decisions after `since` from `source` into `out` (created if
/// missing). Refuses a `since` past the head and an `out` that is not a directory.
pub fn export(source: &impl Source, out: &Path, since: u64) -> Result<Summary, CliError> {
    if out.exists() && !out.is_dir() {
        return Err(CliError::OutNotDir(out.display().to_string()));
    }
    let head = source.head()?;
    if since > head {
        return Err(CliError::SinceBeyondHead { since, head });
    }
    let mut summary = Summary {
        since,
        through: head,
        ..Summary::default()
    };
    if since == head {
        return Ok(summary);
    }
    std::fs::create_dir_all(out).map_err(|e| CliError::OutDir {
        path: out.display().to_string(),
        source: e,
    })?;
    let mut decisions = Parts::new(out, "decisions", String::new(), DecisionRows::new());
    let mut flags = Parts::new(out, "flags", String::new(), FlagRows::new());
    let mut purges = Vec::new();
    let result = (|| {
        let mut after = since;
        'read: loop {
            let lines = source.lines_after(after, READ_BATCH)?;
            if lines.is_empty() {
                break;
            }
            for (seq, line) in lines {
                if seq > head {
                    break 'read;
                }
                after = seq;
                match parse(seq, &line)? {
                    Parsed::Decision(e) => {
                        let month = e.month.clone();
                        if e.decision.is_some() {
                            summary.decisions += 1;
                        } else {
                            summary.tombstones += 1;
                        }
                        decisions.start_row(&month, seq)?;
                        decisions.rows.push(&e);
                        if let Some(d) = &e.decision {
                            for f in &d.decision.flags {
                                flags.start_row(&month, seq)?;
                                flags.rows.push(&e, d, f);
                                summary.flags += 1;
                            }
                        }
                    }
                    Parsed::Purge(p) if since > 0 && p.first_seq <= since => {
                        summary.other_entries += 1;
                        purges.push((seq, p));
                    }
                    Parsed::Purge(_) | Parsed::Other => summary.other_entries += 1,
                }
            }
        }
        summary.files.extend(decisions.finish()?);
        summary.files.extend(flags.finish()?);
        for (purge_seq, p) in &purges {
            let (files, rows) = late_tombstones(source, out, *purge_seq, p, since)?;
            summary.files.extend(files);
            summary.late_tombstones += rows;
        }
        Ok(())
    })();
    if let Err(e) = result {
        decisions.abandon();
        flags.abandon();
        return Err(e);
    }
    Ok(summary)
}

/// Tombstone rows for the decisions at or before `since` that purge `purge_seq`
/// removed, read back from the range its entry names.
fn late_tombstones(
    source: &impl Source,
    out: &Path,
    purge_seq: u64,
    p: &PurgedPayload,
    since: u64,
) -> Result<(Vec<Written>, u64), CliError> {
    let mut parts = Parts::new(
        out,
        "decisions",
        format!("-purged-by-{purge_seq}"),
        DecisionRows::new(),
    );
    let last = p.last_seq.min(since);
    let mut rows = 0;
    let mut after = p.first_seq.saturating_sub(1);
    let result = (|| {
        'read: loop {
            let lines = source.lines_after(after, READ_BATCH)?;
            if lines.is_empty() {
                break;
            }
            for (seq, line) in lines {
                if seq > last {
                    break 'read;
                }
                after = seq;
                if let Parsed::Decision(e) = parse(seq, &line)?
                    && e.decision.is_none()
                    && e.purged_by == Some(purge_seq)
                {
                    parts.start_row(&e.month, seq)?;
                    parts.rows.push(&e);
                    rows += 1;
                }
            }
        }
        parts.finish()
    })();
    match result {
        Ok(files) => Ok((files, rows)),
        Err(e) => {
            parts.abandon();
            Err(e)
        }
    }
}

// ---------------------------------------------------------------------------------
// Reading entries

/// The members of an entry line the export reads.
#[derive(Deserialize)]
struct LineIn<'a> {
    #[serde(borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    at: Cow<'a, str>,
    #[serde(borrow)]
    actor: Cow<'a, str>,
    #[serde(default)]
    purged_by: Option<u64>,
    #[serde(borrow)]
    hash: Cow<'a, str>,
    #[serde(borrow)]
    payload: &'a RawValue,
}

/// A decision's payload, as `audit::decision` writes it.
#[derive(Deserialize)]
struct DecisionIn {
    student_id: String,
    #[serde(default)]
    school_id: Option<String>,
    #[serde(default)]
    grade_level: Option<i64>,
    decision_id: String,
    ruleset_version: String,
    source: SourceIn,
    record_sha256: String,
    decision: EngineDecisionIn,
}

#[derive(Deserialize)]
struct SourceIn {
    kind: String,
    #[serde(default)]
    event_id: Option<String>,
    #[serde(default)]
    event_type: Option<String>,
    #[serde(default)]
    line: Option<i64>,
}

/// The engine's decision (`engine::Decision`), the members exported.
#[derive(Deserialize)]
struct EngineDecisionIn {
    evaluated_at: String,
    #[serde(default)]
    flags: Vec<FlagIn>,
    #[serde(default)]
    tiers: BTreeMap<String, i64>,
    #[serde(default)]
    strengths: Vec<StrengthIn>,
}

#[derive(Deserialize)]
struct FlagIn {
    rule_id: String,
    domain: String,
    tier: i64,
    #[serde(default)]
    inputs: BTreeMap<String, serde_json::Value>,
}

#[derive(Deserialize)]
struct StrengthIn {
    rule_id: String,
}

/// An `audit.purged` entry's payload: the range of entries it removed.
#[derive(Deserialize)]
struct PurgedPayload {
    first_seq: u64,
    last_seq: u64,
}

/// A `decision` entry: its envelope, and its content unless purged.
struct DecisionEntry {
    seq: u64,
    month: String,
    at_ms: i64,
    actor: String,
    hash: String,
    purged_by: Option<u64>,
    decision: Option<DecisionIn>,
}

enum Parsed {
    Decision(Box<DecisionEntry>),
    Purge(PurgedPayload),
    Other,
}

fn bad(seq: u64, problem: impl std::fmt::Display) -> CliError {
    CliError::BadEntry {
        seq,
        problem: problem.to_string(),
    }
}

/// Read entry `seq`'s line.
fn parse(seq: u64, line: &[u8]) -> Result<Parsed, CliError> {
    let e: LineIn = serde_json::from_slice(line).map_err(|err| bad(seq, err))?;
    match e.kind.as_ref() {
        "decision" => {}
        "audit.purged" if e.purged_by.is_none() => {
            return match serde_json::from_str::<PurgedPayload>(e.payload.get()) {
                Ok(p) => Ok(Parsed::Purge(p)),
                // A purge that removed nothing names no range.
                Err(_) => Ok(Parsed::Other),
            };
        }
        _ => return Ok(Parsed::Other),
    }
    let at = chrono::DateTime::parse_from_rfc3339(&e.at)
        .map_err(|err| bad(seq, format!("`at` {:?} is not RFC 3339: {err}", e.at)))?
        .with_timezone(&chrono::Utc);
    let decision = if e.payload.get() == "null" {
        if e.purged_by.is_none() {
            return Err(bad(seq, "a decision without payload that no purge names"));
        }
        None
    } else {
        Some(
            serde_json::from_str::<DecisionIn>(e.payload.get())
                .map_err(|err| bad(seq, format!("decision payload: {err}")))?,
        )
    };
    Ok(Parsed::Decision(Box::new(DecisionEntry {
        seq,
        month: at.format("%Y-%m").to_string(),
        at_ms: at.timestamp_millis(),
        actor: e.actor.into_owned(),
        hash: e.hash.into_owned(),
        purged_by: e.purged_by,
        decision,
    })))
}

/// Milliseconds since the epoch of an RFC 3339 time (`None` when it is not one).
fn millis(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp_millis())
}

fn as_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn as_i32(v: i64) -> i32 {
    i32::try_from(v).unwrap_or(if v < 0 { i32::MIN } else { i32::MAX })
}

// ---------------------------------------------------------------------------------
// Rows

/// Column builders for one dataset.
trait Rows {
    fn schema(&self) -> SchemaRef;
    fn len(&self) -> usize;
    /// The rows so far as a batch; the builders start empty again.
    fn batch(&mut self) -> Result<RecordBatch, CliError>;
}

/// Map fields named as the Parquet format's MAP type has them.
fn map_names() -> MapFieldNames {
    MapFieldNames {
        entry: "key_value".into(),
        key: "key".into(),
        value: "value".into(),
    }
}

fn utc_ms() -> TimestampMillisecondBuilder {
    TimestampMillisecondBuilder::new().with_timezone("UTC")
}

fn string_list() -> ListBuilder<StringBuilder> {
    ListBuilder::new(StringBuilder::new())
}

/// `decisions` columns.
struct DecisionRows {
    schema: SchemaRef,
    seq: Int64Builder,
    entry_at: TimestampMillisecondBuilder,
    hash: StringBuilder,
    purged_by: Int64Builder,
    actor: StringBuilder,
    decision_id: StringBuilder,
    student_id: StringBuilder,
    school_id: StringBuilder,
    grade_level: Int64Builder,
    evaluated_at: TimestampMillisecondBuilder,
    ruleset_version: StringBuilder,
    highest_tier: Int32Builder,
    tiers: [Int32Builder; DOMAINS.len()],
    rule_ids: ListBuilder<StringBuilder>,
    strengths: ListBuilder<StringBuilder>,
    source_kind: StringBuilder,
    source_event_id: StringBuilder,
    source_event_type: StringBuilder,
    source_line: Int64Builder,
    record_sha256: StringBuilder,
}

impl DecisionRows {
    fn new() -> DecisionRows {
        let ts = utc_ms().finish().data_type().clone();
        let list = string_list().finish().data_type().clone();
        let mut fields = vec![
            Field::new("seq", DataType::Int64, false),
            Field::new("entry_at", ts.clone(), false),
            Field::new("hash", DataType::Utf8, false),
            Field::new("purged_by", DataType::Int64, true),
            Field::new("actor", DataType::Utf8, false),
            Field::new("decision_id", DataType::Utf8, true),
            Field::new("student_id", DataType::Utf8, true),
            Field::new("school_id", DataType::Utf8, true),
            Field::new("grade_level", DataType::Int64, true),
            Field::new("evaluated_at", ts, true),
            Field::new("ruleset_version", DataType::Utf8, true),
            Field::new("highest_tier", DataType::Int32, true),
        ];
        for d in DOMAINS {
            fields.push(Field::new(format!("tier_{d}"), DataType::Int32, true));
        }
        fields.extend([
            Field::new("rule_ids", list.clone(), true),
            Field::new("strengths", list, true),
            Field::new("source_kind", DataType::Utf8, true),
            Field::new("source_event_id", DataType::Utf8, true),
            Field::new("source_event_type", DataType::Utf8, true),
            Field::new("source_line", DataType::Int64, true),
            Field::new("record_sha256", DataType::Utf8, true),
        ]);
        DecisionRows {
            schema: Arc::new(Schema::new(fields)),
            seq: Int64Builder::new(),
            entry_at: utc_ms(),
            hash: StringBuilder::new(),
            purged_by: Int64Builder::new(),
            actor: StringBuilder::new(),
            decision_id: StringBuilder::new(),
            student_id: StringBuilder::new(),
            school_id: StringBuilder::new(),
            grade_level: Int64Builder::new(),
            evaluated_at: utc_ms(),
            ruleset_version: StringBuilder::new(),
            highest_tier: Int32Builder::new(),
            tiers: std::array::from_fn(|_| Int32Builder::new()),
            rule_ids: string_list(),
            strengths: string_list(),
            source_kind: StringBuilder::new(),
            source_event_id: StringBuilder::new(),
            source_event_type: StringBuilder::new(),
            source_line: Int64Builder::new(),
            record_sha256: StringBuilder::new(),
        }
    }

    fn push(&mut self, e: &DecisionEntry) {
        self.seq.append_value(as_i64(e.seq));
        self.entry_at.append_value(e.at_ms);
        self.hash.append_value(&e.hash);
        self.purged_by.append_option(e.purged_by.map(as_i64));
        self.actor.append_value(&e.actor);
        let Some(p) = &e.decision else {
            self.decision_id.append_null();
            self.student_id.append_null();
            self.school_id.append_null();
            self.grade_level.append_null();
            self.evaluated_at.append_null();
            self.ruleset_version.append_null();
            self.highest_tier.append_null();
            for t in &mut self.tiers {
                t.append_null();
            }
            self.rule_ids.append_null();
            self.strengths.append_null();
            self.source_kind.append_null();
            self.source_event_id.append_null();
            self.source_event_type.append_null();
            self.source_line.append_null();
            self.record_sha256.append_null();
            return;
        };
        let d = &p.decision;
        self.decision_id.append_value(&p.decision_id);
        self.student_id.append_value(&p.student_id);
        self.school_id.append_option(p.school_id.as_deref());
        self.grade_level.append_option(p.grade_level);
        self.evaluated_at.append_option(millis(&d.evaluated_at));
        self.ruleset_version.append_value(&p.ruleset_version);
        self.highest_tier
            .append_value(as_i32(d.tiers.values().copied().max().unwrap_or(0)));
        for (b, domain) in self.tiers.iter_mut().zip(DOMAINS) {
            b.append_option(d.tiers.get(domain).copied().map(as_i32));
        }
        for f in &d.flags {
            self.rule_ids.values().append_value(&f.rule_id);
        }
        self.rule_ids.append(true);
        for s in &d.strengths {
            self.strengths.values().append_value(&s.rule_id);
        }
        self.strengths.append(true);
        self.source_kind.append_value(&p.source.kind);
        self.source_event_id
            .append_option(p.source.event_id.as_deref());
        self.source_event_type
            .append_option(p.source.event_type.as_deref());
        self.source_line.append_option(p.source.line);
        self.record_sha256.append_value(&p.record_sha256);
    }
}

impl Rows for DecisionRows {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn len(&self) -> usize {
        self.seq.len()
    }

    fn batch(&mut self) -> Result<RecordBatch, CliError> {
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(self.seq.finish()),
            Arc::new(self.entry_at.finish()),
            Arc::new(self.hash.finish()),
            Arc::new(self.purged_by.finish()),
            Arc::new(self.actor.finish()),
            Arc::new(self.decision_id.finish()),
            Arc::new(self.student_id.finish()),
            Arc::new(self.school_id.finish()),
            Arc::new(self.grade_level.finish()),
            Arc::new(self.evaluated_at.finish()),
            Arc::new(self.ruleset_version.finish()),
            Arc::new(self.highest_tier.finish()),
        ];
        for t in &mut self.tiers {
            columns.push(Arc::new(t.finish()));
        }
        columns.extend([
            Arc::new(self.rule_ids.finish()) as ArrayRef,
            Arc::new(self.strengths.finish()),
            Arc::new(self.source_kind.finish()),
            Arc::new(self.source_event_id.finish()),
            Arc::new(self.source_event_type.finish()),
            Arc::new(self.source_line.finish()),
            Arc::new(self.record_sha256.finish()),
        ]);
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}

/// `flags` columns.
struct FlagRows {
    schema: SchemaRef,
    seq: Int64Builder,
    decision_id: StringBuilder,
    student_id: StringBuilder,
    school_id: StringBuilder,
    grade_level: Int64Builder,
    evaluated_at: TimestampMillisecondBuilder,
    rule_id: StringBuilder,
    domain: StringBuilder,
    tier: Int32Builder,
    inputs: MapBuilder<StringBuilder, Float64Builder>,
    inputs_text: MapBuilder<StringBuilder, StringBuilder>,
}

fn number_map() -> MapBuilder<StringBuilder, Float64Builder> {
    MapBuilder::new(
        Some(map_names()),
        StringBuilder::new(),
        Float64Builder::new(),
    )
}

fn text_map() -> MapBuilder<StringBuilder, StringBuilder> {
    MapBuilder::new(
        Some(map_names()),
        StringBuilder::new(),
        StringBuilder::new(),
    )
}

impl FlagRows {
    fn new() -> FlagRows {
        let ts = utc_ms().finish().data_type().clone();
        let fields = vec![
            Field::new("seq", DataType::Int64, false),
            Field::new("decision_id", DataType::Utf8, false),
            Field::new("student_id", DataType::Utf8, false),
            Field::new("school_id", DataType::Utf8, true),
            Field::new("grade_level", DataType::Int64, true),
            Field::new("evaluated_at", ts, true),
            Field::new("rule_id", DataType::Utf8, false),
            Field::new("domain", DataType::Utf8, false),
            Field::new("tier", DataType::Int32, false),
            Field::new("inputs", number_map().finish().data_type().clone(), false),
            Field::new("inputs_text", text_map().finish().data_type().clone(), true),
        ];
        FlagRows {
            schema: Arc::new(Schema::new(fields)),
            seq: Int64Builder::new(),
            decision_id: StringBuilder::new(),
            student_id: StringBuilder::new(),
            school_id: StringBuilder::new(),
            grade_level: Int64Builder::new(),
            evaluated_at: utc_ms(),
            rule_id: StringBuilder::new(),
            domain: StringBuilder::new(),
            tier: Int32Builder::new(),
            inputs: number_map(),
            inputs_text: text_map(),
        }
    }

    fn push(&mut self, e: &DecisionEntry, p: &DecisionIn, f: &FlagIn) {
        self.seq.append_value(as_i64(e.seq));
        self.decision_id.append_value(&p.decision_id);
        self.student_id.append_value(&p.student_id);
        self.school_id.append_option(p.school_id.as_deref());
        self.grade_level.append_option(p.grade_level);
        self.evaluated_at
            .append_option(millis(&p.decision.evaluated_at));
        self.rule_id.append_value(&f.rule_id);
        self.domain.append_value(&f.domain);
        self.tier.append_value(as_i32(f.tier));
        let mut texts = 0;
        for (k, v) in &f.inputs {
            if let Some(n) = v.as_f64() {
                self.inputs.keys().append_value(k);
                self.inputs.values().append_value(n);
            } else {
                self.inputs_text.keys().append_value(k);
                self.inputs_text.values().append_value(v.to_string());
                texts += 1;
            }
        }
        // Appending a map entry cannot fail here: keys and values are kept in step.
        let _ = self.inputs.append(true);
        let _ = self.inputs_text.append(texts > 0);
    }
}

impl Rows for FlagRows {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn len(&self) -> usize {
        self.seq.len()
    }

    fn batch(&mut self) -> Result<RecordBatch, CliError> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.seq.finish()),
            Arc::new(self.decision_id.finish()),
            Arc::new(self.student_id.finish()),
            Arc::new(self.school_id.finish()),
            Arc::new(self.grade_level.finish()),
            Arc::new(self.evaluated_at.finish()),
            Arc::new(self.rule_id.finish()),
            Arc::new(self.domain.finish()),
            Arc::new(self.tier.finish()),
            Arc::new(self.inputs.finish()),
            Arc::new(self.inputs_text.finish()),
        ];
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}

// ---------------------------------------------------------------------------------
// Files

/// The part files of one dataset written by one export: one open file at a time,
/// for the month of the rows going in.
struct Parts<R: Rows> {
    out: PathBuf,
    dataset: &'static str,
    /// Added to each file's name after its seq range.
    suffix: String,
    rows: R,
    open: Option<OpenPart>,
    done: Vec<Written>,
}

/// A part file being written under its temporary name.
struct OpenPart {
    month: String,
    dir: PathBuf,
    tmp: PathBuf,
    writer: ArrowWriter<File>,
    first: u64,
    last: u64,
    rows: u64,
}

impl<R: Rows> Parts<R> {
    fn new(out: &Path, dataset: &'static str, suffix: String, rows: R) -> Parts<R> {
        Parts {
            out: out.to_path_buf(),
            dataset,
            suffix,
            rows,
            open: None,
            done: Vec::new(),
        }
    }

    /// Make ready for a row of entry `seq` in `month`: a new file when the month
    /// changes, the rows so far written when a batch is full.
    fn start_row(&mut self, month: &str, seq: u64) -> Result<(), CliError> {
        if self.open.as_ref().is_some_and(|o| o.month != month) {
            self.close()?;
        }
        if self.open.is_none() {
            self.open = Some(self.create(month, seq)?);
        }
        if self.rows.len() >= ROW_GROUP {
            self.flush()?;
        }
        if let Some(o) = &mut self.open {
            o.last = seq;
            o.rows += 1;
        }
        Ok(())
    }

    fn create(&self, month: &str, first: u64) -> Result<OpenPart, CliError> {
        let dir = self.out.join(self.dataset).join(format!("month={month}"));
        std::fs::create_dir_all(&dir).map_err(|e| CliError::OutDir {
            path: dir.display().to_string(),
            source: e,
        })?;
        let tmp = dir.join(format!(
            ".part-{first}{}.{}.tmp",
            self.suffix,
            std::process::id()
        ));
        let file = File::create(&tmp).map_err(|e| CliError::OutDir {
            path: tmp.display().to_string(),
            source: e,
        })?;
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(ROW_GROUP))
            .set_created_by(format!("intervene {}", env!("CARGO_PKG_VERSION")))
            .build();
        let writer = ArrowWriter::try_new(file, self.rows.schema(), Some(props))?;
        Ok(OpenPart {
            month: month.to_string(),
            dir,
            tmp,
            writer,
            first,
            last: first,
            rows: 0,
        })
    }

    /// Hand the rows so far to the open file.
    fn flush(&mut self) -> Result<(), CliError> {
        if self.rows.len() == 0 {
            return Ok(());
        }
        let batch = self.rows.batch()?;
        if let Some(o) = &mut self.open {
            o.writer.write(&batch)?;
        }
        Ok(())
    }

    /// Complete the open file and give it its name.
    fn close(&mut self) -> Result<(), CliError> {
        self.flush()?;
        let Some(o) = self.open.take() else {
            return Ok(());
        };
        let name = format!("part-{}-{}{}.parquet", o.first, o.last, self.suffix);
        let target = o.dir.join(&name);
        let done = (|| {
            let file = o.writer.into_inner()?;
            file.sync_all()?;
            drop(file);
            // A link fails when the name is taken: an existing part is never replaced.
            std::fs::hard_link(&o.tmp, &target).map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    CliError::PartExists(target.display().to_string())
                } else {
                    CliError::Io(e)
                }
            })?;
            std::fs::remove_file(&o.tmp)?;
            File::open(&o.dir)?.sync_all()?;
            Ok::<_, CliError>(())
        })();
        if done.is_err() {
            let _ = std::fs::remove_file(&o.tmp);
        }
        done?;
        self.done.push(Written {
            path: PathBuf::from(self.dataset)
                .join(format!("month={}", o.month))
                .join(name),
            rows: o.rows,
        });
        Ok(())
    }

    /// Complete the open file; the files written.
    fn finish(&mut self) -> Result<Vec<Written>, CliError> {
        self.close()?;
        Ok(std::mem::take(&mut self.done))
    }

    /// Remove the file being written (after an error).
    fn abandon(&mut self) {
        if let Some(o) = self.open.take() {
            let _ = std::fs::remove_file(&o.tmp);
        }
    }
}

/// Keep the user's paths readable in messages.
pub fn describe(summary: &Summary) -> Vec<String> {
    let mut lines: Vec<String> = summary
        .files
        .iter()
        .map(|w| format!("wrote {} ({} rows)", w.path.display(), w.rows))
        .collect();
    if summary.since == summary.through {
        lines.push(format!(
            "nothing to export: the log ends at entry {} (no entry after --since {})",
            summary.through, summary.since
        ));
    } else {
        lines.push(format!(
            "exported entries {} to {}: {} decisions, {} purged decisions (tombstones), {} flags; \
{} tombstones for decisions exported before and purged since; {} other entries \
(not decisions) are not exported to Parquet",
            summary.since + 1,
            summary.through,
            summary.decisions,
            summary.tombstones,
            summary.flags,
            summary.late_tombstones,
            summary.other_entries
        ));
    }
    lines.push(format!(
        "next time, to export only what is new: --since {}",
        summary.through
    ));
    lines
}
