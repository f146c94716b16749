//! The `intervene` command line: wiring only; the work is in the library.

use std::io::{self, BufRead, BufReader, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

use intervene::batch::{self, Output};
use intervene::engine::Evaluator;
use intervene::rules::{diag, RuleSet};
use intervene::ruletest;

#[derive(Parser)]
#[command(name = "intervene", version, about = "Early-warning rules and tiered intervention recommendations for schools")]
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

fn main() -> ExitCode {
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
        Command::Eval { rules, explain, input } => eval(&rules, explain, &input),
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
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
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
        println!("FAIL {}:{}: {}: {}", f.file, f.line, f.name, f.differences.join("; "));
    }
    for id in &report.uncovered {
        println!("warning: rule `{id}` is not tested on both sides (no case where it fires and one where it does not)");
    }
    println!("{} passed, {} failed", report.passed, report.failed());
    Ok(if report.ok() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn eval(rules_dir: &Path, explain: bool, input: &str) -> anyhow::Result<ExitCode> {
    let rules = match load(rules_dir) {
        Ok(r) => r,
        Err(code) => return Ok(code),
    };
    let reader: Box<dyn BufRead> = if input == "-" {
        Box::new(BufReader::new(io::stdin().lock()))
    } else {
        let f = std::fs::File::open(input).with_context(|| format!("cannot open `{input}`"))?;
        Box::new(BufReader::with_capacity(1 << 16, f))
    };
    let stdout = io::stdout().lock();
    let out = io::BufWriter::with_capacity(1 << 16, stdout);
    let tty = io::stderr().is_terminal();
    let mut progress = |n: u64| {
        if tty {
            eprint!("\r{n} records evaluated");
            let _ = io::stderr().flush();
        }
    };
    let mode = if explain { Output::Explain } else { Output::Json };
    let summary = batch::run(reader, out, &rules, &Evaluator::new(), mode, &mut progress)?;
    if tty {
        eprintln!("\r{} records, {} flagged, {} rejected", summary.records, summary.flagged, summary.rejected);
    }
    Ok(if summary.rejected > 0 { ExitCode::from(2) } else { ExitCode::SUCCESS })
}
