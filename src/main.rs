//! The `intervene` command line: wiring only; the work is in the library.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc's `mi_option_e` (v3 header; the enum keeps
/// retired options as placeholders so the numbers stay stable).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

use std::io::{self, BufRead, BufReader, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

use intervene::audit::{OpenMode, Query, Store};
use intervene::batch::{self, Output};
use intervene::config::{LogFormat, Role, Settings};
use intervene::engine::Evaluator;
use intervene::http::Application;
use intervene::rules::{RuleSet, diag};
use intervene::ruletest;

#[derive(Parser)]
#[command(
    name = "intervene",
    version,
    about = "Early-warning rules and tiered intervention recommendations for schools"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP service
    Serve {
        /// Config file (default: intervene.yaml when present)
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long)]
        rules: Option<PathBuf>,
        #[arg(long)]
        data: Option<PathBuf>,
        /// Address to listen on, e.g. 127.0.0.1:8080
        #[arg(long)]
        bind: Option<String>,
        #[arg(long, value_enum)]
        log_format: Option<LogFormat>,
    },
    /// Import whole records (NDJSON) as student snapshots, evaluate and audit them
    Import {
        #[arg(long, default_value = "data")]
        data: PathBuf,
        /// `canonical` records or `edfi` bundles
        #[arg(long, default_value = "canonical")]
        format: String,
        /// Ed-Fi descriptor mapping (with --format edfi)
        #[arg(long, default_value = "config/edfi-descriptors.yaml")]
        descriptors: PathBuf,
        #[arg(long, default_value = "rules")]
        rules: PathBuf,
        /// Input file, or `-` for standard input
        input: String,
    },
    /// Inspect the audit log of a stopped server's data directory
    Audit {
        #[command(subcommand)]
        action: AuditAction,
        #[arg(long, default_value = "data", global = true)]
        data: PathBuf,
    },
    /// Manage API keys
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Check a rule set and print every problem (exit 1 on any error)
    Check {
        /// Rule-set directory
        #[arg(default_value = "rules")]
        dir: PathBuf,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Run a rule set's tests (tests/*.yaml); exit 1 on any failure
    Test {
        #[arg(default_value = "rules")]
        dir: PathBuf,
    },
    /// Evaluate records (a JSON record, a JSON array, or NDJSON) and print decisions
    Eval {
        #[arg(long, default_value = "rules")]
        rules: PathBuf,
        /// Print a readable report instead of JSON
        #[arg(long)]
        explain: bool,
        /// Input file, or `-` for standard input
        input: String,
    },
}

#[derive(Subcommand)]
enum AuditAction {
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
    /// Print every entry as NDJSON
    Export,
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

#[derive(Subcommand)]
enum KeysAction {
    /// Create a key: prints it once, and the config line holding its hash
    New {
        #[arg(long)]
        name: String,
        #[arg(long)]
        role: String,
    },
    /// Create the Ed25519 key that signs audit checkpoints (never overwrites a file);
    /// prints its public key. Keep it outside the data directory
    Checkpoint {
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

fn main() -> ExitCode {
    // Keep freed memory for reuse instead of handing it back to the OS after a delay:
    // the audit writer and sled free and reallocate large buffers all the time, and
    // every page handed back came back as a page fault plus zeroing (about a tenth
    // of the durable evaluate path). The process stays at its peak size instead.
    // SAFETY: setting an option is a plain store that mimalloc allows at any time.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    match Cli::parse().command {
        Command::Check { dir, format } => check(&dir, format),
        Command::Test { dir } => test(&dir),
        Command::Eval {
            rules,
            explain,
            input,
        } => eval(&rules, explain, &input),
        Command::Serve {
            config,
            rules,
            data,
            bind,
            log_format,
        } => {
            let mut s = Settings::load(config.as_deref())?;
            if let Some(r) = rules {
                s.rules = r;
            }
            if let Some(d) = data {
                s.data = d;
            }
            if let Some(b) = bind {
                s.bind = b;
            }
            if let Some(f) = log_format {
                s.log_format = f;
            }
            serve(s)
        }
        Command::Audit { action, data } => audit(action, &data),
        Command::Import {
            data,
            format,
            descriptors,
            rules,
            input,
        } => {
            let format = match format.as_str() {
                "canonical" => intervene::students::Format::Canonical,
                "edfi" => intervene::students::Format::EdFi(std::sync::Arc::new(
                    intervene::students::edfi::Descriptors::load(&descriptors)
                        .map_err(|e| anyhow::Error::msg(e.to_string()))?,
                )),
                other => anyhow::bail!("unknown format `{other}`; use `canonical` or `edfi`"),
            };
            import(&data, &rules, &format, &input)
        }
        Command::Keys {
            action: KeysAction::New { name, role },
        } => keys_new(&name, &role),
        Command::Keys {
            action: KeysAction::Checkpoint { out },
        } => {
            let public = intervene::audit::checkpoint::create_key(&out)?;
            println!("checkpoint key written to {} (mode 0600)", out.display());
            println!("public key (give it to auditors): {public}");
            println!("add to intervene.yaml under audit:");
            println!("  checkpoint_key: {}", out.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn load(dir: &Path) -> Result<RuleSet, ExitCode> {
    RuleSet::load_dir(dir).map_err(|e| {
        eprint!("{}", diag::render(&e.diagnostics));
        ExitCode::from(1)
    })
}

fn check(dir: &Path, format: Format) -> anyhow::Result<ExitCode> {
    let (diags, ok, version) = match RuleSet::load_dir(dir) {
        Ok(rs) => (rs.warnings.clone(), true, Some(rs.version.clone())),
        Err(e) => (e.diagnostics, false, None),
    };
    match format {
        Format::Json => {
            let body = serde_json::json!({"ok": ok, "version": version, "diagnostics": diags});
            println!("{}", serde_json::to_string_pretty(&body)?);
        }
        Format::Text => {
            print!("{}", diag::render(&diags));
            if let Some(v) = version {
                println!("rule set {} is valid ({v})", dir.display());
            }
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn test(dir: &Path) -> anyhow::Result<ExitCode> {
    let rules = match load(dir) {
        Ok(r) => r,
        Err(code) => return Ok(code),
    };
    let report = ruletest::run(&rules, &Evaluator::new());
    for d in &report.diagnostics {
        println!("{d}");
    }
    for f in &report.failures {
        println!(
            "FAIL {}:{}: {}: {}",
            f.file,
            f.line,
            f.name,
            f.differences.join("; ")
        );
    }
    for id in &report.uncovered {
        println!(
            "warning: rule `{id}` is not tested on both sides (no case where it fires and one where it does not)"
        );
    }
    println!("{} passed, {} failed", report.passed, report.failed());
    Ok(if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn eval(rules_dir: &Path, explain: bool, input: &str) -> anyhow::Result<ExitCode> {
    let rules = match load(rules_dir) {
        Ok(r) => r,
        Err(code) => return Ok(code),
    };
    let reader = open_input(input)?;
    let stdout = io::stdout().lock();
    let out = io::BufWriter::with_capacity(1 << 16, stdout);
    let tty = io::stderr().is_terminal();
    let mut progress = |n: u64| {
        if tty {
            eprint!("\r{n} records evaluated");
            let _ = io::stderr().flush();
        }
    };
    let mode = if explain {
        Output::Explain
    } else {
        Output::Json
    };
    let summary = batch::run(reader, out, &rules, &Evaluator::new(), mode, &mut progress)?;
    if tty {
        eprintln!(
            "\r{} records, {} flagged, {} rejected",
            summary.records, summary.flagged, summary.rejected
        );
    }
    Ok(if summary.rejected > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// Logs go to stderr through a background thread that writes whatever lines are
/// waiting in one `write` (a request no longer waits on a syscall per line). No line
/// is dropped: a full queue slows callers down instead. Keep the guard until exit;
/// dropping it writes out the rest.
fn init_tracing(format: LogFormat) -> tracing_appender::non_blocking::WorkerGuard {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,actix_server=warn".into());
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("log-writer")
        .finish(io::BufWriter::with_capacity(64 * 1024, io::stderr()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(io::stderr().is_terminal());
    match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init(),
        LogFormat::Text => builder.init(),
    }
    guard
}

fn serve(settings: Settings) -> anyhow::Result<ExitCode> {
    let _log_guard = init_tracing(settings.log_format);
    actix_web::rt::System::new().block_on(async move {
        let bind = settings.bind.clone();
        let app = Application::build(settings).await?;
        tracing::info!(
            "listening on http://{}",
            bind.rsplit_once(':')
                .map(|(h, _)| format!("{h}:{}", app.port()))
                .unwrap_or(bind)
        );
        app.run_until_stopped().await?;
        tracing::info!("stopped; audit log flushed");
        Ok(ExitCode::SUCCESS)
    })
}

fn audit(action: AuditAction, data: &Path) -> anyhow::Result<ExitCode> {
    if !data.join("db").exists() {
        anyhow::bail!("no audit store in `{}`", data.display());
    }
    let mode = match &action {
        AuditAction::Verify { .. } | AuditAction::Export | AuditAction::Show { .. } => {
            OpenMode::Inspect
        }
        AuditAction::RecordGap => OpenMode::RecordGap { actor: cli_actor() },
        AuditAction::Purge { .. } => OpenMode::Serve,
    };
    let store = Store::open_with(
        data,
        intervene::audit::Options {
            mode,
            ..Default::default()
        },
    )?;
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let code = match action {
        AuditAction::Verify {
            checkpoint,
            public_key,
        } => verify(
            &store,
            checkpoint.as_deref(),
            public_key.as_deref(),
            &mut out,
        )?,
        AuditAction::RecordGap => {
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
            ExitCode::SUCCESS
        }
        AuditAction::Purge { older_than_days } => {
            let before = intervene::audit::retention_cutoff(older_than_days);
            let report = store.purge_before(&before, &cli_actor(), "")?;
            writeln!(
                out,
                "purged {} decisions dated before {before} ({} purge entries, {} entries read)",
                report.purged,
                report.purge_entries.len(),
                report.scanned
            )?;
            ExitCode::SUCCESS
        }
        AuditAction::Export => {
            let mut after = 0;
            loop {
                let rows = store.raw_after(after, 1000)?;
                let Some((last, _)) = rows.last() else { break };
                after = *last;
                for (_, bytes) in rows {
                    out.write_all(&bytes)?;
                    out.write_all(b"\n")?;
                }
            }
            ExitCode::SUCCESS
        }
        AuditAction::Show {
            student,
            rule,
            limit,
        } => {
            let page = store.query(&Query {
                student,
                rule,
                limit,
                ..Query::default()
            })?;
            for e in page.entries {
                writeln!(out, "{}", serde_json::to_string_pretty(&e)?)?;
            }
            ExitCode::SUCCESS
        }
    };
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

/// `intervene audit verify`: the chain, the recorded head, and kept checkpoints.
fn verify(
    store: &Store,
    checkpoints: Option<&Path>,
    public_key: Option<&str>,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
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
                .and_then(|_| store.check_checkpoint(&c).map_err(|e| e.to_string()));
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
fn read_checkpoints(file: &Path) -> anyhow::Result<Vec<intervene::audit::Checkpoint>> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read checkpoint file `{}`", file.display()))?;
    let all: Vec<intervene::audit::Checkpoint> = serde_json::Deserializer::from_str(&text)
        .into_iter()
        .collect::<Result<_, _>>()
        .with_context(|| format!("checkpoint file `{}`", file.display()))?;
    if all.is_empty() {
        anyhow::bail!("checkpoint file `{}` holds no checkpoint", file.display());
    }
    Ok(all)
}

fn keys_new(name: &str, role: &str) -> anyhow::Result<ExitCode> {
    let Some(role) = Role::parse(role) else {
        anyhow::bail!("unknown role `{role}`; use ingest, counselor, auditor or admin");
    };
    if name.trim().is_empty() {
        anyhow::bail!("`--name` must not be empty");
    }
    let (key, hash) = intervene::http::new_key();
    println!("key (shown once, give it to the client): {key}");
    println!("add to intervene.yaml under api_keys:");
    println!(
        "  - name: {name}\n    role: {}\n    sha256: \"{hash}\"",
        role.as_str()
    );
    Ok(ExitCode::SUCCESS)
}

fn open_input(input: &str) -> anyhow::Result<Box<dyn BufRead>> {
    Ok(if input == "-" {
        Box::new(BufReader::new(io::stdin().lock()))
    } else {
        let f = std::fs::File::open(input).with_context(|| format!("cannot open `{input}`"))?;
        Box::new(BufReader::with_capacity(1 << 16, f))
    })
}

fn import(
    data: &Path,
    rules_dir: &Path,
    format: &intervene::students::Format,
    input: &str,
) -> anyhow::Result<ExitCode> {
    let rules = match load(rules_dir) {
        Ok(r) => std::sync::Arc::new(r),
        Err(code) => return Ok(code),
    };
    let mut reader = open_input(input)?;
    let store = Store::open(data, None)?;
    let students = intervene::students::Students::open(&store)?;
    let evaluator = std::sync::Arc::new(Evaluator::new());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let tty = io::stderr().is_terminal();
    let mut total = intervene::students::ImportSummary::default();
    let mut line_no = 0u64;
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    loop {
        let mut chunk = Vec::new();
        while chunk.len() < 512 {
            let Some(read) =
                batch::read_line_bounded(&mut reader, intervene::record::MAX_RECORD_BYTES)?
            else {
                break;
            };
            line_no += 1;
            match read {
                batch::LineRead::Line(t) if t.trim().is_empty() => {}
                batch::LineRead::Line(t) => chunk.push((line_no, Ok(t))),
                batch::LineRead::TooLong(n) => chunk.push((
                    line_no,
                    Err(intervene::record::RecordError::message(format!(
                        "line is {n} bytes; the limit is {} bytes",
                        intervene::record::MAX_RECORD_BYTES
                    ))),
                )),
                batch::LineRead::Invalid => chunk.push((
                    line_no,
                    Err(intervene::record::RecordError::message(
                        "line is not valid UTF-8".into(),
                    )),
                )),
            }
        }
        if chunk.is_empty() {
            break;
        }
        let (summary, errors) = rt.block_on(students.import_chunk(
            chunk,
            format,
            rules.clone(),
            evaluator.clone(),
            "cli-import",
            "",
        ))?;
        total.add(&summary);
        for e in errors {
            writeln!(out, "{e}")?;
        }
        if tty {
            eprint!(
                "\r{} imported, {} unchanged, {} rejected",
                total.imported, total.unchanged, total.rejected
            );
        }
    }
    writeln!(out, "{}", serde_json::json!({"summary": total}))?;
    out.flush()?;
    if tty {
        eprintln!();
    }
    store.shutdown();
    Ok(if total.rejected > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}
