//! The chain itself: its trees, its head, how an entry is framed, hashed, written
//! and indexed, and how stored bytes are read back.
//!
//! Every module of the store that reads or writes entries (the group-commit writer,
//! the purge, the queries, the startup check) builds on this one; it builds on
//! nothing of theirs.
//!
//! An entry is stored as the JSON object `{"seq":…,"kind":…,"at":…,"actor":…,
//! "request_id":…,"payload":…,"prev_hash":…,"hash":…}` under its sequence number
//! (big-endian, so keys sort in order). Its `hash` is the SHA-256 (lowercase hex) of
//! exactly those bytes with the trailing `,"hash":"…"` member removed, that is of
//! the object ending `…"prev_hash":"…"}` ([`encode`]). Hashing the stored bytes
//! themselves, not a re-serialization, means anyone can check an exported entry
//! without reproducing our JSON writer.

use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::codec::Log;
pub(crate) use super::codec::key_seq;
use super::entry::{Appended, Entry, NewEntry, now};
use super::error::AuditError;
use super::health;
use super::kind::EntryKind;

/// Tree names; part of the on-disk format.
pub const LOG_TREE: &str = "audit_log";
pub const BY_STUDENT_TREE: &str = "audit_by_student";
pub const BY_RULE_TREE: &str = "audit_by_rule";
pub(super) const META_TREE: &str = "audit_meta";

/// Meta key: the last entry indexed, recorded with every flush.
pub(super) const INDEXED: &str = "indexed";

/// The hash before the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The audit trees of the store's database.
#[derive(Clone)]
pub(super) struct Trees {
    pub db: sled::Db,
    /// The log, through its codec: lines in, lines out.
    pub log: Log,
    pub by_student: sled::Tree,
    pub by_rule: sled::Tree,
    pub meta: sled::Tree,
    /// sled's log file, kept open for fdatasync after each flush.
    pub db_file: Option<Arc<std::fs::File>>,
}

impl Trees {
    /// The audit trees of `db` (no head found, no file kept open).
    pub(super) fn open(db: &sled::Db) -> Result<Trees, AuditError> {
        let meta = db.open_tree(META_TREE)?;
        super::format::check(&meta)?;
        Ok(Trees {
            db: db.clone(),
            log: Log::open(db.open_tree(LOG_TREE)?, &meta)?,
            by_student: db.open_tree(BY_STUDENT_TREE)?,
            by_rule: db.open_tree(BY_RULE_TREE)?,
            meta,
            db_file: None,
        })
    }
}

/// The log of the stopped store in `db`, through its codec: for tools and tests that
/// read or edit entries without opening the store.
pub fn open_log(db: &sled::Db) -> Result<Log, AuditError> {
    Ok(Trees::open(db)?.log)
}

/// (last seq, last hash)
pub(super) type Head = (u64, String);

/// Open (or create) the sled database in `dir`. Fails when another process has it
/// open. A database closed a moment ago in this same process can still be locked
/// while sled's last background write lets go of it: that is waited out (2 s at
/// most).
pub fn open_db(dir: &Path) -> Result<sled::Db, AuditError> {
    std::fs::create_dir_all(dir)?;
    let locked = |e: &sled::Error| matches!(e, sled::Error::Io(io) if io.kind() == std::io::ErrorKind::WouldBlock || io.to_string().contains("lock"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        let opened = health::no_panic("opening the store", || sled::Config::new().path(dir).open())
            .map_err(|e| {
                AuditError::Damaged(format!(
                    "`{}`: {e}; restore the data directory from a backup",
                    dir.display()
                ))
            })?;
        match opened {
            Ok(db) => return Ok(db),
            Err(e) if locked(&e) && std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) if locked(&e) => {
                return Err(AuditError::Io(std::io::Error::other(format!(
                    "data directory `{}` is in use by another intervene process (stop the server first)",
                    dir.display()
                ))));
            }
            Err(e) => {
                return Err(AuditError::Damaged(format!(
                    "`{}` cannot be opened: {e}; restore the data directory from a backup",
                    dir.display()
                )));
            }
        }
    }
}

/// Open the audit trees and find the head (indexing entries the indexes missed).
pub(super) fn open_trees(db: &sled::Db, dir: &Path) -> Result<(Trees, Head), AuditError> {
    let trees = Trees::open(db)?;
    let head = recover(&trees)?;
    if let Ok(conf) = std::fs::File::open(dir.join("conf")) {
        conf.sync_all()?;
    }
    let db_file = std::fs::File::open(dir.join("db")).ok().map(Arc::new);
    Ok((Trees { db_file, ..trees }, head))
}

/// Find the head of the chain and index any entries the indexes missed (a crash
/// between the log write and the index write).
fn recover(trees: &Trees) -> Result<Head, AuditError> {
    let indexed = meta_u64(&trees.meta, INDEXED)?;
    for item in trees.log.range(indexed + 1..) {
        let (seq, v) = item?;
        let e = decode(seq, &v)?;
        index(trees, seq, e.student_id(), &e.rule_ids())?;
    }
    match trees.log.last()? {
        None => Ok((0, GENESIS.to_string())),
        Some((seq, v)) => {
            let e = decode(seq, &v)?;
            Ok((seq, e.hash))
        }
    }
}

/// Write the index keys of entry `seq`.
fn index<R: AsRef<str>>(
    trees: &Trees,
    seq: u64,
    student_id: Option<&str>,
    rule_ids: &[R],
) -> Result<(), AuditError> {
    if let Some(s) = student_id {
        trees.by_student.insert(index_key(s, seq), &[])?;
    }
    for r in rule_ids {
        trees.by_rule.insert(index_key(r.as_ref(), seq), &[])?;
    }
    Ok(())
}

/// Drop the index keys of entry `e` (its content is being removed).
pub(super) fn unindex(trees: &Trees, e: &Entry) -> Result<(), AuditError> {
    if let Some(s) = e.student_id() {
        trees.by_student.remove(index_key(s, e.seq))?;
    }
    for r in e.rule_ids() {
        trees.by_rule.remove(index_key(r, e.seq))?;
    }
    Ok(())
}

/// Write `new` as the entry after `head`, with its index keys (not flushed).
pub(super) fn write_one(
    trees: &Trees,
    head: &Head,
    new: &NewEntry,
) -> Result<Appended, AuditError> {
    let seq = head.0 + 1;
    let at = now();
    let (bytes, hash) = encode(seq, &at, new, &head.1);
    trees.log.insert(seq, &bytes)?;
    index(trees, seq, new.student_id.as_deref(), &new.rule_ids)?;
    Ok(Appended {
        seq,
        at,
        prev_hash: head.1.clone(),
        hash,
        superseded: false,
    })
}

/// `,"hash":"` + 64 hex digits + `"}`: how every stored entry ends.
const HASH_SUFFIX_LEN: usize = 9 + 64 + 2;

/// The stored bytes of an entry, and its hash (see the module's doc).
fn encode(seq: u64, at: &str, new: &NewEntry, prev_hash: &str) -> (Vec<u8>, String) {
    let mut b = frame_head(
        seq,
        [new.kind.as_str(), at, &new.actor, &new.request_id],
        new.payload.as_bytes(),
    );
    b.extend_from_slice(b",\"prev_hash\":");
    json_str(&mut b, prev_hash);
    b.push(b'}');
    let hash = hex::encode(Sha256::digest(&b));
    b.pop();
    b.extend_from_slice(b",\"hash\":\"");
    b.extend_from_slice(hash.as_bytes());
    b.extend_from_slice(b"\"}");
    (b, hash)
}

/// The stored bytes of `e`'s tombstone: the entry with `"payload":null`, naming
/// the purge entry that removed it, its `prev_hash` and `hash` kept.
pub(super) fn encode_tombstone(e: &Entry, purge_seq: u64) -> Vec<u8> {
    let mut b = frame_head(
        e.seq,
        [e.kind.as_str(), &e.at, &e.actor, &e.request_id],
        b"null",
    );
    b.extend_from_slice(format!(",\"purged_by\":{purge_seq}").as_bytes());
    b.extend_from_slice(b",\"prev_hash\":");
    json_str(&mut b, &e.prev_hash);
    b.extend_from_slice(b",\"hash\":");
    json_str(&mut b, &e.hash);
    b.push(b'}');
    b
}

/// The start every stored entry shares, up to and including its payload:
/// `{"seq":…,"kind":…,"at":…,"actor":…,"request_id":…,"payload":…`.
/// `names` are kind, at, actor and request_id, in that order.
fn frame_head(seq: u64, names: [&str; 4], payload: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(payload.len() + 256);
    b.extend_from_slice(b"{\"seq\":");
    b.extend_from_slice(seq.to_string().as_bytes());
    for (name, value) in ["kind", "at", "actor", "request_id"].iter().zip(names) {
        b.extend_from_slice(b",\"");
        b.extend_from_slice(name.as_bytes());
        b.extend_from_slice(b"\":");
        json_str(&mut b, value);
    }
    b.extend_from_slice(b",\"payload\":");
    b.extend_from_slice(payload);
    b
}

fn json_str(out: &mut Vec<u8>, s: &str) {
    // Writing a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// Recompute the hash of stored entry bytes; `None` when they do not end with a
/// `hash` member in the stored form.
pub(crate) fn stored_hash(bytes: &[u8]) -> Option<(String, &str)> {
    let cut = bytes.len().checked_sub(HASH_SUFFIX_LEN)?;
    let suffix = &bytes[cut..];
    if !suffix.starts_with(b",\"hash\":\"") || !suffix.ends_with(b"\"}") {
        return None;
    }
    let claimed = std::str::from_utf8(&suffix[9..9 + 64]).ok()?;
    let mut h = Sha256::new();
    h.update(&bytes[..cut]);
    h.update(b"}");
    Some((hex::encode(h.finalize()), claimed))
}

/// Entry `seq` from its stored bytes.
pub(crate) fn decode(seq: u64, bytes: &[u8]) -> Result<Entry, AuditError> {
    serde_json::from_slice(bytes).map_err(|e| AuditError::unreadable(seq, e))
}

/// Index key: `<name> 0x00 <seq big-endian>`; names never contain NUL.
pub(crate) fn index_key(name: &str, seq: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(name.len() + 9);
    k.extend_from_slice(name.as_bytes());
    k.push(0);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// A big-endian `u64` kept in the meta tree (0 when absent).
pub(super) fn meta_u64(meta: &sled::Tree, key: &str) -> Result<u64, AuditError> {
    Ok(meta.get(key)?.map_or(0, |v| key_seq(&v)))
}

/// The stored hash of entry `seq`, if there is one.
pub(super) fn hash_at(log: &Log, seq: u64) -> Result<Option<String>, AuditError> {
    Ok(log.get(seq)?.and_then(|v| {
        serde_json::from_slice::<Framed>(&v)
            .ok()
            .map(|e| e.hash.into_owned())
    }))
}

/// The chain fields of a stored entry; the rest is checked through the hash.
#[derive(Deserialize)]
pub(super) struct Framed<'a> {
    pub seq: u64,
    #[serde(borrow)]
    pub kind: Cow<'a, str>,
    #[serde(default)]
    pub purged_by: Option<u64>,
    #[serde(borrow)]
    pub prev_hash: Cow<'a, str>,
    #[serde(borrow)]
    pub hash: Cow<'a, str>,
}

/// Entries `from..=through` were lost; entry `recorded_at` (`audit.gap`) says so.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Gap {
    pub from: u64,
    pub through: u64,
    pub recorded_at: u64,
}

/// The range an `audit.gap` entry's stored bytes say it covers: the one place the
/// chain may skip sequence numbers and link to a hash that is gone.
pub(super) fn gap_range(bytes: &[u8]) -> Option<(u64, u64)> {
    #[derive(Deserialize)]
    struct GapPayload {
        missing_from: u64,
        missing_through: u64,
    }
    #[derive(Deserialize)]
    struct E<'a> {
        #[serde(borrow)]
        kind: Cow<'a, str>,
        payload: GapPayload,
    }
    // Entries are framed `{"seq":N,"kind":…`: only one whose kind is `audit.gap` is
    // parsed (parsing every entry twice made `verify` a third slower).
    let head = &bytes[..bytes.len().min(64)];
    const GAP: &[u8] = b"\"kind\":\"audit.gap\"";
    if !head.windows(GAP.len()).any(|w| w == GAP) {
        return None;
    }
    serde_json::from_slice::<E>(bytes)
        .ok()
        .filter(|e| e.kind == EntryKind::AuditGap.as_str())
        .map(|e| (e.payload.missing_from, e.payload.missing_through))
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: &str = "2026-01-01T00:00:00.000Z";

    /// The stored form is the on-disk format: a typed kind writes the same bytes,
    /// and the same hash, as the kind's name did (hash computed outside Rust).
    #[test]
    fn an_entry_is_stored_in_the_documented_bytes() {
        let new = NewEntry::new(
            EntryKind::Decision,
            "a",
            "r",
            serde_json::json!({"student_id": "S1"}),
        );
        let (bytes, hash) = encode(1, AT, &new, GENESIS);
        let hash_hex = "69f47d9d6c172cba423cbc09d683517db9215980d1196e6068fbf2a557ea590e";
        let expected = format!(
            r#"{{"seq":1,"kind":"decision","at":"{AT}","actor":"a","request_id":"r","payload":{{"student_id":"S1"}},"prev_hash":"{GENESIS}","hash":"{hash_hex}"}}"#
        );
        assert_eq!(String::from_utf8(bytes.clone()).unwrap(), expected);
        assert_eq!(hash, hash_hex);
        assert_eq!(stored_hash(&bytes), Some((hash.clone(), hash.as_str())));
    }

    /// A kind this version does not know reads back and is tombstoned with its
    /// name exactly as stored.
    #[test]
    fn an_unknown_kind_keeps_its_name_through_decode_and_tombstone() {
        let new = NewEntry::new(
            EntryKind::parse("plan.reviewed"),
            "a",
            "",
            serde_json::json!({}),
        );
        let (bytes, hash) = encode(7, AT, &new, GENESIS);
        let e = decode(7, &bytes).unwrap();
        assert_eq!(e.kind.as_str(), "plan.reviewed");
        let tomb = String::from_utf8(encode_tombstone(&e, 9)).unwrap();
        assert_eq!(
            tomb,
            format!(
                r#"{{"seq":7,"kind":"plan.reviewed","at":"{AT}","actor":"a","request_id":"","payload":null,"purged_by":9,"prev_hash":"{GENESIS}","hash":"{hash}"}}"#
            )
        );
    }
}
