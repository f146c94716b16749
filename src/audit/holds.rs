//! Legal holds: a student's decisions and plans are not purged while a hold stands (FERPA:
//! no deletion while an inspection request is pending). Kept in the meta tree as
//! `hold\0<student id>` → the [`Hold`] as JSON.

use serde::{Deserialize, Serialize};

use super::error::AuditError;

/// Meta key prefix of a legal hold: `hold\0<student id>`.
const HOLD_PREFIX: &[u8] = b"hold\0";

fn hold_key(student_id: &str) -> Vec<u8> {
    let mut k = HOLD_PREFIX.to_vec();
    k.extend_from_slice(student_id.as_bytes());
    k
}

/// A legal hold: the student's decisions and plans are not purged while it stands (FERPA: no
/// deletion while an inspection request is pending).
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    pub student_id: String,
    /// Why (e.g. the inspection request's reference).
    pub reason: String,
    pub placed_by: String,
    /// UTC, RFC 3339.
    pub placed_at: String,
}

/// Every legal hold, by student id.
pub(super) fn holds(meta: &sled::Tree) -> Result<Vec<Hold>, AuditError> {
    let mut out = Vec::new();
    for item in meta.scan_prefix(HOLD_PREFIX) {
        let (_, v) = item?;
        let h: Hold = serde_json::from_slice(&v).map_err(|source| AuditError::Unreadable {
            seq: 0,
            what: "a legal hold record is unreadable: ",
            source,
        })?;
        out.push(h);
    }
    Ok(out)
}

/// Is `student_id` under a legal hold?
pub(super) fn is_held(meta: &sled::Tree, student_id: &str) -> Result<bool, AuditError> {
    Ok(meta.contains_key(hold_key(student_id))?)
}

/// Keep `hold` (replacing the student's earlier one).
pub(super) fn place(meta: &sled::Tree, hold: &Hold) -> Result<(), AuditError> {
    let bytes = serde_json::to_vec(hold).map_err(|e| AuditError::Io(e.into()))?;
    meta.insert(hold_key(&hold.student_id), bytes)?;
    Ok(())
}

/// Remove `student_id`'s hold; `false` when there was none.
pub(super) fn remove(meta: &sled::Tree, student_id: &str) -> sled::Result<bool> {
    Ok(meta.remove(hold_key(student_id))?.is_some())
}
