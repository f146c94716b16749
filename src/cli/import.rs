//! `intervene import`: whole records (NDJSON) into a stopped server's data directory
//! as student snapshots, evaluated and audited: the import use case the service's
//! `POST /v1/students/import` runs, with the same settings (file and `INTERVENE_*`
//! environment: rules, data directory, Ed-Fi mapping, checkpoint key).

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;

use super::{CliError, exit, load, open_input, runtime};
use crate::app::import::Progress;
use crate::app::{self, Caller, Service};
use crate::config::Settings;
use crate::engine::Evaluator;
use crate::lifecycle::Registry;
use crate::ndjson::ReadLines;
use crate::record::MAX_RECORD_BYTES;
use crate::students::Students;

/// Import `input` (a file or `-`) as `format` (`canonical` or `edfi`) with
/// `settings`; exit 2 when any line was refused.
pub fn run(settings: Settings, format: &str, input: &str) -> Result<ExitCode, CliError> {
    let rt = runtime()?;
    let format = rt.block_on(app::import::format(
        Some(format),
        &settings.edfi_descriptors,
    ))?;
    let rules = match load(&settings.rules) {
        Ok(r) => r,
        Err(code) => return Ok(code),
    };
    let mut lines = ReadLines::new(open_input(input)?, MAX_RECORD_BYTES);
    let store = app::open_store(&settings, None)?;
    let evaluator = Arc::new(Evaluator::new());
    let registry = Registry::open(rules, &settings.rules, store.clone(), evaluator.clone());
    let caseload = crate::caseload::Index::open(store.db())?;
    let plans = crate::plans::Plans::open(store.db())
        .map_err(|e| app::AppError::Unavailable(e.to_string()))?;
    let history = app::history::Provider {
        plans: plans.clone(),
        caseload: caseload.clone(),
    };
    let svc = Service {
        registry: Arc::new(registry.map_err(app::AppError::from)?),
        evaluator,
        store: store.clone(),
        students: Students::open(&store)?.with_history(Arc::new(history)),
        caseload,
        plans,
        settings,
    };
    let tty = io::stderr().is_terminal();
    let mut out = io::BufWriter::new(io::stdout().lock());
    let by = Caller {
        actor: "cli-import",
        request_id: "",
    };
    let emit = async |p: Progress| {
        for e in &p.errors {
            if writeln!(out, "{e}").is_err() {
                return false;
            }
        }
        if tty {
            let t = p.total;
            eprint!(
                "\r{} imported, {} unchanged, {} rejected",
                t.imported, t.unchanged, t.rejected
            );
        }
        true
    };
    let total = rt.block_on(app::import::run(&svc, &mut lines, &format, by, emit))?;
    writeln!(out, "{}", serde_json::json!({"summary": total}))?;
    out.flush()?;
    if tty {
        eprintln!();
    }
    drop(svc);
    store.shutdown();
    Ok(exit(total.rejected > 0, 2))
}
