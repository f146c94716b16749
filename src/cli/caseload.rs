//! `intervene caseload`: the caseload index of a stopped server's data directory.

use std::path::Path;
use std::process::ExitCode;

use super::CliError;
use crate::audit::Store;
use crate::caseload::{Index, rebuild};

/// `intervene caseload` subcommands.
#[derive(clap::Subcommand)]
pub enum Action {
    /// Rebuild the caseload index from the audit log (the server does this itself
    /// when it starts and finds the index missing or behind the log)
    Rebuild,
}

/// Run `intervene caseload <action>` on the store in `data`.
pub fn run(action: Action, data: &Path) -> Result<ExitCode, CliError> {
    match action {
        Action::Rebuild => rebuild_index(data),
    }
}

fn rebuild_index(data: &Path) -> Result<ExitCode, CliError> {
    if !data.join("db").exists() {
        return Err(CliError::NoStore(data.display().to_string()));
    }
    let store = Store::open_to_inspect(data)?;
    let index = Index::open(store.db())?;
    let done = rebuild(&index, &store)?;
    store.shutdown();
    println!(
        "caseload rebuilt: {} students from {} audit entries (through seq {})",
        done.students, done.entries_read, done.applied_seq
    );
    Ok(ExitCode::SUCCESS)
}
