//! The store's format version, kept in the audit meta tree (`format`, a big-endian
//! `u32`), checked every time the trees are opened.
//!
//! - **1** (no `format` key): every entry kept as its line.
//! - **2**: entries kept compressed (see `codec`); lines kept as they are still read.
//!
//! A store of an older format is migrated on open. From 1 to 2 nothing is
//! rewritten: entries written before stay lines (format 2 reads both), new ones are
//! compressed; a binary of format 1 cannot read the compressed entries, so going
//! back to it means restoring a backup taken before the upgrade (README,
//! Operations). A store of a newer format than this binary's is refused before
//! anything is read or written, never misread.

use super::error::AuditError;

/// The format this binary writes.
pub const CURRENT: u32 = 2;

/// Meta key of the format version.
const KEY: &str = "format";

/// The format version recorded in `meta` (1 when none is).
pub(super) fn recorded(meta: &sled::Tree) -> Result<u32, AuditError> {
    match meta.get(KEY)? {
        None => Ok(1),
        Some(v) => <[u8; 4]>::try_from(v.as_ref())
            .map(u32::from_be_bytes)
            .map_err(|_| AuditError::Damaged("the store's format version is unreadable".into())),
    }
}

/// Refuse a newer format; migrate an older one to [`CURRENT`].
pub(super) fn check(meta: &sled::Tree) -> Result<(), AuditError> {
    let found = recorded(meta)?;
    if found > CURRENT {
        return Err(AuditError::NewerFormat {
            found,
            reads: CURRENT,
        });
    }
    // No key reads as format 1: a new store and a format-1 store alike get it here.
    if found < CURRENT {
        meta.insert(KEY, &CURRENT.to_be_bytes())?;
        tracing::info!(
            from = found,
            to = CURRENT,
            "store format migrated: entries written before are kept as they are, new entries are compressed"
        );
    }
    Ok(())
}
