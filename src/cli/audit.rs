//! `intervene audit`: the audit log of a stopped server's data directory — verify
//! it, record a loss, export, purge, show.

use std::io::{self, BufWriter, IsTerminal, StdoutLock, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::CliError;
use crate::audit::{Checkpoint, OpenMode, Options, Query, Store};

/// `intervene audit` subcommands.
#[derive(clap::Subcommand)]
pub enum Action {
    /// Check the hash chain, and that the log reaches the last head the server
    /// acknowledged; exit 1 naming the first bad or missing entry
    Verify {
        /// Checkpoints you kept (JSON from `GET /v1/audit/checkpoint` or the server's
        /// log, one or more): the log must reach each one's `seq` with its `hash`
        #[arg(long, value_name = "FILE")]
        checkpoint: Option<PathBuf>,
        /// The server's checkpoint public key (hex): each checkpoint must be signed
        /// by it. Without it a signature is checked against the key the checkpoint
        /// names, which shows only that it was not altered since it was signed
        #[arg(long, value_name = "HEX", requires = "checkpoint")]
        public_key: Option<String>,
    },
    /// Accept that the newest entries were lost (the store was damaged and they
    /// cannot be restored from a backup): record the loss as an `audit.gap` entry so
    /// the server can start again without reusing their numbers
    RecordGap,
    /// Export entries: every entry as NDJSON on standard output (the default), or
    /// the decisions as Parquet files for a warehouse (`--format parquet --out DIR`:
    /// `decisions/` and `flags/`, partitioned `month=YYYY-MM` by the entry's `at`;
    /// other entries, such as reviews and loads, are not exported to Parquet)
    Export {
        /// `ndjson` (every entry, as stored, to standard output) or `parquet`
        #[arg(long, value_enum, default_value_t = ExportFormat::Ndjson)]
        format: ExportFormat,
        /// With `--format parquet`: the directory to write in (created when
        /// missing); existing files are never replaced
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Only entries after this one (the `--since` a previous Parquet export
        /// printed), so a nightly run writes only new files
        #[arg(long, value_name = "SEQ")]
        since: Option<u64>,
    },
    /// Remove the content of decisions older than N days, keeping the chain
    /// verifiable (what `audit.retention_days` does in a running server)
    Purge {
        #[arg(long, value_name = "DAYS")]
        older_than_days: u32,
    },
    /// Print entries, newest first
    Show {
        #[arg(long)]
        student: Option<String>,
        #[arg(long)]
        rule: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
}

/// What `intervene audit export` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Ndjson,
    Parquet,
}

/// Run `intervene audit <action>` on the store in `data`.
pub fn run(action: Action, data: &Path) -> Result<ExitCode, CliError> {
    match action {
        Action::Verify {
            checkpoint,
            public_key,
        } => verify(data, checkpoint.as_deref(), public_key.as_deref()),
        Action::RecordGap => record_gap(data),
        Action::Export { format, out, since } => match (format, out) {
            (ExportFormat::Ndjson, None) => export(data, since.unwrap_or(0)),
            (ExportFormat::Ndjson, Some(_)) => Err(CliError::OutWithNdjson),
            (ExportFormat::Parquet, Some(out)) => export_parquet(data, &out, since.unwrap_or(0)),
            (ExportFormat::Parquet, None) => Err(CliError::NoOut),
        },
        Action::Purge { older_than_days } => purge(data, older_than_days),
        Action::Show {
            student,
            rule,
            limit,
        } => show(data, student, rule, limit),
    }
}

/// Open the store in `data` in `mode`, run `f` with it and buffered standard output,
/// then flush and close it.
fn with_store(
    data: &Path,
    mode: OpenMode,
    f: impl FnOnce(&Store, &mut BufWriter<StdoutLock<'static>>) -> Result<ExitCode, CliError>,
) -> Result<ExitCode, CliError> {
    if !data.join("db").exists() {
        return Err(CliError::NoStore(data.display().to_string()));
    }
    let options = Options {
        mode,
        ..Default::default()
    };
    let store = Store::open_with(data, options)?;
    let mut out = BufWriter::new(io::stdout().lock());
    let code = f(&store, &mut out)?;
    out.flush()?;
    drop(out);
    store.shutdown();
    Ok(code)
}

/// Who the CLI acts as in the entries it appends.
fn cli_actor() -> String {
    match std::env::var("USER") {
        Ok(user) if !user.is_empty() => format!("cli:{user}"),
        _ => "cli".to_string(),
    }
}

/// `intervene audit record-gap`: record lost newest entries as an `audit.gap` entry.
pub fn record_gap(data: &Path) -> Result<ExitCode, CliError> {
    let mode = OpenMode::RecordGap { actor: cli_actor() };
    with_store(data, mode, |store, out| {
        match store.recorded_gap() {
            Some(g) => writeln!(
                out,
                "recorded: entries {} to {} were lost; entry {} (audit.gap) says so, and the log goes on after it",
                g.from, g.through, g.recorded_at
            )?,
            None => writeln!(
                out,
                "nothing to record: the log reaches the last entry it acknowledged"
            )?,
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `intervene audit purge`: remove the content of decisions older than `days`.
pub fn purge(data: &Path, days: u32) -> Result<ExitCode, CliError> {
    with_store(data, OpenMode::Serve, |store, out| {
        let before = crate::audit::retention_cutoff(days);
        let report = store.purge_before(&before, &cli_actor(), "")?;
        writeln!(
            out,
            "purged {} decisions dated before {before} ({} purge entries, {} entries read)",
            report.purged,
            report.purge_entries.len(),
            report.scanned
        )?;
        Ok(ExitCode::SUCCESS)
    })
}

/// `intervene audit export`: every entry after `since` as stored, one per line.
pub fn export(data: &Path, since: u64) -> Result<ExitCode, CliError> {
    with_store(data, OpenMode::Inspect, |store, out| {
        let head = store.head_seq()?;
        if since > head {
            return Err(CliError::SinceBeyondHead { since, head });
        }
        let mut after = since;
        loop {
            let rows = store.raw_after(after, 1000)?;
            let Some((last, _)) = rows.last() else { break };
            after = *last;
            for (_, bytes) in rows {
                out.write_all(&bytes)?;
                out.write_all(b"\n")?;
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `intervene audit export --format parquet`: the decisions after `since` as
/// Parquet files in `dir` (see `cli::parquet`), then what was written.
pub fn export_parquet(data: &Path, dir: &Path, since: u64) -> Result<ExitCode, CliError> {
    with_store(data, OpenMode::Inspect, |store, out| {
        let summary = super::parquet::export(store, dir, since)?;
        for line in super::parquet::describe(&summary) {
            writeln!(out, "{line}")?;
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `intervene audit show`: entries, newest first.
pub fn show(
    data: &Path,
    student: Option<String>,
    rule: Option<String>,
    limit: usize,
) -> Result<ExitCode, CliError> {
    with_store(data, OpenMode::Inspect, |store, out| {
        let page = store.query(&Query {
            student,
            rule,
            limit,
            ..Query::default()
        })?;
        for e in page.entries {
            writeln!(out, "{}", serde_json::to_string_pretty(&e)?)?;
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `intervene audit verify`: the chain, the recorded head, and kept checkpoints
/// (signed by `public_key` when given); exit 1 naming the first problem.
pub fn verify(
    data: &Path,
    checkpoints: Option<&Path>,
    public_key: Option<&str>,
) -> Result<ExitCode, CliError> {
    with_store(data, OpenMode::Inspect, |store, out| {
        verify_with(store, checkpoints, public_key, out)
    })
}

fn verify_with(
    store: &Store,
    checkpoints: Option<&Path>,
    public_key: Option<&str>,
    out: &mut impl Write,
) -> Result<ExitCode, CliError> {
    let tty = io::stderr().is_terminal();
    let report = store.verify(&mut |n| {
        if tty {
            eprint!("\r{n} entries checked");
        }
    })?;
    if tty {
        eprintln!();
    }
    if !report.ok {
        writeln!(
            out,
            "BROKEN at entry {}: {}",
            report.first_bad_seq.unwrap_or(0),
            report.problem.unwrap_or_default()
        )?;
        return Ok(ExitCode::from(1));
    }
    let mut matched = Vec::new();
    if let Some(file) = checkpoints {
        for c in read_checkpoints(file)? {
            let checked = c
                .check_signature(public_key)
                .and_then(|_| store.check_checkpoint(&c));
            if let Err(problem) = checked {
                writeln!(
                    out,
                    "BROKEN against checkpoint `{}`: {problem}",
                    file.display()
                )?;
                return Ok(ExitCode::from(1));
            }
            matched.push(c.seq);
        }
    }
    writeln!(
        out,
        "ok: {} entries, chain intact, head {}",
        report.entries, report.head_hash
    )?;
    for g in &report.recorded_gaps {
        writeln!(
            out,
            "note: entries {} to {} were lost (recorded by entry {}, audit.gap)",
            g.from, g.through, g.recorded_at
        )?;
    }
    if !matched.is_empty() {
        let signed = if public_key.is_some() {
            ", signed by the key given"
        } else {
            ""
        };
        writeln!(
            out,
            "matches the checkpoints at entries {matched:?}{signed}"
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// One or more checkpoints (JSON documents, e.g. one per line) from `file`.
fn read_checkpoints(file: &Path) -> Result<Vec<Checkpoint>, CliError> {
    let path = file.display().to_string();
    let text = std::fs::read_to_string(file).map_err(|source| CliError::CheckpointFile {
        path: path.clone(),
        source,
    })?;
    let all: Vec<Checkpoint> = serde_json::Deserializer::from_str(&text)
        .into_iter()
        .collect::<Result<_, _>>()
        .map_err(|source| CliError::CheckpointParse {
            path: path.clone(),
            source,
        })?;
    if all.is_empty() {
        return Err(CliError::NoCheckpoint(path));
    }
    Ok(all)
}
