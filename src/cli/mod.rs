//! The command line's commands, one file per group: the rule set (`check`, `test`,
//! `eval`), the audit log of a stopped server, keys, `import` and `serve`. `main.rs`
//! parses flags and calls these; each returns the process exit code, or a
//! [`CliError`] that `main` prints. Use cases shared with the service come from
//! [`crate::app`].

pub mod audit;
pub mod caseload;
pub mod import;
pub mod keys;
pub mod parquet;
pub mod rules;
pub mod serve;

use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::config::Settings;
use crate::rules::{RuleSet, diag};

/// Why a command could not run (what it found wrong is its output and exit code).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("cannot open `{path}`")]
    Open {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("no audit store in `{0}`")]
    NoStore(String),
    #[error("cannot read checkpoint file `{path}`")]
    CheckpointFile {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("checkpoint file `{path}`")]
    CheckpointParse {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("checkpoint file `{0}` holds no checkpoint")]
    NoCheckpoint(String),
    #[error("unknown role `{0}`; use ingest, counselor, auditor or admin")]
    UnknownRole(String),
    #[error("`--name` must not be empty")]
    EmptyName,
    #[error(
        "`--since {since}` is past the end of the audit log (its last entry is {head}); \
use the `--since` the previous export printed, or leave it out to export everything"
    )]
    SinceBeyondHead { since: u64, head: u64 },
    #[error("`--out {0}` is a file; give a directory (it is created when missing)")]
    OutNotDir(String),
    #[error("`--out` is for `--format parquet`; NDJSON goes to standard output")]
    OutWithNdjson,
    #[error("`--format parquet` needs `--out DIR`, the directory to write the files in")]
    NoOut,
    #[error("cannot write in `{path}` (under `--out`)")]
    OutDir {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error(
        "`{0}` already exists: this range of entries was exported before, and a part is \
never replaced; give the `--since` the previous export printed"
    )]
    PartExists(String),
    #[error("audit entry {seq} cannot be exported: {problem}")]
    BadEntry { seq: u64, problem: String },
    #[error("writing Parquet")]
    Parquet(#[from] ::parquet::errors::ParquetError),
    #[error("building Arrow columns")]
    Arrow(#[from] arrow_schema::ArrowError),
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Start(#[from] crate::http::StartError),
    #[error(transparent)]
    Store(#[from] crate::app::OpenError),
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
    #[error(transparent)]
    Key(#[from] crate::audit::checkpoint::KeyError),
    #[error(transparent)]
    Ingest(#[from] crate::students::IngestError),
    #[error(transparent)]
    App(#[from] crate::app::AppError),
    #[error(transparent)]
    Caseload(#[from] crate::caseload::CaseloadError),
}

/// The settings `serve` and `import` share: defaults, the file (`config`, or
/// `intervene.yaml` when present), the `INTERVENE_*` environment, then the flags
/// given.
pub fn settings(
    config: Option<&Path>,
    rules: Option<PathBuf>,
    data: Option<PathBuf>,
) -> Result<Settings, CliError> {
    let mut s = Settings::load(config)?;
    if let Some(r) = rules {
        s.rules = r;
    }
    if let Some(d) = data {
        s.data = d;
    }
    Ok(s)
}

/// The rule set in `dir`, or its diagnostics printed and exit code 1.
fn load(dir: &Path) -> Result<RuleSet, ExitCode> {
    RuleSet::load_dir(dir).map_err(|e| {
        eprint!("{}", diag::render(&e.diagnostics));
        ExitCode::from(1)
    })
}

/// The file `input`, or standard input for `-`.
fn open_input(input: &str) -> Result<Box<dyn BufRead + Send>, CliError> {
    Ok(if input == "-" {
        Box::new(BufReader::new(io::stdin()))
    } else {
        let f = std::fs::File::open(input).map_err(|source| CliError::Open {
            path: input.to_string(),
            source,
        })?;
        Box::new(BufReader::with_capacity(1 << 16, f))
    })
}

/// A runtime on this thread for the use cases a command runs (their blocking work
/// goes to its blocking pool).
fn runtime() -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// Exit 0, or `code` when `failed`.
fn exit(failed: bool, code: u8) -> ExitCode {
    if failed {
        ExitCode::from(code)
    } else {
        ExitCode::SUCCESS
    }
}
