//! `intervene check`, `test` and `eval`: a rule set checked, its own tests run, and
//! records evaluated against it without auditing.

use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use super::{CliError, exit, load, open_input, runtime};
use crate::app::batch::{self, Output, Rules};
use crate::engine::Evaluator;
use crate::rules::{RuleSet, diag};
use crate::ruletest;

/// `intervene check`: every problem of the rule set in `dir`, as text or JSON;
/// exit 1 on any error.
/// Rules without family text in one of `languages` are warned about.
pub fn check(dir: &Path, json: bool, languages: &[String]) -> Result<ExitCode, CliError> {
    let (diags, ok, version, not_analysed) = match RuleSet::load_dir(dir) {
        Ok(rs) => {
            let mut diags = rs.warnings.clone();
            diags.extend(crate::rules::family::missing(&rs, languages));
            (diags, true, Some(rs.version.clone()), rs.not_analysed)
        }
        Err(e) => (e.diagnostics, false, None, Vec::new()),
    };
    if json {
        let body = serde_json::json!({"ok": ok, "version": version, "diagnostics": diags, "not_analysed": not_analysed});
        println!("{}", serde_json::to_string_pretty(&body)?);
    } else {
        print!("{}", diag::render(&diags));
        if !not_analysed.is_empty() {
            let ids: Vec<String> = not_analysed.iter().map(|id| format!("`{id}`")).collect();
            println!(
                "note: not analysed for band gaps and overlaps (not threshold comparisons of one number): {}",
                ids.join(", ")
            );
        }
        if let Some(v) = version {
            println!("rule set {} is valid ({v})", dir.display());
        }
    }
    Ok(exit(!ok, 1))
}

/// `intervene test`: run the rule set's tests; exit 1 on any failure.
pub fn test(dir: &Path) -> Result<ExitCode, CliError> {
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
    Ok(exit(!report.ok(), 1))
}

/// `intervene eval`: decisions for the records in `input` (a file or `-`), as JSON
/// lines or readable reports; exit 2 when any record was refused.
pub fn eval(rules_dir: &Path, explain: bool, input: &str) -> Result<ExitCode, CliError> {
    let rules = match load(rules_dir) {
        Ok(r) => r,
        Err(code) => return Ok(code),
    };
    let reader = open_input(input)?;
    let out = io::BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let tty = io::stderr().is_terminal();
    let mut progress = |n: u64| {
        if tty {
            eprint!("\r{n} records evaluated");
            let _ = io::stderr().flush();
        }
    };
    let rules = Rules {
        rules: Arc::new(rules),
        evaluator: Arc::new(Evaluator::new()),
        output: if explain {
            Output::Explain
        } else {
            Output::Json
        },
    };
    let summary = runtime()?.block_on(batch::run(reader, out, &rules, &mut progress))?;
    if tty {
        eprintln!(
            "\r{} records, {} flagged, {} rejected",
            summary.records, summary.flagged, summary.rejected
        );
    }
    Ok(exit(summary.rejected > 0, 2))
}
