//! `intervene keys`: API keys and the checkpoint signing key.

use std::path::Path;
use std::process::ExitCode;

use super::CliError;
use crate::config::Role;

/// `intervene keys new`: a new API key, shown once, and the config lines with its hash.
pub fn new(name: &str, role: &str) -> Result<ExitCode, CliError> {
    let Some(role) = Role::parse(role) else {
        return Err(CliError::UnknownRole(role.to_string()));
    };
    if name.trim().is_empty() {
        return Err(CliError::EmptyName);
    }
    let (key, hash) = crate::http::new_key();
    println!("key (shown once, give it to the client): {key}");
    println!("add to intervene.yaml under api_keys:");
    println!(
        "  - name: {name}\n    role: {}\n    sha256: \"{hash}\"",
        role.as_str()
    );
    Ok(ExitCode::SUCCESS)
}

/// `intervene keys checkpoint`: a new Ed25519 checkpoint key written to `out`.
pub fn checkpoint(out: &Path) -> Result<ExitCode, CliError> {
    let public = crate::audit::checkpoint::create_key(out)?;
    println!("checkpoint key written to {} (mode 0600)", out.display());
    println!("public key (give it to auditors): {public}");
    println!("add to intervene.yaml under audit:");
    println!("  checkpoint_key: {}", out.display());
    Ok(ExitCode::SUCCESS)
}
