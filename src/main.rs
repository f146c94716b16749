//! The `intervene` command line: wiring only; the work is in the library.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc's `mi_option_e` (v3 header; the enum keeps
/// retired options as placeholders so the numbers stay stable).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use intervene::cli;
use intervene::config::LogFormat;

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
    /// (with the settings `serve` reads; flags override them)
    Import {
        /// Config file (default: intervene.yaml when present)
        #[arg(long)]
        config: Option<PathBuf>,
        /// Data directory (default: `data` in the settings, `data`)
        #[arg(long)]
        data: Option<PathBuf>,
        /// `canonical` records or `edfi` bundles
        #[arg(long, default_value = "canonical")]
        format: String,
        /// Ed-Fi descriptor mapping (with --format edfi; default: `edfi_descriptors`
        /// in the settings, `config/edfi-descriptors.yaml`)
        #[arg(long)]
        descriptors: Option<PathBuf>,
        /// Rule-set directory (default: `rules` in the settings, `rules`)
        #[arg(long)]
        rules: Option<PathBuf>,
        /// Input file, or `-` for standard input
        input: String,
    },
    /// Inspect the audit log of a stopped server's data directory
    Audit {
        #[command(subcommand)]
        action: cli::audit::Action,
        #[arg(long, default_value = "data", global = true)]
        data: PathBuf,
    },
    /// The caseload index of a stopped server's data directory
    Caseload {
        #[command(subcommand)]
        action: cli::caseload::Action,
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
        /// Languages families are written to: warn about rules without family text
        /// in one of them (`""`: none)
        #[arg(long, value_delimiter = ',', default_value = "en,es")]
        family_languages: Vec<String>,
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
    Ok(match Cli::parse().command {
        Command::Check {
            dir,
            format,
            family_languages,
        } => {
            let languages: Vec<String> = family_languages
                .into_iter()
                .filter(|l| !l.is_empty())
                .collect();
            cli::rules::check(&dir, matches!(format, Format::Json), &languages)?
        }
        Command::Test { dir } => cli::rules::test(&dir)?,
        Command::Eval {
            rules,
            explain,
            input,
        } => cli::rules::eval(&rules, explain, &input)?,
        Command::Serve {
            config,
            rules,
            data,
            bind,
            log_format,
        } => {
            let mut s = cli::settings(config.as_deref(), rules, data)?;
            if let Some(b) = bind {
                s.bind = b;
            }
            if let Some(f) = log_format {
                s.log_format = f;
            }
            cli::serve::run(s)?
        }
        Command::Audit { action, data } => cli::audit::run(action, &data)?,
        Command::Caseload { action, data } => cli::caseload::run(action, &data)?,
        Command::Import {
            config,
            data,
            format,
            descriptors,
            rules,
            input,
        } => {
            let mut s = cli::settings(config.as_deref(), rules, data)?;
            if let Some(d) = descriptors {
                s.edfi_descriptors = d;
            }
            cli::import::run(s, &format, &input)?
        }
        Command::Keys {
            action: KeysAction::New { name, role },
        } => cli::keys::new(&name, &role)?,
        Command::Keys {
            action: KeysAction::Checkpoint { out },
        } => cli::keys::checkpoint(&out)?,
    })
}
