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

mod parts;
mod read;
mod rows;

use std::path::Path;

use crate::audit::Store;
use crate::cli::CliError;
use parts::Parts;
use read::{Parsed, PurgedPayload, parse};
use rows::{DecisionRows, FlagRows};

pub use parts::{ROW_GROUP, Written};

/// Entries read from the log at a time.
const READ_BATCH: usize = 1_000;

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
        each_line(source, since, head, |seq, line| {
            match parse(seq, line)? {
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
            Ok(())
        })?;
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

/// Call `f` with each entry after `after` through `last`, in order, reading the log
/// [`READ_BATCH`] entries at a time.
fn each_line(
    source: &impl Source,
    mut after: u64,
    last: u64,
    mut f: impl FnMut(u64, &[u8]) -> Result<(), CliError>,
) -> Result<(), CliError> {
    loop {
        let lines = source.lines_after(after, READ_BATCH)?;
        if lines.is_empty() {
            return Ok(());
        }
        for (seq, line) in lines {
            if seq > last {
                return Ok(());
            }
            after = seq;
            f(seq, &line)?;
        }
    }
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
    let result = (|| {
        each_line(source, p.first_seq.saturating_sub(1), last, |seq, line| {
            if let Parsed::Decision(e) = parse(seq, line)?
                && e.decision.is_none()
                && e.purged_by == Some(purge_seq)
            {
                parts.start_row(&e.month, seq)?;
                parts.rows.push(&e);
                rows += 1;
            }
            Ok(())
        })?;
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
